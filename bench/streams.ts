/**
 * Streams (issue 20): per target, the sustained delivery rate beside the ingest rate of the same run,
 * and the delay from an append's acknowledgement to the receiver's acknowledgement of its delivery
 * (p50, p99) while ingest runs open-loop at a set rate (10,000 events/s, or what the machine sustains).
 * One SQLite store per run; the sink runtime as the server runs it (SinkWorker under its lease); the
 * webhook receiver is a local HTTP server verifying nothing (signing is still done and sent); the file
 * target fsyncs each delivery.
 *
 *   node --import tsx bench/streams.ts [--quick]       or     npm run bench -- --only streams
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseQuery } from '../src/core/query.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { SinkDefinition } from '../src/streams/sink.js';
import type { Target, TargetKind } from '../src/streams/target.js';
import { fileKind } from '../src/streams/targets/file.js';
import { newWebhookSecret, webhookKind } from '../src/streams/targets/webhook.js';
import { SinkWorker } from '../src/streams/worker.js';
import { DEPLOYMENT_NAME, newSigner, progress, removeDir, requestsFor, tempDir, type BenchOptions } from './fixtures.js';
import type { Row, Section } from './report.js';

const LEDGER = 'stream';
/** Appends outstanding at once; past it a tick is skipped (the achieved ingest rate is reported). */
const MAX_IN_FLIGHT = 16;

function definition(name: string, type: 'webhook' | 'file', settings: Record<string, unknown>): SinkDefinition {
  return {
    name,
    type,
    ledgers: [LEDGER],
    query: '',
    format: 'json',
    start: 'oldest',
    batchSize: 500,
    batchMs: 50,
    maxAttempts: 8,
    retryBaseMs: 100,
    retryMaxMs: 2000,
    lagEvents: 0,
    lagSeconds: 0,
    settings,
  };
}

async function receiver(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Run {
  ingestRate: number;
  deliveryRate: number;
  p50: number;
  p99: number;
  delivered: number;
}

/**
 * Appends `seconds` of open-loop ingest at `rate` (batches of rate/100 every 10 ms; a tick that finds
 * the previous append still running skips, so the achieved rate is measured, not assumed) and times
 * each record from its receipt to the target's acknowledgement.
 */
async function measure(kind: TargetKind<any>, settings: Record<string, unknown>, rate: number, seconds: number, backlog = 0): Promise<Run> {
  const dir = tempDir('streams');
  const store = new SqliteStore({ path: join(dir, 's.db'), suite: nodeSuite, signer: newSigner(), name: DEPLOYMENT_NAME });
  await store.createLedger(LEDGER);
  // A backlog is sealed before the sink starts: its drain is the target's sustained delivery rate.
  for (let at = 0; at < backlog; at += 1000) await store.append(LEDGER, requestsFor(at, Math.min(1000, backlog - at), false));
  const acked = new Map<number, number>();
  const delays: number[] = [];
  let delivered = 0;
  let lastDelivery = 0;
  const timed = (target: Target): Target => ({
    async deliver(delivery, signal) {
      await target.deliver(delivery, signal);
      const now = performance.now();
      lastDelivery = now;
      for (const record of delivery.records) {
        delivered++;
        const at = acked.get(record.index);
        if (at !== undefined) delays.push(now - at);
      }
    },
    close: () => target.close(),
  });
  const workerStarted = performance.now();
  const def = definition(`bench-${kind.type}`, kind.type as 'webhook' | 'file', settings);
  const worker = new SinkWorker({
    store,
    definition: def,
    query: parseQuery(''),
    makeTarget: () => timed(kind.create(kind.parseConfig(settings), 'json')),
    events: { report: async () => {} },
    leaseMs: 3000,
    log: () => {},
  });
  const perTick = Math.max(1, Math.round(rate / 100));
  let appended = backlog;
  let issued = backlog;
  let inFlight = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - started >= seconds * 1000) {
        clearInterval(timer);
        const wait = setInterval(() => {
          if (inFlight === 0) (clearInterval(wait), resolve());
        }, 5);
        return;
      }
      // Open loop: a tick appends whether or not earlier appends returned, up to MAX_IN_FLIGHT.
      if (inFlight >= MAX_IN_FLIGHT) return;
      inFlight++;
      const first = issued;
      issued += perTick;
      store
        .append(LEDGER, requestsFor(first, perTick, false))
        .then((receipts) => {
          const now = performance.now();
          for (const receipt of receipts) acked.set(receipt.index, now);
          appended += receipts.length;
        })
        .finally(() => inFlight--);
    }, 10);
  });
  const ingestSeconds = (performance.now() - started) / 1000;
  const deadline = performance.now() + 60_000;
  while (delivered < appended && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await worker.stop();
  await store.close();
  removeDir(dir);
  delays.sort((a, b) => a - b);
  return {
    ingestRate: (appended - backlog) / ingestSeconds,
    deliveryRate: delivered / ((lastDelivery - (backlog > 0 ? workerStarted : started)) / 1000),
    p50: percentile(delays, 0.5),
    p99: percentile(delays, 0.99),
    delivered,
  };
}

