/**
 * The PostgreSQL half of retention: the one narrow forgetting path, policies and legal holds. A
 * transaction-scoped advisory lock serialises forgetting with hold creation across processes, so a hold
 * made while a purge runs either is seen by the purge's check or waits for it to finish.
 *
 * PostgreSQL keeps old row versions until VACUUM and old page images in its WAL until it is recycled;
 * see docs/RETENTION.md for what that means for physical removal.
 */
import type pg from 'pg';
import type { LegalHold } from '../../core/retention.js';
import { excludeHeld, FORGET_CHUNK, planChunk, toHold, type ForgetChange, type ForgettableRow, type HoldRow } from '../forget.js';
import type { SearchContext, SearchRecord } from '../search-fields.js';
import { inTransaction } from './transaction.js';
import { adjustRollups, ROLLUP_COLUMNS, rollupSource, type RollupColumns } from './rollups.js';
import { rollupDeltas } from '../rollups.js';
import type { Dialect } from '../search-sql.js';
import type { ForgetRequest, ForgetResult, StoredPolicy } from '../store.js';

export interface PostgresRetentionDeps {
  pool: pg.Pool;
  context: SearchContext;
  dialect: (params: unknown[]) => Dialect;
  writeSearchRecords: (db: pg.ClientBase, ledgerId: number, records: SearchRecord[], ignoreExisting: boolean) => Promise<void>;
  lockNamespace: number;
}

/** Second key of the advisory lock that serialises legal holds with forgetting (ledger ids are positive). */
const HOLDS_LOCK = -1;

export class PostgresRetention {
  constructor(private readonly deps: PostgresRetentionDeps) {}

