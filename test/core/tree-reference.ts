/**
 * Test-only helpers for tree.test.ts:
 * - a naive reference of RFC 9162 §2.1 written straight from its recursive definitions (MTH, PATH,
 *   SUBPROOF), sharing no code with src/core/tree.ts;
 * - an in-memory hash store fed by Frontier.append, which refuses reads a tree of the planned size
 *   could not serve;
 * - a "symbolic" CryptoSuite whose hashes name the span they stand for, so that proof planning and
 *   verification can be checked for trees of up to 2^53 − 1 leaves without hashing them.
 */
import assert from 'node:assert/strict';
import type { CryptoSuite } from '../../src/core/crypto.js';
import { Frontier, type HashRange, type Plan, type StoredHash } from '../../src/core/tree.js';

/** MTH(D[start:end]) for some fixed list of leaves D. */
export type Mth = (start: number, end: number) => Uint8Array;

/** "The largest power of two smaller than n" (RFC 9162 §2.1.1), n ≥ 2. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over explicit leaf hashes, recursively per RFC 9162 §2.1.1, memoised by span. */
export function naiveMth(suite: CryptoSuite, leafHashes: readonly Uint8Array[]): Mth {
  const memo = new Map<string, Uint8Array>();
  const mth: Mth = (start, end) => {
    const n = end - start;
    if (n === 0) return suite.sha256(new Uint8Array(0));
    if (n === 1) return leafHashes[start] ?? assert.fail(`no leaf ${start}`);
    const key = `${start}:${end}`;
    let hash = memo.get(key);
    if (hash === undefined) {
      const k = largestPowerOfTwoBelow(n);
      hash = suite.sha256(Uint8Array.from([1, ...mth(start, start + k), ...mth(start + k, end)]));
      memo.set(key, hash);
    }
    return hash;
  };
  return mth;
}

/** RFC 9162 §2.1.3.1 PATH(m, D[start:end]), m relative to start. */
export function referencePath(m: number, start: number, end: number, mth: Mth): Uint8Array[] {
  const n = end - start;
  if (n <= 1) return [];
  const k = largestPowerOfTwoBelow(n);
  if (m < k) return [...referencePath(m, start, start + k, mth), mth(start + k, end)];
  return [...referencePath(m - k, start + k, end, mth), mth(start, start + k)];
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b), m relative to start. */
function referenceSubproof(m: number, start: number, end: number, b: boolean, mth: Mth): Uint8Array[] {
  const n = end - start;
  if (m === n) return b ? [] : [mth(start, end)];
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) return [...referenceSubproof(m, start, start + k, b, mth), mth(start + k, end)];
  return [...referenceSubproof(m - k, start + k, end, false, mth), mth(start, start + k)];
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]). */
export function referenceConsistency(m: number, n: number, mth: Mth): Uint8Array[] {
  return referenceSubproof(m, 0, n, true, mth);
}

/** How many stored hashes of `level` a tree of `size` leaves has. */
export function storedCount(level: number, size: number): number {
  return Math.floor(size / 256 ** level);
}

function checkRange(range: HashRange, size: number): void {
  assert.ok(Number.isSafeInteger(range.level) && range.level >= 0, `bad level ${range.level}`);
  assert.ok(range.start >= 0 && range.start < range.end, `empty or negative range ${JSON.stringify(range)}`);
  assert.ok(
    range.end <= storedCount(range.level, size),
    `read ${JSON.stringify(range)} goes past what a tree of ${size} leaves stores`,
  );
}

/** Stored hashes in memory, fed by a Frontier exactly as a real store would be. */
export class MemoryHashStore {
  readonly frontier = new Frontier();
  /** levels[0] = leaf hashes, levels[k] = stored hashes of tile level k. */
  readonly levels: Uint8Array[][] = [[]];
  readonly emitted: StoredHash[] = [];

  constructor(readonly suite: CryptoSuite) {}

  get size(): number {
    return this.frontier.size;
  }

  append(leafHash: Uint8Array): StoredHash[] {
    const completed = this.frontier.append(this.suite, leafHash);
    (this.levels[0] as Uint8Array[]).push(leafHash);
    for (const s of completed) {
      const level = (this.levels[s.level] ??= []);
      assert.equal(s.index, level.length, 'stored hashes arrive in order');
      level.push(s.hash);
    }
    this.emitted.push(...completed);
    return completed;
  }

  /** Serves a read of a plan for a tree of `size` leaves, refusing anything that tree does not have. */
  read(range: HashRange, size = this.size): Uint8Array[] {
    checkRange(range, size);
    const level = this.levels[range.level] ?? [];
    return level.slice(range.start, range.end);
  }

  run<T>(plan: Plan<T>, size = this.size): T {
    return plan.finish(plan.reads.map((range) => this.read(range, size)));
  }
}

// ---------------------------------------------------------------------------------------------------
// Symbolic hashing: a 32-byte "hash" that records the span [start, end) it claims to be MTH of, and
// whether it was built the RFC 6962 way (left child = the largest power of two below the width).
// Leaf i is symbol(i, i + 1). Anything else the suite is asked to hash gives POISON.

const MAGIC = 0x5a;

export function symbol(start: number, end: number, valid = true): Uint8Array {
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  bytes[0] = MAGIC;
  bytes[1] = valid ? 1 : 0;
  view.setFloat64(8, start);
  view.setFloat64(16, end);
  return bytes;
}

function decodeSymbol(bytes: Uint8Array): { start: number; end: number; valid: boolean } | undefined {
  if (bytes.length !== 32 || bytes[0] !== MAGIC) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { start: view.getFloat64(8), end: view.getFloat64(16), valid: bytes[1] === 1 };
}

const POISON = new Uint8Array(32).fill(0xee);

/** Counts calls, to bound the hashing a plan does. */
export let symbolicHashCalls = 0;

export const symbolicSuite: CryptoSuite = {
  sha256(data) {
    symbolicHashCalls++;
    if (data.length !== 65 || data[0] !== 1) return POISON;
    const left = decodeSymbol(data.subarray(1, 33));
    const right = decodeSymbol(data.subarray(33, 65));
    if (left === undefined || right === undefined) return POISON;
    const width = right.end - left.start;
    const valid =
      left.valid && right.valid && left.end === right.start && width >= 2 && left.end - left.start === largestPowerOfTwoBelow(width);
    return symbol(left.start, right.end, valid);
  },
  verifyEd25519: () => false,
  randomBytes: (length) => new Uint8Array(length),
};

export function resetSymbolicHashCalls(): void {
  symbolicHashCalls = 0;
}

/** Symbolic MTH: the span's own symbol. */
export const symbolicMth: Mth = (start, end) => symbol(start, end);

/** Serves a plan's reads for a symbolic tree of `size` leaves. */
export function runSymbolic<T>(plan: Plan<T>, size: number): T {
  return plan.finish(
    plan.reads.map((range) => {
      checkRange(range, size);
      const unit = 256 ** range.level;
      const hashes: Uint8Array[] = [];
      for (let j = range.start; j < range.end; j++) hashes.push(symbol(j * unit, (j + 1) * unit));
      return hashes;
    }),
  );
}

/** The frontier bytes of a symbolic tree of `size` leaves: its perfect subtrees, largest first. */
export function symbolicFrontierBytes(size: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let h = 53; h >= 0; h--) {
    if (Math.floor(size / 2 ** h) % 2 === 1) {
      parts.push(symbol(start, start + 2 ** h));
      start += 2 ** h;
    }
  }
  const out = new Uint8Array(parts.length * 32);
  parts.forEach((part, i) => out.set(part, i * 32));
  return out;
}
