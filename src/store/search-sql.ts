/**
 * Compiles a parsed search query (src/core/query.ts) into a SQL condition over search_events `e`, for
 * SQLite and PostgreSQL alike. Every value travels as a bound parameter; only column names chosen here
 * are ever written into the SQL text.
 */
import { SealtrailError } from '../core/errors.js';
import type { Clause, Match, Query } from '../core/query.js';
import { formatIPv6 } from '../core/ipnet.js';
import { LOCATION_COLUMNS } from './search-fields.js';
import type { StatsDimension } from './store.js';

/**
 * Time budget of one search page or stats read, in milliseconds, unless the store is given another
 * (`serve --query-timeout`): SQLite terminates the worker thread running it, PostgreSQL cancels it
 * through statement_timeout. Either way the read fails with QUERY_TIMEOUT.
 */
export const DEFAULT_QUERY_TIMEOUT_MS = 5000;

/** Free text is matched as a case-insensitive substring through trigrams, which need three characters. */
export const MIN_TEXT_LENGTH = 3;

/** A compiled query: SQL text and its bound values. */
export interface Statement {
  sql: string;
  params: unknown[];
}

export interface Dialect {
  /** Registers a bound value; returns its placeholder. */
  param(value: unknown): string;
  /** Condition that event `e`'s text contains `phrase` as a case-insensitive substring. */
  text(phrase: string): string;
  /** A 16-byte IP value given as hex, in the form the dialect binds blobs. */
  blob(hex: string): unknown;
  /**
   * Placeholder bound to the ledger's id. With it, target and metadata conditions become uncorrelated
   * `e.idx IN (SELECT … WHERE ledger_id = ?)` lookups that the planner drives from their own primary
   * keys; without it they refer to e.ledger_id.
   */
  ledger?(): string;
  /**
   * `column` is one of the values the uncorrelated subquery returns. Default `column IN (subquery)`;
   * PostgreSQL uses `= ANY(ARRAY(subquery))`, which it evaluates once and then probes the index with,
   * instead of planning a join that can walk the whole ledger.
   */
  inSubquery?(column: string, subquery: string): string;
  /**
   * Condition that text `column` equals one of `values`, bound as one parameter (SQLite: a JSON array
   * read by json_each; PostgreSQL: `= ANY` of a text array). A long OR chain would instead be one
   * expression node per value, over SQLite's expression depth limit (1000) at a few hundred values.
   */
  inSet(column: string, values: string[]): string;
}

/**
 * Exact values of one clause up to this many are compared one by one (ORed), which the planners
 * estimate well; more are looked up as one set (Dialect.inSet).
 */
export const SET_LOOKUP_MIN_VALUES = 16;

/** Columns of search_events `e` that a field compares, ORed. */
const EVENT_COLUMNS: Record<string, string[]> = {
  actor: ['e.actor_id', 'e.actor_name'],
  'actor.id': ['e.actor_id'],
  'actor.name': ['e.actor_name'],
  'actor.type': ['e.actor_type'],
  action: ['e.action'],
  category: ['e.category'],
  tenant: ['e.tenant'],
  outcome: ['e.outcome'],
  session: ['e.session_id'],
  device: ['e.device_id'],
  country: ['e.country'],
  writer: ['e.writer'],
  received: ['e.received_at'],
  occurred: ['e.occurred_at'],
  index: ['e.idx'],
  ip: ['e.ip'],
};

const TARGET_COLUMNS: Record<string, string[]> = {
  target: ['t.target_id', 't.target_name'],
  'target.id': ['t.target_id'],
  'target.type': ['t.target_type'],
};

