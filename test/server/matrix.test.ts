/**
 * The authorization matrix, cell by cell: every route (src/server/routes/*.ts, search included) × every
 * kind of principal × every kind of ledger, with the exact status docs/API.md and docs/SEARCH.md promise.
 * Principals: writer, reader and auditor keys scoped to ["alpha", "ghost"], an admin key for every
 * ledger, the operator admin token, an admin key scoped to ["alpha"], and a reader and a writer scoped
 * to ["alpha", "ghost"] and tenant "t1". Ledgers ("targets"):
 *   in     alpha: exists, in scope
 *   out    bravo: exists, outside the key's scope (keys scoped to "*" have none)
 *   ghost  ghost: in the key's scope, does not exist
 *   none   zulus: outside the key's scope (or, for "*", in it) and does not exist
 * All four names have five letters, so an answer about one can be compared byte for byte with an answer
 * about another once the name is swapped: an out-of-scope ledger must answer exactly like one that does
 * not exist. Then: a revoked or expired key answers 401 on every route (the verifier key is public).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { AuditEvent } from '../../src/core/event.js';
import { newToken } from '../../src/server/auth.js';
import type { Role } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Target = 'in' | 'out' | 'ghost' | 'none';

const LEDGER: Record<Target, string> = { in: 'alpha', out: 'bravo', ghost: 'ghost', none: 'zulus' };
const TENANT = 't1';
const OTHER_TENANT = 't2';

interface PrincipalSpec {
  name: string;
  role: Role;
  ledgers: string[];
  tenants: string[];
  /** The operator token from the app options rather than an API key. */
  operator?: boolean;
}

const PRINCIPALS: PrincipalSpec[] = [
  { name: 'writer', role: 'writer', ledgers: ['alpha', 'ghost'], tenants: ['*'] },
  { name: 'reader', role: 'reader', ledgers: ['alpha', 'ghost'], tenants: ['*'] },
  { name: 'auditor', role: 'auditor', ledgers: ['alpha', 'ghost'], tenants: ['*'] },
  { name: 'admin', role: 'admin', ledgers: ['*'], tenants: ['*'] },
  { name: 'operator token', role: 'admin', ledgers: ['*'], tenants: ['*'], operator: true },
  { name: 'admin scoped to alpha', role: 'admin', ledgers: ['alpha'], tenants: ['*'] },
  { name: 'tenant reader', role: 'reader', ledgers: ['alpha', 'ghost'], tenants: [TENANT] },
  { name: 'tenant writer', role: 'writer', ledgers: ['alpha', 'ghost'], tenants: [TENANT] },
];

const allLedgers = (p: PrincipalSpec) => p.ledgers.includes('*');
const isGlobalAdmin = (p: PrincipalSpec) => p.role === 'admin' && allLedgers(p) && p.tenants.includes('*');
const canAppend = (p: PrincipalSpec) => p.role === 'writer' || p.role === 'admin';
const canReadEvents = (p: PrincipalSpec) => p.role !== 'writer';
const tenantScoped = (p: PrincipalSpec) => !p.tenants.includes('*');

/** The ledgers a principal is tested against. */
function targetsOf(p: PrincipalSpec): Target[] {
  const targets: Target[] = ['in'];
  if (!allLedgers(p)) targets.push('out');
  if (p.ledgers.includes('ghost')) targets.push('ghost');
  targets.push('none');
  return targets;
}
const inScope = (p: PrincipalSpec, t: Target) => allLedgers(p) || p.ledgers.includes(LEDGER[t]);
const exists = (t: Target) => t === 'in' || t === 'out';

interface Expected {
  status: number;
  /** Error code of a 4xx answer. */
  code?: string;
}
const ok = (status: number): Expected => ({ status });
const LEDGER_NOT_FOUND: Expected = { status: 404, code: 'LEDGER_NOT_FOUND' };
const FORBIDDEN: Expected = { status: 403, code: 'FORBIDDEN' };

