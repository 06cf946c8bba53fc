/**
 * `sealtrail verify` against edits of what the store derives from its entries (issue 19): a deleted
 * idempotency key (a retry then stores the event twice) and a search index that hides or alters an
 * event. Each case works on its own copy of one pristine SQLite folder, edited with the triggers
 * dropped, and runs the real CLI. The PostgreSQL cases edit rows as the service role (search rows) and
 * as the database owner with triggers disabled (idempotency keys).
 *
 * Pristine folder: ledger "audit", 300 events in 3 batches, each with an `id` and the key the HTTP route
 * derives from it, written as the operator token ("admin"), so verify expects every one to have its key.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openDeployment, openPostgresDeployment } from '../../src/server/deployment.js';
import { eventIdKey } from '../../src/store/idempotency.js';
import type { AppendRequest } from '../../src/store/store.js';
import { runVerify, type CliResult } from '../helpers/cli.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { recountRollups } from '../helpers/rollups.js';

const LEDGER = 'audit';
const WRITER = 'admin';
const SIZE = 300;
const NAME = 'derived.test';

const keyed = (n: number): AppendRequest => {
  const event = sampleEvent(n);
  return { event, writer: WRITER, idempotencyKey: eventIdKey(event.id!) };
};

function show(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

function withDb(dir: string, change: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'sealtrail.db'));
  try {
    db.transaction(() => change(db))();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function dropKeyTriggers(db: Database.Database): void {
  for (const name of db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'idempotency_keys'`).pluck().all()) {
    db.exec(`DROP TRIGGER "${name}"`);
  }
}

const ledgerId = (db: Database.Database) => db.prepare<[string], number>('SELECT ledger_id FROM ledgers WHERE name = ?').pluck().get(LEDGER)!;

describe('sealtrail verify: derived rows against the entries (SQLite)', { concurrency: 4 }, () => {
  let work: string;
  let pristine: string;
  let verifierKey: string;
  let copies = 0;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sealtrail-derived-'));
    pristine = join(work, 'pristine');
    const deployment = openDeployment({ dataDir: pristine, name: NAME });
    verifierKey = deployment.verifierKey;
    await deployment.store.createLedger(LEDGER);
    for (let b = 0; b < 3; b++) await deployment.store.append(LEDGER, Array.from({ length: 100 }, (_, i) => keyed(b * 100 + i)));
    await deployment.store.close();
    withDb(pristine, () => {});
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function copy(): string {
    const dir = join(work, `case-${copies++}`);
    cpSync(pristine, dir, { recursive: true });
    return dir;
  }

  async function assertFails(dir: string, pattern: RegExp, extra: string[] = []): Promise<void> {
    const result = await runVerify(['--data', dir, '--ledger', LEDGER, ...extra]);
    assert.equal(result.code, 1, show(result));
    assert.match(result.stdout, pattern, show(result));
  }

  /** Deletes entry 40's key, then retries event 40 as its writer would: it is stored a second time. */
  async function deleteKeyAndRetry(dir: string, plant?: string): Promise<void> {
    withDb(dir, (db) => {
      dropKeyTriggers(db);
      assert.equal(db.prepare('DELETE FROM idempotency_keys WHERE ledger_id = ? AND idx = 40').run(ledgerId(db)).changes, 1);
    });
    const deployment = openDeployment({ dataDir: dir, name: NAME });
    const [receipt] = await deployment.store.append(LEDGER, [keyed(40)]);
    await deployment.store.close();
    assert.deepEqual([receipt!.duplicate, receipt!.index], [false, SIZE], 'the retry was stored again');
    if (plant) withDb(dir, (db) => db.prepare('INSERT INTO idempotency_keys (ledger_id, key, request_hash, idx) VALUES (?, ?, zeroblob(32), 40)').run(ledgerId(db), plant));
  }

  it('passes the pristine folder, with every key matched to its event id', async () => {
    const result = await runVerify(['--data', copy(), '--ledger', LEDGER]);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stdout, /search index matches the entries \(300 events\); 300 idempotency keys match their events/);
  });

  it('catches a deleted idempotency key whose retry stored the event twice', async () => {
    const dir = copy();
    await deleteKeyAndRetry(dir);
    await assertFails(dir, /entry 40 \(writer admin\) had an event id, but its idempotency key is missing/);
  });

  it('catches a made-up key planted in place of the deleted one: by its HMAC, or without the signing key by the duplicate id', async () => {
    const dir = copy();
    await deleteKeyAndRetry(dir, `v2:${'A'.repeat(43)}`);
    await assertFails(dir, /entry 40: its idempotency key is not the one its event id gives/);
    // Without the signing key (kept elsewhere) verify cannot recompute HMACs, but sees the duplicate.
    renameSync(join(dir, 'signing-key.pem'), join(work, `moved-key-${copies}.pem`));
    await assertFails(dir, /entries 40 and 300 of writer admin have the same event id: a retry was stored twice/, ['--key', verifierKey]);
  });

  it('catches a search row whose actor was changed, naming the entry and column', async () => {
    const dir = copy();
    withDb(dir, (db) => db.prepare("UPDATE search_events SET actor_id = 'u-innocent' WHERE ledger_id = ? AND idx = 17").run(ledgerId(db)));
    await assertFails(dir, /entry 17: its search row differs from the entry in actorId/);
  });

  it('catches an hourly count rollup that no longer matches the search rows', async () => {
    const dir = copy();
    withDb(dir, (db) => db.prepare("UPDATE search_hourly SET count = count - 3 WHERE ledger_id = ? AND dimension = ''").run(ledgerId(db)));
    await assertFails(dir, /the hourly count of the whole ledger at .* is \d+, but the search index has \d+ such events/);
  });

  it('catches a deleted search row (an event hidden from every search)', async () => {
    const dir = copy();
    withDb(dir, (db) => db.prepare('DELETE FROM search_events WHERE ledger_id = ? AND idx = 50').run(ledgerId(db)));
    await assertFails(dir, /entry 50 has no search row: it is hidden from every search/);
  });

  it('catches an added search row for no entry', async () => {
    const dir = copy();
    withDb(dir, (db) => {
      db.prepare(
        `INSERT INTO search_events (ledger_id, idx, received_at, actor_id, writer) SELECT ledger_id, 5000, received_at, 'u-ghost', writer FROM search_events WHERE ledger_id = ? AND idx = 10`,
      ).run(ledgerId(db));
    });
    await assertFails(dir, /the search index has a row for entry 5000, which does not exist/);
  });

  it('catches a deleted target row and an added metadata row, naming the entry', async () => {
    const target = copy();
    withDb(target, (db) => assert.equal(db.prepare('DELETE FROM search_targets WHERE ledger_id = ? AND idx = 60').run(ledgerId(db)).changes, 1));
    await assertFails(target, /entry 60: the search index lacks a target row "file"\/"f-60"/);
    const metadata = copy();
    withDb(metadata, (db) => db.prepare(`INSERT INTO search_metadata (ledger_id, key, value, idx) VALUES (?, 'note', 'planted', 70)`).run(ledgerId(db)));
    await assertFails(metadata, /entry 70: the search index has a metadata row "note", which the entry does not/);
  });

  it('tolerates an unindexed newest tail (a crash before indexing), reported, and indexes it at the next open', async () => {
    const dir = copy();
    withDb(dir, (db) => {
      for (const table of ['search_events', 'search_targets', 'search_metadata']) db.prepare(`DELETE FROM ${table} WHERE ledger_id = ? AND idx >= 280`).run(ledgerId(db));
      // A crash loses the tail's rollup counts with its search rows (one transaction).
      recountRollups(db);
    });
    const lagging = await runVerify(['--data', dir, '--ledger', LEDGER]);
    assert.equal(lagging.code, 0, show(lagging));
    assert.match(lagging.stdout, /\(280 events; the newest 20 not indexed yet/);
    const deployment = openDeployment({ dataDir: dir, name: NAME });
    await deployment.store.close();
    const caughtUp = await runVerify(['--data', dir, '--ledger', LEDGER]);
    assert.match(caughtUp.stdout, /search index matches the entries \(300 events\);/, show(caughtUp));
  });

  it('converts raw keys written before schema 8 to keyed hashes on open; retries still dedupe', async () => {
    const dir = copy();
    // What an older version stored: the route's raw key, `id:evt-7`, instead of its HMAC. The file's
    // own triggers are put back after, so the conversion runs under them.
    withDb(dir, (db) => {
      const triggers = db.prepare<[], string>(`SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'idempotency_keys'`).pluck().all();
      dropKeyTriggers(db);
      db.prepare(`UPDATE idempotency_keys SET key = 'id:evt-7' WHERE ledger_id = ? AND idx = 7`).run(ledgerId(db));
      for (const sql of triggers) db.exec(sql);
    });
    const deployment = openDeployment({ dataDir: dir, name: NAME });
    const [retry] = await deployment.store.append(LEDGER, [keyed(7)]);
    await deployment.store.close();
    assert.deepEqual([retry!.duplicate, retry!.index], [true, 7]);
    const db = new Database(join(dir, 'sealtrail.db'), { readonly: true });
    try {
      assert.equal(db.prepare(`SELECT count(*) FROM idempotency_keys WHERE key NOT GLOB 'v2:*'`).pluck().get(), 0);
    } finally {
      db.close();
    }
    const result = await runVerify(['--data', dir, '--ledger', LEDGER]);
    assert.equal(result.code, 0, show(result));
  });
});

