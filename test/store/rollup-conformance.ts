/**
 * Hourly count rollups (src/store/rollups.ts) through the Store interface, run by every backend
 * (test/store/sqlite.test.ts and postgres.test.ts call runRollupConformance): stats answered from the
 * rollups must be exactly what the GROUP BY over the search rows answers, through appends, forgetting,
 * rebuilds and the migration that adds them, and verification must report a rollup that was edited.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import { parseQuery, type Clause, type Query } from '../../src/core/query.js';
import { HOUR_MICROS, rollupPlan } from '../../src/store/rollups.js';
import type { StatsDimension, Store } from '../../src/store/store.js';
import { verifyDerived } from '../../src/store/verify-derived.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { forgetSealed } from '../helpers/forget.js';
import { sampleEvent } from '../helpers/events.js';
import type { StoreHarness } from './conformance.js';

export interface RollupHarness extends StoreHarness {
  /** Runs SQL on the store's database as its owner (search_path or file of the store), with no store open meanwhile needed. */
  ownerSql(sql: string): Promise<void>;
  /** Turns the (closed) store's database back into one of the schema version before the rollups. */
  toPreviousSchema(): Promise<void>;
  /** Applies pending migrations as `sealtrail db setup` would (SQLite: opening the file does). */
  upgradeSchema(): Promise<void>;
}

const writer = 'key_test';
const START = Date.UTC(2026, 9, 1, 0, 0, 0) * 1000;
const DAY = 24 * HOUR_MICROS;

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const received = (from?: number, to?: number): Clause => ({
  field: 'received',
  negate: false,
  anyOf: [{ kind: 'range', ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }],
  position: 0,
});

/** `-writer:nobody` excludes nothing (every event has a writer, none is "nobody") and keeps the query off the rollups. */
const groupByOnly = (query: Query): Query => ({ clauses: [...query.clauses, ...parseQuery('-writer:nobody').clauses] });

