/**
 * The integrity evidence of a report: a verification run over the period's part of each ledger, done
 * by the running server's own slice verifier (src/store/integrity.ts) from the last signed checkpoint
 * before the period to the first one after it, so the run covers every entry of the period, every
 * checkpoint signed in it and the tree hashes they completed. `checkpoints` mode checks only the
 * signatures and roots of those checkpoints (fast, for very large periods) and says so.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import type { CryptoSuite } from '../core/crypto.js';
import { toBase64 } from '../core/bytes.js';
import type { NoteVerifier } from '../core/note.js';
import { IntegrityFailure, SliceVerifier, type LedgerIntegrityStatus, type TreeState } from '../store/integrity.js';
import type { Store, StoredCheckpoint } from '../store/store.js';
import type { Citation } from './scope.js';

export type VerificationMode = 'full' | 'checkpoints';
export const VERIFICATION_MODES: readonly VerificationMode[] = ['full', 'checkpoints'];

export interface CheckpointReference {
  size: number;
  root: string;
  note: string;
}

export interface IntegrityEvidence {
  ledger: string;
  mode: VerificationMode;
  result: 'verified' | 'failed' | 'no-events';
  /** Entries [from, to) the run re-derived from their rows (full mode). */
  entries?: { from: number; to: number };
  checkpoints?: { count: number; first: CheckpointReference; last: CheckpointReference };
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
}

const SLICE = 20_000;

/** Verifies the entries the citation spans (its index range), with the checkpoints around them. */
export async function verifyPeriod(context: IntegrityContext, citation: Citation): Promise<IntegrityEvidence> {
  const { ledger } = citation;
  const monitor = context.monitor?.(ledger);
  const base = { ledger, mode: context.mode, ...(monitor ? { monitor } : {}) };
  if (!citation.indexes) return { ...base, result: 'no-events' };
  const [first, last] = citation.indexes;
  try {
    const covered = context.mode === 'full' ? await verifyEntries(context, ledger, first, last) : await verifySignatures(context, ledger, first, last);
    return { ...base, result: 'verified', ...covered };
  } catch (error) {
    if (!(error instanceof IntegrityFailure)) throw error;
    return { ...base, result: 'failed', reason: error.message };
  }
}

async function verifyEntries(context: IntegrityContext, ledger: string, first: number, last: number) {
  const verifier = new SliceVerifier(context.store, { suite: context.suite, verifier: context.verifier, keyName: context.verifier.name });
  const startRow = await checkpointAtOrBefore(context.store, ledger, first);
  let state: TreeState = await verifier.stateAt(ledger, startRow?.size ?? 0);
  const head = (await context.store.latestCheckpoint(ledger))?.size ?? 0;
  const from = state.size;
  while (state.size <= last) {
    const next = await verifier.verifySlice(ledger, state, head, SLICE);
    if (next.size === state.size) throw new IntegrityFailure(ledger, `no checkpoint covers entry ${last}`);
    state = next;
  }
  // The slices opened every checkpoint they crossed; the summary only names them.
  return { entries: { from, to: state.size }, checkpoints: await checkpointSummary(context, ledger, from, state.size, false) };
}

async function verifySignatures(context: IntegrityContext, ledger: string, first: number, last: number) {
  const startRow = await checkpointAtOrBefore(context.store, ledger, first);
  const end = await checkpointAfter(context.store, ledger, last);
  if (!end) throw new IntegrityFailure(ledger, `no stored checkpoint covers entry ${last}`);
  return { checkpoints: await checkpointSummary(context, ledger, startRow?.size ?? 0, end.size, true) };
}

/** The stored checkpoints with from < size ≤ to, each opened under the deployment's key when `open`. */
async function checkpointSummary(context: IntegrityContext, ledger: string, from: number, to: number, open: boolean) {
  const rows = await context.store.checkpoints(ledger, from + 1, to);
  if (rows.length === 0) throw new IntegrityFailure(ledger, `no stored checkpoint between sizes ${from} and ${to}`);
  if (open) for (const row of rows) openSigned(context, ledger, row);
  return { count: rows.length, first: reference(rows[0]!), last: reference(rows.at(-1)!) };
}

function openSigned(context: IntegrityContext, ledger: string, row: StoredCheckpoint): void {
  try {
    const { checkpoint } = openCheckpoint(context.suite, row.note, [context.verifier], `${context.verifier.name}/${ledger}`);
    if (checkpoint.size !== row.size) throw new Error(`it is signed for size ${checkpoint.size}`);
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
