/**
 * Brute force then success: at least `minFailures` failed authentications within `windowMicros`, for one
 * account or from one source address, followed within that window by a successful authentication of
 * that account or from that address. Failures alone are not reported (a locked-out user retries too);
 * the success is what turns guessing into an intrusion.
 */
import type { Detector, DetectorContext, Finding, JudgedEvent } from '../detector.js';
import {
  MINUTE,
  actorKey,
  actorOf,
  emptyTable,
  eventRef,
  findingOf,
  isAuthentication,
  keepRef,
  originOf,
  outcomeOf,
  peekEntry,
  touchEntry,
  type BoundedTable,
  type EventRef,
} from './common.js';

export interface BruteForceOptions {
  minFailures: number;
  windowMicros: number;
  maxKeys: number;
}

export const BRUTE_FORCE_DEFAULTS: BruteForceOptions = { minFailures: 10, windowMicros: 30 * MINUTE, maxKeys: 100_000 };

const MAX_FAILURES = 200;
const MAX_REFS = 40;

interface Failures {
  /** Times of recent failures, ascending. */
  times: number[];
  refs: EventRef[];
}

export interface BruteForceState {
  /** By `account:` + actor key and `source:` + address. */
  failures: BoundedTable<Failures>;
}

export function bruteForceDetector(overrides: Partial<BruteForceOptions> = {}): Detector<BruteForceState> {
  const options = { ...BRUTE_FORCE_DEFAULTS, ...overrides };
  const detector: Detector<BruteForceState> = {
    id: 'behaviour.brute-force-success',
    title: 'Brute force followed by a successful login',
    severity: 'high',
    technique: 'T1110',
    description: 'Fires when an account, or an address, has many failed authentications in a short time and then a successful one.',
    learningMicros: 0,
    initialState: () => ({ failures: emptyTable() }),
    judge(e: JudgedEvent, state: BruteForceState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      if (!isAuthentication(e)) return [];
      const ip = originOf(e).ip;
      const keys = [actor ? `account:${actorKey(actor)}` : undefined, typeof ip === 'string' ? `source:${ip}` : undefined].filter((k): k is string => k !== undefined);
      const outcome = outcomeOf(e);
      if (outcome === 'failure') {
        for (const key of keys) recordFailure(touchEntry(state.failures, key, options.maxKeys, () => ({ times: [], refs: [] })), e, options);
        return [];
      }
      if (outcome !== 'success') return [];
      for (const key of keys) {
        const failures = peekEntry(state.failures, key);
        if (!failures) continue;
        const recent = failures.times.filter((at) => at <= e.timeMicros && e.timeMicros - at <= options.windowMicros).length;
        if (recent < options.minFailures) continue;
        const events = [...failures.refs, eventRef(e)];
        const firstSeenMicros = failures.times[0]!;
        // A success settles the guessing: the next success needs a new run of failures.
        failures.times = [];
        failures.refs = [];
        const by = key.startsWith('source:') ? `from ${key.slice('source:'.length)}` : `for the account`;
        return [
          findingOf(detector, e, {
            severity: 'high',
            ...(actor ? { actor } : {}),
            events,
            firstSeenMicros,
            summary: `${recent} failed authentications ${by} within ${Math.round(options.windowMicros / MINUTE)} minutes, then a successful one${actor ? ` as ${actor.type} ${actor.id}` : ''}`,
          }),
        ];
      }
      return [];
    },
  };
  return detector;
}

function recordFailure(failures: Failures, e: JudgedEvent, options: BruteForceOptions): void {
  const t = e.timeMicros;
  let at = failures.times.length;
  while (at > 0 && failures.times[at - 1]! > t) at--;
  failures.times.splice(at, 0, t);
  const latest = failures.times.at(-1)!;
  const stale = failures.times.findIndex((x) => latest - x <= options.windowMicros);
  if (stale > 0) {
    failures.times.splice(0, stale);
    // References are kept for the run that is still in the window.
    failures.refs.splice(0, Math.max(0, failures.refs.length - failures.times.length));
  }
  if (failures.times.length > MAX_FAILURES) failures.times.splice(0, failures.times.length - MAX_FAILURES);
  keepRef(failures.refs, eventRef(e), MAX_REFS);
}
