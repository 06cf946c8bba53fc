import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { SealtrailError } from '../../src/core/errors.js';
import { METADATA_KEY } from '../../src/core/event.js';
import { formatCidr, ipHex, parseCidr } from '../../src/core/ipnet.js';
import {
  formatQuery,
  parseQuery,
  QUERY_FIELDS,
  QUERY_LIMITS,
  type Clause,
  type Field,
  type Match,
  type Query,
} from '../../src/core/query.js';

/** Thursday 2026-11-26T12:00:00Z. */
const NOW = Date.UTC(2026, 10, 26, 12) * 1000;
const SECOND = 1_000_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const parse = (text: string) => parseQuery(text, { now: NOW });
/** Microseconds of an ISO date or timestamp (millisecond precision). */
const t = (iso: string) => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso) * 1000;
const MAPPED = '00000000000000000000ffff';
const v4 = (...octets: number[]) => MAPPED + octets.map((o) => o.toString(16).padStart(2, '0')).join('');

type Expected = Omit<Clause, 'position'> & { position?: number };

function clause(field: Field, anyOf: Match[], extra: { negate?: boolean; key?: string } = {}): Expected {
  return { field, ...(extra.key !== undefined ? { key: extra.key } : {}), negate: extra.negate ?? false, anyOf };
}
const exact = (value: string): Match => ({ kind: 'exact', value });
const prefix = (value: string): Match => ({ kind: 'prefix', value });
const text = (value: string): Match => ({ kind: 'text', value });
const range = (from?: number, to?: number): Match => ({
  kind: 'range',
  ...(from !== undefined ? { from } : {}),
  ...(to !== undefined ? { to } : {}),
});
const ipRange = (low: string, high: string = low): Match => ({ kind: 'ipRange', low, high });

function withoutPositions(query: Query): unknown {
  return JSON.parse(JSON.stringify(query, (k, v) => (k === 'position' ? undefined : v)));
}

function rejects(query: string, position: number, fragment: string | RegExp): void {
  assert.throws(
    () => parse(query),
    (error: unknown) => {
      assert.ok(error instanceof SealtrailError, `expected a SealtrailError for ${JSON.stringify(query)}, got ${String(error)}`);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.equal(error.details.position, position, `position for ${JSON.stringify(query)}: ${error.message}`);
      assert.ok(error.message.startsWith(`at ${position}: `), error.message);
      if (typeof fragment === 'string') assert.ok(error.message.includes(fragment), `${error.message} should include ${fragment}`);
      else assert.match(error.message, fragment);
      return true;
    },
  );
}

