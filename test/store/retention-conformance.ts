/**
 * Forgetting, policies and legal holds through the Store interface, run by every backend
 * (test/store/sqlite.test.ts and postgres.test.ts call runRetentionConformance).
 */
import { after, before, describe, it } from 'node:test';
import { forgetSealed } from '../helpers/forget.js';
import assert from 'node:assert/strict';
import { planInclusionProof, planRootHash, verifyInclusion } from '../../src/core/tree.js';
import { parseQuery, formatQuery } from '../../src/core/query.js';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import type { LegalHold } from '../../src/core/retention.js';
import { decodeLeaf, verifyDisclosures } from '../../src/core/leaf.js';
import type { Store } from '../../src/store/store.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';
import { RetentionService } from '../../src/server/retention.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from '../../src/core/forgetting.js';
import type { StoreHarness } from './conformance.js';

const writer = 'key_test';

export function runRetentionConformance(backend: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`retention conformance: ${backend}`, () => {
    let harness: StoreHarness;
    let store: Store;
    let counter = 0;
    const freshLedger = async (events = 30) => {
      const name = `r${counter++}`;
      await store.createLedger(name);
      await store.append(name, Array.from({ length: events }, (_, i) => ({ event: sampleEvent(i), writer })));
      return name;
    };
    const search = async (ledger: string, q: string) => (await store.search(ledger, { query: parseQuery(q), limit: 1000, order: 'asc' })).entries.map((e) => e.index);
    const verify = (ledger: string) =>
      verifyWithSystemLedger(store, ledger, { suite: harness.suite, verifiers: [parseVerifierKey(harness.suite, formatVerifierKey(harness.suite, harness.name, harness.signer.publicKey))] });
    const hold = (id: string, ledgers: string[], query: string): LegalHold => ({
      id,
      ledgers,
      query: formatQuery(parseQuery(query)),
      reason: 'litigation',
      owner: 'legal',
      createdAtMicros: Date.now() * 1000,
      createdBy: 'admin',
      releasedAtMicros: null,
      releasedBy: null,
      releaseReason: null,
    });

    before(async () => {
      harness = await makeHarness();
      store = await harness.open();
    });
    after(async () => {
      await store.close();
      await harness.destroy();
    });

    it('erases named fields: values and salts gone, marked, proofs and the rest intact', async () => {
      const ledger = await freshLedger();
      const before = await store.getEntry(ledger, 4);
      const checkpoint = await store.latestCheckpoint(ledger);
      const result = await forgetSealed(store, ledger, [{ index: 4, paths: ['actor.name', 'actor.email', 'origin.ip', 'metadata.nosuch'], reason: 'erased' }]);
      assert.deepEqual(result, { changed: [4], held: [], fieldsRemoved: 3 });
      const after = (await store.getEntry(ledger, 4))!;
      assert.deepEqual(after.redactions, { 'actor.email': 'erased', 'actor.name': 'erased', 'origin.ip': 'erased' });
      for (const path of ['actor.name', 'actor.email', 'origin.ip']) assert.equal(Object.hasOwn(after.disclosures, path), false, path);
      assert.deepEqual(after.disclosures['actor.id'], before!.disclosures['actor.id']);
      assert.deepEqual(after.leaf, before!.leaf);
      // The leaf is untouched, so the inclusion proof against the same checkpoint still verifies.
      const envelope = decodeLeaf(after.leaf);
      verifyDisclosures(harness.suite, envelope, after.disclosures);
      const plan = planInclusionProof(harness.suite, 4, checkpoint!.size);
      const proof = plan.finish(await store.readHashes(ledger, plan.reads));
      verifyInclusion(harness.suite, 4, checkpoint!.size, after.leafHash, proof, checkpoint!.rootHash);
      assert.deepEqual((await store.latestCheckpoint(ledger))!.note, checkpoint!.note);
      await verify(ledger);
      // Search follows: the erased name no longer finds the event; what remains still does.
      assert.equal((await search(ledger, 'actor:"User 4"')).includes(4), false);
      assert.equal((await search(ledger, 'actor:u-4')).includes(4), true);
      assert.equal((await search(ledger, 'ip:203.0.113.4')).includes(4), false);
      assert.equal((await search(ledger, '"user4@example.com"')).includes(4), false);
      assert.equal((await search(ledger, 'target.id:f-4')).includes(4), true);
      // Forgetting again is a no-op, and a later purge keeps the earlier reason for what was erased.
      assert.deepEqual(await forgetSealed(store, ledger, [{ index: 4, paths: ['actor.name'], reason: 'erased' }]), { changed: [], held: [], fieldsRemoved: 0 });
      await forgetSealed(store, ledger, [{ index: 4, paths: '*', reason: 'purged' }]);
      const purged = (await store.getEntry(ledger, 4))!;
      assert.deepEqual(purged.disclosures, {});
      assert.equal(purged.redactions!['actor.name'], 'erased');
      assert.equal(purged.redactions!.action, 'purged');
      assert.deepEqual(Object.keys(purged.redactions!).sort(), Object.keys(envelope.commitments).sort());
      await verify(ledger);
    });

    it('purges whole events out of search while their leaves keep proving they existed', async () => {
      const ledger = await freshLedger();
      const everything = await search(ledger, '');
      assert.equal(everything.length, 30);
      const result = await forgetSealed(store, ledger, [0, 1, 2, 3, 4].map((index) => ({ index, paths: '*' as const, reason: 'purged' as const })));
      assert.equal(result.changed.length, 5);
      assert.deepEqual(await search(ledger, ''), everything.slice(5));
      assert.deepEqual(await search(ledger, 'metadata.request_id:req-1'), []);
      assert.deepEqual(await search(ledger, 'metadata.request_id:req-6'), [6]);
      const stats = await store.stats(ledger, parseQuery(''), 'outcome', 10);
      assert.equal(stats.reduce((n, b) => n + b.count, 0), 25);
      const entry = (await store.getEntry(ledger, 2))!;
      const envelope = decodeLeaf(entry.leaf);
      assert.equal(envelope.ledger, ledger);
      assert.equal(envelope.index, 2);
      assert.equal(typeof envelope.received_at, 'string');
      const size = (await store.latestCheckpoint(ledger))!.size;
      const root = (await store.latestCheckpoint(ledger))!.rootHash;
      const rootPlan = planRootHash(harness.suite, size);
      assert.deepEqual(Buffer.from(rootPlan.finish(await store.readHashes(ledger, rootPlan.reads))), Buffer.from(root));
      await verify(ledger);
      // Appending goes on as before after a purge.
      const [receipt] = await store.append(ledger, [{ event: sampleEvent(99), writer }]);
      assert.equal(receipt!.index, 30);
      assert.deepEqual(await search(ledger, 'metadata.request_id:req-99'), [30]);
    });

    it('never forgets what an active legal hold covers, and does once it is released', async () => {
      const ledger = await freshLedger();
      const other = await freshLedger();
      // u-1 acts in events 1 and 18; a hold on another ledger must not matter here.
      await store.createLegalHold(hold('hold_a', [ledger], 'actor:u-1'));
      await store.createLegalHold(hold('hold_b', [other], ''));
      const requests = [1, 2, 18].map((index) => ({ index, paths: '*' as const, reason: 'purged' as const }));
      const dry = await forgetSealed(store, ledger, requests, { dryRun: true });
      assert.deepEqual({ changed: dry.changed, held: dry.held }, { changed: [2], held: [1, 18] });
      assert.equal(Object.keys((await store.getEntry(ledger, 2))!.disclosures).length > 0, true, 'a dry run changes nothing');
      assert.deepEqual(await search(ledger, 'metadata.request_id:req-2'), [2]);
      const real = await forgetSealed(store, ledger, requests);
      assert.deepEqual({ changed: real.changed, held: real.held }, { changed: [2], held: [1, 18] });
      assert.equal((await store.getEntry(ledger, 1))!.redactions, undefined);
      assert.deepEqual((await forgetSealed(store, other, [{ index: 5, paths: ['actor.name'], reason: 'erased' }])).held, [5]);

      assert.equal(await store.releaseLegalHold('hold_a', 'admin', Date.now() * 1000, 'case closed'), true);
      assert.equal(await store.releaseLegalHold('hold_a', 'admin', Date.now() * 1000, 'again'), false);
      assert.equal(await store.releaseLegalHold('nosuch', 'admin', Date.now() * 1000, 'x'), false);
      assert.deepEqual((await forgetSealed(store, ledger, requests)).changed, [1, 18]);
      const holds = await store.legalHolds();
      const a = holds.find((h) => h.id === 'hold_a')!;
      assert.equal(a.releaseReason, 'case closed');
      assert.equal(a.releasedBy, 'admin');
      assert.deepEqual(holds.find((h) => h.id === 'hold_b')!.ledgers, [other]);
      await store.releaseLegalHold('hold_b', 'admin', Date.now() * 1000, 'done');
    });

    it('holds by time range and tenant cover exactly their events', async () => {
      const ledger = await freshLedger(12);
      const late = (await store.getEntry(ledger, 11))!.receivedAtMicros;
      await store.append(ledger, Array.from({ length: 6 }, (_, i) => ({ event: sampleEvent(100 + i), writer })));
      const cutoff = new Date(Math.floor(late / 1000) + 1).toISOString();
      await store.createLegalHold(hold('hold_t', [ledger], `received:<${cutoff} tenant:tenant-0`));
      const all = Array.from({ length: 18 }, (_, index) => ({ index, paths: ['actor.name'], reason: 'erased' as const }));
      const result = await forgetSealed(store, ledger, all);
      // Held: the first 12 events of tenant-0 (indexes 0, 3, 6, 9); everything else is erased.
      assert.deepEqual(result.held, [0, 3, 6, 9]);
      assert.equal(result.changed.length, 14);
      await store.releaseLegalHold('hold_t', 'admin', Date.now() * 1000, 'done');
    });

    it('keeps every version of the retention policy', async () => {
      const first = await store.retentionPolicy();
      const v1 = await store.putRetentionPolicy('{"rules":[]}', 'admin-1', 1);
      const v2 = await store.putRetentionPolicy('{"rules":[{"id":"d","retain":"400d"}]}', 'admin-2', 2);
      assert.equal(v2, v1 + 1);
      assert.equal(first === undefined || first.version < v1, true);
      const current = await store.retentionPolicy();
      assert.deepEqual(current, { version: v2, policy: '{"rules":[{"id":"d","retain":"400d"}]}', changedAtMicros: 2, changedBy: 'admin-2' });
    });

    it('refuses to forget an entry that does not exist', async () => {
      const ledger = await freshLedger(3);
      // Index 7 has no search row, so it counts as held rather than guessed at.
      assert.deepEqual((await forgetSealed(store, ledger, [{ index: 7, paths: '*', reason: 'purged' }])).held, [7]);
    });

    it('an erasure reaches fields the search index does not hold and the system ledger, and says what it left', async () => {
      // Issue 19: the address stayed in its event's id, reason and metadata, and in access records.
      const subject = `dora.${backend}.x5@example.com`.toLowerCase();
      const ledger = `r${counter++}`;
      await store.createLedger(ledger);
      await store.createLedger(SYSTEM_LEDGER);
      const [named] = await store.append(ledger, [
        {
          event: {
            ...sampleEvent(1),
            id: `evt-${subject}`,
            actor: { type: 'user', id: 'u-dora', session_id: `sess:${subject}` },
            origin: { device_id: 'dev-1' },
            outcome: 'failure',
            outcome_reason: `bounced for ${subject.toUpperCase()}`,
            metadata: { note: { cc: [subject] }, ticket: 'T-1' },
          },
          writer,
        },
        { event: sampleEvent(2), writer },
      ]);
      const [record] = await store.append(SYSTEM_LEDGER, [
        {
          event: {
            actor: { type: 'api_key', id: 'anonymous' },
            action: 'auth.token_rejected',
            category: 'auth',
            origin: { user_agent: `probe (${subject})` },
            outcome: 'failure',
            metadata: { query: `q=${encodeURIComponent(`"${subject}"`)}` },
          },
          writer: SERVER_WRITER,
        },
      ]);
      const summary = await new RetentionService(store).erase({ subject }, 'key_admin');
      assert.deepEqual(Object.keys((await store.getEntry(ledger, named!.index))!.redactions ?? {}).sort(), ['actor.session_id', 'id', 'metadata.note', 'outcome_reason']);
      assert.deepEqual(Object.keys((await store.getEntry(SYSTEM_LEDGER, record!.index))!.redactions ?? {}).sort(), ['metadata.query', 'origin.user_agent']);
      assert.equal((await store.getEntry(ledger, 1))!.redactions, undefined);
      for (const name of [ledger, SYSTEM_LEDGER]) {
        for await (const entry of store.entries(name, 0, (await store.getLedger(name))!.size)) {
          assert.equal(JSON.stringify(entry.disclosures).toLowerCase().includes(subject), false, `${name} ${entry.index}`);
        }
        assert.deepEqual(await search(name, JSON.stringify(subject)), [], name);
      }
      assert.ok(summary.notReached.some((gap) => gap.kind === 'outside' && gap.where === 'database storage'));
      await verify(ledger);
    });
  });
}
