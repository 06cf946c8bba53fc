/**
 * Issue 19, "erased values outlive the erasure": after erasing an address, nothing the server holds
 * gives it back — not the erased event's own id, outcome reason or free-form metadata, not the access
 * records of the system ledger (a rejected token's user agent, earlier searches and bundle exports),
 * not the database file, and not the server log. The erasure report lists what it could not reach.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { parseVerifierKey } from '../../src/core/note.js';
import { parseQuery, quoteValue } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { verifySealedRecords } from '../../src/store/verify-records.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

// Unique enough that the file scans find nothing else.
const MARKER = 'zed.marker.q7x4@example.com';
const ENCODED_MARKER = encodeURIComponent(MARKER);
const NAME = 'Zed Q7x4 Marker';
const KEPT = 'pat.kept.k9w2@example.com';
const REJECTED_TOKEN_SECRET = 'thisisnotavalidsecret0123456789';

let server: TestServer;
const logLines: string[] = [];
const call = async (method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = {}) => {
  const res = await server.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${server.adminToken}`, ...headers },
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: res.statusCode, body: String(res.headers['content-type'] ?? '').includes('json') ? (res.json() as any) : res.rawPayload };
};
const fileText = () => {
  const db = server.deployment.databasePath;
  return Buffer.concat([readFileSync(db), existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`) : Buffer.alloc(0)]).toString('latin1').toLowerCase();
};
/** Free-text search straight on the store, so that looking leaves no access record of its own. */
const storeHits = async (ledger: string, text: string) =>
  (await server.deployment.store.search(ledger, { query: parseQuery(quoteValue(text)), limit: 1000, order: 'asc' })).entries.map((e) => e.index);
const entry = async (ledger: string, index: number) => (await call('GET', `/v1/ledgers/${ledger}/entries/${index}`)).body;
const verify = (ledger: string) =>
  verifyWithSystemLedger(server.deployment.store, ledger, { suite: nodeSuite, verifiers: [parseVerifierKey(nodeSuite, server.deployment.verifierKey)] });

/** The system ledger index of the latest record whose action is given. */
const latestRecord = async (action: string): Promise<number> => {
  const { entries } = await server.deployment.store.search(SYSTEM_LEDGER, { query: parseQuery(`action:${action}`), limit: 1, order: 'desc' });
  return entries[0]!.index;
};

const indexes: Record<string, number> = {};
let keyId: string;
let holdId: string;

