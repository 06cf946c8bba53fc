/**
 * The integrity monitor of a SQLite database file verifies on the store's verification thread
 * (verifier-thread.ts): the entries are read and re-derived there, not on the event loop; tampering is
 * still found and named; a thread that dies costs a round, not the verification.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { IntegrityGuard, IntegrityMonitor } from '../../src/store/integrity.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sampleEvent } from '../helpers/events.js';
import { withDatabaseFile } from '../helpers/sqlite-files.js';
import { editActorId, tamperWithFile } from '../helpers/sqlite-tamper.js';

const NAME = 'integrity-offloaded.test';
const LEDGER = 'audit';
const signer = portableSigner(nodeSuite.randomBytes(32));

const withFile = (run: (path: string) => Promise<void>) => withDatabaseFile('sealtrail-integrity-offloaded-', run);

async function appendBatches(store: SqliteStore, batches: number, size = 50, from = 0): Promise<void> {
  for (let b = 0; b < batches; b++) {
    await store.append(LEDGER, Array.from({ length: size }, (_, i) => ({ event: sampleEvent(from + b * size + i), writer: 'key_w' })));
  }
}

function monitorOf(store: SqliteStore, guard = new IntegrityGuard()): IntegrityMonitor {
  return new IntegrityMonitor({ store, suite: nodeSuite, signer, keyName: NAME, guard, holder: 'solo', sweepEntries: 0, loopBusy: () => 0 });
}

/** The monitor's verification thread, once a slice has started it. */
function verificationThread(monitor: IntegrityMonitor): Worker | undefined {
  return (monitor as unknown as { offloaded?: { thread?: { worker?: Worker } } }).offloaded?.thread?.worker;
}

function ledgerState(monitor: IntegrityMonitor) {
  return monitor.status().ledgers.find((l) => l.ledger === LEDGER)!;
}

describe('integrity verification thread (SQLite file)', () => {
  it(
    'verifies every entry on its own connection: the store the event loop reads is never asked for one',
    withFile(async (path) => {
      const store = new SqliteStore({ path, suite: nodeSuite, signer, name: NAME });
      const monitor = monitorOf(store);
      try {
        await store.createLedger(LEDGER);
        await appendBatches(store, 6);
        let readHere = 0;
        const entries = store.entries.bind(store);
        store.entries = (ledger, from, to) => {
          readHere++;
          return entries(ledger, from, to);
        };
        await monitor.start(false);
        assert.equal(ledgerState(monitor).state, 'trusted');
        assert.equal(ledgerState(monitor).verifiedSize, 300);
        assert.equal(monitor.verifier.entriesChecked, 300, 'the thread reports what it checked');
        assert.ok(verificationThread(monitor), 'the slices went to the verification thread');
        assert.equal(readHere, 0, 'no entry was read on the event loop');
      } finally {
        await monitor.stop();
        await store.close();
      }
    }),
  );

  it(
    'finds an edited value there and names the entry; appends to the ledger are then refused',
    withFile(async (path) => {
      const guard = new IntegrityGuard();
      const store = new SqliteStore({ path, suite: nodeSuite, signer, name: NAME, signingGuard: guard });
      const monitor = monitorOf(store, guard);
      try {
        await store.createLedger(LEDGER);
        await appendBatches(store, 2);
        await monitor.start(false);
        assert.equal(ledgerState(monitor).state, 'trusted');
        await appendBatches(store, 2, 50, 100);
        // An attacker with the file edits entry 130, appended after the last verification.
        tamperWithFile(path, LEDGER, (db, id) => editActorId(db, id, 130));
        await monitor.runOnce();
        const state = ledgerState(monitor);
        assert.equal(state.state, 'broken');
        assert.match(state.reason ?? '', /entry 130, field actor\.id/);
        assert.equal(state.verifiedSize, 100, 'nothing past the last good checkpoint counts as verified');
        await assert.rejects(store.append(LEDGER, [{ event: sampleEvent(999), writer: 'key_w' }]), /LEDGER_INTEGRITY|failed integrity verification/);
      } finally {
        await monitor.stop();
        await store.close();
      }
    }),
  );

  it(
    'a thread that dies mid-slice is a transient error: the ledger says verifying, and the next round verifies it on a new thread',
    withFile(async (path) => {
      const store = new SqliteStore({ path, suite: nodeSuite, signer, name: NAME });
      const monitor = monitorOf(store);
      try {
        await store.createLedger(LEDGER);
        await appendBatches(store, 2);
        await monitor.start(false);
        const first = verificationThread(monitor)!;
        assert.ok(first);
        await appendBatches(store, 40, 50, 100);
        // Killed once it has a slice in hand (the thread answers one slice per request).
        const round = monitor.runOnce();
        setImmediate(() => void first.terminate());
        await round;
        assert.equal(ledgerState(monitor).state, 'verifying', JSON.stringify(ledgerState(monitor)));
        assert.ok(ledgerState(monitor).verifiedSize < 2100, 'the round was cut short');
        await monitor.runOnce();
        assert.equal(ledgerState(monitor).state, 'trusted', JSON.stringify(ledgerState(monitor)));
        assert.equal(ledgerState(monitor).verifiedSize, 2100);
        const second = verificationThread(monitor);
        assert.ok(second && second !== first, 'a new thread took over');
      } finally {
        await monitor.stop();
        await store.close();
      }
    }),
  );
});
