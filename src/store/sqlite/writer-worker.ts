/**
 * The embedded store's writer thread: its own connection to the database file, on which every append
 * is committed (with its fsync) and every search record indexed (batch-writer.ts), and the detection
 * engine's steps are written (detection.ts), so that none of that holds the server's event loop. Started and spoken to by WriterThread (writer-thread.ts); it
 * answers requests in the order they arrive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toWireError, type WireError } from '../../platform/start-worker.js';
import { openDatabase } from './connection.js';
import { SqliteBatchWriter, type CommitOutcome, type IndexGap, type WireBatch } from './batch-writer.js';
import { SqliteSearchIndex } from './search-index.js';
import type { SearchRecord } from '../search-fields.js';
import type { DetectionStep } from '../detection-state.js';
import { SqliteDetectionState } from './detection.js';

export interface WriterWorkerData {
  path: string;
  sliceMs: number;
  maxSliceMs: number;
  maxBacklog?: number;
}

export type WriterRequest =
  | { id: number; op: 'commit'; ledgerId: number; expectedSize: number; batch: WireBatch; records: SearchRecord[] | undefined }
  | { id: number; op: 'fill'; ledgerId: number; records: SearchRecord[]; through: number }
  | { id: number; op: 'indexThrough'; ledgerId: number; target: number }
  | { id: number; op: 'detectionStep'; step: DetectionStep }
  | { id: number; op: 'close' };

/** Answers carry the backlog after the request, so the store's metric needs no request of its own. */
export type WriterResponse =
  | { id: number; backlog: number; outcome?: CommitOutcome; gap?: IndexGap }
  | { id: number; backlog: number; error: WireError }
  | { gap: IndexGap; backlog: number };

function serve(): void {
  const port = parentPort;
  if (!port) throw new Error('writer-worker.ts runs only as a worker thread');
  const { path, sliceMs, maxSliceMs, maxBacklog } = workerData as WriterWorkerData;
  const db = openDatabase(path);
  const writer = new SqliteBatchWriter(db, new SqliteSearchIndex(db), {
    sliceMs,
    maxSliceMs,
    ...(maxBacklog !== undefined ? { maxBacklog } : {}),
    onGap: (gap) => port.postMessage({ gap, backlog: writer.backlog } satisfies WriterResponse),
  });
  let detection: SqliteDetectionState | undefined;
  const refuse = (id: number, error: unknown) => port.postMessage({ id, backlog: writer.backlog, error: toWireError(error) } satisfies WriterResponse);
  const answer = (id: number, fields: { outcome?: CommitOutcome; gap?: IndexGap } = {}) =>
    port.postMessage({ id, backlog: writer.backlog, ...fields } satisfies WriterResponse);
  port.on('message', (request: WriterRequest) => {
    try {
      switch (request.op) {
        case 'commit':
          answer(request.id, { outcome: writer.commit(request.ledgerId, request.expectedSize, request.batch, request.records) });
          return;
        case 'fill':
          writer.fill(request.ledgerId, request.records, request.through);
          answer(request.id);
          return;
        case 'indexThrough':
          void writer.indexThrough(request.ledgerId, request.target).then(
            (gap) => answer(request.id, gap ? { gap } : {}),
            (error: unknown) => refuse(request.id, error),
          );
          return;
        case 'detectionStep':
          (detection ??= new SqliteDetectionState(db)).commitStepHere(request.step);
          answer(request.id);
          return;
        case 'close':
          writer.stop();
          db.close();
          answer(request.id);
          port.close();
          return;
      }
    } catch (error) {
      refuse(request.id, error);
    }
  });
}

serve();