before(async () => {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  server = await buildTestServer({ logger: { level: 'info', stream } });
  await call('PUT', '/v1/ledgers/crm');
  await call('PUT', '/v1/ledgers/hr');
  const events = [
    // 0: the subject acts; the address is also in the event id, the outcome reason and free-form metadata.
    {
      ...sampleEvent(1),
      id: `evt-${MARKER}`,
      actor: { type: 'user' as const, id: 'u-zed', name: NAME, email: MARKER },
      origin: { ip: '198.51.100.77', user_agent: `Mail/2 (${MARKER})` },
      outcome: 'failure' as const,
      outcome_reason: `mailbox ${MARKER} is full`,
      metadata: { note: `reported by ${MARKER}`, ticket: 'T-9' },
    },
    // 1: someone else acts on the subject: a target and a note name them.
    { ...sampleEvent(2), targets: [{ type: 'user', id: MARKER, name: NAME }, { type: 'role', id: 'editor' }], metadata: { note: `granted to ${MARKER.toUpperCase()}`, request_id: 'req-2' } },
    // 2: unrelated, stays as it is.
    sampleEvent(3),
    // 3: a second subject whose actor id is the address itself: kept by the default policy.
    { ...sampleEvent(4), actor: { type: 'user' as const, id: KEPT, email: KEPT } },
  ];
  const receipts = (await call('POST', '/v1/ledgers/crm/events', events)).body;
  assert.equal(receipts.receipts?.length ?? receipts.length, 4);
  await call('POST', '/v1/ledgers/hr/events', [{ ...sampleEvent(5), actor: { type: 'user', id: 'u-pat', email: KEPT }, metadata: { case: 'C-1' } }]);
  // The hold's owner is the second subject: the hold keeps it, its sealed record does not.
  holdId = (await call('POST', '/v1/holds', { ledgers: ['hr'], query: 'metadata.case:C-1', reason: 'case C-1', owner: KEPT })).body.id;
  keyId = (await call('POST', '/v1/keys', { role: 'auditor', ledgers: ['*'], description: `asked for by ${KEPT}` })).body.id;

  // The system ledger records the subject three ways: a rejected token's user agent, searches, a bundle.
  const rejected = await server.app.inject({
    method: 'GET',
    url: '/v1/ledgers',
    headers: { authorization: `Bearer st_abcd1234.${REJECTED_TOKEN_SECRET}`, 'user-agent': `probe (${MARKER})` },
  });
  assert.equal(rejected.statusCode, 401);
  indexes.rejected = await latestRecord('auth.token_rejected');
  assert.equal((await call('GET', `/v1/events?q=${encodeURIComponent(`"${MARKER}"`)}`)).status, 200);
  indexes.crossSearch = await latestRecord('event.search');
  assert.equal((await call('GET', `/v1/ledgers/crm/events?q=${encodeURIComponent(`"${NAME}"`)}`)).status, 200);
  indexes.nameSearch = await latestRecord('event.search');
  assert.equal((await call('POST', '/v1/ledgers/crm/bundle', { q: `"${MARKER}"` })).status, 200);
  indexes.bundle = await latestRecord('bundle.export');
});
after(() => server.cleanup());

