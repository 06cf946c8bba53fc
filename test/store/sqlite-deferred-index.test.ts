/**
 * The SQLite store indexes search records in deferred batches (the writer thread, SqliteBatchWriter). These cases
 * check what that must never change: a search sees every acknowledged append, a crash loses nothing
 * searchable, and two stores on one file index each other's appends exactly once.
 */
import { describe, it } from 'node:test';
import { forgetSealed } from '../helpers/forget.js';
import assert from 'node:assert/strict';
import { portableSigner } from '../../src/core/crypto.js';
import { parseQuery } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sampleEvent } from '../helpers/events.js';
import { allIndexes, range, withDatabaseFile } from '../helpers/sqlite-files.js';

const signer = portableSigner(nodeSuite.randomBytes(32));
const name = 'deferred.test';
const writer = 'key_test';

const withDir = (run: (path: string) => Promise<void>) => withDatabaseFile('sealtrail-deferred-', run);

const open = (path: string) => new SqliteStore({ path, suite: nodeSuite, signer, name });
const events = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ event: sampleEvent(from + i), writer }));


const rowCount = (store: SqliteStore) => store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM search_events').get()!.n;

describe('sqlite deferred search indexing', () => {
  it(
    'answers a search right after the append, before any index batch was written',
    withDir(async (path) => {
      const store = open(path);
      try {
        await store.createLedger('a');
        await store.append('a', events(0, 50));
        assert.equal(rowCount(store), 0, 'nothing indexed yet: the records wait');
        assert.deepEqual(await allIndexes(store, 'a'), range(50));
        const failures = range(50).filter((n) => n % 7 === 0);
        assert.deepEqual(await allIndexes(store, 'a', 'outcome:failure'), failures);
        assert.deepEqual(await allIndexes(store, 'a', '"invalid password"'), failures);
        const stats = await store.stats('a', parseQuery(''), 'outcome', 10);
        assert.deepEqual(stats, [
          { key: 'success', count: 50 - failures.length },
          { key: 'failure', count: failures.length },
        ]);
      } finally {
        await store.close();
      }
    }),
  );

  it(
    'loses nothing searchable in a crash: the next open indexes the entries the index lacks',
    withDir(async (path) => {
      const store = open(path);
      await store.createLedger('a');
      await store.append('a', events(0, 120));
      // A crash: the connection goes away with the waiting records never written.
      store.db.close();
      const reopened = open(path);
      try {
        assert.equal(rowCount(reopened), 120);
        assert.deepEqual(await allIndexes(reopened, 'a'), range(120));
        assert.deepEqual(await allIndexes(reopened, 'a', 'actor.id:u-3'), range(120).filter((n) => n % 17 === 3));
      } finally {
        await reopened.close();
      }
    }),
  );

  it(
    'indexes what another store on the same file appended, each event once',
    withDir(async (path) => {
      const one = open(path);
      const two = open(path);
      try {
        await one.createLedger('a');
        await one.append('a', events(0, 10));
        await two.append('a', events(10, 10));
        await one.append('a', events(20, 10));
        // one's queue has 0–9 and 20–29; 10–19 are read back from the entries.
        assert.deepEqual(await allIndexes(one, 'a'), range(30));
        await two.append('a', events(30, 5));
        assert.deepEqual(await allIndexes(two, 'a'), range(35));
        assert.deepEqual(await allIndexes(one, 'a', 'tenant:tenant-1'), range(35).filter((n) => n % 3 === 1));
      } finally {
        await one.close();
        await two.close();
      }
      const check = open(path);
      try {
        assert.equal(rowCount(check), 35);
        assert.deepEqual(await allIndexes(check, 'a'), range(35));
      } finally {
        await check.close();
      }
    }),
  );

  it(
    'writes waiting records once appends pause, and on close',
    withDir(async (path) => {
      const store = open(path);
      await store.createLedger('a');
      await store.append('a', events(0, 5));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(rowCount(store), 5);
      await store.append('a', events(5, 5));
      await store.close();
      const reopened = open(path);
      try {
        assert.equal(rowCount(reopened), 10);
      } finally {
        await reopened.close();
      }
    }),
  );

  // A database file is indexed on the writer thread, which never holds this loop (sqlite-writer-thread.test.ts);
  // an in-memory one is indexed on this thread, in slices.
  it(
    'indexes a backlog on the calling thread (in-memory database) in short transactions with the event loop free between them',
    withDir(async () => {
      const store = open(':memory:');
      try {
        await store.createLedger('a');
        for (let from = 0; from < 6000; from += 500) await store.append('a', events(from, 500));
        // Background indexing has begun (past INDEX_START_EVENTS). Each turn of the loop sees how far it
        // got: one big transaction would show nothing, then everything.
        const seen = new Set<number>();
        for (let turn = 0; turn < 10_000 && rowCount(store) < 6000; turn++) {
          seen.add(rowCount(store));
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.equal(rowCount(store), 6000, 'the backlog was indexed without a search asking for it');
        const partial = [...seen].filter((n) => n > 0 && n < 6000);
        assert.ok(partial.length >= 3, `the loop ran between index transactions (saw ${[...seen].sort((a, b) => a - b).join(', ')})`);
        assert.deepEqual(await allIndexes(store, 'a', 'actor.id:u-3'), range(6000).filter((n) => n % 17 === 3));
      } finally {
        await store.close();
      }
    }),
  );

  it(
    'lets the event loop run while a search indexes the backlog before it (in-memory database), and still finds every event',
    withDir(async () => {
      const store = open(':memory:');
      try {
        await store.createLedger('a');
        await store.append('a', events(0, 6000));
        // 6,000 records wait. Every turn of the loop the search gives up is seen here, part-way through.
        const seen = new Set<number>();
        let searching = true;
        const watch = () => {
          if (!searching) return;
          seen.add(rowCount(store));
          setImmediate(watch);
        };
        setImmediate(watch);
        const found = await allIndexes(store, 'a', 'actor.id:u-3');
        searching = false;
        assert.deepEqual(found, range(6000).filter((n) => n % 17 === 3));
        const partial = [...seen].filter((n) => n > 0 && n < 6000);
        assert.ok(partial.length >= 2, `other work ran while the search indexed (saw ${[...seen].sort((a, b) => a - b).join(', ')})`);
      } finally {
        await store.close();
      }
    }),
  );

  it(
    'a search that yields finds what another process appended before it, while this one appends during the search',
    withDir(async (path) => {
      const one = open(path);
      const two = open(path);
      try {
        await one.createLedger('a');
        await one.append('a', events(0, 3000));
        await two.append('a', events(3000, 10));
        // The other process dies before indexing its 10: only their entries are on the file.
        two.db.close();
        let appended: Promise<unknown> | undefined;
        setImmediate(() => (appended = one.append('a', events(3010, 1))));
        const first = await one.search('a', { query: parseQuery(''), limit: 5000, order: 'asc' });
        await appended;
        const found = first.entries.map((e) => e.index);
        assert.deepEqual(found.slice(0, 3010), range(3010), 'every event acknowledged before the search, the other process\'s included');
      } finally {
        await one.close();
      }
    }),
  );

  it(
    'reads a gap back from the entries once, however often the background finds it while the fill runs',
    withDir(async (path) => {
      const one = open(path);
      // Appends of another process that this one's writer never receives: a gap of 6,500 entries, read back in many pages.
      const other = new SqliteStore({ path, suite: nodeSuite, signer, name, bulkLoad: true });
      try {
        await one.createLedger('a');
        await one.append('a', events(0, 100));
        await other.append('a', events(100, 6500));
        await other.close();
        let read = 0;
        const spied = one as unknown as { recordsFromEntries(...args: unknown[]): { records: unknown[]; end: number } };
        const recordsFromEntries = spied.recordsFromEntries.bind(one);
        spied.recordsFromEntries = (...args) => {
          // Each page takes 20 ms, long enough for the writer thread to index the page before it and meet
          // the rest of the gap again, as it does when the gap is millions of entries long.
          for (const until = performance.now() + 20; performance.now() < until; );
          const page = recordsFromEntries(...args);
          read += page.records.length;
          return page;
        };
        // Past INDEX_START_EVENTS waiting, in several appends: the background pump meets the gap on its own.
        for (let from = 6600; from < 9600; from += 500) await one.append('a', events(from, 500));
        for (let turn = 0; turn < 1000 && rowCount(one) < 9600; turn++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(rowCount(one), 9600, 'the background filled the gap and indexed what followed it');
        assert.equal(read, 6500, 'each entry of the gap read back once');
        assert.deepEqual(await allIndexes(one, 'a', 'actor.id:u-3'), range(9600).filter((n) => n % 17 === 3));
      } finally {
        await one.close();
      }
    }),
  );

  it(
    'keeps row ids in index order when a forget rewrites an event, so free-text rowids follow the ledger',
    withDir(async (path) => {
      const store = open(path);
      try {
        await store.createLedger('a');
        await store.append('a', events(0, 20));
        await store.indexPending();
        // Ledger a's rows only: the forget's own record goes to the system ledger, indexed whenever the writer gets to it.
        const ofLedgerA = `FROM search_events WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'a') ORDER BY id`;
        const order = () => store.db.prepare<[], { idx: number }>(`SELECT idx ${ofLedgerA}`).all().map((r) => r.idx);
        const ids = () => store.db.prepare<[], { id: number }>(`SELECT id ${ofLedgerA}`).all().map((r) => r.id);
        const before = ids();
        await forgetSealed(store, 'a', [{ index: 3, paths: ['origin.ip', 'actor.name'], reason: 'erased' }]);
        assert.deepEqual(order(), range(20), 'the rewritten row is where it was');
        assert.deepEqual(ids(), before);
        const found = await store.search('a', { query: parseQuery('"u-3"'), limit: 10, order: 'desc' });
        assert.ok(found.entries.some((e) => e.index === 3), 'its free text is under the same rowid');
      } finally {
        await store.close();
      }
    }),
  );
});
