/** The PostgreSQL half of console sessions (src/store/session-state.ts): the table of migration 15. */
import type pg from 'pg';
import { toSession, type ConsoleSession, type SessionRow, type SessionStateStore } from '../session-state.js';

export class PostgresSessions implements SessionStateStore {
  constructor(private readonly pool: pg.Pool) {}

  async createSession(session: ConsoleSession): Promise<void> {
    await this.pool.query('INSERT INTO console_sessions (token_hash, key_id, operator_check, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
      Buffer.from(session.tokenHash),
      session.keyId,
      session.operatorCheck ? Buffer.from(session.operatorCheck) : null,
      session.createdAtMicros,
      session.expiresAtMicros,
    ]);
  }

  async getSession(tokenHash: Uint8Array, nowMicros: number): Promise<ConsoleSession | undefined> {
    const result = await this.pool.query<SessionRow>('SELECT * FROM console_sessions WHERE token_hash = $1 AND expires_at > $2', [Buffer.from(tokenHash), nowMicros]);
    return result.rows[0] ? toSession(result.rows[0]) : undefined;
  }

  async deleteSession(tokenHash: Uint8Array): Promise<boolean> {
    return (await this.pool.query('DELETE FROM console_sessions WHERE token_hash = $1', [Buffer.from(tokenHash)])).rowCount === 1;
  }

  async deleteExpiredSessions(nowMicros: number): Promise<number> {
    return (await this.pool.query('DELETE FROM console_sessions WHERE expires_at <= $1', [nowMicros])).rowCount ?? 0;
  }
}
