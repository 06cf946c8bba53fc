import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hourOfWeek, offHoursDetector, poissonTail } from '../../../src/detection/behaviour/off-hours.js';
import { DAY, HOUR, MINUTE, MONDAY, Stream, alice, run, weekend } from './helpers.js';

const bob = { type: 'user', id: 'bob' };

/** Three weeks of office hours for alice (weekdays 09–17 UTC) and of night shifts for bob (22–05 UTC). */
function history(): Stream {
  const stream = new Stream();
  stream.daily(MONDAY, 21, 12, 9, 17, { actor: alice }, weekend());
  stream.daily(MONDAY, 21, 10, 22, 29, { actor: bob });
  stream.events.sort((a, b) => a.timeMicros - b.timeMicros).forEach((e, i) => (e.index = i));
  return stream;
}

function burst(stream: Stream, actor: { type: string; id: string }, at: number, count = 6): void {
  for (let i = 0; i < count; i++) stream.add({ actor, at: at + i * 4 * MINUTE, action: 'file.read', targets: [{ type: 'file', id: `payroll-${i}` }] });
}

const TUESDAY_AFTER = MONDAY + 22 * DAY;

describe('off-hours: a learned hour-of-week profile', () => {
  it('reports an office worker reading files at 02:00, with the hour’s events', () => {
    const stream = history();
    burst(stream, alice, TUESDAY_AFTER + 2 * HOUR + 5 * MINUTE);
    const { findings } = run(offHoursDetector(), stream.events);
    assert.equal(findings.length, 1);
    const [finding] = findings;
    assert.deepEqual(finding!.actor, alice);
    assert.equal(finding!.severity, 'medium');
    assert.ok(finding!.events.length >= 4, 'the events of the hour so far');
    assert.equal(finding!.events.at(-1)!.index, finding!.key.split(':').map(Number).at(-1));
    assert.match(finding!.summary, /Tuesday 02:00 UTC/);
  });

  it('stays quiet for a night-shift worker at 02:00, and for an office worker on a Saturday morning', () => {
    const stream = history();
    burst(stream, bob, TUESDAY_AFTER + 2 * HOUR + 5 * MINUTE);
    burst(stream, alice, MONDAY + 26 * DAY + 11 * HOUR); // Saturday 11:00
    assert.deepEqual(run(offHoursDetector(), stream.events).findings, []);
  });

  it('does not report a single stray event at night, nor two', () => {
    const stream = history();
    burst(stream, alice, TUESDAY_AFTER + 2 * HOUR, 2);
    assert.deepEqual(run(offHoursDetector(), stream.events).findings, []);
  });

  it('learns first: no report before the actor has its events over a week, nor in the deployment’s first week', () => {
    const stream = new Stream();
    stream.daily(MONDAY, 5, 30, 9, 17, { actor: alice });
    burst(stream, alice, MONDAY + 5 * DAY + 2 * HOUR);
    assert.deepEqual(run(offHoursDetector(), stream.events).findings, []);
    // With the deployment's learning period alone lifted, the actor's own (a week) still holds.
    assert.deepEqual(run(offHoursDetector({ learningMicros: 0 }), stream.events).findings, []);
    assert.equal(run(offHoursDetector({ learningMicros: 0, minActorSpanMicros: 0 }), stream.events).findings.length, 1);
  });

  it('gives the same findings when the state is persisted and reloaded as JSON every 37 events', () => {
    const stream = history();
    burst(stream, alice, TUESDAY_AFTER + 2 * HOUR + 5 * MINUTE);
    burst(stream, alice, TUESDAY_AFTER + DAY + 21 * HOUR);
    const straight = run(offHoursDetector(), stream.events).findings;
    assert.equal(straight.length, 2);
    assert.deepEqual(run(offHoursDetector(), stream.events, { roundTripEvery: 37 }).findings, straight);
  });

  it('judges on event time: imported history received all at once gives the same findings', () => {
    const live = history();
    burst(live, alice, TUESDAY_AFTER + 2 * HOUR + 5 * MINUTE);
    const importedAt = TUESDAY_AFTER + 30 * DAY;
    const imported = live.events.map((e) => ({ ...e, receivedAtMicros: importedAt }));
    assert.deepEqual(run(offHoursDetector(), imported).findings, run(offHoursDetector(), live.events).findings);
  });

  it('learns from a late event of an hour already over, without reporting it', () => {
    const stream = history();
    const late = TUESDAY_AFTER - DAY + 2 * HOUR; // the night before, delivered after the next morning's work
    stream.add({ actor: alice, at: TUESDAY_AFTER + 9 * HOUR });
    burst(stream, alice, late);
    const { findings, state } = run(offHoursDetector(), stream.events);
    assert.deepEqual(findings, []);
    const profile = state.actors.entries['user:alice']!;
    assert.ok(profile.counts[hourOfWeek(late)]! >= 5, 'the late events joined the profile');
  });

  it('keeps its state bounded: the least recently seen actors are dropped', () => {
    const detector = offHoursDetector({ maxActors: 100 });
    const stream = new Stream();
    for (let i = 0; i < 1000; i++) stream.add({ actor: { type: 'user', id: `u${i}` }, at: MONDAY + i * MINUTE });
    const { state } = run(detector, stream.events);
    assert.equal(state.actors.size, 100);
    assert.equal(Object.keys(state.actors.entries).length, 100);
    assert.ok(state.actors.entries['user:u999'] && !state.actors.entries['user:u0']);
    assert.ok(JSON.stringify(state).length < 100 * 2_000);
  });

  it('computes Poisson tails', () => {
    assert.equal(poissonTail(0, 3), 1);
    assert.ok(Math.abs(poissonTail(1, 0.5) - (1 - Math.exp(-0.5))) < 1e-12);
    assert.ok(Math.abs(poissonTail(3, 0.1) - (1 - Math.exp(-0.1) * (1 + 0.1 + 0.005))) < 1e-12);
    assert.equal(hourOfWeek(MONDAY), 24);
  });
});
