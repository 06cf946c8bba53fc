/**
 * HTTP ingest: the real server (`sealtrail serve` in a child process over a fresh data folder) under
 * autocannon load from this process, beside a bare Fastify route that only parses the same JSON
 * (bench/bare-server.ts, also a child process), in the same run.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { benchEvent, LEDGER, PROJECT_ROOT, progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import type { Row, Section } from './report.js';

/** Issue 17: HTTP ingest of batches of 100 (issue 9 asked 25,000). */
const TARGET_BATCHED_EVENTS_PER_SECOND = 50_000;
/** Issue 9: single-event p99 at 50 concurrent clients (a bare Fastify route measures ~3.5 ms here). */
const TARGET_SINGLE_P99_MS = 10;
/** Issue 17: no event-loop stall over 10 ms at any load. */
const TARGET_LOOP_STALL_MS = 10;
const STARTUP_TIMEOUT_MS = 30_000;
/** Replaced in every request body by a fresh run-unique string, so that no event id repeats. */
const PLACEHOLDER = '@@ID@@';
const EVENTS_PATH = `/v1/ledgers/${LEDGER}/events`;

export interface LoadCase {
  id: string;
  label: string;
  eventsPerRequest: number;
  connections: number;
}

const CASES: LoadCase[] = [
  { id: 'http.batch100', label: 'POST 100 events, 8 connections', eventsPerRequest: 100, connections: 8 },
  { id: 'http.single50', label: 'POST 1 event, 50 connections', eventsPerRequest: 1, connections: 50 },
];

interface LoadResult {
  eventsPerSecond: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Non-2xx answers and connection errors: must be 0 for the figures to mean anything. */
  failures: number;
  /** Non-2xx answers by status code, e.g. "429×120". */
  failedStatuses: string;
  bytesPerResponse: number;
  /** The server's event-loop delay during the timed run (sealtrail_event_loop_delay_seconds), in ms. */
  loopDelay?: { p99: number; max: number };
  /** Seconds the server's integrity monitor and detection engine took to catch up after the timed run. */
  catchUpSeconds?: number;
}

/** Non-2xx answers of an autocannon run by status code, e.g. "429×120". */
export function failedStatuses(result: autocannon.Result): string {
  return Object.entries(result.statusCodeStats ?? {})
    .filter(([status]) => !status.startsWith('2'))
    .map(([status, stats]) => `${status}×${stats.count ?? 0}`)
    .join(' ');
}

// ---- child servers --------------------------------------------------------------------------------

export interface Server {
  url: string;
  stop(): Promise<void>;
  /** How the child ended, with the end of its stderr, if it has: why a long run's requests began to fail. */
  death(): string | undefined;
}

/** Waits for the child's "listening on http://…" line; rejects if it exits or stays silent. */
export function waitForAddress(child: ChildProcess, output: { stderr: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${output.stderr}`)), STARTUP_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output.stderr}`));
    });
  });
}

