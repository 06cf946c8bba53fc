/**
 * End to end, as users would run it: `sealtrail export --bundle` against a listening server, then
 * `sealtrail verify-bundle` with no server at all (exit 0 valid, 1 invalid, 2 usage).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { unzipSync, zipSync } from 'fflate';
import { formatVerifierKey } from '../../src/core/note.js';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli } from '../helpers/cli.js';


let server: TestServer;
let url: string;
let dir: string;
let key: string;


const show = (r: { code: number | null; stdout: string; stderr: string }) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

before(async () => {
  server = await buildTestServer();
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-bundle-cli-'));
  key = server.deployment.verifierKey;
  const headers = { authorization: `Bearer ${server.adminToken}` };
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/audit', headers });
  for (const offset of [0, 120]) {
    await server.app.inject({ method: 'POST', url: '/v1/ledgers/audit/events', headers, payload: Array.from({ length: 120 }, (_, i) => sampleEvent(offset + i)) });
  }
  writeFileSync(join(dir, 'early.checkpoint'), (await server.app.inject({ method: 'GET', url: '/v1/ledgers/audit/checkpoint?size=120', headers })).body);
  writeFileSync(join(dir, 'key.txt'), `${key}\n`);
});
after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('export --bundle, then verify-bundle', () => {
  it('exports a verified bundle and verifies it offline with a pinned key', async () => {
    const out = join(dir, 'evidence.zip');
    const exported = await runCli([
      'export', '--url', url, '--token', server.adminToken, '--ledger', 'audit', '--bundle', out,
      '--withhold', 'origin.ip,actor.name', '--checkpoint', join(dir, 'early.checkpoint'), '--key', key,
      'action:file.download', 'outcome:success',
    ]);
    assert.equal(exported.code, 0, show(exported));
    assert.match(exported.stdout, /VALID evidence bundle .*evidence\.zip: \d+ events of ledger audit verified/);
    assert.doesNotMatch(exported.stderr, /warning/);
    assert.ok(existsSync(out));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.partial')), [], 'no temporary file is left');

    const verified = await runCli(['verify-bundle', out, '--key', `@${join(dir, 'key.txt')}`, '--checkpoint', join(dir, 'early.checkpoint')]);
    assert.equal(verified.code, 0, show(verified));
    assert.match(verified.stdout, /consistent with your checkpoint of size 120 \(older: the bundle extends it\)/);
    assert.match(verified.stdout, /withheld: +actor\.name, origin\.ip/);
    assert.match(verified.stdout, /query: +"action:file\.download outcome:success"/);

    const json = await runCli(['verify-bundle', out, '--key', key, '--json']);
    assert.equal(json.code, 0, show(json));
    const report = JSON.parse(json.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.checkpoint.size, 240);
  });

  it('fails a tampered bundle, a bundle checked with another key, and a file that is not a zip (exit 1)', async () => {
    const out = join(dir, 'evidence.zip');
    const files = unzipSync(readFileSync(out));
    const part = Buffer.from(files['events/part-00000.jsonl']!);
    const at = part.indexOf('"file.download"');
    assert.ok(at > 0);
    files['events/part-00000.jsonl'] = new Uint8Array(Buffer.concat([part.subarray(0, at), Buffer.from('"file.upload"'), part.subarray(at + '"file.download"'.length)]));
    writeFileSync(join(dir, 'tampered.zip'), zipSync(files));
    const tampered = await runCli(['verify-bundle', join(dir, 'tampered.zip'), '--key', key]);
    assert.equal(tampered.code, 1, show(tampered));
    assert.match(tampered.stdout, /INVALID evidence bundle/);
    assert.match(tampered.stdout, /events\/part-00000\.jsonl line 1 \(event 3\), field action: disclosed value does not match its commitment/);

    const otherKey = formatVerifierKey(nodeSuite, server.deployment.name, portableSigner(new Uint8Array(32).fill(5)).publicKey);
    const wrongKey = await runCli(['verify-bundle', out, '--key', otherKey]);
    assert.equal(wrongKey.code, 1, show(wrongKey));
    assert.match(wrongKey.stdout, /checkpoint\.txt: note: no known key signed it/);

    writeFileSync(join(dir, 'junk.zip'), 'not a zip at all');
    const junk = await runCli(['verify-bundle', join(dir, 'junk.zip'), '--key', key]);
    assert.equal(junk.code, 1, show(junk));
    assert.match(junk.stdout, /archive: not a readable zip archive/);
  });

  it('checks the auditor\'s expectations: count, indexes and disclosed fields (exit 1 when unmet, 2 when malformed)', async () => {
    const out = join(dir, 'evidence.zip');
    // The export selected action:file.download (index % 3 = 0) and outcome:success (index % 7 ≠ 0) of 240 events.
    const indexes = Array.from({ length: 240 }, (_, i) => i).filter((i) => i % 3 === 0 && i % 7 !== 0);
    const met = await runCli(['verify-bundle', out, '--key', key, '--expect-count', String(indexes.length), '--expect-indexes', indexes.join(','), '--expect-disclosed', 'actor.id,outcome']);
    assert.equal(met.code, 0, show(met));
    assert.match(met.stdout, new RegExp(`expected: +${indexes.length} events; indexes 3,6,9,.*; disclosed actor\\.id, outcome: met`));

    const plain = await runCli(['verify-bundle', out, '--key', key]);
    assert.match(plain.stdout, /not checked: whether events or fields were left out/);

    const count = await runCli(['verify-bundle', out, '--key', key, '--expect-count', String(indexes.length + 1)]);
    assert.equal(count.code, 1, show(count));
    assert.match(count.stdout, new RegExp(`expected ${indexes.length + 1} events, the bundle proves ${indexes.length}`));

    const missing = await runCli(['verify-bundle', out, '--key', key, '--expect-indexes', `${indexes.join(',')},7`]);
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stdout, /expected events 7 \(1 event\) are not in the bundle/);

    // The export withheld origin.ip and actor.name.
    const disclosed = await runCli(['verify-bundle', out, '--key', key, '--expect-disclosed', 'origin.ip', '--json']);
    assert.equal(disclosed.code, 1, show(disclosed));
    const report = JSON.parse(disclosed.stdout);
    assert.ok(report.problems.some((p: { kind: string; message: string }) => p.kind === 'expectation' && /withholds origin\.ip, which you expect disclosed/.test(p.message)));
    assert.deepEqual(report.expected, { disclosed: ['origin.ip'] });

    for (const bad of [['--expect-indexes', '5-1'], ['--expect-count', 'many'], ['--expect-disclosed', 'actor.nope']]) {
      const refused = await runCli(['verify-bundle', out, '--key', key, ...bad]);
      assert.equal(refused.code, 2, `${bad.join(' ')}: ${show(refused)}`);
    }
  });

  it('reports a zip bomb as INVALID instead of crashing (a 250 MiB events part, honest or understated size)', async () => {
    const files = unzipSync(readFileSync(join(dir, 'evidence.zip')));
    files['events/part-00000.jsonl'] = new Uint8Array(250 * 1024 * 1024).fill(0x0a);
    const bomb = zipSync(files, { level: 9 });
    assert.ok(bomb.length < 400 * 1024);
    writeFileSync(join(dir, 'bomb.zip'), bomb);
    const honest = await runCli(['verify-bundle', join(dir, 'bomb.zip'), '--key', key]);
    assert.equal(honest.code, 1, show(honest));
    assert.match(honest.stdout, /INVALID evidence bundle/);
    assert.match(honest.stdout, /events\/part-00000\.jsonl claims 262144000 bytes, more than the 134217728 a bundle file may have/);

    // The same archive with the declared size understated in both headers: inflation stops at 1,000 bytes.
    const name = Buffer.from('events/part-00000.jsonl');
    const lying = Buffer.from(bomb);
    for (let at = lying.indexOf(name); at >= 0; at = lying.indexOf(name, at + 1)) {
      if (lying.readUInt32LE(at - 46) === 0x02014b50) lying.writeUInt32LE(1000, at - 46 + 24);
      else if (lying.readUInt32LE(at - 30) === 0x04034b50) lying.writeUInt32LE(1000, at - 30 + 22);
    }
    writeFileSync(join(dir, 'lying.zip'), lying);
    const understated = await runCli(['verify-bundle', join(dir, 'lying.zip'), '--key', key]);
    assert.equal(understated.code, 1, show(understated));
    assert.match(understated.stdout, /events\/part-00000\.jsonl: inflates to more than the 1000 bytes the directory declares/);
  });

  it('refuses to verify without a key, and says why (exit 2)', async () => {
    const result = await runCli(['verify-bundle', join(dir, 'evidence.zip')]);
    assert.equal(result.code, 2, show(result));
    assert.match(result.stderr, /--key is required/);
  });

  it('warns when no key is pinned, and leaves nothing behind when the server refuses', async () => {
    const out = join(dir, 'unpinned.zip');
    const result = await runCli(['export', '--url', url, '--token', server.adminToken, '--ledger', 'audit', '--bundle', out, 'actor:u-3']);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stderr, /warning: no --key given/);
    assert.ok(existsSync(out));

    const refused = await runCli(['export', '--url', url, '--token', server.adminToken, '--ledger', 'audit', '--bundle', join(dir, 'refused.zip'), '--withhold', 'nope', '--key', key]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /cannot withhold "nope"/);
    assert.ok(!existsSync(join(dir, 'refused.zip')));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.partial')), []);
  });
});
