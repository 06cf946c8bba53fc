/** The pure timeline analysis: its boundaries (session gaps, run lengths and gaps, travel thresholds) exactly. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  assembleTimeline,
  AUTH_RUN_MAX_GAP_MICROS,
  AUTH_RUN_MIN_FAILURES,
  greatCircleKm,
  SESSION_GAP_MICROS,
  type TimelineInput,
  type TimelineLocation,
} from '../../src/timeline/analysis.js';

const START = Date.parse('2026-11-26T00:00:00Z') * 1000;
const MINUTE = 60_000_000;
const LONDON: TimelineLocation = { country: 'GB', city: 'London', latitude: 51.5074, longitude: -0.1278 };
const PARIS: TimelineLocation = { country: 'FR', city: 'Paris', latitude: 48.8566, longitude: 2.3522 };
const SYDNEY: TimelineLocation = { country: 'AU', city: 'Sydney', latitude: -33.8688, longitude: 151.2093 };

let next = 0;
function input(atMicros: number, event: Record<string, unknown>, location?: TimelineLocation): TimelineInput {
  return { ledger: 'l', index: next++, receivedAtMicros: atMicros, event: { actor: { id: 'a' }, ...event }, ...(location ? { location } : {}) };
}
const history = { from: null, tenants: new Set<string>(), targetTypes: new Set<string>(), targets: new Set<string>(), complete: true };
const build = (events: TimelineInput[]) =>
  assembleTimeline({ actor: 'a', fromMicros: START, toMicros: START + 1000 * MINUTE, ledgers: ['l'], events, history, sharedAddresses: [] });
const login = (outcome: string) => ({ action: 'auth.login', category: 'auth', outcome });

describe('timeline analysis', () => {
  it('measures great circles like the published distances', () => {
    assert.ok(Math.abs(greatCircleKm(LONDON as never, PARIS as never) - 343.5) < 1);
    assert.ok(Math.abs(greatCircleKm(LONDON as never, SYDNEY as never) - 16_994) < 20);
    assert.equal(greatCircleKm(PARIS as never, PARIS as never), 0);
  });

  it('orders by occurred_at when believable, and by received_at when the client clock runs ahead', () => {
    const late = input(START + 10 * MINUTE, { occurred_at: new Date((START + MINUTE) / 1000).toISOString() });
    const ahead = input(START + 5 * MINUTE, { occurred_at: new Date((START + 60 * MINUTE) / 1000).toISOString() });
    const timeline = build([ahead, late]);
    assert.deepEqual(timeline.events.map((e) => e.index), [late.index, ahead.index]);
    assert.equal(timeline.events[1]!.time, new Date((START + 5 * MINUTE) / 1000).toISOString().replace('Z', '000Z'));
  });

  it('splits events without a session id at gaps over 30 minutes, and keeps session ids whole', () => {
    const events = [
      input(START, { origin: { ip: '192.0.2.1' } }),
      input(START + SESSION_GAP_MICROS, { origin: { ip: '192.0.2.2' } }),
      input(START + 2 * SESSION_GAP_MICROS + 1, {}),
      input(START + 3 * MINUTE, { actor: { id: 'a', session_id: 's1' } }),
      input(START + 300 * MINUTE, { actor: { id: 'a', session_id: 's1' } }),
    ];
    const timeline = build(events);
    assert.deepEqual(
      timeline.sessions.map((s) => [s.session_id, s.events, s.ips]),
      [
        [null, 2, ['192.0.2.1', '192.0.2.2']],
        ['s1', 2, []],
        [null, 1, []],
      ],
    );
    assert.deepEqual(timeline.events.map((e) => e.session), [0, 1, 0, 2, 1]);
  });

  it(`reports ${AUTH_RUN_MIN_FAILURES} failures then a success, not fewer, not after a long pause, not across another authentication`, () => {
    const at = (m: number) => START + m * MINUTE;
    const events = [
      // two failures and a success: too short
      input(at(0), login('failure')),
      input(at(1), login('failure')),
      input(at(2), login('success')),
      // three failures with a file read in between, then a success: a run
      input(at(10), { ...login('failure'), outcome_reason: 'invalid password', origin: { ip: '192.0.2.9' } }),
      input(at(11), { action: 'file.read', category: 'read', outcome: 'success' }),
      input(at(12), { ...login('failure'), outcome_reason: 'mfa timeout', origin: { ip: '192.0.2.9' } }),
      input(at(13), login('failure')),
      input(at(14), { ...login('success'), origin: { ip: '192.0.2.10' } }),
      // three failures, then a success over an hour later: no run
      input(at(100), login('failure')),
      input(at(101), login('failure')),
      input(at(102), login('failure')),
      input(at(102) + AUTH_RUN_MAX_GAP_MICROS + 1, login('success')),
    ];
    const runs = build(events).auth_runs;
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.failures, 3);
    assert.deepEqual(runs[0]!.ips, ['192.0.2.9', '192.0.2.10']);
    assert.deepEqual(runs[0]!.reasons, ['invalid password', 'mfa timeout']);
    assert.equal(runs[0]!.success.index, events[7]!.index);
  });

  it('measures travel between places, ignores repeats of one place, and marks only the implausible', () => {
    const at = (m: number) => START + m * MINUTE;
    const timeline = build([
      input(at(0), { origin: { ip: '192.0.2.1' } }, LONDON),
      input(at(5), { origin: { ip: '192.0.2.1' } }, LONDON),
      input(at(65), { origin: { ip: '192.0.2.2' } }, PARIS), // 343 km in an hour: a train
      input(at(66), { origin: { ip: '192.0.2.3' } }, { country: 'AU' }), // no coordinates: skipped
      input(at(125), { origin: { ip: '192.0.2.4' } }, SYDNEY), // 16,900 km in an hour
      input(at(125), { origin: { ip: '192.0.2.1' } }, LONDON), // the same moment
    ]);
    assert.deepEqual(
      timeline.travel.map((l) => [l.from.ip, l.to.ip, l.seconds, l.implausible]),
      [
        ['192.0.2.1', '192.0.2.2', 3600, false],
        ['192.0.2.2', '192.0.2.4', 3600, true],
        ['192.0.2.4', '192.0.2.1', 0, true],
      ],
    );
    assert.ok(Math.abs(timeline.travel[0]!.speed_kmh! - 343.5) < 1);
    assert.equal(timeline.travel[2]!.speed_kmh, null);
    assert.deepEqual(timeline.ips.map((a) => [a.ip, a.events, a.location?.country]), [
      ['192.0.2.1', 3, 'GB'],
      ['192.0.2.2', 1, 'FR'],
      ['192.0.2.3', 1, 'AU'],
      ['192.0.2.4', 1, 'AU'],
    ]);
  });

  it('marks first-seen against the history it is given, and counts targets once per event', () => {
    const known = { ...history, tenants: new Set(['t1']), targetTypes: new Set(['file']), targets: new Set(['file:f1']) };
    const timeline = assembleTimeline({
      actor: 'a',
      fromMicros: START,
      toMicros: START + MINUTE * 10,
      ledgers: ['l'],
      history: known,
      sharedAddresses: [],
      events: [
        input(START, { tenant: 't1', targets: [{ type: 'file', id: 'f1' }, { type: 'file', id: 'f2', name: 'Two' }] }),
        input(START + 1, { tenant: 't2', targets: [{ type: 'host', id: 'h1' }, null] }),
      ],
    });
    assert.deepEqual(timeline.systems.tenants.map((t) => [t.tenant, t.first_seen]), [['t1', false], ['t2', true]]);
    assert.deepEqual(timeline.systems.target_types.map((t) => [t.type, t.events, t.first_seen]), [['file', 1, false], ['host', 1, true]]);
    assert.deepEqual(timeline.resources.map((r) => [r.id, r.name, r.first_seen]), [['f1', undefined, false], ['f2', 'Two', true], ['h1', undefined, true]]);
  });
});
