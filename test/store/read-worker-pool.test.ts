/**
 * SqliteReadPool, the worker threads that run the embedded store's searches and stats off the event
 * loop (issue 19): budgets, terminated threads, refusals, and failures that must not hang or loop.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteReadPool } from '../../src/store/sqlite/read-worker-pool.js';
import { StoreError } from '../../src/store/store.js';

/** A statement that keeps SQLite busy for seconds (no JS runs meanwhile, so it cannot be interrupted). */
// ~2.7 s on an idle machine of this kind (5,000,000 took 0.7 s, inside the 1 s budget the tests give it).
const SLOW = 'WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000000) SELECT count(*) AS n FROM c';

const code = (expected: string) => (error: unknown) => {
  assert.ok(error instanceof StoreError, String(error));
  assert.equal(error.code, expected, error.message);
  return true;
};

describe('SqliteReadPool', { timeout: 120_000 }, () => {
  let dir: string;
  let path: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-read-pool-'));
    path = join(dir, 'read.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)');
    db.prepare('INSERT INTO t (blob) VALUES (?)').run(Buffer.from('leaf bytes'));
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('answers rows, blobs as Buffers, and refuses writes', async () => {
    const pool = new SqliteReadPool({ path, budgetMs: 30_000, threads: 1 });
    try {
      const rows = await pool.all<{ id: number; blob: Buffer }>('SELECT id, blob FROM t WHERE id = ?', [1]);
      assert.equal(rows.length, 1);
      assert.ok(Buffer.isBuffer(rows[0]!.blob));
      assert.equal(rows[0]!.blob.toString('utf8'), 'leaf bytes');
      await assert.rejects(pool.all('INSERT INTO t (blob) VALUES (NULL) RETURNING id', []), /readonly|read-only/i);
      // The thread survives a failed statement.
      assert.equal((await pool.all<{ n: number }>('SELECT count(*) AS n FROM t', []))[0]!.n, 1);
    } finally {
      await pool.close();
    }
  });

  it('stops a read at its budget, and refuses reads while too many stopped threads still run', async () => {
    const pool = new SqliteReadPool({ path, budgetMs: 100, threads: 2 });
    try {
      // Start both threads, so that their start-up is not what the budget measures.
      await Promise.all([pool.all('SELECT 1', []), pool.all('SELECT 1', [])]);
      const started = performance.now();
      const slow = await Promise.allSettled([pool.all(SLOW, []), pool.all(SLOW, [])]);
      const answeredAfter = performance.now() - started;
      for (const result of slow) {
        assert.equal(result.status, 'rejected');
        code('QUERY_TIMEOUT')((result as PromiseRejectedResult).reason);
      }
      // Answered at the budget, not when SQLite finished (seconds later); generous for a loaded machine.
      assert.ok(answeredAfter < 2000, `${answeredAfter} ms`);
      // Both terminated threads are still inside their statement: no more reads until they exit.
      await assert.rejects(pool.all('SELECT 1', []), code('OVERLOADED'));
      let answered = false;
      for (let attempt = 0; attempt < 300 && !answered; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answered = await pool.all('SELECT 1 AS one', []).then(
          () => true,
          (error: unknown) => {
            code('OVERLOADED')(error);
            return false;
          },
        );
      }
      assert.ok(answered, 'reads resumed once the stopped threads exited');
    } finally {
      await pool.close();
    }
  });

  it('refuses, without running it, a read that found no free thread for a whole budget', async () => {
    const pool = new SqliteReadPool({ path, budgetMs: 1000, threads: 1 });
    try {
      await pool.all('SELECT 1', []);
      const first = pool.all(SLOW, []);
      await new Promise((resolve) => setTimeout(resolve, 10));
      // Behind two costly reads on the only thread: the second takes the thread once the first is
      // stopped, and the cheap one is still waiting a budget later.
      const results = await Promise.allSettled([first, pool.all(SLOW, []), pool.all('SELECT 1', [])]);
      const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as StoreError) : undefined));
      assert.deepEqual(reasons.map((e) => e?.code), ['QUERY_TIMEOUT', 'QUERY_TIMEOUT', 'OVERLOADED']);
      assert.match(reasons[2]!.message, /no search thread was free within the 1000 ms budget/);
    } finally {
      await pool.close();
    }
  });

  it('fails the reads of a file it cannot open instead of restarting threads forever', async () => {
    const pool = new SqliteReadPool({ path: join(dir, 'missing.db'), budgetMs: 30_000, threads: 2 });
    try {
      const results = await Promise.allSettled([pool.all('SELECT 1', []), pool.all('SELECT 1', []), pool.all('SELECT 1', [])]);
      for (const result of results) assert.equal(result.status, 'rejected');
    } finally {
      await pool.close();
    }
  });

  it('refuses reads that are waiting or running when it closes', async () => {
    const pool = new SqliteReadPool({ path, budgetMs: 30_000, threads: 1 });
    await pool.all('SELECT 1', []);
    const pending = Promise.allSettled([pool.all(SLOW, []), pool.all('SELECT 1', [])]);
    const started = performance.now();
    await pool.close();
    // Closing does not wait for the running statement (seconds) to finish.
    assert.ok(performance.now() - started < 2000, `close took ${performance.now() - started} ms`);
    for (const result of await pending) {
      assert.equal(result.status, 'rejected');
      code('OVERLOADED')((result as PromiseRejectedResult).reason);
    }
    await assert.rejects(pool.all('SELECT 1', []), code('OVERLOADED'));
  });
});
