/**
 * The integrity evidence of a report (docs/REPORTS.md, "Integrity"), per ledger, in one of three modes:
 *
 * - `full` (the default): every entry of the period is verified, either now or by the server's
 *   integrity monitor (src/store/integrity.ts), whose verification run the report cites. When the
 *   monitor's verified watermark lies beyond the period's first checkpoint, the report re-opens the
 *   watermark's checkpoint (signature, root, stored frontier), re-derives every entry after it up to the
 *   latest checkpoint, and checks an RFC 9162 consistency proof from the watermark's tree to the latest
 *   one, which it includes so that anyone holding the two signed notes can check it offline. Entries
 *   below the watermark are cited, not re-derived: the monitor verified each one when it was appended (or
 *   at a server start) and its sweep re-derives all verified history round after round; a row changed
 *   after that is found by the next sweep round, not by this report. Without a usable watermark (no
 *   monitor in this process, one still catching up below the period, or one that found the ledger
 *   broken) the period's entries are re-derived now, as in `entries`.
 * - `entries`: every entry of the period is re-derived now, from the last signed checkpoint at or before
 *   its first entry to the first one covering its last, citing nothing.
 * - `checkpoints`: only the signatures and roots of the period's checkpoints (fast, for very large
 *   periods), and says so.
 *
 * Everything streams: entries in pieces of 200 (SliceVerifier), checkpoints in pages of sizes, and no
 * list of the period's entries or checkpoints is ever held. Work yields to the event loop every few
 * milliseconds, so a report does not stall the server's other requests.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { bytesEqual, fromBase64, toBase64 } from '../core/bytes.js';
import type { NoteVerifier } from '../core/note.js';
import { planConsistencyProof, verifyConsistency } from '../core/tree.js';
import { IntegrityFailure, SliceVerifier, type LedgerIntegrityStatus, type TreeState } from '../store/integrity.js';
import type { Store, StoredCheckpoint } from '../store/store.js';
import { LoopBudget } from '../platform/event-loop.js';
import type { Citation } from './scope.js';

export type VerificationMode = 'full' | 'entries' | 'checkpoints';
export const VERIFICATION_MODES: readonly VerificationMode[] = ['full', 'entries', 'checkpoints'];

export interface CheckpointReference {
  size: number;
  root: string;
  note: string;
}

/** The integrity monitor's verification run a `full` report relies on for the entries below its watermark. */
export interface MonitorCitation {
  by: 'integrity-monitor';
  /** Entries [0, verified_size) were verified by the monitor; this report did not re-derive them. */
  verified_size: number;
  /** The signed checkpoint of that size: the tree the monitor's verification reproduced (re-opened now). */
  checkpoint: CheckpointReference;
  /** When the monitor's verification reached that size. */
  verified_at: string | null;
  /** The MAC-bound watermark this server process started from: entries below it were verified by an earlier process. */
  resumed_from: number | null;
  /** The monitor's re-derivation of already verified history: complete rounds in this process, and the last one. */
  sweep: { rounds: number; last_round: { size: number; started_at: string; ended_at: string } | null };
  statement: string;
}

export interface ConsistencyEvidence {
  /** RFC 9162 §2.1.4 proof that the tree of `to` entries extends the tree of `from` entries. */
  from: number;
  to: number;
  /** The proof's hashes, base64; empty when the sizes are equal. */
  proof: string[];
  /** The signed checkpoint of size `to`. */
  to_checkpoint: CheckpointReference;
}

export interface IntegrityEvidence {
  ledger: string;
  mode: VerificationMode;
  result: 'verified' | 'failed' | 'no-events';
  /** Entries [from, to) this report re-derived from their rows now (full and entries modes). */
  entries?: { from: number; to: number };
  /** The period's signed checkpoints: from the first covering its first entry to the first covering its last. */
  checkpoints?: { count: number; first: CheckpointReference; last: CheckpointReference };
  /** `full` mode with a usable watermark: what was cited rather than verified now. */
  cited?: MonitorCitation;
  /** `full` mode with a usable watermark: the proof linking the cited tree to the latest one, checked now. */
  consistency?: ConsistencyEvidence;
  /** What this report verified now, in words, step by step. */
  verified_now?: string[];
  reason?: string;
  /** The running server's background verification of this ledger when the report was made. */
  monitor?: LedgerIntegrityStatus;
}

