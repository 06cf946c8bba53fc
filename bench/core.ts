/**
 * Core costs, in units of one node:crypto SHA-256 one-shot call measured in the same run: sealing an
 * event, tree appends, inclusion and consistency proofs over a 1M-leaf tree (BENCH_TREE_SIZE), and checkpoint signing.
 */
import { hash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { signCheckpoint } from '../src/core/checkpoint.js';
import { commit, eventFields, SaltSource } from '../src/core/commitments.js';
import type { Ed25519Signer } from '../src/core/crypto.js';
import type { AuditEvent } from '../src/core/event.js';
import { sealEvent } from '../src/core/leaf.js';
import {
  Frontier,
  planConsistencyProof,
  planInclusionProof,
  planInclusionProofs,
  planRootHash,
  TileNodeCache,
  verifyConsistency,
  verifyInclusion,
  type HashRange,
} from '../src/core/tree.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { MAX_CACHED_TILES } from '../src/store/proofs.js';
import { benchEvent, DEPLOYMENT_NAME, LEDGER, newSigner, progress, WRITER, type BenchOptions } from './fixtures.js';
import { interleavedRates, type Operation } from './measure.js';
import type { Row, Section } from './report.js';

/** BENCH_TREE_SIZE=10000000 measures the proofs of issue 17's 10M-leaf ledger (needs ~3 GB of memory). */
const TREE_SIZE = Number(process.env.BENCH_TREE_SIZE ?? 1_000_000);
/** Issue 17: inclusion proofs generated per second, and a 10,000-event evidence bundle's proofs in under 1 s. */
const TARGET_PROOFS_PER_SECOND = 20_000;
export const BUNDLE_PROOFS = 10_000;
const TARGET_BUNDLE_MS = 1000;
const EVENT_POOL = 1024;
const CASES = 256;
/** Cost target for sealing one event, in SHA-256 calls. */
const SEAL_TARGET_CALLS = 20;

interface Timing {
  rounds: number;
  ms: number;
}

function timing(options: BenchOptions): Timing {
  return options.quick ? { rounds: 3, ms: 100 } : { rounds: 9, ms: 300 };
}

// ---- the unit -----------------------------------------------------------------------------------

const INPUT_64 = randomBytes(64);
const INPUT_400 = randomBytes(400);

const sha64: Operation = () => void hash('sha256', INPUT_64, 'buffer');
const sha400: Operation = () => void hash('sha256', INPUT_400, 'buffer');
/** The unit: calls alternating between 64 B (tree nodes are 65 B) and 400 B (leaves, commitments) inputs. */
const shaMix: Operation = (i) => void hash('sha256', i % 2 === 0 ? INPUT_64 : INPUT_400, 'buffer');

const UNIT_LABEL = 'SHA-256 (64/400 B mix)';

function costRow(id: string, label: string, rate: number, unit: string, shaRate: number, per: string): Row {
  return {
    id,
    label,
    value: rate,
    unit,
    baseline: { label: UNIT_LABEL, value: shaRate, unit: 'calls/s' },
    ratio: { value: shaRate / rate, label: `SHA-256 calls/${per}` },
  };
}

// ---- sealing --------------------------------------------------------------------------------------

function eventPool(): AuditEvent[] {
  return Array.from({ length: EVENT_POOL }, (_, n) => benchEvent(n));
}

/** The README's quick-start event: 7 fields, the size of a typical access record. */
const SMALL_EVENT: AuditEvent = {
  actor: { type: 'user', id: 'alice' },
  action: 'file.download',
  category: 'read',
  origin: { ip: '203.0.113.7' },
  outcome: 'success',
  tenant: 'acme',
};

/** sealEvent (commitments, leaf, leaf hash) then Frontier.append, as the sequencer does per event. */
function sealOperation(events: AuditEvent[]): Operation {
  const salts = new SaltSource(nodeSuite);
  const frontier = new Frontier();
  const receivedAt = Date.now() * 1000;
  return (i) => {
    const event = events[i % EVENT_POOL]!;
    const sealed = sealEvent(nodeSuite, { ledger: LEDGER, index: frontier.size, receivedAtMicros: receivedAt, writer: WRITER, event }, salts);
    frontier.append(nodeSuite, sealed.leafHash);
  };
}

/** Only the field commitments of an event (a subset of sealing), to show where sealing time goes. */
function commitOperation(events: AuditEvent[]): Operation {
  const salts = new SaltSource(nodeSuite);
  return (i) => {
    for (const [path, value] of eventFields(events[i % EVENT_POOL]!)) commit(nodeSuite, salts.next(), path, value);
  };
}

function sealingRows(options: BenchOptions): { rows: Row[]; shaRate: number } {
  const events = eventPool();
  const fields = events.reduce((sum, event) => sum + eventFields(event).length, 0) / events.length;
  const { rounds, ms } = timing(options);
  progress('core: SHA-256 unit, sealing');
  const rates = interleavedRates(
    { sha64, sha400, shaMix, seal: sealOperation(events), sealSmall: sealOperation(Array(EVENT_POOL).fill(SMALL_EVENT)), commits: commitOperation(events) },
    rounds,
    ms,
  );
  const seal = costRow('core.seal', 'seal event + Frontier.append', rates.seal, 'events/s', rates.shaMix, 'event');
  seal.target = { on: 'ratio', op: '<=', limit: SEAL_TARGET_CALLS };
  const sealSmall = costRow('core.seal.small', 'seal a 7-field event + Frontier.append', rates.sealSmall, 'events/s', rates.shaMix, 'event');
  sealSmall.target = { on: 'ratio', op: '<=', limit: SEAL_TARGET_CALLS };
  const commits = costRow('core.commitments', `  of which: ${fields.toFixed(1)} field commitments`, rates.commits, 'events/s', rates.shaMix, 'event');
  commits.note = `${((rates.shaMix / rates.commits) / fields).toFixed(2)} SHA-256 calls per field commitment`;
  const rows: Row[] = [
    { id: 'core.sha256.64', label: 'SHA-256 one-shot, 64 B', value: rates.sha64, unit: 'calls/s' },
    { id: 'core.sha256.400', label: 'SHA-256 one-shot, 400 B', value: rates.sha400, unit: 'calls/s' },
    { id: 'core.sha256.mix', label: `${UNIT_LABEL} = the unit`, value: rates.shaMix, unit: 'calls/s' },
    seal,
    commits,
    sealSmall,
  ];
  return { rows, shaRate: rates.shaMix };
}

// ---- tree and proofs ------------------------------------------------------------------------------

/** Tiled hashes of a tree kept in arrays: level 0 = leaf hashes, level k = subtrees of height 8k. */
class MemoryTiles {
  readonly levels: Uint8Array[][] = [[]];

  add(level: number, index: number, hash: Uint8Array): void {
    const hashes = (this.levels[level] ??= []);
    if (index !== hashes.length) throw new Error(`tile level ${level}: got index ${index}, expected ${hashes.length}`);
    hashes.push(hash);
  }

  readHashes(ranges: readonly HashRange[]): Uint8Array[][] {
    return ranges.map(({ level, start, end }) => (this.levels[level] ?? []).slice(start, end));
  }
}

interface BuiltTree {
  tiles: MemoryTiles;
  frontier: Frontier;
  root: Uint8Array;
  appendRate: number;
}

function buildTree(size: number): BuiltTree {
  const random = randomBytes(size * 32);
  const tiles = new MemoryTiles();
  const frontier = new Frontier();
  const start = performance.now();
  for (let i = 0; i < size; i++) {
    const leafHash = random.subarray(i * 32, (i + 1) * 32);
    tiles.add(0, i, leafHash);
    for (const stored of frontier.append(nodeSuite, leafHash)) tiles.add(stored.level, stored.index, stored.hash);
  }
  const appendRate = (size * 1000) / (performance.now() - start);
  return { tiles, frontier, root: frontier.root(nodeSuite), appendRate };
}

/** Deterministic pseudo-random integers in [min, max), so runs compare like with like. */
function randomInts(count: number, min: number, max: number): number[] {
  let state = 0x2545f491;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return min + Math.floor((state / 2 ** 32) * (max - min));
  });
}

