/**
 * The running server against an attacker who edits the SQLite file: while the server is down (it is
 * closed, the file edited with every trigger dropped, and the server started again, wired exactly as
 * `sealtrail serve` wires it) and while it runs (a second connection edits the live file). The server
 * must refuse appends to the ledger, say so on /readyz and /v1/integrity and in its log, never sign a
 * second tree of a size it signed, and start fast on a big clean ledger (only what is new is verified).
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment, signedHeadsPath, type Deployment } from '../../src/server/deployment.js';
import { integrityMonitor } from '../../src/cli/commands/serve.js';
import type { IntegrityMonitor } from '../../src/store/integrity.js';
import { StoreError } from '../../src/store/store.js';
import { sampleEvent } from '../helpers/events.js';
import { runVerify } from '../helpers/cli.js';
import { recountRollups } from '../helpers/rollups.js';
import { editActorId, tamperWithFile } from '../helpers/sqlite-tamper.js';

const ADMIN = 'integrity-admin-token-0123456789';
const LEDGER = 'audit';
const OTHER = 'other';
const BATCH = 50;

interface Running {
  deployment: Deployment;
  monitor: IntegrityMonitor;
  app: FastifyInstance;
  errors: Array<{ message: string; details: Record<string, unknown> }>;
  close(): Promise<void>;
}

const folders: string[] = [];
let running: Running | undefined;

function newFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-integrity-'));
  folders.push(dir);
  return dir;
}

/** Starts the server stack on a data folder the way `serve` does: monitor verified before any request. */
async function start(dir: string): Promise<Running> {
  const deployment = openDeployment({ dataDir: dir, name: 'integrity.test' });
  const errors: Running['errors'] = [];
  const monitor = integrityMonitor(deployment, { error: (message, details) => errors.push({ message, details }), warn: () => {} }, 0);
  const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN, integrity: monitor });
  await monitor.start(false);
  running = {
    deployment,
    monitor,
    app,
    errors,
    async close() {
      await monitor.stop();
      await app.close();
      await deployment.store.close();
      deployment.guard.journal?.close();
      running = undefined;
    },
  };
  return running;
}

async function appendBatches(deployment: Deployment, ledger: string, batches: number, size = BATCH, from = 0): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const requests = Array.from({ length: size }, (_, i) => ({ event: sampleEvent(from + b * size + i), writer: 'key_w' }));
    await deployment.store.append(ledger, requests);
  }
}

function post(app: FastifyInstance, ledger: string) {
  return app.inject({ method: 'POST', url: `/v1/ledgers/${ledger}/events`, headers: { authorization: `Bearer ${ADMIN}` }, payload: sampleEvent(9999) });
}

/** Edits the (closed or live) SQLite file of DIR with every trigger dropped, as an attacker with the file would. */
function tamper(dir: string, change: (db: Database.Database, ledgerId: number) => void, ledger = LEDGER): void {
  tamperWithFile(join(dir, 'sealtrail.db'), ledger, change);
}

function brokenInStore(dir: string): string | null {
  const db = new Database(join(dir, 'sealtrail.db'), { readonly: true });
  try {
    return (
      db
        .prepare<[string], string | null>('SELECT s.broken_reason FROM integrity_state s JOIN ledgers l ON l.ledger_id = s.ledger_id WHERE l.name = ?')
        .pluck()
        .get(LEDGER) ?? null
    );
  } finally {
    db.close();
  }
}

