/**
 * Inclusion proofs read through a Store, many at once (planInclusionProofs): one readHashes call for a
 * whole batch, and the interior nodes of full tiles taken from two places before any is computed: a
 * per-store, per-ledger memory cache (TileNodeCache) and the store's tile_nodes (Store.readTileNodes),
 * which appends fill as they complete tiles. A tile found in neither is computed from its 256 stored
 * hashes once and stored, so a proof on a ledger of any size costs a few lookups instead of hundreds
 * of SHA-256 calls. Full tiles never change in an append-only ledger, so neither place needs
 * invalidation. Stored nodes are trusted as stored hashes are: a wrong one gives a proof that fails
 * verification against the signed checkpoint, and `sealtrail verify` compares them with the leaves.
 */
import type { CryptoSuite } from '../core/crypto.js';
import { planInclusionProofs, TileNodeCache, type TileNodes } from '../core/tree.js';
import type { Store } from './store.js';

/**
 * 2,048 tiles of 16 KiB: 32 MiB per ledger at most, every full tile of a 512k-leaf ledger. Beyond that,
 * tiles come from tile_nodes: one row read each.
 */
export const MAX_CACHED_TILES = 2048;

const caches = new WeakMap<Store, Map<string, TileNodeCache>>();

function cacheOf(store: Store, ledger: string): TileNodeCache {
  let byLedger = caches.get(store);
  if (byLedger === undefined) caches.set(store, (byLedger = new Map()));
  let cache = byLedger.get(ledger);
  if (cache === undefined) byLedger.set(ledger, (cache = new TileNodeCache(MAX_CACHED_TILES)));
  return cache;
}

/**
 * The RFC 9162 inclusion proofs of `indices` in the tree of the first `size` entries of `ledger`.
 * `cache` replaces the store's own memory cache (benchmarks size it to a ledger's share of tiles).
 */
export async function inclusionProofs(
  store: Store,
  suite: CryptoSuite,
  ledger: string,
  indices: readonly number[],
  size: number,
  cache = cacheOf(store, ledger),
): Promise<Uint8Array[][]> {
  if (indices.length === 0) return [];
  let plan = planInclusionProofs(suite, indices, size, cache);
  if (plan.tiles.length > 0) plan = plan.withStoredTiles(await store.readTileNodes(ledger, plan.tiles));
  const proofs = plan.finish(await store.readHashes(ledger, plan.reads));
  if (plan.tiles.length > 0) await storeComputedTiles(store, ledger, plan.tiles, cache);
  return proofs;
}

/** Stores the tiles a proof just computed, so that no process computes them again. Best effort: the proofs are made. */
async function storeComputedTiles(store: Store, ledger: string, tiles: ReadonlyArray<{ level: number; tile: number }>, cache: TileNodeCache): Promise<void> {
  const computed: TileNodes[] = [];
  for (const { level, tile } of tiles) {
    const nodes = cache.get(level, tile);
    if (nodes !== undefined) computed.push({ level, tile, nodes });
  }
  await store.writeTileNodes(ledger, computed).catch(() => {});
}
