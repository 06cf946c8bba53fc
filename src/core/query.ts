/**
 * The search query language (docs/SEARCH.md): `actor:alice action:file.* -outcome:success
 * received:-24h ip:10.0.0.0/8 "free text"`. parseQuery turns a query string into a small JSON AST that
 * storage backends compile to SQL; formatQuery prints an AST back as the canonical query string.
 *
 * Semantics of the AST, which every backend must implement the same way:
 * - A query matches an event when every clause does (AND). An empty query matches every event.
 * - A clause matches when at least one of its `anyOf` matches (OR). With `negate`, it matches exactly
 *   the events the clause without `negate` does not match, including events that lack the field.
 * - `exact` compares the whole value, case-sensitively; `prefix` matches values that start with `value`
 *   (an empty prefix: any value is present). `text` is free text (see Match).
 * - `range` is half-open, [from, to), in integer microseconds since the epoch (`received`, `occurred`)
 *   or ledger indexes (`index`); a missing end is unbounded.
 * - `ipRange` is inclusive, [low, high], over 16-byte addresses in which IPv4 is mapped to
 *   ::ffff:a.b.c.d; both are 32 lowercase hex digits (see ipnet.ts: index `ipHex(origin.ip)`).
 * - Multi-valued fields (`target*`: an event has up to 32 targets) match when any target matches;
 *   two clauses on target fields may be satisfied by different targets of the same event.
 */
import { SealtrailError } from './errors.js';
import { ACTOR_TYPES, CATEGORIES, METADATA_KEY, OUTCOMES } from './event.js';
import { formatCidr, parseCidr } from './ipnet.js';
import { formatMicros, isRfc3339 } from './time.js';

/**
 * Bounds on what one query may ask of a store (docs/SEARCH.md "Limits"). The length bounds the text;
 * the others bound the work, which grows with each of them times the events searched: a query over a
 * bound is refused with QUERY_TOO_COSTLY before any store sees it. Within the bounds, a store still
 * gives every query a time budget.
 */
export const QUERY_LIMITS = {
  /** Longest query string accepted, in UTF-16 code units (JavaScript string length). */
  maxLength: 2000,
  /** Terms ANDed together; a comma list or an OR group is one term. */
  maxTerms: 32,
  /** Free-text values in the whole query, negated or not: each is a scan of the free-text index. */
  maxTextValues: 8,
  /** Values of one key in the whole query (exact values are looked up as one set). */
  maxValuesPerKey: 500,
  /**
   * Values that are each their own comparison rather than one member of a set: wildcards, times,
   * index ranges and IP addresses or blocks, in the whole query.
   */
  maxPatternValues: 100,
} as const;

/** What a clause is about. `metadata` clauses carry the metadata key in `key`; `text` is free text. */
export type Field =
  | 'actor'
  | 'actor.id'
  | 'actor.name'
  | 'actor.type'
  | 'action'
  | 'category'
  | 'target'
  | 'target.type'
  | 'target.id'
  | 'tenant'
  | 'outcome'
  | 'session'
  | 'device'
  | 'ip'
  | 'country'
  | 'writer'
  | 'received'
  | 'occurred'
  | 'index'
  | 'metadata'
  | 'text';

export type Match =
  /** The whole value equals `value` (case-sensitive; closed domains and country are normalised). */
  | { kind: 'exact'; value: string }
  /** The value starts with `value`; an empty `value` means the field is present. */
  | { kind: 'prefix'; value: string }
  /** from ≤ value < to; an absent end is unbounded (never both absent). */
  | { kind: 'range'; from?: number; to?: number }
  /** low ≤ address ≤ high, as 16-byte values written as 32 lowercase hex digits. */
  | { kind: 'ipRange'; low: string; high: string }
  /**
   * Free text, exactly as written (never a wildcard). Backends match it as a case-insensitive
   * substring of the event's text: action, actor id/name/email, target types/ids/names, tenant,
   * outcome_reason, user agent and metadata values.
   */
  | { kind: 'text'; value: string };

export interface Clause {
  field: Field;
  /** The metadata key, only for field "metadata". */
  key?: string;
  negate: boolean;
  /** Never empty. */
  anyOf: Match[];
  /** Offset of the clause's first term in the query string (UTF-16 code units), for highlighting. */
  position: number;
}

export interface Query {
  clauses: Clause[];
}

export interface ParseOptions {
  /** The present, in microseconds since the epoch, for relative times. Default: the system clock. */
  now?: number;
}

export interface QueryFieldInfo {
  /** The key as written in a query. */
  readonly key: string;
  readonly field: Field;
  readonly description: string;
  /** The match kinds a clause on this key contains. */
  readonly matches: readonly Match['kind'][];
  /** The accepted values, for keys with a closed domain. */
  readonly values?: readonly string[];
}