const VALID: [string, Expected[]][] = [
  // Empty queries match everything.
  ['', []],
  [' \t\n ', []],
  // Every key.
  ['actor:alice', [clause('actor', [exact('alice')])]],
  ['actor.id:u-1', [clause('actor.id', [exact('u-1')])]],
  ['actor.name:"Alice Smith"', [clause('actor.name', [exact('Alice Smith')])]],
  ['actor.type:SERVICE', [clause('actor.type', [exact('service')])]],
  ['action:file.download', [clause('action', [exact('file.download')])]],
  ['category:export', [clause('category', [exact('export')])]],
  ['target:f-123', [clause('target', [exact('f-123')])]],
  ['target.type:file', [clause('target.type', [exact('file')])]],
  ['target.id:f-123', [clause('target.id', [exact('f-123')])]],
  ['tenant:acme', [clause('tenant', [exact('acme')])]],
  ['outcome:Failure', [clause('outcome', [exact('failure')])]],
  ['ip:10.0.0.1', [clause('ip', [ipRange(v4(10, 0, 0, 1))])]],
  ['country:de', [clause('country', [exact('DE')])]],
  ['writer:k1a2b3c4d', [clause('writer', [exact('k1a2b3c4d')])]],
  ['received:2026-11-01', [clause('received', [range(t('2026-11-01'), t('2026-11-02'))])]],
  ['occurred:2026-11-01', [clause('occurred', [range(t('2026-11-01'), t('2026-11-02'))])]],
  ['index:5', [clause('index', [range(5, 6)])]],
  ['metadata.ticket:T-1', [clause('metadata', [exact('T-1')], { key: 'ticket' })]],
  // Metadata keys: dots, quoted keys with ':', values with ':'.
  ['metadata.a.b:c', [clause('metadata', [exact('c')], { key: 'a.b' })]],
  ['metadata."k8s:ns":prod', [clause('metadata', [exact('prod')], { key: 'k8s:ns' })]],
  ['metadata.url:https://x.test/a', [clause('metadata', [exact('https://x.test/a')], { key: 'url' })]],
  ['metadata.n:42', [clause('metadata', [exact('42')], { key: 'n' })]],
  // Quoting and escaping; quoted values are never wildcards; ':' and '-' inside values.
  ['actor:"Alice Smith"', [clause('actor', [exact('Alice Smith')])]],
  ['actor.name:"say \\"hi\\" \\\\ back"', [clause('actor.name', [exact('say "hi" \\ back')])]],
  ['action:"file.*"', [clause('action', [exact('file.*')])]],
  ['actor:"a,b"', [clause('actor', [exact('a,b')])]],
  ['actor:-x', [clause('actor', [exact('-x')])]],
  ['actor:a\\b', [clause('actor', [exact('a\\b')])]],
  ['actor:OR', [clause('actor', [exact('OR')])]],
  ['actor:"Zoë 🎉"', [clause('actor', [exact('Zoë 🎉')])]],
  // Wildcards.
  ['action:file.*', [clause('action', [prefix('file.')])]],
  ['tenant:ac*', [clause('tenant', [prefix('ac')])]],
  ['metadata.ticket:*', [clause('metadata', [prefix('')], { key: 'ticket' })]],
  // OR and comma lists.
  ['actor:alice OR actor:bob', [clause('actor', [exact('alice'), exact('bob')])]],
  ['actor:alice OR actor:bob OR actor:"carol c"', [clause('actor', [exact('alice'), exact('bob'), exact('carol c')])]],
  ['action:file.download,file.upload', [clause('action', [exact('file.download'), exact('file.upload')])]],
  ['action:a.b,"c.d" OR action:e.*', [clause('action', [exact('a.b'), exact('c.d'), prefix('e.')])]],
  ['metadata.k:a OR metadata.k:b', [clause('metadata', [exact('a'), exact('b')], { key: 'k' })]],
  ['received:2026-11-01 OR received:2026-11-05', [clause('received', [range(t('2026-11-01'), t('2026-11-02')), range(t('2026-11-05'), t('2026-11-06'))])]],
  ['foo OR bar', [clause('text', [text('foo'), text('bar')])]],
  ['outcome:failure actor:a OR actor:b', [clause('outcome', [exact('failure')]), clause('actor', [exact('a'), exact('b')])]],
  // Negation.
  ['-outcome:success', [clause('outcome', [exact('success')], { negate: true })]],
  ['-action:a.b,c.d', [clause('action', [exact('a.b'), exact('c.d')], { negate: true })]],
  ['-foo', [clause('text', [text('foo')], { negate: true })]],
  ['-"two words"', [clause('text', [text('two words')], { negate: true })]],
  ['--xy', [clause('text', [text('-xy')], { negate: true })]],
  ['-"OR!"', [clause('text', [text('OR!')], { negate: true })]],
  // Free text.
  ['hello', [clause('text', [text('hello')])]],
  ['"hello world"', [clause('text', [text('hello world')])]],
  ['hello,world', [clause('text', [text('hello'), text('world')])]],
  ['"and" "AND" "NOT" "not"', ['and', 'AND', 'NOT', 'not'].map((word) => clause('text', [text(word)]))],
  ['android notify orbit', [clause('text', [text('android')]), clause('text', [text('notify')]), clause('text', [text('orbit')])]],
  ['e-mail xy* "a:b"', [clause('text', [text('e-mail')]), clause('text', [text('xy*')]), clause('text', [text('a:b')])]],
  ['héllo 🎉🎉🎉', [clause('text', [text('héllo')]), clause('text', [text('🎉🎉🎉')])]],
  // AND and NOT as words (issue 18): AND only separates terms, NOT negates the term after it.
  ['action:auth.login AND outcome:failure', [clause('action', [exact('auth.login')]), clause('outcome', [exact('failure')])]],
  ['NOT outcome:success', [clause('outcome', [exact('success')], { negate: true })]],
  ['action:x.y AND NOT "two words"', [clause('action', [exact('x.y')]), clause('text', [text('two words')], { negate: true })]],
  ['actor:a OR actor:b AND NOT category:read', [clause('actor', [exact('a'), exact('b')]), clause('category', [exact('read')], { negate: true })]],
  // Times: dates are whole UTC days; a date range includes both end days.
  ['received:2026-11-01..2026-11-02', [clause('received', [range(t('2026-11-01'), t('2026-11-03'))])]],
  ['received:2026-11-01..', [clause('received', [range(t('2026-11-01'))])]],
  ['received:..2026-11-02', [clause('received', [range(undefined, t('2026-11-03'))])]],
  ['received:>=2026-11-01', [clause('received', [range(t('2026-11-01'))])]],
  ['received:>2026-11-01', [clause('received', [range(t('2026-11-02'))])]],
  ['received:<=2026-11-01', [clause('received', [range(undefined, t('2026-11-02'))])]],
  ['received:<2026-11-01', [clause('received', [range(undefined, t('2026-11-01'))])]],
  ['received:2024-02-29', [clause('received', [range(t('2024-02-29'), t('2024-03-01'))])]],
  ['received:1970-01-01', [clause('received', [range(0, DAY)])]],
  // Timestamps: one microsecond; ranges include their end; offsets, fractions (truncated), t/z, leap seconds.
  ['received:2026-11-01T08:00:00Z', [clause('received', [range(t('2026-11-01T08:00:00Z'), t('2026-11-01T08:00:00Z') + 1)])]],
  ['received:2026-11-01T08:00:00.123456789+01:00', [clause('received', [range(t('2026-11-01T07:00:00Z') + 123456, t('2026-11-01T07:00:00Z') + 123457)])]],
  ['received:2026-11-01t08:00:00.5z..2026-11-01T09:00:00-00:30', [clause('received', [range(t('2026-11-01T08:00:00Z') + 500_000, t('2026-11-01T09:30:00Z') + 1)])]],
  ['received:>2026-11-01T08:00:00Z', [clause('received', [range(t('2026-11-01T08:00:00Z') + 1)])]],
  ['received:<2026-11-01T08:00:00Z', [clause('received', [range(undefined, t('2026-11-01T08:00:00Z'))])]],
  ['received:<=2026-11-01T08:00:00Z', [clause('received', [range(undefined, t('2026-11-01T08:00:00Z') + 1)])]],
  ['received:2026-11-01..2026-11-01T12:00:00Z', [clause('received', [range(t('2026-11-01'), t('2026-11-01T12:00:00Z') + 1)])]],
  ['occurred:2016-12-31T23:59:60Z', [clause('occurred', [range(t('2017-01-01T00:00:00Z'), t('2017-01-01T00:00:00Z') + 1)])]],
  // Relative times: alone they mean "since then"; in comparisons and ranges they are instants.
  ['received:-24h', [clause('received', [range(NOW - 24 * HOUR)])]],
  ['received:-7d', [clause('received', [range(NOW - 7 * DAY)])]],
  ['received:-30m', [clause('received', [range(NOW - 30 * MINUTE)])]],
  ['received:-90s', [clause('received', [range(NOW - 90 * SECOND)])]],
  ['received:-2w', [clause('received', [range(NOW - 14 * DAY)])]],
  ['received:-0s', [clause('received', [range(NOW)])]],
  ['received:>=-24h', [clause('received', [range(NOW - 24 * HOUR)])]],
  ['received:<-24h', [clause('received', [range(undefined, NOW - 24 * HOUR)])]],
  ['received:-7d..-1d', [clause('received', [range(NOW - 7 * DAY, NOW - DAY + 1)])]],
  ['received:2026-11-01..-1h', [clause('received', [range(t('2026-11-01'), NOW - HOUR + 1)])]],
  ['received:"2026-11-01"', [clause('received', [range(t('2026-11-01'), t('2026-11-02'))])]],
  // The forms people write (issue 18): no seconds, no zone (UTC), a space inside quotes, an end that is a time of day.
  ['received:2026-11-01T08:00Z', [clause('received', [range(t('2026-11-01T08:00:00Z'), t('2026-11-01T08:00:00Z') + 1)])]],
  ['received:>=2026-11-26T02:00', [clause('received', [range(t('2026-11-26T02:00:00Z'))])]],
  ['received:2026-11-26T02:00..03:00', [clause('received', [range(t('2026-11-26T02:00:00Z'), t('2026-11-26T03:00:00Z') + 1)])]],
  ['received:"2026-11-26 02:00..03:00"', [clause('received', [range(t('2026-11-26T02:00:00Z'), t('2026-11-26T03:00:00Z') + 1)])]],
  ['received:"2026-11-26 02:00:30.5"', [clause('received', [range(t('2026-11-26T02:00:30.500Z'), t('2026-11-26T02:00:30.500Z') + 1)])]],
  ['occurred:2026-11-26T02:00+01:00..03:30', [clause('occurred', [range(t('2026-11-26T01:00:00Z'), t('2026-11-26T02:30:00Z') + 1)])]],
  ['occurred:2026-11-26T02:00+01:00..03:30Z', [clause('occurred', [range(t('2026-11-26T01:00:00Z'), t('2026-11-26T03:30:00Z') + 1)])]],
  // Several clauses on one key are ANDed, not merged.
  ['received:>=2026-11-01 received:<2026-11-03', [clause('received', [range(t('2026-11-01'))]), clause('received', [range(undefined, t('2026-11-03'))])]],
  // Index: integers, inclusive ranges, comparisons.
  ['index:0', [clause('index', [range(0, 1)])]],
  ['index:5..10', [clause('index', [range(5, 11)])]],
  ['index:7..', [clause('index', [range(7)])]],
  ['index:..5', [clause('index', [range(undefined, 6)])]],
  ['index:>=5', [clause('index', [range(5)])]],
  ['index:>5', [clause('index', [range(6)])]],
  ['index:<=5', [clause('index', [range(undefined, 6)])]],
  ['index:<5', [clause('index', [range(undefined, 5)])]],
  ['index:1,3..4', [clause('index', [range(1, 2), range(3, 5)])]],
  ['index:<9007199254740991', [clause('index', [range(undefined, 9007199254740991)])]],
  ['index:>=9007199254740991', [clause('index', [range(9007199254740991)])]],
  ['index:9007199254740990', [clause('index', [range(9007199254740990, 9007199254740991)])]],
  ['received:<2255-06-05T23:47:34.740991Z', [clause('received', [range(undefined, Number.MAX_SAFE_INTEGER)])]],
  // IP: exact, CIDR v4/v6 incl. /0, /32, /128; IPv4-mapped IPv6 equals IPv4; host bits are masked.
  ['ip:10.0.0.0/8', [clause('ip', [ipRange(v4(10, 0, 0, 0), v4(10, 255, 255, 255))])]],
  ['ip:10.1.2.3/8', [clause('ip', [ipRange(v4(10, 0, 0, 0), v4(10, 255, 255, 255))])]],
  ['ip:192.168.1.7/32', [clause('ip', [ipRange(v4(192, 168, 1, 7))])]],
  ['ip:0.0.0.0/0', [clause('ip', [ipRange(v4(0, 0, 0, 0), v4(255, 255, 255, 255))])]],
  ['ip:::ffff:10.0.0.1', [clause('ip', [ipRange(v4(10, 0, 0, 1))])]],
  ['ip:::FFFF:a00:1', [clause('ip', [ipRange(v4(10, 0, 0, 1))])]],
  ['ip:::ffff:10.0.0.0/104', [clause('ip', [ipRange(v4(10, 0, 0, 0), v4(10, 255, 255, 255))])]],
  ['ip:2001:db8::1', [clause('ip', [ipRange('20010db8000000000000000000000001')])]],
  ['ip:2001:DB8::/32', [clause('ip', [ipRange('20010db8000000000000000000000000', '20010db8ffffffffffffffffffffffff')])]],
  ['ip:2001:db8::1/128', [clause('ip', [ipRange('20010db8000000000000000000000001')])]],
  ['ip:::/0', [clause('ip', [ipRange('0'.repeat(32), 'f'.repeat(32))])]],
  ['ip:::1', [clause('ip', [ipRange('0'.repeat(31) + '1')])]],
  ['ip:10.0.0.0/8,2001:db8::/32', [clause('ip', [ipRange(v4(10, 0, 0, 0), v4(10, 255, 255, 255)), ipRange('20010db8000000000000000000000000', '20010db8ffffffffffffffffffffffff')])]],
  // A realistic incident query.
  [
    'action:file.download ip:10.0.0.0/8 received:-24h -outcome:success',
    [
      clause('action', [exact('file.download')]),
      clause('ip', [ipRange(v4(10, 0, 0, 0), v4(10, 255, 255, 255))]),
      clause('received', [range(NOW - 24 * HOUR)]),
      clause('outcome', [exact('success')], { negate: true }),
    ],
  ],
];

