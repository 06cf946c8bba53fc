/**
 * The SQLite half of retention: the one narrow forgetting path, policies and legal holds. Forgetting
 * relies on `secure_delete` (set on every writable connection in openDatabase), so that removed values
 * are overwritten where they lay, and then truncates the WAL and rewrites the free-text index so no old
 * copy of them survives anywhere in the files.
 */
import type Database from 'better-sqlite3';
import type { LegalHold } from '../../core/retention.js';
import { excludeHeld, FORGET_CHUNK, planChunk, toHold, type ForgetChange, type ForgettableRow, type HoldRow } from '../forget.js';
import type { SearchContext, SearchRecord } from '../search-fields.js';
import type { Dialect } from '../search-sql.js';
import { rollupDeltas } from '../rollups.js';
import { StoreError, type ForgetRequest, type ForgetResult, type StoredPolicy } from '../store.js';
import type { SqliteSearchIndex } from './search-index.js';


/** Thrown inside a dry run's transaction so that better-sqlite3 rolls it back. */
const ROLL_BACK = Symbol('dry run');

export class SqliteRetention {
  private readonly s;

  constructor(
    private readonly db: Database.Database,
    private readonly searchIndex: SqliteSearchIndex,
    private readonly context: SearchContext,
    private readonly dialect: (params: unknown[], ledgerId: number) => Dialect,
  ) {
    this.s = {
      entry: db.prepare<[number, number], ForgettableRow>('SELECT idx, received_at, leaf, disclosures, redactions FROM entries WHERE ledger_id = ? AND idx = ?'),
      update: db.prepare('UPDATE entries SET disclosures = ?, redactions = ?, forgotten_by = ? WHERE ledger_id = ? AND idx = ?'),
      searchRow: db.prepare<[number, number], { id: number; received_at: number; tenant: string | null; actor_id: string | null }>(
        'SELECT id, received_at, tenant, actor_id FROM search_events WHERE ledger_id = ? AND idx = ?',
      ),
      deleteEvent: db.prepare('DELETE FROM search_events WHERE id = ?'),
      deleteText: db.prepare('DELETE FROM search_text WHERE rowid = ?'),
      deleteTarget: db.prepare('DELETE FROM search_targets WHERE ledger_id = ? AND target_id = ? AND idx = ? AND target_type = ?'),
      deleteMetadata: db.prepare('DELETE FROM search_metadata WHERE ledger_id = ? AND key = ? AND value = ? AND idx = ?'),
      policy: db.prepare<[], { version: number; policy: string; changed_at: number; changed_by: string }>(
        'SELECT version, policy, changed_at, changed_by FROM retention_policies ORDER BY version DESC LIMIT 1',
      ),
      insertPolicy: db.prepare('INSERT INTO retention_policies (version, policy, changed_at, changed_by) VALUES (?, ?, ?, ?)'),
      holds: db.prepare<[], HoldRow>('SELECT * FROM legal_holds ORDER BY created_at, id'),
      insertHold: db.prepare(
        'INSERT INTO legal_holds (id, ledgers, query, reason, owner, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      releaseHold: db.prepare(
        'UPDATE legal_holds SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ? AND released_at IS NULL',
      ),
    };
  }

  forget(ledgerId: number, ledger: string, requests: ForgetRequest[], dryRun = false): ForgetResult {
    const result: ForgetResult = { changed: [], held: [], fieldsRemoved: 0 };
    for (let at = 0; at < requests.length; at += FORGET_CHUNK) {
      const chunk = requests.slice(at, at + FORGET_CHUNK);
      // IMMEDIATE: the hold check and the changes it allows see the same holds; no one else writes meanwhile.
      try {
        this.db
          .transaction(() => {
            this.forgetChunk(ledgerId, ledger, chunk, result, dryRun);
            if (dryRun) throw ROLL_BACK;
          })
          .immediate();
      } catch (error) {
        if (error !== ROLL_BACK) throw error;
      }
    }
    return result;
  }