export function runRollupConformance(backend: string, makeHarness: () => Promise<RollupHarness>): void {
  describe(`rollup conformance: ${backend}`, () => {
    let harness: RollupHarness;
    let store: Store;
    let now = START;
    let counter = 0;
    const open = async () => (store = await harness.open({ clock: () => now }));
    /** What `sealtrail verify` checks of a ledger: its entries, then the rows derived from them. */
    const verify = async (ledger: string) => {
      const verifiers = [parseVerifierKey(harness.suite, formatVerifierKey(harness.suite, harness.name, harness.signer.publicKey))];
      const { entries } = await verifyWithSystemLedger(store, ledger, { suite: harness.suite, verifiers });
      await verifyDerived(store, ledger, { size: entries, httpWriters: new Set(), allowUnindexedTail: false });
    };

    /** Appends batches of randomised events at random times over ~40 days; returns the span appended. */
    const fill = async (ledger: string, seed: number, batches = 90) => {
      const random = seeded(seed);
      const from = now;
      for (let b = 0; b < batches; b++) {
        // Mostly a few hours apart, sometimes within the same hour, sometimes a day or more.
        now += Math.floor(random() < 0.2 ? random() * HOUR_MICROS : random() < 0.9 ? random() * 12 * HOUR_MICROS : random() * 2 * DAY);
        const events = Array.from({ length: 1 + Math.floor(random() * 4) }, () => {
          const { tenant, ...event } = sampleEvent(Math.floor(random() * 1000));
          // Some events have no tenant: they count in the whole ledger only.
          return { event: random() < 0.2 ? event : { ...event, tenant }, writer };
        });
        await store.append(ledger, events);
      }
      return { from, to: now + 1 };
    };

    /** Every shape the rollups answer, by hour and day, compared with the GROUP BY's answer of the same query. */
    const assertMatchesGroupBy = async (ledger: string, span: { from: number; to: number }) => {
      const hourAt = (micros: number) => Math.floor(micros / HOUR_MICROS) * HOUR_MICROS;
      const middle = span.from + Math.floor((span.to - span.from) / 2);
      const ranges: Array<Clause | undefined> = [
        undefined,
        received(hourAt(span.from) + HOUR_MICROS, hourAt(middle)), // whole hours
        received(span.from + 1_234_567, middle + 17), // both ends inside hours
        received(middle + 5, middle + Math.floor(HOUR_MICROS / 7)), // within one hour (or two)
        received(hourAt(middle) + 10, hourAt(middle) + 20), // within one hour
        received(middle + 3), // from only
        received(undefined, middle + 3), // to only
        received(hourAt(middle) + DAY / 3, hourAt(middle) + 10 * DAY + 999), // across days, day edges unaligned
      ];
      let nonEmpty = 0;
      for (const filter of ['', 'tenant:tenant-1', 'tenant:tenant-2', 'actor.id:u-3', 'actor.id:u-16', 'tenant:nosuch']) {
        for (const range of ranges) {
          const query: Query = { clauses: [...parseQuery(filter).clauses, ...(range ? [range] : [])] };
          for (const by of ['hour', 'day'] as StatsDimension[]) {
            assert.ok(rollupPlan(query, by), 'a shape the rollups answer');
            assert.equal(rollupPlan(groupByOnly(query), by), undefined);
            for (const limit of [1000, 3]) {
              const fromRollups = await store.stats(ledger, query, by, limit);
              const fromRows = await store.stats(ledger, groupByOnly(query), by, limit);
              assert.deepEqual(fromRollups, fromRows, `${filter} ${JSON.stringify(range?.anyOf)} by ${by} limit ${limit}`);
              if (fromRows.length > 0) nonEmpty++;
            }
          }
        }
      }
      assert.ok(nonEmpty > 100, `the shapes found events (${nonEmpty})`);
    };

    before(async () => {
      harness = await makeHarness();
      await open();
    });
    after(async () => {
      await store.close();
      await harness.destroy();
    });

    it('answers counts by hour and day for the ledger, a tenant and an actor exactly as the GROUP BY does', async () => {
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      const span = await fill(ledger, 17);
      await assertMatchesGroupBy(ledger, span);
      const whole = await store.stats(ledger, parseQuery(''), 'hour', 100_000);
      assert.equal(whole.reduce((n, b) => n + b.count, 0), (await store.getLedger(ledger))!.size);
      await verify(ledger);
    });

    it('moves counts when a forget changes an event\'s tenant or actor, and removes them on a purge', async () => {
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      const span = await fill(ledger, 23);
      const size = (await store.getLedger(ledger))!.size;
      const random = seeded(5);
      const pick = () => Math.floor(random() * size);
      const requests = new Map<number, { index: number; paths: string[] | '*'; reason: 'erased' | 'purged' }>();
      for (let i = 0; i < 12; i++) requests.set(pick(), { index: 0, paths: ['tenant'], reason: 'erased' });
      for (let i = 0; i < 12; i++) requests.set(pick(), { index: 0, paths: ['actor.id'], reason: 'erased' });
      for (let i = 0; i < 12; i++) requests.set(pick(), { index: 0, paths: '*', reason: 'purged' });
      const result = await forgetSealed(store, ledger, [...requests].map(([index, r]) => ({ ...r, index })));
      // An erasure of a tenant an event never had changes nothing.
      assert.ok(result.changed.length > 24, `${result.changed.length} events forgotten`);
      await assertMatchesGroupBy(ledger, span);
      const whole = await store.stats(ledger, parseQuery(''), 'hour', 100_000);
      const purged = [...requests].filter(([index, r]) => r.paths === '*' && result.changed.includes(index)).length;
      assert.equal(whole.reduce((n, b) => n + b.count, 0), size - purged);
      await verify(ledger);
    });

    it('rebuilds the rollups with the search index (sealtrail reindex)', async (t) => {
      const rebuildable = store as Store & { rebuildSearchIndex?: () => unknown };
      if (typeof rebuildable.rebuildSearchIndex !== 'function') {
        t.skip('PostgreSQL indexes in the append\'s transaction and has no bulk rebuild');
        return;
      }
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      const span = await fill(ledger, 31);
      await forgetSealed(store, ledger, [{ index: 3, paths: ['tenant'], reason: 'erased' }, { index: 5, paths: '*', reason: 'purged' }]);
      const beforeRebuild = await store.stats(ledger, parseQuery(''), 'hour', 100_000);
      await harness.ownerSql(`UPDATE search_hourly SET count = count + 5`);
      rebuildable.rebuildSearchIndex();
      assert.deepEqual(await store.stats(ledger, parseQuery(''), 'hour', 100_000), beforeRebuild);
      await assertMatchesGroupBy(ledger, span);
      await verify(ledger);
    });

    it('fills the rollups when migrating a database of the previous schema version, and keeps them after', async () => {
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      const first = await fill(ledger, 41, 60);
      await forgetSealed(store, ledger, [{ index: 2, paths: ['actor.id'], reason: 'erased' }, { index: 7, paths: '*', reason: 'purged' }]);
      const expected = await store.stats(ledger, groupByOnly(parseQuery('tenant:tenant-0')), 'hour', 100_000);
      await store.close();
      await harness.toPreviousSchema();
      await harness.upgradeSchema();
      await open();
      assert.deepEqual(await store.stats(ledger, parseQuery('tenant:tenant-0'), 'hour', 100_000), expected);
      await assertMatchesGroupBy(ledger, first);
      // Appends and forgetting after the upgrade keep them (and may: PostgreSQL's service role is granted them).
      const second = await fill(ledger, 43, 30);
      await forgetSealed(store, ledger, [{ index: 70, paths: ['tenant'], reason: 'erased' }, { index: 71, paths: '*', reason: 'purged' }]);
      await assertMatchesGroupBy(ledger, { from: first.from, to: second.to });
      await verify(ledger);
    });

    it('reports an edited or deleted rollup row in verification, and stats read the rollups', async () => {
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      await fill(ledger, 53, 40);
      await verify(ledger);
      const tenant = parseQuery('tenant:tenant-1');
      const honest = await store.stats(ledger, tenant, 'day', 1000);
      const ledgerId = `(SELECT ledger_id FROM ledgers WHERE name = '${ledger}')`;
      const firstHour = `(SELECT min(hour) FROM search_hourly WHERE ledger_id = ${ledgerId} AND dimension = 'tenant' AND value = 'tenant-1')`;
      const row = `ledger_id = ${ledgerId} AND dimension = 'tenant' AND value = 'tenant-1' AND hour = ${firstHour}`;
      await harness.ownerSql(`UPDATE search_hourly SET count = count + 7 WHERE ${row}`);
      await assert.rejects(verify(ledger), /hourly count of tenant "tenant-1" at .* is \d+, but the search index has \d+ such events/);
      // The edited row is what stats by tenant and day reads; a query the rollups do not answer is not misled.
      const edited = await store.stats(ledger, tenant, 'day', 1000);
      assert.equal(edited[0]!.count, honest[0]!.count + 7);
      assert.deepEqual(await store.stats(ledger, groupByOnly(tenant), 'day', 1000), honest);
      await harness.ownerSql(`UPDATE search_hourly SET count = count - 7 WHERE ${row}`);
      await verify(ledger);
      await harness.ownerSql(`DELETE FROM search_hourly WHERE ${row}`);
      await assert.rejects(verify(ledger), /hourly count of tenant "tenant-1" at .* is missing, but the search index has \d+ such events/);
      await harness.ownerSql(`INSERT INTO search_hourly (ledger_id, dimension, value, hour, count) VALUES (${ledgerId}, 'actor', 'nobody', 1, 1)`);
      await assert.rejects(verify(ledger), /hourly count of actor "nobody" at 1970-01-01T01:00:00Z is 1, but the search index has no such events/);
    });

    it('keeps the GROUP BY for every shape the rollups cannot answer exactly', async () => {
      const ledger = `h${counter++}`;
      await store.createLedger(ledger);
      await fill(ledger, 61, 40);
      // A read first: SQLite indexes the last appends when the index is read, and the edit must come after.
      await store.stats(ledger, parseQuery(''), 'hour', 1);
      // Wrong counts in every rollup row of the ledger: any shape that still answers right did not read them.
      await harness.ownerSql(`UPDATE search_hourly SET count = count + 1000 WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = '${ledger}')`);
      const uncovered: Array<[string | Query, StatsDimension]> = [
        ['outcome:failure', 'hour'],
        ['actor:u-3', 'hour'], // actor id or name
        ['tenant:tenant-1,tenant-2', 'hour'],
        ['tenant:tenant-*', 'day'],
        ['-tenant:tenant-1', 'hour'],
        ['tenant:tenant-1 actor.id:u-3', 'hour'],
        [{ clauses: [...parseQuery('tenant:tenant-1').clauses, received(START + 4 * DAY), received(undefined, START + 19 * DAY)] }, 'day'],
        ['', 'tenant'],
        ['tenant:tenant-1', 'outcome'],
      ];
      for (const [q, by] of uncovered) {
        const query = typeof q === 'string' ? parseQuery(q) : q;
        assert.equal(rollupPlan(query, by), undefined, JSON.stringify(q));
        const buckets = await store.stats(ledger, query, by, 10_000);
        const matching = (await store.search(ledger, { query, limit: 1000, order: 'asc' })).entries.length;
        const counted = buckets.reduce((n, b) => n + b.count, 0);
        // Every event counts in one bucket at most here (one hour, day, tenant or outcome each).
        assert.equal(counted, matching, `${JSON.stringify(q)} by ${by}`);
        assert.ok(buckets.every((b) => b.count < 1000), `${JSON.stringify(q)} by ${by}`);
      }
      const covered = await store.stats(ledger, parseQuery('outcome:failure'), 'hour', 10);
      assert.ok(covered.length > 0);
      assert.ok((await store.stats(ledger, parseQuery(''), 'hour', 10)).every((b) => b.count > 1000), 'the whole-ledger shape reads the rollups');
      await harness.ownerSql(`UPDATE search_hourly SET count = count - 1000 WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = '${ledger}')`);
      await verify(ledger);
    });
  });
}
