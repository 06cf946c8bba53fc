/**
 * `node --import tsx bench/search.ts [--events N] [--quick] [--runs R] [--keep]`: search latency on a
 * generated ledger (bench/gen.ts): N events (default 1,000,000; BENCH_QUICK=1 or --quick: 100,000)
 * written in-process into a temporary SQLite store under .bench/, then the incident queries an
 * investigator runs, each timed R times (default 25, at least 20; median and p99) beside a trivial
 * `SELECT count(*) FROM search_events` timed in the same rounds. Measured twice: as ingested (the store
 * never runs ANALYZE) and after ANALYZE. Prints the SQLite query plan of each. Writes .bench/search.json.
 *
 * Also exports the SQL that SqliteStore.search/stats run, rebuilt from compileWhere, for
 * test/store/search-plans.test.ts (until the store exposes an explain method of its own).
 */
import type Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { parseQuery, type Query } from '../src/core/query.js';
import { compileWhere, statsGroup, type Dialect } from '../src/store/search-sql.js';
import type { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { StatsDimension } from '../src/store/store.js';
import { BENCH_DIR, PROJECT_ROOT, progress, removeDir, tempDir } from './fixtures.js';
import { Dataset, GEN_DEFAULTS, loadCountry, openGenStore, writeToStore, type WriteResult } from './gen.js';
import { machine } from './report.js';

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
// The incident queries

export interface BenchQuery {
  id: string;
  label: string;
  /** Query string, parsed with `now` = the end of the generated span. */
  q: string;
  /** Stats dimension; absent for a page of events. */
  by?: StatsDimension;
}

const stamp = (micros: number) => `${new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19)}Z`;
const day = (micros: number) => new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);

