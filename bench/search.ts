/**
 * `npm run bench:search -- [--events N] [--quick] [--runs R] [--keep] [--only ID,…]`: search latency on a
 * generated ledger (bench/gen.ts): N events (default 1,000,000; BENCH_QUICK=1 or --quick: 100,000)
 * written in-process into a temporary SQLite store under .bench/, measured as ingested (the store never
 * runs a full ANALYZE) and again after ANALYZE.
 *
 * `npm run bench:search -- --data DIR [--ledger L] [--runs R] [--analyze] [--writable]` measures an
 * existing deployment folder instead (e.g. the 10-million-event one of issue 5, from `npm run gen --
 * --data DIR`): it reads DIR/gen-<ledger>.json (the gen options, see bench/gen.ts) to rebuild the
 * Dataset the queries are made from, opens DIR/sealtrail.db read-only through SqliteStore (with the
 * 256 MiB page cache the writing connection uses) and never writes to it. --writable opens it read-write
 * (pending schema migrations and index catch-up run; still no appends); --analyze (implies --writable)
 * runs ANALYZE after the first phase, which stays in the file, and measures again.
 *
 * `npm run bench:search -- --database-url URL [--events N]` runs the same queries on a PostgreSQL store:
 * a fresh schema and roles under the administrator URL (e.g. postgres://postgres@127.0.0.1:5432/test),
 * N generated events (default 100,000; --quick 20,000) written through writeToStore, ANALYZE, one
 * phase, PostgreSQL's EXPLAIN; the schema and roles are dropped at the end. Writes .bench/search-postgres.json.
 *
 * The queries: issue 5's (one actor in a 24 h window, first page of 100 newest; the same with the actor's
 * usual `country:` and `-outcome:success`; counts by hour over 30 days; a free-text term) and the
 * incident queries an investigator runs. Each is timed R times (default 25, at least 20; p50 and p99)
 * beside its baseline, timed in the same rounds, interleaved: the raw index scan of the same query, a
 * hand-written SQL statement over the index tables alone (search_events, search_targets, the FTS5
 * table; no join to entries, no JSON decoding) that must return the same indexes or buckets as the store
 * (checked every round; a mismatch stops the bench). Counts by hour over 30 days are answered by the
 * store from its hourly rollups (src/store/rollups.ts), so their raw baseline is the scan they replace. Received windows are turned into index bounds once
 * per phase, outside the timing, as the store does on every call (receivedAsIndex). Prints the target
 * of issue 5 for each (first page p99 < 50 ms, counts p99 < 500 ms), the SQLite query plans of the
 * store's and the raw statements, and writes .bench/search.json.
 *
 * Also exports explainSqlite, ledgerIdOf and incidentQueries for test/store/search-plans.test.ts.
 */
import type Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { parseQuery, type Query } from '../src/core/query.js';
import { portableSigner } from '../src/core/crypto.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { hourKey } from '../src/store/search-sql.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { StatsDimension } from '../src/store/store.js';
import { BENCH_DIR, PROJECT_ROOT, progress, removeDir, tempDir } from './fixtures.js';
import { Dataset, GEN_DEFAULTS, loadGeolocation, openGenStore, readGenInfo, SimulatedClock, writeToStore, type GenInfo, type WriteResult } from './gen.js';
import { machine } from './report.js';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { quoteIdent } from '../src/store/postgres/schema.js';
import { setupPostgres } from '../src/store/postgres/setup.js';
import { maskPassword } from '../src/server/deployment.js';

const SECOND = 1_000_000;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

export type { Statement } from '../src/store/search-sql.js';
import type { Statement } from '../src/store/search-sql.js';

/** EXPLAIN QUERY PLAN as indented lines (children under their parent). */
export function explainSqlite(db: Database.Database, statement: Statement): string[] {
  const rows = db.prepare<unknown[], { id: number; parent: number; detail: string }>(`EXPLAIN QUERY PLAN ${statement.sql}`).all(...statement.params);
  const depth = new Map<number, number>([[0, -1]]);
  return rows.map((row) => {
    const d = (depth.get(row.parent) ?? -1) + 1;
    depth.set(row.id, d);
    return `${'  '.repeat(d)}${row.detail}`;
  });
}

export function ledgerIdOf(db: Database.Database, ledger: string): number {
  const row = db.prepare<[string], { ledger_id: number }>('SELECT ledger_id FROM ledgers WHERE name = ?').get(ledger);
  if (!row) throw new Error(`no ledger ${ledger}`);
  return row.ledger_id;
}

// ---------------------------------------------------------------------------------------------------
// The queries

/** What a raw statement is built from: the ledger and the query's received window as index bounds. */
export interface RawContext {
  /** Which SQL to write: `?` placeholders either way (numbered for PostgreSQL when run). */
  engine: 'sqlite' | 'postgres';
  ledgerId: number;
  /** The query's `received` window as [from, to) ledger indexes (either end may be open), as the store rewrites it. */
  window: { from?: number; to?: number };
}

export interface BenchQuery {
  id: string;
  label: string;
  /** Query string, parsed with `now` = the end of the generated span. */
  q: string;
  /** Stats dimension; absent for a page of events (the first 100, newest first). */
  by?: StatsDimension;
  /** One of the queries issue 5 asks for. */
  issue?: boolean;
  /**
   * The raw index scan of the same query: SQL over the index tables alone (no entries, no JSON) that
   * returns the page's `idx` column, newest first, or the stats' (key, count) rows in the store's order.
   */
  raw?: (c: RawContext) => Statement;
}

