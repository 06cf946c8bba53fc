/**
 * Browser verification of the rows a page shows. Pages pass the search results they show (with
 * `proofs=1` when they have them, else the hook fetches the evidence) and render <VerificationBadge>
 * per row. A row reads `verified` only when its leaf, its inclusion proof and every shown value checked
 * out, in this browser, against a checkpoint signed by the pinned verifier key; otherwise it says what
 * failed (the core's own message: which entry, which part, which field) or why nothing was checked.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { evidenceFor, runVerification, type Evidence } from './client.js';
import { checkpointStanding, useConsistency } from './consistency.js';
import type { EntryOutcome, EvidenceInput, VerifiedSummary } from './engine.js';
import { usePinState, verifyingKey } from './pin.js';
import './verify.css';

export type RowState =
  | { status: 'checking' }
  | {
      status: 'verified';
      checkpointSize: number;
      /** The verified checkpoint's root (base64), checked against what this browser remembers of the ledger. */
      checkpointRoot?: string;
      /** What the verified leaf and disclosures say: the event as disclosed, the fields withheld, the writer. */
      entry?: VerifiedSummary;
    }
  | {
      status: 'failed';
      reason: string;
      /** The part that failed: checkpoint, leaf, inclusion proof, disclosure, shown values. */
      part?: string;
      /** For a disclosure: the field path whose opening does not match its commitment. */
      field?: string;
    }
  | { status: 'unverifiable'; reason: string };

/** A search result as the API answers it (GET /v1/ledgers/{ledger}/events?proofs=1). */
export interface ProvenResult {
  ledger: string;
  index: number;
  leaf_hash: string;
  leaf?: string;
  disclosures?: Record<string, unknown[]>;
  proof?: { size: number; hashes: string[] };
  /** The server's values, compared with the verified ones when given. */
  received_at?: string;
  event?: Record<string, unknown>;
}

export const rowKey = (ledger: string, index: number) => `${ledger}:${index}`;

/** Verified outcomes for the page's life, by the key, the row, its leaf hash and the checkpoint size. */
const outcomes = new Map<string, RowState>();
const OUTCOME_LIMIT = 20_000;
const GROUP = 25;

function remember(key: string, state: RowState): void {
  outcomes.set(key, state);
  if (outcomes.size > OUTCOME_LIMIT) outcomes.delete(outcomes.keys().next().value!);
}

const hasProof = (r: ProvenResult): r is ProvenResult & Required<Pick<ProvenResult, 'leaf' | 'disclosures' | 'proof'>> =>
  typeof r.leaf === 'string' && r.disclosures !== undefined && r.proof !== undefined;

function evidenceInput(r: ProvenResult, leaf: string, disclosures: Record<string, unknown[]>, proof: string[]): EvidenceInput {
  return {
    ledger: r.ledger,
    index: r.index,
    leaf,
    disclosures: disclosures as EvidenceInput['disclosures'],
    proof,
    shown: { leafHash: r.leaf_hash, ...(r.received_at !== undefined ? { receivedAt: r.received_at } : {}), ...(r.event !== undefined ? { event: r.event } : {}) },
  };
}

function stateOf(outcome: EntryOutcome): RowState {
  if (outcome.status === 'verified') return { status: 'verified', checkpointSize: outcome.checkpointSize, checkpointRoot: outcome.checkpointRoot, entry: outcome.entry };
  return { status: 'failed', reason: outcome.reason, part: outcome.part, ...(outcome.field ? { field: outcome.field } : {}) };
}

const cacheKey = (verifierKey: string, r: ProvenResult, size: number | 'fetched') => `${verifierKey}|${rowKey(r.ledger, r.index)}|${r.leaf_hash}|${size}`;

/**
 * The verification state of each row, keyed by rowKey(ledger, index). `checkpoints` maps a ledger to the
 * signed note its results' proofs were made against (the search answer's `checkpoint`). Rows without
 * proofs (or whose ledger has no checkpoint here) are fetched in batches. Only the pinned verifier key
 * is used, and nothing is verified while the server presents another.
 */
