/**
 * API keys and legal holds checked against their sealed records (issue 19): someone who can write
 * sealtrail.db plants a key row, un-expires or un-revokes a key, or deletes, edits or un-releases a
 * legal hold. The server must refuse such keys (401, the detail only in its log and the system ledger)
 * and `sealtrail verify` must fail naming the key or hold. Each case gets its own data folder.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { newToken } from '../../src/server/auth.js';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import { KeyRegistry, keyCreationEvent, recordKeyCreation } from '../../src/server/key-registry.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { SaltSource, type Disclosures } from '../../src/core/commitments.js';
import { sealEvent } from '../../src/core/leaf.js';
import type { ApiKeyRecord } from '../../src/store/store.js';
import { verifySealedRecords } from '../../src/store/verify-records.js';
import { runVerify } from '../helpers/cli.js';

const NAME = 'keys.test';
const ADMIN = 'sealed-keys-admin-token-0123456789';

interface Running {
  dir: string;
  deployment: Deployment;
  app: FastifyInstance;
  logs: string[];
}

const folders: string[] = [];
const open: Running[] = [];
afterEach(async () => {
  for (const running of open.splice(0)) await stop(running);
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Opens the folder (a new one by default) and builds the app on it, keeping what the server logs. */
async function start(dir = newFolder(), beforeApp?: (deployment: Deployment) => Promise<void>): Promise<Running> {
  const deployment = openDeployment({ dataDir: dir, name: NAME });
  await beforeApp?.(deployment);
  const logs: string[] = [];
  const app = await buildApp({
    store: deployment.store,
    suite: nodeSuite,
    verifierKey: deployment.verifierKey,
    adminToken: ADMIN,
    rateLimit: false,
    logger: { level: 'warn', stream: { write: (line: string) => void logs.push(line) } },
  });
  await app.ready();
  const running = { dir, deployment, app, logs };
  open.push(running);
  return running;
}

async function stop(running: Running): Promise<void> {
  const index = open.indexOf(running);
  if (index >= 0) open.splice(index, 1);
  await running.app.close();
  await running.deployment.store.close();
}

function newFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-keys-'));
  folders.push(dir);
  return dir;
}

function call(running: Running, method: 'GET' | 'POST' | 'DELETE', url: string, token = ADMIN, payload?: object) {
  return running.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
}

async function createKey(running: Running, body: object = { role: 'reader', ledgers: ['*'] }): Promise<{ id: string; token: string }> {
  const res = await call(running, 'POST', '/v1/keys', ADMIN, body);
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

/** What the attacker does: SQL on the live file from another connection, guards dropped where asked. */
function tamper(running: Running, sql: string, ...params: unknown[]): void {
  const db = new Database(running.deployment.databasePath);
  try {
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND (tbl_name = 'api_keys' OR tbl_name = 'legal_holds')").all() as Array<{ name: string }>) {
      db.exec(`DROP TRIGGER "${name}"`);
    }
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

function plantedKey(): { key: ApiKeyRecord; token: string } {
  const { id, token, secretHash } = newToken();
  const now = Date.now() * 1000;
  return { key: { id, role: 'admin', ledgers: ['*'], tenants: ['*'], description: 'planted', createdAtMicros: now, expiresAtMicros: null, revokedAtMicros: null, secretHash }, token };
}

function insertRow(running: Running, key: ApiKeyRecord): void {
  const db = new Database(running.deployment.databasePath);
  try {
    // A plain INSERT: no trigger guards it.
    db.prepare('INSERT INTO api_keys (id, secret_hash, role, ledgers, tenants, description, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      key.id,
      Buffer.from(key.secretHash),
      key.role,
      JSON.stringify(key.ledgers),
      JSON.stringify(key.tenants),
      key.description,
      key.createdAtMicros,
      key.expiresAtMicros,
      key.revokedAtMicros,
    );
  } finally {
    db.close();
  }
}

async function systemRecords(running: Running, action: string): Promise<Array<Record<string, unknown>>> {
  const out = [];
  for await (const entry of running.deployment.store.entries(SYSTEM_LEDGER, 0, Number.MAX_SAFE_INTEGER)) {
    const fields = Object.fromEntries(Object.entries(entry.disclosures).map(([path, [, value]]) => [path, value]));
    if (fields.action === action) out.push(fields);
  }
  return out;
}

async function verifyFails(running: Running, pattern: RegExp): Promise<void> {
  await assert.rejects(verifySealedRecords(running.deployment.store, SYSTEM_LEDGER, nodeSuite), (error: Error) => {
    assert.match(error.message, pattern);
    return true;
  });
}

/** The refusal of a tampered key must look exactly like that of an unknown token. */
async function expectRefused(running: Running, token: string): Promise<void> {
  const res = await call(running, 'GET', '/v1/ledgers', token);
  const unknown = await call(running, 'GET', '/v1/ledgers', `st_ffffffffffffffff.${'A'.repeat(43)}`);
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), unknown.json());
  assert.equal(res.headers['www-authenticate'], unknown.headers['www-authenticate']);
}