const STRING: readonly Match['kind'][] = ['exact', 'prefix'];

/** Every key of the language, in the order documented and listed in errors. */
export const QUERY_FIELDS: readonly QueryFieldInfo[] = [
  { key: 'actor', field: 'actor', description: 'actor id or actor name (either matches)', matches: STRING },
  { key: 'actor.id', field: 'actor.id', description: 'actor id', matches: STRING },
  { key: 'actor.name', field: 'actor.name', description: 'actor display name', matches: STRING },
  { key: 'actor.type', field: 'actor.type', description: `actor type: ${ACTOR_TYPES.join(', ')}`, matches: ['exact'], values: ACTOR_TYPES },
  { key: 'action', field: 'action', description: 'action, e.g. file.download; file.* for every file action', matches: STRING },
  { key: 'category', field: 'category', description: `category: ${CATEGORIES.join(', ')}`, matches: ['exact'], values: CATEGORIES },
  { key: 'target', field: 'target', description: 'id or name of any target', matches: STRING },
  { key: 'target.type', field: 'target.type', description: 'type of any target', matches: STRING },
  { key: 'target.id', field: 'target.id', description: 'id of any target', matches: STRING },
  { key: 'tenant', field: 'tenant', description: 'tenant the event concerns', matches: STRING },
  { key: 'outcome', field: 'outcome', description: `outcome: ${OUTCOMES.join(', ')}`, matches: ['exact'], values: OUTCOMES },
  { key: 'session', field: 'session', description: 'session id of the actor (actor.session_id)', matches: STRING },
  { key: 'device', field: 'device', description: 'device id of the origin (origin.device_id)', matches: STRING },
  { key: 'ip', field: 'ip', description: 'origin IP address or CIDR block, IPv4 or IPv6', matches: ['ipRange'] },
  { key: 'country', field: 'country', description: 'country of the origin IP, ISO 3166-1 alpha-2 (case-insensitive)', matches: ['exact'] },
  { key: 'writer', field: 'writer', description: 'id of the API key that submitted the event', matches: STRING },
  { key: 'received', field: 'received', description: 'when sealtrail received the event (authoritative)', matches: ['range'] },
  { key: 'occurred', field: 'occurred', description: 'when the client says it happened (events without occurred_at never match)', matches: ['range'] },
  { key: 'index', field: 'index', description: 'position in the ledger (integer or range)', matches: ['range'] },
  {
    key: 'metadata.<key>',
    field: 'metadata',
    description: 'a metadata value: a string, or the JSON text of a number, boolean or null',
    matches: STRING,
  },
];

type Kind = 'string' | 'enum' | 'country' | 'ip' | 'time' | 'index' | 'text';
interface Spec {
  field: Field;
  kind: Kind;
  values?: readonly string[];
}

const SPECS = new Map<Field, Spec>([
  ['actor', { field: 'actor', kind: 'string' }],
  ['actor.id', { field: 'actor.id', kind: 'string' }],
  ['actor.name', { field: 'actor.name', kind: 'string' }],
  ['actor.type', { field: 'actor.type', kind: 'enum', values: ACTOR_TYPES }],
  ['action', { field: 'action', kind: 'string' }],
  ['category', { field: 'category', kind: 'enum', values: CATEGORIES }],
  ['target', { field: 'target', kind: 'string' }],
  ['target.type', { field: 'target.type', kind: 'string' }],
  ['target.id', { field: 'target.id', kind: 'string' }],
  ['tenant', { field: 'tenant', kind: 'string' }],
  ['outcome', { field: 'outcome', kind: 'enum', values: OUTCOMES }],
  ['session', { field: 'session', kind: 'string' }],
  ['device', { field: 'device', kind: 'string' }],
  ['ip', { field: 'ip', kind: 'ip' }],
  ['country', { field: 'country', kind: 'country' }],
  ['writer', { field: 'writer', kind: 'string' }],
  ['received', { field: 'received', kind: 'time' }],
  ['occurred', { field: 'occurred', kind: 'time' }],
  ['index', { field: 'index', kind: 'index' }],
  ['metadata', { field: 'metadata', kind: 'string' }],
  ['text', { field: 'text', kind: 'text' }],
]);

const KEY_NAMES = QUERY_FIELDS.map((f) => f.key);
const METADATA_PREFIX = 'metadata.';

// ---------------------------------------------------------------------------------------------------
// Parsing

function fail(position: number, length: number, message: string): never {
  throw new SealtrailError('INVALID_ARGUMENT', `at ${position}: ${message}`, { position, length });
}

/** A value as written: its unescaped text, whether it was quoted, and where it is in the query. */
interface RawValue {
  text: string;
  quoted: boolean;
  position: number;
  length: number;
}

