/**
 * `node --import tsx bench/reports.ts --data DIR [--ledger L] [--events N --days D] [--period P] [--framework F] [--verify full|entries|checkpoints] [--no-monitor]`
 *
 * Time and peak memory of one compliance report over a generated ledger (bench/gen.ts). When DIR has no
 * ledger L yet, it is generated first (N events over D days, written with --bulk: the search index is
 * built once at the end); a folder made by `npm run gen -- --bulk --data DIR --events 10000000 --days 365`
 * works as it is. The report is built in-process against the store, exactly as the route builds it
 * (src/reports/report.ts), over the whole generated span. The target (issue 16): a 12-month SOC 2 report
 * over 10M events in under a minute with memory under 512 MB.
 *
 * As in `serve`, the server's integrity monitor (src/store/integrity.ts) first verifies the ledger from
 * its stored watermark (the first run over a folder verifies everything and stores the watermark; later
 * runs resume from it), and the report cites it in `full` mode; `--no-monitor` leaves it out, so `full`
 * re-derives the period like `entries`. Printed beside the report: the baseline (one bare `stats by hour`
 * of the period, the least a report reads, in the same run), memory at each stage, and the event loop's
 * delay while the report ran (perf_hooks.monitorEventLoopDelay): what other requests of a server would wait.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Dataset, GEN_DEFAULTS, openGenStore, readGenInfo, writeGenInfo, writeToStore } from './gen.js';
import { rebuildSearchIndexShowingProgress } from '../src/cli/commands/reindex.js';
import { parseVerifierKey, formatVerifierKey } from '../src/core/note.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { openDeployment } from '../src/server/deployment.js';
import { buildReport } from '../src/reports/report.js';
import { isFrameworkId } from '../src/reports/frameworks.js';
import { VERIFICATION_MODES, type VerificationMode } from '../src/reports/integrity.js';
import { periodQuery } from '../src/reports/scope.js';
import { integrityMonitor } from '../src/cli/commands/serve.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    ledger: { type: 'string', default: 'bench' },
    events: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '365' },
    /** Report on the last P days of the generated span only (default: all of it). */
    period: { type: 'string' },
    framework: { type: 'string', default: 'soc2' },
    verify: { type: 'string', default: 'full' },
    'no-monitor': { type: 'boolean', default: false },
  },
});
if (!values.data) throw new Error('--data DIR is required');
const framework = values.framework!;
if (!isFrameworkId(framework)) throw new Error(`unknown framework ${framework}`);
const ledger = values.ledger!;
const mode = values.verify as VerificationMode;
if (!VERIFICATION_MODES.includes(mode)) throw new Error(`--verify must be one of ${VERIFICATION_MODES.join(', ')}`);

async function ensureLedger(dir: string): Promise<{ events: number; days: number; end: number }> {
  if (existsSync(`${dir}/gen-${ledger}.json`)) {
    const { info, options } = readGenInfo(dir, ledger);
    return { events: info.events, days: info.days, end: options.endMicros };
  }
  const events = Number(values.events);
  const days = Number(values.days);
  const end = Math.floor(Date.now() / 3_600_000) * 3_600_000_000;
  const dataset = new Dataset({ events, seed: GEN_DEFAULTS.seed, days, endMicros: end, tenants: GEN_DEFAULTS.tenants, users: GEN_DEFAULTS.users });
  const { store, clock } = openGenStore(dir, { bulkLoad: true });
  // Hour-long batches: at ~100 events an hour, five-minute batches would make the fsync of each append the whole cost.
  const written = await writeToStore(store, clock, ledger, dataset, { windowSeconds: 3600 });
  const indexSeconds = rebuildSearchIndexShowingProgress(store).seconds;
  await store.close();
  writeGenInfo(dir, {
    ledger,
    events,
    seed: GEN_DEFAULTS.seed,
    days,
    end: new Date(end / 1000).toISOString(),
    tenants: GEN_DEFAULTS.tenants,
    users: GEN_DEFAULTS.users,
    batch: GEN_DEFAULTS.batch,
    window: 3600,
    written: { events: written.events, appends: written.appends, seconds: written.seconds, indexSeconds },
  });
  return { events, days, end };
}

const dataset = await ensureLedger(values.data);
const deployment = openDeployment({ dataDir: values.data });
const verifier = parseVerifierKey(nodeSuite, formatVerifierKey(nodeSuite, deployment.name, deployment.signer.publicKey));
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
const memory = () => {
  const m = process.memoryUsage();
  return `rss ${mib(m.rss)}, heap used ${mib(m.heapUsed)}, external ${mib(m.external)} (array buffers ${mib(m.arrayBuffers)})`;
};
process.stdout.write(`opened: ${memory()}\n`);