const INVALID: [string, number, string | RegExp][] = [
  // Keys.
  ['actr:x', 0, /unknown key "actr" \(did you mean "actor"\?\); expected one of actor, actor\.id, .*metadata\.<key>/],
  ['action:x actr:y', 9, 'unknown key "actr"'],
  ['Actor:x', 0, 'did you mean "actor"'],
  ['http://example.test', 0, "quote free text that contains ':'"],
  ['constructor:x', 0, 'unknown key "constructor"'],
  ['__proto__:x', 0, 'unknown key "__proto__"'],
  ['metadata:x', 0, 'unknown key "metadata"'],
  [':x', 0, "expected a key before ':'"],
  ['-:x', 1, "expected a key before ':'"],
  ['metadata.:x', 0, 'bad metadata key ""'],
  ['metadata.-a:x', 0, 'bad metadata key "-a"'],
  ['metadata."a b":x', 9, 'bad metadata key "a b"'],
  ['metadata."k"x', 12, "expected ':' after the metadata key"],
  // Quotes and lists.
  ['actor:"abc', 6, 'unterminated quote'],
  ['actor:alice "x', 12, 'unterminated quote'],
  ['actor:"a\\"', 6, 'unterminated quote'],
  ['actor:"a\\nb"', 8, "unknown escape '\\n'"],
  ['actor:ab"c"', 8, `unexpected '"' inside a value`],
  ['actor:"ab"c', 10, "expected a space or ',' after the closing quote"],
  ['"foo":bar', 5, "expected a space or ','"],
  ['actor:""', 6, 'empty value'],
  ['""', 0, 'empty value'],
  ['actor:', 6, 'expected a value after "actor:"'],
  ['-actor: x', 7, 'expected a value after "-actor:"'],
  ['action:a,', 9, "expected a value after ','"],
  ['action:a, b', 9, 'no spaces inside a list'],
  ['action:a,,b', 9, "expected a value after ','"],
  ['action:,a', 7, 'expected a value after "action:"'],
  [',', 0, "expected a term, found ','"],
  ['-', 0, "expected a term right after '-'"],
  ['foo - bar', 4, "expected a term right after '-'"],
  // OR.
  ['actor:alice OR action:x', 12, 'OR must join two terms of the same key, not actor and action; list alternatives of one key as actor:a,b'],
  ['actor:alice OR bob', 12, 'not actor and free text'],
  ['metadata.a:x OR metadata.b:y', 13, 'not metadata.a and metadata.b'],
  ['OR actor:x', 0, 'no term before it'],
  ['actor:x OR', 8, 'no term after it'],
  ['actor:x OR OR actor:y', 8, 'no term after it'],
  ['-actor:x OR actor:y', 0, 'OR cannot join negated terms'],
  ['NOT actor:x OR actor:y', 0, 'OR cannot join negated terms'],
  // Operator words are operators or refused, never silently free text (issue 18).
  ['AND actor:x', 0, 'AND must join two terms; there is no term before it'],
  ['actor:x AND', 8, 'AND must join two terms; there is no term after it'],
  ['actor:x AND AND actor:y', 8, 'there is no term after it'],
  ['actor:x OR AND actor:y', 11, 'AND must join two terms; there is no term before it'],
  ['actor:x NOT', 8, 'NOT must come right before a term'],
  ['NOT NOT actor:x', 0, 'NOT must come right before a term'],
  ['NOT -actor:x', 0, "NOT and '-' both negate"],
  ['action:x and outcome:failure', 9, '"and" looks like an operator: write AND in capitals'],
  ['action:x And outcome:failure', 9, '"And" looks like an operator'],
  ['action:x && outcome:failure', 9, '"&&" looks like an operator'],
  ['not outcome:success', 0, '"not" looks like an operator: write NOT in capitals before a term'],
  ['foo or bar', 4, '"or" looks like an operator: write OR in capitals between terms of one key, or a list (key:a,b), or quote it ("or")'],
  ['actor:x || actor:y', 8, '"||" looks like an operator'],
  ['-AND', 1, 'AND is an operator and cannot be a value here; quote it ("AND")'],
  ['foo,OR', 4, 'OR is an operator'],
  // Free text too short for the trigram index, with its position like every other error (issue 18).
  ['action:x ab', 9, 'free text "ab" is too short: search needs at least 3 characters'],
  ['-"ab"', 1, 'free text "ab" is too short'],
  ['abc,🎉', 4, 'free text "🎉" is too short'],
  ['actor:x OR -actor:y', 11, 'OR cannot join negated terms'],
  ['actor:x OR actor:y OR -actor:z', 22, 'OR cannot join negated terms'],
  // Wildcards.
  ['action:*.download', 7, "'*' is a wildcard only at the end of a value"],
  ['action:file**', 11, "'*' is a wildcard only at the end"],
  ['category:*', 9, 'wildcards are not supported for category'],
  ['ip:10.0.0.*', 10, 'wildcards are not supported for ip'],
  ['received:2026-*', 14, 'wildcards are not supported for received'],
  // Closed domains.
  ['category:foo', 9, '"foo" is not a valid category; expected one of create, read,'],
  ['outcome:ok', 8, '"ok" is not a valid outcome; expected one of success, failure'],
  ['actor.type:robot', 11, 'expected one of user, service, api_key, system'],
  ['country:deu', 8, 'two-letter ISO 3166-1 alpha-2'],
  ['country:d1', 8, 'is not a country'],
  // IP.
  ['ip:10.0.0.0/33', 3, 'is not an IP address or CIDR block'],
  ['ip:10.0.0.256', 3, 'is not an IP address or CIDR block'],
  ['ip:010.0.0.1', 3, 'is not an IP address'],
  ['ip:::/129', 3, 'is not an IP address'],
  ['ip:2001:db8::/032', 3, 'is not an IP address'],
  ['ip:10.0.0.0/', 3, 'is not an IP address'],
  ['ip:fe80::1%eth0', 3, 'is not an IP address'],
  ['ip:example.com', 3, 'is not an IP address'],
  // Times.
  ['received:2026-02-30', 9, '"2026-02-30" is not a valid date'],
  ['received:2026-11-01T25:00:00Z', 9, 'is not a valid timestamp'],
  ['received:yesterday', 9, 'is not a time; expected an RFC 3339 timestamp'],
  ['received:2026-11-01T08Z', 9, 'is not a time'],
  // Times as people write them, refused with what to write instead (issue 18).
  ['received:2026-11-26 02:00..03:00', 20, 'unknown key "02": a time of day belongs to its date, written with T (received:2026-11-26T02:00..03:00), or quote'],
  ['received:2026-11-26..03:00', 21, /"03:00" is not a time; .*a range may end at a time of day/],
  ['received:2026-11-26T02:00..25:00', 27, '"2026-11-26T25:00" is not a valid timestamp'],
  ['received:2026-11-26T02:00.5', 9, 'is not a time'],
  ['received:1969-12-31', 9, 'before 1970-01-01'],
  ['received:0070-01-01', 9, 'before 1970-01-01'],
  ['received:1970-01-01T00:30:00+01:00', 9, 'before 1970-01-01'],
  ['received:-100000000d', 9, 'before 1970-01-01'],
  ['received:2300-01-01', 9, 'out of range; the latest time supported is 2255-06-05T23:47:34.740990Z'],
  ['received:<2300-01-01', 10, 'out of range; the latest time supported'],
  ['received:2255-06-05', 9, 'out of range'],
  ['received:<1970-01-01', 9, 'is empty'],
  ['received:..', 9, 'a range needs at least one end'],
  ['received:2026-11-02..2026-11-01', 9, 'the range "2026-11-02..2026-11-01" is empty'],
  ['received:>=', 11, "expected a value after '>='"],
  ['received:>=2026-11-01..2026-11-02', 21, 'a comparison cannot be combined with a range'],
  ['received:2026-11-01..2026-11-02..2026-11-03', 31, "a range has one '..'"],
  ['received:2026-11-01..nope', 21, '"nope" is not a time'],
  ['received:-24x', 9, 'is not a time'],
  ['received:24h', 9, 'is not a time'],
  // Index.
  ['index:-5', 6, 'is not an index'],
  ['index:1.5', 6, 'is not an index'],
  ['index:5..3', 6, 'is empty'],
  ['index:<0', 6, 'is empty'],
  ['index:99999999999999999', 6, 'is too large'],
  ['index:9007199254740991', 6, '"9007199254740991" is out of range; the largest index supported is 9007199254740990'],
  // Characters and length.
  ['actor:a\u0000', 7, 'control character U+0000'],
  ['actor:"a\u001bb"', 8, 'control character U+001B'],
  ['foo \ud800', 4, 'lone UTF-16 surrogate'],
  ['foo \udc00x', 4, 'lone UTF-16 surrogate'],
  ['a'.repeat(QUERY_LIMITS.maxLength + 1), QUERY_LIMITS.maxLength, 'the limit is 2000'],
];

