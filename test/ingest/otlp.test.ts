/**
 * OTLP/HTTP logs: the real OpenTelemetry JS SDK (sdk-logs with the OTLP HTTP JSON and protobuf exporters)
 * exports to a listening server, and the events are then searched in their ledger. Hand-made requests
 * cover what the SDK never sends: partial rejection, scope violations, gzip bombs, malformed bodies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { ExportLogsServiceRequest, ExportLogsServiceResponse, RpcStatus } from '../../src/ingest/otlp/proto.js';

let server: TestServer;
let url: string;
let writerToken: string;
const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

before(async () => {
  server = await buildTestServer({ bodyLimit: 1024 * 1024 });
  url = await server.app.listen({ port: 0, host: '127.0.0.1' });
  for (const ledger of ['otel', 'otel-proto', 'other']) await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: admin() });
  const key = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: { role: 'writer', ledgers: ['otel', 'otel-proto'], tenants: ['acme'] } });
  writerToken = key.json().token;
});
after(() => server.cleanup());

async function search(ledger: string, q = '') {
  const response = await server.app.inject({ method: 'GET', url: `/v1/ledgers/${ledger}/events?order=asc&limit=100&q=${encodeURIComponent(q)}`, headers: admin() });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().events as Array<{ event: Record<string, any> }>;
}

async function exportWithSdk(exporter: JsonExporter | ProtoExporter, ledger: string) {
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'billing-api', 'sealtrail.ledger': ledger, 'deployment.environment': 'prod' }),
    processors: [new BatchLogRecordProcessor({ exporter })],
  });
  const logger = provider.getLogger('audit', '1.2.0');
  logger.emit({
    eventName: 'invoice.approve',
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: 'alice approved invoice 42',
    timestamp: new Date('2026-11-30T10:00:00.123Z'),
    attributes: {
      'user.id': 'alice', 'user.name': 'Alice A.', 'client.address': '203.0.113.9', 'user_agent.original': 'curl/8.5',
      'session.id': 'sess-1', 'sealtrail.tenant': 'acme', 'sealtrail.category': 'update', 'invoice.amount': 1200,
      'sealtrail.target.type': 'invoice', 'sealtrail.target.id': '42',
    },
  });
  logger.emit({ severityNumber: SeverityNumber.ERROR, body: { reason: 'card declined', code: 51 }, attributes: { 'enduser.id': 'bob', 'sealtrail.tenant': 'acme', 'event.name': 'payment.capture' } });
  await provider.forceFlush();
  await provider.shutdown();
}

describe('OTLP/HTTP logs from the OpenTelemetry SDK', () => {
  it('maps records exported as OTLP JSON to searchable events', async () => {
    await exportWithSdk(new JsonExporter({ url: `${url}/v1/logs`, headers: { authorization: `Bearer ${writerToken}` } }), 'otel');
    const events = await search('otel');
    assert.equal(events.length, 2);
    const [approve, capture] = events.map((e) => e.event);
    assert.deepEqual(approve!.actor, { type: 'user', id: 'alice', name: 'Alice A.', session_id: 'sess-1' });
    assert.equal(approve!.action, 'invoice.approve');
    assert.equal(approve!.category, 'update');
    assert.equal(approve!.outcome, 'success');
    assert.equal(approve!.tenant, 'acme');
    assert.equal(approve!.occurred_at, '2026-11-30T10:00:00.123000000Z');
    assert.deepEqual(approve!.origin, { ip: '203.0.113.9', user_agent: 'curl/8.5' });
    assert.deepEqual(approve!.targets, [{ type: 'invoice', id: '42' }]);
    assert.equal(approve!.metadata.message, 'alice approved invoice 42');
    assert.equal(approve!.metadata['invoice.amount'], 1200);
    assert.equal(approve!.metadata['service.name'], 'billing-api');
    assert.equal(approve!.metadata['resource.deployment.environment'], 'prod');
    assert.equal(approve!.metadata['otel.scope.name'], 'audit');
    assert.equal(capture!.outcome, 'failure', 'ERROR severity without event.outcome is a failure');
    assert.equal(capture!.actor.id, 'bob');
    assert.deepEqual(capture!.metadata.body, { reason: 'card declined', code: 51 });
    assert.equal((await search('otel', 'actor:alice action:invoice.approve')).length, 1);
  });

  it('maps records exported as protobuf, gzip-compressed', async () => {
    await exportWithSdk(new ProtoExporter({ url: `${url}/v1/logs`, headers: { authorization: `Bearer ${writerToken}` }, compression: 'gzip' as never }), 'otel-proto');
    const events = await search('otel-proto', 'ip:203.0.113.9');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.event.action, 'invoice.approve');
    assert.equal(events[0]!.event.metadata.severity_text, 'INFO');
    assert.equal((await search('otel-proto')).length, 2);
  });
});

const record = (attributes: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  timeUnixNano: '1764496800000000000',
  body: { stringValue: 'x' },
  attributes: Object.entries(attributes).map(([key, value]) => ({ key, value: { stringValue: value } })),
  ...extra,
});
const jsonRequest = (records: unknown[], resource: Record<string, string> = { 'sealtrail.ledger': 'otel' }) => ({
  resourceLogs: [{ resource: { attributes: Object.entries(resource).map(([key, value]) => ({ key, value: { stringValue: value } })) }, scopeLogs: [{ scope: { name: 's' }, logRecords: records }] }],
});
const post = (payload: unknown, headers: Record<string, string> = {}) =>
  server.app.inject({ method: 'POST', url: '/v1/logs', headers: { authorization: `Bearer ${writerToken}`, 'content-type': 'application/json', ...headers }, payload: payload as string });

describe('OTLP/HTTP logs: hostile and partial requests', () => {
  it('stores what maps and answers partialSuccess for the rest', async () => {
    const before = (await search('otel')).length;
    const response = await post(jsonRequest([
      record({ 'user.id': 'carol', 'sealtrail.tenant': 'acme' }, { traceId: '5b8efff798038103d269b633813fc60c', timeUnixNano: '1764496800000000001' }),
      record({ 'sealtrail.tenant': 'acme' }), // no actor and no service.name
      record({ 'user.id': 'dave', 'sealtrail.tenant': 'acme', 'event.name': '!!!' }),
    ]));
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.partialSuccess.rejectedLogRecords, '2');
    assert.match(body.partialSuccess.errorMessage, /no actor/);
    const after = await search('otel');
    assert.equal(after.length, before + 1);
    assert.equal(after.at(-1)!.event.metadata.trace_id, '5b8efff798038103d269b633813fc60c');
  });

  it('seals a retried request once (records with a timestamp carry a digest key)', async () => {
    const payload = jsonRequest([record({ 'user.id': 'erin', 'sealtrail.tenant': 'acme' }, { timeUnixNano: '1764496800000000777' })]);
    assert.equal((await post(payload)).statusCode, 200);
    assert.equal((await post(payload)).statusCode, 200);
    assert.equal((await search('otel', 'actor:erin')).length, 1);
  });

  it('takes the ledger from X-Sealtrail-Ledger when the resource names none, and refuses a ledger outside the key', async () => {
    const ok = await post(jsonRequest([record({ 'user.id': 'frank', 'sealtrail.tenant': 'acme' })], { 'service.name': 'x' }), { 'x-sealtrail-ledger': 'otel-proto' });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal((await search('otel-proto', 'actor:frank')).length, 1);
    const outside = await post(jsonRequest([record({ 'user.id': 'gina', 'sealtrail.tenant': 'acme' })], { 'sealtrail.ledger': 'other' }));
    assert.equal(outside.statusCode, 404);
    const none = await post(jsonRequest([record({ 'user.id': 'gina', 'sealtrail.tenant': 'acme' })], {}));
    assert.equal(none.json().partialSuccess.rejectedLogRecords, '1');
    assert.match(none.json().partialSuccess.errorMessage, /no ledger/);
  });

  it('refuses the whole request when one record names a tenant outside the key, storing nothing', async () => {
    const before = (await search('otel')).length;
    const response = await post(jsonRequest([record({ 'user.id': 'hank', 'sealtrail.tenant': 'acme' }), record({ 'user.id': 'ivan', 'sealtrail.tenant': 'globex' })]));
    assert.equal(response.statusCode, 403);
    assert.equal((await search('otel')).length, before);
  });

  it('refuses a gzip bomb by its inflated size, and a body that is not gzip', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 100 * 1024);
    const refused = await post(bomb, { 'content-encoding': 'gzip' });
    assert.equal(refused.statusCode, 413);
    assert.equal(refused.json().error, 'BODY_TOO_LARGE');
    assert.equal((await post(Buffer.from('not gzip'), { 'content-encoding': 'gzip' })).statusCode, 400);
    assert.equal((await post('{}', { 'content-encoding': 'br' })).statusCode, 415);
  });

  it('answers protobuf errors as google.rpc.Status and protobuf results as ExportLogsServiceResponse', async () => {
    const bad = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff]), { 'content-type': 'application/x-protobuf' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.headers['content-type'], 'application/x-protobuf');
    const status = RpcStatus.toObject(RpcStatus.decode(bad.rawPayload)) as { code: number; message: string };
    assert.equal(status.code, 3);
    assert.match(status.message, /ExportLogsServiceRequest/);
    const message = ExportLogsServiceRequest.fromObject(jsonRequest([record({ 'sealtrail.tenant': 'acme' })]));
    const partial = await post(Buffer.from(ExportLogsServiceRequest.encode(message).finish()), { 'content-type': 'application/x-protobuf' });
    assert.equal(partial.statusCode, 200);
    const decoded = ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(partial.rawPayload), { longs: String }) as { partialSuccess: { rejectedLogRecords: string } };
    assert.equal(decoded.partialSuccess.rejectedLogRecords, '1');
  });

  it('refuses malformed JSON, a body that is not a request, and unauthenticated calls', async () => {
    assert.equal((await post('{"resourceLogs":')).json().error, 'MALFORMED_JSON');
    assert.equal((await post('{"resourceLogs":{}}')).statusCode, 400);
    assert.equal((await post('[1]')).statusCode, 400);
    const anonymous = await server.app.inject({ method: 'POST', url: '/v1/logs', headers: { 'content-type': 'application/json' }, payload: '{}' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal((await post('x', { 'content-type': 'text/plain' })).statusCode, 415);
  });

  it('keeps an oversized record within the event limits, naming what it dropped', async () => {
    const attributes: Record<string, string> = { 'user.id': 'judy', 'sealtrail.tenant': 'acme' };
    for (let i = 0; i < 100; i++) attributes[`attr.${i}`] = 'v'.repeat(300);
    const response = await post(jsonRequest([record(attributes)]));
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().partialSuccess, undefined);
    const [stored] = await search('otel', 'actor:judy');
    assert.ok(stored!.event.metadata.dropped_fields.length > 0);
    assert.ok(JSON.stringify(stored!.event).length <= 16 * 1024);
  });
});
