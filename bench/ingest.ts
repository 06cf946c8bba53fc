/**
 * In-process ingest: SqliteStore.append (Sequencer group commit + sealing + one IMMEDIATE transaction per
 * batch) beside a raw better-sqlite3 insert of rows of the same size, in transactions of the same size,
 * with the same durability (WAL, synchronous=FULL), into a plain table in the same folder.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SaltSource } from '../src/core/commitments.js';
import { sealEvent } from '../src/core/leaf.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { SQLITE_PAGE_SIZE, SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { DEPLOYMENT_NAME, LEDGER, newSigner, progress, removeDir, tempDir, WRITER, type BenchOptions, appendAll, eventPool } from './fixtures.js';
import { timeAsync } from './measure.js';
import type { Row, Section } from './report.js';

const TARGET_EVENTS_PER_SECOND = 50_000;
const WARMUP_EVENTS = 2000;

interface StoreCase {
  id: string;
  label: string;
  /** Events per append call. */
  batch: number;
  /** Callers appending at once (each waits for its receipts before the next call). */
  concurrency: number;
  /** Give every event an idempotency key, as the HTTP route does for events with an `id`. */
  keys: boolean;
  /** Events timed in the full run (a tenth in --quick). */
  events: number;
  target: boolean;
}

const CASES: StoreCase[] = [
  { id: 'ingest.batch100', label: 'append, batches of 100', batch: 100, concurrency: 1, keys: false, events: 40_000, target: true },
  { id: 'ingest.batch1000', label: 'append, batches of 1000', batch: 1000, concurrency: 1, keys: false, events: 60_000, target: true },
  { id: 'ingest.single50', label: 'append, 1 event × 50 concurrent', batch: 1, concurrency: 50, keys: false, events: 20_000, target: true },
  { id: 'ingest.batch100.keys', label: 'append, batches of 100 + idempotency keys', batch: 100, concurrency: 1, keys: true, events: 40_000, target: false },
];

// ---- workload -------------------------------------------------------------------------------------




interface StoreResult {
  eventsPerSecond: number;
  /** Average events per transaction (one checkpoint is written per transaction). */
  eventsPerTransaction: number;
  /**
 * Wall time per event: sealing and signing (the Sequencer's build), SQLite (the append transactions), and
 * the rest (commitments before queueing, and the deferred search-index batches, which run outside them).
 */
  microsPerEvent: { build: number; sqlite: number; other: number };
}

interface Clocks {
  buildMs: number;
  commitMs: number;
}

/**
 * Times the store's commitBatch and, inside it, the Sequencer's build callback (sealing, tree, signing),
 * by wrapping the BatchBackend method the Sequencer calls; the remainder of commitBatch is SQLite.
 */
function instrument(store: SqliteStore): Clocks {
  const clocks: Clocks = { buildMs: 0, commitMs: 0 };
  const commitBatch = store.commitBatch.bind(store);
  store.commitBatch = async (ledger, keys, build) => {
    const start = performance.now();
    try {
      return await commitBatch(ledger, keys, (head, existing) => {
        const buildStart = performance.now();
        try {
          return build(head, existing);
        } finally {
          clocks.buildMs += performance.now() - buildStart;
        }
      });
    } finally {
      clocks.commitMs += performance.now() - start;
    }
  };
  return clocks;
}

async function measureStore(c: StoreCase, events: number): Promise<StoreResult> {
  const dir = tempDir('store');
  const store = new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer: newSigner(), name: DEPLOYMENT_NAME });
  const countCheckpoints = store.db.prepare('SELECT count(*) FROM checkpoints').pluck();
  try {
    await store.createLedger(LEDGER);
    const clocks = instrument(store);
    await appendAll(store, LEDGER, c, 0, WARMUP_EVENTS);
    await store.indexPending();
    const before = countCheckpoints.get() as number;
    Object.assign(clocks, { buildMs: 0, commitMs: 0 });
    const { seconds } = await timeAsync(async () => {
      await appendAll(store, LEDGER, c, WARMUP_EVENTS, events);
      // Search indexing is deferred (the writer thread, SqliteBatchWriter); what still waits is part of ingest, so it is timed.
      await store.indexPending();
    });
    const transactions = (countCheckpoints.get() as number) - before;
    const perEvent = (ms: number): number => (ms * 1000) / events;
    return {
      eventsPerSecond: events / seconds,
      eventsPerTransaction: events / transactions,
      microsPerEvent: {
        build: perEvent(clocks.buildMs),
        sqlite: perEvent(clocks.commitMs - clocks.buildMs),
        other: perEvent(seconds * 1000 - clocks.commitMs),
      },
    };
  } finally {
    await store.close();
    removeDir(dir);
  }
}

