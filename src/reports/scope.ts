/**
 * What a report or certificate covers (ledgers, period, tenant) and the query that reproduces each of
 * its counts: every claim cites a ledger and a search query (docs/SEARCH.md) that anyone with read
 * access can run to get the same number, and where it helps, the ledger index range behind it.
 */
import { formatQuery, type Clause, type Query } from '../core/query.js';
import type { Store } from '../store/store.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

export interface ReportScope {
  ledgers: string[];
  fromMicros: number;
  toMicros: number;
  /** Only this tenant's events; undefined: every tenant. */
  tenant?: string;
}

export interface Citation {
  ledger: string;
  /** A search query that selects exactly the events counted. */
  query: string;
  /** First and last ledger index of those events; absent when there are none. */
  indexes?: [first: number, last: number];
}

export const HOUR_MICROS = 3_600_000_000;

const clause = (field: Clause['field'], anyOf: Clause['anyOf'], negate = false): Clause => ({ field, negate, anyOf, position: 0 });

export const exact = (field: Clause['field'], values: readonly string[]): Clause =>
  clause(field, values.map((value) => ({ kind: 'exact' as const, value })));

/** Events received in the period, of the scope's tenant, plus `more`. */
export function periodQuery(scope: Pick<ReportScope, 'fromMicros' | 'toMicros' | 'tenant'>, ...more: Clause[]): Query {
  const clauses = [clause('received', [{ kind: 'range', from: scope.fromMicros, to: scope.toMicros }])];
  if (scope.tenant !== undefined) clauses.push(exact('tenant', [scope.tenant]));
  return { clauses: [...clauses, ...more] };
}

/** The citation of `query` on `ledger`, with the first and last matching index. */
export async function cite(store: Store, ledger: string, query: Query): Promise<Citation> {
  const [first, last] = await Promise.all([
    store.search(ledger, { query, limit: 1, order: 'asc' }),
    store.search(ledger, { query, limit: 1, order: 'desc' }),
  ]);
  const citation: Citation = { ledger, query: formatQuery(query) };
  if (first.entries[0] && last.entries[0]) citation.indexes = [first.entries[0].index, last.entries[0].index];
  return citation;
}

/** Hours since the epoch of a time; the period's hours are [hourOf(from), hourCeil(to)). */
export const hourOf = (micros: number) => Math.floor(micros / HOUR_MICROS);
export const hourCeil = (micros: number) => Math.ceil(micros / HOUR_MICROS);

/** "2026-11-26T07:00:00Z" (the stats API's hour label) → hours since the epoch. */
export function hourFromKey(key: string | null): number | undefined {
  if (key === null) return undefined;
  const millis = Date.parse(key);
  return Number.isNaN(millis) ? undefined : Math.floor(millis / 3_600_000);
}

/** Events per hour of `query` on `ledger` from the stats API (one bucket per active hour). */
export async function hourlyCounts(store: Store, ledger: string, query: Query, scope: Pick<ReportScope, 'fromMicros' | 'toMicros'>): Promise<Map<number, number>> {
  const limit = hourCeil(scope.toMicros) - hourOf(scope.fromMicros) + 1;
  const buckets = await store.stats(ledger, query, 'hour', limit);
  // Else the decoding of the result, its conversion here and the analysis after it hold the loop together.
  await yieldToEventLoop();
  const counts = new Map<number, number>();
  for (const { key, count } of buckets) {
    const hour = hourFromKey(key);
    if (hour !== undefined) counts.set(hour, count);
  }
  return counts;
}
