/**
 * `npm run bench [-- --quick] [-- --only core,proofs,ingest,indexed,http,postgres,export]`: core, proofs on a stored ledger, in-process ingest,
 * sealed + indexed ingest beside a plain indexed table (indexed: issue 9, SQLite and PostgreSQL), HTTP ingest, PostgreSQL ingest and export benchmarks (postgres is skipped, with the reason, when no server answers), each
 * figure beside a baseline measured in the same run. `--only soak` (on demand, not in the default run)
 * appends 10M events through the API and compares the last 100k-event window's rate with the first's.
 * Prints a report on stdout (progress on stderr) and writes .bench/results.json. BENCH_QUICK=1 is the
 * same as --quick.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { coreSection } from './core.js';
import { detectionSection } from './detection.js';
import { exportSection } from './export.js';
import { BENCH_DIR, PROJECT_ROOT, type BenchOptions } from './fixtures.js';
import { httpSection } from './http.js';
import { indexedSection } from './indexed.js';
import { ingestSection } from './ingest.js';
import { postgresSection } from './postgres.js';
import { proofsSection } from './proofs.js';
import { soakSection } from './soak.js';
import { streamsSection } from './streams.js';
import { formatSection, formatSummary, loadAverage, machine, writeJson, type Report, type Section } from './report.js';

type SectionName = 'core' | 'proofs' | 'ingest' | 'indexed' | 'http' | 'postgres' | 'export' | 'streams' | 'detection' | 'soak';

const SECTIONS: Record<SectionName, (options: BenchOptions) => Section | Promise<Section>> = {
  core: coreSection,
  proofs: proofsSection,
  ingest: ingestSection,
  indexed: indexedSection,
  http: httpSection,
  postgres: postgresSection,
  export: exportSection,
  streams: streamsSection,
  detection: detectionSection,
  soak: soakSection,
};

/** Sections only run when named in --only: each takes most of an hour. */
const ON_DEMAND: readonly SectionName[] = ['soak'];

function parseOptions(): { options: BenchOptions; only: SectionName[] } {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } },
  });
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const names = Object.keys(SECTIONS) as SectionName[];
  const only = values.only === undefined ? names.filter((name) => !ON_DEMAND.includes(name)) : values.only.split(',').map((s) => s.trim());
  const unknown = only.filter((name) => !names.includes(name as SectionName));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; choose from ${names.join(', ')}`);
  return { options: { quick }, only: only as SectionName[] };
}

async function main(): Promise<void> {
  const { options, only } = parseOptions();
  const startedAt = new Date();
  const info = machine(PROJECT_ROOT);
  const startLoad = loadAverage();
  process.stdout.write(
    `sealtrail bench${options.quick ? ' (quick)' : ''} at ${info.revision}: ${startedAt.toISOString()}, Node ${info.node}, ${info.cpus}, ${info.memoryGiB} GiB, load average ${startLoad}\n\n`,
  );
  const sections: Section[] = [];
  for (const name of only) {
    const section = await SECTIONS[name](options);
    sections.push(section);
    process.stdout.write(`${formatSection(section)}\n`);
  }
  const report: Report = {
    startedAt: startedAt.toISOString(),
    quick: options.quick,
    ...info,
    loadAverage: { start: startLoad, end: loadAverage() },
    sections,
    durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
  };
  process.stdout.write(formatSummary(report));
  const path = join(BENCH_DIR, 'results.json');
  writeJson(path, report);
  process.stdout.write(`results: ${path}\n`);
}

await main();