describe('query language: valid queries', () => {
  for (const [query, expected] of VALID) {
    it(`parses ${JSON.stringify(query)}`, () => {
      const ast = parse(query);
      assert.deepEqual(withoutPositions(ast), { clauses: expected.map((c) => ({ ...c })) });
      // The canonical form re-parses to the same AST, and is a fixed point.
      const canonical = formatQuery(ast);
      const again = parse(canonical);
      assert.deepEqual(withoutPositions(again), withoutPositions(ast), `canonical form ${canonical}`);
      assert.equal(formatQuery(again), canonical);
      // The AST is plain JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(ast)), ast);
    });
  }

  it('records where each clause starts, and an OR group starts at its first term', () => {
    const ast = parse('  actor:a OR actor:b -outcome:success "x y"');
    assert.deepEqual(
      ast.clauses.map((c) => c.position),
      [2, 21, 38],
    );
  });

  it('accepts the longest allowed query', () => {
    const query = 'a'.repeat(QUERY_LIMITS.maxLength);
    assert.equal(parse(query).clauses.length, 1);
  });

  it('prints canonical forms', () => {
    const cases: [string, string][] = [
      ['actor:alice   OR  actor:bob', 'actor:alice,bob'],
      ['actor.type:Service country:de outcome:FAILURE', 'actor.type:service country:DE outcome:failure'],
      ['actor:"alice" "hello" "xy*" action:"file.*"', 'actor:alice hello xy* action:"file.*"'],
      ['"-xy" "NOT" "AND" "not" "a:b" "a b" "a,b" "say \\"hi\\""', '"-xy" "NOT" "AND" "not" "a:b" "a b" "a,b" "say \\"hi\\""'],
      ['action:a.b AND NOT outcome:success', 'action:a.b -outcome:success'],
      ['received:"2026-11-26 02:00..03:00"', 'received:2026-11-26T02:00:00Z..2026-11-26T03:00:00Z'],
      ['metadata."k8s:ns":"a b"', 'metadata."k8s:ns":"a b"'],
      ['received:2026-11-01..2026-11-01', 'received:2026-11-01'],
      ['received:2026-11-01T00:00:00Z..2026-11-01T23:59:59.999999Z', 'received:2026-11-01'],
      ['received:2026-11-01T00:00:00Z', 'received:2026-11-01T00:00:00Z'],
      ['received:2026-11-01T08:00:00.25+02:00', 'received:2026-11-01T06:00:00.250000Z'],
      ['received:>2026-11-01 received:<=2026-11-05', 'received:>=2026-11-02 received:<2026-11-06'],
      ['received:-24h', 'received:>=2026-11-25T12:00:00Z'],
      ['received:-1d..-1d', 'received:2026-11-25T12:00:00Z'],
      ['received:2026-11-01..2026-11-02T00:00:00Z', 'received:2026-11-01..2026-11-02T00:00:00Z'],
      ['index:<=5 index:>5 index:3..3 index:3..4', 'index:<6 index:>=6 index:3 index:3..4'],
      ['ip:::ffff:10.0.0.0/104 ip:10.0.0.1/32 ip:2001:0DB8:0:0:0:0:0:1 ip:::ffff:0:0/96', 'ip:10.0.0.0/8 ip:10.0.0.1 ip:2001:db8::1 ip:0.0.0.0/0'],
      ['ip:::/0 ip:::/1 ip:8000::/1', 'ip:::/0 ip:::/1 ip:8000::/1'],
      ['', ''],
    ];
    for (const [query, canonical] of cases) assert.equal(formatQuery(parse(query)), canonical, query);
  });

  it('lists every key with a description', () => {
    assert.deepEqual(
      QUERY_FIELDS.map((f) => f.key),
      ['actor', 'actor.id', 'actor.name', 'actor.type', 'action', 'category', 'target', 'target.type', 'target.id', 'tenant', 'outcome', 'session', 'device', 'ip', 'country', 'writer', 'received', 'occurred', 'index', 'metadata.<key>'],
    );
    for (const field of QUERY_FIELDS) assert.ok(field.description.length > 0 && !field.description.includes('\n'));
  });

  it('defaults now to the system clock and rejects a bad now', () => {
    const before = Date.now() * 1000;
    const from = (parseQuery('received:-1h').clauses[0]!.anyOf[0] as { from: number }).from;
    assert.ok(from >= before - HOUR && from <= Date.now() * 1000 - HOUR);
    assert.throws(() => parseQuery('x', { now: -1 }), (e: unknown) => e instanceof SealtrailError && e.code === 'INVALID_ARGUMENT');
    assert.throws(() => parseQuery('x', { now: 1.5 }), SealtrailError);
  });

  it('formatQuery refuses ASTs that parseQuery cannot produce', () => {
    const bad: Clause[] = [
      { field: 'nope' as Field, negate: false, anyOf: [exact('x')], position: 0 },
      { field: 'actor', negate: false, anyOf: [], position: 0 },
      { field: 'actor', negate: false, anyOf: [range(1, 2)], position: 0 },
      { field: 'received', negate: false, anyOf: [range()], position: 0 },
      { field: 'received', negate: false, anyOf: [range(5, 5)], position: 0 },
      { field: 'index', negate: false, anyOf: [range(-1, 5)], position: 0 },
      { field: 'ip', negate: false, anyOf: [ipRange(v4(10, 0, 0, 1), v4(10, 0, 0, 2))], position: 0 },
      { field: 'ip', negate: false, anyOf: [ipRange('xyz')], position: 0 },
      { field: 'action', negate: false, anyOf: [prefix('a b')], position: 0 },
      { field: 'metadata', key: 'a b', negate: false, anyOf: [exact('x')], position: 0 },
    ];
    for (const c of bad) {
      assert.throws(() => formatQuery({ clauses: [c] }), (e: unknown) => e instanceof SealtrailError && e.code === 'INVALID_ARGUMENT', JSON.stringify(c));
    }
  });
});

