/**
 * One-time database setup for a PostgreSQL deployment, run with an administrator's connection:
 * creates the owner role (owns the schema and runs migrations; cannot log in), the service role (what
 * sealtrail servers connect as: SELECT and INSERT on sealed tables, nothing else), the schema, the
 * tables, and the grants. Idempotent: running it again upgrades the schema and re-applies the grants.
 */
import pg from 'pg';
import { migrate } from './postgres-store.js';
import { quoteIdent, serviceGrants } from './schema.js';
import { PostgresAdminError } from './errors.js';

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

export interface SetupResult {
  /** The database setup created because the connection string named one that did not exist. */
  createdDatabase?: string;
}

export async function setupPostgres(options: SetupOptions): Promise<SetupResult> {
  const { client, createdDatabase } = await connectCreatingDatabase(options.adminUrl);
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
  return createdDatabase ? { createdDatabase } : {};
}

/**
 * Connects as the administrator. A first-time user names a database that does not exist yet: setup
 * creates it from the maintenance database `postgres`, or, when the administrator may not, says
 * exactly what a superuser must run.
 */
async function connectCreatingDatabase(adminUrl: string): Promise<{ client: pg.Client; createdDatabase?: string }> {
  const first = new pg.Client({ connectionString: adminUrl });
  try {
    await first.connect();
    return { client: first };
  } catch (error) {
    await first.end().catch(() => {});
    if ((error as { code?: string }).code !== '3D000') throw error;
  }
  // pg resolved the name as it connects: from the URL's path, else PGDATABASE, else the user name.
  const database = first.database ?? '';
  await createDatabase(adminUrl, database);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  return { client, createdDatabase: database };
}

async function createDatabase(adminUrl: string, database: string): Promise<void> {
  const quoted = quoteDatabaseName(database);
  const run = `as a PostgreSQL superuser, run  CREATE DATABASE ${quoted};  then run \`sealtrail db setup\` again`;
  const maintenanceUrl = withDatabase(adminUrl, 'postgres');
  if (!maintenanceUrl) throw new PostgresAdminError(`database "${database}" does not exist; ${run}`);
  const client = new pg.Client({ connectionString: maintenanceUrl });
  try {
    await client.connect();
    // CREATE DATABASE takes no parameters: the name goes in as a quoted identifier.
    await client.query(`CREATE DATABASE ${quoted}`);
  } catch (error) {
    // 42P04: another setup created it meanwhile, which is what was wanted.
    if ((error as { code?: string }).code === '42P04') return;
    throw new PostgresAdminError(`database "${database}" does not exist and could not be created (${(error as Error).message}); ${run}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A database name as a quoted SQL identifier. Unlike sealtrail's own identifiers (quoteIdent), it is the
 * user's choice, so any characters go, with quotes doubled; PostgreSQL would silently cut a name past 63
 * bytes to another one, so that is refused.
 */
function quoteDatabaseName(name: string): string {
  if (name === '' || name.includes('\0') || Buffer.byteLength(name) > 63) {
    throw new PostgresAdminError(`cannot create database ${JSON.stringify(name)}: a name is 1 to 63 bytes`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** The connection string with another database name; undefined for forms other than a postgres:// URL. */
function withDatabase(url: string, database: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return undefined;
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * `db migrate`: upgrades the schema as its owner. The owner is read from the database, so a setup with a
 * custom --owner-role needs no flag to migrate; a given ownerRole must be that owner.
 */
export async function migrateSchema(adminUrl: string, schema: string, ownerRole?: string): Promise<{ version: number; ownerRole: string }> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query<{ owner: string }>('SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1', [schema]);
    const owner = found.rows[0]?.owner;
    if (owner === undefined) {
      throw new PostgresAdminError(`database "${client.database ?? ''}" has no schema "${schema}": run \`sealtrail db setup\` first (with the same --schema), or pass the --schema setup used`);
    }
    if (ownerRole !== undefined && ownerRole !== owner) {
      throw new PostgresAdminError(`schema "${schema}" is owned by role "${owner}", not "${ownerRole}": pass --owner-role ${owner}, or leave it out`);
    }
    await ensureTrigramExtension(client);
    return { version: await migrate(client, schema, owner), ownerRole: owner };
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
