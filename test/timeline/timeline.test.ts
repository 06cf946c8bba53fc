/**
 * Actor timelines against generated traffic (bench/gen.ts) with planted incidents, on SQLite and
 * PostgreSQL: the brute-force victim's run of failures, an impossible-travel pair with its speed, and
 * a service account's lateral movement into systems its history never held.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import type { AuditEvent } from '../../src/core/event.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { openGeo } from '../../src/platform/geo.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { buildTimeline, greatCircleKm, type Timeline } from '../../src/timeline/index.js';
import { Dataset, SimulatedClock, writeToStore } from '../../bench/gen.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';

const HOUR = 3_600_000_000;
const DAY = 24 * HOUR;
const END = Date.parse('2026-11-20T12:00:00Z') * 1000;
const LEDGER = 'app';
const geo = openGeo();
const iso = (micros: number) => new Date(micros / 1000).toISOString();

/** The planted extras, all after the generated span: history first, then the window's events. */
const BERLIN_IP = '79.192.10.20';
const TOKYO_IP = '153.128.10.20';
const WINDOW = { fromMicros: END + 2 * HOUR, toMicros: END + 8 * HOUR };

function event(actor: AuditEvent['actor'], at: number, parts: Partial<AuditEvent>): AuditEvent {
  return { actor, action: 'auth.login', category: 'auth', outcome: 'success', occurred_at: iso(at), ...parts };
}

const traveller = { type: 'user', id: 'u-traveller', session_id: 'sess-1' } as const;
const neighbour = { type: 'user', id: 'u-neighbour' } as const;
const service = { type: 'service', id: 'svc-lateral' } as const;

/** [received time, events] in order; received times never decrease, as a ledger requires. */
function planted(): Array<[number, AuditEvent[]]> {
  const t = (hours: number) => END + hours * HOUR;
  const payroll = { type: 'database', id: 'db-payroll' };
  return [
    [t(1), [event(service, t(1), { action: 'record.read', category: 'read', tenant: 'acme-hq', targets: [payroll] })]],
    [
      t(3),
      [
        event(traveller, t(3), { origin: { ip: BERLIN_IP }, tenant: 'acme-hq' }),
        event(neighbour, t(3), { origin: { ip: BERLIN_IP }, tenant: 'acme-hq' }),
        event(service, t(3), { action: 'record.read', category: 'read', tenant: 'acme-hq', targets: [payroll] }),
      ],
    ],
    [
      t(4),
      [
        event(traveller, t(4), { origin: { ip: TOKYO_IP }, tenant: 'acme-hq' }),
        event(service, t(4), { action: 'host.login', category: 'auth', tenant: 'acme-eu', targets: [{ type: 'host', id: 'srv-eu-1' }] }),
        event(service, t(4) + 60_000_000, { action: 'object.read', category: 'read', tenant: 'acme-us', targets: [{ type: 'bucket', id: 'backups' }, payroll] }),
      ],
    ],
  ];
}

interface Opened {
  store: Store;
  clock: SimulatedClock;
  close(): Promise<void>;
}

