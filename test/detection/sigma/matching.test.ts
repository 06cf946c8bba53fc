/**
 * The detection language on real event shapes: field maps and lists, every modifier, wildcards with the
 * specification's escapes, case rules, null and exists, keywords, and conditions with their precedence.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseWildcards, wildcardMatcher } from '../../../src/detection/sigma/wildcard.js';
import { compile, detectionRule, matches } from './helpers.js';

const login = { action: 'auth.login', category: 'auth', outcome: 'failure', outcome_reason: 'Invalid Password' };

describe('field values', () => {
  it('ANDs the fields of a map and ORs the values of a list', () => {
    const rule = detectionRule('sel:\n    action: auth.login\n    outcome:\n        - failure\n        - error\ncondition: sel');
    assert.equal(matches(rule, login), true);
    assert.equal(matches(rule, { ...login, outcome: 'success' }), false);
    assert.equal(matches(rule, { ...login, action: 'auth.logout' }), false);
  });

  it('ORs the maps of a list', () => {
    const rule = detectionRule('sel:\n    - action: role.grant\n    - outcome_reason|contains: password\ncondition: sel');
    assert.equal(matches(rule, { action: 'role.grant' }), true);
    assert.equal(matches(rule, login), true);
    assert.equal(matches(rule, { action: 'file.read' }), false);
  });

  it('matches strings case-insensitively, and exactly with cased', () => {
    const loose = detectionRule("sel:\n    outcome_reason: 'invalid password'\ncondition: sel");
    const cased = detectionRule("sel:\n    outcome_reason|cased: 'invalid password'\ncondition: sel");
    assert.equal(matches(loose, login), true);
    assert.equal(matches(cased, login), false);
    assert.equal(matches(cased, { outcome_reason: 'invalid password' }), true);
  });

  it('compares numbers and booleans as text, as Sigma treats values', () => {
    const rule = detectionRule('sel:\n    metadata.attempt: 3\n    metadata.forced: true\ncondition: sel');
    assert.equal(matches(rule, { metadata: { attempt: 3, forced: true } }), true);
    assert.equal(matches(rule, { metadata: { attempt: '3', forced: 'TRUE' } }), true);
    assert.equal(matches(rule, { metadata: { attempt: 4, forced: true } }), false);
  });

  it('matches any target, and any item of a metadata array', () => {
    const rule = detectionRule('sel:\n    targets.id: admin\n    metadata.scopes: write\ncondition: sel');
    const event = { targets: [{ type: 'user', id: 'bob' }, { type: 'role', id: 'admin' }], metadata: { scopes: ['read', 'write'] } };
    assert.equal(matches(rule, event), true);
    assert.equal(matches(rule, { ...event, targets: [{ type: 'user', id: 'bob' }] }), false);
    assert.equal(matches(rule, { ...event, metadata: { scopes: ['read'] } }), false);
  });

  it('reads metadata keys with dots as written, then as nested objects', () => {
    const rule = detectionRule('sel:\n    metadata.http.status: 403\ncondition: sel');
    assert.equal(matches(rule, { metadata: { 'http.status': 403 } }), true);
    assert.equal(matches(rule, { metadata: { http: { status: 403 } } }), true);
    assert.equal(matches(rule, { metadata: { http: { status: 200 } } }), false);
    // Inherited properties are not fields.
    assert.equal(matches(detectionRule('sel:\n    metadata.constructor|exists: true\ncondition: sel'), { metadata: {} }), false);
  });

  it('maps the derived location and the ledger', () => {
    const rule = detectionRule("sel:\n    origin.country: RU\n    origin.city: 'Mosc*'\n    ledger: payroll\ncondition: sel");
    const location = { country: 'RU', city: 'Moscow', region: 'Moscow' };
    assert.equal(matches(rule, {}, { ledger: 'payroll', location }), true);
    assert.equal(matches(rule, {}, { ledger: 'payroll' }), false);
    assert.equal(matches(rule, {}, { ledger: 'web', location }), false);
  });

  it('accepts the documented ECS aliases', () => {
    const rule = detectionRule('sel:\n    user.id: alice\n    event.action: auth.login\n    source.ip|cidr: 203.0.113.0/24\ncondition: sel');
    assert.equal(matches(rule, { ...login, origin: { ip: '203.0.113.9' } }), true);
  });

  it('null matches an absent or null field; an empty string only an empty value', () => {
    const absent = detectionRule('sel:\n    action: auth.login\nno_tenant:\n    tenant: null\ncondition: sel and no_tenant');
    assert.equal(matches(absent, login), true);
    assert.equal(matches(absent, { ...login, tenant: 'acme' }), false);
    const empty = detectionRule("sel:\n    metadata.justification: ''\ncondition: sel");
    assert.equal(matches(empty, { metadata: { justification: '' } }), true);
    assert.equal(matches(empty, { metadata: {} }), false);
  });

  it('exists tests presence, also of a null value, not its content', () => {
    const present = detectionRule('sel:\n    metadata.rows|exists: true\ncondition: sel');
    const missing = detectionRule('sel:\n    metadata.rows|exists: false\ncondition: sel');
    assert.equal(matches(present, { metadata: { rows: 0 } }), true);
    assert.equal(matches(present, { metadata: { rows: null } }), true);
    assert.equal(matches(present, { metadata: {} }), false);
    assert.equal(matches(missing, { metadata: {} }), true);
    assert.equal(matches(detectionRule('sel:\n    targets.id|exists: true\ncondition: sel'), { targets: [] }), false);
  });
});

describe('modifiers', () => {
  it('contains, startswith and endswith, with the list ORed or, with all, ANDed', () => {
    const any = detectionRule('sel:\n    origin.user_agent|contains:\n        - curl\n        - python\ncondition: sel');
    const every = detectionRule('sel:\n    origin.user_agent|contains|all:\n        - python\n        - requests\ncondition: sel');
    const starts = detectionRule('sel:\n    action|startswith: AUTH.\ncondition: sel');
    const ends = detectionRule('sel:\n    action|endswith: .export\ncondition: sel');
    assert.equal(matches(any, { origin: { user_agent: 'curl/8.4' } }), true);
    assert.equal(matches(every, { origin: { user_agent: 'python-requests/2.31' } }), true);
    assert.equal(matches(every, { origin: { user_agent: 'python-httpx/0.27' } }), false);
    assert.equal(matches(starts, { action: 'auth.login' }), true);
    assert.equal(matches(starts, { action: 'oauth.login' }), false);
    assert.equal(matches(ends, { action: 'record.export' }), true);
    assert.equal(matches(ends, { action: 'record.exported' }), false);
  });

  it('re is case-sensitive unless i, and m / s change anchors and dots', () => {
    assert.equal(matches(detectionRule("sel:\n    actor.id|re: '^svc-[a-z]+-\\d{2}$'\ncondition: sel"), { actor: { type: 'service', id: 'svc-backup-01' } }), true);
    assert.equal(matches(detectionRule("sel:\n    actor.id|re: '^SVC-'\ncondition: sel"), { actor: { type: 'service', id: 'svc-backup-01' } }), false);
    assert.equal(matches(detectionRule("sel:\n    actor.id|re|i: '^SVC-'\ncondition: sel"), { actor: { type: 'service', id: 'svc-backup-01' } }), true);
    const multiline = { metadata: { note: 'first\nsecond' } };
    assert.equal(matches(detectionRule("sel:\n    metadata.note|re: '^second'\ncondition: sel"), multiline), false);
    assert.equal(matches(detectionRule("sel:\n    metadata.note|re|m: '^second'\ncondition: sel"), multiline), true);
    assert.equal(matches(detectionRule("sel:\n    metadata.note|re: 'first.second'\ncondition: sel"), multiline), false);
    assert.equal(matches(detectionRule("sel:\n    metadata.note|re|s: 'first.second'\ncondition: sel"), multiline), true);
  });

  it('re accepts optional groups, which choose rather than repeat', () => {
    const rule = detectionRule("sel:\n    metadata.args|re: '-k\\s\\w{1,64}(?:\\s?(?:-p|-s))?$'\ncondition: sel");
    assert.equal(matches(rule, { metadata: { args: 'tool -k secret -p' } }), true);
    assert.equal(matches(rule, { metadata: { args: 'tool -k secret' } }), true);
    assert.equal(matches(rule, { metadata: { args: 'tool -x secret' } }), false);
  });

  it('re does not look at values longer than 1,024 characters', () => {
    const rule = detectionRule("sel:\n    metadata.note|re: 'x$'\ncondition: sel");
    assert.equal(matches(rule, { metadata: { note: `${'a'.repeat(1023)}x` } }), true);
    assert.equal(matches(rule, { metadata: { note: `${'a'.repeat(1024)}x` } }), false);
  });

  it('re finishes on the inputs that hurt a backtracking engine', () => {
    // Three unbounded quantifiers are allowed; on a 1,024-character value that cannot match they cost
    // a polynomial number of steps (an exponential pattern would hang the test instead).
    const rule = detectionRule("sel:\n    metadata.note|re: '^a*a*a*b$'\ncondition: sel");
    assert.equal(matches(rule, { metadata: { note: 'a'.repeat(1024) } }), false);
  });

  it('cidr matches IPv4 and IPv6 networks, and IPv4-mapped addresses', () => {
    const rule = detectionRule('sel:\n    origin.ip|cidr:\n        - 10.0.0.0/8\n        - 2001:db8::/32\ncondition: sel');
    assert.equal(matches(rule, { origin: { ip: '10.200.3.4' } }), true);
    assert.equal(matches(rule, { origin: { ip: '11.0.0.1' } }), false);
    assert.equal(matches(rule, { origin: { ip: '2001:db8:1::7' } }), true);
    assert.equal(matches(rule, { origin: { ip: '2001:db9::1' } }), false);
    assert.equal(matches(rule, { origin: { ip: '::ffff:10.1.1.1' } }), true);
    assert.equal(matches(rule, {}), false);
  });

  it('gt, gte, lt and lte compare numbers and numeric strings', () => {
    const big = detectionRule('sel:\n    metadata.rows|gte: 10000\ncondition: sel');
    assert.equal(matches(big, { metadata: { rows: 10000 } }), true);
    assert.equal(matches(big, { metadata: { rows: '48213' } }), true);
    assert.equal(matches(big, { metadata: { rows: 9999 } }), false);
    assert.equal(matches(big, { metadata: { rows: 'lots' } }), false);
    const small = detectionRule('sel:\n    metadata.duration_ms|lt: 50\ncondition: sel');
    assert.equal(matches(small, { metadata: { duration_ms: 49.5 } }), true);
    assert.equal(matches(small, { metadata: { duration_ms: 50 } }), false);
    assert.equal(matches(detectionRule('sel:\n    metadata.n|gt: 1\ncondition: sel'), { metadata: { n: 1 } }), false);
    assert.equal(matches(detectionRule('sel:\n    metadata.n|lte: 1\ncondition: sel'), { metadata: { n: 1 } }), true);
  });

  it('fieldref compares one field with another (a role granted to oneself)', () => {
    const rule = detectionRule('sel:\n    action: role.grant\n    targets.id|fieldref: actor.id\ncondition: sel');
    assert.equal(matches(rule, { action: 'role.grant', targets: [{ type: 'user', id: 'ALICE' }, { type: 'role', id: 'admin' }] }), true);
    assert.equal(matches(rule, { action: 'role.grant', targets: [{ type: 'user', id: 'bob' }, { type: 'role', id: 'admin' }] }), false);
    assert.equal(matches(rule, { action: 'role.grant' }), false);
  });
});

describe('wildcards', () => {
  const rule = (value: string) => detectionRule(`sel:\n    metadata.v: '${value}'\ncondition: sel`);
  const v = (text: string) => ({ metadata: { v: text } });

  it('* spans any run and ? one character', () => {
    assert.equal(matches(rule('file-*.csv'), v('file-2026-11.CSV')), true);
    assert.equal(matches(rule('file-?.csv'), v('file-1.csv')), true);
    assert.equal(matches(rule('file-?.csv'), v('file-12.csv')), false);
    assert.equal(matches(rule('a*b*c'), v('aXXbYYbc')), true);
    assert.equal(matches(rule('a*b*c'), v('aXXbYYbcd')), false);
  });

  it('follows the escapes of the specification', () => {
    assert.equal(matches(rule('50\\*'), v('50*')), true); // \* is a plain star
    assert.equal(matches(rule('50\\*'), v('500')), false);
    assert.equal(matches(rule('why\\?'), v('why?')), true);
    assert.equal(matches(rule('why\\?'), v('whyX')), false);
    assert.equal(matches(rule('C:\\\\*'), v('C:\\Windows')), true); // \\* is a backslash, then a wildcard
    assert.equal(matches(rule('C:\\\\\\*'), v('C:\\*')), true); // \\\* is a backslash and a plain star
    assert.equal(matches(rule('C:\\\\\\*'), v('C:\\Windows')), false);
    assert.equal(matches(rule('a\\b'), v('a\\b')), true); // a lone backslash is itself
    assert.equal(matches(rule('a\\\\\\\\b'), v('a\\\\b')), true); // four are two
  });

  it('agrees with a reference matcher on arbitrary patterns (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', 'A', '*', '?', '\\', '.', 'é');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 8 }).map((c) => c.join('')), fc.array(alphabet, { maxLength: 10 }).map((c) => c.join('')), (pattern, text) => {
        const expected = referenceRegex(pattern).test(text.toLowerCase());
        assert.equal(wildcardMatcher(parseWildcards(pattern), false)(text), expected, `${pattern} on ${text}`);
      }),
      { numRuns: 3000 },
    );
  });
});

/** The escapes as the specification states them, turned into a (test-only) anchored RegExp. */
function referenceRegex(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const next = pattern[i + 1];
    if (c === '\\' && (next === '*' || next === '?' || next === '\\')) {
      source += escape(next);
      i++;
    } else if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else source += escape(c.toLowerCase());
  }
  return new RegExp(`^${source}$`, 'u');
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('keywords', () => {
  it('match any string the event carries, ORed, or ANDed with |all', () => {
    const any = detectionRule('keywords:\n    - mimikatz\n    - "event::clear"\ncondition: keywords');
    assert.equal(matches(any, { metadata: { command: 'run MimiKatz.exe' } }), true);
    assert.equal(matches(any, { targets: [{ type: 'file', id: 'f1', name: 'event::clear.log' }] }), true);
    assert.equal(matches(any, { metadata: { command: 'ls' } }), false);
    const all = detectionRule("keywords:\n    '|all':\n        - payroll\n        - export\ncondition: keywords");
    assert.equal(matches(all, { action: 'record.export', targets: [{ type: 'file', id: 'payroll-2026.xlsx' }] }), true);
    assert.equal(matches(all, { action: 'record.view', targets: [{ type: 'file', id: 'payroll-2026.xlsx' }] }), false);
  });
});

