/**
 * Correlation rules (Sigma correlation v2) over windows of event time: the edges of the timespan,
 * events that arrive out of time order, group-by, chained correlations, generate, aliases, and state
 * that goes through JSON between events giving the same findings as state kept in memory.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_FINDING_EVENTS } from '../../../src/detection/detector.js';
import { MAX_GROUPS } from '../../../src/detection/sigma/correlation.js';
import { compile, judged, MINUTE, run, SECOND } from './helpers.js';

const failedLogin = `title: Failed login
id: failed-login
name: failed_login
logsource:
    product: sealtrail
detection:
    selection:
        action: auth.login
        outcome: failure
    condition: selection
`;
const successLogin = failedLogin.replace(/failed-login/, 'ok-login').replace(/failed_login/, 'ok_login').replace('outcome: failure', 'outcome: success').replace('Failed login', 'Successful login');

function correlation(body: string, extra = ''): string {
  return `title: Correlated\nid: corr\nlevel: high\ntags: [attack.t1110]\n${extra}correlation:\n${body.replace(/^/gm, '    ')}\n---\n${failedLogin}---\n${successLogin}`;
}

const fail = (index: number, at: number, actor = 'alice', extra: Record<string, unknown> = {}) =>
  judged(index, { action: 'auth.login', outcome: 'failure', actor: { type: 'user', id: actor }, ...extra }, { at });
const ok = (index: number, at: number, actor = 'alice', extra: Record<string, unknown> = {}) =>
  judged(index, { action: 'auth.login', outcome: 'success', actor: { type: 'user', id: actor }, ...extra }, { at });

describe('event_count', () => {
  const rule = () => compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 10m\ncondition:\n    gte: 3'));

  it('raises one detector, about the correlation, and not the referenced rule', () => {
    const detectors = rule();
    assert.deepEqual(detectors.map((d) => d.id).sort(), ['corr', 'ok-login']);
    const corr = detectors.find((d) => d.id === 'corr')!;
    assert.equal(corr.severity, 'high');
    assert.equal(corr.technique, 'T1110');
    assert.equal(corr.learningMicros, 0);
  });

  it('fires when the count is reached within the timespan, and the edge is inside', () => {
    const [corr] = rule();
    const inside = run(corr!, [fail(0, 0), fail(1, 5 * MINUTE), fail(2, 10 * MINUTE)]);
    assert.equal(inside.length, 1);
    assert.deepEqual(inside[0]!.events.map((e) => e.index), [0, 1, 2]);
    assert.equal(inside[0]!.key, 'corr:app:2');
    assert.deepEqual(inside[0]!.actor, { type: 'user', id: 'alice' });
    assert.equal(inside[0]!.firstSeenMicros, judged(0, {}, { at: 0 }).timeMicros);
    assert.equal(inside[0]!.lastSeenMicros, judged(0, {}, { at: 10 * MINUTE }).timeMicros);
    assert.match(inside[0]!.summary, /3 matching events within 10m for actor\.id=alice \(gte 3\)/);
    const outside = run(corr!, [fail(0, 0), fail(1, 5 * MINUTE), fail(2, 10 * MINUTE + 1)]);
    assert.equal(outside.length, 0);
  });

  it('counts each group apart and ignores other events', () => {
    const [corr] = rule();
    const events = [fail(0, 0, 'alice'), fail(1, SECOND, 'bob'), ok(2, 2 * SECOND, 'alice'), fail(3, 3 * SECOND, 'alice'), fail(4, 4 * SECOND, 'bob'), fail(5, 5 * SECOND, 'alice')];
    const findings = run(corr!, events);
    assert.deepEqual(findings.map((f) => [f.actor?.id, f.events.map((e) => e.index)]), [['alice', [0, 3, 5]]]);
  });

  it('consumes a window that fired: a long burst raises one finding per condition met', () => {
    const [corr] = rule();
    const burst = Array.from({ length: 10 }, (_, i) => fail(i, i * SECOND));
    assert.deepEqual(run(corr!, burst).map((f) => f.key), ['corr:app:2', 'corr:app:5', 'corr:app:8']);
  });

  it('judges late events by their event time', () => {
    const [corr] = rule();
    // Arrives third but happened first; the three lie within 10 minutes of each other.
    const late = run(corr!, [fail(0, 8 * MINUTE), fail(1, 9 * MINUTE), fail(2, 0)]);
    assert.equal(late.length, 1);
    assert.equal(late[0]!.key, 'corr:app:2');
    assert.deepEqual(late[0]!.events.map((e) => e.index), [0, 1, 2]);
    // Arrives late and too early for the others' window.
    assert.equal(run(corr!, [fail(0, 11 * MINUTE), fail(1, 12 * MINUTE), fail(2, 0)]).length, 0);
    // A late event can complete a window that ends after it.
    assert.equal(run(corr!, [fail(0, 0), fail(1, 9 * MINUTE), fail(2, 4 * MINUTE)]).length, 1);
  });

  it('leaves out events whose group-by field is absent', () => {
    const detectors = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [origin.ip]\ntimespan: 10m\ncondition:\n    gte: 2'));
    const corr = detectors.find((d) => d.id === 'corr')!;
    assert.equal(run(corr, [fail(0, 0), fail(1, SECOND)]).length, 0);
    const withIp = (i: number) => fail(i, i * SECOND, `u${i}`, { origin: { ip: '198.51.100.7' } });
    const findings = run(corr, [withIp(0), withIp(1)]);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.actor, undefined); // not grouped by actor.id: about an address, not a person
  });

  it('supports ranges and eq as the specification allows', () => {
    const ranged = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 10m\ncondition:\n    gt: 1\n    lte: 2'))[0]!;
    assert.deepEqual(run(ranged, [fail(0, 0), fail(1, SECOND)]).map((f) => f.key), ['corr:app:1']);
    const exactly = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 10m\ncondition:\n    eq: 2'))[0]!;
    assert.deepEqual(run(exactly, [fail(0, 0), fail(1, SECOND), fail(2, 2 * SECOND)]).map((f) => f.key), ['corr:app:1']);
  });

  it('caps the events of a finding, keeping the trigger last', () => {
    const [corr] = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 1h\ncondition:\n    gte: 150'));
    const findings = run(corr!, Array.from({ length: 150 }, (_, i) => fail(i, i * SECOND)), false);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.events.length, MAX_FINDING_EVENTS);
    assert.equal(findings[0]!.events.at(-1)!.index, 149);
    assert.equal(findings[0]!.events[0]!.index, 0);
  });
});

describe('value_count', () => {
  it('counts distinct values of the field per group (password spraying)', () => {
    const [corr] = compile(correlation('type: value_count\nrules: [failed_login]\ngroup-by: [origin.ip]\ntimespan: 15m\ncondition:\n    field: actor.id\n    gte: 3'));
    const from = (i: number, actor: string, ip = '203.0.113.5') => fail(i, i * MINUTE, actor, { origin: { ip } });
    assert.equal(run(corr!, [from(0, 'a'), from(1, 'a'), from(2, 'b'), from(3, 'b')]).length, 0);
    const findings = run(corr!, [from(0, 'a'), from(1, 'a'), from(2, 'b'), from(3, 'c', '203.0.113.6'), from(4, 'c')]);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.key, 'corr:app:4');
    assert.match(findings[0]!.summary, /3 distinct actor\.id within 15m for origin\.ip=203\.0\.113\.5/);
    assert.deepEqual(findings[0]!.events.map((e) => e.index), [0, 1, 2, 4]);
  });
});

describe('temporal and temporal_ordered', () => {
  it('temporal needs every rule within the timespan, in any order', () => {
    const [corr] = compile(correlation('type: temporal\nrules: [ok_login, failed_login]\ngroup-by: [actor.id]\ntimespan: 5m'));
    assert.equal(run(corr!, [ok(0, 0), fail(1, MINUTE)]).length, 1);
    assert.equal(run(corr!, [fail(0, 0), ok(1, MINUTE)]).length, 1);
    assert.equal(run(corr!, [fail(0, 0), ok(1, 5 * MINUTE + 1)]).length, 0);
    assert.equal(run(corr!, [fail(0, 0, 'alice'), ok(1, MINUTE, 'bob')]).length, 0);
  });

  it('temporal_ordered needs them in the order given, by event time', () => {
    const [corr] = compile(correlation('type: temporal_ordered\nrules: [failed_login, ok_login]\ngroup-by: [actor.id]\ntimespan: 5m'));
    assert.equal(run(corr!, [fail(0, 0), ok(1, MINUTE)]).length, 1);
    assert.equal(run(corr!, [ok(0, 0), fail(1, MINUTE)]).length, 0);
    // Recorded in the wrong order, happened in the right one.
    assert.equal(run(corr!, [ok(0, 2 * MINUTE), fail(1, MINUTE)]).length, 1);
  });

  it('chains: many failures, then a success (the specification\'s example), quiet inner rules', () => {
    const text = `title: Brute force then success
id: bf
level: critical
correlation:
    type: temporal_ordered
    rules: [many_failed, ok_login]
    group-by: [actor.id]
    timespan: 30m
---
title: Many failed
id: many-failed
name: many_failed
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [actor.id]
    timespan: 10m
    condition:
        gte: 5
---
${failedLogin}---
${successLogin}`;
    const detectors = compile(text);
    assert.deepEqual(detectors.map((d) => d.id), ['bf']);
    const [bf] = detectors;
    const fewFailures = [fail(0, 0), fail(1, SECOND), fail(2, 2 * SECOND), fail(3, 3 * SECOND), ok(4, 4 * SECOND)];
    assert.equal(run(bf!, fewFailures).length, 0);
    const attack = [...Array.from({ length: 7 }, (_, i) => fail(i, i * SECOND)), ok(7, MINUTE), ok(8, 2 * MINUTE)];
    const findings = run(bf!, attack);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'critical');
    assert.equal(findings[0]!.key, 'bf:app:7');
    assert.deepEqual(findings[0]!.events.map((e) => e.index), [0, 1, 2, 3, 4, 7]);
  });

  it('generate: true lets the referenced rules raise findings too', () => {
    const detectors = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 10m\ncondition:\n    gte: 3\ngenerate: true'));
    assert.deepEqual(detectors.map((d) => d.id).sort(), ['corr', 'failed-login', 'ok-login']);
  });

  it('aliases group different fields of different rules together', () => {
    const text = `title: Sharing then outside download
id: share-download
correlation:
    type: temporal_ordered
    rules: [file_shared, file_downloaded]
    group-by: [file]
    timespan: 1h
    aliases:
        file:
            file_shared: targets.id
            file_downloaded: metadata.file
---
title: shared
id: shared
name: file_shared
logsource: {product: sealtrail}
detection:
    s: {action: file.share}
    condition: s
---
title: downloaded
id: downloaded
name: file_downloaded
logsource: {product: sealtrail}
detection:
    s: {action: file.download}
    condition: s
`;
    const [corr] = compile(text);
    const share = judged(0, { action: 'file.share', targets: [{ type: 'file', id: 'F1' }] }, { at: 0 });
    const other = judged(1, { action: 'file.download', metadata: { file: 'F2' } }, { at: MINUTE });
    const same = judged(2, { action: 'file.download', metadata: { file: 'F1' } }, { at: 2 * MINUTE });
    assert.deepEqual(run(corr!, [share, other, same]).map((f) => f.key), ['share-download:app:2']);
  });
});

describe('state', () => {
  it('is pruned as event time moves on and capped in groups', () => {
    const [corr] = compile(correlation('type: event_count\nrules: [failed_login]\ngroup-by: [actor.id]\ntimespan: 10m\ncondition:\n    gte: 3'));
    let state = corr!.initialState();
    for (let i = 0; i < 500; i++) corr!.judge(fail(i, i * SECOND, `user${i}`), state, { departureOf: () => undefined });
    assert.equal(Object.keys(state.c.corr!.g).length, 500);
    corr!.judge(judged(500, { action: 'file.read' }, { at: 3 * 3600 * SECOND }), state, { departureOf: () => undefined });
    assert.equal(Object.keys(state.c.corr!.g).length, 0, 'an hour past the window, nothing is kept');
    state = corr!.initialState();
    for (let i = 0; i < MAX_GROUPS + 50; i++) corr!.judge(fail(i, i, `user${i}`), state, { departureOf: () => undefined });
    assert.equal(Object.keys(state.c.corr!.g).length, MAX_GROUPS);
  });

  it('gives the same findings through JSON as in memory, whatever the order of events (property)', () => {
    const [bf] = compile(correlation('type: temporal_ordered\nrules: [failed_login, ok_login]\ngroup-by: [actor.id]\ntimespan: 5m'));
    const [count] = compile(correlation('type: value_count\nrules: [failed_login]\ngroup-by: [origin.ip]\ntimespan: 3m\ncondition:\n    field: actor.id\n    gte: 2'));
    const step = fc.record({
      success: fc.boolean(),
      actor: fc.constantFrom('alice', 'bob', 'carol'),
      ip: fc.constantFrom('198.51.100.1', '198.51.100.2'),
      atSeconds: fc.integer({ min: 0, max: 900 }),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const events = steps.map((s, i) => (s.success ? ok : fail)(i, s.atSeconds * SECOND, s.actor, { origin: { ip: s.ip } }));
        for (const detector of [bf!, count!]) {
          assert.deepEqual(run(detector, events, true), run(detector, events, false));
        }
      }),
      { numRuns: 300 },
    );
  });
});