export function compileWhere(query: Query, dialect: Dialect): string {
  const parts = query.clauses.map((clause) => {
    const condition = compileClause(clause, dialect);
    // NULL-safe negation: an event without the field is not excluded by "-field:value".
    return clause.negate ? `NOT COALESCE((${condition}), FALSE)` : `(${condition})`;
  });
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/**
 * Rewrites `received` ranges as `index` ranges. received_at never decreases within a ledger, so the
 * events received in [from, to) are exactly the indexes [first index received at or after `from`,
 * first index received at or after `to`). Every per-field index ends in idx, so a query on a field and a
 * time window then becomes one range scan in index order, with no sort and no reliance on statistics.
 * `firstIndexAtOrAfter` answers with an index past the end when nothing was received that late.
 */
export async function receivedAsIndex(
  query: Query,
  firstIndexAtOrAfter: (micros: number) => number | Promise<number>,
): Promise<Query> {
  const clauses = await Promise.all(
    query.clauses.map(async (clause) => {
      if (clause.field !== 'received' || clause.negate) return clause;
      const anyOf = await Promise.all(
        clause.anyOf.map(async (match): Promise<Match> => {
          if (match.kind !== 'range') return match;
          const from = match.from === undefined ? undefined : await firstIndexAtOrAfter(match.from);
          const to = match.to === undefined ? undefined : await firstIndexAtOrAfter(match.to);
          return { kind: 'range', ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
        }),
      );
      return { ...clause, field: 'index' as const, anyOf };
    }),
  );
  return { clauses };
}

/** The entries' columns of a search page (rows.ts EntryRow), from `en`. */
export const ENTRY_COLUMNS = 'en.idx, en.received_at, en.leaf, en.leaf_hash, en.disclosures, en.redactions';

/**
 * One page of search results: `matches` (FROM … WHERE … ORDER BY over search_events `e`) picks the
 * page from the index alone, limited by the placeholder `limit`; only then are its rows joined to their
 * entries, so that where matches must be sorted, only the page's entries are read, not every match's.
 * Both stores run this shape.
 */
export function pageOfEntries(matches: string, limit: string, direction: 'ASC' | 'DESC', entryColumns = ENTRY_COLUMNS): string {
  return `SELECT ${entryColumns}, ${LOCATION_COLUMNS.map((c) => `page.${c}`).join(', ')}
           FROM (SELECT e.ledger_id, e.idx, ${LOCATION_COLUMNS.map((c) => `e.${c}`).join(', ')} ${matches} LIMIT ${limit}) page
           JOIN entries en ON en.ledger_id = page.ledger_id AND en.idx = page.idx
           ORDER BY page.idx ${direction}`;
}

/**
 * What a stats dimension groups by, and the join it needs. `timeBucket(divisor)` is the dialect's integer
 * division of `e.received_at` (hours, days). Targets come from search_targets, so an event with several
 * targets counts once under each.
 */
export function statsGroup(by: StatsDimension, timeBucket: (divisor: number) => string): { key: string; join: string } {
  const columns: Record<Exclude<StatsDimension, 'hour' | 'day' | 'target'>, string> = {
    actor: 'e.actor_id',
    action: 'e.action',
    country: 'e.country',
    outcome: 'e.outcome',
    tenant: 'e.tenant',
    category: 'e.category',
    ip: 'e.ip',
  };
  switch (by) {
    case 'hour':
      return { key: timeBucket(HOUR_MICROS), join: '' };
    case 'day':
      return { key: timeBucket(DAY_MICROS), join: '' };
    case 'target':
      // type and id joined by a character neither may contain (identifiers are printable), split by statsKey.
      return { key: `t.target_type || '\t' || t.target_id`, join: ' JOIN search_targets t ON t.ledger_id = e.ledger_id AND t.idx = e.idx' };
    default:
      return { key: columns[by], join: '' };
  }
}

/** Whether a dimension's buckets are listed in time order rather than largest first. */
export const isTimeDimension = (by: StatsDimension): boolean => by === 'hour' || by === 'day';

/** A stats bucket's key as the API shows it, from what the database grouped by. */
export function statsKey(by: StatsDimension, raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  switch (by) {
    case 'hour':
      return hourKey(Number(raw));
    case 'day':
      return new Date(Number(raw) * (DAY_MICROS / 1000)).toISOString().slice(0, 10);
    case 'ip':
      return ipText(raw as Uint8Array);
    case 'target': {
      const [type, id] = String(raw).split('\t', 2);
      return `${type}:${id}`;
    }
    default:
      return String(raw);
  }
}

const HOUR_MICROS = 3_600_000_000;
const DAY_MICROS = 86_400_000_000;
const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/** The text of a stored 16-byte address: dotted IPv4 for mapped ones, RFC 5952 IPv6 otherwise. */
export function ipText(bytes: Uint8Array): string {
  return V4_MAPPED.every((b, i) => bytes[i] === b) ? Array.from(bytes.subarray(12)).join('.') : formatIPv6(bytes);
}

/**
 * The least string greater than every string that starts with `prefix`: the prefix with its last code
 * point incremented (dropping trailing U+10FFFF); undefined when there is none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = [...prefix].map((c) => c.codePointAt(0)!);
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < 0x10ffff) {
      const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
      return String.fromCodePoint(...points, next);
    }
  }
  return undefined;
}

/** The label of an hour bucket (hours since the epoch) in stats: "2026-11-26T07:00:00Z". */
export function hourKey(hoursSinceEpoch: number): string {
  return `${new Date(hoursSinceEpoch * 3_600_000).toISOString().slice(0, 13)}:00:00Z`;
}

/** The phrase of a free-text term, refused when too short for the trigram indexes. */
export function searchablePhrase(phrase: string): string {
  if ([...phrase].length < MIN_TEXT_LENGTH) {
    throw new SealtrailError('INVALID_ARGUMENT', `free text ${JSON.stringify(phrase)} is too short: search needs at least ${MIN_TEXT_LENGTH} characters`);
  }
  return phrase;
}

/**
 * Splits off a free-text term that can drive a search: a clause that is one non-negated phrase, which
 * every match must contain. The rest of the query still applies.
 */
export function drivingText(query: Query): { phrase: string; rest: Query } | undefined {
  const at = query.clauses.findIndex((c) => c.field === 'text' && !c.negate && c.anyOf.length === 1 && c.anyOf[0]!.kind === 'text');
  if (at < 0) return undefined;
  const match = query.clauses[at]!.anyOf[0] as Extract<Match, { kind: 'text' }>;
  return { phrase: searchablePhrase(match.value), rest: { clauses: query.clauses.filter((_, i) => i !== at) } };
}

function compileClause(clause: Clause, dialect: Dialect): string {
  const field = clause.field;
  if (field === 'text') return clause.anyOf.map((m) => compileMatch('', m, dialect)).join(' OR ');
  const eventColumns = EVENT_COLUMNS[field];
  if (eventColumns) return anyOf(eventColumns, clause.anyOf, dialect);
  const targetColumns = TARGET_COLUMNS[field];
  const inSubquery = dialect.inSubquery ?? ((column: string, subquery: string) => `${column} IN (${subquery})`);
  if (targetColumns) {
    const ledger = dialect.ledger?.() ?? 'e.ledger_id';
    return inSubquery('e.idx', `SELECT t.idx FROM search_targets t WHERE t.ledger_id = ${ledger} AND (${anyOf(targetColumns, clause.anyOf, dialect)})`);
  }
  if (field === 'metadata' && clause.key !== undefined) {
    const ledger = dialect.ledger?.() ?? 'e.ledger_id';
    const key = dialect.param(clause.key);
    return inSubquery('e.idx', `SELECT m.idx FROM search_metadata m WHERE m.ledger_id = ${ledger} AND m.key = ${key} AND (${anyOf(['m.value'], clause.anyOf, dialect)})`);
  }
  throw new Error(`search field ${field} has no column`);
}

function anyOf(columns: string[], matches: Match[], dialect: Dialect): string {
  const exact = matches.flatMap((m) => (m.kind === 'exact' ? [m.value] : []));
  if (exact.length < SET_LOOKUP_MIN_VALUES) {
    return matches.flatMap((match) => columns.map((column) => compileMatch(column, match, dialect))).join(' OR ');
  }
  // Many exact values: one set lookup per column, then whatever else the clause lists (bounded by
  // QUERY_LIMITS.maxPatternValues), so the OR chain stays short whatever the number of values.
  const others = matches.filter((m) => m.kind !== 'exact');
  return [
    ...columns.map((column) => dialect.inSet(column, exact)),
    ...others.flatMap((match) => columns.map((column) => compileMatch(column, match, dialect))),
  ].join(' OR ');
}

function compileMatch(column: string, match: Match, dialect: Dialect): string {
  switch (match.kind) {
    case 'exact':
      return `${column} = ${dialect.param(match.value)}`;
    case 'prefix': {
      if (match.value === '') return `${column} IS NOT NULL`;
      // [prefix, next string after every string with the prefix): exact under binary (code point) order,
      // which SQLite's BINARY and PostgreSQL's "C" collation of the search columns both use, and a closed
      // range the planner can estimate.
      const upper = prefixUpperBound(match.value);
      const lower = `${column} >= ${dialect.param(match.value)}`;
      return upper === undefined ? lower : `(${lower} AND ${column} < ${dialect.param(upper)})`;
    }
    case 'range': {
      const bounds = [
        match.from !== undefined ? `${column} >= ${dialect.param(match.from)}` : undefined,
        match.to !== undefined ? `${column} < ${dialect.param(match.to)}` : undefined,
      ].filter(Boolean);
      return bounds.length === 0 ? `${column} IS NOT NULL` : bounds.join(' AND ');
    }
    case 'ipRange':
      // One address is an equality, so the planner uses (ledger_id, ip, idx) with the index range too,
      // rather than reading the whole window by idx and testing each row's address.
      if (match.low === match.high) return `${column} = ${dialect.param(dialect.blob(match.low))}`;
      return `${column} BETWEEN ${dialect.param(dialect.blob(match.low))} AND ${dialect.param(dialect.blob(match.high))}`;
    case 'text':
      return dialect.text(searchablePhrase(match.value));
  }
}
