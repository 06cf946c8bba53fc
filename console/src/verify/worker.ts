/**
 * The verification worker: the core's checks off the page's thread, so a page of 100 rows never
 * freezes while signatures and proofs are checked. One message in (a VerifyRequest with an id), one out.
 */
import { verifyRequest, type EntryOutcome, type VerifyRequest } from './engine.js';

export interface WorkerRequest {
  id: number;
  request: VerifyRequest;
}

export type WorkerResponse = { id: number; outcomes: EntryOutcome[] } | { id: number; error: string };

const scope = self as unknown as { onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null; postMessage(message: WorkerResponse): void };

scope.onmessage = (event) => {
  const { id, request } = event.data;
  try {
    scope.postMessage({ id, outcomes: verifyRequest(request) });
  } catch (error) {
    scope.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
};
