/** Retention policies, rule choice, expiry arithmetic, holds and erasure decisions (pure core). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkSubject,
  DEFAULT_ERASURE,
  erasurePaths,
  erasurePlan,
  expiryCutoff,
  governingRule,
  parseLegalHold,
  parseRetentionPolicy,
  shortRules,
} from '../../src/core/retention.js';
import { SealtrailError } from '../../src/core/errors.js';

const micros = (iso: string) => Date.parse(iso) * 1000;

describe('retention policy documents', () => {
  it('accepts a valid policy, fills erasure defaults and flags rules under 12 months', () => {
    const policy = parseRetentionPolicy({
      rules: [
        { id: 'default', retain: '400d' },
        { id: 'pci', ledger: 'payments', retain: '1y' },
        { id: 'debug', action: 'debug.*', retain: '364d' },
        { id: 'm11', category: 'read', retain: '11m' },
        { id: 'forever', tenant: 'bank', retain: 'forever' },
      ],
    });
    assert.deepEqual(policy.erasure, DEFAULT_ERASURE);
    assert.deepEqual(shortRules(policy).map((r) => r.id), ['debug', 'm11']);
  });

  it('names the offending member of a bad policy', () => {
    const cases: Array<[unknown, string]> = [
      [[], ''],
      [{ rules: {} }, '/rules'],
      [{ rules: [{ id: 'a', retain: '0d' }] }, '/rules/0/retain'],
      [{ rules: [{ id: 'a', retain: '5w' }] }, '/rules/0/retain'],
      [{ rules: [{ id: '', retain: '1y' }] }, '/rules/0/id'],
      [{ rules: [{ id: 'a', retain: '1y', colour: 'red' }] }, '/rules/0/colour'],
      [{ rules: [{ id: 'a', retain: '1y', action: 'file.*.x*' }] }, '/rules/0/action'],
      [{ rules: [{ id: 'a', retain: '1y' }, { id: 'a', ledger: 'x', retain: '1y' }] }, '/rules/1/id'],
      [{ rules: [{ id: 'a', tenant: 't', retain: '1y' }, { id: 'b', tenant: 't', retain: '2y' }] }, '/rules/1'],
      [{ rules: [], erasure: { fields: ['action'] } }, '/erasure/fields'],
      [{ rules: [], erasure: { metadata: ['__proto__'] } }, '/erasure/metadata'],
      [{ rules: [], extra: 1 }, '/extra'],
    ];
    for (const [input, path] of cases) {
      assert.throws(() => parseRetentionPolicy(input), (e: unknown) => e instanceof SealtrailError && e.details.path === path, JSON.stringify(input));
    }
  });
});

describe('the governing rule', () => {
  const policy = parseRetentionPolicy({
    rules: [
      { id: 'default', retain: '400d' },
      { id: 'auth', action: 'auth.*', retain: '2y' },
      { id: 'auth-login', action: 'auth.login', retain: '3y' },
      { id: 'auth-prefix-long', action: 'auth.log*', retain: '4y' },
      { id: 'ledger-a', ledger: 'a', retain: '5y' },
      { id: 'tenant-t', tenant: 't', retain: '6y' },
      { id: 'a-auth', ledger: 'a', action: 'auth.*', retain: '13m' },
    ],
  });
  const rule = (e: { ledger: string; action?: string; tenant?: string; category?: string }) => governingRule(policy, e)?.id;

  it('picks the most specific matching rule', () => {
    assert.equal(rule({ ledger: 'x', action: 'file.read' }), 'default');
    assert.equal(rule({ ledger: 'x', action: 'auth.logout' }), 'auth-prefix-long');
    assert.equal(rule({ ledger: 'x', action: 'auth.login' }), 'auth-login');
    assert.equal(rule({ ledger: 'x', action: 'auth.mfa' }), 'auth');
    assert.equal(rule({ ledger: 'a', action: 'auth.login' }), 'a-auth');
    assert.equal(rule({ ledger: 'x' }), 'default');
  });

  it('keeps the longer period when equally specific rules disagree', () => {
    assert.equal(rule({ ledger: 'a', action: 'file.read', tenant: 't' }), 'tenant-t');
  });

  it('matches nothing without a default rule', () => {
    assert.equal(governingRule(parseRetentionPolicy({ rules: [{ id: 'a', ledger: 'a', retain: '1y' }] }), { ledger: 'b' }), undefined);
  });
});

describe('expiry cutoffs', () => {
  it('counts days exactly and months and years on the calendar, clamped to month ends', () => {
    const now = micros('2027-03-31T12:00:00.000Z') + 123;
    assert.equal(expiryCutoff('30d', now), now - 30 * 86_400_000_000);
    assert.equal(expiryCutoff('1m', now), micros('2027-02-28T12:00:00.000Z') + 123);
    assert.equal(expiryCutoff('13m', now), micros('2026-02-28T12:00:00.000Z') + 123);
    assert.equal(expiryCutoff('1y', micros('2028-02-29T00:00:00.000Z')), micros('2027-02-28T00:00:00.000Z'));
    assert.equal(expiryCutoff('forever', now), undefined);
    assert.throws(() => expiryCutoff('soon', now), SealtrailError);
  });
});

describe('legal holds', () => {
  it('pins relative times and normalises ledgers', () => {
    const hold = parseLegalHold({ ledgers: ['b', 'a', 'a'], query: 'actor:alice received:-30d', reason: 'matter', owner: 'legal' }, micros('2026-11-26T00:00:00Z'));
    assert.deepEqual(hold.ledgers, ['a', 'b']);
    assert.equal(hold.query, 'actor:alice received:>=2026-10-27');
    assert.deepEqual(parseLegalHold({ ledgers: ['*', 'a'], reason: 'r', owner: 'o' }, 0).ledgers, ['*']);
  });

  it('refuses holds without a reason or owner, or with a bad query', () => {
    assert.throws(() => parseLegalHold({ reason: '', owner: 'o' }, 0), /reason/);
    assert.throws(() => parseLegalHold({ reason: 'r' }, 0), /owner/);
    assert.throws(() => parseLegalHold({ reason: 'r', owner: 'o', query: 'nosuchkey:1' }, 0), /unknown key/);
    assert.throws(() => parseLegalHold({ reason: 'r', owner: 'o', ledgers: ['Bad Name'] }, 0), /ledgers/);
  });
});

describe('erasure decisions', () => {
  const values = (o: Record<string, unknown>) => new Map(Object.entries(o));
  const settings = { fields: ['actor.name', 'actor.email', 'origin.ip'], metadata: ['contact'] };

  it("removes the actor's personal fields when the subject is the actor, and nothing of other actors", () => {
    const event = values({ 'actor.id': 'u-1', 'actor.name': 'Ann', 'actor.email': 'Ann@Example.com', 'origin.ip': '192.0.2.1', action: 'file.read', 'metadata.contact': 'x' });
    assert.deepEqual(erasurePaths(event, 'ann@example.com', settings), ['actor.email', 'actor.name', 'metadata.contact', 'origin.ip']);
    assert.deepEqual(erasurePaths(event, 'u-1', settings), ['actor.email', 'actor.name', 'metadata.contact', 'origin.ip']);
    assert.deepEqual(erasurePaths(event, 'u-2', settings), []);
    // Case never matters; a name is the actor too.
    assert.deepEqual(erasurePaths(event, 'ANN', settings), ['actor.email', 'actor.name', 'metadata.contact', 'origin.ip']);
  });

  it('removes targets and configured metadata that are the subject, when someone else acted', () => {
    const event = values({
      'actor.id': 'admin',
      'actor.name': 'Root',
      'targets.0': { type: 'user', id: 'u-9', name: 'Bo' },
      'targets.1': { type: 'role', id: 'editor' },
      'metadata.contact': 'bo@example.com',
      'metadata.note': 'bo@example.com',
    });
    assert.deepEqual(erasurePaths(event, 'u-9', settings), ['targets.0']);
    // Any metadata key holding the subject goes, listed in the policy or not.
    assert.deepEqual(erasurePaths(event, 'bo@example.com', settings), ['metadata.contact', 'metadata.note']);
  });

  it('removes every field that contains the subject, wherever it is, and nothing that only looks alike', () => {
    const subject = 'Zed.Marker@example.com';
    const event = values({
      id: 'evt-zed.marker@example.com',
      'actor.type': 'user',
      'actor.id': 'u-77',
      'actor.session_id': 's-1',
      action: 'mail.send',
      category: 'update',
      outcome: 'failure',
      outcome_reason: 'mailbox ZED.MARKER@EXAMPLE.COM is full',
      'origin.user_agent': 'curl/8 (zed.marker@example.com)',
      'origin.device_id': 'dev-1',
      'targets.0': { type: 'mailbox', id: 'mb-1', name: 'Zed <zed.marker@example.com>' },
      'targets.1': { type: 'mailbox', id: 'mb-2', name: 'Jim <jimzed.marker@example.com>' },
      'metadata.note': 'reported by zed.marker@example.com',
      'metadata.nested': { recipients: [{ 'zed.marker@example.com': true }] },
      'metadata.query': 'q=%22zed.marker%40example.com%22&limit=10',
      'metadata.other': 'zed.marker@example.community',
    });
    const plan = erasurePlan(event, subject, settings);
    assert.deepEqual(plan.paths, ['id', 'metadata.nested', 'metadata.note', 'metadata.query', 'origin.user_agent', 'outcome_reason', 'targets.0']);
    assert.deepEqual(plan.kept, []);
    // Names in recorded query strings, form-encoded.
    assert.deepEqual(erasurePaths(values({ 'metadata.query': 'q=%22Zed+Marker%22' }), 'zed marker', settings), ['metadata.query']);
    // Identifiers do not run on into letters or digits: u-50 is someone else.
    assert.deepEqual(erasurePaths(values({ 'actor.id': 'admin', 'targets.0': { type: 'user', id: 'u-50' }, 'metadata.ids': 'u-5,u-6' }), 'u-5', settings), ['metadata.ids']);
  });

  it('keeps actor.id equal to the subject as the pseudonymous key unless the policy lists it', () => {
    const event = values({ 'actor.id': 'zed@example.com', 'actor.email': 'zed@example.com', 'actor.type': 'user' });
    assert.deepEqual(erasurePlan(event, 'ZED@example.com', settings), { paths: ['actor.email'], kept: [{ path: 'actor.id', because: 'pseudonym' }] });
    assert.deepEqual(erasurePlan(event, 'zed@example.com', { ...settings, fields: [...settings.fields, 'actor.id'] }), { paths: ['actor.email', 'actor.id'], kept: [] });
    // An id that carries the address inside a longer value is a copy of it, not a key standing in for it.
    assert.deepEqual(erasurePlan(values({ 'actor.id': 'user:zed@example.com' }), 'zed@example.com', settings), { paths: ['actor.id'], kept: [] });
  });

  it("keeps, and says so, an event's classification and a metadata key's sealed name", () => {
    const event = values({
      'actor.id': 'admin',
      action: 'u-77.export',
      tenant: 'u-77',
      'targets.0': { type: 'u-77', id: 'f-1' },
      'targets.1': { type: 'user', id: 'u-77' },
      'metadata.u-77': 'seen',
      'metadata.ok': 'fine',
    });
    assert.deepEqual(erasurePlan(event, 'u-77', settings), {
      paths: ['metadata.u-77', 'targets.1'],
      kept: [
        { path: 'action', because: 'classifies' },
        { path: 'metadata.u-77', because: 'sealed-name' },
        { path: 'targets.0', because: 'classifies' },
        { path: 'tenant', because: 'classifies' },
      ],
    });
  });

  it('wants a subject specific enough', () => {
    assert.throws(() => checkSubject('ab'));
    assert.throws(() => checkSubject('   '));
    assert.throws(() => checkSubject('a\u0000bc'));
    assert.equal(checkSubject('u-1'), 'u-1');
  });
});
