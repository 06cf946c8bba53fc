/**
 * The running server's integrity state on both stores (src/store/integrity.ts), and two processes
 * sharing one store: a ledger one process finds tampered is refused by the other, only one of them
 * sweeps a ledger at a time, and a rollback under a process is refused by its signing guard. On
 * PostgreSQL everything runs as the restricted service role (so migration 10's grants are exercised);
 * the tampering is done as an administrator with triggers off.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { portableSigner, type Ed25519Signer } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { ed25519KeyId } from '../../src/core/note.js';
import { IntegrityFailure, IntegrityGuard, IntegrityMonitor, SliceVerifier, type IntegrityStateStore } from '../../src/store/integrity.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SignedHeadsJournal } from '../../src/store/signed-heads.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { StoreError, type Store, type StoredCheckpoint } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';
import { editActorId, editedDisclosures, tamperWithFile } from '../helpers/sqlite-tamper.js';

const NAME = 'integrity.test';
const LEDGER = 'audit';
const BATCH = 40;

type IntegrityStore = Store & IntegrityStateStore;

interface Harness {
  signer: Ed25519Signer;
  /** Opens the store as another process would (its own connection, its own guard). */
  open(guard?: IntegrityGuard): Promise<IntegrityStore>;
  /** Changes entry idx's disclosed actor.id behind the stores' backs. */
  editValue(idx: number): Promise<void>;
  /** Deletes every entry from `keep` on and the checkpoints above it. */
  rollback(keep: number): Promise<void>;
  /** Adds a checkpoint row of `size` with a note nobody signed (a store whose column types allow it). */
  forgeCheckpoint?(size: number, like: StoredCheckpoint): Promise<void>;
  dropCheckpoint?(size: number): Promise<void>;
  destroy(): Promise<void>;
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-integrity-both-'));
  tempDirs.push(dir);
  return dir;
}

async function sqliteHarness(): Promise<Harness> {
  const dir = tempDir();
  const path = join(dir, 'sealtrail.db');
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const change = (fn: (db: Database.Database, id: number) => void) => tamperWithFile(path, LEDGER, fn);
  return {
    signer,
    open: async (guard) => new SqliteStore({ path, suite: nodeSuite, signer, name: NAME, ...(guard ? { signingGuard: guard } : {}) }),
    async editValue(idx) {
      change((db, id) => editActorId(db, id, idx));
    },
    async rollback(keep) {
      change((db, id) => {
        db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx >= ?').run(id, keep);
        db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size > ?').run(id, keep);
      });
    },
    // SQLite keeps 6.5 in an INTEGER column (type affinity); PostgreSQL's bigint would refuse it.
    async forgeCheckpoint(size, like) {
      change((db, id) => {
        db.prepare('INSERT INTO checkpoints (ledger_id, size, root, note, frontier, created_at) VALUES (?, ?, ?, ?, ?, ?)').run(
          id,
          size,
          Buffer.from(like.rootHash),
          'forged note\n',
          Buffer.from(like.frontier),
          like.createdAtMicros,
        );
      });
    },
    async dropCheckpoint(size) {
      change((db, id) => db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size = ?').run(id, size));
    },
    async destroy() {},
  };
}

async function postgresHarness(): Promise<Harness> {
  const fixture = await createPostgresFixture(NAME);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const asAdmin = async (fn: (client: pg.Client) => Promise<void>) => {
    const client = new pg.Client({ connectionString: fixture.adminUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${fixture.schema}"`);
      // Triggers off, as a superuser or the schema owner can.
      await client.query('SET session_replication_role = replica');
      await fn(client);
    } finally {
      await client.end();
    }
  };
  const ledgerId = `(SELECT ledger_id FROM ledgers WHERE name = '${LEDGER}')`;
  return {
    signer,
    open: (guard) => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME, ...(guard ? { signingGuard: guard } : {}) }),
    async editValue(idx) {
      await asAdmin(async (client) => {
        const row = await client.query<{ disclosures: string }>(`SELECT disclosures FROM entries WHERE ledger_id = ${ledgerId} AND idx = $1`, [idx]);
        await client.query(`UPDATE entries SET disclosures = $1 WHERE ledger_id = ${ledgerId} AND idx = $2`, [editedDisclosures(row.rows[0]!.disclosures), idx]);
      });
    },
    async rollback(keep) {
      await asAdmin(async (client) => {
        await client.query(`DELETE FROM entries WHERE ledger_id = ${ledgerId} AND idx >= $1`, [keep]);
        await client.query(`DELETE FROM checkpoints WHERE ledger_id = ${ledgerId} AND size > $1`, [keep]);
        for (const table of ['search_events', 'search_targets', 'search_metadata']) await client.query(`DELETE FROM ${table} WHERE ledger_id = ${ledgerId} AND idx >= $1`, [keep]);
      });
    },
    destroy: () => fixture.drop(),
  };
}

