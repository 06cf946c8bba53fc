/**
 * The Splunk HEC target against an HTTP Event Collector written here (no Splunk runs on these machines):
 * it behaves as Splunk documents HEC — `Authorization: Splunk <token>` checked (401 code 2/3, 403 code 4),
 * concatenated JSON events parsed (400 code 6 with invalid-event-number, code 12), the request channel
 * required when indexer acknowledgement is on (400 code 10/11), `ackId`s that turn true after some polls
 * of /services/collector/ack or never, 503 code 9 when busy — and optionally lies (echoes the token).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { eventTimeMicros, rfc3339Micros } from '../../src/core/event-time.js';
import { DeliveryError, type Target } from '../../src/streams/target.js';
import { epochSeconds, requestBodies, splunkHecKind, type SplunkHecConfig } from '../../src/streams/targets/splunk-hec.js';
import { freePort, sealLedger, type SealedLedger } from './targets-fixtures.js';
import { makeTestPki, type TestPki } from './targets-rsyslog.js';

const never = new AbortController().signal;
let sealed: SealedLedger;
let pki: TestPki;
const closers: Array<() => void> = [];
const targets: Target[] = [];

before(async () => {
  sealed = await sealLedger('payments.eu', 240);
  pki = makeTestPki();
});
after(async () => {
  for (const target of targets) await target.close();
  for (const close of closers) close();
});

interface HecOptions {
  token: string;
  ack?: boolean;
  /** Polls of an ackId before it reads true; Infinity: never. */
  ackAfterPolls?: number;
  /** Answer 503 "Server is busy" to this many event requests first. */
  busy?: number;
  /** Refuse the channel of the first event request as unknown (code 11), as after a channel expired. */
  forgetChannelOnce?: boolean;
  /** Refuse every event request's data (code 6). */
  rejectData?: boolean;
  /** Put the presented token into error texts (a receiver that leaks what it is sent). */
  echoToken?: boolean;
  tls?: boolean;
}

interface Hec {
  url: string;
  events: Array<Record<string, any>>;
  bodies: string[];
  channels: Set<string>;
  polls: number;
}

