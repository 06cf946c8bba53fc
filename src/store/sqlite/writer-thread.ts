/**
 * How the embedded store reaches its batch writer (batch-writer.ts): on the writer thread for a
 * database file (WriterThread), on the calling thread for an in-memory one (InThreadWriter). Both
 * answer the same promises, so the store has one path for either.
 */
import type { Worker } from 'node:worker_threads';
import { fromWireError, startModuleWorker } from '../../platform/start-worker.js';
import { StoreError } from '../store.js';
import type { SearchRecord } from '../search-fields.js';
import type { DetectionStep } from '../detection-state.js';
import type { CommitOutcome, IndexGap, SqliteBatchWriter, WireBatch } from './batch-writer.js';
import type { WriterRequest, WriterResponse, WriterWorkerData } from './writer-worker.js';

export interface BatchWriterHandle {
  commit(ledgerId: number, expectedSize: number, batch: WireBatch, records: SearchRecord[] | undefined): Promise<CommitOutcome>;
  fill(ledgerId: number, records: SearchRecord[], through: number): Promise<void>;
  indexThrough(ledgerId: number, target: number): Promise<IndexGap | undefined>;
  /** Search records waiting to be indexed (as last reported, for the writer thread). */
  backlog(): number;
  /** Stops the writer; what still waits to be indexed is the caller's to have indexed first. */
  close(): Promise<void>;
}

export class InThreadWriter implements BatchWriterHandle {
  constructor(private readonly writer: SqliteBatchWriter) {}

  async commit(ledgerId: number, expectedSize: number, batch: WireBatch, records: SearchRecord[] | undefined): Promise<CommitOutcome> {
    return this.writer.commit(ledgerId, expectedSize, batch, records);
  }

  async fill(ledgerId: number, records: SearchRecord[], through: number): Promise<void> {
    this.writer.fill(ledgerId, records, through);
  }

  indexThrough(ledgerId: number, target: number): Promise<IndexGap | undefined> {
    return this.writer.indexThrough(ledgerId, target);
  }

  backlog(): number {
    return this.writer.backlog;
  }

  async close(): Promise<void> {
    this.writer.stop();
  }
}

interface Call {
  resolve(response: WriterResponse & { id: number }): void;
  reject(error: Error): void;
}

/** Distributes a request union over its members, so that each keeps its own fields without `id`. */
type Unsent<T> = T extends unknown ? Omit<T, 'id'> : never;

/**
 * The writer thread, started on the first request. If it dies (an error it could not answer, or
 * terminated), every request it held fails with OVERLOADED, the records it queued are lost (gaps that
 * the next reads fill from the entries), and the next request starts a new one. A commit it held may or
 * may not have reached the file: a retry with the same idempotency key answers either way.
 */
export class WriterThread implements BatchWriterHandle {
  private worker: Worker | undefined;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private lastBacklog = 0;
  private closed = false;

  constructor(
    private readonly data: WriterWorkerData,
    /** Told of a gap the thread found while indexing in the background (the store fills it). */
    private readonly onGap: (gap: IndexGap) => void,
  ) {}

  async commit(ledgerId: number, expectedSize: number, batch: WireBatch, records: SearchRecord[] | undefined): Promise<CommitOutcome> {
    const response = await this.request({ op: 'commit', ledgerId, expectedSize, batch, records });
    return (response as { outcome: CommitOutcome }).outcome;
  }

  async fill(ledgerId: number, records: SearchRecord[], through: number): Promise<void> {
    await this.request({ op: 'fill', ledgerId, records, through });
  }

  async indexThrough(ledgerId: number, target: number): Promise<IndexGap | undefined> {
    const response = await this.request({ op: 'indexThrough', ledgerId, target });
    return (response as { gap?: IndexGap }).gap;
  }

  /** Commits a detection step on the thread's connection (SqliteDetectionState.commitStepHere). */
  async detectionStep(step: DetectionStep): Promise<void> {
    await this.request({ op: 'detectionStep', step });
  }

  backlog(): number {
    return this.worker ? this.lastBacklog : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    try {
      await this.send(worker, { op: 'close' });
    } catch {
      // It died first: nothing left to close.
    }
    await exited;
  }

  private request(message: Unsent<WriterRequest>): Promise<WriterResponse> {
    if (this.closed) return Promise.reject(new StoreError('OVERLOADED', 'the store is closing'));
    return this.send(this.worker ?? this.start(), message);
  }

  private send(worker: Worker, message: Unsent<WriterRequest>): Promise<WriterResponse> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      // Held while a request is out: a CLI awaiting a commit has nothing else keeping it alive.
      if (this.calls.size === 1) worker.ref();
      worker.postMessage({ ...message, id } as WriterRequest);
    });
  }

  private start(): Worker {
    const worker = startModuleWorker(import.meta.url, 'writer-worker', this.data);
    // An idle writer must not keep a process (a CLI run, a test) alive.
    worker.unref();
    this.worker = worker;
    worker.on('message', (response: WriterResponse) => {
      this.lastBacklog = response.backlog;
      if (!('id' in response)) {
        this.onGap(response.gap);
        return;
      }
      const call = this.calls.get(response.id);
      if (!call) return;
      this.calls.delete(response.id);
      // Closing holds it until it has exited.
      if (this.calls.size === 0 && !this.closed) worker.unref();
      if ('error' in response) call.reject(fromWireError(response.error));
      else call.resolve(response);
    });
    const retire = (why: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.lastBacklog = 0;
      const failure = new StoreError('OVERLOADED', `the store's writer thread stopped (${why.message}); retry`);
      for (const call of this.calls.values()) call.reject(failure);
      this.calls.clear();
    };
    worker.on('error', retire);
    worker.on('exit', (code) => retire(new Error(`exit code ${code}`)));
    return worker;
  }
}