interface RawTerm {
  type: 'term';
  position: number;
  end: number;
  negate: boolean;
  field: Field;
  key?: string;
  values: RawValue[];
}

interface OrToken {
  type: 'or';
  position: number;
}

/** `AND` (a no-op: terms are ANDed anyway) or `NOT` (negates the next term), resolved before combine. */
interface WordOperator {
  type: 'and' | 'not';
  position: number;
}

/**
 * Words people type as operators (GitHub, Okta, Splunk). Uppercase AND, OR and NOT are operators; any
 * other spelling written bare as free text is refused rather than searched for, since the user almost
 * certainly meant the operator. Quoted ("and"), they are free text.
 */
const OPERATOR_WORD = /^(and|or|not|&&|\|\|)$/i;

/**
 * Free text shorter than this is refused: the stores index text as trigrams (see search-sql.ts
 * MIN_TEXT_LENGTH, the same number), and the parser knows where the term is.
 */
export const MIN_TEXT_LENGTH = 3;

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);

/**
 * Parses a query string. Throws SealtrailError('INVALID_ARGUMENT') with `details.position` (0-based
 * offset of the offending token, in UTF-16 code units, 0 ≤ position ≤ text.length) and
 * `details.length` (its length, possibly 0), and a message `at <position>: <what was expected>`.
 * A valid query over a cost bound (QUERY_LIMITS) throws SealtrailError('QUERY_TOO_COSTLY') with the
 * same details, the first value past the bound, and `details.limit`.
 */
export function parseQuery(text: string, options: ParseOptions = {}): Query {
  if (typeof text !== 'string') fail(0, 0, 'a query must be a string');
  const now = options.now ?? Date.now() * 1000;
  if (!Number.isSafeInteger(now) || now < 0) {
    throw new SealtrailError('INVALID_ARGUMENT', `now must be a non-negative integer count of microseconds, not ${now}`, {
      position: 0,
      length: 0,
    });
  }
  if (text.length > QUERY_LIMITS.maxLength) {
    fail(QUERY_LIMITS.maxLength, text.length - QUERY_LIMITS.maxLength, `the query is ${text.length} characters long; the limit is ${QUERY_LIMITS.maxLength}`);
  }
  checkCharacters(text);
  const items = resolveWordOperators(lex(text));
  const clauses = combine(items, now);
  checkCost(items);
  return { clauses };
}

function tooCostly(value: RawValue, limit: number, message: string): never {
  throw new SealtrailError('QUERY_TOO_COSTLY', `at ${value.position}: ${message}`, { position: value.position, length: value.length, limit });
}

/** A value that compiles to a comparison of its own (see QUERY_LIMITS.maxPatternValues). */
function isPattern(term: RawTerm, value: RawValue): boolean {
  const kind = SPECS.get(term.field)!.kind;
  if (kind === 'ip' || kind === 'time' || kind === 'index') return true;
  return kind === 'string' && !value.quoted && value.text.endsWith('*');
}

/**
 * Refuses a syntactically valid query whose cost is over QUERY_LIMITS, naming the first value past
 * the bound. Runs after combine, so the OR structure is known to be valid.
 */
function checkCost(items: (RawTerm | OrToken)[]): void {
  let terms = 0;
  let textValues = 0;
  let patternValues = 0;
  const valuesPerKey = new Map<string, number>();
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    if (item.type === 'or') continue;
    const joined = items[k - 1]?.type === 'or';
    if (!joined && ++terms > QUERY_LIMITS.maxTerms) {
      tooCostly(item.values[0]!, QUERY_LIMITS.maxTerms, `a query may have at most ${QUERY_LIMITS.maxTerms} terms (a comma list or an OR group counts once); run several searches`);
    }
    const name = keyName(item);
    for (const value of item.values) {
      const count = (valuesPerKey.get(name) ?? 0) + 1;
      valuesPerKey.set(name, count);
      if (count > QUERY_LIMITS.maxValuesPerKey) {
        tooCostly(value, QUERY_LIMITS.maxValuesPerKey, `a query may list at most ${QUERY_LIMITS.maxValuesPerKey} values of one key (${name}); run several searches`);
      }
      if (item.field === 'text' && ++textValues > QUERY_LIMITS.maxTextValues) {
        tooCostly(value, QUERY_LIMITS.maxTextValues, `a query may have at most ${QUERY_LIMITS.maxTextValues} free-text values, each a scan of the free-text index; use keys for precise matches`);
      }
      if (isPattern(item, value) && ++patternValues > QUERY_LIMITS.maxPatternValues) {
        tooCostly(
          value,
          QUERY_LIMITS.maxPatternValues,
          `a query may have at most ${QUERY_LIMITS.maxPatternValues} wildcard, time, index or IP values, each compared on its own; run several searches`,
        );
      }
    }
  }
}