export interface IntegrityContext {
  store: Store;
  suite: CryptoSuite;
  verifier: NoteVerifier;
  mode: VerificationMode;
  monitor?: (ledger: string) => LedgerIntegrityStatus | undefined;
  /** Longest the work holds the event loop before it yields (ms); BACKGROUND_SLICE_MS by default. */
  yieldEveryMs?: number;
}

/** Entries per slice of re-derivation (a slice ends at a checkpoint); memory per slice is a few MB. */
const SLICE = 20_000;
/** Checkpoint sizes read per page when counting or opening the period's checkpoints. */
const CHECKPOINT_PAGE = 8192;

/** Verifies the entries the citation spans (its index range), with the checkpoints around them. */
export async function verifyPeriod(context: IntegrityContext, citation: Citation): Promise<IntegrityEvidence> {
  const { ledger } = citation;
  const monitor = context.monitor?.(ledger);
  const base = { ledger, mode: context.mode, ...(monitor ? { monitor } : {}) };
  if (!citation.indexes) return { ...base, result: 'no-events' };
  const [first, last] = citation.indexes;
  const steps: string[] = [];
  try {
    let covered: Omit<IntegrityEvidence, 'ledger' | 'mode' | 'result'>;
    if (context.mode === 'checkpoints') covered = await verifySignatures(context, ledger, first, last, steps);
    else {
      const start = (await checkpointAtOrBefore(context.store, ledger, first))?.size ?? 0;
      const usable = context.mode === 'full' ? usableWatermark(monitor, start, steps) : undefined;
      covered = usable ? await citeMonitor(context, ledger, first, last, usable, steps) : await verifyEntries(context, ledger, start, first, last, steps);
    }
    return { ...base, result: 'verified', ...covered, verified_now: steps };
  } catch (error) {
    if (!(error instanceof IntegrityFailure)) throw error;
    return { ...base, result: 'failed', reason: error.message, verified_now: steps };
  }
}

/** The monitor's watermark when it lies beyond the period's first checkpoint and the ledger is not broken. */
function usableWatermark(monitor: LedgerIntegrityStatus | undefined, start: number, steps: string[]): LedgerIntegrityStatus | undefined {
  if (!monitor) {
    steps.push('No integrity monitor runs in this process: nothing is cited, every entry of the period is re-derived now.');
    return undefined;
  }
  if (monitor.state === 'broken') {
    steps.push(`The integrity monitor found this ledger broken (${monitor.reason ?? 'no reason recorded'}): nothing is cited, the period is re-derived now.`);
    return undefined;
  }
  if (!monitor.verifiedRoot || monitor.verifiedSize <= start) {
    steps.push(`The integrity monitor had verified up to size ${monitor.verifiedSize}, not beyond the period's first checkpoint (size ${start}): nothing is cited, the period is re-derived now.`);
    return undefined;
  }
  return monitor;
}

