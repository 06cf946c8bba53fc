/**
 * PostgreSQL onboarding as a new user meets it (issue 18): `db setup` on a database that does not exist,
 * `db migrate` after a setup with a custom owner role, and clear one-line errors, never a stack trace,
 * for a bad URL, a failed login, a missing schema or a role without the privilege.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDeployment } from '../../src/server/deployment.js';
import { ADMIN_URL, createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const skip = await postgresUnavailable();

function urlFor(database: string, user?: string, password?: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (user !== undefined) url.username = user;
  if (password !== undefined) url.password = password;
  return url.toString();
}

/** No stack frames: the user gets a sentence, not `    at parseErrorMessage (...)`. */
function assertNoStack(result: CliResult): void {
  assert.doesNotMatch(result.stderr, /^\s+at /m, result.stderr);
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('sealtrail db', { skip }, () => {
  const suffix = randomBytes(4).toString('hex');
  // A hyphen and capitals: the name only works if CREATE DATABASE quotes it.
  const database = `st-Onboard-${suffix}`;
  const schema = `st_onboard_${suffix}`;
  const ownerRole = `st_onboard_owner_${suffix}`;
  const serviceRole = `st_onboard_service_${suffix}`;
  const weakRole = `st_onboard_weak_${suffix}`;

  after(async () => {
    await admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      for (const role of [serviceRole, ownerRole, weakRole]) {
        await client.query(`DROP OWNED BY "${role}"`).catch(() => {});
        await client.query(`DROP ROLE IF EXISTS "${role}"`);
      }
    });
  });

  it('setup creates a database that does not exist, and migrate finds the custom owner role itself', async () => {
    const setup = await runCli(['db', 'setup', '--admin-url', urlFor(database), '--schema', schema, '--owner-role', ownerRole, '--service-role', serviceRole]);
    assert.equal(setup.code, 0, setup.stderr);
    assert.match(setup.stdout, new RegExp(`created database "${database}"`));
    const owner = await admin((c) => c.query('SELECT pg_get_userbyid(d.datdba) AS owner FROM pg_database d WHERE datname = $1', [database]));
    assert.equal(owner.rowCount, 1);

    // No --owner-role: before, this tried the default sealtrail_owner and printed a stack trace.
    const migrated = await runCli(['db', 'migrate', '--admin-url', urlFor(database), '--schema', schema]);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, new RegExp(`owner ${ownerRole}\\) is at version \\d+`));

    const wrongOwner = await runCli(['db', 'migrate', '--admin-url', urlFor(database), '--schema', schema, '--owner-role', 'sealtrail_owner']);
    assert.equal(wrongOwner.code, 1);
    assert.match(wrongOwner.stderr, new RegExp(`owned by role "${ownerRole}", not "sealtrail_owner"`));
    assertNoStack(wrongOwner);
  });

  it("says exactly what to run when the administrator may not create the database", async () => {
    await admin((c) => c.query(`CREATE ROLE "${weakRole}" LOGIN NOCREATEDB NOCREATEROLE`));
    const missing = `st-missing-${suffix}`;
    const result = await runCli(['db', 'setup', '--admin-url', urlFor(missing, weakRole), '--schema', schema, '--owner-role', ownerRole, '--service-role', serviceRole]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`database "${missing}" does not exist .*CREATE DATABASE "${missing}";`));
    assertNoStack(result);
    const exists = await admin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [missing]));
    assert.equal(exists.rowCount, 0);
  });

  it('migrate on a schema setup never made says to run setup', async () => {
    const result = await runCli(['db', 'migrate', '--admin-url', ADMIN_URL, '--schema', `st_never_${suffix}`]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /has no schema "st_never_[0-9a-f]+": run `sealtrail db setup` first/);
    assertNoStack(result);
  });

  it('a failed login is one line naming the cause, without the password', async () => {
    const result = await runCli(['db', 'migrate', '--admin-url', urlFor('test', `st_nobody_${suffix}`, 'hunter2-secret')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /PostgreSQL refused: .*(does not exist|authentication failed).*\[SQLSTATE 28(000|P01)\]; check the user name/);
    assert.doesNotMatch(result.stderr + result.stdout, /hunter2-secret/);
    assertNoStack(result);
  });

  it('a connection string that is not a postgres:// URL is a usage error, before connecting', async () => {
    for (const bad of ['not a url', 'postgres://postgres:pw@127.0.0.1:notaport/test', 'http://127.0.0.1/test']) {
      const result = await runCli(['db', 'migrate', '--admin-url', bad]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /--admin-url (is not a URL|must start with postgres:\/\/)/);
      assertNoStack(result);
    }
  });

  it('the migrate usage line shows --schema and --owner-role', async () => {
    const help = await runCli(['db', '--help']);
    assert.match(help.stdout, /db migrate --admin-url URL \[--schema S\] \[--owner-role R\]/);
    assert.match(help.stdout, /cluster-wide/);
  });
});

describe('sealtrail verify --database-url: where the verifier key comes from', { skip }, () => {
  let fixture: PostgresFixture;
  let otherDeployment: string;
  let empty: string;
  before(async () => {
    fixture = await createPostgresFixture('audit.onboarding.test');
    empty = mkdtempSync(join(tmpdir(), 'sealtrail-verify-empty-'));
    // The quick start's folder: another deployment's name and signing key.
    otherDeployment = mkdtempSync(join(tmpdir(), 'sealtrail-verify-other-'));
    await openDeployment({ dataDir: otherDeployment, name: 'sealtrail.local' }).store.close();
  });
  after(async () => {
    await fixture.drop();
    rmSync(empty, { recursive: true, force: true });
    rmSync(otherDeployment, { recursive: true, force: true });
  });

  it('without --key or a deployment folder, names the flags verify takes', async () => {
    const result = await runCli(['verify', '--database-url', fixture.serviceUrl, '--database-schema', fixture.schema, '--data', empty]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no --key given.*pass --key with the deployment's verifier key \(`sealtrail serve` prints it; GET \/v1\/verifier-key/);
    assert.match(result.stderr, /or --data with the folder holding its signing-key\.pem and sealtrail\.json/);
    assert.doesNotMatch(result.stderr.split('\n\n')[0]!, /--name/);
  });

  it("with another deployment's folder, says which deployment's key to pass instead of --name", async () => {
    const result = await runCli(['verify', '--database-url', fixture.serviceUrl, '--database-schema', fixture.schema, '--data', otherDeployment]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /belongs to deployment "audit\.onboarding\.test", but the verifier key trusted here is for "sealtrail\.local"; pass --key with "audit\.onboarding\.test"'s verifier key/);
    assert.doesNotMatch(result.stderr.split('\n\n')[0]!, /--name/);
    assertNoStack(result);
  });
});