  private forgetChunk(ledgerId: number, ledger: string, chunk: ForgetRequest[], result: ForgetResult, dryRun: boolean): void {
    const unheld = this.unheld(ledgerId, ledger, chunk.map((r) => r.index));
    const changes = planChunk(ledger, chunk, unheld, (index) => this.s.entry.get(ledgerId, index), this.context, result);
    // A dry run decides (holds included) but writes nothing: it has no forgetting record to cite.
    if (!dryRun) for (const change of changes) this.apply(ledgerId, change);
  }

  /**
   * The requested indexes that no active hold covers. Holds are judged on the search index, so an
   * event that has no search row (not indexed, or already purged) counts as held: unknown is not free.
   */
  private unheld(ledgerId: number, ledger: string, indexes: number[]): Set<number> {
    const params: unknown[] = [ledgerId, JSON.stringify(indexes)];
    const sql = `SELECT e.idx FROM search_events e WHERE e.ledger_id = ? AND e.idx IN (SELECT value FROM json_each(?))${excludeHeld(this.legalHoldsNow(), ledger, this.dialect(params, ledgerId))}`;
    return new Set(this.db.prepare<unknown[], { idx: number }>(sql).all(...params).map((r) => r.idx));
  }

  private apply(ledgerId: number, change: ForgetChange): void {
    this.s.update.run(change.disclosures, change.redactions, change.authorisedBy, ledgerId, change.index);
    const id = this.unindex(ledgerId, change.before);
    // The rewritten row keeps its id, so that ids (and free-text rowids) keep the ledger's order.
    if (change.after) this.searchIndex.replace(ledgerId, change.after, id);
  }

  /**
   * Removes the event's search rows and their counts in the rollups (as stored, which the rewritten
   * row then adds back under its new tenant and actor); returns the id its search_events row had.
   */
  private unindex(ledgerId: number, record: SearchRecord): number | undefined {
    const row = this.s.searchRow.get(ledgerId, record.index);
    if (row) {
      this.s.deleteEvent.run(row.id);
      this.s.deleteText.run(row.id);
      this.searchIndex.adjustRollups(ledgerId, rollupDeltas([{ receivedAtMicros: row.received_at, tenant: row.tenant, actorId: row.actor_id }], -1));
    }
    for (const t of record.targets) this.s.deleteTarget.run(ledgerId, t.id, record.index, t.type);
    for (const [key, value] of record.metadata) this.s.deleteMetadata.run(ledgerId, key, value, record.index);
    return row?.id;
  }

  /**
   * Leaves no copy of forgotten values in the files. secure_delete already zeroed them in the table and
   * index pages; the free-text index still holds them in segments where they are only marked deleted,
   * until a merge rewrites those segments ('optimize' rewrites all of them); the WAL holds page images
   * written before, until it is checkpointed and truncated.
   */
  async scrub(): Promise<void> {
    this.db.prepare("INSERT INTO search_text (search_text) VALUES ('optimize')").run();
    for (let attempt = 0; attempt < 50; attempt++) {
      const [status] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (status?.busy === 0) return;
      // A reader in another process holds an old snapshot; its pages cannot be overwritten until it ends.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new StoreError('OVERLOADED', 'values were forgotten, but another process kept the WAL busy: run the purge again to truncate it');
  }

  // ---- policies and holds ------------------------------------------------------------------------------

  retentionPolicy(): StoredPolicy | undefined {
    const row = this.s.policy.get();
    return row && { version: row.version, policy: row.policy, changedAtMicros: row.changed_at, changedBy: row.changed_by };
  }

  putRetentionPolicy(policy: string, changedBy: string, atMicros: number): number {
    return this.db
      .transaction(() => {
        const version = (this.s.policy.get()?.version ?? 0) + 1;
        this.s.insertPolicy.run(version, policy, atMicros, changedBy);
        return version;
      })
      .immediate();
  }

  createLegalHold(hold: LegalHold): void {
    this.s.insertHold.run(hold.id, JSON.stringify(hold.ledgers), hold.query, hold.reason, hold.owner, hold.createdAtMicros, hold.createdBy);
  }

  legalHoldsNow(): LegalHold[] {
    return this.s.holds.all().map(toHold);
  }

  releaseLegalHold(id: string, releasedBy: string, atMicros: number, reason: string): boolean {
    return this.s.releaseHold.run(atMicros, releasedBy, reason, id).changes === 1;
  }
}
