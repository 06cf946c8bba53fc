/**
 * Runs verification off the render path and fetches the evidence rows lack.
 *
 * - Verification goes to one Web Worker (worker.ts, bundled by Vite as a file of its own, so the CSP's
 *   `script-src 'self'` covers it). Where a worker cannot start, the same engine runs on the page in
 *   slices of a few entries, each in its own task, so the page stays responsive.
 * - Evidence for rows without proofs (multi-ledger search, timelines) is fetched with one search per
 *   ledger and up to 100 indexes (`index:3,17,42` with `proofs=1`: the leaf, its openings, the inclusion
 *   proof and the checkpoint in one answer, narrowed to the key's tenants by the server), at most
 *   FETCH_CONCURRENCY requests at a time, and kept per (ledger, index) for the page's life.
 */
import { api } from '../api.js';
import { verifyRequest, type EntryOutcome, type EvidenceInput, type VerifyRequest } from './engine.js';
import type { WorkerRequest, WorkerResponse } from './worker.js';

const SLICE = 8;
const FETCH_CONCURRENCY = 3;
/** Indexes per evidence request: the query language's bound on index values, and proofs=1's limit. */
export const FETCH_BATCH = 100;
const EVIDENCE_CACHE_LIMIT = 5_000;

// ---------- the worker, or slices on the page ----------

let worker: Worker | null | undefined;
let nextId = 1;
const waiting = new Map<number, { request: VerifyRequest; resolve(outcomes: EntryOutcome[]): void; reject(error: Error): void }>();

function startWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'sealtrail-verify' });
  } catch {
    worker = null;
    return worker;
  }
  worker.onmessage = (event: MessageEvent<WorkerResponse>) => {
    const job = waiting.get(event.data.id);
    if (!job) return;
    waiting.delete(event.data.id);
    if ('error' in event.data) job.reject(new Error(event.data.error));
    else job.resolve(event.data.outcomes);
  };
  worker.onerror = (event) => {
    // The worker could not load or crashed: what it had is done on the page instead, and so is the rest.
    event.preventDefault();
    worker?.terminate();
    worker = null;
    const jobs = [...waiting.values()];
    waiting.clear();
    for (const job of jobs) inPage(job.request).then(job.resolve, job.reject);
  };
  return worker;
}

const nextTask = () =>
  new Promise<void>((resolve) => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(() => resolve(), { timeout: 50 });
    else setTimeout(resolve, 0);
  });

async function inPage(request: VerifyRequest): Promise<EntryOutcome[]> {
  const outcomes: EntryOutcome[] = [];
  for (let at = 0; at < request.entries.length; at += SLICE) {
    await nextTask();
    outcomes.push(...verifyRequest({ ...request, entries: request.entries.slice(at, at + SLICE) }));
  }
  return outcomes;
}

/** Verifies one checkpoint's entries, in the worker when there is one. */
export function runVerification(request: VerifyRequest): Promise<EntryOutcome[]> {
  const running = startWorker();
  if (!running) return inPage(request);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { request, resolve, reject });
    running.postMessage({ id, request } satisfies WorkerRequest);
  });
}

// ---------- evidence for rows that came without proofs ----------

/** A search result with proofs (GET /v1/ledgers/{l}/events?proofs=1). */
export interface ProvenAnswer {
  ledger: string;
  index: number;
  received_at: string;
  leaf_hash: string;
  event: Record<string, unknown>;
  leaf: string;
  disclosures: EvidenceInput['disclosures'];
  proof: { size: number; hashes: string[] };
}

export interface Evidence {
  result: ProvenAnswer;
  checkpoint: string;
}

const evidenceCache = new Map<string, Promise<Evidence | undefined>>();

let active = 0;
const queue: Array<() => void> = [];
async function limited<T>(run: () => Promise<T>): Promise<T> {
  if (active >= FETCH_CONCURRENCY) await new Promise<void>((resolve) => queue.push(resolve));
  active++;
  try {
    return await run();
  } finally {
    active--;
    queue.shift()?.();
  }
}

async function fetchBatch(ledger: string, indexes: number[]): Promise<Map<number, Evidence>> {
  const answer = await limited(() =>
    api<{ events: ProvenAnswer[]; checkpoint?: string | null }>(`/ledgers/${encodeURIComponent(ledger)}/events`, {
      query: { q: `index:${indexes.join(',')}`, proofs: 1, limit: indexes.length, order: 'asc' },
    }),
  );
  const found = new Map<number, Evidence>();
  if (!answer.checkpoint) return found;
  for (const result of answer.events) {
    if (result.ledger === ledger && result.leaf && result.proof) found.set(result.index, { result, checkpoint: answer.checkpoint });
  }
  return found;
}

/**
 * The evidence of each (ledger, index), fetched in batches and cached. An index the server does not
 * return (not visible to this key, or gone) resolves to undefined; a failed request rejects its rows.
 */
export function evidenceFor(rows: Array<{ ledger: string; index: number }>): Map<string, Promise<Evidence | undefined>> {
  const out = new Map<string, Promise<Evidence | undefined>>();
  const missing = new Map<string, number[]>();
  for (const { ledger, index } of rows) {
    const key = `${ledger}:${index}`;
    const cached = evidenceCache.get(key);
    if (cached) out.set(key, cached);
    else if (!out.has(key)) {
      out.set(key, undefined as never);
      missing.set(ledger, [...(missing.get(ledger) ?? []), index]);
    }
  }
  for (const [ledger, indexes] of missing) {
    for (let at = 0; at < indexes.length; at += FETCH_BATCH) {
      const batch = indexes.slice(at, at + FETCH_BATCH);
      const fetched = fetchBatch(ledger, batch);
      for (const index of batch) {
        const key = `${ledger}:${index}`;
        const promise = fetched.then((found) => found.get(index));
        // A failed request is not remembered: the next look asks again.
        promise.catch(() => evidenceCache.delete(key));
        evidenceCache.set(key, promise);
        out.set(key, promise);
      }
    }
  }
  while (evidenceCache.size > EVIDENCE_CACHE_LIMIT) evidenceCache.delete(evidenceCache.keys().next().value!);
  return out;
}