/** One server process: its own guard and journal, its own monitor over its own store connection. */
async function process_(harness: Harness, holder: string) {
  const guard = new IntegrityGuard(new SignedHeadsJournal(join(tempDir(), 'signing-key.pem.heads')));
  const store = await harness.open(guard);
  const errors: string[] = [];
  const monitor = new IntegrityMonitor({
    store,
    suite: nodeSuite,
    signer: harness.signer,
    keyName: NAME,
    guard,
    holder,
    log: { error: (message) => errors.push(message), warn: () => {} },
    // Sweep again at once after a round, so the test need not wait a minute.
    sweepPauseMs: 0,
  });
  return {
    store,
    guard,
    monitor,
    errors,
    async close() {
      await monitor.stop();
      await store.close();
      guard.journal?.close();
    },
  };
}

async function appendBatches(store: Store, batches: number, from = 0): Promise<void> {
  for (let b = 0; b < batches; b++) {
    await store.append(LEDGER, Array.from({ length: BATCH }, (_, i) => ({ event: sampleEvent(from + b * BATCH + i), writer: 'key_w' })));
  }
}

const refusedForIntegrity = (error: unknown) => error instanceof StoreError && error.code === 'LEDGER_INTEGRITY';

function runIntegrityBoth(kind: string, makeHarness: () => Promise<Harness>): void {
  describe(`integrity state and processes: ${kind}`, () => {
    it('keeps watermarks moving forward only, the first broken reason, and one lease holder at a time', async () => {
      const harness = await makeHarness();
      const store = await harness.open();
      try {
        await store.createLedger(LEDGER);
        const root = new Uint8Array(32).fill(7);
        await store.saveIntegrityWatermark(LEDGER, 80, root, new Uint8Array(32).fill(1));
        await store.saveIntegrityWatermark(LEDGER, 40, root, new Uint8Array(32).fill(2));
        let [record] = await store.integrityRecords();
        assert.equal(record!.verifiedSize, 80);
        assert.deepEqual([...record!.verifiedMac!], [...new Uint8Array(32).fill(1)]);
        assert.equal(record!.brokenReason, null);

        await store.markIntegrityBroken(LEDGER, 'first', 1);
        await store.markIntegrityBroken(LEDGER, 'second', 2);
        [record] = await store.integrityRecords();
        assert.equal(record!.brokenReason, 'first');
        assert.equal(record!.brokenAtMicros, 1);
        assert.equal(record!.verifiedSize, 80, 'marking broken keeps the watermark');

        assert.equal(await store.claimIntegrityLease(LEDGER, 'a', 1000, 2000), true);
        assert.equal(await store.claimIntegrityLease(LEDGER, 'b', 1500, 2500), false, 'a runs until 2000');
        assert.equal(await store.claimIntegrityLease(LEDGER, 'a', 1900, 2900), true, 'the holder renews');
        assert.equal(await store.claimIntegrityLease(LEDGER, 'b', 3000, 4000), true, 'b takes over once a stopped renewing');
        assert.equal(await store.claimIntegrityLease(LEDGER, 'a', 3100, 4100), false);
      } finally {
        await store.close();
        await harness.destroy();
      }
    });

    it('refuses appends in every process once one of them found the ledger tampered', async () => {
      const harness = await makeHarness();
      const a = await process_(harness, 'proc-a');
      const b = await process_(harness, 'proc-b');
      try {
        await a.store.createLedger(LEDGER);
        await appendBatches(a.store, 2);
        await a.monitor.start(false);
        await b.monitor.start(false);
        assert.equal(b.monitor.verifier.entriesChecked, 0, 'b found a watermark at the head: nothing to verify again');
        await a.monitor.runOnce();
        const sweptByA = a.monitor.verifier.entriesChecked;
        await b.monitor.runOnce();
        assert.equal(b.monitor.verifier.entriesChecked, 0, 'a holds the lease: b does not sweep');
        assert.ok(sweptByA > 2 * BATCH, 'a verified at start and swept');

        await harness.editValue(7);
        await a.monitor.runOnce();
        await a.monitor.runOnce();
        assert.equal(a.monitor.status().ledgers.find((l) => l.ledger === LEDGER)!.state, 'broken');
        assert.match(a.errors.join('\n'), /failed integrity verification/);
        await assert.rejects(appendBatches(a.store, 1, 500), refusedForIntegrity);

        // b never verified entry 7 itself: it learns of the failure from the store.
        await b.monitor.runOnce();
        assert.equal(b.monitor.status().ledgers.find((l) => l.ledger === LEDGER)!.state, 'broken');
        await assert.rejects(appendBatches(b.store, 1, 600), refusedForIntegrity);
      } finally {
        await a.close();
        await b.close();
        await harness.destroy();
      }
    });

    it('bounds the sweep per round over all ledgers, and pauses between a ledger\'s rounds', async () => {
      const harness = await makeHarness();
      const store = await harness.open();
      // An idle loop: the whole budget every round (the test itself keeps the real loop busy).
      const monitor = new IntegrityMonitor({ store, suite: nodeSuite, signer: harness.signer, keyName: NAME, guard: new IntegrityGuard(), holder: 'solo', sweepEntries: 100, loopBusy: () => 0 });
      try {
        for (const ledger of ['l1', 'l2', 'l3', 'l4']) {
          await store.createLedger(ledger);
          for (let b = 0; b < 2; b++) await store.append(ledger, Array.from({ length: BATCH }, (_, i) => ({ event: sampleEvent(b * BATCH + i), writer: 'key_w' })));
        }
        await monitor.start(false);
        assert.equal(monitor.verifier.entriesChecked, 4 * 2 * BATCH);
        let total = 0;
        for (let round = 0; round < 4; round++) {
          const before = monitor.verifier.entriesChecked;
          await monitor.runOnce();
          const swept = monitor.verifier.entriesChecked - before;
          assert.ok(swept <= 100 + BATCH, `round ${round} swept ${swept}: the budget (100) and at most one batch past it`);
          total += swept;
        }
        assert.equal(total, 4 * 2 * BATCH, 'every ledger was swept once, by rotation');
        const before = monitor.verifier.entriesChecked;
        await monitor.runOnce();
        assert.equal(monitor.verifier.entriesChecked, before, 'swept ledgers wait sweepPauseMs before their next round');
        assert.ok(monitor.status().ledgers.every((l) => l.sweep.rounds === 1));
      } finally {
        await monitor.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('sweeps less while the event loop is busy, but always some', async () => {
      const harness = await makeHarness();
      const store = await harness.open();
      let busy = 0.95;
      const monitor = new IntegrityMonitor({ store, suite: nodeSuite, signer: harness.signer, keyName: NAME, guard: new IntegrityGuard(), holder: 'solo', sweepEntries: 2000, sliceEntries: 1, loopBusy: () => busy });
      try {
        await store.createLedger('l1');
        for (let b = 0; b < 150; b++) await store.append('l1', Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(b * 10 + i), writer: 'key_w' })));
        await monitor.start(false);
        const swept = async () => {
          const before = monitor.verifier.entriesChecked;
          await monitor.runOnce();
          return monitor.verifier.entriesChecked - before;
        };
        const busyRound = await swept();
        assert.ok(busyRound >= 200 && busyRound <= 210, `at 95 % busy the sweep took a tenth of 2,000 (and at most one batch past it): ${busyRound}`);
        busy = 0.75;
        const halfRound = await swept();
        assert.ok(halfRound >= 1000 && halfRound <= 1010, `at 75 % busy it took half of the budget: ${halfRound}`);
      } finally {
        await monitor.stop();
        await store.close();
        await harness.destroy();
      }
    });

    it('fails a slice holding a checkpoint row at no size the entries end at, which no one signed', async (t) => {
      const harness = await makeHarness();
      if (!harness.forgeCheckpoint) {
        await harness.destroy();
        return t.skip('the column types refuse such a size');
      }
      const store = await harness.open();
      try {
        await store.createLedger(LEDGER);
        for (let b = 0; b < 5; b++) await store.append(LEDGER, Array.from({ length: 4 }, (_, i) => ({ event: sampleEvent(b * 4 + i), writer: 'key_w' })));
        const latest = (await store.latestCheckpoint(LEDGER))!;
        const own = { name: NAME, keyId: ed25519KeyId(nodeSuite, NAME, harness.signer.publicKey), publicKey: harness.signer.publicKey };
        const verifier = new SliceVerifier(store, { suite: nodeSuite, verifier: own, keyName: NAME });
        // Inside a slice (6.5), and just above where slices of one batch start (0.5, 4.5): each is found.
        for (const forged of [6.5, 0.5, 4.5]) {
          await harness.forgeCheckpoint!(forged, latest);
          let state = await verifier.stateAt(LEDGER, 0);
          const walk = async () => {
            while (state.size < 20) state = await verifier.verifySlice(LEDGER, state, 20, forged === 6.5 ? 2000 : 4);
          };
          await assert.rejects(walk(), (error: unknown) => error instanceof IntegrityFailure && /size (6|0|4)\.5/.test(error.reason), `forged size ${forged}`);
          await harness.dropCheckpoint!(forged);
        }
      } finally {
        await store.close();
        await harness.destroy();
      }
    });

    it('refuses to sign on a store rolled back under a running process', async () => {
      const harness = await makeHarness();
      const a = await process_(harness, 'proc-a');
      try {
        await a.store.createLedger(LEDGER);
        await appendBatches(a.store, 3);
        await harness.rollback(2 * BATCH);
        await assert.rejects(appendBatches(a.store, 1, 700), (error: unknown) => refusedForIntegrity(error) && /rolled back/.test((error as Error).message));
        assert.equal((await a.store.latestCheckpoint(LEDGER))!.size, 2 * BATCH, 'no second tree of size 120 was signed');

        // Documented limit: a process whose journal never saw size 120 extends the rolled-back store...
        const b = await process_(harness, 'proc-b');
        try {
          await appendBatches(b.store, 1, 800);
          assert.equal((await b.store.latestCheckpoint(LEDGER))!.size, 3 * BATCH);
        } finally {
          await b.close();
        }
        // ...and the process that signed the lost head refuses the refilled one, at its next append and start.
        const fresh = new IntegrityGuard(new SignedHeadsJournal(a.guard.journal!.path));
        await assert.rejects(appendBatches(a.store, 1, 900), (error: unknown) => refusedForIntegrity(error));
        const latest = (await a.store.latestCheckpoint(LEDGER))!;
        assert.match(fresh.contradiction(LEDGER, latest.size, latest.rootHash) ?? '', /not the one signed .*refilled/);
        fresh.journal?.close();
      } finally {
        await a.close();
        await harness.destroy();
      }
    });
  });
}

after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

runIntegrityBoth('sqlite', sqliteHarness);
const unavailable = await postgresUnavailable();
if (unavailable) {
  describe('integrity state and processes: postgres', () => {
    it('needs a PostgreSQL server', { skip: unavailable }, () => {});
  });
} else {
  runIntegrityBoth('postgres', postgresHarness);
}

describe('signed-heads journal', () => {
  it('drops a line torn by a crash, so the next head is not written onto its fragment', () => {
    const path = join(tempDir(), 'key.pem.heads');
    const journal = new SignedHeadsJournal(path);
    return journal.record(LEDGER, 40, new Uint8Array(32).fill(1)).then(async () => {
      journal.close();
      const { appendFileSync, readFileSync } = await import('node:fs');
      appendFileSync(path, '{"l":"audit","s":80,"r":"AAAA');
      const reopened = new SignedHeadsJournal(path);
      assert.equal(reopened.latestOf(LEDGER)!.size, 40, 'the torn head was never released');
      await reopened.record(LEDGER, 80, new Uint8Array(32).fill(2));
      reopened.close();
      const again = new SignedHeadsJournal(path);
      assert.equal(again.latestOf(LEDGER)!.size, 80);
      again.close();
      assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 2);
    });
  });
});
