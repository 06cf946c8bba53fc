import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateEvent, EVENT_LIMITS } from '../../src/core/event.js';
import { SealtrailError } from '../../src/core/errors.js';
import { isIPv4, isIPv6 } from '../../src/core/ip.js';
import { formatMicros, isRfc3339, parseMicros } from '../../src/core/time.js';
import { sampleEvent } from '../helpers/events.js';

function rejects(input: unknown, path: string, message?: RegExp) {
  assert.throws(
    () => validateEvent(input),
    (error: unknown) => {
      assert.ok(error instanceof SealtrailError);
      assert.equal(error.code, 'INVALID_EVENT');
      assert.equal(error.details.path, path, `path for ${error.message}`);
      if (message) assert.match(error.message, message);
      return true;
    },
  );
}

const withChange = (change: (e: Record<string, any>) => void) => {
  const event = structuredClone(sampleEvent(1)) as Record<string, any>;
  change(event);
  return event;
};

describe('event validation', () => {
  it('accepts a complete event and a minimal one', () => {
    assert.doesNotThrow(() => validateEvent(sampleEvent(3)));
    assert.doesNotThrow(() =>
      validateEvent({ actor: { type: 'system', id: 'cron' }, action: 'job.run', category: 'execute', outcome: 'success' }),
    );
  });

  it('names the missing or wrong field', () => {
    rejects(withChange((e) => delete e.actor), '/actor');
    rejects(withChange((e) => (e.actor.id = '')), '/actor/id');
    rejects(withChange((e) => (e.actor.type = 'robot')), '/actor/type');
    rejects(withChange((e) => (e.action = 'Download')), '/action');
    rejects(withChange((e) => (e.category = 42)), '/category');
    rejects(withChange((e) => (e.outcome = 'maybe')), '/outcome');
    rejects(withChange((e) => (e.origin.ip = '256.1.1.1')), '/origin/ip');
    rejects(withChange((e) => (e.occurred_at = '2026-02-30T00:00:00Z')), '/occurred_at');
    rejects(withChange((e) => (e.targets[0].type = 'a\u0000b')), '/targets/0/type');
  });

  it('rejects unknown fields and prototype-polluting keys anywhere', () => {
    rejects(withChange((e) => (e.extra = 1)), '/extra');
    rejects(withChange((e) => (e.actor.role = 'x')), '/actor/role');
    rejects(JSON.parse('{"__proto__":{"x":1}}'), '/__proto__', /not allowed/);
    rejects(withChange((e) => (e.metadata = JSON.parse('{"a":{"constructor":{"prototype":1}}}'))), '/metadata/a/constructor');
  });

  it('enforces every limit', () => {
    rejects(withChange((e) => (e.actor.id = 'x'.repeat(EVENT_LIMITS.maxIdentifierLength + 1))), '/actor/id');
    rejects(withChange((e) => (e.outcome_reason = 'x'.repeat(EVENT_LIMITS.maxTextLength + 1))), '/outcome_reason');
    rejects(
      withChange((e) => (e.targets = Array.from({ length: EVENT_LIMITS.maxTargets + 1 }, (_, i) => ({ type: 't', id: `${i}` })))),
      '/targets',
    );
    rejects(
      withChange((e) => (e.metadata = Object.fromEntries(Array.from({ length: EVENT_LIMITS.maxMetadataKeys + 1 }, (_, i) => [`k${i}`, i])))),
      '/metadata',
    );
    assert.doesNotThrow(() => validateEvent(withChange((e) => (e.metadata = { deep: { a: { b: { c: { d: 1 } } } } }))));
    rejects(withChange((e) => (e.metadata = { deep: { a: { b: { c: { d: { e: 1 } } } } } })), '/metadata/deep/a/b/c/d');
    rejects(withChange((e) => (e.metadata = { 'bad key': 1 })), '/metadata/bad key');
    const big = withChange((e) => (e.metadata = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]))));
    rejects(big, '', /limit is 16384/);
  });

  it('rejects lone surrogates and non-objects', () => {
    rejects(withChange((e) => (e.actor.name = 'a\ud800b')), '/actor/name', /surrogate/);
    rejects([sampleEvent(1)], '');
    rejects(null, '');
    rejects('event', '');
  });
});

describe('ip and time formats', () => {
  it('checks IPv4 strictly', () => {
    for (const ok of ['0.0.0.0', '203.0.113.7', '255.255.255.255']) assert.ok(isIPv4(ok), ok);
    for (const bad of ['256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4 ']) assert.ok(!isIPv4(bad), bad);
  });
  it('checks IPv6 strictly', () => {
    for (const ok of ['::', '::1', '2001:db8::1', 'fe80::1:2:3:4', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4'])
      assert.ok(isIPv6(ok), ok);
    for (const bad of [':::', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '12345::', '1:2:3:4:5:6:7::8:9', 'g::1', '1:2:3:4:5:6:7'])
      assert.ok(!isIPv6(bad), bad);
  });
  it('formats and parses microsecond timestamps exactly', () => {
    const micros = Date.UTC(2026, 10, 26, 7, 51, 51) * 1000 + 123456;
    assert.equal(formatMicros(micros), '2026-11-26T07:51:51.123456Z');
    assert.equal(parseMicros('2026-11-26T07:51:51.123456Z'), micros);
    assert.equal(parseMicros(formatMicros(1)), 1);
    for (const bad of ['2026-11-26T07:51:51.12345Z', '2026-11-26T07:51:51.123456+00:00', '2026-13-26T07:51:51.123456Z'])
      assert.throws(() => parseMicros(bad), SealtrailError, bad);
    assert.ok(isRfc3339('2024-02-29T23:59:60.5+05:30'));
    assert.ok(!isRfc3339('2023-02-29T00:00:00Z'));
  });
});

describe('errors name the allowed words', () => {
  it('a category outside the list says which ones there are', () => {
    assert.throws(
      () => validateEvent({ actor: { type: 'user', id: 'a' }, action: 'x.y', category: 'authentication', outcome: 'success' }),
      /\/category: must be one of create, read, update, delete, auth, admin, export, execute, other/,
    );
    assert.throws(() => validateEvent({ actor: { type: 'robot', id: 'a' }, action: 'x.y', category: 'auth', outcome: 'success' }), /\/actor\/type: must be one of user, service, api_key, system/);
  });
});
