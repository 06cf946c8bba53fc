/**
 * The SQLite store commits appends and writes the search index on a writer thread (batch-writer.ts,
 * writer-thread.ts), after sealing each batch on the head its own connection read. These cases check
 * what that must not break: two stores appending to one file at once never fork or lose a batch (the
 * one that loses the race seals again), a writer thread that dies fails only what it held and loses
 * nothing searchable, and a read never waits on a stopped thread.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { portableSigner } from '../../src/core/crypto.js';
import { ed25519KeyId } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { StoreError, type Receipt } from '../../src/store/store.js';
import { verifyStoredLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';
import { allIndexes, range, withDatabaseFile } from '../helpers/sqlite-files.js';
import { countLoopTurns } from '../helpers/loop-turns.js';

const signer = portableSigner(nodeSuite.randomBytes(32));
const name = 'writer.test';
const verifier = { name, keyId: ed25519KeyId(nodeSuite, name, signer.publicKey), publicKey: signer.publicKey };

const withDir = (run: (path: string) => Promise<void>) => withDatabaseFile('sealtrail-writer-', run);

const open = (path: string) => new SqliteStore({ path, suite: nodeSuite, signer, name });
const events = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ event: sampleEvent(from + i), writer: 'key_test', idempotencyKey: `k-${from + i}` }));


/** The store's writer thread, once an append has started it. */
function writerWorker(store: SqliteStore): Worker {
  const worker = (store as unknown as { writerHandle?: { thread?: { worker?: Worker } } }).writerHandle?.thread?.worker;
  assert.ok(worker, 'the store has started its writer thread');
  return worker;
}


describe('sqlite writer thread', () => {
  it(
    'two stores appending to one file at once: every batch lands once, in one unforked ledger',
    withDir(async (path) => {
      const one = open(path);
      const two = open(path);
      try {
        await one.createLedger('a');
        await Promise.all([one.append('a', events(10_000, 1)), two.append('a', events(10_001, 1))]);
        let stale = 0;
        for (const store of [one, two]) {
          const handle = (store as unknown as { writerHandle: { commit: (...args: unknown[]) => Promise<string> } }).writerHandle;
          const commit = handle.commit.bind(handle);
          handle.commit = async (...args) => {
            const outcome = await commit(...args);
            if (outcome === 'stale') stale++;
            return outcome;
          };
        }
        const receipts: Receipt[] = [];
        // Each round both seal on the same head; one of them finds the ledger moved and seals again.
        for (let round = 0; round < 15; round++) {
          const [a, b] = await Promise.all([one.append('a', events(round * 40, 20)), two.append('a', events(round * 40 + 20, 20))]);
          receipts.push(...a, ...b);
        }
        const indexes = receipts.map((r) => r.index).sort((x, y) => x - y);
        assert.deepEqual(indexes, range(602).slice(2), 'every event has its own index, none skipped');
        for (const r of receipts) {
          const entry = await one.getEntry('a', r.index);
          assert.equal(Buffer.from(entry!.leafHash).toString('base64'), r.leafHash, `entry ${r.index} is the one acknowledged`);
        }
        const notes = [...new Set(receipts.map((r) => r.checkpoint))];
        const result = await verifyStoredLedger(one, 'a', { suite: nodeSuite, verifiers: [verifier], external: notes });
        assert.equal(result.entries, 602);
        assert.equal(result.externalCheckpoints, notes.length, 'every receipt\'s checkpoint is consistent with the ledger');
        assert.ok(stale > 0, 'the race happened: some batch was sealed on a head that had moved');
        assert.deepEqual(await allIndexes(one, 'a'), range(602));
        assert.equal((await allIndexes(two, 'a', 'outcome:failure')).length, (await allIndexes(one, 'a', 'outcome:failure')).length);
        // A retry through the other store answers with the original receipt.
        const [retry] = await two.append('a', events(0, 1));
        assert.equal(retry!.duplicate, true);
        assert.equal(retry!.index, receipts.find((r) => r.leafHash === retry!.leafHash)!.index);
      } finally {
        await one.close();
        await two.close();
      }
    }),
  );

  it(
    'a writer thread that dies fails the append it held, and the next append and search go on without loss',
    withDir(async (path) => {
      const store = open(path);
      try {
        await store.createLedger('a');
        await store.append('a', events(0, 50));
        // 50 records wait in the thread (under the count that starts background indexing): lost with it.
        const first = writerWorker(store);
        const held = store.append('a', events(50, 10));
        await first.terminate();
        const outcome = await held.then(
          (receipts) => ({ receipts }),
          (error: unknown) => ({ error }),
        );
        if ('error' in outcome) {
          assert.ok(outcome.error instanceof StoreError && outcome.error.code === 'OVERLOADED', `refused as retryable: ${String(outcome.error)}`);
          // Whether or not it reached the file, the same keys give one answer.
          await store.append('a', events(50, 10));
        }
        await store.append('a', events(60, 10));
        assert.notEqual(writerWorker(store), first, 'a new thread took over');
        assert.deepEqual(await allIndexes(store, 'a'), range(70), 'the lost queue was read back from the entries');
        assert.deepEqual(await allIndexes(store, 'a', 'actor.id:u-3'), range(70).filter((n) => n % 17 === 3));
      } finally {
        await store.close();
      }
    }),
  );

  it(
    'keeps the event loop free while a large batch commits and indexes',
    withDir(async (path) => {
      const store = open(path);
      try {
        await store.createLedger('a');
        await store.append('a', events(0, 10));
        // Turns of this thread's loop while 6,000 events commit and are indexed: one transaction held
        // here would show as no turns at all until it returned.
        const loop = countLoopTurns();
        await store.append('a', events(10, 3000));
        await store.append('a', events(3010, 3000));
        assert.deepEqual((await allIndexes(store, 'a', 'actor.id:u-3')).length, range(6010).filter((n) => n % 17 === 3).length);
        const turns = loop.stop();
        assert.ok(turns >= 20, `the loop turned ${turns} times while the writer worked`);
      } finally {
        await store.close();
      }
    }),
  );

  it(
    'holds the waiting search records to maxIndexBacklog: a commit past it indexes before it answers',
    withDir(async (path) => {
      const rows = (store: SqliteStore) => store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM search_events').get()!.n;
      // Unbounded (the default bound is far above this), 1,500 records wait after the append.
      const free = open(path);
      try {
        await free.createLedger('free');
        await free.append('free', events(0, 1500));
        assert.equal(free.searchIndexBacklog(), 1500);
        assert.equal(rows(free), 0);
      } finally {
        await free.close();
      }
      const bounded = new SqliteStore({ path, suite: nodeSuite, signer, name, maxIndexBacklog: 300 });
      try {
        await bounded.createLedger('held');
        for (let batch = 0; batch < 6; batch++) {
          await bounded.append('held', events(10_000 + batch * 500, 500));
          assert.ok(bounded.searchIndexBacklog() <= 300, `after batch ${batch}, ${bounded.searchIndexBacklog()} records wait`);
        }
        // The free store's 1,500 were indexed when the bounded store opened (what a closed store left
        // waiting is read back from the entries); the bounded store's own before its appends answered.
        assert.ok(rows(bounded) >= 1500 + 3000 - 300, `${rows(bounded)} search rows`);
        assert.deepEqual(await allIndexes(bounded, 'held'), range(3000));
      } finally {
        await bounded.close();
      }
    }),
  );
});
