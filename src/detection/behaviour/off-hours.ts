/**
 * Off-hours activity: each actor's own hour-of-week profile (168 buckets in UTC event time, so the
 * actor's time zone and habits are learned rather than assumed), decayed with a half-life so that a
 * change of shift is learned within weeks. An hour is reported when all of these hold:
 * - the actor has an established profile (`minActorEvents` over `minActorSpanMicros`);
 * - the hour is one the actor (almost) never acts in: less than `rareShare` of its activity falls in
 *   that hour of the day (± 1 hour, any day), nor (counted double) in that hour of the week (± 1 hour);
 * - it does enough in it: the hour's events weigh at least `minWeightInHour` (administrative, export
 *   and delete events weigh 2, others 1);
 * - and that weight of events is improbable (Poisson tail below `surprise`) at the rate the profile
 *   expects, which spares very busy actors whose 1 % is still several events a night.
 *
 * The events of the hour being judged join the profile only once the hour is over, so that a burst
 * cannot teach itself to be normal while it is judged.
 */
import type { Detector, DetectorContext, Finding, JudgedEvent } from '../detector.js';
import {
  DAY,
  HOUR,
  actorKey,
  actorOf,
  categoryOf,
  decay,
  deploymentLearned,
  emptyTable,
  eventRef,
  findingOf,
  isoTime,
  keepRef,
  touchEntry,
  type BoundedTable,
  type EventRef,
} from './common.js';

export interface OffHoursOptions {
  /** Deployment learning period. */
  learningMicros: number;
  /** An actor is judged once it has this many events… */
  minActorEvents: number;
  /** …spread over at least this long. */
  minActorSpanMicros: number;
  /** Weight of the hour's events before it can be reported (see weightOf). */
  minWeightInHour: number;
  /** Share of the actor's activity below which an hour is one it (almost) never acts in. */
  rareShare: number;
  /** Poisson tail probability below which that many events are unusual. */
  surprise: number;
  /** Half-life of the profile. */
  halfLifeMicros: number;
  maxActors: number;
}

export const OFF_HOURS_DEFAULTS: OffHoursOptions = {
  learningMicros: 7 * DAY,
  minActorEvents: 100,
  minActorSpanMicros: 7 * DAY,
  minWeightInHour: 4,
  rareShare: 0.01,
  surprise: 1e-6,
  halfLifeMicros: 28 * DAY,
  maxActors: 50_000,
};

const BUCKETS = 168;
const MAX_REFS = 20;

interface Profile {
  firstMicros: number;
  /** Events learned (not decayed): the actor-level learning threshold. */
  learned: number;
  /** Decayed event counts per hour of the week (0 = Sunday 00:00 UTC), as of `decayedAt`. */
  counts: number[];
  decayedAt: number;
  /** The hour being judged (floor(time / HOUR)), its events so far and whether it was reported. */
  hour: number;
  pending: number;
  weight: number;
  refs: EventRef[];
  reported: boolean;
}

export interface OffHoursState {
  startedMicros?: number;
  actors: BoundedTable<Profile>;
}

/** 0 = Sunday 00:00–01:00 UTC … 167 = Saturday 23:00 UTC. */
export const hourOfWeek = (micros: number): number => {
  const hour = Math.floor(micros / HOUR);
  // 1970-01-01 was a Thursday: hour 0 of the epoch is bucket 4 × 24.
  return (((hour + 4 * 24) % BUCKETS) + BUCKETS) % BUCKETS;
};

export function offHoursDetector(overrides: Partial<OffHoursOptions> = {}): Detector<OffHoursState> {
  const options = { ...OFF_HOURS_DEFAULTS, ...overrides };
  const detector: Detector<OffHoursState> = {
    id: 'behaviour.off-hours',
    title: 'Activity in hours unusual for the actor',
    severity: 'medium',
    technique: 'T1078',
    description:
      "Fires when an actor with an established hour-of-week profile does several things in an hour of the week in which it has (almost) never acted: the actor's own usual hours, learned, not fixed office hours.",
    learningMicros: options.learningMicros,
    initialState: () => ({ actors: emptyTable() }),
    judge(e: JudgedEvent, state: OffHoursState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      const learnedDeployment = deploymentLearned(state, e.timeMicros, options.learningMicros);
      if (!actor) return [];
      const t = e.timeMicros;
      const hour = Math.floor(t / HOUR);
      const profile = touchEntry(state.actors, actorKey(actor), options.maxActors, () => newProfile(t, hour));
      if (t < profile.firstMicros) profile.firstMicros = t;
      if (hour < profile.hour) {
        // Late or imported out of order: too late to judge its hour, still worth learning.
        learn(profile, hour, 1, options.halfLifeMicros);
        return [];
      }
      if (hour > profile.hour) closeHour(profile, hour, options.halfLifeMicros);
      profile.pending++;
      profile.weight += weightOf(e);
      keepRef(profile.refs, eventRef(e), MAX_REFS);
      if (!learnedDeployment || profile.reported || profile.weight < options.minWeightInHour) return [];
      if (profile.learned < options.minActorEvents || t - profile.firstMicros < options.minActorSpanMicros) return [];
      const usual = usualShare(profile, hour);
      if (usual >= options.rareShare) return [];
      const expected = (usual * decayedTotal(profile, t, options.halfLifeMicros)) / observedDays(t - profile.firstMicros, options.halfLifeMicros);
      const chance = poissonTail(Math.round(profile.weight), expected);
      if (chance >= options.surprise) return [];
      profile.reported = true;
      return [
        findingOf(detector, e, {
          severity: 'medium',
          actor,
          events: [...profile.refs],
          firstSeenMicros: hour * HOUR,
          summary:
            `${actor.type} ${actor.id} did ${profile.pending} things in the hour from ${isoTime(hour * HOUR)} ` +
            `(${weekdayHour(hour)} UTC), an hour that holds ${(usual * 100).toFixed(2)} % of its ${profile.learned} events (expected ${expected.toFixed(2)} events, chance ${chance.toExponential(1)})`,
        }),
      ];
    },
  };
  return detector;
}

