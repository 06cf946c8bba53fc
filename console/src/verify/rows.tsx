/**
 * Contract between the pages and browser verification (to be implemented by the verification work;
 * this first version only reports that nothing was checked). Pages pass the search results they show
 * (with `proofs=1` when they have them) and render <VerificationBadge> per row.
 */

export type RowState =
  | { status: 'checking' }
  | { status: 'verified'; checkpointSize: number }
  | { status: 'failed'; reason: string }
  | { status: 'unverifiable'; reason: string };

/** A search result as the API answers it (GET /v1/ledgers/{ledger}/events?proofs=1). */
export interface ProvenResult {
  ledger: string;
  index: number;
  leaf_hash: string;
  leaf?: string;
  disclosures?: Record<string, unknown[]>;
  proof?: { size: number; hashes: string[] };
}

export const rowKey = (ledger: string, index: number) => `${ledger}:${index}`;

/**
 * The verification state of each row, keyed by rowKey(ledger, index). `checkpoints` maps a ledger to the
 * signed note its results' proofs were made against (the search answer's `checkpoint`).
 */
export function useRowVerification(results: ProvenResult[], _checkpoints: Record<string, string | null>): Map<string, RowState> {
  return new Map(results.map((r) => [rowKey(r.ledger, r.index), { status: 'unverifiable', reason: 'browser verification is not built yet' } as RowState]));
}

export function VerificationBadge({ state }: { state: RowState | undefined }) {
  if (!state || state.status === 'checking') return <span class="state-pending">checking…</span>;
  if (state.status === 'verified') return <span class="state-verified" title={`inclusion proof checked against the signed checkpoint of size ${state.checkpointSize}`}>verified</span>;
  if (state.status === 'failed') return <span class="state-failed">failed: {state.reason}</span>;
  return <span class="state-pending" title={state.reason}>not verified: {state.reason}</span>;
}
