/**
 * Issue 19, high: a forged erasure. Whoever can write the database (the PostgreSQL service role; anyone
 * with the SQLite file) removes a field's value and marks it erased or purged, so that the evidence of
 * what they did disappears while verification still passes. Every redaction must now be named by a
 * sealed forgetting record in the system ledger: the database refuses one that is not, and
 * verification fails naming the entry and field when the database's guard was bypassed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { portableSigner } from '../../src/core/crypto.js';
import { FORGET_ACTION, SYSTEM_LEDGER } from '../../src/core/forgetting.js';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';
import { forgetSealed } from '../helpers/forget.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';

const signer = portableSigner(nodeSuite.randomBytes(32));
const name = 'forged.test';
const verifiers = [parseVerifierKey(nodeSuite, formatVerifierKey(nodeSuite, name, signer.publicKey))];
const verify = (store: Store, ledger = 'l') => verifyWithSystemLedger(store, ledger, { suite: nodeSuite, verifiers });

/** The review's statement, as SQL for each store: drop actor.id and outcome of entry 5, call it an erasure. */
const FORGED = {
  sqlite: `UPDATE entries SET disclosures = json_remove(disclosures, '$."actor.id"', '$.outcome'),
             redactions = '{"actor.id":"erased","outcome":"purged"}' WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'l') AND idx = 5`,
  postgres: `UPDATE entries SET disclosures = ((disclosures::jsonb) - 'actor.id' - 'outcome')::text,
             redactions = '{"actor.id":"erased","outcome":"purged"}' WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'l') AND idx = 5`,
};