function timelineCases(backend: string, open: () => Promise<Opened>, skip?: string) {
  describe(`actor timelines: ${backend}`, { skip }, () => {
    let opened: Opened;
    let dataset: Dataset;
    const timeline = (actor: string, window: { fromMicros: number; toMicros: number }, extra: { tenants?: string[]; maxEvents?: number } = {}): Promise<Timeline> =>
      buildTimeline(opened.store, { actor, ...window, ledgers: [LEDGER], ...extra });

    before(async () => {
      opened = await open();
      dataset = new Dataset({ events: 6000, seed: 'timeline', days: 5, endMicros: END, tenants: 8, users: 200 });
      await writeToStore(opened.store, opened.clock, LEDGER, dataset, { progress: false });
      for (const [receivedAt, events] of planted()) {
        opened.clock.now = receivedAt;
        await opened.store.append(LEDGER, events.map((e) => ({ event: e, writer: 'test' })));
      }
    });
    after(() => opened?.close());

    it("shows the brute-force victim's 30 failures then the success, from the attacker's address", async () => {
      const incident = dataset.incidents.find((i) => i.name === 'brute-force')!;
      const result = await timeline(incident.actor, { fromMicros: incident.fromMicros - HOUR, toMicros: incident.toMicros + HOUR });
      const run = result.auth_runs.find((r) => r.ips.includes(incident.ip));
      assert.ok(run, 'the run is found');
      assert.equal(run.failures, 30);
      assert.deepEqual(run.ips, [incident.ip]);
      assert.deepEqual(run.reasons, ['invalid password']);
      // The success is the 31st planted event; the events after it (5 downloads, an export) come from the same address.
      const fromAttacker = result.events.filter((e) => (e.event.origin as { ip?: string }).ip === incident.ip);
      assert.equal(fromAttacker.length, 37);
      assert.equal(fromAttacker[30]!.time, run.success.time);
      assert.equal(fromAttacker[30]!.event.outcome, 'success');
      const times = result.events.map((e) => e.time);
      assert.deepEqual(times, [...times].sort(), 'ordered by event time');
      assert.ok(result.ips.some((a) => a.ip === incident.ip && a.events === 37));
    });

    it('gives the speed between two geolocated logins an hour apart, and marks it implausible', async () => {
      const result = await timeline(traveller.id, WINDOW);
      assert.equal(result.events.length, 2);
      assert.equal(result.sessions.length, 1);
      assert.deepEqual(result.sessions[0]!.ips, [BERLIN_IP, TOKYO_IP]);
      assert.equal(result.travel.length, 1);
      const leg = result.travel[0]!;
      const berlin = geo.lookup(BERLIN_IP)!;
      const tokyo = geo.lookup(TOKYO_IP)!;
      assert.equal(leg.from.location.country, 'DE');
      assert.equal(leg.to.location.country, 'JP');
      const km = greatCircleKm(berlin as { latitude: number; longitude: number }, tokyo as { latitude: number; longitude: number });
      assert.ok(km > 8000, `Germany to Japan is far (${km} km)`);
      assert.equal(leg.seconds, 3600);
      assert.equal(leg.distance_km, Math.round(km * 10) / 10);
      assert.equal(leg.speed_kmh, Math.round(km * 10) / 10);
      assert.equal(leg.implausible, true);
      assert.deepEqual(result.shared_addresses, [{ ip: BERLIN_IP, actors: [{ actor: neighbour.id, events: 1 }] }]);
    });

    it("marks the systems a service account never touched before as first seen", async () => {
      const result = await timeline(service.id, WINDOW);
      assert.equal(result.events.length, 3);
      const tenants = Object.fromEntries(result.systems.tenants.map((t) => [t.tenant, t.first_seen]));
      assert.deepEqual(tenants, { 'acme-hq': false, 'acme-eu': true, 'acme-us': true });
      const types = Object.fromEntries(result.systems.target_types.map((t) => [t.type, t.first_seen]));
      assert.deepEqual(types, { database: false, host: true, bucket: true });
      const resources = Object.fromEntries(result.resources.map((r) => [`${r.type}:${r.id}`, [r.events, r.first_seen]]));
      assert.deepEqual(resources, { 'database:db-payroll': [2, false], 'host:srv-eu-1': [1, true], 'bucket:backups': [1, true] });
      assert.equal(result.history.complete, true);
      // No session ids, and no gap over 30 minutes between 3:00 and 4:01? There is one (an hour): two sessions.
      assert.deepEqual(result.sessions.map((s) => [s.session_id, s.events]), [[null, 1], [null, 2]]);
    });

    it("keeps a tenant-scoped reader to its tenants, in the events and in the history", async () => {
      const result = await timeline(service.id, WINDOW, { tenants: ['acme-eu'] });
      assert.deepEqual(result.events.map((e) => e.event.tenant), ['acme-eu']);
      assert.deepEqual(result.systems.tenants.map((t) => t.tenant), ['acme-eu']);
      const shared = await timeline(traveller.id, WINDOW, { tenants: ['acme-eu'] });
      assert.deepEqual([shared.events.length, shared.shared_addresses.length], [0, 0]);
    });

    it('refuses a window with more events than the bound, naming it', async () => {
      await assert.rejects(
        timeline(dataset.busiest.user, { fromMicros: END - 5 * DAY, toMicros: END }, { maxEvents: 5 }),
        (e: unknown) => (e as { code?: string }).code === 'QUERY_TOO_COSTLY' && (e as { details: { limit: number } }).details.limit === 5,
      );
      await assert.rejects(timeline(service.id, { fromMicros: END, toMicros: END }), /window is empty/);
    });
  });
}

/** What both stores are opened with: a simulated clock (events are received when gen says) and the bundled geolocation. */
function storeOptions() {
  const clock = new SimulatedClock();
  return { clock, options: { suite: nodeSuite, signer: portableSigner(nodeSuite.randomBytes(32)), name: 'timeline.test', clock: clock.read, locate: geo.lookup } };
}

timelineCases('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-timeline-'));
  const { clock, options } = storeOptions();
  const store = new SqliteStore({ path: join(dir, 'db.sqlite'), ...options });
  const close = async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { store, clock, close };
});

const unavailable = await postgresUnavailable();
timelineCases(
  'postgres',
  async () => {
    const fixture = await createPostgresFixture('timeline.test');
    const { clock, options } = storeOptions();
    const store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, ...options });
    const close = async () => {
      await store.close();
      await fixture.drop();
    };
    return { store, clock, close };
  },
  unavailable,
);