  async forget(ledgerId: number, ledger: string, requests: ForgetRequest[], dryRun = false): Promise<ForgetResult> {
    const result: ForgetResult = { changed: [], held: [], fieldsRemoved: 0 };
    for (let at = 0; at < requests.length; at += FORGET_CHUNK) {
      await inTransaction(this.deps.pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [this.deps.lockNamespace, HOLDS_LOCK]);
        await this.forgetChunk(client, ledgerId, ledger, requests.slice(at, at + FORGET_CHUNK), result, dryRun);
      }, { rollBack: dryRun });
    }
    return result;
  }

  private async forgetChunk(client: pg.ClientBase, ledgerId: number, ledger: string, chunk: ForgetRequest[], result: ForgetResult, dryRun: boolean): Promise<void> {
    const allowed = await this.unheld(client, ledgerId, ledger, chunk.map((r) => r.index));
    const rows = await client.query<ForgettableRow>(
      'SELECT idx, received_at, leaf, disclosures, redactions FROM entries WHERE ledger_id = $1 AND idx = ANY($2::bigint[]) FOR UPDATE',
      [ledgerId, chunk.map((r) => r.index)],
    );
    const byIndex = new Map(rows.rows.map((row) => [Number(row.idx), row]));
    const changes = planChunk(ledger, chunk, allowed, (index) => byIndex.get(index), this.deps.context, result);
    // A dry run decides (holds included) but writes nothing: it has no forgetting record to cite.
    if (changes.length > 0 && !dryRun) await this.apply(client, ledgerId, changes);
  }

  /** The requested indexes no active hold covers; an event without search rows counts as held. */
  private async unheld(client: pg.ClientBase, ledgerId: number, ledger: string, indexes: number[]): Promise<Set<number>> {
    const holds = (await client.query<HoldRow>('SELECT * FROM legal_holds WHERE released_at IS NULL')).rows.map(toHold);
    const params: unknown[] = [ledgerId, indexes];
    const rows = await client.query<{ idx: string }>(
      `SELECT e.idx FROM search_events e WHERE e.ledger_id = $1 AND e.idx = ANY($2::bigint[])${excludeHeld(holds, ledger, this.deps.dialect(params))}`,
      params,
    );
    return new Set(rows.rows.map((r) => Number(r.idx)));
  }

  private async apply(client: pg.ClientBase, ledgerId: number, changes: ForgetChange[]): Promise<void> {
    await client.query(
      `UPDATE entries e SET disclosures = c.disclosures, redactions = c.redactions, forgotten_by = c.forgotten_by
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS c(idx, disclosures, redactions, forgotten_by)
        WHERE e.ledger_id = $1 AND e.idx = c.idx`,
      [ledgerId, changes.map((c) => c.index), changes.map((c) => c.disclosures), changes.map((c) => c.redactions), changes.map((c) => c.authorisedBy)],
    );
    const before = changes.map((c) => c.before);
    // The counts of the rows as stored leave the rollups; the rewritten rows add theirs back (writeSearchRecords).
    const removed = await client.query<RollupColumns>(`DELETE FROM search_events WHERE ledger_id = $1 AND idx = ANY($2::bigint[]) RETURNING ${ROLLUP_COLUMNS}`, [
      ledgerId,
      before.map((r) => r.index),
    ]);
    await adjustRollups(client, ledgerId, rollupDeltas(removed.rows.map(rollupSource), -1));
    const targets = before.flatMap((r) => r.targets.map((t) => [t.id, r.index, t.type] as const));
    if (targets.length > 0) {
      await client.query(
        `DELETE FROM search_targets t USING unnest($2::text[], $3::bigint[], $4::text[]) AS d(target_id, idx, target_type)
          WHERE t.ledger_id = $1 AND t.target_id = d.target_id AND t.idx = d.idx AND t.target_type = d.target_type`,
        [ledgerId, targets.map((t) => t[0]), targets.map((t) => t[1]), targets.map((t) => t[2])],
      );
    }
    const metadata = before.flatMap((r) => r.metadata.map(([key, value]) => [key, value, r.index] as const));
    if (metadata.length > 0) {
      await client.query(
        `DELETE FROM search_metadata m USING unnest($2::text[], $3::text[], $4::bigint[]) AS d(key, value, idx)
          WHERE m.ledger_id = $1 AND m.key = d.key AND m.value = d.value AND m.idx = d.idx`,
        [ledgerId, metadata.map((m) => m[0]), metadata.map((m) => m[1]), metadata.map((m) => m[2])],
      );
    }
    const after = changes.flatMap((c) => (c.after ? [c.after] : []));
    await this.deps.writeSearchRecords(client, ledgerId, after, false);
  }

  // ---- policies and holds ------------------------------------------------------------------------------

  async retentionPolicy(): Promise<StoredPolicy | undefined> {
    const row = (
      await this.deps.pool.query<{ version: number; policy: string; changed_at: string; changed_by: string }>(
        'SELECT version, policy, changed_at, changed_by FROM retention_policies ORDER BY version DESC LIMIT 1',
      )
    ).rows[0];
    return row && { version: row.version, policy: row.policy, changedAtMicros: Number(row.changed_at), changedBy: row.changed_by };
  }

  async putRetentionPolicy(policy: string, changedBy: string, atMicros: number): Promise<number> {
    return inTransaction(this.deps.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [this.deps.lockNamespace, HOLDS_LOCK]);
      const latest = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM retention_policies');
      const version = (latest.rows[0]?.v ?? 0) + 1;
      await client.query('INSERT INTO retention_policies (version, policy, changed_at, changed_by) VALUES ($1, $2, $3, $4)', [version, policy, atMicros, changedBy]);
      return version;
    });
  }

  async createLegalHold(hold: LegalHold): Promise<void> {
    await inTransaction(this.deps.pool, async (client) => {
      // Waits for a forgetting transaction in progress, so that it cannot miss this hold halfway.
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [this.deps.lockNamespace, HOLDS_LOCK]);
      await client.query('INSERT INTO legal_holds (id, ledgers, query, reason, owner, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        hold.id,
        JSON.stringify(hold.ledgers),
        hold.query,
        hold.reason,
        hold.owner,
        hold.createdAtMicros,
        hold.createdBy,
      ]);
    });
  }

  async legalHolds(): Promise<LegalHold[]> {
    return (await this.deps.pool.query<HoldRow>('SELECT * FROM legal_holds ORDER BY created_at, id')).rows.map(toHold);
  }

  async releaseLegalHold(id: string, releasedBy: string, atMicros: number, reason: string): Promise<boolean> {
    const result = await this.deps.pool.query(
      'UPDATE legal_holds SET released_at = $1, released_by = $2, release_reason = $3 WHERE id = $4 AND released_at IS NULL',
      [atMicros, releasedBy, reason, id],
    );
    return result.rowCount === 1;
  }

}