function checkCharacters(text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) {
      fail(i, 1, `control character U+${c.toString(16).toUpperCase().padStart(4, '0')} is not allowed`);
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else fail(i, 1, 'lone UTF-16 surrogate (the text is not well-formed Unicode)');
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      fail(i, 1, 'lone UTF-16 surrogate (the text is not well-formed Unicode)');
    }
  }
}

function lex(s: string): (RawTerm | OrToken | WordOperator)[] {
  const items: (RawTerm | OrToken | WordOperator)[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && isSpace(s[i])) i++;
    if (i >= s.length) return items;
    const operator = ['OR', 'AND', 'NOT'].find((word) => s.startsWith(word, i) && (i + word.length === s.length || isSpace(s[i + word.length])));
    if (operator) {
      items.push({ type: operator.toLowerCase() as 'or' | 'and' | 'not', position: i });
      i += operator.length;
      continue;
    }
    const term = lexTerm(s, i);
    items.push(term);
    i = term.end;
  }
}

function lexTerm(s: string, start: number): RawTerm {
  let i = start;
  let negate = false;
  if (s[i] === '-') {
    negate = true;
    i++;
    if (i >= s.length || isSpace(s[i])) fail(start, 1, "expected a term right after '-'");
  }
  let field: Field = 'text';
  let key: string | undefined;
  if (s[i] !== '"') {
    let j = i;
    while (j < s.length && !isSpace(s[j]) && s[j] !== '"' && s[j] !== ',' && s[j] !== ':') j++;
    const word = s.slice(i, j);
    if (s[j] === ':') {
      ({ field, key } = resolveKey(word, i));
      i = j + 1;
    } else if (word === METADATA_PREFIX && s[j] === '"') {
      const quoted = readQuoted(s, j);
      checkMetadataKey(quoted.value, j, quoted.end - j);
      if (s[quoted.end] !== ':') fail(quoted.end, 0, `expected ':' after the metadata key`);
      field = 'metadata';
      key = quoted.value;
      i = quoted.end + 1;
    }
  }
  const values: RawValue[] = [];
  for (;;) {
    const c = s[i];
    if (c === undefined || isSpace(c) || c === ',') {
      if (values.length > 0) fail(i, c === ',' ? 1 : 0, `expected a value after ','${isSpace(c) ? ' (no spaces inside a list)' : ''}`);
      if (field !== 'text') fail(i, c === ',' ? 1 : 0, `expected a value after "${s.slice(start, i)}"`);
      fail(i, 1, `expected a term, found ','`);
    }
    if (c === '"') {
      const quoted = readQuoted(s, i);
      values.push({ text: quoted.value, quoted: true, position: i, length: quoted.end - i });
      i = quoted.end;
      if (i < s.length && !isSpace(s[i]) && s[i] !== ',') fail(i, 1, `expected a space or ',' after the closing quote`);
    } else {
      let j = i;
      while (j < s.length && !isSpace(s[j]) && s[j] !== ',' && s[j] !== '"') j++;
      if (s[j] === '"') fail(j, 1, `unexpected '"' inside a value; quote the whole value`);
      if (field === 'text' && OPERATOR_WORD.test(s.slice(i, j))) fail(i, j - i, operatorWordMisuse(s.slice(i, j)));
      values.push({ text: s.slice(i, j), quoted: false, position: i, length: j - i });
      i = j;
    }
    if (s[i] !== ',') break;
    i++;
  }
  return { type: 'term', position: start, end: i, negate, field, ...(key !== undefined ? { key } : {}), values };
}

/** Why a bare operator-looking word is not searched for as free text, and what to write instead. */
function operatorWordMisuse(word: string): string {
  const quote = `or quote it (${quoteValue(word)}) to search for the word`;
  if (word === 'AND' || word === 'OR' || word === 'NOT') return `${word} is an operator and cannot be a value here; quote it (${quoteValue(word)}) to search for the word`;
  switch (word.toLowerCase()) {
    case 'and':
    case '&&':
      return `${JSON.stringify(word)} looks like an operator: write AND in capitals as a word of its own (terms are ANDed anyway), ${quote}`;
    case 'not':
      return `${JSON.stringify(word)} looks like an operator: write NOT in capitals before a term, or '-' (-outcome:success), ${quote}`;
    default:
      return `${JSON.stringify(word)} looks like an operator: write OR in capitals between terms of one key, or a list (key:a,b), ${quote}`;
  }
}

/**
 * Applies NOT to the term after it and drops AND, which only separates terms. Each needs a term on the
 * side it works on, so a stray operator is an error rather than ignored.
 */
