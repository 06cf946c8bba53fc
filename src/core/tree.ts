/**
 * The ledger's Merkle tree (RFC 6962 §2.1, restated as RFC 9162 §2.1): leaf and node hashing, the
 * append-only frontier, proof planning against tiled storage, and proof verification.
 *
 * Storage model. The store keeps, for a tree of `size` leaves:
 * - tile level 0: every leaf hash, at its leaf index;
 * - tile level k ≥ 1: the hash of every complete perfect subtree of height 8k, at index j for the
 *   subtree covering leaves [j·256^k, (j+1)·256^k). {@link Frontier.append} hands these out as they
 *   complete.
 * Any node of the tree is then a few levels of hashing above stored hashes: a perfect subtree of height
 * h = 8k + r is computed from the 2^r stored hashes of tile level k it covers (r < 8, so ≤ 128 hashes).
 *
 * Proofs are computed in two pure steps around one storage read (the store may be synchronous, like
 * SQLite, or asynchronous, like PostgreSQL): a {@link Plan} lists the hash ranges to read, and its
 * `finish` turns what was read into the result:
 *
 *     const plan = planInclusionProof(suite, index, size);
 *     const proof = plan.finish(plan.reads.map((range) => store.readHashes(range)));
 *
 * Sizes and indices are plain numbers, exact up to 2^53 − 1; the code never uses 32-bit bitwise
 * operators on them.
 */
import { bytesEqual, concatBytes } from './bytes.js';
import type { CryptoSuite } from './crypto.js';
import { fail } from './errors.js';

/** Length of every tree hash (SHA-256). */
export const HASH_SIZE = 32;
/** Height of a tile: tile level k holds perfect subtrees of height 8k. */
export const TILE_HEIGHT = 8;

const TILE_WIDTH = 2 ** TILE_HEIGHT;
const LEAF_PREFIX = Uint8Array.of(0x00);

// ---------------------------------------------------------------------------------------------------
// Hashing (RFC 9162 §2.1.1). The 0x00 / 0x01 prefixes give leaves and interior nodes disjoint domains,
// so a leaf can never be passed off as a node (second-preimage protection).

/** The hash of a leaf: SHA-256(0x00 || leaf). */
export function hashLeaf(suite: CryptoSuite, leaf: Uint8Array): Uint8Array {
  return suite.sha256(concatBytes(LEAF_PREFIX, leaf));
}

/** The hash of an interior node: SHA-256(0x01 || left || right). */
export function hashChildren(suite: CryptoSuite, left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return suite.sha256(input);
}

/** The root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(suite: CryptoSuite): Uint8Array {
  return suite.sha256(new Uint8Array(0));
}

// ---------------------------------------------------------------------------------------------------
// Integer helpers, exact for all safe integers (no `|`, `>>`, `&` — those truncate to 32 bits).

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** The RFC 6962 split point: the largest power of two strictly less than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}

/** The heights of the set bits of n, largest first: the perfect subtrees of a tree of n leaves. */
function bitHeights(n: number): number[] {
  const heights: number[] = [];
  for (let h = 0; n > 0; h++, n = Math.floor(n / 2)) if (n % 2 === 1) heights.push(h);
  return heights.reverse();
}

// ---------------------------------------------------------------------------------------------------
// Frontier

/**
 * A private copy, so that callers mutating what they passed in or got back cannot corrupt the state.
 * (Not `.slice()`: on a Node Buffer — which suites and stores may hand us — that is a shared view.)
 */
const copyHash = (hash: Uint8Array): Uint8Array => new Uint8Array(hash);

/** A stored hash completed by an append: the perfect subtree of height 8·level at `index`. */
export type StoredHash = { level: number; index: number; hash: Uint8Array };

/**
 * The nodes of one full tile: the perfect subtrees of local heights 0–7 inside tile `tile` of tile
 * level `level`, as {@link TileNodeCache} keeps them and stores persist them (docs/FORMAT.md):
 * TILE_NODES × 32 bytes, height 0's 256 stored hashes first (leaf hashes at level 0), then height 1's
 * 128 nodes, …, height 7's 2, each height left to right.
 */
export interface TileNodes {
  level: number;
  tile: number;
  nodes: Uint8Array;
}

/** The nodes of a tile being filled by appends, from its first hash on. */
interface OpenTile {
  tile: number;
  nodes: Uint8Array;
}

/**
 * The compact range of an append-only tree: for each set bit of `size`, largest first, the hash of the
 * perfect subtree it stands for. That is all that is needed to append and to compute the root, in
 * O(log size) space.
 */
export class Frontier {
  #size = 0;
  /** Perfect subtree hashes along the right edge, largest (leftmost) first. */
  #hashes: Uint8Array[] = [];
  /**
   * Per tile level, the nodes of the tile the right edge is filling, kept only while every
   * append since the tile's start asked for tiles: a frontier restored from bytes mid-tile never saw the
   * earlier nodes, and hands out no tile for it.
   */
  #open: Array<OpenTile | undefined> = [];

