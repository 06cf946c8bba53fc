/**
 * Gap detection against each source's own rhythm (src/reports/gaps.ts): silence a source usually has
 * (nights and weekends of an office-hours source) is no gap; the same hours are for a round-the-clock
 * source; a long outage, a silence at the end and a sparse source are handled as documented.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findGaps, GAP_EXPECTED_EVENTS } from '../../src/reports/gaps.js';

const HOUR = 3_600_000_000;
/** Monday 2026-10-05 00:00 UTC, in hours since the epoch. */
const MONDAY = Date.parse('2026-10-05T00:00:00Z') / 3_600_000;
const WEEKS = 4;

function series(rate: (hour: number) => number, silent: Array<[from: number, to: number]> = []): Map<number, number> {
  const counts = new Map<number, number>();
  for (let h = MONDAY; h < MONDAY + WEEKS * 168; h++) {
    if (silent.some(([a, b]) => h >= a && h < b)) continue;
    const n = rate(h);
    if (n > 0) counts.set(h, n);
  }
  return counts;
}

/** 20 events an hour, 08:00–18:00 on weekdays, nothing else. */
const office = (h: number) => {
  const day = Math.floor((h - MONDAY) / 24) % 7;
  const hour = (h - MONDAY) % 24;
  return day < 5 && hour >= 8 && hour < 18 ? 20 : 0;
};
const aroundTheClock = () => 6;

describe('gaps learned from a source\'s rhythm', () => {
  it('finds none in an office-hours source that keeps its nights and weekends quiet', () => {
    const result = findGaps(series(office), MONDAY, MONDAY + WEEKS * 168);
    assert.equal(result.cycle, 'week');
    assert.deepEqual(result.gaps, []);
  });

  it('finds a working day the office source missed, and only that day', () => {
    const wednesday = MONDAY + 7 * 24 + 2 * 24; // second week
    const result = findGaps(series(office, [[wednesday, wednesday + 24]]), MONDAY, MONDAY + WEEKS * 168);
    assert.equal(result.gaps.length, 1);
    const [gap] = result.gaps;
    // The silence runs from Tuesday's close to Thursday's opening; the usual traffic in it is Wednesday's 200.
    assert.equal(gap!.fromMicros, (wednesday - 6) * HOUR);
    assert.equal(gap!.toMicros, (wednesday + 32) * HOUR);
    assert.ok(gap!.expected >= 190 && gap!.expected <= 200, String(gap!.expected));
  });

  it('finds a night silence in a source that runs around the clock, but not a short one', () => {
    const night = MONDAY + 10 * 24 + 1;
    const result = findGaps(series(aroundTheClock, [[night, night + 4], [night + 48, night + 49]]), MONDAY, MONDAY + WEEKS * 168);
    assert.deepEqual(result.gaps.map((g) => [g.fromMicros / HOUR - MONDAY, g.hours]), [[10 * 24 + 1, 4]]);
    assert.ok(result.gaps[0]!.expected >= GAP_EXPECTED_EVENTS);
  });

  it('is not taught by a long outage that silence is usual, and reports a source that went quiet at the end', () => {
    const outage: [number, number] = [MONDAY + 7 * 24, MONDAY + 14 * 24];
    const end: [number, number] = [MONDAY + WEEKS * 168 - 5, MONDAY + WEEKS * 168];
    const result = findGaps(series(aroundTheClock, [outage, end]), MONDAY, MONDAY + WEEKS * 168);
    assert.deepEqual(result.gaps.map((g) => g.hours), [168, 5]);
    // Learned without the outage: six an hour, not the 4.5 the whole series averages.
    assert.equal(result.gaps[0]!.expected, 168 * 6);
  });

  it('does not judge a source with fewer than 24 active hours, and uses the day cycle for short periods', () => {
    const sparse = new Map([[MONDAY + 3, 50], [MONDAY + 100, 50]]);
    assert.equal(findGaps(sparse, MONDAY, MONDAY + WEEKS * 168).cycle, 'too-sparse');
    const threeDays = findGaps(series(aroundTheClock), MONDAY, MONDAY + 72);
    assert.equal(threeDays.cycle, 'day');
  });
});
