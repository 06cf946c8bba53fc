/**
 * Every write an append makes to the embedded store's file: each sealed batch (entries, tree hashes,
 * tiles, idempotency keys, checkpoint) in one IMMEDIATE transaction, then its search records in
 * deferred slices. For a database file this runs on the writer thread (writer-worker.ts), so that
 * neither the transaction, nor its fsync, nor the index writes hold the server's event loop; for an
 * in-memory database (no other connection can open it) it runs on the calling thread.
 *
 * The batch was sealed by the caller against the head it read, outside this transaction, so the
 * commit first checks, under the write lock, that the ledger is still at that size: another process
 * on the same file may have appended meanwhile. If it has, nothing is written ('stale') and the caller
 * seals again on the new head. Every batch writes a checkpoint, so the size alone tells.
 *
 * Search records wait here until a few thousand do (or appends pause), and are then written in
 * transactions sized to a time budget, so that a batch commit never waits long behind one. Past
 * `maxBacklog` waiting records a commit writes index slices before it answers: appends slow to the
 * pace of the index instead of the queue growing without bound. (Unbounded, the index was 4.3M events
 * behind at 6.3M appended through the API, once its random inserts fell behind, and the whole gap was
 * being read back on the event loop: docs/ARCHITECTURE.md.) Records
 * this writer never received (another process's appends, a lost queue after a restart of the thread)
 * are a gap: it asks its host to read them back from the entries (`onGap`, answered by `fill`), which
 * needs the store's geolocation and so cannot happen here. Nothing here needs to be durable: a crash
 * loses only records that the next open rebuilds from the entries.
 */
import type Database from 'better-sqlite3';
import type { StoredHash, TileNodes } from '../../core/tree.js';
import type { SearchRecord } from '../search-fields.js';
import type { SqliteSearchIndex } from './search-index.js';
import { StoreError } from '../store.js';

/** One sealed batch as it crosses to the writer thread (plain data: structured clone). */
export interface WireBatch {
  entries: Array<{ index: number; receivedAtMicros: number; leaf: Uint8Array; leafHash: Uint8Array; disclosures: string }>;
  treeHashes: StoredHash[];
  tileNodes: TileNodes[];
  keys: Array<{ key: string; requestHash: Uint8Array; index: number }>;
  checkpoint: { size: number; rootHash: Uint8Array; note: string; frontier: Uint8Array; createdAtMicros: number };
}

/** 'stale': the ledger grew past the size the batch was sealed on; nothing was written. */
export type CommitOutcome = 'committed' | 'stale';

/** Entries [from, to) of a ledger whose search records this writer lacks. */
export interface IndexGap {
  ledgerId: number;
  from: number;
  to: number;
}

export interface BatchWriterOptions {
  /** Time one background index transaction aims at, in ms. */
  sliceMs: number;
  /** The longest it may grow to while a backlog outruns the index. */
  maxSliceMs: number;
  /** Told (on a later turn of the loop) of a gap found while indexing in the background. */
  onGap(gap: IndexGap): void;
  /** The most records that wait before commits index first (default MAX_BACKLOG_EVENTS; tests set it low). */
  maxBacklog?: number;
}

/** Background indexing starts once this many records wait (or appends pause, INDEX_IDLE_MS). */
const INDEX_START_EVENTS = 2000;
/** Waiting records are indexed this long after appends pause, so an idle store has nothing waiting. */
const INDEX_IDLE_MS = 50;
/** Past this backlog the slice budget grows with it (up to maxSliceMs). */
const INDEX_BACKLOG_EVENTS = 8_000;
/** The most records one index transaction writes. */
const INDEX_MAX_SLICE_EVENTS = 8000;
/** Waiting records beyond which commits index before they answer: ~1 KB each, ~100 MB. */
export const MAX_BACKLOG_EVENTS = 100_000;
/** Refresh planner statistics as the ledger grows (SQLite's recommended periodic PRAGMA optimize). */
const OPTIMIZE_EVERY_EVENTS = 100_000;