describe('erasure reaches every copy', () => {
  it('the address is everywhere before the erasure', async () => {
    const text = fileText();
    assert.ok(text.includes(MARKER), 'in the database file');
    assert.ok(text.includes(ENCODED_MARKER.toLowerCase()), 'as a recorded query string');
    assert.deepEqual(await storeHits('crm', MARKER), [0, 1]);
    assert.ok((await storeHits(SYSTEM_LEDGER, MARKER)).includes(indexes.rejected!));
    assert.equal((await entry(SYSTEM_LEDGER, indexes.crossSearch!)).event.metadata.query, `q=${encodeURIComponent(`"${MARKER}"`)}`);
  });

  it('keeps query strings and tokens out of the server log', () => {
    const requests = logLines.map((line) => JSON.parse(line) as { req?: { url: string; method: string } }).filter((l) => l.req);
    assert.ok(requests.some((l) => l.req!.url === '/v1/events'), 'request lines are logged, by path');
    const log = logLines.join('\n');
    for (const secret of [MARKER, ENCODED_MARKER, encodeURIComponent(NAME), '?q=', REJECTED_TOKEN_SECRET, server.adminToken]) {
      assert.equal(log.includes(secret), false, secret);
    }
  });

  it('erases the subject from the events, their ids and reasons, and from the access records', async () => {
    const { status, body } = await call('POST', '/v1/erasures', { subject: MARKER.toUpperCase(), reference: 'DSR-77' });
    assert.equal(status, 200);
    // crm: the subject's event and the one naming them; the system ledger: the rejected token, the address
    // search and the bundle. The search by name names the subject by name, not address, and stays.
    const perLedger = body.ledgers.map((l: { ledger: string; events: number }) => [l.ledger, l.events]).sort();
    assert.deepEqual(perLedger, [['crm', 2], [SYSTEM_LEDGER, 3]]);
    assert.equal(body.held, 0);
    assert.deepEqual(
      body.notReached.filter((g: { kind: string }) => g.kind !== 'outside').map((g: { kind: string; where: string }) => [g.kind, g.where]),
      [['store', 'idempotency keys of crm']],
    );

    const acted = await entry('crm', 0);
    for (const path of ['id', 'actor.name', 'actor.email', 'origin.ip', 'origin.user_agent', 'outcome_reason', 'metadata.note']) assert.equal(acted.redacted[path], 'erased', path);
    // actor.id is the pseudonymous key; other metadata stays.
    assert.equal(acted.event.actor.id, 'u-zed');
    assert.equal(acted.event.metadata.ticket, 'T-9');
    const target = await entry('crm', 1);
    assert.deepEqual(Object.keys(target.redacted).sort(), ['metadata.note', 'targets.0']);
    assert.deepEqual(target.event.targets, [{ type: 'role', id: 'editor' }]);
    assert.equal((await entry('crm', 2)).redacted, undefined);

    assert.equal((await entry(SYSTEM_LEDGER, indexes.rejected!)).redacted['origin.user_agent'], 'erased');
    assert.equal((await entry(SYSTEM_LEDGER, indexes.nameSearch!)).redacted, undefined);
    assert.equal((await entry(SYSTEM_LEDGER, indexes.crossSearch!)).redacted['metadata.query'], 'erased');
    assert.equal((await entry(SYSTEM_LEDGER, indexes.bundle!)).redacted['metadata.query'], 'erased');
    await verify('crm');
    await verify(SYSTEM_LEDGER);
  });

  it('leaves the address nowhere in the database file, its WAL or the search index', async () => {
    const text = fileText();
    assert.equal(text.includes(MARKER), false, 'the address');
    assert.equal(text.includes(ENCODED_MARKER.toLowerCase()), false, 'the address as a query string');
    for (const ledger of ['crm', 'hr', SYSTEM_LEDGER]) assert.deepEqual(await storeHits(ledger, MARKER), [], ledger);
    // And through the API, every ledger at once (this search is itself recorded, after the check).
    const { body } = await call('GET', `/v1/events?q=${encodeURIComponent(`"${MARKER}"`)}&limit=100`);
    assert.deepEqual(body.events, []);
  });

  it('lists what it could not reach: held events, actor ids kept as pseudonyms, the store’s other copies and the rest', async () => {
    const policy = await call('PUT', '/v1/retention/policy', { rules: [{ id: 'default', retain: '7y', description: `agreed with ${KEPT}` }] });
    assert.equal(policy.status, 200);
    const { body } = await call('POST', '/v1/erasures', { subject: KEPT });
    const gaps = body.notReached as Array<{ kind: string; where: string; events?: number }>;
    assert.deepEqual(
      gaps.filter((g) => g.kind !== 'outside').map((g) => [g.kind, g.where, g.events]),
      [
        ['held', 'hr', 1],
        ['kept', 'crm actor.id', 1],
        ['store', `legal hold ${holdId}`, undefined],
        ['store', `retention policy version ${policy.body.version}`, undefined],
        ['store', `API key ${keyId}`, undefined],
      ],
    );
    const outside = gaps.filter((g) => g.kind === 'outside').map((g) => g.where);
    for (const where of ['database storage', 'backups and snapshots', 'exports, bundles and SIEM feeds', 'server logs', 'events sealed after the erasure began']) {
      assert.ok(outside.includes(where), where);
    }
    // The sealed record of the erasure says where, never what.
    const record = await entry(SYSTEM_LEDGER, await latestRecord('subject.erase'));
    assert.equal(record.event.metadata.not_reached, `held hr (1); kept crm actor.id (1); store legal hold ${holdId}; store retention policy version ${policy.body.version}; store API key ${keyId}`);
    assert.equal(JSON.stringify(record.event).includes(KEPT), false);
    // The kept id is still there, as the report says; the rest of that actor's address is gone.
    const kept = await entry('crm', 3);
    assert.equal(kept.event.actor.id, KEPT);
    assert.equal(kept.redacted['actor.email'], 'erased');
    // The hold's sealed record lost the owner's address and still vouches for the hold.
    const holdRecord = await entry(SYSTEM_LEDGER, await latestRecord('legal_hold.create'));
    assert.equal(holdRecord.redacted['metadata.owner'], 'erased');
    await verifySealedRecords(server.deployment.store, SYSTEM_LEDGER, nodeSuite);
    await verify('hr');
  });
});
