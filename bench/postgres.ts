/**
 * PostgreSQL ingest, on a fresh fixture schema (test/helpers/postgres.ts) dropped at the end:
 *   1. in-process: PostgresStore.append (Sequencer group commit, sealing, one transaction per batch under
 *      the ledger's advisory lock) beside raw multi-row INSERTs (unnest, as the store writes) of rows of the
 *      same shape into plain tables, in transactions of the same size, over the same kind of connection;
 *   2. over HTTP: `sealtrail serve --database-url` in one and then two child processes sharing the schema
 *      and the data folder, under autocannon load from this process (connections split across the two).
 * Skipped, with the reason printed, when PostgreSQL does not answer.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { SaltSource } from '../src/core/commitments.js';
import { ipBytes } from '../src/core/ipnet.js';
import { sealEvent } from '../src/core/leaf.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { searchRecord, type SearchRecord } from '../src/store/search-fields.js';
import { maskPassword } from '../src/server/deployment.js';
import { ADMIN_URL, createPostgresFixture, probePostgres, type PostgresFixture } from '../test/helpers/postgres.js';
import { benchEvent, DEPLOYMENT_NAME, newSigner, PROJECT_ROOT, progress, removeDir, tempDir, WRITER, type BenchOptions, appendAll, eventPool } from './fixtures.js';
import { failedStatuses, profileFlags, waitForAddress } from './http.js';
import { timeAsync } from './measure.js';
import type { Row, Section } from './report.js';

/** The issue's goal for one server process on PostgreSQL (batched appends over HTTP). */
const TARGET_ONE_PROCESS_EVENTS_PER_SECOND = 20_000;
const PLACEHOLDER = '@@ID@@';

// ---- shared --------------------------------------------------------------------------------------

