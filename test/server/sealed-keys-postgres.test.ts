/**
 * API keys and legal holds checked against their sealed records, on PostgreSQL (issue 19): the service
 * role may INSERT into api_keys, so whoever holds its password can mint a key; a DBA can delete a hold
 * with its triggers disabled. Two apps on one schema stand for two server processes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { newToken } from '../../src/server/auth.js';
import { openPostgresDeployment, type PostgresDeployment } from '../../src/server/deployment.js';
import { verifySealedRecords } from '../../src/store/verify-records.js';
import { runVerify } from '../helpers/cli.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';

const NAME = 'pgkeys.test';
const ADMIN = 'sealed-keys-pg-admin-token-0123456789';
const unavailable = await postgresUnavailable();

describe('API keys and holds against their sealed records on PostgreSQL', { skip: unavailable }, () => {
  let fixture: PostgresFixture;
  let dataDir: string;
  const deployments: PostgresDeployment[] = [];
  const apps: FastifyInstance[] = [];

  async function startProcess(): Promise<FastifyInstance> {
    const deployment = await openPostgresDeployment({ dataDir, name: NAME, databaseUrl: fixture.serviceUrl, schema: fixture.schema });
    deployments.push(deployment);
    const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN, rateLimit: false });
    await app.ready();
    apps.push(app);
    return app;
  }

  const call = (app: FastifyInstance, method: 'GET' | 'POST', url: string, token = ADMIN, payload?: object) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  async function sql(url: string, text: string, params: unknown[] = []): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${fixture.schema}"`);
      await client.query(text, params);
    } finally {
      await client.end();
    }
  }

  before(async () => {
    fixture = await createPostgresFixture(NAME);
    dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-pgkeys-'));
  });

  after(async () => {
    try {
      for (const app of apps) await app.close();
      for (const deployment of deployments) await deployment.store.close();
    } finally {
      await fixture?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a key made by one process works at once on another; a key the service role inserted is refused by both and named by verify', async () => {
    const a = await startProcess();
    const b = await startProcess();
    const created = await call(a, 'POST', '/v1/keys', ADMIN, { role: 'reader', ledgers: ['*'] });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await call(b, 'GET', '/v1/ledgers', created.json().token)).statusCode, 200, 'B reads the new record on first use');

    const { id, token, secretHash } = newToken();
    await sql(
      fixture.serviceUrl,
      'INSERT INTO api_keys (id, secret_hash, role, ledgers, tenants, description, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)',
      [id, Buffer.from(secretHash), 'admin', '["*"]', '["*"]', 'minted by the service role', Date.now() * 1000],
    );
    for (const app of [a, b]) {
      const res = await call(app, 'GET', '/v1/ledgers', token);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'UNAUTHENTICATED');
    }
    await assert.rejects(verifySealedRecords(deployments[0]!.store, SYSTEM_LEDGER, nodeSuite), new RegExp(`API key ${id}: no sealed record`));
    const result = await runVerify(['--database-url', fixture.serviceUrl, '--database-schema', fixture.schema, '--key', deployments[0]!.verifierKey, '--data', dataDir]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`FAILED API key ${id}: no sealed record`));
  });

  it('a legal hold deleted by a DBA (triggers disabled) fails verify naming it', async () => {
    const app = apps[0]!;
    const res = await call(app, 'POST', '/v1/holds', ADMIN, { reason: 'case 26-3', owner: 'legal@example.com' });
    assert.equal(res.statusCode, 201, res.body);
    const hold = res.json().id as string;
    // Only the planted key of the first case fails so far; take it out of the way as its owner would.
    await sql(fixture.adminUrl, "ALTER TABLE api_keys DISABLE TRIGGER USER; DELETE FROM api_keys WHERE description = 'minted by the service role'; ALTER TABLE api_keys ENABLE TRIGGER USER");
    await verifySealedRecords(deployments[0]!.store, SYSTEM_LEDGER, nodeSuite);
    await sql(fixture.adminUrl, 'ALTER TABLE legal_holds DISABLE TRIGGER USER');
    await sql(fixture.adminUrl, 'DELETE FROM legal_holds WHERE id = $1', [hold]);
    await sql(fixture.adminUrl, 'ALTER TABLE legal_holds ENABLE TRIGGER USER');
    await assert.rejects(verifySealedRecords(deployments[0]!.store, SYSTEM_LEDGER, nodeSuite), new RegExp(`legal hold ${hold}: sealed, but its row is missing`));
  });
});