interface Request {
  method: Method;
  url: string;
  body?: unknown;
}

interface LedgerRoute {
  name: string;
  request(ledger: string): Request;
  expect(p: PrincipalSpec, t: Target): Expected;
}

let eventCounter = 0;
/** A fresh event (fresh id, so a 2xx appends it) of tenant t1, of another tenant, or of none (null). */
function freshEvent(tenant: string | null = TENANT): AuditEvent {
  const event: AuditEvent = { ...sampleEvent(eventCounter), id: `matrix-${eventCounter++}` };
  if (tenant === null) delete event.tenant;
  else event.tenant = tenant;
  return event;
}

/** Reads of verification material: any role, in scope, existing ledger. */
const verificationRead = (p: PrincipalSpec, t: Target): Expected => (!inScope(p, t) || !exists(t) ? LEDGER_NOT_FOUND : ok(200));
/** Searches read events: not writers (docs/SEARCH.md). */
const searchRead = (p: PrincipalSpec, t: Target): Expected => (!inScope(p, t) ? LEDGER_NOT_FOUND : !canReadEvents(p) ? FORBIDDEN : !exists(t) ? LEDGER_NOT_FOUND : ok(200));

const LEDGER_ROUTES: LedgerRoute[] = [
  {
    name: 'PUT /v1/ledgers/{ledger}',
    request: (l) => ({ method: 'PUT', url: `/v1/ledgers/${l}` }),
    // Ledger administration needs an admin key for every ledger and tenant, whatever the ledger.
    expect: (p, t) => (!isGlobalAdmin(p) ? FORBIDDEN : ok(exists(t) ? 200 : 201)),
  },
  {
    name: 'GET /v1/ledgers/{ledger}',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}` }),
    expect: verificationRead,
  },
  {
    name: 'POST /v1/ledgers/{ledger}/events (one event)',
    request: (l) => ({ method: 'POST', url: `/v1/ledgers/${l}/events`, body: freshEvent() }),
    expect: (p, t) => (!inScope(p, t) ? LEDGER_NOT_FOUND : !canAppend(p) ? FORBIDDEN : !exists(t) ? LEDGER_NOT_FOUND : ok(201)),
  },
  {
    name: 'POST /v1/ledgers/{ledger}/events (a batch)',
    request: (l) => ({ method: 'POST', url: `/v1/ledgers/${l}/events`, body: [freshEvent(), freshEvent()] }),
    expect: (p, t) => (!inScope(p, t) ? LEDGER_NOT_FOUND : !canAppend(p) ? FORBIDDEN : !exists(t) ? LEDGER_NOT_FOUND : ok(201)),
  },
  {
    name: 'GET /v1/ledgers/{ledger}/checkpoint',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/checkpoint` }),
    expect: verificationRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/checkpoint?size=1',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/checkpoint?size=1` }),
    expect: verificationRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/entries/0 (tenant t1)',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/entries/0` }),
    expect: verificationRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/entries/1 (tenant t2)',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/entries/1` }),
    // Another tenant's entry answers like a missing entry.
    expect: (p, t) => (!inScope(p, t) || !exists(t) ? LEDGER_NOT_FOUND : tenantScoped(p) ? { status: 404, code: 'NOT_FOUND' } : ok(200)),
  },
  {
    name: 'GET /v1/ledgers/{ledger}/proof/inclusion?index=0',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/proof/inclusion?index=0` }),
    expect: verificationRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/proof/consistency?from=1',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/proof/consistency?from=1` }),
    expect: verificationRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/events (search)',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/events?limit=1000` }),
    expect: searchRead,
  },
  {
    name: 'GET /v1/ledgers/{ledger}/stats?by=tenant',
    request: (l) => ({ method: 'GET', url: `/v1/ledgers/${l}/stats?by=tenant` }),
    expect: searchRead,
  },
  {
    name: 'GET /v1/events?ledgers={ledger}',
    request: (l) => ({ method: 'GET', url: `/v1/events?ledgers=${l}&limit=1000` }),
    expect: searchRead,
  },
];

