/**
 * The sink runtime against a real webhook receiver (verifying every request with the standardwebhooks
 * package), on SQLite and on PostgreSQL as the restricted service role: delivery in order and complete,
 * the checkpoint and predecessor carried, receivers that answer 500 then 200, 400 (dead letter, then a
 * replay of it), hang (timeout), are down, or present a certificate that does not verify; pause, resume,
 * replay from an index, filters, and failing/recovered records in the system ledger.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import { parseQuery } from '../../src/core/query.js';
import { SYSTEM_LEDGER } from '../../src/core/forgetting.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { secretBox } from '../../src/streams/secrets.js';
import { SinkService } from '../../src/streams/service.js';
import { newWebhookSecret } from '../../src/streams/targets/webhook.js';
import { sampleEvent } from '../helpers/events.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';
import { receivedIndexes, startReceiver, until } from './webhook-receiver.js';

const NAME = 'streams.test';
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  open(): Promise<Store>;
  verifierKey: string;
  destroy(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-streams-'));
  tempDirs.push(dir);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: async () => new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: NAME }),
    verifierKey: formatVerifierKey(nodeSuite, NAME, signer.publicKey),
    destroy: async () => {},
  };
}

async function postgresHarness(): Promise<Harness> {
  const fixture = await createPostgresFixture(NAME);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: () => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME }),
    verifierKey: formatVerifierKey(nodeSuite, NAME, signer.publicKey),
    destroy: () => fixture.drop(),
  };
}


async function append(store: Store, ledger: string, count: number, offset = 0): Promise<void> {
  await store.append(ledger, Array.from({ length: count }, (_, i) => ({ event: sampleEvent(offset + i), writer: 'w' })));
}

const FAST = { batch_ms: 20, retry_base_ms: 10, retry_max_ms: 40 };

function service(store: Store, logs: string[] = []): SinkService {
  return new SinkService({
    store,
    box: secretBox(nodeSuite.randomBytes(32)),
    refreshMs: 200,
    checkMs: 100,
    leaseMs: 1500,
    log: { error: (m, d) => logs.push(`${m} ${JSON.stringify(d)}`), warn: (m, d) => logs.push(`${m} ${JSON.stringify(d)}`) },
  });
}

async function systemActions(store: Store): Promise<string[]> {
  const page = await store.search(SYSTEM_LEDGER, { query: parseQuery('action:sink.*'), limit: 1000, order: 'asc' });
  return page.entries.map((e) => e.disclosures.action![1] as string);
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

for (const [kind, make] of [
  ['SQLite', async () => sqliteHarness()],
  ['PostgreSQL', postgresHarness],
] as const) {
  describe(`sink runtime with a webhook receiver (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;

    async function withSinks(run: (ctx: { store: Store; sinks: SinkService; harness: Harness; logs: string[] }) => Promise<void>): Promise<void> {
      const harness = await make();
      const store = await harness.open();
      const logs: string[] = [];
      const sinks = service(store, logs);
      await store.createLedger('app');
      await store.createLedger(SYSTEM_LEDGER);
      await sinks.start();
      try {
        await run({ store, sinks, harness, logs });
      } finally {
        await sinks.stop();
        await store.close();
        await harness.destroy();
      }
    }

    it('delivers every event in ledger order, signed, with its checkpoint and predecessor', { skip }, async () => {
      await withSinks(async ({ store, sinks, harness }) => {
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret);
        try {
          await append(store, 'app', 120);
          await sinks.create({ name: 'siem', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, batch_size: 50, ...FAST }, 'admin0');
          await append(store, 'app', 80, 120);
          await until(() => receiver.events.length >= 200, '200 events delivered');
          assert.deepEqual(receivedIndexes(receiver, 'app'), Array.from({ length: 200 }, (_, i) => i));
          assert.equal(receiver.badSignatures, 0);
          assert.ok(receiver.contentTypes.every((t) => t === 'application/cloudevents-batch+json'));
          const verifier = parseVerifierKey(nodeSuite, harness.verifierKey);
          for (const [i, event] of receiver.events.entries()) {
            assert.equal(event.specversion, '1.0');
            assert.equal(event.id, `app:${i}`);
            assert.equal(event.sealtrailledger, 'app');
            assert.equal(event.sealtrailprevindex, i === 0 ? undefined : String(i - 1));
            const entry = (await store.getEntry('app', i))!;
            assert.equal(event.sealtrailleafhash, Buffer.from(entry.leafHash).toString('base64'));
            assert.equal(event.data.index, i);
          }
          // Each request's last event carries a checkpoint, signed, covering the request.
          for (const body of receiver.bodies) {
            const events = JSON.parse(body) as Array<Record<string, any>>;
            const last = events[events.length - 1]!;
            const { checkpoint } = openCheckpoint(nodeSuite, last.sealtrailcheckpoint, [verifier]);
            assert.ok(checkpoint.size > Number(last.sealtrailindex));
          }
          await until(async () => (await sinks.get('siem')).lag_events === 0, 'lag 0');
          const view = await sinks.get('siem');
          assert.deepEqual(view.cursors.map((c) => [c.ledger, c.next]), [['app', 200]]);
          assert.equal(view.state, 'delivering');
          assert.ok(view.last_success_at);
        } finally {
          await receiver.close();
        }
      });
    });

    it('retries 500 and 429 with backoff, honours Retry-After, and seals failing then recovered', { skip }, async () => {
      await withSinks(async ({ store, sinks, logs }) => {
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret);
        try {
          const stamps: number[] = [];
          receiver.answer = (n) => {
            stamps.push(Date.now());
            if (n === 3) return { status: 429, headers: { 'retry-after': '1' } };
            return n < 3 ? { status: 500 } : { status: 200 };
          };
          await append(store, 'app', 10);
          await sinks.create({ name: 'flaky', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, ...FAST }, 'admin0');
          await until(() => receiver.events.length >= 10, 'delivery after the receiver recovered');
          assert.deepEqual(receivedIndexes(receiver, 'app'), Array.from({ length: 10 }, (_, i) => i));
          assert.ok(stamps[4]! - stamps[3]! >= 950, `Retry-After: 1 was honoured (${stamps[4]! - stamps[3]!} ms)`);
          await until(async () => (await systemActions(store)).includes('sink.recovered'), 'sink.recovered sealed');
          const actions = await systemActions(store);
          assert.deepEqual(actions.filter((a) => a !== 'sink.create'), ['sink.failing', 'sink.recovered']);
          const view = await sinks.get('flaky');
          assert.match(view.last_error!, /HTTP (500|429)/);
          assert.equal(view.state, 'delivering');
          assert.ok(logs.some((line) => /sink flaky: failing/.test(line)), 'the failure was logged as an error');
          assert.ok(logs.every((line) => !line.includes(secret.slice(6, 20))), 'no log line holds the secret');
        } finally {
          await receiver.close();
        }
      });
    });

    it('dead-letters a batch the receiver refuses (400), goes on, and replays the dead letter', { skip }, async () => {
      await withSinks(async ({ store, sinks }) => {
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret);
        try {
          let refuse = true;
          receiver.answer = (n) => (n === 0 && refuse ? { status: 400 } : { status: 200 });
          await append(store, 'app', 5);
          await sinks.create({ name: 'strict', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, ...FAST }, 'admin0');
          await until(async () => (await sinks.get('strict')).dead_letters === 1, 'one dead letter');
          await append(store, 'app', 3, 5);
          await until(() => receiver.events.length >= 3, 'delivery goes on after the dead letter');
          assert.deepEqual(receivedIndexes(receiver, 'app'), [5, 6, 7]);
          // The gap is visible to the receiver: 5's predecessor (4) never arrived.
          assert.equal(receiver.events[0]!.sealtrailprevindex, '4');
          const [letter] = await sinks.deadLetters('strict');
          assert.deepEqual([letter!.from, letter!.to, letter!.records, letter!.attempts], [0, 5, 5, 1]);
          assert.match(letter!.error, /HTTP 400/);
          refuse = false;
          assert.deepEqual(await sinks.replayDeadLetter('strict', letter!.id, 'admin0'), { delivered: 5 });
          assert.deepEqual(receivedIndexes(receiver, 'app').sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
          assert.equal((await sinks.get('strict')).dead_letters, 0);
          assert.ok((await systemActions(store)).includes('sink.dead_letter'));
        } finally {
          await receiver.close();
        }
      });
    });

    it('times out a receiver that hangs, and delivers once it answers', { skip }, async () => {
      await withSinks(async ({ store, sinks }) => {
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret);
        try {
          receiver.answer = (n) => (n === 0 ? 'hang' : { status: 204 });
          await append(store, 'app', 4);
          const started = Date.now();
          await sinks.create({ name: 'slow', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, timeout_ms: 300, ...FAST }, 'admin0');
          await until(() => receiver.events.length >= 4, 'delivery after the timeout');
          assert.ok(Date.now() - started >= 300);
          assert.match((await sinks.get('slow')).last_error!, /did not answer within 300 ms/);
          assert.deepEqual(receivedIndexes(receiver, 'app'), [0, 1, 2, 3]);
        } finally {
          await receiver.close();
        }
      });
    });

    it('reports a receiver that is down, and delivers everything once it is up', { skip }, async () => {
      await withSinks(async ({ store, sinks }) => {
        const secret = newWebhookSecret();
        let receiver = await startReceiver(secret);
        const url = receiver.url;
        await receiver.close();
        await append(store, 'app', 6);
        await sinks.create({ name: 'away', type: 'webhook', ledgers: ['app'], url, secret, max_attempts: 1000, ...FAST }, 'admin0');
        await until(async () => (await sinks.get('away')).state === 'failing', 'failing reported');
        assert.match((await sinks.get('away')).last_error!, /unreachable: ECONNREFUSED/);
        receiver = await startReceiver(secret);
        try {
          // The same port, so the sink's URL now answers (another receiver on a new port would not).
          if (receiver.url !== url) {
            await sinks.remove('away', 'admin0');
            await sinks.create({ name: 'away', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, ...FAST }, 'admin0');
          }
          await until(() => receiver.events.length >= 6, 'delivery once the receiver is up');
          assert.deepEqual(receivedIndexes(receiver, 'app'), [0, 1, 2, 3, 4, 5]);
        } finally {
          await receiver.close();
        }
      });
    });

    it('refuses a certificate that does not verify, and trusts it when given as ca', { skip: skip ?? (hasOpenssl() ? false : 'openssl is needed') }, async () => {
      await withSinks(async ({ store, sinks }) => {
        const dir = mkdtempSync(join(tmpdir(), 'sealtrail-sink-tls-'));
        tempDirs.push(dir);
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
          '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
        const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret, { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert });
        try {
          await append(store, 'app', 3);
          await sinks.create({ name: 'selfsigned', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, ...FAST }, 'admin0');
          await until(async () => (await sinks.get('selfsigned')).last_error !== null, 'the TLS failure reported');
          assert.match((await sinks.get('selfsigned')).last_error!, /TLS certificate of 127\.0\.0\.1:\d+ does not verify/);
          assert.equal(receiver.events.length, 0);
          await sinks.create({ name: 'trusted', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, ca: cert, ...FAST }, 'admin0');
          await until(() => receiver.events.length >= 3, 'delivery with the CA configured');
        } finally {
          await receiver.close();
        }
      });
    });

    it('pauses without losing anything, resumes, replays from an index, and filters', { skip }, async () => {
      await withSinks(async ({ store, sinks }) => {
        const secret = newWebhookSecret();
        const receiver = await startReceiver(secret);
        try {
          await append(store, 'app', 30);
          // sampleEvent: n % 7 === 0 fails; the filter keeps failures only.
          await sinks.create({ name: 'failures', type: 'webhook', ledgers: ['app'], url: receiver.url, secret, query: 'outcome:failure', mode: 'structured', ...FAST }, 'admin0');
          const failures = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 === 0);
          await until(() => receiver.events.length >= failures(30).length, 'filtered delivery');
          assert.deepEqual(receivedIndexes(receiver, 'app'), failures(30));
          assert.ok(receiver.contentTypes.every((t) => t === 'application/cloudevents+json'));
          assert.equal(receiver.events[1]!.sealtrailprevindex, '0', 'the predecessor is the previous match, not index - 1');
          await sinks.pause('failures', 'admin0');
          await append(store, 'app', 30, 30);
          await new Promise((resolve) => setTimeout(resolve, 400));
          assert.deepEqual(receivedIndexes(receiver, 'app'), failures(30), 'nothing while paused');
          assert.equal((await sinks.get('failures')).state, 'paused');
          await sinks.resume('failures', 'admin0');
          await until(() => receiver.events.length >= failures(60).length, 'delivery after resume');
          assert.deepEqual(receivedIndexes(receiver, 'app'), failures(60));
          const before = receiver.events.length;
          await sinks.replay('failures', 'app', 14, 'admin0');
          await until(() => receiver.events.length >= before + failures(60).filter((i) => i >= 14).length, 'replayed');
          assert.deepEqual(receivedIndexes(receiver, 'app').slice(before), failures(60).filter((i) => i >= 14));
          assert.equal(receiver.events[before]!.sealtrailprevindex, undefined, 'a replay starts a new chain');
          const actions = await systemActions(store);
          for (const action of ['sink.create', 'sink.pause', 'sink.resume', 'sink.replay']) assert.ok(actions.includes(action), action);
        } finally {
          await receiver.close();
        }
      });
    });
  });
}
