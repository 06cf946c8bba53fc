/**
 * /metrics, /healthz and /readyz on both stores: who may read the metrics (ledger names are in labels),
 * that the numbers follow what happened (events sealed per ledger, latency observed, rate-limit refusals,
 * checkpoint age, integrity state), that two apps in one process keep separate counts, and that labels
 * never carry an actor, a tenant or a raw path.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import { openDeployment, openPostgresDeployment } from '../../src/server/deployment.js';
import type { IntegrityStatus } from '../../src/store/integrity.js';
import type { Store } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';

const ADMIN = 'metrics-admin-token-0123456789abcdef';
const unavailable = await postgresUnavailable();

interface Backend {
  name: string;
  skip?: string;
  open(dir: string): Promise<{ store: Store; verifierKey: string; close(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open(dir) {
      const deployment = openDeployment({ dataDir: dir, name: 'metrics.test' });
      return { store: deployment.store, verifierKey: deployment.verifierKey, close: () => deployment.store.close() };
    },
  },
  {
    name: 'PostgreSQL',
    ...(unavailable ? { skip: unavailable } : {}),
    async open(dir) {
      // A schema of its own per app: each data folder holds its own signing key.
      const fixture: PostgresFixture = await createPostgresFixture('metrics.test');
      const deployment = await openPostgresDeployment({ dataDir: dir, name: 'metrics.test', databaseUrl: fixture.serviceUrl, schema: fixture.schema });
      return {
        store: deployment.store,
        verifierKey: deployment.verifierKey,
        async close() {
          await deployment.store.close();
          await fixture.drop();
        },
      };
    },
  },
];

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function start(backend: Backend, options: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; store: Store }> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-metrics-'));
  const opened = await backend.open(dir);
  const app = await buildApp({ store: opened.store, suite: nodeSuite, verifierKey: opened.verifierKey, adminToken: ADMIN, ...options });
  await app.ready();
  cleanups.push(async () => {
    await app.close();
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, store: opened.store };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function scrape(app: FastifyInstance): Promise<string> {
  const response = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(ADMIN) });
  assert.equal(response.statusCode, 200, response.body);
  assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return response.body;
}

/** The value of one sample line, e.g. sample(text, 'sealtrail_ingest_events_total{ledger="audit"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function createKey(app: FastifyInstance, body: object): Promise<string> {
  const response = await app.inject({ method: 'POST', url: '/v1/keys', headers: bearer(ADMIN), payload: body });
  assert.equal(response.statusCode, 201, response.body);
  return response.json().token as string;
}

for (const backend of backends) {
  describe(`metrics and health on ${backend.name}`, { skip: backend.skip }, () => {
    it('needs an admin or all-ledger auditor key unless served public', async () => {
      const { app } = await start(backend);
      const reader = await createKey(app, { role: 'reader', ledgers: ['*'] });
      const auditorOfOne = await createKey(app, { role: 'auditor', ledgers: ['audit'] });
      const auditor = await createKey(app, { role: 'auditor', ledgers: ['*'] });
      const anonymous = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(anonymous.statusCode, 401);
      assert.equal(anonymous.json().error, 'UNAUTHENTICATED');
      assert.doesNotMatch(anonymous.body, /sealtrail_/);
      for (const token of [reader, auditorOfOne]) {
        const refused = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(token) });
        assert.equal(refused.statusCode, 403, refused.body);
        assert.equal(refused.json().error, 'FORBIDDEN');
      }
      assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: bearer(auditor) })).statusCode, 200);
      assert.equal((await scrape(app)).includes('sealtrail_http_requests_total'), true);

      const open = await start(backend, { metricsPublic: true });
      const response = await open.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.match(response.body, /sealtrail_ingest_in_flight_events 0/);
    });

    it('counts sealed events per ledger, observes ingest latency, and reports checkpoint age and ledger size', async () => {
      const { app } = await start(backend);
      for (const ledger of ['audit', 'billing']) {
        assert.equal((await app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: bearer(ADMIN) })).statusCode, 201);
      }
      const batch = [sampleEvent(1), sampleEvent(2), sampleEvent(3)];
      assert.equal((await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: bearer(ADMIN), payload: batch })).statusCode, 201);
      assert.equal((await app.inject({ method: 'POST', url: '/v1/ledgers/billing/events', headers: bearer(ADMIN), payload: sampleEvent(4) })).statusCode, 201);
      // Refused appends are not counted as sealed: an unknown ledger and an invalid event.
      assert.equal((await app.inject({ method: 'POST', url: '/v1/ledgers/nope/events', headers: bearer(ADMIN), payload: sampleEvent() })).statusCode, 404);
      assert.equal((await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: bearer(ADMIN), payload: { nope: 1 } })).statusCode, 400);

      const text = await scrape(app);
      assert.equal(sample(text, 'sealtrail_ingest_events_total{ledger="audit"}'), 3);
      assert.equal(sample(text, 'sealtrail_ingest_events_total{ledger="billing"}'), 1);
      assert.equal(sample(text, 'sealtrail_ingest_events_total{ledger="nope"}'), undefined);
      assert.equal(sample(text, 'sealtrail_ingest_duration_seconds_count{outcome="sealed"}'), 2);
      assert.equal(sample(text, 'sealtrail_ingest_duration_seconds_count{outcome="refused"}'), 2);
      assert.equal(sample(text, 'sealtrail_ingest_request_events_sum'), 4);
      assert.equal(sample(text, 'sealtrail_ingest_in_flight_events'), 0);
      assert.equal(sample(text, 'sealtrail_store_reachable'), 1);
      assert.equal(sample(text, 'sealtrail_ledger_size{ledger="audit"}'), 3);
      const age = sample(text, 'sealtrail_checkpoint_age_seconds{ledger="audit"}');
      assert.ok(age !== undefined && age >= 0 && age < 60, `checkpoint age ${age}`);
      assert.equal(sample(text, 'sealtrail_http_requests_total{route="/v1/ledgers/:ledger/events",method="POST",status="201"}'), 2);
      // Bounded labels: route templates, never raw paths, actors or tenants.
      assert.doesNotMatch(text, /u-1|user1@example\.com|203\.0\.113|tenant|\/v1\/ledgers\/audit\/events/);
    });

    it('counts rate-limit refusals', async () => {
      const { app } = await start(backend, { rateLimit: { max: 2, windowMs: 60_000 } });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await app.inject({ method: 'GET', url: '/v1/ledgers', headers: bearer(ADMIN) })).statusCode);
      assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
      assert.equal(sample(await scrape(app), 'sealtrail_rate_limited_total'), 3);
    });

    it('limits token attempts on /metrics per address, as under /v1', async () => {
      const { app } = await start(backend, { rateLimit: { max: 3, windowMs: 60_000 } });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await app.inject({ method: 'GET', url: '/metrics', headers: bearer(`st_guess${i}_${'x'.repeat(40)}`) })).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
      const limited = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(ADMIN) });
      assert.equal(limited.statusCode, 429, 'the budget is per address, whatever the token');
      assert.equal(limited.json().error, 'RATE_LIMITED');
    });

    it('reports the integrity state per ledger and how many entries are not yet verified', async () => {
      let status: IntegrityStatus = {
        ok: false,
        ledgers: [
          { ledger: 'audit', state: 'verifying', verifiedSize: 1, sweep: { position: 0, rounds: 0 } },
          { ledger: 'billing', state: 'broken', verifiedSize: 0, sweep: { position: 0, rounds: 0 }, reason: 'edited' },
        ],
      };
      const { app } = await start(backend, { integrity: { status: () => status } });
      await app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers: bearer(ADMIN) });
      const appended = await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: bearer(ADMIN), payload: [sampleEvent(1), sampleEvent(2), sampleEvent(3)] });
      assert.equal(appended.statusCode, 201, appended.body);
      const text = await scrape(app);
      assert.equal(sample(text, 'sealtrail_integrity_state{ledger="audit",state="verifying"}'), 1);
      assert.equal(sample(text, 'sealtrail_integrity_state{ledger="audit",state="trusted"}'), 0);
      assert.equal(sample(text, 'sealtrail_integrity_state{ledger="billing",state="broken"}'), 1);
      assert.equal(sample(text, 'sealtrail_integrity_unverified_entries{ledger="audit"}'), 2);
      assert.doesNotMatch(text, /edited/, 'reasons can describe stored data and stay out of labels');
      assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);

      status = { ok: true, ledgers: [{ ledger: 'audit', state: 'trusted', verifiedSize: 3, sweep: { position: 3, rounds: 1 } }] };
      const later = await scrape(app);
      assert.equal(sample(later, 'sealtrail_integrity_state{ledger="audit",state="trusted"}'), 1);
      assert.equal(sample(later, 'sealtrail_integrity_state{ledger="billing",state="broken"}'), undefined, 'a ledger the monitor no longer lists is dropped');
      assert.equal(sample(later, 'sealtrail_integrity_sweep_rounds{ledger="audit"}'), 1);
      const healthz = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(healthz.statusCode, 200);
      assert.deepEqual(healthz.json(), { ok: true });
      assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    });

    it('keeps each app its own registry, so two apps in one process do not share counts', async () => {
      const first = await start(backend);
      const second = await start(backend);
      await first.app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers: bearer(ADMIN) });
      await first.app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers: bearer(ADMIN), payload: sampleEvent() });
      assert.equal(sample(await scrape(first.app), 'sealtrail_ingest_events_total{ledger="audit"}'), 1);
      assert.equal(sample(await scrape(second.app), 'sealtrail_ingest_events_total{ledger="audit"}'), undefined);
    });
  });
}

describe('metrics gathering', () => {
  it('reads ledger heads from the store at most once per cache period, and a scrape never waits past its bound', async () => {
    const backend = backends[0]!;
    const { app, store } = await start(backend);
    let reads = 0;
    const listLedgers = store.listLedgers.bind(store);
    store.listLedgers = async () => {
      reads++;
      return listLedgers();
    };
    await scrape(app);
    await scrape(app);
    await scrape(app);
    assert.equal(reads, 1, 'three scrapes within the cache period read the store once');

    const slow = await start(backend);
    slow.store.listLedgers = () => new Promise(() => {});
    const began = Date.now();
    const text = await scrape(slow.app);
    assert.ok(Date.now() - began < 5_000, 'a hung store read does not hang the scrape');
    assert.match(text, /sealtrail_http_requests_total/);
  });

  it('lets a later subsystem report its lag on the same registry', async () => {
    const { app } = await start(backends[0]!);
    let behind = 7;
    app.metrics.addGauge('sealtrail_example_lag_events', 'Events a later subsystem has not processed yet.', [], () => [{ value: behind }]);
    assert.equal(sample(await scrape(app), 'sealtrail_example_lag_events'), 7);
    behind = 0;
    assert.equal(sample(await scrape(app), 'sealtrail_example_lag_events'), 0);
  });
});

describe('search index backlog', () => {
  it('counts acknowledged events waiting for their search rows, and not those a search has indexed', async () => {
    const { app, store } = await start(backends[0]!);
    await store.createLedger('audit');
    await store.append('audit', Array.from({ length: 30 }, (_, i) => ({ event: sampleEvent(i), writer: 'key_w' })));
    assert.equal(sample(await scrape(app), 'sealtrail_search_index_backlog_events'), 30);
    const search = await app.inject({ method: 'GET', url: '/v1/ledgers/audit/events?limit=5', headers: bearer(ADMIN) });
    assert.equal(search.statusCode, 200, search.body);
    // The 30 were indexed for the search; what may wait now is the search's own access record
    // (sealtrail-system), unless the background indexer has already taken it too.
    const after = sample(await scrape(app), 'sealtrail_search_index_backlog_events')!;
    assert.ok(after === 0 || after === 1, `backlog after the search: ${after}`);
  });
});

describe('event-loop delay', () => {
  it('reports the longest stall since the previous scrape, and starts again from zero after it', async () => {
    const { app } = await start(backends[0]!);
    await scrape(app);
    // The monitor restarts its clock at the first tick after a reset, so the block comes a few ticks later.
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Hold the loop for 80 ms, as a large synchronous transaction would, then let the monitor's timer run.
    const until = performance.now() + 80;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const held = sample(await scrape(app), 'sealtrail_event_loop_delay_seconds{quantile="1"}')!;
    assert.ok(held >= 0.06 && held < 1, `longest stall ${held} s after an 80 ms block`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const after = sample(await scrape(app), 'sealtrail_event_loop_delay_seconds{quantile="1"}')!;
    assert.ok(after < held, `the scrape reset the monitor: ${after} s then, ${held} s before`);
  });
});

describe('checkpoint age between store reads', () => {
  it('restarts at zero when an append signs a checkpoint, without waiting for the next store read', async () => {
    const { default: Fastify } = await import('fastify');
    const { registerMetrics, metricsRoute } = await import('../../src/server/metrics.js');
    let clock = 1_000_000;
    const signedAtMicros = clock * 1000;
    let storeReads = 0;
    const store = {
      async listLedgers() {
        storeReads++;
        return [{ name: 'audit', origin: 'x/audit', createdAt: '', size: 5 }];
      },
      async latestCheckpoint() {
        return { createdAtMicros: signedAtMicros };
      },
    } as unknown as Store;
    const app = Fastify();
    const metrics = await registerMetrics(app, { store, authenticator: undefined as never, now: () => clock });
    await metricsRoute(app, metrics, { authenticator: undefined as never, metricsPublic: true });
    app.post('/v1/ledgers/:ledger/events', async (_request, reply) => reply.code(201).send({}));
    cleanups.push(() => app.close());
    const age = async () => sample((await app.inject({ method: 'GET', url: '/metrics' })).body, 'sealtrail_checkpoint_age_seconds{ledger="audit"}');

    clock += 4_000;
    assert.equal(await age(), 4);
    clock += 3_000;
    assert.equal(await age(), 7, 'no append: the age grows from the cached checkpoint time');
    await app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', payload: {} });
    clock += 1_000;
    assert.equal(await age(), 1, 'the append signed a checkpoint a second ago');
    assert.equal(storeReads, 1, 'all within one cache period');
  });
});
