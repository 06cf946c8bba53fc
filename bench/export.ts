/**
 * Export throughput and memory (`npm run bench -- --only export`): every format exported from a SQLite
 * store through the route's own generator (exportChunks: store.search pages → records → formatter →
 * 64 KiB text chunks) into a sink that only counts bytes, beside a baseline measured the same way: the
 * same pages, JSON.stringify of each stored entry as the store returns it (no record, no format). One
 * row also goes through HTTP: the real route on a listening server, read by fetch in the same process.
 *
 * Each measurement runs in a child process of its own, so that its peak RSS (VmHWM, which
 * includes Node and the tsx loader) is that of one export only. The ledger holds N events (1,000,000;
 * 20,000 with --quick) and every measurement exports all of it. The full-size store takes a few minutes
 * to seal, so it is built once and kept in .scratch/bench-export/ (git-ignored) for later runs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { exportFormatter, EXPORT_FORMATS, isExportFormat, recordFromEntry, type ExportRecord } from '../src/core/export/index.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { buildApp } from '../src/server/app.js';
import { openDeployment } from '../src/server/deployment.js';
import { exportChunks } from '../src/server/routes/export.js';
import { appendAll, DEPLOYMENT_NAME, LEDGER, PROJECT_ROOT, progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import { interleavedRates, type Operation } from './measure.js';
import type { Row, Section } from './report.js';

const TARGET_EVENTS_PER_SECOND = 100_000;
const TARGET_PEAK_RSS_MB = 256;
const ADMIN_TOKEN = 'bench-export-admin-token-0123456789';

interface Measurement {
  events: number;
  bytes: number;
  seconds: number;
  peakRssMB: number;
  /** RSS once the store is open, before the export starts. */
  startRssMB: number;
  /** Largest V8 heap in use, sampled at every chunk. */
  peakHeapMB: number;
}

type Mode = 'baseline' | 'http-jsonl' | (typeof EXPORT_FORMATS)[number];

/**
 * This process's peak resident set, in MB: VmHWM where Linux has it (the high-water mark of this
 * process's own memory). getrusage's maxRSS outlives exec on Linux, so a child spawned by a parent
 * that had grown (the run that builds the dataset) reported the parent's peak instead of its own.
 */
function peakRssMB(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // Not Linux: getrusage is the best there is.
  }
  return process.resourceUsage().maxRSS / 1024;
}

// ---- child: one measurement -----------------------------------------------------------------------

async function measureInChild(dataDir: string, mode: Mode): Promise<Measurement> {
  const deployment = openDeployment({ dataDir, name: DEPLOYMENT_NAME });
  const store = deployment.store;
  const query = { clauses: [] };
  let events = 0;
  let bytes = 0;
  let peakHeap = 0;
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  const startRssMB = process.memoryUsage().rss / 2 ** 20;
  const start = performance.now();
  if (mode === 'baseline') {
    for (let after: number | undefined; ; ) {
      const page = await store.search(LEDGER, { query, limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
      let chunk = '';
      for (const entry of page.entries) {
        chunk += `${JSON.stringify({ ledger: entry.ledger, index: entry.index, received_at: entry.receivedAtMicros, disclosures: entry.disclosures })}\n`;
      }
      bytes += chunk.length;
      events += page.entries.length;
      sample();
      if (page.next === null) break;
      after = page.next;
    }
  } else if (mode === 'http-jsonl') {
    const app = await buildApp({ store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN_TOKEN, rateLimit: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const response = await fetch(`http://127.0.0.1:${port}/v1/ledgers/${LEDGER}/export?format=jsonl`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
      for (let i = 0; i < value.length; i++) if (value[i] === 0x0a) events++;
      sample();
    }
    await app.close();
  } else {
    const formatter = exportFormatter(mode, { hostname: DEPLOYMENT_NAME });
    for await (const chunk of exportChunks(store, LEDGER, query, formatter)) {
      // Characters, not UTF-8 bytes: the events are ASCII, and encoding is the response's job.
      bytes += chunk.length;
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) events++;
      sample();
    }
    if (mode === 'csv') events--; // the header row
  }
  const seconds = (performance.now() - start) / 1000;
  await store.close();
  return { events, bytes, seconds, peakRssMB: peakRssMB(), startRssMB, peakHeapMB: peakHeap / 2 ** 20 };
}

// ---- parent ---------------------------------------------------------------------------------------

function runChild(dataDir: string, mode: Mode): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/export.ts', '--child', dataDir, mode], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`export bench child (${mode}) exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Measurement);
    });
  });
}

/** A data folder holding `events` sealed events in LEDGER; the full-size one is cached across runs. */
async function dataset(events: number, quick: boolean): Promise<{ dir: string; temporary: boolean }> {
  const cached = join(PROJECT_ROOT, '.scratch', 'bench-export', `ledger-${events}`);
  if (!quick && existsSync(cached)) return { dir: cached, temporary: false };
  const dir = tempDir('export');
  const deployment = openDeployment({ dataDir: dir, name: DEPLOYMENT_NAME });
  await deployment.store.createLedger(LEDGER);
  const step = 50_000;
  const started = performance.now();
  for (let first = 0; first < events; first += step) {
    await appendAll(deployment.store, LEDGER, { batch: 1000, concurrency: 2, keys: false }, first, Math.min(step, events - first));
    const rate = (first + step) / ((performance.now() - started) / 1000);
    progress(`export: sealed ${Math.min(first + step, events)} of ${events} events (${Math.round(rate)}/s)`);
  }
  await deployment.store.close();
  if (quick) return { dir, temporary: true };
  mkdirSync(join(PROJECT_ROOT, '.scratch', 'bench-export'), { recursive: true });
  renameSync(dir, cached);
  return { dir: cached, temporary: false };
}

