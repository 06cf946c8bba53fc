/**
 * Console sessions over HTTP (src/server/session.ts, routes/session.ts): the cookie's attributes, a key
 * checked like a bearer token, CSRF on changes, revocation and sign-out ending the session at once, the
 * operator token's sessions tied to the configured token, and sign-in recorded in the system ledger.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
before(async () => {
  server = await buildTestServer();
});
after(() => server.cleanup());

const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

async function createKey(body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const response = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: body });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

async function signIn(apiKey: string) {
  const response = await server.app.inject({ method: 'POST', url: '/v1/session', payload: { api_key: apiKey } });
  const cookie = response.cookies.find((c) => c.name === 'sealtrail_session');
  return { response, cookie, header: cookie ? `sealtrail_session=${cookie.value}` : '' };
}

describe('console sessions', () => {
  it('exchanges a key for an httpOnly, SameSite=Strict cookie that acts as the key', async () => {
    await server.app.inject({ method: 'PUT', url: '/v1/ledgers/web', headers: admin() });
    const key = await createKey({ role: 'reader', ledgers: ['web'], tenants: ['acme'] });
    const { response, cookie, header } = await signIn(key.token);
    assert.equal(response.statusCode, 201, response.body);
    assert.ok(cookie, 'a session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    assert.ok(cookie.maxAge! > 0 && cookie.maxAge! <= 8 * 3600);
    assert.ok(!cookie.value.includes(key.token.split('.')[1]!), 'the cookie is not the key');
    const body = response.json();
    assert.deepEqual(body.key, { id: key.id, role: 'reader', ledgers: ['web'], tenants: ['acme'] });
    assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);

    const who = await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: header } });
    assert.equal(who.statusCode, 200);
    assert.equal(who.json().csrf_token, body.csrf_token);
    // Its scope applies: a ledger outside it does not exist.
    const other = await server.app.inject({ method: 'GET', url: '/v1/ledgers/other/events', headers: { cookie: header } });
    assert.equal(other.statusCode, 404);
    const inScope = await server.app.inject({ method: 'GET', url: '/v1/ledgers/web/events', headers: { cookie: header } });
    assert.equal(inScope.statusCode, 200, inScope.body);
  });

  it('refuses a bad key with the same 401 as a bad bearer token, and records the attempt', async () => {
    const { response, cookie } = await signIn('st_abcd1234.' + 'x'.repeat(43));
    assert.equal(response.statusCode, 401);
    assert.equal(cookie, undefined);
    assert.equal(response.json().error, 'UNAUTHENTICATED');
    const tooLong = await server.app.inject({ method: 'POST', url: '/v1/session', payload: { api_key: 'x'.repeat(513) } });
    assert.equal(tooLong.statusCode, 400);
    const records = await server.app.inject({ method: 'GET', url: `/v1/ledgers/sealtrail-system/events?q=${encodeURIComponent('action:auth.token_rejected')}`, headers: admin() });
    const actors = records.json().events.map((e: any) => e.event.actor.id);
    assert.ok(actors.includes('claimed:abcd1234'), `the refused sign-in names the key it claimed: ${actors}`);
  });

  it('needs the CSRF header and a same-host Origin for changes', async () => {
    const key = await createKey({ role: 'admin', ledgers: ['*'] });
    const { response, header } = await signIn(key.token);
    const csrf = response.json().csrf_token;
    const noHeader = await server.app.inject({ method: 'PUT', url: '/v1/ledgers/csrf-a', headers: { cookie: header } });
    assert.equal(noHeader.statusCode, 403);
    assert.match(noHeader.json().message, /x-csrf-token/);
    const wrong = await server.app.inject({ method: 'PUT', url: '/v1/ledgers/csrf-a', headers: { cookie: header, 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') } });
    assert.equal(wrong.statusCode, 403);
    const foreign = await server.app.inject({ method: 'PUT', url: '/v1/ledgers/csrf-a', headers: { cookie: header, 'x-csrf-token': csrf, origin: 'https://evil.example', host: 'localhost:80' } });
    assert.equal(foreign.statusCode, 403);
    const ok = await server.app.inject({ method: 'PUT', url: '/v1/ledgers/csrf-a', headers: { cookie: header, 'x-csrf-token': csrf, host: 'localhost:80', origin: 'http://localhost:80' } });
    assert.equal(ok.statusCode, 201, ok.body);
    // Reads need no header: SameSite=Strict keeps other sites' requests from carrying the cookie.
    const read = await server.app.inject({ method: 'GET', url: '/v1/ledgers', headers: { cookie: header } });
    assert.equal(read.statusCode, 200);
  });

  it('ends when the key is revoked, on sign-out, and for a forged cookie', async () => {
    const key = await createKey({ role: 'reader', ledgers: ['*'] });
    const first = await signIn(key.token);
    const second = await signIn(key.token);
    const csrf = first.response.json().csrf_token;
    const out = await server.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie: first.header, 'x-csrf-token': csrf } });
    assert.equal(out.statusCode, 204);
    assert.ok(out.cookies.some((c) => c.name === 'sealtrail_session' && (c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now()))), 'the cookie is cleared');
    const after = await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: first.header } });
    assert.equal(after.statusCode, 401);
    assert.match(after.json().message, /session has ended/);
    assert.equal((await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: second.header } })).statusCode, 200, 'another session of the key lives on');

    const revoked = await server.app.inject({ method: 'DELETE', url: `/v1/keys/${key.id}`, headers: admin() });
    assert.ok(revoked.statusCode < 300, revoked.body);
    assert.equal((await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: second.header } })).statusCode, 401, 'revoking the key ends its sessions');

    const forged = await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: `sealtrail_session=sts_${'A'.repeat(43)}` } });
    assert.equal(forged.statusCode, 401);
    const junk = await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: 'sealtrail_session=' + 'x'.repeat(5000) } });
    assert.equal(junk.statusCode, 401);
  });

  it('records sign-in and sign-out in the system ledger under the key that signed in', async () => {
    const key = await createKey({ role: 'auditor', ledgers: ['*'] });
    const { response, header } = await signIn(key.token);
    await server.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie: header, 'x-csrf-token': response.json().csrf_token } });
    const records = await server.app.inject({ method: 'GET', url: `/v1/ledgers/sealtrail-system/events?q=${encodeURIComponent(`actor:${key.id}`)}`, headers: admin() });
    const actions = records.json().events.map((e: any) => `${e.event.action}:${e.event.outcome}`);
    assert.ok(actions.includes('console.sign_in:success'), actions.join(','));
    assert.ok(actions.includes('console.sign_out:success'), actions.join(','));
  });

  it('a bearer token wins over a cookie, and the operator token signs in too', async () => {
    const { response, header } = await signIn(server.adminToken);
    assert.equal(response.statusCode, 201);
    assert.equal(response.json().key.role, 'admin');
    const key = await createKey({ role: 'reader', ledgers: ['web'] });
    const both = await server.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie: header, authorization: `Bearer ${key.token}` } });
    assert.equal(both.json().key.id, key.id);
    assert.equal(both.json().csrf_token, null);
  });
});