describe('API keys checked against their sealed records', () => {
  it('keys made through the API work, their records carry their state but no secret, and verify passes', async () => {
    const running = await start();
    const key = await createKey(running, { role: 'writer', ledgers: ['*'], tenants: ['acme'], expires_in_seconds: 3600 });
    assert.equal((await call(running, 'GET', '/v1/ledgers', key.token)).statusCode, 200);
    const revoked = await createKey(running);
    assert.equal((await call(running, 'DELETE', `/v1/keys/${revoked.id}`)).statusCode, 200);
    const [created] = (await systemRecords(running, 'key.create')).filter((r) => r['metadata.key_id'] === key.id);
    assert.equal(created!['metadata.key_role'], 'writer');
    assert.equal(created!['metadata.key_tenants'], 'acme');
    assert.equal(typeof created!['metadata.key_expires_at'], 'number');
    assert.doesNotMatch(JSON.stringify(await systemRecords(running, 'key.create')), new RegExp(key.token.split('.')[1]!));
    const [revocation] = await systemRecords(running, 'key.revoke');
    assert.equal(revocation!['metadata.key_id'], revoked.id);
    assert.deepEqual(await verifySealedRecords(running.deployment.store, SYSTEM_LEDGER, nodeSuite), { keys: 2, holds: 0, keysChecked: true });
  });

  it('a key row inserted into the SQLite file is refused, logged, recorded, and named by verify', async () => {
    const running = await start();
    const { key, token } = plantedKey();
    insertRow(running, key);
    await expectRefused(running, token);
    assert.ok(running.logs.some((line) => line.includes(key.id) && line.includes('no sealed record')), running.logs.join('\n'));
    const [mismatch] = await systemRecords(running, 'auth.key_mismatch');
    assert.deepEqual(mismatch!['targets.0'], { type: 'api_key', id: key.id });
    assert.equal(mismatch!.outcome, 'failure');
    await verifyFails(running, new RegExp(`API key ${key.id}: no sealed record`));
  });

  it('a key whose expiry was removed in the database is refused and named by verify', async () => {
    const running = await start();
    const key = await createKey(running, { role: 'reader', ledgers: ['*'], expires_in_seconds: 60 });
    assert.equal((await call(running, 'GET', '/v1/ledgers', key.token)).statusCode, 200);
    tamper(running, 'UPDATE api_keys SET expires_at = NULL WHERE id = ?', key.id);
    await expectRefused(running, key.token);
    await verifyFails(running, new RegExp(`API key ${key.id}: .*expires_at`));
  });

  it('a revoked key set active again in the database is refused and named by verify', async () => {
    const running = await start();
    const key = await createKey(running);
    assert.equal((await call(running, 'DELETE', `/v1/keys/${key.id}`)).statusCode, 200);
    tamper(running, 'UPDATE api_keys SET revoked_at = NULL WHERE id = ?', key.id);
    await expectRefused(running, key.token);
    await verifyFails(running, new RegExp(`API key ${key.id}: .*revoked_at`));
  });

  it('a key given another role or secret in the database is refused', async () => {
    const running = await start();
    const key = await createKey(running, { role: 'reader', ledgers: ['*'] });
    tamper(running, "UPDATE api_keys SET role = 'admin' WHERE id = ?", key.id);
    await expectRefused(running, key.token);
    const other = await createKey(running);
    const { token, secretHash } = newToken(other.id);
    tamper(running, 'UPDATE api_keys SET secret_hash = ? WHERE id = ?', Buffer.from(secretHash), other.id);
    await expectRefused(running, token);
    await verifyFails(running, new RegExp(`API key ${key.id}: .*role`));
  });

  it('a key sealed after the server started (another process) is read on its first use', async () => {
    const running = await start();
    const { key, token } = plantedKey();
    await running.deployment.store.createApiKey(key);
    await recordKeyCreation(running.deployment.store, key);
    assert.equal((await call(running, 'GET', '/v1/ledgers', token)).statusCode, 200);
  });

  it('keys from before the upgrade are attested once at start; a row planted later is refused, even after a restart', async () => {
    const dir = newFolder();
    const legacy = plantedKey();
    // An older server wrote rows without sealed states.
    let running = await start(dir, (deployment) => deployment.store.createApiKey(legacy.key));
    assert.equal((await call(running, 'GET', '/v1/ledgers', legacy.token)).statusCode, 200);
    assert.deepEqual((await systemRecords(running, 'key.attest')).map((r) => r['metadata.key_id']), [legacy.key.id]);
    assert.equal((await systemRecords(running, 'key.records.start')).length, 1);
    assert.ok(running.logs.some((line) => line.includes(legacy.key.id) && line.includes('trusts')), running.logs.join('\n'));
    await stop(running);

    const planted = plantedKey();
    running = await start(dir, (deployment) => deployment.store.createApiKey(planted.key));
    await expectRefused(running, planted.token);
    assert.equal((await call(running, 'GET', '/v1/ledgers', legacy.token)).statusCode, 200);
    assert.equal((await systemRecords(running, 'key.records.start')).length, 1, 'attested once only');
    await verifyFails(running, new RegExp(`API key ${planted.key.id}: no sealed record`));
  });

  it('verify does not judge the keys of a store no server with the check has started on, and says so', async () => {
    const deployment = openDeployment({ dataDir: newFolder(), name: NAME });
    try {
      await deployment.store.createApiKey(plantedKey().key);
      assert.deepEqual(await verifySealedRecords(deployment.store, SYSTEM_LEDGER, nodeSuite), { keys: 1, holds: 0, keysChecked: false });
    } finally {
      await deployment.store.close();
    }
  });

  it('a purged start record still counts: the next start seals it again and attests nothing', async () => {
    const dir = newFolder();
    let running = await start(dir);
    assert.equal((await call(running, 'GET', '/v1/ledgers')).statusCode, 200);
    await stop(running);
    const db = new Database(join(dir, 'sealtrail.db'));
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) db.exec(`DROP TRIGGER "${name}"`);
      const system = (db.prepare('SELECT ledger_id FROM ledgers WHERE name = ?').get(SYSTEM_LEDGER) as { ledger_id: number }).ledger_id;
      const rows = db.prepare('SELECT idx, disclosures FROM entries WHERE ledger_id = ?').all(system) as Array<{ idx: number; disclosures: string }>;
      const row = rows.find((r) => (JSON.parse(r.disclosures) as Disclosures).action?.[1] === 'key.records.start')!;
      // What a retention purge leaves: no values, every field marked purged, no search rows.
      const purged = Object.fromEntries(Object.keys(JSON.parse(row.disclosures) as Disclosures).map((path) => [path, 'purged']));
      db.prepare("UPDATE entries SET disclosures = '{}', redactions = ? WHERE ledger_id = ? AND idx = ?").run(JSON.stringify(purged), system, row.idx);
      db.prepare('DELETE FROM search_events WHERE ledger_id = ? AND idx = ?').run(system, row.idx);
    } finally {
      db.close();
    }
    const planted = plantedKey();
    running = await start(dir, (deployment) => deployment.store.createApiKey(planted.key));
    await expectRefused(running, planted.token);
    assert.equal((await systemRecords(running, 'key.attest')).length, 0);
    assert.equal((await systemRecords(running, 'key.records.start')).length, 1, 'sealed again');
    assert.ok(running.logs.some((line) => line.includes('was purged')), running.logs.join('\n'));
  });

  it('key states are sealed again after a week, so purging the old records loses no key', async () => {
    const dir = newFolder();
    let running = await start(dir);
    const key = await createKey(running);
    const revoked = await createKey(running);
    assert.equal((await call(running, 'DELETE', `/v1/keys/${revoked.id}`)).statusCode, 200);
    await stop(running);
    const weekLater = openDeployment({ dataDir: dir, name: NAME });
    const registry = new KeyRegistry(weekLater.store, nodeSuite, [parseVerifierKey(nodeSuite, weekLater.verifierKey)], { warn() {}, error() {} }, () => Date.now() + 8 * 24 * 3600_000);
    await registry.start();
    registry.stop();
    await weekLater.store.close();
    // What a purge of everything older than the reseal leaves of the original records.
    const db = new Database(join(dir, 'sealtrail.db'));
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) db.exec(`DROP TRIGGER "${name}"`);
      const system = (db.prepare('SELECT ledger_id FROM ledgers WHERE name = ?').get(SYSTEM_LEDGER) as { ledger_id: number }).ledger_id;
      for (const row of db.prepare('SELECT idx, disclosures FROM entries WHERE ledger_id = ?').all(system) as Array<{ idx: number; disclosures: string }>) {
        const fields = JSON.parse(row.disclosures) as Disclosures;
        if (fields['metadata.resealed'] || !['key.create', 'key.revoke', 'key.records.start'].includes(fields.action?.[1] as string)) continue;
        const purged = Object.fromEntries(Object.keys(fields).map((path) => [path, 'purged']));
        db.prepare("UPDATE entries SET disclosures = '{}', redactions = ? WHERE ledger_id = ? AND idx = ?").run(JSON.stringify(purged), system, row.idx);
        db.prepare('DELETE FROM search_events WHERE ledger_id = ? AND idx = ?').run(system, row.idx);
      }
    } finally {
      db.close();
    }
    running = await start(dir);
    assert.equal((await call(running, 'GET', '/v1/ledgers', key.token)).statusCode, 200);
    await expectRefused(running, revoked.token);
    assert.deepEqual(await verifySealedRecords(running.deployment.store, SYSTEM_LEDGER, nodeSuite), { keys: 2, holds: 0, keysChecked: true });
    assert.ok(!running.logs.some((line) => line.includes('was purged')), 'the start record was sealed again too');
  });

  it('a search index that hides the start record does not make the server attest a planted key', async () => {
    const dir = newFolder();
    let running = await start(dir);
    const [start_] = await systemRecords(running, 'key.records.start');
    assert.ok(start_);
    // A later record, so the index does not merely lag behind the entries (which the store repairs).
    assert.equal((await call(running, 'GET', '/v1/ledgers')).statusCode, 200);
    await stop(running);
    const planted = plantedKey();
    const db = new Database(join(dir, 'sealtrail.db'));
    // Hide the start record from the index (its rows are derived, unsealed, and unguarded).
    const system = db.prepare('SELECT ledger_id FROM ledgers WHERE name = ?').get(SYSTEM_LEDGER) as { ledger_id: number };
    const hidden = db.prepare('DELETE FROM search_events WHERE ledger_id = ? AND action = ?').run(system.ledger_id, 'key.records.start');
    assert.equal(hidden.changes, 1);
    db.close();
    running = await start(dir, (deployment) => deployment.store.createApiKey(planted.key));
    await expectRefused(running, planted.token);
    assert.equal((await systemRecords(running, 'key.records.start')).length, 1);
    assert.equal((await systemRecords(running, 'key.attest')).length, 0);
    assert.ok(running.logs.some((line) => line.includes('hides key records')), running.logs.join('\n'));
  });
});

