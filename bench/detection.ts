/**
 * Detection (issue 14): does the engine keep up with ingest, and how soon after an append is acknowledged
 * is its alert listed? One SQLite deployment (with the bundled geolocation database), the detection
 * service as `serve` runs it (built-in Sigma pack and behavioural detectors, engine judging every
 * ledger), the real HTTP app listening on a local port. Generated traffic (bench/gen.ts: users, tenants,
 * logins, file reads, exports, admin work) is POSTed in batches of 100 by 4 closed-loop clients; every
 * few batches one batch also carries a planted brute force (ten failed logins of a fresh account, then
 * its successful login), which `sealtrail-brute-force-then-success` raises as an alert.
 *
 * Printed, all from the same run:
 * - ingest: events acknowledged per second, beside a baseline run first on a fresh folder: the same
 *   server and traffic with the engine off (detection's API served, nothing judged);
 * - judged: events the engine judged per second, the time from the first POST until `GET /v1/detection`
 *   shows `evaluated == size` for the ledger, beside the ingest rate (≈ 1× means it kept up);
 * - ack → alert listed: from the POST's answer carrying the planted success to `GET /v1/alerts` listing
 *   that account's alert (polled every 25 ms), p50 and p99;
 * - the event loop's delay during the run (perf_hooks.monitorEventLoopDelay): what any request waited.
 *
 *   node --import tsx bench/detection.ts [--quick] [--events N]     or     npm run bench -- --only detection
 *   BENCH_DETECTION_EVENTS=N sets the count for `npm run bench` (default 100,000; --quick 20,000).
 */
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { AuditEvent } from '../src/core/event.js';
import { defaultRuleLibrary } from '../src/detection/library.js';
import { DetectionService } from '../src/detection/service.js';
import { openGeo, type Geo } from '../src/platform/geo.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { buildApp } from '../src/server/app.js';
import { openDeployment } from '../src/server/deployment.js';
import { Dataset } from './gen.js';
import { progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import type { Row, Section } from './report.js';

const LEDGER = 'detect';
const BATCH = 100;
const CLIENTS = 4;
const ADMIN_TOKEN = 'bench-detection-admin-token-0123456789';
const RULE = 'sealtrail-brute-force-then-success';
const POLL_MS = 25;
const MIN_SAMPLES = 60;
const CATCH_UP_TIMEOUT_MS = 300_000;

interface Batch {
  /** The request body, or (a batch carrying a brute force) its generated events, stamped at send time. */
  body: string | AuditEvent[];
  size: number;
  /** The planted account whose successful login this batch carries. */
  planted?: string;
}

function iso(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString();
}

/** Ten failed logins of a fresh account, three seconds apart and ending now, then its success: the rule's pattern. */
function bruteForce(account: string, ip: string): AuditEvent[] {
  const end = Date.now();
  const login = (i: number, outcome: 'failure' | 'success'): AuditEvent => ({
    id: `bf-${account}-${i}`,
    actor: { type: 'user', id: account, email: `${account}@bench.example` },
    action: 'auth.login',
    category: 'auth',
    outcome,
    ...(outcome === 'failure' ? { outcome_reason: 'invalid password' } : {}),
    occurred_at: new Date(end - (10 - i) * 3000).toISOString(),
    origin: { ip, user_agent: 'python-requests/2.31' },
    tenant: 'bench-tenant',
    targets: [{ type: 'application', id: 'sso' }],
  });
  return [...Array.from({ length: 10 }, (_, i) => login(i, 'failure')), login(10, 'success')];
}

/**
 * Every request body, made before the clock starts so that the client's work is not in the figures.
 * Traffic is live: the generator's simulated days are dropped (no occurred_at, so event time is the
 * server's received_at), as for clients reporting as things happen. Sending the generator's week of
 * history instead would be an import, whose 1 % of events without occurred_at are judged at the
 * present and move every correlation window past the history around them.
 */
function prepare(events: number): { batches: Batch[]; total: number; planted: number } {
  const nowMicros = Date.now() * 1000;
  const dataset = new Dataset({ events, seed: 'bench-detection', days: 7, endMicros: nowMicros, tenants: 20, users: 1500 });
  const generated = [...dataset.events()].map(({ event }) => {
    const { occurred_at: _dropped, ...live } = event;
    return live as AuditEvent;
  });
  const batchCount = Math.ceil(generated.length / BATCH);
  const every = Math.max(1, Math.floor(batchCount / MIN_SAMPLES));
  const batches: Batch[] = [];
  let total = 0;
  let planted = 0;
  for (let b = 0; b < batchCount; b++) {
    const events = generated.slice(b * BATCH, (b + 1) * BATCH);
    if (b % every === every - 1) {
      batches.push({ body: events, size: events.length + 11, planted: `bench-bf-${planted++}` });
      total += events.length + 11;
    } else {
      batches.push({ body: JSON.stringify(events), size: events.length });
      total += events.length;
    }
  }
  return { batches, total, planted };
}

/** A batch's body; a planted brute force is stamped now, so that it happens when it is sent. */
function bodyOf(batch: Batch, n: number): string {
  if (typeof batch.body === 'string') return batch.body;
  return JSON.stringify([...batch.body, ...bruteForce(batch.planted!, `198.51.100.${n % 250}`)]);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

export interface DetectionRun {
  events: number;
  ingestRate: number;
  judgedRate: number;
  catchUpMs: number;
  samples: number;
  missing: number;
  p50: number;
  p99: number;
  max: number;
  loopP99: number;
  loopMax: number;
  geo: string;
}

/** One run; `judge` false is the baseline: the same server and traffic with detection serving its API but judging nothing. */
export async function measureDetection(events: number, judge = true): Promise<DetectionRun> {
  progress(`detection: generating ${events} events (${judge ? 'engine judging' : 'baseline: engine off'})`);
  const { batches, total, planted } = prepare(events);
  const dir = tempDir('detection');
  let geo: Geo | undefined;
  let geoNote = 'no geolocation';
  try {
    geo = openGeo();
    geoNote = geo.source.databaseType ?? 'geolocation';
  } catch (error) {
    geoNote = `no geolocation (${(error as Error).message})`;
  }
  const deployment = openDeployment({ dataDir: dir, name: 'bench.detection', ...(geo ? { locate: geo.lookup } : {}) });
  const detection = new DetectionService({ store: deployment.store, library: defaultRuleLibrary(), locate: geo?.lookup, log: (message, error) => progress(`detection: ${message} ${String(error ?? '')}`) });
  const app = await buildApp({ detection, store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN_TOKEN, rateLimit: false, logger: false });
  await detection.start(judge);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const call = async (method: string, path: string, body?: string): Promise<any> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
  try {
    await call('PUT', `/v1/ledgers/${LEDGER}`);
    const acked = new Map<string, number>();
    const listed = new Map<string, number>();
    let ingesting = true;
    const pollAlerts = async () => {
      while (ingesting || (judge && listed.size < acked.size)) {
        const started = performance.now();
        const { alerts } = await call('GET', `/v1/alerts?rule=${RULE}&ledger=${LEDGER}&limit=1000`);
        const now = performance.now();
        for (const alert of alerts as Array<{ actor?: { id: string } }>) {
          const account = alert.actor?.id;
          if (account && acked.has(account) && !listed.has(account)) listed.set(account, now);
        }
        if (!ingesting && now - lastAck > 30_000) break; // an alert that never comes is counted as missing
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, POLL_MS - (now - started))));
      }
    };
    let lastAck = 0;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const started = performance.now();
    // The baseline polls too (finding nothing), so that both runs serve the same reads.
    const poller = pollAlerts();
    let next = 0;
    let sent = 0;
    const client = async () => {
      while (next < batches.length) {
        const n = next++;
        const batch = batches[n]!;
        await call('POST', `/v1/ledgers/${LEDGER}/events`, bodyOf(batch, n));
        lastAck = performance.now();
        if (batch.planted) acked.set(batch.planted, lastAck);
        sent += batch.size;
        if (sent % 20_000 < batch.size) progress(`detection: ${sent} of ${total} events acknowledged`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    const ingestMs = performance.now() - started;
    progress(`detection: ingest done; waiting for the engine to judge everything`);
    let caughtUp = judge ? NaN : ingestMs;
    while (judge && performance.now() - started < CATCH_UP_TIMEOUT_MS) {
      const { ledgers } = await call('GET', '/v1/detection');
      const mine = (ledgers as Array<{ ledger: string; size: number; evaluated: number }>).find((l) => l.ledger === LEDGER);
      if (mine && mine.size === total && mine.evaluated === total) {
        caughtUp = performance.now() - started;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    if (!Number.isFinite(caughtUp)) throw new Error(`the engine had not judged ${total} events after ${CATCH_UP_TIMEOUT_MS / 1000} s`);
    ingesting = false;
    await poller;
    loop.disable();
    const delays = [...listed].map(([account, at]) => at - acked.get(account)!).sort((a, b) => a - b);
    return {
      events: total,
      ingestRate: total / (ingestMs / 1000),
      judgedRate: total / (caughtUp / 1000),
      catchUpMs: caughtUp - ingestMs,
      samples: delays.length,
      missing: judge ? planted - delays.length : 0,
      p50: percentile(delays, 0.5),
      p99: percentile(delays, 0.99),
      max: delays.at(-1) ?? NaN,
      loopP99: loop.percentile(99) / 1e6,
      loopMax: loop.max / 1e6,
      geo: geoNote,
    };
  } finally {
    await app.close();
    await detection.stop();
    await deployment.store.close();
    removeDir(dir);
  }
}

export function eventsFor(options: BenchOptions): number {
  const fromEnv = Number(process.env.BENCH_DETECTION_EVENTS);
  if (Number.isSafeInteger(fromEnv) && fromEnv >= 10_000) return fromEnv;
  return options.quick ? 20_000 : 100_000;
}

export async function detectionSection(options: BenchOptions, events = eventsFor(options)): Promise<Section> {
  const baseline = await measureDetection(events, false);
  const run = await measureDetection(events);
  const rows: Row[] = [
    {
      id: 'detection.ingest',
      label: `HTTP ingest, ${BATCH}-event batches, ${CLIENTS} clients, engine judging`,
      value: Math.round(run.ingestRate),
      unit: 'events/s',
      baseline: { label: 'same traffic, engine off', value: Math.round(baseline.ingestRate), unit: 'events/s' },
      ratio: { value: run.ingestRate / baseline.ingestRate, label: '× engine off' },
    },
    {
      id: 'detection.judged',
      label: 'judged by the engine (first POST → evaluated == size)',
      value: Math.round(run.judgedRate),
      unit: 'events/s',
      baseline: { label: 'ingest, same run', value: Math.round(run.ingestRate), unit: 'events/s' },
      ratio: { value: run.judgedRate / run.ingestRate, label: '× ingest' },
      target: { on: 'ratio', op: '>=', limit: 0.9 },
    },
    { id: 'detection.catch_up', label: 'engine behind at the last acknowledgement', value: Math.round(run.catchUpMs), unit: 'ms' },
    { id: 'detection.alert.p50', label: `ack → alert listed p50 (${run.samples} planted brute forces)`, value: Math.round(run.p50), unit: 'ms' },
    { id: 'detection.alert.p99', label: `ack → alert listed p99 (max ${Math.round(run.max)} ms)`, value: Math.round(run.p99), unit: 'ms', target: { on: 'value', op: '<=', limit: 1000 } },
    { id: 'detection.alert.missing', label: 'planted brute forces never listed', value: run.missing, unit: 'alerts', target: { on: 'value', op: '<=', limit: 0 } },
    { id: 'detection.loop.p99', label: 'event-loop delay p99 during the run', value: Math.round(run.loopP99), unit: 'ms', baseline: { label: 'engine off', value: Math.round(baseline.loopP99), unit: 'ms' }, ratio: { value: run.loopP99 / baseline.loopP99, label: '× engine off' } },
    { id: 'detection.loop.max', label: 'event-loop delay max during the run', value: Math.round(run.loopMax), unit: 'ms', baseline: { label: 'engine off', value: Math.round(baseline.loopMax), unit: 'ms' }, ratio: { value: run.loopMax / baseline.loopMax, label: '× engine off' } },
  ];
  return {
    title: `Detection: judging beside ingest, ack → alert (issue 14), ${run.events} events`,
    rows,
    notes: [
      `SQLite, one process: the HTTP app (rate limit off), the detection engine with the built-in pack and behavioural detectors (${run.geo}), and the clients; bodies are made before timing.`,
      'Generated traffic (bench/gen.ts, 7 days, 20 tenants, 1,500 users) sent as live (no occurred_at: event time is received_at), with a brute force (10 failures + success of a fresh account, stamped when sent) in one batch of every ~1/60.',
      `Alert delay: POST answer → GET /v1/alerts?rule=${RULE} lists the account's alert, polled every ${POLL_MS} ms (so figures are up to ${POLL_MS} ms late).`,
    ],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, events: { type: 'string' } } });
  const options = { quick: values.quick === true };
  const section = await detectionSection(options, values.events ? Number(values.events) : eventsFor(options));
  process.stdout.write(`${section.title}\n`);
  for (const row of section.rows) {
    process.stdout.write(
      `  ${row.label.padEnd(58)} ${String(row.value).padStart(8)} ${row.unit}${row.baseline ? `   (${row.baseline.label}: ${row.baseline.value} ${row.baseline.unit}; ${row.ratio!.value.toFixed(2)}${row.ratio!.label})` : ''}\n`,
    );
  }
  for (const note of section.notes) process.stdout.write(`  ${note}\n`);
}