interface ProofCases {
  inclusion: Array<{ index: number; proof: Uint8Array[] }>;
  consistency: Array<{ from: number; fromRoot: Uint8Array; proof: Uint8Array[] }>;
}

function proveInclusion(tree: BuiltTree, index: number): Uint8Array[] {
  const plan = planInclusionProof(nodeSuite, index, tree.frontier.size);
  return plan.finish(tree.tiles.readHashes(plan.reads));
}

/** As the server makes them (src/store/proofs.ts): planned together, full tiles' interior nodes from a cache. */
function proveInclusions(tree: BuiltTree, indexes: readonly number[], cache: TileNodeCache): Uint8Array[][] {
  const plan = planInclusionProofs(nodeSuite, indexes, tree.frontier.size, cache);
  return plan.finish(tree.tiles.readHashes(plan.reads));
}

function proveConsistency(tree: BuiltTree, from: number): Uint8Array[] {
  const plan = planConsistencyProof(nodeSuite, from, tree.frontier.size);
  return plan.finish(tree.tiles.readHashes(plan.reads));
}

function rootAt(tree: BuiltTree, size: number): Uint8Array {
  const plan = planRootHash(nodeSuite, size);
  return plan.finish(tree.tiles.readHashes(plan.reads));
}

function proofCases(tree: BuiltTree, indexes: number[], froms: number[]): ProofCases {
  return {
    inclusion: indexes.map((index) => ({ index, proof: proveInclusion(tree, index) })),
    consistency: froms.map((from) => ({ from, fromRoot: rootAt(tree, from), proof: proveConsistency(tree, from) })),
  };
}

