/**
 * The detection engine on both stores (src/detection/engine.ts, src/detection/service.ts): findings
 * become alerts grouped per rule, actor and tenant; the cursor and detector states are persisted so
 * that a restart continues exactly where the last step left off; judging the same events again from
 * the same state raises nothing twice; every alert opened has exactly one sealed record; the engine's
 * own records are not judged; and of two processes on one store only one judges a ledger, the other
 * taking over when it stops. PostgreSQL runs as the restricted service role.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DetectionService } from '../../src/detection/service.js';
import { Judgement } from '../../src/detection/engine.js';
import { LoopBudget } from '../../src/platform/event-loop.js';
import type { Store } from '../../src/store/store.js';
import { countLoopTurns } from '../helpers/loop-turns.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import {
  alertRecords,
  everyNthDetector,
  failedLoginDetector,
  HARNESSES,
  judgedAll,
  loginEvent,
  sqliteHarness,
  systemLedgerDetector,
  testLibrary,
  until,
} from './engine-fixtures.js';
import type { Detector } from '../../src/detection/detector.js';

const FAST = { stepMs: 50, pollMs: 30, discoverMs: 100, leaseMs: 900 };
/** Each test takes a second or two: one that hangs fails by name instead of holding the file open. */
const TEST_MS = 90_000;

function service(store: Store, detectors: Detector[], holder = 'A'): DetectionService {
  return new DetectionService({ store, library: testLibrary(detectors), refreshMs: 100, engine: { ...FAST, holder } });
}

async function appendLogins(store: Store, ledger: string, events: Array<[actor: string, outcome: 'success' | 'failure', tenant?: string]>): Promise<void> {
  await store.append(
    ledger,
    events.map(([actor, outcome, tenant]) => ({ event: loginEvent(actor, outcome, tenant), writer: 'w' })),
  );
}

const all = { ledgers: ['*'], tenants: ['*'], limit: 1000 };

