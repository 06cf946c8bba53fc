/**
 * Hourly count rollups (table search_hourly, in both stores): how many search rows a ledger has per
 * hour of received_at, for the whole ledger, per tenant and per actor id, so that stats by hour or day
 * over a month reads at most 720 rows instead of one row per event.
 *
 * Layout: one row per (ledger_id, dimension, value, hour) → count, with that as the primary key.
 * dimension '' (value '') counts the whole ledger, 'tenant' counts search_events.tenant, 'actor' counts
 * search_events.actor_id; events without a tenant or actor id count only in the whole-ledger rows.
 * Putting the hour last makes each answer one range scan of contiguous keys whichever of the three
 * shapes is asked, and the rows of the current hour of a dimension value are updated in place (one row
 * per value per hour: at most 720 per value in 30 days). A table per dimension would read the same
 * rows but triple the maintenance and verification code; hour-first keys would scatter one tenant's
 * month over every value of every hour.
 *
 * The rollups summarise the search rows, not the entries: every statement that inserts or deletes a
 * search_events row adjusts them in the same transaction (adjustments computed by rollupDeltas), rows
 * whose count reaches 0 are deleted, and verification (verifyDerived) compares them with a GROUP BY of
 * the search rows, which are themselves compared with the entries.
 *
 * stats() answers from them only when the answer is provably the one of the GROUP BY over search_events
 * (rollupPlan); a received range whose ends are not whole hours has its edge hours counted from the
 * search rows, exactly as before.
 */
import type { Clause, Match, Query } from '../core/query.js';
import type { StatsDimension } from './store.js';

export const HOUR_MICROS = 3_600_000_000;
const HOURS_PER_DAY = 24;

export type RollupDimension = '' | 'tenant' | 'actor';

/** What a rollup row is keyed by, beside the ledger. */
export interface RollupKey {
  dimension: RollupDimension;
  value: string;
  /** Hours since the epoch of received_at, truncated as the SQL integer division is. */
  hour: number;
}

/** A change of one rollup row's count (negative when search rows are removed). */
export interface RollupDelta extends RollupKey {
  delta: number;
}

/** The columns of a search row that rollups count by (a SearchRecord has them, as does a stored row). */
export interface RollupSource {
  receivedAtMicros: number;
  tenant: string | null;
  actorId: string | null;
}

/** The hour a received_at falls in, as `received_at / 3600000000` computes it in either database. */
export const hourOf = (micros: number): number => Math.trunc(micros / HOUR_MICROS);

/**
 * The rollup adjustments of adding (sign 1) or removing (sign -1) these search rows: one per distinct
 * key, in key order, so that concurrent transactions (PostgreSQL) lock the rows they share in the same
 * order and cannot deadlock on them.
 */
export function rollupDeltas(rows: Iterable<RollupSource>, sign: 1 | -1): RollupDelta[] {
  const deltas = new Map<string, RollupDelta>();
  const count = (dimension: RollupDimension, value: string | null, hour: number) => {
    if (value === null) return;
    const key = JSON.stringify([dimension, value, hour]);
    const found = deltas.get(key);
    if (found) found.delta += sign;
    else deltas.set(key, { dimension, value, hour, delta: sign });
  };
  for (const row of rows) {
    const hour = hourOf(row.receivedAtMicros);
    count('', '', hour);
    count('tenant', row.tenant, hour);
    count('actor', row.actorId, hour);
  }
  return [...deltas.values()].sort(compareKeys);
}

function compareKeys(a: RollupKey, b: RollupKey): number {
  if (a.dimension !== b.dimension) return a.dimension < b.dimension ? -1 : 1;
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  return a.hour - b.hour;
}

/**
 * The rollup counts as a GROUP BY of search_events computes them, with columns ledger_id, dimension,
 * value, hour, count, of the rows `where()` admits (called once per part, so that each part gets its own
 * placeholder). Fills the table in the migrations that add it, and is what verification compares the
 * table with. The same text in SQLite and PostgreSQL: both divide integers by truncation.
 */
export function countedRollups(where: () => string): string {
  const hour = `received_at / ${HOUR_MICROS}`;
  const part = (dimension: RollupDimension, column: string | undefined) =>
    `SELECT ledger_id, '${dimension}' AS dimension, ${column ?? `''`} AS value, ${hour} AS hour, count(*) AS count
       FROM search_events WHERE ${where()}${column ? ` AND ${column} IS NOT NULL` : ''}
      GROUP BY ledger_id, ${column ? `${column}, ` : ''}${hour}`;
  return [part('', undefined), part('tenant', 'tenant'), part('actor', 'actor_id')].join('\n     UNION ALL ');
}

