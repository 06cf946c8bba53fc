/** What `search`, `keys list` and `append` print on a terminal, run as a user runs them (issue 18). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countOf, printable, TextTable } from '../../src/cli/table.js';
import { parseQuery } from '../../src/core/query.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli, type CliResult } from '../helpers/cli.js';

let server: TestServer;
let url: string;
let dir: string;

const run = (args: string[]) => runCli([...args, '--url', url, '--token', server.adminToken]);
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`;
/** The cells of a table line: columns are at least two spaces apart, and no cell here has two spaces. */
const cells = (line: string) => line.trim().split(/ {2,}/);

/** The incident: 30 failed logins that occurred a second apart from 02:10, sealed in one batch. */
const FAILED_LOGINS = Array.from({ length: 30 }, (_, n) => ({
  ...sampleEvent(7 * n),
  id: `login-${n}`,
  action: 'auth.login',
  category: 'auth',
  outcome: 'failure',
  occurred_at: `2026-11-26T02:10:${String(n).padStart(2, '0')}.000Z`,
}));

before(async () => {
  server = await buildTestServer();
  const headers = { authorization: `Bearer ${server.adminToken}` };
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/alpha', headers });
  const res = await server.app.inject({ method: 'POST', url: '/v1/ledgers/alpha/events', headers, payload: FAILED_LOGINS });
  assert.equal(res.statusCode, 201, res.body);
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-search-cli-'));
});
after(async () => {
  await server.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('sealtrail search output', () => {
  it('prints a header row, and when each event occurred, not only the one received_at of its batch', async () => {
    const result = await run(['search', '--ledger', 'alpha', '--limit', '100', 'action:auth.login', 'AND', 'outcome:failure']);
    assert.equal(result.code, 0, show(result));
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['received_at', 'occurred_at', 'entry', 'actor', 'action', 'target', 'outcome', 'ip', 'place', 'tenant']);
    // AND is an operator: every failed login, not the events that also contain the text "AND".
    assert.equal(rows.length, 30, show(result));
    const received = new Set(rows.map((r) => cells(r)[0]));
    assert.equal(received.size, 1, 'one batch, one received_at');
    const occurred = rows.map((r) => cells(r)[1]).sort();
    assert.deepEqual(occurred, FAILED_LOGINS.map((e) => e.occurred_at).sort(), 'as the client wrote it');
    // The columns line up under the header.
    const occurredColumn = header!.indexOf('occurred_at');
    for (const r of rows) assert.equal(r.indexOf('2026-11-26T02:10:'), occurredColumn, r);
    assert.match(result.stderr, /^30 events$/m);
  });

  it('says so when nothing matches, in a table and in JSON mode (stdout stays empty)', async () => {
    for (const extra of [[], ['--json']]) {
      const result = await run(['search', '--ledger', 'alpha', ...extra, 'outcome:success']);
      assert.equal(result.code, 0, show(result));
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^no events match$/m, show(result));
    }
  });

  it('counts one event in the singular', async () => {
    const result = await run(['search', '--ledger', 'alpha', 'index:0']);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stderr, /^1 event$/m, show(result));
  });

  it('heads the --stats table with the count and the dimension, and says when nothing matches', async () => {
    const result = await run(['search', '--ledger', 'alpha', '--stats', 'outcome', 'action:auth.login']);
    assert.equal(result.code, 0, show(result));
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.map(cells), [['count', 'outcome'], ['30', 'failure']]);
    const none = await run(['search', '--ledger', 'alpha', '--stats', 'outcome', 'action:nothing.here']);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^no events match$/m);
  });

  it('shows the parser\'s refusal of a lowercase operator, with its position', async () => {
    const result = await run(['search', '--ledger', 'alpha', 'action:auth.login and outcome:failure']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /at 18: "and" looks like an operator/, show(result));
  });
});

describe('sealtrail keys list and append output', () => {
  it('keys list prints a header row above the keys', async () => {
    const created = await run(['keys', 'create', '--role', 'reader', '--ledger', 'alpha', '--description', 'dashboards']);
    assert.equal(created.code, 0, show(created));
    const result = await run(['keys', 'list']);
    assert.equal(result.code, 0, show(result));
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['id', 'role', 'ledgers', 'tenants', 'state', 'description']);
    const reader = rows.map(cells).find((r) => r[1] === 'reader');
    assert.deepEqual(reader?.slice(1), ['reader', 'alpha', '*', 'active', 'dashboards'], show(result));
  });

  it('append says "1 event appended", not "1 events"', async () => {
    const file = join(dir, 'one.jsonl');
    writeFileSync(file, `${JSON.stringify({ ...sampleEvent(1), id: 'single' })}\n`);
    const result = await run(['append', '--ledger', 'alpha', '--file', file]);
    assert.equal(result.code, 0, show(result));
    assert.match(result.stderr, /^1 event appended in /m, show(result));
    assert.doesNotMatch(result.stderr, /1 events/);
  });
});

describe('terminal text', () => {
  it('counts nouns', () => {
    assert.deepEqual([0, 1, 2].map((n) => countOf(n, 'event')), ['0 events', '1 event', '2 events']);
  });

  it('never prints a cell\'s control characters or bidirectional overrides, which could rewrite the screen', () => {
    assert.equal(printable('a\x1b[2Jb\tc\r\nd\u202ee\u0085f'), 'a [2Jb c  d e f');
    const text = new TextTable(['a', 'b']).format([['x\x1b]0;owned\x07', 'y']]);
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f]/);
  });
});

describe('README Search section', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Search'), readme.indexOf('\n## ', readme.indexOf('## Search') + 1));
  const searches = section.split('\n').filter((line) => line.startsWith('npx sealtrail search '));

  it('shows search --stats, and every search line\'s query parses', () => {
    assert.ok(searches.some((line) => / --stats (actor|action|hour|country|outcome|tenant|category) /.test(line)), section);
    for (const line of searches) {
      const query = /'([^']*)'/.exec(line)?.[1];
      assert.ok(query !== undefined, line);
      assert.ok(parseQuery(query).clauses.length > 0, line);
    }
  });
});
