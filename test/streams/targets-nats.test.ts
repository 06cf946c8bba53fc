/**
 * The NATS JetStream target against the real nats-server (127.0.0.1:4222, JetStream on), each test with
 * its own stream and subjects; credentials against nats-servers this file starts with user/password or
 * token authentication. Messages are read back from the stream by sequence: every record stored once,
 * in order, with its headers, whatever the retries.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DeliveryError, type Target } from '../../src/streams/target.js';
import { natsKind, type NatsConfig } from '../../src/streams/targets/nats.js';
import { eventually, freePort, sealLedger, type SealedLedger } from './targets-fixtures.js';

const SERVER = 'nats://127.0.0.1:4222';
const never = new AbortController().signal;

let sealed: SealedLedger;
let nc: NatsConnection;
let jsm: JetStreamManager;
const streams: string[] = [];
const targets: Target[] = [];
const servers: ChildProcess[] = [];

before(async () => {
  sealed = await sealLedger('payments.eu', 240);
  nc = await connect({ servers: SERVER });
  jsm = await jetstreamManager(nc);
});
after(async () => {
  for (const target of targets) await target.close();
  for (const name of streams) await jsm.streams.delete(name).catch(() => {});
  await nc.close();
  for (const server of servers) server.kill('SIGTERM');
});

function unique(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** A stream of this test's own, capturing `<prefix>.>`. */
async function ownStream(): Promise<{ stream: string; prefix: string }> {
  const stream = unique('SEALTRAIL_TEST');
  const prefix = stream.toLowerCase();
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
  streams.push(stream);
  return { stream, prefix };
}

function target(settings: Record<string, unknown>, format = 'json'): Target {
  const made = natsKind.create(natsKind.parseConfig(settings), format);
  targets.push(made);
  return made;
}

async function stored(stream: string): Promise<StoredMsg[]> {
  const { state } = await jsm.streams.info(stream);
  const out: StoredMsg[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage(stream, { seq });
    if (message) out.push(message);
  }
  return out;
}

function assertStored(messages: StoredMsg[], subject: string, deliveryEnds: number[]): void {
  assert.equal(messages.length, deliveryEnds[deliveryEnds.length - 1]! + 1);
  messages.forEach((message, i) => {
    const record = sealed.records[i]!;
    assert.equal(message.subject, subject);
    assert.equal(message.header.get('Nats-Msg-Id'), `${record.ledger}:${record.index}`);
    assert.equal(message.header.get('Sealtrail-Ledger'), record.ledger);
    assert.equal(message.header.get('Sealtrail-Index'), String(record.index));
    assert.equal(message.header.get('Sealtrail-Leaf-Hash'), record.leaf_hash);
    assert.equal(message.header.get('Sealtrail-Previous-Index'), i === 0 ? '-' : String(i - 1));
    const body = message.json<Record<string, any>>();
    assert.equal(body.index, record.index);
    assert.equal(body.leaf_hash, record.leaf_hash);
    assert.deepEqual(body.event, record.event);
    if (deliveryEnds.includes(i)) {
      assert.equal(Buffer.from(message.header.get('Sealtrail-Checkpoint'), 'base64').toString('utf8'), sealed.checkpoint.note);
      assert.equal(message.header.get('Sealtrail-Checkpoint-Size'), String(sealed.checkpoint.size));
    } else assert.equal(message.header.has('Sealtrail-Checkpoint'), false, `message ${i} has no checkpoint`);
  });
}