/** What a search answer may show a principal: its ledgers, and only its tenants' events. */
function assertSearchVisible(p: PrincipalSpec, response: LightMyRequestResponse): void {
  const body = response.json() as { events?: Array<{ ledger: string; event: { tenant?: string } }>; buckets?: Array<{ key: string | null; count: number }> };
  if (body.events) {
    assert.ok(body.events.length > 0, 'the search finds something');
    for (const { ledger, event } of body.events) {
      if (!allLedgers(p)) assert.ok(p.ledgers.includes(ledger), `${ledger} is in scope`);
      if (tenantScoped(p)) assert.ok(p.tenants.includes(event.tenant ?? ''), `tenant ${event.tenant} is in scope`);
    }
    const tenants = new Set(body.events.map((e) => e.event.tenant));
    assert.equal(tenants.has(OTHER_TENANT), !tenantScoped(p), 'other tenants’ events only for keys of every tenant');
  }
  if (body.buckets) {
    const keys = body.buckets.map((b) => b.key);
    assert.equal(keys.includes(OTHER_TENANT), !tenantScoped(p), JSON.stringify(keys));
    if (tenantScoped(p)) assert.deepEqual(keys, [TENANT]);
  }
}

/** Routes that name no ledger. `victim` is a fresh key id a DELETE may revoke. */
interface GlobalRoute {
  name: string;
  request(victim: string): Request;
  expect(p: PrincipalSpec): Expected;
}

const GLOBAL_ROUTES: GlobalRoute[] = [
  { name: 'GET /v1/ledgers', request: () => ({ method: 'GET', url: '/v1/ledgers' }), expect: () => ok(200) },
  { name: 'GET /v1/verifier-key', request: () => ({ method: 'GET', url: '/v1/verifier-key' }), expect: () => ok(200) },
  {
    name: 'GET /v1/events (every ledger the key may read)',
    request: () => ({ method: 'GET', url: '/v1/events?limit=1000' }),
    expect: (p) => (canReadEvents(p) ? ok(200) : FORBIDDEN),
  },
  {
    name: 'POST /v1/keys',
    request: () => ({ method: 'POST', url: '/v1/keys', body: { role: 'reader', ledgers: ['alpha'] } }),
    expect: (p) => (isGlobalAdmin(p) ? ok(201) : FORBIDDEN),
  },
  { name: 'GET /v1/keys', request: () => ({ method: 'GET', url: '/v1/keys' }), expect: (p) => (isGlobalAdmin(p) ? ok(200) : FORBIDDEN) },
  {
    name: 'DELETE /v1/keys/{id}',
    request: (victim) => ({ method: 'DELETE', url: `/v1/keys/${victim}` }),
    expect: (p) => (isGlobalAdmin(p) ? ok(200) : FORBIDDEN),
  },
  {
    name: 'DELETE /v1/keys/{id} of no key',
    request: () => ({ method: 'DELETE', url: '/v1/keys/ffffffffffffffff' }),
    // Only a global admin learns whether a key id exists.
    expect: (p) => (isGlobalAdmin(p) ? { status: 404, code: 'NOT_FOUND' } : FORBIDDEN),
  },
];

// ---- the server ----------------------------------------------------------------------------------

let server: TestServer;
const tokens = new Map<string, string>();

function send(request: Request, token: string | null): Promise<LightMyRequestResponse> {
  return server.app.inject({
    method: request.method,
    url: request.url,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(request.body !== undefined ? { payload: request.body as object } : {}),
  });
}

const admin = () => server.adminToken;

