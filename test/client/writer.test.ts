/**
 * The SDK's batching writer against a real server (test/helpers/server.ts, listening): batching by
 * size and time, retries across the server going away and coming back and across lost answers (no
 * duplicates), a bounded queue, events refused alone, the spool surviving kill -9, receipt
 * verification against the pinned key (and a server that lies), and a graceful close.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '../../src/core/event.js';
import { BatchingWriter, QueueFullError, ReceiptVerificationError } from '../../src/client/index.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let server: TestServer;
let url: string;
let dir: string;
const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

const event = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({ actor: { type: 'user', id: `u-${n}` }, action: 'file.download', category: 'read', outcome: 'success', ...extra });

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});

async function ledgerSize(ledger: string): Promise<number> {
  return (await server.app.inject({ method: 'GET', url: `/v1/ledgers/${ledger}`, headers: admin() })).json().size;
}

async function createLedger(target: TestServer, ledger: string) {
  await target.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: { authorization: `Bearer ${target.adminToken}` } });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-writer-'));
  server = await buildTestServer();
  url = await server.app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A fetch that counts requests and can be told to fail or lose answers. */
function instrumentedFetch() {
  const state = { requests: 0, failNext: 0, loseNext: 0, tamper: undefined as undefined | ((body: any) => any) };
  const fetchImpl: typeof fetch = async (input, init) => {
    state.requests++;
    if (state.failNext > 0) {
      state.failNext--;
      return new Response(JSON.stringify({ error: 'OVERLOADED', message: 'try later' }), { status: 503, headers: { 'content-type': 'application/json' } });
    }
    const response = await fetch(input, init);
    if (state.loseNext > 0 && String(input).endsWith('/events')) {
      state.loseNext--;
      throw new TypeError('fetch failed: the answer was lost');
    }
    if (state.tamper && String(input).endsWith('/events') && response.ok) {
      return new Response(JSON.stringify(state.tamper(await response.json())), { status: response.status, headers: { 'content-type': 'application/json' } });
    }
    return response;
  };
  return { state, fetchImpl };
}