describe('conditions', () => {
  const searches = "a:\n    action: x.a\nb:\n    outcome: failure\nc:\n    tenant: acme\n_d:\n    actor.type: service\n";
  const rule = (condition: string) => detectionRule(`${searches}condition: ${condition}`);
  const event = (a: boolean, b: boolean, c: boolean, d = false) => ({
    action: a ? 'x.a' : 'x.z',
    outcome: b ? 'failure' : 'success',
    ...(c ? { tenant: 'acme' } : {}),
    actor: { type: d ? 'service' : 'user', id: 'alice' },
  });
  const truth = (condition: string, f: (a: boolean, b: boolean, c: boolean) => boolean) => {
    const compiled = rule(condition);
    for (const a of [false, true]) for (const b of [false, true]) for (const c of [false, true]) {
      assert.equal(matches(compiled, event(a, b, c)), f(a, b, c), `${condition} with a=${a} b=${b} c=${c}`);
    }
  };

  it('binds and tighter than or, and not tighter than and', () => {
    truth('a or b and c', (a, b, c) => a || (b && c));
    truth('a and b or c', (a, b, c) => (a && b) || c);
    truth('not a and b', (a, b) => !a && b);
    truth('not a or b', (a, b) => !a || b);
    truth('not not a', (a) => a);
  });

  it('parentheses override precedence', () => {
    truth('(a or b) and c', (a, b, c) => (a || b) && c);
    truth('not (a and b)', (a, b) => !(a && b));
    truth('a and not (b or c)', (a, b, c) => a && !(b || c));
  });

  it('1 of / all of a pattern or them, them leaving out identifiers starting with _', () => {
    truth('1 of them', (a, b, c) => a || b || c);
    truth('all of them', (a, b, c) => a && b && c);
    truth('1 of a* or c', (a, _b, c) => a || c);
    truth('not 1 of b* and a', (a, b) => !b && a);
    truth('all of them and not _d', (a, b, c) => a && b && c);
    assert.equal(matches(rule('all of them'), event(true, true, true, true)), true);
    assert.equal(matches(rule('all of them and not _d'), event(true, true, true, true)), false);
    assert.equal(matches(rule('1 of _*'), event(false, false, false, true)), true);
  });

  it('a list of conditions is their OR; keywords of the condition are case-insensitive', () => {
    truth('[a and b, c]', (a, b, c) => (a && b) || c);
    truth('a AND NOT b', (a, b) => a && !b);
  });

  it('logsource service restricts a rule to one ledger', () => {
    const yaml = 'title: t\nid: t\nlogsource:\n    product: sealtrail\n    service: sealtrail-system\ndetection:\n    sel:\n        action: subject.erase\n    condition: sel\n';
    const [detector] = compile(yaml);
    assert.equal(matches(detector!, { action: 'subject.erase' }, { ledger: 'sealtrail-system' }), true);
    assert.equal(matches(detector!, { action: 'subject.erase' }, { ledger: 'app' }), false);
  });
});
