import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { migrate, PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/schema.js';
import { StoreError } from '../../src/store/store.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { sampleEvent } from '../helpers/events.js';
import { runStoreConformance, type StoreHarness } from './conformance.js';
import { runRetentionConformance } from './retention-conformance.js';
import { runRollupConformance, type RollupHarness } from './rollup-conformance.js';

const unavailable = await postgresUnavailable();
const name = 'conformance.test';

if (unavailable) {
  describe('store conformance: postgres', () => {
    it('needs a PostgreSQL server', { skip: unavailable }, () => {});
  });
} else {
  const postgresHarness = async (): Promise<StoreHarness & { fixture: PostgresFixture }> => {
    const fixture = await createPostgresFixture(name);
    const signer = portableSigner(nodeSuite.randomBytes(32));
    return {
      fixture,
      suite: nodeSuite,
      signer,
      name,
      open: (options = {}) => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name, ...options }),
      destroy: () => fixture.drop(),
    };
  };
  runStoreConformance('postgres', postgresHarness);
  runRetentionConformance('postgres', postgresHarness);
  runRollupConformance('postgres', async (): Promise<RollupHarness> => {
    const harness = await postgresHarness();
    const { fixture } = harness;
    const asOwner = async (work: (client: pg.Client) => Promise<unknown>) => {
      const admin = new pg.Client({ connectionString: fixture.adminUrl });
      await admin.connect();
      try {
        await admin.query(`SET search_path TO "${fixture.schema}"`);
        await work(admin);
      } finally {
        await admin.end();
      }
    };
    return {
      ...harness,
      ownerSql: (sql) => asOwner((client) => client.query(sql)),
      toPreviousSchema: () =>
        asOwner((client) => client.query(`DROP TABLE search_hourly; UPDATE meta SET value = '${PG_MIGRATIONS.length - 1}' WHERE key = 'schema_version'`)),
      // As `sealtrail db setup` does: the owner role migrates; the service role is granted the new table by the migration.
      upgradeSchema: () => asOwner((client) => migrate(client, fixture.schema, fixture.ownerRole)),
    };
  });

  describe('postgres: append-only in the database', () => {
    let fixture: PostgresFixture;
    let store: PostgresStore;
    const signer = portableSigner(nodeSuite.randomBytes(32));

    before(async () => {
      fixture = await createPostgresFixture(name);
      store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name });
      await store.createLedger('audit');
      await store.append('audit', Array.from({ length: 300 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await store.append('audit', [{ event: sampleEvent(1), writer: 'w', idempotencyKey: 'k' }]);
    });
    after(async () => {
      await store.close();
      await fixture.drop();
    });

    const tables = ['ledgers', 'entries', 'tree_hashes', 'checkpoints', 'idempotency_keys'];
    // A column each that an UPDATE may name (ledgers.ledger_id is an identity column, never updatable).
    const column = (table: string) => (table === 'ledgers' ? 'name' : 'ledger_id');
    // entries may lose disclosures (retention), so its trigger judges the change: alter a sealed column.
    const change = (table: string) => (table === 'entries' ? 'received_at = received_at + 1' : `${column(table)} = ${column(table)}`);

    it('denies the service role UPDATE, DELETE and TRUNCATE on every sealed table', async () => {
      for (const table of tables) {
        for (const sql of [`UPDATE ${table} SET ${column(table)} = ${column(table)}`, `DELETE FROM ${table}`, `TRUNCATE ${table}`]) {
          // Since schema 9 the service role may delete raw keys of before (to convert them): the trigger refuses hashed ones.
          const refusal = table === 'idempotency_keys' && sql.startsWith('DELETE') ? /append-only/ : /permission denied/;
          await assert.rejects(store.pool.query(sql), refusal, sql);
        }
      }
      await assert.rejects(store.pool.query(`UPDATE api_keys SET role = 'admin'`), /permission denied/);
      await assert.rejects(store.pool.query('DELETE FROM api_keys'), /permission denied/);
    });

    it('rejects changes even from the owner, through triggers', async () => {
      const admin = new pg.Client({ connectionString: fixture.adminUrl });
      await admin.connect();
      try {
        await admin.query(`SET search_path TO "${fixture.schema}"`);
        for (const table of tables) {
          await assert.rejects(admin.query(`UPDATE ${table} SET ${change(table)}`), /append-only/, table);
          await assert.rejects(admin.query(`DELETE FROM ${table}`), /append-only/, table);
          await assert.rejects(admin.query(`TRUNCATE ${table} CASCADE`), /append-only/, table);
        }
        const before = await admin.query('SELECT count(*)::int AS n FROM entries');
        assert.equal(before.rows[0].n, 301);
      } finally {
        await admin.end();
      }
    });

    it('lets the service role revoke a key once and change nothing else about it', async () => {
      await store.createApiKey({
        id: 'k1k1k1k1',
        role: 'reader',
        ledgers: ['audit'],
        tenants: ['*'],
        description: '',
        createdAtMicros: 1,
        expiresAtMicros: null,
        revokedAtMicros: null,
        secretHash: new Uint8Array(32),
      });
      assert.equal(await store.revokeApiKey('k1k1k1k1', 7), true);
      await assert.rejects(store.pool.query(`UPDATE api_keys SET revoked_at = 8 WHERE id = 'k1k1k1k1'`), /only be revoked/);
    });

    it('refuses a database with a newer schema, or none, with a clear message', async () => {
      const admin = new pg.Client({ connectionString: fixture.adminUrl });
      await admin.connect();
      try {
        await admin.query(`UPDATE "${fixture.schema}".meta SET value = $1 WHERE key = 'schema_version'`, [String(PG_MIGRATIONS.length + 1)]);
        await assert.rejects(
          PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name }),
          (e) => e instanceof StoreError && e.code === 'SCHEMA_TOO_NEW' && /upgrade sealtrail/.test(e.message),
        );
        await admin.query(`UPDATE "${fixture.schema}".meta SET value = $1 WHERE key = 'schema_version'`, [String(PG_MIGRATIONS.length)]);
      } finally {
        await admin.end();
      }
      await assert.rejects(
        PostgresStore.open({ url: fixture.serviceUrl, schema: 'st_missing_schema', suite: nodeSuite, signer, name }),
        /sealtrail db setup/,
      );
      // A role that owns the database (here the administrator) creates and migrates the schema on open.
      const ownSchema = `st_own_${Date.now().toString(36)}`;
      const own = await PostgresStore.open({ url: fixture.adminUrl, schema: ownSchema, suite: nodeSuite, signer, name });
      await own.createLedger('x');
      assert.equal((await own.append('x', [{ event: sampleEvent(1), writer: 'w' }]))[0]!.index, 0);
      await own.pool.query(`DROP SCHEMA "${ownSchema}" CASCADE`);
      await own.close();
      await assert.rejects(
        PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: 'other.name' }),
        /belongs to deployment "conformance.test"/,
      );
    });
  });
}
