/**
 * The syslog target against Debian's rsyslogd (imtcp, and imtcp with the gtls driver for RFC 5425):
 * every record arrives complete, in order, with its seal fields, and each delivery with its checkpoint;
 * a receiver that is down, goes down, closes mid-write, stalls, or shows a certificate that does not
 * verify is reported as a DeliveryError, and the next delivery reconnects.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { DeliveryError, type Target } from '../../src/streams/target.js';
import { syslogKind, type SyslogConfig } from '../../src/streams/targets/syslog.js';
import { eventually, freePort, sealLedger, type SealedLedger } from './targets-fixtures.js';
import { makeTestPki, parseSyslog, startRsyslog, type ParsedSyslog, type Rsyslog, type TestPki } from './targets-rsyslog.js';

const SEAL = 'seal@32473';
const EVENT = 'event@32473';
const CHECKPOINT = 'checkpoint@32473';
const CHAIN = 'chain@32473';

let sealed: SealedLedger;
let pki: TestPki;
const receivers: Rsyslog[] = [];
const targets: Target[] = [];

before(async () => {
  sealed = await sealLedger('payments.eu', 240);
  pki = makeTestPki();
});
after(async () => {
  for (const target of targets) await target.close();
  for (const receiver of receivers) await receiver.stop();
});

async function receiver(options: Parameters<typeof startRsyslog>[0] = {}): Promise<Rsyslog> {
  const started = await startRsyslog(options);
  receivers.push(started);
  return started;
}

function target(settings: Record<string, unknown>, format = 'syslog'): Target {
  const made = syslogKind.create(syslogKind.parseConfig(settings), format);
  targets.push(made);
  return made;
}

const never = new AbortController().signal;

async function received(rsyslog: Rsyslog, count: number): Promise<ParsedSyslog[]> {
  const lines = await eventually(() => {
    const got = rsyslog.messages();
    return got.length >= count ? got : undefined;
  }, 15_000, `${count} messages in ${rsyslog.outFile}`);
  assert.equal(lines.length, count, 'no message more than was sent');
  return lines.map(parseSyslog);
}

/** Every record in order with its fields; the checkpoint on the last message of each delivery. */
function assertStream(messages: ParsedSyslog[], from: number, deliveryEnds: number[]): void {
  messages.forEach((message, i) => {
    const record = sealed.records[from + i]!;
    assert.deepEqual(message.sd[SEAL], { ledger: record.ledger, index: String(record.index), leaf_hash: record.leaf_hash, writer: record.writer }, `message ${i}`);
    const event = record.event as Record<string, any>;
    assert.equal(message.sd[EVENT]!.id, event.id);
    assert.equal(message.sd[EVENT]!['actor.name'], event.actor.name);
    assert.equal(message.sd[EVENT]!.reason, event.outcome_reason);
    assert.deepEqual(JSON.parse(message.sd[EVENT]!.metadata!), event.metadata);
    assert.equal(message.timestamp, record.received_at);
    assert.deepEqual(message.sd[CHAIN], { previous: from + i === 0 ? '-' : String(from + i - 1) });
    if (deliveryEnds.includes(from + i)) assert.deepEqual(message.sd[CHECKPOINT], { size: String(sealed.checkpoint.size), note: sealed.checkpoint.note });
    else assert.equal(message.sd[CHECKPOINT], undefined, `message ${i} has no checkpoint`);
  });
}