const PAGE = 100;
const STATS_LIMIT = 10_000;

const stamp = (micros: number) => `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19)}Z`;
const day = (micros: number) => new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
/** An FTS5 string, as the store binds free text (sqliteDialect.text). */
const ftsString = (phrase: string) => `"${phrase.replace(/"/g, '""')}"`;

/** `AND e.idx >= ? AND e.idx < ?` for the received window, if the query has one. */
function windowSql(c: RawContext): { sql: string; params: number[] } {
  const parts: string[] = [];
  const params: number[] = [];
  if (c.window.from !== undefined) {
    parts.push('e.idx >= ?');
    params.push(c.window.from);
  }
  if (c.window.to !== undefined) {
    parts.push('e.idx < ?');
    params.push(c.window.to);
  }
  return { sql: parts.map((p) => ` AND ${p}`).join(''), params };
}

/** A first page read from search_events alone: `where` over `e`, with its parameters. */
function rawPage(where: (ledgerId: number) => [string, unknown[]]): (c: RawContext) => Statement {
  return (c) => {
    const [sql, params] = where(c.ledgerId);
    const w = windowSql(c);
    return {
      sql: `SELECT e.idx FROM search_events e WHERE e.ledger_id = ?${sql ? ` AND ${sql}` : ''}${w.sql} ORDER BY e.idx DESC LIMIT ${PAGE}`,
      params: [c.ledgerId, ...params, ...w.params],
    };
  };
}

/** Counts by hour from search_events alone. */
function rawHours(where: (ledgerId: number) => [string, unknown[]]): (c: RawContext) => Statement {
  return (c) => {
    const [sql, params] = where(c.ledgerId);
    const w = windowSql(c);
    return {
      sql: `SELECT e.received_at / 3600000000 AS key, count(*) AS count FROM search_events e WHERE e.ledger_id = ?${sql ? ` AND ${sql}` : ''}${w.sql} GROUP BY 1 ORDER BY 1`,
      params: [c.ledgerId, ...params, ...w.params],
    };
  };
}

/**
 * Free text straight from the FTS5 index, newest match first (FTS5 walks its doclists backwards for
 * ORDER BY rowid DESC and stops at the limit); search_events only maps the rowid to the ledger and idx.
 * On PostgreSQL: the ILIKE over search_events.body that the store runs, without the join to entries.
 */
function rawText(phrase: string): (c: RawContext) => Statement {
  return (c) =>
    c.engine === 'postgres'
      ? rawPage(() => [`e.body ILIKE ?`, [`%${phrase.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`]])(c)
      : {
          sql: `SELECT e.idx FROM search_text t JOIN search_events e ON e.id = t.rowid WHERE t.search_text MATCH ? AND e.ledger_id = ? ORDER BY t.rowid DESC LIMIT ${PAGE}`,
          params: [ftsString(phrase), c.ledgerId],
        };
}

