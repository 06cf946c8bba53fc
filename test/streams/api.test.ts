/**
 * /v1/sinks through the HTTP app: admin only; a webhook's secret is accepted and never answered, logged
 * or sealed; bad definitions are refused naming the setting; pause, resume, replay, dead letters and
 * remove; the system ledger holds each change and each read; /metrics carries the lag gauges.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { parseQuery } from '../../src/core/query.js';
import { SYSTEM_LEDGER } from '../../src/core/forgetting.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import { signingKeySecretBox } from '../../src/streams/secrets.js';
import { SinkService } from '../../src/streams/service.js';
import { newWebhookSecret } from '../../src/streams/targets/webhook.js';
import { sampleEvent } from '../helpers/events.js';
import { startReceiver, until, type Receiver } from './webhook-receiver.js';

const ADMIN = 'sinks-api-admin-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'sealtrail-sinks-api-'));
let deployment: Deployment;
let app: FastifyInstance;
let sinks: SinkService;
let receiver: Receiver;
const logLines: string[] = [];
const secret = newWebhookSecret();

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const admin = as(ADMIN);

before(async () => {
  deployment = openDeployment({ dataDir: dir, name: 'sinks-api.test' });
  sinks = new SinkService({ store: deployment.store, box: signingKeySecretBox(deployment.signer), refreshMs: 200, checkMs: 100, leaseMs: 1500, log: { error: (m, d) => logLines.push(`${m} ${JSON.stringify(d)}`), warn: (m, d) => logLines.push(`${m} ${JSON.stringify(d)}`) } });
  const stream = new Writable({ write: (chunk, _encoding, done) => (logLines.push(String(chunk)), done()) });
  app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN, sinks, logger: { level: 'trace', stream } });
  await app.ready();
  await sinks.start();
  receiver = await startReceiver(secret);
});

after(async () => {
  await sinks.stop();
  await receiver.close();
  await app.close();
  await deployment.store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('/v1/sinks', () => {
  it('creates a webhook sink, never answering, logging or sealing its secret', async () => {
    await app.inject({ method: 'PUT', url: '/v1/ledgers/app', headers: admin });
    await app.inject({ method: 'POST', url: '/v1/ledgers/app/events', headers: admin, payload: [sampleEvent(1), sampleEvent(2)] });
    const created = await app.inject({ method: 'POST', url: '/v1/sinks', headers: admin, payload: { name: 'siem', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, batch_ms: 10 } });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().secrets, ['secret']);
    assert.equal(created.json().settings.url, receiver.url);
    await until(() => receiver.events.length >= 2, 'delivery');
    const answers = [
      created.body,
      (await app.inject({ method: 'GET', url: '/v1/sinks', headers: admin })).body,
      (await app.inject({ method: 'GET', url: '/v1/sinks/siem', headers: admin })).body,
      (await app.inject({ method: 'POST', url: '/v1/sinks/siem/pause', headers: admin })).body,
      (await app.inject({ method: 'POST', url: '/v1/sinks/siem/resume', headers: admin })).body,
    ];
    const key = secret.slice('whsec_'.length, 'whsec_'.length + 16);
    for (const body of answers) assert.ok(!body.includes(key), 'no answer carries the secret');
    assert.ok(logLines.length > 0 && logLines.every((line) => !line.includes(key)), 'no log line carries the secret');
    const sealed = await deployment.store.search(SYSTEM_LEDGER, { query: parseQuery('action:sink.*'), limit: 100, order: 'asc' });
    assert.ok(sealed.entries.every((e) => !JSON.stringify(e.disclosures).includes(key)), 'no sealed record carries the secret');
    assert.deepEqual(
      sealed.entries.map((e) => e.disclosures.action![1]),
      ['sink.create', 'sink.list', 'sink.describe', 'sink.pause', 'sink.resume'],
    );
    const stored = await deployment.store.sinks.getSink('siem');
    assert.ok(!Buffer.from(stored!.sealedSecrets!).toString('latin1').includes(key), 'the stored secret is sealed, not in clear');
    assert.ok(!stored!.definition.includes(key));
  });

  it('is for admins only, and refuses bad definitions naming the setting', async () => {
    const key = await app.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: { role: 'auditor', ledgers: ['*'] } });
    const auditor = as(key.json().token);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/sinks', headers: auditor })).statusCode, 403);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/sinks', headers: auditor, payload: { name: 'x', type: 'file', ledgers: ['app'], directory: '/tmp/x' } })).statusCode, 403);
    const bad = async (payload: Record<string, unknown>, pattern: RegExp) => {
      const response = await app.inject({ method: 'POST', url: '/v1/sinks', headers: admin, payload });
      assert.equal(response.statusCode, 400, response.body);
      assert.match(response.json().message, pattern);
    };
    await bad({ name: 'w', type: 'webhook', ledgers: ['app'], url: 'ftp://x', secret }, /url must be an http or https URL/);
    await bad({ name: 'w', type: 'webhook', ledgers: ['app'], url: 'https://x.test', secret: 'hunter2' }, /secret must be whsec_/);
    await bad({ name: 'w', type: 'webhook', ledgers: ['app'], url: 'https://user:pw@x.test', secret }, /must not carry credentials/);
    await bad({ name: 'w', type: 'webhook', ledgers: ['app'], url: 'https://x.test', secret, colour: 'red' }, /no setting "colour"/);
    await bad({ name: 'w', type: 'file', ledgers: ['app'], directory: '/tmp/x', query: 'actor:' }, /./);
    await bad({ name: 'w', type: 'file', ledgers: ['app'], directory: '/tmp/x', format: 'cef' }, /format must be one of json, ocsf/);
    await bad({ name: 'W!', type: 'file', ledgers: ['app'], directory: '/tmp/x' }, /./);
    const again = await app.inject({ method: 'POST', url: '/v1/sinks', headers: admin, payload: { name: 'siem', type: 'webhook', ledgers: ['app'], url: receiver.url, secret } });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().error, 'SINK_EXISTS');
    assert.equal((await app.inject({ method: 'GET', url: '/v1/sinks/nope', headers: admin })).statusCode, 404);
  });

  it('replays from an index, lists dead letters, reports lag in /metrics, and removes', async () => {
    const before = receiver.events.length;
    const replay = await app.inject({ method: 'POST', url: '/v1/sinks/siem/replay', headers: admin, payload: { ledger: 'app', from: 0 } });
    assert.equal(replay.statusCode, 200, replay.body);
    await until(() => receiver.events.length >= before + 2, 'replayed');
    assert.equal((await app.inject({ method: 'POST', url: '/v1/sinks/siem/replay', headers: admin, payload: { ledger: 'other', from: 0 } })).statusCode, 400);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/sinks/siem/replay', headers: admin, payload: { ledger: 'app', from: 99 } })).statusCode, 400);
    const letters = await app.inject({ method: 'GET', url: '/v1/sinks/siem/dead-letters', headers: admin });
    assert.deepEqual(letters.json(), { dead_letters: [] });
    assert.equal((await app.inject({ method: 'POST', url: '/v1/sinks/siem/dead-letters/7/replay', headers: admin })).statusCode, 404);
    await until(async () => /sealtrail_sink_lag_events\{sink="siem"\} 0/.test((await app.inject({ method: 'GET', url: '/metrics', headers: admin })).body), 'lag gauge');
    const removed = await app.inject({ method: 'DELETE', url: '/v1/sinks/siem', headers: admin });
    assert.deepEqual(removed.json(), { name: 'siem', removed: true });
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/sinks/siem', headers: admin })).statusCode, 404);
    assert.deepEqual((await app.inject({ method: 'GET', url: '/v1/sinks', headers: admin })).json(), { sinks: [] });
  });
});
