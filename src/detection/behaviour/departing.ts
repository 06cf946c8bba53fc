/**
 * Departing users: an actor with a known end of employment — from the HR feed
 * (DetectorContext.departureOf) or from event metadata — who takes data out in its last
 * `windowBeforeMicros` before that date, or acts at all after it.
 *
 * End dates in metadata: `metadata.employment_end` (also read as `metadata.last_day`), an RFC 3339 time
 * or a calendar date YYYY-MM-DD (the end of that day, UTC). It applies to the user targets of the event
 * when there are any (an HR system or an admin recording someone's departure), else to the actor
 * itself. The latest date seen for an actor wins; the HR feed wins over metadata.
 *
 * Before the end date the bar is lower than the bulk detector's: an hour above `factor` times the
 * actor's usual (mean) active hour, and above small floors, or any single export above the rows floor.
 */
import { rfc3339Micros } from '../../core/event-time.js';
import type { Detector, DetectorContext, Finding, JudgedEvent, Severity } from '../detector.js';
import {
  DAY,
  HOUR,
  actorKey,
  actorOf,
  emptyTable,
  findingOf,
  isExport,
  isoTime,
  metadataOf,
  peekEntry,
  takesDataOut,
  targetsOf,
  touchEntry,
  type ActorRef,
  type BoundedTable,
} from './common.js';
import { addToVolume, describeAmount, exceeded, newVolume, type Amounts, type Volume } from './volume.js';

export interface DepartingOptions {
  /** How long before the end date data taken out is reported. */
  windowBeforeMicros: number;
  /** How long after the end date any activity is reported (after that, the account is someone else's problem: disabled or reused). */
  windowAfterMicros: number;
  factor: number;
  /** Floors: events, rows, bytes per hour. */
  floors: Amounts;
  halfLifeMicros: number;
  maxActors: number;
  maxDepartures: number;
}

export const DEPARTING_DEFAULTS: DepartingOptions = {
  windowBeforeMicros: 14 * DAY,
  windowAfterMicros: 90 * DAY,
  factor: 3,
  floors: [30, 60_000, 500 * 2 ** 20],
  halfLifeMicros: 14 * DAY,
  maxActors: 50_000,
  maxDepartures: 10_000,
};

/** Metadata keys read as an end of employment, in order. */
export const END_DATE_KEYS = ['employment_end', 'last_day'] as const;

export interface DepartingState {
  /** End dates learned from event metadata, by `id:` and the actor id. */
  departures: BoundedTable<number>;
  actors: BoundedTable<Volume>;
  /** Hour (floor(time / HOUR)) of the latest report of activity after the end date, by actor. */
  afterEnd: BoundedTable<number>;
}

export function departingDetector(overrides: Partial<DepartingOptions> = {}): Detector<DepartingState> {
  const options = { ...DEPARTING_DEFAULTS, ...overrides };
  const detector: Detector<DepartingState> = {
    id: 'behaviour.departing-user',
    title: 'Departing user takes data out',
    severity: 'high',
    technique: 'T1567',
    description:
      'Fires when a user with a known end of employment (HR feed or event metadata) downloads or exports more than usual in the last two weeks before it, or acts at all after it.',
    learningMicros: 0,
    initialState: () => ({ departures: emptyTable(), actors: emptyTable(), afterEnd: emptyTable() }),
    judge(e: JudgedEvent, state: DepartingState, context: DetectorContext): Finding[] {
      learnEndDates(e, state, options);
      const actor = actorOf(e);
      if (!actor) return [];
      const dataOut = takesDataOut(e);
      // Every data-out actor keeps a baseline: its departure may be learned later.
      const volume = dataOut ? touchEntry(state.actors, actorKey(actor), options.maxActors, () => newVolume(e)) : undefined;
      const current = volume ? addToVolume(volume, e, options.halfLifeMicros) : false;
      const end = context.departureOf(actor.id) ?? peekEntry(state.departures, departureKey(actor.id));
      if (end === undefined) return [];
      const t = e.timeMicros;
      if (t > end && t - end <= options.windowAfterMicros) return afterEnd(detector, e, state, actor, end, dataOut, options);
      if (!volume || !current || volume.reported || end - t > options.windowBeforeMicros || t > end) return [];
      const thresholds = volume.mean.map((mean, m) => Math.max(options.floors[m]!, options.factor * mean)) as Amounts;
      const over = exceeded(volume, thresholds) ?? (isExport(e) && volume.amounts[1] > options.floors[1] ? { metric: 'rows' as const, index: 1, amount: volume.amounts[1], threshold: options.floors[1] } : undefined);
      if (!over) return [];
      volume.reported = true;
      return [
        findingOf(detector, e, {
          severity: 'high',
          actor,
          events: [...volume.refs],
          firstSeenMicros: volume.hour * HOUR,
          summary:
            `${actor.type} ${actor.id}, leaving on ${isoTime(end)} (in ${((end - t) / DAY).toFixed(1)} days), took out ` +
            `${describeAmount(over.metric, over.amount)} in the hour from ${isoTime(volume.hour * HOUR)} (usual hour: ${describeAmount(over.metric, volume.mean[over.index]!)})`,
        }),
      ];
    },
  };
  return detector;
}

function afterEnd(
  detector: Detector<DepartingState>,
  e: JudgedEvent,
  state: DepartingState,
  actor: ActorRef,
  end: number,
  dataOut: boolean,
  options: DepartingOptions,
): Finding[] {
  const hour = Math.floor(e.timeMicros / HOUR);
  const key = actorKey(actor);
  if (peekEntry(state.afterEnd, key) === hour) return [];
  touchEntry(state.afterEnd, key, options.maxActors, () => hour);
  state.afterEnd.entries[key] = hour;
  const severity: Severity = dataOut ? 'critical' : 'high';
  return [
    findingOf(detector, e, {
      severity,
      actor,
      title: 'Activity after the end of employment',
      summary: `${actor.type} ${actor.id} acted (${String(e.event.action ?? 'unknown action')}) ${((e.timeMicros - end) / DAY).toFixed(1)} days after its end of employment ${isoTime(end)}`,
    }),
  ];
}

function learnEndDates(e: JudgedEvent, state: DepartingState, options: DepartingOptions): void {
  const metadata = metadataOf(e);
  let end: number | undefined;
  for (const key of END_DATE_KEYS) {
    end = endDateMicros(metadata[key]);
    if (end !== undefined) break;
  }
  if (end === undefined) return;
  const users = targetsOf(e).filter((t) => t.type === 'user').map((t) => t.id);
  const subjects = users.length > 0 ? users : [actorOf(e)?.id].filter((id): id is string => id !== undefined);
  for (const id of subjects) {
    const key = departureKey(id);
    const latest = Math.max(peekEntry(state.departures, key) ?? end, end);
    touchEntry(state.departures, key, options.maxDepartures, () => latest);
    state.departures.entries[key] = latest;
  }
}

/** Prefixed, so that no id reads as an array index (which would break the table's order of use). */
const departureKey = (id: string): string => `id:${id}`;

/** An RFC 3339 time, or a calendar date read as the end of that day (UTC). */
export function endDateMicros(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (date) {
    const millis = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]) + 1);
    return Number.isNaN(millis) || new Date(millis - 1).toISOString().slice(0, 10) !== value ? undefined : millis * 1000;
  }
  return rfc3339Micros(value);
}
