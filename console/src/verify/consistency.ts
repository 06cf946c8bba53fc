/**
 * Consistency between visits: per server origin, per pinned verifier key and per ledger, this browser
 * remembers in localStorage the largest checkpoint it verified (size, root hash). Every checkpoint a row
 * is verified against (its signature already checked by the pinned key) must agree with it:
 *
 * - the same size: the same root;
 * - larger: an RFC 9162 consistency proof from the remembered size to the new one, verified with the
 *   core against both roots (GET /v1/ledgers/{l}/proof/consistency?from=R&to=N); then it is remembered;
 * - smaller (a bundle, an old page): a proof from its size to the remembered one, against both roots.
 *
 * A failure means the log this server shows now does not extend the one this browser saw: it was rolled
 * back, forked or rewritten. Checks run once per (key, ledger, size, root) for the page's life, one at a
 * time per ledger, and proofs are fetched once per (ledger, from, to): a page of 100 rows costs at most
 * one request and a few dozen hashes, off the render path. Forgetting is deliberate (the banner asks).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { fromBase64 } from '../../../src/core/bytes.js';
import { portableSuite } from '../../../src/core/crypto.js';
import { verifyConsistency } from '../../../src/core/tree.js';

/** localStorage name of what this browser remembers for one pinned key on this origin. */
export const memoryStorageName = (verifierKey: string, origin = location.origin) => `sealtrail.checkpoints@${origin}|${verifierKey}`;

export interface Remembered {
  size: number;
  /** Standard base64 of the root hash. */
  root: string;
  /** When this browser verified it (ISO 8601). */
  verifiedAt: string;
}

export type Standing =
  | { status: 'pending' }
  | { status: 'consistent' }
  /** The checkpoint contradicts the remembered one. */
  | { status: 'inconsistent'; reason: string; ledger: string; remembered: Remembered; size: number }
  /** Nothing could be concluded (the proof could not be fetched); rows read `not verified`. */
  | { status: 'unknown'; reason: string };

const ROOT = /^[A-Za-z0-9+/]{43}=$/;
const LEDGERS_LIMIT = 1_000;

function isRemembered(value: unknown): value is Remembered {
  const r = value as Remembered;
  return (
    typeof r === 'object' && r !== null && Number.isSafeInteger(r.size) && r.size > 0 && typeof r.root === 'string' && ROOT.test(r.root) && typeof r.verifiedAt === 'string' && !Number.isNaN(Date.parse(r.verifiedAt))
  );
}

/** What this browser remembers for `verifierKey`, by ledger; entries that are not well formed are left out. */
export function readMemory(verifierKey: string): Record<string, Remembered> {
  let text: string | null = null;
  try {
    text = localStorage.getItem(memoryStorageName(verifierKey));
  } catch {
    return {}; // storage disabled: nothing remembered, nothing compared.
  }
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, Remembered> = {};
    for (const [ledger, value] of Object.entries(parsed)) if (isRemembered(value)) out[ledger] = value;
    return out;
  } catch {
    return {};
  }
}

function writeMemory(verifierKey: string, memory: Record<string, Remembered>): void {
  try {
    const ledgers = Object.keys(memory);
    // Bounded: the oldest verified ledgers go first.
    if (ledgers.length > LEDGERS_LIMIT) {
      ledgers.sort((a, b) => Date.parse(memory[a]!.verifiedAt) - Date.parse(memory[b]!.verifiedAt));
      for (const ledger of ledgers.slice(0, ledgers.length - LEDGERS_LIMIT)) delete memory[ledger];
    }
    localStorage.setItem(memoryStorageName(verifierKey), JSON.stringify(memory));
  } catch {
    // Storage full or disabled: the check still ran; only the memory for the next visit is lost.
  }
}

/** Remembers `checkpoint` for the ledger unless a larger one is remembered already (another tab). */
function rememberLarger(verifierKey: string, ledger: string, size: number, root: string): void {
  const memory = readMemory(verifierKey);
  const known = memory[ledger];
  if (known && known.size >= size) return;
  memory[ledger] = { size, root, verifiedAt: new Date().toISOString() };
  writeMemory(verifierKey, memory);
}

export const describeDate = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

// ---------- the checks ----------

const standings = new Map<string, Standing>();
const chains = new Map<string, Promise<void>>();
const proofs = new Map<string, Promise<Uint8Array[]>>();
const listeners = new Set<() => void>();
const STANDING_LIMIT = 5_000;

function notify(): void {
  for (const listener of listeners) listener();
}

const standingKey = (verifierKey: string, ledger: string, size: number, root: string) => `${verifierKey}|${ledger}|${size}|${root}`;

function proofBetween(ledger: string, from: number, to: number): Promise<Uint8Array[]> {
  const key = `${ledger}|${from}|${to}`;
  let promise = proofs.get(key);
  if (!promise) {
    promise = api<{ from: number; to: number; hashes: string[] }>(`/ledgers/${encodeURIComponent(ledger)}/proof/consistency`, { query: { from, to } }).then((answer) => {
      if (answer.from !== from || answer.to !== to || !Array.isArray(answer.hashes)) throw new Error(`the server answered a proof from ${answer.from} to ${answer.to}`);
      return answer.hashes.map(fromBase64);
    });
    promise.catch(() => proofs.delete(key)); // a failed request is asked again next time
    proofs.set(key, promise);
  }
  return promise;
}

