/**
 * The OpenAPI document against what the server does: every operation is called and the status it
 * answers must be one it documents; errors provoked on each route must be documented with their status
 * and `error` code; every error response carries the Error body with its code list; info.description
 * explains the service, authentication and errors; docs/API.md lists every code.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ERROR_CODES, type ErrorCode } from '../../src/server/schemas.js';
import { sampleEvent } from '../helpers/events.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { plantAlert } from '../detection/engine-fixtures.js';

interface Operation {
  responses: Record<string, { description?: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
  security?: unknown[];
}
type Document = { info: { description: string }; paths: Record<string, Record<string, Operation>> };

/** A call to make, named by the documented operation it exercises ("POST /v1/holds"). */
interface Call {
  operation: string;
  request: InjectOptions;
}

let server: TestServer;
let app: FastifyInstance;
let doc: Document;
let writerToken: string;
let holdId: string;
let revocableKey: string;
let alertId: string;
let backfillId: string;

const SIGMA_RULE = [
  'title: OpenAPI test rule',
  'id: openapi-rule',
  'logsource:',
  '  product: sealtrail',
  'detection:',
  '  selection:',
  '    action: file.download',
  '  condition: selection',
  'level: low',
].join('\n');
let sinkDirectory: string;
let deadLetter: number;

const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
const as = (token: string) => ({ authorization: `Bearer ${token}` });

/** The documented operation of a concrete method and URL, by matching the path templates. */
function operationOf(method: string, url: string): string | undefined {
  const path = url.split('?')[0]!;
  for (const template of Object.keys(doc.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(path) && doc.paths[template]![method.toLowerCase()]) return `${method.toUpperCase()} ${template}`;
  }
  return undefined;
}

function documented(operation: string): Operation {
  const [method, path] = operation.split(' ') as [string, string];
  const op = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(op, `${operation} is in the document`);
  return op;
}

function errorSchema(op: Operation, status: number): Record<string, any> | undefined {
  const response = op.responses[String(status)];
  return response?.content?.['application/json']?.schema as Record<string, any> | undefined;
}

before(async () => {
  server = await buildTestServer();
  app = server.app;
  doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Document;
  const writer = await app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: { role: 'writer', ledgers: ['*'] } });
  writerToken = writer.json().token;
  const revocable = await app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: { role: 'reader', ledgers: ['*'] } });
  revocableKey = revocable.json().id;
  await app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers: admin() });
  await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: admin(), payload: [sampleEvent(1), sampleEvent(2), sampleEvent(3)] });
  const hold = await app.inject({ method: 'POST', url: '/v1/holds', headers: admin(), payload: { reason: 'incident 7', owner: 'legal', query: 'actor.id:u-1' } });
  holdId = hold.json().id;
  alertId = (await plantAlert(server.deployment.store)).id;
  backfillId = (await app.inject({ method: 'POST', url: '/v1/detection/backfills', headers: admin(), payload: { ledger: 'audit' } })).json().id;
  // A file sink (no receiver needed) with a dead letter, so that its replay can succeed.
  sinkDirectory = mkdtempSync(join(tmpdir(), 'sealtrail-openapi-sink-'));
  await app.inject({ method: 'POST', url: '/v1/sinks', headers: admin(), payload: { name: 'disk', type: 'file', ledgers: ['audit'], directory: sinkDirectory } });
  deadLetter = await server.deployment.store.sinks.addDeadLetter({ sink: 'disk', ledger: 'audit', from: 0, to: 1, indexes: [0], previous: null, attempts: 8, error: 'HTTP 400', createdAtMicros: 1 });
});
after(() => server.cleanup());