export async function exportSection(options: BenchOptions): Promise<Section> {
  const events = options.quick ? 20_000 : 1_000_000;
  progress(`export: preparing a ledger of ${events} events`);
  const { dir, temporary } = await dataset(events, options.quick);
  try {
    progress('export: baseline (store pages + JSON.stringify of each entry)');
    const baseline = await runChild(dir, 'baseline');
    const rows: Row[] = [];
    for (const mode of [...EXPORT_FORMATS, 'http-jsonl'] as const) {
      progress(`export: ${mode}`);
      const m = await runChild(dir, mode);
      if (m.events !== events) throw new Error(`export ${mode} produced ${m.events} events, expected ${events}`);
      const rate = m.events / m.seconds;
      const baseRate = baseline.events / baseline.seconds;
      const label = mode === 'http-jsonl' ? 'jsonl over HTTP (route + fetch)' : mode;
      rows.push({
        id: `export.${mode}.rate`,
        label: `${label}: events/s`,
        value: rate,
        unit: 'events/s',
        baseline: { label: 'store pages + JSON.stringify', value: baseRate, unit: 'events/s' },
        ratio: { value: rate / baseRate, label: '× baseline' },
        ...(mode === 'jsonl' || mode === 'csv' ? { target: { on: 'value' as const, op: '>=' as const, limit: TARGET_EVENTS_PER_SECOND } } : {}),
        note: `${(m.bytes / m.events).toFixed(0)} characters/event, ${m.seconds.toFixed(1)} s`,
      });
      rows.push({
        id: `export.${mode}.rss`,
        label: `${label}: peak RSS`,
        value: m.peakRssMB,
        unit: 'MB',
        baseline: { label: 'baseline process', value: baseline.peakRssMB, unit: 'MB' },
        target: { on: 'value', op: '<=', limit: TARGET_PEAK_RSS_MB },
        note: `RSS ${m.startRssMB.toFixed(0)} MB before the export; V8 heap peak ${m.peakHeapMB.toFixed(0)} MB (baseline ${baseline.peakHeapMB.toFixed(0)} MB)`,
      });
    }
    rows.push(...(await formatterRows(dir)));
    return {
      title: `Export (${events.toLocaleString('en-US')} events, SQLite)`,
      rows,
      notes: [
        'each figure exports the whole ledger (empty query) in a child process of its own; peak RSS is its getrusage maxrss',
        'formats run the route\'s exportChunks (store.search pages of 1000 → recordFromEntry → formatter), output counted, not written',
        'baseline: the same store.search pages with JSON.stringify of each entry as stored (the floor the store sets)',
        '"formatter only": the format functions on 5,000 records held in memory, interleaved with JSON.stringify of the same records',
        options.quick ? 'quick: a fresh 20,000-event ledger' : 'the 1,000,000-event ledger is sealed once and kept in .scratch/bench-export/',
      ],
    };
  } finally {
    if (temporary) removeDir(dir);
  }
}

/** The formatters alone, on records in memory: what the export costs apart from reading the store. */
async function formatterRows(dir: string): Promise<Row[]> {
  const deployment = openDeployment({ dataDir: dir, name: DEPLOYMENT_NAME });
  const records: ExportRecord[] = [];
  for (let after: number | undefined; records.length < 5000; ) {
    const page = await deployment.store.search(LEDGER, { query: { clauses: [] }, limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
    records.push(...page.entries.map(recordFromEntry));
    if (page.next === null) break;
    after = page.next;
  }
  await deployment.store.close();
  let sink = 0;
  const ops: Record<string, Operation> = { baseline: (i) => (sink += JSON.stringify(records[i % records.length]).length) };
  for (const format of EXPORT_FORMATS) {
    const formatter = exportFormatter(format, { hostname: DEPLOYMENT_NAME });
    ops[format] = (i) => (sink += formatter.line(records[i % records.length]!).length);
  }
  progress('export: formatters alone');
  const rates = interleavedRates(ops, 5, 300);
  if (sink < 0) throw new Error('unreachable');
  return EXPORT_FORMATS.map((format) => ({
    id: `export.${format}.formatter`,
    label: `${format}: formatter only`,
    value: rates[format]!,
    unit: 'events/s',
    baseline: { label: 'JSON.stringify(record)', value: rates.baseline!, unit: 'events/s' },
    ratio: { value: rates[format]! / rates.baseline!, label: '× baseline' },
    ...(format === 'jsonl' || format === 'csv' ? { target: { on: 'value' as const, op: '>=' as const, limit: TARGET_EVENTS_PER_SECOND } } : {}),
  }));
}

// Child mode: `node --import tsx bench/export.ts --child DIR MODE` prints one JSON measurement.
if (process.argv[2] === '--child') {
  const [dir, mode] = process.argv.slice(3) as [string, string];
  if (mode !== 'baseline' && mode !== 'http-jsonl' && !isExportFormat(mode)) throw new Error(`unknown mode ${mode}`);
  const result = await measureInChild(dir, mode as Mode);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