describe('BatchingWriter', () => {
  it('sends full batches at once and a partial batch after maxDelayMs', async () => {
    await createLedger(server, 'batches');
    const { state, fetchImpl } = instrumentedFetch();
    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'batches', maxBatch: 100, maxDelayMs: 50, fetch: fetchImpl });
    const receipts = await Promise.all(Array.from({ length: 250 }, (_, i) => writer.write(event(i))));
    assert.equal(state.requests, 3, 'two full batches and the 50 left after the delay');
    assert.deepEqual(receipts.map((r) => r.index), Array.from({ length: 250 }, (_, i) => i), 'in order');
    const started = Date.now();
    await writer.write(event(999));
    assert.ok(Date.now() - started >= 45, 'a lone event waits for its batch');
    await writer.close();
    assert.equal(await ledgerSize('batches'), 251);
  });

  it('retries 503s and lost answers with the same ids: nothing sealed twice', async () => {
    await createLedger(server, 'retries');
    const { state, fetchImpl } = instrumentedFetch();
    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'retries', maxBatch: 10, maxDelayMs: 5, retry: { initialDelayMs: 5, maxDelayMs: 20 }, fetch: fetchImpl });
    state.failNext = 2;
    state.loseNext = 1;
    const receipts = await Promise.all(Array.from({ length: 10 }, (_, i) => writer.write(event(i))));
    await writer.close();
    assert.equal(writer.stats.retries, 3);
    assert.equal(await ledgerSize('retries'), 10, 'the batch whose answer was lost was sealed once');
    assert.ok(receipts.every((r) => r.duplicate), 'the retry was answered from the first sealing');
  });

  it('waits out a server that is down, then delivers when it comes back', async () => {
    const port = await freePort();
    const later = await buildTestServer();
    try {
      await createLedger(later, 'comeback');
      const writer = await BatchingWriter.open({ url: `http://127.0.0.1:${port}`, token: later.adminToken, ledger: 'comeback', maxDelayMs: 5, retry: { initialDelayMs: 20, maxDelayMs: 100 } });
      const sealed = Promise.all(Array.from({ length: 20 }, (_, i) => writer.write(event(i))));
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(writer.stats.retries >= 2, 'connection refused is retried');
      assert.equal(writer.stats.sealed, 0);
      await later.app.listen({ port, host: '127.0.0.1' });
      const receipts = await sealed;
      assert.equal(receipts.length, 20);
      await writer.close();
      const size = (await later.app.inject({ method: 'GET', url: '/v1/ledgers/comeback', headers: { authorization: `Bearer ${later.adminToken}` } })).json().size;
      assert.equal(size, 20);
    } finally {
      await later.cleanup();
    }
  });

  it('refuses events past maxQueue (reject), or waits for room (wait)', async () => {
    const port = await freePort();
    const down = `http://127.0.0.1:${port}`;
    const writer = await BatchingWriter.open({ url: down, ledger: 'x', maxQueue: 5, maxDelayMs: 1, retry: { initialDelayMs: 50, maxDelayMs: 50 } });
    for (let i = 0; i < 5; i++) await writer.enqueue(event(i));
    await assert.rejects(writer.enqueue(event(5)), QueueFullError);
    assert.equal(writer.stats.refusedFull, 1);
    await writer.close({ timeoutMs: 50 });

    await createLedger(server, 'waiting');
    const waiting = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'waiting', maxQueue: 3, maxBatch: 3, whenFull: 'wait', maxDelayMs: 1 });
    await Promise.all(Array.from({ length: 12 }, (_, i) => waiting.enqueue(event(i))));
    assert.ok(waiting.size <= 3);
    await waiting.close();
    assert.equal(await ledgerSize('waiting'), 12);
  });

  it('refuses a bad event at enqueue with its field, and an event the server refuses fails alone', async () => {
    await createLedger(server, 'scoped');
    const key = (await server.app.inject({ method: 'POST', url: '/v1/keys', headers: admin(), payload: { role: 'writer', ledgers: ['scoped'], tenants: ['acme'] } })).json();
    const failures: string[] = [];
    const writer = await BatchingWriter.open({ url, token: key.token, ledger: 'scoped', maxDelayMs: 5, onError: (error, e) => failures.push(`${e.actor.id}: ${error.message}`) });
    await assert.rejects(writer.enqueue({ ...event(1), action: 'NotAnAction' }), /action/);
    const results = await Promise.allSettled([writer.write(event(1, { tenant: 'acme' })), writer.write(event(2, { tenant: 'globex' })), writer.write(event(3, { tenant: 'acme' }))]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!, /^u-2: .*tenants acme/);
    await writer.close();
    assert.equal(await ledgerSize('scoped'), 2);
  });

  it('verifies receipts against the pinned key and refuses those of a lying server', async () => {
    await createLedger(server, 'verified');
    const verifierKey = server.deployment.verifierKey;
    const good = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'verified', verifierKey, maxDelayMs: 5 });
    const receipts = await Promise.all(Array.from({ length: 5 }, (_, i) => good.write(event(i))));
    assert.equal(receipts.length, 5);
    await good.close();

    const { state, fetchImpl } = instrumentedFetch();
    state.tamper = (body: any[]) => body.map((r, i) => (i === 1 ? { ...r, leaf_hash: Buffer.alloc(32, 7).toString('base64') } : r));
    const errors: Error[] = [];
    const lied = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'verified', verifierKey, maxDelayMs: 5, fetch: fetchImpl, onError: (e) => errors.push(e) });
    const results = await Promise.allSettled([0, 1, 2].map((i) => lied.write(event(10 + i))));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.ok((results[1] as PromiseRejectedResult).reason instanceof ReceiptVerificationError);
    assert.equal(errors.length, 1);
    await lied.close();

    const otherKey = (await buildTestServer({ name: 'other.test' }));
    try {
      const wrongPin = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'verified', verifierKey: otherKey.deployment.verifierKey, maxDelayMs: 5 });
      await assert.rejects(wrongPin.write(event(99)), /not signed by the pinned key/);
      await wrongPin.close();
    } finally {
      await otherKey.cleanup();
    }
  });

  it('close() sends what is queued before it resolves', async () => {
    await createLedger(server, 'closing');
    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'closing', maxDelayMs: 60_000, maxBatch: 1000 });
    for (let i = 0; i < 42; i++) await writer.enqueue(event(i));
    assert.equal(await ledgerSize('closing'), 0);
    await writer.close();
    assert.equal(await ledgerSize('closing'), 42);
    await assert.rejects(writer.enqueue(event(1)), /closed/);
  });
});

describe('BatchingWriter spool', () => {
  it('keeps events of a process killed with SIGKILL and sends them from the next one, once', async () => {
    await createLedger(server, 'spooled');
    const spool = join(dir, 'events.spool');
    const port = await freePort();
    // The first process cannot reach any server: everything it accepted is only in the spool.
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/client/spool-child.ts', `http://127.0.0.1:${port}`, server.adminToken, 'spooled', spool, '300'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => (String(chunk).includes('spooled') ? resolve() : undefined));
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(await ledgerSize('spooled'), 0);

    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'spooled', spool, maxDelayMs: 5 });
    assert.equal(writer.size, 300, 'the killed process left 300 events in the spool');
    await writer.flush();
    await writer.close();
    assert.equal(await ledgerSize('spooled'), 300);

    const again = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'spooled', spool, maxDelayMs: 5 });
    assert.equal(again.size, 0, 'sealed events left the spool');
    await again.close();
    assert.equal(await ledgerSize('spooled'), 300);
  });

  it('refuses a spool another live process holds', async () => {
    const spool = join(dir, 'held.spool');
    const first = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'spooled', spool });
    await assert.rejects(BatchingWriter.open({ url, token: server.adminToken, ledger: 'spooled', spool }), /in use/);
    await first.close();
  });
});