describe('the key registry trusts only records in the signed tree', () => {
  it('a key record rewritten in place (leaf, hash and disclosures, consistent with each other) is ignored, loudly', async () => {
    const dir = newFolder();
    let running = await start(dir);
    const legit = await createKey(running);
    await stop(running);
    const planted = plantedKey();
    const db = new Database(join(dir, 'sealtrail.db'));
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) db.exec(`DROP TRIGGER "${name}"`);
      const system = (db.prepare('SELECT ledger_id FROM ledgers WHERE name = ?').get(SYSTEM_LEDGER) as { ledger_id: number }).ledger_id;
      const rows = db.prepare('SELECT idx, received_at, disclosures FROM entries WHERE ledger_id = ? ORDER BY idx').all(system) as Array<{ idx: number; received_at: number; disclosures: string }>;
      const row = rows.find((r) => (JSON.parse(r.disclosures) as Disclosures)['metadata.key_id']?.[1] === legit.id)!;
      // The legitimate key's creation record now describes the planted key: a well-formed entry that
      // only the Merkle tree under the signed checkpoint contradicts.
      const forged = sealEvent(
        nodeSuite,
        { ledger: SYSTEM_LEDGER, index: row.idx, receivedAtMicros: row.received_at, writer: 'sealtrail', event: keyCreationEvent(planted.key, { type: 'api_key', id: 'admin' }) },
        new SaltSource(nodeSuite),
      );
      db.prepare('UPDATE entries SET leaf = ?, leaf_hash = ?, disclosures = ? WHERE ledger_id = ? AND idx = ?').run(forged.leaf, forged.leafHash, JSON.stringify(forged.disclosures), system, row.idx);
    } finally {
      db.close();
    }
    running = await start(dir, (deployment) => deployment.store.createApiKey(planted.key));
    await expectRefused(running, planted.token);
    assert.ok(running.logs.some((line) => line.includes('not sealed as stored')), running.logs.join('\n'));
  });
});