async function createKey(role: Role, ledgers: string[], tenants: string[] = ['*']): Promise<{ id: string; token: string }> {
  const response = await send({ method: 'POST', url: '/v1/keys', body: { role, ledgers, tenants } }, admin());
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

/** Tree size straight from the store, so checking it leaves no access record. */
async function size(ledger: string): Promise<number> {
  return (await server.deployment.store.getLedger(ledger))?.size ?? 0;
}

function assertAnswer(response: LightMyRequestResponse, expected: Expected, what: string): void {
  assert.equal(response.statusCode, expected.status, `${what}: expected ${expected.status}, got ${response.statusCode} ${response.body}`);
  if (expected.code !== undefined) {
    assert.match(String(response.headers['content-type']), /^application\/json/);
    const body = response.json() as { error?: unknown; message?: unknown };
    assert.equal(body.error, expected.code, `${what}: ${response.body}`);
    assert.equal(typeof body.message, 'string');
  }
}

/** The raw answer with the requested ledger name swapped for a placeholder. */
function normalized(response: LightMyRequestResponse, ledger: string) {
  return {
    status: response.statusCode,
    contentType: response.headers['content-type'],
    contentLength: response.headers['content-length'],
    body: response.body.replaceAll(ledger, '<ledger>'),
  };
}

before(async () => {
  server = await buildTestServer();
  for (const ledger of [LEDGER.in, LEDGER.out]) {
    assert.equal((await send({ method: 'PUT', url: `/v1/ledgers/${ledger}` }, admin())).statusCode, 201);
  }
  // alpha: entry 0 of tenant t1, entry 1 of tenant t2, one checkpoint per append (sizes 1 and 2).
  for (const tenant of [TENANT, OTHER_TENANT]) {
    const response = await send({ method: 'POST', url: `/v1/ledgers/${LEDGER.in}/events`, body: freshEvent(tenant) }, admin());
    assert.equal(response.statusCode, 201, response.body);
  }
  for (const tenant of [TENANT, OTHER_TENANT]) {
    const response = await send({ method: 'POST', url: `/v1/ledgers/${LEDGER.out}/events`, body: freshEvent(tenant) }, admin());
    assert.equal(response.statusCode, 201, response.body);
  }
  for (const p of PRINCIPALS) {
    tokens.set(p.name, p.operator ? admin() : (await createKey(p.role, p.ledgers, p.tenants)).token);
  }
});

after(async () => {
  await server?.cleanup();
});

const tokenOf = (p: PrincipalSpec) => {
  const token = tokens.get(p.name);
  assert.ok(token, `no token for ${p.name}`);
  return token;
};

// ---- the matrix ----------------------------------------------------------------------------------

describe('authorization matrix: routes that name a ledger', () => {
  let freshLedgers = 0;
  for (const p of PRINCIPALS) {
    for (const route of LEDGER_ROUTES) {
      for (const t of targetsOf(p)) {
        const expected = route.expect(p, t);
        it(`${p.name} × ${route.name} × ${t} (${LEDGER[t]}) → ${expected.status}${expected.code ? ` ${expected.code}` : ''}`, async () => {
          // A global admin's PUT on a missing ledger creates it: use a name of its own, so "ghost" and
          // "zulus" keep not existing for every other cell.
          const ledger = route.name.startsWith('PUT') && expected.status === 201 ? `fresh-${freshLedgers++}` : LEDGER[t];
          const sizes = { alpha: await size(LEDGER.in), bravo: await size(LEDGER.out) };
          const request = route.request(ledger);
          const response = await send(request, tokenOf(p));
          assertAnswer(response, expected, `${p.name} ${request.method} ${request.url}`);

          const appended = request.method === 'POST' && response.statusCode === 201 ? (Array.isArray(request.body) ? request.body.length : 1) : 0;
          assert.equal(await size(LEDGER.in), sizes.alpha + (ledger === LEDGER.in ? appended : 0), 'alpha grows only by a 201 append to it');
          assert.equal(await size(LEDGER.out), sizes.bravo, 'bravo never changes');
          if (expected.status >= 400) {
            for (const missing of [LEDGER.ghost, LEDGER.none]) {
              assert.equal(await server.deployment.store.getLedger(missing), undefined, `${missing} was not created`);
            }
          }
          if (response.statusCode === 200 && request.url.includes('/entries/')) {
            const entry = response.json() as { disclosures?: unknown; event?: { tenant?: string } };
            assert.equal('disclosures' in entry, canReadEvents(p), 'disclosures only for roles that read events');
            assert.equal('event' in entry, canReadEvents(p));
            if (entry.event) assert.equal(entry.event.tenant, request.url.endsWith('/0') ? TENANT : OTHER_TENANT);
          }
          if (response.statusCode === 200 && /\/events\?|\/stats\?/.test(request.url)) assertSearchVisible(p, response);
          if (response.statusCode === 200 && request.url.includes('/checkpoint')) {
            assert.match(String(response.headers['content-type']), /^text\/plain/);
            assert.match(response.body, new RegExp(`^api\\.test/${LEDGER.in}\\n`));
          }
        });
      }

      if (targetsOf(p).includes('out')) {
        const comparable = targetsOf(p).filter((t) => !exists(t) && route.expect(p, t).status === route.expect(p, 'out').status);
        it(`${p.name} × ${route.name}: out of scope answers byte for byte like ${comparable.map((t) => LEDGER[t]).join(' and ')}`, async () => {
          assert.ok(comparable.includes('none'));
          const out = await send(route.request(LEDGER.out), tokenOf(p));
          for (const t of comparable) {
            const missing = await send(route.request(LEDGER[t]), tokenOf(p));
            assert.deepEqual(normalized(out, LEDGER.out), normalized(missing, LEDGER[t]), `bravo vs ${LEDGER[t]}`);
          }
          assert.doesNotMatch(out.body, /t2|tenant|size|origin/, 'nothing about bravo leaks');
        });
      }
    }
  }
});

describe('authorization matrix: routes that name no ledger', () => {
  for (const p of PRINCIPALS) {
    for (const route of GLOBAL_ROUTES) {
      const expected = route.expect(p);
      it(`${p.name} × ${route.name} → ${expected.status}${expected.code ? ` ${expected.code}` : ''}`, async () => {
        const victim = await createKey('reader', ['alpha']);
        const keysBefore = (await server.deployment.store.listApiKeys()).length;
        const request = route.request(victim.id);
        const response = await send(request, tokenOf(p));
        assertAnswer(response, expected, `${p.name} ${request.method} ${request.url}`);

        const victimWorks = (await send({ method: 'GET', url: '/v1/ledgers' }, victim.token)).statusCode === 200;
        assert.equal(victimWorks, !(route.name === 'DELETE /v1/keys/{id}' && response.statusCode === 200), 'only a 200 DELETE revokes');
        const keysAfter = (await server.deployment.store.listApiKeys()).length;
        assert.equal(keysAfter, keysBefore + (request.method === 'POST' && response.statusCode === 201 ? 1 : 0), 'only a 201 POST creates a key');

        if (route.name === 'GET /v1/ledgers') {
          const names = (response.json() as { ledgers: Array<{ name: string }> }).ledgers.map((l) => l.name);
          if (allLedgers(p)) {
            for (const name of [LEDGER.in, LEDGER.out]) assert.ok(names.includes(name), `${name} listed`);
          } else {
            assert.deepEqual(names, [LEDGER.in], 'only the existing ledgers of its scope');
          }
        }
        if (response.statusCode === 200 && route.name.startsWith('GET /v1/events')) assertSearchVisible(p, response);
        if (route.name === 'GET /v1/verifier-key') {
          assert.equal(response.body, `${server.deployment.verifierKey}\n`);
        }
        if (response.statusCode === 201) {
          assert.match((response.json() as { token: string }).token, /^st_[a-z0-9]{4,32}\.[A-Za-z0-9_-]{43}$/);
        }
      });
    }
  }

  it('the verifier key needs no token at all', async () => {
    const response = await send({ method: 'GET', url: '/v1/verifier-key' }, null);
    assert.equal(response.statusCode, 200);
    assert.equal(response.body, `${server.deployment.verifierKey}\n`);
  });

  it('a tenant writer may not write another tenant’s events, nor untagged ones (403, nothing stored)', async () => {
    const writer = PRINCIPALS.find((p) => p.name === 'tenant writer')!;
    const before = await size(LEDGER.in);
    for (const body of [freshEvent(OTHER_TENANT), freshEvent(null), [freshEvent(), freshEvent(OTHER_TENANT)]]) {
      const response = await send({ method: 'POST', url: `/v1/ledgers/${LEDGER.in}/events`, body }, tokenOf(writer));
      assertAnswer(response, FORBIDDEN, JSON.stringify(body).slice(0, 60));
      assert.equal((response.json() as { path: string }).path, Array.isArray(body) ? '/1/tenant' : '/tenant');
    }
    assert.equal(await size(LEDGER.in), before);
  });
});

// ---- tokens that no longer work ------------------------------------------------------------------

describe('revoked and expired keys answer 401 on every route', () => {
  const UNAUTHENTICATED = { error: 'UNAUTHENTICATED', message: 'a valid bearer token is required' };
  const dead = new Map<string, string>();

  before(async () => {
    for (const [role, ledgers] of [['admin', ['*']], ['writer', ['alpha']], ['reader', ['alpha']]] as Array<[Role, string[]]>) {
      const key = await createKey(role, ledgers);
      // Works first, so the 401 below is caused by the revocation alone.
      assert.equal((await send({ method: 'GET', url: '/v1/ledgers' }, key.token)).statusCode, 200);
      assert.equal((await send({ method: 'DELETE', url: `/v1/keys/${key.id}` }, admin())).statusCode, 200);
      dead.set(`revoked ${role}`, key.token);
    }
    const now = Date.now() * 1000;
    for (const [role, expiresAtMicros] of [['admin', now - 1_000_000], ['writer', now - 1], ['reader', now]] as Array<[Role, number]>) {
      const { id, token, secretHash } = newToken();
      await server.deployment.store.createApiKey({
        id,
        role,
        ledgers: ['*'],
        tenants: ['*'],
        description: 'expired',
        createdAtMicros: now - 10_000_000,
        expiresAtMicros,
        revokedAtMicros: null,
        secretHash,
      });
      dead.set(`expired ${role}`, token);
    }
  });

  const names = ['revoked admin', 'revoked writer', 'revoked reader', 'expired admin', 'expired writer', 'expired reader'];
  const routes: Array<{ name: string; request: () => Request }> = [
    ...LEDGER_ROUTES.flatMap((route) => [LEDGER.in, LEDGER.none].map((ledger) => ({ name: `${route.name} on ${ledger}`, request: () => route.request(ledger) }))),
    ...GLOBAL_ROUTES.map((route) => ({ name: route.name, request: () => route.request('ffffffffffffffff') })),
  ];
  for (const name of names) {
    for (const route of routes) {
      const isPublic = route.name === 'GET /v1/verifier-key';
      it(`${name} × ${route.name} → ${isPublic ? '200 (public)' : '401'}`, async () => {
        const token = dead.get(name);
        assert.ok(token);
        const sizeBefore = await size(LEDGER.in);
        const keysBefore = (await server.deployment.store.listApiKeys()).length;
        const response = await send(route.request(), token);
        if (isPublic) {
          assert.equal(response.statusCode, 200);
          return;
        }
        assert.equal(response.statusCode, 401, response.body);
        assert.deepEqual(response.json(), UNAUTHENTICATED, 'never says why');
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="sealtrail"');
        assert.equal(await size(LEDGER.in), sizeBefore, 'nothing appended');
        assert.equal((await server.deployment.store.listApiKeys()).length, keysBefore, 'no key created');
        for (const missing of [LEDGER.ghost, LEDGER.none]) assert.equal(await server.deployment.store.getLedger(missing), undefined);
      });
    }
  }
});