/** Concatenated JSON values, as HEC takes a batch; throws with the position of the first bad one. */
function parseConcatenated(body: string): unknown[] {
  const values: unknown[] = [];
  let at = 0;
  while (at < body.length) {
    while (/\s/.test(body[at] ?? '')) at++;
    if (at >= body.length) break;
    let depth = 0;
    let quoted = false;
    let end = at;
    for (; end < body.length; end++) {
      const c = body[end];
      if (quoted) {
        if (c === '\\') end++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    try {
      values.push(JSON.parse(body.slice(at, end + 1)));
    } catch {
      throw Object.assign(new Error('bad event'), { number: values.length });
    }
    at = end + 1;
  }
  return values;
}

async function startHec(options: HecOptions): Promise<Hec> {
  const state: Hec = { url: '', events: [], bodies: [], channels: new Set(), polls: 0 };
  const ackPolls = new Map<number, number>();
  let nextAck = 0;
  let busy = options.busy ?? 0;
  let forgetChannel = options.forgetChannelOnce ?? false;
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, json: Record<string, unknown>, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(json));
      };
      const url = new URL(request.url ?? '/', 'http://hec');
      const authorization = request.headers.authorization;
      if (!authorization) return answer(401, { text: 'Token is required', code: 2 });
      const [scheme, token] = authorization.split(' ');
      if (scheme !== 'Splunk' || !token) return answer(401, { text: 'Invalid authorization', code: 3 });
      if (token !== options.token) return answer(403, { text: options.echoToken ? `Invalid token ${token}` : 'Invalid token', code: 4 });
      const channel = (request.headers['x-splunk-request-channel'] as string | undefined) ?? url.searchParams.get('channel') ?? undefined;
      const body = Buffer.concat(chunks).toString('utf8');
      if (url.pathname === '/services/collector/ack') {
        if (!options.ack) return answer(400, { text: 'ACK is disabled', code: 14 });
        state.polls++;
        const acks: Record<string, boolean> = {};
        for (const id of (JSON.parse(body) as { acks: number[] }).acks) {
          const polls = (ackPolls.get(id) ?? 0) + 1;
          ackPolls.set(id, polls);
          acks[String(id)] = polls >= (options.ackAfterPolls ?? 1);
        }
        return answer(200, { acks });
      }
      if (url.pathname !== '/services/collector/event') return answer(404, { text: 'The requested URL was not found on this server.', code: 404 });
      if (busy > 0) {
        busy--;
        return answer(503, { text: 'Server is busy', code: 9 }, { 'retry-after': '2' });
      }
      if (options.ack && !channel) return answer(400, { text: 'Data channel is missing', code: 10 });
      if (options.ack && forgetChannel) {
        forgetChannel = false;
        return answer(400, { text: 'Invalid data channel', code: 11 });
      }
      if (options.rejectData) return answer(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 });
      let events: unknown[];
      try {
        events = parseConcatenated(body);
      } catch (error) {
        return answer(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': (error as { number: number }).number });
      }
      if (events.length === 0) return answer(400, { text: 'No data', code: 5 });
      const missing = events.findIndex((event) => (event as Record<string, unknown>).event === undefined);
      if (missing >= 0) return answer(400, { text: 'Event field is required', code: 12, 'invalid-event-number': missing });
      state.events.push(...(events as Array<Record<string, any>>));
      state.bodies.push(body);
      if (channel) state.channels.add(channel);
      answer(200, options.ack ? { text: 'Success', code: 0, ackId: nextAck++ } : { text: 'Success', code: 0 });
    });
  };
  const server = options.tls ? https.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`;
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return state;
}

function target(settings: Record<string, unknown>, format = 'json'): Target {
  const made = splunkHecKind.create(splunkHecKind.parseConfig(settings), format);
  targets.push(made);
  return made;
}

function newToken(): string {
  return `${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}-${randomBytes(6).toString('hex')}`;
}

/** Every record in order as an HEC event, each delivery closed by its checkpoint event. */
function assertEvents(events: Array<Record<string, any>>, deliveries: Array<[number, number]>, sourcetype = 'sealtrail:json'): void {
  let at = 0;
  for (const [from, to] of deliveries) {
    for (let index = from; index < to; index++) {
      const event = events[at++]!;
      const record = sealed.records[index]!;
      assert.equal(event.sourcetype, sourcetype);
      assert.equal(event.source, 'sealtrail:payments.eu');
      assert.deepEqual(event.fields, { sealtrail_ledger: record.ledger, sealtrail_index: String(record.index), sealtrail_leaf_hash: record.leaf_hash });
      const micros = eventTimeMicros(record.event.occurred_at, rfc3339Micros(record.received_at)!);
      assert.equal(event.time, Number(epochSeconds(micros)));
      if (sourcetype === 'sealtrail:json') {
        assert.equal(event.event.index, record.index);
        assert.equal(event.event.leaf_hash, record.leaf_hash);
        assert.deepEqual(event.event.event, record.event);
      }
    }
    const checkpoint = events[at++]!;
    assert.equal(checkpoint.sourcetype, 'sealtrail:checkpoint');
    assert.deepEqual(checkpoint.event, { sealtrail_checkpoint: { ledger: 'payments.eu', size: sealed.checkpoint.size, note: sealed.checkpoint.note } });
  }
  assert.equal(events.length, at, 'nothing more was sent');
}

describe('splunk_hec target settings', () => {
  it('normalises the URL and refuses what cannot work', () => {
    const config = splunkHecKind.parseConfig({ url: 'https://splunk.example.com:8088/services/collector/event', token: 't' }) as SplunkHecConfig;
    assert.equal(config.url, 'https://splunk.example.com:8088');
    assert.equal(config.ack, 'auto');
    assert.throws(() => splunkHecKind.parseConfig({ url: 'https://splunk:8088' }), /token is required/);
    assert.throws(() => splunkHecKind.parseConfig({ url: 'https://admin:pw@splunk:8088', token: 't' }), /must not carry credentials/);
    assert.throws(() => splunkHecKind.parseConfig({ url: 'ftp://splunk', token: 't' }), /http or https/);
    assert.throws(() => splunkHecKind.parseConfig({ url: 'https://splunk', token: 't', ack: 'yes' }), /ack must be one of auto, required, off/);
    assert.throws(() => splunkHecKind.parseConfig({ url: 'https://splunk', token: 't', max_request_bytes: 10 }), /max_request_bytes/);
    assert.throws(() => splunkHecKind.parseConfig({ url: 'https://splunk', token: 't', sourceType: 'x' }), /unknown setting "sourceType"/);
    assert.deepEqual(splunkHecKind.secretFields, ['token']);
    assert.deepEqual(splunkHecKind.formats, ['json', 'ocsf']);
  });

  it('writes event time as exact epoch seconds and keeps requests under the size limit', () => {
    assert.equal(epochSeconds(1_795_679_511_123_498), '1795679511.123498');
    assert.equal(epochSeconds(5), '0.000005');
    const bodies = requestBodies(['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(25), 'd'], 20);
    assert.deepEqual(bodies, ['a'.repeat(10) + 'b'.repeat(10), 'c'.repeat(25), 'd']);
  });
});

describe('splunk_hec target → an HTTP Event Collector', () => {
  it('delivers batches that count only once indexer acknowledgement says indexed', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true, ackAfterPolls: 3 });
    const sink = target({ url: hec.url, token, index: 'audit', host: 'audit.example.com', ack_poll_ms: 20 });
    for (const [from, to] of [[0, 100], [100, 101], [101, 240]] as const) {
      const polls = hec.polls;
      await sink.deliver(sealed.delivery(from, to), never);
      assert.equal(hec.polls - polls, 3, 'resolved only after the third poll said true');
    }
    assertEvents(hec.events, [[0, 100], [100, 101], [101, 240]]);
    assert.ok(hec.events.every((event) => event.index === 'audit' && event.host === 'audit.example.com'));
    assert.equal(hec.channels.size, 1, 'one channel for the target');
  });

  it('splits a delivery into requests of at most max_request_bytes, in order', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true });
    await target({ url: hec.url, token, max_request_bytes: 16 * 1024, ack_poll_ms: 20 }).deliver(sealed.delivery(0, 240), never);
    assert.ok(hec.bodies.length > 5);
    assert.ok(hec.bodies.every((body) => Buffer.byteLength(body) <= 16 * 1024));
    assertEvents(hec.events, [[0, 240]]);
  });

  it('fails a delivery whose ackId never turns true, and honours the abort signal while waiting', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true, ackAfterPolls: Infinity });
    await assert.rejects(target({ url: hec.url, token, ack_timeout_ms: 300, ack_poll_ms: 20 }).deliver(sealed.delivery(0, 10), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, /did not confirm indexing of ackId 0 within 300 ms; the events will be sent again/);
      return true;
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(target({ url: hec.url, token, ack_poll_ms: 20 }).deliver(sealed.delivery(0, 10), controller.signal), /was cancelled/);
  });

  it('works with a receiver without acknowledgement, unless ack is required', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: false });
    await target({ url: hec.url, token }).deliver(sealed.delivery(0, 20), never);
    assert.equal(hec.polls, 0);
    assertEvents(hec.events, [[0, 20]]);
    await assert.rejects(target({ url: hec.url, token, ack: 'required' }).deliver(sealed.delivery(20, 30), never), /answered without an ackId: enable indexer acknowledgement/);
  });

  it('reports a wrong token as transient, never showing the token, even when the receiver echoes it', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true, echoToken: true });
    const wrong = newToken();
    await assert.rejects(target({ url: hec.url, token: wrong }).deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, /refused the token \(HTTP 403, "Invalid token \[token\]", code 4\)/);
      assert.ok(!error.message.includes(wrong));
      return true;
    });
    assert.equal(hec.events.length, 0);
  });

  it('dead-letters events the receiver refuses as data, and retries a busy receiver after Retry-After', async () => {
    const token = newToken();
    const refusing = await startHec({ token, ack: true, rejectData: true });
    await assert.rejects(target({ url: refusing.url, token }).deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
      assert.equal(error.permanent, true);
      assert.match(error.message, /refused the events \(HTTP 400, "Invalid data format", code 6, invalid event number 0\)/);
      return true;
    });
    const busy = await startHec({ token, ack: true, busy: 1 });
    const sink = target({ url: busy.url, token, ack_poll_ms: 20 });
    await assert.rejects(sink.deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
      assert.equal(error.permanent, false);
      assert.equal(error.retryAfterMs, 2000);
      assert.match(error.message, /is unavailable \(HTTP 503, "Server is busy", code 9\)/);
      return true;
    });
    await sink.deliver(sealed.delivery(0, 5), never);
    assertEvents(busy.events, [[0, 5]]);
  });

  it('takes a new channel when the receiver no longer knows its channel', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true, forgetChannelOnce: true });
    const sink = target({ url: hec.url, token, ack_poll_ms: 20 });
    await assert.rejects(sink.deliver(sealed.delivery(0, 5), never), /refused the request channel/);
    await sink.deliver(sealed.delivery(0, 5), never);
    assertEvents(hec.events, [[0, 5]]);
  });

  it('writes OCSF events', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true });
    await target({ url: hec.url, token, ack_poll_ms: 20 }, 'ocsf').deliver(sealed.delivery(0, 4), never);
    assertEvents(hec.events, [[0, 4]], 'sealtrail:ocsf');
    hec.events.slice(0, 4).forEach((event, i) => {
      assert.equal(event.event.metadata.version, '1.8.0');
      assert.equal(event.event.unmapped.leaf_hash, sealed.records[i]!.leaf_hash);
    });
  });

  it('reports a receiver that is down, and one whose path has no collector', async () => {
    const port = await freePort();
    await assert.rejects(target({ url: `http://127.0.0.1:${port}`, token: 't' }).deliver(sealed.delivery(0, 1), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError && !error.permanent);
      assert.match(error.message, new RegExp(`Splunk HEC 127\\.0\\.0\\.1:${port} refused the connection`));
      return true;
    });
    const token = newToken();
    const hec = await startHec({ token });
    await assert.rejects(target({ url: `${hec.url}/splunk`, token }).deliver(sealed.delivery(0, 1), never), /has no HTTP Event Collector at \/splunk\/services\/collector\/event \(HTTP 404\)/);
  });

  it('verifies the receiver\'s HTTPS certificate against ca_file', async () => {
    const token = newToken();
    const hec = await startHec({ token, ack: true, tls: true });
    await target({ url: hec.url, token, ca_file: pki.caFile, ack_poll_ms: 20 }).deliver(sealed.delivery(0, 3), never);
    assertEvents(hec.events, [[0, 3]]);
    await assert.rejects(target({ url: hec.url, token, ca_file: pki.otherCaFile }).deliver(sealed.delivery(0, 3), never), /its TLS certificate does not verify/);
  });
});
