/** `serve --syslog-tcp --syslog-ledger`: logger sends to the running server, the API finds the events. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'syslog-serve-admin-token-0123456789';
const hasLogger = spawnSync('logger', ['--version'], { stdio: 'ignore' }).status === 0;

const freePort = () => new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

it('serve seals what logger sends to --syslog-tcp in --syslog-ledger', { skip: hasLogger ? false : 'util-linux logger is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-syslog-serve-'));
  const syslogPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--data', dir, '--port', '0', '--syslog-tcp', `127.0.0.1:${syslogPort}`, '--syslog-ledger', 'hosts', '--quiet', '--geoip', 'off'], {
    cwd: ROOT,
    env: { ...process.env, SEALTRAIL_ADMIN_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const match = /listening on (\S+)/.exec(out);
        if (match && /syslog: +tcp/.test(out)) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    assert.match(out, /→ ledger hosts \(writer sealtrail-syslog\)/);
    execFileSync('logger', ['--rfc5424', '--tcp', '--octet-count', '--server', '127.0.0.1', '--port', String(syslogPort), '-t', 'sshd', 'Failed publickey for root from 198.51.100.23 port 2222 ssh2']);
    let events: Array<{ event: Record<string, any> }> = [];
    for (let i = 0; i < 100 && events.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const response = await fetch(`${url}/v1/ledgers/hosts/events?q=${encodeURIComponent('ip:198.51.100.23 outcome:failure')}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (response.ok) events = ((await response.json()) as { events: typeof events }).events;
    }
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]!.event.actor.id, events[0]!.event.action, events[0]!.event.outcome_reason], ['root', 'auth.login', 'wrong publickey']);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
