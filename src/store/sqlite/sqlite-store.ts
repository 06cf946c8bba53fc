/**
 * The embedded store: one SQLite file (better-sqlite3, WAL, synchronous=FULL so that a commit is on
 * disk before it returns). Appends go through the shared Sequencer; each batch is one IMMEDIATE
 * transaction, so a crash leaves either the whole batch with its checkpoint or none of it. For a file,
 * those transactions and the search index's run on the store's writer thread (batch-writer.ts).
 */
import Database from 'better-sqlite3';
import { toBase64 } from '../../core/bytes.js';
import type { Disclosures } from '../../core/commitments.js';
import type { CryptoSuite, Ed25519Signer } from '../../core/crypto.js';
import type { HashRange, TileNodes } from '../../core/tree.js';
import { formatMicros } from '../../core/time.js';
import { Sequencer, type BatchBackend, type BatchWrite, type ExistingKey, type LedgerHead, type SigningGuard } from '../sequencer.js';
import type { IntegrityRecord, IntegrityStateStore } from '../integrity.js';
import {
  StoreError,
  type ApiKeyRecord,
  type AppendRequest,
  type LedgerInfo,
  type Receipt,
  type Role,
  type SearchPage,
  type ExportPage,
  type SearchRequest,
  type StatsDimension,
  type Store,
  type StoredCheckpoint,
  type StoredEntry,
  type ForgetOptions,
  type ForgetRequest,
  type ForgetResult,
  type LegacyRedaction,
  type Redactions,
  type ExportHit,
  type StoredPolicy,
  type IndexedEventRow,
  type IndexedDetailRow,
  type StoredIdempotencyKey,
} from '../store.js';
import type { LegalHold } from '../../core/retention.js';
import { SqliteRetention } from './retention.js';
import { SqliteSinks } from './sinks.js';
import { SqliteSessions } from './sessions.js';
import { SqliteDetectionState } from './detection.js';
import { isPurged } from '../forget.js';
import { isSharedFile, openDatabase } from './connection.js';
import { SqliteSearchIndex } from './search-index.js';
import { locationFromRow, searchContext, searchRecord, type GeolocationOption, type SearchContext, type SearchRecord } from '../search-fields.js';
import { countsFromRollups, rollupMismatchQuery, rollupPlan, toRollupMismatch, wholeHoursQuery, type CountRow, type RollupDimension, type RollupMismatch } from '../rollups.js';
import { DEFAULT_QUERY_TIMEOUT_MS, compileWhere, drivingText, isTimeDimension, pageOfEntries, receivedAsIndex, statsGroup, statsKey, type Dialect, type Statement } from '../search-sql.js';
import { LEAF_TAIL_BYTES, toApiKey, toCheckpoint, toEntry, toHit, writerFromTail, type ApiKeyRow, type CheckpointRow, type EntryRow, type HitRow } from '../rows.js';
import type { Query } from '../../core/query.js';
import { writerFromLeaf } from '../../core/export/record.js';
import { ipBytes } from '../../core/ipnet.js';
import { SqliteReadPool } from './read-worker-pool.js';
import { LEGACY_KEY_CHUNK } from '../idempotency.js';
import { BACKGROUND_SLICE_MS } from '../../platform/event-loop.js';
import { SqliteBatchWriter, type IndexGap, type WireBatch } from './batch-writer.js';
import { InThreadWriter, WriterThread, type BatchWriterHandle } from './writer-thread.js';
import { VerifierThread } from './verifier-thread.js';
import type { OffloadedSlices } from '../integrity.js';
import { INDEXED_EVENT_COLUMNS, toIndexedEvent, type IndexedEventColumns } from '../verify-derived.js';

export interface SqliteStoreOptions extends GeolocationOption {
  /** Path of the database file (":memory:" for tests that need no durability). */
  path: string;
  suite: CryptoSuite;
  signer: Ed25519Signer;
  /** Deployment name: the signed-note key name and the first part of every checkpoint origin. */
  name: string;
  readonly?: boolean;
  maxBatchEvents?: number;
  /** Search records that may wait to be indexed before appends wait for the index (default 100,000; tests set it low). */
  maxIndexBacklog?: number;
  /** Clock in microseconds since the epoch (tests inject one that jumps backwards). */
  clock?: () => number;
  /**
   * Bulk loading: appends leave the search index alone (searches do not see them) until
   * rebuildSearchIndex() builds it in one pass. For generating or importing millions of events.
   */
  bulkLoad?: boolean;
  /**
   * Time budget of one search page or stats read, in milliseconds (default 5000). Those reads run on
   * worker threads with their own read-only connections (read-worker-pool.ts), so the event loop is
   * never held by one; past the budget a read fails with QUERY_TIMEOUT. A ":memory:" database has no
   * file to share, so it reads on the calling thread, without a budget.
   */
  queryTimeoutMs?: number;
  /** Checks around signing: refuses broken ledgers, never signs a fork (src/store/integrity.ts). */
  signingGuard?: SigningGuard;
}

/** What rebuildSearchIndex reports as it goes. */
export interface RebuildProgress {
  phase: 'rows' | 'indexes';
  /** rows: entries read so far, of `total`; indexes: what is being built. */
  done: number;
  total: number;
  step?: string;
}

const PAGE = 1000;
/**
 * Entries a gap fill reads back per turn of the event loop, which it holds meanwhile (parsing, search
 * records, geolocation): 1,000 took 31–56 ms of a 200,000-event file, 250 took 4 ms.
 */
const FILL_PAGE = 200;
/**
 * Page cache of the connections export pages are read on, in KiB (8 MiB). An export reads each page of
 * the entries once, in order, so a larger cache is only resident memory (the search threads' 64 MiB each
 * would fill with pages nothing reads again, and evict the index pages searches do).
 */
const BULK_READ_CACHE_KIB = 8 * 1024;
/**
 * The entry columns of an export page: the leaf's end only (its writer, rows.ts writerFromTail), as
 * text, which costs a string rather than a Buffer of the whole ~1.2 KB leaf per row; the leaf hash as
 * hex, which exportHitOf turns into a Buffer cut from Node's shared pool, cheaper than the Buffer of
 * its own (and its own backing store for the collector to free) that a blob column costs.
 */
const EXPORT_ENTRY_COLUMNS = `en.idx, en.received_at, CAST(substr(en.leaf, -${LEAF_TAIL_BYTES}) AS TEXT) AS leaf_tail, hex(en.leaf_hash) AS leaf_hash_hex, en.disclosures, en.redactions`;
/**
 * How long one index transaction of the writer aims to hold the write lock, in ms (the slice size is
 * re-aimed at it from the rate just measured), and the longest it may grow to while appends outrun the
 * index. A commit waits behind it, and so does any write on this thread's connection (busy_timeout).
 */
