import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SQLITE_PAGE_SIZE, SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { sampleEvent } from '../helpers/events.js';
import { runStoreConformance, type StoreHarness } from './conformance.js';
import { runRetentionConformance } from './retention-conformance.js';
import { runRollupConformance, type RollupHarness } from './rollup-conformance.js';

const sqliteHarness = async (): Promise<StoreHarness & { path: string }> => {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-sqlite-'));
  const path = join(dir, 'sealtrail.db');
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const name = 'conformance.test';
  return {
    suite: nodeSuite,
    signer,
    name,
    path,
    async open(options = {}) {
      return new SqliteStore({ path, suite: nodeSuite, signer, name, ...options });
    },
    async destroy() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
runStoreConformance('sqlite', sqliteHarness);
runRetentionConformance('sqlite', sqliteHarness);
runRollupConformance('sqlite', async (): Promise<RollupHarness> => {
  const harness = await sqliteHarness();
  const ownerSql = async (sql: string) => {
    const db = new Database(harness.path);
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  };
  return {
    ...harness,
    ownerSql,
    toPreviousSchema: () => ownerSql(`DROP TABLE search_hourly; PRAGMA user_version = ${MIGRATIONS.length - 1};`),
    // Opening the file applies pending migrations.
    upgradeSchema: async () => {},
  };
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../../src/store/sqlite/schema.js';
import { StoreError } from '../../src/store/store.js';

describe('sqlite page size', () => {
  it('creates new files with 16 KiB pages and leaves an existing file its own page size, readable and appendable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-pages-'));
    try {
      const signer = portableSigner(nodeSuite.randomBytes(32));
      const fresh = new SqliteStore({ path: join(dir, 'new.db'), suite: nodeSuite, signer, name: 'x' });
      assert.equal(fresh.db.pragma('page_size', { simple: true }), SQLITE_PAGE_SIZE);
      await fresh.close();
      // A file created by an earlier sealtrail, with SQLite's default 4 KiB pages.
      const oldPath = join(dir, 'old.db');
      const raw = new Database(oldPath);
      raw.pragma('page_size = 4096');
      raw.pragma('journal_mode = WAL');
      raw.close();
      let store = new SqliteStore({ path: oldPath, suite: nodeSuite, signer, name: 'x' });
      await store.createLedger('l');
      await store.append('l', Array.from({ length: 300 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await store.close();
      store = new SqliteStore({ path: oldPath, suite: nodeSuite, signer, name: 'x' });
      assert.equal(store.db.pragma('page_size', { simple: true }), 4096);
      await store.append('l', [{ event: sampleEvent(300), writer: 'w' }]);
      assert.equal((await store.latestCheckpoint('l'))?.size, 301);
      assert.equal((await store.getEntry('l', 299))?.index, 299);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sqlite schema versions', () => {
  it('applies migrations to a new file and refuses a file from a newer sealtrail', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-schema-'));
    try {
      const path = join(dir, 'sealtrail.db');
      const signer = portableSigner(nodeSuite.randomBytes(32));
      const store = new SqliteStore({ path, suite: nodeSuite, signer, name: 'x' });
      assert.equal(store.db.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
      store.db.close();
      const raw = new Database(path);
      raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
      raw.close();
      assert.throws(
        () => new SqliteStore({ path, suite: nodeSuite, signer, name: 'x' }),
        (e) => e instanceof StoreError && e.code === 'SCHEMA_TOO_NEW' && /upgrade sealtrail/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