describe('query language: cost bounds', () => {
  /** Asserts QUERY_TOO_COSTLY naming the bound, at the first value past it. */
  function tooCostly(query: string, limit: number, position: number, fragment: RegExp): void {
    assert.throws(
      () => parse(query),
      (e: unknown) => {
        assert.ok(e instanceof SealtrailError, String(e));
        assert.equal(e.code, 'QUERY_TOO_COSTLY');
        assert.deepEqual({ position: e.details.position, limit: e.details.limit }, { position, limit });
        assert.ok(e.message.startsWith(`at ${position}: `), e.message);
        assert.match(e.message, fragment);
        assert.ok(e.message.includes(String(limit)), e.message);
        return true;
      },
    );
  }

  it('refuses the review\'s free-text flood (285 repeats of one word) at the first value past the bound', () => {
    const query = Array.from({ length: 285 }, () => 'reason').join(' ');
    assert.ok(query.length <= QUERY_LIMITS.maxLength);
    tooCostly(query, QUERY_LIMITS.maxTextValues, QUERY_LIMITS.maxTextValues * 'reason '.length, /free-text values/);
    // Listed or joined by OR, they count the same; negated too.
    tooCostly(`-${Array.from({ length: 9 }, (_, i) => `word${i}`).join(',')}`, QUERY_LIMITS.maxTextValues, 1 + 8 * 6, /free-text/);
    assert.equal(parse(Array.from({ length: QUERY_LIMITS.maxTextValues }, () => 'reason').join(' ')).clauses.length, QUERY_LIMITS.maxTextValues);
  });

  it('counts terms, with a list or an OR group as one', () => {
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `actor:u${i}`).join(' ');
    assert.equal(parse(terms(QUERY_LIMITS.maxTerms)).clauses.length, QUERY_LIMITS.maxTerms);
    const over = terms(QUERY_LIMITS.maxTerms + 1);
    tooCostly(over, QUERY_LIMITS.maxTerms, over.lastIndexOf('actor:') + 'actor:'.length, /at most 32 terms/);
    const grouped = `${terms(QUERY_LIMITS.maxTerms - 1)} actor:a OR actor:b OR actor:c`;
    assert.equal(parse(grouped).clauses.length, QUERY_LIMITS.maxTerms);
  });

  it('accepts 498 exact values of one key in 2,000 characters, and refuses more than 500', () => {
    const values = Array.from({ length: 498 }, (_, i) => (1296 + i).toString(36));
    const query = `target:${values.join(',')}`;
    assert.ok(query.length <= QUERY_LIMITS.maxLength, String(query.length));
    assert.equal(parse(query).clauses[0]!.anyOf.length, 498);
    const many = Array.from({ length: 501 }, (_, i) => i.toString(36));
    const over = `actor:${many.slice(0, 250).join(',')} actor:${many.slice(250).join(',')}`;
    tooCostly(over, QUERY_LIMITS.maxValuesPerKey, over.lastIndexOf(',') + 1, /at most 500 values of one key \(actor\)/);
  });

  it('bounds wildcards, times, index ranges and IP blocks, each its own comparison', () => {
    const prefixes = Array.from({ length: QUERY_LIMITS.maxPatternValues + 1 }, (_, i) => `${i.toString(36)}*`);
    const over = `action:${prefixes.join(',')}`;
    tooCostly(over, QUERY_LIMITS.maxPatternValues, over.lastIndexOf(',') + 1, /wildcard, time, index or IP values/);
    const indexes = Array.from({ length: QUERY_LIMITS.maxPatternValues + 1 }, (_, i) => String(i));
    tooCostly(`index:${indexes.join(',')}`, QUERY_LIMITS.maxPatternValues, `index:${indexes.join(',')}`.lastIndexOf(',') + 1, /index/);
    // Quoted values are exact, not wildcards, and do not count.
    const quoted = `action:${prefixes.map((p) => `"${p}"`).join(',')}`;
    assert.equal(parse(quoted).clauses[0]!.anyOf[0]!.kind, 'exact');
  });
});