const INDEX_SLICE_MS = 8;
const INDEX_SLICE_MAX_MS = 20;
/** In-memory databases index on the calling thread, which every request waits behind (issue 17: no stall over 10 ms). */
const IN_THREAD_SLICE_MS = BACKGROUND_SLICE_MS;
/** Times a batch is sealed again when another process on the file appended first, before giving up. */
const MAX_STALE_RETRIES = 5;
/** Entries read into the index per transaction of a bulk rebuild. */
const REBUILD_CHUNK_EVENTS = 50_000;


/** Opening the file moved to connection.ts; re-exported for the tools and tests that import it here. */
export { openDatabase, restrictDatabaseFiles, SQLITE_PAGE_SIZE } from './connection.js';

export class SqliteStore implements Store, BatchBackend, IntegrityStateStore {
  readonly db: Database.Database;
  /** Ledger ids by name, as found (every read and append names its ledger). */
  private readonly ledgerIds = new Map<string, number>();
  private readonly sequencer: Sequencer;
  private readonly heads = new Map<string, LedgerHead & { ledgerId: number }>();
  private readonly statements;

  private readonly searchIndex: SqliteSearchIndex;
  /** Where appends are committed and indexed (batch-writer.ts); started on the first append. */
  private writerHandle: BatchWriterHandle | undefined;
  private readonly searchContext: SearchContext;
  private readonly retention: SqliteRetention;
  readonly sinks: SqliteSinks;
  readonly detection: SqliteDetectionState;
  readonly sessions: SqliteSessions;