/** One successful call per operation; the test fails when an operation has none. */
function successCalls(): Call[] {
  const calls: Array<Omit<Call, 'operation'>> = [
    { request: { method: 'GET', url: '/healthz' } },
    { request: { method: 'GET', url: '/readyz' } },
    { request: { method: 'GET', url: '/metrics', headers: admin() } },
    { request: { method: 'PUT', url: '/v1/ledgers/fresh', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers', headers: admin() } },
    { request: { method: 'POST', url: '/v1/ledgers/audit/events', headers: admin(), payload: sampleEvent(4) } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/events?q=action:auth.login', headers: admin() } },
    { request: { method: 'GET', url: '/v1/verifier-key' } },
    { request: { method: 'POST', url: '/v1/session', payload: { api_key: server.adminToken } } },
    { request: { method: 'GET', url: '/v1/session', headers: admin() } },
    { request: { method: 'DELETE', url: '/v1/session', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/checkpoint', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/entries/0', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/proof/inclusion?index=0', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/proof/consistency?from=1', headers: admin() } },
    { request: { method: 'POST', url: '/v1/keys', headers: admin(), payload: { role: 'reader', ledgers: ['audit'] } } },
    { request: { method: 'GET', url: '/v1/keys', headers: admin() } },
    { request: { method: 'DELETE', url: `/v1/keys/${revocableKey}`, headers: admin() } },
    { request: { method: 'GET', url: '/v1/events?q=outcome:success', headers: admin() } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/stats?by=action', headers: admin() } },
    { request: { method: 'GET', url: '/v1/actors/u-1/timeline?from=2026-01-01T00:00:00Z', headers: admin() } },
    { request: { method: 'GET', url: '/v1/retention/policy', headers: admin() } },
    { request: { method: 'PUT', url: '/v1/retention/policy', headers: admin(), payload: { rules: [{ id: 'default', retain: '7y' }] } } },
    { request: { method: 'POST', url: '/v1/retention/run?dry_run=1', headers: admin() } },
    { request: { method: 'GET', url: '/v1/holds', headers: admin() } },
    { request: { method: 'POST', url: '/v1/holds', headers: admin(), payload: { reason: 'incident 8', owner: 'legal' } } },
    { request: { method: 'POST', url: `/v1/holds/${holdId}/release`, headers: admin(), payload: { reason: 'closed' } } },
    { request: { method: 'POST', url: '/v1/erasures', headers: admin(), payload: { subject: 'u-9', dry_run: true } } },
    { request: { method: 'GET', url: '/v1/ledgers/audit/export?format=jsonl', headers: admin() } },
    { request: { method: 'POST', url: '/v1/ledgers/audit/bundle', headers: admin(), payload: {} } },
    { request: { method: 'GET', url: '/v1/integrity', headers: admin() } },
    { request: { method: 'POST', url: '/v1/sinks', headers: admin(), payload: { name: 'disk2', type: 'file', ledgers: ['audit'], directory: sinkDirectory } } },
    { request: { method: 'GET', url: '/v1/sinks', headers: admin() } },
    { request: { method: 'GET', url: '/v1/sinks/disk', headers: admin() } },
    { request: { method: 'POST', url: '/v1/sinks/disk/pause', headers: admin() } },
    { request: { method: 'POST', url: '/v1/sinks/disk/resume', headers: admin() } },
    { request: { method: 'POST', url: '/v1/sinks/disk/replay', headers: admin(), payload: { ledger: 'audit', from: 0 } } },
    { request: { method: 'GET', url: '/v1/sinks/disk/dead-letters', headers: admin() } },
    { request: { method: 'POST', url: `/v1/sinks/disk/dead-letters/${deadLetter}/replay`, headers: admin() } },
    { request: { method: 'DELETE', url: '/v1/sinks/disk2', headers: admin() } },
    { request: { method: 'GET', url: '/v1/reports/soc2?from=2026-01-01&to=2027-01-01', headers: admin() } },
    { request: { method: 'GET', url: `/v1/reports/sealed/${'0'.repeat(64)}`, headers: admin() } },
    { request: { method: 'GET', url: '/v1/certificates/acme?from=2026-01-01&to=2027-01-01', headers: admin() } },
    { request: { method: 'POST', url: '/v1/logs', headers: { ...admin(), 'x-sealtrail-ledger': 'audit' }, payload: { resourceLogs: [] } } },
    { request: { method: 'GET', url: '/v1/alerts?status=open&limit=10', headers: admin() } },
    { request: { method: 'GET', url: `/v1/alerts/${alertId}`, headers: admin() } },
    { request: { method: 'POST', url: `/v1/alerts/${alertId}/acknowledge`, headers: admin() } },
    { request: { method: 'POST', url: `/v1/alerts/${alertId}/close`, headers: admin(), payload: { reason: 'test' } } },
    { request: { method: 'GET', url: '/v1/detection', headers: admin() } },
    { request: { method: 'POST', url: '/v1/detection/rules', headers: admin(), payload: { yaml: SIGMA_RULE } } },
    { request: { method: 'POST', url: '/v1/detection/rules/openapi-rule/disable', headers: admin() } },
    { request: { method: 'POST', url: '/v1/detection/rules/openapi-rule/enable', headers: admin() } },
    { request: { method: 'DELETE', url: '/v1/detection/rules/openapi-rule', headers: admin() } },
    { request: { method: 'GET', url: '/v1/detection/departures', headers: admin() } },
    { request: { method: 'PUT', url: '/v1/detection/departures', headers: admin(), payload: { departures: [{ actor_id: 'u-1', ends_at: '2026-12-31' }] } } },
    { request: { method: 'POST', url: '/v1/detection/backfills', headers: admin(), payload: { ledger: 'audit', from: 1 } } },
    { request: { method: 'GET', url: `/v1/detection/backfills/${backfillId}`, headers: admin() } },
  ];
  return calls.map((call) => {
    const operation = operationOf(call.request.method as string, call.request.url as string);
    assert.ok(operation, `${call.request.method} ${call.request.url} matches a documented operation`);
    return { ...call, operation };
  });
}

describe('OpenAPI document', () => {
  it('documents the status every operation answers on success (POST /v1/holds answers 201)', async () => {
    const calls = successCalls();
    const exercised = new Set(calls.map((c) => c.operation));
    const all = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(all.filter((op) => !exercised.has(op)), [], 'every documented operation is called here');
    for (const call of calls) {
      const response = await app.inject(call.request);
      assert.ok(response.statusCode < 300, `${call.operation}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      assert.ok(
        String(response.statusCode) in documented(call.operation).responses,
        `${call.operation} answered ${response.statusCode}, documented ${Object.keys(documented(call.operation).responses).join(', ')}`,
      );
    }
    assert.ok('201' in documented('POST /v1/holds').responses);
    assert.ok(!('200' in documented('POST /v1/holds').responses), 'no success status it never answers');
  });

  it('gives every error response the Error body with the codes of its status', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const status of Object.keys(op.responses).map(Number).filter((s) => s >= 400)) {
          if (path === '/readyz' && status === 503) continue; // readiness answers its own body, not an error
          const schema = errorSchema(op, status);
          assert.ok(schema, `${method} ${path} ${status} has a JSON schema`);
          assert.deepEqual(schema.required, ['error', 'message'], `${method} ${path} ${status}`);
          const codes = schema.properties.error.enum as ErrorCode[];
          assert.ok(codes.length > 0, `${method} ${path} ${status} lists its codes`);
          for (const code of codes) {
            assert.equal(ERROR_CODES[code]?.status, status, `${method} ${path}: ${code} under ${status}`);
            assert.match(op.responses[String(status)]!.description!, new RegExp(`\`${code}\``), `${method} ${path} ${status} explains ${code}`);
          }
        }
        const keyed = path.startsWith('/v1/') && path !== '/v1/verifier-key';
        if (keyed) {
          for (const status of [401, 429, 500]) assert.ok(String(status) in op.responses, `${method} ${path} documents ${status}`);
        }
      }
    }
  });

  it('documents the status and code of the errors each route answers', async () => {
    const longAgo = { rules: [{ id: 'short', retain: '30d' }] };
    const calls: Call[] = [
      // Without a token, every keyed operation answers 401 UNAUTHENTICATED.
      ...successCalls()
        // Sign-in takes its key in the body, not a header.
        .filter((c) => c.operation.includes(' /v1/') && !c.operation.endsWith('/v1/verifier-key') && c.operation !== 'POST /v1/session')
        .map((c) => ({ operation: c.operation, request: { ...c.request, headers: {} } })),
      { operation: 'GET /metrics', request: { method: 'GET', url: '/metrics' } },
      { operation: 'GET /metrics', request: { method: 'GET', url: '/metrics', headers: as(writerToken) } },
      { operation: 'PUT /v1/ledgers/{ledger}', request: { method: 'PUT', url: '/v1/ledgers/x', headers: as(writerToken) } },
      { operation: 'PUT /v1/ledgers/{ledger}', request: { method: 'PUT', url: '/v1/ledgers/-bad', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}', request: { method: 'GET', url: '/v1/ledgers/nope', headers: admin() } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/audit/events', headers: admin(), payload: { nope: 1 } } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/nope/events', headers: admin(), payload: sampleEvent(5) } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/audit/events', headers: { ...admin(), 'content-type': 'application/json' }, payload: '{"a":' } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/audit/events', headers: { ...admin(), 'content-type': 'text/plain' }, payload: 'hello' } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/sealtrail-system/events', headers: admin(), payload: sampleEvent(6) } },
      { operation: 'POST /v1/ledgers/{ledger}/events', request: { method: 'POST', url: '/v1/ledgers/audit/events', headers: admin(), payload: { ...sampleEvent(1), action: 'other.action' } } },
      { operation: 'GET /v1/ledgers/{ledger}/events', request: { method: 'GET', url: '/v1/ledgers/audit/events?q=action:auth.login', headers: as(writerToken) } },
      { operation: 'GET /v1/ledgers/{ledger}/events', request: { method: 'GET', url: '/v1/ledgers/nope/events', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/events', request: { method: 'GET', url: '/v1/ledgers/audit/events?q=bogus:1', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/checkpoint', request: { method: 'GET', url: '/v1/ledgers/audit/checkpoint?size=99', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/entries/{index}', request: { method: 'GET', url: '/v1/ledgers/audit/entries/99', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/proof/inclusion', request: { method: 'GET', url: '/v1/ledgers/audit/proof/inclusion?index=99', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/proof/consistency', request: { method: 'GET', url: '/v1/ledgers/nope/proof/consistency?from=1', headers: admin() } },
      { operation: 'POST /v1/keys', request: { method: 'POST', url: '/v1/keys', headers: as(writerToken), payload: { role: 'reader', ledgers: ['*'] } } },
      { operation: 'DELETE /v1/keys/{id}', request: { method: 'DELETE', url: '/v1/keys/nosuchkey', headers: admin() } },
      { operation: 'POST /v1/session', request: { method: 'POST', url: '/v1/session', payload: { api_key: 'st_abcd1234.nope' } } },
      { operation: 'POST /v1/session', request: { method: 'POST', url: '/v1/session', payload: { api_key: 7 } } },
      { operation: 'GET /v1/session', request: { method: 'GET', url: '/v1/session', headers: { cookie: 'sealtrail_session=sts_nope' } } },
      { operation: 'GET /v1/events', request: { method: 'GET', url: '/v1/events?q=outcome:success', headers: as(writerToken) } },
      { operation: 'GET /v1/ledgers/{ledger}/stats', request: { method: 'GET', url: '/v1/ledgers/audit/stats?by=nothing', headers: admin() } },
      { operation: 'PUT /v1/retention/policy', request: { method: 'PUT', url: '/v1/retention/policy', headers: admin(), payload: longAgo } },
      { operation: 'GET /v1/retention/policy', request: { method: 'GET', url: '/v1/retention/policy', headers: as(writerToken) } },
      { operation: 'POST /v1/retention/run', request: { method: 'POST', url: '/v1/retention/run', headers: as(writerToken) } },
      { operation: 'GET /v1/holds', request: { method: 'GET', url: '/v1/holds', headers: as(writerToken) } },
      { operation: 'POST /v1/holds', request: { method: 'POST', url: '/v1/holds', headers: admin(), payload: { reason: 'r' } } },
      { operation: 'POST /v1/holds/{id}/release', request: { method: 'POST', url: '/v1/holds/nosuchhold/release', headers: admin(), payload: { reason: 'r' } } },
      { operation: 'POST /v1/erasures', request: { method: 'POST', url: '/v1/erasures', headers: as(writerToken), payload: { subject: 'u-1', dry_run: true } } },
      { operation: 'GET /v1/ledgers/{ledger}/export', request: { method: 'GET', url: '/v1/ledgers/audit/export?format=xml', headers: admin() } },
      { operation: 'GET /v1/ledgers/{ledger}/export', request: { method: 'GET', url: '/v1/ledgers/audit/export', headers: as(writerToken) } },
      { operation: 'POST /v1/ledgers/{ledger}/bundle', request: { method: 'POST', url: '/v1/ledgers/nope/bundle', headers: admin(), payload: {} } },
      { operation: 'POST /v1/ledgers/{ledger}/bundle', request: { method: 'POST', url: '/v1/ledgers/audit/bundle', headers: admin(), payload: { checkpoints: ['not a note'] } } },
      { operation: 'GET /v1/integrity', request: { method: 'GET', url: '/v1/integrity', headers: as(writerToken) } },
      { operation: 'POST /v1/sinks', request: { method: 'POST', url: '/v1/sinks', headers: admin(), payload: { name: 'disk', type: 'file', ledgers: ['audit'], directory: '/tmp/x' } } },
      { operation: 'POST /v1/sinks', request: { method: 'POST', url: '/v1/sinks', headers: as(writerToken), payload: { name: 'x', type: 'file', ledgers: ['audit'], directory: '/tmp/x' } } },
      { operation: 'GET /v1/sinks/{name}', request: { method: 'GET', url: '/v1/sinks/nope', headers: admin() } },
      { operation: 'GET /v1/alerts', request: { method: 'GET', url: '/v1/alerts', headers: as(writerToken) } },
      { operation: 'GET /v1/alerts', request: { method: 'GET', url: '/v1/alerts?ledger=nope', headers: admin() } },
      { operation: 'GET /v1/alerts', request: { method: 'GET', url: '/v1/alerts?cursor=abc', headers: admin() } },
      { operation: 'GET /v1/alerts/{id}', request: { method: 'GET', url: '/v1/alerts/al_nosuchalert', headers: admin() } },
      { operation: 'POST /v1/alerts/{id}/close', request: { method: 'POST', url: `/v1/alerts/${alertId}/close`, headers: admin(), payload: {} } },
      { operation: 'GET /v1/detection', request: { method: 'GET', url: '/v1/detection', headers: as(writerToken) } },
      { operation: 'POST /v1/detection/rules', request: { method: 'POST', url: '/v1/detection/rules', headers: admin(), payload: { yaml: 'title: x\nid: y\ndetection: [' } } },
      { operation: 'POST /v1/detection/rules', request: { method: 'POST', url: '/v1/detection/rules', headers: as(writerToken), payload: { yaml: SIGMA_RULE } } },
      { operation: 'DELETE /v1/detection/rules/{id}', request: { method: 'DELETE', url: '/v1/detection/rules/nope', headers: admin() } },
      { operation: 'POST /v1/detection/rules/{id}/disable', request: { method: 'POST', url: '/v1/detection/rules/nope/disable', headers: admin() } },
      { operation: 'PUT /v1/detection/departures', request: { method: 'PUT', url: '/v1/detection/departures', headers: admin(), payload: { departures: [{ actor_id: 'u', ends_at: 'soon' }] } } },
      { operation: 'POST /v1/detection/backfills', request: { method: 'POST', url: '/v1/detection/backfills', headers: admin(), payload: { ledger: 'nope' } } },
      { operation: 'GET /v1/detection/backfills/{id}', request: { method: 'GET', url: '/v1/detection/backfills/bf_nope', headers: admin() } },
    ];
    for (const call of calls) {
      const response = await app.inject(call.request);
      const label = `${call.request.method} ${call.request.url} → ${response.statusCode} ${response.body.slice(0, 160)}`;
      assert.ok(response.statusCode >= 400, label);
      const code = response.json().error as string;
      const schema = errorSchema(documented(call.operation), response.statusCode);
      assert.ok(schema, `${label}: status not documented for ${call.operation}`);
      assert.ok((schema.properties.error.enum as string[]).includes(code), `${label}: ${code} not documented for ${call.operation}`);
    }
  });

  it('keeps error details in bodies serialized through the documented schema', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: admin(), payload: [sampleEvent(7), { nope: 1 }] });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().error, 'INVALID_EVENT');
    assert.match(response.json().path, /^\/1/, 'the JSON Pointer detail survives serialization');
  });

  it('describes the service, authentication, errors and the docs in info.description', () => {
    const text = doc.info.description;
    assert.match(text, /tamper-evident/i);
    assert.match(text, /Authorization: Bearer/);
    assert.match(text, /\/metrics/);
    assert.match(text, /\{"error": CODE, "message"/);
    for (const code of Object.keys(ERROR_CODES)) assert.match(text, new RegExp(`\`${code}\``), `info.description names ${code}`);
    for (const page of ['docs/API.md', 'docs/SEARCH.md', 'docs/FORMAT.md', 'docs/SECURITY.md']) assert.ok(text.includes(page), page);
  });

  it('has docs/API.md list every error code with its status', () => {
    const api = readFileSync('docs/API.md', 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.match(api, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `docs/API.md lists ${status} ${code}`);
    }
  });
});
