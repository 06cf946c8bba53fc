/**
 * Bulk download or export above the actor's own baseline: in one hour of event time, more read/export
 * events, more `metadata.rows` or more `metadata.bytes` than `factor` times the actor's decayed peak of
 * recent hours, and above an absolute floor (so that an actor who does little is not reported for
 * doing a little more). A big export repeated every week stays within the peak (its half-life is two
 * weeks), so it is learned, not reported each time.
 */
import type { Detector, DetectorContext, Finding, JudgedEvent, Severity } from '../detector.js';
import { DAY, HOUR, actorKey, actorOf, deploymentLearned, emptyTable, findingOf, isoTime, takesDataOut, touchEntry, type BoundedTable } from './common.js';
import { addToVolume, describeAmount, exceeded, newVolume, peakAt, type Amounts, type Volume } from './volume.js';

export interface BulkOptions {
  learningMicros: number;
  /** An actor is judged once its first data-out event is this old… */
  minActorSpanMicros: number;
  /** …and it has this many active hours. */
  minActorWindows: number;
  /** Multiple of the decayed peak an hour must exceed. */
  factor: number;
  /** Absolute floors: events, rows, bytes per hour. */
  floors: Amounts;
  halfLifeMicros: number;
  maxActors: number;
}

export const BULK_DEFAULTS: BulkOptions = {
  learningMicros: 7 * DAY,
  minActorSpanMicros: 7 * DAY,
  minActorWindows: 5,
  factor: 3,
  floors: [100, 250_000, 2 * 2 ** 30],
  halfLifeMicros: 14 * DAY,
  maxActors: 50_000,
};

export interface BulkState {
  startedMicros?: number;
  actors: BoundedTable<Volume>;
}

export function bulkDetector(overrides: Partial<BulkOptions> = {}): Detector<BulkState> {
  const options = { ...BULK_DEFAULTS, ...overrides };
  const detector: Detector<BulkState> = {
    id: 'behaviour.bulk-download',
    title: 'Bulk download or export above the actor’s baseline',
    severity: 'high',
    technique: 'T1530',
    description:
      'Fires when an actor reads or exports, within one hour, several times more events, rows or bytes than at its busiest in recent weeks, and more than an absolute floor.',
    learningMicros: options.learningMicros,
    initialState: () => ({ actors: emptyTable() }),
    judge(e: JudgedEvent, state: BulkState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      const learnedDeployment = deploymentLearned(state, e.timeMicros, options.learningMicros);
      if (!actor || !takesDataOut(e)) return [];
      const volume = touchEntry(state.actors, actorKey(actor), options.maxActors, () => newVolume(e));
      if (!addToVolume(volume, e, options.halfLifeMicros) || volume.reported || !learnedDeployment) return [];
      if (e.timeMicros - volume.firstMicros < options.minActorSpanMicros || volume.windows < options.minActorWindows) return [];
      const peak = peakAt(volume, e.timeMicros, options.halfLifeMicros);
      const thresholds = peak.map((p, m) => Math.max(options.floors[m]!, options.factor * p)) as Amounts;
      const over = exceeded(volume, thresholds);
      if (!over) return [];
      volume.reported = true;
      const severity: Severity = over.amount > 3 * over.threshold ? 'high' : 'medium';
      return [
        findingOf(detector, e, {
          severity,
          actor,
          events: [...volume.refs],
          firstSeenMicros: volume.hour * HOUR,
          summary:
            `${actor.type} ${actor.id} took out ${describeAmount(over.metric, over.amount)} in the hour from ${isoTime(volume.hour * HOUR)}; ` +
            `its recent peak is ${describeAmount(over.metric, peak[over.index]!)} (threshold ${describeAmount(over.metric, over.threshold)})`,
        }),
      ];
    },
  };
  return detector;
}
