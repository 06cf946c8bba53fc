/**
 * The syslog receiver with real senders: util-linux logger (RFC 5424 over TCP, LF-terminated and
 * octet-counted) and Debian's rsyslogd forwarding a file it tails (omfwd over TCP), then TLS (RFC 5425)
 * and the receiver's bounds. Events are searched in the ledger afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import { SYSLOG_WRITER, SyslogReceiver } from '../../src/ingest/syslog/receiver.js';
import { parseQuery } from '../../src/core/query.js';
import { recordFromEntry } from '../../src/core/export/record.js';

const has = (command: string, args: string[]) => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const hasLogger = has('logger', ['--version']);
const hasRsyslog = has('/usr/sbin/rsyslogd', ['-v']);
const hasOpenssl = has('openssl', ['version']);

let dir: string;
let deployment: Deployment;
let receiver: SyslogReceiver;
let port: number;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-syslog-'));
  deployment = openDeployment({ dataDir: join(dir, 'data'), name: 'syslog.test' });
  receiver = new SyslogReceiver({ store: deployment.store, ledger: 'syslog', flushDelayMs: 5, maxMessageBytes: 8192, maxConnections: 8 });
  await receiver.start();
  ({ port } = await receiver.listenTcp('127.0.0.1', 0));
});
after(async () => {
  await receiver.close();
  await deployment.store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Events of `ledger` matching a search (docs/SEARCH.md), oldest first, polled until `count` are there. */