/** The shapes an investigator runs, instantiated on a generated dataset (planted incidents included). */
export function incidentQueries(dataset: Dataset): BenchQuery[] {
  const end = dataset.options.endMicros;
  const busiest = dataset.busiest;
  const brute = dataset.incidents.find((i) => i.name === 'brute-force');
  const ip = brute?.ip ?? busiest.userIps.find((a) => !a.startsWith('10.') && !a.startsWith('192.168.')) ?? busiest.userIps[0]!;
  const ipDay = brute?.fromMicros ?? end - DAY;
  const block = `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  const [low, high] = ipBlock(block);
  const from = Math.max(dataset.startMicros, end - 3 * DAY);
  return [
    {
      id: 'user-between',
      label: 'one user between two timestamps (2 days)',
      q: `actor.id:${busiest.user} received:${stamp(from)}..${stamp(from + 2 * DAY)}`,
      raw: rawPage(() => ['e.actor_id = ?', [busiest.user]]),
    },
    {
      id: 'user-resource',
      label: 'one user on one resource',
      q: `actor.id:${busiest.user} target.id:${busiest.file.id}`,
      raw: rawPage((ledgerId) => ['e.actor_id = ? AND e.idx IN (SELECT t.idx FROM search_targets t WHERE t.ledger_id = ? AND t.target_id = ?)', [busiest.user, ledgerId, busiest.file.id]]),
    },
    {
      id: 'ip-range-day',
      label: 'an IP /24 in one day',
      q: `ip:${block} received:${day(ipDay)}`,
      raw: rawPage(() => ['e.ip BETWEEN ? AND ?', [low, high]]),
    },
    {
      id: 'tenant-file-24h',
      label: 'file.* for a tenant in the last 24 h',
      q: `tenant:${busiest.tenant} action:file.* received:-24h`,
      raw: rawPage(() => [`e.tenant = ? AND e.action >= 'file.' AND e.action < 'file/'`, [busiest.tenant]]),
    },
    { id: 'text-rare', label: 'free text, a file name', q: `"${busiest.quietFile.name}"`, raw: rawText(busiest.quietFile.name) },
    { id: 'text-common', label: 'free text, a common phrase', q: `"permission denied"`, raw: rawText('permission denied') },
    {
      id: 'stats-hour-tenant',
      label: 'stats by hour for a tenant (whole span)',
      q: `tenant:${busiest.tenant}`,
      by: 'hour',
      raw: rawHours(() => ['e.tenant = ?', [busiest.tenant]]),
    },
  ];
}

/**
 * Issue 5's queries: the busiest user (Dataset.busiest: the largest tenant's most active user) in the
 * last 24 h of the span (a weekday with the default end, a Thursday), alone and narrowed to their
 * tenant's country and to what did not succeed (their ~0.75 % failures: a handful a day; `country:`
 * needs geolocation at ingest), counts by hour over the last 30 days (the tenant, the user, the whole
 * ledger) and a free-text word found in many file names.
 */
export function issueQueries(dataset: Dataset): BenchQuery[] {
  const b = dataset.busiest;
  const country = dataset.tenants.find((t) => t.id === b.tenant)!.country;
  const u = b.user;
  return [
    {
      id: 'actor-24h',
      label: 'actor + 24 h, first page',
      q: `actor.id:${u} received:-24h`,
      raw: rawPage(() => ['e.actor_id = ?', [u]]),
    },
    {
      id: 'actor-24h-country-failed',
      label: 'same + country + -outcome:success',
      q: `actor.id:${u} received:-24h country:${country} -outcome:success`,
      raw: rawPage(() => [`e.actor_id = ? AND e.country = ? AND e.outcome IS DISTINCT FROM 'success'`, [u, country]]),
    },
    {
      id: 'actor-any-24h',
      label: 'actor: (id or name) + 24 h, first page',
      q: `actor:${u} received:-24h`,
      raw: rawPage(() => ['(e.actor_id = ? OR e.actor_name = ?)', [u, u]]),
    },
    {
      id: 'stats-hour-tenant-30d',
      label: 'count by hour, tenant, 30 days',
      q: `tenant:${b.tenant} received:-30d`,
      by: 'hour',
      raw: rawHours(() => ['e.tenant = ?', [b.tenant]]),
    },
    {
      id: 'stats-hour-actor-30d',
      label: 'count by hour, actor, 30 days',
      q: `actor.id:${u} received:-30d`,
      by: 'hour',
      raw: rawHours(() => ['e.actor_id = ?', [u]]),
    },
    {
      id: 'stats-hour-30d',
      label: 'count by hour, whole ledger, 30 days',
      q: `received:-30d`,
      by: 'hour',
      raw: rawHours(() => ['', []]),
    },
    { id: 'text-term', label: 'full-text term, first page', q: 'payroll', raw: rawText('payroll') },
  ].map((query) => ({ ...query, issue: true }) as BenchQuery);
}

/** A CIDR block's bounds as the 16-byte blobs search_events.ip holds. */
function ipBlock(block: string): [Buffer, Buffer] {
  const clause = parseQuery(`ip:${block}`).clauses[0]!;
  const match = clause.anyOf[0]!;
  if (match.kind !== 'ipRange') throw new Error(`not an IP block: ${block}`);
  return [Buffer.from(match.low, 'hex'), Buffer.from(match.high, 'hex')];
}

/** The received window of a parsed query (its one non-negated received range), in microseconds. */
function receivedWindow(query: Query): { from?: number; to?: number } {
  const clauses = query.clauses.filter((c) => c.field === 'received');
  if (clauses.length === 0) return {};
  const match = clauses[0]!.anyOf[0]!;
  if (clauses.length > 1 || clauses[0]!.negate || clauses[0]!.anyOf.length > 1 || match.kind !== 'range') {
    throw new Error('a raw baseline takes one plain received range');
  }
  return { ...(match.from !== undefined ? { from: match.from } : {}), ...(match.to !== undefined ? { to: match.to } : {}) };
}

// ---------------------------------------------------------------------------------------------------
// Timing

interface Timing {
  medianMs: number;
  p99Ms: number;
  runs: number;
}

function summarise(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
  return { medianMs: median, p99Ms: p99, runs: samples.length };
}

/** Issue 5's targets: first page p99 < 50 ms, counts p99 < 500 ms. */
const TARGET_MS = { page: 50, count: 500 } as const;

interface QueryResult {
  id: string;
  label: string;
  q: string;
  by?: string;
  issue: boolean;
  /** Events matching (all pages); for stats, the sum of the buckets. */
  matches: number;
  /** Rows in the first page (limit 100) or stats buckets returned. */
  returned: number;
  timing: Timing;
  /** The raw index scan of the same query, timed in the same rounds. */
  raw: Timing & { sql: string };
  /** timing / raw, of the medians and of the p99s. */
  ratio: { median: number; p99: number };
  target: { kind: 'page' | 'count'; p99Ms: number; met: boolean };
  plan: string[];
  rawPlan: string[];
}

interface Phase {
  name: string;
  queries: QueryResult[];
  /**
   * What the store pays per received bound before it runs a windowed query (receivedAsIndex →
   * firstIndexAtOrAfter), timed apart because the raw statements get their bounds precomputed.
   */
  probes: Array<{ at: string; medianMs: number; runs: number; plan: string[] }>;
}

const PROBE_SQL = `SELECT min(idx) AS idx FROM search_events WHERE ledger_id = ? AND received_at =
         (SELECT min(received_at) FROM search_events WHERE ledger_id = ? AND received_at >= ?)`;

/** The store's received → index rewrite, by hand (SqliteStore.firstIndexAtOrAfter): past the end when nothing is that late. */
/** A store under test and raw SQL on its database: SQLite in-process, or PostgreSQL. */
export interface Engine {
  kind: 'sqlite' | 'postgres';
  store: Pick<SqliteStore, 'search' | 'stats' | 'searchStatement' | 'statsStatement' | 'rollupStatement'>;
  ledgerId: number;
  /** Runs raw SQL written with `?` placeholders; `prepare` once, run many times. */
  prepare(statement: Statement): () => Promise<Array<Record<string, unknown>>>;
  explain(statement: Statement): Promise<string[]>;
}

function sqliteEngine(store: SqliteStore, ledger: string): Engine {
  const db = store.db;
  return {
    kind: 'sqlite',
    store,
    ledgerId: ledgerIdOf(db, ledger),
    prepare(statement) {
      const prepared = db.prepare<unknown[], Record<string, unknown>>(statement.sql);
      return async () => prepared.all(...statement.params);
    },
    explain: async (statement) => explainSqlite(db, statement),
  };
}

/** `?` → `$1`, `$2`, … (the raw statements have no `?` inside literals). */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

async function firstIndexAtOrAfter(engine: Engine, micros: number): Promise<number> {
  const rows = await engine.prepare({ sql: PROBE_SQL, params: [engine.ledgerId, engine.ledgerId, micros] })();
  const idx = rows[0]?.idx;
  return idx === null || idx === undefined ? Number.MAX_SAFE_INTEGER : Number(idx);
}

/** Times the received → index probe at the start of the last 24 h and of the last 30 days. */
async function measureProbes(engine: Engine, now: number): Promise<Phase['probes']> {
  const out: Phase['probes'] = [];
  for (const [at, micros] of [
    ['-24h', now - DAY],
    ['-30d', now - 30 * DAY],
  ] as const) {
    const samples: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = performance.now();
      await firstIndexAtOrAfter(engine, micros);
      if (i > 0) samples.push(performance.now() - t);
    }
    out.push({ at, medianMs: summarise(samples).medianMs, runs: samples.length, plan: await engine.explain({ sql: PROBE_SQL, params: [engine.ledgerId, engine.ledgerId, micros] }) });
  }
  return out;
}

function postgresEngine(store: PostgresStore, client: pg.Client, ledgerId: number): Engine {
  const text = (sql: string) => (sql.includes('$1') ? sql : numbered(sql));
  return {
    kind: 'postgres',
    store,
    ledgerId,
    // Unnamed statements, planned on every run, as the store's own queries are.
    prepare: (statement) => async () => (await client.query<Record<string, unknown>>(text(statement.sql), statement.params)).rows,
    explain: async (statement) =>
      (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text(statement.sql)}`, statement.params)).rows.map((r) => r['QUERY PLAN']),
  };
}

