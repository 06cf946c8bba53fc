/** The SQLite half of streams' state (src/store/sink-state.ts): tables of migration 12. */
import type Database from 'better-sqlite3';
import {
  formatIndexRanges,
  parseIndexRanges,
  type DeadLetter,
  type SinkCursor,
  type SinkHealthState,
  type SinkStateStore,
  type SinkType,
  type StoredSink,
} from '../sink-state.js';

interface SinkRow {
  name: string;
  type: string;
  definition: string;
  sealed_secrets: Buffer | null;
  paused: number;
  created_at: number;
  created_by: string;
  last_success_at: number | null;
  last_error_at: number | null;
  last_error: string | null;
  failing: number;
  lagging: number;
}

interface CursorRow {
  ledger: string;
  next_index: number;
  last_sent: number | null;
  generation: number;
}

interface DeadLetterRow {
  id: number;
  sink: string;
  ledger: string;
  from_index: number;
  to_index: number;
  indexes: string;
  previous: number | null;
  attempts: number;
  error: string;
  created_at: number;
}

export function toSink(row: SinkRow | (Omit<SinkRow, 'paused' | 'failing' | 'lagging'> & { paused: boolean; failing: boolean; lagging: boolean })): StoredSink & SinkHealthState {
  const number = (value: number | string | null) => (value === null ? null : Number(value));
  return {
    name: row.name,
    type: row.type as SinkType,
    definition: row.definition,
    sealedSecrets: row.sealed_secrets ? new Uint8Array(row.sealed_secrets) : null,
    paused: Boolean(row.paused),
    createdAtMicros: Number(row.created_at),
    createdBy: row.created_by,
    lastSuccessMicros: number(row.last_success_at),
    lastErrorMicros: number(row.last_error_at),
    lastError: row.last_error,
    failing: Boolean(row.failing),
    lagging: Boolean(row.lagging),
  };
}

export function toCursor(row: { ledger: string; next_index: number | string; last_sent: number | string | null; generation: number | string }): SinkCursor {
  return { ledger: row.ledger, next: Number(row.next_index), lastSent: row.last_sent === null ? null : Number(row.last_sent), generation: Number(row.generation) };
}

export function toDeadLetter(row: { [K in keyof DeadLetterRow]: DeadLetterRow[K] | string }): DeadLetter {
  return {
    id: Number(row.id),
    sink: String(row.sink),
    ledger: String(row.ledger),
    from: Number(row.from_index),
    to: Number(row.to_index),
    indexes: parseIndexRanges(String(row.indexes)),
    previous: row.previous === null ? null : Number(row.previous),
    attempts: Number(row.attempts),
    error: String(row.error),
    createdAtMicros: Number(row.created_at),
  };
}

/** Health columns by their SinkHealthState names, for partial updates written by both stores. */
export const HEALTH_COLUMNS: Record<keyof SinkHealthState, string> = {
  lastSuccessMicros: 'last_success_at',
  lastErrorMicros: 'last_error_at',
  lastError: 'last_error',
  failing: 'failing',
  lagging: 'lagging',
};

export class SqliteSinks implements SinkStateStore {
  constructor(private readonly db: Database.Database) {}

