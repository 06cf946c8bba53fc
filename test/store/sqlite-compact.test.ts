/**
 * `sealtrail compact` and compactDatabase: an older file with 4 KiB pages, some of it purged, is
 * rewritten with 16 KiB pages and keeps every sealed byte (verify passes, proofs and search answer as
 * before); a file another connection has open is refused and left as it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQuery } from '../../src/core/query.js';
import { openDeployment } from '../../src/server/deployment.js';
import { forgetSealed } from '../helpers/forget.js';
import { inclusionProofs } from '../../src/store/proofs.js';
import { compactDatabase, DatabaseInUseError } from '../../src/store/sqlite/compact.js';
import { SQLITE_PAGE_SIZE } from '../../src/store/sqlite/sqlite-store.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { runCli } from '../helpers/cli.js';
import { sampleEvent } from '../helpers/events.js';

describe('sealtrail compact', () => {
  let dir: string;
  let path: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-compact-'));
    path = join(dir, 'sealtrail.db');
    // A file as an older sealtrail made it: SQLite's default 4 KiB pages.
    const raw = new Database(path);
    raw.pragma('page_size = 4096');
    raw.pragma('journal_mode = WAL');
    raw.close();
    const { store } = openDeployment({ dataDir: dir });
    await store.createLedger('ops');
    for (let start = 0; start < 600; start += 100) {
      await store.append('ops', Array.from({ length: 100 }, (_, i) => ({ event: sampleEvent(start + i), writer: 'w' })));
    }
    await forgetSealed(store, 'ops', Array.from({ length: 200 }, (_, index) => ({ index, paths: '*' as const, reason: 'purged' as const })));
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const snapshot = async () => {
    const { store } = openDeployment({ dataDir: dir });
    try {
      const checkpoint = (await store.latestCheckpoint('ops'))!;
      const proofs = await inclusionProofs(store, nodeSuite, 'ops', [0, 299, 599], checkpoint.size);
      const found = await store.search('ops', { query: parseQuery('metadata.request_id:req-300'), limit: 10, order: 'asc' });
      const entry = (await store.getEntry('ops', 450))!;
      return {
        note: checkpoint.note,
        proofs: proofs.map((proof) => proof.map((hash) => Buffer.from(hash).toString('hex'))),
        found: found.entries.map((e) => e.index),
        leaf: Buffer.from(entry.leaf).toString('hex'),
        disclosures: entry.disclosures,
        purged: (await store.getEntry('ops', 10))!.redactions,
        pageSize: store.db.pragma('page_size', { simple: true }),
        version: store.db.pragma('user_version', { simple: true }),
      };
    } finally {
      await store.close();
    }
  };

  it('refuses a file another connection has open, and leaves it as it was', async () => {
    const before = statSync(path).size;
    const { store } = openDeployment({ dataDir: dir });
    try {
      assert.throws(() => compactDatabase(path), DatabaseInUseError);
      const result = await runCli(['compact', '--data', dir]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /open in another process .*stop it first/);
      assert.equal((await store.latestCheckpoint('ops'))?.size, 600, 'the open store still works');
      await store.append('ops', [{ event: sampleEvent(600), writer: 'w' }]);
    } finally {
      await store.close();
    }
    assert.ok(statSync(path).size >= before);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('compacting')), []);
  });

  it('rewrites the file with 16 KiB pages, smaller, with every sealed byte and answer unchanged', async () => {
    const old = await snapshot();
    assert.equal(old.pageSize, 4096);
    const bytes = () => ['', '-wal'].reduce((n, suffix) => n + (existsSync(path + suffix) ? statSync(path + suffix).size : 0), 0);
    const bytesBefore = bytes();
    const result = await runCli(['compact', '--data', dir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /pages of 4 KiB → 16 KiB/);
    const now = await snapshot();
    assert.deepEqual({ ...now, pageSize: 4096 }, old);
    assert.equal(now.pageSize, SQLITE_PAGE_SIZE);
    assert.ok(bytes() < bytesBefore * 0.8, `${bytes()} bytes after, ${bytesBefore} before`);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('compacting')), []);
    const verified = await runCli(['verify', '--data', dir]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    // It goes on as a normal data folder: appends, and a second compact that changes nothing.
    const { store } = openDeployment({ dataDir: dir });
    try {
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      await store.append('ops', [{ event: sampleEvent(601), writer: 'w' }]);
    } finally {
      await store.close();
    }
    assert.equal(compactDatabase(path).pageSizeBefore, SQLITE_PAGE_SIZE);
  });

  it('refuses a folder with no database', async () => {
    const result = await runCli(['compact', '--data', join(dir, 'nothing-here')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no sealtrail database/);
    assert.equal(existsSync(join(dir, 'nothing-here')), false);
  });
});