/** The shapes an investigator runs, instantiated on a generated dataset (planted incidents included). */
export function incidentQueries(dataset: Dataset): BenchQuery[] {
  const end = dataset.options.endMicros;
  const busiest = dataset.busiest;
  const brute = dataset.incidents.find((i) => i.name === 'brute-force');
  const ip = brute?.ip ?? busiest.userIps.find((a) => !a.startsWith('10.') && !a.startsWith('192.168.')) ?? busiest.userIps[0]!;
  const ipDay = brute?.fromMicros ?? end - DAY;
  const block = `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  const from = Math.max(dataset.startMicros, end - 3 * DAY);
  return [
    { id: 'user-between', label: 'one user between two timestamps (2 days)', q: `actor.id:${busiest.user} received:${stamp(from)}..${stamp(from + 2 * DAY)}` },
    { id: 'user-resource', label: 'one user on one resource', q: `actor.id:${busiest.user} target.id:${busiest.file.id}` },
    { id: 'ip-range-day', label: 'an IP /24 in one day', q: `ip:${block} received:${day(ipDay)}` },
    { id: 'tenant-file-24h', label: 'file.* for a tenant in the last 24 h', q: `tenant:${busiest.tenant} action:file.* received:-24h` },
    { id: 'text-rare', label: 'free text, a file name', q: `"${busiest.quietFile.name}"` },
    { id: 'text-common', label: 'free text, a common phrase', q: `"permission denied"` },
    { id: 'stats-hour-tenant', label: 'stats by hour for a tenant (whole span)', q: `tenant:${busiest.tenant}`, by: 'hour' },
  ];
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

interface QueryResult {
  id: string;
  label: string;
  q: string;
  by?: string;
  /** Events matching (all pages), or buckets for stats. */
  matches: number;
  /** Rows in the first page (limit 100) or stats buckets returned. */
  returned: number;
  timing: Timing;
  /** The same round's `SELECT count(*) FROM search_events`. */
  baseline: Timing;
  plan: string[];
}

interface Phase {
  name: string;
  queries: QueryResult[];
}

async function measurePhase(store: SqliteStore, ledger: string, dataset: Dataset, queries: BenchQuery[], runs: number, name: string): Promise<Phase> {
  const now = dataset.options.endMicros;
  const db = store.db;
  const countAll = db.prepare('SELECT count(*) AS n FROM search_events');
  const prepared = queries.map((query) => ({ query, parsed: parseQuery(query.q, { now }) }));
  const run = async (p: (typeof prepared)[number]): Promise<number> => {
    if (p.query.by) return (await store.stats(ledger, p.parsed, p.query.by, 10_000)).length;
    return (await store.search(ledger, { query: p.parsed, limit: 100, order: 'desc' })).entries.length;
  };
  const samples = new Map<string, number[]>(prepared.map((p) => [p.query.id, []]));
  const baselines = new Map<string, number[]>(prepared.map((p) => [p.query.id, []]));
  const returned = new Map<string, number>();
  // Warm-up: two of each (page cache, statement cache).
  for (const p of prepared) for (let i = 0; i < 2; i++) returned.set(p.query.id, await run(p));
  countAll.get();
  // Rounds: every query once per round, each beside a count(*) of its own, so noise hits both alike.
  for (let round = 0; round < runs; round++) {
    for (const p of prepared) {
      let t = performance.now();
      countAll.get();
      baselines.get(p.query.id)!.push(performance.now() - t);
      t = performance.now();
      await run(p);
      samples.get(p.query.id)!.push(performance.now() - t);
    }
    if (round % 5 === 4) progress(`${name}: round ${round + 1}/${runs}`);
  }
  return {
    name,
    queries: await Promise.all(prepared.map(async (p) => {
      const statement = p.query.by
        ? await store.statsStatement(ledger, p.parsed, p.query.by, 10_000)
        : await store.searchStatement(ledger, { query: p.parsed, limit: 100, order: 'desc' });
      const countStatement = await store.statsStatement(ledger, p.parsed, 'outcome', 10);
      const matches = p.query.by
        ? returned.get(p.query.id)!
        : db
            .prepare<unknown[], { count: number }>(countStatement.sql)
            .all(...countStatement.params)
            .reduce((s, row) => s + row.count, 0);
      return {
        id: p.query.id,
        label: p.query.label,
        q: p.query.q,
        ...(p.query.by ? { by: p.query.by } : {}),
        matches,
        returned: returned.get(p.query.id)!,
        timing: summarise(samples.get(p.query.id)!),
        baseline: summarise(baselines.get(p.query.id)!),
        plan: explainSqlite(db, statement),
      };
    })),
  };
}

// ---------------------------------------------------------------------------------------------------
// Report

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

function formatPhase(phase: Phase): string {
  const lines = [`${phase.name}`, `  ${'query'.padEnd(44)} ${'matches'.padStart(8)} ${'median ms'.padStart(10)} ${'p99 ms'.padStart(9)}   count(*) median/p99 ms`];
  for (const r of phase.queries) {
    lines.push(
      `  ${r.label.padEnd(44)} ${String(r.matches).padStart(8)} ${ms(r.timing.medianMs).padStart(10)} ${ms(r.timing.p99Ms).padStart(9)}   ${ms(r.baseline.medianMs)} / ${ms(r.baseline.p99Ms)}`,
    );
  }
  return lines.join('\n');
}

function formatPlans(phase: Phase): string {
  return phase.queries.map((r) => `  ${r.id}: ${r.by ? `stats by=${r.by} ` : ''}${r.q}\n${r.plan.map((l) => `      ${l}`).join('\n')}`).join('\n');
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
    },
  });
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const events = values.events !== undefined ? Number(values.events) : quick ? 100_000 : 1_000_000;
  const runs = Math.max(20, Number(values.runs));
  if (!Number.isSafeInteger(events) || events < 2000) throw new Error('--events must be an integer ≥ 2000');
  const info = machine(PROJECT_ROOT);
  const startedAt = new Date();
  // A fixed end keeps the dataset the same from run to run (same seed, same events, same plans).
  const endMicros = Date.UTC(2026, 10, 26, 12) * 1000;
  const dataset = new Dataset({ events, seed: values.seed!, days: Number(values.days), endMicros, tenants: GEN_DEFAULTS.tenants, users: GEN_DEFAULTS.users });
  const dir = tempDir('search');
  const geo = await loadCountry(values.geo);
  progress(geo.note);
  const { store, clock } = openGenStore(dir, { country: geo.country });
  const ledger = 'bench';
  try {
    process.stdout.write(
      `sealtrail search bench${quick ? ' (quick)' : ''} at ${info.revision}: ${startedAt.toISOString()}, Node ${info.node}, ${info.cpus}, ${info.memoryGiB} GiB\n` +
        `dataset: ${events} events over ${values.days} days, seed ${values.seed}, ${dataset.tenants.length} tenants, ${dataset.userCount} users; ${geo.note}\n`,
    );
    const ingest: WriteResult = await writeToStore(store, clock, ledger, dataset);
    store.indexPending(); // deferred indexing: the queries below read the index tables directly
    const fileBytes = store.db.prepare<[], { n: number }>('SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()').get()!.n;
    process.stdout.write(
      `ingest: ${Math.round(ingest.eventsPerSecond)} events/s (${ingest.events} events in ${ingest.seconds.toFixed(1)} s, ${ingest.appends} appends of ${Math.round(ingest.events / ingest.appends)} on average; ` +
        `database ${(fileBytes / 2 ** 20).toFixed(0)} MiB = ${Math.round(fileBytes / events)} B/event)\n\n`,
    );
    const queries = incidentQueries(dataset);
    const asIngested = await measurePhase(store, ledger, dataset, queries, runs, 'as ingested (no ANALYZE)');
    process.stdout.write(`${formatPhase(asIngested)}\n\n`);
    const analyzeStart = performance.now();
    store.db.exec('ANALYZE');
    const analyzeMs = performance.now() - analyzeStart;
    const analyzed = await measurePhase(store, ledger, dataset, queries, runs, `after ANALYZE (took ${ms(analyzeMs)} ms)`);
    process.stdout.write(`${formatPhase(analyzed)}\n\nplans as ingested:\n${formatPlans(asIngested)}\n\nplans after ANALYZE:\n${formatPlans(analyzed)}\n`);
    const report = {
      startedAt: startedAt.toISOString(),
      ...info,
      quick,
      dataset: { events, seed: values.seed, days: Number(values.days), end: new Date(endMicros / 1000).toISOString(), tenants: dataset.tenants.length, users: dataset.userCount, geo: geo.note },
      ingest: { ...ingest, databaseBytes: fileBytes, bytesPerEvent: fileBytes / events },
      analyzeMs,
      phases: [asIngested, analyzed],
    };
    writeFileSync(join(BENCH_DIR, 'search.json'), `${JSON.stringify(report, null, 2)}\n`);
    progress(`wrote ${join(BENCH_DIR, 'search.json')}`);
  } finally {
    await store.close();
    if (values.keep) progress(`kept ${dir}`);
    else removeDir(dir);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
