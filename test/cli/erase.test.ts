/** `sealtrail erase` as a user runs it: the counts, and what the erasure could not reach, on stderr. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const SUBJECT = 'cli.subject.m3@example.com';
let server: TestServer;
let url: string;
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr}`;

before(async () => {
  server = await buildTestServer();
  const headers = { authorization: `Bearer ${server.adminToken}` };
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/crm', headers });
  const events = [
    { ...sampleEvent(1), actor: { type: 'user', id: SUBJECT, email: SUBJECT } },
    { ...sampleEvent(2), outcome_reason: `bounced for ${SUBJECT}` },
  ];
  assert.equal((await server.app.inject({ method: 'POST', url: '/v1/ledgers/crm/events', headers, payload: events })).statusCode, 201);
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
});
after(() => server.cleanup());

describe('sealtrail erase', () => {
  it('prints the summary as JSON and lists what it could not reach on stderr', async () => {
    const result = await runCli(['erase', '--url', url, '--token', server.adminToken, '--subject', SUBJECT, '--json']);
    assert.equal(result.code, 0, show(result));
    const summary = JSON.parse(result.stdout);
    // The subject acted in one (email, address, user agent) and is named in the other's reason.
    assert.equal(summary.events, 2);
    assert.deepEqual(
      summary.notReached.filter((g: { kind: string }) => g.kind === 'kept').map((g: { where: string; events: number }) => [g.where, g.events]),
      [['crm actor.id', 1]],
    );
    assert.match(result.stderr, /^erased 4 values in 2 events\n/);
    assert.match(result.stderr, /\nnot reached:\n/);
    assert.match(result.stderr, /\n {2}kept {4}crm actor\.id \(1 event\): actor\.id equal to the subject is kept/);
    assert.match(result.stderr, /\n {2}outside server logs: /);
  });
});
