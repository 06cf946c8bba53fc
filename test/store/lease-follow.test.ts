/**
 * Leases of background work and the in-order ledger reader (src/store/lease.ts, src/store/follow.ts),
 * on both stores. Two stores opened on one database stand for two server processes: only one holds a
 * lease at a time, the other takes over once the holder stops (or dies and its lease runs out), and a
 * follower sees appends made through the other process by polling. On PostgreSQL everything runs as the
 * restricted service role, so the leases table's grants are exercised.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { followLedger, readLedgerRange } from '../../src/store/follow.js';
import { runUnderLease } from '../../src/store/lease.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { nowMicros } from '../../src/store/sequencer.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';

const NAME = 'lease.test';
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  open(): Promise<Store>;
  destroy(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-lease-'));
  tempDirs.push(dir);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return { open: async () => new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: NAME }), destroy: async () => {} };
}

async function postgresHarness(): Promise<Harness> {
  const fixture = await createPostgresFixture(NAME);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: () => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME }),
    destroy: () => fixture.drop(),
  };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function append(store: Store, ledger: string, count: number, offset = 0): Promise<void> {
  await store.append(
    ledger,
    Array.from({ length: count }, (_, i) => ({ event: sampleEvent(offset + i), writer: 'w' })),
  );
}

for (const [kind, make] of [
  ['SQLite', async () => sqliteHarness()],
  ['PostgreSQL', postgresHarness],
] as const) {
  describe(`leases and the ledger follower (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;
    it('one holder at a time; released, expired and stolen leases', { skip }, async () => {
      const harness = await make();
      const store = await harness.open();
      try {
        const now = nowMicros();
        assert.equal(await store.claimLease('job', 'a', now, now + 1_000_000), true);
        assert.equal(await store.claimLease('job', 'b', now, now + 1_000_000), false, 'b must wait while a holds it');
        assert.equal(await store.claimLease('job', 'a', now, now + 2_000_000), true, 'a renews its own lease');
        assert.equal(await store.claimLease('other', 'b', now, now + 1_000_000), true, 'leases are per name');
        assert.equal(await store.claimLease('job', 'b', now + 2_000_001, now + 3_000_000), true, 'an expired lease goes to the next claimant');
        assert.equal(await store.claimLease('job', 'a', now + 2_000_002, now + 4_000_000), false, 'the former holder lost it');
        assert.equal(await store.claimLease('job', 'b', now + 2_000_003, now), true, 'b hands it back');
        assert.equal(await store.claimLease('job', 'a', now + 2_000_004, now + 5_000_000), true, 'and a takes it at once');
      } finally {
        await store.close();
        await harness.destroy();
      }
    });

    it('work runs in one process, and another takes over when it stops or dies', { skip }, async () => {
      const harness = await make();
      const first = await harness.open();
      const second = await harness.open();
      try {
        const running = new Set<string>();
        let overlap = false;
        const work = (who: string) => async (signal: AbortSignal) => {
          if (running.size > 0) overlap = true;
          running.add(who);
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          running.delete(who);
        };
        const a = runUnderLease({ store: first, name: 'sink:x', holder: 'A', leaseMs: 600 }, work('A'));
        await until(() => a.holding, 'A to hold the lease');
        const b = runUnderLease({ store: second, name: 'sink:x', holder: 'B', leaseMs: 600 }, work('B'));
        await new Promise((resolve) => setTimeout(resolve, 900));
        assert.equal(b.holding, false, 'B must not run while A renews');
        await a.stop();
        await until(() => b.holding, 'B to take over after A stopped');
        // "Dies": C claims with a lease that is never renewed (like a killed process) and B waits it out.
        await b.stop();
        const now = nowMicros();
        assert.equal(await first.claimLease('sink:x', 'C', now, now + 800_000), true);
        const d = runUnderLease({ store: second, name: 'sink:x', holder: 'D', leaseMs: 600 }, work('D'));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(d.holding, false, 'D waits while the dead holder lease runs');
        await until(() => d.holding, 'D to take over the dead holder lease', 5000);
        await d.stop();
        assert.equal(overlap, false, 'two holders never worked at once');
      } finally {
        await first.close();
        await second.close();
        await harness.destroy();
      }
    });

    it('the follower reads in order, waits, and sees appends by another process', { skip }, async () => {
      const harness = await make();
      const writer = await harness.open();
      const reader = await harness.open();
      try {
        await writer.createLedger('app');
        await append(writer, 'app', 30);
        const controller = new AbortController();
        const seen: number[] = [];
        const reading = (async () => {
          for await (const batch of followLedger(reader, 'app', { from: 5, batchSize: 7, pollMs: 50, signal: controller.signal })) {
            assert.ok(batch.length <= 7);
            for (const entry of batch) seen.push(entry.index);
          }
        })();
        await until(() => seen.length === 25, 'the first 25 entries');
        await append(writer, 'app', 10, 30);
        await until(() => seen.length === 35, 'appends through the other process');
        await append(reader, 'app', 3, 40);
        await until(() => seen.length === 38, 'appends through its own process');
        controller.abort();
        await reading;
        assert.deepEqual(seen, Array.from({ length: 38 }, (_, i) => i + 5));
        const ranged: number[] = [];
        for await (const batch of readLedgerRange(reader, 'app', 10, 21, 4)) ranged.push(...batch.map((e) => e.index));
        assert.deepEqual(ranged, Array.from({ length: 11 }, (_, i) => i + 10));
      } finally {
        await writer.close();
        await reader.close();
        await harness.destroy();
      }
    });

    it('a follower of a ledger that does not exist yet waits for it', { skip }, async () => {
      const harness = await make();
      const store = await harness.open();
      try {
        const controller = new AbortController();
        const seen: number[] = [];
        const reading = (async () => {
          for await (const batch of followLedger(store, 'later', { from: 0, pollMs: 50, signal: controller.signal })) seen.push(...batch.map((e) => e.index));
        })();
        await new Promise((resolve) => setTimeout(resolve, 120));
        await store.createLedger('later');
        await append(store, 'later', 2);
        await until(() => seen.length === 2, 'the new ledger entries');
        controller.abort();
        await reading;
      } finally {
        await store.close();
        await harness.destroy();
      }
    });
  });
}
