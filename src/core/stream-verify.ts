/**
 * What `sealtrail verify-stream` checks of what a receiver stored from a sink (docs/STREAMS.md), pure so
 * that it also runs in browsers. The input is the receiver's lines: CloudEvents (one per line, or a
 * batch array per line, as the webhook target sends them) or the file target's lines (records and
 * checkpoint lines, JSON or OCSF). Per ledger:
 *
 * - checkpoints: every one must carry a valid signature by a given verifier key, for that ledger; two
 *   different roots for one size, or checkpoints that are not consistent with each other, are a fork;
 * - completeness: each record names the index delivered before it (`previous`); every such predecessor
 *   must be present, so a gap anywhere in the stream is found even when the sink's filter leaves indexes
 *   out. A record without a predecessor starts a chain (the sink's first record, or a replay);
 * - inclusion: every record's leaf hash is in the tree of a signed checkpoint covering it. When the
 *   receiver holds every leaf hash from index 0, the roots are recomputed offline; otherwise inclusion
 *   and consistency proofs come from `proofs` (the server's proof API), and records no proof reached are
 *   reported unproven.
 *
 * The leaf hash commits to the sealed event (FORMAT.md); checking the event body against it needs the
 * salted commitments, which a stream does not carry: that is an evidence bundle's job (docs/BUNDLE.md).
 */
import { bytesEqual, fromBase64 } from './bytes.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';
import type { CryptoSuite } from './crypto.js';
import type { NoteVerifier } from './note.js';
import { Frontier, verifyConsistency, verifyInclusion } from './tree.js';

export interface StreamRecordRef {
  ledger: string;
  index: number;
  leafHash: string;
  /** The predecessor named by the record; null at a chain start. */
  previous: number | null;
}

export interface ProofSource {
  inclusion(ledger: string, index: number, size: number): Promise<Uint8Array[]>;
  consistency(ledger: string, from: number, to: number): Promise<Uint8Array[]>;
}

export interface LedgerStreamReport {
  ledger: string;
  records: number;
  /** The same record received again (at-least-once delivery allows it). */
  duplicates: number;
  /** Records with no predecessor: the stream's start, and each replay. */
  chainStarts: number;
  /** Predecessors named by a record but never received (the first 100). */
  missing: number[];
  missingCount: number;
  checkpoints: number;
  /** Records whose inclusion was checked from the receiver's own leaf hashes, and through proofs. */
  provenOffline: number;
  provenByProof: number;
  unproven: number;
  problems: string[];
}

export interface StreamReport {
  ok: boolean;
  ledgers: LedgerStreamReport[];
  /** Lines that were neither a record nor a checkpoint (counted, not fatal). */
  ignoredLines: number;
}

interface Parsed {
  records: StreamRecordRef[];
  checkpoints: Array<{ ledger: string; note: string }>;
  ignored: number;
}

const asIndex = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/** One stored object: a CloudEvent, a file record (JSON or OCSF) or a checkpoint line. */
function readObject(item: unknown, out: Parsed): void {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return void out.ignored++;
  const o = item as Record<string, any>;
  if (o.specversion !== undefined) {
    const index = asIndex(o.sealtrailindex);
    if (typeof o.sealtrailledger !== 'string' || index === undefined || typeof o.sealtrailleafhash !== 'string') return void out.ignored++;
    out.records.push({ ledger: o.sealtrailledger, index, leafHash: o.sealtrailleafhash, previous: asIndex(o.sealtrailprevindex) ?? null });
    if (typeof o.sealtrailcheckpoint === 'string') out.checkpoints.push({ ledger: o.sealtrailledger, note: o.sealtrailcheckpoint });
    return;
  }
  if (o.sealtrail_checkpoint && typeof o.sealtrail_checkpoint.note === 'string' && typeof o.sealtrail_checkpoint.ledger === 'string') {
    out.checkpoints.push({ ledger: o.sealtrail_checkpoint.ledger, note: o.sealtrail_checkpoint.note });
    return;
  }
  const fields = o.unmapped && typeof o.unmapped === 'object' && o.leaf_hash === undefined ? o.unmapped : o;
  const index = asIndex(fields.index);
  if (typeof fields.ledger !== 'string' || index === undefined || typeof fields.leaf_hash !== 'string') return void out.ignored++;
  out.records.push({ ledger: fields.ledger, index, leafHash: fields.leaf_hash, previous: asIndex(fields.previous) ?? null });
}

