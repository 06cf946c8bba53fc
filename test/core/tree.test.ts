import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { fromBase64, fromHex, toHex } from '../../src/core/bytes.js';
import { portableSuite, type CryptoSuite } from '../../src/core/crypto.js';
import { SealtrailError } from '../../src/core/errors.js';
import {
  emptyRoot,
  Frontier,
  hashChildren,
  hashLeaf,
  planConsistencyProof,
  planInclusionProof,
  planRootHash,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type HashRange,
  type StoredHash,
} from '../../src/core/tree.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import {
  MemoryHashStore,
  naiveMth,
  referenceConsistency,
  referencePath,
  resetSymbolicHashCalls,
  runSymbolic,
  symbol,
  symbolicFrontierBytes,
  symbolicHashCalls,
  symbolicMth,
  symbolicSuite,
  type Mth,
} from './tree-reference.js';

const suite = nodeSuite;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof SealtrailError) return error.code;
    throw error;
  }
  return undefined;
}

function assertCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SealtrailError, `expected a SealtrailError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

const hexes = (hashes: readonly Uint8Array[]): string[] => hashes.map(toHex);

/** Compares hashes by value: node:crypto gives Buffers, other paths plain Uint8Arrays. */
function assertSameHash(actual: Uint8Array | undefined, expected: Uint8Array | undefined, message?: string): void {
  assert.equal(actual && toHex(actual), expected && toHex(expected), message);
}

// The RFC 6962 reference tree used by the vectors (transparency-dev/merkle testdata).
const REFERENCE_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const REFERENCE_ROOT_8 = '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328';

function referenceStore(s: CryptoSuite = suite): MemoryHashStore {
  const store = new MemoryHashStore(s);
  for (const leaf of REFERENCE_LEAVES) store.append(hashLeaf(s, fromHex(leaf)));
  return store;
}

/** Distinct leaves 0..n-1, hashed. */
function leafHashes(s: CryptoSuite, n: number, from = 0): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < n; i++) out.push(hashLeaf(s, new TextEncoder().encode(`leaf ${i}`)));
  return out;
}

/** A shared 5,000-leaf store (crosses 256-leaf tile boundaries 19 times) and its reference MTH. */
const BIG = 5000;
let shared: { store: MemoryHashStore; mth: Mth } | undefined;
function sharedTree(): { store: MemoryHashStore; mth: Mth } {
  if (shared === undefined) {
    const store = new MemoryHashStore(suite);
    const leaves = leafHashes(suite, BIG);
    for (const leaf of leaves) store.append(leaf);
    shared = { store, mth: naiveMth(suite, leaves) };
  }
  return shared;
}

// fast-check arbitraries --------------------------------------------------------------------------

const smallSize = fc.integer({ min: 1, max: BIG });
/** Sizes up to 2^53 − 1, spread over bit lengths, with powers of two and their neighbours. */
const hugeSize = fc.oneof(
  fc.integer({ min: 1, max: 53 }).chain((bits) => fc.bigInt({ min: 1n, max: (1n << BigInt(bits)) - 1n }).map(Number)),
  fc.tuple(fc.integer({ min: 0, max: 52 }), fc.integer({ min: -1, max: 1 })).map(([h, d]) => Math.max(1, 2 ** h + d)),
  fc.constant(Number.MAX_SAFE_INTEGER),
);
const below = (n: number) => fc.bigInt({ min: 0n, max: BigInt(n - 1) }).map(Number);
const sizeAndIndex = (sizes: fc.Arbitrary<number>) => sizes.chain((n) => below(n).map((i) => [i, n] as const));
const fromAndTo = (sizes: fc.Arbitrary<number>) => sizes.chain((n) => below(n).map((m) => [m + 1, n] as const));

// -------------------------------------------------------------------------------------------------

describe('hashing (RFC 9162 §2.1.1)', () => {
  it('hashes leaves, nodes and the empty tree with domain separation', () => {
    assert.equal(toHex(emptyRoot(suite)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(toHex(hashLeaf(suite, new Uint8Array(0))), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const [a, b] = [hashLeaf(suite, fromHex('00')), hashLeaf(suite, fromHex('10'))];
    assertSameHash(hashChildren(suite, a, b), suite.sha256(Uint8Array.from([1, ...a, ...b])));
  });

  it('gives the same results with the portable and the node:crypto suites', () => {
    const portable = referenceStore(portableSuite);
    const native = referenceStore(nodeSuite);
    assert.equal(toHex(portable.frontier.root(portableSuite)), REFERENCE_ROOT_8);
    assert.equal(toHex(native.frontier.root(nodeSuite)), REFERENCE_ROOT_8);
    for (const [s, store] of [[portableSuite, portable], [nodeSuite, native]] as const) {
      const proof = store.run(planInclusionProof(s, 5, 8));
      verifyInclusion(s, 5, 8, store.read({ level: 0, start: 5, end: 6 })[0] as Uint8Array, proof, fromHex(REFERENCE_ROOT_8));
      assert.deepEqual(hexes(proof), hexes(native.run(planInclusionProof(nodeSuite, 5, 8))));
    }
    assertSameHash(emptyRoot(portableSuite), new Uint8Array(emptyRoot(nodeSuite)));
  });
});

describe('Frontier', () => {
  it('gives the roots of every prefix of the RFC 6962 reference tree', () => {
    const leaves = REFERENCE_LEAVES.map((leaf) => hashLeaf(suite, fromHex(leaf)));
    const mth = naiveMth(suite, leaves);
    const store = new MemoryHashStore(suite);
    assertSameHash(store.frontier.root(suite), emptyRoot(suite));
    for (const [i, leaf] of leaves.entries()) {
      store.append(leaf);
      assertSameHash(store.frontier.root(suite), mth(0, i + 1), `size ${i + 1}`);
    }
    assert.equal(toHex(store.frontier.root(suite)), REFERENCE_ROOT_8);
  });

  it('has the naive MTH as root for every size up to 5,000', () => {
    const leaves = leafHashes(suite, BIG);
    const mth = naiveMth(suite, leaves);
    const frontier = new Frontier();
    for (const leaf of leaves) {
      const completed = frontier.append(suite, leaf);
      assert.equal(completed.length, frontier.size % 256 === 0 ? 1 : 0, `stored hashes at size ${frontier.size}`);
      assertSameHash(frontier.root(suite), mth(0, frontier.size), `size ${frontier.size}`);
    }
  });

  it('costs one node hash per append on average', () => {
    let calls = 0;
    const counting: CryptoSuite = { ...suite, sha256: (data) => (calls++, suite.sha256(data)) };
    const frontier = new Frontier();
    const leaves = leafHashes(suite, 4096);
    for (const leaf of leaves) frontier.append(counting, leaf);
    assert.equal(calls, 4095); // a perfect tree of 4096 leaves has 4095 interior nodes
  });

  it('returns the stored hashes each append completes, equal to the naive subtree hashes', () => {
    const { store, mth } = sharedTree();
    // level 1 at every multiple of 256 and nothing in between
    assert.deepEqual(
      store.emitted.map((s) => [s.level, s.index]),
      Array.from({ length: Math.floor(BIG / 256) }, (_, j) => [1, j]),
    );
    for (const s of store.emitted) assertSameHash(s.hash, mth(s.index * 256, (s.index + 1) * 256));
  });

  it('round-trips through toBytes / fromBytes and clones independently', () => {
    const { store } = sharedTree();
    fc.assert(
      fc.property(smallSize, (n) => {
        const frontier = new Frontier();
        for (const leaf of (store.levels[0] as Uint8Array[]).slice(0, n)) frontier.append(suite, leaf);
        const bytes = frontier.toBytes();
        assert.equal(bytes.length, 32 * n.toString(2).replaceAll('0', '').length);
        const restored = Frontier.fromBytes(n, bytes);
        assert.equal(restored.size, n);
        assert.deepEqual(restored.toBytes(), bytes);
        assertSameHash(restored.root(suite), frontier.root(suite));
        const copy = restored.clone();
        const next = store.levels[0]?.[n] ?? hashLeaf(suite, new Uint8Array(1));
        copy.append(suite, next);
        frontier.append(suite, next);
        assert.equal(restored.size, n);
        assert.deepEqual(restored.toBytes(), bytes);
        assertSameHash(copy.root(suite), frontier.root(suite));
      }),
      { numRuns: 60 },
    );
    assertSameHash(Frontier.fromBytes(0, new Uint8Array(0)).root(suite), emptyRoot(suite));
  });

  it('keeps private copies of the hashes it takes and gives (Buffers included)', () => {
    const leaves = leafHashes(suite, 256).map((h) => Buffer.from(h));
    const frontier = new Frontier();
    let completed: StoredHash[] = [];
    for (const leaf of leaves) completed = frontier.append(suite, leaf);
    const [bytes, root] = [frontier.toBytes(), frontier.root(suite)];
    const restored = Frontier.fromBytes(256, Buffer.from(bytes));
    for (const hash of [...leaves, completed[0]!.hash, frontier.root(suite), frontier.toBytes(), restored.root(suite)]) hash.fill(0);
    assertSameHash(frontier.root(suite), root);
    assertSameHash(restored.root(suite), root);
    assertSameHash(frontier.toBytes(), bytes);
  });

  it('rejects frontier bytes that do not fit the size, and bad leaf hashes', () => {
    assertCode(() => Frontier.fromBytes(3, new Uint8Array(32)), 'MALFORMED', /64 bytes, got 32/);
    assertCode(() => Frontier.fromBytes(3, new Uint8Array(65)), 'MALFORMED');
    assertCode(() => Frontier.fromBytes(0, new Uint8Array(32)), 'MALFORMED');
    assertCode(() => Frontier.fromBytes(-1, new Uint8Array(0)), 'MALFORMED');
    assertCode(() => Frontier.fromBytes(1.5, new Uint8Array(32)), 'MALFORMED');
    assertCode(() => Frontier.fromBytes(2 ** 53, new Uint8Array(32)), 'MALFORMED');
    assertCode(() => new Frontier().append(suite, new Uint8Array(31)), 'INVALID_ARGUMENT');
    const full = Frontier.fromBytes(Number.MAX_SAFE_INTEGER, symbolicFrontierBytes(Number.MAX_SAFE_INTEGER));
    assertCode(() => full.append(symbolicSuite, symbol(0, 1)), 'INVALID_ARGUMENT', /full/);
  });

  it('handles sizes up to 2^53 − 1 (symbolic hashes)', () => {
    fc.assert(
      fc.property(hugeSize, (n) => {
        const size = n - 1;
        const frontier = Frontier.fromBytes(size, symbolicFrontierBytes(size));
        const completed = frontier.append(symbolicSuite, symbol(size, size + 1));
        assert.deepEqual(frontier.root(symbolicSuite), symbol(0, size + 1));
        assert.deepEqual(frontier.toBytes(), symbolicFrontierBytes(size + 1));
        // A level-k hash completes exactly when 256^k divides the new size.
        const expected = [];
        for (let k = 1; (size + 1) % 256 ** k === 0; k++) {
          expected.push({ level: k, index: (size + 1) / 256 ** k - 1, hash: symbol(size + 1 - 256 ** k, size + 1) });
        }
        assert.deepEqual(completed, expected);
      }),
      { numRuns: 300 },
    );
    const frontier = Frontier.fromBytes(2 ** 48 - 1, symbolicFrontierBytes(2 ** 48 - 1));
    const completed = frontier.append(symbolicSuite, symbol(2 ** 48 - 1, 2 ** 48));
    assert.deepEqual(
      completed.map((s) => [s.level, s.index]),
      [[1, 2 ** 40 - 1], [2, 2 ** 32 - 1], [3, 2 ** 24 - 1], [4, 2 ** 16 - 1], [5, 255], [6, 0]],
    );
  });
});

// -------------------------------------------------------------------------------------------------

type InclusionVector = { leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean };
type ConsistencyVector = { size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean };

const VECTOR_DIR = 'test/vectors/rfc6962';

function vectorFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return vectorFiles(path);
      return name.endsWith('.json') ? [path] : [];
    })
    .sort();
}

function loadVectors() {
  const inclusion: [string, InclusionVector][] = [];
  const consistency: [string, ConsistencyVector][] = [];
  for (const path of vectorFiles(VECTOR_DIR)) {
    const name = relative(VECTOR_DIR, path);
    const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    if (name.startsWith('inclusion/') && 'leafIdx' in data) inclusion.push([name, data as InclusionVector]);
    else if (name.startsWith('consistency/') && 'size1' in data) consistency.push([name, data as ConsistencyVector]);
    else assert.fail(`unrecognised vector file ${name}`);
  }
  return { inclusion, consistency };
}

const vectors = loadVectors();
const decodeProof = (proof: string[] | null) => (proof ?? []).map(fromBase64);

// Verifiers reject with INVALID_PROOF only (never INVALID_ARGUMENT): sizes and indices travel with the
// proof, so a bad one is a bad proof.
describe('RFC 6962 test vectors', () => {
  it('loads every vector file on disk', () => {
    assert.equal(vectors.inclusion.length + vectors.consistency.length, 196);
    assert.equal(vectors.inclusion.length, 98);
    assert.equal(vectors.consistency.length, 98);
  });

  for (const [name, v] of vectors.inclusion) {
    it(`inclusion ${name}`, () => {
      const check = () =>
        verifyInclusion(portableSuite, v.leafIdx, v.treeSize, fromBase64(v.leafHash), decodeProof(v.proof), fromBase64(v.root));
      if (v.wantErr) assertCode(check, 'INVALID_PROOF');
      else check();
    });
  }

  for (const [name, v] of vectors.consistency) {
    it(`consistency ${name}`, () => {
      const check = () =>
        verifyConsistency(portableSuite, v.size1, v.size2, decodeProof(v.proof), fromBase64(v.root1), fromBase64(v.root2));
      if (v.wantErr) assertCode(check, 'INVALID_PROOF');
      else check();
    });
  }

  it('planned proofs equal the happy-path proofs over the reference tree', () => {
    const store = referenceStore();
    const leaves = store.levels[0] as Uint8Array[];
    const mth = naiveMth(suite, leaves);
    const rootOf = (size: number) => toHex(mth(0, size));
    let compared = 0;
    for (const [, v] of vectors.inclusion) {
      if (v.wantErr || v.treeSize > 8 || toHex(fromBase64(v.root)) !== rootOf(v.treeSize)) continue;
      assert.equal(toHex(fromBase64(v.leafHash)), toHex(leaves[v.leafIdx] as Uint8Array));
      assert.deepEqual(hexes(store.run(planInclusionProof(suite, v.leafIdx, v.treeSize), v.treeSize)), hexes(decodeProof(v.proof)));
      compared++;
    }
    for (const [, v] of vectors.consistency) {
      if (v.wantErr || v.size2 > 8 || toHex(fromBase64(v.root2)) !== rootOf(v.size2)) continue;
      assert.equal(toHex(fromBase64(v.root1)), rootOf(v.size1));
      assert.deepEqual(hexes(store.run(planConsistencyProof(suite, v.size1, v.size2), v.size2)), hexes(decodeProof(v.proof)));
      compared++;
    }
    assert.equal(compared, 10); // inclusion/0-4 and consistency/0-4 happy paths
  });
});

// -------------------------------------------------------------------------------------------------

describe('proof planning', () => {
  it('plans the root of every prefix of the reference tree', () => {
    const store = referenceStore();
    const frontier = new Frontier();
    for (let size = 0; size <= 8; size++) {
      const plan = planRootHash(suite, size);
      if (size === 0) assert.deepEqual(plan.reads, []);
      assertSameHash(store.run(plan, size), frontier.root(suite), `size ${size}`);
      const leaf = store.levels[0]?.[size];
      if (leaf) frontier.append(suite, leaf);
    }
  });

  it('plans inclusion proofs equal to the naive PATH, which verify', () => {
    const { store, mth } = sharedTree();
    fc.assert(
      fc.property(sizeAndIndex(smallSize), ([index, size]) => {
        const proof = store.run(planInclusionProof(suite, index, size), size);
        assert.deepEqual(hexes(proof), hexes(referencePath(index, 0, size, mth)));
        verifyInclusion(suite, index, size, mth(index, index + 1), proof, mth(0, size));
      }),
      { numRuns: 300 },
    );
  });

  it('plans consistency proofs equal to the naive PROOF, which verify', () => {
    const { store, mth } = sharedTree();
    fc.assert(
      fc.property(fromAndTo(smallSize), ([from, to]) => {
        const proof = store.run(planConsistencyProof(suite, from, to), to);
        assert.deepEqual(hexes(proof), hexes(referenceConsistency(from, to, mth)));
        verifyConsistency(suite, from, to, proof, mth(0, from), mth(0, to));
      }),
      { numRuns: 300 },
    );
  });

  it('plans historic roots equal to the naive MTH', () => {
    const { store, mth } = sharedTree();
    fc.assert(
      fc.property(smallSize, (size) => {
        assertSameHash(store.run(planRootHash(suite, size), size), mth(0, size));
      }),
      { numRuns: 200 },
    );
  });

  it('works across the 65,536-leaf boundary (tile level 2)', () => {
    const size = 65_537;
    const leaves = leafHashes(suite, size);
    const store = new MemoryHashStore(suite);
    for (const leaf of leaves) store.append(leaf);
    const mth = naiveMth(suite, leaves);
    assert.deepEqual(
      store.emitted.slice(-2).map((s) => [s.level, s.index]),
      [[1, 255], [2, 0]],
    );
    assertSameHash(store.levels[2]?.[0], mth(0, 65_536));
    for (const n of [65_535, 65_536, 65_537]) assertSameHash(store.run(planRootHash(suite, n), n), mth(0, n));
    assertSameHash(store.run(planRootHash(suite, size)), store.frontier.root(suite));
    for (const [index, n] of [[0, 65_537], [65_536, 65_537], [65_535, 65_536], [40_000, 65_537], [300, 65_536]] as const) {
      const proof = store.run(planInclusionProof(suite, index, n), n);
      assert.deepEqual(hexes(proof), hexes(referencePath(index, 0, n, mth)));
      verifyInclusion(suite, index, n, leaves[index] as Uint8Array, proof, mth(0, n));
    }
    for (const [from, to] of [[1, 65_537], [65_536, 65_537], [65_535, 65_537], [4_097, 65_536], [30_000, 65_537]] as const) {
      const proof = store.run(planConsistencyProof(suite, from, to), to);
      assert.deepEqual(hexes(proof), hexes(referenceConsistency(from, to, mth)));
      verifyConsistency(suite, from, to, proof, mth(0, from), mth(0, to));
    }
  });

  /** Checks that a plan's reads are merged and at most `max` per level. */
  function checkReads(reads: HashRange[], max: number): void {
    const perLevel = new Map<number, number>();
    for (const r of reads) perLevel.set(r.level, (perLevel.get(r.level) ?? 0) + 1);
    for (const [level, count] of perLevel) assert.ok(count <= max, `${count} reads at level ${level}`);
    // no two reads on one level touch (they would have been merged)
    const sorted = [...reads].sort((a, b) => a.level - b.level || a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [sorted[i - 1] as HashRange, sorted[i] as HashRange];
      if (a.level === b.level) assert.ok(a.end < b.start, `mergeable reads ${JSON.stringify([a, b])}`);
    }
  }

  it('plans proofs for trees of up to 2^53 − 1 leaves with few reads and bounded hashing', () => {
    fc.assert(
      fc.property(sizeAndIndex(hugeSize), fromAndTo(hugeSize), ([index, size], [from, to]) => {
        const inclusion = planInclusionProof(symbolicSuite, index, size);
        checkReads(inclusion.reads, 3); // left and right of the leaf's path, and the tree's right edge
        resetSymbolicHashCalls();
        const path = runSymbolic(inclusion, size);
        // each of ≤ 53 proof hashes comes from ≤ 7 perfect pieces of ≤ 128 stored hashes
        assert.ok(symbolicHashCalls <= 53 * 8 * 128, `${symbolicHashCalls} hashes`);
        assert.deepEqual(path, referencePath(index, 0, size, symbolicMth));
        verifyInclusion(symbolicSuite, index, size, symbol(index, index + 1), path, symbol(0, size));

        const consistency = planConsistencyProof(symbolicSuite, from, to);
        checkReads(consistency.reads, 3); // around the old size's path, and the new right edge
        const proof = runSymbolic(consistency, to);
        assert.deepEqual(proof, referenceConsistency(from, to, symbolicMth));
        verifyConsistency(symbolicSuite, from, to, proof, symbol(0, from), symbol(0, to));

        assert.deepEqual(runSymbolic(planRootHash(symbolicSuite, size), size), symbol(0, size));
      }),
      { numRuns: 250 },
    );
  });

  it('reads a complete subtree of height 8k + r from 2^r stored hashes', () => {
    // the left half of a 2^20 + 1 tree: height 20 = 8·2 + 4, so 16 level-2 hashes
    assert.deepEqual(planInclusionProof(symbolicSuite, 2 ** 20, 2 ** 20 + 1).reads, [{ level: 2, start: 0, end: 16 }]);
    assert.deepEqual(planRootHash(symbolicSuite, 2 ** 24).reads, [{ level: 3, start: 0, end: 1 }]);
  });

  it('rejects arguments outside the domain with INVALID_ARGUMENT', () => {
    for (const [index, size] of [[0, 0], [5, 5], [-1, 5], [0.5, 5], [0, 2 ** 53], [Number.NaN, 1]]) {
      assertCode(() => planInclusionProof(suite, index as number, size as number), 'INVALID_ARGUMENT');
    }
    for (const [from, to] of [[0, 0], [0, 5], [6, 5], [1.5, 5], [1, Infinity]]) {
      assertCode(() => planConsistencyProof(suite, from as number, to as number), 'INVALID_ARGUMENT');
    }
    assertCode(() => planRootHash(suite, -1), 'INVALID_ARGUMENT');
    assert.deepEqual(planConsistencyProof(suite, 7, 7).reads, []);
    assert.deepEqual(planConsistencyProof(suite, 7, 7).finish([]), []);
    assertSameHash(planRootHash(suite, 0).finish([]), emptyRoot(suite));
  });

  it('checks that the reads returned what the plan asked for', () => {
    const store = referenceStore();
    const plan = planInclusionProof(suite, 2, 7);
    const good = plan.reads.map((r) => store.read(r));
    assert.ok(good.length >= 2);
    assertCode(() => plan.finish(good.slice(1)), 'INVALID_ARGUMENT', /reads/);
    assertCode(() => plan.finish([...good, []]), 'INVALID_ARGUMENT');
    assertCode(() => plan.finish([good[0]?.slice(1) ?? [], ...good.slice(1)]), 'INVALID_ARGUMENT', /expects/);
    const short = good.map((hashes) => hashes.map((h) => h));
    short[0]![0] = new Uint8Array(31);
    assertCode(() => plan.finish(short), 'MALFORMED', /31 bytes/);
    assertCode(() => planRootHash(suite, 0).finish([[]]), 'INVALID_ARGUMENT');
  });
});

// -------------------------------------------------------------------------------------------------

function flipBit(hashes: readonly Uint8Array[], which: number, bit: number): Uint8Array[] {
  return hashes.map((hash, i) => {
    if (i !== which) return hash;
    const copy = new Uint8Array(hash); // not .slice(): a shared view on a Buffer
    copy[bit >> 3]! ^= 1 << (bit & 7);
    return copy;
  });
}

/** Proof tampering: each returns undefined when it does not apply to the proof. */
const tamper = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);
type Tamper = typeof tamper extends fc.Arbitrary<infer T> ? T : never;

function applyTamper(proof: readonly Uint8Array[], t: Tamper): Uint8Array[] | undefined {
  if (t.kind === 'add') {
    const at = t.at % (proof.length + 1);
    return [...proof.slice(0, at), new Uint8Array(32).fill(t.byte), ...proof.slice(at)];
  }
  if (proof.length === 0) return undefined;
  const at = t.at % proof.length;
  if (t.kind === 'flip') return flipBit(proof, at, t.bit);
  return [...proof.slice(0, at), ...proof.slice(at + 1)];
}

describe('proof verification', () => {
  const small = fc.integer({ min: 1, max: 700 });

  it('rejects any tampered inclusion proof, wrong index, wrong size or wrong root', () => {
    const { store, mth } = sharedTree();
    fc.assert(
      fc.property(sizeAndIndex(small), tamper, fc.nat(), fc.nat(), ([index, size], t, otherIndex, otherSize) => {
        const proof = store.run(planInclusionProof(suite, index, size), size);
        const leaf = mth(index, index + 1);
        const root = mth(0, size);
        const tampered = applyTamper(proof, t);
        if (tampered) assertCode(() => verifyInclusion(suite, index, size, leaf, tampered, root), 'INVALID_PROOF');
        const i2 = otherIndex % size;
        if (i2 !== index) assertCode(() => verifyInclusion(suite, i2, size, leaf, proof, root), 'INVALID_PROOF');
        // A different size, checked against that size's root (see the next test for why).
        const n2 = (otherSize % 700) + 1;
        if (n2 !== size && index < n2) assertCode(() => verifyInclusion(suite, index, n2, leaf, proof, mth(0, n2)), 'INVALID_PROOF');
        assertCode(() => verifyInclusion(suite, index, size, leaf, proof, mth(0, size + 1)), 'INVALID_PROOF');
        assertCode(() => verifyInclusion(suite, index, size, leaf, proof, flipBit([root], 0, t.at % 256)[0]!), 'INVALID_PROOF');
        assertCode(() => verifyInclusion(suite, index, size, mth(size, size + 1), proof, root), 'INVALID_PROOF');
      }),
      { numRuns: 300 },
    );
  });

  it('does not bind the tree size by itself (RFC 9162 property: the signed checkpoint does)', () => {
    // PATH(0, D[3]) = [h1, h2] is also a well-formed path for (0, 4): the verifier cannot tell the
    // leaf hash h2 from an interior node, so against the size-3 root it "verifies" for size 4 too.
    const { store, mth } = sharedTree();
    const proof = store.run(planInclusionProof(suite, 0, 3), 3);
    verifyInclusion(suite, 0, 4, mth(0, 1), proof, mth(0, 3));
    assertCode(() => verifyInclusion(suite, 0, 4, mth(0, 1), proof, mth(0, 4)), 'INVALID_PROOF');
  });

  it('rejects any tampered consistency proof, wrong sizes or wrong roots', () => {
    const { store, mth } = sharedTree();
    fc.assert(
      fc.property(fromAndTo(small), tamper, fc.nat(), fc.nat(), ([from, to], t, other, bit) => {
        const proof = store.run(planConsistencyProof(suite, from, to), to);
        const [r1, r2] = [mth(0, from), mth(0, to)];
        const tampered = applyTamper(proof, t);
        if (tampered && !(from === to && tampered.length === 0)) {
          assertCode(() => verifyConsistency(suite, from, to, tampered, r1, r2), 'INVALID_PROOF');
        }
        const from2 = (other % to) + 1;
        if (from2 !== from) assertCode(() => verifyConsistency(suite, from2, to, proof, mth(0, from2), r2), 'INVALID_PROOF');
        const to2 = from + (other % 50);
        if (to2 !== to) assertCode(() => verifyConsistency(suite, from, to2, proof, r1, mth(0, to2)), 'INVALID_PROOF');
        assertCode(() => verifyConsistency(suite, from, to, proof, flipBit([r1], 0, bit % 256)[0]!, r2), 'INVALID_PROOF');
        assertCode(() => verifyConsistency(suite, from, to, proof, r1, flipBit([r2], 0, bit % 256)[0]!), 'INVALID_PROOF');
        if (from !== to) assertCode(() => verifyConsistency(suite, from, to, proof, r2, r1), 'INVALID_PROOF');
      }),
      { numRuns: 300 },
    );
  });

  it('explains each kind of rejection', () => {
    const { store, mth } = sharedTree();
    const leaf = mth(3, 4);
    const root = mth(0, 10);
    const proof = store.run(planInclusionProof(suite, 3, 10), 10);
    const inclusion = (index: number, size: number, p: Uint8Array[], l = leaf, r = root) => () => verifyInclusion(suite, index, size, l, p, r);
    assertCode(inclusion(10, 10, proof), 'INVALID_PROOF', /not below the tree size/);
    assertCode(inclusion(0, 0, []), 'INVALID_PROOF', /not below/);
    assertCode(inclusion(-1, 10, proof), 'INVALID_PROOF', /non-negative safe integer/);
    assertCode(inclusion(2 ** 64, 2 ** 64 + 1, proof), 'INVALID_PROOF', /safe integer/);
    assertCode(inclusion(3, 10, proof.slice(1)), 'INVALID_PROOF', /3 hashes, expected 4/);
    assertCode(inclusion(3, 10, [...proof, root]), 'INVALID_PROOF', /5 hashes, expected 4/);
    assertCode(inclusion(3, 10, [proof[0]!.subarray(1), ...proof.slice(1)]), 'INVALID_PROOF', /proof\[0\] is 31 bytes/);
    assertCode(inclusion(3, 10, proof, leaf.subarray(1)), 'INVALID_PROOF', /leaf hash is 31 bytes/);
    assertCode(inclusion(3, 10, proof, leaf, root.subarray(1)), 'INVALID_PROOF', /root is 31 bytes/);
    assertCode(inclusion(3, 10, proof, leaf, mth(0, 9)), 'INVALID_PROOF', /does not lead to the root/);
    assertSameHash(rootFromInclusionProof(suite, 3, 10, leaf, proof), root);

    const consistency = (from: number, to: number, p: Uint8Array[], r1: Uint8Array, r2: Uint8Array) => () =>
      verifyConsistency(suite, from, to, p, r1, r2);
    const cproof = store.run(planConsistencyProof(suite, 6, 10), 10);
    const [r6, r10] = [mth(0, 6), mth(0, 10)];
    verifyConsistency(suite, 6, 10, cproof, r6, r10);
    assertCode(consistency(10, 6, cproof, r10, r6), 'INVALID_PROOF', /larger than the new size/);
    assertCode(consistency(0, 10, cproof, emptyRoot(suite), r10), 'INVALID_PROOF', /empty tree/);
    assertCode(consistency(0, 0, [], emptyRoot(suite), emptyRoot(suite)), 'INVALID_PROOF', /empty tree/);
    assertCode(consistency(6, 6, [r6], r6, r6), 'INVALID_PROOF', /proof is not empty/);
    assertCode(consistency(6, 6, [], r6, r10), 'INVALID_PROOF', /roots differ/);
    verifyConsistency(suite, 6, 6, [], r6, r6);
    assertCode(consistency(6, 10, [], r6, r10), 'INVALID_PROOF', /0 hashes, expected/);
    assertCode(consistency(6, 10, cproof, r6.subarray(1), r10), 'INVALID_PROOF', /old root is 31 bytes/);
    assertCode(consistency(6, 10, cproof, r6, r10.subarray(1)), 'INVALID_PROOF', /new root is 31 bytes/);
    assertCode(consistency(6, 10, cproof, mth(0, 5), r10), 'INVALID_PROOF', /old root/);
    assertCode(consistency(6, 10, cproof, r6, mth(0, 9)), 'INVALID_PROOF', /new root/);
    assertCode(consistency(6, 2 ** 53, cproof, r6, r10), 'INVALID_PROOF', /safe integer/);
    assert.equal(codeOf(() => verifyConsistency(suite, 6, 10, cproof, r6, r10)), undefined);
  });
});
