/**
 * Idempotency through the API (issue 19): one tenant's writer used to be able to claim an event `id`
 * that then made another tenant's event answer 409 and never be stored; and the key table kept the raw
 * id (an email address, say) after its event was erased. Keys are now scoped by writer and stored as
 * keyed hashes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

describe('idempotency keys are scoped by writer and stored as keyed hashes', () => {
  let server: TestServer;
  const ledger = 'scoped';
  const tokens: Record<'a' | 'b', string> = { a: '', b: '' };

  const post = (token: string, body: unknown, headers: Record<string, string> = {}) =>
    server.app.inject({ method: 'POST', url: `/v1/ledgers/${ledger}/events`, headers: { authorization: `Bearer ${token}`, ...headers }, payload: body as object });

  before(async () => {
    server = await buildTestServer();
    const admin = { authorization: `Bearer ${server.adminToken}` };
    assert.equal((await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: admin })).statusCode, 201);
    for (const tenant of ['a', 'b'] as const) {
      const created = await server.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: admin,
        payload: { role: 'writer', ledgers: [ledger], tenants: [`tenant-${tenant}`] },
      });
      assert.equal(created.statusCode, 201, created.body);
      tokens[tenant] = (created.json() as { token: string }).token;
    }
  });
  after(async () => {
    await server?.cleanup();
  });

  it("another tenant's writer cannot claim an event id: both events are stored, each retry answers its own", async () => {
    const id = 'evt-zed.marker@example.com';
    // Tenant b's writer uses the id first, as an attacker would to block tenant a's event.
    const claimed = await post(tokens.b, { ...sampleEvent(1), id, tenant: 'tenant-b' });
    assert.equal(claimed.statusCode, 201, claimed.body);
    const genuine = await post(tokens.a, { ...sampleEvent(2), id, tenant: 'tenant-a' });
    assert.equal(genuine.statusCode, 201, `tenant a's event must be stored, not refused: ${genuine.body}`);
    assert.notEqual((genuine.json() as { index: number }).index, (claimed.json() as { index: number }).index);
    const retry = await post(tokens.a, { ...sampleEvent(2), id, tenant: 'tenant-a' });
    assert.equal(retry.statusCode, 200);
    assert.deepEqual(retry.json(), { ...(genuine.json() as object), duplicate: true });
    // Within one writer a key still means one event.
    const conflict = await post(tokens.a, { ...sampleEvent(3), id, tenant: 'tenant-a' });
    assert.equal(conflict.statusCode, 409);
    assert.equal((conflict.json() as { error: string }).error, 'IDEMPOTENCY_CONFLICT');
    assert.ok(!conflict.body.includes('v2:'), 'the stored form of the key is not echoed');

    // Header keys too: the same Idempotency-Key from two writers is two requests.
    const header = { 'idempotency-key': 'order-77' };
    const fromB = await post(tokens.b, { ...sampleEvent(4), id: undefined, tenant: 'tenant-b' }, header);
    const fromA = await post(tokens.a, { ...sampleEvent(5), id: undefined, tenant: 'tenant-a' }, header);
    assert.deepEqual([fromB.statusCode, fromA.statusCode], [201, 201], fromA.body);
  });

  it('keeps no raw key in the store', async () => {
    await server.deployment.store.indexPending();
    const keys = server.deployment.store.db.prepare<[], string>('SELECT key FROM idempotency_keys').pluck().all();
    assert.ok(keys.length >= 4);
    for (const key of keys) {
      assert.match(key, /^v2:[A-Za-z0-9_-]{43}$/);
      assert.ok(!key.includes('zed.marker') && !key.includes('order-77'));
    }
  });
});
