/**
 * Ingest as the ledger grows (`npm run bench -- --only soak`; on demand, not in the default run: 10M
 * events take most of an hour here). `sealtrail serve` over a fresh data folder, not in bulk mode, with
 * verification and detection running, is fed batches of 100 generator events by 8 connections through
 * the API until it holds BENCH_SOAK_EVENTS (10,000,000; --quick 300,000), timed in windows of 100,000
 * events after a 20,000-event warm-up. Issue 17's target: the last window's rate is at least 0.8 × the
 * first's. BENCH_SOAK_MINUTES (default 75) ends the run early, reporting how far it got; the target is
 * then not judged.
 */
import { randomBytes } from 'node:crypto';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER, progress, removeDir, tempDir, type BenchOptions } from './fixtures.js';
import { backgroundProgress, createLedger, extraServeArgs, load, loopDelayOf, metricsText, scrapeLoopDelay, startServer, type LoadCase } from './http.js';
import type { Row, Section } from './report.js';

const TARGET_LAST_TO_FIRST = 0.8;
const WINDOW_EVENTS = 100_000;
const WARMUP_EVENTS = 20_000;
const SOAK: LoadCase = { id: 'soak.batch100', label: 'POST 100 events, 8 connections', eventsPerRequest: 100, connections: 8 };

interface Window {
  /** Ledger size when the window ended. */
  size: number;
  eventsPerSecond: number;
  p99: number;
  loopMax?: number;
  failures: number;
  /** Search records waiting to be indexed, and events detection had still to judge, as the window ended. */
  behind: { index: number; detection: number };
}

/** Bytes of every file under `dir` (the database, its WAL and everything beside them). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The server's backlogs, from /metrics text: search records waiting to be indexed, and events detection has still to judge. */
function backlogsOf(text: string): { index: number; detection: number } {
  const gauge = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    index: gauge(/^sealtrail_search_index_backlog_events (\S+)$/m),
    detection: gauge(new RegExp(`^sealtrail_detection_lag_events\\{ledger="${LEDGER}"\\} (\\S+)$`, 'm')),
  };
}

export async function soakSection(options: BenchOptions): Promise<Section> {
  const target = Number(process.env.BENCH_SOAK_EVENTS ?? (options.quick ? 300_000 : 10_000_000));
  const deadline = Date.now() + Number(process.env.BENCH_SOAK_MINUTES ?? 75) * 60_000;
  const dataDir = tempDir('soak');
  const token = randomBytes(24).toString('hex');
  const data = join(dataDir, 'data');
  const server = await startServer(['src/cli/main.ts', 'serve', '--data', data, '--port', '0', '--rate-limit', '0', '--quiet', ...extraServeArgs()], { SEALTRAIL_ADMIN_TOKEN: token });
  const windows: Window[] = [];
  let appended = 0;
  try {
    await createLedger(server.url, token);
    await load(server.url, token, SOAK, { requests: WARMUP_EVENTS / SOAK.eventsPerRequest }, 'soak-w');
    appended = WARMUP_EVENTS;
    await scrapeLoopDelay(server.url, token);
    while (appended < target && Date.now() < deadline) {
      const result = await load(server.url, token, SOAK, { requests: WINDOW_EVENTS / SOAK.eventsPerRequest }, `soak-${appended}-`);
      const died = server.death();
      if (died) throw new Error(`soak: after ${thousands(appended)} events ${died}`);
      appended += WINDOW_EVENTS;
      // One scrape per window: it also resets the loop-delay histogram for the next.
      const metrics = (await metricsText(server.url, token)) ?? '';
      const loop = loopDelayOf(metrics);
      const behind = backlogsOf(metrics);
      windows.push({ size: appended, eventsPerSecond: result.eventsPerSecond, p99: result.p99, failures: result.failures, behind, ...(loop ? { loopMax: loop.max } : {}) });
      if (windows.length % 10 === 1 || appended >= target) {
        const failed = result.failures > 0 ? `, ${result.failures} failed requests (${result.failedStatuses})` : '';
        progress(
          `soak: ${thousands(appended)} events, ${thousands(result.eventsPerSecond)} events/s, p99 ${result.p99} ms, ${(folderBytes(data) / appended).toFixed(0)} B/event on disk, ` +
            `waiting to be indexed ${thousands(behind.index)}, to be judged ${thousands(behind.detection)}${failed}`,
        );
      }
    }
    const background = await backgroundProgress(server.url, token);
    const diskBytes = folderBytes(data);
    return section(windows, { target, appended, diskBytes, background, endedEarly: appended < target });
  } finally {
    await server.stop();
    removeDir(dataDir);
  }
}