const sameList = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

async function measurePhase(engine: Engine, ledger: string, now: number, queries: BenchQuery[], runs: number, name: string): Promise<Phase> {
  const { store, ledgerId } = engine;
  const prepared = [];
  for (const query of queries) {
    const parsed = parseQuery(query.q, { now });
    const micros = receivedWindow(parsed);
    const window = {
      ...(micros.from !== undefined ? { from: await firstIndexAtOrAfter(engine, micros.from) } : {}),
      ...(micros.to !== undefined ? { to: await firstIndexAtOrAfter(engine, micros.to) } : {}),
    };
    if (!query.raw) throw new Error(`query ${query.id} has no raw baseline`);
    const rawStatement = query.raw({ engine: engine.kind, ledgerId, window });
    prepared.push({ query, parsed, rawStatement, rawRun: engine.prepare(rawStatement) });
  }
  type Prepared = (typeof prepared)[number];
  /** The store's answer as comparable values: page indexes, or "key=count" per bucket. */
  const runStore = async (p: Prepared): Promise<unknown[]> => {
    if (p.query.by) return (await store.stats(ledger, p.parsed, p.query.by, STATS_LIMIT)).map((b) => `${b.key}=${b.count}`);
    return (await store.search(ledger, { query: p.parsed, limit: PAGE, order: 'desc' })).entries.map((e) => e.index);
  };
  const runRaw = async (p: Prepared): Promise<unknown[]> => {
    const rows = await p.rawRun();
    if (p.query.by === 'hour') return rows.map((r) => `${hourKey(Number(r.key))}=${r.count}`);
    if (p.query.by) return rows.map((r) => `${r.key}=${r.count}`);
    return rows.map((r) => Number(r.idx));
  };
  const check = (p: Prepared, fromStore: unknown[], fromRaw: unknown[]) => {
    if (!sameList(fromStore, fromRaw)) {
      throw new Error(
        `${p.query.id}: the raw statement answers differently from the store (${fromRaw.length} vs ${fromStore.length} rows; ` +
          `first difference at ${fromStore.findIndex((x, i) => x !== fromRaw[i])}): ${p.query.q}\n  raw: ${p.rawStatement.sql}`,
      );
    }
  };
  const samples = new Map<string, number[]>(prepared.map((p) => [p.query.id, []]));
  const rawSamples = new Map<string, number[]>(prepared.map((p) => [p.query.id, []]));
  const returned = new Map<string, unknown[]>();
  // Warm-up: two of each (page cache, statement cache), checked against each other.
  for (const p of prepared) {
    for (let i = 0; i < 2; i++) {
      const fromStore = await runStore(p);
      check(p, fromStore, await runRaw(p));
      returned.set(p.query.id, fromStore);
    }
  }
  // Rounds: every query once per round, beside its raw scan; which of the two goes first alternates, so
  // that whatever one leaves in the caches helps both alike.
  for (let round = 0; round < runs; round++) {
    for (const p of prepared) {
      let fromStore: unknown[] = [];
      let fromRaw: unknown[] = [];
      const timeStore = async () => {
        const t = performance.now();
        fromStore = await runStore(p);
        samples.get(p.query.id)!.push(performance.now() - t);
      };
      const timeRaw = async () => {
        const t = performance.now();
        fromRaw = await runRaw(p);
        rawSamples.get(p.query.id)!.push(performance.now() - t);
      };
      if (round % 2 === 0) {
        await timeRaw();
        await timeStore();
      } else {
        await timeStore();
        await timeRaw();
      }
      check(p, fromStore, fromRaw);
    }
    if (round % 5 === 4) progress(`${name}: round ${round + 1}/${runs}`);
  }
  const results: QueryResult[] = [];
  for (const p of prepared) {
    // Counts the hourly rollups answer show the plan of the rollup read (edge hours, if any, run statsStatement).
    const statement = p.query.by
      ? ((await store.rollupStatement(ledger, p.parsed, p.query.by, STATS_LIMIT)) ?? (await store.statsStatement(ledger, p.parsed, p.query.by, STATS_LIMIT)))
      : await store.searchStatement(ledger, { query: p.parsed, limit: PAGE, order: 'desc' });
    const answer = returned.get(p.query.id)!;
    let matches: number;
    if (p.query.by) {
      matches = answer.reduce<number>((sum, bucket) => sum + Number(String(bucket).split('=').at(-1)), 0);
    } else {
      matches = (await store.stats(ledger, p.parsed, 'outcome', 10)).reduce((s, row) => s + row.count, 0);
    }
    const timing = summarise(samples.get(p.query.id)!);
    const raw = summarise(rawSamples.get(p.query.id)!);
    const kind = p.query.by ? 'count' : 'page';
    results.push({
      id: p.query.id,
      label: p.query.label,
      q: p.query.q,
      ...(p.query.by ? { by: p.query.by } : {}),
      issue: p.query.issue === true,
      matches,
      returned: answer.length,
      timing,
      raw: { ...raw, sql: p.rawStatement.sql },
      ratio: { median: timing.medianMs / raw.medianMs, p99: timing.p99Ms / raw.p99Ms },
      target: { kind, p99Ms: TARGET_MS[kind], met: timing.p99Ms < TARGET_MS[kind] },
      plan: await engine.explain(statement),
      rawPlan: await engine.explain(p.rawStatement),
    });
  }
  return { name, queries: results, probes: await measureProbes(engine, now) };
}