/** Parses a receiver's lines; blank lines are skipped, unparseable ones counted as ignored. */
export function parseStreamLines(lines: Iterable<string>): Parsed {
  const out: Parsed = { records: [], checkpoints: [], ignored: 0 };
  for (const line of lines) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      out.ignored++;
      continue;
    }
    for (const item of Array.isArray(value) ? value : [value]) readObject(item, out);
  }
  return out;
}

export interface VerifyStreamOptions {
  suite: CryptoSuite;
  verifiers: NoteVerifier[];
  proofs?: ProofSource;
}

export async function verifyStream(parsed: Parsed, options: VerifyStreamOptions): Promise<StreamReport> {
  const ledgers = [...new Set([...parsed.records.map((r) => r.ledger), ...parsed.checkpoints.map((c) => c.ledger)])].sort();
  const reports: LedgerStreamReport[] = [];
  for (const ledger of ledgers) {
    reports.push(
      await verifyLedger(
        ledger,
        parsed.records.filter((r) => r.ledger === ledger),
        parsed.checkpoints.filter((c) => c.ledger === ledger).map((c) => c.note),
        options,
      ),
    );
  }
  return { ok: reports.every((r) => r.problems.length === 0), ledgers: reports, ignoredLines: parsed.ignored };
}

async function verifyLedger(ledger: string, received: StreamRecordRef[], notes: string[], options: VerifyStreamOptions): Promise<LedgerStreamReport> {
  const report: LedgerStreamReport = {
    ledger,
    records: 0,
    duplicates: 0,
    chainStarts: 0,
    missing: [],
    missingCount: 0,
    checkpoints: 0,
    provenOffline: 0,
    provenByProof: 0,
    unproven: 0,
    problems: [],
  };
  const records = new Map<number, StreamRecordRef>();
  for (const record of received) {
    if (!isLeafHash(record.leafHash)) {
      report.problems.push(`index ${record.index}: the leaf hash is not 32 bytes of base64`);
      continue;
    }
    const seen = records.get(record.index);
    if (!seen) {
      records.set(record.index, record);
      continue;
    }
    if (seen.leafHash !== record.leafHash) report.problems.push(`index ${record.index} was received with two different leaf hashes`);
    else report.duplicates++;
  }
  report.records = records.size;
  completeness(records, report);
  const checkpoints = signedCheckpoints(ledger, notes, options, report);
  report.checkpoints = checkpoints.length;
  const offlineSize = await offlineRoots(records, checkpoints, options.suite, report);
  await provenInclusion(ledger, records, checkpoints, offlineSize, options, report);
  await consistentCheckpoints(ledger, checkpoints, offlineSize, options, report);
  return report;
}

function completeness(records: Map<number, StreamRecordRef>, report: LedgerStreamReport): void {
  for (const record of records.values()) {
    if (record.previous === null) {
      report.chainStarts++;
      continue;
    }
    if (record.previous >= record.index) report.problems.push(`index ${record.index} names a later predecessor ${record.previous}`);
    else if (!records.has(record.previous)) {
      report.missingCount++;
      if (report.missing.length < 100) report.missing.push(record.previous);
    }
  }
  report.missing.sort((a, b) => a - b);
  if (report.missingCount > 0) report.problems.push(`${report.missingCount} record(s) missing from the stream, first ${report.missing.slice(0, 10).join(', ')}`);
}

/** The checkpoints whose signatures verify, one per size, sorted by size; forgeries and forks reported. */
function signedCheckpoints(ledger: string, notes: string[], options: VerifyStreamOptions, report: LedgerStreamReport): Checkpoint[] {
  const bySize = new Map<number, Checkpoint>();
  for (const note of new Set(notes)) {
    let checkpoint: Checkpoint;
    try {
      checkpoint = openCheckpoint(options.suite, note, options.verifiers).checkpoint;
    } catch (error) {
      report.problems.push(`a checkpoint does not verify: ${(error as Error).message}`);
      continue;
    }
    if (!checkpoint.origin.endsWith(`/${ledger}`)) {
      report.problems.push(`a checkpoint for ${checkpoint.origin} came with ledger ${ledger}`);
      continue;
    }
    const other = bySize.get(checkpoint.size);
    if (other && !bytesEqual(other.rootHash, checkpoint.rootHash)) report.problems.push(`fork: two signed roots for size ${checkpoint.size}`);
    bySize.set(checkpoint.size, checkpoint);
  }
  return [...bySize.values()].sort((a, b) => a.size - b.size);
}