/** Cluster-wide WAL position in bytes (other sessions on the server add to it too). */
async function walBytes(admin: pg.Client): Promise<number> {
  const result = await admin.query<{ b: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b`);
  return Number(result.rows[0]!.b);
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ: 100 on every mainstream Linux). */
const CLOCK_TICKS = 100;

/** User + system CPU seconds of each pid whose command is `comm`, from /proc (Linux); absent pids are left out. */
function cpuSeconds(pids: number[], comm?: string): Map<number, number> {
  const seconds = new Map<number, number>();
  for (const pid of pids) {
    try {
      if (comm !== undefined && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      seconds.set(pid, (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS);
    } catch {
      // not Linux, not this machine's process, or already gone
    }
  }
  return seconds;
}

interface CpuUse {
  /** This process (the store, or autocannon for HTTP), all threads. */
  bench: number;
  /** PostgreSQL backends of the service role; undefined when they are not on this machine. */
  postgres: number | undefined;
  /** The server child processes (HTTP only). */
  servers: number | undefined;
}

/**
 * CPU seconds used between start() and stop() by this process, the service role's PostgreSQL backends
 * (read from /proc, so only when PostgreSQL runs on this machine) and the given child processes.
 * Backends that start during the run count from zero; one that exits during it is missed.
 */
async function cpuMeter(admin: pg.Client, role: string, children: number[] = []): Promise<{ stop(): Promise<CpuUse> }> {
  const backends = async (): Promise<number[]> =>
    (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE usename = $1', [role])).rows.map((r) => r.pid);
  const pgBefore = cpuSeconds(await backends(), 'postgres');
  const childrenBefore = cpuSeconds(children);
  const benchBefore = process.cpuUsage();
  return {
    async stop() {
      const bench = process.cpuUsage(benchBefore);
      const pids = await backends();
      const pgAfter = cpuSeconds(pids, 'postgres');
      const childrenAfter = cpuSeconds(children);
      const delta = (after: Map<number, number>, before: Map<number, number>): number =>
        [...after].reduce((sum, [pid, seconds]) => sum + seconds - (before.get(pid) ?? 0), 0);
      return {
        bench: (bench.user + bench.system) / 1e6,
        postgres: pids.length > 0 && pgAfter.size === 0 ? undefined : delta(pgAfter, pgBefore),
        servers: children.length === 0 || childrenAfter.size === 0 ? undefined : delta(childrenAfter, childrenBefore),
      };
    },
  };
}

function cpuNote(cpu: CpuUse, events: number, benchLabel: string): string {
  if (events === 0) return 'CPU µs/event: n/a (no events)';
  const us = (seconds: number): string => `${Math.round((seconds * 1e6) / events)}`;
  const parts = [
    ...(cpu.servers !== undefined ? [`servers ${us(cpu.servers)}`] : []),
    `${benchLabel} ${us(cpu.bench)}`,
    ...(cpu.postgres !== undefined ? [`PostgreSQL backends ${us(cpu.postgres)}`] : []),
  ];
  return `CPU µs/event: ${parts.join(', ')}`;
}

// ---- 1. in-process -------------------------------------------------------------------------------

interface StoreCase {
  id: string;
  label: string;
  batch: number;
  concurrency: number;
  /** An idempotency key per event, as the HTTP route stores for events with an `id`. */
  keys: boolean;
  /** Events timed in the full run (a tenth in --quick). */
  events: number;
}

const STORE_CASES: StoreCase[] = [
  { id: 'pg.ingest.batch100', label: 'append, batches of 100', batch: 100, concurrency: 1, keys: false, events: 10_000 },
  { id: 'pg.ingest.batch1000', label: 'append, batches of 1000', batch: 1000, concurrency: 1, keys: false, events: 20_000 },
  { id: 'pg.ingest.single50', label: 'append, 1 event × 50 concurrent', batch: 1, concurrency: 50, keys: false, events: 6_000 },
  { id: 'pg.ingest.batch100.keys', label: 'append, batches of 100 + idempotency keys', batch: 100, concurrency: 1, keys: true, events: 10_000 },
];
const STORE_WARMUP_EVENTS = 1000;
const QUICK_WARMUP_EVENTS = 200;



/** Milliseconds spent per kind of statement, and in the Sequencer's build (sealing, tree, signing). */
interface Clocks {
  commitMs: number;
  buildMs: number;
  statements: Map<string, number>;
}

/** "INSERT INTO entries …" → "entries"; "SELECT pg_advisory_xact_lock…" → "lock"; BEGIN/COMMIT as is. */
function statementName(sql: string): string {
  const text = sql.trim();
  const insert = /^INSERT INTO (\w+)/i.exec(text);
  if (insert) return insert[1]!;
  if (text.startsWith('SELECT pg_advisory_xact_lock')) return 'lock';
  if (/^SELECT size, root/.test(text)) return 'head';
  if (/^SELECT k\.key/.test(text)) return 'key lookup';
  if (/^SELECT ledger_id FROM ledgers/.test(text)) return 'ledger id';
  return text.split(/\s+/)[0]!.toUpperCase();
}

/**
 * Times commitBatch, the build callback inside it, and every statement on the store's pooled clients
 * (from the call to the resolved promise: parameter encoding, round trip, server time, result parsing).
 */
function instrument(store: PostgresStore): Clocks {
  const clocks: Clocks = { commitMs: 0, buildMs: 0, statements: new Map() };
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
  const record = (text: unknown, start: number): void => {
    const name = typeof text === 'string' ? statementName(text) : 'other';
    clocks.statements.set(name, (clocks.statements.get(name) ?? 0) + performance.now() - start);
  };
  // pg-pool calls both forms: connect() → Promise (commitBatch) and connect(callback) (pool.query), and
  // client.query(text, values) → Promise or client.query(text, values, callback); wrap each form.
  type Callback = (...results: unknown[]) => void;
  const wrapped = new WeakSet<object>();
  const wrap = (client: pg.PoolClient | undefined): void => {
    if (!client || wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: unknown, ...args: unknown[]) {
      const start = performance.now();
      const last = args.length - 1;
      if (typeof args[last] === 'function') {
        const callback = args[last] as Callback;
        args[last] = (...results: unknown[]) => {
          record(args[0], start);
          callback(...results);
        };
        return query.apply(this, args);
      }
      return (query.apply(this, args) as Promise<unknown>).finally(() => record(args[0], start));
    };
  };
  const connect = store.pool.connect as (...args: unknown[]) => unknown;
  (store.pool as unknown as { connect: (...args: unknown[]) => unknown }).connect = function (this: unknown, ...args: unknown[]) {
    const callback = args[0] as Callback | undefined;
    if (typeof callback === 'function') {
      return connect.call(this, (error: unknown, client: pg.PoolClient | undefined, done: unknown) => {
        wrap(client);
        callback(error, client, done);
      });
    }
    return (connect.call(this) as Promise<pg.PoolClient>).then((client) => {
      wrap(client);
      return client;
    });
  };
  return clocks;
}

interface StoreResult {
  eventsPerSecond: number;
  eventsPerTransaction: number;
  walBytesPerEvent: number;
  cpu: CpuUse;
  /** µs per event: sealing+signing, each statement kind, the rest of commitBatch, outside commitBatch. */
  micros: { build: number; statements: Array<[string, number]>; restOfCommit: number; outside: number };
}

async function measureStore(
  store: PostgresStore,
  clocks: Clocks,
  admin: pg.Client,
  role: string,
  c: StoreCase,
  warmup: number,
  events: number,
): Promise<StoreResult> {
  const ledger = c.id.replaceAll('.', '-');
  await store.createLedger(ledger);
  await appendAll(store, ledger, c, 0, warmup);
  const checkpoints = async (): Promise<number> =>
    Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.name = $1', [ledger])).rows[0]!.n);
  const before = await checkpoints();
  Object.assign(clocks, { commitMs: 0, buildMs: 0, statements: new Map() });
  const walBefore = await walBytes(admin);
  const meter = await cpuMeter(admin, role);
  const { seconds } = await timeAsync(() => appendAll(store, ledger, c, warmup, events));
  const cpu = await meter.stop();
  const wal = (await walBytes(admin)) - walBefore;
  const transactions = (await checkpoints()) - before;
  const perEvent = (ms: number): number => (ms * 1000) / events;
  const statementMs = [...clocks.statements.values()].reduce((a, b) => a + b, 0);
  return {
    eventsPerSecond: events / seconds,
    eventsPerTransaction: events / transactions,
    walBytesPerEvent: wal / events,
    cpu,
    micros: {
      build: perEvent(clocks.buildMs),
      statements: [...clocks.statements.entries()].sort((a, b) => b[1] - a[1]).map(([name, ms]) => [name, perEvent(ms)]),
      restOfCommit: perEvent(clocks.commitMs - clocks.buildMs - statementMs),
      outside: perEvent(seconds * 1000 - clocks.commitMs),
    },
  };
}

// ---- raw baseline ---------------------------------------------------------------------------------

interface RawRow {
  leaf: Buffer;
  leafHash: Buffer;
  disclosures: string;
  search: SearchRecord;
}

/** What the store writes per event, sealed once up front: entry columns and search index rows. */
function sealedRows(): RawRow[] {
  const salts = new SaltSource(nodeSuite);
  const receivedAt = Date.now() * 1000;
  return eventPool.map((event, index) => {
    const sealed = sealEvent(nodeSuite, { ledger: 'raw', index, receivedAtMicros: receivedAt, writer: WRITER, event }, salts);
    return {
      leaf: Buffer.from(sealed.leaf),
      leafHash: Buffer.from(sealed.leafHash),
      disclosures: JSON.stringify(sealed.disclosures),
      search: searchRecord(index, receivedAt, WRITER, sealed.disclosures, { ipBytes }),
    };
  });
}

function averageRowBytes(rows: RawRow[]): number {
  return rows.reduce((sum, r) => sum + r.leaf.length + r.leafHash.length + Buffer.byteLength(r.disclosures), 0) / rows.length;
}

/** Plain copies of the store's tables: same columns, primary keys and (for the index) secondary indexes; no triggers. */
async function createRawTables(admin: pg.Client, fixture: PostgresFixture): Promise<void> {
  await admin.query(`SET search_path TO "${fixture.schema}"`);
  await admin.query(`
    CREATE TABLE raw_entries (ledger_id INTEGER NOT NULL, idx BIGINT NOT NULL, received_at BIGINT NOT NULL,
      leaf BYTEA NOT NULL, leaf_hash BYTEA NOT NULL, disclosures TEXT NOT NULL, PRIMARY KEY (ledger_id, idx));
    CREATE TABLE raw_search_events (LIKE search_events INCLUDING ALL);
    CREATE TABLE raw_search_targets (LIKE search_targets INCLUDING ALL);
    CREATE TABLE raw_search_metadata (LIKE search_metadata INCLUDING ALL);
    GRANT SELECT, INSERT ON raw_entries, raw_search_events, raw_search_targets, raw_search_metadata TO "${fixture.serviceRole}";`);
}

let rawLedger = 0;

interface RawResult {
  rowsPerSecond: number;
  walBytesPerRow: number;
  cpu: CpuUse;
}

/**
 * Rows per second of BEGIN; INSERT … SELECT FROM unnest(…); COMMIT in transactions of `perTransaction`
 * rows on one connection of the service role; with `index`, also the three search-index INSERTs the
 * store makes (same statements, same columns, same indexes).
 */
async function measureRaw(
  fixture: PostgresFixture,
  admin: pg.Client,
  rows: RawRow[],
  perTransaction: number,
  warmup: number,
  total: number,
  index: boolean,
): Promise<RawResult> {
  const client = new pg.Client({ connectionString: fixture.serviceUrl, options: `-c search_path="${fixture.schema}"` });
  await client.connect();
  const ledgerId = ++rawLedger;
  const write = async (first: number, count: number): Promise<void> => {
    const batch = Array.from({ length: count }, (_, i) => rows[(first + i) % rows.length]!);
    const idx = batch.map((_, i) => first + i);
    await client.query('BEGIN');
    if (index) {
      await client.query(
        `INSERT INTO raw_search_events (ledger_id, idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, country, writer, body)
         SELECT $1, idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, country, writer, body
           FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[], $13::text[], $14::text[], $15::text[])
             AS r(idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, country, writer, body)`,
        [
          ledgerId,
          idx,
          batch.map((r) => r.search.receivedAtMicros),
          batch.map((r) => r.search.occurredAtMicros),
          batch.map((r) => r.search.actorType),
          batch.map((r) => r.search.actorId),
          batch.map((r) => r.search.actorName),
          batch.map((r) => r.search.action),
          batch.map((r) => r.search.category),
          batch.map((r) => r.search.tenant),
          batch.map((r) => r.search.outcome),
          batch.map((r) => (r.search.ip ? Buffer.from(r.search.ip) : null)),
          batch.map((r) => r.search.location?.country ?? null),
          batch.map((r) => r.search.writer),
          batch.map((r) => r.search.text),
        ],
      );
      const targets = batch.flatMap((r, i) => r.search.targets.map((t) => ({ ...t, index: idx[i]! })));
      await client.query(
        `INSERT INTO raw_search_targets (ledger_id, target_id, idx, target_type, target_name)
         SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
        [ledgerId, targets.map((t) => t.id), targets.map((t) => t.index), targets.map((t) => t.type), targets.map((t) => t.name)],
      );
      const metadata = batch.flatMap((r, i) => r.search.metadata.map(([key, value]) => ({ key, value, index: idx[i]! })));
      await client.query(
        `INSERT INTO raw_search_metadata (ledger_id, key, value, idx)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[]) ON CONFLICT DO NOTHING`,
        [ledgerId, metadata.map((m) => m.key), metadata.map((m) => m.value), metadata.map((m) => m.index)],
      );
    }
    await client.query(
      `INSERT INTO raw_entries (ledger_id, idx, received_at, leaf, leaf_hash, disclosures)
       SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[])`,
      [ledgerId, idx, batch.map((r) => r.search.receivedAtMicros), batch.map((r) => r.leaf), batch.map((r) => r.leafHash), batch.map((r) => r.disclosures)],
    );
    await client.query('COMMIT');
  };
  try {
    for (let i = 0; i < warmup; i += perTransaction) await write(i, perTransaction);
    const first = warmup + perTransaction;
    const walBefore = await walBytes(admin);
    const meter = await cpuMeter(admin, fixture.serviceRole);
    const { seconds } = await timeAsync(async () => {
      for (let i = 0; i < total; i += perTransaction) await write(first + i, Math.min(perTransaction, total - i));
    });
    const cpu = await meter.stop();
    return { rowsPerSecond: total / seconds, walBytesPerRow: ((await walBytes(admin)) - walBefore) / total, cpu };
  } finally {
    await client.end();
  }
}

