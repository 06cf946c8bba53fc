/**
 * The integrity monitor's slices verified on a thread of their own (verifier-worker.ts), for a database
 * file: SqliteStore.offloadedSlices hands one to the monitor (integrity.ts OffloadedSlices).
 */
import { RequestWorker } from '../../platform/request-worker.js';
import { startModuleWorker } from '../../platform/start-worker.js';
import { IntegrityFailure, type OffloadedSlices, type TreeState } from '../integrity.js';
import { Frontier } from '../../core/tree.js';
import type { VerifierRequest, VerifierResponse, VerifierWorkerData, WireTreeState } from './verifier-worker.js';

export class VerifierThread implements OffloadedSlices {
  private readonly thread: RequestWorker<VerifierRequest, VerifierResponse>;

  constructor(data: VerifierWorkerData) {
    // A thread that dies fails its slice as a transient error: the monitor retries it next round, on a new thread.
    this.thread = new RequestWorker({
      start: () => startModuleWorker(import.meta.url, 'verifier-worker', data),
      failure: (why) => new Error(`the verification thread stopped (${why.message})`),
    });
  }

  async verifySlice(ledger: string, start: TreeState, headSize: number, maxEntries: number): Promise<{ state: TreeState; checked: number }> {
    const response = await this.thread.request({ op: 'slice', ledger, start: toWireState(start), headSize, maxEntries });
    if ('failure' in response) throw new IntegrityFailure(ledger, response.failure);
    if (!('state' in response)) throw new Error('the verification thread answered a slice without its state');
    return { state: fromWireState(response.state), checked: response.checked };
  }

  close(): Promise<void> {
    return this.thread.close({ op: 'close' });
  }
}

export function toWireState(state: TreeState): WireTreeState {
  return { size: state.size, frontier: state.frontier.toBytes(), lastReceivedAtMicros: state.lastReceivedAtMicros };
}

export function fromWireState(wire: WireTreeState): TreeState {
  return { size: wire.size, frontier: Frontier.fromBytes(wire.size, wire.frontier), lastReceivedAtMicros: wire.lastReceivedAtMicros };
}
