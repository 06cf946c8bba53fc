/**
 * Starts a worker thread running the module `name` beside the caller's module: `name`.js when the
 * caller runs compiled, `name`.ts with tsx's loader registered in the thread first when it runs from
 * TypeScript source (tests, benchmarks, under tsx): Node 20 does not carry the parent's `--import tsx`
 * hooks over to worker threads.
 */
import { Worker } from 'node:worker_threads';

export function startModuleWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), { workerData });
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const loader = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** An error as it crosses between threads: its message, and its code (e.g. SQLITE_BUSY) if it has one. */
export interface WireError {
  message: string;
  code?: string;
}

export function toWireError(error: unknown): WireError {
  const e = error as { message?: string; code?: unknown };
  return { message: String(e.message ?? error), ...(typeof e.code === 'string' ? { code: e.code } : {}) };
}

export function fromWireError(wire: WireError): Error {
  return Object.assign(new Error(wire.message), wire.code ? { code: wire.code } : {});
}
