/** Tenant-scoped keys and the system ledger of access records. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { verifyStoredLedger } from '../../src/store/verify-ledger.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

let server: TestServer;
const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token?: string, body?: unknown) =>
  server.app.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'user-agent': 'access-test/1.0' },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
const admin = () => server.adminToken;

async function createKey(role: string, ledgers: string[], tenants?: string[]): Promise<{ id: string; token: string }> {
  const res = await call('POST', '/v1/keys', admin(), { role, ledgers, ...(tenants ? { tenants } : {}) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

async function systemEvents(): Promise<Array<Record<string, any>>> {
  const out = [];
  for await (const entry of server.deployment.store.entries(SYSTEM_LEDGER, 0, Number.MAX_SAFE_INTEGER)) {
    out.push(Object.fromEntries(Object.entries(entry.disclosures).map(([path, [, value]]) => [path, value])));
  }
  return out;
}

before(async () => {
  server = await buildTestServer();
  assert.equal((await call('PUT', '/v1/ledgers/shared', admin())).statusCode, 201);
});
after(() => server.cleanup());

describe('tenant-scoped keys', () => {
  it('a writer scoped to one tenant may only write that tenant’s events, and nothing of a refused batch is stored', async () => {
    const writer = await createKey('writer', ['shared'], ['tenant-1']);
    const own = { ...sampleEvent(1), tenant: 'tenant-1' };
    assert.equal((await call('POST', '/v1/ledgers/shared/events', writer.token, own)).statusCode, 201);
    const other = await call('POST', '/v1/ledgers/shared/events', writer.token, [own, { ...sampleEvent(2), tenant: 'tenant-2' }]);
    assert.equal(other.statusCode, 403);
    assert.equal(other.json().path, '/1/tenant');
    const untagged = { ...sampleEvent(3) };
    delete untagged.tenant;
    assert.equal((await call('POST', '/v1/ledgers/shared/events', writer.token, untagged)).statusCode, 403);
    const size = (await call('GET', '/v1/ledgers/shared', admin())).json().size;
    assert.equal(size, 1);
  });

  it('a client’s read-only key sees only its tenant: other tenants’ entries answer like missing ones', async () => {
    const receipts = (await call('POST', '/v1/ledgers/shared/events', admin(), [
      { ...sampleEvent(10), tenant: 'tenant-1' },
      { ...sampleEvent(11), tenant: 'tenant-2' },
    ])).json();
    const reader = await createKey('reader', ['shared'], ['tenant-1']);
    const mine = await call('GET', `/v1/ledgers/shared/entries/${receipts[0].index}`, reader.token);
    assert.equal(mine.statusCode, 200);
    assert.equal(mine.json().event.tenant, 'tenant-1');
    const theirs = await call('GET', `/v1/ledgers/shared/entries/${receipts[1].index}`, reader.token);
    const missing = await call('GET', '/v1/ledgers/shared/entries/999999', reader.token);
    assert.equal(theirs.statusCode, 404);
    assert.deepEqual({ ...theirs.json<object>(), message: '' }, { ...missing.json<object>(), message: '' });
    assert.doesNotMatch(theirs.body, /tenant-2/);
  });

  it('a tenant-scoped admin key cannot administer keys or ledgers', async () => {
    const scopedAdmin = await createKey('admin', ['*'], ['tenant-1']);
    assert.equal((await call('POST', '/v1/keys', scopedAdmin.token, { role: 'admin', ledgers: ['*'] })).statusCode, 403);
    assert.equal((await call('PUT', '/v1/ledgers/another', scopedAdmin.token)).statusCode, 403);
  });
});

describe('system ledger of access records', () => {
  it('is reserved: nobody creates it or appends to it through the API', async () => {
    assert.equal((await call('PUT', `/v1/ledgers/${SYSTEM_LEDGER}`, admin())).statusCode, 403);
    assert.equal((await call('POST', `/v1/ledgers/${SYSTEM_LEDGER}/events`, admin(), sampleEvent(1))).statusCode, 403);
  });

  it('records who read what, with which query, from where and how it ended', async () => {
    const reader = await createKey('reader', ['shared']);
    const before = (await systemEvents()).length;
    assert.equal((await call('GET', '/v1/ledgers/shared/entries/0', reader.token)).statusCode, 200);
    assert.equal((await call('GET', '/v1/ledgers/shared/proof/inclusion?index=0', reader.token)).statusCode, 200);
    assert.equal((await call('GET', '/v1/ledgers/other/entries/0', reader.token)).statusCode, 404);
    const records = (await systemEvents()).slice(before);
    assert.equal(records.length, 3);
    assert.deepEqual(
      records.map((r) => [r['actor.id'], r.action, r.outcome, r['targets.0']?.id, r['origin.ip'], r['origin.user_agent']]),
      [
        [reader.id, 'entry.read', 'success', 'shared', '127.0.0.1', 'access-test/1.0'],
        [reader.id, 'proof.read', 'success', 'shared', '127.0.0.1', 'access-test/1.0'],
        [reader.id, 'entry.read', 'failure', 'other', '127.0.0.1', 'access-test/1.0'],
      ],
    );
    assert.equal(records[1]!['metadata.query'], 'index=0');
    assert.equal(records[2]!['metadata.status'], 404);
  });

  it('records key changes and rejected tokens, never a secret', async () => {
    const before = (await systemEvents()).length;
    const key = await createKey('writer', ['shared']);
    assert.equal((await call('DELETE', `/v1/keys/${key.id}`, admin())).statusCode, 200);
    assert.equal((await call('GET', '/v1/ledgers/shared/checkpoint', key.token)).statusCode, 401);
    assert.equal((await call('GET', '/v1/ledgers', 'garbage')).statusCode, 401);
    const records = (await systemEvents()).slice(before);
    assert.deepEqual(
      records.map((r) => [r.action, r['actor.id'], r.outcome]),
      [
        ['key.create', 'admin', 'success'],
        ['key.revoke', 'admin', 'success'],
        ['auth.token_rejected', `claimed:${key.id}`, 'failure'],
        ['auth.token_rejected', 'anonymous', 'failure'],
      ],
    );
    const secret = key.token.split('.')[1]!;
    assert.doesNotMatch(JSON.stringify(records), new RegExp(secret));
    assert.doesNotMatch(JSON.stringify(records), /garbage/);
  });

  it('is itself sealed and verifiable', async () => {
    const verifier = parseVerifierKey(nodeSuite, server.deployment.verifierKey);
    const result = await verifyStoredLedger(server.deployment.store, SYSTEM_LEDGER, { suite: nodeSuite, verifiers: [verifier] });
    assert.ok(result.entries >= 10);
  });
});
