/**
 * Reports under test: an app over a fresh SQLite file or PostgreSQL schema whose ledger `demo` holds a
 * generated dataset (bench/gen.ts) sealed at its simulated times, with two planted logging gaps — the
 * whole ledger silent for a busy half day, and one tenant silent for three days — and the counts the
 * report must find, taken from the events as written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { Dataset, type GeneratedEvent } from '../../bench/gen.js';
import { portableSigner } from '../../src/core/crypto.js';
import { formatVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { hasIntegrityState, IntegrityGuard, IntegrityMonitor } from '../../src/store/integrity.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { createPostgresFixture, type PostgresFixture } from '../helpers/postgres.js';

export const ADMIN = 'reports-admin-token-0123456789abcdef';
export const NAME = 'reports.test';
export const LEDGER = 'demo';
const HOUR = 3_600_000_000;
const DAY = 24 * HOUR;
/** The simulated span: 28 days ending 2026-11-01T00:00Z. */
export const END = Date.parse('2026-11-01T00:00:00Z') * 1000;
export const START = END - 28 * DAY;

export interface Planted {
  /** Every event of the ledger is dropped in [from, to). */
  ledgerGap: { from: number; to: number };
  /** Every event of `tenant` is dropped in [from, to). */
  tenantGap: { tenant: string; from: number; to: number };
}

export interface Known {
  total: number;
  perDay: Map<string, number>;
  perAction: Map<string, number>;
  perCategory: Map<string, number>;
  /** Per tenant: events, and access events (read, export, create, update, delete). */
  tenants: Map<string, { events: number; accesses: number }>;
}

export interface ReportServer {
  app: FastifyInstance;
  store: Store;
  kind: 'sqlite' | 'postgres';
  /** The deployment's verifier key (name+id+public key). */
  verifierKey: string;
  planted: Planted;
  known: Known;
  /** Overwrites the stored leaf hash of entry `index` of the ledger behind the store's back (its guards lifted). */
  tamper(index: number): Promise<void>;
  /** With `monitored`: the server's integrity monitor, started (every ledger verified to its head) before the app. */
  monitor?: IntegrityMonitor;
  /** Appends `batches` batches of `perBatch` events received after the period, an hour apart; returns the new size. */
  appendAfterPeriod(batches: number, perBatch: number): Promise<number>;
  cleanup(): Promise<void>;
}

const ACCESS = new Set(['read', 'export', 'create', 'update', 'delete']);

function plantGaps(dataset: Dataset): Planted {
  // A weekday, in the middle of the span, in working hours of every tenant region (08:00–20:00 UTC).
  const ledgerFrom = START + 15 * DAY + 8 * HOUR;
  const tenant = dataset.tenants[1]!.id;
  return {
    ledgerGap: { from: ledgerFrom - ((ledgerFrom - START) % HOUR), to: ledgerFrom + 12 * HOUR },
    tenantGap: { tenant, from: START + 6 * DAY, to: START + 9 * DAY },
  };
}

function kept(planted: Planted, e: GeneratedEvent): boolean {
  const { ledgerGap: l, tenantGap: t } = planted;
  if (e.atMicros >= l.from && e.atMicros < l.to) return false;
  return !(e.event.tenant === t.tenant && e.atMicros >= t.from && e.atMicros < t.to);
}

function count(map: Map<string, number>, key: string) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Appends the dataset (minus the planted gaps) one simulated batch at a time; returns what was written. */
async function writeDataset(store: Store, clock: { now: number | undefined }, dataset: Dataset, planted: Planted): Promise<Known> {
  await store.createLedger(LEDGER);
  const known: Known = { total: 0, perDay: new Map(), perAction: new Map(), perCategory: new Map(), tenants: new Map() };
  let batch: GeneratedEvent[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    // Received a moment after the last event of the batch happened, as gen.ts does.
    clock.now = batch.at(-1)!.atMicros + 400_000;
    await store.append(LEDGER, batch.map((e) => ({ event: e.event, writer: 'gen' })));
    const day = new Date(Math.floor(clock.now / 1000)).toISOString().slice(0, 10);
    for (const e of batch) {
      known.total++;
      count(known.perDay, day);
      count(known.perAction, e.event.action);
      count(known.perCategory, e.event.category);
      if (e.event.tenant) {
        const t = known.tenants.get(e.event.tenant) ?? { events: 0, accesses: 0 };
        t.events++;
        if (ACCESS.has(e.event.category)) t.accesses++;
        known.tenants.set(e.event.tenant, t);
      }
    }
    batch = [];
  };
  for (const e of dataset.events()) {
    if (!kept(planted, e)) continue;
    // Batches never straddle a UTC day (so per-day counts are exact) and span at most five minutes.
    if (batch.length > 0 && (batch.length >= 500 || e.atMicros - batch[0]!.atMicros > 300_000_000 || Math.floor(e.atMicros / DAY) !== Math.floor(batch[0]!.atMicros / DAY))) await flush();
    batch.push(e);
  }
  await flush();
  clock.now = undefined;
  return known;
}