  async createSink(sink: StoredSink): Promise<boolean> {
    const result = this.db
      .prepare('INSERT INTO sinks (name, type, definition, sealed_secrets, paused, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(sink.name, sink.type, sink.definition, sink.sealedSecrets ? Buffer.from(sink.sealedSecrets) : null, sink.paused ? 1 : 0, sink.createdAtMicros, sink.createdBy);
    return result.changes === 1;
  }

  async getSink(name: string) {
    const row = this.db.prepare<[string], SinkRow>('SELECT * FROM sinks WHERE name = ?').get(name);
    return row ? toSink(row) : undefined;
  }

  async listSinks() {
    return this.db.prepare<[], SinkRow>('SELECT * FROM sinks ORDER BY name').all().map(toSink);
  }

  async setSinkPaused(name: string, paused: boolean): Promise<boolean> {
    return this.db.prepare('UPDATE sinks SET paused = ? WHERE name = ?').run(paused ? 1 : 0, name).changes === 1;
  }

  async deleteSink(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM sink_cursors WHERE sink = ?').run(name);
      this.db.prepare('DELETE FROM sink_dead_letters WHERE sink = ?').run(name);
      return this.db.prepare('DELETE FROM sinks WHERE name = ?').run(name).changes === 1;
    })();
  }

  async updateSinkHealth(name: string, health: Partial<SinkHealthState>): Promise<void> {
    const entries = Object.entries(health) as Array<[keyof SinkHealthState, unknown]>;
    if (entries.length === 0) return;
    const sets = entries.map(([key]) => `${HEALTH_COLUMNS[key]} = ?`).join(', ');
    const values = entries.map(([, value]) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
    this.db.prepare(`UPDATE sinks SET ${sets} WHERE name = ?`).run(...values, name);
  }

  async cursors(sink: string): Promise<SinkCursor[]> {
    return this.db.prepare<[string], CursorRow>('SELECT ledger, next_index, last_sent, generation FROM sink_cursors WHERE sink = ? ORDER BY ledger').all(sink).map(toCursor);
  }

  async ensureCursor(sink: string, ledger: string, next: number): Promise<SinkCursor> {
    this.db.prepare('INSERT INTO sink_cursors (sink, ledger, next_index) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(sink, ledger, next);
    return toCursor(this.db.prepare<[string, string], CursorRow>('SELECT ledger, next_index, last_sent, generation FROM sink_cursors WHERE sink = ? AND ledger = ?').get(sink, ledger)!);
  }

  async advanceCursor(sink: string, ledger: string, generation: number, next: number, lastSent: number | null): Promise<boolean> {
    const result = this.db
      .prepare('UPDATE sink_cursors SET next_index = ?, last_sent = COALESCE(?, last_sent) WHERE sink = ? AND ledger = ? AND generation = ?')
      .run(next, lastSent, sink, ledger, generation);
    return result.changes === 1;
  }

  async resetCursor(sink: string, ledger: string, next: number): Promise<SinkCursor> {
    this.db
      .prepare(
        `INSERT INTO sink_cursors (sink, ledger, next_index, generation) VALUES (?, ?, ?, 1)
           ON CONFLICT (sink, ledger) DO UPDATE SET next_index = excluded.next_index, last_sent = NULL, generation = sink_cursors.generation + 1`,
      )
      .run(sink, ledger, next);
    return toCursor(this.db.prepare<[string, string], CursorRow>('SELECT ledger, next_index, last_sent, generation FROM sink_cursors WHERE sink = ? AND ledger = ?').get(sink, ledger)!);
  }

  async addDeadLetter(letter: Omit<DeadLetter, 'id'>): Promise<number> {
    const result = this.db
      .prepare('INSERT INTO sink_dead_letters (sink, ledger, from_index, to_index, indexes, previous, attempts, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(letter.sink, letter.ledger, letter.from, letter.to, formatIndexRanges(letter.indexes), letter.previous, letter.attempts, letter.error, letter.createdAtMicros);
    return Number(result.lastInsertRowid);
  }

  async deadLetters(sink: string, limit = 1000): Promise<DeadLetter[]> {
    return this.db.prepare<[string, number], DeadLetterRow>('SELECT * FROM sink_dead_letters WHERE sink = ? ORDER BY id LIMIT ?').all(sink, limit).map(toDeadLetter);
  }

  async countDeadLetters(sink: string): Promise<number> {
    return this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM sink_dead_letters WHERE sink = ?').get(sink)!.n;
  }

  async getDeadLetter(sink: string, id: number): Promise<DeadLetter | undefined> {
    const row = this.db.prepare<[string, number], DeadLetterRow>('SELECT * FROM sink_dead_letters WHERE sink = ? AND id = ?').get(sink, id);
    return row ? toDeadLetter(row) : undefined;
  }

  async removeDeadLetter(sink: string, id: number): Promise<boolean> {
    return this.db.prepare('DELETE FROM sink_dead_letters WHERE sink = ? AND id = ?').run(sink, id).changes === 1;
  }
}
