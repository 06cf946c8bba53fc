/**
 * Inclusion proofs read through a Store, many at once (planInclusionProofs): one readHashes call for a
 * whole batch, and the interior nodes of full tiles cached per store and ledger (TileNodeCache), so a
 * proof on a large ledger costs a few stored-hash lookups instead of hundreds of SHA-256 calls. Full
 * tiles never change in an append-only ledger, so the cache needs no invalidation while the store lives.
 */
import type { CryptoSuite } from '../core/crypto.js';
import { planInclusionProofs, TileNodeCache } from '../core/tree.js';
import type { Store } from './store.js';

/** 4,096 tiles of 8 KiB: 32 MiB per ledger at most, every full tile of a 1M-leaf ledger. */
export const MAX_CACHED_TILES = 4096;

const caches = new WeakMap<Store, Map<string, TileNodeCache>>();

function cacheOf(store: Store, ledger: string): TileNodeCache {
  let byLedger = caches.get(store);
  if (byLedger === undefined) caches.set(store, (byLedger = new Map()));
  let cache = byLedger.get(ledger);
  if (cache === undefined) byLedger.set(ledger, (cache = new TileNodeCache(MAX_CACHED_TILES)));
  return cache;
}

/** The RFC 9162 inclusion proofs of `indices` in the tree of the first `size` entries of `ledger`. */
export async function inclusionProofs(store: Store, suite: CryptoSuite, ledger: string, indices: readonly number[], size: number): Promise<Uint8Array[][]> {
  if (indices.length === 0) return [];
  const plan = planInclusionProofs(suite, indices, size, cacheOf(store, ledger));
  return plan.finish(await store.readHashes(ledger, plan.reads));
}
