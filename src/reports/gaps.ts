/**
 * Gaps in logging, learned from each source's own rhythm (docs/REPORTS.md, "Gaps"). A source (a ledger,
 * a tenant, a writer) has an expected number of events for each slot of its cycle: the hour of the week
 * when the period spans two weeks or more, the hour of the day when it spans two days or more, else one
 * flat hourly rate. The expectation is the mean count of that slot over the period. A run of silent hours
 * is a gap when the source would usually have sent at least GAP_EXPECTED_EVENTS events in it: the chance
 * of that much silence by luck, were events to arrive at random at the usual rate, is e^-λ < 1e-6.
 * The expectations are learned a second time without the gaps found the first time, so that a long
 * outage does not teach the source that silence is usual.
 */

/** Events a source must usually send within a silent run for the run to be a gap (e^-14 ≈ 8e-7). */
export const GAP_EXPECTED_EVENTS = 14;
/** Active hours a source needs before its rhythm is judged at all. */
export const MIN_ACTIVE_HOURS = 24;
/** Silences shorter than this are never reported, however busy the source. */
export const MIN_GAP_HOURS = 2;

const HOUR_MICROS = 3_600_000_000;
const WEEK_HOURS = 168;
const DAY_HOURS = 24;

export interface Gap {
  /** First silent hour (µs since the epoch, on the hour) and the end of the last one. */
  fromMicros: number;
  toMicros: number;
  hours: number;
  /** Events the source usually sends in those hours. */
  expected: number;
}

export interface RhythmAnalysis {
  /** 'week': hour of the week; 'day': hour of the day; 'flat': one rate; 'too-sparse': not judged. */
  cycle: 'week' | 'day' | 'flat' | 'too-sparse';
  activeHours: number;
  gaps: Gap[];
}

/**
 * `counts`: events per hour (hours since the epoch → count) for hours in [fromHour, toHour). Hours not
 * in the map had no events.
 */
export function findGaps(counts: ReadonlyMap<number, number>, fromHour: number, toHour: number): RhythmAnalysis {
  const span = Math.max(0, toHour - fromHour);
  let activeHours = 0;
  for (const [hour, count] of counts) if (count > 0 && hour >= fromHour && hour < toHour) activeHours++;
  if (activeHours < MIN_ACTIVE_HOURS) return { cycle: 'too-sparse', activeHours, gaps: [] };
  const cycle = span >= 2 * WEEK_HOURS ? 'week' : span >= 2 * DAY_HOURS ? 'day' : 'flat';
  const slots = cycle === 'week' ? WEEK_HOURS : cycle === 'day' ? DAY_HOURS : 1;
  const series = { counts, fromHour, toHour, slots };
  const first = silentRuns(series, expectations(series, []));
  const gaps = silentRuns(series, expectations(series, first));
  return { cycle, activeHours, gaps };
}

interface Series {
  counts: ReadonlyMap<number, number>;
  fromHour: number;
  toHour: number;
  slots: number;
}

/** Weekly slots start on Thursday 00:00 UTC (the epoch's weekday): fine, a cycle needs no calendar. */
const slotOf = (hour: number, slots: number) => ((hour % slots) + slots) % slots;

/** Mean events per hour of each slot, leaving out the hours of `excluded` runs. */
function expectations({ counts, fromHour, toHour, slots }: Series, excluded: Gap[]): number[] {
  const sums = new Array<number>(slots).fill(0);
  const hours = new Array<number>(slots).fill(0);
  const skip = (hour: number) => excluded.some((g) => hour * HOUR_MICROS >= g.fromMicros && hour * HOUR_MICROS < g.toMicros);
  for (let hour = fromHour; hour < toHour; hour++) {
    if (skip(hour)) continue;
    const slot = slotOf(hour, slots);
    sums[slot]! += counts.get(hour) ?? 0;
    hours[slot]!++;
  }
  return sums.map((sum, slot) => (hours[slot]! > 0 ? sum / hours[slot]! : 0));
}

function silentRuns({ counts, fromHour, toHour, slots }: Series, expected: number[]): Gap[] {
  const gaps: Gap[] = [];
  let runStart: number | undefined;
  let runExpected = 0;
  const close = (end: number) => {
    if (runStart !== undefined && end - runStart >= MIN_GAP_HOURS && runExpected >= GAP_EXPECTED_EVENTS) {
      gaps.push({ fromMicros: runStart * HOUR_MICROS, toMicros: end * HOUR_MICROS, hours: end - runStart, expected: Math.round(runExpected) });
    }
    runStart = undefined;
    runExpected = 0;
  };
  for (let hour = fromHour; hour < toHour; hour++) {
    if ((counts.get(hour) ?? 0) > 0) {
      close(hour);
      continue;
    }
    runStart ??= hour;
    runExpected += expected[slotOf(hour, slots)]!;
  }
  close(toHour);
  return gaps;
}