describe('nats target settings', () => {
  it('normalises defaults, keeps credentials out of URLs and names its secrets', () => {
    const config = natsKind.parseConfig({ servers: SERVER }) as NatsConfig;
    assert.deepEqual(config.servers, [SERVER]);
    assert.equal(config.subject, 'sealtrail.{ledger}');
    assert.equal(config.createStream, false);
    assert.throws(() => natsKind.parseConfig({}), /servers must be/);
    assert.throws(() => natsKind.parseConfig({ servers: 'nats://alice:s3cret@127.0.0.1:4222' }), /must not contain credentials/);
    assert.throws(() => natsKind.parseConfig({ servers: SERVER, subject: 'sealtrail.*' }), /without wildcards/);
    assert.throws(() => natsKind.parseConfig({ servers: SERVER, create_stream: true }), /create_stream needs stream/);
    assert.throws(() => natsKind.parseConfig({ servers: SERVER, stream: 'S', create_stream: true, subject: '{ledger}.audit' }), /last token/);
    assert.throws(() => natsKind.parseConfig({ servers: SERVER, user: 'alice' }), /user and password go together/);
    assert.throws(() => natsKind.parseConfig({ servers: SERVER, token: 't', user: 'a', password: 'p' }), /either token or user/);
    assert.deepEqual(natsKind.secretFields, ['password', 'token']);
    assert.deepEqual(natsKind.formats, ['json', 'ocsf', 'cloudevents']);
  });
});

describe('nats target → JetStream', () => {
  it('publishes every record once, in order, with its headers and the checkpoint once per delivery', async () => {
    const { stream, prefix } = await ownStream();
    const sink = target({ servers: SERVER, subject: `${prefix}.{ledger}`, stream });
    await sink.deliver(sealed.delivery(0, 100), never);
    await sink.deliver(sealed.delivery(100, 101), never);
    await sink.deliver(sealed.delivery(101, 240), never);
    assertStored(await stored(stream), `${prefix}.payments.eu`, [99, 100, 239]);
  });

  it('stores a retried delivery once: JetStream drops the duplicates by Nats-Msg-Id', async () => {
    const { stream, prefix } = await ownStream();
    const sink = target({ servers: SERVER, subject: `${prefix}.{ledger}` });
    await sink.deliver(sealed.delivery(0, 50), never);
    await sink.deliver(sealed.delivery(0, 50, 2), never);
    // A retry that overlaps: the runtime resends from the cursor, which may lie inside what was stored.
    await sink.deliver(sealed.delivery(30, 80, 3), never);
    const messages = await stored(stream);
    assert.equal(messages.length, 80);
    assert.deepEqual(messages.map((m) => Number(m.header.get('Sealtrail-Index'))), Array.from({ length: 80 }, (_, i) => i));
    // Another target (a restarted process) is de-duplicated the same way: the id is the record's, not the connection's.
    await target({ servers: SERVER, subject: `${prefix}.{ledger}` }).deliver(sealed.delivery(70, 80), never);
    assert.equal((await jsm.streams.info(stream)).state.messages, 80);
  });

  it('writes CloudEvents and OCSF payloads', async () => {
    const { stream, prefix } = await ownStream();
    await target({ servers: SERVER, subject: `${prefix}.ce.{ledger}` }, 'cloudevents').deliver(sealed.delivery(0, 3), never);
    await target({ servers: SERVER, subject: `${prefix}.ocsf.{ledger}` }, 'ocsf').deliver(sealed.delivery(0, 3), never);
    const messages = await stored(stream);
    const cloud = messages.slice(0, 3).map((m) => m.json<Record<string, any>>());
    cloud.forEach((event, i) => {
      assert.equal(event.specversion, '1.0');
      assert.equal(event.id, `payments.eu:${i}`);
      assert.equal(event.sealtrailindex, String(i));
      assert.equal(event.data.leaf_hash, sealed.records[i]!.leaf_hash);
    });
    assert.equal(messages[0]!.header.get('Content-Type'), 'application/cloudevents+json');
    const ocsf = messages.slice(3).map((m) => m.json<Record<string, any>>());
    ocsf.forEach((event, i) => {
      assert.equal(event.metadata.version, '1.8.0');
      assert.equal(event.unmapped.index, i);
      assert.equal(event.unmapped.leaf_hash, sealed.records[i]!.leaf_hash);
    });
  });

  it('reports a stream that does not exist, and creates it when asked to', async () => {
    const stream = unique('SEALTRAIL_MISSING');
    const prefix = stream.toLowerCase();
    const checked = target({ servers: SERVER, subject: `${prefix}.{ledger}`, stream });
    await assert.rejects(checked.deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, new RegExp(`JetStream stream ${stream} does not exist`));
      return true;
    });
    const unchecked = target({ servers: SERVER, subject: `${prefix}.{ledger}` });
    await assert.rejects(unchecked.deliver(sealed.delivery(0, 5), never), new RegExp(`no JetStream stream captures subject ${prefix}\\.payments\\.eu`));

    const creating = target({ servers: SERVER, subject: `${prefix}.{ledger}`, stream, create_stream: true, duplicate_window_seconds: 600 });
    streams.push(stream);
    await creating.deliver(sealed.delivery(0, 5), never);
    const info = await jsm.streams.info(stream);
    assert.deepEqual(info.config.subjects, [`${prefix}.>`]);
    assert.equal(info.config.duplicate_window, 600 * 1_000_000_000);
    assert.equal(info.state.messages, 5);
  });

  it('reports a message larger than the server takes as permanent', async () => {
    const { prefix } = await ownStream();
    const huge = { ...sealed.delivery(0, 1) };
    huge.records = [{ ...sealed.records[0]!, event: { ...sealed.records[0]!.event, metadata: { blob: 'x'.repeat(1_100_000) } } }];
    await assert.rejects(target({ servers: SERVER, subject: `${prefix}.{ledger}` }).deliver(huge, never), (error: DeliveryError) => {
      assert.ok(error.permanent);
      assert.match(error.message, /more than the server's max_payload/);
      return true;
    });
  });

  it('reports an unreachable server as transient, and honours the abort signal', async () => {
    const port = await freePort();
    const sink = target({ servers: `nats://127.0.0.1:${port}`, connect_timeout_ms: 2000 });
    await assert.rejects(sink.deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, new RegExp(`NATS server nats://127\\.0\\.0\\.1:${port} refused the connection`));
      return true;
    });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(target({ servers: SERVER }).deliver(sealed.delivery(0, 5), controller.signal), /was cancelled/);
  });
});