async function assertRefusedAndUnready(server: Running, reason: RegExp): Promise<void> {
  const refused = await post(server.app, LEDGER);
  assert.equal(refused.statusCode, 503, refused.body);
  assert.equal(refused.json().error, 'LEDGER_INTEGRITY');
  assert.match(refused.json().message, reason);
  const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(ready.statusCode, 503);
  assert.deepEqual(ready.json().ledgers, [{ ledger: LEDGER, state: 'broken' }]);
  const status = await server.app.inject({ method: 'GET', url: '/v1/integrity', headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(status.statusCode, 200);
  const audit = (status.json().ledgers as Array<{ ledger: string; state: string; reason?: string }>).find((l) => l.ledger === LEDGER)!;
  assert.equal(audit.state, 'broken');
  assert.match(audit.reason!, reason);
  assert.ok(server.errors.some((e) => e.details.ledger === LEDGER && /failed integrity verification/.test(e.message)), 'an error is logged');
  // Other ledgers go on.
  assert.equal((await post(server.app, OTHER)).statusCode, 201);
}

describe('integrity of the running server (SQLite)', () => {
  afterEach(async () => {
    await running?.close();
  });
  after(() => {
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  it('is ready on a clean folder, and /readyz names nothing', async () => {
    const server = await start(newFolder());
    await server.deployment.store.createLedger(LEDGER);
    await appendBatches(server.deployment, LEDGER, 2);
    await server.monitor.runOnce();
    const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200, ready.body);
    assert.deepEqual(ready.json(), { ok: true, store: 'ok' });
    const reader = await server.app.inject({ method: 'GET', url: '/v1/integrity' });
    assert.equal(reader.statusCode, 401);
  });

  it('refuses appends after a value was edited while it was down, with /readyz 503 naming the ledger', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await server.deployment.store.createLedger(OTHER);
    await appendBatches(server.deployment, LEDGER, 3);
    await server.close(); // killed before the background round verified these batches
    tamper(dir, (db, id) => editActorId(db, id, 17));

    server = await start(dir);
    await assertRefusedAndUnready(server, /entry 17, field actor\.id/);
    assert.match(brokenInStore(dir) ?? '', /entry 17/, 'the broken state is in the store, for every process');
    await server.close();

    // The mark persists: a later start refuses at once, even before verifying.
    server = await start(dir);
    assert.equal((await post(server.app, LEDGER)).statusCode, 503);
  });

  it('says verifying, not trusted, while a catch-up cut short by a transient error has not finished', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await appendBatches(server.deployment, LEDGER, 2);
    await server.close();
    server = await start(dir);
    // Same folder, second process-like start whose store read fails once (a busy file, a lost connection).
    const deployment = openDeployment({ dataDir: dir, name: 'integrity.test' });
    // Two appends after the watermark, so that the catch-up has entries to read, and the read fails once.
    await appendBatches(deployment, LEDGER, 2, BATCH, 1000);
    let failures = 1;
    const original = deployment.store.entries.bind(deployment.store);
    deployment.store.entries = function (ledger, from, to) {
      if (ledger === LEDGER && failures-- > 0) throw new Error('SQLITE_BUSY: database is locked');
      return original(ledger, from, to);
    };
    // The monitor verifies slices on the store's verification thread, which reads on its own connection: the fault goes there.
    const offload = deployment.store.offloadedSlices.bind(deployment.store);
    deployment.store.offloadedSlices = (keyName, publicKey) => {
      const slices = offload(keyName, publicKey)!;
      const verifySlice = slices.verifySlice.bind(slices);
      slices.verifySlice = (ledger, ...rest) =>
        ledger === LEDGER && failures-- > 0 ? Promise.reject(new Error('SQLITE_BUSY: database is locked')) : verifySlice(ledger, ...rest);
      return slices;
    };
    await server.close();
    const monitor = integrityMonitor(deployment, { error: () => {}, warn: () => {} }, 0);
    try {
      await monitor.start(false);
      const ledger = () => monitor.status().ledgers.find((l) => l.ledger === LEDGER)!;
      assert.equal(ledger().state, 'verifying', JSON.stringify(monitor.status()));
      assert.equal(monitor.status().ok, false);
      await monitor.runOnce();
      assert.equal(ledger().state, 'trusted');
    } finally {
      await monitor.stop();
      await deployment.store.close();
      deployment.guard.journal?.close();
    }
  });

  it('refuses appends after a forged erasure (a value removed, recorded as erased, no sealed record)', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await server.deployment.store.createLedger(OTHER);
    await appendBatches(server.deployment, LEDGER, 2);
    await server.close();
    tamper(dir, (db, id) =>
      db.prepare(`UPDATE entries SET disclosures = json_remove(disclosures, '$."actor.id"'), redactions = '{"actor.id":"erased"}' WHERE ledger_id = ? AND idx = 12`).run(id),
    );
    server = await start(dir);
    await assertRefusedAndUnready(server, /entry 12, field actor\.id: recorded as erased, but no sealed forgetting record/);
  });

  it('finds an edit to already-verified history with the background sweep while running', async () => {
    const dir = newFolder();
    const server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await server.deployment.store.createLedger(OTHER);
    await appendBatches(server.deployment, LEDGER, 3);
    await server.monitor.runOnce();
    assert.equal(server.monitor.status().ok, true, JSON.stringify(server.monitor.status()));
    assert.equal(server.monitor.status().ledgers.find((l) => l.ledger === LEDGER)!.verifiedSize, 3 * BATCH);
    assert.equal((await post(server.app, LEDGER)).statusCode, 201);

    // Entry 5 was verified (the watermark is past it): only the sweep looks at it again.
    tamper(dir, (db, id) => editActorId(db, id, 5));
    await server.monitor.runOnce();
    await server.monitor.runOnce();
    await assertRefusedAndUnready(server, /entry 5, field actor\.id/);
  });

  it('finds swapped disclosures and a deleted entry at start', async () => {
    for (const change of [
      (db: Database.Database, id: number) => {
        const read = db.prepare<[number, number], string>('SELECT disclosures FROM entries WHERE ledger_id = ? AND idx = ?').pluck();
        const [a, b] = [read.get(id, 60)!, read.get(id, 61)!];
        const write = db.prepare('UPDATE entries SET disclosures = ? WHERE ledger_id = ? AND idx = ?');
        write.run(b, id, 60);
        write.run(a, id, 61);
      },
      (db: Database.Database, id: number) => void db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx = 70').run(id),
    ]) {
      const dir = newFolder();
      let server = await start(dir);
      await server.deployment.store.createLedger(LEDGER);
      await server.deployment.store.createLedger(OTHER);
      await appendBatches(server.deployment, LEDGER, 2);
      await server.close();
      tamper(dir, change);
      server = await start(dir);
      await assertRefusedAndUnready(server, /entry 60|entry 70/);
      await server.close();
    }
  });

  it('never signs a second tree of a size it signed after a rollback of the last batch and its checkpoint', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await server.deployment.store.createLedger(OTHER);
    await appendBatches(server.deployment, LEDGER, 3);
    const signed = (await server.deployment.store.latestCheckpoint(LEDGER))!;
    assert.equal(signed.size, 3 * BATCH);
    await server.close();
    tamper(dir, (db, id) => {
      const from = 2 * BATCH;
      db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx >= ?').run(id, from);
      db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size > ?').run(id, from);
      db.prepare('DELETE FROM integrity_state').run();
    });

    // Without the monitor (a CLI process, or before it ran), the signing path alone refuses.
    const bare = openDeployment({ dataDir: dir, name: 'integrity.test' });
    await assert.rejects(
      bare.store.append(LEDGER, Array.from({ length: BATCH }, (_, i) => ({ event: sampleEvent(500 + i), writer: 'key_w' }))),
      (error: unknown) => error instanceof StoreError && error.code === 'LEDGER_INTEGRITY' && /rolled back/.test(error.message),
    );
    assert.equal((await bare.store.latestCheckpoint(LEDGER))!.size, 2 * BATCH, 'nothing was signed');
    await bare.store.close();
    bare.guard.journal?.close();

    server = await start(dir);
    await assertRefusedAndUnready(server, /size 150 was signed .*rolled back/);
    assert.equal((await server.deployment.store.latestCheckpoint(LEDGER))!.size, 2 * BATCH);
    await server.close();
    // The journal never holds two heads of one size.
    const lines = readFileSync(signedHeadsPath(dir, undefined), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { l: string; s: number });
    const sizes = lines.filter((l) => l.l === LEDGER).map((l) => l.s);
    assert.deepEqual(sizes, [BATCH, 2 * BATCH, 3 * BATCH]);
  });

  it('starts on a big clean ledger by verifying only what is new since the watermark', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await appendBatches(server.deployment, LEDGER, 10, 500);
    await server.monitor.runOnce();
    await server.close();

    server = await start(dir);
    const system = server.monitor.verifier.entriesChecked;
    assert.ok(system < 100, `only the system ledger's few new records were verified, not the 5,000 entries (${system})`);
    await appendBatches(server.deployment, LEDGER, 1, 120, 5000);
    await server.close();

    server = await start(dir);
    assert.equal(server.monitor.status().ledgers.find((l) => l.ledger === LEDGER)!.state, 'trusted');
    const checked = server.monitor.verifier.entriesChecked;
    assert.ok(checked >= 120 && checked < 220, `the 120 new entries (and a few system records) were verified, not 5,120 (${checked})`);
    await server.close();

    // A watermark moved by a database edit (without the signing key) is not believed: all is verified again.
    tamper(dir, (db) => void db.prepare('UPDATE integrity_state SET verified_mac = zeroblob(32)').run());
    server = await start(dir);
    assert.ok(server.monitor.verifier.entriesChecked >= 5120, `${server.monitor.verifier.entriesChecked}`);
    assert.equal(server.monitor.status().ok, true);
  });

  it('refuses the reads it must record while the system ledger is broken, and still reports', async () => {
    const dir = newFolder();
    let server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    const read = () => server.app.inject({ method: 'GET', url: `/v1/ledgers/${LEDGER}`, headers: { authorization: `Bearer ${ADMIN}` } });
    for (let i = 0; i < 3; i++) assert.equal((await read()).statusCode, 200);
    await server.close();
    tamper(
      dir,
      (db, id) => {
        const text = db.prepare<[number], string>('SELECT disclosures FROM entries WHERE ledger_id = ? AND idx = 1').pluck().get(id)!;
        const disclosures = JSON.parse(text) as Record<string, [string, unknown]>;
        disclosures['action']![1] = 'nothing.happened';
        db.prepare('UPDATE entries SET disclosures = ? WHERE ledger_id = ? AND idx = 1').run(JSON.stringify(disclosures), id);
      },
      'sealtrail-system',
    );
    server = await start(dir);
    const refused = await read();
    // Refused as the access record's append fails in onSend, after the route ran: Fastify answers with
    // its own 503 body there, without the ledger's description.
    assert.equal(refused.statusCode, 503, refused.body);
    assert.doesNotMatch(refused.body, /"origin"/);
    const status = await server.app.inject({ method: 'GET', url: '/v1/integrity', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(status.statusCode, 200);
    assert.equal(status.json().ledgers.find((l: { ledger: string }) => l.ledger === 'sealtrail-system').state, 'broken');
    assert.equal((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
  });

  it('lets verify catch a deleted intermediate checkpoint, by the batch times and by the signed-heads journal', async () => {
    const dir = newFolder();
    const server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await appendBatches(server.deployment, LEDGER, 3);
    await server.close();
    const clean = await runVerify(['--data', dir, '--signed-heads', signedHeadsPath(dir, undefined)]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /audit: 3 signed heads of the journal are stored as signed/);

    tamper(dir, (db, id) => void db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size = ?').run(id, 2 * BATCH));
    const alone = await runVerify(['--data', dir]);
    assert.equal(alone.code, 1, alone.stdout + alone.stderr);
    assert.match(alone.stdout, /no checkpoint is stored at size 100, where a batch ended/);
  });

  it('lets verify with the journal catch a cut-off tail that the store alone cannot reveal', async () => {
    const dir = newFolder();
    const server = await start(dir);
    await server.deployment.store.createLedger(LEDGER);
    await appendBatches(server.deployment, LEDGER, 3);
    await server.close();
    tamper(dir, (db, id) => {
      db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx >= ?').run(id, 2 * BATCH);
      db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size > ?').run(id, 2 * BATCH);
      // The search index too, so that the store is consistent in itself.
      const rows = db.prepare<[number, number], number>('SELECT id FROM search_events WHERE ledger_id = ? AND idx >= ?').pluck().all(id, 2 * BATCH);
      for (const row of rows) db.prepare('DELETE FROM search_text WHERE rowid = ?').run(row);
      for (const table of ['search_events', 'search_targets', 'search_metadata']) db.prepare(`DELETE FROM ${table} WHERE ledger_id = ? AND idx >= ?`).run(id, 2 * BATCH);
      recountRollups(db);
    });
    const alone = await runVerify(['--data', dir]);
    assert.equal(alone.code, 0, `documented: the store alone cannot see its cut-off tail\n${alone.stdout}${alone.stderr}`);
    const journal = await runVerify(['--data', dir, '--signed-heads', signedHeadsPath(dir, undefined)]);
    assert.equal(journal.code, 1, journal.stdout + journal.stderr);
    assert.match(journal.stdout, /checkpoint of size 150, which the signed-heads journal records as signed, is not stored/);
  });
});
