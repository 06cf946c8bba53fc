/**
 * Receipt verification for the batching writer: a receipt is believed only when its checkpoint is
 * signed by the pinned verifier key for the writer's ledger and an inclusion proof fetched from the
 * server leads from the receipt's leaf hash to that checkpoint's root. A server that forged, reordered
 * or later rewrote the entry cannot pass both. Proofs are fetched a few at a time, off the send path.
 */
import { fromBase64 } from '../core/bytes.js';
import { openCheckpoint } from '../core/checkpoint.js';
import { portableSuite } from '../core/crypto.js';
import { parseVerifierKey, type NoteVerifier } from '../core/note.js';
import { verifyInclusion } from '../core/tree.js';
import type { ReceiptBody, SealtrailClient } from './index.js';

export class ReceiptVerificationError extends Error {
  override name = 'ReceiptVerificationError';
  readonly code = 'RECEIPT_UNVERIFIED';
}

const CONCURRENCY = 8;

export class ReceiptVerifier {
  private readonly verifier: NoteVerifier;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly active = new Set<Promise<void>>();

  constructor(private readonly client: SealtrailClient, verifierKey: string) {
    this.verifier = parseVerifierKey(portableSuite, verifierKey);
  }

  verify(receipt: ReceiptBody): Promise<void> {
    const task = this.limited(() => this.check(receipt));
    this.active.add(task);
    void task.finally(() => this.active.delete(task)).catch(() => {});
    return task;
  }

  /** Resolves when no verification is running. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  private async check(receipt: ReceiptBody): Promise<void> {
    let checkpoint;
    try {
      checkpoint = openCheckpoint(portableSuite, receipt.checkpoint, [this.verifier]).checkpoint;
    } catch (error) {
      throw new ReceiptVerificationError(`receipt ${receipt.ledger}#${receipt.index}: checkpoint not signed by the pinned key (${(error as Error).message})`);
    }
    if (!checkpoint.origin.endsWith(`/${receipt.ledger}`) || checkpoint.size !== receipt.tree_size || receipt.index >= checkpoint.size) {
      throw new ReceiptVerificationError(`receipt ${receipt.ledger}#${receipt.index}: its checkpoint is for ${checkpoint.origin} at size ${checkpoint.size}`);
    }
    const proof = await this.client.inclusionProof(receipt.ledger, receipt.index, checkpoint.size);
    try {
      verifyInclusion(portableSuite, receipt.index, checkpoint.size, fromBase64(receipt.leaf_hash), proof.hashes.map(fromBase64), checkpoint.rootHash);
    } catch (error) {
      throw new ReceiptVerificationError(`receipt ${receipt.ledger}#${receipt.index}: not included in its checkpoint (${(error as Error).message})`);
    }
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    while (this.running >= CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
