/**
 * Issue 9: sealed + searchable ingest beside a plain indexed table, same data, same commit size, same run.
 *
 * Events come from the realistic generator (bench/gen.ts: thousands of users, addresses, files), so the
 * index keys are as random as in production; the ledger grows from empty to N events and rates are
 * reported for the whole run and for its last quarter (the rate at size). For each store:
 *   - sealed + indexed: Store.append in calls of `batch` events (one transaction, one signed checkpoint
 *     per call; awaited receipts = durable), every search index in place;
 *   - plain indexed table: the same rows (leaf, leaf hash, disclosures JSON, sealed up front) plus
 *     actor_id, action, tenant, ip, with the four ordinary indexes of the issue — (actor_id, received_at),
 *     (action, received_at), (tenant, received_at), (ip) — in transactions of the same size with the same
 *     durability (SQLite: WAL, synchronous=FULL, same page cache; PostgreSQL: multi-row INSERT … unnest,
 *     synchronous_commit=on).
 * Also bytes written per event (SQLite: /proc/self/io write_bytes; PostgreSQL: WAL LSN delta) and disk
 * bytes per event (SQLite: file sizes after a WAL checkpoint; PostgreSQL: pg_total_relation_size).
 */
import Database from 'better-sqlite3';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { SaltSource } from '../src/core/commitments.js';
import { ipBytes } from '../src/core/ipnet.js';
import { sealEvent } from '../src/core/leaf.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { SQLITE_PAGE_SIZE, SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { AppendRequest, Store } from '../src/store/store.js';
import { ADMIN_URL, createPostgresFixture, probePostgres } from '../test/helpers/postgres.js';
import { DEPLOYMENT_NAME, newSigner, progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import { batches, Dataset, SimulatedClock, type GeneratedEvent } from './gen.js';
import type { Row, Section } from './report.js';

const LEDGER = 'indexed';
const WRITER = 'gen';
const SECOND = 1_000_000;
const END = Date.UTC(2026, 10, 26, 12) * 1000;

export interface IndexedCase {
  batch: number;
  /** Events in the full run. */
  events: number;
}

export const SQLITE_CASES: IndexedCase[] = [
  { batch: 1000, events: 200_000 },
  { batch: 100, events: 40_000 },
];
export const PG_CASES: IndexedCase[] = [
  { batch: 1000, events: 100_000 },
  { batch: 100, events: 20_000 },
];

/** One generated event, sealed once up front for the plain table. */
interface PlainRow {
  receivedAt: number;
  leaf: Buffer;
  leafHash: Buffer;
  disclosures: string;
  actorId: string;
  action: string;
  tenant: string | null;
  ip: Buffer | null;
}

export interface Workload {
  batches: GeneratedEvent[][];
  /** Received time of each batch (the store's simulated clock). */
  receivedAt: number[];
  rows: PlainRow[];
  events: number;
}

export function workload(events: number, batch: number): Workload {
  const dataset = new Dataset({ events, seed: 'issue9', days: Math.max(1, events / 50_000), endMicros: END, tenants: 30, users: 3000 });
  const list = [...batches(dataset.events(), batch, Number.MAX_SAFE_INTEGER)];
  const receivedAt = list.map((b) => b.at(-1)!.atMicros + 400_000);
  const salts = new SaltSource(nodeSuite);
  const rows: PlainRow[] = [];
  list.forEach((b, i) => {
    for (const e of b) {
      const sealed = sealEvent(nodeSuite, { ledger: LEDGER, index: rows.length, receivedAtMicros: receivedAt[i]!, writer: WRITER, event: e.event }, salts);
      const ip = e.event.origin?.ip;
      rows.push({
        receivedAt: receivedAt[i]!,
        leaf: Buffer.from(sealed.leaf),
        leafHash: Buffer.from(sealed.leafHash),
        disclosures: JSON.stringify(sealed.disclosures),
        actorId: e.event.actor.id,
        action: e.event.action,
        tenant: e.event.tenant ?? null,
        ip: ip ? Buffer.from(ipBytes(ip) ?? []) : null,
      });
    }
  });
  return { batches: list, receivedAt, rows, events: rows.length };
}

/** Rates over the whole run and its last quarter (the ledger at 75–100 % of its final size). */
export interface Run {
  perSecond: number;
  lastQuarterPerSecond: number;
  writeBytesPerEvent: number;
  diskBytesPerEvent: number;
}

class Quarters {
  private readonly start = performance.now();
  private lastQuarterStart = 0;
  constructor(private readonly total: number) {}
  /** Call after `done` events are durable. */
  tick(done: number, before: number): void {
    if (before < (this.total * 3) / 4 && done >= (this.total * 3) / 4) this.lastQuarterStart = performance.now();
  }
  finish(): { perSecond: number; lastQuarterPerSecond: number } {
    const end = performance.now();
    return {
      perSecond: (this.total * 1000) / (end - this.start),
      lastQuarterPerSecond: (this.total * 1000) / 4 / (end - this.lastQuarterStart),
    };
  }
}

/** write_bytes of this process so far (Linux); NaN elsewhere. */
export function processWriteBytes(): number {
  try {
    const match = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

function fileBytes(path: string): number {
  return ['', '-wal', '-shm'].reduce((sum, suffix) => sum + (existsSync(path + suffix) ? statSync(path + suffix).size : 0), 0);
}

/** Appends the workload's batches, one append call at a time (each one transaction and checkpoint). */
async function appendWorkload(store: Pick<Store, 'append'>, clock: SimulatedClock, w: Workload, quarters: Quarters): Promise<void> {
  let done = 0;
  for (let i = 0; i < w.batches.length; i++) {
    const batch = w.batches[i]!;
    clock.now = w.receivedAt[i]!;
    const requests: AppendRequest[] = batch.map((e) => ({ event: e.event, writer: WRITER }));
    await store.append(LEDGER, requests);
    const before = done;
    done += batch.length;
    quarters.tick(done, before);
  }
}

// ---- SQLite ----------------------------------------------------------------------------------------

export async function sqliteStoreRun(w: Workload, options: { keep?: string } = {}): Promise<Run> {
  const dir = options.keep ?? tempDir('indexed-store');
  const path = join(dir, 'sealtrail.db');
  const clock = new SimulatedClock();
  const store = new SqliteStore({ path, suite: nodeSuite, signer: newSigner(), name: DEPLOYMENT_NAME, clock: clock.read, maxBatchEvents: 5000 });
  try {
    await store.createLedger(LEDGER);
    const written = processWriteBytes();
    const quarters = new Quarters(w.events);
    await appendWorkload(store, clock, w, quarters);
    // Indexing is deferred (the writer thread, SqliteBatchWriter): what still waits is part of the work, so it is timed.
    await store.indexPending();
    const rates = quarters.finish();
    const writeBytes = processWriteBytes() - written;
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    return { ...rates, writeBytesPerEvent: writeBytes / w.events, diskBytesPerEvent: fileBytes(path) / w.events };
  } finally {
    await store.close();
    if (!options.keep) removeDir(dir);
  }
}

/** The plain table: entry columns plus four ordinarily indexed columns. */
export const PLAIN_SQLITE_SCHEMA = `
  CREATE TABLE plain (ledger_id INTEGER NOT NULL, idx INTEGER NOT NULL, received_at INTEGER NOT NULL,
    leaf BLOB NOT NULL, leaf_hash BLOB NOT NULL, disclosures TEXT NOT NULL,
    actor_id TEXT, action TEXT, tenant TEXT, ip BLOB);
  CREATE INDEX plain_actor ON plain (actor_id, received_at);
  CREATE INDEX plain_action ON plain (action, received_at);
  CREATE INDEX plain_tenant ON plain (tenant, received_at);
  CREATE INDEX plain_ip ON plain (ip);`;

export function sqlitePlainRun(w: Workload, batch: number): Run {
  const dir = tempDir('indexed-plain');
  const path = join(dir, 'plain.db');
  const db = new Database(path);
  try {
    // The store's pragmas (src/store/sqlite/sqlite-store.ts openDatabase), its page size included.
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('cache_size = -262144');
    db.exec(PLAIN_SQLITE_SCHEMA);
    const insert = db.prepare(
      'INSERT INTO plain (ledger_id, idx, received_at, leaf, leaf_hash, disclosures, actor_id, action, tenant, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const write = db.transaction((first: number, count: number) => {
      for (let i = first; i < first + count; i++) {
        const r = w.rows[i]!;
        insert.run(1, i, r.receivedAt, r.leaf, r.leafHash, r.disclosures, r.actorId, r.action, r.tenant, r.ip);
      }
    });
    const written = processWriteBytes();
    const quarters = new Quarters(w.events);
    for (let i = 0; i < w.events; i += batch) {
      const count = Math.min(batch, w.events - i);
      write.immediate(i, count);
      quarters.tick(i + count, i);
    }
    const rates = quarters.finish();
    const writeBytes = processWriteBytes() - written;
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { ...rates, writeBytesPerEvent: writeBytes / w.events, diskBytesPerEvent: fileBytes(path) / w.events };
  } finally {
    db.close();
    removeDir(dir);
  }
}

// ---- PostgreSQL ------------------------------------------------------------------------------------

async function walBytes(admin: pg.Client): Promise<number> {
  const result = await admin.query<{ b: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b`);
  return Number(result.rows[0]!.b);
}

async function schemaBytes(admin: pg.Client, schema: string, tables?: string[]): Promise<number> {
  const result = await admin.query<{ b: string | null }>(
    `SELECT sum(pg_total_relation_size(c.oid))::bigint AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND ($2::text[] IS NULL OR c.relname = ANY($2::text[]))`,
    [schema, tables ?? null],
  );
  return Number(result.rows[0]!.b ?? 0);
}

export async function postgresRuns(w: Workload, batch: number): Promise<{ store: Run; plain: Run }> {
  const fixture = await createPostgresFixture(DEPLOYMENT_NAME);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    // Sealed + indexed.
    const clock = new SimulatedClock();
    const store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer: newSigner(), name: DEPLOYMENT_NAME, clock: clock.read, maxBatchEvents: 5000 });
    let storeRun: Run;
    try {
      await store.createLedger(LEDGER);
      const sizeBefore = await schemaBytes(admin, fixture.schema);
      const walBefore = await walBytes(admin);
      const quarters = new Quarters(w.events);
      await appendWorkload(store, clock, w, quarters);
      const rates = quarters.finish();
      const wal = (await walBytes(admin)) - walBefore;
      const size = (await schemaBytes(admin, fixture.schema)) - sizeBefore;
      storeRun = { ...rates, writeBytesPerEvent: wal / w.events, diskBytesPerEvent: size / w.events };
    } finally {
      await store.close();
    }
    // Plain indexed table, on a service-role connection like the store's.
    await admin.query(`SET search_path TO "${fixture.schema}"`);
    await admin.query(`
      CREATE TABLE plain (ledger_id INTEGER NOT NULL, idx BIGINT NOT NULL, received_at BIGINT NOT NULL,
        leaf BYTEA NOT NULL, leaf_hash BYTEA NOT NULL, disclosures TEXT NOT NULL,
        actor_id TEXT, action TEXT, tenant TEXT, ip BYTEA);
      ALTER TABLE plain SET (toast_tuple_target = 4080);
      CREATE INDEX plain_actor ON plain (actor_id, received_at);
      CREATE INDEX plain_action ON plain (action, received_at);
      CREATE INDEX plain_tenant ON plain (tenant, received_at);
      CREATE INDEX plain_ip ON plain (ip);
      GRANT SELECT, INSERT ON plain TO "${fixture.serviceRole}";`);
    const client = new pg.Client({ connectionString: fixture.serviceUrl, options: `-c search_path="${fixture.schema}"` });
    await client.connect();
    try {
      const walBefore = await walBytes(admin);
      const quarters = new Quarters(w.events);
      for (let first = 0; first < w.events; first += batch) {
        const rows = w.rows.slice(first, first + batch);
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO plain (ledger_id, idx, received_at, leaf, leaf_hash, disclosures, actor_id, action, tenant, ip)
           SELECT 1, * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])`,
          [
            rows.map((_, i) => first + i),
            rows.map((r) => r.receivedAt),
            rows.map((r) => r.leaf),
            rows.map((r) => r.leafHash),
            rows.map((r) => r.disclosures),
            rows.map((r) => r.actorId),
            rows.map((r) => r.action),
            rows.map((r) => r.tenant),
            rows.map((r) => r.ip),
          ],
        );
        await client.query('COMMIT');
        quarters.tick(first + rows.length, first);
      }
      const rates = quarters.finish();
      const wal = (await walBytes(admin)) - walBefore;
      const size = await schemaBytes(admin, fixture.schema, ['plain']);
      return { store: storeRun, plain: { ...rates, writeBytesPerEvent: wal / w.events, diskBytesPerEvent: size / w.events } };
    } finally {
      await client.end();
    }
  } finally {
    await admin.end().catch(() => {});
    await fixture.drop();
  }
}