// ---------------------------------------------------------------------------------------------------
// Report

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const times = (n: number) => `${n >= 10 ? n.toFixed(0) : n.toFixed(1)}×`;

function formatPhase(phase: Phase): string {
  const header =
    `  ${'query'.padEnd(42)} ${'matches'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'raw p50'.padStart(8)} ${'raw p99'.padStart(8)}` +
    ` ${'store/raw'.padStart(10)}  target`;
  const lines = [phase.name, header];
  const row = (r: QueryResult) =>
    `  ${r.label.padEnd(42)} ${String(r.matches).padStart(9)} ${ms(r.timing.medianMs).padStart(8)} ${ms(r.timing.p99Ms).padStart(8)} ` +
    `${ms(r.raw.medianMs).padStart(8)} ${ms(r.raw.p99Ms).padStart(8)} ${times(r.ratio.median).padStart(10)}  p99 < ${r.target.p99Ms} ms ${r.target.met ? 'pass' : 'MISS'}`;
  const issue = phase.queries.filter((r) => r.issue);
  const other = phase.queries.filter((r) => !r.issue);
  if (issue.length > 0) lines.push('  issue 5:', ...issue.map(row));
  if (other.length > 0) lines.push('  incident queries:', ...other.map(row));
  const runs = phase.queries[0]?.timing.runs ?? 0;
  lines.push(
    `  (${runs} rounds; p99 of ${runs} runs is the ${runs < 100 ? 'slowest' : '99th percentile'}; store/raw = ratio of the p50s; raw = the same query's hand-written index scan, see below)`,
    `  received → index probe the store runs per bound (raw statements get theirs precomputed): ` +
      phase.probes.map((p) => `received:${p.at} ${ms(p.medianMs)} ms (${p.plan.map((l) => l.trim()).join(' | ')})`).join('; '),
  );
  return lines.join('\n');
}

function formatPlans(phase: Phase): string {
  return phase.queries
    .map(
      (r) =>
        `  ${r.id}: ${r.by ? `stats by=${r.by} ` : ''}${r.q}\n${r.plan.map((l) => `      ${l}`).join('\n')}\n` +
        `    raw: ${r.raw.sql.replace(/\s+/g, ' ')}\n${r.rawPlan.map((l) => `      ${l}`).join('\n')}`,
    )
    .join('\n');
}

