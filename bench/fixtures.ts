/** Shared inputs of the benchmarks: options, events, keys and temporary folders. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ed25519Signer } from '../src/core/crypto.js';
import type { AuditEvent } from '../src/core/event.js';
import type { AppendRequest, Store } from '../src/store/store.js';
import { nodeSigner } from '../src/platform/node-crypto.js';
import { sampleEvent } from '../test/helpers/events.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Git-ignored output folder; temporary databases go here too, on the same disk as the project. */
export const BENCH_DIR = join(PROJECT_ROOT, '.bench');

export interface BenchOptions {
  /** ~30 s smoke run instead of the ~3 min default. */
  quick: boolean;
}

export const LEDGER = 'bench';
export const WRITER = 'bench-writer';
export const DEPLOYMENT_NAME = 'bench.local';

/** The test suite's realistic event (17 committed fields, ~420 bytes of JSON) with a unique id. */
export function benchEvent(n: number, run = 'r'): AuditEvent {
  return { ...sampleEvent(n), id: `evt-${run}-${n}` };
}

export function newSigner(): Ed25519Signer {
  return nodeSigner(generateKeyPairSync('ed25519').privateKey);
}

/** A fresh folder under .bench/ for one measurement; remove it with {@link removeDir}. */
export function tempDir(prefix: string): string {
  mkdirSync(BENCH_DIR, { recursive: true });
  return mkdtempSync(join(BENCH_DIR, `tmp-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Prints progress to stderr, so stdout holds only the report. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Events the ingest benchmarks cycle through; each request gets a unique id on top. */
export const EVENT_POOL_SIZE = 1024;
export const eventPool: AuditEvent[] = Array.from({ length: EVENT_POOL_SIZE }, (_, n) => benchEvent(n));

/** Append requests for events [first, first + count), keyed by their ids when `keys`. */
export function requestsFor(first: number, count: number, keys: boolean): AppendRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const n = first + i;
    const event = { ...eventPool[n % EVENT_POOL_SIZE]!, id: `evt-${n}` };
    return { event, writer: WRITER, ...(keys ? { idempotencyKey: `id:${event.id}` } : {}) };
  });
}

/** Appends events [first, first + count) from `concurrency` callers, `batch` events per call. */
export async function appendAll(
  store: Pick<Store, 'append'>,
  ledger: string,
  shape: { batch: number; concurrency: number; keys: boolean },
  first: number,
  count: number,
): Promise<void> {
  let next = first;
  const end = first + count;
  const caller = async (): Promise<void> => {
    while (next < end) {
      const n = next;
      const size = Math.min(shape.batch, end - n);
      next += size;
      await store.append(ledger, requestsFor(n, size, shape.keys));
    }
  };
  await Promise.all(Array.from({ length: shape.concurrency }, caller));
}
