/**
 * Runs the embedded store's heavy reads on worker threads (read-worker.ts), each with its own
 * read-only connection to the database file, under a time budget. better-sqlite3 is synchronous: a
 * statement run on the main thread holds the event loop until SQLite is done with it, so one costly
 * search would stall every other request, /healthz included. Here the main thread only posts the
 * statement and waits; a read past its budget is answered QUERY_TIMEOUT and its thread terminated,
 * and the next read starts a fresh one.
 *
 * A terminated thread stops only once SQLite returns control to it (better-sqlite3 cannot interrupt a
 * running statement), so it may keep a core busy a while longer; at most MAX_ABANDONED such threads
 * may linger, and reads beyond that are refused with OVERLOADED until they have exited.
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { fromWireError, startModuleWorker } from '../../platform/start-worker.js';
import { StoreError } from '../store.js';
import type { ReadRequest, ReadResponse, ReadWorkerData } from './read-worker.js';

/** Terminated threads still finishing their statement, beyond which reads are refused. */
const MAX_ABANDONED = 2;
/**
 * Reads waiting for a thread, beyond which they are refused. Generous, because one cross-ledger search
 * asks for a page of every ledger at once; how long a read may wait is bounded by the budget instead.
 */
const MAX_QUEUED = 1024;

export interface ReadPoolOptions {
  /** The database file (not ":memory:"). */
  path: string;
  /** Budget of one read in milliseconds. */
  budgetMs: number;
  /** Worker threads reading at once; default min(2, available cores). */
  threads?: number;
  /** Page cache of each thread's connection in KiB (default 64 MiB, read-worker.ts). */
  cacheKiB?: number;
}

