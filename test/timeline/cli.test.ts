/** `sealtrail timeline ACTOR` run as a user runs it, against a listening server with geolocation. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { AuditEvent } from '../../src/core/event.js';
import { GEO_ATTRIBUTION, openGeo } from '../../src/platform/geo.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { runCli, type CliResult } from '../helpers/cli.js';

let server: TestServer;
let url: string;
const run = (args: string[]) => runCli(['timeline', ...args, '--url', url, '--token', server.adminToken]);
const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout.slice(0, 3000)}\nstderr: ${r.stderr}`;

const at = (time: string, ip: string, outcome: 'success' | 'failure', action = 'auth.login'): AuditEvent => ({
  actor: { type: 'user', id: 'alice' },
  action,
  category: action.startsWith('auth.') ? 'auth' : 'read',
  outcome,
  occurred_at: time,
  origin: { ip },
  tenant: 'acme',
  ...(action === 'file.download' ? { targets: [{ type: 'file', id: 'f-payroll', name: 'payroll.xlsx' }] } : {}),
});

before(async () => {
  server = await buildTestServer({ locate: openGeo().lookup });
  const headers = { authorization: `Bearer ${server.adminToken}` };
  await server.app.inject({ method: 'PUT', url: '/v1/ledgers/web', headers });
  const events = [
    at('2026-11-20T08:00:00Z', '79.192.10.20', 'success'),
    at('2026-11-20T09:00:00Z', '153.128.10.20', 'failure'),
    at('2026-11-20T09:00:10Z', '153.128.10.20', 'failure'),
    at('2026-11-20T09:00:20Z', '153.128.10.20', 'failure'),
    at('2026-11-20T09:00:30Z', '153.128.10.20', 'success'),
    at('2026-11-20T09:05:00Z', '153.128.10.20', 'success', 'file.download'),
  ];
  const res = await server.app.inject({ method: 'POST', url: '/v1/ledgers/web/events', headers, payload: events });
  assert.equal(res.statusCode, 201, res.body);
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
});
after(() => server.cleanup());

describe('sealtrail timeline', () => {
  it('prints the events, the implausible leg, the run and the new resource for a terminal, with the attribution', async () => {
    const r = await run(['alice', '--from', '2026-11-20', '--to', '2026-11-21', '--ledger', 'web']);
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^alice: 6 events in 2 sessions, 2026-11-20T00:00:00\.000000Z \.\. 2026-11-21T00:00:00\.000000Z, ledgers web$/);
    const travel = lines.slice(lines.indexOf('Travel') + 2).find((l) => l.startsWith('79.192.10.20'))!;
    assert.match(travel, /79\.192\.10\.20 DE .*153\.128\.10\.20 JP .*implausible$/);
    const authRun = lines[lines.indexOf('Authentication runs') + 2]!;
    assert.match(authRun, /^\s*3\s+2026-11-20T09:00:00\.000000Z\s+2026-11-20T09:00:30\.000000Z web#4\s+153\.128\.10\.20\s+-$/);
    const resource = lines[lines.indexOf('Resources') + 2]!;
    assert.match(resource, /^file:f-payroll\s+payroll\.xlsx\s+1\s+2026-11-20T09:05:00\.000000Z\s+new$/);
    assert.ok(r.stderr.includes(GEO_ATTRIBUTION), show(r));
  });

  it('prints the API answer with --json, and refuses a malformed time before asking the server', async () => {
    const r = await run(['alice', '--from', '2026-11-20T00:00:00Z', '--to', '2026-11-21', '--json']);
    assert.equal(r.code, 0, show(r));
    const body = JSON.parse(r.stdout);
    assert.equal(body.events.length, 6);
    assert.equal(body.travel[0].implausible, true);
    const bad = await run(['alice', '--from', 'last tuesday']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--from is a date/);
    const none = await run([]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /exactly one ACTOR/);
  });
});

describe('exports of located events (issue 16)', () => {
  it('carry the place of origin.ip with its attribution in JSON Lines, CSV and OCSF', async () => {
    const get = (format: string) =>
      server.app.inject({ method: 'GET', url: `/v1/ledgers/web/export?format=${format}&q=index:0`, headers: { authorization: `Bearer ${server.adminToken}` } });
    const place = openGeo().lookup('79.192.10.20')!;
    const jsonl = JSON.parse((await get('jsonl')).body);
    assert.deepEqual(jsonl.location, { ...place, attribution: GEO_ATTRIBUTION });
    const ocsf = JSON.parse((await get('ocsf')).body);
    assert.deepEqual([ocsf.src_endpoint.location.country, ocsf.src_endpoint.location.lat, ocsf.src_endpoint.location.provider], ['DE', place.latitude, GEO_ATTRIBUTION]);
    const [header, row] = (await get('csv')).body.split('\r\n');
    const columns = header!.split(',');
    assert.equal(columns.at(-1), 'location.attribution');
    // The attribution holds a comma, so it is quoted; the country is the seventh column from the end.
    assert.ok(row!.endsWith(`,"${GEO_ATTRIBUTION}"`), row);
    assert.equal(row!.slice(0, -GEO_ATTRIBUTION.length - 3).split(',').at(-6), 'DE');
  });
});
