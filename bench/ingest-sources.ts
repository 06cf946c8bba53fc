/**
 * Events per second into one SQLite deployment through each ingest source, beside the plain HTTP API in
 * the same run: `node --import tsx bench/ingest-sources.ts [--events N]`. Each source seals the same
 * number of events in its own ledger, in batches of 500 (syslog: one connection, its own batching).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { buildApp } from '../src/server/app.js';
import { openDeployment } from '../src/server/deployment.js';
import { BatchingWriter } from '../src/client/index.js';
import { SyslogReceiver } from '../src/ingest/syslog/receiver.js';

const count = Number(process.argv[process.argv.indexOf('--events') + 1]) || 20_000;
const BATCH = 500;
const TOKEN = 'bench-admin-token-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'sealtrail-bench-ingest-'));
const deployment = openDeployment({ dataDir: dir, name: 'bench.ingest' });
const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: TOKEN, rateLimit: false });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const event = (i: number) => ({ actor: { type: 'user', id: `u-${i % 97}` }, action: 'file.download', category: 'read', outcome: 'success', origin: { ip: `203.0.113.${i % 250}` }, metadata: { n: i } });

async function timed(name: string, run: () => Promise<void>) {
  await deployment.store.createLedger(name);
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  const size = (await deployment.store.getLedger(name))!.size;
  process.stdout.write(`${name.padEnd(10)} ${String(size).padStart(7)} events  ${(size / seconds).toFixed(0).padStart(7)} events/s\n`);
}

async function post(path: string, body: unknown, extra: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
}

const batches = (each: (from: number) => Promise<void>) => async () => {
  for (let from = 0; from < count; from += BATCH) await each(from);
};
const range = (from: number) => Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => from + k);

try {
  await timed('http', batches((from) => post('/v1/ledgers/http/events', range(from).map(event))));
  await timed('otlp', batches((from) => post('/v1/logs', {
    resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] }, scopeLogs: [{ logRecords: range(from).map((i) => ({
      timeUnixNano: String(BigInt(Date.now()) * 1_000_000n + BigInt(i)), eventName: 'file.download', body: { stringValue: `download ${i}` },
      attributes: [{ key: 'user.id', value: { stringValue: `u-${i % 97}` } }, { key: 'client.address', value: { stringValue: `203.0.113.${i % 250}` } }],
    })) }] }],
  }, { 'x-sealtrail-ledger': 'otlp' })));
  await timed('sdk', async () => {
    const writer = await BatchingWriter.open({ url, token: TOKEN, ledger: 'sdk', maxBatch: BATCH, maxDelayMs: 5, maxQueue: count });
    for (let i = 0; i < count; i++) await writer.enqueue(event(i) as never);
    await writer.close({ timeoutMs: 600_000 });
  });
  await timed('syslog', async () => {
    const receiver = new SyslogReceiver({ store: deployment.store, ledger: 'syslog', batchSize: BATCH });
    const { port } = await receiver.listenTcp('127.0.0.1', 0);
    const lines = Array.from({ length: count }, (_, i) => `<38>Dec  1 09:59:01 bastion sshd[1]: Accepted publickey for u-${i % 97} from 203.0.113.${i % 250} port ${1024 + i} ssh2\n`).join('');
    await new Promise<void>((resolve) => { const socket = connect(port, '127.0.0.1', () => socket.end(lines, () => resolve())); });
    while (receiver.status().sealed < count) await new Promise((r) => setTimeout(r, 10));
    await receiver.close();
  });
} finally {
  await app.close();
  await deployment.store.close();
  rmSync(dir, { recursive: true, force: true });
}