interface Job {
  id: number;
  sql: string;
  params: unknown[];
  raw: boolean;
  resolve(rows: unknown[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

interface Reader {
  worker: Worker;
  /** False until the thread has opened its connection. */
  ready: boolean;
  job: Job | undefined;
}

/** Starts read-worker.js (or .ts, from source) beside this module. */
function startWorker(workerData: ReadWorkerData): Worker {
  return startModuleWorker(import.meta.url, 'read-worker', workerData);
}

export class SqliteReadPool {
  private readonly threads: number;
  private readonly readers = new Set<Reader>();
  private readonly idle: Reader[] = [];
  private readonly queue: Job[] = [];
  private abandoned = 0;
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ReadPoolOptions) {
    this.threads = Math.max(1, options.threads ?? Math.min(2, availableParallelism()));
  }

  get budgetMs(): number {
    return this.options.budgetMs;
  }

  /**
   * The rows of one read-only statement, or QUERY_TIMEOUT once it has run for its budget. `raw`: each row
   * an array of its column values, in the statement's order, blobs as Uint8Arrays.
   */
  all<T>(sql: string, params: unknown[], raw = false): Promise<T[]> {
    if (this.closed) return Promise.reject(new StoreError('OVERLOADED', 'the store is closing'));
    if (this.abandoned >= MAX_ABANDONED || this.queue.length >= MAX_QUEUED) {
      return Promise.reject(new StoreError('OVERLOADED', 'too many costly searches are running; retry shortly', { budgetMs: this.options.budgetMs }));
    }
    return new Promise<T[]>((resolve, reject) => {
      const job: Job = { id: this.nextId++, sql, params, raw, resolve: (rows) => resolve(rows as T[]), reject, done: false, timer: undefined };
      // Waiting for a thread is bounded too: busy threads are load, not this query's cost.
      job.timer = setTimeout(() => this.expireWaiting(job), this.options.budgetMs);
      this.queue.push(job);
      this.dispatch();
    });
  }

  /**
   * Terminates every thread; pending reads are refused. Waits for the idle threads only: a busy one
   * exits when SQLite finishes its statement, which closing must not wait for.
   */
  async close(): Promise<void> {
    this.closed = true;
    const closing = () => new StoreError('OVERLOADED', 'the store is closing');
    for (const job of this.queue.splice(0)) this.finish(job, closing());
    const exits: Promise<number>[] = [];
    for (const reader of this.readers) {
      const busy = reader.job !== undefined;
      if (reader.job) this.finish(reader.job, closing());
      reader.worker.removeAllListeners();
      reader.worker.on('error', () => {});
      const exited = reader.worker.terminate();
      if (!busy) exits.push(exited);
    }
    this.readers.clear();
    this.idle.length = 0;
    await Promise.all(exits);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const reader = this.idle.pop();
      if (!reader) {
        // Threads are started on demand; reads wait in the queue until one has opened its connection.
        if (this.readers.size < this.threads) this.spawn();
        return;
      }
      const job = this.queue.shift()!;
      reader.job = job;
      clearTimeout(job.timer);
      job.timer = setTimeout(() => this.expire(reader, job), this.options.budgetMs);
      const request: ReadRequest = { id: job.id, sql: job.sql, params: job.params, ...(job.raw ? { raw: true } : {}) };
      reader.worker.postMessage(request);
    }
  }

  private spawn(): void {
    const data: ReadWorkerData = {
      path: this.options.path,
      busyTimeoutMs: Math.max(this.options.budgetMs, 1),
      ...(this.options.cacheKiB !== undefined ? { cacheKiB: this.options.cacheKiB } : {}),
    };
    const worker = startWorker(data);
    // Idle threads must not keep a process (a CLI run, a test) alive; a pending read's timer does.
    worker.unref();
    const reader: Reader = { worker, ready: false, job: undefined };
    this.readers.add(reader);
    worker.on('message', (response: ReadResponse) => {
      if ('ready' in response) {
        reader.ready = true;
        this.idle.push(reader);
        this.dispatch();
        return;
      }
      const job = reader.job;
      if (!job || job.id !== response.id) return;
      reader.job = undefined;
      this.idle.push(reader);
      if ('rows' in response) this.finish(job, undefined, job.raw ? response.rows : reviveBuffers(response.rows));
      else this.finish(job, fromWireError(response.error));
      this.dispatch();
    });
    worker.on('error', (error) => this.retire(reader, error));
    worker.on('exit', () => this.retire(reader, new Error('a search worker thread stopped unexpectedly')));
  }

  /**
   * A thread that died takes its read with it. One that died before opening its connection (the file
   * cannot be opened) fails every waiting read instead of being restarted for each in turn.
   */
  private retire(reader: Reader, error: Error): void {
    if (!this.readers.delete(reader)) return;
    const at = this.idle.indexOf(reader);
    if (at >= 0) this.idle.splice(at, 1);
    if (reader.job) this.finish(reader.job, error);
    reader.job = undefined;
    if (!reader.ready) for (const job of this.queue.splice(0)) this.finish(job, error);
    if (!this.closed) this.dispatch();
  }

  /**
   * No thread was free for a whole budget: the read is refused as load, and never runs. A thread
   * still starting (opening its connection) is not load: the read waits on for it.
   */
  private expireWaiting(job: Job): void {
    const at = this.queue.indexOf(job);
    if (at < 0) return;
    if ([...this.readers].some((reader) => !reader.ready)) {
      job.timer = setTimeout(() => this.expireWaiting(job), this.options.budgetMs);
      return;
    }
    this.queue.splice(at, 1);
    this.finish(
      job,
      new StoreError('OVERLOADED', `no search thread was free within the ${this.options.budgetMs} ms budget; retry shortly`, { budgetMs: this.options.budgetMs }),
    );
  }

  /** The read ran out of budget: answer now, and terminate its thread, which leaves the pool. */
  private expire(reader: Reader, job: Job): void {
    if (job.done || reader.job !== job) return;
    this.finish(
      job,
      new StoreError(
        'QUERY_TIMEOUT',
        `the query did not finish within its time budget of ${this.options.budgetMs} ms; narrow it (a shorter time range, fewer values, keys instead of free text)`,
        { budgetMs: this.options.budgetMs },
      ),
    );
    this.readers.delete(reader);
    reader.job = undefined;
    // Counted until it has really exited: it stops only once SQLite returns control to it.
    this.abandoned++;
    reader.worker.removeAllListeners();
    reader.worker.once('exit', () => {
      this.abandoned--;
    });
    reader.worker.on('error', () => {});
    void reader.worker.terminate();
    this.dispatch();
  }

  private finish(job: Job, error: Error | undefined, rows?: unknown[]): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.timer);
    if (error) job.reject(error);
    else job.resolve(rows!);
  }
}

/** Blobs arrive as plain Uint8Arrays (structured clone); the row converters expect Buffers. */
function reviveBuffers(rows: unknown[]): unknown[] {
  for (const row of rows as Record<string, unknown>[]) {
    for (const [column, value] of Object.entries(row)) {
      if (value instanceof Uint8Array && !Buffer.isBuffer(value)) row[column] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return rows;
}