describe('syslog target settings', () => {
  it('normalises defaults and refuses what cannot work', () => {
    const config = syslogKind.parseConfig({ host: 'siem.example.com' }) as SyslogConfig;
    assert.equal(config.port, 601);
    assert.equal(config.framing, 'octet-counting');
    assert.equal((syslogKind.parseConfig({ host: 'siem.example.com', transport: 'tls' }) as SyslogConfig).port, 6514);
    assert.throws(() => syslogKind.parseConfig({}), /host is required/);
    assert.throws(() => syslogKind.parseConfig({ host: 'tcp://siem:514' }), /host must be a host name/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', port: 70000 }), /port must be a whole number/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', transport: 'tls', framing: 'non-transparent' }), /octet-counting over TLS/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', ca_file: '/etc/ca.pem' }), /only to transport "tls"/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', transport: 'tls', cert_file: '/c.pem' }), /go together/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', caFile: '/c.pem' }), /unknown setting "caFile"/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', transport: 'tls', ca: 'not a certificate' }), /ca must be PEM/);
    assert.throws(() => syslogKind.parseConfig({ host: 'siem', enterprise_number: 0 }), /enterprise_number/);
    assert.deepEqual(syslogKind.formats, ['syslog', 'cef']);
  });
});

describe('syslog target → rsyslogd over TCP', () => {
  it('delivers every record complete and in order with octet counting, the checkpoint once per delivery', async () => {
    const rsyslog = await receiver();
    const sink = target({ host: '127.0.0.1', port: rsyslog.port });
    await sink.deliver(sealed.delivery(0, 100), never);
    await sink.deliver(sealed.delivery(100, 101), never);
    await sink.deliver(sealed.delivery(101, 240), never);
    assertStream(await received(rsyslog, 240), 0, [99, 100, 239]);
  });

  it('delivers with non-transparent (LF) framing', async () => {
    const rsyslog = await receiver();
    const sink = target({ host: '127.0.0.1', port: rsyslog.port, framing: 'non-transparent', hostname: 'audit.example.com' });
    await sink.deliver(sealed.delivery(0, 30), never);
    const messages = await received(rsyslog, 30);
    assertStream(messages, 0, [29]);
    assert.equal(messages[0]!.hostname, 'audit.example.com');
  });

  it('sends CEF as the MSG of an RFC 5424 message that keeps the seal and checkpoint elements', async () => {
    const rsyslog = await receiver();
    const sink = target({ host: '127.0.0.1', port: rsyslog.port, enterprise_number: 99999 }, 'cef');
    await sink.deliver(sealed.delivery(0, 5), never);
    const messages = await received(rsyslog, 5);
    messages.forEach((message, i) => {
      assert.equal(message.sd['seal@99999']!.index, String(i));
      assert.equal(message.sd['event@99999'], undefined);
      assert.match(message.msg, new RegExp(`^CEF:0\\|sealtrail\\|sealtrail\\|[^|]+\\|${sealed.records[i]!.event.action}\\|.* cn1=${i} cn1Label=index `));
    });
    assert.equal(messages[4]!.sd['checkpoint@99999']!.note, sealed.checkpoint.note);
  });

  it('reports a receiver that is not listening, and delivers once it is', async () => {
    const port = await freePort();
    const sink = target({ host: '127.0.0.1', port });
    await assert.rejects(sink.deliver(sealed.delivery(0, 10), never), (error: DeliveryError) => {
      assert.ok(error instanceof DeliveryError);
      assert.equal(error.permanent, false, 'a receiver that is down is retried');
      assert.match(error.message, new RegExp(`syslog receiver 127\\.0\\.0\\.1:${port} refused the connection`));
      return true;
    });
    const rsyslog = await receiver({ port });
    await sink.deliver(sealed.delivery(0, 10), never);
    assertStream(await received(rsyslog, 10), 0, [9]);
  });

  it('notices a receiver that went away, reports it, and reconnects when it is back', async () => {
    const rsyslog = await receiver();
    const sink = target({ host: '127.0.0.1', port: rsyslog.port });
    await sink.deliver(sealed.delivery(0, 20), never);
    await received(rsyslog, 20);
    await rsyslog.stop();
    // The peer's FIN reaches the target's socket, which is then dropped rather than written into.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assert.rejects(sink.deliver(sealed.delivery(20, 40), never), /refused the connection/);
    await rsyslog.start();
    await sink.deliver(sealed.delivery(20, 40), never);
    assertStream(await received(rsyslog, 40), 0, [19, 39]);
  });
});