describe('nats target credentials', () => {
  async function natsServer(auth: string[]): Promise<string> {
    const port = await freePort();
    const child = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', mkdtempSync(join(tmpdir(), 'sealtrail-nats-')), ...auth], { stdio: 'ignore' });
    servers.push(child);
    const url = `nats://127.0.0.1:${port}`;
    await eventually(async () => {
      try {
        await (await connect({ servers: url, ...(auth[0] === '--auth' ? { token: auth[1] } : { user: auth[1], pass: auth[3] }) })).close();
        return true;
      } catch {
        return undefined;
      }
    }, 10_000, `nats-server on ${port}`);
    return url;
  }

  async function streamOn(url: string, options: Record<string, string>): Promise<void> {
    const admin = await connect({ servers: url, ...options });
    await (await jetstreamManager(admin)).streams.add({ name: 'AUTH', subjects: ['auth.>'] });
    await admin.close();
  }

  it('authenticates with user and password, and never shows the password in an error', async () => {
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const url = await natsServer(['--user', 'sealtrail', '--pass', password]);
    await streamOn(url, { user: 'sealtrail', pass: password });
    await target({ servers: url, subject: 'auth.{ledger}', user: 'sealtrail', password }).deliver(sealed.delivery(0, 3), never);
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    await assert.rejects(target({ servers: url, subject: 'auth.{ledger}', user: 'sealtrail', password: wrong }).deliver(sealed.delivery(0, 3), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, /refused the credentials/);
      assert.ok(!error.message.includes(wrong) && !error.message.includes(password));
      return true;
    });
  });

  it('authenticates with a token, and never shows it in an error', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const url = await natsServer(['--auth', token]);
    await streamOn(url, { token });
    await target({ servers: url, subject: 'auth.{ledger}', token }).deliver(sealed.delivery(0, 3), never);
    const wrong = `tok-${randomBytes(8).toString('hex')}`;
    await assert.rejects(target({ servers: url, subject: 'auth.{ledger}', token: wrong }).deliver(sealed.delivery(0, 3), never), (error: DeliveryError) => {
      assert.match(error.message, /refused the credentials/);
      assert.ok(!error.message.includes(wrong) && !error.message.includes(token));
      return true;
    });
    await assert.rejects(target({ servers: url, subject: 'auth.{ledger}' }).deliver(sealed.delivery(0, 3), never), /refused the credentials/);
  });
});
