/** The search API: one ledger, several ledgers, stats, cursors, proofs, tenant scoping, errors. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64 } from '../../src/core/bytes.js';
import { verifyEntries } from '../../src/core/verify.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

let server: TestServer;
const get = async (url: string, token = server.adminToken) => {
  const res = await server.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: res.json() as any };
};

before(async () => {
  server = await buildTestServer();
  for (const ledger of ['alpha', 'beta']) {
    await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: { authorization: `Bearer ${server.adminToken}` } });
  }
  const post = (ledger: string, events: unknown[]) =>
    server.app.inject({ method: 'POST', url: `/v1/ledgers/${ledger}/events`, headers: { authorization: `Bearer ${server.adminToken}` }, payload: events as object[] });
  await post('alpha', Array.from({ length: 60 }, (_, i) => sampleEvent(i)));
  await post('beta', Array.from({ length: 40 }, (_, i) => sampleEvent(100 + i)));
});
after(() => server.cleanup());

describe('GET /v1/ledgers/{ledger}/events', () => {
  it('returns matching events newest first with a cursor that walks every page once', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const { status, body } = await get(`/v1/ledgers/alpha/events?q=${encodeURIComponent('action:auth.login')}&limit=9${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(status, 200);
      seen.push(...body.events.map((e: any) => e.index));
      for (const e of body.events) assert.equal(e.event.action, 'auth.login');
      cursor = body.next;
    } while (cursor);
    const expected = Array.from({ length: 60 }, (_, i) => 59 - i).filter((i) => i % 3 !== 0);
    assert.deepEqual(seen, expected);
  });

  it('attaches inclusion proofs that verify offline against the returned checkpoint', async () => {
    const { body } = await get('/v1/ledgers/alpha/events?q=actor:u-5&proofs=1&limit=3');
    assert.equal(body.events.length, 3);
    const verifierKey = (await server.app.inject({ method: 'GET', url: '/v1/verifier-key' })).body.trim();
    for (const result of body.events) {
      const entry = (await get(`/v1/ledgers/alpha/entries/${result.index}`)).body;
      verifyEntries({
        suite: nodeSuite,
        verifierKeys: [verifierKey],
        checkpoint: body.checkpoint,
        entries: [{ index: result.index, leaf: fromBase64(entry.leaf), disclosures: entry.disclosures, inclusionProof: result.proof.hashes.map(fromBase64) }],
      });
    }
  });

  it('points at the offending position of a malformed query', async () => {
    const { status, body } = await get(`/v1/ledgers/alpha/events?q=${encodeURIComponent('actor:alice actr:bob')}`);
    assert.equal(status, 400);
    assert.equal(body.error, 'INVALID_ARGUMENT');
    assert.equal(body.position, 12);
    const short = await get(`/v1/ledgers/alpha/events?q=ab`);
    assert.equal(short.status, 400);
    const cursor = await get('/v1/ledgers/alpha/events?cursor=not-a-cursor');
    assert.equal(cursor.status, 400);
  });

  it('never shows a tenant-scoped reader another tenant’s events, whatever it asks', async () => {
    const key = (await server.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${server.adminToken}` },
      payload: { role: 'reader', ledgers: ['alpha'], tenants: ['tenant-1'] },
    })).json();
    const { body } = await get(`/v1/ledgers/alpha/events?q=${encodeURIComponent('tenant:tenant-2 OR tenant:tenant-1')}&limit=1000`, key.token);
    assert.ok(body.events.length > 0);
    for (const e of body.events) assert.equal(e.event.tenant, 'tenant-1');
    assert.equal((await get('/v1/ledgers/beta/events', key.token)).status, 404);
    const stats = (await get('/v1/ledgers/alpha/stats?by=tenant', key.token)).body;
    assert.deepEqual(stats.buckets.map((b: any) => b.key), ['tenant-1']);
  });
});

describe('GET /v1/events (several ledgers)', () => {
  it('merges ledgers newest first and pages through all of them exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const { status, body } = await get(`/v1/events?ledgers=alpha,beta&q=actor:u-1&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(status, 200);
      seen.push(...body.events.map((e: any) => `${e.ledger}#${e.index}`));
      cursor = body.next;
    } while (cursor);
    const alpha = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 17 === 1).map((i) => `alpha#${i}`);
    const beta = Array.from({ length: 40 }, (_, i) => i).filter((i) => (100 + i) % 17 === 1).map((i) => `beta#${i}`);
    assert.deepEqual(seen.slice().sort(), [...alpha, ...beta].sort());
    assert.equal(new Set(seen).size, seen.length);
    assert.deepEqual(seen.slice(0, beta.length), beta.slice().reverse(), 'beta was written last: newest first');
  });

  it('refuses a ledger outside the key’s scope like a missing one', async () => {
    const key = (await server.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${server.adminToken}` },
      payload: { role: 'auditor', ledgers: ['alpha'] },
    })).json();
    const out = await get('/v1/events?ledgers=alpha,beta', key.token);
    const missing = await get('/v1/events?ledgers=alpha,gamma', key.token);
    assert.equal(out.status, 404);
    assert.equal(missing.status, 404);
    const all = await get('/v1/events?limit=1000', key.token);
    assert.ok(all.body.events.every((e: any) => e.ledger === 'alpha'));
  });
});

describe('stats and accountability', () => {
  it('counts by actor and by hour', async () => {
    const byActor = (await get('/v1/ledgers/alpha/stats?by=actor&limit=3')).body;
    assert.equal(byActor.buckets.length, 3);
    assert.ok(byActor.buckets[0].count >= byActor.buckets[1].count);
    const byHour = (await get('/v1/ledgers/alpha/stats?by=hour')).body;
    assert.equal(byHour.buckets.reduce((n: number, b: any) => n + b.count, 0), 60);
    assert.equal((await get('/v1/ledgers/alpha/stats?by=color')).status, 400);
  });

  it('records each search with its query and result count in the system ledger', async () => {
    await get(`/v1/ledgers/alpha/events?q=${encodeURIComponent('actor:u-2')}`);
    let last: Record<string, unknown> | undefined;
    for await (const entry of server.deployment.store.entries(SYSTEM_LEDGER, 0, Number.MAX_SAFE_INTEGER)) {
      last = Object.fromEntries(Object.entries(entry.disclosures).map(([p, [, v]]) => [p, v]));
    }
    assert.equal(last!.action, 'event.search');
    assert.equal(last!['metadata.query'], 'q=actor%3Au-2');
    assert.equal(last!['metadata.results'], 4);
  });
});

describe('locations of origin addresses', () => {
  let located: TestServer;
  const london = { country: 'GB', region: 'England', city: 'London', latitude: 51.5142, longitude: -0.0931 };
  before(async () => {
    located = await buildTestServer({
      locate: (ip) => (ip === '81.2.69.160' ? london : ip.startsWith('203.0.113.') ? { reserved: 'documentation' } : undefined),
    });
    const auth = { authorization: `Bearer ${located.adminToken}` };
    await located.app.inject({ method: 'PUT', url: '/v1/ledgers/geo', headers: auth });
    const events = [sampleEvent(0), { ...sampleEvent(1), origin: { ip: '81.2.69.160' } }, { ...sampleEvent(2), origin: { ip: '8.8.4.4' } }];
    const res = await located.app.inject({ method: 'POST', url: '/v1/ledgers/geo/events', headers: auth, payload: events });
    assert.equal(res.statusCode, 201, res.body);
  });
  after(() => located.cleanup());

  it('returns where each origin address is beside the event, and nothing where nothing is known', async () => {
    const res = await located.app.inject({ method: 'GET', url: '/v1/ledgers/geo/events?order=asc', headers: { authorization: `Bearer ${located.adminToken}` } });
    const body = res.json() as { events: Array<{ index: number; location?: unknown; event: Record<string, unknown> }> };
    assert.deepEqual(
      body.events.map((e) => [e.index, e.location ?? null]),
      [
        [0, { reserved: 'documentation' }],
        [1, london],
        [2, null],
      ],
    );
    assert.equal((body.events[1]!.event as { location?: unknown }).location, undefined, 'the sealed event itself is unchanged');
    const stats = await located.app.inject({ method: 'GET', url: '/v1/ledgers/geo/stats?by=country', headers: { authorization: `Bearer ${located.adminToken}` } });
    assert.deepEqual((stats.json() as { buckets: unknown[] }).buckets, [
      { key: null, count: 2 },
      { key: 'GB', count: 1 },
    ]);
  });
});
