/** `sealtrail export` as a user runs it: a child process talking to a listening server. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSV_COLUMNS } from '../../src/core/export/csv.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli, type CliResult } from '../helpers/cli.js';

let server: TestServer;
let url: string;
let dir: string;

function runExport(args: string[]): Promise<CliResult> {
  return runCli(['export', '--url', url, '--token', server.adminToken, ...args]);
}

const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr}`;

before(async () => {
  server = await buildTestServer();
  const headers = { authorization: `Bearer ${server.adminToken}` };
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/alpha', headers });
  for (const first of [0, 750]) {
    const res = await server.app.inject({ method: 'POST', url: '/v1/ledgers/alpha/events', headers, payload: Array.from({ length: 750 }, (_, i) => sampleEvent(first + i)) });
    assert.equal(res.statusCode, 201);
  }
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-export-cli-'));
});
after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('sealtrail export', () => {
  it('writes the matching events to a file and reports the count on stderr', async () => {
    const file = join(dir, 'logins.csv');
    writeFileSync(file, 'old content\n');
    const result = await runExport(['--ledger', 'alpha', '--format', 'csv', '--output', file, 'action:auth.login', 'outcome:failure']);
    assert.equal(result.code, 0, show(result));
    const rows = readFileSync(file, 'utf8').split('\r\n');
    assert.equal(rows.pop(), '');
    assert.equal(rows.shift(), CSV_COLUMNS.join(','));
    const expected = Array.from({ length: 1500 }, (_, n) => n).filter((n) => n % 3 !== 0 && n % 7 === 0);
    assert.equal(rows.length, expected.length);
    assert.match(result.stderr, new RegExp(`exported ${expected.length} events \\(.+\\) to `));
    assert.equal(result.stdout, '');
    assert.deepEqual(readdirSync(dir).filter((name) => name.includes('partial')), []);
  });

  it('writes to standard output without --output', async () => {
    const result = await runExport(['--ledger', 'alpha', '-f', 'jsonl', 'index:0..9']);
    assert.equal(result.code, 0, show(result));
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('leaves no file when the server refuses the export or aborts it mid-way', async () => {
    const refused = join(dir, 'refused.jsonl');
    const bad = await runExport(['--ledger', 'alpha', '--output', refused, 'actr:alice']);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /400 INVALID_ARGUMENT: at 0: unknown key "actr"/);
    assert.equal(existsSync(refused), false);

    const store = server.deployment.store;
    // The export reads its pages through searchForExport (docs/EXPORT.md, "How an export reads").
    const searchForExport = store.searchForExport.bind(store);
    let calls = 0;
    store.searchForExport = async (ledger, request) => {
      if (++calls === 2) throw new Error('disk on fire');
      return searchForExport(ledger, request);
    };
    try {
      const aborted = join(dir, 'aborted.ocsf');
      const result = await runExport(['--ledger', 'alpha', '--format', 'ocsf', '--output', aborted]);
      assert.equal(result.code, 1, show(result));
      assert.match(result.stderr, /interrupted/);
      assert.equal(existsSync(aborted), false, 'no file under the final name');
      assert.deepEqual(readdirSync(dir).filter((name) => name.includes('aborted')), [], 'and no temporary file left');
    } finally {
      store.searchForExport = searchForExport;
    }
  });

  it('checks its arguments', async () => {
    const format = await runExport(['--ledger', 'alpha', '--format', 'xml']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /--format must be one of jsonl, csv, ocsf, cef, syslog/);
    const withhold = await runExport(['--ledger', 'alpha', '--withhold', 'actor.email']);
    assert.equal(withhold.code, 2);
    assert.match(withhold.stderr, /--withhold applies only with --bundle/);
    const pen = await runExport(['--ledger', 'alpha', '--format', 'csv', '--enterprise-number', '12345']);
    assert.equal(pen.code, 2);
    assert.match(pen.stderr, /--enterprise-number applies only with --format syslog/);
  });

  it("writes syslog SD-IDs with the organisation's enterprise number (issue 18)", async () => {
    const result = await runExport(['--ledger', 'alpha', '--format', 'syslog', '--enterprise-number', '12345', 'index:1']);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stdout, /^<\d+>1 \S+ \S+ sealtrail - \S+ \[seal@12345 [^\n]*\]\[event@12345 /);
    assert.doesNotMatch(result.stdout, /@32473/);
  });
});