let monitor: ReturnType<typeof integrityMonitor> | undefined;
if (!values['no-monitor']) {
  monitor = integrityMonitor(deployment, { error: (m) => process.stderr.write(`${m}\n`), warn: (m) => process.stderr.write(`${m}\n`) });
  const t = performance.now();
  await monitor.start(false);
  const status = monitor.status().ledgers.find((l) => l.ledger === ledger);
  process.stdout.write(
    `integrity monitor start: ${((performance.now() - t) / 1000).toFixed(1)} s, ${monitor.verifier.entriesChecked} entries verified ` +
      `(resumed from watermark ${status?.resumedFrom ?? 0}), ${status?.state} at size ${status?.verifiedSize}; ${memory()}\n`,
  );
}

const periodDays = values.period === undefined ? dataset.days : Number(values.period);
if (!(periodDays > 0 && periodDays <= dataset.days)) throw new Error(`--period must be 1..${dataset.days} days`);
const scope = { ledgers: [ledger], fromMicros: dataset.end - periodDays * 86_400_000_000, toMicros: dataset.end + 3_600_000_000 };
// The baseline: one bare hourly count of the whole period, the cheapest read that touches every event.
// Both read workers started first (under tsx a worker's start compiles modules on the main thread: not a report's cost).
await Promise.all([0, 1].map(() => deployment.store.stats(ledger, periodQuery({ fromMicros: scope.fromMicros, toMicros: scope.fromMicros + 3_600_000_000 }), 'outcome', 10)));
// The event loop's delay meanwhile is the floor of what monitorEventLoopDelay shows (the read runs on a worker).
const idleLoop = monitorEventLoopDelay({ resolution: 10 });
idleLoop.enable();
const baselineStarted = performance.now();
const hours = await deployment.store.stats(ledger, periodQuery(scope), 'hour', periodDays * 24 + 2);
const baselineSeconds = (performance.now() - baselineStarted) / 1000;
idleLoop.disable();
process.stdout.write(`baseline (stats by hour of the period, ${hours.length} hours): ${baselineSeconds.toFixed(2)} s; ${memory()}\n`);

const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
let peakHeap = process.memoryUsage().heapUsed;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};
const sampler = setInterval(sample, 50);
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const started = performance.now();
const report = await buildReport({
  store: deployment.store,
  framework,
  scope,
  deployment: deployment.name,
  generatedBy: 'bench',
  nowMicros: Date.now() * 1000,
  integrity: { suite: nodeSuite, verifier, mode, ...(monitor ? { monitor: (name: string) => monitor!.status().ledgers.find((l) => l.ledger === name) } : {}) },
  deploymentWide: { included: true },
  onStage: (stage) => {
    sample();
    process.stdout.write(`  ${stage} at ${((performance.now() - started) / 1000).toFixed(1)} s: ${memory()}\n`);
  },
});
const seconds = (performance.now() - started) / 1000;
loop.disable();
clearInterval(sampler);
sample();
await monitor?.stop();
await deployment.store.close();
const volume = report.evidence.volume[0]!;
const integrity = report.evidence.integrity[0]!;
const ms = (ns: number) => (ns / 1e6).toFixed(0);
process.stdout.write(
  `${framework} report over ${volume.total} events (${periodDays} days), verify=${mode}${monitor ? '' : ' (no monitor)'}: ${seconds.toFixed(1)} s ` +
    `= ${(seconds / baselineSeconds).toFixed(1)}x the baseline's ${baselineSeconds.toFixed(2)} s, ` +
    `peak RSS ${mib(peakRss)} (${mib(rssBefore)} before), peak heap used ${mib(peakHeap)}, ` +
    `event-loop delay p99 ${ms(loop.percentile(99))} ms, max ${ms(loop.max)} ms (during the baseline: p99 ${ms(idleLoop.percentile(99))}, max ${ms(idleLoop.max)}; the monitor's 10 ms resolution included)\n` +
    `integrity ${integrity.result}${integrity.reason ? ` (${integrity.reason})` : ''} over ${integrity.checkpoints?.count ?? 0} checkpoints, ` +
    `${integrity.entries ? `entries ${integrity.entries.from}..${integrity.entries.to} re-derived now` : 'no entries re-derived'}` +
    `${integrity.cited ? `, entries below ${integrity.cited.verified_size} cited from the integrity monitor` : ''}; ` +
    `${report.evidence.gaps.length} sources judged, sha256 ${report.sha256}\n`,
);