describe('query language: invalid queries', () => {
  for (const [query, position, fragment] of INVALID) {
    it(`rejects ${JSON.stringify(query.length > 60 ? `${query.slice(0, 20)}…` : query)} at ${position}`, () => rejects(query, position, fragment));
  }
});

describe('IP ranges', () => {
  it('maps IPv4 into IPv6 and prints blocks back', () => {
    assert.equal(ipHex('10.0.0.1'), v4(10, 0, 0, 1));
    assert.equal(ipHex('::ffff:10.0.0.1'), v4(10, 0, 0, 1));
    assert.equal(ipHex('2001:db8::'), '20010db8000000000000000000000000');
    assert.equal(ipHex('1::1.2.3.4'), '00010000000000000000000001020304');
    assert.equal(ipHex('nope'), undefined);
    assert.equal(parseCidr('10.0.0.0/8')?.prefix, 104);
    assert.equal(formatCidr('20010db8000000000000000000000001', '20010db8000000000000000000000001'), '2001:db8::1');
    assert.equal(formatCidr('00010000000000000000000000000001', '00010000000000000000000000000001'), '1::1');
    assert.equal(formatCidr('20010db8000000010000000000000001', '20010db8000000010000000000000001'), '2001:db8:0:1::1');
    assert.equal(formatCidr('00000000000000000000000000000000', '00000000000000000000000000000000'), '::');
  });

  it('round-trips random blocks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), (bytes, prefix) => {
        const address = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(':');
        const block = parseCidr(`${address}/${prefix}`)!;
        const text = formatCidr(block.low, block.high)!;
        assert.deepEqual(parseCidr(text), block);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties

const quoteValue = (s: string) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
const anyText = fc
  .string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '"', '\\', ',', ':', '*', '-', '.', '/', 'é', '🎉', '\t', 'O', 'R', '>', '='), minLength: 1, maxLength: 12 })
  .map(quoteValue);