/**
 * The first rollup row (in hour order) that differs from the count of the ledger's search rows, a row
 * missing on either side included. `ledger()` is the placeholder of the ledger id, asked four times.
 */
export function rollupMismatchQuery(ledger: () => string): string {
  return `SELECT COALESCE(s.dimension, c.dimension) AS dimension, COALESCE(s.value, c.value) AS value, COALESCE(s.hour, c.hour) AS hour,
                 s.count AS stored, c.count AS counted
            FROM (SELECT dimension, value, hour, count FROM search_hourly WHERE ledger_id = ${ledger()}) s
            FULL JOIN (${countedRollups(() => `ledger_id = ${ledger()}`)}) c
              ON c.dimension = s.dimension AND c.value = s.value AND c.hour = s.hour
           WHERE s.count IS DISTINCT FROM c.count
           ORDER BY 3, 1, 2
           LIMIT 1`;
}

/** A rollup row verification found wrong: what it holds and what the search rows count (null: no row). */
export interface RollupMismatch extends RollupKey {
  stored: number | null;
  counted: number | null;
}

/** What stats() reads from the rollups: one dimension value, whole hours [fromHour, toHour), and edges. */
export interface RollupPlan {
  dimension: RollupDimension;
  value: string;
  /** Whole hours to read from the rollups; an absent end is unbounded; empty when fromHour ≥ toHour. */
  fromHour?: number;
  toHour?: number;
  /**
   * Parts of hours at the ends of a received range that does not start or end on an hour: counted from
   * the search rows with the query narrowed to them (each lies within one hour).
   */
  edges: Query[];
}

/**
 * A plan to answer stats(query, by) from the rollups, or undefined when their answer could differ from
 * the GROUP BY over search_events, which then answers as before. Covered: by hour or day (UTC days,
 * which are 24 whole hours since the epoch), and a query that is empty, one exact `tenant:` value or one
 * exact `actor.id:` value (`actor:` also matches names, which rollups do not count), each optionally
 * with one `received:` range of non-negative times (before 1970 truncation and hours disagree).
 */
export function rollupPlan(query: Query, by: StatsDimension): RollupPlan | undefined {
  if (by !== 'hour' && by !== 'day') return undefined;
  const ranges = query.clauses.filter((c) => c.field === 'received');
  const filters = query.clauses.filter((c) => c.field !== 'received');
  if (ranges.length > 1 || filters.length > 1) return undefined;
  const selected = filters.length === 0 ? { dimension: '' as const, value: '' } : rollupFilter(filters[0]!);
  if (!selected) return undefined;
  if (ranges.length === 0) return { ...selected, edges: [] };
  const range = receivedRange(ranges[0]!);
  if (!range) return undefined;
  return { ...selected, ...wholeHours(ranges[0]!, range, filters) };
}

/** The rollup dimension and value that one filter clause selects exactly, if it does. */
function rollupFilter(clause: Clause): { dimension: RollupDimension; value: string } | undefined {
  const match = onlyMatch(clause);
  if (match?.kind !== 'exact') return undefined;
  if (clause.field === 'tenant') return { dimension: 'tenant', value: match.value };
  if (clause.field === 'actor.id') return { dimension: 'actor', value: match.value };
  return undefined;
}

/** The one range of a received clause (from ≤ received_at < to), if that is what it is. */
function receivedRange(clause: Clause): { from?: number; to?: number } | undefined {
  const match = onlyMatch(clause);
  if (match?.kind !== 'range') return undefined;
  if ((match.from ?? 0) < 0 || (match.to ?? 0) < 0) return undefined;
  return { ...(match.from !== undefined ? { from: match.from } : {}), ...(match.to !== undefined ? { to: match.to } : {}) };
}

function onlyMatch(clause: Clause): Match | undefined {
  return !clause.negate && clause.anyOf.length === 1 ? clause.anyOf[0] : undefined;
}

/**
 * Splits [from, to) into the whole hours inside it and the parts of hours left at either end, each of
 * those a query of the filter and that part as a received range.
 */
