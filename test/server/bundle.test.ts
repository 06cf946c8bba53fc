/**
 * POST /v1/ledgers/{ledger}/bundle: the archive verifies offline against the deployment's key, honours
 * withheld fields, tenant scope and roles, proves consistency with supplied checkpoints in both
 * directions, refuses checkpoints that contradict the ledger (409), and is recorded in the system ledger.
 *
 * Ledger "audit": two requests of 150 events (checkpoints at 150 and 300). A query the store refuses
 * and a failure after the first byte are checked on both stores.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { portableSigner } from '../../src/core/crypto.js';
import { verifyBundle, type VerifiedBundleEvent } from '../../src/core/bundle/index.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import type { Store } from '../../src/store/store.js';
import { buildApp } from '../../src/server/app.js';
import { formatVerifierKey } from '../../src/core/note.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { buildTestServer, TEST_ADMIN_TOKEN, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

let server: TestServer;
let cp150: string;
let cp300: string;
const auth = (token = server.adminToken) => ({ authorization: `Bearer ${token}` });

const bundle = (body: unknown, token?: string, ledger = 'audit') =>
  server.app.inject({ method: 'POST', url: `/v1/ledgers/${ledger}/bundle`, headers: auth(token), payload: body as object });

function verified(archive: Buffer, options: { requiredCheckpoints?: string[] } = {}) {
  const events: VerifiedBundleEvent[] = [];
  const report = verifyBundle({ files: new Uint8Array(archive), verifierKey: server.deployment.verifierKey, suite: nodeSuite, onEvent: (e) => events.push(e), ...options });
  assert.deepEqual(report.problems, []);
  return { report, events };
}

/** The newest system-ledger records matching `q`, newest first. */
async function systemRecords(q: string, target = server): Promise<any[]> {
  const res = await target.app.inject({ method: 'GET', url: `/v1/ledgers/${SYSTEM_LEDGER}/events?q=${encodeURIComponent(q)}&limit=5`, headers: { authorization: `Bearer ${target.adminToken}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().events.map((e: { event: unknown }) => e.event);
}

/**
 * Ledger "big" of 1,100 events (two store pages); the store's second page fails, as a disk or a time
 * budget could: the response has started (200), so the archive must be cut short (no central directory)
 * and a second access record must say the export failed.
 */
async function failMidStream(target: { app: TestServer['app']; adminToken: string; store: Store; verifierKey: string }): Promise<void> {
  const headers = { authorization: `Bearer ${target.adminToken}` };
  await target.app.inject({ method: 'PUT', url: '/v1/ledgers/big', headers });
  for (const offset of [0, 1000]) {
    const res = await target.app.inject({ method: 'POST', url: '/v1/ledgers/big/events', headers, payload: Array.from({ length: offset === 0 ? 1000 : 100 }, (_, i) => sampleEvent(offset + i)) });
    assert.equal(res.statusCode, 201, res.body);
  }
  const original = target.store.search;
  let pages = 0;
  target.store.search = async function (this: Store, ledger, request) {
    if (ledger === 'big' && ++pages === 2) throw Object.assign(new Error('I/O error'), { code: 'EIO' });
    return original.call(this, ledger, request);
  };
  try {
    const res = await target.app.inject({ method: 'POST', url: '/v1/ledgers/big/bundle', headers, payload: {}, payloadAsStream: true });
    assert.equal(res.statusCode, 200);
    // What a client holds when the connection drops: every byte that arrived.
    const received: Buffer[] = [];
    let cut = false;
    try {
      for await (const chunk of res.stream()) received.push(chunk as Buffer);
    } catch {
      cut = true;
    }
    assert.equal(pages, 2, 'the second page was asked for');
    const archive = Buffer.concat(received);
    assert.ok(cut && archive.length > 0, 'the client got the first part (events of the first page), then the connection broke');
    const report = verifyBundle({ files: new Uint8Array(archive), verifierKey: target.verifierKey, suite: nodeSuite });
    assert.equal(report.ok, false);
    assert.match(report.problems[0]!.message, /archive: not a readable zip archive \(no end of central directory record/);
  } finally {
    target.store.search = original;
  }
  const reasons: string[] = [];
  for (let wait = 0; wait < 50 && reasons.length === 0; wait++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const record of await systemRecords('action:bundle.export outcome:failure', { app: target.app, adminToken: target.adminToken } as TestServer)) {
      if (record.targets?.[0]?.id === 'big' && record.metadata.stage === 'streaming') reasons.push(record.outcome_reason);
    }
  }
  assert.deepEqual(reasons, ['failed while streaming (EIO): the client received a truncated archive']);
}

before(async () => {
  server = await buildTestServer();
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers: auth() });
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/empty', headers: auth() });
  for (const offset of [0, 150]) {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/ledgers/audit/events',
      headers: auth(),
      payload: Array.from({ length: 150 }, (_, i) => sampleEvent(offset + i)),
    });
    assert.equal(res.statusCode, 201);
  }
  cp150 = (await server.app.inject({ method: 'GET', url: '/v1/ledgers/audit/checkpoint?size=150', headers: auth() })).body;
  cp300 = (await server.app.inject({ method: 'GET', url: '/v1/ledgers/audit/checkpoint', headers: auth() })).body;
  assert.match(cp300, /\n300\n/);
});
after(() => server.cleanup());

describe('POST /v1/ledgers/{ledger}/bundle', () => {
  it('streams a zip of the selected events that verifies offline, with withheld fields and an older checkpoint', async () => {
    const res = await bundle({ q: 'action:file.download', withhold: ['origin.ip', 'actor.name'], checkpoints: [cp150] });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['content-type'], 'application/zip');
    assert.match(String(res.headers['content-disposition']), /attachment; filename="audit-300-\d{4}-\d{2}-\d{2}\.zip"/);
    const { report, events } = verified(res.rawPayload, { requiredCheckpoints: [cp150] });
    assert.equal(report.verifiedEvents, 100);
    assert.deepEqual(events.map((e) => e.index), Array.from({ length: 100 }, (_, i) => i * 3));
    assert.ok(events.every((e) => e.event.action === 'file.download' && (e.event.origin as any).ip === undefined && (e.event.actor as any).name === undefined));
    assert.deepEqual(report.manifest!.withheld, ['actor.name', 'origin.ip']);
    assert.equal(report.manifest!.query, 'action:file.download');
    assert.deepEqual(report.consistentWith, [{ size: 150, relation: 'older' }]);
  });

  it('proves against an older stored checkpoint, consistent with a newer one the auditor holds', async () => {
    const res = await bundle({ q: 'actor:u-4', size: 150, checkpoints: [cp300, cp150] });
    assert.equal(res.statusCode, 200, res.body);
    const { report, events } = verified(res.rawPayload);
    assert.equal(report.checkpoint!.size, 150);
    assert.ok(events.length > 0 && events.every((e) => e.index < 150 && (e.event.actor as any).id === 'u-4'));
    assert.deepEqual(report.consistentWith, [{ size: 300, relation: 'newer' }, { size: 150, relation: 'same' }]);
  });

  it('bundles only the tenants of a tenant-scoped key, and refuses writers', async () => {
    const key = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(), payload: { role: 'auditor', ledgers: ['audit'], tenants: ['tenant-1'] } });
    const token = key.json().token as string;
    const { events } = verified((await bundle({}, token)).rawPayload);
    assert.equal(events.length, 100);
    assert.ok(events.every((e) => e.event.tenant === 'tenant-1'));

    const writer = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(), payload: { role: 'writer', ledgers: ['audit'] } });
    const refused = await bundle({}, writer.json().token);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error, 'FORBIDDEN');
  });

  it('answers ordinary JSON errors before the first byte', async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ withhold: ['origin.nope'] }, 400, 'INVALID_ARGUMENT', /cannot withhold "origin\.nope"/],
      [{ q: 'actr:bob' }, 400, 'INVALID_ARGUMENT', /actr/],
      // Parsed fine, refused by the store: must still be refused before the first byte (it was a 200 with a cut zip).
      [{ q: 'ab' }, 400, 'INVALID_ARGUMENT', /free text "ab" is too short/],
      [{ extra: 1 }, 400, 'INVALID_ARGUMENT', /additional/],
      [{ size: 151 }, 404, 'NOT_FOUND', /no checkpoint of size 151/],
      [{ checkpoints: ['not a note'] }, 400, 'BAD_SIGNATURE', /checkpoints\[0\]/],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await bundle(body);
      assert.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(res.json().error, code);
      assert.match(res.json().message, message);
    }
    assert.equal((await bundle({}, undefined, 'missing')).json().error, 'LEDGER_NOT_FOUND');
    assert.equal((await bundle({}, undefined, 'empty')).statusCode, 404);
  });

  it('refuses checkpoints signed by another key, and signed ones that contradict the ledger (409)', async () => {
    const origin = `${server.deployment.name}/audit`;
    const stranger = signCheckpoint(nodeSuite, { origin, size: 150, rootHash: new Uint8Array(32), extensions: [] }, [{ name: server.deployment.name, signer: portableSigner(new Uint8Array(32).fill(9)) }]);
    const res = await bundle({ checkpoints: [cp150, stranger] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /checkpoints\[1\]: note: no known key signed it/);

    // Genuinely signed by the deployment's key, but for another history: a fork, or a rollback.
    const own = [{ name: server.deployment.name, signer: server.deployment.signer }];
    const forked = signCheckpoint(nodeSuite, { origin, size: 150, rootHash: new Uint8Array(32).fill(1), extensions: [] }, own);
    const fork = await bundle({ checkpoints: [forked] });
    assert.equal(fork.statusCode, 409);
    assert.equal(fork.json().error, 'CHECKPOINT_CONFLICT');
    assert.match(fork.json().message, /has another root than audit at that size: the ledger's history was rewritten or forked/);

    const ahead = signCheckpoint(nodeSuite, { origin, size: 500, rootHash: new Uint8Array(32).fill(1), extensions: [] }, own);
    const rolledBack = await bundle({ checkpoints: [ahead] });
    assert.equal(rolledBack.statusCode, 409);
    assert.match(rolledBack.json().message, /signed for size 500, but audit has only 300 entries/);
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const route = doc.paths['/v1/ledgers/{ledger}/bundle'].post;
    assert.ok(route.requestBody.content['application/json'].schema.properties.withhold);
    assert.ok(route.responses['200'].content['application/zip']);
  });

  it('records a bundle whose query the store refuses as a failure, with no archive sent', async () => {
    const res = await bundle({ q: 'ab' });
    assert.equal(res.statusCode, 400);
    assert.equal(res.headers['content-type']?.toString().startsWith('application/json'), true);
    const record = (await systemRecords('action:bundle.export'))[0];
    assert.equal(record.outcome, 'failure');
    assert.equal(record.metadata.status, 400);
  });

  it('a failure after the first byte leaves an archive no verifier accepts, and a failure record', async () => {
    await failMidStream({ app: server.app, adminToken: server.adminToken, store: server.deployment.store, verifierKey: server.deployment.verifierKey });
  });

  it('a client that leaves before the end is recorded as a failure', async () => {
    const headers = auth();
    await server.app.inject({ method: 'PUT', url: '/v1/ledgers/left', headers });
    for (const offset of [0, 1000]) {
      await server.app.inject({ method: 'POST', url: '/v1/ledgers/left/events', headers, payload: Array.from({ length: offset === 0 ? 1000 : 100 }, (_, i) => sampleEvent(offset + i)) });
    }
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.app.server.address() as AddressInfo;
    // The second page waits until the client has gone, so that the bundle cannot have ended before.
    const store = server.deployment.store;
    const original = store.search;
    let release!: () => void;
    const gone = new Promise<void>((resolve) => (release = resolve));
    store.search = async function (this: Store, ledger, request) {
      if (ledger === 'left' && request.after !== undefined) await gone;
      return original.call(this, ledger, request);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/ledgers/left/bundle', headers: { ...headers, 'content-type': 'application/json' } }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.end('{}');
      });
      const reasons: string[] = [];
      for (let wait = 0; wait < 50 && reasons.length === 0; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        for (const record of await systemRecords('action:bundle.export outcome:failure')) {
          if (record.targets?.[0]?.id === 'left') reasons.push(record.outcome_reason);
        }
      }
      assert.deepEqual(reasons, ['the connection closed before the bundle ended: the client received a truncated archive']);
    } finally {
      release();
      store.search = original;
    }
  });

  it('records each bundle request in the system ledger', async () => {
    await bundle({ q: 'actor:u-7', withhold: ['origin'] });
    const res = await server.app.inject({ method: 'GET', url: `/v1/ledgers/${SYSTEM_LEDGER}/events?q=${encodeURIComponent('action:bundle.export')}&limit=1`, headers: auth() });
    const record = res.json().events[0].event;
    assert.equal(record.category, 'export');
    assert.equal(record.metadata.query, 'actor:u-7');
    assert.equal(record.metadata.withheld, 'origin');
    assert.deepEqual(record.targets, [{ type: 'ledger', id: 'audit' }]);
  });
});

describe('POST /v1/ledgers/{ledger}/bundle on PostgreSQL', async () => {
  const unavailable = await postgresUnavailable();
  let fixture: PostgresFixture;
  let store: PostgresStore;
  let app: TestServer['app'];
  const name = 'bundle.pg.test';
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const pgKey = formatVerifierKey(nodeSuite, name, signer.publicKey);
  before(async () => {
    if (unavailable) return;
    fixture = await createPostgresFixture(name);
    store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name });
    app = await buildApp({ store, suite: nodeSuite, verifierKey: pgKey, adminToken: TEST_ADMIN_TOKEN });
    await app.ready();
  });
  after(async () => {
    if (unavailable) return;
    await app?.close();
    await store?.close();
    await fixture?.drop();
  });

  it('refuses a query the store refuses before the first byte, and records the failure', { skip: unavailable }, async () => {
    const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    await app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers });
    await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers, payload: [sampleEvent(1), sampleEvent(2)] });
    const res = await app.inject({ method: 'POST', url: '/v1/ledgers/audit/bundle', headers, payload: { q: 'ab' } });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'INVALID_ARGUMENT');
    assert.match(res.json().message, /free text "ab" is too short/);
    const record = (await systemRecords('action:bundle.export', { app, adminToken: TEST_ADMIN_TOKEN } as TestServer))[0];
    assert.equal(record.outcome, 'failure');
  });

  it('a failure after the first byte leaves an archive no verifier accepts, and a failure record', { skip: unavailable }, async () => {
    await failMidStream({ app, adminToken: TEST_ADMIN_TOKEN, store, verifierKey: pgKey });
  });
});