/**
 * With every leaf hash from 0 on, the tree's roots are recomputed and compared with each checkpoint
 * they reach; returns the largest size so proven (0 when the receiver does not hold index 0).
 */
async function offlineRoots(records: Map<number, StreamRecordRef>, checkpoints: Checkpoint[], suite: CryptoSuite, report: LedgerStreamReport): Promise<number> {
  const frontier = new Frontier();
  let proven = 0;
  let next = 0;
  for (const checkpoint of checkpoints) {
    while (frontier.size < checkpoint.size && records.has(next)) {
      frontier.append(suite, decodeHash(records.get(next)!.leafHash));
      next++;
    }
    if (frontier.size < checkpoint.size) break;
    if (!bytesEqual(frontier.root(suite), checkpoint.rootHash)) {
      report.problems.push(`the leaf hashes received for 0..${checkpoint.size - 1} do not make the signed root of size ${checkpoint.size}: a record was altered`);
      return 0;
    }
    proven = checkpoint.size;
  }
  for (const index of records.keys()) if (index < proven) report.provenOffline++;
  return proven;
}

async function provenInclusion(
  ledger: string,
  records: Map<number, StreamRecordRef>,
  checkpoints: Checkpoint[],
  offlineSize: number,
  options: VerifyStreamOptions,
  report: LedgerStreamReport,
): Promise<void> {
  for (const record of [...records.values()].sort((a, b) => a.index - b.index)) {
    if (record.index < offlineSize) continue;
    const covering = checkpoints.find((c) => c.size > record.index);
    if (!covering) {
      report.unproven++;
      report.problems.push(`index ${record.index}: no signed checkpoint received covers it`);
      continue;
    }
    if (!options.proofs) {
      report.unproven++;
      continue;
    }
    try {
      const proof = await options.proofs.inclusion(ledger, record.index, covering.size);
      verifyInclusion(options.suite, record.index, covering.size, decodeHash(record.leafHash), proof, covering.rootHash);
      report.provenByProof++;
    } catch (error) {
      report.problems.push(`index ${record.index}: not included under the signed checkpoint of size ${covering.size}: ${(error as Error).message}`);
    }
  }
  if (report.unproven > 0 && !options.proofs) {
    report.problems.push(`${report.unproven} record(s) could not be checked offline (the receiver lacks the leaf hashes before them); give --url to fetch inclusion proofs`);
  }
}

async function consistentCheckpoints(ledger: string, checkpoints: Checkpoint[], offlineSize: number, options: VerifyStreamOptions, report: LedgerStreamReport): Promise<void> {
  for (let i = 1; i < checkpoints.length; i++) {
    const older = checkpoints[i - 1]!;
    const newer = checkpoints[i]!;
    // Both roots recomputed from the same leaves: consistent by construction.
    if (newer.size <= offlineSize || older.size === 0) continue;
    if (!options.proofs) {
      report.problems.push(`checkpoints ${older.size} and ${newer.size}: consistency needs a proof (give --url)`);
      continue;
    }
    try {
      const proof = await options.proofs.consistency(ledger, older.size, newer.size);
      verifyConsistency(options.suite, older.size, newer.size, proof, older.rootHash, newer.rootHash);
    } catch (error) {
      report.problems.push(`fork: checkpoints ${older.size} and ${newer.size} are not consistent: ${(error as Error).message}`);
    }
  }
}

function isLeafHash(base64: string): boolean {
  try {
    return fromBase64(base64).length === 32;
  } catch {
    return false;
  }
}

function decodeHash(base64: string): Uint8Array {
  const bytes = fromBase64(base64);
  if (bytes.length !== 32) throw new Error('a leaf hash is 32 bytes');
  return bytes;
}