for (const [kind, make] of HARNESSES) {
  describe(`detection engine (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;

    it('raises alerts grouped per rule, actor and tenant, each sealed once in the system ledger', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = service(store, [failedLoginDetector()]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        await appendLogins(store, 'app', [
          ['alice', 'failure'],
          ['alice', 'failure'],
          ['bob', 'success'],
          ['alice', 'failure', 'globex'],
          ['carol', 'failure'],
        ]);
        await judgedAll(store, 'app');
        const alerts = await store.detection.listAlerts(all);
        assert.equal(alerts.length, 3, 'alice@acme, alice@globex, carol');
        const aliceAcme = alerts.find((a) => a.actor?.id === 'alice' && a.tenant === 'acme')!;
        assert.equal(aliceAcme.count, 2);
        assert.deepEqual(aliceAcme.events, [{ ledger: 'app', index: 0 }, { ledger: 'app', index: 1 }]);
        assert.equal(aliceAcme.status, 'open');
        assert.match(aliceAcme.id, /^al_[A-Za-z0-9_-]{22}$/);
        assert.equal(alerts.find((a) => a.actor?.id === 'alice' && a.tenant === 'globex')?.count, 1);
        await until(async () => (await alertRecords(store)).length === 3, 'three alert.open records');
        const records = await alertRecords(store);
        assert.deepEqual(records.map((r) => r.target).sort(), alerts.map((a) => a.id).sort());
        assert.ok(records.every((r) => r.action === 'alert.open'));
        // A reader of the system ledger's records sees the alert's tenant on its record.
        const size = (await store.getLedger('sealtrail-system'))!.size;
        for await (const entry of store.entries('sealtrail-system', 0, size)) {
          if (entry.disclosures.action?.[1] === 'alert.open' && (entry.disclosures['targets.0']?.[1] as { id: string }).id === aliceAcme.id) {
            assert.equal(entry.disclosures.tenant?.[1], 'acme');
          }
        }
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('persists cursor and state: a restart continues the count exactly, and a replay raises nothing twice', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      let store = await harness.open();
      let detection = service(store, [everyNthDetector(5)]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        await appendLogins(store, 'app', Array.from({ length: 12 }, () => ['dave', 'success'] as [string, 'success']));
        await judgedAll(store, 'app');
        const saved = await store.detection.loadCursor('app');
        assert.equal(saved.evaluated, 12);
        assert.match(saved.states.get('test-every-nth') ?? '', /"dave":12/);
        await detection.stop();
        await store.close();

        store = await harness.open();
        detection = service(store, [everyNthDetector(5)]);
        await detection.start(true);
        await appendLogins(store, 'app', Array.from({ length: 9 }, () => ['dave', 'success'] as [string, 'success']));
        await judgedAll(store, 'app');
        const [alert] = await store.detection.listAlerts(all);
        assert.equal(alert?.count, 4, 'events 5, 10, 15 and 20 of dave, across the restart');
        assert.deepEqual(alert?.events.map((e) => e.index), [4, 9, 14, 19]);
        await detection.stop();

        // As if the process had died right after the step at 12 was read back: the same events judged
        // again from the same state give the same finding keys, which the alert already holds.
        await store.detection.commitStep({ ledger: 'app', cursor: { evaluated: 12, states: [{ detector: 'test-every-nth', state: saved.states.get('test-every-nth')! }] }, alerts: [], findings: [], outbox: [] });
        detection = service(store, [everyNthDetector(5)]);
        await detection.start(true);
        await judgedAll(store, 'app');
        const after = await store.detection.listAlerts(all);
        assert.equal(after.length, 1);
        assert.equal(after[0]!.count, 4, 'nothing raised twice');
        assert.equal((await alertRecords(store)).length, 1, 'one alert.open record');
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('a finding after an alert was closed opens a new alert; acknowledging keeps merging', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = service(store, [failedLoginDetector()]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        await appendLogins(store, 'app', [['erin', 'failure']]);
        await judgedAll(store, 'app');
        const [first] = await store.detection.listAlerts(all);
        const acknowledged = await detection.changeStatus(first!, 'acknowledged', 'k1');
        assert.ok(acknowledged !== 'conflict' && acknowledged.status === 'acknowledged' && acknowledged.changedBy === 'k1');
        await appendLogins(store, 'app', [['erin', 'failure']]);
        await judgedAll(store, 'app');
        const merged = await store.detection.getAlert(first!.id);
        assert.equal(merged?.count, 2);
        assert.equal(merged?.status, 'acknowledged', 'merging never resets the workflow');
        const closed = await detection.changeStatus(merged!, 'closed', 'k1', 'benign: password manager');
        assert.ok(closed !== 'conflict' && closed.closeReason === 'benign: password manager');
        assert.equal(await detection.changeStatus(closed as never, 'acknowledged', 'k1'), 'conflict');
        await appendLogins(store, 'app', [['erin', 'failure']]);
        await judgedAll(store, 'app');
        const alerts = await store.detection.listAlerts(all);
        assert.equal(alerts.length, 2);
        assert.equal(alerts[0]!.status, 'open');
        assert.notEqual(alerts[0]!.id, first!.id);
        await until(async () => (await alertRecords(store)).length === 4, 'open, acknowledge, close, open');
        assert.deepEqual((await alertRecords(store)).map((r) => r.action).sort(), ['alert.acknowledge', 'alert.close', 'alert.open', 'alert.open']);
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('judges the system ledger but not its own alert records, and picks up ledgers created later', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = service(store, [systemLedgerDetector(), failedLoginDetector()]);
      try {
        await store.createLedger('sealtrail-system');
        await detection.start(true);
        await store.createLedger('later');
        await appendLogins(store, 'later', [['frank', 'failure']]);
        await store.append('sealtrail-system', [{ event: { actor: { type: 'api_key', id: 'k' }, action: 'retention.policy.set', category: 'admin', outcome: 'success' }, writer: 'server' }]);
        await judgedAll(store, 'later');
        await judgedAll(store, 'sealtrail-system');
        // Let the alert.open records be judged too: they must raise nothing.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await judgedAll(store, 'sealtrail-system');
        const alerts = await store.detection.listAlerts(all);
        assert.deepEqual(alerts.map((a) => `${a.rule}/${a.actor?.id}`).sort(), ['test-failed-login/frank', 'test-system-anything/retention.policy.set']);
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('a learning detector reports nothing during its learning period', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      const learning = { ...failedLoginDetector(), id: 'test-learning', learningMicros: 3600 * 1_000_000 };
      const detection = service(store, [learning]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        const at = (iso: string) => ({ event: loginEvent('gina', 'failure', 'acme', { occurred_at: iso }), writer: 'w' });
        await store.append('app', [at('2026-01-01T00:00:00Z'), at('2026-01-01T00:30:00Z'), at('2026-01-01T01:00:01Z')]);
        await judgedAll(store, 'app');
        const alerts = await store.detection.listAlerts(all);
        assert.equal(alerts.length, 1);
        assert.deepEqual(alerts[0]!.events, [{ ledger: 'app', index: 2 }]);
        assert.equal(alerts[0]!.firstSeenMicros, Date.parse('2026-01-01T01:00:01Z') * 1000, 'event time, not arrival');
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('a detector that learns nothing judges an event that happened before the first one seen (a late delivery)', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = service(store, [failedLoginDetector()]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        const at = (actor: string, iso: string) => ({ event: loginEvent(actor, 'failure', 'acme', { occurred_at: iso }), writer: 'w' });
        await store.append('app', [{ event: loginEvent('hal', 'success'), writer: 'w' }, at('ivy', '2026-01-01T00:00:00Z')]);
        await judgedAll(store, 'app');
        const alerts = await store.detection.listAlerts(all);
        assert.deepEqual(alerts.map((a) => [a.actor?.id, a.events]), [['ivy', [{ ledger: 'app', index: 1 }]]]);
      } finally {
        await detection.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('stops when stopped while a worker is still loading its cursor (the abort comes before the worker listens)', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const store = await harness.open();
      let entered!: () => void;
      const loading = new Promise<void>((resolve) => (entered = resolve));
      const bound = <T extends object>(target: T, override: Record<string, unknown>): T =>
        new Proxy(target, {
          get(t, property) {
            if (typeof property === 'string' && property in override) return override[property];
            const value = Reflect.get(t, property, t) as unknown;
            return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(t) : value;
          },
        });
      const slowDetection = bound(store.detection, {
        loadCursor: async (ledger: string) => {
          entered();
          await new Promise((resolve) => setTimeout(resolve, 300));
          return store.detection.loadCursor(ledger);
        },
      });
      const detection = service(bound(store, { detection: slowDetection }), [failedLoginDetector()]);
      try {
        await store.createLedger('app');
        await detection.start(true);
        await loading;
        const stopped = await Promise.race([detection.stop().then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 10_000))]);
        assert.equal(stopped, true, 'stop() returned');
      } finally {
        await store.close();
        await harness.destroy();
      }
    });

    it('two processes: only one judges a ledger, the other takes over when it stops, nothing doubled', { skip, timeout: TEST_MS }, async () => {
      const harness = await make();
      const first = await harness.open();
      const second = await harness.open();
      const a = service(first, [everyNthDetector(3)], 'A');
      const b = service(second, [everyNthDetector(3)], 'B');
      try {
        await first.createLedger('app');
        await a.start(true);
        await b.start(true);
        await appendLogins(first, 'app', Array.from({ length: 30 }, (_, i) => [`u${i % 2}`, 'success'] as [string, 'success']));
        await judgedAll(first, 'app');
        await until(() => a['engine']!.judges('app') !== b['engine']!.judges('app'), 'one holder');
        const holder = a['engine']!.judges('app') ? a : b;
        const other = holder === a ? b : a;
        const otherStore = holder === a ? second : first;
        await holder.stop();
        await appendLogins(otherStore, 'app', Array.from({ length: 30 }, (_, i) => [`u${i % 2}`, 'success'] as [string, 'success']));
        await until(() => other['engine']!.judges('app'), 'the other process to take over');
        await judgedAll(otherStore, 'app');
        const alerts = await otherStore.detection.listAlerts(all);
        assert.equal(alerts.length, 2);
        for (const alert of alerts) assert.equal(alert.count, 10, `${alert.actor?.id}: every third of 30 events`);
        await until(async () => (await alertRecords(otherStore)).length === 2, 'two alert.open records');
        await other.stop();
      } finally {
        await a.stop();
        await b.stop();
        await first.close();
        await second.close();
        await harness.destroy();
      }
    });
  });
}

describe('a step snapshotting large detector states', () => {
  it('writes each state exactly as JSON.stringify does, handing the event loop back as it goes', async () => {
    const harness = sqliteHarness();
    const store = await harness.open();
    try {
      // A behavioural detector's state at a few thousand actors: ~1 MB of JSON.
      const profiles: Record<string, { hours: number[]; seen: string[] }> = {};
      for (let i = 0; i < 4000; i++) profiles[`actor-${i}`] = { hours: Array.from({ length: 24 }, (_, h) => (i + h) % 5), seen: [`10.1.${i % 250}.7`] };
      const large: Detector<{ profiles: typeof profiles }> = {
        id: 'large-state',
        title: 'Learns a profile per actor',
        severity: 'low',
        description: 'Never fires.',
        learningMicros: 0,
        initialState: () => ({ profiles }),
        judge: () => [],
      };
      const judgement = new Judgement({ store, ledger: 'audit', detectors: [large as Detector, everyNthDetector() as Detector], context: { departureOf: () => undefined }, groupWindowMicros: 1, log: () => {} });
      const loop = countLoopTurns();
      const step = await judgement.takeStep(0, new LoopBudget(1));
      const turns = loop.stop();
      const states = new Map(step.cursor!.states.map(({ detector, state }) => [detector, state]));
      assert.equal(states.get('large-state'), JSON.stringify({ first: null, state: { profiles } }));
      assert.equal(states.get(everyNthDetector().id), JSON.stringify({ first: null, state: everyNthDetector().initialState() }));
      assert.ok(states.get('large-state')!.length > 300_000);
      assert.ok(turns >= 2, `the event loop turned ${turns} times while the step was snapshotted`);
    } finally {
      await store.close();
      await harness.destroy();
    }
  });
});
