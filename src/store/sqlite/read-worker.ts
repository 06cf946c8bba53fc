/**
 * A worker thread that runs the embedded store's heavy reads (search pages, stats) on a read-only
 * connection of its own to the database file, so that a costly query holds this thread, never the
 * server's event loop. WAL mode lets it read while the main connection writes; every statement is its
 * own read transaction, so it sees everything committed before it started. Started and stopped by
 * SqliteReadPool (read-worker-pool.ts), which enforces the time budget by terminating the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { toWireError, type WireError } from '../../platform/start-worker.js';

/** What the pool sends: one statement and its bound values. */
export interface ReadRequest {
  id: number;
  sql: string;
  params: unknown[];
  /** Rows as arrays of column values (better-sqlite3 raw mode), which cost less to copy between threads. */
  raw?: boolean;
}

/** What the worker answers: that its connection is open, then per request the rows or the error the statement raised. */
export type ReadResponse = { ready: true } | { id: number; rows: unknown[] } | { id: number; error: WireError };

export interface ReadWorkerData {
  path: string;
  busyTimeoutMs: number;
  /** Page cache of the connection in KiB; default READ_CACHE_KIB. */
  cacheKiB?: number;
}

/** Page cache of each reading connection, in KiB (64 MiB; pages are allocated only as they are read). */
const READ_CACHE_KIB = 64 * 1024;

/** Prepared statements by SQL text; the store's shapes are few, but parameters vary, so cap it anyway. */
const STATEMENT_CACHE_SIZE = 64;

function serve(): void {
  const port = parentPort;
  if (!port) throw new Error('read-worker.ts runs only as a worker thread');
  const { path, busyTimeoutMs, cacheKiB = READ_CACHE_KIB } = workerData as ReadWorkerData;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  // Belt and braces: this connection is for reading only, whatever SQL reaches it.
  db.pragma('query_only = ON');
  // A large ledger's search indexes outgrow the default 2 MiB page cache, and every read would fetch
  // them from the OS again (the writing connection has 256 MiB for the same reason).
  db.pragma(`cache_size = -${Math.trunc(cacheKiB)}`);
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string): Database.Statement => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  port.on('message', ({ id, sql, params, raw = false }: ReadRequest) => {
    let response: ReadResponse;
    try {
      response = { id, rows: prepared(sql).raw(raw).all(...params) };
    } catch (error) {
      response = { id, error: toWireError(error) };
    }
    port.postMessage(response);
  });
  port.postMessage({ ready: true } satisfies ReadResponse);
}

serve();