function wholeHours(clause: Clause, range: { from?: number; to?: number }, filters: Clause[]): Pick<RollupPlan, 'fromHour' | 'toHour' | 'edges'> {
  const { from, to } = range;
  const edge = (start: number, end: number): Query => ({ clauses: [...filters, { ...clause, anyOf: [{ kind: 'range', from: start, to: end }] }] });
  const fromHour = from === undefined ? undefined : Math.ceil(from / HOUR_MICROS);
  const toHour = to === undefined ? undefined : Math.floor(to / HOUR_MICROS);
  // Both ends inside one hour: nothing whole, the range itself is the one edge.
  if (from !== undefined && to !== undefined && fromHour! > toHour!) return { fromHour: 0, toHour: 0, edges: from < to ? [edge(from, to)] : [] };
  const edges: Query[] = [];
  if (from !== undefined && from < fromHour! * HOUR_MICROS) edges.push(edge(from, fromHour! * HOUR_MICROS));
  if (to !== undefined && toHour! * HOUR_MICROS < to) edges.push(edge(toHour! * HOUR_MICROS, to));
  return { ...(fromHour !== undefined ? { fromHour } : {}), ...(toHour !== undefined ? { toHour } : {}), edges };
}

/** Hours per bucket of a time dimension the rollups answer. */
export const hoursPerBucket = (by: StatsDimension): number => (by === 'day' ? HOURS_PER_DAY : 1);

/**
 * Merges the rollups' whole-hour buckets (ascending, the first `limit`) with the counts of the edges
 * (by hour, mapped to their bucket), keeping GROUP BY … ORDER BY 1 LIMIT semantics: the lower edge
 * precedes or joins the first bucket, the upper edge follows or joins the last, so the first `limit`
 * buckets of the merge are those of the whole answer.
 */
export function mergeBuckets(
  by: StatsDimension,
  whole: Array<{ key: number; count: number }>,
  edgeHours: Array<{ key: number; count: number }>,
  limit: number,
): Array<{ key: number; count: number }> {
  const buckets = new Map(whole.map((b) => [b.key, b.count]));
  for (const { key, count } of edgeHours) {
    const bucket = Math.trunc(key / hoursPerBucket(by));
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + count);
  }
  return [...buckets].map(([key, count]) => ({ key, count })).sort((a, b) => a.key - b.key).slice(0, limit);
}

/**
 * The rollup read of a plan's whole hours, in buckets of `by` (ascending, at most `limit`), for either
 * database: `param` binds a value and returns its placeholder, called in the order the text uses them.
 * One range scan of the primary key: (ledger_id, dimension, value) then hours.
 */
export function wholeHoursQuery(ledgerId: number, plan: RollupPlan, by: StatsDimension, limit: number, param: (value: unknown) => string): string {
  const key = `ledger_id = ${param(ledgerId)} AND dimension = ${param(plan.dimension)} AND value = ${param(plan.value)}`;
  const from = plan.fromHour === undefined ? '' : ` AND hour >= ${param(plan.fromHour)}`;
  const to = plan.toHour === undefined ? '' : ` AND hour < ${param(plan.toHour)}`;
  const where = `FROM search_hourly WHERE ${key}${from}${to}`;
  // By hour the rows are the buckets, read in key order with no grouping; by day, 24 of them make one.
  if (hoursPerBucket(by) === 1) return `SELECT hour AS key, count ${where} ORDER BY hour LIMIT ${param(limit)}`;
  return `SELECT hour / ${hoursPerBucket(by)} AS key, sum(count) AS count ${where} GROUP BY 1 ORDER BY 1 LIMIT ${param(limit)}`;
}

/** Raw stats rows as either database returns them (numbers, or PostgreSQL's bigint strings). */
export type CountRow = { key: unknown; count: unknown };

/**
 * stats() from the rollups: the whole hours (`wholeHours`, wholeHoursQuery) and each edge counted by
 * hour from the search rows (`byHour`, the store's GROUP BY), merged into buckets of `by`. The edges
 * and the whole hours are read apart; appends only ever add to the current hour, so what they see
 * together is the GROUP BY at the time of the last read.
 */
export async function countsFromRollups(
  plan: RollupPlan,
  by: StatsDimension,
  limit: number,
  wholeHours: () => Promise<CountRow[]>,
  byHour: (query: Query) => Promise<CountRow[]>,
): Promise<Array<{ key: number; count: number }>> {
  const [whole, ...edges] = await Promise.all([wholeHours(), ...plan.edges.map(byHour)]);
  const numbers = (rows: CountRow[]) => rows.map((row) => ({ key: Number(row.key), count: Number(row.count) }));
  return mergeBuckets(by, numbers(whole!), numbers(edges.flat()), limit);
}

/** A row of rollupMismatchQuery as either database returns it. */
export function toRollupMismatch(row: { dimension: RollupDimension; value: string; hour: unknown; stored: unknown; counted: unknown }): RollupMismatch {
  const count = (n: unknown) => (n === null || n === undefined ? null : Number(n));
  return { dimension: row.dimension, value: row.value, hour: Number(row.hour), stored: count(row.stored), counted: count(row.counted) };
}
