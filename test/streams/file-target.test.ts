/**
 * The file target through the runtime (SQLite): rotation by size, closed files fsynced, renamed and
 * never written again, a checkpoint line per delivery, OCSF lines, a `.open` file cut short by a crash
 * closed off at the next start; and verify-stream over the files: verified as written, and failing on a
 * tampered record, a missing record and a forged checkpoint.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { formatVerifierKey, parseVerifierKey } from '../../src/core/note.js';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { parseStreamLines, verifyStream } from '../../src/core/stream-verify.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { secretBox } from '../../src/streams/secrets.js';
import { SinkService } from '../../src/streams/service.js';
import { sampleEvent } from '../helpers/events.js';
import { until } from './webhook-receiver.js';

const NAME = 'file.test';
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function harness() {
  const dir = temp('sealtrail-file-sink-');
  const signer = portableSigner(nodeSuite.randomBytes(32));
  const store = new SqliteStore({ path: join(dir, 's.db'), suite: nodeSuite, signer, name: NAME });
  await store.createLedger('app');
  const sinks = new SinkService({ store, box: secretBox(nodeSuite.randomBytes(32)), refreshMs: 200, checkMs: 100, leaseMs: 1500 });
  await sinks.start();
  return { store, sinks, signer, verifierKey: formatVerifierKey(nodeSuite, NAME, signer.publicKey), out: join(dir, 'out') };
}

const lines = (dir: string) =>
  readdirSync(dir)
    .sort()
    .flatMap((name) => readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean));

async function check(text: string[], verifierKey: string) {
  return verifyStream(parseStreamLines(text), { suite: nodeSuite, verifiers: [parseVerifierKey(nodeSuite, verifierKey)] });
}

describe('file sink', () => {
  it('rotates by size, never rewrites a closed file, and its output verifies offline', async () => {
    const { store, sinks, verifierKey, out } = await harness();
    try {
      await sinks.create({ name: 'disk', type: 'file', ledgers: ['app'], directory: out, max_bytes: 4096, batch_size: 10, batch_ms: 10 }, 'admin0');
      await store.append('app', Array.from({ length: 40 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await until(async () => (await sinks.get('disk')).cursors[0]?.next === 40, 'cursor at 40');
      const closed = readdirSync(out).filter((n) => !n.endsWith('.open'));
      assert.ok(closed.length >= 2, `rotated into ${closed.length} closed files`);
      const before = new Map(closed.map((n) => [n, { size: statSync(join(out, n)).size, text: readFileSync(join(out, n), 'utf8') }]));
      await store.append('app', Array.from({ length: 40 }, (_, i) => ({ event: sampleEvent(40 + i), writer: 'w' })));
      await until(async () => (await sinks.get('disk')).cursors[0]?.next === 80, 'cursor at 80');
      for (const [name, was] of before) assert.equal(readFileSync(join(out, name), 'utf8'), was.text, `${name} unchanged`);
      const all = lines(out);
      const records = all.filter((l) => !l.includes('sealtrail_checkpoint')).map((l) => JSON.parse(l));
      assert.deepEqual(records.map((r) => r.index), Array.from({ length: 80 }, (_, i) => i));
      assert.ok(all.filter((l) => l.includes('sealtrail_checkpoint')).length >= 8, 'a checkpoint line per delivery');
      const report = await check(all, verifierKey);
      assert.equal(report.ok, true, JSON.stringify(report));
      assert.equal(report.ledgers[0]!.provenOffline, 80);
      assert.equal(report.ledgers[0]!.missingCount, 0);
    } finally {
      await sinks.stop();
      await store.close();
    }
  });

  it('verify-stream fails on a tampered record, a missing record and a forged checkpoint', async () => {
    const { store, sinks, verifierKey, out } = await harness();
    try {
      await sinks.create({ name: 'disk', type: 'file', ledgers: ['app'], directory: out, batch_size: 5, batch_ms: 10 }, 'admin0');
      await store.append('app', Array.from({ length: 20 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await until(async () => (await sinks.get('disk')).cursors[0]?.next === 20, 'cursor at 20');
      const all = lines(out);
      assert.equal((await check(all, verifierKey)).ok, true);

      const recordAt = (index: number) => all.findIndex((l) => !l.includes('sealtrail_checkpoint') && JSON.parse(l).index === index);
      const tampered = [...all];
      const seven = JSON.parse(tampered[recordAt(7)]!);
      seven.leaf_hash = Buffer.alloc(32, 7).toString('base64');
      tampered[recordAt(7)] = JSON.stringify(seven);
      const altered = await check(tampered, verifierKey);
      assert.equal(altered.ok, false);
      assert.match(altered.ledgers[0]!.problems.join('\n'), /do not make the signed root .*altered/);

      const missing = all.filter((_, i) => i !== recordAt(12));
      const gap = await check(missing, verifierKey);
      assert.equal(gap.ok, false);
      assert.deepEqual(gap.ledgers[0]!.missing, [12]);

      // A checkpoint signed by another key for the same origin and size.
      const real = JSON.parse(all.find((l) => l.includes('sealtrail_checkpoint'))!).sealtrail_checkpoint;
      const forger = portableSigner(nodeSuite.randomBytes(32));
      const forged = signCheckpoint(nodeSuite, { origin: `${NAME}/app`, size: real.size, rootHash: Buffer.alloc(32, 1), extensions: [] }, [{ name: NAME, signer: forger }]);
      const withForgery = [...all, JSON.stringify({ sealtrail_checkpoint: { ledger: 'app', size: real.size, note: forged } })];
      const fake = await check(withForgery, verifierKey);
      assert.equal(fake.ok, false);
      assert.match(fake.ledgers[0]!.problems.join('\n'), /a checkpoint does not verify/);
    } finally {
      await sinks.stop();
      await store.close();
    }
  });

  it('closes off a file a crash left open, cut back to its last whole line', async () => {
    const { store, sinks, verifierKey, out } = await harness();
    try {
      await sinks.create({ name: 'disk', type: 'file', ledgers: ['app'], directory: out, batch_size: 5, batch_ms: 10 }, 'admin0');
      await store.append('app', Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await until(async () => (await sinks.get('disk')).cursors[0]?.next === 10, 'cursor at 10');
      await sinks.stop();
      // What a crash mid-write leaves: a file still .open, its last line cut short.
      const crashed = join(out, 'sealtrail-20260101T000000Z-0000-0badf00d.jsonl.open');
      writeFileSync(crashed, `${JSON.stringify({ ledger: 'app', index: 3, leaf_hash: 'x' })}\n`);
      appendFileSync(crashed, '{"ledger":"app","ind');
      await sinks.start();
      await store.append('app', Array.from({ length: 5 }, (_, i) => ({ event: sampleEvent(10 + i), writer: 'w' })));
      await until(async () => (await sinks.get('disk')).cursors[0]?.next === 15, 'cursor at 15');
      await sinks.stop();
      assert.equal(readFileSync(crashed.replace(/\.open$/, ''), 'utf8').split('\n').filter(Boolean).length, 1, 'the partial line was cut');
      assert.deepEqual(readdirSync(out).filter((n) => n.endsWith('.open')), [], 'stop closes the current file too');
      const verified = await check(lines(out).filter((l) => !l.includes('"leaf_hash":"x"')), verifierKey);
      assert.equal(verified.ok, true, JSON.stringify(verified.ledgers[0]!.problems));
    } finally {
      await sinks.stop();
      await store.close();
    }
  });

  it('writes OCSF lines that verify-stream reads too', async () => {
    const { store, sinks, verifierKey, out } = await harness();
    try {
      await sinks.create({ name: 'ocsf', type: 'file', ledgers: ['app'], directory: out, format: 'ocsf', batch_ms: 10 }, 'admin0');
      await store.append('app', Array.from({ length: 6 }, (_, i) => ({ event: sampleEvent(i), writer: 'w' })));
      await until(async () => (await sinks.get('ocsf')).cursors[0]?.next === 6, 'cursor at 6');
      const records = lines(out).filter((l) => !l.includes('sealtrail_checkpoint')).map((l) => JSON.parse(l));
      assert.ok(records.every((r) => typeof r.class_uid === 'number' && r.unmapped.ledger === 'app'));
      assert.equal((await check(lines(out), verifierKey)).ok, true);
    } finally {
      await sinks.stop();
      await store.close();
    }
  });
});
