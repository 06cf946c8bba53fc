/**
 * Offline verification: given only a verifier key and material a server (or an evidence bundle)
 * handed over, decide whether it is genuine. No I/O and no trust in the source: every check is against
 * the signed checkpoint. On failure the error says which entry, which field and which proof.
 */
import { eventFromDisclosures, type Disclosures } from './commitments.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import { portableSuite, type CryptoSuite } from './crypto.js';
import { SealtrailError } from './errors.js';
import { decodeLeaf, verifyDisclosures } from './leaf.js';
import { parseVerifierKey, type NoteVerifier } from './note.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from './tree.js';

export interface EntryEvidence {
  index: number;
  /** Exact leaf bytes. */
  leaf: Uint8Array;
  /** Disclosed fields; any subset of the leaf's commitments (an empty object discloses nothing). */
  disclosures: Disclosures;
  /** Inclusion proof of the leaf in the checkpoint's tree. */
  inclusionProof: Uint8Array[];
}

export interface VerifyEntriesInput {
  /** Verifier key strings (`name+keyid+base64`) or parsed verifiers. */
  verifierKeys: Array<string | NoteVerifier>;
  /** Signed checkpoint note. */
  checkpoint: string;
  /** Expected checkpoint origin (`<deployment>/<ledger>`); when given, a checkpoint of another log fails. */
  origin?: string;
  entries: EntryEvidence[];
  suite?: CryptoSuite;
}

export interface VerifiedEntry {
  index: number;
  ledger: string;
  receivedAt: string;
  writer: string;
  /** The event as far as disclosed. */
  event: Record<string, unknown>;
  /** Field paths committed in the leaf but not disclosed (withheld, erased or purged). */
  withheld: string[];
}

export interface VerifiedEntries {
  checkpoint: Checkpoint;
  entries: VerifiedEntry[];
}

/** Turns a failure of one check into a VERIFICATION_FAILED that says where it happened. */
function failure(where: string, details: Record<string, unknown>, cause: unknown): never {
  const reason = cause instanceof SealtrailError ? cause.message : String(cause);
  const code = cause instanceof SealtrailError ? cause.code : 'UNKNOWN';
  throw new SealtrailError('VERIFICATION_FAILED', `${where}: ${reason}`, { ...details, reason: code }, { cause });
}

export function resolveVerifiers(suite: CryptoSuite, keys: Array<string | NoteVerifier>): NoteVerifier[] {
  return keys.map((key) => (typeof key === 'string' ? parseVerifierKey(suite, key) : key));
}

/**
 * Verifies the checkpoint's signature, then for every entry: the leaf's canonical form, that it belongs
 * to the checkpoint's ledger and index, its inclusion proof against the checkpoint root, and every
 * disclosure against its commitment.
 */
export function verifyEntries(input: VerifyEntriesInput): VerifiedEntries {
  const suite = input.suite ?? portableSuite;
  let checkpoint: Checkpoint;
  try {
    const verifiers = resolveVerifiers(suite, input.verifierKeys);
    checkpoint = openCheckpoint(suite, input.checkpoint, verifiers, input.origin).checkpoint;
  } catch (cause) {
    failure('checkpoint', { part: 'checkpoint' }, cause);
  }
  const ledger = checkpoint.origin.slice(checkpoint.origin.lastIndexOf('/') + 1);
  const entries = input.entries.map((evidence) => verifyEntry(suite, checkpoint, ledger, evidence));
  return { checkpoint, entries };
}

function verifyEntry(suite: CryptoSuite, checkpoint: Checkpoint, ledger: string, evidence: EntryEvidence): VerifiedEntry {
  const { index } = evidence;
  const at = `entry ${index}`;
  let envelope;
  try {
    envelope = decodeLeaf(evidence.leaf);
  } catch (cause) {
    failure(at, { index, part: 'leaf' }, cause);
  }
  if (envelope.index !== index) {
    failure(at, { index, part: 'leaf' }, new SealtrailError('MALFORMED', `leaf says index ${envelope.index}`));
  }
  if (envelope.ledger !== ledger) {
    failure(at, { index, part: 'leaf' }, new SealtrailError('MALFORMED', `leaf belongs to ledger ${envelope.ledger}, checkpoint to ${ledger}`));
  }
  try {
    verifyInclusion(suite, index, checkpoint.size, hashLeaf(suite, evidence.leaf), evidence.inclusionProof, checkpoint.rootHash);
  } catch (cause) {
    failure(at, { index, part: 'inclusion proof' }, cause);
  }
  try {
    verifyDisclosures(suite, envelope, evidence.disclosures);
  } catch (cause) {
    const field = cause instanceof SealtrailError ? cause.details.path : undefined;
    failure(`${at}${field ? `, field ${String(field)}` : ''}`, { index, part: 'disclosure', field }, cause);
  }
  return {
    index,
    ledger,
    receivedAt: envelope.received_at,
    writer: envelope.writer,
    event: eventFromDisclosures(evidence.disclosures),
    withheld: Object.keys(envelope.commitments).filter((path) => !Object.hasOwn(evidence.disclosures, path)),
  };
}

export interface VerifyConsistencyInput {
  verifierKeys: Array<string | NoteVerifier>;
  /** The checkpoint the verifier kept from earlier. */
  older: string;
  /** A checkpoint from now. */
  newer: string;
  /** RFC 9162 consistency proof from older.size to newer.size. */
  proof: Uint8Array[];
  suite?: CryptoSuite;
}

/**
 * Proves that the log of `newer` extends the log of `older` without rewriting it: both signatures, the
 * same origin, and the consistency proof between their roots. This is what detects a rollback or a
 * rewritten history, given a checkpoint saved outside the server.
 */
export function verifyCheckpointConsistency(input: VerifyConsistencyInput): { older: Checkpoint; newer: Checkpoint } {
  const suite = input.suite ?? portableSuite;
  let older: Checkpoint;
  let newer: Checkpoint;
  try {
    const verifiers = resolveVerifiers(suite, input.verifierKeys);
    older = openCheckpoint(suite, input.older, verifiers).checkpoint;
    newer = openCheckpoint(suite, input.newer, verifiers, older.origin).checkpoint;
  } catch (cause) {
    failure('checkpoint', { part: 'checkpoint' }, cause);
  }
  if (older.size > newer.size) {
    failure('consistency', { part: 'consistency proof' }, new SealtrailError('INVALID_PROOF', `the log shrank from ${older.size} to ${newer.size} entries (rollback)`));
  }
  try {
    if (older.size === 0) {
      if (input.proof.length !== 0) throw new SealtrailError('INVALID_PROOF', 'a proof from the empty tree must be empty');
    } else {
      verifyConsistency(suite, older.size, newer.size, input.proof, older.rootHash, newer.rootHash);
    }
  } catch (cause) {
    failure('consistency', { part: 'consistency proof', from: older.size, to: newer.size }, cause);
  }
  return { older, newer };
}
