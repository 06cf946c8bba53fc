/**
 * Backfills (`sealtrail detect --backfill`, DetectionService.startBackfill) live in the memory of the
 * process running them, so one interrupted by a restart is started again: that must be safe. Re-running a
 * backfill over the same range, after a first one (finished or cut short) or after the live engine has
 * judged the ledger, must not open, count or seal any alert twice: findings are recognised by key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DetectionService } from '../../src/detection/service.js';
import type { Store } from '../../src/store/store.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import { alertRecords, everyNthDetector, failedLoginDetector, HARNESSES, judgedAll, loginEvent, testLibrary, until } from './engine-fixtures.js';

const FAST = { stepMs: 50, pollMs: 30, discoverMs: 100, leaseMs: 900 };
/** The app ledger's alerts (the live engine also judges the system ledger, where every-nth counts too). */
const app = { ledgers: ['app'], tenants: ['*'], limit: 1000 };

async function backfill(detection: DetectionService, ledger: string, from = 0): Promise<{ judged: number; opened: number }> {
  const job = (await detection.startBackfill(ledger, from, 'test-admin'))!;
  await until(() => detection.backfillJob(job.id)!.state !== 'running', `backfill ${job.id}`);
  const done = detection.backfillJob(job.id)!;
  assert.equal(done.state, 'done', done.error);
  return { judged: done.judged, opened: done.opened };
}

const snapshot = async (store: Store) =>
  (await store.detection.listAlerts(app)).map((a) => JSON.stringify([a.id, a.rule, a.actor?.id, a.count, a.events])).sort();

for (const [kind, make] of HARNESSES) {
  describe(`backfill (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;

    it('re-running a backfill, or backfilling what the engine judged, raises nothing twice', { skip }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detectors = () => [failedLoginDetector(), everyNthDetector(4)];
      // Rules are served but nothing judges live: the backfill alone makes alerts.
      const offline = new DetectionService({ store, library: testLibrary(detectors()), refreshMs: 100, engine: FAST });
      try {
        await store.createLedger('app');
        const outcomes: Array<'success' | 'failure'> = ['failure', 'success', 'success', 'failure', 'success', 'failure', 'success', 'success'];
        for (let round = 0; round < 3; round++) {
          await store.append('app', outcomes.map((outcome, i) => ({ event: loginEvent(`user-${(round + i) % 3}`, outcome, i % 2 ? 'acme' : 'globex'), writer: 'w' })));
        }
        await offline.start(false);
        const first = await backfill(offline, 'app');
        assert.equal(first.judged, 24);
        assert.ok(first.opened > 0);
        const alerts = await snapshot(store);
        await until(async () => (await store.detection.pendingOutbox(1)).length === 0, 'the outbox drained');
        const records = await alertRecords(store);
        assert.equal(records.filter((r) => r.action === 'alert.open').length, alerts.length);

        // Run again, as after a restart that forgot the job: nothing new.
        const again = await backfill(offline, 'app');
        assert.deepEqual([again.judged, again.opened], [24, 0]);
        assert.deepEqual(await snapshot(store), alerts, 'the same alerts, counts and events');
        // A backfill from the middle learns afresh from there (every-4th counts differently) but cannot
        // double what it finds again: each alert.open record is for a distinct alert.
        await backfill(offline, 'app', 9);
        const beforeLive = await snapshot(store);
        for (const alert of alerts) assert.ok(beforeLive.some((a) => JSON.parse(a)[0] === JSON.parse(alert)[0]), 'every earlier alert is still there');
        await offline.stop();

        // The live engine then judges the ledger from the start: the findings are the backfill's.
        const live = new DetectionService({ store, library: testLibrary(detectors()), refreshMs: 100, engine: FAST });
        await live.start(true);
        try {
          await judgedAll(store, 'app');
          const after = await snapshot(store);
          assert.deepEqual(after, beforeLive, 'the live engine finds what the backfill from the start found, and adds nothing');
          const opens = (await alertRecords(store)).filter((r) => r.action === 'alert.open').map((r) => r.target);
          assert.equal(new Set(opens).size, opens.length, 'no alert sealed as opened twice');
          for (const row of after) assert.equal(opens.filter((id) => id === JSON.parse(row)[0]).length, 1);
        } finally {
          await live.stop();
        }
      } finally {
        await offline.stop();
        await store.close();
        await harness.destroy();
      }
    });
  });
}
