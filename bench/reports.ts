/**
 * `node --import tsx bench/reports.ts --data DIR [--ledger L] [--events N --days D] [--framework F] [--verify full|checkpoints]`
 *
 * Time and peak memory of one compliance report over a generated ledger (bench/gen.ts). When DIR has no
 * ledger L yet, it is generated first (N events over D days, written with --bulk: the search index is
 * built once at the end); a folder made by `npm run gen -- --bulk --data DIR --events 10000000 --days 365`
 * works as it is. The report is built in-process against the store, exactly as the route builds it
 * (src/reports/report.ts), over the whole generated span. The target (issue 16): a 12-month SOC 2 report
 * over 10M events in under a minute with memory under 512 MB.
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
import type { VerificationMode } from '../src/reports/integrity.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    ledger: { type: 'string', default: 'bench' },
    events: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '365' },
    framework: { type: 'string', default: 'soc2' },
    verify: { type: 'string', default: 'full' },
  },
});
if (!values.data) throw new Error('--data DIR is required');
const framework = values.framework!;
if (!isFrameworkId(framework)) throw new Error(`unknown framework ${framework}`);
const ledger = values.ledger!;

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
const rssBefore = process.memoryUsage().rss;
let peakRss = rssBefore;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const started = performance.now();
const report = await buildReport({
  store: deployment.store,
  framework,
  scope: { ledgers: [ledger], fromMicros: dataset.end - dataset.days * 86_400_000_000, toMicros: dataset.end + 3_600_000_000 },
  deployment: deployment.name,
  generatedBy: 'bench',
  nowMicros: Date.now() * 1000,
  integrity: { suite: nodeSuite, verifier, mode: values.verify as VerificationMode },
  deploymentWide: { included: true },
});
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
await deployment.store.close();
const volume = report.evidence.volume[0]!;
const integrity = report.evidence.integrity[0]!;
process.stdout.write(
  `${framework} report over ${volume.total} events (${dataset.days} days), verify=${values.verify}: ${seconds.toFixed(1)} s, ` +
    `peak RSS ${(peakRss / 1048576).toFixed(0)} MiB (${(rssBefore / 1048576).toFixed(0)} MiB before), ` +
    `integrity ${integrity.result} over ${integrity.checkpoints?.count ?? 0} checkpoints, ${report.evidence.gaps.length} sources judged, sha256 ${report.sha256}\n`,
);
