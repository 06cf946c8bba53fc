/**
 * How the embedded store reaches its batch writer (batch-writer.ts): on the writer thread for a
 * database file (WriterThread), on the calling thread for an in-memory one (InThreadWriter). Both
 * answer the same promises, so the store has one path for either.
 */
import { RequestWorker, type Unsent } from '../../platform/request-worker.js';
import { startModuleWorker } from '../../platform/start-worker.js';
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

/**
 * The writer thread, started on the first request. If it dies (an error it could not answer, or
 * terminated), every request it held fails with OVERLOADED, the records it queued are lost (gaps that
 * the next reads fill from the entries), and the next request starts a new one. A commit it held may or
 * may not have reached the file: a retry with the same idempotency key answers either way.
 */
export class WriterThread implements BatchWriterHandle {
  private readonly thread: RequestWorker<WriterRequest, WriterResponse>;
  private lastBacklog = 0;
  private closed = false;

  constructor(
    data: WriterWorkerData,
    /** Told of a gap the thread found while indexing in the background (the store fills it). */
    onGap: (gap: IndexGap) => void,
  ) {
    this.thread = new RequestWorker({
      start: () => startModuleWorker(import.meta.url, 'writer-worker', data),
      failure: (why) => new StoreError('OVERLOADED', `the store's writer thread stopped (${why.message}); retry`),
      onMessage: (response) => {
        this.lastBacklog = response.backlog;
        if (!('id' in response)) onGap(response.gap);
      },
      onRetired: () => {
        this.lastBacklog = 0;
      },
    });
  }

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
    return this.thread.running ? this.lastBacklog : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.thread.close({ op: 'close' });
  }

  private request(message: Unsent<WriterRequest>): Promise<WriterResponse> {
    if (this.closed) return Promise.reject(new StoreError('OVERLOADED', 'the store is closing'));
    return this.thread.request(message);
  }
}
