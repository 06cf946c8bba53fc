/**
 * The SQLite search index: one row per event in search_events (plus its targets, metadata and free
 * text), written in large deferred batches after appends commit (on the writer thread, batch-writer.ts) and always
 * brought up to date before it is read. Queries are compiled from the core's query AST
 * (src/store/search-sql.ts) into one SELECT of indexes, newest or oldest first, with an index cursor.
 */
import type Database from 'better-sqlite3';
import { rollupDeltas, type RollupDelta } from '../rollups.js';
import { LOCATION_COLUMNS, locationValues, type SearchRecord } from '../search-fields.js';

const FTS_AUTOMERGE = 16;
const FTS_CRISISMERGE = 64;

export class SqliteSearchIndex {
  private readonly insertEvent;
  private readonly insertTarget;
  private readonly insertMetadata;
  private readonly insertText;
  private readonly maxIndexed;
  private readonly rebuilding;
  private readonly addToRollup;
  private readonly dropEmptyRollup;

  constructor(private readonly db: Database.Database) {
    this.insertEvent = db.prepare(
      `INSERT INTO search_events (id, ledger_id, idx, received_at, occurred_at, actor_type, actor_id, actor_name, action, category, tenant, outcome, ip, writer,
                                  session_id, device_id, ${LOCATION_COLUMNS.join(', ')})
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${LOCATION_COLUMNS.map(() => '?').join(', ')})`,
    );
    this.insertTarget = db.prepare(
      'INSERT OR IGNORE INTO search_targets (ledger_id, target_id, idx, target_type, target_name) VALUES (?, ?, ?, ?, ?)',
    );
    this.insertMetadata = db.prepare('INSERT OR IGNORE INTO search_metadata (ledger_id, key, value, idx) VALUES (?, ?, ?, ?)');
    this.insertText = db.prepare('INSERT INTO search_text (rowid, body) VALUES (?, ?)');
    this.maxIndexed = db.prepare<[number], { m: number | null }>('SELECT max(idx) AS m FROM search_events WHERE ledger_id = ?');
    this.rebuilding = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_rebuild_indexes'`);
    this.addToRollup = db.prepare(
      `INSERT INTO search_hourly (ledger_id, dimension, value, hour, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (ledger_id, dimension, value, hour) DO UPDATE SET count = count + excluded.count`,
    );
    this.dropEmptyRollup = db.prepare('DELETE FROM search_hourly WHERE ledger_id = ? AND dimension = ? AND value = ? AND hour = ? AND count = 0');
  }

  /**
   * Adds the records; call inside a transaction. Rows get ids in the order added (records come in
   * index order), so within a ledger id order is index order.
   */
  add(ledgerId: number, records: SearchRecord[]): void {
    this.write(ledgerId, records, this.insertTarget, this.insertMetadata);
  }

  /** Re-adds one event's record (rewritten by a forget) under the id its row had, keeping id order. */
  replace(ledgerId: number, record: SearchRecord, id: number | undefined): void {
    this.write(ledgerId, [record], this.insertTarget, this.insertMetadata, id);
  }

  private write(ledgerId: number, records: SearchRecord[], targets: Database.Statement, metadata: Database.Statement, id?: number): void {
    for (const r of records) {
      const { lastInsertRowid } = this.insertEvent.run(
        id ?? null,
        ledgerId,
        r.index,
        r.receivedAtMicros,
        r.occurredAtMicros,
        r.actorType,
        r.actorId,
        r.actorName,
        r.action,
        r.category,
        r.tenant,
        r.outcome,
        r.ip,
        r.writer,
        r.sessionId,
        r.deviceId,
        ...locationValues(r.location),
      );
      for (const t of r.targets) targets.run(ledgerId, t.id, r.index, t.type, t.name);
      for (const [key, value] of r.metadata) metadata.run(ledgerId, key, value, r.index);
      if (r.text) this.insertText.run(lastInsertRowid, r.text);
    }
    this.adjustRollups(ledgerId, rollupDeltas(records, 1));
  }

  /**
   * Applies rollup adjustments (src/store/rollups.ts); call in the transaction that adds or removes
   * the search rows they count. A row whose count reaches 0 is deleted, as a GROUP BY has no such row.
   */
  adjustRollups(ledgerId: number, deltas: RollupDelta[]): void {
    for (const d of deltas) {
      this.addToRollup.run(ledgerId, d.dimension, d.value, d.hour, d.delta);
      if (d.delta < 0) this.dropEmptyRollup.run(ledgerId, d.dimension, d.value, d.hour);
    }
  }

