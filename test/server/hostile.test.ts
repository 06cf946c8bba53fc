/**
 * Hostile requests. Each must answer a clean 4xx — a JSON body with a documented `error` code and a
 * `message` — never a 5xx, and never write anything (the ledger's tree size is the same afterwards).
 * Then the per-key rate limit, the security headers, and a soak: 10,000 hostile requests from a seeded
 * generator, after which the server still appends, holds exactly the valid events it was sent, and has
 * never echoed a token secret.
 *
 * Tests marked "BUG" describe behaviour the server does not have yet; each names the place to fix.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { eventFromFields } from '../../src/core/commitments.js';
import { validateEvent, type AuditEvent } from '../../src/core/event.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import type { Role } from '../../src/store/store.js';
import { verifyStoredLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';
import { TEST_ADMIN_TOKEN } from '../helpers/server.js';

// ---- a server with the options under test ---------------------------------------------------------

interface Server {
  app: FastifyInstance;
  deployment: Deployment;
  cleanup(): Promise<void>;
}

/** Like test/helpers/server.ts, but passing any app option (rateLimit in particular). */
async function buildServer(options: Partial<Omit<AppOptions, 'store' | 'suite' | 'verifierKey'>> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-hostile-'));
  const deployment = openDeployment({ dataDir, name: 'hostile.test' });
  const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: TEST_ADMIN_TOKEN, ...options });
  await app.ready();
  return {
    app,
    deployment,
    async cleanup() {
      await app.close();
      await deployment.store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

interface Req {
  method?: Method;
  url?: string;
  /** A string or Buffer is sent as is, with content-type application/json unless headers say otherwise. */
  payload?: string | Buffer | object;
  headers?: Record<string, string>;
  /** Bearer token; null sends no Authorization header; default: the writer's. */
  token?: string | null;
}

const LEDGER = 'hostile';
const OTHER = 'elsewhere';
/** Every error code docs/API.md lists for a 4xx, and the rate limiter's. */
const CLIENT_ERROR_CODES = new Set([
  'INVALID_EVENT',
  'INVALID_ARGUMENT',
  'QUERY_TOO_COSTLY',
  'MALFORMED_JSON',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'LEDGER_NOT_FOUND',
  'NOT_FOUND',
  'IDEMPOTENCY_CONFLICT',
  'BODY_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
]);

interface Client {
  server: Server;
  tokens: { writer: string; reader: string; admin: string };
  send(req: Req): Promise<LightMyRequestResponse>;
  size(ledger?: string): Promise<number>;
}

async function createKey(server: Server, role: Role, ledgers: string[]): Promise<{ id: string; token: string }> {
  const response = await server.app.inject({
    method: 'POST',
    url: '/v1/keys',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    payload: { role, ledgers },
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function client(server: Server): Promise<Client> {
  for (const ledger of [LEDGER, OTHER]) {
    const response = await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    assert.equal(response.statusCode, 201, response.body);
  }
  const tokens = {
    writer: (await createKey(server, 'writer', [LEDGER])).token,
    reader: (await createKey(server, 'reader', [LEDGER])).token,
    admin: TEST_ADMIN_TOKEN,
  };
  return {
    server,
    tokens,
    send(req) {
      const headers: Record<string, string> = {};
      const token = req.token === undefined ? tokens.writer : req.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (typeof req.payload === 'string' || Buffer.isBuffer(req.payload)) headers['content-type'] = 'application/json';
      Object.assign(headers, req.headers);
      return server.app.inject({
        method: req.method ?? 'POST',
        url: req.url ?? `/v1/ledgers/${LEDGER}/events`,
        headers,
        ...(req.payload !== undefined ? { payload: req.payload } : {}),
      });
    },
    async size(ledger = LEDGER) {
      return (await server.deployment.store.getLedger(ledger))?.size ?? 0;
    },
  };
}

interface Expect {
  status?: number;
  code?: string | string[];
  /** JSON Pointer the error body names. */
  path?: string;
}

/** A clean client error: 4xx, JSON, a documented code, a message, the security headers. */
function assertClean4xx(response: LightMyRequestResponse, expected: Expect, what: string): Record<string, unknown> {
  const label = `${what}: ${response.statusCode} ${response.body.slice(0, 300)}`;
  assert.ok(response.statusCode >= 400 && response.statusCode < 500, label);
  if (expected.status !== undefined) assert.equal(response.statusCode, expected.status, label);
  assert.match(String(response.headers['content-type']), /^application\/json/, label);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  assert.equal(typeof body.error, 'string', label);
  assert.ok(CLIENT_ERROR_CODES.has(body.error as string), `undocumented error code: ${label}`);
  assert.equal(typeof body.message, 'string', label);
  assert.ok((body.message as string).length > 0, label);
  if (expected.code !== undefined) {
    const codes = Array.isArray(expected.code) ? expected.code : [expected.code];
    assert.ok(codes.includes(body.error as string), `expected ${codes.join(' or ')}: ${label}`);
  }
  if (expected.path !== undefined) assert.equal(body.path, expected.path, label);
  assert.equal(response.headers['x-content-type-options'], 'nosniff', label);
  assert.equal(response.headers['cache-control'], 'no-store', label);
  return body;
}

/** Sends a hostile request: a clean 4xx, and neither ledger changed. */
async function rejects(api: Client, req: Req, expected: Expect = {}, what = ''): Promise<Record<string, unknown>> {
  const before = [await api.size(LEDGER), await api.size(OTHER)];
  const response = await api.send(req);
  const label = what || `${req.method ?? 'POST'} ${(req.url ?? '').slice(0, 80)} ${describePayload(req.payload)}`;
  const body = assertClean4xx(response, expected, label);
  assert.deepEqual([await api.size(LEDGER), await api.size(OTHER)], before, `nothing written: ${label}`);
  return body;
}

function describePayload(payload: Req['payload']): string {
  if (payload === undefined) return '';
  const text = Buffer.isBuffer(payload) ? payload.toString('latin1') : typeof payload === 'string' ? payload : JSON.stringify(payload);
  return text.length > 80 ? `${text.slice(0, 60)}…(${text.length})` : text;
}

// ---- building hostile bodies ---------------------------------------------------------------------

/** A valid event without an id (so that any accidental acceptance is a new entry). */
function validEvent(n = 0): AuditEvent {
  const { id: _id, ...event } = sampleEvent(n);
  return event;
}

/** Every field of an event, as a JSON Pointer with its kind. */
const FIELDS: Array<[pointer: string, kind: 'string' | 'object' | 'array']> = [
  ['/id', 'string'],
  ['/actor', 'object'],
  ['/actor/type', 'string'],
  ['/actor/id', 'string'],
  ['/actor/name', 'string'],
  ['/actor/email', 'string'],
  ['/actor/session_id', 'string'],
  ['/action', 'string'],
  ['/category', 'string'],
  ['/targets', 'array'],
  ['/targets/0', 'object'],
  ['/targets/0/type', 'string'],
  ['/targets/0/id', 'string'],
  ['/targets/0/name', 'string'],
  ['/occurred_at', 'string'],
  ['/origin', 'object'],
  ['/origin/ip', 'string'],
  ['/origin/user_agent', 'string'],
  ['/origin/device_id', 'string'],
  ['/outcome', 'string'],
  ['/outcome_reason', 'string'],
  ['/tenant', 'string'],
  ['/metadata', 'object'],
];
const STRING_FIELDS = FIELDS.filter(([, kind]) => kind === 'string').map(([pointer]) => pointer);
const WRONG_VALUES: Record<'string' | 'object' | 'array', unknown[]> = {
  string: [null, 0, 1.5, -1, true, false, [], {}, ['x'], { value: 'x' }],
  object: [null, 0, true, 'x', '', [], [{}]],
  array: [null, 0, true, 'x', {}, { 0: { type: 't', id: 'i' } }],
};

/** A full event (with outcome_reason and every optional field) whose field at `pointer` is `value`. */
function eventWith(pointer: string, value: unknown, n = 1): Record<string, unknown> {
  const event = { ...validEvent(n), outcome_reason: 'because', origin: { ip: '192.0.2.1', user_agent: 'ua', device_id: 'dev-1' } } as Record<string, unknown>;
  const copy = structuredClone(event);
  const segments = pointer.slice(1).split('/');
  let parent = copy as Record<string, unknown>;
  for (const segment of segments.slice(0, -1)) parent = parent[segment] as Record<string, unknown>;
  parent[segments.at(-1)!] = value;
  return copy;
}

/** The JSON text of `eventWith(pointer, MARK)` with the marker replaced by raw JSON text. */
function rawEventWith(pointer: string, rawValue: string, n = 1): string {
  const marker = '@@raw-value@@';
  const text = JSON.stringify(eventWith(pointer, marker, n));
  assert.ok(text.includes(`"${marker}"`));
  return text.replace(`"${marker}"`, () => rawValue);
}

/** The JSON text of a valid event with one extra member `"key": rawValue` inserted into the object at `pointer`. */
function withMember(pointer: string, key: string, rawValue: string, n = 1): string {
  const marker = 'zz-marker-member';
  const event = eventWith('/metadata', { a: { b: { c: 1 } }, list: [{ x: 1 }] }, n);
  const segments = pointer === '' ? [] : pointer.slice(1).split('/');
  let target = event as Record<string, unknown>;
  for (const segment of segments) target = target[segment] as Record<string, unknown>;
  target[marker] = 0;
  const text = JSON.stringify(event);
  return text.replace(`"${marker}":0`, () => `${JSON.stringify(key)}:${rawValue}`);
}

const HOSTILE_QUERIES = [
  'x'.repeat(2001),
  '"unterminated',
  '((((((',
  'received:>=99999999-99',
  'ip:999.1.1.1/99',
  'index:>1e400',
  'index:>9007199254740993',
  'received:-99999999999w',
  'occurred:1e400',
  `actor:${'\\'.repeat(1000)}`,
  'a:'.repeat(600),
  '*'.repeat(1999),
  'metadata.__proto__:1',
  'metadata.constructor:x',
  'country:ZZZ',
  'ip:0.0.0.0/0',
  'received:2026-02-30',
  '-'.repeat(1999),
  `tenant:${'\u{1F600}'.repeat(900)}`,
  'actor:a,,b',
  'OR OR OR',
  'tenant:t2 OR tenant:*',
];
const HOSTILE_SEARCHES = [
  ...HOSTILE_QUERIES.flatMap((q) => [
    `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(q)}`,
    `/v1/ledgers/${LEDGER}/stats?by=hour&q=${encodeURIComponent(q)}`,
    `/v1/events?q=${encodeURIComponent(q)}`,
  ]),
  ...['%ED%A0%80', '%00', '%FF', '%C0%AF'].map((q) => `/v1/ledgers/${LEDGER}/events?q=${q}`),
  ...['limit=0', 'limit=-1', 'limit=1001', 'limit=abc', 'cursor=%25%25', `cursor=${'A'.repeat(4000)}`, 'cursor=eyJwIjp7Imhvc3RpbGUiOjFlNDAwfSwibyI6ImRlc2MifQ', 'order=up', 'proofs=2', 'proofs=1&limit=101'].flatMap(
    (extra) => [`/v1/ledgers/${LEDGER}/events?${extra}`, `/v1/events?${extra}`],
  ),
  ...['by=nothing', 'by=', 'by=actor&limit=10001', 'by=__proto__'].map((extra) => `/v1/ledgers/${LEDGER}/stats?${extra}`),
  `/v1/events?ledgers=${','.repeat(4000)}`,
  `/v1/events?ledgers=${LEDGER},,${LEDGER}`,
];

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const deepObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const MB = 1024 * 1024;

// ---- 1. hostile bodies ---------------------------------------------------------------------------

describe('hostile bodies answer a clean 4xx and write nothing', () => {
  let server: Server;
  let api: Client;
  before(async () => {
    server = await buildServer();
    api = await client(server);
    const response = await api.send({ payload: validEvent(0) });
    assert.equal(response.statusCode, 201, response.body);
  });
  after(() => server.cleanup());

  it('malformed JSON → 400 MALFORMED_JSON', async () => {
    const bodies = [
      '{',
      '}',
      '{"actor":',
      '{actor: 1}',
      "{'actor': 1}",
      '[1,]',
      '{"a":1,}',
      '{"a" 1}',
      '{"a":01}',
      '{"a":"\\x"}',
      '{"a":"\u0001"}',
      '"unterminated',
      '{}}',
      '[]]',
      '/* comment */ {}',
      '\u0000',
      'nul',
      'tru',
      '+1',
      '.5',
      '0x10',
      '   ',
    ];
    for (const body of bodies) await rejects(api, { payload: body }, { status: 400, code: 'MALFORMED_JSON' });
    // A byte order mark is skipped by the parser; what follows is then judged as an event.
    await rejects(api, { payload: '\uFEFF{}' }, { status: 400, code: ['MALFORMED_JSON', 'INVALID_EVENT'] });
  });

  it('every truncation of a valid body → 400 MALFORMED_JSON', async () => {
    for (const body of [JSON.stringify(eventWith('/outcome', 'success')), JSON.stringify([validEvent(2), validEvent(3)])]) {
      for (let cut = 1; cut < body.length; cut++) {
        await rejects(api, { payload: body.slice(0, cut) }, { status: 400, code: 'MALFORMED_JSON' });
      }
    }
  });

  it('a wrong type for every event field → 400 INVALID_EVENT naming the field', async () => {
    for (const [pointer, kind] of FIELDS) {
      for (const value of WRONG_VALUES[kind]) {
        await rejects(api, { payload: eventWith(pointer, value) }, { status: 400, code: 'INVALID_EVENT', path: pointer }, `${pointer} = ${JSON.stringify(value)}`);
      }
    }
    for (const pointer of ['/actor/type', '/category', '/outcome']) {
      await rejects(api, { payload: eventWith(pointer, 'nonsense') }, { status: 400, code: 'INVALID_EVENT', path: pointer });
    }
    // In a batch the path starts with the position.
    const batch = [validEvent(4), validEvent(5), eventWith('/actor/id', 42)];
    await rejects(api, { payload: batch }, { status: 400, code: 'INVALID_EVENT', path: '/2/actor/id' });
  });

  it('a 1 MB string in every string field, a metadata value or key → 400 INVALID_EVENT', async () => {
    const huge = 'x'.repeat(MB);
    for (const pointer of STRING_FIELDS) {
      await rejects(api, { payload: eventWith(pointer, huge) }, { status: 400, code: 'INVALID_EVENT', path: pointer }, `1 MB at ${pointer}`);
    }
    // Metadata values are bounded by the event size (path ""); keys by their pattern.
    await rejects(api, { payload: eventWith('/metadata', { big: huge }) }, { status: 400, code: 'INVALID_EVENT', path: '' });
    await rejects(api, { payload: eventWith('/metadata', { [`k${'y'.repeat(MB)}`]: 1 }) }, { status: 400, code: 'INVALID_EVENT' });
    await rejects(api, { payload: eventWith('/metadata', { list: Array.from({ length: 257 }, () => 1) }) }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/list' });
  });

  it('10,000 levels of nesting in the body and in metadata → 400', async () => {
    await rejects(api, { payload: deep(10_000) }, { status: 400, code: 'INVALID_EVENT', path: '/0' });
    await rejects(api, { payload: '['.repeat(10_000) }, { status: 400, code: 'MALFORMED_JSON' });
    await rejects(api, { payload: rawEventWith('/metadata', `{"d":${deep(10_000)}}`) }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/d/0/0/0/0' });
    await rejects(api, { payload: rawEventWith('/metadata', `{"d":${deepObjects(10_000)}}`) }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/d/a/a/a/a' });
    await rejects(api, { payload: rawEventWith('/metadata', deep(10_000)) }, { status: 400, code: 'INVALID_EVENT' });
  });

  it('BUG src/core/event.ts:168-172 (checkKeysAndStrings): 10,000 levels of nesting outside metadata → 400, not a 500', async () => {
    // The walk only counts depth under /metadata/, so nesting anywhere else recurses until the stack
    // overflows: RangeError → 500 INTERNAL. Fix: bound the depth of the whole walk (no event field
    // outside metadata nests more than 3 levels), e.g. fail when `path` has more than
    // 3 + maxMetadataDepth segments, or carry an absolute depth and fail beyond it.
    for (const pointer of ['/extra', '/actor', '/targets', '/targets/0/name', '/origin', '/tenant']) {
      await rejects(api, { payload: rawEventWith(pointer, deep(10_000)) }, { status: 400, code: 'INVALID_EVENT' }, `nested at ${pointer}`);
    }
    await rejects(api, { payload: deepObjects(10_000) }, { status: 400, code: 'INVALID_EVENT' }, 'nested objects as the event');
    await rejects(api, { payload: `[${JSON.stringify(validEvent(6))},${rawEventWith('/actor', deepObjects(10_000))}]` }, { status: 400, code: 'INVALID_EVENT' });
  });

  it('invalid UTF-8 bytes outside strings → 400', async () => {
    const text = JSON.stringify(validEvent(7));
    const bytes = (before: string, bad: number[], afterText: string) => Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(afterText)]);
    await rejects(api, { payload: bytes('', [0xff, 0xfe], text) }, { status: 400, code: 'MALFORMED_JSON' });
    await rejects(api, { payload: bytes(text.slice(0, 1), [0xff, 0xfe], text.slice(1)) }, { status: 400, code: 'MALFORMED_JSON' });
    await rejects(api, { payload: bytes(text, [0xff, 0xfe], '') }, { status: 400, code: 'MALFORMED_JSON' });
    // Inside a member name: not UTF-8, or (decoded with replacement characters) no longer "actor".
    const at = text.indexOf('actor') + 'actor'.length;
    await rejects(api, { payload: bytes(text.slice(0, at), [0xff, 0xfe], text.slice(at)) }, { status: 400, code: ['MALFORMED_JSON', 'INVALID_EVENT'] });
    await rejects(api, { payload: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]) }, { status: 400, code: 'MALFORMED_JSON' });
  });

  it('BUG src/server/app.ts:106 (default JSON parser): invalid UTF-8 inside a string → 400, not stored with U+FFFD', async () => {
    // Fastify decodes the body with replacement characters, so the bytes the client signed off on are
    // not the event that gets sealed. Fix: register an application/json parser with parseAs 'buffer'
    // that decodes with new TextDecoder('utf-8', { fatal: true }) and answers 400 MALFORMED_JSON.
    const text = JSON.stringify(eventWith('/actor/name', 'Zoë'));
    const at = text.indexOf('Zo') + 2;
    for (const bad of [[0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80]]) {
      const payload = Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bad), Buffer.from(text.slice(at))]);
      await rejects(api, { payload }, { status: 400, code: 'MALFORMED_JSON' }, `bytes ${bad.map((b) => b.toString(16)).join(' ')} in actor.name`);
    }
  });

  it('lone surrogate escapes in values and keys → 400 INVALID_EVENT naming the field', async () => {
    for (const pointer of ['/actor/name', '/actor/id', '/targets/0/name', '/outcome_reason', '/tenant', '/origin/user_agent']) {
      for (const raw of ['"\\ud800"', '"a\\udc00b"', '"\\ud800\\ud800"', '"\\ude00\\ud83d"']) {
        await rejects(api, { payload: rawEventWith(pointer, raw) }, { status: 400, code: 'INVALID_EVENT', path: pointer }, `${raw} at ${pointer}`);
      }
    }
    await rejects(api, { payload: rawEventWith('/metadata', '{"note":"\\ud800"}') }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/note' });
    await rejects(api, { payload: rawEventWith('/metadata', '{"note":{"deep":["\\udbff"]}}') }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/note/deep/0' });
    await rejects(api, { payload: rawEventWith('/metadata', '{"\\ud800":1}') }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/\ud800' });
    await rejects(api, { payload: withMember('', '\ud800', '1') }, { status: 400, code: 'INVALID_EVENT' });
    // A proper pair is fine.
    const response = await api.send({ payload: rawEventWith('/actor/name', '"\\ud83d\\ude00"') });
    assert.equal(response.statusCode, 201, response.body);
  });

  it('__proto__, constructor and prototype keys at every depth → 400, no pollution', async () => {
    const positions = ['', '/actor', '/origin', '/targets/0', '/metadata', '/metadata/a', '/metadata/a/b', '/metadata/list/0'];
    const values = ['{"polluted":true}', '1', '{"prototype":{"polluted":true}}', 'null', '[]'];
    for (const position of positions) {
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        for (const value of values) {
          await rejects(api, { payload: withMember(position, key, value) }, { status: 400, code: ['MALFORMED_JSON', 'INVALID_EVENT'] }, `"${key}":${value} at "${position}"`);
        }
      }
    }
    const batch = `[${JSON.stringify(validEvent(8))},${withMember('/metadata/a', '__proto__', '{"polluted":true}')}]`;
    await rejects(api, { payload: batch }, { status: 400, code: ['MALFORMED_JSON', 'INVALID_EVENT'] });
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
  });

  it('unknown fields → 400 INVALID_EVENT naming them', async () => {
    for (const [position, key] of [['', 'extra'], ['', 'writer'], ['', 'received_at'], ['/actor', 'role'], ['/origin', 'port'], ['/targets/0', 'owner']] as const) {
      await rejects(api, { payload: withMember(position, key, '1') }, { status: 400, code: 'INVALID_EVENT', path: `${position}/${key}` });
    }
  });

  it('NaN and Infinity literals → 400 MALFORMED_JSON; 1e400 → 400 INVALID_EVENT', async () => {
    for (const literal of ['NaN', 'Infinity', '-Infinity', 'undefined', '0x1F', '1e', '--1']) {
      await rejects(api, { payload: rawEventWith('/metadata', `{"n":${literal}}`) }, { status: 400, code: 'MALFORMED_JSON' }, literal);
    }
    for (const literal of ['1e400', '-1e400', '1E+999']) {
      await rejects(api, { payload: rawEventWith('/metadata', `{"n":${literal}}`) }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/n' });
      await rejects(api, { payload: rawEventWith('/metadata', `{"n":[1,{"m":${literal}}]}`) }, { status: 400, code: 'INVALID_EVENT', path: '/metadata/n/1/m' });
      await rejects(api, { payload: rawEventWith('/actor/id', literal) }, { status: 400, code: 'INVALID_EVENT', path: '/actor/id' });
    }
  });

  it('an empty body → 400', async () => {
    await rejects(api, { payload: '' }, { status: 400, code: 'MALFORMED_JSON' });
    await rejects(api, {}, { status: 400, code: 'INVALID_EVENT', path: '' });
    await rejects(api, { payload: 'null' }, { status: 400, code: 'INVALID_EVENT', path: '' });
    await rejects(api, { payload: '{}' }, { status: 400, code: 'INVALID_EVENT', path: '/actor' });
    await rejects(api, { payload: '[]' }, { status: 400, code: 'INVALID_ARGUMENT' });
  });

  it('a body over the limit → 413 BODY_TOO_LARGE', async () => {
    const overLimit = JSON.stringify(eventWith('/metadata', { pad: 'x'.repeat(8 * MB) }));
    await rejects(api, { payload: overLimit }, { status: 413, code: 'BODY_TOO_LARGE' });
    await rejects(api, { payload: Buffer.alloc(8 * MB + 1, 0x20) }, { status: 413, code: 'BODY_TOO_LARGE' });
  });

  it('a content type other than JSON → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const body = JSON.stringify(validEvent(9));
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/octet-stream', 'text/json', '']) {
      await rejects(api, { payload: body, headers: { 'content-type': type } }, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }, `content-type ${JSON.stringify(type)}`);
    }
  });

  it('BUG src/server/app.ts:106 (default JSON parser): duplicate member names → 400, not "last one wins"', async () => {
    // JSON.parse keeps the last of duplicate names, so the sealed event is not what another parser
    // (first one wins, or reject) reads from the same bytes; I-JSON (RFC 7493 §2.3) forbids them.
    // Fix: parse JSON bodies with a parser that rejects duplicate names (400 MALFORMED_JSON).
    const text = JSON.stringify(validEvent(10));
    const duplicates = [
      text.replace(/^\{/, '{"action":"admin.grant",'),
      text.replace('"actor":{', '"actor":{"id":"someone-else",'),
      text.replace('"metadata":{', '"metadata":{"bytes":1,'),
      text.replace(/\}$/, ',"outcome":"failure"}'),
    ];
    for (const body of duplicates) {
      assert.notEqual(body, text);
      await rejects(api, { payload: body }, { status: 400, code: ['MALFORMED_JSON', 'INVALID_EVENT'] });
    }
  });

  it('a batch of maxBatch + 1 events → 400 INVALID_ARGUMENT; maxBatch is fine', async () => {
    const events = (n: number) => Array.from({ length: n }, (_, i) => validEvent(100 + i));
    const body = await rejects(api, { payload: events(1001) }, { status: 400, code: 'INVALID_ARGUMENT' });
    assert.match(String(body.message), /1 to 1000/);
    const before = await api.size();
    const response = await api.send({ payload: events(1000) });
    assert.equal(response.statusCode, 201);
    assert.equal(await api.size(), before + 1000);
  });

  it('query parameters out of range or not numbers → 400 INVALID_ARGUMENT', async () => {
    const values = ['-1', '-0.5', '1.5', 'abc', '', '9007199254740992', '18446744073709551616', '1e20', '99999999999999999999999', 'NaN', 'null', '[]', '%00', '1%00', '1;2'];
    const urls = (v: string) => [
      `/v1/ledgers/${LEDGER}/proof/inclusion?index=${v}`,
      `/v1/ledgers/${LEDGER}/proof/inclusion?index=0&size=${v}`,
      `/v1/ledgers/${LEDGER}/proof/consistency?from=${v}`,
      `/v1/ledgers/${LEDGER}/proof/consistency?from=1&to=${v}`,
      `/v1/ledgers/${LEDGER}/checkpoint?size=${v}`,
      `/v1/ledgers/${LEDGER}/entries/${v}`,
    ];
    for (const value of values) {
      for (const url of urls(value)) {
        await rejects(api, { method: 'GET', url }, { status: 400, code: 'INVALID_ARGUMENT' });
      }
    }
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/proof/inclusion?index=0&index=1` }, { status: 400, code: 'INVALID_ARGUMENT' });
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/proof/consistency?from=0` }, { status: 400, code: 'INVALID_ARGUMENT' });
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/proof/inclusion` }, { status: 400, code: 'INVALID_ARGUMENT' });
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/proof/inclusion?index=9007199254740991` }, { status: 400, code: 'INVALID_ARGUMENT' });
  });

  it('BUG src/server/schemas.ts:11 + app.ts:89 (IndexParam with ajv coerceTypes): Infinity and 1e400 → 400, not 404 or 500', async () => {
    // ajv coerces "Infinity" and "1e400" to Infinity and skips minimum/maximum for non-finite numbers,
    // so Infinity reaches the handlers and the stores: the search routes answer 500 for limit=Infinity
    // (SQLite refuses it as a LIMIT), the others 404 "no checkpoint of size Infinity" (on PostgreSQL a
    // bigint parameter of Infinity is likely a 500 too). Fix: a preHandler hook under /v1 that refuses
    // any non-finite number in request.query and request.params (400 INVALID_ARGUMENT), or integer
    // parameters as strings (^(0|[1-9][0-9]{0,15})$) converted and checked with Number.isSafeInteger.
    for (const value of ['Infinity', '-Infinity', '1e400', '-1e400']) {
      for (const url of [
        `/v1/ledgers/${LEDGER}/checkpoint?size=${value}`,
        `/v1/ledgers/${LEDGER}/entries/${value}`,
        `/v1/ledgers/${LEDGER}/proof/inclusion?index=${value}`,
        `/v1/ledgers/${LEDGER}/proof/inclusion?index=0&size=${value}`,
        `/v1/ledgers/${LEDGER}/proof/consistency?from=${value}`,
        `/v1/ledgers/${LEDGER}/proof/consistency?from=1&to=${value}`,
        `/v1/ledgers/${LEDGER}/events?limit=${value}`,
        `/v1/ledgers/${LEDGER}/stats?by=actor&limit=${value}`,
        `/v1/events?limit=${value}`,
      ]) {
        await rejects(api, { method: 'GET', url, token: api.tokens.reader }, { status: 400, code: 'INVALID_ARGUMENT' });
      }
    }
  });

  it('hostile search queries and paging parameters → 200 or a clean 400, never a 5xx', async () => {
    for (const url of HOSTILE_SEARCHES) {
      const before = await api.size();
      const response = await api.send({ method: 'GET', url, token: api.tokens.reader });
      if (response.statusCode !== 200) assertClean4xx(response, { status: 400, code: 'INVALID_ARGUMENT' }, url.slice(0, 80));
      assert.equal(await api.size(), before);
    }
    // A writer may not search.
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/events?q=actor:x` }, { status: 403, code: 'FORBIDDEN' });
    await rejects(api, { method: 'GET', url: '/v1/events' }, { status: 403, code: 'FORBIDDEN' });
  });

  it('path parameters with .., %00, control characters or long names → 4xx', async () => {
    const names = ['..', '.', '%2e%2e', '%2E.', '%00', 'a%00', '%00a', '%1b%5b2J', '%0d%0aX-Injected:%201', 'UPPER', 'a%20b', 'a%2fb', '%c3%a9', 'x'.repeat(65), 'x'.repeat(200), SYSTEM_LEDGER];
    for (const name of names) {
      await rejects(api, { method: 'POST', url: `/v1/ledgers/${name}/events`, payload: validEvent(11) }, {}, `POST ${name.slice(0, 20)}`);
      await rejects(api, { method: 'GET', url: `/v1/ledgers/${name}/checkpoint` }, {}, `GET ${name.slice(0, 20)}`);
      await rejects(api, { method: 'GET', url: `/v1/ledgers/${name}/entries/0` }, {}, `GET entry ${name.slice(0, 20)}`);
      await rejects(api, { method: 'PUT', url: `/v1/ledgers/${name}`, token: TEST_ADMIN_TOKEN }, {}, `PUT ${name.slice(0, 20)}`);
    }
    for (const id of ['..', '%00', '%1b%5b2J', 'x'.repeat(65), 'ffffffffffffffff']) {
      await rejects(api, { method: 'DELETE', url: `/v1/keys/${id}`, token: TEST_ADMIN_TOKEN }, {}, `DELETE key ${id.slice(0, 20)}`);
    }
    const names2 = (await api.server.deployment.store.listLedgers()).map((l) => l.name).sort();
    assert.deepEqual(names2, [OTHER, LEDGER, SYSTEM_LEDGER].sort(), 'no ledger was created');
  });

  it('BUG src/server/app.ts:82 (no frameworkErrors handler): over-long or badly encoded paths → a documented 4xx with the security headers', async () => {
    // Fastify's router answers these itself (414 FST_ERR_MAX_PARAM_LENGTH, 400 FST_ERR_BAD_URL) with
    // {"error":"Bad Request","code":"FST_…"} and none of the security headers. Fix: pass
    // `frameworkErrors: (error, request, reply) => errorHandler(error, request, reply)` to Fastify(),
    // mapping them to 400 INVALID_ARGUMENT, and set the headers there too.
    for (const url of [
      `/v1/ledgers/${'x'.repeat(201)}`,
      `/v1/ledgers/${'x'.repeat(MB)}/events`,
      `/v1/keys/${'x'.repeat(300)}`,
      '/v1/ledgers/%zz/checkpoint',
      '/v1/ledgers/%ff/checkpoint',
    ]) {
      await rejects(api, { method: url.endsWith('/events') ? 'POST' : url.startsWith('/v1/keys') ? 'DELETE' : 'GET', url, payload: url.endsWith('/events') ? validEvent(12) : undefined }, { code: ['INVALID_ARGUMENT', 'NOT_FOUND'] }, url.slice(0, 40));
    }
  });

  it('headers: a huge Authorization → 401; a non-ASCII or overlong Idempotency-Key → 400', async () => {
    for (const authorization of [`Bearer ${'x'.repeat(MB)}`, `Bearer st_abcd.${'A'.repeat(MB)}`, `Bearer ${api.tokens.writer}${'x'.repeat(MB)}`, 'x'.repeat(MB)]) {
      const body = await rejects(api, { payload: validEvent(13), token: null, headers: { authorization } }, { status: 401, code: 'UNAUTHENTICATED' });
      assert.deepEqual(body, { error: 'UNAUTHENTICATED', message: 'a valid bearer token is required' });
    }
    for (const key of ['clé', 'ключ', '\u65e5\u672c', 'a b', '', 'x'.repeat(129), 'tab\there', 'nul\u0000']) {
      let response: LightMyRequestResponse;
      try {
        response = await api.send({ payload: validEvent(14), headers: { 'idempotency-key': key } });
      } catch {
        continue; // the injector itself refuses some header values; over HTTP they could not arrive either
      }
      const size = await api.size();
      assertClean4xx(response, { status: 400, code: 'INVALID_ARGUMENT' }, `Idempotency-Key ${JSON.stringify(key.slice(0, 20))}`);
      assert.equal(await api.size(), size);
    }
  });

  it('BUG src/server/access-log.ts:62-63: access records of hostile paths are valid events (no control characters in target ids)', async () => {
    // The access record copies the raw path parameter into targets[].id, whose schema forbids control
    // characters (they reach terminals, CSV and syslog); a request for /v1/ledgers/%1b%5b2J/… plants an
    // ANSI escape in the sealed system ledger. Fix: record a parameter only when it matches the route's
    // pattern (LEDGER_PATTERN / KEY_ID), else e.g. JSON.stringify(param).slice(0, 256), and validate
    // the access event before appending it.
    const from = await api.size(SYSTEM_LEDGER);
    await api.send({ method: 'GET', url: '/v1/ledgers/%1b%5b2J%07/checkpoint' });
    await api.send({ method: 'DELETE', url: '/v1/keys/%1b%5b31mevil', token: TEST_ADMIN_TOKEN });
    await api.send({ method: 'GET', url: '/v1/ledgers/a%00b', token: api.tokens.reader });
    const records = [];
    for await (const entry of api.server.deployment.store.entries(SYSTEM_LEDGER, from, Number.MAX_SAFE_INTEGER)) {
      records.push(eventFromFields(Object.entries(entry.disclosures).map(([path, [, value]]) => [path, value])));
    }
    assert.equal(records.length, 3);
    for (const record of records) assert.doesNotThrow(() => validateEvent(record), JSON.stringify(record.targets));
  });
});

// ---- 2. rate limit and headers -------------------------------------------------------------------

describe('per-key rate limit (20 requests a second)', () => {
  let server: Server;
  let api: Client;
  before(async () => {
    server = await buildServer({ rateLimit: { max: 20, windowMs: 1000 } });
    api = await client(server);
  });
  after(() => server.cleanup());

  it('the 21st request in the window answers 429 RATE_LIMITED with Retry-After; another key is unaffected', async () => {
    const url = `/v1/ledgers/${LEDGER}`;
    const key = await createKey(server, 'reader', [LEDGER]);
    const other = await createKey(server, 'reader', [LEDGER]);
    for (let i = 0; i < 20; i++) {
      const response = await api.send({ method: 'GET', url, token: key.token });
      assert.equal(response.statusCode, 200, `request ${i + 1}: ${response.body}`);
    }
    const limited = await api.send({ method: 'GET', url, token: key.token });
    const body = assertClean4xx(limited, { status: 429, code: 'RATE_LIMITED' }, '21st request');
    assert.match(String(limited.headers['retry-after']), /^\d+$/);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter >= 0 && retryAfter <= 1, `Retry-After ${retryAfter} within the 1 s window`);
    assert.match(String(body.message), /20/);
    // Appends of the limited key are refused before anything is written.
    const writer = await createKey(server, 'writer', [LEDGER]);
    for (let i = 0; i < 20; i++) assert.equal((await api.send({ method: 'GET', url, token: writer.token })).statusCode, 200);
    await rejects(api, { payload: validEvent(20), token: writer.token }, { status: 429, code: 'RATE_LIMITED' });

    assert.equal((await api.send({ method: 'GET', url, token: other.token })).statusCode, 200, 'another key is unaffected');
    assert.equal((await api.send({ method: 'GET', url, token: TEST_ADMIN_TOKEN })).statusCode, 200, 'the admin token too');

    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 150));
    assert.equal((await api.send({ method: 'GET', url, token: key.token })).statusCode, 200, 'the next window is open again');
  });

  it('BUG src/server/app.ts:140 (rate limit on preHandler): requests over the budget are refused even when malformed', async () => {
    // The limiter runs at preHandler, after body parsing and schema validation, so a key over its
    // budget still gets unparsable bodies (up to 8 MiB each) parsed and schema-invalid reads answered,
    // each of which also appends an access record to the system ledger. Fix: `hook: 'preParsing'`
    // (still after the onRequest authentication, so the budget stays per key).
    const key = await createKey(server, 'writer', [LEDGER]);
    for (let i = 0; i < 20; i++) assert.equal((await api.send({ method: 'GET', url: `/v1/ledgers/${LEDGER}`, token: key.token })).statusCode, 200);
    await rejects(api, { method: 'GET', url: `/v1/ledgers/${LEDGER}/proof/inclusion?index=abc`, token: key.token }, { status: 429, code: 'RATE_LIMITED' });
    await rejects(api, { payload: '{"broken', token: key.token }, { status: 429, code: 'RATE_LIMITED' });
  });
});

describe('security headers', () => {
  let server: Server;
  let api: Client;
  before(async () => {
    server = await buildServer({ rateLimit: { max: 30, windowMs: 60_000 } });
    api = await client(server);
  });
  after(() => server.cleanup());

  it('nosniff everywhere; no-store and a closed CSP on every /v1 answer, errors included', async () => {
    const limited = await createKey(server, 'reader', [LEDGER]);
    const responses: Array<[string, LightMyRequestResponse]> = [];
    const add = async (what: string, req: Req) => responses.push([what, await api.send(req)]);
    await add('200 read', { method: 'GET', url: `/v1/ledgers/${LEDGER}`, token: TEST_ADMIN_TOKEN });
    await add('201 append', { payload: validEvent(1), token: TEST_ADMIN_TOKEN });
    await add('200 text/plain checkpoint', { method: 'GET', url: `/v1/ledgers/${LEDGER}/checkpoint`, token: TEST_ADMIN_TOKEN });
    await add('200 public verifier key', { method: 'GET', url: '/v1/verifier-key', token: null });
    await add('401', { method: 'GET', url: '/v1/ledgers', token: 'nope' });
    await add('400 JSON', { payload: '{', token: TEST_ADMIN_TOKEN });
    await add('400 event', { payload: { x: 1 }, token: TEST_ADMIN_TOKEN });
    await add('404 route', { method: 'GET', url: '/v1/nothing-here', token: TEST_ADMIN_TOKEN });
    await add('404 ledger', { method: 'GET', url: '/v1/ledgers/nope', token: TEST_ADMIN_TOKEN });
    await add('413', { payload: Buffer.alloc(8 * MB + 1, 0x20), token: TEST_ADMIN_TOKEN });
    await add('415', { payload: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, token: TEST_ADMIN_TOKEN });
    for (let i = 0; i < 31; i++) await add(`reader request ${i + 1} (the 31st is 429)`, { method: 'GET', url: '/v1/ledgers', token: limited.token });
    assert.equal(responses.at(-1)![1].statusCode, 429);
    for (const [what, response] of responses) {
      assert.equal(response.headers['x-content-type-options'], 'nosniff', what);
      assert.equal(response.headers['x-frame-options'], 'DENY', what);
      assert.equal(response.headers['referrer-policy'], 'no-referrer', what);
      assert.equal(response.headers['cache-control'], 'no-store', what);
      assert.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", what);
      assert.equal(response.headers['x-powered-by'], undefined, what);
      assert.equal(response.headers['strict-transport-security'], undefined, `${what}: no HSTS over plain HTTP`);
    }
    const health = await server.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.headers['x-content-type-options'], 'nosniff');
    assert.equal(health.headers['cache-control'], undefined, 'only /v1 and /openapi.json are no-store');
  });
});

// ---- 3. soak -------------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing soak can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SoakKind {
  name: string;
  weight: number;
  make(r: SoakRandom, context: SoakContext): Req;
  /** A kind the server mishandles today (its own BUG test fails); mixed in only once it is handled. */
  knownBug?: boolean;
  /** A read that may legitimately succeed (200) as well as fail with a 4xx. */
  mayAnswer200?: boolean;
}

interface SoakRandom {
  next(): number;
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

interface SoakContext {
  tokens: { writer: string; reader: string; revoked: string; wrongSecret: string; admin: string };
}

function soakRandom(seed: number): SoakRandom {
  const next = prng(seed);
  return {
    next,
    int: (max) => Math.floor(next() * max),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  };
}

const HUGE = 'h'.repeat(MB);
const OVER_LIMIT = Buffer.alloc(8 * MB + 16, 0x20);
const DEEP = deep(10_000);

const SOAK_KINDS: SoakKind[] = [
  { name: 'malformed JSON', weight: 6, make: (r) => ({ payload: r.pick(['{', '{"a":', '[1,]', "{'a':1}", '{"a":01}', 'nul', '{"a":"\u0001"}', '{}}']) }) },
  {
    name: 'truncated JSON',
    weight: 8,
    make: (r) => {
      const text = JSON.stringify(r.chance(0.5) ? validEvent(r.int(100)) : [validEvent(r.int(100)), validEvent(r.int(100))]);
      return { payload: text.slice(0, 1 + r.int(text.length - 1)) };
    },
  },
  {
    name: 'wrong type',
    weight: 8,
    make: (r) => {
      const [pointer, kind] = r.pick(FIELDS);
      return { payload: eventWith(pointer, r.pick(WRONG_VALUES[kind]), r.int(100)) };
    },
  },
  { name: '1 MB string', weight: 0.5, make: (r) => ({ payload: eventWith(r.pick(STRING_FIELDS), HUGE) }) },
  { name: 'deep body', weight: 1, make: (r) => ({ payload: r.chance(0.5) ? DEEP : '['.repeat(10_000) }) },
  { name: 'deep metadata', weight: 1, make: () => ({ payload: rawEventWith('/metadata', `{"d":${DEEP}}`) }) },
  { name: 'deep outside metadata', weight: 1, knownBug: true, make: (r) => ({ payload: rawEventWith(r.pick(['/extra', '/actor', '/targets', '/tenant']), DEEP) }) },
  {
    name: 'invalid UTF-8 outside strings',
    weight: 3,
    make: (r) => {
      const text = JSON.stringify(validEvent(r.int(100)));
      return { payload: Buffer.concat([Buffer.from(r.chance(0.5) ? '' : text), Buffer.from([0xff, 0xfe]), Buffer.from(r.chance(0.5) ? text : '')]) };
    },
  },
  {
    name: 'invalid UTF-8 inside a string',
    weight: 2,
    knownBug: true,
    make: (r) => {
      const text = JSON.stringify(eventWith('/actor/name', `name-${r.int(1e9)}`));
      const at = text.indexOf('name-') + 5;
      return { payload: Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(at))]) };
    },
  },
  { name: 'lone surrogate', weight: 4, make: (r) => ({ payload: rawEventWith(r.pick(['/actor/name', '/tenant', '/outcome_reason', '/targets/0/id']), r.pick(['"\\ud800"', '"x\\udfff"'])) }) },
  {
    name: 'prototype key',
    weight: 6,
    make: (r) => ({
      payload: withMember(r.pick(['', '/actor', '/origin', '/targets/0', '/metadata', '/metadata/a', '/metadata/a/b', '/metadata/list/0']), r.pick(['__proto__', 'constructor', 'prototype']), r.pick(['{"polluted":true}', '{"prototype":{"polluted":1}}', '1'])),
    }),
  },
  { name: 'unknown field', weight: 4, make: (r) => ({ payload: withMember(r.pick(['', '/actor', '/origin', '/targets/0']), r.pick(['extra', 'writer', 'x-y']), '1') }) },
  { name: 'NaN/Infinity literal', weight: 3, make: (r) => ({ payload: rawEventWith('/metadata', `{"n":${r.pick(['NaN', 'Infinity', '-Infinity'])}}`) }) },
  { name: '1e400', weight: 3, make: (r) => ({ payload: rawEventWith(r.pick(['/metadata', '/actor/id']), r.pick(['1e400', '{"n":-1e400}'])) }) },
  { name: 'empty body', weight: 2, make: (r) => (r.chance(0.5) ? { payload: '' } : {}) },
  { name: 'over the body limit', weight: 0.2, make: () => ({ payload: OVER_LIMIT }) },
  {
    name: 'wrong content type',
    weight: 3,
    make: (r) => ({ payload: JSON.stringify(validEvent(r.int(100))), headers: { 'content-type': r.pick(['text/plain', 'application/xml', 'application/x-www-form-urlencoded', '']) } }),
  },
  {
    name: 'duplicate member names',
    weight: 2,
    knownBug: true,
    make: (r) => ({ payload: JSON.stringify(validEvent(r.int(100))).replace(/^\{/, `{"action":"dup.action${r.int(100)}",`) }),
  },
  { name: 'batch over the maximum', weight: 0.3, make: () => ({ payload: Array.from({ length: 1001 }, (_, i) => validEvent(i)) }) },
  { name: 'empty batch', weight: 1, make: () => ({ payload: [] }) },
  {
    name: 'bad query parameter',
    weight: 8,
    make: (r) => {
      const value = r.pick(['-1', '1.5', 'abc', '', '9007199254740992', '1e20', '99999999999999999999999', 'NaN', '0&index=1']);
      const url = r.pick([
        `/v1/ledgers/${LEDGER}/proof/inclusion?index=${value}`,
        `/v1/ledgers/${LEDGER}/proof/consistency?from=${value}`,
        `/v1/ledgers/${LEDGER}/checkpoint?size=${value}`,
        `/v1/ledgers/${LEDGER}/entries/${value || 'x'}`,
      ]);
      return { method: 'GET', url, token: r.chance(0.5) ? undefined : null };
    },
  },
  {
    name: 'Infinity query parameter',
    weight: 1,
    make: (r) => ({ method: 'GET', url: `/v1/ledgers/${LEDGER}/${r.pick(['checkpoint?size=', 'entries/', 'proof/inclusion?index='])}${r.pick(['Infinity', '1e400'])}` }),
  },
  { name: 'hostile search', weight: 4, mayAnswer200: true, make: (r, { tokens }) => ({ method: 'GET', url: r.pick(HOSTILE_SEARCHES), token: tokens.reader }) },
  {
    name: 'Infinity search limit',
    weight: 0.5,
    knownBug: true,
    make: (r, { tokens }) => ({ method: 'GET', url: `${r.pick(['/v1/events?', `/v1/ledgers/${LEDGER}/events?`, `/v1/ledgers/${LEDGER}/stats?by=actor&`])}limit=${r.pick(['Infinity', '1e400'])}`, token: tokens.reader }),
  },
  {
    name: 'bad path parameter',
    weight: 6,
    make: (r) => {
      const name = r.pick(['..', '%2e%2e', '%00', 'a%00b', '%1b%5b2J', 'UPPER', 'x'.repeat(65), 'x'.repeat(201), '%zz', '%ff', SYSTEM_LEDGER, 'nope']);
      return r.chance(0.5) ? { url: `/v1/ledgers/${name}/events`, payload: validEvent(r.int(100)) } : { method: 'GET', url: `/v1/ledgers/${name}/checkpoint` };
    },
  },
  {
    name: 'bad token',
    weight: 8,
    make: (r, { tokens }) => {
      const authorization = r.pick([
        `Bearer ${tokens.revoked}`,
        `Bearer ${tokens.wrongSecret}`,
        `Bearer ${'x'.repeat(MB)}`,
        `Basic ${Buffer.from('admin:admin').toString('base64')}`,
        'Bearer',
        `bearer st_${'a'.repeat(40)}.${'b'.repeat(43)}`,
        `Bearer ${tokens.writer.slice(0, -1)}`,
      ]);
      return r.chance(0.5)
        ? { payload: validEvent(r.int(100)), token: null, headers: { authorization } }
        : { method: 'GET', url: r.pick([`/v1/ledgers/${LEDGER}/entries/0`, '/v1/keys', '/v1/ledgers']), token: null, headers: { authorization } };
    },
  },
  {
    name: 'forbidden or out of scope',
    weight: 6,
    make: (r, { tokens }) =>
      r.pick<Req>([
        { payload: validEvent(r.int(100)), token: tokens.reader },
        { url: `/v1/ledgers/${OTHER}/events`, payload: validEvent(r.int(100)) },
        { method: 'GET', url: `/v1/ledgers/${OTHER}/entries/0`, token: tokens.reader },
        { method: 'POST', url: '/v1/keys', payload: { role: 'admin', ledgers: ['*'] } },
        { method: 'PUT', url: `/v1/ledgers/new-${r.int(1000)}`, token: tokens.reader },
        { method: 'DELETE', url: '/v1/keys/ffffffffffffffff' },
        { url: `/v1/ledgers/${SYSTEM_LEDGER}/events`, payload: validEvent(1), token: tokens.admin },
      ]),
  },
  {
    name: 'bad Idempotency-Key',
    weight: 3,
    make: (r) => ({ payload: validEvent(r.int(100)), headers: { 'idempotency-key': r.pick(['clé', 'a b', 'x'.repeat(129), 'tab\there']) } }),
  },
  {
    name: 'invalid key creation',
    weight: 2,
    make: (r, { tokens }) => ({
      method: 'POST',
      url: '/v1/keys',
      token: tokens.admin,
      payload: r.pick<object>([{ role: 'root', ledgers: ['*'] }, { role: 'reader', ledgers: [] }, { role: 'reader', ledgers: ['*'], extra: 1 }, { role: 'reader', ledgers: ['*'], expires_in_seconds: 0 }]),
    }),
  },
  {
    name: 'random bytes',
    weight: 3,
    make: (r) => ({ payload: Buffer.from(Array.from({ length: 1 + r.int(200) }, () => r.int(256))) }),
  },
];

describe('soak: 10,000 hostile requests', () => {
  const SEED = 0x5ea17a11;
  const REQUESTS = 10_000;
  const CONCURRENCY = 32;
  let server: Server;
  let api: Client;
  let context: SoakContext;

  before(async () => {
    // The rate limiter stays in the path, with a budget the soak cannot exhaust.
    server = await buildServer({ rateLimit: { max: 1_000_000, windowMs: 1000 } });
    api = await client(server);
    const revoked = await createKey(server, 'writer', [LEDGER]);
    const response = await server.app.inject({ method: 'DELETE', url: `/v1/keys/${revoked.id}`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    assert.equal(response.statusCode, 200);
    const writerId = /^st_([a-z0-9]+)\./.exec(api.tokens.writer)![1]!;
    context = {
      tokens: { ...api.tokens, revoked: revoked.token, wrongSecret: `st_${writerId}.${'Q'.repeat(43)}`, admin: TEST_ADMIN_TOKEN },
    };
  });
  after(() => server.cleanup());

  it('no 5xx, no partial write, exactly the valid events stored, no secret echoed, still appending', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const random = soakRandom(SEED);

    // Kinds with a known bug join the mix only once the server handles them (their BUG tests fail until then).
    const kinds: SoakKind[] = [];
    for (const kind of SOAK_KINDS) {
      if (!kind.knownBug) {
        kinds.push(kind);
        continue;
      }
      const before = await api.size();
      const probe = await api.send(kind.make(soakRandom(SEED), context));
      if (probe.statusCode >= 400 && probe.statusCode < 500 && (await api.size()) === before) kinds.push(kind);
    }
    const totalWeight = kinds.reduce((sum, k) => sum + k.weight, 0);
    const pickKind = () => {
      let x = random.next() * totalWeight;
      for (const kind of kinds) if ((x -= kind.weight) < 0) return kind;
      return kinds.at(-1)!;
    };

    const secrets = [context.tokens.admin, ...[api.tokens.writer, api.tokens.reader, context.tokens.revoked, context.tokens.wrongSecret].map((t) => t.split('.')[1]!)];
    const initialSize = await api.size();
    const valid: Array<{ id: string; event: AuditEvent }> = [];
    let validSent = 0;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const byKind = new Map<string, number>();

    /** `expectedStatus`: the exact statuses allowed; else a 4xx (or a 200 where `may200`). */
    const check = (what: string, response: LightMyRequestResponse, expectedStatus?: number[], may200 = false) => {
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      const is4xx = response.statusCode >= 400 && response.statusCode < 500;
      if (response.statusCode >= 500) failures.push(`${what}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      else if (expectedStatus && !expectedStatus.includes(response.statusCode)) failures.push(`${what}: expected ${expectedStatus.join('/')}, got ${response.statusCode} ${response.body.slice(0, 200)}`);
      else if (!expectedStatus && !is4xx && !(may200 && response.statusCode === 200)) failures.push(`${what}: expected a 4xx, got ${response.statusCode} ${response.body.slice(0, 200)}`);
      else if (response.statusCode >= 400) {
        let body: { error?: unknown; message?: unknown };
        try {
          body = JSON.parse(response.body) as typeof body;
        } catch {
          body = {};
        }
        if (typeof body.error !== 'string' || typeof body.message !== 'string') failures.push(`${what}: not a JSON error body: ${response.body.slice(0, 200)}`);
      }
      for (const secret of secrets) if (response.body.includes(secret)) failures.push(`${what}: a token secret appears in the answer`);
    };

    let sent = 0;
    while (sent < REQUESTS) {
      const sizeBefore = await api.size();
      const batch: Array<Promise<void>> = [];
      let expectedGrowth = 0;
      for (let i = 0; i < CONCURRENCY && sent < REQUESTS; i++, sent++) {
        if (random.chance(0.08)) {
          // A valid append (one event or a batch), or a retry of one already stored (200, nothing new).
          if (valid.length > 0 && random.chance(0.2)) {
            const { id, event } = random.pick(valid);
            batch.push(api.send({ payload: event }).then((r) => check(`retry of ${id}`, r, [200])));
          } else {
            const events = Array.from({ length: random.chance(0.7) ? 1 : 2 + random.int(3) }, () => {
              const id = `soak-${validSent++}`;
              return { id, event: { ...validEvent(validSent), id } };
            });
            expectedGrowth += events.length;
            const payload = events.length === 1 && random.chance(0.5) ? events[0]!.event : events.map((e) => e.event);
            batch.push(
              api.send({ payload }).then((r) => {
                check(`valid append of ${events.length}`, r, [201]);
                if (r.statusCode === 201) valid.push(...events);
              }),
            );
          }
        } else {
          const kind = pickKind();
          byKind.set(kind.name, (byKind.get(kind.name) ?? 0) + 1);
          const req = kind.make(random, context);
          batch.push(
            api.send(req).then(
              (r) => check(kind.name, r, undefined, kind.mayAnswer200),
              (error: unknown) => void failures.push(`${kind.name}: inject threw ${String(error)}`),
            ),
          );
        }
      }
      await Promise.all(batch);
      // No partial write: the ledger grew by exactly the valid events of this round.
      const sizeAfter = await api.size();
      if (sizeAfter !== sizeBefore + expectedGrowth) failures.push(`round ending at request ${sent}: size ${sizeBefore} → ${sizeAfter}, expected +${expectedGrowth}`);
      if (failures.length > 20) break;
    }
    const elapsed = Date.now() - started;

    assert.deepEqual(failures, [], `seed ${SEED}`);
    assert.equal(sent, REQUESTS);
    assert.ok(validSent > 0 && byKind.size >= kinds.length - 2, `mix: ${JSON.stringify(Object.fromEntries(byKind))}`);

    // Still healthy: a valid append answers 201.
    const final = await api.send({ payload: { ...validEvent(1), id: 'after-the-soak' } });
    assert.equal(final.statusCode, 201, final.body);

    // The ledger holds exactly the valid events: their ids, in order, and nothing else.
    assert.equal(await api.size(), initialSize + valid.length + 1);
    const storedIds: unknown[] = [];
    for await (const entry of server.deployment.store.entries(LEDGER, initialSize, Number.MAX_SAFE_INTEGER)) storedIds.push(entry.disclosures.id?.[1]);
    assert.deepEqual(storedIds.sort(), [...valid.map((v) => v.id), 'after-the-soak'].sort());
    assert.equal(await api.size(OTHER), 0, 'the other ledger is untouched');

    // Both ledgers and the system ledger of access records still verify end to end.
    const verifier = parseVerifierKey(nodeSuite, server.deployment.verifierKey);
    for (const ledger of [LEDGER, SYSTEM_LEDGER]) {
      await verifyStoredLedger(server.deployment.store, ledger, { suite: nodeSuite, verifiers: [verifier] });
    }
    const summary = [...statuses.entries()].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}×${n}`).join(' ');
    console.log(`# soak: ${REQUESTS} requests in ${elapsed} ms (seed ${SEED}); ${valid.length} valid events stored; ${summary}; kinds ${kinds.length}/${SOAK_KINDS.length}`);
  });
});