  constructor(private readonly options: SqliteStoreOptions) {
    this.db = openDatabase(options.path, options.readonly);
    this.searchIndex = new SqliteSearchIndex(this.db);
    this.statements = this.prepare();
    this.searchContext = searchContext(options, ipBytes);
    this.retention = new SqliteRetention(this.db, this.searchIndex, this.searchContext, sqliteDialect);
    this.sinks = new SqliteSinks(this.db);
    this.detection = new SqliteDetectionState(this.db, isSharedFile(options.path) && !options.readonly ? (step) => this.writerThread().detectionStep(step) : undefined);
    this.sessions = new SqliteSessions(this.db);
    if (!options.readonly) {
      this.searchIndex.tune();
      this.repairSearchIndex();
      // A bulk rebuild that died part way is resumed where it stopped, in bulk.
      if (this.searchIndex.bulkUnfinished()) this.finishRebuild();
      if (!options.bulkLoad) this.catchUpSearchIndex();
    }
    this.sequencer = new Sequencer(this, {
      suite: options.suite,
      signer: options.signer,
      keyName: options.name,
      ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.signingGuard ? { guard: options.signingGuard } : {}),
    });
    if (!options.readonly) this.convertLegacyKeys();
  }

  /**
   * Replaces idempotency rows written before schema 8, which hold the client's raw key, by their keyed
   * hash (src/store/idempotency.ts), scoped by the writer recorded in the entry's leaf, so that retries
   * of those events still dedupe and no raw key (an event id can be an email address) stays in the
   * file: secure_delete zeroes the deleted cells and the WAL is truncated after. A row whose entry is
   * missing is left for `sealtrail verify` to report.
   */
  private convertLegacyKeys(): void {
    const legacy = this.db.prepare<[number, string, number], { name: string; ledger_id: number; key: string; request_hash: Buffer; idx: number; leaf: Buffer }>(
      `SELECT l.name, k.ledger_id, k.key, k.request_hash, k.idx, e.leaf
         FROM idempotency_keys k JOIN ledgers l ON l.ledger_id = k.ledger_id JOIN entries e ON e.ledger_id = k.ledger_id AND e.idx = k.idx
        WHERE k.key NOT GLOB 'v2:*' AND (k.ledger_id, k.key) > (?, ?)
        ORDER BY k.ledger_id, k.key LIMIT ?`,
    );
    const insert = this.db.prepare('INSERT OR IGNORE INTO idempotency_keys (ledger_id, key, request_hash, idx) VALUES (?, ?, ?, ?)');
    const remove = this.db.prepare('DELETE FROM idempotency_keys WHERE ledger_id = ? AND key = ?');
    let after: [number, string] = [-1, ''];
    let converted = 0;
    for (;;) {
      const rows = legacy.all(after[0], after[1], LEGACY_KEY_CHUNK);
      if (rows.length === 0) break;
      this.db
        .transaction(() => {
          for (const row of rows) {
            const writer = (JSON.parse(row.leaf.toString('utf8')) as { writer: string }).writer;
            insert.run(row.ledger_id, this.sequencer.storedKey(row.name, writer, row.key), row.request_hash, row.idx);
            remove.run(row.ledger_id, row.key);
          }
        })
        .immediate();
      converted += rows.length;
      const last = rows.at(-1)!;
      after = [last.ledger_id, last.key];
    }
    if (converted > 0) this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  private prepare() {
    const db = this.db;
    return {
      ledgerByName: db.prepare<[string], { ledger_id: number; name: string; origin: string; created_at: number }>(
        'SELECT ledger_id, name, origin, created_at FROM ledgers WHERE name = ?',
      ),
      listLedgers: db.prepare<[], { ledger_id: number; name: string; origin: string; created_at: number }>(
        'SELECT ledger_id, name, origin, created_at FROM ledgers ORDER BY name',
      ),
      insertLedger: db.prepare('INSERT OR IGNORE INTO ledgers (name, origin, created_at) VALUES (?, ?, ?)'),
      latestCheckpoint: db.prepare<[number], CheckpointRow<number>>(
        'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = ? ORDER BY size DESC LIMIT 1',
      ),
      checkpointsBetween: db.prepare<[number, number, number], CheckpointRow<number>>(
        'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = ? AND size >= ? AND size <= ? ORDER BY size',
      ),
      checkpointCovering: db.prepare<[number, number], CheckpointRow<number>>(
        'SELECT size, root, note, frontier, created_at FROM checkpoints WHERE ledger_id = ? AND size > ? ORDER BY size LIMIT 1',
      ),
      entry: db.prepare<[number, number], EntryRow<number>>(
        'SELECT idx, received_at, leaf, leaf_hash, disclosures, redactions FROM entries WHERE ledger_id = ? AND idx = ?',
      ),
      entryPage: db.prepare<[number, number, number, number], EntryRow<number>>(
        'SELECT idx, received_at, leaf, leaf_hash, disclosures, redactions FROM entries WHERE ledger_id = ? AND idx >= ? AND idx < ? ORDER BY idx LIMIT ?',
      ),
      leafHashes: db.prepare<[number, number, number], { h: Buffer }>(
        'SELECT leaf_hash AS h FROM entries WHERE ledger_id = ? AND idx >= ? AND idx < ? ORDER BY idx',
      ),
      treeHashes: db.prepare<[number, number, number, number], { h: Buffer }>(
        'SELECT hash AS h FROM tree_hashes WHERE ledger_id = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx',
      ),
      idempotency: db.prepare<[number, string], { request_hash: Buffer; idx: number }>(
        'SELECT request_hash, idx FROM idempotency_keys WHERE ledger_id = ? AND key = ?',
      ),
      tileNodes: db.prepare<[number, number, number], { nodes: Buffer }>('SELECT nodes FROM tile_nodes WHERE ledger_id = ? AND level = ? AND tile = ?'),
      insertComputedTileNodes: db.prepare('INSERT INTO tile_nodes (ledger_id, level, tile, nodes) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      insertApiKey: db.prepare(
        'INSERT INTO api_keys (id, secret_hash, role, ledgers, tenants, description, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      apiKey: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?'),
      apiKeys: db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id'),
      revokeApiKey: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  // ---- ledgers -------------------------------------------------------------------------------------

  async createLedger(name: string): Promise<boolean> {
    const result = this.statements.insertLedger.run(name, `${this.options.name}/${name}`, Date.now() * 1000);
    return result.changes === 1;
  }

  async getLedger(name: string): Promise<LedgerInfo | undefined> {
    const row = this.statements.ledgerByName.get(name);
    return row && this.ledgerInfo(row);
  }

  async listLedgers(): Promise<LedgerInfo[]> {
    return this.statements.listLedgers.all().map((row) => this.ledgerInfo(row));
  }

  private ledgerInfo(row: { ledger_id: number; name: string; origin: string; created_at: number }): LedgerInfo {
    const size = this.statements.latestCheckpoint.get(row.ledger_id)?.size ?? 0;
    return { name: row.name, origin: row.origin, createdAt: formatMicros(row.created_at), size };
  }

  private ledgerId(name: string): number {
    const known = this.ledgerIds.get(name);
    if (known !== undefined) return known;
    const row = this.statements.ledgerByName.get(name);
    if (!row) throw new StoreError('LEDGER_NOT_FOUND', `no ledger named ${JSON.stringify(name)}`, { ledger: name });
    // Ledgers are never renamed or removed (the table is append-only), so an id once found stays right.
    this.ledgerIds.set(name, row.ledger_id);
    return row.ledger_id;
  }

  // ---- appends -------------------------------------------------------------------------------------

  append(ledger: string, requests: AppendRequest[]): Promise<Receipt[]> {
    return this.sequencer.append(ledger, requests);
  }

  /**
   * Seals the batch on the head as this connection reads it, then has the writer commit it if the
   * ledger is still that long (batch-writer.ts): the transaction and its fsync happen on the writer
   * thread, off the event loop. If another process on the file appended first, the batch is sealed
   * again on the new head; the signed note of the discarded attempt is dropped unseen (it was never
   * stored, returned or recorded by the signing guard).
   */
  async commitBatch(
    ledger: string,
    keys: string[],
    build: (head: LedgerHead, existing: Map<string, ExistingKey>) => BatchWrite,
  ): Promise<BatchWrite> {
    for (let attempt = 0; ; attempt++) {
      const head = this.currentHead(ledger);
      const existing = new Map<string, ExistingKey>();
      for (const key of keys) {
        const found = this.existingKey(head.ledgerId, ledger, key);
        if (found) existing.set(key, found);
      }
      const write = build(head, existing);
      // Every request was a retry of a stored entry: nothing to write.
      if (!write.checkpoint) return write;
      const outcome = await this.writer().commit(head.ledgerId, head.frontier.size, wireBatch(write), this.recordsOf(write));
      if (outcome === 'committed') {
        this.heads.set(ledger, { ...write.head, ledgerId: head.ledgerId });
        return write;
      }
      this.heads.delete(ledger);
      if (attempt >= MAX_STALE_RETRIES) {
        throw new StoreError('OVERLOADED', `ledger ${ledger}: other processes kept appending to the file first; retry`, { ledger });
      }
    }
  }

  private writer(): BatchWriterHandle {
    if (this.writerHandle) return this.writerHandle;
    if (isSharedFile(this.options.path)) return this.writerThread();
    const writer = new SqliteBatchWriter(this.db, this.searchIndex, { sliceMs: IN_THREAD_SLICE_MS, maxSliceMs: IN_THREAD_SLICE_MS * 5, onGap: this.onGap, ...this.backlogOption() });
    this.writerHandle = new InThreadWriter(writer);
    return this.writerHandle;
  }

  /** A gap the writer found while indexing in the background: filled from the entries (a failure waits for the next read). */
  private backlogOption(): { maxBacklog?: number } {
    return this.options.maxIndexBacklog !== undefined ? { maxBacklog: this.options.maxIndexBacklog } : {};
  }

  private readonly onGap = (gap: IndexGap) => void this.fillGap(gap).catch(() => {});

  /** The writer thread of a database file (started on its first request). */
  private writerThread(): WriterThread {
    if (this.writerHandle instanceof WriterThread) return this.writerHandle;
    const thread = new WriterThread({ path: this.options.path, sliceMs: INDEX_SLICE_MS, maxSliceMs: INDEX_SLICE_MAX_MS, ...this.backlogOption() }, this.onGap);
    this.writerHandle = thread;
    return thread;
  }

  /**
   * The search records of a committed batch, made here (geolocation lives on this thread). None in bulk
   * loading; none either if one cannot be made: the batch is committed and must be acknowledged, and
   * its records are then read back from the entries by the next read of the index (a gap).
   */
  private recordsOf(write: BatchWrite): SearchRecord[] | undefined {
    if (this.options.bulkLoad) return undefined;
    try {
      return write.entries.map((e) => searchRecord(e.index, e.receivedAtMicros, e.writer, e.disclosures, this.searchContext));
    } catch {
      return undefined;
    }
  }

  /**
   * The head cached in memory, re-read when the database moved on without us (another process wrote
   * to the same file, or a test rolled the file back): the latest checkpoint decides.
   */
  private currentHead(ledger: string): LedgerHead & { ledgerId: number } {
    const cached = this.heads.get(ledger);
    const ledgerId = cached?.ledgerId ?? this.ledgerId(ledger);
    const latest = this.statements.latestCheckpoint.get(ledgerId);
    const size = latest?.size ?? 0;
    if (cached && cached.frontier.size === size) return cached;
    const head = {
      ledgerId,
      ...this.sequencer.headFrom(
        ledger,
        `${this.options.name}/${ledger}`,
        latest && { size: latest.size, note: latest.note, frontier: latest.frontier, createdAtMicros: latest.created_at },
      ),
    };
    this.heads.set(ledger, head);
    return head;
  }

  private existingKey(ledgerId: number, ledger: string, key: string): ExistingKey | undefined {
    const row = this.statements.idempotency.get(ledgerId, key);
    if (!row) return undefined;
    const entry = this.statements.entry.get(ledgerId, row.idx);
    const checkpoint = this.statements.checkpointCovering.get(ledgerId, row.idx);
    if (!entry || !checkpoint) {
      throw new StoreError('CORRUPT', `ledger ${ledger}: idempotency key points at entry ${row.idx}, which is not stored or not checkpointed`, { ledger });
    }
    return {
      requestHash: row.request_hash,
      receipt: {
        ledger,
        index: row.idx,
        leafHash: toBase64(entry.leaf_hash),
        receivedAt: formatMicros(entry.received_at),
        checkpoint: checkpoint.note,
        treeSize: checkpoint.size,
      },
    };
  }

  /**
   * Indexes entries the search index lacks: after the migration that introduced it, or after a crash or
   * a kill lost the records that were waiting to be indexed (batch-writer.ts). Runs on open.
   */
  private catchUpSearchIndex(): void {
    for (const { ledger_id: ledgerId } of this.statements.listLedgers.all()) this.indexEntries(ledgerId);
  }

  /**
   * Search records of up to `limit` stored entries in [next, before), read back from the entries, and
   * the index after the last entry read (`next` when none was): purged entries yield no record, so
   * progress is counted in entries read, not in records.
   */
  private recordsFromEntries(ledgerId: number, next: number, before: number, limit: number): { records: SearchRecord[]; end: number } {
    const rows = this.statements.entryPage.all(ledgerId, next, before, limit);
    const records = rows.flatMap((row) => {
      // A purged entry has nothing left to search by, and its search rows were removed on purpose.
      if (isPurged(row)) return [];
      const writer = (JSON.parse(row.leaf.toString('utf8')) as { writer: string }).writer;
      return [searchRecord(row.idx, row.received_at, writer, JSON.parse(row.disclosures) as Disclosures, this.searchContext)];
    });
    return { records, end: rows.length === 0 ? next : rows.at(-1)!.idx + 1 };
  }

  /** Indexes stored entries [nextUnindexed, latest checkpoint size) read back from the entries. */
  private indexEntries(ledgerId: number): void {
    const size = this.statements.latestCheckpoint.get(ledgerId)?.size ?? 0;
    for (let next = 0; ; ) {
      // Where the index stops is read under the write lock: another store's writer on the same file
      // (a server running beside this open) may be indexing the same entries meanwhile.
      const end = this.db
        .transaction(() => {
          const from = Math.max(next, this.searchIndex.nextUnindexed(ledgerId));
          if (from >= size) return from;
          const page = this.recordsFromEntries(ledgerId, from, size, PAGE);
          if (page.records.length > 0) this.searchIndex.add(ledgerId, page.records);
          return page.end;
        })
        .immediate();
      if (end <= next || end >= size) break;
      next = end;
    }
  }

  /**
   * Makes the search index cover every entry acknowledged before the call, by this process or another
   * on the same file, before it is read: the writer indexes what waits (in slices, off this thread for
   * a file), and what it never received (another process's appends, or a queue lost with a writer
   * thread) is read back from the entries. Appends acknowledged meanwhile need not be waited for (they
   * are newer than the request); the index grows contiguously, so a read sees every event up to there.
   */
  private async indexedForRead(ledgerId: number): Promise<void> {
    this.refuseDuringRebuild();
    if (this.options.readonly || this.options.bulkLoad) return;
    const acknowledged = [...this.heads.values()].find((h) => h.ledgerId === ledgerId)?.frontier.size ?? 0;
    const target = Math.max(acknowledged, this.statements.latestCheckpoint.get(ledgerId)?.size ?? 0);
    if (this.searchIndex.nextUnindexed(ledgerId) < target) {
      const writer = this.writer();
      // One gap filled from the entries, then once more: a second gap means the entries themselves end
      // there (purged), and there is nothing more to index.
      for (let round = 0; round < 2; round++) {
        const gap = await writer.indexThrough(ledgerId, target);
        if (!gap) break;
        await this.fillGap(gap);
      }
    }
    if (!this.db.open) throw new StoreError('OVERLOADED', 'the store was closed during the read; try again');
    // A rebuild another process began meanwhile leaves a partial index: refused.
    this.refuseDuringRebuild();
  }

  /**
   * Another process is rebuilding the index (or died doing so): it has no secondary indexes and is
   * incomplete, so answering from it would be slow and wrong.
   */
  private refuseDuringRebuild(): void {
    if (this.searchIndex.bulkUnfinished()) {
      throw new StoreError('OVERLOADED', 'the search index is being rebuilt (sealtrail reindex); search again when it has finished');
    }
  }

  /**
   * Reads the gap's records back from the entries (in pages, yielding between) and hands them to the
   * writer. One fill runs per ledger: the writer reports the gap again whenever a slice meets the part
   * not yet filled, and a reader may meet it too; each joins the fill under way, extending how far it
   * reaches, instead of reading the same entries again (before, in pages of 1,000 taking 20 ms each, the
   * 6,500-entry gap of test/store/sqlite-deferred-index.test.ts was read back 6–14 times over).
   */
  private fillGap(gap: IndexGap): Promise<void> {
    const running = this.fills.get(gap.ledgerId);
    if (running) {
      running.to = Math.max(running.to, gap.to);
      return running.done;
    }
    const fill = { to: gap.to, done: Promise.resolve() };
    this.fills.set(gap.ledgerId, fill);
    fill.done = this.fillFrom(gap.ledgerId, gap.from, fill);
    return fill.done;
  }

  /** Per ledger, the gap fill under way and the entry it must reach (fillGap). */
  private readonly fills = new Map<number, { to: number; done: Promise<void> }>();

  private async fillFrom(ledgerId: number, from: number, fill: { to: number }): Promise<void> {
    try {
      for (let next = from; next < fill.to && this.db.open; ) {
        const { records, end } = this.recordsFromEntries(ledgerId, next, fill.to, FILL_PAGE);
        if (end === next) {
          // The entries end before the gap does: covered as far as they go.
          await this.writer().fill(ledgerId, [], next);
          return;
        }
        await this.writer().fill(ledgerId, records, end);
        next = end;
      }
    } finally {
      // In the same turn as the loop's last check of fill.to: a gap reported from here on starts a fill
      // of its own rather than joining one that will not reach it (a reader would then read too early).
      this.fills.delete(ledgerId);
    }
  }

  /**
   * Builds the whole search index anew from the entries, in one pass: rows appended in index order,
   * then each B-tree built once by sorting (SqliteSearchIndex.beginBulk). For bulk loads and for
   * re-deriving what the index holds (e.g. locations of events indexed before geolocation was set up).
   * Searches of the file (from any process) are refused with OVERLOADED until it has finished: run it
   * with no server using the file.
   */
  rebuildSearchIndex(progress?: (p: RebuildProgress) => void): { events: number } {
    // Whatever waits in a writer is dropped as already indexed; the rest is read back from the entries.
    this.db.transaction(() => this.searchIndex.beginBulk()).immediate();
    return this.finishRebuild(progress);
  }

  /**
   * Once, after migration 6: an event rewritten by a forget before then got a new search row id, out of
   * index order. If any is, the index is rebuilt (in bulk, next).
   */
  private repairSearchIndex(): void {
    const task = this.db.prepare<[], { name: string }>(`SELECT name FROM search_repairs WHERE name = 'id-order'`).get();
    if (!task) return;
    // One pass over the (ledger_id, idx) index, which carries the ids: ~2 s at 10M events.
    const outOfOrder = this.db
      .prepare(`SELECT 1 FROM (SELECT id, lag(id) OVER (PARTITION BY ledger_id ORDER BY idx) AS before FROM search_events) WHERE id < before LIMIT 1`)
      .get();
    this.db
      .transaction(() => {
        if (outOfOrder && !this.searchIndex.bulkUnfinished()) this.searchIndex.beginBulk();
        this.db.prepare(`DELETE FROM search_repairs WHERE name = 'id-order'`).run();
      })
      .immediate();
  }

  /** Loads every ledger's entries from where its index stops, in bulk, then builds the B-trees. */
  private finishRebuild(progress?: (p: RebuildProgress) => void): { events: number } {
    const ledgers = this.statements.listLedgers.all().map((l) => ({
      id: l.ledger_id,
      size: this.statements.latestCheckpoint.get(l.ledger_id)?.size ?? 0,
      next: this.searchIndex.nextUnindexed(l.ledger_id),
    }));
    const total = ledgers.reduce((sum, l) => sum + l.size, 0);
    let done = ledgers.reduce((sum, l) => sum + Math.min(l.next, l.size), 0);
    for (const ledger of ledgers) {
      for (let next = ledger.next; next < ledger.size; ) {
        const end = this.db
          .transaction(() => {
            let at = next;
            while (at - next < REBUILD_CHUNK_EVENTS && at < ledger.size) {
              const page = this.recordsFromEntries(ledger.id, at, ledger.size, PAGE);
              if (page.end === at) break;
              this.searchIndex.addBulk(ledger.id, page.records);
              at = page.end;
            }
            return at;
          })
          .immediate();
        if (end === next) break;
        done += end - next;
        next = end;
        progress?.({ phase: 'rows', done, total });
      }
    }
    this.db.transaction(() => this.searchIndex.finishBulk((step) => progress?.({ phase: 'indexes', done, total, step }))).immediate();
    this.db.pragma('optimize');
    return { events: done };
  }

  /** Writes every waiting search record now (tests and tools that read the index tables directly). */
  async indexPending(): Promise<void> {
    for (const { ledger_id: ledgerId } of this.statements.listLedgers.all()) await this.indexedForRead(ledgerId);
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async latestCheckpoint(ledger: string): Promise<StoredCheckpoint | undefined> {
    const row = this.statements.latestCheckpoint.get(this.ledgerId(ledger));
    return row && toCheckpoint(ledger, row);
  }

  async checkpoints(ledger: string, from = 0, to = Number.MAX_SAFE_INTEGER): Promise<StoredCheckpoint[]> {
    return this.statements.checkpointsBetween.all(this.ledgerId(ledger), from, to).map((row) => toCheckpoint(ledger, row));
  }

  async getEntry(ledger: string, index: number): Promise<StoredEntry | undefined> {
    const row = this.statements.entry.get(this.ledgerId(ledger), index);
    return row && toEntry(ledger, row);
  }

  async *entries(ledger: string, from: number, to: number): AsyncIterable<StoredEntry> {
    const ledgerId = this.ledgerId(ledger);
    let next = from;
    while (next < to) {
      const rows = this.statements.entryPage.all(ledgerId, next, to, PAGE);
      if (rows.length === 0) return;
      for (const row of rows) yield toEntry(ledger, row);
      next = rows[rows.length - 1]!.idx + 1;
    }
  }

  async readHashes(ledger: string, ranges: HashRange[]): Promise<Uint8Array[][]> {
    const ledgerId = this.ledgerId(ledger);
    return ranges.map(({ level, start, end }) =>
      (level === 0
        ? this.statements.leafHashes.all(ledgerId, start, end)
        : this.statements.treeHashes.all(ledgerId, level, start, end)
      ).map((row) => row.h),
    );
  }

  async readTileNodes(ledger: string, tiles: ReadonlyArray<{ level: number; tile: number }>): Promise<Array<Uint8Array | undefined>> {
    const ledgerId = this.ledgerId(ledger);
    return tiles.map(({ level, tile }) => this.statements.tileNodes.get(ledgerId, level, tile)?.nodes);
  }

  async writeTileNodes(ledger: string, tiles: readonly TileNodes[]): Promise<void> {
    if (this.options.readonly || tiles.length === 0) return;
    const ledgerId = this.ledgerId(ledger);
    this.db.transaction(() => {
      for (const t of tiles) this.statements.insertComputedTileNodes.run(ledgerId, t.level, t.tile, t.nodes);
    })();
  }

  // ---- search --------------------------------------------------------------------------------------

  /** The SQL and parameters search() runs for one page (public for EXPLAIN in tests and benchmarks). */
  async searchStatement(ledger: string, request: SearchRequest, entryColumns?: string): Promise<Statement> {
    const ledgerId = this.ledgerId(ledger);
    await this.indexedForRead(ledgerId);
    const query = await receivedAsIndex(request.query, (micros) => this.firstIndexAtOrAfter(ledgerId, micros));
    const direction = request.order === 'desc' ? 'DESC' : 'ASC';
    // A free-text term drives the search from the FTS index, read in rowid order and stopped at the
    // page: within a ledger rowids follow index order (SqliteSearchIndex.add), so this is index order.
    // Otherwise the free text would be collected whole and sorted, every match of a common word.
    const text = drivingText(query);
    const params: unknown[] = text ? [ftsPhrase(text.phrase), ledgerId] : [ledgerId];
    const where = compileWhere(text ? text.rest : query, sqliteDialect(params, ledgerId));
    let cursor = '';
    if (request.after !== undefined) {
      cursor = ` AND e.idx ${direction === 'DESC' ? '<' : '>'} ?`;
      params.push(request.after);
      if (text) {
        // The same bound as a rowid, so that the FTS index seeks to it instead of reading every match
        // of the pages before (ids follow index order within the ledger).
        cursor +=
          direction === 'DESC'
            ? ` AND t.rowid < COALESCE((SELECT id FROM search_events WHERE ledger_id = ? AND idx >= ? ORDER BY idx LIMIT 1), 9223372036854775807)`
            : ` AND t.rowid > COALESCE((SELECT id FROM search_events WHERE ledger_id = ? AND idx <= ? ORDER BY idx DESC LIMIT 1), 0)`;
        params.push(ledgerId, request.after);
      }
    }
    params.push(request.limit + 1);
    const matches = text
      ? `FROM search_text t CROSS JOIN search_events e ON e.id = t.rowid
                  WHERE t.search_text MATCH ? AND e.ledger_id = ? AND ${where}${cursor} ORDER BY t.rowid ${direction}`
      : `FROM search_events e
                  WHERE e.ledger_id = ? AND ${where}${cursor} ORDER BY e.idx ${direction}`;
    return { sql: pageOfEntries(matches, '?', direction, entryColumns), params };
  }

  /**
   * Runs a heavy read: on a worker thread under the time budget, or here for a database no other
   * connection can open (":memory:", "" for a private temporary one, or a "file:" URI).
   * The caller has brought the index up to date (indexedForRead) and committed it, so the worker's own
   * read transaction, started after that, sees every acknowledged entry.
   */
  /**
   * The integrity monitor's slices verified on a thread with its own read-only connection to the file
   * (verifier-thread.ts); none for an in-memory database, which no other connection can read.
   */
  offloadedSlices(keyName: string, publicKey: Uint8Array): OffloadedSlices | undefined {
    const { path } = this.options;
    return isSharedFile(path) ? new VerifierThread({ path, keyName, publicKey }) : undefined;
  }

  private heavyRead<T>(sql: string, params: unknown[]): Promise<T[]> {
    const { path } = this.options;
    if (!isSharedFile(path)) return Promise.resolve(this.db.prepare<unknown[], T>(sql).all(...params));
    this.readPool ??= new SqliteReadPool({ path, budgetMs: this.options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS });
    return this.readPool.all<T>(sql, params);
  }

  private readPool: SqliteReadPool | undefined;
  /** The thread export pages that may scan are read on (searchForExport), with a small page cache. */
  private bulkReadPool: SqliteReadPool | undefined;
  /** The connection export pages of one index range are read on (searchForExport), with a small page cache. */
  private bulkDb: Database.Database | undefined;
  private bulkConnection(): Database.Database {
    const { path } = this.options;
    if (!isSharedFile(path)) return this.db;
    if (!this.bulkDb) {
      this.bulkDb = new Database(path, { readonly: true, fileMustExist: true });
      this.bulkDb.pragma(`cache_size = -${BULK_READ_CACHE_KIB}`);
    }
    return this.bulkDb;
  }

  /** Prepared statements of bulkConnection by SQL text: an export asks the same one for every page. */
  private readonly bulkStatements = new Map<string, Database.Statement>();
  private bulkStatement(sql: string): Database.Statement {
    let statement = this.bulkStatements.get(sql);
    if (!statement) {
      if (this.bulkStatements.size >= 16) this.bulkStatements.delete(this.bulkStatements.keys().next().value!);
      statement = this.bulkConnection().prepare(sql);
      this.bulkStatements.set(sql, statement);
    }
    return statement;
  }

  async search(ledger: string, request: SearchRequest): Promise<SearchPage> {
    const { sql, params } = await this.searchStatement(ledger, request);
    const rows = await this.heavyRead<HitRow<number>>(sql, params);
    const page = rows.slice(0, request.limit);
    return { entries: page.map((row) => toHit(ledger, row)), next: rows.length > request.limit ? page.at(-1)!.idx : null };
  }

  async searchForExport(ledger: string, request: SearchRequest): Promise<ExportPage> {
    const { sql, params } = await this.searchStatement(ledger, request, EXPORT_ENTRY_COLUMNS);
    const rows = await this.bulkRows(sql, params, !isOneRange(request.query));
    const page = rows.slice(0, request.limit);
    const ledgerId = this.ledgerId(ledger);
    const wholeLeaf = (index: number) => this.statements.entry.get(ledgerId, index)!.leaf;
    return { entries: page.map((row) => exportHitOf(ledger, row, wholeLeaf)), next: rows.length > request.limit ? (page.at(-1)![0] as number) : null };
  }

  /**
   * An export page's rows as arrays of column values (EXPORT_ENTRY_COLUMNS, then the location's). A
   * page of one index range (an export of everything, or of a time window) costs its rows and no more;
   * anything else may scan, so it runs under the time budget, on the export's worker thread.
   */
  private bulkRows(sql: string, params: unknown[], mayScan: boolean): Promise<unknown[][]> | unknown[][] {
    const { path } = this.options;
    if (!isSharedFile(path)) return this.db.prepare(sql).raw(true).all(...params) as unknown[][];
    if (!mayScan) return this.bulkStatement(sql).raw(true).all(...params) as unknown[][];
    this.bulkReadPool ??= new SqliteReadPool({ path, budgetMs: this.options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS, threads: 1, cacheKiB: BULK_READ_CACHE_KIB });
    return this.bulkReadPool.all<unknown[]>(sql, params, true);
  }

  /** The SQL and parameters stats() runs (public for EXPLAIN in tests and benchmarks). */
  async statsStatement(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Statement> {
    const ledgerId = this.ledgerId(ledger);
    await this.indexedForRead(ledgerId);
    const params: unknown[] = [ledgerId];
    const narrowed = await receivedAsIndex(query, (micros) => this.firstIndexAtOrAfter(ledgerId, micros));
    const where = compileWhere(narrowed, sqliteDialect(params, ledgerId));
    params.push(limit);
    const group = statsGroup(by, (divisor) => `e.received_at / ${divisor}`);
    const sql = `SELECT ${group.key} AS key, count(*) AS count FROM search_events e${group.join} WHERE e.ledger_id = ? AND ${where}
          GROUP BY 1 ORDER BY ${isTimeDimension(by) ? '1' : '2 DESC, 1'} LIMIT ?`;
    return { sql, params };
  }

  /** The rollup read stats() runs for the whole hours of a query the rollups answer (rollupPlan), if it is one. */
  async rollupStatement(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Statement | undefined> {
    const plan = rollupPlan(query, by);
    if (!plan) return undefined;
    const ledgerId = this.ledgerId(ledger);
    await this.indexedForRead(ledgerId);
    const params: unknown[] = [];
    return { sql: wholeHoursQuery(ledgerId, plan, by, limit, sqliteDialect(params, ledgerId).param), params };
  }

  async stats(ledger: string, query: Query, by: StatsDimension, limit: number): Promise<Array<{ key: string | null; count: number }>> {
    const plan = rollupPlan(query, by);
    const grouped = async (q: Query, dimension: StatsDimension) => {
      const { sql, params } = await this.statsStatement(ledger, q, dimension, limit);
      return this.heavyRead<CountRow>(sql, params);
    };
    // The rollup read is at most a few thousand rows of one key range: read here, not on a worker.
    const wholeHours = async () => {
      const { sql, params } = (await this.rollupStatement(ledger, query, by, limit))!;
      return this.db.prepare<unknown[], CountRow>(sql).all(...params);
    };
    const rows = plan ? await countsFromRollups(plan, by, limit, wholeHours, (edge) => grouped(edge, 'hour')) : await grouped(query, by);
    return rows.map((row) => ({ key: statsKey(by, row.key), count: Number(row.count) }));
  }

  // ---- derived rows, for verification (src/store/verify-derived.ts) -----------------------------------

  async *indexedEvents(ledger: string, from: number, to: number): AsyncIterable<IndexedEventRow> {
    const ledgerId = this.ledgerId(ledger);
    // Records of this process still waiting in memory are written first (a verifying, read-only store has none).
    if (!this.options.readonly) await this.indexedForRead(ledgerId);
    const page = this.db.prepare<[number, number, number, number], IndexedEventColumns<number>>(
      `SELECT ${INDEXED_EVENT_COLUMNS} FROM search_events WHERE ledger_id = ? AND idx >= ? AND idx < ? ORDER BY idx LIMIT ?`,
    );
    for (let next = from; ; ) {
      const rows = page.all(ledgerId, next, to, PAGE);
      for (const row of rows) yield toIndexedEvent(row);
      if (rows.length < PAGE) return;
      next = rows.at(-1)!.idx + 1;
    }
  }

  async *indexedDetails(ledger: string, from: number, to: number): AsyncIterable<IndexedDetailRow> {
    const ledgerId = this.ledgerId(ledger);
    if (!this.options.readonly) await this.indexedForRead(ledgerId);
    // Keyset pages in primary-key order: the tables have no index by idx, and need none but this scan.
    const targets = this.db.prepare<[number, string, number, string, number, number, number], { target_id: string; idx: number; target_type: string; target_name: string | null }>(
      `SELECT target_id, idx, target_type, target_name FROM search_targets
        WHERE ledger_id = ? AND (target_id, idx, target_type) > (?, ?, ?) AND idx >= ? AND idx < ? ORDER BY target_id, idx, target_type LIMIT ?`,
    );
    for (let after: [string, number, string] = ['', Number.MIN_SAFE_INTEGER, '']; ; ) {
      const rows = targets.all(ledgerId, ...after, from, to, PAGE);
      for (const r of rows) yield { index: r.idx, target: { type: r.target_type, id: r.target_id, name: r.target_name } };
      if (rows.length < PAGE) break;
      const last = rows.at(-1)!;
      after = [last.target_id, last.idx, last.target_type];
    }
    const metadata = this.db.prepare<[number, string, string, number, number, number, number], { key: string; value: string; idx: number }>(
      `SELECT key, value, idx FROM search_metadata
        WHERE ledger_id = ? AND (key, value, idx) > (?, ?, ?) AND idx >= ? AND idx < ? ORDER BY key, value, idx LIMIT ?`,
    );
    for (let after: [string, string, number] = ['', '', Number.MIN_SAFE_INTEGER]; ; ) {
      const rows = metadata.all(ledgerId, ...after, from, to, PAGE);
      for (const r of rows) yield { index: r.idx, metadata: [r.key, r.value] };
      if (rows.length < PAGE) break;
      const last = rows.at(-1)!;
      after = [last.key, last.value, last.idx];
    }
  }

  async rollupMismatch(ledger: string): Promise<RollupMismatch | undefined> {
    const ledgerId = this.ledgerId(ledger);
    if (!this.options.readonly) await this.indexedForRead(ledgerId);
    const params: unknown[] = [];
    const sql = rollupMismatchQuery(sqliteDialect(params, ledgerId).ledger!);
    const row = this.db.prepare<unknown[], { dimension: RollupDimension; value: string; hour: number; stored: number | null; counted: number | null }>(sql).get(...params);
    return row && toRollupMismatch(row);
  }

  async *idempotencyKeys(ledger: string): AsyncIterable<StoredIdempotencyKey> {
    const ledgerId = this.ledgerId(ledger);
    const page = this.db.prepare<[number, number, string, number], { idx: number; key: string }>(
      'SELECT idx, key FROM idempotency_keys WHERE ledger_id = ? AND (idx, key) > (?, ?) ORDER BY idx, key LIMIT ?',
    );
    for (let after: [number, string] = [Number.MIN_SAFE_INTEGER, '']; ; ) {
      const rows = page.all(ledgerId, ...after, PAGE);
      for (const r of rows) yield { index: r.idx, key: r.key };
      if (rows.length < PAGE) return;
      after = [rows.at(-1)!.idx, rows.at(-1)!.key];
    }
  }

  private firstIndexAtOrAfterStatement: Database.Statement<[number, number, number], { idx: number | null }> | undefined;

  private firstIndexAtOrAfter(ledgerId: number, micros: number): number {
    // Two index probes: the earliest received_at at or after the time, then its lowest index (among the
    // few events of that one batch). Named, because without statistics the planner walked the ledger's
    // (ledger_id, idx) index for the min(idx) instead: milliseconds at 20,000 events, seconds at 10M.
    // Prepared when first used: a rebuild drops the index for a while, and opening must not need it.
    this.firstIndexAtOrAfterStatement ??= this.db.prepare<[number, number, number], { idx: number | null }>(
      `SELECT min(idx) AS idx FROM search_events INDEXED BY search_events_received WHERE ledger_id = ? AND received_at =
         (SELECT min(received_at) FROM search_events INDEXED BY search_events_received WHERE ledger_id = ? AND received_at >= ?)`,
    );
    return this.firstIndexAtOrAfterStatement.get(ledgerId, ledgerId, micros)?.idx ?? Number.MAX_SAFE_INTEGER;
  }

  // ---- API keys ------------------------------------------------------------------------------------

  async createApiKey(key: ApiKeyRecord): Promise<void> {
    this.statements.insertApiKey.run(
      key.id,
      key.secretHash,
      key.role,
      JSON.stringify(key.ledgers),
      JSON.stringify(key.tenants),
      key.description,
      key.createdAtMicros,
      key.expiresAtMicros,
      key.revokedAtMicros,
    );
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = this.statements.apiKey.get(id);
    return row && toApiKey(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return this.statements.apiKeys.all().map(toApiKey);
  }

  async revokeApiKey(id: string, atMicros: number): Promise<boolean> {
    if (!this.statements.apiKey.get(id)) return false;
    this.statements.revokeApiKey.run(atMicros, id);
    return true;
  }

  // ---- retention (src/store/sqlite/retention.ts) ------------------------------------------------------

  async forget(ledger: string, requests: ForgetRequest[], options: ForgetOptions = {}): Promise<ForgetResult> {
    const ledgerId = this.ledgerId(ledger);
    // Forgetting rewrites search rows from what remains: nothing of the ledger may still wait to be indexed.
    await this.indexedForRead(ledgerId);
    const result = this.retention.forget(ledgerId, ledger, requests, options.dryRun);
    if (result.changed.length > 0 && !options.dryRun && options.scrub !== false) await this.retention.scrub();
    return result;
  }

  scrubFiles(): Promise<void> {
    return this.retention.scrub();
  }

  async legacyRedactions(): Promise<LegacyRedaction[]> {
    const rows = this.db
      .prepare<[], { name: string; idx: number; redactions: string }>(
        'SELECT l.name, r.idx, r.redactions FROM legacy_redactions r JOIN ledgers l USING (ledger_id) ORDER BY r.ledger_id, r.idx',
      )
      .all();
    return rows.map((r) => ({ ledger: r.name, index: r.idx, redactions: JSON.parse(r.redactions) as Redactions }));
  }

  async settleLegacyRedactions(entries: Array<{ ledger: string; index: number }>): Promise<void> {
    const remove = this.db.prepare('DELETE FROM legacy_redactions WHERE ledger_id = ? AND idx = ?');
    this.db.transaction(() => {
      for (const { ledger, index } of entries) remove.run(this.ledgerId(ledger), index);
    })();
  }

  async retentionPolicy(): Promise<StoredPolicy | undefined> {
    return this.retention.retentionPolicy();
  }

  async putRetentionPolicy(policy: string, changedBy: string, atMicros: number): Promise<number> {
    return this.retention.putRetentionPolicy(policy, changedBy, atMicros);
  }

  async createLegalHold(hold: LegalHold): Promise<void> {
    this.retention.createLegalHold(hold);
  }

  async legalHolds(): Promise<LegalHold[]> {
    return this.retention.legalHoldsNow();
  }

  async releaseLegalHold(id: string, releasedBy: string, atMicros: number, reason: string): Promise<boolean> {
    return this.retention.releaseLegalHold(id, releasedBy, atMicros, reason);
  }

  // ---- integrity of the running server (src/store/integrity.ts) --------------------------------------

  async integrityRecords(): Promise<IntegrityRecord[]> {
    const rows = this.db
      .prepare<[], { name: string; verified_size: number; verified_root: Buffer | null; verified_mac: Buffer | null; broken_reason: string | null; broken_at: number | null }>(
        'SELECT l.name, s.verified_size, s.verified_root, s.verified_mac, s.broken_reason, s.broken_at FROM integrity_state s JOIN ledgers l ON l.ledger_id = s.ledger_id ORDER BY l.name',
      )
      .all();
    return rows.map((r) => ({
      ledger: r.name,
      verifiedSize: r.verified_size,
      verifiedRoot: r.verified_root,
      verifiedMac: r.verified_mac,
      brokenReason: r.broken_reason,
      brokenAtMicros: r.broken_at,
    }));
  }

  async saveIntegrityWatermark(ledger: string, size: number, root: Uint8Array, mac: Uint8Array): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO integrity_state (ledger_id, verified_size, verified_root, verified_mac) VALUES (?, ?, ?, ?)
           ON CONFLICT (ledger_id) DO UPDATE SET verified_size = excluded.verified_size, verified_root = excluded.verified_root, verified_mac = excluded.verified_mac
           WHERE excluded.verified_size >= integrity_state.verified_size`,
      )
      .run(this.ledgerId(ledger), size, Buffer.from(root), Buffer.from(mac));
  }

  async markIntegrityBroken(ledger: string, reason: string, atMicros: number): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO integrity_state (ledger_id, broken_reason, broken_at) VALUES (?, ?, ?)
           ON CONFLICT (ledger_id) DO UPDATE SET broken_reason = excluded.broken_reason, broken_at = excluded.broken_at
           WHERE integrity_state.broken_reason IS NULL`,
      )
      .run(this.ledgerId(ledger), reason, atMicros);
  }

  async claimIntegrityLease(ledger: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO integrity_state (ledger_id, lease_holder, lease_until) VALUES (?, ?, ?)
           ON CONFLICT (ledger_id) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
           WHERE integrity_state.lease_holder IS NULL OR integrity_state.lease_holder = excluded.lease_holder OR integrity_state.lease_until < ?`,
      )
      .run(this.ledgerId(ledger), holder, untilMicros, nowMicros);
    return result.changes === 1;
  }

  async claimLease(name: string, holder: string, nowMicros: number, untilMicros: number): Promise<boolean> {
    const result = this.db
      .prepare(
        `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
           WHERE leases.holder = excluded.holder OR leases.until < ?`,
      )
      .run(name, holder, untilMicros, nowMicros);
    return result.changes === 1;
  }

  onAppended(listener: (ledger: string, size: number) => void): () => void {
    return this.sequencer.onAppended(listener);
  }

  searchIndexBacklog(): number {
    return this.writerHandle?.backlog() ?? 0;
  }

  async close(): Promise<void> {
    await Promise.all([this.readPool?.close(), this.bulkReadPool?.close()]);
    this.readPool = undefined;
    this.bulkReadPool = undefined;
    this.bulkStatements.clear();
    if (this.bulkDb?.open) this.bulkDb.close();
    this.bulkDb = undefined;
    // Leave nothing for the next open to catch up (it would, from the entries, if this were skipped).
    if (this.writerHandle && this.db.open) {
      try {
        await this.indexPending();
      } catch {
        // E.g. a rebuild began in another process: the next open catches up from the entries.
      }
      await this.writerHandle.close();
      this.writerHandle = undefined;
    }
    if (this.db.open) this.db.close();
  }
}

/**
 * Whether a query only narrows to one range of indexes (every clause a single index or received range),
 * so that a page of it is one range scan of (ledger, idx) that stops at the page: no read of it can scan
 * past its rows. Several ranges in one clause (an OR) could skip a gap of any length.
 */
function isOneRange(query: Query): boolean {
  return query.clauses.every((c) => (c.field === 'index' || c.field === 'received') && !c.negate && c.anyOf.length === 1 && c.anyOf[0]!.kind === 'range');
}

/** An export page's row (EXPORT_ENTRY_COLUMNS, then LOCATION_COLUMNS, as values) as an ExportHit. */
function exportHitOf(ledger: string, values: unknown[], wholeLeaf: (index: number) => Uint8Array): ExportHit {
  const [idx, receivedAt, leafTail, leafHashHex, disclosures, redactions, country, region, city, latitude, longitude, reserved] = values as [
    number, number, string, string, string, string | null, string | null, string | null, string | null, number | null, number | null, string | null,
  ];
  const hit: ExportHit = {
    ledger,
    index: idx,
    receivedAtMicros: receivedAt,
    leafHash: Buffer.from(leafHashHex, 'hex'),
    writer: writerFromTail(leafTail) ?? writerFromLeaf(wholeLeaf(idx)),
    disclosuresJson: disclosures,
  };
  if (redactions) hit.redactions = JSON.parse(redactions) as Redactions;
  // Most rows have no place: the location's columns are all null, and no object is built for them.
  if (country !== null || region !== null || city !== null || latitude !== null || longitude !== null || reserved !== null) {
    const location = locationFromRow({ country, region, city, latitude, longitude, ip_reserved: reserved });
    if (location) hit.location = location;
  }
  return hit;
}

/** An FTS5 string (double quotes doubled): with the trigram tokenizer, a substring match. */
function ftsPhrase(phrase: string): string {
  return `"${phrase.replace(/"/g, '""')}"`;
}

export function sqliteDialect(params: unknown[], ledgerId: number): Dialect {
  return {
    ledger() {
      params.push(ledgerId);
      return '?';
    },
    param(value) {
      params.push(value);
      return '?';
    },
    text(phrase) {
      params.push(ftsPhrase(phrase));
      return 'e.id IN (SELECT rowid FROM search_text WHERE search_text MATCH ?)';
    },
    inSet(column, values) {
      params.push(JSON.stringify(values));
      return `${column} IN (SELECT value FROM json_each(?))`;
    },
    blob: (hex) => Buffer.from(hex, 'hex'),
  };
}


/** What the writer needs of a sealed batch (its head stays here; disclosures go as the stored text). */
function wireBatch(write: BatchWrite): WireBatch {
  return {
    entries: write.entries.map((e) => ({ index: e.index, receivedAtMicros: e.receivedAtMicros, leaf: e.leaf, leafHash: e.leafHash, disclosures: JSON.stringify(e.disclosures) })),
    treeHashes: write.treeHashes,
    tileNodes: write.tileNodes,
    keys: write.keys,
    checkpoint: write.checkpoint!,
  };
}

