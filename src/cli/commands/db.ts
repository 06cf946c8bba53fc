/** `sealtrail db setup|migrate`: one-time PostgreSQL administration, run with an administrator's connection. */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { migrate } from '../../store/postgres/postgres-store.js';
import { ensureTrigramExtension, setupPostgres } from '../../store/postgres/setup.js';
import { DEFAULT_NAME, maskPassword } from '../../server/deployment.js';
import { optionalString, requireString, UsageError, type Command } from '../command.js';

export const dbCommand: Command = {
  name: 'db',
  summary: 'Prepare a PostgreSQL database for sealtrail: roles, schema, grants (setup), or upgrade its schema (migrate).',
  usage: 'db setup --admin-url URL [--name NAME] [--schema S] [--owner-role R] [--service-role R] [--service-password-file F] | db migrate --admin-url URL',
  options: {
    'admin-url': { type: 'string', description: 'Connection string of a role that may create roles and schemas.', env: 'SEALTRAIL_ADMIN_DATABASE_URL', value: 'URL' },
    name: { type: 'string', description: 'Deployment name to record.', env: 'SEALTRAIL_NAME', default: DEFAULT_NAME, value: 'NAME' },
    schema: { type: 'string', description: 'Schema for sealtrail tables.', env: 'SEALTRAIL_DATABASE_SCHEMA', default: 'sealtrail', value: 'S' },
    'owner-role': { type: 'string', description: 'Role that owns the schema (no login).', default: 'sealtrail_owner', value: 'R' },
    'service-role': { type: 'string', description: 'Role sealtrail servers log in as.', default: 'sealtrail_service', value: 'R' },
    'service-password-file': { type: 'string', description: "File holding the service role's password.", value: 'F' },
  },
  details:
    'After setup, start every server with --database-url pointing at the service role, e.g.\n' +
    '  SEALTRAIL_DATABASE_URL=postgres://sealtrail_service:PASSWORD@db.internal/sealtrail sealtrail serve\n' +
    'The service role can only SELECT and INSERT sealed tables; triggers also reject UPDATE/DELETE/TRUNCATE.',
  async run(args) {
    const [action] = args.positionals;
    const adminUrl = requireString(args, 'admin-url');
    const schema = requireString(args, 'schema');
    const ownerRole = requireString(args, 'owner-role');
    if (action === 'setup') {
      const serviceRole = requireString(args, 'service-role');
      const passwordFile = optionalString(args, 'service-password-file');
      await setupPostgres({
        adminUrl,
        schema,
        ownerRole,
        serviceRole,
        name: requireString(args, 'name'),
        ...(passwordFile ? { servicePassword: readFileSync(passwordFile, 'utf8').trim() } : {}),
      });
      process.stdout.write(`sealtrail schema "${schema}" ready in ${maskPassword(adminUrl)}; servers connect as role ${serviceRole}\n`);
    } else if (action === 'migrate') {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await ensureTrigramExtension(client);
        const version = await migrate(client, schema, ownerRole);
        process.stdout.write(`sealtrail schema "${schema}" is at version ${version}\n`);
      } finally {
        await client.end();
      }
    } else {
      throw new UsageError('expected `db setup` or `db migrate`');
    }
    return 0;
  },
};
