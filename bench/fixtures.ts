/** Shared inputs of the benchmarks: options, events, keys and temporary folders. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ed25519Signer } from '../src/core/crypto.js';
import type { AuditEvent } from '../src/core/event.js';
import { nodeSigner } from '../src/platform/node-crypto.js';
import { sampleEvent } from '../test/helpers/events.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Git-ignored output folder; temporary databases go here too, on the same disk as the project. */
export const BENCH_DIR = join(PROJECT_ROOT, '.bench');

export interface BenchOptions {
  /** ~30 s smoke run instead of the ~3 min default. */
  quick: boolean;
}

export const LEDGER = 'bench';
export const WRITER = 'bench-writer';
export const DEPLOYMENT_NAME = 'bench.local';

/** The test suite's realistic event (17 committed fields, ~420 bytes of JSON) with a unique id. */
export function benchEvent(n: number, run = 'r'): AuditEvent {
  return { ...sampleEvent(n), id: `evt-${run}-${n}` };
}

export function newSigner(): Ed25519Signer {
  return nodeSigner(generateKeyPairSync('ed25519').privateKey);
}

/** A fresh folder under .bench/ for one measurement; remove it with {@link removeDir}. */
export function tempDir(prefix: string): string {
  mkdirSync(BENCH_DIR, { recursive: true });
  return mkdtempSync(join(BENCH_DIR, `tmp-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Prints progress to stderr, so stdout holds only the report. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
