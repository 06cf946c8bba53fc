import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bulkDetector } from '../../../src/detection/behaviour/bulk.js';
import { departingDetector, endDateMicros } from '../../../src/detection/behaviour/departing.js';
import type { DetectorContext } from '../../../src/detection/detector.js';
import { DAY, HOUR, MINUTE, MONDAY, SECOND, Stream, alice, run, weekend } from './helpers.js';

/** Three weeks of alice downloading a few files an hour in office hours. */
function usual(days = 21): Stream {
  return new Stream().daily(MONDAY, days, 30, 9, 17, { action: 'file.download', metadata: { bytes: 2_000_000 } }, weekend());
}

function downloads(stream: Stream, at: number, count: number, bytes = 2_000_000): void {
  for (let i = 0; i < count; i++) stream.add({ at: at + i * 5 * SECOND, action: 'file.download', targets: [{ type: 'file', id: `f${i}` }], metadata: { bytes } });
}

describe('bulk download or export above the actor’s baseline', () => {
  it('reports 300 downloads in an hour from a user who downloads a few an hour', () => {
    const stream = usual();
    downloads(stream, MONDAY + 22 * DAY + 10 * HOUR, 300);
    const { findings } = run(bulkDetector(), stream.events);
    assert.equal(findings.length, 1);
    assert.match(findings[0]!.summary, /took out 10[0-9] events .* recent peak is \d+ events/);
    assert.ok(findings[0]!.events.length > 10);
  });

  it('reports an export of many more rows than the actor’s peak', () => {
    const stream = usual();
    for (let w = 0; w < 3; w++) stream.add({ at: MONDAY + w * 7 * DAY + 11 * HOUR, action: 'record.export', category: 'export', metadata: { rows: 20_000 } });
    stream.add({ at: MONDAY + 22 * DAY + 15 * HOUR, action: 'record.export', category: 'export', metadata: { rows: 2_000_000 } });
    const { findings } = run(bulkDetector(), stream.events);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'high');
    assert.match(findings[0]!.summary, /2000000 rows/);
  });

  it('learns a weekly big export: it is its own peak, not reported week after week', () => {
    const stream = usual(35);
    for (let w = 0; w < 5; w++) stream.add({ at: MONDAY + w * 7 * DAY + 5 * HOUR, action: 'record.export', category: 'export', metadata: { rows: 1_800_000 + w * 10_000 } });
    stream.events.sort((a, b) => a.timeMicros - b.timeMicros).forEach((e, i) => (e.index = i));
    assert.deepEqual(run(bulkDetector(), stream.events).findings, []);
  });

  it('needs the floor: a quiet user doing a little more is not a bulk download', () => {
    const stream = new Stream().daily(MONDAY, 21, 2, 9, 17, { action: 'file.download', metadata: { bytes: 1000 } });
    downloads(stream, MONDAY + 22 * DAY + 10 * HOUR, 60, 1000);
    assert.deepEqual(run(bulkDetector(), stream.events).findings, []);
  });

  it('learns first, survives JSON round trips, and judges late events only as history', () => {
    const early = usual(3);
    downloads(early, MONDAY + 3 * DAY + 10 * HOUR, 300);
    assert.deepEqual(run(bulkDetector(), early.events).findings, [], 'learning');
    const stream = usual();
    downloads(stream, MONDAY + 22 * DAY + 10 * HOUR, 300);
    const straight = run(bulkDetector(), stream.events).findings;
    assert.deepEqual(run(bulkDetector(), stream.events, { roundTripEvery: 29 }).findings, straight);
    const late = usual();
    late.add({ at: MONDAY + 22 * DAY + 12 * HOUR });
    downloads(late, MONDAY + 22 * DAY + 10 * HOUR, 300); // an offline device delivering two hours late
    assert.deepEqual(run(bulkDetector(), late.events).findings, []);
    const many = new Stream();
    for (let i = 0; i < 400; i++) many.add({ actor: { type: 'user', id: `u${i}` }, at: MONDAY + i });
    assert.equal(run(bulkDetector({ maxActors: 50 }), many.events).state.actors.size, 50);
  });
});

describe('departing users', () => {
  const leaving = MONDAY + 25 * DAY;
  const hr: DetectorContext = { departureOf: (id) => (id === 'alice' ? leaving : undefined) };

  it('reports an export in the last two weeks before an end date from the HR feed', () => {
    const stream = usual();
    stream.add({ at: MONDAY + 22 * DAY + 15 * HOUR, action: 'record.export', category: 'export', metadata: { rows: 80_000 } });
    const { findings } = run(departingDetector(), stream.events, { context: hr });
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.severity, 'high');
    assert.match(findings[0]!.summary, /leaving on .* \(in 2\.4 days\)/);
    assert.deepEqual(run(departingDetector(), stream.events).findings, [], 'no end date, no report');
  });

  it('reads an end date from event metadata, for the user targets of an HR record', () => {
    const stream = usual();
    stream.add({ actor: { type: 'user', id: 'hr-admin' }, at: MONDAY + 10 * DAY, action: 'user.update', category: 'admin', targets: [{ type: 'user', id: 'alice' }], metadata: { employment_end: '2026-11-27' } });
    downloads(stream, MONDAY + 22 * DAY + 10 * HOUR, 60);
    const { findings } = run(departingDetector(), stream.events);
    assert.equal(findings.length, 1);
    assert.deepEqual(findings[0]!.actor, alice);
    assert.equal(endDateMicros('2026-11-27'), Date.UTC(2026, 10, 28) * 1000);
    assert.equal(endDateMicros('2026-02-30'), undefined);
    assert.equal(endDateMicros('2026-11-27T17:00:00Z'), Date.UTC(2026, 10, 27, 17) * 1000);
  });

  it('reports activity after the end date, once an hour, critical when it takes data out', () => {
    const stream = new Stream();
    stream.add({ at: leaving + DAY, action: 'auth.login', category: 'auth' });
    stream.add({ at: leaving + DAY + MINUTE, action: 'file.download' });
    stream.add({ at: leaving + DAY + 2 * MINUTE, action: 'file.download' });
    const { findings } = run(departingDetector(), stream.events, { context: hr });
    assert.deepEqual(findings.map((f) => f.severity), ['high']);
    assert.match(findings[0]!.title, /after the end of employment/);
  });

  it('stays quiet for a departing user doing the usual work, and survives JSON round trips', () => {
    const stream = usual();
    assert.deepEqual(run(departingDetector(), stream.events, { context: hr }).findings, []);
    stream.add({ at: MONDAY + 22 * DAY + 15 * HOUR, action: 'record.export', category: 'export', metadata: { rows: 80_000 } });
    const straight = run(departingDetector(), stream.events, { context: hr }).findings;
    assert.equal(straight.length, 1);
    assert.deepEqual(run(departingDetector(), stream.events, { context: hr, roundTripEvery: 13 }).findings, straight);
  });
});