  /**
   * Free-text index settings for ingest in large transactions: merge 16 segments of a level at a time
   * instead of 4 (FTS5 'automerge'), so each posting is rewritten fewer times as the index grows.
   * Measured alone on 100,000 generated events' text in 1,000-event transactions: 30.8 → 21.5 µs per
   * event; a free-text query reads a few more segments (1.2 → 1.6 ms). 'crisismerge' (default 16) must
   * then be well above 'automerge': at 16 every level that reached 16 segments was merged whole inside one
   * commit (80–90 ms held on the event loop, measured under single-event ingest) instead of incrementally
   * over the following transactions (longest stall 92 → 28 ms). Stored in the index's config, so written
   * once per database.
   */
  tune(): void {
    const config = this.db.prepare<[string], { v: number }>(`SELECT v FROM search_text_config WHERE k = ?`);
    for (const [key, value] of [['automerge', FTS_AUTOMERGE], ['crisismerge', FTS_CRISISMERGE]] as const) {
      if (config.get(key)?.v !== value) this.db.prepare(`INSERT INTO search_text (search_text, rank) VALUES ('${key}', ${value})`).run();
    }
  }

  /**
   * Bulk rebuild, step 1 (one transaction): empties the index (rollups included) and drops the secondary indexes of
   * search_events and search_targets, remembering their definitions in search_rebuild_indexes; targets and metadata are
   * collected in unindexed staging tables. Rows are then appended in index order (addBulk) and the
   * B-trees are built once, sorted, at the end (finishBulk): at millions of events that is many times
   * faster than inserting into random-key B-trees row by row. Should the process die in between, the
   * next open finishes what was loaded (finishBulk) and the ordinary catch-up indexes the rest.
   */
  beginBulk(): void {
    const indexes = this.db
      .prepare<[], { name: string; sql: string }>(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('search_events', 'search_targets') AND sql IS NOT NULL`)
      .all();
    this.db.exec(`
      CREATE TABLE search_rebuild_indexes (name TEXT PRIMARY KEY, sql TEXT NOT NULL);
      CREATE TABLE search_rebuild_targets (ledger_id INTEGER, target_id TEXT, idx INTEGER, target_type TEXT, target_name TEXT);
      CREATE TABLE search_rebuild_metadata (ledger_id INTEGER, key TEXT, value TEXT, idx INTEGER);
      DELETE FROM search_events;
      DELETE FROM search_targets;
      DELETE FROM search_metadata;
      DELETE FROM search_hourly;
      INSERT INTO search_text (search_text) VALUES ('delete-all');
    `);
    const remember = this.db.prepare('INSERT INTO search_rebuild_indexes (name, sql) VALUES (?, ?)');
    for (const index of indexes) {
      remember.run(index.name, index.sql);
      this.db.exec(`DROP INDEX "${index.name.replaceAll('"', '""')}"`);
    }
  }

  /**
   * Bulk rebuild, step 2: appends records (in index order) without touching any secondary B-tree. The
   * rollups are counted as they go, in the same transaction (a few hundred rows per chunk), so a
   * rebuild resumed after a crash counts exactly the rows it has.
   */
  addBulk(ledgerId: number, records: SearchRecord[]): void {
    this.write(
      ledgerId,
      records,
      this.db.prepare('INSERT INTO search_rebuild_targets (ledger_id, target_id, idx, target_type, target_name) VALUES (?, ?, ?, ?, ?)'),
      this.db.prepare('INSERT INTO search_rebuild_metadata (ledger_id, key, value, idx) VALUES (?, ?, ?, ?)'),
    );
  }

  /** True while a bulk rebuild has begun and not finished (a crash in between leaves this). */
  bulkUnfinished(): boolean {
    return this.rebuilding.get() !== undefined;
  }

  /**
   * Bulk rebuild, step 3 (one transaction): fills targets and metadata from the staging tables in key
   * order, so each B-tree is written left to right, and recreates the secondary indexes (each one a
   * sort). `progress` is told what is being built.
   */
  finishBulk(progress?: (step: string) => void): void {
    progress?.('targets and metadata');
    this.db.exec(`
      INSERT OR IGNORE INTO search_targets (ledger_id, target_id, idx, target_type, target_name)
        SELECT ledger_id, target_id, idx, target_type, target_name FROM search_rebuild_targets ORDER BY ledger_id, target_id, idx, target_type;
      INSERT OR IGNORE INTO search_metadata (ledger_id, key, value, idx)
        SELECT ledger_id, key, value, idx FROM search_rebuild_metadata ORDER BY ledger_id, key, value, idx;
      DROP TABLE search_rebuild_targets;
      DROP TABLE search_rebuild_metadata;
    `);
    for (const index of this.db.prepare<[], { name: string; sql: string }>('SELECT name, sql FROM search_rebuild_indexes ORDER BY name').all()) {
      progress?.(`index ${index.name}`);
      this.db.exec(index.sql);
    }
    this.db.exec('DROP TABLE search_rebuild_indexes');
  }

  /** Index of the next entry the index lacks (0 when empty). */
  nextUnindexed(ledgerId: number): number {
    const m = this.maxIndexed.get(ledgerId)?.m;
    return m === null || m === undefined ? 0 : m + 1;
  }
}