/** Issue 5's figures, every phase, with the targets marked. */
function formatSummary(phases: Phase[]): string {
  const lines = [
    'summary (issue 5 targets: first page p99 < 50 ms, counts p99 < 500 ms)',
    `  ${'phase'.padEnd(26)} ${'query'.padEnd(42)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'raw p99'.padStart(8)}  target`,
  ];
  for (const phase of phases) {
    for (const r of phase.queries.filter((q) => q.issue)) {
      lines.push(
        `  ${phase.name.replace(/ \(took .*\)$/, '').slice(0, 26).padEnd(26)} ${r.label.padEnd(42)} ${ms(r.timing.medianMs).padStart(8)} ${ms(r.timing.p99Ms).padStart(8)} ${ms(r.raw.p99Ms).padStart(8)}  < ${r.target.p99Ms} ms ${r.target.met ? 'pass' : 'MISS'}`,
      );
    }
  }
  const all = phases.flatMap((p) => p.queries);
  const missed = all.filter((r) => !r.target.met);
  lines.push(`  ${all.length - missed.length} of ${all.length} measurements (incident queries included) meet their target${missed.length ? `; missed: ${[...new Set(missed.map((r) => r.id))].join(', ')}` : ''}`);
  return lines.join('\n');
}

function fileBytes(path: string): number {
  return [path, `${path}-wal`].reduce((sum, p) => sum + (existsSync(p) ? statSync(p).size : 0), 0);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/** Events in the ledger: checkpointed (size), in the search index (rows, highest index + 1). */
async function eventCounts(store: SqliteStore, ledger: string): Promise<{ size: number; indexed: number; nextIndex: number }> {
  const size = (await store.getLedger(ledger))?.size ?? 0;
  const ledgerId = ledgerIdOf(store.db, ledger);
  const row = store.db.prepare<[number], { n: number; m: number | null }>('SELECT count(*) AS n, max(idx) AS m FROM search_events WHERE ledger_id = ?').get(ledgerId)!;
  return { size, indexed: row.n, nextIndex: row.m === null ? 0 : row.m + 1 };
}

/** Whether the file holds planner statistics (the store refreshes them with a bounded PRAGMA optimize as it grows). */
function statistics(db: Database.Database): string {
  const has = db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'`).get() !== undefined;
  if (!has) return 'no planner statistics (sqlite_stat1 absent)';
  const n = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM sqlite_stat1 WHERE tbl LIKE 'search_%'`).get()!.n;
  return `sqlite_stat1 has ${n} rows for the search tables`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      quick: { type: 'boolean', default: false },
      runs: { type: 'string', default: '25' },
      seed: { type: 'string', default: GEN_DEFAULTS.seed },
      days: { type: 'string', default: String(GEN_DEFAULTS.days) },
      geo: { type: 'string' },
      keep: { type: 'boolean', default: false },
      data: { type: 'string' },
      ledger: { type: 'string', default: 'bench' },
      analyze: { type: 'boolean', default: false },
      writable: { type: 'boolean', default: false },
      only: { type: 'string' },
      'database-url': { type: 'string' },
    },
  });
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const runs = Math.max(20, Number(values.runs));
  if (!Number.isSafeInteger(runs)) throw new Error('--runs must be an integer ≥ 20');
  const info = machine(PROJECT_ROOT);
  const startedAt = new Date();
  const ledger = values.ledger!;
  const only = values.only?.split(',').filter(Boolean);
  const pick = (queries: BenchQuery[]) => (only ? queries.filter((q) => only.some((id) => q.id.includes(id))) : queries);

  if (values['database-url'] !== undefined) {
    const events = values.events !== undefined ? Number(values.events) : quick ? 20_000 : 100_000;
    if (!Number.isSafeInteger(events) || events < 2000) throw new Error('--events must be an integer ≥ 2000');
    const endMicros = Date.UTC(2026, 10, 26, 12) * 1000;
    const dataset = new Dataset({ events, seed: values.seed!, days: Number(values.days), endMicros, tenants: GEN_DEFAULTS.tenants, users: GEN_DEFAULTS.users });
    await runPostgres(values['database-url'], dataset, ledger, runs, only, { ...info, startedAt, geo: values.geo });
    return;
  }
  let store: SqliteStore;
  let dataset: Dataset;
  let databasePath: string;
  let cleanup: () => void = () => {};
  let ingest: WriteResult | undefined;
  let source: Record<string, unknown>;
  let gen: GenInfo | undefined;
  let geoNote: string;
  if (values.data !== undefined) {
    // An existing folder: the Dataset comes from the options it was generated with.
    const read = readGenInfo(values.data, ledger);
    gen = read.info;
    dataset = new Dataset(read.options);
    databasePath = join(values.data, 'sealtrail.db');
    if (!existsSync(databasePath)) throw new Error(`no ${databasePath}`);
    const writable = values.writable || values.analyze;
    try {
      // The signer is never used: nothing is appended.
      store = new SqliteStore({ path: databasePath, suite: nodeSuite, signer: portableSigner(nodeSuite.randomBytes(32)), name: 'bench-search', readonly: !writable });
    } catch (error) {
      throw new Error(`${(error as Error).message}${writable ? '' : ' (--writable opens it read-write, which applies pending migrations)'}`);
    }
    // The page cache the store's writing connection (the server's) has; a read-only one keeps SQLite's 2 MiB.
    store.db.pragma('cache_size = -262144');
    geoNote = gen.geo ?? 'geolocation as at generation (not recorded)';
    source = { data: values.data, database: databasePath, mode: writable ? 'read-write' : 'read-only', gen };
  } else {
    const events = values.events !== undefined ? Number(values.events) : quick ? 100_000 : 1_000_000;
    if (!Number.isSafeInteger(events) || events < 2000) throw new Error('--events must be an integer ≥ 2000');
    // A fixed end keeps the dataset the same from run to run (same seed, same events, same plans).
    const endMicros = Date.UTC(2026, 10, 26, 12) * 1000;
    dataset = new Dataset({ events, seed: values.seed!, days: Number(values.days), endMicros, tenants: GEN_DEFAULTS.tenants, users: GEN_DEFAULTS.users });
    const dir = tempDir('search');
    const geo = await loadGeolocation(values.geo);
    geoNote = geo.note;
    progress(geo.note);
    const opened = openGenStore(dir, { locate: geo.locate });
    store = opened.store;
    databasePath = join(dir, 'sealtrail.db');
    cleanup = () => {
      if (values.keep) progress(`kept ${dir}`);
      else removeDir(dir);
    };
    source = { generated: dir };
    ingest = await writeToStore(store, opened.clock, ledger, dataset);
    await store.indexPending(); // deferred indexing: the raw statements read the index tables directly
  }
  const o = dataset.options;
  try {
    process.stdout.write(
      `sealtrail search bench${quick && !values.data ? ' (quick)' : ''} at ${info.revision}: ${startedAt.toISOString()}, Node ${info.node}, ${info.cpus}, ${info.memoryGiB} GiB\n` +
        `dataset: ${o.events} events over ${o.days} days to ${new Date(o.endMicros / 1000).toISOString()}, seed ${o.seed}, ${dataset.tenants.length} tenants, ${dataset.userCount} users; ${geoNote}\n` +
        (values.data !== undefined ? `source: ${databasePath} (${source.mode}), options from ${join(values.data, `gen-${ledger}.json`)}\n` : ''),
    );
    const counts = await eventCounts(store, ledger);
    const bytes = fileBytes(databasePath);
    const pages = store.db.prepare<[], { n: number }>('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()').get()!.n;
    process.stdout.write(
      (ingest
        ? `ingest: ${Math.round(ingest.eventsPerSecond)} events/s (${ingest.events} events in ${ingest.seconds.toFixed(1)} s, ${ingest.appends} appends of ${Math.round(ingest.events / ingest.appends)} on average)\n`
        : '') +
        `ledger ${ledger}: ${counts.size} events (latest checkpoint), ${counts.indexed} in the search index; ` +
        `database ${mib(bytes)} on disk (${mib(pages)} of pages) = ${Math.round(bytes / Math.max(1, counts.size))} B/event; ${statistics(store.db)}\n\n`,
    );
    if (counts.nextIndex !== counts.size || counts.indexed !== counts.size) {
      throw new Error(`the search index covers ${counts.indexed} events up to index ${counts.nextIndex}, the ledger has ${counts.size}: open it once read-write (--writable) to catch up`);
    }
    if (counts.size !== o.events) {
      process.stdout.write(`warning: the ledger holds ${counts.size} events, the gen options say ${o.events}: the queries are built for the latter\n\n`);
    }
    const queries = [...pick(issueQueries(dataset)), ...pick(incidentQueries(dataset))];
    if (queries.length === 0) throw new Error(`--only ${values.only} matches no query`);
    const phases: Phase[] = [];
    const first = await measurePhase(sqliteEngine(store, ledger), ledger, o.endMicros, queries, runs, values.data !== undefined ? 'as stored' : 'as ingested (no ANALYZE)');
    phases.push(first);
    process.stdout.write(`${formatPhase(first)}\n\n`);
    let analyzeMs: number | undefined;
    if (values.data === undefined || values.analyze) {
      const analyzeStart = performance.now();
      store.db.exec('ANALYZE');
      analyzeMs = performance.now() - analyzeStart;
      const analyzed = await measurePhase(sqliteEngine(store, ledger), ledger, o.endMicros, queries, runs, `after ANALYZE (took ${ms(analyzeMs)} ms)`);
      phases.push(analyzed);
      process.stdout.write(`${formatPhase(analyzed)}\n\n`);
    }
    for (const phase of phases) process.stdout.write(`plans ${phase.name}:\n${formatPlans(phase)}\n\n`);
    const empty = first.queries.filter((r) => r.matches === 0);
    if (empty.length > 0) process.stdout.write(`note: no match for ${empty.map((r) => r.id).join(', ')} (country: needs geolocation at ingest)\n\n`);
    process.stdout.write(`${formatSummary(phases)}\n`);
    const report = {
      startedAt: startedAt.toISOString(),
      ...info,
      quick,
      source,
      dataset: { events: o.events, seed: o.seed, days: o.days, end: new Date(o.endMicros / 1000).toISOString(), tenants: dataset.tenants.length, users: dataset.userCount, geo: geoNote },
      ledger: { name: ledger, ...counts },
      database: { bytes, pageBytes: pages, bytesPerEvent: bytes / Math.max(1, counts.size) },
      ...(ingest ? { ingest } : {}),
      targetsMs: TARGET_MS,
      ...(analyzeMs !== undefined ? { analyzeMs } : {}),
      phases,
    };
    mkdirSync(BENCH_DIR, { recursive: true });
    writeFileSync(join(BENCH_DIR, 'search.json'), `${JSON.stringify(report, null, 2)}\n`);
    progress(`wrote ${join(BENCH_DIR, 'search.json')}`);
  } finally {
    await store.close();
    cleanup();
  }
}

/**
 * --database-url: the same queries on a PostgreSQL store, in a fresh schema (and roles) generated with
 * `events` events through writeToStore, ANALYZEd as the administrator, dropped at the end.
 */
async function runPostgres(
  adminUrl: string,
  dataset: Dataset,
  ledger: string,
  runs: number,
  only: string[] | undefined,
  run: ReturnType<typeof machine> & { startedAt: Date; geo: string | undefined },
): Promise<void> {
  const suffix = randomBytes(5).toString('hex');
  const schema = `st_bench_search_${suffix}`;
  const ownerRole = `st_bench_owner_${suffix}`;
  const serviceRole = `st_bench_service_${suffix}`;
  const name = 'bench-search.local';
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  let store: PostgresStore | undefined;
  try {
    await setupPostgres({ adminUrl, schema, ownerRole, serviceRole, name });
    const serviceUrl = new URL(adminUrl);
    serviceUrl.username = serviceRole;
    serviceUrl.password = '';
    const geo = await loadGeolocation(run.geo);
    const clock = new SimulatedClock();
    store = await PostgresStore.open({
      url: serviceUrl.toString(),
      schema,
      suite: nodeSuite,
      signer: portableSigner(nodeSuite.randomBytes(32)),
      name,
      clock: clock.read,
      ...(geo.locate ? { locate: geo.locate } : {}),
    });
    const o = dataset.options;
    process.stdout.write(
      `sealtrail search bench on PostgreSQL ${maskPassword(adminUrl)} (schema ${schema}, dropped at the end) at ${run.revision}: ${run.startedAt.toISOString()}, Node ${run.node}, ${run.cpus}, ${run.memoryGiB} GiB\n` +
        `dataset: ${o.events} events over ${o.days} days to ${new Date(o.endMicros / 1000).toISOString()}, seed ${o.seed}, ${dataset.tenants.length} tenants, ${dataset.userCount} users; ${geo.note}\n`,
    );
    const ingest = await writeToStore(store, clock, ledger, dataset);
    await admin.query(`SET search_path TO ${quoteIdent(schema)}`);
    const analyzeStart = performance.now();
    await admin.query('ANALYZE search_events, search_targets, search_metadata, entries');
    const analyzeMs = performance.now() - analyzeStart;
    const ledgerId = Number((await admin.query<{ ledger_id: string }>('SELECT ledger_id FROM ledgers WHERE name = $1', [ledger])).rows[0]!.ledger_id);
    const size = (await store.getLedger(ledger))?.size ?? 0;
    const indexed = Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM search_events WHERE ledger_id = $1', [ledgerId])).rows[0]!.n);
    const bytes = Number(
      (
        await admin.query<{ n: string }>(
          `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
          [schema],
        )
      ).rows[0]!.n,
    );
    process.stdout.write(
      `ingest: ${Math.round(ingest.eventsPerSecond)} events/s (${ingest.events} events in ${ingest.seconds.toFixed(1)} s, ${ingest.appends} appends)\n` +
        `ledger ${ledger}: ${size} events, ${indexed} in the search index; schema ${mib(bytes)} (tables and their indexes) = ${Math.round(bytes / Math.max(1, size))} B/event; ANALYZE took ${ms(analyzeMs)} ms\n\n`,
    );
    const pick = (queries: BenchQuery[]) => (only ? queries.filter((q) => only.some((id) => q.id.includes(id))) : queries);
    const queries = [...pick(issueQueries(dataset)), ...pick(incidentQueries(dataset))];
    const phase = await measurePhase(postgresEngine(store, admin, ledgerId), ledger, o.endMicros, queries, runs, 'PostgreSQL after ANALYZE');
    process.stdout.write(`${formatPhase(phase)}\n\nplans ${phase.name}:\n${formatPlans(phase)}\n\n${formatSummary([phase])}\n`);
    const report = {
      startedAt: run.startedAt.toISOString(),
      revision: run.revision,
      node: run.node,
      cpus: run.cpus,
      memoryGiB: run.memoryGiB,
      source: { postgres: maskPassword(adminUrl), schema },
      dataset: { events: o.events, seed: o.seed, days: o.days, end: new Date(o.endMicros / 1000).toISOString(), tenants: dataset.tenants.length, users: dataset.userCount, geo: geo.note },
      ledger: { name: ledger, size, indexed },
      database: { bytes, bytesPerEvent: bytes / Math.max(1, size) },
      ingest,
      targetsMs: TARGET_MS,
      analyzeMs,
      phases: [phase],
    };
    mkdirSync(BENCH_DIR, { recursive: true });
    writeFileSync(join(BENCH_DIR, 'search-postgres.json'), `${JSON.stringify(report, null, 2)}\n`);
    progress(`wrote ${join(BENCH_DIR, 'search-postgres.json')}`);
  } finally {
    await store?.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`).catch(() => {});
    for (const role of [serviceRole, ownerRole]) {
      await admin.query(`DROP OWNED BY ${quoteIdent(role)}`).catch(() => {});
      await admin.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`).catch(() => {});
    }
    await admin.end();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