const bareWord = fc.stringMatching(/^[a-z0-9_][a-z0-9._:\/@-]{0,10}$/);
const stringValue = fc.oneof(bareWord, bareWord.map((w) => `${w}*`), anyText, fc.constant('*'));
const micros = fc.integer({ min: DAY, max: 2 ** 52 });
const timePoint = fc.oneof(
  micros.map((m) => new Date(Math.floor(m / 1000)).toISOString().slice(0, 10)),
  micros.map((m) => new Date(Math.floor(m / 1000)).toISOString()),
  micros.map((m) => `${new Date(Math.floor(m / 1000)).toISOString().slice(0, 19)}.${String(m % 1_000_000).padStart(6, '0')}+05:30`),
  fc.tuple(fc.integer({ min: 0, max: 500 }), fc.constantFrom('s', 'm', 'h', 'd', 'w')).map(([n, u]) => `-${n}${u}`),
);
const timeValue = fc.oneof(
  timePoint,
  fc.tuple(fc.constantFrom('>=', '>', '<=', '<'), timePoint).map(([op, p]) => op + p),
  timePoint.map((p) => `${p}..`),
  timePoint.map((p) => `..${p}`),
  fc.tuple(micros, micros).map(([a, b]) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return `${new Date(Math.floor(lo / 1000)).toISOString()}..${new Date(Math.floor(hi / 1000)).toISOString().slice(0, 10)}`;
  }),
);
const indexValue = fc.oneof(
  fc.nat({ max: 1e9 }).map(String),
  fc.tuple(fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 })).map(([a, b]) => `${Math.min(a, b)}..${Math.max(a, b)}`),
  fc.tuple(fc.constantFrom('>=', '>', '<=', '<'), fc.integer({ min: 1, max: 1e6 })).map(([op, n]) => `${op}${n}`),
);
const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(':'));
const ipValue = fc.oneof(
  ipv4,
  fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  ipv4.map((a) => `::ffff:${a}`),
  ipv6,
  fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
);
const metadataKey = fc.stringMatching(METADATA_KEY).map((k) => (k.includes(':') ? quoteValue(k) : k));
/** Free text is at least 3 characters (trigram index); a bare operator word is refused, so it is quoted. */
const textValue = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9.]{2,8}$/).filter((w) => !/^(and|not)$/.test(w)),
  anyText.filter((quoted) => [...JSON.parse(quoted.replace(/\t/g, '\\t'))].length >= 3),
);

const KEYED: [string, fc.Arbitrary<string>][] = [
  ['actor', stringValue],
  ['actor.id', stringValue],
  ['actor.name', stringValue],
  ['actor.type', fc.constantFrom('user', 'SERVICE', 'api_key', 'System')],
  ['action', stringValue],
  ['category', fc.constantFrom('create', 'read', 'update', 'delete', 'auth', 'admin', 'export', 'execute', 'other')],
  ['target', stringValue],
  ['target.type', stringValue],
  ['target.id', stringValue],
  ['tenant', stringValue],
  ['outcome', fc.constantFrom('success', 'failure', 'Failure')],
  ['ip', ipValue],
  ['country', fc.stringMatching(/^[A-Za-z]{2}$/)],
  ['writer', stringValue],
  ['received', timeValue],
  ['occurred', timeValue],
  ['index', indexValue],
];