function breakdown(r: StoreResult): string {
  const t = r.micros;
  const statements = t.statements.map(([name, us]) => `${name} ${us.toFixed(1)}`).join(', ');
  return (
    `wall µs/event: sealing+signing ${t.build.toFixed(1)}; statements (call to result) ${statements}; ` +
    `rest of commitBatch ${t.restOfCommit.toFixed(1)}, outside it ${t.outside.toFixed(1)}`
  );
}

async function storeRows(fixture: PostgresFixture, admin: pg.Client, quick: boolean): Promise<{ rows: Row[]; rates: Map<string, number>; rowBytes: number }> {
  const sealed = sealedRows();
  await createRawTables(admin, fixture);
  const store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer: newSigner(), name: DEPLOYMENT_NAME });
  const clocks = instrument(store);
  const warmup = quick ? QUICK_WARMUP_EVENTS : STORE_WARMUP_EVENTS;
  const rows: Row[] = [];
  const rates = new Map<string, number>();
  try {
    for (const c of STORE_CASES) {
      const events = quick ? c.events / 10 : c.events;
      progress(`postgres: ${c.label} (${events.toLocaleString('en-US')} events, and the raw baselines)`);
      const result = await measureStore(store, clocks, admin, fixture.serviceRole, c, warmup, events);
      rates.set(c.id, result.eventsPerSecond);
      // Raw transactions as large as the store's were (group commit decides that for concurrent callers).
      const perTransaction = Math.max(1, Math.round(result.eventsPerTransaction));
      const raw = await measureRaw(fixture, admin, sealed, perTransaction, warmup, events, false);
      const indexed = await measureRaw(fixture, admin, sealed, perTransaction, warmup, events, true);
      rows.push(
        {
          id: c.id,
          label: c.label,
          value: result.eventsPerSecond,
          unit: 'events/s',
          baseline: { label: `raw INSERT entries, ${perTransaction}/tx`, value: raw.rowsPerSecond, unit: 'rows/s' },
          ratio: { value: result.eventsPerSecond / raw.rowsPerSecond, label: '× raw' },
          note:
            `${result.eventsPerTransaction.toFixed(1)} events/transaction; ${cpuNote(result.cpu, events, 'store process')} ` +
            `(raw entries: ${cpuNote(raw.cpu, events, 'client').replace('CPU µs/event: ', '')}; raw entries+index: ${cpuNote(indexed.cpu, events, 'client').replace('CPU µs/event: ', '')}); ` +
            `${breakdown(result)}; WAL ~${Math.round(result.walBytesPerEvent)} B/event ` +
            `(raw entries ~${Math.round(raw.walBytesPerRow)}, raw entries+index ~${Math.round(indexed.walBytesPerRow)})`,
        },
        {
          id: `${c.id}.vs-indexed`,
          label: '  same, vs raw entries + search index',
          value: result.eventsPerSecond,
          unit: 'events/s',
          baseline: { label: `raw INSERT ×4 tables, ${perTransaction}/tx`, value: indexed.rowsPerSecond, unit: 'rows/s' },
          ratio: { value: result.eventsPerSecond / indexed.rowsPerSecond, label: '× raw' },
        },
      );
    }
  } finally {
    await store.close();
  }
  return { rows, rates, rowBytes: averageRowBytes(sealed) };
}