function proofOperations(tree: BuiltTree): Record<'inclusionProveCached' | 'inclusionProve' | 'consistencyProve' | 'inclusionVerify' | 'consistencyVerify', Operation> {
  const size = tree.frontier.size;
  const indexes = randomInts(CASES, 0, size);
  const froms = randomInts(CASES, 1, size);
  const cases = proofCases(tree, indexes, froms);
  const leaves = tree.tiles.levels[0]!;
  const inclusionVerify: Operation = (i) => {
    const { index, proof } = cases.inclusion[i % CASES]!;
    verifyInclusion(nodeSuite, index, size, leaves[index]!, proof, tree.root);
  };
  const consistencyVerify: Operation = (i) => {
    const { from, fromRoot, proof } = cases.consistency[i % CASES]!;
    verifyConsistency(nodeSuite, from, size, proof, fromRoot, tree.root);
  };
  // Verify every case once: a wrong proof throws here rather than being timed.
  for (let i = 0; i < CASES; i++) {
    inclusionVerify(i);
    consistencyVerify(i);
  }
  // Warm: a long-running server has cached the full tiles proofs went through (MAX_CACHED_TILES per ledger).
  const cache = new TileNodeCache(MAX_CACHED_TILES);
  // Warmed over the whole tree, a leaf of every tile in turn: beyond the cache's capacity the oldest
  // are evicted, so random proofs then hit as often as they would on a long-running server.
  for (let start = 0; start < size; start += 256 * 1024) {
    proveInclusions(tree, Array.from({ length: Math.min(1024, Math.ceil((size - start) / 256)) }, (_, i) => Math.min(size - 1, start + i * 256)), cache);
  }
  const spread = randomInts(CASES * 64, 0, size).map((n) => (n * 7919) % size);
  for (let i = 0; i < CASES; i++) {
    const [cached] = proveInclusions(tree, [indexes[i]!], cache);
    if (cached!.some((hash, k) => Buffer.compare(hash, cases.inclusion[i]!.proof[k]!) !== 0)) throw new Error(`cached proof of ${indexes[i]} differs`);
  }
  return {
    inclusionProveCached: (i) => void proveInclusions(tree, [spread[i % spread.length]!], cache),
    inclusionProve: (i) => void proveInclusion(tree, indexes[i % CASES]!),
    consistencyProve: (i) => void proveConsistency(tree, froms[i % CASES]!),
    inclusionVerify,
    consistencyVerify,
  };
}

function treeRows(options: BenchOptions): Row[] {
  progress(`core: building a ${TREE_SIZE.toLocaleString('en-US')}-leaf tree`);
  const tree = buildTree(TREE_SIZE);
  const ops = proofOperations(tree);
  const { rounds, ms } = timing(options);
  progress('core: proofs');
  const rates = interleavedRates({ shaMix, ...ops }, rounds, ms);
  const unit = rates.shaMix;
  return [
    costRow('core.tree.append', `Frontier.append (${TREE_SIZE / 1e6}M-leaf build)`, tree.appendRate, 'leaves/s', unit, 'leaf'),
    costRow('core.proof.inclusion.prove', 'inclusion proof, generate', rates.inclusionProve, 'proofs/s', unit, 'proof'),
    cachedProofRow(rates.inclusionProveCached, rates.inclusionProve),
    ...bundleRows(tree),
    costRow('core.proof.inclusion.verify', 'inclusion proof, verify', rates.inclusionVerify, 'proofs/s', unit, 'proof'),
    costRow('core.proof.consistency.prove', 'consistency proof, generate', rates.consistencyProve, 'proofs/s', unit, 'proof'),
    costRow('core.proof.consistency.verify', 'consistency proof, verify', rates.consistencyVerify, 'proofs/s', unit, 'proof'),
  ];
}

function cachedProofRow(cached: number, uncached: number): Row {
  return {
    id: 'core.proof.inclusion.cached',
    label: '  with the memory cache of full tiles alone',
    value: cached,
    unit: 'proofs/s',
    baseline: { label: 'uncached', value: uncached, unit: 'proofs/s' },
    ratio: { value: cached / uncached, label: '× uncached' },
    note: `random leaves of a ${TREE_SIZE.toLocaleString('en-US')}-leaf tree, TileNodeCache of ${MAX_CACHED_TILES.toLocaleString('en-US')} tiles (as src/store/proofs.ts) warmed as a running server's is; a tile not in it is hashed from its 256 leaves. The server also reads stored tile nodes: the ≥ ${TARGET_PROOFS_PER_SECOND.toLocaleString('en-US')} proofs/s target is judged on that path, in the proofs section`,
  };
}

