/**
 * The one way background consumers (detection, sinks) read a ledger: its entries in index order from a
 * cursor, in batches, waiting for more once they have caught up. A batch is announced by the store as
 * soon as it is acknowledged (Store.onAppended); appends made by other processes sharing a PostgreSQL
 * database are found by polling the ledger's size. Everything read is already covered by a signed
 * checkpoint: the store commits each batch together with its checkpoint.
 */
import type { Store, StoredEntry } from './store.js';

export interface FollowOptions {
  /** First index to read. */
  from: number;
  /** Most entries per batch; default 500. */
  batchSize?: number;
  /** How often to look for appends by other processes, in ms; default 250. */
  pollMs?: number;
  /** Stops the generator (it then returns, without throwing). */
  signal: AbortSignal;
}

/** Resolves when the ledger grows in this process, after `ms`, or when `signal` aborts, whichever is first. */
function appendedOrTimeout(store: Store, ledger: string, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = store.onAppended((name) => {
      if (name === ledger) done();
    });
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Yields the ledger's entries from `options.from` on, oldest first, in batches of consecutive indexes,
 * and waits for appends when there is nothing more; returns once the signal aborts. A ledger that does
 * not exist (yet) is waited for like an empty one.
 */
export async function* followLedger(store: Store, ledger: string, options: FollowOptions): AsyncGenerator<StoredEntry[]> {
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 250;
  let next = options.from;
  while (!options.signal.aborted) {
    const size = (await store.getLedger(ledger))?.size ?? 0;
    if (next >= size) {
      await appendedOrTimeout(store, ledger, pollMs, options.signal);
      continue;
    }
    const batch: StoredEntry[] = [];
    for await (const entry of store.entries(ledger, next, Math.min(size, next + batchSize))) batch.push(entry);
    if (batch.length === 0) continue;
    next = batch[batch.length - 1]!.index + 1;
    yield batch;
  }
}

/** Entries [from, to) in batches, once, without waiting: backfills and replays over history. */
export async function* readLedgerRange(store: Store, ledger: string, from: number, to: number, batchSize = 500): AsyncGenerator<StoredEntry[]> {
  let batch: StoredEntry[] = [];
  for await (const entry of store.entries(ledger, from, to)) {
    batch.push(entry);
    if (batch.length >= batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
