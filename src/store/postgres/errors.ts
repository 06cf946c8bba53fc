/**
 * What a person sees when PostgreSQL refuses: the expected failures (wrong URL, failed authentication,
 * a missing database or schema, a role without the privilege) as one sentence saying what to do, never
 * a stack trace. Messages carry no connection string, so no password can reach a terminal or a log.
 */
import pg from 'pg';

/** A failure of database administration (`db setup`, `db migrate`) whose message says what to run. */
export class PostgresAdminError extends Error {
  override name = 'PostgresAdminError';
}

/** SQLSTATE codes (PostgreSQL, Appendix A) of the failures a person can fix, with what to tell them. */
const ADVICE: Record<string, string> = {
  '28P01': 'check the user name and password in the connection string',
  '28000': 'check the user name in the connection string, and that pg_hba.conf lets it connect from here',
  '3D000': 'create the database (`sealtrail db setup` does, with an administrator connection) or fix its name in the connection string',
  '3F000': 'run `sealtrail db setup` first, with the same --schema',
  '42501': 'connect as a role with this privilege: `sealtrail db setup` and `db migrate` need an administrator (or the schema owner), servers the service role that setup created',
  '42704': 'run `sealtrail db setup` to create the roles, or pass the role names setup used',
  '53300': 'the server has no free connections; retry later or raise max_connections',
  '57P03': 'the server is starting up or shutting down; retry in a moment',
};

/** One line for an expected PostgreSQL failure; undefined for anything else (a defect, shown in full). */
export function explainPostgresError(error: unknown): string | undefined {
  if (error instanceof PostgresAdminError) return error.message;
  if (error instanceof pg.DatabaseError) {
    const advice = error.code ? ADVICE[error.code] : undefined;
    const hint = error.hint ? ` (${error.hint})` : '';
    return `PostgreSQL refused: ${error.message}${hint} [SQLSTATE ${error.code ?? '?'}]${advice ? `; ${advice}` : ''}`;
  }
  // pg parses connection strings with the WHATWG URL parser; its error names the input, which may hold a
  // password, so only the fact is reported.
  if (error instanceof TypeError && (error as NodeJS.ErrnoException).code === 'ERR_INVALID_URL') {
    return 'a connection string is not a valid URL; write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (percent-encode special characters in the password)';
  }
  return undefined;
}

/**
 * Rejects, before connecting, what pg would misread: it takes a string that is not a URL as host and
 * database names ("not a url" becomes host "base"). `flag` names the option in the message.
 */
export function checkConnectionString(url: string, flag: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--${flag} is not a URL; write it as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:' && parsed.protocol !== 'socket:') {
    return `--${flag} must start with postgres:// (or postgresql://), not ${parsed.protocol}//`;
  }
  return undefined;
}
