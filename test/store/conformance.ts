/**
 * The storage conformance suite: every backend runs exactly these cases (test/store/*.test.ts call
 * runStoreConformance with a factory). A backend that cannot support a case must skip it with a reason.
 */
import { describe, it, before, after } from 'node:test';
import { forgetSealed } from '../helpers/forget.js';
import assert from 'node:assert/strict';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import type { CryptoSuite, Ed25519Signer } from '../../src/core/crypto.js';
import { formatVerifierKey, parseVerifierKey, type NoteVerifier } from '../../src/core/note.js';
import { hashLeaf, planConsistencyProof, planInclusionProof, planInclusionProofs, planRootHash, TileNodeCache, verifyConsistency, verifyInclusion } from '../../src/core/tree.js';
import { inclusionProofs } from '../../src/store/proofs.js';
import { decodeLeaf, verifyDisclosures } from '../../src/core/leaf.js';
import { StoreError, type IpLocation, type Store } from '../../src/store/store.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';
import { parseQuery } from '../../src/core/query.js';

export interface StoreHarness {
  /** Opens the store under test; the same location each time until `destroy`. */
  open(options?: { clock?: () => number; locate?: (ip: string) => IpLocation | undefined }): Promise<Store>;
  destroy(): Promise<void>;
  suite: CryptoSuite;
  signer: Ed25519Signer;
  name: string;
}

const writer = 'key_test';