async function citeMonitor(context: IntegrityContext, ledger: string, first: number, last: number, monitor: LedgerIntegrityStatus, steps: string[]) {
  const { store, suite } = context;
  const verifier = sliceVerifier(context);
  const size = monitor.verifiedSize;
  // Re-opened now: its signature, its root against the monitor's, and the stored frontier the tail starts from.
  let state: TreeState = await verifier.stateAt(ledger, size, fromBase64(monitor.verifiedRoot!));
  const [watermarkRow] = await store.checkpoints(ledger, size, size);
  steps.push(`Re-opened the checkpoint of size ${size} (the monitor's watermark) under the deployment's key: its signed root is the one the monitor verified, and its stored frontier hashes to it.`);
  const head = await store.latestCheckpoint(ledger);
  if (!head || head.size < size) throw new IntegrityFailure(ledger, `the store ends at size ${head?.size ?? 0}, below the watermark ${size} the monitor verified: the store was rolled back`);
  state = await verifyTail(context, verifier, ledger, state, head.size);
  if (state.size > size) steps.push(`Re-derived entries ${size}..${state.size - 1} (after the watermark) from their rows against their leaves, every checkpoint among them and the tree hashes they completed.`);
  else steps.push('No entries lie beyond the watermark: the monitor had verified up to the latest checkpoint.');
  const headRoot = openRoot(context, ledger, head);
  let proof: Uint8Array[] = [];
  if (head.size > size) {
    const plan = planConsistencyProof(suite, size, head.size);
    proof = plan.finish(await store.readHashes(ledger, plan.reads));
    try {
      verifyConsistency(suite, size, head.size, proof, watermarkRow!.rootHash, headRoot);
    } catch (cause) {
      throw new IntegrityFailure(ledger, `the stored tree does not prove the checkpoint of size ${head.size} consistent with the watermark's of size ${size}: ${(cause as Error).message}`);
    }
    steps.push(`Checked an RFC 9162 consistency proof (${proof.length} hashes, in \`consistency\`) from size ${size} to the latest checkpoint, size ${head.size}, against both signed roots.`);
  }
  const checkpoints = await periodCheckpoints(context, ledger, first, last, false);
  steps.push(`Counted the period's ${checkpoints.count} stored checkpoints and re-opened the first and the last; the others' signatures were checked by the monitor.`);
  const lastRound = monitor.sweep.lastRound;
  const covers = size > last;
  const cited: MonitorCitation = {
    by: 'integrity-monitor',
    verified_size: size,
    checkpoint: reference(watermarkRow!),
    verified_at: monitor.verifiedAt ?? null,
    resumed_from: monitor.resumedFrom ?? null,
    sweep: { rounds: monitor.sweep.rounds, last_round: lastRound ? { size: lastRound.size, started_at: lastRound.startedAt, ended_at: lastRound.endedAt } : null },
    statement:
      `Entries 0..${size - 1}${covers ? ', which include the whole period,' : ''} were verified by this server's integrity monitor against the signed checkpoint of size ${size}` +
      `${monitor.verifiedAt ? ` (reached ${monitor.verifiedAt})` : ''}; this report did not re-derive them. ` +
      (lastRound
        ? `The monitor's last complete sweep re-derived entries 0..${lastRound.size - 1} again between ${lastRound.startedAt} and ${lastRound.endedAt}. `
        : 'No sweep round over already verified history has completed in this server process yet. ') +
      'A row changed after the monitor verified it is found by its next sweep round, not by this report; use verify=entries to re-derive the period now.',
  };
  return {
    entries: { from: size, to: state.size },
    checkpoints,
    cited,
    consistency: { from: size, to: head.size, proof: proof.map(toBase64), to_checkpoint: reference(head) },
  };
}

/** Re-derives from `state` to `headSize`, one slice at a time. */
async function verifyTail(context: IntegrityContext, verifier: SliceVerifier, ledger: string, state: TreeState, headSize: number): Promise<TreeState> {
  while (state.size < headSize) {
    const next = await verifier.verifySlice(ledger, state, headSize, SLICE);
    if (next.size === state.size) throw new IntegrityFailure(ledger, `no checkpoint is stored between sizes ${state.size} and ${headSize}`);
    state = next;
  }
  return state;
}

async function verifyEntries(context: IntegrityContext, ledger: string, start: number, first: number, last: number, steps: string[]) {
  const verifier = sliceVerifier(context);
  let state: TreeState = await verifier.stateAt(ledger, start);
  const head = (await context.store.latestCheckpoint(ledger))?.size ?? 0;
  if (start > 0) steps.push(`Opened the checkpoint of size ${start}, the last at or before the period's first entry, and took its stored frontier once it hashed to the signed root.`);
  while (state.size <= last) {
    const next = await verifier.verifySlice(ledger, state, head, SLICE);
    if (next.size === state.size) throw new IntegrityFailure(ledger, `no checkpoint covers entry ${last}`);
    state = next;
  }
  steps.push(`Re-derived entries ${start}..${state.size - 1} from their rows against their leaves, every checkpoint among them (signature, root, frontier) and the tree hashes they completed.`);
  // The slices opened every checkpoint they crossed; the summary only names them.
  return { entries: { from: start, to: state.size }, checkpoints: await periodCheckpoints(context, ledger, first, last, false) };
}