/** One clause as written: `[-]key:v1,v2` or, un-negated, possibly `key:v1 OR key:v2`. */
const clauseText: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      ...KEYED.map(([key, value]) => fc.record({ key: fc.constant(`${key}:`), value })),
      fc.record({ key: metadataKey.map((k) => `metadata.${k}:`), value: stringValue }),
      fc.record({ key: fc.constant(''), value: textValue }),
    ),
    fc.boolean(),
    fc.integer({ min: 1, max: 3 }),
    fc.boolean(),
  )
  .chain(([{ key }, negate, count, useOr]) => {
    const values = fc.array(
      (KEYED.find(([k]) => `${k}:` === key)?.[1]) ?? (key === '' ? textValue : stringValue),
      { minLength: count, maxLength: count },
    );
    return values.map((vs) => {
      if (useOr && !negate) return vs.map((v) => key + v).join(' OR ');
      return `${negate ? '-' : ''}${key}${vs.join(',')}`;
    });
  });

/** Clauses joined; those over a cost bound (e.g. more than 8 free-text values) are not valid queries. */
const validQuery = fc
  .array(clauseText, { maxLength: 6 })
  .map((clauses) => clauses.join(' '))
  .filter((query) => {
    try {
      parse(query);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'QUERY_TOO_COSTLY') return false;
      throw error;
    }
  });

describe('query language: properties', () => {
  it('formatQuery(parseQuery(q)) re-parses to the same AST', () => {
    fc.assert(
      fc.property(validQuery, (query) => {
        const ast = parse(query);
        const canonical = formatQuery(ast);
        const again = parse(canonical);
        assert.deepEqual(withoutPositions(again), withoutPositions(ast), `${query} → ${canonical}`);
        assert.equal(formatQuery(again), canonical);
      }),
      { numRuns: 1000 },
    );
  });

  const vocabulary = fc.constantFrom(
    ' ', '  ', '-', '"', '\\', ':', ',', '*', '..', '>=', '<', 'OR', 'or', 'AND', 'NOT', 'and', ' 02:00', 'T02:00', 'actor', 'actor:', 'metadata.', 'metadata."k:', 'ip:',
    'received:', 'index:', 'category:', 'country:', 'outcome:', '2026-11-01', 'T08:00:00Z', '-24h', '10.0.0.0/8', '::ffff:', '2001:db8::',
    '/', '128', 'alice', 'é', '🎉', '\n',
  );
  const fuzzInput = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
    fc.array(vocabulary, { maxLength: 20 }).map((parts) => parts.join('')),
    fc.array(fc.oneof(vocabulary, clauseText), { maxLength: 8 }).map((parts) => parts.join('')),
  );

  it('either parses or throws INVALID_ARGUMENT with a position inside the input', { timeout: 10_000 }, () => {
    let parsed = 0;
    fc.assert(
      fc.property(fuzzInput, (query) => {
        let ast: Query;
        try {
          ast = parse(query);
        } catch (error) {
          assert.ok(error instanceof SealtrailError, `not a SealtrailError for ${JSON.stringify(query)}: ${String(error)}`);
          // Cost bounds (QUERY_TOO_COSTLY) keep the same position contract as syntax errors.
          assert.ok(error.code === 'INVALID_ARGUMENT' || error.code === 'QUERY_TOO_COSTLY', error.code);
          const { position, length } = error.details as { position: number; length: number };
          assert.ok(Number.isInteger(position) && position >= 0 && position <= query.length, `position ${position} for ${JSON.stringify(query)}`);
          assert.ok(Number.isInteger(length) && length >= 0 && position + length <= query.length, `length ${length} for ${JSON.stringify(query)}`);
          assert.ok(error.message.startsWith(`at ${position}: `), error.message);
          return;
        }
        parsed++;
        // Whatever parses also round-trips.
        assert.deepEqual(withoutPositions(parse(formatQuery(ast))), withoutPositions(ast), JSON.stringify(query));
      }),
      { numRuns: 5000, interruptAfterTimeLimit: 4000 },
    );
    assert.ok(parsed > 0);
  });
});

describe('docs/SEARCH.md', () => {
  const doc = readFileSync(new URL('../../docs/SEARCH.md', import.meta.url), 'utf8');
  /** The table rows between <!-- label --> and <!-- /label -->, as lists of code spans per row. */
  function rows(label: string): string[][] {
    const start = doc.indexOf(`<!-- ${label} -->`);
    const end = doc.indexOf(`<!-- /${label} -->`);
    assert.ok(start >= 0 && end > start, `SEARCH.md lacks the ${label} table`);
    return doc
      .slice(start, end)
      .split('\n')
      .filter((line) => line.startsWith('| ') && !line.startsWith('| question') && !line.startsWith('| key') && !line.startsWith('| query'))
      .map((line) => [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
  }

  it('every example parses and is already close to canonical', () => {
    const examples = rows('examples');
    assert.ok(examples.length >= 5);
    for (const spans of examples) {
      const query = spans.at(-1)!;
      const ast = parse(query);
      assert.ok(ast.clauses.length > 0, query);
      assert.deepEqual(withoutPositions(parse(formatQuery(ast))), withoutPositions(ast));
    }
  });

  it('the key table lists exactly QUERY_FIELDS', () => {
    assert.deepEqual(
      rows('keys').map((spans) => spans[0]),
      QUERY_FIELDS.map((f) => f.key),
    );
  });

  it('the error table shows the real messages', () => {
    for (const [query, message] of rows('errors')) {
      assert.throws(() => parse(query!), (e: unknown) => e instanceof SealtrailError && e.message === message, query);
    }
  });
});