export function runStoreConformance(backend: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`store conformance: ${backend}`, () => {
    let harness: StoreHarness;
    let store: Store;
    let verifier: NoteVerifier;
    let ledgerCounter = 0;
    const freshLedger = async () => {
      const name = `l${ledgerCounter++}`;
      assert.equal(await store.createLedger(name), true);
      return name;
    };

    before(async () => {
      harness = await makeHarness();
      store = await harness.open();
      verifier = parseVerifierKey(harness.suite, formatVerifierKey(harness.suite, harness.name, harness.signer.publicKey));
    });
    after(async () => {
      await store.close();
      await harness.destroy();
    });

    it('creates ledgers idempotently and lists them', async () => {
      const name = await freshLedger();
      assert.equal(await store.createLedger(name), false);
      const info = await store.getLedger(name);
      assert.equal(info?.origin, `${harness.name}/${name}`);
      assert.equal(info?.size, 0);
      assert.ok((await store.listLedgers()).some((l) => l.name === name));
      assert.equal(await store.getLedger('nosuch'), undefined);
    });

    it('rejects appends to an unknown ledger', async () => {
      await assert.rejects(store.append('nosuch', [{ event: sampleEvent(1), writer }]), (e) => e instanceof StoreError && e.code === 'LEDGER_NOT_FOUND');
    });

    it('assigns consecutive indexes and signs a checkpoint that covers every receipt', async () => {
      const ledger = await freshLedger();
      const receipts = await store.append(ledger, [0, 1, 2].map((i) => ({ event: sampleEvent(i), writer })));
      assert.deepEqual(receipts.map((r) => r.index), [0, 1, 2]);
      for (const receipt of receipts) {
        const { checkpoint } = openCheckpoint(harness.suite, receipt.checkpoint, [verifier], `${harness.name}/${ledger}`);
        assert.ok(receipt.index < checkpoint.size);
        assert.equal(receipt.treeSize, checkpoint.size);
        const entry = (await store.getEntry(ledger, receipt.index))!;
        assert.equal(toBase64(hashLeaf(harness.suite, entry.leaf)), receipt.leafHash);
        verifyDisclosures(harness.suite, decodeLeaf(entry.leaf), entry.disclosures);
        assert.equal(entry.disclosures['actor.id']![1], sampleEvent(receipt.index).actor.id);
      }
      assert.equal((await store.getLedger(ledger))?.size, 3);
      assert.equal(await store.getEntry(ledger, 3), undefined);
    });

    it('group-commits concurrent appends into one consistent order', async () => {
      const ledger = await freshLedger();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(ledger, [{ event: sampleEvent(i), writer }])));
      const indexes = results.map((r) => r[0]!.index).sort((a, b) => a - b);
      assert.deepEqual(indexes, Array.from({ length: 200 }, (_, i) => i));
      const checkpoints = await store.checkpoints(ledger);
      assert.ok(checkpoints.length < 200, 'concurrent appends share batches');
      assert.equal(checkpoints.at(-1)!.size, 200);
      await verifyWithSystemLedger(store, ledger, { suite: harness.suite, verifiers: [verifier] });
    });

    it('answers a retry with the original receipt and refuses a key reused for another event', async () => {
      const ledger = await freshLedger();
      const [first] = await store.append(ledger, [{ event: sampleEvent(1), writer, idempotencyKey: 'k1' }]);
      await store.append(ledger, [{ event: sampleEvent(2), writer }]);
      const [retry] = await store.append(ledger, [{ event: sampleEvent(1), writer, idempotencyKey: 'k1' }]);
      assert.equal(retry!.duplicate, true);
      assert.deepEqual({ ...retry, duplicate: false }, first);
      await assert.rejects(
        store.append(ledger, [{ event: sampleEvent(3), writer, idempotencyKey: 'k9' }, { event: sampleEvent(4), writer, idempotencyKey: 'k1' }]),
        (e) => e instanceof StoreError && e.code === 'IDEMPOTENCY_CONFLICT',
      );
      assert.equal((await store.getLedger(ledger))?.size, 2, 'nothing of the refused call is stored');
      // A conflicting caller in the same group commit fails alone.
      const [ok, bad, dup] = await Promise.allSettled([
        store.append(ledger, [{ event: sampleEvent(5), writer, idempotencyKey: 'k5' }]),
        store.append(ledger, [{ event: sampleEvent(6), writer, idempotencyKey: 'k5' }]),
        store.append(ledger, [{ event: sampleEvent(5), writer, idempotencyKey: 'k5' }]),
      ]);
      assert.equal(ok.status, 'fulfilled');
      assert.equal(bad.status, 'rejected');
      assert.equal(dup.status, 'fulfilled');
      assert.equal((dup as PromiseFulfilledResult<Awaited<ReturnType<Store['append']>>>).value[0]!.index, (ok as PromiseFulfilledResult<Awaited<ReturnType<Store['append']>>>).value[0]!.index);
      assert.equal((await store.getLedger(ledger))?.size, 3);
    });

    it("scopes idempotency keys by writer: another writer's key neither claims nor reveals an event (issue 19)", async () => {
      const ledger = await freshLedger();
      const event = { ...sampleEvent(40), tenant: 'tenant-a' };
      const [mine] = await store.append(ledger, [{ event, writer: 'key_tenant_a', idempotencyKey: 'id:evt-shared' }]);
      // Another tenant's writer uses the same id first or later: its own event, stored, never a 409.
      const other = { ...sampleEvent(41), tenant: 'tenant-b' };
      const [theirs] = await store.append(ledger, [{ event: other, writer: 'key_tenant_b', idempotencyKey: 'id:evt-shared' }]);
      assert.equal(theirs!.duplicate, false);
      assert.notEqual(theirs!.index, mine!.index);
      // Nor is the first writer's event answered to the second as a duplicate.
      const [again] = await store.append(ledger, [{ event: other, writer: 'key_tenant_b', idempotencyKey: 'id:evt-shared' }]);
      assert.deepEqual(again, { ...theirs!, duplicate: true }, "writer b's key answers with writer b's entry only");
      const [retry] = await store.append(ledger, [{ event, writer: 'key_tenant_a', idempotencyKey: 'id:evt-shared' }]);
      assert.deepEqual(retry, { ...mine!, duplicate: true });
      assert.equal((await store.getLedger(ledger))?.size, 2);
    });

    it('stores idempotency keys only as keyed hashes, and reads derived rows back in index order', async () => {
      const ledger = await freshLedger();
      const events = [0, 1, 2].map((n) => ({ ...sampleEvent(50 + n), id: `evt-zed.marker@example.com-${n}` }));
      await store.append(ledger, events.map((event) => ({ event, writer, idempotencyKey: `id:${event.id}` })));
      await store.append(ledger, [{ event: sampleEvent(53), writer }]);
      const keys = [];
      for await (const key of store.idempotencyKeys(ledger)) keys.push(key);
      assert.deepEqual(keys.map((k) => k.index), [0, 1, 2]);
      for (const { key } of keys) {
        assert.match(key, /^v2:[A-Za-z0-9_-]{43}$/, 'an HMAC, never the raw key');
        assert.ok(!key.includes('zed.marker'));
      }
      const rows = [];
      for await (const row of store.indexedEvents(ledger, 0, 4)) rows.push(row);
      assert.deepEqual(rows.map((r) => [r.index, r.actorId, r.writer]), [...events, sampleEvent(53)].map((e, i) => [i, e.actor.id, writer]));
      const details = [];
      for await (const row of store.indexedDetails(ledger, 1, 2)) details.push(row);
      assert.deepEqual(
        details.map((d) => ('target' in d ? ['target', d.index, d.target.id] : ['metadata', d.index, d.metadata[0]])).sort(),
        [['metadata', 1, 'bytes'], ['metadata', 1, 'request_id'], ['metadata', 1, 'tags'], ['target', 1, 'f-51']],
      );
    });

    it('keeps received_at non-decreasing when the clock steps back', async () => {
      await store.close();
      let now = Date.UTC(2026, 0, 1) * 1000;
      store = await harness.open({ clock: () => now });
      const ledger = await freshLedger();
      const [a] = await store.append(ledger, [{ event: sampleEvent(1), writer }]);
      now -= 60_000_000;
      const [b] = await store.append(ledger, [{ event: sampleEvent(2), writer }]);
      assert.ok(b!.receivedAt >= a!.receivedAt, `${b!.receivedAt} >= ${a!.receivedAt}`);
      await store.close();
      store = await harness.open();
    });

    it('serves inclusion and consistency proofs that verify against its checkpoints', async () => {
      const ledger = await freshLedger();
      for (let start = 0; start < 700; start += 100) {
        await store.append(ledger, Array.from({ length: 100 }, (_, i) => ({ event: sampleEvent(start + i), writer })));
      }
      const checkpoints = (await store.checkpoints(ledger)).map((c) => openCheckpoint(harness.suite, c.note, [verifier]).checkpoint);
      assert.deepEqual(checkpoints.map((c) => c.size), [100, 200, 300, 400, 500, 600, 700]);
      for (const checkpoint of checkpoints) {
        for (const index of [0, 99, 255, 256, checkpoint.size - 1].filter((i) => i < checkpoint.size)) {
          const plan = planInclusionProof(harness.suite, index, checkpoint.size);
          const proof = plan.finish(await store.readHashes(ledger, plan.reads));
          const entry = (await store.getEntry(ledger, index))!;
          verifyInclusion(harness.suite, index, checkpoint.size, hashLeaf(harness.suite, entry.leaf), proof, checkpoint.rootHash);
        }
        const rootPlan = planRootHash(harness.suite, checkpoint.size);
        assert.equal(toBase64(rootPlan.finish(await store.readHashes(ledger, rootPlan.reads))), toBase64(checkpoint.rootHash));
      }
      const [older, newer] = [checkpoints[1]!, checkpoints[6]!];
      const plan = planConsistencyProof(harness.suite, older.size, newer.size);
      verifyConsistency(harness.suite, older.size, newer.size, plan.finish(await store.readHashes(ledger, plan.reads)), older.rootHash, newer.rootHash);
      const between = await store.checkpoints(ledger, 200, 400);
      assert.deepEqual(between.map((c) => c.size), [200, 300, 400]);
      assert.equal((await store.latestCheckpoint(ledger))?.size, 700);
      const entries = [];
      for await (const entry of store.entries(ledger, 250, 1000)) entries.push(entry.index);
      assert.deepEqual(entries, Array.from({ length: 450 }, (_, i) => 250 + i));
    });

    it('stores the interior nodes of tiles its appends complete, computes and stores the rest on demand, and proofs from them verify', async () => {
      const ledger = await freshLedger();
      /** A tile's nodes as computed from the stored hashes alone. */
      const computed = async (tile: number, size: number) => {
        const cache = new TileNodeCache();
        const plan = planInclusionProofs(harness.suite, [tile * 256], size, cache);
        plan.finish(await store.readHashes(ledger, plan.reads));
        return toBase64(cache.get(0, tile)!);
      };
      const appendEvents = async (from: number, count: number) => {
        for (let start = from; start < from + count; start += 100) {
          await store.append(ledger, Array.from({ length: Math.min(100, from + count - start) }, (_, i) => ({ event: sampleEvent(start + i), writer })));
        }
      };
      await appendEvents(0, 300);
      let [tile0, tile1] = await store.readTileNodes(ledger, [{ level: 0, tile: 0 }, { level: 0, tile: 1 }]);
      assert.equal(toBase64(tile0!), await computed(0, 300), 'tile 0, completed by the third batch');
      assert.equal(tile1, undefined, 'tile 1 is not full');
      // Restarted mid-tile: the new process never saw tile 1's first nodes, so its appends do not store it.
      await store.close();
      store = await harness.open();
      await appendEvents(300, 300);
      [tile1] = await store.readTileNodes(ledger, [{ level: 0, tile: 1 }]);
      assert.equal(tile1, undefined);
      const checkpoint = openCheckpoint(harness.suite, (await store.latestCheckpoint(ledger))!.note, [verifier]).checkpoint;
      const indices = [3, 300, 511, 599];
      const proofs = await inclusionProofs(store, harness.suite, ledger, indices, 600);
      for (const [i, index] of indices.entries()) {
        verifyInclusion(harness.suite, index, 600, hashLeaf(harness.suite, (await store.getEntry(ledger, index))!.leaf), proofs[i]!, checkpoint.rootHash);
      }
      [tile0, tile1] = await store.readTileNodes(ledger, [{ level: 0, tile: 0 }, { level: 0, tile: 1 }]);
      assert.equal(toBase64(tile1!), await computed(1, 600), 'tile 1, computed by the proof and stored');
      // A stored tile is never replaced, and verification compares every stored tile with the entries.
      await store.writeTileNodes(ledger, [{ level: 0, tile: 0, nodes: new Uint8Array(510 * 32) }]);
      assert.equal(toBase64((await store.readTileNodes(ledger, [{ level: 0, tile: 0 }]))[0]!), toBase64(tile0!));
      const result = await verifyWithSystemLedger(store, ledger, { suite: harness.suite, verifiers: [verifier] });
      assert.equal(result.entries, 600);
    });

    it('resumes appending after a restart where it left off', async () => {
      const ledger = await freshLedger();
      await store.append(ledger, Array.from({ length: 300 }, (_, i) => ({ event: sampleEvent(i), writer })));
      await store.close();
      store = await harness.open();
      const [receipt] = await store.append(ledger, [{ event: sampleEvent(300), writer }]);
      assert.equal(receipt!.index, 300);
      const result = await verifyWithSystemLedger(store, ledger, { suite: harness.suite, verifiers: [verifier] });
      assert.equal(result.entries, 301);
      const note = (await store.latestCheckpoint(ledger))!.note;
      assert.equal(openCheckpoint(harness.suite, note, [verifier]).checkpoint.size, 301);
    });

    it('stores API keys, finds them by id and revokes them', async () => {
      const secretHash = harness.suite.sha256(new TextEncoder().encode('secret'));
      await store.createApiKey({
        id: 'abcd1234',
        role: 'reader',
        ledgers: ['l0', 'l1'],
        tenants: ['acme', 'globex'],
        description: 'test',
        createdAtMicros: 1,
        expiresAtMicros: null,
        revokedAtMicros: null,
        secretHash,
      });
      const key = (await store.getApiKey('abcd1234'))!;
      assert.deepEqual([key.role, key.ledgers, key.tenants, toBase64(key.secretHash)], ['reader', ['l0', 'l1'], ['acme', 'globex'], toBase64(secretHash)]);
      assert.ok((await store.listApiKeys()).some((k) => k.id === 'abcd1234'));
      assert.equal(await store.revokeApiKey('abcd1234', 5), true);
      assert.equal((await store.getApiKey('abcd1234'))!.revokedAtMicros, 5);
      assert.equal(await store.revokeApiKey('nosuch', 5), false);
    });

    describe('search', () => {
      let ledger: string;
      const now = Date.now() * 1000;
      const ids = (entries: Array<{ index: number }>) => entries.map((e) => e.index);
      const find = async (q: string, order: 'asc' | 'desc' = 'asc', limit = 1000) =>
        ids((await store.search(ledger, { query: parseQuery(q, { now }), limit, order })).entries);
      const expected = (predicate: (i: number) => boolean) => Array.from({ length: 120 }, (_, i) => i).filter(predicate);

      before(async () => {
        ledger = await freshLedger();
        await store.append(ledger, Array.from({ length: 120 }, (_, i) => ({ event: sampleEvent(i), writer: i % 2 ? 'key_odd' : 'key_even' })));
      });

      it('matches every key of the language exactly as the events say', async () => {
        // sampleEvent(n): actor u-(n%17), action file.download when n%3==0 else auth.login, failure when n%7==0,
        // ip 203.0.113.(n%250), tenant tenant-(n%3), target f-n named report-n.pdf, metadata request_id req-n.
        assert.deepEqual(await find('actor:u-3'), expected((i) => i % 17 === 3));
        assert.deepEqual(await find('actor:"User 3"'), expected((i) => i % 17 === 3));
        assert.deepEqual(await find('actor.type:user action:file.*'), expected((i) => i % 3 === 0));
        assert.deepEqual(await find('category:auth -outcome:failure'), expected((i) => i % 3 !== 0 && i % 7 !== 0));
        assert.deepEqual(await find('tenant:tenant-1,tenant-2 outcome:failure'), expected((i) => i % 3 !== 0 && i % 7 === 0));
        assert.deepEqual(await find('ip:203.0.113.10'), [10]);
        assert.deepEqual(await find('ip:203.0.113.0/28'), expected((i) => i < 16));
        assert.deepEqual(await find('ip:10.0.0.0/8'), []);
        assert.deepEqual(await find('target:f-42'), [42]);
        assert.deepEqual(await find('target.type:file target:report-7.pdf'), [7]);
        assert.deepEqual(await find('metadata.request_id:req-99'), [99]);
        assert.deepEqual(await find('metadata.bytes:50'), [5]);
        assert.deepEqual(await find('writer:key_odd index:10..20'), [11, 13, 15, 17, 19]);
        assert.deepEqual(await find('received:-1h'), expected(() => true));
        assert.deepEqual(await find('received:<-1h'), []);
        assert.deepEqual(await find('occurred:2026-11-26'), expected(() => true));
        assert.deepEqual(await find('"REPORT-11"'), [11, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119]);
        assert.deepEqual(await find('-"report-1"'), expected((i) => !String(i).startsWith('1')));
      });

      it('pages with a stable cursor, newest first or oldest first, while appends continue', async () => {
        const all = await find('action:auth.login', 'desc');
        const seen: number[] = [];
        let after: number | undefined;
        for (;;) {
          const page = await store.search(ledger, { query: parseQuery('action:auth.login'), limit: 7, order: 'desc', ...(after !== undefined ? { after } : {}) });
          seen.push(...ids(page.entries));
          // New matching events arrive between pages; they are newer than the cursor and never show up here.
          await store.append(ledger, [{ event: { ...sampleEvent(1), id: `late-${seen.length}` }, writer }]);
          if (page.next === null) break;
          after = page.next;
        }
        assert.deepEqual(seen, all);
        const ascending = await store.search(ledger, { query: parseQuery('action:auth.login'), limit: 5, order: 'asc' });
        assert.deepEqual(ids(ascending.entries), all.slice().reverse().slice(0, 5));
      });

      it('pages free text in index order, both ways, while another ledger is indexed in between', async () => {
        const a = await freshLedger();
        const b = await freshLedger();
        for (let from = 0; from < 120; from += 10) {
          for (const l of [a, b]) await store.append(l, Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(from + i), writer })));
        }
        const walk = async (q: string, order: 'asc' | 'desc') => {
          const seen: number[] = [];
          let after: number | undefined;
          for (;;) {
            const page = await store.search(a, { query: parseQuery(q), limit: 3, order, ...(after !== undefined ? { after } : {}) });
            seen.push(...ids(page.entries));
            if (page.next === null) return seen;
            after = page.next;
          }
        };
        const report11 = [119, 118, 117, 116, 115, 114, 113, 112, 111, 110, 11];
        assert.deepEqual(await walk('"report-11"', 'desc'), report11);
        assert.deepEqual(await walk('"report-11"', 'asc'), report11.slice().reverse());
        assert.deepEqual(await walk('"report-11" outcome:failure', 'desc'), report11.filter((i) => i % 7 === 0));
        assert.deepEqual(await walk('"report-1" "report-11" -actor:u-9', 'desc'), report11.filter((i) => i % 17 !== 9));
      });

      it('counts by dimension', async () => {
        const byOutcome = await store.stats(ledger, parseQuery('index:<120'), 'outcome', 10);
        assert.deepEqual(byOutcome, [
          { key: 'success', count: 120 - expected((i) => i % 7 === 0).length },
          { key: 'failure', count: expected((i) => i % 7 === 0).length },
        ]);
        const byHour = await store.stats(ledger, parseQuery('index:<120'), 'hour', 10);
        assert.equal(byHour.reduce((n, b) => n + b.count, 0), 120);
        assert.match(byHour[0]!.key!, /^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/);
      });

      it('finds by session and device, and free text finds target ids (issue 16)', async () => {
        const first = (found: number[]) => found.filter((i) => i < 120);
        assert.deepEqual(first(await find('session:s-1')), expected((i) => i % 5 === 1));
        assert.deepEqual(first(await find('session:s-* -session:s-0,s-1,s-2')), expected((i) => i % 5 >= 3));
        assert.deepEqual(await find('session:s-9'), []);
        assert.deepEqual(await find('"f-42"'), [42]);
        assert.deepEqual(first(await find('"f-11" tenant:tenant-2')), [11, 110, 113, 116, 119]);
        const devices = await freshLedger();
        await store.append(
          devices,
          [0, 1, 2, 3].map((n) => ({ event: { ...sampleEvent(n), origin: { ip: '198.51.100.7', ...(n < 3 ? { device_id: `dev-${n % 2}` } : {}) } }, writer })),
        );
        const inDevices = async (q: string) => ids((await store.search(devices, { query: parseQuery(q), limit: 10, order: 'asc' })).entries);
        assert.deepEqual(await inDevices('device:dev-0'), [0, 2]);
        assert.deepEqual(await inDevices('device:dev-*'), [0, 1, 2]);
        assert.deepEqual(await inDevices('-device:dev-1'), [0, 2, 3]);
      });

      it('counts by address, target, tenant and day (issue 16)', async () => {
        const q = parseQuery('index:<120');
        const byIp = await store.stats(ledger, q, 'ip', 3);
        assert.deepEqual(byIp, [
          { key: '203.0.113.0', count: 1 },
          { key: '203.0.113.1', count: 1 },
          { key: '203.0.113.2', count: 1 },
        ]);
        assert.deepEqual(await store.stats(ledger, parseQuery('ip:2001:db8::/32'), 'ip', 3), []);
        assert.deepEqual(await store.stats(ledger, parseQuery('index:5..8'), 'target', 10), [
          { key: 'file:f-5', count: 1 },
          { key: 'file:f-6', count: 1 },
          { key: 'file:f-7', count: 1 },
          { key: 'file:f-8', count: 1 },
        ]);
        assert.deepEqual(await store.stats(ledger, q, 'tenant', 10), [
          { key: 'tenant-0', count: 40 },
          { key: 'tenant-1', count: 40 },
          { key: 'tenant-2', count: 40 },
        ]);
        const byDay = await store.stats(ledger, q, 'day', 10);
        assert.equal(byDay.length, 1);
        assert.equal(byDay[0]!.key, new Date(now / 1000).toISOString().slice(0, 10));
        assert.equal(byDay[0]!.count, 120);
        const v6 = await freshLedger();
        await store.append(v6, [{ event: { ...sampleEvent(1), origin: { ip: '2001:db8::1' } }, writer }]);
        assert.deepEqual(await store.stats(v6, parseQuery(''), 'ip', 3), [{ key: '2001:db8::1', count: 1 }]);
      });

      it('answers a 2,000-character list of 498 values as one set, not an expression too deep to plan', async () => {
        // Issue 19: `target:` with 498 values answered 500 "Expression tree is too large" on SQLite.
        // `values` first, then fillers that match nothing: 498 values in all, or as many as 2,000 characters hold.
        const list = (key: string, values: string[]) => {
          const all = [...values];
          for (let i = 0; all.length < 498 && `${key}:${all.join(',')},zzz`.length <= 2000; i++) all.push((1296 + i).toString(36));
          return `${key}:${all.join(',')}`;
        };
        // The paging case appended more events after the first 120; compare with the short lists, planned as ORs.
        const first = (found: number[]) => found.filter((i) => i < 120);
        const review = list('target', ['f-1', 'f-2', 'f-3', 'f-4']);
        assert.equal(review.split(',').length, 498);
        assert.deepEqual(first(await find(review)), [1, 2, 3, 4]);
        assert.deepEqual(await find(list('target', ['f-1', 'f-2', 'f-3', 'f-4'])), await find('target:f-1,f-2,f-3,f-4'));
        assert.deepEqual(await find(list('target.id', ['f-5', 'f-6'])), [5, 6]);
        assert.deepEqual(first(await find(list('actor', ['u-3']))), expected((i) => i % 17 === 3));
        assert.deepEqual(first(await find(list('-actor.id', ['u-1', 'u-2']))), expected((i) => i % 17 !== 1 && i % 17 !== 2));
        assert.deepEqual(await find(list('metadata.request_id', ['req-7', 'req-8'])), [7, 8]);
        // A set and a wildcard in one list.
        assert.deepEqual(await find(list('target', ['f-9', 'report-11*'])), [9, 11, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119]);
        const counted = await store.stats(ledger, parseQuery(list('tenant', ['tenant-1', 'tenant-2'])), 'tenant', 10);
        assert.deepEqual(counted, await store.stats(ledger, parseQuery('tenant:tenant-1,tenant-2'), 'tenant', 10));
        assert.deepEqual(counted.map((b) => b.key).sort(), ['tenant-1', 'tenant-2']);
        // The deepest query the bounds allow: 100 wildcards over two columns, 15 exact values, 23 more
        // terms and 8 free-text values in one; it plans and runs.
        const prefixes = Array.from({ length: 100 }, (_, i) => `${i.toString(36)}*`);
        const exact = Array.from({ length: 15 }, (_, i) => `u-${i}`);
        const deepest = [
          `actor:${[...exact, ...prefixes].join(',')}`,
          ...Array.from({ length: 23 }, (_, i) => `-target:t${i}`),
          Array.from({ length: 8 }, (_, i) => `-"zz${i}"`).join(' '),
        ].join(' ');
        assert.ok(deepest.length <= 2000, String(deepest.length));
        assert.ok(first(await find(deepest)).length > 0);
      });
    });

    it('locates origin addresses into search results, and forgets the location with the address', async () => {
      const london: IpLocation = { country: 'GB', region: 'England', city: 'London', latitude: 51.5142, longitude: -0.0931 };
      const located = await harness.open({
        locate: (ip) => (ip === '81.2.69.160' ? london : ip.startsWith('203.0.113.') ? { reserved: 'documentation' } : undefined),
      });
      try {
        const ledger = await freshLedger();
        const event = (n: number, ip?: string) => {
          const { origin, ...rest } = sampleEvent(n);
          return { ...rest, actor: { type: 'user' as const, id: `geo-${n}` }, ...(ip ? { origin: { ...origin, ip } } : {}) };
        };
        await located.append(ledger, [
          { event: event(0, '81.2.69.160'), writer },
          { event: event(1, '203.0.113.9'), writer },
          { event: event(2, '8.8.4.4'), writer },
          { event: event(3), writer },
        ]);
        const find = async (q: string) => (await located.search(ledger, { query: parseQuery(q), limit: 10, order: 'asc' })).entries;
        const [first] = await find('actor.id:geo-0');
        assert.deepEqual(first!.location, london);
        assert.deepEqual((await find('country:GB')).map((e) => e.index), [0]);
        assert.deepEqual((await find('actor.id:geo-1'))[0]!.location, { reserved: 'documentation' });
        assert.equal((await find('actor.id:geo-2'))[0]!.location, undefined, 'an address geolocation does not know');
        assert.equal((await find('actor.id:geo-3'))[0]!.location, undefined, 'no address');
        await forgetSealed(located, ledger, [{ index: 0, paths: ['origin.ip'], reason: 'erased' }]);
        const [erased] = await find('actor.id:geo-0');
        assert.equal(erased!.location, undefined, 'the location is derived from the address and goes with it');
        assert.deepEqual(await find('country:GB'), []);
      } finally {
        await located.close();
      }
    });

    it('answers searchForExport with the entries, pages and locations of search, the leaf writer and the stored disclosures', async () => {
      const located = await harness.open({ locate: (ip) => (ip.endsWith('7') ? { country: 'CH', city: 'Bern', latitude: 46.9481, longitude: 7.4474 } : undefined) });
      try {
        const ledger = await freshLedger();
        const longWriter = `w${'x'.repeat(127)}`;
        await located.append(ledger, Array.from({ length: 21 }, (_, i) => ({ event: sampleEvent(i), writer: i === 4 ? longWriter : i % 2 ? 'key_odd' : writer })));
        await forgetSealed(located, ledger, [{ index: 7, paths: ['actor.name', 'origin.ip'], reason: 'erased' }]);
        for (const q of ['', 'outcome:failure', '"report-1"', 'index:..14']) {
          for (const limit of [7, 10, 21, 1000]) {
            const read = async (reader: 'search' | 'searchForExport') => {
              const pages: Array<{ entries: Array<{ index: number }>; next: number | null }> = [];
              for (let after: number | undefined; ; ) {
                const request = { query: parseQuery(q), limit, order: 'asc' as const, ...(after !== undefined ? { after } : {}) };
                const page = reader === 'search' ? await located.search(ledger, request) : await located.searchForExport(ledger, request);
                pages.push(page);
                if (page.next === null) return pages;
                after = page.next;
              }
            };
            const [searched, exported] = [await read('search'), await read('searchForExport')];
            assert.deepEqual(
              exported.map((p) => [p.entries.map((e) => e.index), p.next]),
              searched.map((p) => [p.entries.map((e) => e.index), p.next]),
              `${q} by ${limit}`,
            );
            searched.flatMap((p) => p.entries).forEach((hit, i) => {
              const entry = exported.flatMap((p) => p.entries)[i]! as Awaited<ReturnType<Store['searchForExport']>>['entries'][number];
              const stored = hit as Awaited<ReturnType<Store['search']>>['entries'][number];
              assert.equal(entry.ledger, ledger);
              assert.equal(entry.receivedAtMicros, stored.receivedAtMicros);
              assert.deepEqual(new Uint8Array(entry.leafHash), new Uint8Array(stored.leafHash));
              assert.equal(entry.writer, decodeLeaf(stored.leaf).writer);
              assert.deepEqual(JSON.parse(entry.disclosuresJson), stored.disclosures);
              assert.deepEqual(entry.redactions, stored.redactions);
              assert.deepEqual(entry.location, stored.location);
            });
          }
        }
        const [long] = (await located.searchForExport(ledger, { query: parseQuery('index:4'), limit: 1, order: 'asc' })).entries;
        assert.equal(long!.writer, longWriter);
        const [erased] = (await located.searchForExport(ledger, { query: parseQuery('index:7'), limit: 1, order: 'asc' })).entries;
        assert.deepEqual(erased!.redactions, { 'actor.name': 'erased', 'origin.ip': 'erased' });
        assert.ok(!erased!.disclosuresJson.includes('User 7') && !erased!.disclosuresJson.includes('203.0.113.7'), 'erased values are gone from the text');
        assert.equal(erased!.location, undefined, 'and so is the location derived from the address');
        const [placed] = (await located.searchForExport(ledger, { query: parseQuery('index:17'), limit: 1, order: 'asc' })).entries;
        assert.deepEqual(placed!.location, { country: 'CH', city: 'Bern', latitude: 46.9481, longitude: 7.4474 });
      } finally {
        await located.close();
      }
    });

    it('reads stored leaf hashes exactly as the entries hash', async () => {
      const ledger = await freshLedger();
      await store.append(ledger, Array.from({ length: 5 }, (_, i) => ({ event: sampleEvent(i), writer })));
      const [hashes] = await store.readHashes(ledger, [{ level: 0, start: 1, end: 4 }]);
      assert.equal(hashes!.length, 3);
      for (let i = 0; i < 3; i++) {
        const entry = (await store.getEntry(ledger, i + 1))!;
        assert.equal(toBase64(hashes![i]!), toBase64(hashLeaf(harness.suite, entry.leaf)));
      }
      assert.deepEqual(fromBase64(toBase64(hashes![0]!)), new Uint8Array(hashes![0]!));
    });
  });
}