/** A bundle's proofs from a cold cache: 10,000 events of one range (one actor's day), and 10,000 scattered ones. */
function bundleRows(tree: BuiltTree): Row[] {
  const size = tree.frontier.size;
  const start = Math.max(0, Math.floor(size / 3));
  const cases = [
    { id: 'range', label: 'consecutive', indexes: Array.from({ length: Math.min(BUNDLE_PROOFS, size) }, (_, i) => start + i).filter((i) => i < size) },
    { id: 'scattered', label: 'scattered', indexes: randomInts(BUNDLE_PROOFS, 0, size).sort((a, b) => a - b) },
  ];
  const timed = (indexes: number[]) => {
    const began = performance.now();
    proveInclusions(tree, indexes, new TileNodeCache(MAX_CACHED_TILES));
    return performance.now() - began;
  };
  return cases.map(({ id, label, indexes }) => {
    const ms = Math.min(timed(indexes), timed(indexes), timed(indexes));
    const uncached = performance.now();
    for (const index of indexes.slice(0, 500)) proveInclusion(tree, index);
    const uncachedMs = ((performance.now() - uncached) * indexes.length) / 500;
    const row = bundleRow(`core.proof.bundle.${id}`, label, ms, { label: 'one by one, uncached', ratio: '× one by one', value: uncachedMs }, 'planInclusionProofs with a cold cache and no stored tile nodes (best of 3); the baseline is extrapolated from 500 single proofs. The 1 s target is judged with stored tile nodes, as served, in the proofs section');
    delete row.target;
    return row;
  });
}

/** A 10,000-event bundle's proofs beside a baseline, against issue 17's 1 s (also bench/proofs.ts). */
export function bundleRow(id: string, label: string, ms: number, baseline: { label: string; ratio: string; value: number }, note: string): Row {
  return {
    id,
    label: `  ${BUNDLE_PROOFS.toLocaleString('en-US')}-event bundle's proofs, ${label}`,
    value: ms,
    unit: 'ms',
    baseline: { label: baseline.label, value: baseline.value, unit: 'ms' },
    ratio: { value: ms / baseline.value, label: baseline.ratio },
    target: { on: 'value', op: '<=', limit: TARGET_BUNDLE_MS },
    note,
  };
}

// ---- checkpoint signing ---------------------------------------------------------------------------

function signingRows(options: BenchOptions): Row[] {
  const signer: Ed25519Signer = newSigner();
  const rootHash = randomBytes(32);
  const origin = `${DEPLOYMENT_NAME}/${LEDGER}`;
  const message = new TextEncoder().encode(`${origin}\n1000000\n${rootHash.toString('base64')}\n`);
  const { rounds, ms } = timing(options);
  progress('core: Ed25519');
  const rates = interleavedRates(
    {
      rawSign: () => void signer.sign(message),
      checkpoint: (i) => void signCheckpoint(nodeSuite, { origin, size: i + 1, rootHash, extensions: [] }, [{ name: DEPLOYMENT_NAME, signer }]),
    },
    rounds,
    ms,
  );
  return [
    {
      id: 'core.sign.checkpoint',
      label: 'signCheckpoint (one per batch)',
      value: rates.checkpoint,
      unit: 'notes/s',
      baseline: { label: 'node:crypto Ed25519 sign', value: rates.rawSign, unit: 'sigs/s' },
      ratio: { value: rates.checkpoint / rates.rawSign, label: '× raw sign' },
      note: `signNote signs, then verifies its own signature; per event that is ${(1e6 / rates.checkpoint / 100).toFixed(2)} µs at 100 events per batch`,
    },
  ];
}

export function coreSection(options: BenchOptions): Section {
  const sealing = sealingRows(options);
  return {
    title: 'Core (in-memory, node:crypto)',
    rows: [...sealing.rows, ...treeRows(options), ...signingRows(options)],
    notes: [
      `unit: node:crypto hash('sha256', input, 'buffer'), alternating 64 B and 400 B inputs; "SHA-256 calls/x" = unit rate / rate of x`,
      `events: test/helpers/events.ts sampleEvent with a unique id (17–18 fields); ${TREE_SIZE.toLocaleString('en-US')}-leaf tree kept as tiles in arrays`,
      `consistency proofs are from a random size to the full tree; each figure is the median of ${timing(options).rounds} interleaved rounds`,
    ],
  };
}