// ---- raw baseline ---------------------------------------------------------------------------------

interface RawRow {
  leaf: Uint8Array;
  leafHash: Uint8Array;
  disclosures: string;
}

/** What the store writes per event (leaf, leaf hash, disclosures JSON), sealed once up front. */
function sealedRows(): RawRow[] {
  const salts = new SaltSource(nodeSuite);
  return eventPool.map((event, index) => {
    const sealed = sealEvent(nodeSuite, { ledger: LEDGER, index, receivedAtMicros: Date.now() * 1000, writer: WRITER, event }, salts);
    return { leaf: sealed.leaf, leafHash: sealed.leafHash, disclosures: JSON.stringify(sealed.disclosures) };
  });
}

function averageRowBytes(rows: RawRow[]): number {
  const total = rows.reduce((sum, r) => sum + r.leaf.length + r.leafHash.length + Buffer.byteLength(r.disclosures), 0);
  return total / rows.length;
}

/** Rows per second inserted into a plain table (no key, no index) in transactions of `perTransaction`. */
function measureRaw(rows: RawRow[], perTransaction: number, total: number): number {
  const dir = tempDir('raw');
  const db = new Database(join(dir, 'raw.db'));
  try {
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE entries (ledger_id INTEGER NOT NULL, idx INTEGER NOT NULL, received_at INTEGER NOT NULL,
      leaf BLOB NOT NULL, leaf_hash BLOB NOT NULL, disclosures TEXT NOT NULL)`);
    const insert = db.prepare('INSERT INTO entries (ledger_id, idx, received_at, leaf, leaf_hash, disclosures) VALUES (?, ?, ?, ?, ?, ?)');
    const receivedAt = Date.now() * 1000;
    const write = db.transaction((first: number, count: number) => {
      for (let i = first; i < first + count; i++) {
        const row = rows[i % rows.length]!;
        insert.run(1, i, receivedAt, row.leaf, row.leafHash, row.disclosures);
      }
    });
    for (let i = 0; i < WARMUP_EVENTS; i += perTransaction) write.immediate(i, perTransaction);
    const start = performance.now();
    for (let i = 0; i < total; i += perTransaction) write.immediate(WARMUP_EVENTS + i, Math.min(perTransaction, total - i));
    return (total * 1000) / (performance.now() - start);
  } finally {
    db.close();
    removeDir(dir);
  }
}

// ---- section --------------------------------------------------------------------------------------

function breakdown({ microsPerEvent: t }: StoreResult): string {
  return `${t.build.toFixed(1)} µs sealing+signing, ${t.sqlite.toFixed(1)} µs SQLite, ${t.other.toFixed(1)} µs other`;
}

async function caseRow(c: StoreCase, rows: RawRow[], quick: boolean): Promise<Row> {
  const events = quick ? c.events / 10 : c.events;
  progress(`ingest: ${c.label} (${events.toLocaleString('en-US')} events)`);
  const store = await measureStore(c, events);
  // Raw transactions as large as the store's were (group commit decides that for concurrent callers).
  const perTransaction = Math.max(1, Math.round(store.eventsPerTransaction));
  const raw = measureRaw(rows, perTransaction, events);
  return {
    id: c.id,
    label: c.label,
    value: store.eventsPerSecond,
    unit: 'events/s',
    baseline: { label: `raw insert, ${perTransaction}/tx`, value: raw, unit: 'rows/s' },
    ratio: { value: store.eventsPerSecond / raw, label: '× raw SQLite' },
    ...(c.target ? { target: { on: 'value' as const, op: '>=' as const, limit: TARGET_EVENTS_PER_SECOND } } : {}),
    note: `${store.eventsPerTransaction.toFixed(1)} events/transaction; per event ${breakdown(store)} (raw insert ${(1e6 / raw).toFixed(1)} µs)`,
  };
}

export async function ingestSection(options: BenchOptions): Promise<Section> {
  const rows = sealedRows();
  const results: Row[] = [];
  for (const c of CASES) results.push(await caseRow(c, rows, options.quick));
  return {
    title: 'In-process ingest (SqliteStore, WAL, synchronous=FULL)',
    rows: results,
    notes: [
      `each case: a fresh database under .bench/, ${WARMUP_EVENTS} warm-up events, then the timed appends; awaited receipts = durable`,
      `raw baseline: the same rows (~${Math.round(averageRowBytes(rows))} B: leaf + leaf hash + disclosures JSON) into a plain table, same transaction size`,
    ],
  };
}
