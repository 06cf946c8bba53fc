/**
 * Inclusion proofs as the server makes them (src/store/proofs.ts), on a SQLite store: N events
 * (BENCH_PROOF_EVENTS, default 300,000; --quick 70,000) appended through SqliteStore.append in batches of
 * 1,000, bulk mode (the search index is not what is measured), then random single proofs and the proofs
 * of 10,000-event evidence bundles, each beside the same proofs without stored tile nodes (the memory
 * cache alone, as before schema 15), timed in alternating rounds in the same process.
 *
 * A 10M-leaf ledger has 39,062 full leaf tiles, of which the server's memory cache holds 2,048: most
 * random proofs miss it. The single-proof rows keep that ratio by sizing the memory cache to the
 * ledger's share (2,048 × N / 10M tiles); BENCH_PROOF_EVENTS=10000000 measures the ledger itself
 * (~25 GB of disk, 12–60 min to build). BENCH_PROOF_DIR=<folder> keeps the ledger there and reuses it
 * on the next run when it already holds N events, so that a change can be measured at 10M without
 * rebuilding. Each way reads through its own connection, so that the baseline's reads of whole tiles
 * of leaf hashes do not evict the stored tile rows from the measured connection's page cache, and each
 * first runs alone for a warm-up whose rate is printed as well. Bundles start from an empty memory cache.
 */
import { performance } from 'node:perf_hooks';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TileNodeCache } from '../src/core/tree.js';
import { nodeSigner, nodeSuite } from '../src/platform/node-crypto.js';
import { inclusionProofs, MAX_CACHED_TILES } from '../src/store/proofs.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { appendAll, DEPLOYMENT_NAME, LEDGER, progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import { bundleRow, BUNDLE_PROOFS } from './core.js';
import { median } from './measure.js';
import type { Row, Section } from './report.js';

const TARGET_PROOFS_PER_SECOND = 20_000;
const TEN_MILLION = 10_000_000;

/** The same store with no stored tile nodes: proofs compute every tile not in memory, as before schema 15. */
function withoutStoredTiles(store: Store): Store {
  const none: Pick<Store, 'readTileNodes' | 'writeTileNodes'> = {
    readTileNodes: async (_ledger, tiles) => tiles.map(() => undefined),
    writeTileNodes: async () => {},
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'readTileNodes' || property === 'writeTileNodes') return none[property];
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Deterministic pseudo-random integers in [0, max). */
function randomIndexes(count: number, max: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return Math.floor((state / 2 ** 32) * max);
  });
}

type ProofRun = (cache: TileNodeCache) => Promise<void>;
type Way = 'stored' | 'computed';

/** Proofs per second of `run` over `ms`. */
async function rateOver(run: ProofRun, cache: TileNodeCache, ms: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < ms) {
    await run(cache);
    count++;
  }
  return (count * 1000) / (performance.now() - start);
}

/**
 * Single proofs per second of each way: first `warmMs` of each alone (reported as the cold rate: the
 * memory cache, SQLite's page cache and the OS's fill with the tile rows that random proofs read, as a
 * running server's have), then the median of `rounds` alternating rounds of `ms`.
 */
async function singleRates(ways: Record<Way, ProofRun>, caches: Record<Way, TileNodeCache>, rounds: number, ms: number, warmMs: number) {
  const cold = { stored: await rateOver(ways.stored, caches.stored, warmMs), computed: await rateOver(ways.computed, caches.computed, warmMs) };
  const samples: Record<Way, number[]> = { stored: [], computed: [] };
  for (let round = 0; round < rounds; round++) {
    for (const way of ['stored', 'computed'] as const) samples[way].push(await rateOver(ways[way], caches[way], ms));
  }
  return { cold, stored: median(samples.stored), computed: median(samples.computed) };
}

/** The folder of the ledger and its signing key: BENCH_PROOF_DIR kept across runs, else a temporary one. */
function ledgerFolder(): { dir: string; kept: boolean; signer: ReturnType<typeof nodeSigner> } {
  const kept = process.env.BENCH_PROOF_DIR;
  const dir = kept ?? tempDir('proofs');
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'bench-signing-key.pem');
  if (!existsSync(keyFile)) writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  return { dir, kept: kept !== undefined, signer: nodeSigner(createPrivateKey(readFileSync(keyFile))) };
}

