/**
 * Deliveries for the target tests, made the way the sink runtime makes them: events sealed by a real
 * SQLite store, read back in order and turned into records, with the store's own signed checkpoint.
 * Some events carry what breaks careless encoders: quotes, `]`, backslashes, line breaks, non-ASCII.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { recordFromEntry } from '../../src/core/export/record.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Delivery, StreamRecord } from '../../src/streams/target.js';
import { sampleEvent } from '../helpers/events.js';

export interface SealedLedger {
  ledger: string;
  records: StreamRecord[];
  checkpoint: Delivery['checkpoint'];
  delivery(from: number, to: number, attempt?: number): Delivery;
}

function trickyEvent(n: number) {
  const event = sampleEvent(n);
  if (n % 4 === 1) {
    event.actor.name = `Zoë "the ]admin[" \\ Ünïcødé ${n}`;
    event.outcome_reason = 'line one\nline two\r\nend';
    event.metadata = { note: 'quote " bracket ] backslash \\ newline \n', n };
  }
  return event;
}

export async function sealLedger(ledger: string, count: number): Promise<SealedLedger> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-targets-'));
  const store = new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer: portableSigner(nodeSuite.randomBytes(32)), name: 'targets.test' });
  await store.createLedger(ledger);
  const requests = Array.from({ length: count }, (_, n) => ({ event: trickyEvent(n), writer: 'k-test' }));
  await store.append(ledger, requests);
  const records: StreamRecord[] = [];
  for await (const entry of store.entries(ledger, 0, count)) records.push(recordFromEntry(entry));
  const latest = await store.latestCheckpoint(ledger);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const checkpoint = { note: latest!.note, size: latest!.size };
  return {
    ledger,
    records,
    checkpoint,
    delivery: (from, to, attempt = 1) => ({ sink: 'test-sink', ledger, records: records.slice(from, to), checkpoint, attempt, previous: from === 0 ? null : from - 1 }),
  };
}

/** A TCP port nothing listens on right now (the kernel picks it, then it is released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it returns a value, or fails after `ms`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