export async function streamsSection(options: BenchOptions): Promise<Section> {
  const seconds = options.quick ? 4 : 15;
  const rows: Row[] = [];
  const notes: string[] = [];
  const hook = await receiver();
  const fileDir = tempDir('streams-files');
  const targets: Array<[string, TargetKind<any>, Record<string, unknown>]> = [
    ['webhook', webhookKind, { url: hook.url, secret: newWebhookSecret() }],
    ['file', fileKind, { directory: fileDir }],
  ];
  try {
    for (const [name, kind, settings] of targets) {
      const backlog = options.quick ? 5000 : 30_000;
      progress(`streams: ${name} draining a backlog of ${backlog}`);
      const drain = await measure(kind, settings, 0, 0, backlog);
      rows.push({ id: `streams.${name}.drain`, label: `${name}: backlog of ${backlog} drained, no ingest`, value: Math.round(drain.deliveryRate), unit: 'events/s' });
      for (const rate of [10_000, 3_000]) {
        progress(`streams: ${name} at ${rate} events/s for ${seconds} s`);
        const run = await measure(kind, settings, rate, seconds);
        rows.push(
          {
            id: `streams.${name}.${rate}.delivery`,
            label: `${name}: delivered, ingest asked ${rate}/s`,
            value: Math.round(run.deliveryRate),
            unit: 'events/s',
            baseline: { label: 'ingest achieved, same run', value: Math.round(run.ingestRate), unit: 'events/s' },
            ratio: { value: run.deliveryRate / run.ingestRate, label: '× ingest' },
          },
          { id: `streams.${name}.${rate}.p50`, label: `${name}: ack → delivered p50, at ${Math.round(run.ingestRate)}/s`, value: Math.round(run.p50), unit: 'ms' },
          { id: `streams.${name}.${rate}.p99`, label: `${name}: ack → delivered p99, at ${Math.round(run.ingestRate)}/s`, value: Math.round(run.p99), unit: 'ms' },
        );
      }
    }
  } finally {
    await hook.close();
    removeDir(fileDir);
  }
  notes.push(
    'Open-loop ingest on SQLite (appends of rate/100 events every 10 ms, up to 16 outstanding; a tick past that is skipped, so "ingest achieved" is what the store sustained while delivering).',
    'Delay: from the append\'s receipt to the target\'s acknowledgement (HTTP 2xx; file written and fsynced), batches of up to 500 that leave 50 ms after their first record.',
    'Delivery rate: records delivered over the time from the first append to the last delivery; ≈ 1× ingest means the sink kept up.',
  );
  return { title: 'Streams: delivery beside ingest (issue 20)', rows, notes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const section = await streamsSection({ quick: process.argv.includes('--quick') });
  for (const row of section.rows) {
    process.stdout.write(`${row.label.padEnd(52)} ${String(row.value).padStart(8)} ${row.unit}${row.baseline ? `   (${row.baseline.label}: ${row.baseline.value} ${row.baseline.unit})` : ''}\n`);
  }
  for (const note of section.notes) process.stdout.write(`  ${note}\n`);
}
