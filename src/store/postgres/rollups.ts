/**
 * PostgreSQL's upkeep of the hourly count rollups (src/store/rollups.ts): every statement that inserts
 * or deletes search_events rows returns their ROLLUP_COLUMNS, and the transaction adjusts the rollups by
 * exactly those rows.
 */
import type pg from 'pg';
import type { RollupDelta, RollupSource } from '../rollups.js';

/** The search_events columns rollups count by, as a DELETE or INSERT … RETURNING gives them back. */
export const ROLLUP_COLUMNS = 'received_at, tenant, actor_id';
export interface RollupColumns {
  received_at: string;
  tenant: string | null;
  actor_id: string | null;
}
export const rollupSource = (row: RollupColumns): RollupSource => ({ receivedAtMicros: Number(row.received_at), tenant: row.tenant, actorId: row.actor_id });

/**
 * Applies rollup adjustments (src/store/rollups.ts) in the caller's transaction: one upsert, in key
 * order (so concurrent transactions lock shared rows in the same order), then the rows a removal
 * brought to 0 are deleted, as a GROUP BY has no such row.
 */
export async function adjustRollups(db: pg.ClientBase, ledgerId: number, deltas: RollupDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const keys = [deltas.map((d) => d.dimension), deltas.map((d) => d.value), deltas.map((d) => d.hour)];
  await db.query(
    `INSERT INTO search_hourly (ledger_id, dimension, value, hour, count) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
       ON CONFLICT (ledger_id, dimension, value, hour) DO UPDATE SET count = search_hourly.count + EXCLUDED.count`,
    [ledgerId, ...keys, deltas.map((d) => d.delta)],
  );
  if (deltas.some((d) => d.delta < 0)) {
    await db.query(
      `DELETE FROM search_hourly h USING unnest($2::text[], $3::text[], $4::bigint[]) AS d(dimension, value, hour)
        WHERE h.ledger_id = $1 AND h.dimension = d.dimension AND h.value = d.value AND h.hour = d.hour AND h.count = 0`,
      [ledgerId, ...keys],
    );
  }
}
