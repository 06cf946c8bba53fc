/** `sealtrail db setup|migrate`: one-time PostgreSQL administration, run with an administrator's connection. */
import { readFileSync } from 'node:fs';
import { migrateSchema, setupPostgres } from '../../store/postgres/setup.js';
import { checkConnectionString } from '../../store/postgres/errors.js';
import { DEFAULT_NAME, maskPassword } from '../../server/deployment.js';
import { optionalString, requireString, UsageError, type Command } from '../command.js';

const DEFAULT_OWNER_ROLE = 'sealtrail_owner';

export const dbCommand: Command = {
  name: 'db',
  summary: 'Prepare a PostgreSQL database for sealtrail: roles, schema, grants (setup), or upgrade its schema (migrate).',
  usage: 'db setup --admin-url URL [--name NAME] [--schema S] [--owner-role R] [--service-role R] [--service-password-file F] | db migrate --admin-url URL [--schema S] [--owner-role R]',
  options: {
    'admin-url': { type: 'string', description: 'Connection string of a role that may create roles and schemas.', env: 'SEALTRAIL_ADMIN_DATABASE_URL', value: 'URL' },
    name: { type: 'string', description: 'Deployment name to record.', env: 'SEALTRAIL_NAME', default: DEFAULT_NAME, value: 'NAME' },
    schema: { type: 'string', description: 'Schema for sealtrail tables.', env: 'SEALTRAIL_DATABASE_SCHEMA', default: 'sealtrail', value: 'S' },
    'owner-role': {
      type: 'string',
      description: `Role that owns the schema (no login). setup: default ${DEFAULT_OWNER_ROLE}; migrate: read from the schema (if given, must match).`,
      value: 'R',
    },
    'service-role': { type: 'string', description: 'Role sealtrail servers log in as.', default: 'sealtrail_service', value: 'R' },
    'service-password-file': { type: 'string', description: "File holding the service role's password.", value: 'F' },
  },
  details:
    'setup creates the database named in --admin-url if it does not exist (when the administrator may), and the\n' +
    'owner and service roles, which are cluster-wide: every database of the PostgreSQL server sees them.\n' +
    'After setup, start every server with --database-url pointing at the service role, e.g.\n' +
    '  SEALTRAIL_DATABASE_URL=postgres://sealtrail_service:PASSWORD@db.internal/sealtrail sealtrail serve\n' +
    'The service role can only SELECT and INSERT sealed tables; triggers also reject UPDATE/DELETE/TRUNCATE.',
  async run(args) {
    const [action] = args.positionals;
    if (action !== 'setup' && action !== 'migrate') throw new UsageError('expected `db setup` or `db migrate`');
    const adminUrl = requireString(args, 'admin-url');
    const invalidUrl = checkConnectionString(adminUrl, 'admin-url');
    if (invalidUrl) throw new UsageError(invalidUrl);
    const schema = requireString(args, 'schema');
    if (action === 'setup') {
      const ownerRole = optionalString(args, 'owner-role') ?? DEFAULT_OWNER_ROLE;
      const serviceRole = requireString(args, 'service-role');
      const passwordFile = optionalString(args, 'service-password-file');
      const { createdDatabase } = await setupPostgres({
        adminUrl,
        schema,
        ownerRole,
        serviceRole,
        name: requireString(args, 'name'),
        ...(passwordFile ? { servicePassword: readFileSync(passwordFile, 'utf8').trim() } : {}),
      });
      if (createdDatabase) process.stdout.write(`created database "${createdDatabase}"\n`);
      process.stdout.write(`sealtrail schema "${schema}" ready in ${maskPassword(adminUrl)}; servers connect as role ${serviceRole}\n`);
    } else {
      const { version, ownerRole } = await migrateSchema(adminUrl, schema, optionalString(args, 'owner-role'));
      process.stdout.write(`sealtrail schema "${schema}" (owner ${ownerRole}) is at version ${version}\n`);
    }
    return 0;
  },
};
