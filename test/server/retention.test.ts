/**
 * Retention, legal holds and erasure through the HTTP API on the embedded store: the 12-month guard,
 * dry runs, purges that spare held events, erasure with visible markers, audit records that do not
 * repeat the erased data, verification afterwards, and no forgotten value left in the database files.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseVerifierKey } from '../../src/core/note.js';
import type { AuditEvent } from '../../src/core/event.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { verifyWithSystemLedger } from '../../src/store/verify-ledger.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

const DAY = 86_400_000_000;
let server: TestServer;
let auditorToken: string;
const call = async (method: 'GET' | 'PUT' | 'POST', url: string, payload?: unknown, token = server.adminToken) => {
  const res = await server.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: res.statusCode, body: res.json() as any };
};
const indexes = async (ledger: string, q = '') => {
  const found: number[] = [];
  let cursor: string | null = null;
  do {
    const { body } = await call('GET', `/v1/ledgers/${ledger}/events?order=asc&limit=1000&q=${encodeURIComponent(q)}${cursor ? `&cursor=${cursor}` : ''}`);
    found.push(...body.events.map((e: { index: number }) => e.index));
    cursor = body.next;
  } while (cursor);
  return found;
};
const systemRecords = async (action: string) => {
  const { body } = await call('GET', `/v1/ledgers/${SYSTEM_LEDGER}/events?limit=1000&q=${encodeURIComponent(`action:${action}`)}`);
  return body.events as Array<{ index: number; event: AuditEvent }>;
};
const verify = (ledger: string) =>
  verifyWithSystemLedger(server.deployment.store, ledger, { suite: nodeSuite, verifiers: [parseVerifierKey(nodeSuite, server.deployment.verifierKey)] });
const fileBytes = () => {
  const db = server.deployment.databasePath;
  return Buffer.concat([readFileSync(db), existsSync(`${db}-wal`) ? readFileSync(`${db}-wal`) : Buffer.alloc(0)]);
};

// Unique strings whose bytes the file scans look for.
const ERASE_NAME = 'Qzxv Eraseme 8H2K';
const ERASE_EMAIL = 'qzxv.eraseme.8h2k@example.org';
const PURGE_MARK = 'Purgemark-77QX-unique';

const policy = {
  rules: [
    { id: 'default', retain: '7y' },
    { id: 'app-auth', ledger: 'app', action: 'auth.*', retain: '400d' },
    { id: 'tenant-2', tenant: 'tenant-2', retain: '30d' },
  ],
  erasure: { fields: ['actor.name', 'actor.email', 'origin.ip', 'origin.user_agent'], metadata: ['contact'] },
};

before(async () => {
  // The retention service judges expiry 800 days from now: every event here is 800 days old to it.
  server = await buildTestServer({ retentionClock: () => Date.now() * 1000 + 800 * DAY });
  for (const ledger of ['app', 'hr']) await call('PUT', `/v1/ledgers/${ledger}`);
  await call('POST', '/v1/ledgers/app/events', Array.from({ length: 60 }, (_, i) => sampleEvent(i)));
  const hr = Array.from({ length: 45 }, (_, i) => sampleEvent(100 + i));
  // hr 45: the data subject, with personal data in a configured metadata key; hr 46: purged by tenant-2.
  hr.push({ ...sampleEvent(300), actor: { type: 'user', id: 'u-subject', name: ERASE_NAME, email: ERASE_EMAIL }, tenant: 'tenant-0', metadata: { contact: ERASE_EMAIL, ticket: 'T-1' } });
  hr.push({ ...sampleEvent(301), tenant: 'tenant-2', targets: [{ type: 'file', id: 'f-purge', name: PURGE_MARK }] });
  await call('POST', '/v1/ledgers/hr/events', hr);
  const key = await call('POST', '/v1/keys', { role: 'auditor', ledgers: ['*'], description: 'auditor' });
  auditorToken = key.body.token;
});
after(() => server.cleanup());

describe('retention policy', () => {
  it('refuses rules under 12 months unless forced, and records the change', async () => {
    const refused = await call('PUT', '/v1/retention/policy', policy);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'RETENTION_TOO_SHORT');
    assert.deepEqual(refused.body.rules, ['tenant-2']);
    assert.equal((await call('GET', '/v1/retention/policy')).body.version, null);

    const stored = await call('PUT', '/v1/retention/policy?force=1', policy);
    assert.equal(stored.status, 200);
    assert.deepEqual(stored.body.warnings, ['rule tenant-2 keeps events for less than 12 months']);
    const shown = await call('GET', '/v1/retention/policy', undefined, auditorToken);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.version, stored.body.version);
    assert.deepEqual(shown.body.rules, policy.rules);
    const [record] = await systemRecords('retention.policy.update');
    assert.equal(record!.event.metadata!.forced_short_rules, 'tenant-2');
    assert.equal((record!.event.actor as { type: string }).type, 'api_key');
  });

  it('rejects malformed policies with the path of the problem, and non-admins', async () => {
    const bad = await call('PUT', '/v1/retention/policy?force=1', { rules: [{ id: 'x', retain: '12 months' }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.path, '/rules/0/retain');
    const twice = await call('PUT', '/v1/retention/policy?force=1', { rules: [{ id: 'a', retain: '1y' }, { id: 'b', retain: '2y' }] });
    assert.equal(twice.status, 400);
    assert.match(twice.body.message, /match exactly the same events/);
    assert.equal((await call('PUT', '/v1/retention/policy', policy, auditorToken)).status, 403);
    assert.equal((await call('POST', '/v1/retention/run', undefined, auditorToken)).status, 403);
  });
});

describe('legal holds and purge runs', () => {
  // app: auth events (i % 3 ≠ 0) expire under app-auth; u-1's (i = 1, 35) are under the hold below.
  const appExpired = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 3 !== 0);
  const appHeld = appExpired.filter((i) => i % 17 === 1);
  // hr: tenant-2 events expire after 30 days; everything else is kept 7 years.
  const hrExpired = [...Array.from({ length: 45 }, (_, i) => i).filter((i) => (100 + i) % 3 === 2), 46];

  it('places holds and shows what each covers', async () => {
    const created = await call('POST', '/v1/holds', { ledgers: ['app'], query: 'actor:u-1', reason: 'Matter 2026-17', owner: 'legal@corp' });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^hold_[0-9a-f]{16}$/);
    const listed = await call('GET', '/v1/holds', undefined, auditorToken);
    const hold = listed.body.holds.find((h: { id: string }) => h.id === created.body.id);
    assert.deepEqual(hold.covers, [{ ledger: 'app', events: 4 }]);
    assert.equal((await call('POST', '/v1/holds', { ledgers: ['nosuch'], reason: 'r', owner: 'o' })).status, 400);
    assert.equal((await call('POST', '/v1/holds', { ledgers: ['app'], reason: ' ', owner: 'o' })).status, 400);
    assert.equal((await call('POST', '/v1/holds', { ledgers: ['app'], query: 'actor:', reason: 'r', owner: 'o' })).status, 400);
    const [record] = await systemRecords('legal_hold.create');
    assert.equal(record!.event.metadata!.reason, 'Matter 2026-17');
  });

  it('a dry run reports what would go and changes nothing', async () => {
    const { status, body } = await call('POST', '/v1/retention/run?dry_run=1');
    assert.equal(status, 200);
    assert.equal(body.dryRun, true);
    assert.equal(body.purged, appExpired.length - appHeld.length + hrExpired.length);
    assert.equal(body.held, appHeld.length);
    assert.equal((await indexes('app')).length, 60);
    assert.equal((await systemRecords('retention.purge')).length, 0);
  });

  it('purges expired events except held ones; the rest and every proof still verify', async () => {
    assert.notEqual(fileBytes().indexOf(PURGE_MARK), -1, 'the marker is in the file before the purge');
    const { body } = await call('POST', '/v1/retention/run');
    assert.equal(body.purged, appExpired.length - appHeld.length + hrExpired.length);
    const appLine = body.rules.find((r: { ledger: string; rule: string }) => r.ledger === 'app' && r.rule === 'app-auth');
    assert.equal(appLine.held, appHeld.length);
    const appLeft = await indexes('app');
    assert.deepEqual(appLeft, Array.from({ length: 60 }, (_, i) => i).filter((i) => !appExpired.includes(i) || appHeld.includes(i)));
    assert.deepEqual((await indexes('hr')).filter((i) => hrExpired.includes(i)), []);
    const purged = await call('GET', '/v1/ledgers/app/entries/2');
    assert.deepEqual(purged.body.event, {});
    assert.equal(purged.body.redacted.action, 'purged');
    assert.equal(typeof purged.body.leaf, 'string');
    await verify('app');
    await verify('hr');
    const [record] = await systemRecords('retention.purge');
    assert.equal(record!.event.metadata!.purged, body.purged);
    assert.match(String(record!.event.metadata!.rules), /app-auth/);
    // A second run has nothing more to remove.
    assert.equal((await call('POST', '/v1/retention/run')).body.purged, 0);
  });

  it('leaves no purged value in the database file or its WAL', () => {
    assert.equal(fileBytes().indexOf(PURGE_MARK), -1);
  });

  it('releases a hold once, with a reason, and the next run purges what it kept', async () => {
    const { body: list } = await call('GET', '/v1/holds');
    const id = list.holds[0].id;
    assert.equal((await call('POST', `/v1/holds/${id}/release`, {})).status, 400);
    const released = await call('POST', `/v1/holds/${id}/release`, { reason: 'matter settled' });
    assert.equal(released.status, 200);
    assert.equal(released.body.release_reason, 'matter settled');
    assert.equal((await call('POST', `/v1/holds/${id}/release`, { reason: 'again' })).body.released_at, released.body.released_at);
    assert.equal((await call('POST', '/v1/holds/hold_nosuch/release', { reason: 'x' })).status, 404);
    assert.equal((await call('POST', '/v1/retention/run')).body.purged, appHeld.length);
    assert.equal((await systemRecords('legal_hold.release')).length, 1);
  });
});

describe('erasure', () => {
  it('is admin only and needs a specific subject', async () => {
    assert.equal((await call('POST', '/v1/erasures', { subject: ERASE_EMAIL }, auditorToken)).status, 403);
    assert.equal((await call('POST', '/v1/erasures', { subject: 'ab' })).status, 400);
  });

  it("refuses held events and erases the subject's personal values everywhere else", async () => {
    // u-5 acts in app 39 and hr 24 and 41 (the others were purged); hold hr 41.
    await call('POST', '/v1/holds', { ledgers: ['hr'], query: 'metadata.request_id:req-141', reason: 'subpoena', owner: 'legal' });
    assert.notEqual(fileBytes().indexOf(ERASE_EMAIL), -1, 'the subject is in the file before erasure');
    const dry = await call('POST', '/v1/erasures', { subject: 'USER5@example.com', dry_run: true });
    assert.equal(dry.body.events, 2);
    assert.equal(dry.body.held, 1);
    assert.equal((await call('GET', '/v1/ledgers/hr/entries/24')).body.event.actor.email, 'user5@example.com');

    const { status, body } = await call('POST', '/v1/erasures', { subject: 'USER5@example.com', reference: 'DSR-2026-001' });
    assert.equal(status, 200);
    assert.equal(body.events, 2);
    assert.equal(body.held, 1);
    assert.deepEqual(body.ledgers.map((l: { ledger: string; events: number }) => [l.ledger, l.events]), [['app', 1], ['hr', 1]]);
    assert.equal((await call('GET', '/v1/ledgers/app/entries/39')).body.redacted['actor.email'], 'erased');
    const erased = await call('GET', '/v1/ledgers/hr/entries/24');
    assert.deepEqual(erased.body.redacted, { 'actor.email': 'erased', 'actor.name': 'erased', 'origin.ip': 'erased', 'origin.user_agent': 'erased' });
    assert.deepEqual(erased.body.event.actor, { type: 'user', id: 'u-5', session_id: 's-4' });
    assert.equal(erased.body.event.action, 'auth.login');
    assert.equal((await call('GET', '/v1/ledgers/hr/entries/41')).body.event.actor.email, 'user5@example.com');
    const [shown] = (await call('GET', `/v1/ledgers/hr/events?q=${encodeURIComponent('actor:u-5 metadata.request_id:req-124')}`)).body.events;
    assert.equal(shown.redacted['actor.email'], 'erased');
    await verify('hr');
  });

  it('removes configured metadata and the subject as actor, and leaves nothing in the files', async () => {
    const { body } = await call('POST', '/v1/erasures', { subject: ERASE_EMAIL });
    assert.equal(body.events, 1);
    const entry = await call('GET', '/v1/ledgers/hr/entries/45');
    assert.equal(entry.body.redacted['metadata.contact'], 'erased');
    assert.equal(entry.body.event.metadata.ticket, 'T-1');
    assert.equal(entry.body.event.actor.id, 'u-subject');
    assert.deepEqual(await indexes('hr', `"${ERASE_NAME}"`), []);
    const bytes = fileBytes();
    for (const marker of [ERASE_EMAIL, ERASE_NAME]) assert.equal(bytes.indexOf(marker), -1, marker);
    await verify('hr');
  });

  it('records each erasure without the erased data', async () => {
    const records = await systemRecords('subject.erase');
    assert.equal(records.length, 2);
    const withReference = records.find((r) => r.event.metadata!.reference === 'DSR-2026-001')!;
    assert.equal(withReference.event.metadata!.events, 2);
    assert.equal(withReference.event.metadata!.held, 1);
    const { body } = await call('GET', `/v1/ledgers/${SYSTEM_LEDGER}/events?limit=1000`);
    const text = JSON.stringify(body).toLowerCase();
    for (const secret of ['user5@example.com', ERASE_EMAIL.toLowerCase(), ERASE_NAME.toLowerCase()]) assert.equal(text.includes(secret), false, secret);
  });
});