export async function buildReportServer(kind: 'sqlite' | 'postgres', events = 8000, options: { monitored?: boolean } = {}): Promise<ReportServer> {
  const dataset = new Dataset({ events, seed: 'reports', days: 28, endMicros: END, tenants: 6, users: 300 });
  const planted = plantGaps(dataset);
  const clock: { now: number | undefined } = { now: undefined };
  const read = () => clock.now ?? Date.now() * 1000;
  const signer = portableSigner(nodeSuite.randomBytes(32));
  let store: Store;
  let tamper: (index: number) => Promise<void>;
  let release: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-reports-'));
    const path = join(dir, 'sealtrail.db');
    store = new SqliteStore({ path, suite: nodeSuite, signer, name: NAME, clock: read });
    tamper = async (index) => {
      const db = new Database(path);
      try {
        const triggers = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'entries'").all();
        for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);
        db.prepare('UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = ? AND ledger_id = (SELECT ledger_id FROM ledgers WHERE name = ?)').run(index, LEDGER);
      } finally {
        db.close();
      }
    };
    release = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const fixture: PostgresFixture = await createPostgresFixture(NAME);
    store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME, clock: read });
    tamper = async (index) => {
      const client = new pg.Client({ connectionString: fixture.adminUrl });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${fixture.schema}"`);
        await client.query('ALTER TABLE entries DISABLE TRIGGER USER');
        await client.query("UPDATE entries SET leaf_hash = decode(repeat('00', 32), 'hex') WHERE idx = $1 AND ledger_id = (SELECT ledger_id FROM ledgers WHERE name = $2)", [index, LEDGER]);
        await client.query('ALTER TABLE entries ENABLE TRIGGER USER');
      } finally {
        await client.end();
      }
    };
    release = () => fixture.drop();
  }
  const known = await writeDataset(store, clock, dataset, planted);
  let monitor: IntegrityMonitor | undefined;
  if (options.monitored) {
    if (!hasIntegrityState(store)) throw new Error(`the ${kind} store keeps no integrity state`);
    // Sweeps re-check all history at once when a test runs a round, rather than a little per second.
    monitor = new IntegrityMonitor({ store, suite: nodeSuite, signer, keyName: NAME, guard: new IntegrityGuard(), holder: 'reports-test', sweepEntries: 1_000_000, sweepPauseMs: 0 });
    await monitor.start(false);
  }
  const verifierKey = formatVerifierKey(nodeSuite, NAME, signer.publicKey);
  const app = await buildApp({
    store,
    suite: nodeSuite,
    verifierKey,
    adminToken: ADMIN,
    rateLimit: false,
    ...(monitor ? { integrity: monitor } : {}),
  });
  await app.ready();
  return {
    app,
    store,
    kind,
    verifierKey,
    planted,
    known,
    tamper,
    ...(monitor ? { monitor } : {}),
    async appendAfterPeriod(batches, perBatch) {
      let size = 0;
      for (let b = 0; b < batches; b++) {
        clock.now = END + (b + 1) * HOUR;
        const events = Array.from({ length: perBatch }, (_, i) => ({
          event: { actor: { type: 'user' as const, id: `late-${b}-${i}` }, action: 'file.read', category: 'read' as const, outcome: 'success' as const },
          writer: 'gen',
        }));
        const receipt = await store.append(LEDGER, events);
        size = receipt.at(-1)!.index + 1;
      }
      clock.now = undefined;
      return size;
    },
    async cleanup() {
      await monitor?.stop();
      await app.close();
      await store.close();
      await release();
    },
  };
}

export const admin = { authorization: `Bearer ${ADMIN}` };