// ---- section ---------------------------------------------------------------------------------------

const kib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(2)} KiB` : 'n/a');

function rows(store: string, c: IndexedCase, events: number, sealed: Run, plain: Run): Row[] {
  const id = `indexed.${store.toLowerCase()}.batch${c.batch}`;
  const base = `${store}, ${events.toLocaleString('en-US')} events, ${c.batch}/tx`;
  return [
    {
      id,
      label: `${base}: sealed + indexed`,
      value: sealed.perSecond,
      unit: 'events/s',
      baseline: { label: 'plain table + 4 indexes', value: plain.perSecond, unit: 'rows/s' },
      ratio: { value: sealed.perSecond / plain.perSecond, label: '× plain indexed' },
      target: { on: 'ratio', op: '>=', limit: 1 },
      note:
        `written ${kib(sealed.writeBytesPerEvent)}/event vs ${kib(plain.writeBytesPerEvent)}/row; ` +
        `on disk ${kib(sealed.diskBytesPerEvent)}/event vs ${kib(plain.diskBytesPerEvent)}/row`,
    },
    {
      id: `${id}.last-quarter`,
      label: `  last quarter (${Math.round((events * 3) / 4).toLocaleString('en-US')}–${events.toLocaleString('en-US')})`,
      value: sealed.lastQuarterPerSecond,
      unit: 'events/s',
      baseline: { label: 'plain table + 4 indexes', value: plain.lastQuarterPerSecond, unit: 'rows/s' },
      ratio: { value: sealed.lastQuarterPerSecond / plain.lastQuarterPerSecond, label: '× plain indexed' },
      target: { on: 'ratio', op: '>=', limit: 1 },
    },
  ];
}

export async function indexedSection(options: BenchOptions): Promise<Section> {
  const result: Row[] = [];
  const scale = options.quick ? 10 : 1;
  for (const c of SQLITE_CASES) {
    const w = workload(c.events / scale, c.batch);
    progress(`indexed: SQLite, ${w.events} events, ${c.batch}/tx: sealed + indexed store`);
    const sealed = await sqliteStoreRun(w);
    progress(`indexed: SQLite, ${w.events} events, ${c.batch}/tx: plain table + 4 indexes`);
    const plain = sqlitePlainRun(w, c.batch);
    result.push(...rows('SQLite', c, w.events, sealed, plain));
  }
  const unreachable = await probePostgres();
  if (!unreachable) {
    for (const c of PG_CASES) {
      const w = workload(c.events / scale, c.batch);
      progress(`indexed: PostgreSQL, ${w.events} events, ${c.batch}/tx: sealed + indexed store, then plain table + 4 indexes`);
      const { store, plain } = await postgresRuns(w, c.batch);
      result.push(...rows('PostgreSQL', c, w.events, store, plain));
    }
  }
  return {
    title: 'Sealed + indexed ingest vs a plain indexed table (issue 9; realistic events from bench/gen.ts)',
    rows: result,
    notes: [
      'sealed + indexed: Store.append, one call = one transaction + one signed checkpoint, every search index; receipts awaited (durable)',
      'plain: the same sealed rows + actor_id, action, tenant, ip, indexes (actor_id, received_at), (action, received_at), (tenant, received_at), (ip); same transaction size and durability',
      'SQLite: WAL, synchronous=FULL, 256 MiB cache for both; written = /proc/self/io write_bytes delta; disk = db+wal files after wal_checkpoint(TRUNCATE)',
      'PostgreSQL: multi-row INSERT … unnest on a service-role connection; written = pg_current_wal_lsn delta (cluster-wide); disk = pg_total_relation_size',
      ...(unreachable ? [`PostgreSQL SKIPPED: ${unreachable}`] : []),
    ],
  };
}
