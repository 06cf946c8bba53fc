/**
 * One-time database setup for a PostgreSQL deployment, run with an administrator's connection:
 * creates the owner role (owns the schema and runs migrations; cannot log in), the service role (what
 * sealtrail servers connect as: SELECT and INSERT on sealed tables, nothing else), the schema, the
 * tables, and the grants. Idempotent: running it again upgrades the schema and re-applies the grants.
 */
import pg from 'pg';
import { migrate } from './postgres-store.js';
import { quoteIdent, serviceGrants } from './schema.js';

export interface SetupOptions {
  /** Connection string of a role that may create roles and schemas (a superuser, or on managed services the admin user). */
  adminUrl: string;
  schema: string;
  ownerRole: string;
  serviceRole: string;
  /** Password for the service role; omit where authentication is by other means. */
  servicePassword?: string;
  /** Deployment name to record (it is part of every checkpoint). */
  name: string;
}

export async function setupPostgres(options: SetupOptions): Promise<void> {
  const client = new pg.Client({ connectionString: options.adminUrl });
  await client.connect();
  try {
    const owner = quoteIdent(options.ownerRole);
    const service = quoteIdent(options.serviceRole);
    await ensureRole(client, options.ownerRole, 'NOLOGIN');
    await ensureRole(client, options.serviceRole, 'LOGIN');
    if (options.servicePassword !== undefined) {
      await client.query(`ALTER ROLE ${service} PASSWORD ${client.escapeLiteral(options.servicePassword)}`);
    }
    // The administrator must be able to act as the owner to create objects owned by it.
    await client.query(`GRANT ${owner} TO CURRENT_USER`).catch(() => {});
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(options.schema)} AUTHORIZATION ${owner}`);
    await ensureTrigramExtension(client);
    await migrate(client, options.schema, options.ownerRole);
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${owner}`);
    await client.query(serviceGrants(options.schema, options.serviceRole));
    await client.query(
      `INSERT INTO ${quoteIdent(options.schema)}.meta (key, value) VALUES ('deployment_name', $1) ON CONFLICT (key) DO NOTHING`,
      [options.name],
    );
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function ensureRole(client: pg.Client, role: string, login: 'LOGIN' | 'NOLOGIN'): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) await client.query(`CREATE ROLE ${quoteIdent(role)} ${login}`);
}

/**
 * Free text is indexed with trigrams (schema migration 7). The administrator creates the extension,
 * in public, unless the database has it: it is trusted, so CREATE on the database
 * suffices. Two setups racing may both try; the loser finds it there.
 */
export async function ensureTrigramExtension(client: pg.ClientBase): Promise<void> {
  try {
    // In public, where dropping a sealtrail schema cannot take it from another (or the default schema
    // of the administrator when the database has no public schema).
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public').catch(async (error: { code?: string }) => {
      if (error.code !== '3F000') throw error;
      await client.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
    });
  } catch (error) {
    const installed = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'`);
    if (installed.rowCount === 0) throw error;
  }
}