async function seed(store: Store): Promise<number> {
  await store.createLedger('l');
  await store.append('l', Array.from({ length: 12 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
  // A real erasure of entry 3's actor.name, so that a genuine record exists to be misused.
  await forgetSealed(store, 'l', [{ index: 3, paths: ['actor.name'], reason: 'erased' }]);
  const system = await store.getLedger(SYSTEM_LEDGER);
  assert.ok(system, 'the forgetting record went to the system ledger');
  const record = await store.getEntry(SYSTEM_LEDGER, system.size - 1);
  assert.equal(record?.disclosures.action?.[1], FORGET_ACTION);
  assert.deepEqual((record?.disclosures['metadata.forget']?.[1] as { ranges: unknown }).ranges, [[3, 3, ['actor.name']]]);
  return system.size - 1;
}

describe('forged erasures (sqlite)', () => {
  let dir: string;
  let store: SqliteStore;
  let record: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-forged-'));
    store = new SqliteStore({ path: join(dir, 'db'), suite: nodeSuite, signer, name });
    record = await seed(store);
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a genuine erasure verifies, each removal named by its sealed record', async () => {
    const result = await verify(store);
    assert.equal(result.redactedFields, 1);
    assert.equal(result.legacyRedactedFields, 0);
  });

  it('the database refuses a redaction that cites no record, or a record that does not name it', () => {
    assert.throws(() => store.db.exec(FORGED.sqlite), /needs a sealed forgetting record/);
    // Citing the genuine record of entry 3 for entry 5 …
    assert.throws(() => store.db.exec(FORGED.sqlite.replace('WHERE', `, forgotten_by = ${record} WHERE`)), /needs a sealed forgetting record/);
    // … or for entry 3's other fields, or with another reason.
    const entry3 = (sql: string) => store.db.exec(`UPDATE entries SET ${sql}, forgotten_by = ${record} WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = 'l') AND idx = 3`);
    assert.throws(() => entry3(`disclosures = json_remove(disclosures, '$.outcome'), redactions = json_set(redactions, '$.outcome', 'erased')`), /needs a sealed/);
    assert.throws(() => entry3(`disclosures = json_remove(disclosures, '$."actor.id"'), redactions = json_set(redactions, '$."actor.id"', 'purged')`), /needs a sealed/);
  });

  it('forgetting records themselves are never forgotten', async () => {
    assert.throws(
      () => store.db.exec(`UPDATE entries SET disclosures = json_remove(disclosures, '$."metadata.forget"'), redactions = '{"metadata.forget":"erased"}'
                            WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = '${SYSTEM_LEDGER}') AND idx = ${record}`),
      /never forgotten/,
    );
    // Nor through the narrow path: a purge of the whole system ledger passes over them.
    const system = (await store.getLedger(SYSTEM_LEDGER))!;
    const all = Array.from({ length: system.size }, (_, index) => ({ index, paths: '*' as const, reason: 'purged' as const }));
    const result = await store.forget(SYSTEM_LEDGER, all, { dryRun: true });
    assert.ok(!result.changed.includes(record));
  });

  it('with the triggers dropped, verify names the entry and field of the forged redaction', async () => {
    store.db.exec('SAVEPOINT forged');
    try {
      store.db.exec('DROP TRIGGER entries_forget_authorised');
      store.db.exec(FORGED.sqlite);
      await assert.rejects(verify(store), (error: Error & { details?: Record<string, unknown> }) => {
        assert.match(error.message, /l: entry 5, field actor\.id: recorded as erased, but no sealed forgetting record/);
        assert.equal(error.details?.index, 5);
        assert.equal(error.details?.field, 'actor.id');
        return true;
      });
    } finally {
      store.db.exec('ROLLBACK TO forged; RELEASE forged');
    }
    await verify(store);
  });

  it('with the triggers dropped, a record that lost its grant fails verification of the system ledger', async () => {
    store.db.exec('SAVEPOINT lost');
    try {
      store.db.exec('DROP TRIGGER entries_forget_records_kept; DROP TRIGGER entries_forget_authorised');
      store.db.exec(`UPDATE entries SET disclosures = json_remove(disclosures, '$."metadata.forget"'), redactions = '{"metadata.forget":"purged"}'
                      WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = '${SYSTEM_LEDGER}') AND idx = ${record}`);
      await assert.rejects(verify(store, SYSTEM_LEDGER), new RegExp(`${SYSTEM_LEDGER}: entry ${record}, field metadata.forget: a forgetting record lost its grant`));
    } finally {
      store.db.exec('ROLLBACK TO lost; RELEASE lost');
    }
  });
});

const unavailable = await postgresUnavailable();
describe('forged erasures (postgres)', { skip: unavailable }, () => {
  let fixture: PostgresFixture;
  let store: PostgresStore;
  let record: number;
  before(async () => {
    fixture = await createPostgresFixture(name);
    store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name });
    record = await seed(store);
  });
  after(async () => {
    await store?.close();
    await fixture?.drop();
  });

  it("refuses the review's statement from the service role, with or without a cited record", async () => {
    await assert.rejects(store.pool.query(FORGED.postgres), /needs a sealed forgetting record/);
    await assert.rejects(store.pool.query(FORGED.postgres.replace('WHERE', `, forgotten_by = ${record} WHERE`)), /redaction of (actor\.id|outcome) in entry 5 needs a sealed/);
    await assert.rejects(
      store.pool.query(`UPDATE entries SET disclosures = ((disclosures::jsonb) - 'metadata.forget')::text, redactions = '{"metadata.forget":"erased"}'
                         WHERE ledger_id = (SELECT ledger_id FROM ledgers WHERE name = '${SYSTEM_LEDGER}') AND idx = ${record}`),
      /never forgotten/,
    );
    const result = await verify(store);
    assert.equal(result.redactedFields, 1);
  });

  it('when the owner disables the guard, verify names the entry and field', async () => {
    const admin = new pg.Client({ connectionString: fixture.adminUrl });
    await admin.connect();
    try {
      await admin.query(`SET search_path TO "${fixture.schema}"`);
      await admin.query('ALTER TABLE entries DISABLE TRIGGER entries_forget_authorised');
      await admin.query(FORGED.postgres);
      await assert.rejects(verify(store), /l: entry 5, field actor\.id: recorded as erased, but no sealed forgetting record/);
    } finally {
      await admin.end();
    }
  });
});

describe('records verification depends on are never purged', () => {
  it('passes over legal-hold and forgetting records in a purge of the system ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-forged-'));
    const store = new SqliteStore({ path: join(dir, 'db'), suite: nodeSuite, signer, name });
    try {
      await store.createLedger(SYSTEM_LEDGER);
      const record = (action: string) => ({ event: { ...sampleEvent(1), action, category: 'admin' as const }, writer: 'sealtrail' });
      await store.append(SYSTEM_LEDGER, [record('legal_hold.create'), record('legal_hold.release'), record('event.search')]);
      const all = [0, 1, 2].map((index) => ({ index, paths: '*' as const, reason: 'purged' as const }));
      const result = await forgetSealed(store, SYSTEM_LEDGER, all);
      assert.deepEqual(result.changed, [2], 'only the access record went');
      assert.deepEqual((await store.getEntry(SYSTEM_LEDGER, 0))?.redactions, undefined);
      await verify(store, SYSTEM_LEDGER);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