describe('syslog target against receivers that misbehave', () => {
  async function rawServer(onConnection: (socket: Socket) => void): Promise<{ port: number; close(): void }> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as { port: number }).port,
      close: () => {
        for (const socket of sockets) socket.destroy();
        server.close();
      },
    };
  }

  it('reports a connection closed in the middle of a delivery', async () => {
    let read = 0;
    const server = await rawServer((socket) =>
      socket.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > 64 * 1024) socket.resetAndDestroy();
      }),
    );
    try {
      const many = { ...sealed.delivery(0, 240), records: Array.from({ length: 40 }, () => sealed.records).flat() };
      const sink = target({ host: '127.0.0.1', port: server.port });
      await assert.rejects(sink.deliver(many, never), (error: DeliveryError) => {
        assert.ok(error instanceof DeliveryError && !error.permanent);
        assert.match(error.message, /closed the connection|ECONNRESET|EPIPE/);
        return true;
      });
    } finally {
      server.close();
    }
  });

  it('gives up on a receiver that stops reading (write timeout) and honours the abort signal', async () => {
    const server = await rawServer((socket) => socket.pause());
    try {
      const many = { ...sealed.delivery(0, 240), records: Array.from({ length: 100 }, () => sealed.records).flat() };
      const slow = target({ host: '127.0.0.1', port: server.port, write_timeout_ms: 300 });
      await assert.rejects(slow.deliver(many, never), /writing to syslog receiver 127\.0\.0\.1:\d+ timed out after 300 ms/);
      const abortable = target({ host: '127.0.0.1', port: server.port });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      await assert.rejects(abortable.deliver(many, controller.signal), /was cancelled/);
    } finally {
      server.close();
    }
  });
});

describe('syslog target → rsyslogd over TLS (RFC 5425)', () => {
  it('delivers with a verified server certificate and a client certificate the receiver requires', async () => {
    const rsyslog = await receiver({ tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, authMode: 'x509/certvalid' } });
    const sink = target({ host: '127.0.0.1', port: rsyslog.port, transport: 'tls', ca_file: pki.caFile, cert_file: pki.clientCert, key_file: pki.clientKey });
    await sink.deliver(sealed.delivery(0, 50), never);
    await sink.deliver(sealed.delivery(50, 120), never);
    assertStream(await received(rsyslog, 120), 0, [49, 119]);
  });

  it('trusts a CA given as PEM text and verifies the name given as server_name', async () => {
    const rsyslog = await receiver({ tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, authMode: 'anon' } });
    const sink = target({ host: '127.0.0.1', port: rsyslog.port, transport: 'tls', ca: readFileSync(pki.caFile, 'utf8'), server_name: 'localhost' });
    await sink.deliver(sealed.delivery(0, 3), never);
    await received(rsyslog, 3);
    const wrongName = target({ host: '127.0.0.1', port: rsyslog.port, transport: 'tls', ca_file: pki.caFile, server_name: 'siem.example.com' });
    await assert.rejects(wrongName.deliver(sealed.delivery(0, 3), never), /TLS certificate does not verify \(ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('refuses a certificate that does not verify, saying so, and sends nothing', async () => {
    const rsyslog = await receiver({ tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey, authMode: 'anon' } });
    for (const settings of [{ ca_file: pki.otherCaFile }, {}]) {
      const sink = target({ host: '127.0.0.1', port: rsyslog.port, transport: 'tls', ...settings });
      await assert.rejects(sink.deliver(sealed.delivery(0, 5), never), (error: DeliveryError) => {
        assert.ok(error instanceof DeliveryError && !error.permanent);
        assert.match(error.message, /syslog receiver 127\.0\.0\.1:\d+: its TLS certificate does not verify \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
        assert.match(error.message, /set ca_file/);
        return true;
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(rsyslog.messages(), []);
  });

  it('reports a CA file that cannot be read', async () => {
    const sink = target({ host: '127.0.0.1', port: await freePort(), transport: 'tls', ca_file: '/nonexistent/ca.pem' });
    await assert.rejects(sink.deliver(sealed.delivery(0, 1), never), /ca_file \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/);
  });
});
