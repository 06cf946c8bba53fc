/**
 * Impossible travel: two consecutive geolocated successful logins of one actor, in different countries,
 * whose great-circle distance over the time between them implies a speed above `maxSpeedKmh`.
 * Geolocation of an address is approximate, so `uncertaintyKm` (for each of the two fixes) is taken off
 * the distance first and pairs closer than `minDistanceKm` are ignored; within one country the
 * databases are too coarse (an ISP's pool is placed at its headquarters) to judge at all. A country the
 * actor has already been seen acting from (any event, not only logins) is not travel: it is where the
 * actor works, through a VPN or a second home.
 */
import type { Detector, DetectorContext, Finding, JudgedEvent } from '../detector.js';
import {
  DAY,
  HOUR,
  MINUTE,
  actorKey,
  actorOf,
  deploymentLearned,
  emptyTable,
  eventRef,
  findingOf,
  isAuthentication,
  isoTime,
  outcomeOf,
  remember,
  touchEntry,
  type BoundedTable,
  type EventRef,
} from './common.js';
import { greatCircleKm } from '../../core/geo-distance.js';

export { greatCircleKm };

export interface ImpossibleTravelOptions {
  learningMicros: number;
  /** An actor is judged once it has this many geolocated events… */
  minActorEvents: number;
  /** …spread over at least this long. */
  minActorSpanMicros: number;
  maxSpeedKmh: number;
  /** Error radius of one geolocation fix, subtracted twice from every distance. */
  uncertaintyKm: number;
  minDistanceKm: number;
  /** Countries remembered per actor. */
  maxCountries: number;
  maxActors: number;
}

export const IMPOSSIBLE_TRAVEL_DEFAULTS: ImpossibleTravelOptions = {
  learningMicros: 3 * DAY,
  minActorEvents: 30,
  minActorSpanMicros: 7 * DAY,
  maxSpeedKmh: 900,
  uncertaintyKm: 100,
  minDistanceKm: 500,
  maxCountries: 32,
  maxActors: 50_000,
};

interface Fix {
  micros: number;
  latitude: number;
  longitude: number;
  country: string;
  city?: string;
  ref: EventRef;
}

interface Travels {
  firstMicros: number;
  events: number;
  countries: string[];
  lastLogin?: Fix;
}

export interface ImpossibleTravelState {
  startedMicros?: number;
  actors: BoundedTable<Travels>;
}

export function impossibleTravelDetector(overrides: Partial<ImpossibleTravelOptions> = {}): Detector<ImpossibleTravelState> {
  const options = { ...IMPOSSIBLE_TRAVEL_DEFAULTS, ...overrides };
  const detector: Detector<ImpossibleTravelState> = {
    id: 'behaviour.impossible-travel',
    title: 'Impossible travel between two logins',
    severity: 'high',
    technique: 'T1078',
    description:
      'Fires when two consecutive successful logins of one actor come from countries so far apart, and so close in time, that no one could travel between them (above ~900 km/h after allowing for geolocation error), from a country the actor was never seen in.',
    learningMicros: options.learningMicros,
    initialState: () => ({ actors: emptyTable() }),
    judge(e: JudgedEvent, state: ImpossibleTravelState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      const learnedDeployment = deploymentLearned(state, e.timeMicros, options.learningMicros);
      const country = e.location?.country;
      if (!actor || !country) return [];
      const travels = touchEntry(state.actors, actorKey(actor), options.maxActors, () => ({ firstMicros: e.timeMicros, events: 0, countries: [] }));
      travels.firstMicros = Math.min(travels.firstMicros, e.timeMicros);
      const established = learnedDeployment && travels.events >= options.minActorEvents && e.timeMicros - travels.firstMicros >= options.minActorSpanMicros;
      const known = travels.countries.includes(country);
      travels.events++;
      remember(travels.countries, country, options.maxCountries);
      const fix = fixOf(e, country);
      if (!fix || !isAuthentication(e) || outcomeOf(e) !== 'success') return [];
      const previous = travels.lastLogin;
      if (previous && fix.micros < previous.micros) return []; // a late login says nothing about the latest position
      travels.lastLogin = fix;
      if (!previous || !established || known || previous.country === country) return [];
      const distance = greatCircleKm(previous, fix) - 2 * options.uncertaintyKm;
      if (distance < options.minDistanceKm) return [];
      const hours = Math.max(fix.micros - previous.micros, MINUTE) / HOUR;
      const speed = distance / hours;
      if (speed <= options.maxSpeedKmh) return [];
      return [
        findingOf(detector, e, {
          severity: 'high',
          actor,
          events: [previous.ref, eventRef(e)],
          firstSeenMicros: previous.micros,
          summary:
            `${actor.type} ${actor.id} logged in from ${place(previous)} at ${isoTime(previous.micros)} and from ${place(fix)} ` +
            `${formatHours(hours)} later: at least ${Math.round(distance)} km, ${Math.round(speed)} km/h`,
        }),
      ];
    },
  };
  return detector;
}

function fixOf(e: JudgedEvent, country: string): Fix | undefined {
  const { latitude, longitude, city } = e.location ?? {};
  if (typeof latitude !== 'number' || typeof longitude !== 'number') return undefined;
  return { micros: e.timeMicros, latitude, longitude, country, ...(city ? { city } : {}), ref: eventRef(e) };
}

const place = (fix: Fix): string => (fix.city ? `${fix.city}, ${fix.country}` : fix.country);
const formatHours = (hours: number): string => (hours < 1 ? `${Math.round(hours * 60)} min` : `${hours.toFixed(1)} h`);
