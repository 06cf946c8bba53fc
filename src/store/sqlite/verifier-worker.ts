/**
 * The integrity monitor's verification thread for a database file: its own read-only store on the
 * file, on which slices of a ledger are verified (integrity.ts SliceVerifier: every entry re-derived
 * from its leaf and disclosures, every checkpoint's signature, the tree hashes), so that re-hashing what
 * was just appended does not hold the server's event loop. Started and spoken to by VerifierThread
 * (verifier-thread.ts); it answers one request at a time, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ed25519KeyId } from '../../core/note.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { toWireError, type WireError } from '../../platform/start-worker.js';
import { IntegrityFailure, SliceVerifier } from '../integrity.js';
import { SqliteStore } from './sqlite-store.js';
import { fromWireState, toWireState } from './verifier-thread.js';

export interface VerifierWorkerData {
  path: string;
  keyName: string;
  /** The deployment's Ed25519 public key: only its signatures count (the thread never signs). */
  publicKey: Uint8Array;
}

/** A TreeState as it crosses between threads. */
export interface WireTreeState {
  size: number;
  frontier: Uint8Array;
  lastReceivedAtMicros: number;
}

export type VerifierRequest =
  | { id: number; op: 'slice'; ledger: string; start: WireTreeState; headSize: number; maxEntries: number }
  | { id: number; op: 'close' };

export type VerifierResponse =
  | { id: number; state: WireTreeState; checked: number }
  /** The ledger contradicts what was signed (an IntegrityFailure's reason). */
  | { id: number; failure: string }
  | { id: number; error: WireError }
  | { id: number };

/** Longest the thread's verifier runs before it lets this thread's own callbacks in (none are urgent). */
const YIELD_EVERY_MS = 50;

function serve(): void {
  const port = parentPort;
  if (!port) throw new Error('verifier-worker.ts runs only as a worker thread');
  const { path, keyName, publicKey } = workerData as VerifierWorkerData;
  // Verification never appends: the signer is required by the store's type but never called.
  const signer = { publicKey, sign: (): Uint8Array => { throw new Error('the verification thread does not sign'); } };
  const store = new SqliteStore({ path, suite: nodeSuite, name: keyName, readonly: true, signer });
  const verifier = { name: keyName, keyId: ed25519KeyId(nodeSuite, keyName, publicKey), publicKey };
  const slices = new SliceVerifier(store, { suite: nodeSuite, verifier, keyName, yieldEveryMs: YIELD_EVERY_MS });
  let queue = Promise.resolve();
  port.on('message', (request: VerifierRequest) => {
    queue = queue.then(async () => {
      port.postMessage(await answer(request));
      if (request.op === 'close') port.close();
    });
  });

  async function answer(request: VerifierRequest): Promise<VerifierResponse> {
    if (request.op === 'close') {
      await store.close();
      return { id: request.id };
    }
    const before = slices.entriesChecked;
    try {
      const state = await slices.verifySlice(request.ledger, fromWireState(request.start), request.headSize, request.maxEntries);
      return { id: request.id, state: toWireState(state), checked: slices.entriesChecked - before };
    } catch (error) {
      if (error instanceof IntegrityFailure) return { id: request.id, failure: error.reason };
      return { id: request.id, error: toWireError(error) };
    }
  }
}

serve();
