/**
 * PostgreSQL for tests: the server at SEALTRAIL_TEST_DATABASE_URL (default: the local one these machines
 * run). Each harness gets its own schema and roles, so runs never see each other's data. When no server
 * answers, suites are skipped with the reason — except under CI, where that is a failure.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { maskPassword } from '../../src/server/deployment.js';
import { setupPostgres } from '../../src/store/postgres/setup.js';

export const ADMIN_URL = process.env.SEALTRAIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Undefined when PostgreSQL answers at ADMIN_URL; otherwise why not (the password masked). */
export async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${maskPassword(ADMIN_URL)} is not reachable (${(error as Error).message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Undefined when PostgreSQL is reachable; otherwise why not. Throws under CI instead of skipping. */
export async function postgresUnavailable(): Promise<string | undefined> {
  const reason = await probePostgres();
  if (reason) {
    if (process.env.CI) throw new Error(`${reason}; CI must run the PostgreSQL suite`);
    process.stderr.write(`SKIPPING PostgreSQL tests: ${reason}. Set SEALTRAIL_TEST_DATABASE_URL to run them.\n`);
  }
  return reason;
}

export interface PostgresFixture {
  schema: string;
  ownerRole: string;
  serviceRole: string;
  /** Connection string of the restricted service role. */
  serviceUrl: string;
  adminUrl: string;
  drop(): Promise<void>;
}

export async function createPostgresFixture(name: string): Promise<PostgresFixture> {
  const suffix = randomBytes(5).toString('hex');
  const schema = `st_test_${suffix}`;
  const ownerRole = `st_owner_${suffix}`;
  const serviceRole = `st_service_${suffix}`;
  const drop = async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      for (const role of [serviceRole, ownerRole]) {
        await client.query(`DROP OWNED BY "${role}"`).catch(() => {});
        await client.query(`DROP ROLE IF EXISTS "${role}"`);
      }
    } finally {
      await client.end();
    }
  };
  try {
    await setupPostgres({ adminUrl: ADMIN_URL, schema, ownerRole, serviceRole, name });
  } catch (error) {
    // Leave nothing behind when setup fails partway.
    await drop().catch(() => {});
    throw error;
  }
  const url = new URL(ADMIN_URL);
  url.username = serviceRole;
  url.password = '';
  return { schema, ownerRole, serviceRole, serviceUrl: url.toString(), adminUrl: ADMIN_URL, drop };
}