async function waitFor(q: string, count: number, timeoutMs = 15_000, ledger = 'syslog'): Promise<Array<Record<string, any>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const page = await deployment.store.search(ledger, { query: parseQuery(q), limit: 100, order: 'asc' });
    const events = page.entries.map((hit) => recordFromEntry(hit).event as Record<string, any>);
    if (events.length >= count || Date.now() > deadline) return events;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('syslog receiver with real senders', () => {
  it('seals RFC 5424 messages from logger over TCP, LF-terminated and octet-counted', { skip: hasLogger ? false : 'util-linux logger is not installed' }, async () => {
    const send = (extra: string[], message: string) =>
      execFileSync('logger', ['--rfc5424', '--tcp', '--server', '127.0.0.1', '--port', String(port), '-t', 'sshd', '-p', 'authpriv.info', ...extra, message]);
    send([], 'Accepted password for alice from 203.0.113.5 port 52144 ssh2');
    send(['--octet-count'], 'Failed password for invalid user admin from 198.51.100.9 port 40000 ssh2');
    execFileSync('logger', ['--rfc5424', '--tcp', '--octet-count', '--server', '127.0.0.1', '--port', String(port), '-t', 'billing', '--sd-id', 'inv@32473', '--sd-param', 'amount="12"', 'invoice paid']);
    const alice = await waitFor('actor:alice', 1);
    assert.equal(alice.length, 1);
    assert.deepEqual([alice[0]!.action, alice[0]!.outcome, alice[0]!.origin.ip], ['auth.login', 'success', '203.0.113.5']);
    assert.equal(alice[0]!.metadata['syslog.format'], 'rfc5424');
    assert.equal(alice[0]!.metadata['syslog.facility'], 'authpriv');
    const admin = await waitFor('actor:admin', 1);
    assert.deepEqual([admin[0]!.outcome, admin[0]!.outcome_reason], ['failure', 'invalid user']);
    const generic = await waitFor('"invoice paid"', 1);
    assert.equal(generic[0]!.action, 'syslog.message');
    assert.deepEqual(generic[0]!.metadata['sd.inv_32473'], { amount: '12' });
    const entry = await deployment.store.getEntry('syslog', 0);
    assert.ok(entry);
    assert.match(Buffer.from(entry.leaf).toString('utf8'), new RegExp(SYSLOG_WRITER), 'the leaf names the syslog writer');
  });

  it('seals what rsyslogd forwards from a file it tails (imfile → omfwd TCP)', { skip: hasRsyslog ? false : 'rsyslogd is not installed' }, async () => {
    const work = join(dir, 'rsyslog');
    execFileSync('mkdir', ['-p', work]);
    const input = join(work, 'auth.log');
    writeFileSync(input, '');
    writeFileSync(join(work, 'rsyslog.conf'), [
      `global(workDirectory="${work}")`,
      'module(load="imfile" mode="polling" PollingInterval="1")',
      `input(type="imfile" File="${input}" Tag="sudo:" Facility="authpriv" Severity="notice")`,
      `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" template="RSYSLOG_ForwardFormat")`,
    ].join('\n'));
    const rsyslog: ChildProcess = spawn('/usr/sbin/rsyslogd', ['-n', '-f', join(work, 'rsyslog.conf'), '-i', join(work, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    rsyslog.stderr!.on('data', (chunk) => (stderr += chunk));
    try {
      appendFileSync(input, 'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx\n');
      appendFileSync(input, 'mallory : 3 incorrect password attempts ; TTY=pts/3 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash\n');
      const ran = await waitFor('action:sudo.command actor:alice', 1, 20_000);
      assert.equal(ran.length, 1, `rsyslogd said: ${stderr}`);
      assert.deepEqual([ran[0]!.actor.id, ran[0]!.action, ran[0]!.outcome, ran[0]!.targets[0].id], ['alice', 'sudo.command', 'success', 'root']);
      assert.equal(ran[0]!.metadata['syslog.format'], 'rfc3164');
      const refused = await waitFor('actor:mallory', 1);
      assert.deepEqual([refused[0]!.outcome, refused[0]!.outcome_reason], ['failure', '3 incorrect password attempts']);
    } finally {
      rsyslog.kill('SIGTERM');
      await new Promise((resolve) => rsyslog.once('exit', resolve));
    }
  });
});

describe('syslog receiver over TLS and at its bounds', () => {
  it('seals octet-counted messages over TLS (RFC 5425)', { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' }, async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const tls = await receiver.listenTls('127.0.0.1', 0, { cert, key: readFileSync(join(dir, 'key.pem')) });
    const message = '<86>1 2026-12-01T10:00:00Z web su 9 - - (to root) tlsuser on pts/0';
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: tls.port, ca: cert }, () => socket.end(`${Buffer.byteLength(message)} ${message}`, resolve));
      socket.on('error', reject);
    });
    const found = await waitFor('actor:tlsuser', 1);
    assert.deepEqual([found[0]!.action, found[0]!.targets[0].id], ['su.session', 'root']);
  });

  it('closes a connection whose octet count is over the limit, keeping the messages before it', async () => {
    const before = receiver.status().framingErrors;
    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('<13>Dec  1 10:00:00 h app: before the bomb\n99999999 <13>'));
      socket.on('close', () => resolve(true));
      socket.on('error', () => {});
    });
    assert.ok(closed);
    assert.equal(receiver.status().framingErrors, before + 1);
    assert.equal((await waitFor('"before the bomb"', 1)).length, 1);
  });

  it('refuses connections past the limit', async () => {
    const sockets = await Promise.all(Array.from({ length: 8 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
    })));
    await new Promise((r) => setTimeout(r, 50));
    const ninth = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.on('close', () => resolve('closed'));
      socket.on('error', () => resolve('closed'));
      setTimeout(() => resolve('open'), 1000);
    });
    for (const socket of sockets) socket.destroy();
    assert.equal(ninth, 'closed');
  });

  it('keeps each message of a burst, in order, when the queue fills and input is paused', async () => {
    const small = new SyslogReceiver({ store: deployment.store, ledger: 'burst', batchSize: 50, maxQueued: 100, flushDelayMs: 1 });
    await small.start();
    const { port: burstPort } = await small.listenTcp('127.0.0.1', 0);
    const lines = Array.from({ length: 2000 }, (_, i) => `<13>Dec  1 10:00:00 h app: burst ${i}\n`).join('');
    await new Promise<void>((resolve) => {
      const socket = connect(burstPort, '127.0.0.1', () => socket.end(lines, () => resolve()));
    });
    const deadline = Date.now() + 20_000;
    while (small.status().sealed < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await small.close();
    assert.equal(small.status().sealed, 2000);
    const last = await deployment.store.getEntry('burst', 1999);
    assert.ok(last);
    assert.match(JSON.stringify(last.disclosures), /burst 1999/);
  });
});