function resolveWordOperators(items: (RawTerm | OrToken | WordOperator)[]): (RawTerm | OrToken)[] {
  const resolved: (RawTerm | OrToken)[] = [];
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    if (item.type === 'not') {
      const next = items[k + 1];
      if (next?.type !== 'term') fail(item.position, 3, 'NOT must come right before a term, as in NOT outcome:success (or -outcome:success)');
      if (next.negate) fail(item.position, next.end - item.position, `NOT and '-' both negate; write one of them`);
      resolved.push({ ...next, negate: true, position: item.position });
      k++;
    } else if (item.type === 'and') {
      const next = items[k + 1];
      if (resolved.at(-1)?.type !== 'term') fail(item.position, 3, 'AND must join two terms; there is no term before it');
      if (next?.type !== 'term' && next?.type !== 'not') fail(item.position, 3, 'AND must join two terms; there is no term after it');
    } else {
      resolved.push(item as RawTerm | OrToken);
    }
  }
  return resolved;
}

/** Reads a double-quoted string starting at `open` (the quote); escapes are \" and \\ only. */
function readQuoted(s: string, open: number): { value: string; end: number } {
  let value = '';
  let i = open + 1;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"') return { value, end: i + 1 };
    if (c === '\\') {
      const next = s[i + 1];
      if (next === '"' || next === '\\') {
        value += next;
        i += 2;
        continue;
      }
      if (next !== undefined) {
        const escaped = String.fromCodePoint(s.codePointAt(i + 1)!);
        fail(i, 1 + escaped.length, `unknown escape '\\${escaped}' in a quoted value; only \\" and \\\\ are escapes`);
      }
    }
    value += c;
    i++;
  }
  return fail(open, s.length - open, 'unterminated quote');
}

function resolveKey(word: string, position: number): { field: Field; key?: string } {
  if (word === '') fail(position, 1, "expected a key before ':'");
  if (word.startsWith(METADATA_PREFIX)) {
    const key = word.slice(METADATA_PREFIX.length);
    checkMetadataKey(key, position, word.length);
    return { field: 'metadata', key };
  }
  const spec = SPECS.get(word as Field);
  if (spec && spec.field !== 'metadata' && spec.field !== 'text') return { field: spec.field };
  if (/^\d+$/.test(word)) {
    // Most likely the time of `received:2026-11-26 02:00`, split off by the space.
    fail(
      position,
      word.length,
      `unknown key "${word}": a time of day belongs to its date, written with T (received:2026-11-26T02:00..03:00), or quote a time that has a space (received:"2026-11-26 02:00..03:00")`,
    );
  }
  const suggestion = closestKey(word);
  fail(
    position,
    word.length,
    `unknown key "${word}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}; expected one of ${KEY_NAMES.join(', ')}; quote free text that contains ':'`,
  );
}

function checkMetadataKey(key: string, position: number, length: number): void {
  if (!METADATA_KEY.test(key)) {
    fail(position, length, `bad metadata key "${key}"; expected 1–64 characters of [A-Za-z0-9_.:-], not starting with [.:-]`);
  }
}

