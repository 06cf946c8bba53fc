/**
 * GET /v1/actors/{actor_id}/timeline over HTTP: ledgers the key may read and no others, its tenants
 * only, the read sealed in the system ledger, and clear refusals of bad windows and the bound.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent } from '../../src/core/event.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { MAX_TIMELINE_EVENTS } from '../../src/timeline/build.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const FROM = '2026-11-01T00:00:00Z';
const TO = '2026-12-01T00:00:00Z';

function login(tenant: string, minute: number, outcome: 'success' | 'failure'): AuditEvent {
  return {
    actor: { type: 'user', id: 'mallory', session_id: 'web-1' },
    action: 'auth.login',
    category: 'auth',
    outcome,
    tenant,
    occurred_at: `2026-11-20T03:${String(minute).padStart(2, '0')}:00Z`,
    origin: { ip: '198.51.100.20' },
  };
}

async function key(ledgers: string[], tenants?: string[], role = 'reader'): Promise<string> {
  const res = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: { role, ledgers, ...(tenants ? { tenants } : {}) } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().token;
}

const timeline = (headers: Record<string, string>, query = `from=${FROM}&to=${TO}`, actor = 'mallory') =>
  server.app.inject({ method: 'GET', url: `/v1/actors/${encodeURIComponent(actor)}/timeline?${query}`, headers });

before(async () => {
  server = await buildTestServer();
  for (const ledger of ['web', 'vpn']) await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: admin() });
  const web = [login('acme', 0, 'failure'), login('acme', 1, 'failure'), login('globex', 2, 'failure'), login('acme', 3, 'success')];
  await server.app.inject({ method: 'POST', url: '/v1/ledgers/web/events', headers: admin(), payload: web });
  await server.app.inject({ method: 'POST', url: '/v1/ledgers/vpn/events', headers: admin(), payload: [login('acme', 4, 'success')] });
});
after(() => server.cleanup());

describe('GET /v1/actors/{actor_id}/timeline', () => {
  it('reads every ledger the key may read, in event-time order, with ledger and index', async () => {
    const res = await timeline(admin());
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(body.ledgers.sort(), ['vpn', 'web', SYSTEM_LEDGER].sort());
    assert.deepEqual(
      body.events.map((e: { ledger: string; index: number }) => `${e.ledger}#${e.index}`),
      ['web#0', 'web#1', 'web#2', 'web#3', 'vpn#0'],
    );
    assert.equal(body.events[0].time, '2026-11-20T03:00:00.000000Z');
    assert.equal(body.auth_runs.length, 1);
    assert.equal(body.auth_runs[0].failures, 3);
    assert.deepEqual(body.sessions.map((s: { session_id: string; events: number }) => [s.session_id, s.events]), [['web-1', 5]]);
  });

  it("keeps a key to its ledgers and tenants: other tenants' events do not break or join the run", async () => {
    const scoped = await key(['web'], ['acme']);
    const body = (await timeline(bearer(scoped))).json();
    assert.deepEqual(body.ledgers, ['web']);
    assert.deepEqual(body.events.map((e: { event: { tenant: string } }) => e.event.tenant), ['acme', 'acme', 'acme']);
    assert.deepEqual(body.auth_runs, [], 'two visible failures are not a run of three');
    const other = await timeline(bearer(scoped), `from=${FROM}&to=${TO}&ledgers=vpn`);
    assert.equal(other.statusCode, 404);
    assert.equal(other.json().error, 'LEDGER_NOT_FOUND');
    const writer = await key(['web'], undefined, 'writer');
    assert.equal((await timeline(bearer(writer))).statusCode, 403);
  });

  it('seals each read in the system ledger with its query and result count', async () => {
    await timeline(admin(), `from=${FROM}&to=${TO}&ledgers=web`);
    const records: Array<Record<string, unknown>> = [];
    for await (const entry of server.deployment.store.entries(SYSTEM_LEDGER, 0, Number.MAX_SAFE_INTEGER)) {
      const fields = Object.fromEntries(Object.entries(entry.disclosures).map(([path, [, value]]) => [path, value]));
      if (fields.action === 'actor.timeline') records.push(fields);
    }
    const last = records.at(-1)!;
    assert.equal(last['metadata.route'], 'GET /v1/actors/:actor_id/timeline');
    assert.equal(last['metadata.results'], 4);
    assert.match(String(last['metadata.query']), /ledgers=web/);
    assert.equal(last.category, 'read');
  });

  it('refuses windows it cannot read, and names the bound', async () => {
    for (const query of [`from=${TO}&to=${FROM}`, 'from=yesterday', `from=${FROM}&to=2026-13-01T00:00:00Z`]) {
      const res = await timeline(admin(), query);
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().error, 'INVALID_ARGUMENT');
    }
    const res = await server.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.match(res.json().paths['/v1/actors/{actor_id}/timeline'].get.description, new RegExp(`${MAX_TIMELINE_EVENTS}`));
  });
});
