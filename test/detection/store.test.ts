/**
 * The detection storage contract (src/store/detection-state.ts) on both stores: a step commits cursor,
 * states, alerts, finding keys and outbox records together; merges never touch the workflow; alert
 * listing filters, scopes and pages alike on both; status changes apply once; rules, settings and the
 * HR feed round-trip. PostgreSQL runs as the restricted service role (migration 12's grants).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postgresUnavailable } from '../helpers/postgres.js';
import { HARNESSES, plantAlert } from './engine-fixtures.js';

for (const [kind, make] of HARNESSES) {
  describe(`detection state (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;

    it('commits a step whole, lists with scope and cursor, and changes status once', { skip }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = store.detection;
      try {
        assert.deepEqual(await detection.loadCursor('app'), { evaluated: 0, states: new Map() });
        const a = await plantAlert(store, { ledger: 'app', tenant: 'acme', actor: { type: 'user', id: 'a' } });
        const b = await plantAlert(store, { ledger: 'app', tenant: 'globex', actor: { type: 'user', id: 'b' }, severity: 'low' });
        const c = await plantAlert(store, { ledger: 'other', tenant: null, actor: { type: 'user', id: 'c' } });
        await detection.commitStep({
          ledger: 'app',
          cursor: { evaluated: 42, states: [{ detector: 'd1', state: '{"n":1}' }, { detector: 'd2', state: '{"s":"\\u0000"}' }] },
          alerts: [{ alert: { ...a, count: 7, status: 'closed', summary: 'merged' }, opened: false }],
          findings: [{ key: 'k-new', alertId: a.id }],
          outbox: [{ key: 'o1', event: '{}' }, { key: 'o1', event: '{}' }],
        });
        const cursor = await detection.loadCursor('app');
        assert.equal(cursor.evaluated, 42);
        assert.equal(cursor.states.get('d2'), '{"s":"\\u0000"}');
        const merged = (await detection.getAlert(a.id))!;
        assert.equal(merged.count, 7);
        assert.equal(merged.summary, 'merged');
        assert.equal(merged.status, 'open', 'a merge never changes the workflow');
        assert.deepEqual([...(await detection.knownFindings(['k-new', 'k-other', ...a.findingKeys]))].sort(), ['k-new', ...a.findingKeys].sort());
        assert.deepEqual((await detection.pendingOutbox(10)).map((r) => r.key), ['o1'], 'an outbox key is held once');
        assert.equal((await detection.newestAlert(a.groupKey, 'acme'))?.id, a.id, 'group keys with NUL separators round-trip');
        assert.equal(await detection.newestAlert(a.groupKey, 'globex'), undefined);
        assert.equal((await detection.newestAlert(c.groupKey, null))?.id, c.id);

        const ids = async (filter: Partial<Parameters<typeof detection.listAlerts>[0]>) =>
          (await detection.listAlerts({ ledgers: ['*'], tenants: ['*'], limit: 100, ...filter })).map((x) => x.id);
        assert.deepEqual(await ids({}), [c.id, b.id, a.id]);
        assert.deepEqual(await ids({ tenants: ['acme'] }), [a.id], 'tenant-less alerts need every tenant');
        assert.deepEqual(await ids({ ledgers: ['app'] }), [b.id, a.id]);
        assert.deepEqual(await ids({ severity: 'low' }), [b.id]);
        assert.deepEqual(await ids({ limit: 1 }), [c.id]);
        assert.deepEqual(await ids({ actor: 'b' }), [b.id]);
        assert.deepEqual(await ids({ actor: 'b', actorType: 'service' }), []);
        assert.deepEqual(await ids({ actorType: 'user', ledgers: ['other'] }), [c.id]);
        assert.deepEqual(await ids({ beforeSeq: (await detection.getAlert(b.id))!.seq! }), [a.id]);

        const change = { from: ['open'] as const, to: 'acknowledged' as const, by: 'k1', atMicros: 1 };
        const first = await detection.changeAlertStatus(a.id, change, { key: `alert:${a.id}:acknowledge`, event: '{}' });
        assert.equal(first?.changed, true);
        assert.equal(first?.alert.changedBy, 'k1');
        const second = await detection.changeAlertStatus(a.id, change, { key: 'other', event: '{}' });
        assert.equal(second?.changed, false);
        assert.equal(await detection.changeAlertStatus('al_missing', change, { key: 'x', event: '{}' }), undefined);
        assert.deepEqual((await detection.pendingOutbox(10)).map((r) => r.key), ['o1', `alert:${a.id}:acknowledge`]);
        await detection.removeOutbox(['o1', `alert:${a.id}:acknowledge`]);
        assert.deepEqual(await detection.pendingOutbox(10), []);
        await detection.resetCursor('app', 10);
        assert.deepEqual(await detection.loadCursor('app'), { evaluated: 10, states: new Map() });
        assert.deepEqual(await detection.cursors(), [{ ledger: 'app', evaluated: 10 }]);
      } finally {
        await store.close();
        await harness.destroy();
      }
    });

    it('keeps rules, settings and the HR feed', { skip }, async () => {
      const harness = await make();
      const store = await harness.open();
      const detection = store.detection;
      const record = (key: string) => ({ key, event: '{}' });
      try {
        await detection.putRule({ id: 'r1', yaml: 'a', addedAtMicros: 1, addedBy: 'k' }, record('1'));
        await detection.putRule({ id: 'r1', yaml: 'b', addedAtMicros: 2, addedBy: 'k' }, record('2'));
        assert.deepEqual(await detection.rules(), [{ id: 'r1', yaml: 'b', addedAtMicros: 2, addedBy: 'k' }]);
        assert.equal(await detection.deleteRule('r1', record('3')), true);
        assert.equal(await detection.deleteRule('r1', record('4')), false);
        await detection.putRuleSetting({ id: 'x', enabled: false, changedAtMicros: 5, changedBy: 'k' }, record('5'));
        assert.deepEqual(await detection.ruleSettings(), [{ id: 'x', enabled: false, changedAtMicros: 5, changedBy: 'k' }]);
        await detection.putDepartures([{ actorId: 'carol', endsAtMicros: 9 }], record('6'));
        await detection.putDepartures([{ actorId: 'dan', endsAtMicros: 10 }], record('7'));
        assert.deepEqual(await detection.departures(), [{ actorId: 'dan', endsAtMicros: 10 }], 'replaced whole');
        assert.deepEqual((await detection.pendingOutbox(10)).map((r) => r.key), ['1', '2', '3', '5', '6', '7'], 'a refused delete records nothing');
      } finally {
        await store.close();
        await harness.destroy();
      }
    });
  });
}