async function check(verifierKey: string, ledger: string, size: number, root: string): Promise<Standing> {
  const remembered = readMemory(verifierKey)[ledger];
  if (!remembered) {
    rememberLarger(verifierKey, ledger, size, root);
    return { status: 'consistent' };
  }
  const inconsistent = (detail: string): Standing => ({
    status: 'inconsistent',
    ledger,
    size,
    remembered,
    reason: `checkpoint: the checkpoint of size ${size} is not consistent with the checkpoint of size ${remembered.size} this browser verified on ${describeDate(remembered.verifiedAt)} (${detail})`,
  });
  if (size === remembered.size) return root === remembered.root ? { status: 'consistent' } : inconsistent('same size, another root');
  const [from, to, fromRoot, toRoot] = size > remembered.size ? [remembered.size, size, remembered.root, root] : [size, remembered.size, root, remembered.root];
  let proof: Uint8Array[];
  try {
    proof = await proofBetween(ledger, from, to);
  } catch (error) {
    // The server refusing the proof (a size beyond its log, an unknown ledger) is its answer: it cannot
    // show that the two agree. A network or server error proves nothing either way.
    if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429) {
      return inconsistent(`the server gives no consistency proof from ${from} to ${to}: ${error.message}`);
    }
    return { status: 'unknown', reason: `the consistency with the checkpoint of size ${remembered.size} this browser verified could not be checked: ${error instanceof Error ? error.message : String(error)}` };
  }
  try {
    verifyConsistency(portableSuite, from, to, proof, fromBase64(fromRoot), fromBase64(toRoot));
  } catch (error) {
    return inconsistent(error instanceof Error ? error.message : String(error));
  }
  if (size > remembered.size) rememberLarger(verifierKey, ledger, size, root);
  return { status: 'consistent' };
}

/**
 * How a verified checkpoint of `ledger` (size, base64 root) stands against what this browser remembers.
 * Cheap enough for every row render (one map look-up); the first call for a checkpoint starts its check,
 * and listeners (useConsistency) hear when it ends.
 */
export function checkpointStanding(verifierKey: string, ledger: string, size: number, root: string): Standing {
  const key = standingKey(verifierKey, ledger, size, root);
  const known = standings.get(key);
  if (known) return known;
  const pending: Standing = { status: 'pending' };
  standings.set(key, pending);
  if (standings.size > STANDING_LIMIT) {
    for (const [old, standing] of standings) {
      if (standings.size <= STANDING_LIMIT) break;
      if (standing.status === 'consistent') standings.delete(old);
    }
  }
  const chainKey = `${verifierKey}|${ledger}`;
  // One check at a time per ledger, so each sees what the one before remembered.
  const run = (chains.get(chainKey) ?? Promise.resolve())
    .then(() => check(verifierKey, ledger, size, root))
    .catch((error: unknown): Standing => ({ status: 'unknown', reason: `the consistency check could not run: ${error instanceof Error ? error.message : String(error)}` }))
    .then((standing) => {
      if (standings.get(key) === pending) standings.set(key, standing);
      notify();
    });
  chains.set(chainKey, run);
  return pending;
}

/** The ledgers whose checkpoints contradict what this browser remembers for `verifierKey`. */
export function conflicts(verifierKey: string): Array<Extract<Standing, { status: 'inconsistent' }>> {
  const byLedger = new Map<string, Extract<Standing, { status: 'inconsistent' }>>();
  for (const [key, standing] of standings) {
    if (standing.status === 'inconsistent' && key.startsWith(`${verifierKey}|`) && !byLedger.has(standing.ledger)) byLedger.set(standing.ledger, standing);
  }
  return [...byLedger.values()];
}

function dropStandings(prefix: string): void {
  for (const key of [...standings.keys()]) if (key.startsWith(prefix)) standings.delete(key);
  for (const key of [...chains.keys()]) if (`${key}|`.startsWith(prefix)) chains.delete(key);
}

/** Forgets what this browser remembers of one ledger for `verifierKey` (the user asked, and confirmed). */
export function forgetLedger(verifierKey: string, ledger: string): void {
  const memory = readMemory(verifierKey);
  delete memory[ledger];
  writeMemory(verifierKey, memory);
  dropStandings(`${verifierKey}|${ledger}|`);
  notify();
}

/** A key pinned (or re-pinned) starts with nothing remembered. */
export function forgetKey(verifierKey: string): void {
  try {
    localStorage.removeItem(memoryStorageName(verifierKey));
  } catch {
    // storage disabled: nothing was remembered
  }
  dropStandings(`${verifierKey}|`);
  notify();
}

if (typeof window !== 'undefined') {
  // Another tab that remembers or forgets: checks are made again against what is stored now.
  window.addEventListener('storage', (event) => {
    if (event.key === null || event.key.startsWith(`sealtrail.checkpoints@${location.origin}|`)) {
      standings.clear();
      chains.clear();
      notify();
    }
  });
}

/** Re-renders the caller whenever a check ends or something is forgotten. */
export function useConsistency(): void {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const update = () => setVersion((v) => v + 1);
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
}