// ---- 2. HTTP, one and two server processes --------------------------------------------------------

interface LoadCase {
  id: string;
  label: string;
  eventsPerRequest: number;
  connections: number;
  /** The in-process case this one is compared with. */
  inProcess: string;
}

const LOAD_CASES: LoadCase[] = [
  { id: 'batch100', label: 'POST 100 events, 8 connections', eventsPerRequest: 100, connections: 8, inProcess: 'pg.ingest.batch100.keys' },
  { id: 'single50', label: 'POST 1 event, 50 connections', eventsPerRequest: 1, connections: 50, inProcess: 'pg.ingest.single50' },
];

interface LoadResult {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
  failedStatuses: string;
  /** Events per committed transaction (checkpoints written during the timed run). */
  eventsPerTransaction: number;
  cpu: CpuUse;
  events: number;
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Server children still running: killed if this process exits without stopping them (a crash, Ctrl-C). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function startServer(fixture: PostgresFixture, dataDir: string, token: string): Promise<Server> {
  const args = [
    ...profileFlags(),
    '--import',
    'tsx',
    'src/cli/main.ts',
    'serve',
    '--database-url',
    fixture.serviceUrl,
    '--database-schema',
    fixture.schema,
    '--name',
    DEPLOYMENT_NAME,
    '--data',
    dataDir,
    '--port',
    '0',
    '--quiet',
    '--rate-limit',
    '0',
  ];
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, SEALTRAIL_ADMIN_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const output = { stderr: '' };
  child.stderr!.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    return { url: await waitForAddress(child, output), pid: child.pid!, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createLedger(url: string, token: string, ledger: string): Promise<void> {
  const response = await fetch(`${url}/v1/ledgers/${ledger}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 201) throw new Error(`creating ledger ${ledger} answered ${response.status}: ${await response.text()}`);
}

function bodyTemplate(eventsPerRequest: number): string {
  const events = Array.from({ length: eventsPerRequest }, (_, i) => ({ ...benchEvent(i), id: `evt-${PLACEHOLDER}-${i}` }));
  return JSON.stringify(eventsPerRequest === 1 ? events[0] : events);
}

/** autocannon over one or several servers: connection i goes to urls[i mod n], one latency histogram for all. */
async function load(urls: string[], token: string, ledger: string, c: LoadCase, seconds: number, runId: string) {
  const template = bodyTemplate(c.eventsPerRequest);
  let counter = 0;
  return autocannon({
    // autocannon accepts an array of URLs (lib/run.js) though its type declaration says string.
    url: (urls.length === 1 ? urls[0]! : urls) as string,
    connections: c.connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: `/v1/ledgers/${ledger}/events`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        setupRequest: (request) => ({ ...request, body: template.replaceAll(PLACEHOLDER, `${runId}${counter++}`) }),
      },
    ],
  });
}

async function ledgerCounts(admin: pg.Client, ledger: string): Promise<{ checkpoints: number; size: number }> {
  const result = await admin.query<{ n: string; size: string | null }>(
    'SELECT count(*) AS n, max(size) AS size FROM checkpoints c JOIN ledgers l USING (ledger_id) WHERE l.name = $1',
    [ledger],
  );
  return { checkpoints: Number(result.rows[0]!.n), size: Number(result.rows[0]!.size ?? 0) };
}

async function loadAll(servers: Server[], token: string, admin: pg.Client, role: string, quick: boolean): Promise<Map<string, LoadResult>> {
  const { warmup, seconds } = quick ? { warmup: 0.5, seconds: 1.5 } : { warmup: 1, seconds: 6 };
  const urls = servers.map((s) => s.url);
  const results = new Map<string, LoadResult>();
  for (const c of LOAD_CASES) {
    const ledger = `http-${urls.length}p-${c.id}`;
    await createLedger(urls[0]!, token, ledger);
    progress(`postgres: ${urls.length} server process${urls.length > 1 ? 'es' : ''}, ${c.label} (${seconds} s)`);
    await load(urls, token, ledger, c, warmup, `${c.id}w${urls.length}`);
    const before = await ledgerCounts(admin, ledger);
    const meter = await cpuMeter(admin, role, servers.map((s) => s.pid));
    const result = await load(urls, token, ledger, c, seconds, `${c.id}m${urls.length}`);
    const cpu = await meter.stop();
    const after = await ledgerCounts(admin, ledger);
    results.set(c.id, {
      eventsPerSecond: (result['2xx'] * c.eventsPerRequest) / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      failures: result.non2xx + result.errors,
      failedStatuses: failedStatuses(result),
      // Includes requests still in flight at the end; close enough over several seconds.
      eventsPerTransaction: (after.size - before.size) / Math.max(1, after.checkpoints - before.checkpoints),
      cpu,
      events: result['2xx'] * c.eventsPerRequest,
    });
  }
  return results;
}

async function measureHttp(fixture: PostgresFixture, admin: pg.Client, quick: boolean): Promise<{ one: Map<string, LoadResult>; two: Map<string, LoadResult> }> {
  const dataDir = tempDir('pg-serve');
  const token = randomBytes(24).toString('hex');
  const servers: Server[] = [];
  try {
    // The first server creates the signing key and records the name in the folder; the second reuses both.
    servers.push(await startServer(fixture, dataDir, token));
    const one = await loadAll(servers, token, admin, fixture.serviceRole, quick);
    servers.push(await startServer(fixture, dataDir, token));
    const two = await loadAll(servers, token, admin, fixture.serviceRole, quick);
    return { one, two };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    removeDir(dataDir);
  }
}

function httpRows(c: LoadCase, one: LoadResult, two: LoadResult, inProcess: number): Row[] {
  const failures = (r: LoadResult): string => (r.failures === 0 ? '' : `; WARNING: ${r.failures} failed requests (${r.failedStatuses || 'connection errors'})`);
  const kind = c.eventsPerRequest === 1 ? 'single' : 'batched';
  const latency = (processes: 1 | 2, name: 'p50' | 'p99'): Row => {
    const r = processes === 1 ? one : two;
    return {
      id: `pg.http.${processes}p.${c.id}.${name}`,
      label: `  ${name} latency (${kind})`,
      value: r[name],
      unit: 'ms',
      ...(processes === 2 ? { baseline: { label: '1 process', value: one[name], unit: 'ms' }, ratio: { value: two[name] / Math.max(one[name], 0.01), label: '× 1 process' } } : {}),
    };
  };
  return [
    {
      id: `pg.http.1p.${c.id}`,
      label: `1 process: ${c.label}`,
      value: one.eventsPerSecond,
      unit: 'events/s',
      baseline: { label: 'in-process store', value: inProcess, unit: 'events/s' },
      ratio: { value: one.eventsPerSecond / inProcess, label: '× in-process' },
      ...(c.eventsPerRequest > 1 ? { target: { on: 'value' as const, op: '>=' as const, limit: TARGET_ONE_PROCESS_EVENTS_PER_SECOND } } : {}),
      note: `${one.eventsPerTransaction.toFixed(1)} events/transaction; ${cpuNote(one.cpu, one.events, 'autocannon')}${failures(one)}`,
    },
    latency(1, 'p50'),
    latency(1, 'p99'),
    {
      id: `pg.http.2p.${c.id}`,
      label: `2 processes: ${c.label}`,
      value: two.eventsPerSecond,
      unit: 'events/s',
      baseline: { label: '1 process', value: one.eventsPerSecond, unit: 'events/s' },
      ratio: { value: two.eventsPerSecond / one.eventsPerSecond, label: '× 1 process' },
      ...(c.eventsPerRequest > 1 ? { target: { on: 'ratio' as const, op: '>=' as const, limit: 1 } } : {}),
      note: `${two.eventsPerTransaction.toFixed(1)} events/transaction; ${cpuNote(two.cpu, two.events, 'autocannon')}${failures(two)}`,
    },
    latency(2, 'p50'),
    latency(2, 'p99'),
  ];
}

// ---- section --------------------------------------------------------------------------------------

const title = (synchronousCommit: string): string => `PostgreSQL ingest (PostgresStore, synchronous_commit=${synchronousCommit})`;

export async function postgresSection(options: BenchOptions): Promise<Section> {
  const probe = await probePostgres();
  const reason = probe && `${probe}; set SEALTRAIL_TEST_DATABASE_URL`;
  if (reason) {
    progress(`postgres: skipped: ${reason}`);
    return { title: 'PostgreSQL ingest (skipped)', rows: [], notes: [`SKIPPED: ${reason}`] };
  }
  const fixture = await createPostgresFixture(DEPLOYMENT_NAME);
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
    const settings = await admin.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'shared_buffers') ORDER BY name`,
    );
    const store = await storeRows(fixture, admin, options.quick);
    const http = await measureHttp(fixture, admin, options.quick);
    const rows = [
      ...store.rows,
      ...LOAD_CASES.flatMap((c) => httpRows(c, http.one.get(c.id)!, http.two.get(c.id)!, store.rates.get(c.inProcess)!)),
    ];
    return {
      title: title(settings.rows.find((s) => s.name === 'synchronous_commit')?.setting ?? '?'),
      rows,
      notes: [
        `server ${maskPassword(ADMIN_URL)}: ${settings.rows.map((s) => `${s.name}=${s.setting}`).join(', ')}; a fresh fixture schema ${fixture.schema}, dropped at the end`,
        `in-process: one PostgresStore (pool of 10, service role), a ledger per case, ${options.quick ? QUICK_WARMUP_EVENTS : STORE_WARMUP_EVENTS} warm-up events, then the timed appends; awaited receipts = committed`,
        `raw baselines: BEGIN; INSERT … SELECT FROM unnest(…); COMMIT on one service-role connection, into plain tables with the store's keys and indexes but no triggers; ` +
          `rows ~${Math.round(store.rowBytes)} B (leaf + leaf hash + disclosures JSON); "+ search index" adds search_events/targets/metadata rows as the store writes them`,
        'COPY baseline not measured: pg-copy-streams is not installed (and is not added for this)',
        'WAL bytes are cluster-wide pg_current_wal_lsn() differences, so other sessions on the server inflate them; ' +
          'CPU µs/event is user+system time over the timed run from /proc/PID/stat of this process, the server children and the service role\'s PostgreSQL backends (when local)',
        `HTTP: \`sealtrail serve --database-url\` child processes on one schema and one --data folder (--rate-limit 0); every event has a unique id, so an idempotency key too; ` +
          'with 2 processes autocannon spreads the connections across both (4+4, 25+25) and keeps one latency histogram',
        'the 1-process HTTP rows compare with the in-process store case of the same shape (batches of 100 with keys; 50 concurrent singles, without keys)',
        'load generator, server processes and PostgreSQL share this machine\'s cores: a second process cannot add CPU that is not there',
      ],
    };
  } finally {
    await admin.end().catch(() => {});
    await fixture.drop();
  }
}
