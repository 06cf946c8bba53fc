/**
 * The narrow forgetting path is enforced by the database itself, and verification after forgetting
 * still catches tampering with what remains.
 */
import { after, before, describe, it } from 'node:test';
import { forgetSealed } from '../helpers/forget.js';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { portableSigner } from '../../src/core/crypto.js';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { sampleEvent } from '../helpers/events.js';

const signer = portableSigner(nodeSuite.randomBytes(32));
const name = 'forget.test';
const verifiers = [parseVerifierKey(nodeSuite, formatVerifierKey(nodeSuite, name, signer.publicKey))];
const writer = 'w';

/** Direct UPDATEs a bug or an operator might try, each of which must be refused. */
const forbidden: Array<[string, (d: Record<string, [string, unknown]>, r: Record<string, string> | null) => [object, object | null]]> = [
  ['change a disclosed value', (d, r) => [{ ...d, action: [d.action![0], 'file.delete'] }, r]],
  ['add a disclosure', (d, r) => [{ ...d, 'metadata.new': ['AAAAAAAAAAAAAAAAAAAAAAAA', 1] }, r]],
  ['remove a value without recording it', (d, r) => [Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'tenant')), r]],
  ['withdraw a redaction', (d) => [d, {}]],
  ['change a redaction reason', (d) => [d, { 'actor.name': 'purged' }]],
];

describe('forgetting is the only change the database allows (sqlite)', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-forget-'));
    store = new SqliteStore({ path: join(dir, 'db'), suite: nodeSuite, signer, name });
    await store.createLedger('l');
    await store.append('l', Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(i), writer })));
    await forgetSealed(store, 'l', [{ index: 3, paths: ['actor.name'], reason: 'erased' }]);
    await addPolicyAndHold(store);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses every other change to an entry', () => {
    const row = store.db.prepare<[], { disclosures: string; redactions: string | null }>('SELECT disclosures, redactions FROM entries WHERE ledger_id = 1 AND idx = 3').get()!;
    for (const [what, change] of forbidden) {
      const [d, r] = change(JSON.parse(row.disclosures), row.redactions ? JSON.parse(row.redactions) : null);
      assert.throws(
        () => store.db.prepare('UPDATE entries SET disclosures = ?, redactions = ? WHERE ledger_id = 1 AND idx = 3').run(JSON.stringify(d), r && JSON.stringify(r)),
        /may only forget/,
        what,
      );
    }
    assert.throws(() => store.db.prepare('UPDATE entries SET received_at = received_at + 1 WHERE idx = 3').run(), /append-only/);
    assert.throws(() => store.db.prepare('UPDATE entries SET leaf = leaf WHERE idx = 3').run(), /append-only/);
    assert.throws(() => store.db.prepare('DELETE FROM entries WHERE idx = 3').run(), /append-only/);
    assert.throws(() => store.db.prepare("UPDATE retention_policies SET policy = '{}'").run(), /append-only/);
    assert.throws(() => store.db.prepare("UPDATE legal_holds SET reason = 'x'").run(), /only be released/);
    assert.throws(() => store.db.prepare("UPDATE legal_holds SET released_at = 3, release_reason = 'again'").run(), /already released/);
    assert.throws(() => store.db.prepare('DELETE FROM legal_holds').run(), /never deleted/);
  });

  it('verify passes after forgetting and fails on tampering with what remains', async () => {
    await forgetSealed(store, 'l', [{ index: 5, paths: '*', reason: 'purged' }]);
    await verifyWithSystemLedger(store, 'l', { suite: nodeSuite, verifiers });
    // An attacker with the file drops the triggers and edits what is left.
    store.db.exec('DROP TRIGGER entries_forget_only; DROP TRIGGER entries_forget_authorised');
    const tamper = async (sql: string, expected: RegExp) => {
      store.db.exec('SAVEPOINT t');
      store.db.exec(sql);
      await assert.rejects(verifyWithSystemLedger(store, 'l', { suite: nodeSuite, verifiers }), expected, sql);
      store.db.exec('ROLLBACK TO t; RELEASE t');
    };
    // A remaining value changed.
    await tamper(`UPDATE entries SET disclosures = json_set(disclosures, '$.action[1]', 'file.delete') WHERE idx = 3`, /entry 3, field action/);
    // A value silently dropped, with no erasure recorded.
    await tamper(`UPDATE entries SET disclosures = json_remove(disclosures, '$.tenant') WHERE idx = 4`, /entry 4, field tenant: .*no erasure or purge is recorded/);
    // A redaction claimed for a value that is still there.
    await tamper(`UPDATE entries SET redactions = json_object('tenant', 'erased') WHERE idx = 6`, /entry 6, field tenant: .*recorded as erased, but its value is still stored/);
    // A purged entry given back a forged value.
    await tamper(
      `UPDATE entries SET disclosures = json_object('action', json_array('AAAAAAAAAAAAAAAAAAAAAAAA', 'file.read')), redactions = json_remove(redactions, '$.action') WHERE idx = 5`,
      /entry 5, field action/,
    );
    await verifyWithSystemLedger(store, 'l', { suite: nodeSuite, verifiers });
  });
});