/** BENCH_SERVER_PROFILE_DIR=DIR runs the servers under `node --cpu-prof` (see bench/profile-summary.ts). */
export function profileFlags(): string[] {
  const dir = process.env.BENCH_SERVER_PROFILE_DIR;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

export async function startServer(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const child = spawn(process.execPath, [...profileFlags(), '--import', 'tsx', ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stderr: '' };
  // Only the end is kept: a run of an hour must not hold all it wrote.
  child.stderr!.on('data', (chunk: Buffer) => (output.stderr = (output.stderr + chunk.toString()).slice(-64_000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const death = () => {
      if (child.exitCode === null && child.signalCode === null) return undefined;
      return `the server exited (${child.signalCode ?? `code ${child.exitCode}`}); its stderr ended:\n${output.stderr.slice(-4000)}`;
    };
    return { url: await waitForAddress(child, output), stop, death };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function createLedger(url: string, token: string): Promise<void> {
  const response = await fetch(`${url}/v1/ledgers/${LEDGER}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 201) throw new Error(`creating the ledger answered ${response.status}: ${await response.text()}`);
}

// ---- load -----------------------------------------------------------------------------------------

/** JSON of one event or an array of events whose ids contain {@link PLACEHOLDER}. */
function bodyTemplate(eventsPerRequest: number): string {
  const events = Array.from({ length: eventsPerRequest }, (_, i) => ({ ...benchEvent(i), id: `evt-${PLACEHOLDER}-${i}` }));
  return JSON.stringify(eventsPerRequest === 1 ? events[0] : events);
}

/** One autocannon run of case `c`, for `seconds`, or until `{ requests }` have been answered. */
export async function load(url: string, token: string, c: LoadCase, length: number | { requests: number }, runId: string): Promise<LoadResult> {
  const template = bodyTemplate(c.eventsPerRequest);
  let counter = 0;
  const result = await autocannon({
    url,
    connections: c.connections,
    ...(typeof length === 'number' ? { duration: length } : { amount: length.requests }),
    requests: [
      {
        method: 'POST',
        path: EVENTS_PATH,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        setupRequest: (request) => ({ ...request, body: template.replaceAll(PLACEHOLDER, `${runId}${counter++}`) }),
      },
    ],
  });
  const ok = result['2xx'];
  return {
    eventsPerSecond: (ok * c.eventsPerRequest) / result.duration,
    requestsPerSecond: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors,
    failedStatuses: failedStatuses(result),
    bytesPerResponse: result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
  };
}

/**
 * The server's event-loop delay since the previous scrape, in ms (each scrape resets it), or undefined
 * when the server has no such metric (the bare baseline).
 */
export async function scrapeLoopDelay(url: string, token: string): Promise<{ p99: number; max: number } | undefined> {
  const text = await metricsText(url, token);
  return text === undefined ? undefined : loopDelayOf(text);
}

/** The server's /metrics text (undefined when it does not answer 200). Scraping resets its loop-delay histogram. */
export async function metricsText(url: string, token: string): Promise<string | undefined> {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  return response.ok ? response.text() : undefined;
}

/** The event-loop delay p99 and max, in ms, from /metrics text. */
export function loopDelayOf(text: string): { p99: number; max: number } | undefined {
  const read = (quantile: string): number | undefined => {
    const match = new RegExp(`^sealtrail_event_loop_delay_seconds\\{quantile="${quantile.replace('.', '\\.')}"\\} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) * 1000 : undefined;
  };
  const p99 = read('0.99');
  const max = read('1');
  return p99 === undefined || max === undefined ? undefined : { p99, max };
}

/** Longest the bench waits for the server's background work to catch up after a case. */
const CATCH_UP_TIMEOUT_MS = 180_000;

/**
 * How far the server's background work has got: the ledger's size, and the sizes its integrity monitor
 * has verified and its detection engine judged (the size itself where the server has no such work).
 * Undefined for a server without ledgers (the bare baseline).
 */
export async function backgroundProgress(url: string, token: string): Promise<{ size: number; verified: number; judged: number } | undefined> {
  const get = async <T>(path: string): Promise<T | undefined> => {
    const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return response.ok ? ((await response.json()) as T) : undefined;
  };
  type Progress = { ledgers: Array<{ ledger: string; verifiedSize?: number; evaluated?: number }> };
  const [ledger, integrity, detection] = await Promise.all([
    get<{ size: number }>(`/v1/ledgers/${LEDGER}`),
    get<Progress>('/v1/integrity'),
    get<Progress>('/v1/detection'),
  ]);
  if (!ledger) return undefined;
  const size = ledger.size;
  return {
    size,
    verified: integrity?.ledgers.find((l) => l.ledger === LEDGER)?.verifiedSize ?? size,
    judged: detection?.ledgers.find((l) => l.ledger === LEDGER)?.evaluated ?? size,
  };
}

/**
 * Waits until the server's background work has caught up with what the case appended: the integrity
 * monitor has verified, and the detection engine judged, the whole ledger (the search index is brought
 * up to date by the reads after). Returns the seconds it took, or undefined for a server without them.
 */
async function waitCaughtUp(url: string, token: string): Promise<number | undefined> {
  const began = performance.now();
  for (;;) {
    const progress = await backgroundProgress(url, token);
    if (!progress) return undefined;
    const { size, verified, judged } = progress;
    if (verified >= size && judged >= size) return (performance.now() - began) / 1000;
    if (performance.now() - began > CATCH_UP_TIMEOUT_MS) throw new Error(`background work did not catch up in ${CATCH_UP_TIMEOUT_MS / 1000} s (size ${size}, verified ${verified}, judged ${judged})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Runs every case against one server: a short warm-up, then the timed run. */
async function loadAll(url: string, token: string, name: string, options: BenchOptions): Promise<Map<string, LoadResult>> {
  const { warmup, seconds } = options.quick ? { warmup: 1, seconds: 2 } : { warmup: 2, seconds: 8 };
  const results = new Map<string, LoadResult>();
  for (const c of CASES) {
    progress(`http: ${name}, ${c.label} (${seconds} s)`);
    await load(url, token, c, warmup, `${c.id}w`);
    await waitCaughtUp(url, token);
    await scrapeLoopDelay(url, token);
    const result = await load(url, token, c, seconds, `${c.id}m`);
    const loopDelay = await scrapeLoopDelay(url, token);
    // Each case starts with the server caught up, so that one case's backlog is not measured in the next.
    const catchUpSeconds = await waitCaughtUp(url, token);
    results.set(c.id, { ...result, ...(loopDelay ? { loopDelay } : {}), ...(catchUpSeconds !== undefined ? { catchUpSeconds } : {}) });
  }
  return results;
}

/** BENCH_SERVE_ARGS="--integrity-interval 0" adds flags to the server under test (to see what a subsystem costs). */
export function extraServeArgs(): string[] {
  return (process.env.BENCH_SERVE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
}

async function measureSealtrail(options: BenchOptions): Promise<Map<string, LoadResult>> {
  const dataDir = tempDir('serve');
  const token = randomBytes(24).toString('hex');
  // No per-key rate limit: the bench measures what the server can ingest, not the limiter.
  const args = ['src/cli/main.ts', 'serve', '--data', join(dataDir, 'data'), '--port', '0', '--rate-limit', '0', '--quiet', ...extraServeArgs()];
  const server = await startServer(args, {
    SEALTRAIL_ADMIN_TOKEN: token,
  });
  try {
    await createLedger(server.url, token);
    return await loadAll(server.url, token, 'sealtrail serve', options);
  } finally {
    await server.stop();
    removeDir(dataDir);
  }
}

async function measureBare(options: BenchOptions): Promise<Map<string, LoadResult>> {
  const server = await startServer(['bench/bare-server.ts']);
  try {
    return await loadAll(server.url, 'unused', 'bare Fastify', options);
  } finally {
    await server.stop();
  }
}

// ---- section --------------------------------------------------------------------------------------

function failureNote(sealtrail: LoadResult, bare: LoadResult): string {
  const describe = (r: LoadResult): string => `${r.failures}${r.failedStatuses ? ` (${r.failedStatuses})` : ''}`;
  return sealtrail.failures + bare.failures === 0 ? '' : `; WARNING: failed requests: sealtrail ${describe(sealtrail)}, bare ${describe(bare)}`;
}

function caseRows(c: LoadCase, sealtrail: LoadResult, bare: LoadResult): Row[] {
  const throughput: Row = {
    id: `${c.id}.throughput`,
    label: c.label,
    value: sealtrail.eventsPerSecond,
    unit: 'events/s',
    baseline: { label: 'bare Fastify', value: bare.eventsPerSecond, unit: 'events/s' },
    ratio: { value: sealtrail.eventsPerSecond / bare.eventsPerSecond, label: '× bare' },
    note:
      `${Math.round(sealtrail.requestsPerSecond)} req/s vs ${Math.round(bare.requestsPerSecond)}; ` +
      `response ~${Math.round(sealtrail.bytesPerResponse)} B vs ~${Math.round(bare.bytesPerResponse)} B${failureNote(sealtrail, bare)}`,
  };
  const latency = (id: string, label: string, pick: (r: LoadResult) => number): Row => ({
    id: `${c.id}.${id}`,
    label: `  ${label} latency (${c.eventsPerRequest === 1 ? 'single' : 'batched'})`,
    value: pick(sealtrail),
    unit: 'ms',
    baseline: { label: 'bare Fastify', value: pick(bare), unit: 'ms' },
    ratio: { value: pick(sealtrail) / Math.max(pick(bare), 0.01), label: '× bare' },
  });
  const p50 = latency('p50', 'p50', (r) => r.p50);
  const p99 = latency('p99', 'p99', (r) => r.p99);
  if (c.eventsPerRequest === 1) p99.target = { on: 'value', op: '<=', limit: TARGET_SINGLE_P99_MS };
  else throughput.target = { on: 'value', op: '>=', limit: TARGET_BATCHED_EVENTS_PER_SECOND };
  if (!sealtrail.loopDelay) return [throughput, p50, p99];
  const stall: Row = {
    id: `${c.id}.loop_max`,
    label: '  longest event-loop stall (server)',
    value: sealtrail.loopDelay.max,
    unit: 'ms',
    target: { on: 'value', op: '<=', limit: TARGET_LOOP_STALL_MS },
    note:
      `event-loop delay p99 ${sealtrail.loopDelay.p99.toFixed(1)} ms (sealtrail_event_loop_delay_seconds over the timed run)` +
      (sealtrail.catchUpSeconds !== undefined ? `; verification and detection caught up ${sealtrail.catchUpSeconds.toFixed(1)} s after it` : ''),
  };
  return [throughput, p50, p99, stall];
}

export async function httpSection(options: BenchOptions): Promise<Section> {
  const sealtrail = await measureSealtrail(options);
  const bare = await measureBare(options);
  return {
    title: 'HTTP ingest (sealtrail serve in a child process, autocannon in this one)',
    rows: CASES.flatMap((c) => caseRows(c, sealtrail.get(c.id)!, bare.get(c.id)!)),
    notes: [
      'every event carries a unique id, so the server also stores an idempotency key per event (as real clients do)',
      'the bare baseline parses the same JSON and answers a small 201 body; sealtrail answers full receipts',
      'the load generator shares the 2 cores with the server: compare ratios rather than absolute figures',
    ],
  };
}
