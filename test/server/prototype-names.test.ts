/**
 * Names that are also members of Object.prototype (`constructor`, `__proto__`, `toString`,
 * `hasOwnProperty`, `valueOf`), given wherever the API takes a name or key from the caller: ledger
 * names, tenants, actor ids, actions, metadata keys, field paths in queries and withhold lists, cursors,
 * stats, export formats, retention rule ids and criteria, legal holds, erasure subjects and key scopes.
 * Each must be served like any other name (or refused with a 4xx saying why), never answered 500 and
 * never break a later request — the review's reproduction was a ledger called `constructor` after which
 * every cross-ledger search answered 500. Runs on both stores.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { portableSigner } from '../../src/core/crypto.js';
import { formatVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';
import { buildTestServer, TEST_ADMIN_TOKEN } from '../helpers/server.js';

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
/** The ones a ledger name (lowercase) or an action's verb can spell. */
const LEDGER = 'constructor';

interface Harness {
  app: FastifyInstance;
  close(): Promise<void>;
}

async function sqliteHarness(): Promise<Harness> {
  const server = await buildTestServer();
  return { app: server.app, close: () => server.cleanup() };
}

async function postgresHarness(): Promise<Harness> {
  const name = 'prototype.test';
  const fixture = await createPostgresFixture(name);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name });
  const app = await buildApp({ store, suite: nodeSuite, verifierKey: formatVerifierKey(nodeSuite, name, signer.publicKey), adminToken: TEST_ADMIN_TOKEN });
  await app.ready();
  return {
    app,
    async close() {
      await app.close();
      await store.close();
      await fixture.drop();
    },
  };
}

function event(i: number, overrides: Record<string, unknown> = {}) {
  return {
    actor: { type: 'user', id: PROTOTYPE_NAMES[i % PROTOTYPE_NAMES.length] },
    action: i % 2 === 0 ? 'auth.constructor' : 'user.__proto__',
    category: i % 2 === 0 ? 'auth' : 'update',
    outcome: 'success',
    tenant: PROTOTYPE_NAMES[i % PROTOTYPE_NAMES.length],
    targets: [{ type: 'user', id: 'hasOwnProperty' }],
    metadata: { toString: `t${i}`, hasOwnProperty: 'h', valueOf: 'v' },
    ...overrides,
  };
}