function closestKey(word: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of SPECS.keys()) {
    if (name === 'metadata' || name === 'text') continue;
    const d = editDistance(word.toLowerCase(), name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** A key as written in a query: metadata keys containing ':' are quoted. */
function writtenKey(field: Field, key: string | undefined): string {
  if (field !== 'metadata') return field;
  return `${METADATA_PREFIX}${key!.includes(':') ? quoteValue(key!) : key}`;
}

function keyName(term: { field: Field; key?: string }): string {
  if (term.field === 'text') return 'free text';
  return term.field === 'metadata' ? `${METADATA_PREFIX}${term.key}` : term.field;
}

/** Builds clauses: terms are ANDed; OR joins its neighbours, which must be un-negated and of one key. */
function combine(items: (RawTerm | OrToken)[], now: number): Clause[] {
  const clauses: Clause[] = [];
  for (let k = 0; k < items.length; k++) {
    const item = items[k]!;
    if (item.type === 'or') {
      const before = items[k - 1];
      const after = items[k + 1];
      if (before?.type !== 'term') fail(item.position, 2, 'OR must join two terms of the same key; there is no term before it');
      if (after?.type !== 'term') fail(item.position, 2, 'OR must join two terms of the same key; there is no term after it');
      if (before.field !== after.field || before.key !== after.key) {
        fail(
          item.position,
          2,
          `OR must join two terms of the same key, not ${keyName(before)} and ${keyName(after)}; list alternatives of one key as ${before.field === 'text' ? 'a,b' : `${writtenKey(before.field, before.key)}:a,b`}, and run one search per key to combine different keys`,
        );
      }
      for (const term of [before, after]) {
        if (term.negate) {
          const example = term.field === 'text' ? '-a,b' : `-${writtenKey(term.field, term.key)}:a,b`;
          fail(term.position, term.end - term.position, `OR cannot join negated terms; write ${example} to exclude several values`);
        }
      }
      clauses[clauses.length - 1]!.anyOf.push(...toMatches(after, now));
      k++;
      continue;
    }
    clauses.push({
      field: item.field,
      ...(item.key !== undefined ? { key: item.key } : {}),
      negate: item.negate,
      anyOf: toMatches(item, now),
      position: item.position,
    });
  }
  return clauses;
}

function toMatches(term: RawTerm, now: number): Match[] {
  const spec = SPECS.get(term.field)!;
  return term.values.map((raw) => toMatch(spec, keyName(term), raw, now));
}

function toMatch(spec: Spec, name: string, raw: RawValue, now: number): Match {
  if (raw.text === '') fail(raw.position, raw.length, 'empty value');
  switch (spec.kind) {
    case 'text':
      if ([...raw.text].length < MIN_TEXT_LENGTH) {
        fail(raw.position, raw.length, `free text ${JSON.stringify(raw.text)} is too short: search needs at least ${MIN_TEXT_LENGTH} characters`);
      }
      return { kind: 'text', value: raw.text };
    case 'string': {
      const star = raw.quoted ? -1 : raw.text.indexOf('*');
      if (star < 0) return { kind: 'exact', value: raw.text };
      if (star === raw.text.length - 1) return { kind: 'prefix', value: raw.text.slice(0, -1) };
      return fail(raw.position + star, 1, `'*' is a wildcard only at the end of a value; quote the value to match '*' literally`);
    }
    case 'enum': {
      noWildcard(raw, name);
      const value = raw.text.toLowerCase();
      if (!spec.values!.includes(value)) {
        fail(raw.position, raw.length, `${JSON.stringify(raw.text)} is not a valid ${name}; expected one of ${spec.values!.join(', ')}`);
      }
      return { kind: 'exact', value };
    }
    case 'country':
      noWildcard(raw, name);
      if (!/^[A-Za-z]{2}$/.test(raw.text)) {
        fail(raw.position, raw.length, `${JSON.stringify(raw.text)} is not a country; expected a two-letter ISO 3166-1 alpha-2 code such as DE`);
      }
      return { kind: 'exact', value: raw.text.toUpperCase() };
    case 'ip': {
      noWildcard(raw, name);
      const range = parseCidr(raw.text);
      if (!range) {
        fail(raw.position, raw.length, `${JSON.stringify(raw.text)} is not an IP address or CIDR block; expected e.g. 10.0.0.1, 10.0.0.0/8, 2001:db8::/32`);
      }
      return { kind: 'ipRange', low: range.low, high: range.high };
    }
    case 'time':
      noWildcard(raw, name);
      return parseRange(raw, (text, position, length) => timeSpan(text, position, now, length), true, `the latest time supported is ${LATEST}`, completeTimeEnd);
    case 'index':
      noWildcard(raw, name);
      return parseRange(raw, indexSpan, false, `the largest index supported is ${Number.MAX_SAFE_INTEGER - 1}`);
  }
}

function noWildcard(raw: RawValue, name: string): void {
  const star = raw.quoted ? -1 : raw.text.indexOf('*');
  if (star >= 0) fail(raw.position + star, 1, `wildcards are not supported for ${name}`);
}

/** The values one point stands for: [start, end) (a date: the whole day), and whether it is relative. */
interface Span {
  start: number;
  end: number;
  relative?: boolean;
}

/**
 * Ranges over a numeric domain ≥ 0: `x` (its span), `a..b` (start of a to end of b, both inclusive),
 * `a..`, `..b`, `>=x`, `>x`, `<=x`, `<x`. `relativeSince`: a relative point alone means "since then".
 */
function parseRange(
  raw: RawValue,
  span: (text: string, position: number, length?: number) => Span,
  relativeSince: boolean,
  limit: string,
  completeEnd: (left: string, right: string) => string = (_, right) => right,
): Match {
  const text = raw.text;
  const base = raw.position + (raw.quoted ? 1 : 0);
  let from: number | undefined;
  let to: number | undefined;
  const op = /^(>=|<=|>|<)/.exec(text)?.[0];
  if (op) {
    const rest = text.slice(op.length);
    if (rest === '') fail(base + op.length, 0, `expected a value after '${op}'`);
    if (rest.includes('..')) fail(base + op.length + rest.indexOf('..'), 2, `a comparison cannot be combined with a range`);
    const point = span(rest, base + op.length);
    if (op === '>=') from = point.start;
    else if (op === '>') from = point.end;
    else if (op === '<=') to = point.end;
    else to = point.start;
  } else if (text.includes('..')) {
    const dots = text.indexOf('..');
    const left = text.slice(0, dots);
    const right = text.slice(dots + 2);
    if (right.includes('..')) fail(base + dots + 2 + right.indexOf('..'), 2, `a range has one '..'`);
    if (left === '' && right === '') fail(raw.position, raw.length, `a range needs at least one end`);
    if (left !== '') from = span(left, base).start;
    // An error in a completed end still marks only what was written.
    if (right !== '') to = span(completeEnd(left, right), base + dots + 2, right.length).end;
  } else {
    const point = span(text, base);
    from = point.start;
    if (!(relativeSince && point.relative)) to = point.end;
  }
  // Both ends are exact integers: a span may end one past the largest safe integer, which is refused here.
  for (const end of [from, to]) {
    if (end !== undefined && !Number.isSafeInteger(end)) fail(raw.position, raw.length, `${JSON.stringify(text)} is out of range; ${limit}`);
  }
  if (to !== undefined && to <= (from ?? 0)) fail(raw.position, raw.length, `the range ${JSON.stringify(text)} is empty`);
  return { kind: 'range', ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

function indexSpan(text: string, position: number): Span {
  if (!/^[0-9]+$/.test(text)) fail(position, text.length, `${JSON.stringify(text)} is not an index; expected a non-negative integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) fail(position, text.length, `index ${text} is too large`);
  return { start: n, end: n + 1 };
}

const SECOND = 1_000_000;
const DAY = 86_400 * SECOND;
const UNITS: Readonly<Record<string, number>> = { s: SECOND, m: 60 * SECOND, h: 3600 * SECOND, d: DAY, w: 7 * DAY };
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * RFC 3339, and the forms people write for it: a space for the T (inside quotes), no seconds, no zone
 * (then UTC, as everywhere in sealtrail).
 */
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|([+-])(\d{2}):(\d{2}))?$/;
/** The date and zone of a range's start, which an end written as a time of day (`..03:00`) shares. */
const START_DATE_AND_ZONE = /^(\d{4}-\d{2}-\d{2})[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?$/;
const TIME_OF_DAY = /^\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?$/;

/** `2026-11-26T02:00..03:00`: an end that is only a time of day takes the start's date (and zone). */
function completeTimeEnd(left: string, right: string): string {
  const start = START_DATE_AND_ZONE.exec(left);
  const end = TIME_OF_DAY.exec(right);
  if (!start || !end) return right;
  return `${start[1]}T${right}${end[1] === undefined ? (start[2] ?? '') : ''}`;
}
const RELATIVE = /^-(\d{1,12})([smhdw])$/;
const LATEST = formatMicros(Number.MAX_SAFE_INTEGER - 1);

function timeSpan(text: string, position: number, now: number, length = text.length): Span {
  const outOfRange = (start: number, end: number): Span => {
    if (start < 0) fail(position, length, `${JSON.stringify(text)} is before 1970-01-01, the earliest time supported`);
    if (!Number.isSafeInteger(start)) fail(position, length, `${JSON.stringify(text)} is out of range; the latest time supported is ${LATEST}`);
    return { start, end };
  };
  let m = RELATIVE.exec(text);
  if (m) {
    const start = now - Number(m[1]) * UNITS[m[2]!]!;
    return { ...outOfRange(start, start + 1), relative: true };
  }
  m = DATE.exec(text);
  if (m) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    if (!isRfc3339(`${text}T00:00:00Z`)) fail(position, length, `${JSON.stringify(text)} is not a valid date`);
    if (year < 1970) return outOfRange(-1, 0);
    const start = Date.UTC(year, month - 1, day) * 1000;
    return outOfRange(start, start + DAY);
  }
  m = TIMESTAMP.exec(text);
  if (m) {
    const [, y, mo, d, h, mi, sec, fraction, zone] = m;
    if (!isRfc3339(`${y}-${mo}-${d}T${h}:${mi}:${sec ?? '00'}${fraction ? `.${fraction}` : ''}${zone ?? 'Z'}`)) {
      fail(position, length, `${JSON.stringify(text)} is not a valid timestamp`);
    }
    const [year, month, day, hour, minute] = m.slice(1, 6).map(Number) as [number, number, number, number, number];
    const second = Number(sec ?? 0);
    if (year < 1970) return outOfRange(-1, 0); // also keeps Date.UTC away from its two-digit-year rule
    const offsetMinutes = m[9] ? (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) : 0;
    const millis = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
    const start = millis * 1000 + Number((m[7] ?? '').padEnd(6, '0').slice(0, 6));
    return outOfRange(start, start + 1);
  }
  return fail(
    position,
    length,
    `${JSON.stringify(text)} is not a time; expected an RFC 3339 timestamp (2026-11-01T08:00:00Z, or 2026-11-01T08:00 in UTC), a date (2026-11-01) or a relative time (-90s, -30m, -24h, -7d, -2w); a range may end at a time of day (2026-11-01T08:00..09:30); quote a time written with a space ("2026-11-01 08:00")`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Formatting

function cannot(message: string): never {
  throw new SealtrailError('INVALID_ARGUMENT', `cannot format query: ${message}`);
}

/**
 * The canonical query string of an AST: one term per clause (OR written as a comma list), values
 * quoted only when they must be, times as dates when they fall on day boundaries and as UTC
 * timestamps otherwise (relative times are therefore pinned), IP ranges as CIDR blocks.
 * parseQuery(formatQuery(q)) equals q except for `position`. Throws INVALID_ARGUMENT for an AST that
 * parseQuery could not have produced (unknown field, empty anyOf, a match kind the field does not
 * take, an empty range, an IP range that is not a CIDR block).
 */
export function formatQuery(query: Query): string {
  return query.clauses.map(formatClause).join(' ');
}

function formatClause(clause: Clause): string {
  const spec = SPECS.get(clause.field);
  if (!spec) cannot(`unknown field ${JSON.stringify(clause.field)}`);
  if (clause.anyOf.length === 0) cannot(`a ${clause.field} clause without values`);
  if (clause.field === 'metadata' && !METADATA_KEY.test(clause.key ?? '')) cannot(`bad metadata key ${JSON.stringify(clause.key)}`);
  const key = clause.field === 'text' ? '' : `${writtenKey(clause.field, clause.key)}:`;
  const values = clause.anyOf.map((match) => formatMatch(spec, match));
  return `${clause.negate ? '-' : ''}${key}${values.join(',')}`;
}

/** Characters a bare value cannot contain (besides whitespace). */
const BARE_EXCLUDED = /[",*]/;

function isBare(value: string): boolean {
  return value !== '' && !BARE_EXCLUDED.test(value) && !/\s/.test(value);
}

/** A value as a quoted term of the query language: matched exactly, whatever characters it holds. */
export function quoteValue(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function formatMatch(spec: Spec, match: Match): string {
  const allowed: Record<Kind, Match['kind']> = {
    string: 'exact',
    enum: 'exact',
    country: 'exact',
    ip: 'ipRange',
    time: 'range',
    index: 'range',
    text: 'text',
  };
  const ok = match.kind === allowed[spec.kind] || (spec.kind === 'string' && match.kind === 'prefix');
  if (!ok) cannot(`a ${match.kind} match on ${spec.field}`);
  switch (match.kind) {
    case 'exact':
      return isBare(match.value) ? match.value : quoteValue(match.value);
    case 'prefix':
      if (match.value !== '' && !isBare(match.value)) cannot(`the prefix ${JSON.stringify(match.value)} cannot be written`);
      return `${match.value}*`;
    case 'text': {
      // Free text is never a wildcard, so '*' may stay bare; ':' would make it a key, '-' a negation,
      // and an operator word (AND, or, ...) is an operator or refused.
      const bare = match.value !== '' && !/[\s",:]/.test(match.value) && !match.value.startsWith('-') && !OPERATOR_WORD.test(match.value);
      return bare ? match.value : quoteValue(match.value);
    }
    case 'ipRange': {
      const text = formatCidr(match.low, match.high);
      if (text === undefined) cannot(`the IP range ${match.low}–${match.high} is not a CIDR block`);
      return text;
    }
    case 'range':
      return spec.kind === 'time' ? formatTimeRange(match) : formatIndexRange(match);
  }
}

function checkRange(from: number | undefined, to: number | undefined): void {
  for (const n of [from, to]) if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) cannot(`bad range end ${n}`);
  if (from === undefined && to === undefined) cannot('a range without ends');
  if (to !== undefined && to <= (from ?? 0)) cannot(`the empty range [${from}, ${to})`);
}

function formatIndexRange({ from, to }: { from?: number; to?: number }): string {
  checkRange(from, to);
  if (to === undefined) return `>=${from}`;
  if (from === undefined) return `<${to}`;
  return to === from + 1 ? `${from}` : `${from}..${to - 1}`;
}

function formatTimeRange({ from, to }: { from?: number; to?: number }): string {
  checkRange(from, to);
  if (to === undefined) return `>=${startText(from!)}`;
  if (from === undefined) return `<${startText(to)}`;
  if (from % DAY === 0 && to === from + DAY) return dateText(from);
  if (to === from + 1) return stampText(from);
  return `${startText(from)}..${endText(to)}`;
}

const dateText = (micros: number) => formatMicros(micros).slice(0, 10);

function stampText(micros: number): string {
  const text = formatMicros(micros);
  return text.endsWith('.000000Z') ? `${text.slice(0, 19)}Z` : text;
}

/** Text whose span starts at `micros`. */
const startText = (micros: number) => (micros % DAY === 0 ? dateText(micros) : stampText(micros));

/** Text whose span ends at `micros` (exclusive): the day before a midnight, or the microsecond before. */
const endText = (micros: number) => (micros % DAY === 0 ? dateText(micros - DAY) : stampText(micros - 1));