async function verifySignatures(context: IntegrityContext, ledger: string, first: number, last: number, steps: string[]) {
  const checkpoints = await periodCheckpoints(context, ledger, first, last, true);
  steps.push(`Opened the signatures of the period's ${checkpoints.count} stored checkpoints; no entry was re-derived.`);
  return { checkpoints };
}

/**
 * The stored checkpoints from the first covering entry `first` (the one after the last at or before it)
 * to the first covering entry `last`,
 * read a page of sizes at a time, counted, and each opened under the deployment's key when `openAll`
 * (the first and the last always are).
 */
async function periodCheckpoints(context: IntegrityContext, ledger: string, first: number, last: number, openAll: boolean) {
  const { store } = context;
  const startRow = await checkpointAtOrBefore(store, ledger, first);
  const end = await checkpointAfter(store, ledger, last);
  if (!end) throw new IntegrityFailure(ledger, `no stored checkpoint covers entry ${last}`);
  const from = startRow?.size ?? 0;
  const budget = new LoopBudget(context.yieldEveryMs);
  let count = 0;
  let firstRow: StoredCheckpoint | undefined;
  let lastRow: StoredCheckpoint | undefined;
  for (let low = from + 1; low <= end.size; low += CHECKPOINT_PAGE) {
    const rows = await store.checkpoints(ledger, low, Math.min(end.size, low + CHECKPOINT_PAGE - 1));
    for (const row of rows) {
      if (openAll) openRoot(context, ledger, row);
      firstRow ??= row;
      lastRow = row;
      count++;
      if (budget.spent) await budget.yield();
    }
    await budget.yield();
  }
  if (!firstRow || !lastRow) throw new IntegrityFailure(ledger, `no stored checkpoint between sizes ${from} and ${end.size}`);
  if (!openAll) {
    openRoot(context, ledger, firstRow);
    openRoot(context, ledger, lastRow);
  }
  return { count, first: reference(firstRow), last: reference(lastRow) };
}

function sliceVerifier(context: IntegrityContext): SliceVerifier {
  return new SliceVerifier(context.store, {
    suite: context.suite,
    verifier: context.verifier,
    keyName: context.verifier.name,
    ...(context.yieldEveryMs !== undefined ? { yieldEveryMs: context.yieldEveryMs } : {}),
  });
}

/** Opens a checkpoint row under the deployment's key; returns its signed root. */
function openRoot(context: IntegrityContext, ledger: string, row: StoredCheckpoint): Uint8Array {
  try {
    const { checkpoint } = openCheckpoint(context.suite, row.note, [context.verifier], `${context.verifier.name}/${ledger}`);
    if (checkpoint.size !== row.size) throw new Error(`it is signed for size ${checkpoint.size}`);
    if (!bytesEqual(checkpoint.rootHash, row.rootHash)) throw new Error('its root column differs from the signed root');
    return checkpoint.rootHash;
  } catch (cause) {
    throw new IntegrityFailure(ledger, `the checkpoint of size ${row.size} does not verify: ${(cause as Error).message}`);
  }
}

export const reference = (row: StoredCheckpoint): CheckpointReference => ({ size: row.size, root: toBase64(row.rootHash), note: row.note });

/** The stored checkpoint of the largest size ≤ `size` (undefined: none, start from the empty tree). */
async function checkpointAtOrBefore(store: Store, ledger: string, size: number): Promise<StoredCheckpoint | undefined> {
  for (let window = 4096; ; window *= 8) {
    const low = Math.max(1, size - window);
    const rows = await store.checkpoints(ledger, low, size);
    if (rows.length > 0) return rows.at(-1);
    if (low === 1) return undefined;
  }
}

/** The stored checkpoint of the smallest size > `index`: the first tree that holds the entry. */
export async function checkpointAfter(store: Store, ledger: string, index: number): Promise<StoredCheckpoint | undefined> {
  const head = await store.latestCheckpoint(ledger);
  if (!head || head.size <= index) return undefined;
  for (let window = 4096; ; window *= 8) {
    const high = Math.min(head.size, index + 1 + window);
    const rows = await store.checkpoints(ledger, index + 1, high);
    if (rows.length > 0) return rows[0];
    if (high === head.size) return head;
  }
}
