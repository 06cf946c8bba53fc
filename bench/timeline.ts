/**
 * `node --import tsx bench/timeline.ts --data DIR [--ledger L] [--runs R] [--days D]`: how long one
 * actor's timeline takes (src/timeline/build.ts, as GET /v1/actors/{id}/timeline runs it) on a
 * deployment folder made by `npm run gen -- --data DIR` (bench/gen.ts; DIR/gen-<ledger>.json says how,
 * so the Dataset's busiest user and planted incidents are rebuilt without reading the events). The
 * store is opened read-only, searches run on its reading threads as in the server.
 *
 * Timed, R rounds each (default 20; p50 and p99), interleaved with their baseline in the same rounds,
 * over the last D days (default 30) of the span (issue 16's target: under 500 ms at 10M events):
 * - users at the median, the 90th and the 99th percentile of activity in that window (ranked once, by
 *   a count of events per actor, outside the timing), and the brute-force victim over the D days up
 *   to its incident;
 * - the busiest actor, whose window holds more than the 10,000 events a timeline may: the time to
 *   answer QUERY_TOO_COSTLY.
 * The baseline is the floor under each: reading the same events alone, page by page through
 * store.search (the (ledger, actor_id, idx) index, the join to entries, the JSON of disclosures),
 * with no history, shared addresses or analysis. Writes .bench/timeline.json.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { portableSigner } from '../src/core/crypto.js';
import type { Query } from '../src/core/query.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { buildTimeline, MAX_TIMELINE_EVENTS } from '../src/timeline/build.js';
import { loadavg } from 'node:os';
import { BENCH_DIR, progress } from './fixtures.js';
import { Dataset, readGenInfo } from './gen.js';
import { machine } from './report.js';

const DAY = 86_400_000_000;
const TARGET_MS = 500;

interface Case {
  name: string;
  actor: string;
  fromMicros: number;
  toMicros: number;
}

interface Timing {
  p50: number;
  p99: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (samples: number[]): Timing => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
};

/** The floor: the actor's events in the window's index range, read and decoded, nothing derived. */
async function readEventsOnly(store: SqliteStore, ledger: string, c: Case): Promise<number> {
  const query: Query = {
    clauses: [
      { field: 'actor.id', negate: false, anyOf: [{ kind: 'exact', value: c.actor }], position: 0 },
      { field: 'received', negate: false, anyOf: [{ kind: 'range', from: c.fromMicros, to: c.toMicros }], position: 0 },
    ],
  };
  let count = 0;
  for (let after: number | undefined; ; ) {
    const page = await store.search(ledger, { query, limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
    count += page.entries.length;
    if (page.next === null) return count;
    after = page.next;
  }
}

/** Actors with an id starting usr_ (people, not services), most active in the window first. */
async function rankUsers(store: SqliteStore, ledger: string, window: { fromMicros: number; toMicros: number }): Promise<string[]> {
  const query: Query = {
    clauses: [
      { field: 'actor.id', negate: false, anyOf: [{ kind: 'prefix', value: 'usr_' }], position: 0 },
      { field: 'received', negate: false, anyOf: [{ kind: 'range', from: window.fromMicros, to: window.toMicros }], position: 0 },
    ],
  };
  return (await store.stats(ledger, query, 'actor', 100_000)).flatMap((b) => (b.key === null ? [] : [b.key]));
}

async function timeRefusal(store: SqliteStore, request: Parameters<typeof buildTimeline>[1], runs: number): Promise<Timing> {
  const samples: number[] = [];
  for (let round = 0; round < Math.max(3, Math.floor(runs / 4)); round++) {
    const started = performance.now();
    const refused = await buildTimeline(store, request).then(
      () => false,
      (e: unknown) => (e as { code?: string }).code === 'QUERY_TOO_COSTLY',
    );
    if (!refused) throw new Error(`${request.actor}'s timeline was not refused: is the window within the bound?`);
    samples.push(performance.now() - started);
  }
  return summary(samples);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string' }, ledger: { type: 'string', default: 'demo' }, runs: { type: 'string', default: '20' }, days: { type: 'string', default: '30' } } });
  if (!values.data) throw new Error('--data DIR is required: a folder made by npm run gen -- --data DIR');
  const runs = Number(values.runs);
  const days = Number(values.days);
  const { info, options } = readGenInfo(values.data, values.ledger!);
  const dataset = new Dataset(options);
  const path = join(values.data, 'sealtrail.db');
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const store = new SqliteStore({ path, suite: nodeSuite, signer: portableSigner(nodeSuite.randomBytes(32)), name: 'bench-timeline', readonly: true });
  // The page cache the server's writing connection has; the read-only one would keep SQLite's 2 MiB.
  store.db.pragma('cache_size = -262144');
  const brute = dataset.incidents.find((i) => i.name === 'brute-force');
  const window = { fromMicros: options.endMicros - days * DAY, toMicros: options.endMicros };
  const ranked = await rankUsers(store, info.ledger, window);
  const at = (p: number) => ranked[Math.min(ranked.length - 1, Math.floor((1 - p) * ranked.length))]!;
  const cases: Case[] = [
    ...[0.5, 0.9, 0.99].map((p) => ({ name: `user at p${p * 100} of activity, last ${days} days`, actor: at(p), ...window })),
    ...(brute ? [{ name: `brute-force victim, ${days} days to the incident`, actor: brute.actor, fromMicros: brute.toMicros + 3_600_000_000 - days * DAY, toMicros: brute.toMicros + 3_600_000_000 }] : []),
  ];
  const results = [];
  for (const c of cases) {
    const request = { actor: c.actor, fromMicros: c.fromMicros, toMicros: c.toMicros, ledgers: [info.ledger] };
    const first = await buildTimeline(store, request); // warms the page cache and the reading threads
    const timeline: number[] = [];
    const floor: number[] = [];
    for (let round = 0; round < runs; round++) {
      let started = performance.now();
      await buildTimeline(store, request);
      timeline.push(performance.now() - started);
      started = performance.now();
      await readEventsOnly(store, info.ledger, c);
      floor.push(performance.now() - started);
    }
    const t = summary(timeline);
    const b = summary(floor);
    const row = {
      case: c.name,
      actor: c.actor,
      events: first.events.length,
      sessions: first.sessions.length,
      resources: first.resources.length,
      addresses: first.ips.length,
      timelineMs: t,
      readEventsOnlyMs: b,
      meetsTarget: t.p99 < TARGET_MS,
    };
    results.push(row);
    progress(`${c.name}: ${row.events} events`);
    process.stdout.write(
      `${c.name} (${c.actor}: ${row.events} events, ${row.sessions} sessions, ${row.addresses} addresses, ${row.resources} resources)\n` +
        `  timeline        p50 ${t.p50.toFixed(1)} ms  p99 ${t.p99.toFixed(1)} ms  (target p99 < ${TARGET_MS} ms: ${row.meetsTarget ? 'met' : 'MISSED'})\n` +
        `  events alone    p50 ${b.p50.toFixed(1)} ms  p99 ${b.p99.toFixed(1)} ms\n`,
    );
  }
  const refused = await timeRefusal(store, { actor: ranked[0]!, ...window, ledgers: [info.ledger] }, runs);
  process.stdout.write(`busiest actor ${ranked[0]} (more than ${MAX_TIMELINE_EVENTS} events): QUERY_TOO_COSTLY in p50 ${refused.p50.toFixed(1)} ms, p99 ${refused.p99.toFixed(1)} ms\n`);
  await store.close();
  mkdirSync(BENCH_DIR, { recursive: true });
  const out = join(BENCH_DIR, 'timeline.json');
  writeFileSync(out, `${JSON.stringify({ ...machine(join(BENCH_DIR, '..')), loadAverage: loadavg(), dataset: info, runs, results, busiestRefusedMs: refused }, null, 2)}\n`);
  process.stdout.write(`dataset: ${info.events} events over ${info.days} days, ${info.users} users; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; results: ${out}\n`);
}

await main();
