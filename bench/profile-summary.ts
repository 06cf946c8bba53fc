/**
 * Top self-time functions of a V8 CPU profile (from `node --cpu-prof`), for reading where a benchmark's
 * time goes:
 *
 *   node --cpu-prof --cpu-prof-dir=.bench/prof --import tsx bench/run.ts --only ingest
 *   node --import tsx bench/profile-summary.ts .bench/prof/CPU.*.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from './fixtures.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.startsWith('file://') ? relative(PROJECT_ROOT, new URL(url).pathname) : url;
  // Under tsx every function reports line 0 (the transformed module); name the file alone then.
  const where = file ? ` ${file}${lineNumber > 0 ? `:${lineNumber + 1}` : ''}` : '';
  return `${functionName || '(anonymous)'}${where}`;
}

/** Microseconds of self time per function name, over all profiles given. */
function selfTimes(profiles: CpuProfile[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const profile of profiles) {
    const names = new Map(profile.nodes.map((node) => [node.id, frameName(node)]));
    profile.samples.forEach((id, i) => {
      const name = names.get(id) ?? '?';
      totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
  }
  return totals;
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  const profiles = positionals.map((path) => JSON.parse(readFileSync(path, 'utf8')) as CpuProfile);
  const totals = selfTimes(profiles);
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  for (const [name, micros] of top) {
    process.stdout.write(`${((100 * micros) / all).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}\n`);
  }
}

main();
