/**
 * Console sign-in sessions (src/server/session.ts). The browser holds a random token in an httpOnly
 * cookie; the store keeps only SHA-256 of it, so a copy of the database cannot be replayed as a session.
 * A session names the API key it was opened with: every request re-checks that key, so revoking the key
 * ends its sessions at once. Kept in the store, not in memory, so that any server process sharing it
 * accepts the session and a sign-out anywhere ends it everywhere.
 */

export interface ConsoleSession {
  /** SHA-256 of the session token. */
  tokenHash: Uint8Array;
  /** The API key id the session acts as ('admin' for the operator token). */
  keyId: string;
  /**
   * For the operator token, SHA-256 of its hash, so a changed SEALTRAIL_ADMIN_TOKEN ends its sessions;
   * null for API keys (their own record is checked instead).
   */
  operatorCheck: Uint8Array | null;
  createdAtMicros: number;
  expiresAtMicros: number;
}

export interface SessionStateStore {
  createSession(session: ConsoleSession): Promise<void>;
  /** The session with this token hash, if it exists and has not expired at `nowMicros`. */
  getSession(tokenHash: Uint8Array, nowMicros: number): Promise<ConsoleSession | undefined>;
  /** Ends a session; false when there was none. */
  deleteSession(tokenHash: Uint8Array): Promise<boolean>;
  /** Drops sessions that expired before `nowMicros`; returns how many. */
  deleteExpiredSessions(nowMicros: number): Promise<number>;
}

export interface SessionRow {
  token_hash: Buffer;
  key_id: string;
  operator_check: Buffer | null;
  created_at: number | string;
  expires_at: number | string;
}

export function toSession(row: SessionRow): ConsoleSession {
  return {
    tokenHash: new Uint8Array(row.token_hash),
    keyId: row.key_id,
    operatorCheck: row.operator_check ? new Uint8Array(row.operator_check) : null,
    createdAtMicros: Number(row.created_at),
    expiresAtMicros: Number(row.expires_at),
  };
}
