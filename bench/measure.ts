/** Timing helpers: synchronous operation rates, interleaved comparisons and medians. */
import { performance } from 'node:perf_hooks';

/** Operations timed between two clock reads, so the clock costs little next to a ~1 µs operation. */
const CHUNK = 32;

export type Operation = (i: number) => void;

/** Runs `op` in chunks until `ms` milliseconds have passed; returns how many ran and how long it took. */
function runFor(op: Operation, ms: number): { count: number; elapsedMs: number } {
  const start = performance.now();
  let count = 0;
  let elapsedMs = 0;
  do {
    for (let end = count + CHUNK; count < end; count++) op(count);
    elapsedMs = performance.now() - start;
  } while (elapsedMs < ms);
  return { count, elapsedMs };
}

/** Warm-up time per operation: enough for the JIT to settle. */
const WARMUP_MS = 200;

/** Operations per second of `op` over `ms` milliseconds (warm it up first). */
function opsPerSecond(op: Operation, ms: number): number {
  const { count, elapsedMs } = runFor(op, ms);
  return (count * 1000) / elapsedMs;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Rates of several operations measured in alternation (a, b, c, a, b, c, …) for `rounds` short rounds
 * of `ms` each, after one warm-up of each, so that a noisy neighbour slows all of them alike; returns
 * the median rate of each.
 */
export function interleavedRates<K extends string>(ops: Record<K, Operation>, rounds: number, ms: number): Record<K, number> {
  const names = Object.keys(ops) as K[];
  const samples = new Map<K, number[]>(names.map((name) => [name, []]));
  for (const name of names) runFor(ops[name], WARMUP_MS);
  for (let round = 0; round < rounds; round++) {
    for (const name of names) samples.get(name)!.push(opsPerSecond(ops[name], ms));
  }
  return Object.fromEntries(names.map((name) => [name, median(samples.get(name)!)])) as Record<K, number>;
}

/** Wall-clock seconds taken by an async task. */
export async function timeAsync<T>(task: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await task();
  return { result, seconds: (performance.now() - start) / 1000 };
}
