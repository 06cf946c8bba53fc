/**
 * The search page's pure parts: the query the page sends (the user's text plus the time range, written
 * in the query language), key completion from the core's own key list, the parser's error in a form the
 * page can underline, the terms a facet click adds, and merging stats answers of several ledgers.
 */
import { SealtrailError } from '../../../../src/core/errors.js';
import { parseQuery, QUERY_FIELDS } from '../../../../src/core/query.js';

export interface SearchParams {
  q: string;
  /** '' is every readable ledger but the system ledger. */
  ledger: string;
  /** RFC 3339 (UTC) or '' for an open end. */
  from: string;
  to: string;
}

export const SYSTEM_LEDGER = 'sealtrail-system';

export function paramsOf(query: URLSearchParams): SearchParams {
  return { q: query.get('q') ?? '', ledger: query.get('ledger') ?? '', from: validTime(query.get('from')), to: validTime(query.get('to')) };
}

function validTime(value: string | null): string {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

/** The time range as the language writes it: `received:>=FROM received:<TO` (half-open, as the picker means it). */
export function rangeTerms(from: string, to: string): string[] {
  const terms: string[] = [];
  if (from) terms.push(`received:>=${from}`);
  if (to) terms.push(`received:<${to}`);
  return terms;
}

/** What is sent: the user's query ANDed with the range terms. */
export function effectiveQuery(params: Pick<SearchParams, 'q' | 'from' | 'to'>): string {
  return [params.q.trim(), ...rangeTerms(params.from, params.to)].filter(Boolean).join(' ');
}

export interface QueryProblem {
  message: string;
  code: string;
  /** 0-based offset in the text, UTF-16 code units. */
  position: number;
  length: number;
}

/** The parser's verdict on `text`, or undefined when it parses. The same parser the server runs. */
export function checkQuery(text: string): QueryProblem | undefined {
  try {
    parseQuery(text);
    return undefined;
  } catch (error) {
    if (error instanceof SealtrailError) {
      const position = typeof error.details.position === 'number' ? error.details.position : 0;
      const length = typeof error.details.length === 'number' ? error.details.length : 0;
      return { message: error.message, code: error.code, position: Math.min(position, text.length), length: Math.max(0, Math.min(length, text.length - position)) };
    }
    return { message: String(error), code: 'INVALID_ARGUMENT', position: 0, length: 0 };
  }
}

export interface Completion {
  /** The text replaced by an accepted item: [start, end). */
  start: number;
  end: number;
  items: Array<{ label: string; insert: string; description: string }>;
}

const KEYS = QUERY_FIELDS.map((field) => ({ key: field.key, insert: field.key === 'metadata.<key>' ? 'metadata.' : `${field.key}:`, description: field.description }));

/**
 * What to offer at the caret: keys of the language while a key prefix is typed (`act|` → action:, actor:,
 * …), and the values of a closed-domain key after its colon (`outcome:f|` → failure). Nothing inside
 * quotes or for text that cannot become a key.
 */
export function completionAt(text: string, caret: number): Completion | undefined {
  let start = caret;
  while (start > 0 && !/\s/.test(text[start - 1]!)) start--;
  let token = text.slice(start, caret);
  if (token.startsWith('-')) {
    start++;
    token = token.slice(1);
  }
  if (token === '' || token.includes('"')) return undefined;
  const colon = token.indexOf(':');
  if (colon < 0) {
    if (!/^[a-z.]+$/i.test(token)) return undefined;
    const lower = token.toLowerCase();
    const items = KEYS.filter((k) => k.key.startsWith(lower) && k.insert !== token).map((k) => ({ label: k.key, insert: k.insert, description: k.description }));
    return items.length ? { start, end: caret, items } : undefined;
  }
  const key = token.slice(0, colon);
  const field = QUERY_FIELDS.find((f) => f.key === key);
  if (!field?.values) return undefined;
  const valuesAt = token.lastIndexOf(',') + 1 || colon + 1;
  const partial = token.slice(valuesAt).toLowerCase();
  const items = field.values.filter((v) => v.startsWith(partial) && v !== partial).map((v) => ({ label: v, insert: v, description: `${key} ${v}` }));
  return items.length ? { start: start + valuesAt, end: caret, items } : undefined;
}

/** A value written so the parser reads it back exactly: bare when it can be, else quoted. */
export function writeValue(value: string): string {
  const bare = /^[^\s,"]+$/.test(value) && !value.endsWith('*') && !/^(AND|OR|NOT)$/.test(value);
  return bare ? value : `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The facets shown, each a stats dimension and the query key its values refine. */
export const FACETS = [
  { by: 'actor', key: 'actor.id', title: 'Top actors' },
  { by: 'action', key: 'action', title: 'Actions' },
  { by: 'country', key: 'country', title: 'Countries' },
  { by: 'outcome', key: 'outcome', title: 'Outcomes' },
  { by: 'ip', key: 'ip', title: 'IP addresses' },
] as const;

export type FacetBy = (typeof FACETS)[number]['by'];

/** The query with `key:value` added (unless it is already a term of it). */
export function refine(q: string, key: string, value: string): string {
  const term = `${key}:${writeValue(value)}`;
  const trimmed = q.trim();
  if (trimmed.split(/\s+/).includes(term)) return trimmed;
  return trimmed ? `${trimmed} ${term}` : term;
}

export interface Bucket {
  key: string | null;
  count: number;
}

/** Buckets of several ledgers added up by key; largest first (ties by key), as the API orders one ledger. */
export function mergeCounts(lists: Bucket[][], limit: number): Bucket[] {
  const sums = new Map<string | null, number>();
  for (const list of lists) for (const b of list) sums.set(b.key, (sums.get(b.key) ?? 0) + b.count);
  return [...sums]
    .map(([key, count]) => ({ key, count }))
    .sort((a, b) => b.count - a.count || String(a.key ?? '').localeCompare(String(b.key ?? '')))
    .slice(0, limit);
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** A bucket key of the stats API (`2026-11-26T07:00:00Z` or `2026-11-26`) as epoch milliseconds. */
export function bucketStart(key: string): number {
  return Date.parse(key.length === 10 ? `${key}T00:00:00Z` : key);
}

/**
 * A histogram's series: bucket starts (ms) from the first to the last bucket (or the range's ends),
 * empty buckets filled with 0, at most `maxBuckets` (the range is cut to its most recent part).
 */
export function histogramSeries(lists: Bucket[][], bucketMs: number, range: { from?: number; to?: number } = {}, maxBuckets = 2000): { starts: number[]; counts: number[] } {
  const sums = new Map<number, number>();
  for (const list of lists) {
    for (const b of list) {
      if (b.key === null) continue;
      const at = bucketStart(b.key);
      if (!Number.isNaN(at)) sums.set(at, (sums.get(at) ?? 0) + b.count);
    }
  }
  const known = [...sums.keys()];
  if (known.length === 0 && range.from === undefined) return { starts: [], counts: [] };
  const floor = (ms: number) => Math.floor(ms / bucketMs) * bucketMs;
  let first = floor(Math.min(...known, ...(range.from !== undefined ? [range.from] : [])));
  const last = floor(Math.max(...known, ...(range.to !== undefined ? [range.to - 1] : range.from !== undefined ? [Date.now()] : [])));
  if ((last - first) / bucketMs + 1 > maxBuckets) first = last - (maxBuckets - 1) * bucketMs;
  const starts: number[] = [];
  const counts: number[] = [];
  for (let at = first; at <= last; at += bucketMs) {
    starts.push(at);
    counts.push(sums.get(at) ?? 0);
  }
  return { starts, counts };
}

/** Saved searches, per server origin and key id, in localStorage. */
export interface SavedSearch extends SearchParams {
  name: string;
  saved_at: string;
}

export const MAX_SAVED = 100;
export const MAX_NAME = 80;

export function savedKey(origin: string, keyId: string): string {
  return `sealtrail.console.saved-searches.v1 ${origin} ${keyId}`;
}

export function readSaved(storage: Storage, key: string): SavedSearch[] {
  try {
    const parsed = JSON.parse(storage.getItem(key) ?? '[]') as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (s): s is SavedSearch =>
        typeof s === 'object' && s !== null && typeof s.name === 'string' && typeof s.q === 'string' && typeof s.ledger === 'string' && typeof s.from === 'string' && typeof s.to === 'string',
    );
  } catch {
    return [];
  }
}

/** The list with `search` saved under its name (replacing one of the same name), newest first. */
export function withSaved(list: SavedSearch[], search: SavedSearch): SavedSearch[] {
  return [search, ...list.filter((s) => s.name !== search.name)].slice(0, MAX_SAVED);
}
