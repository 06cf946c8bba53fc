/**
 * PostgreSQL for tests: the server at SEALTRAIL_TEST_DATABASE_URL (default: the local one these machines
 * run). Each harness gets its own schema and roles, so runs never see each other's data. When no server
 * answers, suites are skipped with the reason — except under CI, where that is a failure.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { setupPostgres } from '../../src/store/postgres/setup.js';

export const ADMIN_URL = process.env.SEALTRAIL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Undefined when PostgreSQL is reachable; otherwise why not. Throws under CI instead of skipping. */
export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL at ${ADMIN_URL.replace(/:[^:@/]*@/, ':***@')} is not reachable (${(error as Error).message})`;
    if (process.env.CI) throw new Error(`${reason}; CI must run the PostgreSQL suite`);
    process.stderr.write(`SKIPPING PostgreSQL tests: ${reason}. Set SEALTRAIL_TEST_DATABASE_URL to run them.\n`);
    return reason;
  } finally {
    await client.end().catch(() => {});
  }
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