export function useRowVerification(results: ProvenResult[], checkpoints: Record<string, string | null>): Map<string, RowState> {
  const pin = usePinState();
  const verifying = verifyingKey(pin);
  const verifierKey = 'key' in verifying ? verifying.key : undefined;
  const [, setVersion] = useState(0);
  useConsistency();
  const local = useRef(new Map<string, RowState>());
  const resultsRef = useRef(results);
  resultsRef.current = results;
  const checkpointsRef = useRef(checkpoints);
  checkpointsRef.current = checkpoints;

  // What the effect depends on, as text: pages may pass new arrays of the same rows on every render.
  const signature = results.map((r) => `${rowKey(r.ledger, r.index)}|${r.leaf_hash}|${r.proof?.size ?? '-'}`).join('\n');
  const checkpointSignature = Object.entries(checkpoints).map(([l, note]) => `${l}=${note ?? ''}`).sort().join('\n');

  useEffect(() => {
    if (!verifierKey) return;
    let cancelled = false;
    const rows = resultsRef.current;
    const notes = checkpointsRef.current;
    const settle = (key: string, state: RowState, cache: string | undefined) => {
      if (cache && state.status !== 'checking') remember(cache, state);
      if (cancelled) return;
      local.current.set(key, state);
      setVersion((v) => v + 1);
    };

    // Rows that came with proofs, grouped by the checkpoint they were proved against.
    const byCheckpoint = new Map<string, Array<{ row: ProvenResult; input: EvidenceInput }>>();
    const toFetch: ProvenResult[] = [];
    for (const row of rows) {
      const note = notes[row.ledger];
      if (hasProof(row) && note) {
        if (outcomes.has(cacheKey(verifierKey, row, row.proof.size))) continue;
        const group = byCheckpoint.get(note) ?? [];
        group.push({ row, input: evidenceInput(row, row.leaf, row.disclosures, row.proof.hashes) });
        byCheckpoint.set(note, group);
      } else if (!outcomes.has(cacheKey(verifierKey, row, 'fetched'))) toFetch.push(row);
    }
    const verifyGroup = (note: string, group: Array<{ row: ProvenResult; input: EvidenceInput; cache: string }>) => {
      for (let at = 0; at < group.length; at += GROUP) {
        const slice = group.slice(at, at + GROUP);
        runVerification({ verifierKey, checkpoint: note, entries: slice.map((g) => g.input) }).then(
          (answers) => answers.forEach((answer, i) => settle(rowKey(slice[i]!.row.ledger, slice[i]!.row.index), stateOf(answer), slice[i]!.cache)),
          (error: unknown) => slice.forEach((g) => settle(rowKey(g.row.ledger, g.row.index), { status: 'unverifiable', reason: `verification could not run: ${String(error)}` }, undefined)),
        );
      }
    };
    for (const [note, group] of byCheckpoint) verifyGroup(note, group.map((g) => ({ ...g, cache: cacheKey(verifierKey, g.row, g.row.proof!.size) })));

    if (toFetch.length > 0) {
      const fetched = evidenceFor(toFetch);
      void Promise.all(
        toFetch.map(async (row) => {
          const key = rowKey(row.ledger, row.index);
          try {
            return { row, evidence: await fetched.get(key)! };
          } catch (error) {
            settle(key, { status: 'unverifiable', reason: `its proof could not be fetched: ${error instanceof Error ? error.message : String(error)}` }, undefined);
            return undefined;
          }
        }),
      ).then((answers) => {
        const groups = new Map<string, Array<{ row: ProvenResult; input: EvidenceInput; cache: string }>>();
        for (const answer of answers) {
          if (!answer) continue;
          const { row, evidence } = answer as { row: ProvenResult; evidence: Evidence | undefined };
          if (!evidence) {
            settle(rowKey(row.ledger, row.index), { status: 'unverifiable', reason: 'the server returned no proof for this entry' }, undefined);
            continue;
          }
          // The fetched leaf and openings are checked, and so are the values this row shows.
          const input = evidenceInput(row, evidence.result.leaf, evidence.result.disclosures, evidence.result.proof.hashes);
          if (row.received_at === undefined) input.shown.receivedAt = evidence.result.received_at;
          const group = groups.get(evidence.checkpoint) ?? [];
          group.push({ row, input, cache: cacheKey(verifierKey, row, 'fetched') });
          groups.set(evidence.checkpoint, group);
        }
        if (!cancelled) for (const [note, group] of groups) verifyGroup(note, group);
      });
    }
    return () => {
      cancelled = true;
    };
  }, [signature, checkpointSignature, verifierKey]);

  const states = new Map<string, RowState>();
  for (const row of results) {
    const key = rowKey(row.ledger, row.index);
    if ('pending' in verifying) states.set(key, { status: 'checking' });
    else if ('reason' in verifying) states.set(key, { status: 'unverifiable', reason: verifying.reason });
    else {
      const note = checkpoints[row.ledger];
      const cache = cacheKey(verifying.key, row, hasProof(row) && note ? row.proof.size : 'fetched');
      states.set(key, withConsistency(verifying.key, row.ledger, outcomes.get(cache) ?? localFor(local.current, key, cache) ?? { status: 'checking' }));
    }
  }
  return states;
}

/**
 * A verified row stays `verified` only while its checkpoint agrees with the one this browser remembers
 * for the ledger (consistency.ts): one look-up per row, one check per new checkpoint.
 */
function withConsistency(verifierKey: string, ledger: string, state: RowState): RowState {
  if (state.status !== 'verified' || state.checkpointRoot === undefined) return state;
  const standing = checkpointStanding(verifierKey, ledger, state.checkpointSize, state.checkpointRoot);
  switch (standing.status) {
    case 'consistent':
      return state;
    case 'pending':
      return { status: 'checking' };
    case 'inconsistent':
      return { status: 'failed', reason: standing.reason, part: 'checkpoint' };
    case 'unknown':
      return { status: 'unverifiable', reason: standing.reason };
  }
}

/** A state settled in this hook but not cached (an error of fetching), while it still applies. */
function localFor(local: Map<string, RowState>, key: string, _cache: string): RowState | undefined {
  const state = local.get(key);
  return state && state.status === 'unverifiable' ? state : undefined;
}

/** The row's state as text: `verified`, `failed: <what failed>`, `not verified: <why>`, or `checking…`. */
export function VerificationBadge({ state }: { state: RowState | undefined }) {
  if (!state || state.status === 'checking') return <span class="verify-badge state-pending">checking…</span>;
  if (state.status === 'verified') {
    return (
      <span class="verify-badge state-verified" title={`the leaf, its inclusion proof and every shown value checked out in this browser against the checkpoint of size ${state.checkpointSize}, signed by the pinned key and consistent with the checkpoints this browser verified before`}>
        verified
      </span>
    );
  }
  if (state.status === 'failed') return <span class="verify-badge state-failed">failed: {state.reason}</span>;
  return <span class="verify-badge state-pending" title={state.reason}>not verified: {state.reason}</span>;
}