async function addPolicyAndHold(store: SqliteStore | PostgresStore): Promise<void> {
  await store.putRetentionPolicy('{"rules":[]}', 'admin', 1);
  await store.createLegalHold({
    id: 'hold_1',
    ledgers: ['*'],
    query: '',
    reason: 'r',
    owner: 'o',
    createdAtMicros: 1,
    createdBy: 'admin',
    releasedAtMicros: null,
    releasedBy: null,
    releaseReason: null,
  });
  await store.releaseLegalHold('hold_1', 'admin', 2, 'done');
}

const unavailable = await postgresUnavailable();
describe('forgetting is the only change the database allows (postgres)', { skip: unavailable }, () => {
  let fixture: PostgresFixture;
  let store: PostgresStore;
  before(async () => {
    fixture = await createPostgresFixture(name);
    store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name });
    await store.createLedger('l');
    await store.append('l', Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(i), writer })));
    await forgetSealed(store, 'l', [{ index: 3, paths: ['actor.name'], reason: 'erased' }]);
    await addPolicyAndHold(store);
  });
  after(async () => {
    await store?.close();
    await fixture?.drop();
  });

  it('refuses every other change, from the service role and the owner alike', async () => {
    const admin = new pg.Client({ connectionString: fixture.adminUrl });
    await admin.connect();
    try {
      await admin.query(`SET search_path TO "${fixture.schema}"`);
      const row = (await store.pool.query('SELECT disclosures, redactions FROM entries WHERE idx = 3')).rows[0] as { disclosures: string; redactions: string | null };
      for (const [what, change] of forbidden) {
        const [d, r] = change(JSON.parse(row.disclosures), row.redactions ? JSON.parse(row.redactions) : null);
        for (const db of [store.pool, admin]) {
          await assert.rejects(db.query('UPDATE entries SET disclosures = $1, redactions = $2 WHERE idx = 3', [JSON.stringify(d), r && JSON.stringify(r)]), /may only forget/, what);
        }
      }
      await assert.rejects(store.pool.query('UPDATE entries SET leaf = leaf'), /permission denied/);
      await assert.rejects(admin.query('UPDATE entries SET received_at = received_at + 1'), /append-only/);
      await assert.rejects(store.pool.query('DELETE FROM entries'), /permission denied/);
      await assert.rejects(store.pool.query("UPDATE legal_holds SET reason = 'x'"), /permission denied/);
      await assert.rejects(admin.query("UPDATE retention_policies SET policy = '{}'"), /append-only/);
      await assert.rejects(store.pool.query("UPDATE legal_holds SET released_at = 3, release_reason = 'again'"), /only be released/);
      await assert.rejects(admin.query('DELETE FROM legal_holds'), /append-only/);
    } finally {
      await admin.end();
    }
    await verifyWithSystemLedger(store, 'l', { suite: nodeSuite, verifiers });
  });
});
