/** The SQLite half of console sessions (src/store/session-state.ts): the table of migration 14. */
import type Database from 'better-sqlite3';
import { toSession, type ConsoleSession, type SessionRow, type SessionStateStore } from '../session-state.js';

export class SqliteSessions implements SessionStateStore {
  constructor(private readonly db: Database.Database) {}

  async createSession(session: ConsoleSession): Promise<void> {
    this.db
      .prepare('INSERT INTO console_sessions (token_hash, key_id, operator_check, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(Buffer.from(session.tokenHash), session.keyId, session.operatorCheck ? Buffer.from(session.operatorCheck) : null, session.createdAtMicros, session.expiresAtMicros);
  }

  async getSession(tokenHash: Uint8Array, nowMicros: number): Promise<ConsoleSession | undefined> {
    const row = this.db.prepare('SELECT * FROM console_sessions WHERE token_hash = ? AND expires_at > ?').get(Buffer.from(tokenHash), nowMicros) as SessionRow | undefined;
    return row ? toSession(row) : undefined;
  }

  async deleteSession(tokenHash: Uint8Array): Promise<boolean> {
    return this.db.prepare('DELETE FROM console_sessions WHERE token_hash = ?').run(Buffer.from(tokenHash)).changes === 1;
  }

  async deleteExpiredSessions(nowMicros: number): Promise<number> {
    return this.db.prepare('DELETE FROM console_sessions WHERE expires_at <= ?').run(nowMicros).changes;
  }
}