function newProfile(t: number, hour: number): Profile {
  return { firstMicros: t, learned: 0, counts: new Array<number>(BUCKETS).fill(0), decayedAt: t, hour, pending: 0, weight: 0, refs: [], reported: false };
}

function closeHour(profile: Profile, nextHour: number, halfLife: number): void {
  if (profile.pending > 0) learn(profile, profile.hour, profile.pending, halfLife);
  profile.hour = nextHour;
  profile.pending = 0;
  profile.weight = 0;
  profile.refs = [];
  profile.reported = false;
}

/** Adds `count` events of `hour` to the profile, decaying it first when a day or more has passed. */
function learn(profile: Profile, hour: number, count: number, halfLife: number): void {
  const at = hour * HOUR;
  if (at - profile.decayedAt >= DAY) {
    const factor = decay(at - profile.decayedAt, halfLife);
    for (let b = 0; b < BUCKETS; b++) profile.counts[b] = round(profile.counts[b]! * factor);
    profile.decayedAt = at;
  }
  const weight = at < profile.decayedAt ? decay(profile.decayedAt - at, halfLife) : 1;
  const bucket = hourOfWeek(at);
  profile.counts[bucket] = round(profile.counts[bucket]! + count * weight);
  profile.learned += count;
}

/** Four significant decimals keep the persisted state small without changing any decision. */
const round = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Administrative, export and delete events say more about who is at the keyboard at night. */
function weightOf(e: JudgedEvent): number {
  const category = categoryOf(e);
  return category === 'admin' || category === 'export' || category === 'delete' ? 2 : 1;
}

/**
 * How much more an hour of the week counts than one day's share of its hour of the day: enough that a
 * weekly habit (a Monday 03:00 job, every week) is usual, not so much that one stray event in a sparse
 * profile makes its whole neighbourhood usual.
 */
const WEEKLY_HABIT = 2;

/**
 * Share of the profile's activity in `hour`'s hour of the day (± 1 hour, any day of the week), or in
 * its hour of the week (± 1 hour) weighted by WEEKLY_HABIT, whichever is larger: weekend work by a
 * weekday worker is not unusual for its hour, and a weekly habit counts even if it is the only one at
 * that hour of the day.
 */
function usualShare(profile: Profile, hour: number): number {
  const c = profile.counts;
  const at = (i: number) => c[((i % BUCKETS) + BUCKETS) % BUCKETS]!;
  const smoothed = (i: number) => 0.5 * at(i) + 0.25 * (at(i - 1) + at(i + 1));
  const b = hourOfWeek(hour * HOUR);
  let dayHour = 0;
  for (let d = 0; d < 7; d++) dayHour += smoothed(d * 24 + (b % 24));
  let total = 0;
  for (let i = 0; i < BUCKETS; i++) total += c[i]!;
  return total === 0 ? 0 : Math.max(dayHour, WEEKLY_HABIT * smoothed(b)) / total;
}

function decayedTotal(profile: Profile, now: number, halfLife: number): number {
  let total = 0;
  for (const count of profile.counts) total += count;
  return total * decay(now - profile.decayedAt, halfLife);
}

/** Decayed length of the observation in days (∫ decay over the span): what a decayed count is a count over. */
function observedDays(span: number, halfLife: number): number {
  return Math.max(1, ((halfLife / Math.LN2) * (1 - decay(span, halfLife))) / DAY);
}

/** P(X ≥ n) for X ~ Poisson(λ). */
export function poissonTail(n: number, lambda: number): number {
  if (n <= 0) return 1;
  if (lambda <= 0) return 0;
  if (lambda > n) return 1;
  let term = Math.exp(-lambda);
  for (let k = 1; k <= n; k++) term *= lambda / k;
  let tail = 0;
  for (let k = n; k < n + 60 && term > tail * 1e-12; k++) {
    tail += term;
    term *= lambda / (k + 1);
  }
  return Math.min(1, tail);
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
function weekdayHour(hour: number): string {
  const b = hourOfWeek(hour * HOUR);
  return `${DAYS[Math.floor(b / 24)]} ${String(b % 24).padStart(2, '0')}:00`;
}
