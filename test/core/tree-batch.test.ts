import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { SealtrailError } from '../../src/core/errors.js';
import { Frontier, planInclusionProof, planInclusionProofs, TileNodeCache, verifyInclusion, planRootHash, type TileNodes } from '../../src/core/tree.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { MemoryHashStore } from './tree-reference.js';

// Past one full level-1 tile (65,536 leaves), so that pieces of full level-0 and level-1 tiles and of
// partial tiles all occur.
const LEAVES = 140_000;

function leafHash(i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`leaf ${i}`).digest());
}

const tree = new MemoryHashStore(nodeSuite);
for (let i = 0; i < LEAVES; i++) tree.append(leafHash(i));

const one = (index: number, size: number): Uint8Array[] => tree.run(planInclusionProof(nodeSuite, index, size), size);

const toHexes = (proof: Uint8Array[]): string[] => proof.map((h) => Buffer.from(h).toString('hex'));

describe('planInclusionProofs', () => {
  it('gives, for many sizes and index sets, exactly the proofs planned one at a time, with and without a cache', () => {
    // A small cache shared across runs: tiles are evicted and re-read, and cached tiles serve later sizes.
    const shared = new TileNodeCache(16);
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: LEAVES }), fc.constantFrom(256, 257, 65_535, 65_536, 65_537, LEAVES)),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        (size, picks, near) => {
          // Either spread over the tree or clustered (duplicates included), as a bundle's pages are.
          const base = picks[0]! % size;
          const indices = picks.map((p) => (near ? (base + (p % 700)) % size : p % size));
          const expected = indices.map((i) => toHexes(one(i, size)));
          for (const cache of [undefined, shared, new TileNodeCache()]) {
            const proofs = tree.run(planInclusionProofs(nodeSuite, indices, size, cache), size);
            assert.deepEqual(proofs.map(toHexes), expected);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('serves a warm cache without reading the tiles again, and the proofs verify', () => {
    const cache = new TileNodeCache();
    // Every tile of a tree of 2 × 65,536 leaves is full: warm, a proof reads only its lone siblings.
    const size = 131_072;
    const indices = [0, 5, 255, 256, 70_000, 131_071];
    const cold = planInclusionProofs(nodeSuite, indices, size, cache);
    const coldRead = cold.reads.reduce((n, r) => n + r.end - r.start, 0);
    tree.run(cold, size);
    const warm = planInclusionProofs(nodeSuite, indices, size, cache);
    const warmRead = warm.reads.reduce((n, r) => n + r.end - r.start, 0);
    assert.ok(warmRead <= 3 * indices.length && coldRead > 256 * 4, `warm read ${warmRead} hashes, cold ${coldRead}`);
    const root = tree.run(planRootHash(nodeSuite, size), size);
    tree.run(warm, size).forEach((proof, i) => {
      verifyInclusion(nodeSuite, indices[i]!, size, leafHash(indices[i]!), proof, root);
    });
  });

  it('caches the right edge every proof at a size shares, so a warm proof on a partial tree reads a few hashes', () => {
    const cache = new TileNodeCache();
    const reads = (plan: { reads: Array<{ start: number; end: number }> }) => plan.reads.reduce((n, r) => n + r.end - r.start, 0);
    const root = tree.run(planRootHash(nodeSuite, LEAVES), LEAVES);
    // 140,000 leaves: the last level-1 tile and the last leaf tile are partial (the tree's right edge).
    for (const index of [10, 99_999]) {
      const cold = planInclusionProofs(nodeSuite, [index], LEAVES, cache);
      tree.run(cold, LEAVES);
      const warm = planInclusionProofs(nodeSuite, [index], LEAVES, cache);
      const [proof] = tree.run(warm, LEAVES);
      // Cold, the first proof also read the right edge (~100 stored hashes besides its two tiles).
      assert.ok(reads(warm) <= 3 && (index !== 10 || reads(cold) > 512 + 50), `leaf ${index}: warm read ${reads(warm)} hashes, cold ${reads(cold)}`);
      verifyInclusion(nodeSuite, index, LEAVES, leafHash(index), proof!, root);
      assert.deepEqual(toHexes(proof!), toHexes(one(index, LEAVES)));
    }
    // Another size shares some perfect subtrees with the cached ones and must still be exact.
    const other = tree.run(planInclusionProofs(nodeSuite, [10, 139_998], LEAVES - 1, cache), LEAVES - 1);
    assert.deepEqual(other.map(toHexes), [toHexes(one(10, LEAVES - 1)), toHexes(one(139_998, LEAVES - 1))]);
  });

  it('plans one proof from memory alone once its tiles and the right edge are cached, or from stored tiles', () => {
    const warmCache = new TileNodeCache();
    const root = tree.run(planRootHash(nodeSuite, LEAVES), LEAVES);
    // Leaf tiles inside and outside the full level-1 tile, the partial leaf tile, the last leaf.
    for (const index of [0, 777, 65_836, 131_071, 139_990, LEAVES - 1]) {
      tree.run(planInclusionProofs(nodeSuite, [index], LEAVES, warmCache), LEAVES);
      const warm = planInclusionProofs(nodeSuite, [index], LEAVES, warmCache);
      assert.deepEqual([warm.reads, warm.tiles], [[], []], `leaf ${index}`);
      const [proof] = tree.run(warm, LEAVES);
      assert.deepEqual(toHexes(proof!), toHexes(one(index, LEAVES)));
      verifyInclusion(nodeSuite, index, LEAVES, leafHash(index), proof!, root);
    }
    // Leaf tile 3 is only "in the store" (warmCache stands for it): the plan asks for it, then reads nothing.
    const index = 3 * 256 + 17;
    tree.run(planInclusionProofs(nodeSuite, [index], LEAVES, warmCache), LEAVES);
    const stored = warmCache.get(0, 3)!;
    for (const given of [stored, undefined, stored.subarray(32)]) {
      const cache = new TileNodeCache();
      tree.run(planInclusionProofs(nodeSuite, [0], LEAVES, cache), LEAVES);
      const plan = planInclusionProofs(nodeSuite, [index], LEAVES, cache);
      assert.deepEqual(plan.tiles, [{ level: 0, tile: 3 }]);
      const withStored = plan.withStoredTiles([given]);
      // Without a usable stored tile, the tile's 256 hashes are read and its nodes computed and cached.
      assert.equal(withStored.reads.length === 0, given === stored);
      const [proof] = tree.run(withStored, LEAVES);
      assert.deepEqual(toHexes(proof!), toHexes(one(index, LEAVES)));
      assert.deepEqual(cache.get(0, 3), stored);
    }
    // A caller that reads without asking the store for tiles gets the same proof, and the tile cached.
    const cache = new TileNodeCache();
    tree.run(planInclusionProofs(nodeSuite, [0], LEAVES, cache), LEAVES);
    const [direct] = tree.run(planInclusionProofs(nodeSuite, [index], LEAVES, cache), LEAVES);
    assert.deepEqual(toHexes(direct!), toHexes(one(index, LEAVES)));
    assert.deepEqual(cache.get(0, 3), stored);
  });

  it('does not cache a tile from a read of the wrong shape, and rejects bad indexes', () => {
    const cache = new TileNodeCache();
    const plan = planInclusionProofs(nodeSuite, [1000], LEAVES, cache);
    const hashes = plan.reads.map((r) => tree.read(r, LEAVES));
    hashes[0] = hashes[0]!.slice(1);
    assert.throws(() => plan.finish(hashes), (e: unknown) => e instanceof SealtrailError && e.code === 'INVALID_ARGUMENT');
    assert.equal(cache.size, 0);
    const bad = plan.reads.map((r) => tree.read(r, LEAVES));
    bad[0]![0] = new Uint8Array(31);
    assert.throws(() => plan.finish(bad), (e: unknown) => e instanceof SealtrailError && e.code === 'MALFORMED');
    assert.equal(cache.size, 0);
    for (const [index, size] of [[5, 5], [-1, 10], [0.5, 10]] as const) {
      assert.throws(() => planInclusionProofs(nodeSuite, [0, index], size), (e: unknown) => e instanceof SealtrailError && e.code === 'INVALID_ARGUMENT');
    }
  });

  it('keeps at most maxTiles tiles', () => {
    const cache = new TileNodeCache(3);
    tree.run(planInclusionProofs(nodeSuite, [0, 300, 600, 900, 1200], LEAVES, cache), LEAVES);
    assert.equal(cache.size, 3);
  });
});

describe('Frontier.append with tiles', () => {
  /** The nodes planInclusionProofs computes for a full tile from its stored hashes (the cache's). */
  function computedNodes(level: number, tile: number): Uint8Array {
    const cache = new TileNodeCache();
    const index = tile * 256 ** (level + 1);
    const plan = planInclusionProofs(nodeSuite, [index], LEAVES, cache);
    assert.ok(plan.tiles.some((t) => t.level === level && t.tile === tile), `the proof of ${index} reads tile ${level}/${tile} whole`);
    tree.run(plan, LEAVES);
    return cache.get(level, tile)!;
  }

  it('hands out each full tile’s interior nodes as the merges make them, across batches of cloned frontiers', () => {
    let frontier = new Frontier();
    const tiles: TileNodes[] = [];
    // As the sequencer does: a clone per batch, kept only when the batch commits; some batches fail.
    for (let next = 0, attempt = 0; next < LEAVES; attempt++) {
      const batch = frontier.clone();
      const count = 1 + ((attempt * 7919) % 900);
      const got: TileNodes[] = [];
      for (let i = next; i < Math.min(LEAVES, next + count); i++) batch.append(nodeSuite, leafHash(i), got);
      if (attempt % 5 === 4) continue; // a failed batch: its frontier and tiles are dropped, and it is retried
      frontier = batch;
      tiles.push(...got);
      next = frontier.size;
    }
    assert.deepEqual(toHexes([frontier.root(nodeSuite)]), toHexes([tree.run(planRootHash(nodeSuite, LEAVES), LEAVES)]));
    const level0 = tiles.filter((t) => t.level === 0).map((t) => t.tile);
    assert.deepEqual(level0, Array.from({ length: Math.floor(LEAVES / 256) }, (_, i) => i), 'every full leaf tile, once, in order');
    assert.deepEqual(tiles.filter((t) => t.level === 1).map((t) => t.tile), [0, 1], 'and both full level-1 tiles');
    for (const t of tiles.filter((t) => t.tile % 97 === 0 || t.level === 1)) {
      assert.equal(Buffer.compare(t.nodes, computedNodes(t.level, t.tile)), 0, `tile ${t.level}/${t.tile}`);
    }
  });

  it('hands out no tile it did not see whole: restored mid-tile, or appended to without tiles', () => {
    const first = new Frontier();
    for (let i = 0; i < 300; i++) first.append(nodeSuite, leafHash(i), []);
    // Restored from its bytes at 300 (as after a restart): tile 1 (leaves 256–511) is not handed out.
    const restored = Frontier.fromBytes(300, first.toBytes());
    const got: TileNodes[] = [];
    for (let i = 300; i < 1024; i++) restored.append(nodeSuite, leafHash(i), got);
    assert.deepEqual(got.map((t) => t.tile), [2, 3]);
    // An append without tiles forgets the open tile: tile 4 (1024–1279) is skipped, tile 5 is not.
    const later: TileNodes[] = [];
    for (let i = 1024; i < 1536; i++) restored.append(nodeSuite, leafHash(i), i === 1100 ? undefined : later);
    assert.deepEqual(later.map((t) => t.tile), [5]);
    assert.equal(Buffer.compare(later[0]!.nodes, computedNodes(0, 5)), 0);
  });
});
