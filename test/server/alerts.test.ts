/**
 * The alert and detection API over HTTP (inject): filters and cursor paging, the open → acknowledged →
 * closed workflow sealed once per change, tenant- and ledger-scoped keys that see only their alerts
 * (others answer like missing ones), role checks, bad input, rules added (a bad one refused with its
 * line, nothing stored), enabled and disabled, the HR feed, and reads recorded in the system ledger.
 * The server's real rule library (the Sigma compiler and built-in pack) answers the rule routes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import type { StoredAlert } from '../../src/store/detection-state.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { plantAlert, until } from '../detection/engine-fixtures.js';

let server: TestServer;
const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token = server.adminToken, body?: unknown) =>
  server.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(body !== undefined ? { payload: body as object } : {}) });

async function createKey(role: string, ledgers: string[], tenants?: string[]): Promise<string> {
  const res = await call('POST', '/v1/keys', server.adminToken, { role, ledgers, ...(tenants ? { tenants } : {}) });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().token;
}

async function systemRecords(prefix: string): Promise<Array<Record<string, unknown>>> {
  const out = [];
  for await (const entry of server.deployment.store.entries(SYSTEM_LEDGER, 0, Number.MAX_SAFE_INTEGER)) {
    const event = Object.fromEntries(Object.entries(entry.disclosures).map(([path, [, value]]) => [path, value]));
    if (String(event.action).startsWith(prefix)) out.push(event);
  }
  return out;
}

const RULE = (id: string, extra = '') =>
  [`title: Test rule ${id}`, `id: ${id}`, 'logsource:', '  product: sealtrail', 'detection:', '  selection:', '    action: payroll.read', '  condition: selection', 'level: medium', extra].join('\n');

let planted: StoredAlert[];
let acmeReader: string;
let writer: string;
let auditor: string;

before(async () => {
  server = await buildTestServer();
  for (const ledger of ['audit', 'payroll']) assert.equal((await call('PUT', `/v1/ledgers/${ledger}`)).statusCode, 201);
  const store = server.deployment.store;
  planted = [];
  const specs: Array<Partial<StoredAlert>> = [
    { severity: 'low', rule: 'r-one' },
    { severity: 'high', rule: 'r-one' },
    { severity: 'critical', rule: 'r-two' },
    { severity: 'medium', rule: 'r-two' },
    { severity: 'high', rule: 'r-three' },
    { tenant: 'globex', rule: 'r-one', severity: 'low' },
    { ledger: 'payroll', rule: 'r-one', severity: 'low' },
    { tenant: null, rule: 'r-one', severity: 'low' },
  ];
  for (const [i, spec] of specs.entries()) planted.push(await plantAlert(store, { actor: { type: 'user', id: `u${i}` }, ...spec }));
  acmeReader = await createKey('reader', ['audit'], ['acme']);
  writer = await createKey('writer', ['*']);
  auditor = await createKey('auditor', ['*']);
});
after(() => server.cleanup());

describe('GET /v1/alerts', () => {
  it('lists newest first, filters by status, severity, ledger and rule, and pages with the cursor', async () => {
    const all = (await call('GET', '/v1/alerts')).json();
    assert.deepEqual(all.alerts.map((a: { id: string }) => a.id), planted.map((a) => a.id).reverse());
    assert.equal(all.next, null);
    const first = all.alerts.at(-1);
    assert.deepEqual(Object.keys(first).slice(0, 12), ['id', 'rule', 'title', 'severity', 'status', 'ledger', 'tenant', 'actor', 'first_seen', 'last_seen', 'count', 'events']);
    assert.equal(first.first_seen, '2026-11-26T02:00:00.000000Z');
    assert.deepEqual(first.actor, { type: 'user', id: 'u0' });
    const only = async (query: string) => (await call('GET', `/v1/alerts?${query}`)).json().alerts.map((a: { id: string }) => a.id);
    assert.deepEqual(await only('severity=high'), [planted[4]!.id, planted[1]!.id]);
    assert.deepEqual(await only('rule=r-two'), [planted[3]!.id, planted[2]!.id]);
    assert.deepEqual(await only('ledger=payroll'), [planted[6]!.id]);
    assert.deepEqual(await only('status=acknowledged'), []);
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const page: { alerts: Array<{ id: string }>; next: string | null } = (await call('GET', `/v1/alerts?limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json();
      assert.ok(page.alerts.length <= 3);
      seen.push(...page.alerts.map((a: { id: string }) => a.id));
      cursor = page.next;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, planted.map((a) => a.id).reverse(), 'every alert once, in order');
    // A last page that is exactly full says it is the last.
    const firstHalf = (await call('GET', '/v1/alerts?limit=4')).json();
    const secondHalf = (await call('GET', `/v1/alerts?limit=4&cursor=${firstHalf.next}`)).json();
    assert.deepEqual([firstHalf.alerts.length, secondHalf.alerts.length, secondHalf.next], [4, 4, null]);
    assert.equal((await call('GET', '/v1/alerts?limit=8')).json().next, null);
  });

  it('filters by actor id, and by actor type with it', async () => {
    const only = async (query: string) => (await call('GET', `/v1/alerts?${query}`)).json().alerts.map((a: { id: string }) => a.id);
    assert.deepEqual(await only('actor=u3'), [planted[3]!.id]);
    assert.deepEqual(await only('actor=u3&actor_type=user'), [planted[3]!.id]);
    assert.deepEqual(await only('actor=u3&actor_type=service'), []);
    assert.deepEqual(await only('actor=nobody'), []);
    assert.deepEqual(await only('actor=u6&rule=r-one'), [planted[6]!.id]);
    for (const query of ['actor=', `actor=${'x'.repeat(257)}`, 'actor_type=']) assert.equal((await call('GET', `/v1/alerts?${query}`)).statusCode, 400, query);
  });

  it('shows a tenant-scoped key only its ledgers’ and tenants’ alerts; others answer like missing ones', async () => {
    const listed = (await call('GET', '/v1/alerts', acmeReader)).json().alerts.map((a: { id: string }) => a.id);
    assert.deepEqual(listed, planted.slice(0, 5).map((a) => a.id).reverse(), 'audit/acme only: not globex, payroll or tenant-less');
    for (const hidden of [planted[5]!, planted[6]!, planted[7]!]) {
      const res = await call('GET', `/v1/alerts/${hidden.id}`, acmeReader);
      assert.equal(res.statusCode, 404);
      assert.deepEqual(res.json(), { error: 'NOT_FOUND', message: `no alert "${hidden.id}"` }, 'exactly what a missing alert answers');
      assert.equal((await call('POST', `/v1/alerts/${hidden.id}/acknowledge`, acmeReader)).statusCode, 404, 'nor can it be handled');
    }
    assert.equal((await call('GET', '/v1/alerts?ledger=payroll', acmeReader)).json().error, 'LEDGER_NOT_FOUND');
    assert.equal((await call('GET', `/v1/alerts/${planted[0]!.id}`, acmeReader)).statusCode, 200);
  });

  it('refuses writers, and bad parameters', async () => {
    assert.equal((await call('GET', '/v1/alerts', writer)).statusCode, 403);
    assert.equal((await call('GET', `/v1/alerts/${planted[0]!.id}`, writer)).statusCode, 404);
    assert.equal((await call('GET', '/v1/detection', writer)).statusCode, 403);
    for (const query of ['status=bogus', 'severity=urgent', 'limit=0', 'limit=1001', 'cursor=0', 'cursor=abc', 'ledger=-x']) {
      const res = await call('GET', `/v1/alerts?${query}`);
      assert.equal(res.statusCode, 400, query);
      assert.equal(res.json().error, 'INVALID_ARGUMENT', query);
    }
    assert.equal((await call('GET', '/v1/alerts/not-an-alert-id')).statusCode, 400);
    assert.equal((await call('GET', '/v1/alerts')).statusCode, 200);
  });

  it('records reads in the system ledger', async () => {
    await call('GET', `/v1/alerts/${planted[0]!.id}`, auditor);
    const reads = await systemRecords('alert.read');
    const mine = reads.filter((r) => (r['targets.0'] as { id: string } | undefined)?.id === planted[0]!.id);
    assert.ok(mine.length >= 1);
    assert.deepEqual(mine.at(-1)!['targets.0'], { type: 'alert', id: planted[0]!.id });
    assert.ok((await systemRecords('alert.list')).length >= 1);
  });
});

describe('alert workflow', () => {
  it('open → acknowledged → closed with a reason, each change sealed once with the key that made it', async () => {
    const alert = planted[1]!;
    const acked = await call('POST', `/v1/alerts/${alert.id}/acknowledge`, acmeReader);
    assert.equal(acked.statusCode, 200, acked.body);
    assert.equal(acked.json().status, 'acknowledged');
    assert.ok(acked.json().changed_by);
    assert.equal((await call('POST', `/v1/alerts/${alert.id}/acknowledge`, acmeReader)).json().status, 'acknowledged', 'again: unchanged');
    assert.equal((await call('POST', `/v1/alerts/${alert.id}/close`, acmeReader, {})).statusCode, 400, 'a reason is required');
    assert.equal((await call('POST', `/v1/alerts/${alert.id}/close`, acmeReader, { reason: '   ' })).statusCode, 400, 'a blank reason is none');
    const closed = await call('POST', `/v1/alerts/${alert.id}/close`, acmeReader, { reason: 'expected: payroll run' });
    assert.equal(closed.json().status, 'closed');
    assert.equal(closed.json().close_reason, 'expected: payroll run');
    assert.equal((await call('POST', `/v1/alerts/${alert.id}/close`, acmeReader, { reason: 'again' })).json().close_reason, 'expected: payroll run');
    const conflict = await call('POST', `/v1/alerts/${alert.id}/acknowledge`, acmeReader);
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().error, 'ALERT_STATE_CONFLICT');
    const records = (await systemRecords('alert.')).filter((r) => (r['targets.0'] as { id: string } | undefined)?.id === alert.id && r.action !== 'alert.read');
    assert.deepEqual(records.map((r) => r.action), ['alert.acknowledge', 'alert.close']);
    assert.equal(records[1]!['metadata.reason'], 'expected: payroll run');
    assert.equal(records[0]!['actor.type'], 'api_key');
    assert.equal(records[0]!.tenant, 'acme');
    assert.equal((await server.deployment.store.detection.pendingOutbox(10)).length, 0, 'sealed before the answer');
  });

  it('closing straight from open works; the listing shows the status', async () => {
    const alert = planted[2]!;
    assert.equal((await call('POST', `/v1/alerts/${alert.id}/close`, auditor, { reason: 'duplicate of another case' })).json().status, 'closed');
    const closedIds = (await call('GET', '/v1/alerts?status=closed')).json().alerts.map((a: { id: string }) => a.id);
    assert.ok(closedIds.includes(alert.id) && closedIds.includes(planted[1]!.id));
  });
});

describe('detection administration', () => {
  it('GET /v1/detection lists the built-in pack and behavioural detectors, and only the key’s ledgers', async () => {
    const body = (await call('GET', '/v1/detection', acmeReader)).json();
    assert.ok(body.rules.some((r: { source: string }) => r.source === 'builtin'));
    assert.ok(body.rules.some((r: { source: string }) => r.source === 'behaviour'));
    assert.deepEqual(body.ledgers.map((l: { ledger: string }) => l.ledger), ['audit']);
    assert.deepEqual(Object.keys(body.ledgers[0]), ['ledger', 'size', 'evaluated']);
  });

  it('refuses a rule that does not compile, naming its line and feature, and stores nothing', async () => {
    const bad = RULE('bad-rule').replace('    action: payroll.read', '    action|base64offset: payroll.read');
    const res = await call('POST', '/v1/detection/rules', server.adminToken, { yaml: bad });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'INVALID_RULE');
    assert.equal(res.json().line, 7);
    assert.match(res.json().message, /:7(:\d+)?: .*base64offset/);
    const rules = (await call('GET', '/v1/detection')).json().rules.map((r: { id: string }) => r.id);
    assert.ok(!rules.includes('bad-rule'));
    assert.deepEqual(await server.deployment.store.detection.rules(), []);
  });

  it('adds, overrides, disables, enables and removes rules (admin only), each change sealed', async () => {
    assert.equal((await call('POST', '/v1/detection/rules', auditor, { yaml: RULE('api-rule') })).statusCode, 403);
    const added = await call('POST', '/v1/detection/rules', server.adminToken, { yaml: RULE('api-rule') });
    assert.equal(added.statusCode, 201, added.body);
    assert.deepEqual(added.json().rules.map((r: { id: string; source: string }) => [r.id, r.source]), [['api-rule', 'api']]);
    const builtin = (await call('GET', '/v1/detection')).json().rules.find((r: { source: string }) => r.source === 'builtin');
    const override = await call('POST', '/v1/detection/rules', server.adminToken, { yaml: RULE(builtin.id) });
    assert.equal(override.json().rules[0].overrides, 'builtin');
    const disabled = await call('POST', '/v1/detection/rules/api-rule/disable');
    assert.equal(disabled.json().enabled, false);
    assert.equal((await call('POST', '/v1/detection/rules/api-rule/disable', acmeReader)).statusCode, 403);
    assert.equal((await call('POST', '/v1/detection/rules/no-such-rule/disable')).statusCode, 404);
    assert.equal((await call('POST', '/v1/detection/rules/api-rule/enable')).json().enabled, true);
    assert.equal((await call('DELETE', '/v1/detection/rules/api-rule')).statusCode, 200);
    assert.equal((await call('DELETE', '/v1/detection/rules/api-rule')).statusCode, 404);
    assert.equal((await call('DELETE', `/v1/detection/rules/${builtin.id}`)).statusCode, 200);
    const after = (await call('GET', '/v1/detection')).json().rules;
    assert.ok(!after.some((r: { id: string }) => r.id === 'api-rule'));
    assert.equal(after.find((r: { id: string }) => r.id === builtin.id).source, 'builtin', 'the built-in rule is back');
    await until(async () => (await systemRecords('detection.rule.')).length === 6, 'six sealed rule changes');
    assert.deepEqual((await systemRecords('detection.rule.')).map((r) => `${r.action} ${(r['targets.0'] as { id: string }).id}`), [
      'detection.rule.add api-rule',
      `detection.rule.add ${builtin.id}`,
      'detection.rule.disable api-rule',
      'detection.rule.enable api-rule',
      'detection.rule.remove api-rule',
      `detection.rule.remove ${builtin.id}`,
    ]);
  });

  it('keeps the HR feed of departures (admin writes, auditor reads)', async () => {
    const put = await call('PUT', '/v1/detection/departures', server.adminToken, { departures: [{ actor_id: 'carol', ends_at: '2026-12-31' }, { actor_id: 'dan', ends_at: '2027-01-15T17:00:00Z' }] });
    assert.deepEqual(put.json(), { departures: 2 });
    assert.deepEqual((await call('GET', '/v1/detection/departures', auditor)).json().departures, [
      { actor_id: 'carol', ends_at: '2026-12-31T23:59:59.000000Z' },
      { actor_id: 'dan', ends_at: '2027-01-15T17:00:00.000000Z' },
    ]);
    assert.equal((await call('GET', '/v1/detection/departures', acmeReader)).statusCode, 403);
    assert.equal((await call('PUT', '/v1/detection/departures', auditor, { departures: [] })).statusCode, 403);
    const bad = await call('PUT', '/v1/detection/departures', server.adminToken, { departures: [{ actor_id: 'x', ends_at: 'next friday' }] });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().position, 0);
    assert.equal((await call('GET', '/v1/detection/departures', auditor)).json().departures.length, 2, 'a refused feed changes nothing');
    assert.equal((await systemRecords('detection.departures.replace')).length, 1);
  });
});
