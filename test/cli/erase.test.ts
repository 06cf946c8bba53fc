/** `sealtrail erase` as a user runs it: the counts, and what the erasure could not reach, on stderr. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/server/app.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { openDeployment, openPostgresDeployment } from '../../src/server/deployment.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';

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

describe('sealtrail erase --dry-run: evidence under investigation (issue 18)', () => {
  const INCIDENT_SUBJECT = 'mallory.m18@example.com';

  /** A server where the subject acted twice in `crm` and once in `billing`; `clock` is the retention service's now. */
  async function incidentServer(clock?: () => number): Promise<{ server: TestServer; url: string; headers: Record<string, string> }> {
    const server = await buildTestServer(clock ? { retentionClock: clock } : {});
    const headers = { authorization: `Bearer ${server.adminToken}` };
    for (const ledger of ['crm', 'billing']) await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers });
    const actor = { type: 'user', id: 'm18', email: INCIDENT_SUBJECT };
    const post = (ledger: string, payload: unknown[]) => server.app.inject({ method: 'POST', url: `/v1/ledgers/${ledger}/events`, headers, payload });
    assert.equal((await post('crm', [{ ...sampleEvent(1), actor }, { ...sampleEvent(2), actor, tenant: 'held-tenant' }])).statusCode, 201);
    assert.equal((await post('billing', [{ ...sampleEvent(3), actor }])).statusCode, 201);
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    return { server, url: `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`, headers };
  }

  it('shows held counts per ledger, says alerts are not checked, and warns of recent events no hold covers', async () => {
    const { server, url, headers } = await incidentServer();
    try {
      const hold = await server.app.inject({
        method: 'POST',
        url: '/v1/holds',
        headers,
        payload: { ledgers: ['crm'], query: 'tenant:held-tenant', reason: 'incident 42', owner: 'security' },
      });
      assert.equal(hold.statusCode, 201, hold.body);
      const result = await runCli(['erase', '--url', url, '--token', server.adminToken, '--subject', INCIDENT_SUBJECT, '--dry-run', '--json']);
      assert.equal(result.code, 0, show(result));
      const summary = JSON.parse(result.stdout);
      assert.deepEqual(
        summary.ledgers.map((l: { ledger: string; events: number; held: number; recent: number }) => [l.ledger, l.events, l.held, l.recent]).sort(),
        [['billing', 1, 0, 1], ['crm', 1, 1, 1]],
      );
      assert.match(result.stderr, /\nledger +to erase +held +recent\n/);
      assert.match(result.stderr, /\ncrm +1 +1 +1\n/);
      assert.match(result.stderr, /\nbilling +1 +0 +1\n/);
      assert.match(result.stderr, /\nunder legal hold: 1 event of the subject's would be left unchanged\n/);
      assert.match(result.stderr, /\nopen alerts: not checked; sealtrail has no alerts yet/);
      assert.match(result.stderr, /\nwarning: 2 events to erase were received since \S+ \((billing 1, crm 1|crm 1, billing 1)\) and no legal hold covers them\.\n {2}If they may be evidence/);
      // A dry run changes nothing: the values are still there to be held.
      const found = await server.app.inject({ method: 'GET', url: `/v1/ledgers/billing/events?q=${encodeURIComponent(`actor:m18`)}`, headers });
      assert.match(found.body, new RegExp(INCIDENT_SUBJECT.replace(/\./g, '\\.')));
    } finally {
      await server.cleanup();
    }
  });

  it('does not warn when every event to erase is older than the recent window', async () => {
    const later = Date.now() * 1000 + 60 * 86_400_000_000;
    const { server, url } = await incidentServer(() => later);
    try {
      const result = await runCli(['erase', '--url', url, '--token', server.adminToken, '--subject', INCIDENT_SUBJECT, '--dry-run']);
      assert.equal(result.code, 0, show(result));
      assert.match(result.stderr, /\ncrm +2 +0 +0\n/);
      assert.match(result.stderr, /\nunder legal hold: 0 events of the subject's would be left unchanged\n/);
      assert.doesNotMatch(result.stderr, /warning:/);
    } finally {
      await server.cleanup();
    }
  });
});

const postgresSkip = await postgresUnavailable();

describe('erasure dry run counts on both stores (issue 18)', () => {
  const ADMIN = 'erase-both-stores-admin-token-0123456789';

  for (const kind of ['sqlite', 'postgres'] as const) {
    it(`${kind}: held and recent per ledger, and a dry run changes nothing`, { skip: kind === 'postgres' ? postgresSkip : undefined }, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-erase-both-'));
      const fixture = kind === 'postgres' ? await createPostgresFixture('erase.both.test') : undefined;
      const deployment = fixture
        ? await openPostgresDeployment({ dataDir, name: 'erase.both.test', databaseUrl: fixture.serviceUrl, schema: fixture.schema })
        : openDeployment({ dataDir, name: 'erase.both.test' });
      const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN, rateLimit: false });
      try {
        const headers = { authorization: `Bearer ${ADMIN}` };
        await app.inject({ method: 'PUT', url: '/v1/ledgers/hr', headers });
        const actor = { type: 'user', id: 'b18', email: 'both.stores.b18@example.com' };
        const posted = await app.inject({ method: 'POST', url: '/v1/ledgers/hr/events', headers, payload: [{ ...sampleEvent(1), actor }, { ...sampleEvent(2), actor, tenant: 'case' }] });
        assert.equal(posted.statusCode, 201, posted.body);
        const hold = await app.inject({ method: 'POST', url: '/v1/holds', headers, payload: { ledgers: ['hr'], query: 'tenant:case', reason: 'incident', owner: 'security' } });
        assert.equal(hold.statusCode, 201, hold.body);
        const erase = () => app.inject({ method: 'POST', url: '/v1/erasures', headers, payload: { subject: actor.email, dry_run: true } });
        const summary = (await erase()).json() as { ledgers: Array<{ ledger: string; events: number; held: number; recent: number }>; recentSince: string };
        const hr = summary.ledgers.find((l) => l.ledger === 'hr');
        assert.deepEqual([hr?.events, hr?.held, hr?.recent], [1, 1, 1]);
        assert.ok(Date.parse(summary.recentSince) < Date.now() - 29 * 86_400_000);
        // Nothing was erased: the same dry run finds the same.
        assert.deepEqual(((await erase()).json() as typeof summary).ledgers.find((l) => l.ledger === 'hr')?.events, 1);
      } finally {
        await app.close();
        await deployment.store.close();
        await fixture?.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
