/**
 * kill -9 of a real `sealtrail serve` in the middle of a stream, then a restart (SQLite), and two server
 * processes on one PostgreSQL database where the delivering one is killed and the other takes over once
 * its lease lapses. Either way the receiver ends with every index, first arrivals in ledger order (nothing
 * skipped), duplicates allowed and counted; and `verify-stream` verifies what it stored, offline.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newWebhookSecret } from '../../src/streams/targets/webhook.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli } from '../helpers/cli.js';
import { spawnServe } from '../helpers/serve.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { receivedIndexes, startReceiver, until, type Receiver } from './webhook-receiver.js';

const ADMIN_TOKEN = 'streams-crash-admin-token-0123456789';
const dirs: string[] = [];
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Server {
  url: string;
  child: ChildProcess;
  exited: Promise<void>;
}

function serve(dataDir: string, fixture?: PostgresFixture): Promise<Server> {
  const args = ['--data', dataDir, '--port', '0', '--name', 'crash.test', '--quiet', '--integrity-interval', '0'];
  if (fixture) args.push('--database-url', fixture.serviceUrl, '--database-schema', fixture.schema);
  return spawnServe(args, { SEALTRAIL_ADMIN_TOKEN: ADMIN_TOKEN }, (child) => {
    children.add(child);
    child.on('close', () => children.delete(child));
  });
}

async function api(server: Server, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function appendBatches(server: Server, from: number, batches: number, size: number): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const events = Array.from({ length: size }, (_, i) => sampleEvent(from + b * size + i));
    await api(server, 'POST', '/v1/ledgers/app/events', events);
  }
}

/** First arrivals must be 0, 1, 2, … in that order; later arrivals of an index are duplicates. */
function checkArrivals(receiver: Receiver, total: number): number {
  const seen = new Set<number>();
  const firsts: number[] = [];
  for (const index of receivedIndexes(receiver, 'app')) {
    if (seen.has(index)) continue;
    seen.add(index);
    firsts.push(index);
  }
  assert.deepEqual(firsts, Array.from({ length: total }, (_, i) => i), 'every index, first arrivals in ledger order');
  return receivedIndexes(receiver, 'app').length - total;
}

async function verifyStored(receiver: Receiver, verifierKey: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-received-'));
  dirs.push(dir);
  const file = join(dir, 'received.jsonl');
  writeFileSync(file, `${receiver.bodies.join('\n')}\n`);
  const result = await runCli(['verify-stream', file, '--key', verifierKey]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /verified: complete, unaltered and consistent/);
}

const TOTAL = 600;

describe('a stream survives kill -9 of the server', () => {
  it('SQLite: killed mid-stream and restarted, nothing lost or skipped', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-crash-'));
    dirs.push(dataDir);
    const secret = newWebhookSecret();
    const receiver = await startReceiver(secret);
    // Slow until the kill, so that under any load the kill lands with most of the stream undelivered.
    receiver.answer = () => ({ status: 200, delayMs: 150 });
    try {
      let server = await serve(dataDir);
      const verifierKey = (await (await fetch(`${server.url}/v1/verifier-key`)).text()).trim();
      await api(server, 'PUT', '/v1/ledgers/app');
      await api(server, 'POST', '/v1/sinks', { name: 'siem', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, batch_size: 20, batch_ms: 10 });
      await appendBatches(server, 0, 30, 20);
      await until(() => receiver.events.length >= 100, 'deliveries under way', 30_000);
      server.child.kill('SIGKILL');
      await server.exited;
      const atKill = receiver.events.length;
      assert.ok(atKill < TOTAL, `killed mid-stream (${atKill} of ${TOTAL} delivered)`);
      receiver.answer = () => ({ status: 200, delayMs: 15 });
      server = await serve(dataDir);
      // The dead process's lease (15 s) must lapse before the new one delivers.
      await until(() => new Set(receivedIndexes(receiver, 'app')).size >= TOTAL, 'the rest delivered after restart', 60_000);
      const duplicates = checkArrivals(receiver, TOTAL);
      process.stderr.write(`kill -9 (SQLite): ${atKill} delivered before the kill, ${duplicates} duplicate(s) after restart\n`);
      assert.equal(receiver.badSignatures, 0);
      await verifyStored(receiver, verifierKey);
      server.child.kill('SIGTERM');
      await server.exited;
    } finally {
      await receiver.close();
    }
  });

  it('PostgreSQL: the delivering process is killed and the other takes over', { timeout: 150_000 }, async (t) => {
    const unavailable = await postgresUnavailable();
    if (unavailable) return t.skip(unavailable);
    const fixture = await createPostgresFixture('crash.test');
    const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-crash-pg-'));
    dirs.push(dataDir);
    const secret = newWebhookSecret();
    const receiver = await startReceiver(secret);
    receiver.answer = () => ({ status: 200, delayMs: 150 });
    try {
      const first = await serve(dataDir, fixture);
      const verifierKey = (await (await fetch(`${first.url}/v1/verifier-key`)).text()).trim();
      await api(first, 'PUT', '/v1/ledgers/app');
      await api(first, 'POST', '/v1/sinks', { name: 'siem', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, batch_size: 20, batch_ms: 10 });
      await appendBatches(first, 0, 10, 20);
      // The first process holds the lease: the second starts only once deliveries run.
      await until(() => receiver.events.length >= 40, 'the first process delivering', 30_000);
      const second = await serve(dataDir, fixture);
      await appendBatches(second, 200, 20, 20);
      first.child.kill('SIGKILL');
      await first.exited;
      const atKill = new Set(receivedIndexes(receiver, 'app')).size;
      assert.ok(atKill < TOTAL, `killed mid-stream (${atKill} of ${TOTAL} delivered)`);
      receiver.answer = () => ({ status: 200, delayMs: 15 });
      await until(() => new Set(receivedIndexes(receiver, 'app')).size >= TOTAL, 'the second process takes over', 90_000);
      const duplicates = checkArrivals(receiver, TOTAL);
      process.stderr.write(`kill -9 (PostgreSQL, two processes): ${atKill} delivered before the kill, ${duplicates} duplicate(s) after the takeover\n`);
      // The receiver has a batch before its sender records the cursor past it (delivery, then the cursor): wait for that step.
      const cursor = async () => (await api(second, 'GET', '/v1/sinks')).sinks[0].cursors[0].next as number;
      await until(async () => (await cursor()) >= TOTAL, 'the cursor recorded past the last delivery', 10_000);
      assert.equal(await cursor(), TOTAL);
      await verifyStored(receiver, verifierKey);
      second.child.kill('SIGTERM');
      await second.exited;
    } finally {
      await receiver.close();
      await fixture.drop();
    }
  });
});
