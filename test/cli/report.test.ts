/**
 * `sealtrail report`, `report verify` and `certificate` end to end against a listening server over a
 * generated dataset: the files written, the sealed hash found again, an altered or re-hashed report
 * refused, the certificate's count equal to the tenant's known accesses and its bundle holding exactly
 * that many events when verify-bundle checks it offline, and a clear message when no browser can print.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentDigest } from '../../src/reports/digest.js';
import { findBrowser } from '../../src/reports/pdf.js';
import { runCli } from '../helpers/cli.js';
import { ADMIN, buildReportServer, END, START, type ReportServer } from '../reports/harness.js';

const FROM = new Date(START / 1000).toISOString();
const TO = new Date(END / 1000).toISOString();

describe('sealtrail report and certificate', () => {
  let server: ReportServer;
  let url: string;
  let dir: string;
  let key: string;
  const withServer = (args: string[]) => runCli([...args, '--url', url, '--token', ADMIN]);

  before(async () => {
    server = await buildReportServer('sqlite', 3000);
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-report-cli-'));
    key = (await server.app.inject({ method: 'GET', url: '/v1/verifier-key' })).body.trim();
  });
  after(async () => {
    await server?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the report and its JSON, and `report verify` finds the sealed hash', async () => {
    const output = join(dir, findBrowser() ? 'pci.pdf' : 'pci.html');
    const made = await withServer(['report', '--framework', 'pci-dss', '--from', FROM, '--to', TO, '--output', output]);
    assert.equal(made.code, 0, made.stderr);
    assert.ok(existsSync(output));
    const jsonPath = join(dir, 'pci.json');
    const doc = JSON.parse(readFileSync(jsonPath, 'utf8')) as { sha256: string; evidence: { volume: Array<{ total: number }> } };
    assert.equal(doc.evidence.volume[0]!.total, server.known.total);
    assert.match(made.stdout, new RegExp(`SHA-256 ${doc.sha256}, sealed at sealtrail-system/\\d+`));
    assert.match(made.stdout, /10\.5 +Every retention rule|10\.5 +/);

    const verified = await withServer(['report', 'verify', jsonPath]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^VALID .*sealed as report\.generate at sealtrail-system\/\d+/);

    // A changed count no longer hashes to the sealed value.
    const altered = { ...doc, evidence: { ...doc.evidence, volume: [{ ...doc.evidence.volume[0]!, total: 1 }] } };
    writeFileSync(join(dir, 'altered.json'), JSON.stringify(altered));
    const refused = await withServer(['report', 'verify', join(dir, 'altered.json')]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^ALTERED /);
    // Re-hashing the altered content makes it consistent, but nothing sealed that hash.
    writeFileSync(join(dir, 'forged.json'), JSON.stringify({ ...altered, sha256: documentDigest(altered) }));
    const forged = await withServer(['report', 'verify', join(dir, 'forged.json')]);
    assert.equal(forged.code, 1);
    assert.match(forged.stdout, /^UNSEALED /);
  });

  it("certifies a tenant's accesses with a bundle that verifies offline with exactly that count", async () => {
    const [tenant, counts] = [...server.known.tenants].sort((a, b) => b[1].accesses - a[1].accesses)[0]!;
    const output = join(dir, 'cert.json');
    const bundle = join(dir, 'cert.zip');
    const made = await withServer(['certificate', '--tenant', tenant, '--from', FROM, '--to', TO, '--ledgers', 'demo', '--output', output, '--bundle', bundle, '--key', key]);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const doc = JSON.parse(readFileSync(output, 'utf8')) as { accesses_total: number; accesses: Array<{ actor: string; index: number }>; tenant: string };
    assert.equal(doc.tenant, tenant);
    assert.equal(doc.accesses_total, counts.accesses);
    assert.equal(doc.accesses.length, counts.accesses);
    assert.match(made.stdout, new RegExp(`expected: +${counts.accesses} events: met`));
    const offline = await runCli(['verify-bundle', bundle, '--key', key, '--expect-count', String(counts.accesses)]);
    assert.equal(offline.code, 0, offline.stdout);
    const wrong = await runCli(['verify-bundle', bundle, '--key', key, '--expect-count', String(counts.accesses + 1)]);
    assert.equal(wrong.code, 1);
  });

  it('says how to install a browser when a PDF cannot be printed, before asking the server', async () => {
    const previous = process.env.SEALTRAIL_CHROMIUM;
    process.env.SEALTRAIL_CHROMIUM = join(dir, 'no-such-browser');
    try {
      const made = await withServer(['report', '--framework', 'soc2', '--from', FROM, '--to', TO, '--output', join(dir, 'x.pdf')]);
      assert.equal(made.code, 2);
      assert.match(made.stderr, /PDF output needs Chromium or Chrome: install it \(Debian\/Ubuntu: apt-get install chromium/);
      assert.match(made.stderr, /HTML and JSON output need no browser/);
      assert.ok(!existsSync(join(dir, 'x.json')));
      const html = await withServer(['report', '--framework', 'soc2', '--from', FROM, '--to', TO, '--output', join(dir, 'x.html')]);
      assert.equal(html.code, 0, html.stderr);
      assert.match(readFileSync(join(dir, 'x.html'), 'utf8'), /SHA-256 [0-9a-f]{64}/);
    } finally {
      if (previous === undefined) delete process.env.SEALTRAIL_CHROMIUM;
      else process.env.SEALTRAIL_CHROMIUM = previous;
    }
  });
});
