/** The PostgreSQL half of streams' state (src/store/sink-state.ts): tables of migration 13. */
import type pg from 'pg';
import { formatIndexRanges, type DeadLetter, type SinkCursor, type SinkHealthState, type SinkStateStore, type StoredSink } from '../sink-state.js';
import { HEALTH_COLUMNS, toCursor, toDeadLetter, toSink } from '../sqlite/sinks.js';

const CURSOR_COLUMNS = 'ledger, next_index, last_sent, generation';

export class PostgresSinks implements SinkStateStore {
  constructor(private readonly pool: pg.Pool) {}

  async createSink(sink: StoredSink): Promise<boolean> {
    const result = await this.pool.query(
      'INSERT INTO sinks (name, type, definition, sealed_secrets, paused, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING',
      [sink.name, sink.type, sink.definition, sink.sealedSecrets ? Buffer.from(sink.sealedSecrets) : null, sink.paused, sink.createdAtMicros, sink.createdBy],
    );
    return result.rowCount === 1;
  }

  async getSink(name: string) {
    const result = await this.pool.query('SELECT * FROM sinks WHERE name = $1', [name]);
    return result.rows[0] ? toSink(result.rows[0]) : undefined;
  }

  async listSinks() {
    return (await this.pool.query('SELECT * FROM sinks ORDER BY name')).rows.map(toSink);
  }

  async setSinkPaused(name: string, paused: boolean): Promise<boolean> {
    return (await this.pool.query('UPDATE sinks SET paused = $1 WHERE name = $2', [paused, name])).rowCount === 1;
  }

  async deleteSink(name: string): Promise<boolean> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('DELETE FROM sink_cursors WHERE sink = $1', [name]);
      await client.query('DELETE FROM sink_dead_letters WHERE sink = $1', [name]);
      const deleted = (await client.query('DELETE FROM sinks WHERE name = $1', [name])).rowCount === 1;
      await client.query('COMMIT');
      return deleted;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async updateSinkHealth(name: string, health: Partial<SinkHealthState>): Promise<void> {
    const entries = Object.entries(health) as Array<[keyof SinkHealthState, unknown]>;
    if (entries.length === 0) return;
    const sets = entries.map(([key], i) => `${HEALTH_COLUMNS[key]} = $${i + 1}`).join(', ');
    await this.pool.query(`UPDATE sinks SET ${sets} WHERE name = $${entries.length + 1}`, [...entries.map(([, value]) => value), name]);
  }

  async cursors(sink: string): Promise<SinkCursor[]> {
    return (await this.pool.query(`SELECT ${CURSOR_COLUMNS} FROM sink_cursors WHERE sink = $1 ORDER BY ledger`, [sink])).rows.map(toCursor);
  }

  async ensureCursor(sink: string, ledger: string, next: number): Promise<SinkCursor> {
    await this.pool.query('INSERT INTO sink_cursors (sink, ledger, next_index) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [sink, ledger, next]);
    return toCursor((await this.pool.query(`SELECT ${CURSOR_COLUMNS} FROM sink_cursors WHERE sink = $1 AND ledger = $2`, [sink, ledger])).rows[0]);
  }

  async advanceCursor(sink: string, ledger: string, generation: number, next: number, lastSent: number | null): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE sink_cursors SET next_index = $1, last_sent = COALESCE($2, last_sent) WHERE sink = $3 AND ledger = $4 AND generation = $5',
      [next, lastSent, sink, ledger, generation],
    );
    return result.rowCount === 1;
  }

  async resetCursor(sink: string, ledger: string, next: number): Promise<SinkCursor> {
    const result = await this.pool.query(
      `INSERT INTO sink_cursors (sink, ledger, next_index, generation) VALUES ($1, $2, $3, 1)
         ON CONFLICT (sink, ledger) DO UPDATE SET next_index = EXCLUDED.next_index, last_sent = NULL, generation = sink_cursors.generation + 1
         RETURNING ${CURSOR_COLUMNS}`,
      [sink, ledger, next],
    );
    return toCursor(result.rows[0]);
  }

  async addDeadLetter(letter: Omit<DeadLetter, 'id'>): Promise<number> {
    const result = await this.pool.query<{ id: string }>(
      'INSERT INTO sink_dead_letters (sink, ledger, from_index, to_index, indexes, previous, attempts, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id',
      [letter.sink, letter.ledger, letter.from, letter.to, formatIndexRanges(letter.indexes), letter.previous, letter.attempts, letter.error, letter.createdAtMicros],
    );
    return Number(result.rows[0]!.id);
  }

  async deadLetters(sink: string, limit = 1000): Promise<DeadLetter[]> {
    return (await this.pool.query('SELECT * FROM sink_dead_letters WHERE sink = $1 ORDER BY id LIMIT $2', [sink, limit])).rows.map(toDeadLetter);
  }

  async countDeadLetters(sink: string): Promise<number> {
    return Number((await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM sink_dead_letters WHERE sink = $1', [sink])).rows[0]!.n);
  }

  async getDeadLetter(sink: string, id: number): Promise<DeadLetter | undefined> {
    const row = (await this.pool.query('SELECT * FROM sink_dead_letters WHERE sink = $1 AND id = $2', [sink, id])).rows[0];
    return row ? toDeadLetter(row) : undefined;
  }

  async removeDeadLetter(sink: string, id: number): Promise<boolean> {
    return (await this.pool.query('DELETE FROM sink_dead_letters WHERE sink = $1 AND id = $2', [sink, id])).rowCount === 1;
  }
}