  /** The number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf hash (not the leaf: see {@link hashLeaf}). Returns the stored hashes (tile level ≥ 1)
   * that this append completed, lowest level first: none unless the new size is a multiple of 256.
   * With `tiles`, also pushes there the nodes (TileNodes) of every tile this append completed, if this
   * frontier made all of them (it appended since the tile's start, each time with `tiles`): the nodes
   * are hashed by the merges anyway, so keeping them costs copies, no hashing.
   * Amortised cost: one {@link hashChildren} per leaf.
   */
  append(suite: CryptoSuite, leafHash: Uint8Array, tiles?: TileNodes[]): StoredHash[] {
    if (leafHash.length !== HASH_SIZE) fail('INVALID_ARGUMENT', `a leaf hash is ${HASH_SIZE} bytes, got ${leafHash.length}`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) fail('INVALID_ARGUMENT', 'the tree is full', { size: this.#size });
    if (tiles === undefined) this.#open = [];
    const newSize = this.#size + 1;
    const completed: StoredHash[] = [];
    let node = copyHash(leafHash);
    let height = 0;
    if (tiles !== undefined) this.#keepNode(0, this.#size, node);
    // Each trailing 1 bit of the old size is a perfect subtree as high as `node`: merge with it, like
    // carrying in a binary increment.
    for (let rest = this.#size; rest % 2 === 1; rest = (rest - 1) / 2) {
      node = hashChildren(suite, this.#hashes.pop() as Uint8Array, node);
      height++;
      const index = newSize / 2 ** height - 1;
      if (height % TILE_HEIGHT === 0) {
        const level = height / TILE_HEIGHT;
        completed.push({ level, index, hash: copyHash(node) });
        const open = this.#open[level - 1];
        this.#open[level - 1] = undefined;
        if (open !== undefined && tiles !== undefined && open.tile === index) tiles.push({ level: level - 1, tile: index, nodes: open.nodes });
      }
      if (tiles !== undefined) this.#keepNode(height, index, node);
    }
    this.#hashes.push(node);
    this.#size = newSize;
    return completed;
  }

  /** Files the node of tree height `height` at `index` in its open tile (a tile boundary is its level's height 0). */
  #keepNode(height: number, index: number, node: Uint8Array): void {
    const level = Math.floor(height / TILE_HEIGHT);
    const local = height - level * TILE_HEIGHT;
    const perTile = TILE_WIDTH / 2 ** local;
    const tile = Math.floor(index / perTile);
    const position = index - tile * perTile;
    let open = this.#open[level];
    // A tile's first hash (local height 0, position 0) opens it; a node of a tile not open is dropped.
    if (local === 0 && position === 0) this.#open[level] = open = { tile, nodes: new Uint8Array(TILE_NODES * HASH_SIZE) };
    if (open === undefined || open.tile !== tile) return;
    open.nodes.set(node, (nodeOffset(local) + position) * HASH_SIZE);
  }

  /** The tree head (RFC 9162 §2.1.1 MTH) of the leaves appended so far; the empty root for size 0. */
  root(suite: CryptoSuite): Uint8Array {
    const last = this.#hashes.length - 1;
    const smallest = this.#hashes[last];
    if (smallest === undefined) return emptyRoot(suite);
    // MTH splits off the largest perfect subtree first, so the right edge folds from the smallest up.
    let root = smallest;
    for (let i = last - 1; i >= 0; i--) root = hashChildren(suite, this.#hashes[i] as Uint8Array, root);
    return copyHash(root);
  }

  /** The state as concatenated 32-byte hashes, largest subtree first (popcount(size) × 32 bytes). */
  toBytes(): Uint8Array {
    return concatBytes(...this.#hashes);
  }

  /** Restores a frontier saved with {@link toBytes}; MALFORMED unless the length fits `size`. */
  static fromBytes(size: number, bytes: Uint8Array): Frontier {
    if (!isCount(size)) fail('MALFORMED', 'a frontier size must be a non-negative safe integer', { size });
    const count = bitHeights(size).length;
    if (bytes.length !== count * HASH_SIZE) {
      fail('MALFORMED', `a frontier of size ${size} is ${count * HASH_SIZE} bytes, got ${bytes.length}`, {
        size,
        expected: count * HASH_SIZE,
        actual: bytes.length,
      });
    }
    const frontier = new Frontier();
    frontier.#size = size;
    for (let i = 0; i < count; i++) frontier.#hashes.push(copyHash(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE)));
    return frontier;
  }

  /** An independent copy (hashes are never mutated in place, so they can be shared). */
  clone(): Frontier {
    const copy = new Frontier();
    copy.#size = this.#size;
    copy.#hashes = [...this.#hashes];
    // Open tiles are filled in place: each copy gets its own, so a batch that fails leaves this one whole.
    copy.#open = this.#open.map((open) => open && { tile: open.tile, nodes: open.nodes.slice() });
    return copy;
  }
}

// ---------------------------------------------------------------------------------------------------
// Tree shape. A Span [start, end) stands for MTH(D[start:end]). Every node of an RFC 6962 tree starts
// at a multiple of the smallest power of two ≥ its width, so its binary decomposition (below) is made
// of aligned perfect subtrees — exactly the ones the store can produce.

interface Span {
  start: number;
  end: number;
}

/** The audit path of RFC 9162 §2.1.3.1 PATH(index, D[0:size]) as spans, leaf sibling first. */
function inclusionSpans(index: number, size: number): Span[] {
  const siblings: Span[] = [];
  let start = 0;
  let end = size;
  while (end - start > 1) {
    const mid = start + splitPoint(end - start);
    if (index < mid) {
      siblings.push({ start: mid, end });
      end = mid;
    } else {
      siblings.push({ start, end: mid });
      start = mid;
    }
  }
  return siblings.reverse();
}

/** RFC 9162 §2.1.4.1 PROOF(from, D[0:to]) = SUBPROOF(from, D[0:to], true) as spans (0 < from ≤ to). */
function consistencySpans(from: number, to: number): Span[] {
  const siblings: Span[] = [];
  let start = 0;
  let end = to;
  // `known` is SUBPROOF's b: true while the current node is a prefix the verifier already has the
  // root of (we only ever went left), in which case that node's hash need not be sent.
  let known = true;
  while (from !== end) {
    const mid = start + splitPoint(end - start);
    if (from <= mid) {
      siblings.push({ start: mid, end });
      end = mid;
    } else {
      siblings.push({ start, end: mid });
      start = mid;
      known = false;
    }
  }
  return [...(known ? [] : [{ start, end }]), ...siblings.reverse()];
}

// ---------------------------------------------------------------------------------------------------
// Planning

/** Stored hashes of tile level `level` (0 = leaf hashes), indices [start, end). */
export type HashRange = { level: number; start: number; end: number };

/**
 * A computation waiting for one storage read: fetch `reads[i]` into `hashes[i]` (in index order) and
 * call `finish`, which checks the shape of what was read (INVALID_ARGUMENT for a wrong number of
 * ranges or hashes, MALFORMED for a hash that is not 32 bytes) and does the hashing.
 */
export type Plan<T> = { reads: HashRange[]; finish(hashes: readonly (readonly Uint8Array[])[]): T };

/** A perfect subtree computed from `count` (a power of two) stored hashes of `level`, from `index`. */
interface Piece {
  level: number;
  index: number;
  count: number;
}

function piecesOf(span: Span): Piece[] {
  const pieces: Piece[] = [];
  let start = span.start;
  for (const height of bitHeights(span.end - span.start)) {
    const level = Math.floor(height / TILE_HEIGHT);
    pieces.push({ level, index: start / TILE_WIDTH ** level, count: 2 ** (height - level * TILE_HEIGHT) });
    start += 2 ** height;
  }
  return pieces;
}

/** The reads covering all pieces: per level, sorted, overlapping or adjacent ranges merged. */
function mergeReads(pieces: Piece[]): HashRange[] {
  const sorted = pieces
    .map((p) => ({ level: p.level, start: p.index, end: p.index + p.count }))
    .sort((a, b) => a.level - b.level || a.start - b.start);
  const reads: HashRange[] = [];
  for (const range of sorted) {
    const last = reads[reads.length - 1];
    if (last !== undefined && last.level === range.level && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else reads.push(range);
  }
  return reads;
}

/** Stored hashes returned for a plan's reads, checked against the plan and indexed by level. */
class ReadHashes {
  readonly #byLevel = new Map<number, Map<number, Uint8Array>>();

  constructor(reads: readonly HashRange[], hashes: readonly (readonly Uint8Array[])[]) {
    if (hashes.length !== reads.length) {
      fail('INVALID_ARGUMENT', `the plan has ${reads.length} reads, got ${hashes.length} results`, {
        expected: reads.length,
        actual: hashes.length,
      });
    }
    reads.forEach((read, i) => this.#add(read, hashes[i] as readonly Uint8Array[], i));
  }

  #add(read: HashRange, hashes: readonly Uint8Array[], readIndex: number): void {
    const expected = read.end - read.start;
    if (hashes.length !== expected) {
      fail('INVALID_ARGUMENT', `read ${readIndex} (level ${read.level} [${read.start}, ${read.end})) expects ${expected} hashes, got ${hashes.length}`, {
        read: readIndex,
        expected,
        actual: hashes.length,
      });
    }
    const level = this.#byLevel.get(read.level) ?? new Map<number, Uint8Array>();
    this.#byLevel.set(read.level, level);
    hashes.forEach((hash, i) => {
      const index = read.start + i;
      if (hash.length !== HASH_SIZE) {
        fail('MALFORMED', `stored hash at level ${read.level} index ${index} is ${hash.length} bytes, not ${HASH_SIZE}`, {
          level: read.level,
          index,
          length: hash.length,
        });
      }
      level.set(index, hash);
    });
  }

  get(level: number, index: number): Uint8Array {
    const hash = this.#byLevel.get(level)?.get(index);
    // Unreachable: every piece is covered by a read, and the reads were checked above.
    if (hash === undefined) throw new Error(`internal: level ${level} index ${index} was not read`);
    return hash;
  }
}

/** Hashes a perfect piece up from its stored hashes: count − 1 node hashes (≤ 127). */
function pieceHash(suite: CryptoSuite, stored: ReadHashes, piece: Piece): Uint8Array {
  let layer: Uint8Array[] = [];
  for (let i = 0; i < piece.count; i++) layer.push(stored.get(piece.level, piece.index + i));
  while (layer.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(hashChildren(suite, layer[i] as Uint8Array, layer[i + 1] as Uint8Array));
    layer = next;
  }
  return layer[0] as Uint8Array;
}

/** MTH of a span: its perfect pieces folded from the right (RFC 9162 §2.1.1 splits largest first). */
function spanHash(suite: CryptoSuite, stored: ReadHashes, pieces: Piece[]): Uint8Array {
  const hashes = pieces.map((piece) => pieceHash(suite, stored, piece));
  let hash = hashes[hashes.length - 1] as Uint8Array;
  for (let i = hashes.length - 2; i >= 0; i--) hash = hashChildren(suite, hashes[i] as Uint8Array, hash);
  return hash;
}

function planSpans(suite: CryptoSuite, spans: Span[]): Plan<Uint8Array[]> {
  const pieceLists = spans.map(piecesOf);
  const reads = mergeReads(pieceLists.flat());
  return {
    reads,
    finish(hashes) {
      const stored = new ReadHashes(reads, hashes);
      return pieceLists.map((pieces) => spanHash(suite, stored, pieces));
    },
  };
}

/**
 * Plans the RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of the first
 * `size` leaves: sibling hashes from the leaf's sibling up to the root's child. Only stored hashes of
 * that tree are read, so historic sizes work. INVALID_ARGUMENT unless 0 ≤ index < size.
 */
export function planInclusionProof(suite: CryptoSuite, index: number, size: number): Plan<Uint8Array[]> {
  if (!isCount(index) || !isCount(size) || index >= size) {
    fail('INVALID_ARGUMENT', `an inclusion proof needs 0 ≤ index < size, got index ${index}, size ${size}`, { index, size });
  }
  return planSpans(suite, inclusionSpans(index, size));
}

// ---------------------------------------------------------------------------------------------------
// Many inclusion proofs at once, with the nodes of full tiles cached

/**
 * Hashes of local heights 0..TILE_HEIGHT−1 inside one tile: its 256 stored hashes (a C2SP tlog-tiles
 * full tile), then 128 + 64 + … + 2 interior nodes = 510 hashes.
 */
export const TILE_NODES = 2 * TILE_WIDTH - 2;

/** Offset of the first node of local height h (0 ≤ h < TILE_HEIGHT) in a tile's node array. */
function nodeOffset(height: number): number {
  return NODE_OFFSETS[height] as number;
}

const NODE_OFFSETS = Array.from({ length: TILE_HEIGHT }, (_, height) => 2 * TILE_WIDTH - (2 * TILE_WIDTH) / 2 ** height);

/**
 * The nodes (local heights 0–7: the tile's 256 stored hashes and its interior nodes) of full tiles of
 * one tree, computed once from the tile's 256 stored hashes and kept, the least recently used (about:
 * see RecentlyUsed) evicted beyond `maxTiles` (16 KiB each). A
 * full tile never changes in an append-only tree, whatever later size a proof is for, so a cached node
 * stands for the same stored hashes it was computed from. One cache per ledger of one store: it trusts
 * the store exactly as reading the stored hashes does.
 */
export class TileNodeCache {
  readonly #tiles: RecentlyUsed<number, Uint8Array>;
  /**
   * Hashes of perfect subtrees outside full tiles (the tree's right edge, which every proof at a size
   * shares), by `level/index/count`: a perfect subtree's leaves are all stored, so its hash is as final
   * as a full tile's. Bounded like the tiles, at 32 bytes each.
   */
  readonly #pieces: RecentlyUsed<string, Uint8Array>;

  constructor(readonly maxTiles = 8192) {
    if (!Number.isSafeInteger(maxTiles) || maxTiles < 0) fail('INVALID_ARGUMENT', `maxTiles must be a non-negative integer, got ${maxTiles}`, { maxTiles });
    this.#tiles = new RecentlyUsed(maxTiles);
    this.#pieces = new RecentlyUsed(maxTiles * 16);
  }

  /** The cached hash of a perfect subtree, by its key `level/index/count`. */
  piece(key: string): Uint8Array | undefined {
    return this.#pieces.get(key);
  }

  setPiece(key: string, hash: Uint8Array): void {
    this.#pieces.set(key, hash);
  }

  get size(): number {
    return this.#tiles.size;
  }

  get(level: number, tile: number): Uint8Array | undefined {
    return this.#tiles.get(tileKey(level, tile));
  }

  set(level: number, tile: number, nodes: Uint8Array): void {
    this.#tiles.set(tileKey(level, tile), nodes);
  }
}

/** A tile's number key: levels are below 8 for any safe tree size (256^7 > 2^53), so this stays exact. */
const tileKey = (level: number, tile: number): number => tile * 8 + level;

/**
 * At most `max` entries, the least recently used evicted first, approximately (CLOCK, second chance):
 * a hit only marks its entry, and eviction passes over marked entries once. Moving every hit to the end
 * of a Map, as exact LRU does, costs a delete and an insert per proof and left the Map to compact.
 */
class RecentlyUsed<K, V> {
  readonly #map = new Map<K, { value: V; used: boolean }>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    if (this.max === 0) return;
    const known = this.#map.get(key);
    if (known !== undefined) {
      known.value = value;
      known.used = true;
      return;
    }
    this.#map.set(key, { value, used: false });
    while (this.#map.size > this.max) {
      const [oldestKey, oldest] = this.#map.entries().next().value as [K, { value: V; used: boolean }];
      this.#map.delete(oldestKey);
      if (oldest.used) {
        oldest.used = false;
        this.#map.set(oldestKey, oldest);
      }
    }
  }
}

const pieceKey = (piece: Piece): string => `${piece.level}/${piece.index}/${piece.count}`;

/** The nodes of one tile from its 256 stored hashes (TILE_NODES × 32 bytes). */
function tileNodes(suite: CryptoSuite, stored: ReadHashes, level: number, tile: number): Uint8Array {
  const nodes = new Uint8Array(TILE_NODES * HASH_SIZE);
  let below: Uint8Array[] = [];
  for (let i = 0; i < TILE_WIDTH; i++) {
    const hash = stored.get(level, tile * TILE_WIDTH + i);
    nodes.set(hash, i * HASH_SIZE);
    below.push(hash);
  }
  for (let height = 1; height < TILE_HEIGHT; height++) {
    const layer: Uint8Array[] = [];
    for (let i = 0; i < below.length; i += 2) {
      const hash = hashChildren(suite, below[i] as Uint8Array, below[i + 1] as Uint8Array);
      nodes.set(hash, (nodeOffset(height) + layer.length) * HASH_SIZE);
      layer.push(hash);
    }
    below = layer;
  }
  return nodes;
}

/** A plan of many inclusion proofs; `tiles` are the full tiles it reads whole, not found in the cache. */
export interface InclusionProofsPlan extends Plan<Uint8Array[][]> {
  /** After finish, each of these tiles' nodes is in the cache (to be stored, for instance). */
  readonly tiles: ReadonlyArray<{ level: number; tile: number }>;
  /**
   * The same proofs with stored nodes for `tiles` (one per tile, in order; undefined, or of the wrong
   * length, where none was stored): those are cached and not read; the rest are read whole as before.
   */
  withStoredTiles(nodes: ReadonlyArray<Uint8Array | undefined>): InclusionProofsPlan;
}

/**
 * Plans the inclusion proofs of many leaves in the tree of the first `size` leaves with one read:
 * proof `i` of the result is exactly planInclusionProof(suite, indices[i], size)'s. Reads of all proofs
 * are merged per level, a hash shared by several proofs is computed once, and with a `cache` a piece
 * inside a full tile comes from its cached nodes (a tile not yet cached is read whole and
 * cached by `finish`), so a proof costs a few lookups instead of hundreds of hashes.
 */
export function planInclusionProofs(suite: CryptoSuite, indices: readonly number[], size: number, cache?: TileNodeCache): InclusionProofsPlan {
  for (const index of indices) {
    if (!isCount(index) || !isCount(size) || index >= size) {
      fail('INVALID_ARGUMENT', `an inclusion proof needs 0 ≤ index < size, got index ${index}, size ${size}`, { index, size });
    }
  }
  if (indices.length === 1 && cache !== undefined) {
    const single = planSingleFromTiles(suite, indices[0] as number, size, cache);
    if (single !== undefined) return single;
  }
  return planManyInclusionProofs(suite, indices, size, cache);
}

function planManyInclusionProofs(suite: CryptoSuite, indices: readonly number[], size: number, cache?: TileNodeCache): InclusionProofsPlan {
  const siblings = new SiblingTable();
  for (const index of indices) {
    const spans = inclusionSpans(index, size);
    siblings.lengths.push(spans.length);
    for (const { start, end } of spans) {
      const node = cache !== undefined ? fullTileNode(start, end, size) : undefined;
      if (node !== undefined) siblings.addTileNode(node);
      else siblings.addSpan(start, end);
    }
  }
  return new ProofsPlanner(suite, size, cache, siblings).plan();
}

/** Where a hash sits: byte `at` of the nodes of full tile `tile` of tile level `level`. */
interface TileNodeRef {
  level: number;
  tile: number;
  at: number;
}

/**
 * The common case of one proof with a warm right edge, planned without the general planner's maps: each
 * sibling is a node of a full tile or a cached edge span. Undefined (use the general planner) when an
 * edge span is not cached yet. Tiles not in memory are listed in `tiles`; until stored nodes arrive for
 * all of them, reads and finish are the general plan's, so the plan is exact either way.
 */
function planSingleFromTiles(suite: CryptoSuite, index: number, size: number, cache: TileNodeCache): InclusionProofsPlan | undefined {
  const spans = inclusionSpans(index, size);
  /** Per sibling, its cached hash, or the position of its tile in `tiles` and its byte offset there. */
  const known: Array<Uint8Array | undefined> = [];
  const slots: number[] = [];
  const offsets: number[] = [];
  const tiles: Array<{ level: number; tile: number }> = [];
  for (const { start, end } of spans) {
    const ref = fullTileNode(start, end, size);
    if (ref === undefined) {
      const hash = cache.piece(`s${start}:${end}`);
      if (hash === undefined) return undefined;
      known.push(hash);
      slots.push(-1);
      offsets.push(0);
      continue;
    }
    let slot = 0;
    while (slot < tiles.length && (tiles[slot]!.level !== ref.level || tiles[slot]!.tile !== ref.tile)) slot++;
    if (slot === tiles.length) tiles.push({ level: ref.level, tile: ref.tile });
    known.push(undefined);
    slots.push(slot);
    offsets.push(ref.at);
  }
  // Held here from planning on, so an eviction before finish is harmless.
  const nodes = tiles.map(({ level, tile }) => cache.get(level, tile));
  const fromNodes = (found: ReadonlyArray<Uint8Array | undefined>): InclusionProofsPlan => ({
    reads: [],
    tiles: [],
    withStoredTiles() {
      return this;
    },
    finish(hashes) {
      new ReadHashes([], hashes);
      const proof: Uint8Array[] = [];
      for (let i = 0; i < known.length; i++) {
        const hash = known[i];
        proof.push(hash !== undefined ? copyHash(hash) : (found[slots[i]!] as Uint8Array).slice(offsets[i]!, offsets[i]! + HASH_SIZE));
      }
      return [proof];
    },
  });
  if (nodes.every((n) => n !== undefined)) return fromNodes(nodes);
  const missing = tiles.filter((_, i) => nodes[i] === undefined);
  let general: InclusionProofsPlan | undefined;
  const fallback = (): InclusionProofsPlan => (general ??= planManyInclusionProofs(suite, [index], size, cache));
  return {
    get reads() {
      return fallback().reads;
    },
    tiles: missing,
    withStoredTiles(stored) {
      const complete = stored.length === missing.length && stored.every((n) => n !== undefined && n.length === TILE_NODES * HASH_SIZE);
      if (!complete) {
        const plan = fallback();
        const byKey = new Map(missing.map((t, i) => [`${t.level}/${t.tile}`, stored[i]]));
        return plan.withStoredTiles(plan.tiles.map((t) => byKey.get(`${t.level}/${t.tile}`)));
      }
      missing.forEach(({ level, tile }, i) => cache.set(level, tile, stored[i] as Uint8Array));
      let next = 0;
      return fromNodes(nodes.map((n) => n ?? stored[next++]));
    },
    finish: (hashes) => fallback().finish(hashes),
  };
}

/** Leaves under one hash of each tile level: 256^level. */
const LEVEL_WIDTHS = Array.from({ length: 8 }, (_, level) => TILE_WIDTH ** level);

/**
 * The node for span [start, end) if it is one perfect subtree inside a full tile of a tree of `size`
 * leaves, else undefined (the tree's right edge, or a span of several perfect subtrees).
 */
function fullTileNode(start: number, end: number, size: number): TileNodeRef | undefined {
  let height = 0;
  for (let width = end - start; width > 1; width /= 2) {
    if (width % 2 === 1) return undefined;
    height++;
  }
  const level = Math.floor(height / TILE_HEIGHT);
  const local = height - level * TILE_HEIGHT;
  const levelIndex = start / (LEVEL_WIDTHS[level] as number);
  const tile = Math.floor(levelIndex / TILE_WIDTH);
  if ((tile + 1) * (LEVEL_WIDTHS[level + 1] as number) > size) return undefined;
  return { level, tile, at: (nodeOffset(local) + (levelIndex - tile * TILE_WIDTH) / 2 ** local) * HASH_SIZE };
}

/**
 * Every sibling of every proof, in proof order, as flat arrays: a node of a full tile (its tile's slot
 * and byte offset), or a span hashed from stored hashes (its slot among the distinct spans, which
 * proofs of nearby leaves and every proof's right edge share).
 */
class SiblingTable {
  /** Siblings per proof. */
  readonly lengths: number[] = [];
  /** Per sibling: the tile slot, or −1 for a span. */
  readonly tileSlots: number[] = [];
  /** Per sibling: the byte offset in its tile, or its span slot. */
  readonly offsets: number[] = [];
  readonly tiles: Array<{ level: number; tile: number }> = [];
  readonly spans: Span[] = [];
  readonly #tileSlot = new Map<number, number>();
  readonly #spanSlot = new Map<string, number>();

  addTileNode(node: TileNodeRef): void {
    this.tileSlots.push(this.tileSlotOf(node.level, node.tile));
    this.offsets.push(node.at);
  }

  addSpan(start: number, end: number): void {
    const key = `${start}:${end}`;
    let slot = this.#spanSlot.get(key);
    if (slot === undefined) {
      slot = this.spans.length;
      this.#spanSlot.set(key, slot);
      this.spans.push({ start, end });
    }
    this.tileSlots.push(-1);
    this.offsets.push(slot);
  }

  /** The slot of a full tile, added if no sibling or piece needed it yet. */
  tileSlotOf(level: number, tile: number): number {
    const key = tileKey(level, tile);
    let slot = this.#tileSlot.get(key);
    if (slot === undefined) {
      slot = this.tiles.length;
      this.#tileSlot.set(key, slot);
      this.tiles.push({ level, tile });
    }
    return slot;
  }
}

/**
 * Turns a sibling table into a plan: the nodes of its full tiles from the cache, from stored tiles or
 * from their 256 stored hashes read whole; its spans from the cache (`s<start>:<end>`: the leaves
 * under a span are stored, so its hash is final), else hashed from their perfect pieces, each a tile
 * node, a cached piece or stored hashes read.
 */
class ProofsPlanner {
  /** Per tile slot, its nodes once known (held here, so an eviction before finish is harmless). */
  readonly #nodes: Array<Uint8Array | undefined>;
  /** Per span slot, its hash once known. */
  readonly #spanHashes: Array<Uint8Array | undefined>;
  /** Spans to hash at finish, with their pieces. */
  readonly #toHash: Array<{ slot: number; key: string; pieces: Piece[] }> = [];
  /** Pieces read from stored hashes (outside full tiles, or every piece without a cache). */
  readonly #toRead: Piece[] = [];
  readonly #cachedPieces = new Map<string, Uint8Array>();

  constructor(
    readonly suite: CryptoSuite,
    readonly size: number,
    readonly cache: TileNodeCache | undefined,
    readonly siblings: SiblingTable,
  ) {
    this.#spanHashes = siblings.spans.map(({ start, end }) => cache?.piece(`s${start}:${end}`));
    siblings.spans.forEach((span, slot) => {
      if (this.#spanHashes[slot] !== undefined) return;
      const pieces = piecesOf(span);
      this.#toHash.push({ slot, key: `${span.start}:${span.end}`, pieces });
      for (const piece of pieces) this.#planPiece(piece);
    });
    this.#nodes = siblings.tiles.map(({ level, tile }) => cache?.get(level, tile));
  }

  #inFullTile(piece: Piece): boolean {
    return this.cache !== undefined && (Math.floor(piece.index / TILE_WIDTH) + 1) * (LEVEL_WIDTHS[piece.level + 1] as number) <= this.size;
  }

  #planPiece(piece: Piece): void {
    if (this.#inFullTile(piece)) {
      this.siblings.tileSlotOf(piece.level, Math.floor(piece.index / TILE_WIDTH));
      return;
    }
    if (this.cache !== undefined && piece.count > 1) {
      const key = pieceKey(piece);
      const known = this.cache.piece(key);
      if (known !== undefined) {
        this.#cachedPieces.set(key, known);
        return;
      }
    }
    this.#toRead.push(piece);
  }

  plan(): InclusionProofsPlan {
    const missing: number[] = [];
    this.#nodes.forEach((nodes, slot) => {
      if (nodes === undefined) missing.push(slot);
    });
    return this.#planWith(missing);
  }

  /** The plan once the tiles of `missing` (slots) are the only ones to read whole. */
  #planWith(missing: number[]): InclusionProofsPlan {
    const { tiles } = this.siblings;
    const reads = mergeReads([...this.#toRead, ...missing.map((slot) => ({ level: tiles[slot]!.level, index: tiles[slot]!.tile * TILE_WIDTH, count: TILE_WIDTH }))]);
    return {
      reads,
      tiles: missing.map((slot) => tiles[slot]!),
      withStoredTiles: (stored) => {
        const still = missing.filter((slot, i) => {
          const found = stored[i];
          if (found === undefined || found.length !== TILE_NODES * HASH_SIZE) return true;
          this.#nodes[slot] = found;
          this.cache?.set(tiles[slot]!.level, tiles[slot]!.tile, found);
          return false;
        });
        return this.#planWith(still);
      },
      finish: (hashes) => this.#finish(missing, reads, hashes),
    };
  }

  #finish(missing: number[], reads: HashRange[], hashes: ReadonlyArray<readonly Uint8Array[]>): Uint8Array[][] {
    const stored = new ReadHashes(reads, hashes);
    const { tiles, lengths, tileSlots, offsets } = this.siblings;
    for (const slot of missing) {
      const { level, tile } = tiles[slot]!;
      const nodes = tileNodes(this.suite, stored, level, tile);
      this.#nodes[slot] = nodes;
      this.cache?.set(level, tile, nodes);
    }
    for (const { slot, key, pieces } of this.#toHash) {
      let hash = this.#pieceHash(stored, pieces[pieces.length - 1] as Piece);
      for (let i = pieces.length - 2; i >= 0; i--) hash = hashChildren(this.suite, this.#pieceHash(stored, pieces[i] as Piece), hash);
      this.#spanHashes[slot] = hash;
      this.cache?.setPiece(`s${key}`, copyHash(hash));
    }
    // Every hash handed out is a copy, a view into one buffer per proof: a caller changing a proof
    // changes neither the cache nor another proof.
    const proofs: Uint8Array[][] = [];
    let sibling = 0;
    for (const length of lengths) {
      const bytes = new Uint8Array(length * HASH_SIZE);
      const proof: Uint8Array[] = [];
      for (let i = 0; i < length; i++, sibling++) {
        const tileSlot = tileSlots[sibling] as number;
        const offset = offsets[sibling] as number;
        const hash = tileSlot >= 0 ? (this.#nodes[tileSlot] as Uint8Array).subarray(offset, offset + HASH_SIZE) : (this.#spanHashes[offset] as Uint8Array);
        bytes.set(hash, i * HASH_SIZE);
        proof.push(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
      }
      proofs.push(proof);
    }
    return proofs;
  }

  /** A perfect piece's hash: a view into its tile's nodes, a stored hash, or hashed from stored hashes (and cached). */
  #pieceHash(stored: ReadHashes, piece: Piece): Uint8Array {
    if (this.#inFullTile(piece)) {
      const tile = Math.floor(piece.index / TILE_WIDTH);
      const nodes = this.#nodes[this.siblings.tileSlotOf(piece.level, tile)] as Uint8Array;
      const at = (nodeOffset(Math.log2(piece.count)) + (piece.index - tile * TILE_WIDTH) / piece.count) * HASH_SIZE;
      return nodes.subarray(at, at + HASH_SIZE);
    }
    if (piece.count === 1) return stored.get(piece.level, piece.index);
    const key = pieceKey(piece);
    let hash = this.#cachedPieces.get(key);
    if (hash === undefined) {
      this.#cachedPieces.set(key, (hash = pieceHash(this.suite, stored, piece)));
      this.cache?.setPiece(key, copyHash(hash));
    }
    return hash;
  }
}

/**
 * Plans the RFC 9162 §2.1.4.1 consistency proof from the tree of `from` leaves to the tree of `to`.
 * INVALID_ARGUMENT unless 0 < from ≤ to; from = to gives an empty proof.
 */
export function planConsistencyProof(suite: CryptoSuite, from: number, to: number): Plan<Uint8Array[]> {
  if (!isCount(from) || !isCount(to) || from === 0 || from > to) {
    fail('INVALID_ARGUMENT', `a consistency proof needs 0 < from ≤ to, got from ${from}, to ${to}`, { from, to });
  }
  return planSpans(suite, consistencySpans(from, to));
}

/** Plans the tree head (MTH) of the first `size` leaves, e.g. to check an old checkpoint. */
export function planRootHash(suite: CryptoSuite, size: number): Plan<Uint8Array> {
  if (!isCount(size)) fail('INVALID_ARGUMENT', `a tree size must be a non-negative safe integer, got ${size}`, { size });
  const plan = planSpans(suite, size === 0 ? [] : [{ start: 0, end: size }]);
  return {
    reads: plan.reads,
    finish: (hashes) => plan.finish(hashes)[0] ?? emptyRoot(suite),
  };
}

// ---------------------------------------------------------------------------------------------------
// Verification. Everything here rejects with INVALID_PROOF, including malformed arguments, because
// they come with the proof from an untrusted source.

function checkCount(name: string, n: number): void {
  if (!isCount(n)) fail('INVALID_PROOF', `${name} must be a non-negative safe integer, got ${n}`, { [name]: n });
}

function checkHash(name: string, hash: Uint8Array): void {
  if (hash.length !== HASH_SIZE) fail('INVALID_PROOF', `${name} is ${hash.length} bytes, not ${HASH_SIZE}`, { [name]: hash.length });
}

function checkProofLength(proof: readonly Uint8Array[], expected: number, details: Record<string, unknown>): void {
  if (proof.length !== expected) {
    fail('INVALID_PROOF', `the proof has ${proof.length} hashes, expected ${expected}`, { ...details, expected, actual: proof.length });
  }
  proof.forEach((hash, i) => checkHash(`proof[${i}]`, hash));
}

/** Right shift by one, exact beyond 32 bits. */
const half = (n: number): number => Math.floor(n / 2);
const isOdd = (n: number): boolean => n % 2 === 1;

/**
 * The root that an inclusion proof implies for `leafHash` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2 steps 1–4). INVALID_PROOF if the proof cannot be one for that index and size.
 */
export function rootFromInclusionProof(
  suite: CryptoSuite,
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkCount('index', index);
  checkCount('size', size);
  if (index >= size) fail('INVALID_PROOF', `leaf index ${index} is not below the tree size ${size}`, { index, size });
  checkHash('leaf hash', leafHash);
  checkProofLength(proof, inclusionSpans(index, size).length, { index, size });
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) fail('INVALID_PROOF', 'the inclusion proof is too long', { index, size });
    if (isOdd(fn) || fn === sn) {
      // `p` is a left sibling; on the right edge, skip the levels where the node has no sibling.
      r = hashChildren(suite, p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = hashChildren(suite, r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) fail('INVALID_PROOF', 'the inclusion proof is too short', { index, size });
  return r;
}

/**
 * Verifies an RFC 9162 §2.1.3.2 inclusion proof: `leafHash` is leaf `index` of the tree of `size`
 * leaves whose root is `root`. Throws INVALID_PROOF otherwise.
 */
export function verifyInclusion(
  suite: CryptoSuite,
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(suite, index, size, leafHash, proof);
  checkHash('root', root);
  if (!bytesEqual(computed, root)) fail('INVALID_PROOF', 'the inclusion proof does not lead to the root', { index, size });
}

/**
 * Verifies an RFC 9162 §2.1.4.2 consistency proof: the tree of `to` leaves with root `toRoot` extends
 * the tree of `from` leaves with root `fromRoot`. Throws INVALID_PROOF otherwise. `from` must be ≥ 1
 * (every tree extends the empty tree, so a proof from 0 would prove nothing and is refused). When
 * from = to the proof must be empty and the roots byte-equal.
 */
export function verifyConsistency(
  suite: CryptoSuite,
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
): void {
  checkCount('from', from);
  checkCount('to', to);
  const sizes = { from, to };
  if (from > to) fail('INVALID_PROOF', `the old size ${from} is larger than the new size ${to}`, sizes);
  if (from === 0) fail('INVALID_PROOF', 'a consistency proof from the empty tree proves nothing', sizes);
  if (from === to) {
    if (proof.length !== 0) fail('INVALID_PROOF', 'the sizes are equal but the proof is not empty', sizes);
    if (!bytesEqual(fromRoot, toRoot)) fail('INVALID_PROOF', 'the sizes are equal but the roots differ', sizes);
    return;
  }
  checkHash('old root', fromRoot);
  checkHash('new root', toRoot);
  checkProofLength(proof, consistencySpans(from, to).length, sizes);
  const [fr, sr] = rootsFromConsistencyProof(suite, from, to, proof, fromRoot);
  if (!bytesEqual(fr, fromRoot)) fail('INVALID_PROOF', 'the consistency proof does not lead to the old root', sizes);
  if (!bytesEqual(sr, toRoot)) fail('INVALID_PROOF', 'the consistency proof does not lead to the new root', sizes);
}

/** RFC 9162 §2.1.4.2 steps 2–6: the old and new roots a consistency proof implies (0 < from < to). */
function rootsFromConsistencyProof(
  suite: CryptoSuite,
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  fromRoot: Uint8Array,
): [Uint8Array, Uint8Array] {
  // A power-of-two old tree is itself a node of the new tree, so the proof leaves out its hash.
  const path = isPowerOfTwo(from) ? [fromRoot, ...proof] : proof;
  let fn = from - 1;
  let sn = to - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) fail('INVALID_PROOF', 'the consistency proof is too long', { from, to });
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(suite, c, fr);
      sr = hashChildren(suite, c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = hashChildren(suite, sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  if (sn !== 0) fail('INVALID_PROOF', 'the consistency proof is too short', { from, to });
  return [fr, sr];
}
