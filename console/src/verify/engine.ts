/**
 * The verification itself, with the project's core bundled (src/core/verify.ts verifyEntries): the
 * checkpoint's signature against the pinned key, each leaf's ledger and index, its inclusion proof
 * against the checkpoint's root, and every disclosure against its commitment. Beyond the core, the
 * values the page shows must be the verified ones: the server's `event`, `leaf_hash` and `received_at`
 * are compared with what the verified leaf and disclosures give. Pure and synchronous: it runs in the
 * Web Worker (worker.ts) or, where there is none, in slices on the page (client.ts).
 */
import { fromBase64, toBase64 } from '../../../src/core/bytes.js';
import { canonicalJson, type Disclosures } from '../../../src/core/commitments.js';
import { portableSuite } from '../../../src/core/crypto.js';
import { SealtrailError } from '../../../src/core/errors.js';
import { hashLeaf } from '../../../src/core/tree.js';
import { verifyEntries, type VerifiedEntry } from '../../../src/core/verify.js';

export interface EvidenceInput {
  ledger: string;
  index: number;
  /** Standard base64 of the exact leaf bytes. */
  leaf: string;
  disclosures: Disclosures;
  /** Audit path, standard base64. */
  proof: string[];
  /** What the server says, to be compared with what verification gives. */
  shown: { leafHash?: string; receivedAt?: string; event?: Record<string, unknown> };
}

export interface VerifyRequest {
  verifierKey: string;
  /** Signed checkpoint note the proofs were made against. */
  checkpoint: string;
  entries: EvidenceInput[];
}

export interface VerifiedSummary {
  writer: string;
  receivedAt: string;
  event: Record<string, unknown>;
  withheld: string[];
}

export type EntryOutcome =
  | { index: number; ledger: string; status: 'verified'; checkpointSize: number; checkpointRoot: string; entry: VerifiedSummary }
  | { index: number; ledger: string; status: 'failed'; reason: string; part: string; field?: string };

function describe(error: unknown): { reason: string; part: string; field?: string; index?: number } {
  if (error instanceof SealtrailError) {
    const details = error.details as { part?: unknown; field?: unknown; index?: unknown };
    return {
      reason: error.message,
      part: typeof details.part === 'string' ? details.part : 'unknown',
      ...(typeof details.field === 'string' ? { field: details.field } : {}),
      ...(typeof details.index === 'number' ? { index: details.index } : {}),
    };
  }
  return { reason: error instanceof Error ? error.message : String(error), part: 'unknown' };
}

/** Decoding failures of the evidence itself (bad base64) fail only that entry. */
function decode(entry: EvidenceInput): { leaf: Uint8Array; proof: Uint8Array[] } | { error: string } {
  try {
    return { leaf: fromBase64(entry.leaf), proof: entry.proof.map(fromBase64) };
  } catch (error) {
    return { error: `entry ${entry.index}: the evidence is not valid base64 (${error instanceof Error ? error.message : String(error)})` };
  }
}

/** The server's claims against the verified entry: the first difference, or undefined. */
function compareShown(entry: EvidenceInput, leaf: Uint8Array, verified: VerifiedEntry): string | undefined {
  if (verified.ledger !== entry.ledger) return `entry ${entry.index}: the checkpoint is of ledger ${verified.ledger}, the row says ${entry.ledger}`;
  const { shown } = entry;
  if (shown.leafHash !== undefined && shown.leafHash !== toBase64(hashLeaf(portableSuite, leaf))) {
    return `entry ${entry.index}: the leaf hash shown is not the hash of the verified leaf`;
  }
  if (shown.receivedAt !== undefined && shown.receivedAt !== verified.receivedAt) {
    return `entry ${entry.index}: the received time shown (${shown.receivedAt}) is not the sealed one (${verified.receivedAt})`;
  }
  if (shown.event !== undefined && canonicalJson(shown.event) !== canonicalJson(verified.event)) {
    return `entry ${entry.index}: the event shown differs from the one its verified disclosures give`;
  }
  return undefined;
}

/**
 * Verifies every entry of one checkpoint. verifyEntries stops at the first entry that fails, so that
 * entry is set aside with its error and the rest verified again: one failure costs one more pass, and a
 * checkpoint that fails fails every entry with the same reason.
 */
export function verifyRequest(request: VerifyRequest): EntryOutcome[] {
  const outcomes = new Map<number, EntryOutcome>();
  const decoded = new Map<number, { leaf: Uint8Array; proof: Uint8Array[] }>();
  let pending: EvidenceInput[] = [];
  for (const entry of request.entries) {
    const bytes = decode(entry);
    if ('error' in bytes) outcomes.set(entry.index, { index: entry.index, ledger: entry.ledger, status: 'failed', reason: bytes.error, part: 'leaf' });
    else {
      decoded.set(entry.index, bytes);
      pending.push(entry);
    }
  }
  while (pending.length > 0) {
    try {
      const result = verifyEntries({
        verifierKeys: [request.verifierKey],
        checkpoint: request.checkpoint,
        entries: pending.map((entry) => ({ index: entry.index, leaf: decoded.get(entry.index)!.leaf, disclosures: entry.disclosures, inclusionProof: decoded.get(entry.index)!.proof })),
        suite: portableSuite,
      });
      for (const [at, verified] of result.entries.entries()) {
        const entry = pending[at]!;
        const mismatch = compareShown(entry, decoded.get(entry.index)!.leaf, verified);
        outcomes.set(
          entry.index,
          mismatch
            ? { index: entry.index, ledger: entry.ledger, status: 'failed', reason: mismatch, part: 'shown values' }
            : {
                index: entry.index,
                ledger: entry.ledger,
                status: 'verified',
                checkpointSize: result.checkpoint.size,
                checkpointRoot: toBase64(result.checkpoint.rootHash),
                entry: { writer: verified.writer, receivedAt: verified.receivedAt, event: verified.event, withheld: verified.withheld },
              },
        );
      }
      pending = [];
    } catch (error) {
      const failure = describe(error);
      const culprit = failure.index === undefined ? -1 : pending.findIndex((entry) => entry.index === failure.index);
      if (culprit < 0) {
        // The checkpoint (or something not tied to one entry): every remaining entry fails with it.
        for (const entry of pending) outcomes.set(entry.index, { index: entry.index, ledger: entry.ledger, status: 'failed', ...failure });
        pending = [];
      } else {
        const entry = pending[culprit]!;
        outcomes.set(entry.index, { index: entry.index, ledger: entry.ledger, status: 'failed', reason: failure.reason, part: failure.part, ...(failure.field ? { field: failure.field } : {}) });
        pending = pending.filter((_, at) => at !== culprit);
      }
    }
  }
  return request.entries.map((entry) => outcomes.get(entry.index)!);
}
