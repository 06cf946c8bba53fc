#!/usr/bin/env node
// Runs every test/**/*.test.ts under Node's own test runner (Node 20's --test cannot glob .ts files).
// Extra arguments filter test files by substring: `npm test -- merkle`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests('test')
  .map((f) => relative('.', f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}
// The browser tests drive the built console: build it from the current sources first (about a second).
if (files.some((f) => f.startsWith(join('test', 'console')))) {
  const build = spawnSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'console/vite.config.ts', '--logLevel', 'warn'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
// A test that never finishes (awaiting what never comes) fails after 10 minutes, named, instead of
// holding the run; the longest file takes under two. No --test-force-exit: on Node 20 it drops the
// results of suites still running when it exits (test/core/query.test.ts alone reported 240, 247 or all
// 252 of its tests from one run to the next, exit code 0 each time), so a failing test could go
// unreported. A file that leaves a handle open holds the run instead, until the whole run's timeout.
const RUN_TIMEOUT_MS = 60 * 60_000;
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files], {
  stdio: 'inherit',
  timeout: RUN_TIMEOUT_MS,
  killSignal: 'SIGKILL',
});
if (result.error) {
  const why = result.error.code === 'ETIMEDOUT' ? ` (a test file left a handle open, or the run took over ${RUN_TIMEOUT_MS / 60_000} minutes)` : '';
  console.error(`test run stopped: ${result.error.message}${why}`);
}
process.exit(result.status ?? 1);