interface Waiter {
  ledgerId: number;
  target: number;
  resolve(gap: IndexGap | undefined): void;
  reject(error: Error): void;
}

export class SqliteBatchWriter {
  private readonly statements;
  /** Search records of committed entries waiting to be indexed, per ledger id, in index order. */
  private readonly pending = new Map<number, SearchRecord[]>();
  /** Per ledger, how far fills from the entries have covered (purged entries there yield no record). */
  private readonly filledThrough = new Map<number, number>();
  /** Ledgers whose background gap was reported and not yet filled (reported once). */
  private readonly gapReported = new Set<number>();
  private readonly waiters: Waiter[] = [];
  /** Records per index transaction, re-aimed at the slice budget after each one. */
  private sliceRecords = 256;
  private pumpScheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private eventsSinceOptimize = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly searchIndex: SqliteSearchIndex,
    private readonly options: BatchWriterOptions,
  ) {
    this.statements = {
      latestSize: db.prepare<[number], { size: number }>('SELECT size FROM checkpoints WHERE ledger_id = ? ORDER BY size DESC LIMIT 1'),
      insertEntry: db.prepare('INSERT INTO entries (ledger_id, idx, received_at, leaf, leaf_hash, disclosures) VALUES (?, ?, ?, ?, ?, ?)'),
      insertTreeHash: db.prepare('INSERT INTO tree_hashes (ledger_id, level, idx, hash) VALUES (?, ?, ?, ?)'),
      // Appends insert plainly, as tree hashes: a row already there for a tile only now complete was planted.
      insertTileNodes: db.prepare('INSERT INTO tile_nodes (ledger_id, level, tile, nodes) VALUES (?, ?, ?, ?)'),
      insertKey: db.prepare('INSERT INTO idempotency_keys (ledger_id, key, request_hash, idx) VALUES (?, ?, ?, ?)'),
      insertCheckpoint: db.prepare('INSERT INTO checkpoints (ledger_id, size, root, note, frontier, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    };
  }

  /** Search records waiting to be indexed. */
  get backlog(): number {
    let n = 0;
    for (const pending of this.pending.values()) n += pending.length;
    return n;
  }

  /**
   * Writes the batch durably if the ledger is still `expectedSize` long, then queues its search records
   * (none in bulk loading).
   */
  commit(ledgerId: number, expectedSize: number, batch: WireBatch, records: SearchRecord[] | undefined): CommitOutcome {
    const s = this.statements;
    const outcome = this.db
      .transaction((): CommitOutcome => {
        if ((s.latestSize.get(ledgerId)?.size ?? 0) !== expectedSize) return 'stale';
        for (const e of batch.entries) s.insertEntry.run(ledgerId, e.index, e.receivedAtMicros, e.leaf, e.leafHash, e.disclosures);
        for (const h of batch.treeHashes) s.insertTreeHash.run(ledgerId, h.level, h.index, h.hash);
        for (const t of batch.tileNodes) s.insertTileNodes.run(ledgerId, t.level, t.tile, t.nodes);
        for (const k of batch.keys) s.insertKey.run(ledgerId, k.key, k.requestHash, k.index);
        const c = batch.checkpoint;
        s.insertCheckpoint.run(ledgerId, c.size, c.rootHash, c.note, c.frontier, c.createdAtMicros);
        return 'committed';
      })
      .immediate();
    if (outcome === 'stale') return outcome;
    this.eventsSinceOptimize += batch.entries.length;
    if (this.eventsSinceOptimize >= OPTIMIZE_EVERY_EVENTS) {
      this.eventsSinceOptimize = 0;
      this.db.pragma('optimize');
    }
    if (records && records.length > 0) this.queue(ledgerId, records);
    this.holdToBacklog();
    return outcome;
  }

  /**
   * Indexes until no more than maxBacklog records wait, before the commit that went past it answers.
   * Stops where no slice can make progress: a ledger behind a reported gap waits for its fill.
   */
  private holdToBacklog(): void {
    const max = this.options.maxBacklog ?? MAX_BACKLOG_EVENTS;
    // Each slice is one short transaction; the commits queued behind this one wait, as intended.
    while (this.backlog > max && this.indexSlice());
  }

  /** Records read back from the entries for a gap, covering entries up to `through`. */
  fill(ledgerId: number, records: SearchRecord[], through: number): void {
    this.filledThrough.set(ledgerId, Math.max(this.filledThrough.get(ledgerId) ?? 0, through));
    this.gapReported.delete(ledgerId);
    this.queue(ledgerId, records);
    this.pumpSoon();
  }

  /**
   * Resolves once the index covers the ledger's entries before `target`, or with the first gap that
   * stands in the way (the host fills it and asks again). Indexes in slices, letting commits through.
   * Rejects if a slice fails (e.g. the write lock stays busy): the reader must not see a partial index.
   */
  indexThrough(ledgerId: number, target: number): Promise<IndexGap | undefined> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ ledgerId, target, resolve, reject });
      this.pumpSoon();
    });
  }

  private queue(ledgerId: number, records: SearchRecord[]): void {
    let pending = this.pending.get(ledgerId);
    if (!pending) this.pending.set(ledgerId, (pending = []));
    const inOrder = pending.length === 0 || records.length === 0 || records[0]!.index > pending[pending.length - 1]!.index;
    for (const r of records) pending.push(r);
    // A fill lands before records queued since: keep index order (dropping repeats).
    if (!inOrder) {
      pending.sort((a, b) => a.index - b.index);
      let kept = 0;
      for (let i = 0; i < pending.length; i++) if (i === 0 || pending[i]!.index !== pending[kept - 1]!.index) pending[kept++] = pending[i]!;
      pending.length = kept;
    }
    if (this.backlog >= INDEX_START_EVENTS) {
      this.pumpSoon();
    } else if (!this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        this.pumpSoon();
      }, INDEX_IDLE_MS);
      this.idleTimer.unref();
    }
  }

  private pumpSoon(): void {
    if (this.pumpScheduled || !this.db.open) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** One slice, then again on the next turn while anything can be indexed. */
  private pump(): void {
    if (!this.db.open) return;
    this.indexSlice();
    // A ledger whose queued records wait behind a reported gap is left until it is filled.
    if (this.waiters.length > 0 || [...this.pending.keys()].some((id) => !this.gapReported.has(id))) this.pumpSoon();
  }

  /**
   * One index transaction: a waited-for ledger first, else the largest queue. True when fewer records
   * wait after it: false when there was nothing it could index (every queue behind a reported gap),
   * or it failed.
   */
  private indexSlice(): boolean {
    const before = this.backlog;
    this.settleReached();
    const waiter = this.waiters[0];
    let ledgerId = waiter?.ledgerId;
    if (ledgerId === undefined) {
      let most = 0;
      for (const [id, pending] of this.pending) if (pending.length > most && !this.gapReported.has(id)) [ledgerId, most] = [id, pending.length];
    }
    if (ledgerId === undefined) return false;
    const budgetMs = Math.min(this.options.maxSliceMs, this.options.sliceMs * Math.max(1, this.backlog / INDEX_BACKLOG_EVENTS));
    let gap: IndexGap | undefined;
    try {
      gap = this.slice(ledgerId, budgetMs, waiter?.target);
    } catch (error) {
      // E.g. another process holds the write lock past busy_timeout. Nothing is lost: the records keep
      // waiting, and the next commit or read retries; the readers waiting now are told.
      this.finishWaiters((w) => w.ledgerId === ledgerId, (w) => w.reject(error as Error));
      return false;
    }
    if (gap && waiter) {
      this.finishWaiters((w) => w.ledgerId === ledgerId, (w) => w.resolve(gap));
    } else if (gap && !this.gapReported.has(ledgerId)) {
      this.gapReported.add(ledgerId);
      setImmediate(() => this.options.onGap(gap!));
    }
    this.settleReached();
    return this.backlog < before;
  }

  /** Resolves the waiters whose ledgers the index now covers up to their targets. */
  private settleReached(): void {
    this.finishWaiters((w) => this.reached(w.ledgerId, w.target), (w) => w.resolve(undefined));
  }

  /** Takes the waiters that `match` picks out of the list, then answers each with `finish`. */
  private finishWaiters(match: (w: Waiter) => boolean, finish: (w: Waiter) => void): void {
    const done = this.waiters.filter(match);
    if (done.length === 0) return;
    this.waiters.splice(0, this.waiters.length, ...this.waiters.filter((w) => !done.includes(w)));
    for (const w of done) finish(w);
  }

  /** Whether every entry before `target` is indexed or known to have nothing to index (purged). */
  private reached(ledgerId: number, target: number): boolean {
    const next = this.searchIndex.nextUnindexed(ledgerId);
    if (Math.max(next, this.filledThrough.get(ledgerId) ?? 0) < target) return false;
    const waiting = this.pending.get(ledgerId)?.find((r) => r.index >= next);
    return waiting === undefined || waiting.index >= target;
  }

  /**
   * One transaction writing up to sliceRecords of the ledger's waiting records, in index order from the
   * first index the search index lacks; the next slice's size is aimed at `budgetMs` from this one's
   * rate (halfway, so that one slow slice does not swing it). Returns the gap that stops it, if any:
   * the first waiting record is beyond the index, or nothing waits and `target` is beyond it.
   */
  private slice(ledgerId: number, budgetMs: number, target: number | undefined): IndexGap | undefined {
    const started = performance.now();
    const pending = this.pending.get(ledgerId) ?? [];
    const { written, gap } = this.withoutFsync(() =>
      this.db
        .transaction(() => {
          const next = this.searchIndex.nextUnindexed(ledgerId);
          let used = 0;
          while (used < pending.length && pending[used]!.index < next) used++;
          const covered = Math.max(next, this.filledThrough.get(ledgerId) ?? 0);
          const first = pending[used]?.index;
          let gap: IndexGap | undefined;
          if (first !== undefined && first > covered) gap = { ledgerId, from: covered, to: first };
          else if (first === undefined && target !== undefined && target > covered) gap = { ledgerId, from: covered, to: target };
          // The index must grow contiguously: the slice stops where the queue skips entries (another
          // process's), which the next slice reports as a gap.
          const records: SearchRecord[] = [];
          for (let at = next, i = used; !gap && i < pending.length && records.length < this.sliceRecords; i++) {
            if (pending[i]!.index > Math.max(at, covered)) break;
            records.push(pending[i]!);
            at = pending[i]!.index + 1;
          }
          if (records.length > 0) this.searchIndex.add(ledgerId, records);
          pending.splice(0, used + records.length);
          return { written: records.length, gap };
        })
        .immediate(),
    );
    if (pending.length === 0) this.pending.delete(ledgerId);
    if (written > 0) {
      const fits = (written / Math.max(performance.now() - started, 0.05)) * budgetMs;
      this.sliceRecords = Math.round(Math.min(INDEX_MAX_SLICE_EVENTS, Math.max(32, (this.sliceRecords + fits) / 2)));
    }
    return gap;
  }

  /**
   * Index slices commit without an fsync of their own: nothing in them needs to be durable (a crash
   * loses only records the next open rebuilds from the entries), and in WAL mode the next commit's
   * fsync makes them durable too, in order. The setting is the connection's, so it is put back at once:
   * a batch commit, and any other write on this connection, runs with FULL.
   */
  private withoutFsync<T>(write: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** Stops the idle timer and refuses the readers still waiting (the connection is the host's to close). */
  stop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.finishWaiters(() => true, (w) => w.reject(new StoreError('OVERLOADED', 'the store is closing')));
  }
}