function section(
  windows: Window[],
  run: { target: number; appended: number; diskBytes: number; background?: { size: number; verified: number; judged: number }; endedEarly: boolean },
): Section {
  const first = windows[0];
  const last = windows.at(-1);
  if (!first || !last) return { title: 'Ingest as the ledger grows', rows: [], notes: ['no window completed before BENCH_SOAK_MINUTES'] };
  const slowest = windows.reduce((a, b) => (b.eventsPerSecond < a.eventsPerSecond ? b : a));
  const failures = windows.reduce((sum, w) => sum + w.failures, 0);
  const ratio: Row = {
    id: 'soak.last_to_first',
    label: `POST 100 events × 8, window at ${thousands(last.size)} events`,
    value: last.eventsPerSecond,
    unit: 'events/s',
    baseline: { label: `window at ${thousands(first.size)}`, value: first.eventsPerSecond, unit: 'events/s' },
    ratio: { value: last.eventsPerSecond / first.eventsPerSecond, label: '× first window' },
    target: { on: 'ratio', op: '>=', limit: TARGET_LAST_TO_FIRST },
    note: run.endedEarly
      ? `ENDED EARLY by BENCH_SOAK_MINUTES at ${thousands(run.appended)} of ${thousands(run.target)} events, so the ≥ ${TARGET_LAST_TO_FIRST} × target is not judged`
      : `slowest window ${thousands(slowest.eventsPerSecond)} events/s at ${thousands(slowest.size)}`,
  };
  // A run cut short is not the target's ledger, and one window has nothing to compare: printed, not judged.
  if (run.endedEarly || windows.length < 2) delete ratio.target;
  const every = Math.max(1, Math.round(windows.length / 10));
  const table = windows
    .filter((_, i) => i % every === 0 || i === windows.length - 1)
    .map(
      (w) =>
        `${thousands(w.size)}: ${thousands(w.eventsPerSecond)} events/s, p99 ${w.p99} ms${w.loopMax !== undefined ? `, longest stall ${w.loopMax.toFixed(0)} ms` : ''}, ` +
        `waiting to be indexed ${thousands(w.behind.index)}, to be judged ${thousands(w.behind.detection)}`,
    );
  const lag = run.background ? `at the end verification had reached ${thousands(run.background.verified)} and detection ${thousands(run.background.judged)} of ${thousands(run.background.size)} events` : '';
  return {
    title: `Ingest as the ledger grows (sealtrail serve, not bulk mode, to ${thousands(run.appended)} events)`,
    rows: [
      ratio,
      {
        id: 'soak.disk',
        label: '  disk per event at the end',
        value: run.diskBytes / run.appended,
        unit: 'B/event',
        note: `${(run.diskBytes / 2 ** 30).toFixed(1)} GiB for ${thousands(run.appended)} events, every file in the data folder`,
      },
    ],
    notes: [
      `windows of ${thousands(WINDOW_EVENTS)} events after a ${thousands(WARMUP_EVENTS)}-event warm-up; the server's integrity monitor and detection engine run throughout, as in production; ${lag}`,
      `failed requests over the run: ${failures}`,
      ...table,
    ],
  };
}