function run(label: string, open: () => Promise<Harness>, skip?: string) {
  describe(`names of Object.prototype members: ${label}`, { skip }, () => {
    let harness: Harness;
    const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown, token = TEST_ADMIN_TOKEN): Promise<LightMyRequestResponse> =>
      harness.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body as object } : {}) });
    const expectStatus = (res: LightMyRequestResponse, status: number, what: string) =>
      assert.equal(res.statusCode, status, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`);

    before(async () => {
      harness = await open();
      expectStatus(await call('PUT', `/v1/ledgers/${LEDGER}`), 201, 'create ledger constructor');
      expectStatus(await call('PUT', '/v1/ledgers/plain'), 201, 'create ledger plain');
      for (const ledger of [LEDGER, 'plain']) {
        const res = await call('POST', `/v1/ledgers/${ledger}/events`, Array.from({ length: 6 }, (_, i) => event(i)));
        expectStatus(res, 201, `append to ${ledger}`);
      }
    });
    after(async () => harness?.close());

    it('refuses ledger names that are not lowercase names with a 400, never a 500', async () => {
      for (const name of PROTOTYPE_NAMES.filter((n) => n !== LEDGER)) {
        const res = await call('PUT', `/v1/ledgers/${encodeURIComponent(name)}`);
        expectStatus(res, 400, `PUT /v1/ledgers/${name}`);
        expectStatus(await call('GET', `/v1/ledgers/${encodeURIComponent(name)}`), 400, `GET /v1/ledgers/${name}`);
      }
    });

    it('searches across ledgers, one of them named constructor, page by page with cursors', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const url: string = `/v1/events?limit=5${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await call('GET', url);
        expectStatus(res, 200, `GET ${url}`);
        const body = res.json() as { events: Array<{ ledger: string; index: number }>; next: string | null };
        seen.push(...body.events.map((e) => `${e.ledger}/${e.index}`));
        cursor = body.next;
        if (!cursor) break;
      }
      const ours = seen.filter((s) => !s.startsWith('sealtrail-system/'));
      assert.equal(ours.length, 12, `every event of both ledgers, once: ${ours.join(' ')}`);
      assert.equal(new Set(ours).size, 12);
      expectStatus(await call('GET', `/v1/events?ledgers=${LEDGER},plain&limit=2`), 200, 'named ledgers');
    });

    it('pages one ledger named constructor with its cursor, and refuses cursors naming prototype members as positions of other shapes', async () => {
      const first = await call('GET', `/v1/ledgers/${LEDGER}/events?limit=4`);
      expectStatus(first, 200, 'first page');
      const next = (first.json() as { next: string }).next;
      const second = await call('GET', `/v1/ledgers/${LEDGER}/events?limit=4&cursor=${next}`);
      expectStatus(second, 200, 'second page');
      assert.equal((second.json() as { events: unknown[] }).events.length, 2);
      // A forged cursor whose positions are keyed by prototype names is read as data, not as members.
      const forged = Buffer.from(JSON.stringify({ p: { __proto__: 3, constructor: 3, toString: -1 }, o: 'desc' })).toString('base64url');
      const res = await call('GET', `/v1/events?cursor=${forged}`);
      expectStatus(res, 200, 'forged cursor');
      const events = (res.json() as { events: Array<{ ledger: string; index: number }> }).events.filter((e) => e.ledger === LEDGER);
      assert.ok(events.every((e) => e.index < 3), 'constructor resumes below its cursor position');
      const bad = Buffer.from(JSON.stringify({ p: { constructor: 'x' }, o: 'desc' })).toString('base64url');
      expectStatus(await call('GET', `/v1/events?cursor=${bad}`), 400, 'cursor with a non-integer position');
    });

    it('finds prototype-named values and metadata keys in queries, and counts them in stats', async () => {
      for (const name of PROTOTYPE_NAMES) {
        const byTenant = await call('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(`tenant:${name}`)}`);
        expectStatus(byTenant, 200, `tenant:${name}`);
        assert.ok((byTenant.json() as { events: unknown[] }).events.length >= 1, `tenant:${name} finds its events`);
        expectStatus(await call('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(`actor:${name}`)}`), 200, `actor:${name}`);
        expectStatus(await call('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(name)}`), 200, `free text ${name}`);
        const meta = await call('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent(`metadata.${name}:v`)}`);
        assert.ok(meta.statusCode === 200 || meta.statusCode === 400, `metadata.${name}: ${meta.statusCode} ${meta.body}`);
      }
      const toString = await call('GET', `/v1/ledgers/${LEDGER}/events?q=${encodeURIComponent('metadata.toString:t3')}`);
      expectStatus(toString, 200, 'metadata.toString:t3');
      assert.equal((toString.json() as { events: unknown[] }).events.length, 1);
      for (const by of ['actor', 'tenant', 'action', 'category', 'outcome', 'hour', 'country']) {
        const res = await call('GET', `/v1/ledgers/${LEDGER}/stats?by=${by}`);
        expectStatus(res, 200, `stats by ${by}`);
      }
      const tenants = (await call('GET', `/v1/ledgers/${LEDGER}/stats?by=tenant`)).json() as { buckets: Array<{ key: string; count: number }> };
      assert.deepEqual(tenants.buckets.map((b) => b.key).sort(), [...PROTOTYPE_NAMES].sort());
      for (const name of PROTOTYPE_NAMES) expectStatus(await call('GET', `/v1/ledgers/${LEDGER}/stats?by=${encodeURIComponent(name)}`), 400, `stats by ${name}`);
      // As query keys they are unknown keys: a 400 that says so.
      for (const name of PROTOTYPE_NAMES) {
        const res = await call('GET', `/v1/events?q=${encodeURIComponent(`${name}:x`)}`);
        expectStatus(res, 400, `query key ${name}`);
      }
    });

    it('answers key and hold ids named after prototype members as unknown ids', async () => {
      for (const name of PROTOTYPE_NAMES) {
        const revoke = await call('DELETE', `/v1/keys/${encodeURIComponent(name)}`);
        assert.ok(revoke.statusCode === 404 || revoke.statusCode === 400, `DELETE /v1/keys/${name}: ${revoke.statusCode} ${revoke.body}`);
        const release = await call('POST', `/v1/holds/${encodeURIComponent(name)}/release`, { reason: 'x' });
        assert.ok(release.statusCode === 404 || release.statusCode === 400, `release hold ${name}: ${release.statusCode} ${release.body}`);
      }
    });

    it('refuses metadata keys constructor and __proto__ and keeps toString, hasOwnProperty and valueOf as data', async () => {
      for (const key of ['constructor', '__proto__', 'prototype']) {
        const body = `{"actor":{"type":"user","id":"a"},"action":"a.b","category":"read","outcome":"success","metadata":{${JSON.stringify(key)}:"x"}}`;
        const res = await harness.app.inject({
          method: 'POST',
          url: `/v1/ledgers/${LEDGER}/events`,
          headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
          payload: body,
        });
        expectStatus(res, 400, `metadata key ${key}`);
      }
      const entry = await call('GET', `/v1/ledgers/${LEDGER}/entries/3`);
      expectStatus(entry, 200, 'entry 3');
      const shown = entry.json() as { event: { metadata: Record<string, unknown> } };
      assert.equal(Object.getPrototypeOf(shown.event.metadata), Object.prototype);
      assert.equal(shown.event.metadata.toString, 't3');
      assert.equal(shown.event.metadata.hasOwnProperty, 'h');
    });

    it('exports prototype-named actions, tenants and metadata in every format', async () => {
      for (const format of ['jsonl', 'csv', 'ocsf', 'cef', 'syslog']) {
        const res = await call('GET', `/v1/ledgers/${LEDGER}/export?format=${format}`);
        expectStatus(res, 200, `export ${format}`);
        const lines = res.body.split('\n').filter((l) => l.trim() !== '');
        assert.ok(lines.length >= 6, `${format}: every event (${lines.length} lines): ${res.body.slice(-300)}`);
      }
      for (const name of PROTOTYPE_NAMES) expectStatus(await call('GET', `/v1/ledgers/${LEDGER}/export?format=${encodeURIComponent(name)}`), 400, `format ${name}`);
    });

    it('bundles with withhold lists that name prototype members: paths refused with a 400, metadata keys withheld', async () => {
      for (const spec of ['constructor', '__proto__', 'toString', 'constructor.name', '__proto__.x', 'toString.call', 'hasOwnProperty.x', 'metadata.constructor']) {
        const res = await call('POST', `/v1/ledgers/${LEDGER}/bundle`, { withhold: [spec] });
        expectStatus(res, 400, `withhold ${spec}`);
      }
      const res = await call('POST', `/v1/ledgers/${LEDGER}/bundle`, { withhold: ['metadata.toString', 'metadata.valueOf'] });
      expectStatus(res, 200, 'withhold metadata.toString');
    });

    it('creates keys scoped to a ledger named constructor and to prototype-named tenants, which read only their tenants', async () => {
      const created = await call('POST', '/v1/keys', { role: 'reader', ledgers: [LEDGER], tenants: ['constructor', '__proto__', 'toString'] });
      expectStatus(created, 201, 'create key');
      const token = (created.json() as { token: string }).token;
      const res = await call('GET', `/v1/ledgers/${LEDGER}/events?limit=100`, undefined, token);
      expectStatus(res, 200, 'tenant-scoped search');
      const tenants = new Set((res.json() as { events: Array<{ event: { tenant: string } }> }).events.map((e) => e.event.tenant));
      assert.deepEqual([...tenants].sort(), ['__proto__', 'constructor', 'toString']);
      expectStatus(await call('GET', `/v1/ledgers/${LEDGER}/entries/3`, undefined, token), 404, 'entry of tenant hasOwnProperty');
      expectStatus(await call('GET', '/v1/ledgers/plain/events', undefined, token), 404, 'ledger outside the scope');
      const cross = await call('GET', '/v1/events', undefined, token);
      expectStatus(cross, 200, 'cross-ledger search with the scoped key');
      assert.ok((cross.json() as { events: Array<{ ledger: string }> }).events.every((e) => e.ledger === LEDGER));
      const keys = await call('GET', '/v1/keys');
      expectStatus(keys, 200, 'list keys');
    });

    it('takes retention rules, holds and erasures that name prototype members', async () => {
      // Rule ids start with a letter or digit, so `__proto__` is refused as an id but taken as a tenant.
      const rules = PROTOTYPE_NAMES.map((name, i) => ({ id: name.replace(/^_+/, 'p'), tenant: name, ...(i === 0 ? { ledger: LEDGER } : {}), retain: `${13 + i}m` }));
      const policy = await call('PUT', '/v1/retention/policy', { rules, erasure: { metadata: ['toString', 'valueOf'] } });
      expectStatus(policy, 200, 'policy with prototype-named rule ids and tenants');
      expectStatus(await call('GET', '/v1/retention/policy'), 200, 'read the policy');
      expectStatus(await call('PUT', '/v1/retention/policy', { rules: [{ id: '__proto__', retain: '2y' }] }), 400, 'rule id __proto__');
      expectStatus(await call('PUT', '/v1/retention/policy', { rules: [{ id: 'a', retain: '2y' }], erasure: { metadata: ['constructor'] } }), 400, 'erasure metadata constructor');
      expectStatus(await call('PUT', '/v1/retention/policy', { rules: [{ id: 'a', retain: '2y', constructor: 'x' }] }), 400, 'rule member constructor');
      expectStatus(await call('POST', '/v1/retention/run?dry_run=1'), 200, 'dry run');
      const hold = await call('POST', '/v1/holds', { ledgers: [LEDGER], query: 'tenant:constructor', reason: 'case toString', owner: 'legal' });
      expectStatus(hold, 201, 'hold on constructor');
      const holds = await call('GET', '/v1/holds');
      expectStatus(holds, 200, 'list holds');
      const covers = (holds.json() as { holds: Array<{ covers?: Array<{ ledger: string; events: number }> }> }).holds[0]?.covers;
      assert.deepEqual(covers, [{ ledger: LEDGER, events: 2 }]);
      for (const subject of PROTOTYPE_NAMES) {
        const res = await call('POST', '/v1/erasures', { subject, dry_run: true });
        expectStatus(res, 200, `erase ${subject}`);
      }
      // Everything still searchable across ledgers afterwards.
      expectStatus(await call('GET', '/v1/events'), 200, 'cross-ledger search after all of the above');
    });
  });
}

run('sqlite', sqliteHarness);
const unavailable = await postgresUnavailable();
run('postgres', postgresHarness, unavailable);