describe('legal holds checked against their sealed records', () => {
  async function withHolds(): Promise<{ running: Running; active: string; released: string }> {
    const running = await start();
    const hold = async (owner: string) => {
      const res = await call(running, 'POST', '/v1/holds', ADMIN, { query: 'actor:alice', reason: 'case 26-1', owner });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id as string;
    };
    const active = await hold('legal@example.com');
    const released = await hold('counsel@example.com');
    assert.equal((await call(running, 'POST', `/v1/holds/${released}/release`, ADMIN, { reason: 'case closed' })).statusCode, 200);
    assert.deepEqual(await verifySealedRecords(running.deployment.store, SYSTEM_LEDGER, nodeSuite), { keys: 0, holds: 2, keysChecked: true });
    return { running, active, released };
  }

  it('a deleted hold fails verify naming it', async () => {
    const { running, active } = await withHolds();
    tamper(running, 'DELETE FROM legal_holds WHERE id = ?', active);
    await verifyFails(running, new RegExp(`legal hold ${active}: sealed, but its row is missing`));
  });

  it('a released hold set active again fails verify naming it', async () => {
    const { running, released } = await withHolds();
    tamper(running, 'UPDATE legal_holds SET released_at = NULL, released_by = NULL, release_reason = NULL WHERE id = ?', released);
    await verifyFails(running, new RegExp(`legal hold ${released}: .*release state`));
  });

  it('an active hold released in the database, or its query or ledgers narrowed, fails verify', async () => {
    const { running, active } = await withHolds();
    tamper(running, "UPDATE legal_holds SET released_at = 1, released_by = 'x', release_reason = 'x' WHERE id = ?", active);
    await verifyFails(running, new RegExp(`legal hold ${active}: .*release state`));
    tamper(running, 'UPDATE legal_holds SET released_at = NULL, released_by = NULL, release_reason = NULL WHERE id = ?', active);
    await verifySealedRecords(running.deployment.store, SYSTEM_LEDGER, nodeSuite);
    tamper(running, "UPDATE legal_holds SET query = 'actor:nobody' WHERE id = ?", active);
    await verifyFails(running, new RegExp(`legal hold ${active}: .*query`));
    tamper(running, "UPDATE legal_holds SET query = 'actor:alice', ledgers = '[\"other\"]' WHERE id = ?", active);
    await verifyFails(running, new RegExp(`legal hold ${active}: .*ledgers`));
  });

  it('a hold row inserted into the database fails verify naming it', async () => {
    const { running } = await withHolds();
    tamper(running, "INSERT INTO legal_holds (id, ledgers, query, reason, owner, created_at, created_by) VALUES ('hold_planted', '[\"*\"]', '', 'x', 'x', 1, 'admin')");
    await verifyFails(running, /legal hold hold_planted: no sealed record/);
  });
});

describe('sealtrail verify', () => {
  it('reports keys and holds matching their records, and fails naming a planted key', async () => {
    const running = await start();
    await createKey(running);
    assert.equal((await call(running, 'POST', '/v1/holds', ADMIN, { reason: 'case 26-2', owner: 'legal@example.com' })).statusCode, 201);
    const { key } = plantedKey();
    await stop(running);
    const ok = await runVerify(['--data', running.dir]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /ok {2}1 API key and 1 legal hold match their sealed records/);
    insertRow(running, key);
    const failed = await runVerify(['--data', running.dir]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, new RegExp(`FAILED API key ${key.id}: no sealed record`));
  });
});
