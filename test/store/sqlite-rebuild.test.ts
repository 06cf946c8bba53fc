/**
 * SqliteStore.rebuildSearchIndex builds the whole search index anew in one pass (bulk loads, and
 * re-deriving locations). What it must never change: the index it builds holds exactly what the
 * incremental path would have written, a process that dies part way leaves a store that repairs itself
 * on the next open, and appends made with bulkLoad are searchable once it has run.
 */
import { describe, it } from 'node:test';
import { forgetSealed } from '../helpers/forget.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { parseQuery } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import type { IpLocation } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';

const signer = portableSigner(nodeSuite.randomBytes(32));
const name = 'rebuild.test';
const writer = 'key_test';

/** A stand-in geolocation database: a few fixed answers, so that the expected rows are known. */
const locate = (ip: string): IpLocation | undefined => {
  const last = Number(ip.split('.').at(-1));
  if (last % 3 === 0) return { country: 'DE', region: 'Berlin', city: 'Berlin', latitude: 52.52, longitude: 13.405 };
  if (last % 3 === 1) return { reserved: 'documentation' };
  return undefined;
};

function withDir(run: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-rebuild-'));
    try {
      await run(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const open = (path: string, options: Partial<SqliteStoreOptions> = {}) => new SqliteStore({ path, suite: nodeSuite, signer, name, locate, ...options });

/** Events with varied actors, targets, metadata and addresses: every search table gets rows. */
const events = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => {
    const n = from + i;
    const event = sampleEvent(n);
    return { event: { ...event, actor: { ...event.actor, id: `user-${n % 13}` }, metadata: { ...event.metadata, shard: n % 5, tag: `t${n % 17}` } }, writer };
  });

/** Every row of the index, without the rowid (which a rebuild renumbers), in a fixed order. */
function indexRows(store: SqliteStore): unknown[] {
  const all = (sql: string) => store.db.prepare(sql).all();
  return [
    all(`SELECT ledger_id, idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, hex(ip) AS ip,
                country, region, city, latitude, longitude, ip_reserved, writer
           FROM search_events ORDER BY ledger_id, idx`),
    all('SELECT * FROM search_targets ORDER BY ledger_id, target_id, idx, target_type'),
    all('SELECT * FROM search_metadata ORDER BY ledger_id, key, value, idx'),
  ];
}

const QUERIES = ['actor.id:user-3', 'country:DE', 'metadata.shard:2', 'tag', '"t11"', 'outcome:failure -actor.id:user-1', 'target.type:file'];

async function answers(store: SqliteStore, ledgers: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const ledger of ledgers) {
    for (const q of QUERIES) {
      const page = await store.search(ledger, { query: parseQuery(q), limit: 1000, order: 'desc' });
      out.push([ledger, q, page.entries.map((e) => [e.index, e.location ?? null])]);
    }
  }
  return out;
}

const indexNames = (store: SqliteStore) =>
  store.db
    .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'search_events' AND sql IS NOT NULL ORDER BY name`)
    .all()
    .map((r) => r.name);

describe('sqlite search index rebuild', () => {
  it(
    'builds exactly the index that incremental indexing writes, and searches answer the same',
    withDir(async (dir) => {
      // One clock reading for both, so that the two stores' entries (and index rows) are the same.
      const clock = () => Date.UTC(2026, 10, 26) * 1000;
      const incremental = open(join(dir, 'a.db'), { clock });
      const bulk = open(join(dir, 'b.db'), { clock, bulkLoad: true });
      try {
        for (const store of [incremental, bulk]) {
          for (const ledger of ['x', 'y']) {
            await store.createLedger(ledger);
            for (let from = 0; from < 1200; from += 300) await store.append(ledger, events(from, 300));
          }
        }
        await incremental.indexPending();
        assert.deepEqual(await answers(bulk, ['x']).then((a) => (a as [string, string, unknown[]][]).every(([, , hits]) => hits.length === 0)), true, 'bulk appends wait for the rebuild');
        const before = indexNames(bulk);
        const seen: string[] = [];
        const result = bulk.rebuildSearchIndex((p) => seen.push(p.phase));
        assert.equal(result.events, 2400);
        assert.ok(seen.includes('rows') && seen.includes('indexes'), 'progress is reported for both phases');
        assert.deepEqual(indexNames(bulk), before, 'every secondary index is back');
        assert.deepEqual(indexRows(bulk), indexRows(incremental));
        assert.deepEqual(await answers(bulk, ['x', 'y']), await answers(incremental, ['x', 'y']));
        assert.ok((await answers(bulk, ['x'])).length > 0);
        // Rebuilding an index that is already complete changes nothing.
        incremental.rebuildSearchIndex();
        assert.deepEqual(indexRows(incremental), indexRows(bulk));
        const tables = bulk.db.prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE name LIKE 'search_rebuild%'`).all();
        assert.deepEqual(tables, [], 'no staging table is left behind');
      } finally {
        await incremental.close();
        await bulk.close();
      }
    }),
  );

  it(
    'fills in the locations of events indexed before geolocation was set up',
    withDir(async (dir) => {
      const path = join(dir, 'sealtrail.db');
      const plain = open(path, { locate: undefined });
      await plain.createLedger('x');
      await plain.append('x', events(0, 30));
      assert.deepEqual((await plain.search('x', { query: parseQuery('country:DE'), limit: 100, order: 'asc' })).entries, []);
      await plain.close();
      const located = open(path);
      try {
        located.rebuildSearchIndex();
        const hits = (await located.search('x', { query: parseQuery('country:DE'), limit: 100, order: 'asc' })).entries;
        assert.deepEqual(
          hits.map((e) => e.index),
          events(0, 30).flatMap((r, i) => (locate(r.event.origin!.ip!)?.country === 'DE' ? [i] : [])),
        );
        assert.equal(hits[0]!.location?.city, 'Berlin');
      } finally {
        await located.close();
      }
    }),
  );

  it(
    'repairs itself on the next open when the rebuilding process dies part way',
    withDir(async (dir) => {
      const path = join(dir, 'sealtrail.db');
      const store = open(path);
      for (const ledger of ['x', 'y']) {
        await store.createLedger(ledger);
        await store.append(ledger, events(0, 400));
      }
      await store.indexPending();
      const expected = await answers(store, ['x', 'y']);
      const expectedRows = indexRows(store);
      const names = indexNames(store);
      // Die after the first ledger's rows are in: its rows are committed, the other ledger's are not,
      // and no secondary index exists.
      assert.throws(
        () =>
          store.rebuildSearchIndex((p) => {
            if (p.phase === 'rows') throw new Error('killed');
          }),
        /killed/,
      );
      assert.deepEqual(indexNames(store), []);
      await store.close();
      // A read-only open (sealtrail verify) still works; a search from it says why it cannot answer.
      const readonly = open(path, { readonly: true });
      await assert.rejects(readonly.search('x', { query: parseQuery('actor.id:user-3'), limit: 10, order: 'desc' }), /being rebuilt/);
      await readonly.close();
      const reopened = open(path);
      try {
        assert.deepEqual(indexNames(reopened), names, 'the next open builds the indexes over what was loaded');
        assert.deepEqual(await answers(reopened, ['x', 'y']), expected, 'and indexes the rest');
        assert.deepEqual(indexRows(reopened), expectedRows);
      } finally {
        await reopened.close();
      }
    }),
  );

  it(
    'puts search rows back in index order in a file where an older sealtrail rewrote them under new ids',
    withDir(async (dir) => {
      const path = join(dir, 'sealtrail.db');
      const store = open(path);
      await store.createLedger('x');
      await store.append('x', events(0, 12));
      await forgetSealed(store, 'x', [{ index: 4, paths: ['actor.name'], reason: 'erased' }]);
      await store.indexPending();
      const expected = await answers(store, ['x']);
      // What the forget of an older sealtrail left: event 4's row (and its free text) under a new id.
      const { id } = store.db.prepare<[], { id: number }>('SELECT id FROM search_events WHERE idx = 4').get()!;
      const top = store.db.prepare<[], { m: number }>('SELECT max(id) AS m FROM search_events').get()!.m + 1;
      store.db.exec(`UPDATE search_events SET id = ${top} WHERE id = ${id}`);
      // What migration 6 leaves for the next open: the repair to do (later migrations stay applied).
      store.db.exec(`INSERT OR IGNORE INTO search_repairs (name) VALUES ('id-order')`);
      await store.close();
      const reopened = open(path);
      try {
        const order = reopened.db.prepare<[], { idx: number }>("SELECT idx FROM search_events WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'x') ORDER BY id").all().map((r) => r.idx);
        assert.deepEqual(order, Array.from({ length: 12 }, (_, i) => i), 'rebuilt in index order');
        assert.deepEqual(await answers(reopened, ['x']), expected);
        const pages: number[] = [];
        let after: number | undefined;
        do {
          const page = await reopened.search('x', { query: parseQuery('"auth.login"'), limit: 2, order: 'desc', ...(after !== undefined ? { after } : {}) });
          pages.push(...page.entries.map((e) => e.index));
          after = page.next ?? undefined;
        } while (after !== undefined);
        assert.deepEqual(pages, [11, 10, 8, 7, 5, 4, 2, 1], 'free text pages see every match once');
        assert.deepEqual(reopened.db.prepare('SELECT name FROM search_repairs').all(), [], 'checked once');
      } finally {
        await reopened.close();
      }
    }),
  );
});
