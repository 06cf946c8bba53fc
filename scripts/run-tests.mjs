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
// A file that never finishes (a test awaiting what never comes, or a handle left open after its tests)
// fails after 10 minutes, named, instead of holding the run; the longest file takes under two.
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', '--test-force-exit', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