describe('sealtrail verify: derived rows against the entries (PostgreSQL)', async () => {
  const skip = await postgresUnavailable();
  let fixture: PostgresFixture;
  let dir: string;

  before(async () => {
    if (skip) return;
    fixture = await createPostgresFixture(NAME);
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-derived-pg-'));
    const deployment = await openPostgresDeployment({ dataDir: dir, name: NAME, databaseUrl: fixture.serviceUrl, schema: fixture.schema });
    await deployment.store.createLedger(LEDGER);
    await deployment.store.append(LEDGER, Array.from({ length: 100 }, (_, i) => keyed(i)));
    await deployment.store.close();
  });
  after(async () => {
    if (skip) return;
    await fixture.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const verify = () => runVerify(['--data', dir, '--database-url', fixture.serviceUrl, '--database-schema', fixture.schema, '--ledger', LEDGER]);
  async function query(url: string, sql: string, params: unknown[] = []): Promise<number> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${fixture.schema}"`);
      return (await client.query(sql, params)).rowCount ?? 0;
    } finally {
      await client.end();
    }
  }

  it('passes, then catches search rows the service role altered or deleted, and the free text', { skip }, async () => {
    const ok = await verify();
    assert.equal(ok.code, 0, show(ok));
    assert.match(ok.stdout, /search index matches the entries \(100 events\); 100 idempotency keys match their events/);

    await query(fixture.adminUrl, 'CREATE TABLE saved_row AS SELECT * FROM search_events WHERE idx = 12');
    await assert.rejects(query(fixture.serviceUrl, "UPDATE search_events SET body = 'nothing to see' WHERE idx = 12"), /permission denied/);
    // It may delete them (a forget rewrites an event's rows): that hides the event from every search.
    assert.equal(await query(fixture.serviceUrl, 'DELETE FROM search_events WHERE idx = 12'), 1);
    const hidden = await verify();
    assert.equal(hidden.code, 1, show(hidden));
    assert.match(hidden.stdout, /entry 12 has no search row/);
    // Put back with another text: the free text (readable on PostgreSQL) is compared too.
    await query(fixture.adminUrl, "DELETE FROM search_events WHERE idx = 12");
    await query(fixture.adminUrl, "INSERT INTO search_events SELECT * FROM saved_row");
    await query(fixture.adminUrl, "UPDATE search_events SET body = 'nothing to see' WHERE idx = 12");
    const altered = await verify();
    assert.equal(altered.code, 1, show(altered));
    assert.match(altered.stdout, /entry 12: its search row differs from the entry in text/);
    await query(fixture.adminUrl, 'DELETE FROM search_events WHERE idx = 12');
    await query(fixture.adminUrl, 'INSERT INTO search_events SELECT * FROM saved_row');
    await query(fixture.adminUrl, 'DROP TABLE saved_row');
    const restored = await verify();
    assert.equal(restored.code, 0, show(restored));
  });

  it('converts raw keys written before schema 9 to keyed hashes when a server opens the store; retries still dedupe', { skip }, async () => {
    // What an older version stored: the route's raw key instead of its HMAC (put there as the owner).
    await query(fixture.adminUrl, 'ALTER TABLE idempotency_keys DISABLE TRIGGER USER');
    assert.equal(await query(fixture.adminUrl, `UPDATE idempotency_keys SET key = 'id:evt-5' WHERE idx = 5`), 1);
    await query(fixture.adminUrl, 'ALTER TABLE idempotency_keys ENABLE TRIGGER USER');
    const deployment = await openPostgresDeployment({ dataDir: dir, name: NAME, databaseUrl: fixture.serviceUrl, schema: fixture.schema });
    const [retry] = await deployment.store.append(LEDGER, [keyed(5)]);
    await deployment.store.close();
    assert.deepEqual([retry!.duplicate, retry!.index], [true, 5]);
    assert.equal(await query(fixture.adminUrl, `SELECT 1 FROM idempotency_keys WHERE NOT starts_with(key, 'v2:')`), 0, 'no raw key left');
    const result = await verify();
    assert.equal(result.code, 0, show(result));
  });

  it('catches a deleted idempotency key (deleted as the owner, triggers disabled) whose retry stored a duplicate', { skip }, async () => {
    // The service role cannot delete a hashed key: the trigger refuses.
    await assert.rejects(query(fixture.serviceUrl, 'DELETE FROM idempotency_keys WHERE idx = 30'), /append-only/);
    await query(fixture.adminUrl, 'ALTER TABLE idempotency_keys DISABLE TRIGGER USER');
    assert.equal(await query(fixture.adminUrl, 'DELETE FROM idempotency_keys WHERE idx = 30'), 1);
    await query(fixture.adminUrl, 'ALTER TABLE idempotency_keys ENABLE TRIGGER USER');
    const deployment = await openPostgresDeployment({ dataDir: dir, name: NAME, databaseUrl: fixture.serviceUrl, schema: fixture.schema });
    const [retry] = await deployment.store.append(LEDGER, [keyed(30)]);
    await deployment.store.close();
    assert.deepEqual([retry!.duplicate, retry!.index], [false, 100], 'the retry was stored again');
    const result = await verify();
    assert.equal(result.code, 1, show(result));
    assert.match(result.stdout, /entry 30 \(writer admin\) had an event id, but its idempotency key is missing/);
  });
});