export async function proofsSection(options: BenchOptions): Promise<Section> {
  const events = Number(process.env.BENCH_PROOF_EVENTS ?? (options.quick ? 70_000 : 300_000));
  const { dir, kept, signer } = ledgerFolder();
  const store = new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: DEPLOYMENT_NAME, bulkLoad: true });
  let baselineStore: SqliteStore | undefined;
  try {
    const held = (await store.latestCheckpoint(LEDGER).catch(() => undefined))?.size ?? 0;
    if (held === 0) await store.createLedger(LEDGER);
    if (held > events) throw new Error(`${dir} holds ${held} events, more than BENCH_PROOF_EVENTS=${events}: use another folder`);
    progress(held === 0 ? `proofs: appending ${events.toLocaleString('en-US')} events` : `proofs: ${dir} holds ${held.toLocaleString('en-US')} events; appending ${(events - held).toLocaleString('en-US')}`);
    const appended = performance.now();
    for (let first = held; first < events; first += 50_000) await appendAll(store, LEDGER, { batch: 1000, concurrency: 2, keys: false }, first, Math.min(50_000, events - first));
    const appendSeconds = (performance.now() - appended) / 1000;
    const size = (await store.latestCheckpoint(LEDGER))!.size;
    // The baseline reads through a connection of its own, so that its reads of whole tiles of leaf
    // hashes do not evict the stored tile rows from the measured connection's page cache.
    baselineStore = new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: DEPLOYMENT_NAME, readonly: true });
    const plain = withoutStoredTiles(baselineStore);
    const ways = { stored: store, computed: plain };
    const share = Math.max(1, Math.min(MAX_CACHED_TILES, Math.round((MAX_CACHED_TILES * size) / TEN_MILLION)));
    const spread = randomIndexes(1 << 16, size, 0x2545f491);
    let next = 0;
    const single = (way: 'stored' | 'computed'): ProofRun => (cache) => inclusionProofs(ways[way], nodeSuite, LEDGER, [spread[next++ % spread.length]!], size, cache).then(() => {});
    progress('proofs: single proofs');
    const warmMs = options.quick ? 1000 : 3000;
    const rates = await singleRates({ stored: single('stored'), computed: single('computed') }, { stored: new TileNodeCache(share), computed: new TileNodeCache(share) }, options.quick ? 3 : 7, options.quick ? 200 : 500, warmMs);

    progress('proofs: bundles');
    const bundleCases = [
      { id: 'range', label: 'consecutive', indexes: Array.from({ length: Math.min(BUNDLE_PROOFS, size) }, (_, i) => Math.floor(size / 3) + i).filter((i) => i < size) },
      { id: 'scattered', label: 'scattered', indexes: randomIndexes(BUNDLE_PROOFS, size, 0x1234567).sort((a, b) => a - b) },
    ];
    const bundleMs = async (store: Store, indexes: number[]) => {
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        const start = performance.now();
        await inclusionProofs(store, nodeSuite, LEDGER, indexes, size, new TileNodeCache(MAX_CACHED_TILES));
        best = Math.min(best, performance.now() - start);
      }
      return best;
    };
    const bundles: Row[] = [];
    for (const { id, label, indexes } of bundleCases) {
      const computed = await bundleMs(plain, indexes);
      const stored = await bundleMs(store, indexes);
      bundles.push(bundleRow(`proofs.bundle.${id}`, label, stored, { label: 'tiles computed', ratio: '× computed', value: computed }, 'inclusionProofs from an empty memory cache, best of 3'));
    }
    const tiles = Math.floor(size / 256);
    return {
      title: `Proofs on a ${size.toLocaleString('en-US')}-event SQLite ledger (stored tile nodes)`,
      rows: [
        {
          id: 'proofs.single',
          label: 'inclusion proof, random leaf',
          value: rates.stored,
          unit: 'proofs/s',
          baseline: { label: 'tiles computed', value: rates.computed, unit: 'proofs/s' },
          ratio: { value: rates.stored / rates.computed, label: '× computed' },
          target: { on: 'value', op: '>=', limit: TARGET_PROOFS_PER_SECOND },
          note: `memory cache of ${share.toLocaleString('en-US')} of ${tiles.toLocaleString('en-US')} leaf tiles, the share the server's ${MAX_CACHED_TILES.toLocaleString('en-US')} hold of a 10M-leaf ledger's 39,062; after ${warmMs / 1000} s of warm-up, which ran at ${Math.round(rates.cold.stored).toLocaleString('en-US')} proofs/s (tiles computed: ${Math.round(rates.cold.computed).toLocaleString('en-US')})`,
        },
        ...bundles,
      ],
      notes: [
        `${(size - held).toLocaleString('en-US')} events appended in ${appendSeconds.toFixed(1)} s (bulk mode, batches of 1,000)${held > 0 ? `, to ${held.toLocaleString('en-US')} kept in BENCH_PROOF_DIR` : ''}; proofs through inclusionProofs (src/store/proofs.ts) with and without Store.readTileNodes.`,
        'Baseline "tiles computed": the same proofs with tile nodes neither read nor stored, so each tile missing from memory is hashed from its 256 stored hashes.',
        `A scattered bundle reads one tile_nodes row per distinct leaf tile: here at most ${tiles.toLocaleString('en-US')}; on a 10M-leaf ledger 10,000 random leaves fall in ~8,900 of its 39,062.`,
      ],
    };
  } finally {
    await baselineStore?.close();
    await store.close();
    if (!kept) removeDir(dir);
  }
}
