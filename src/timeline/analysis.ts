/**
 * The pure half of an actor timeline (docs/REPORTS.md "Actor timelines"): given one actor's events in
 * a window, already read from the store, it orders them by event time and derives sessions, addresses
 * with their locations, travel speeds, systems and resources with first-seen marks, and runs of failed
 * authentication that ended in a success. No I/O and no Node APIs, so the console can rebuild or
 * re-slice a timeline in the browser from the same events.
 */
import { eventTimeMicros } from '../core/event-time.js';
import type { LocationLike } from '../core/export/record.js';
import { formatMicros } from '../core/time.js';
import { greatCircleKm } from '../core/geo-distance.js';

export { greatCircleKm };

/** Where an address was placed by the deployment's geolocation (structurally the store's IpLocation). */
export type TimelineLocation = LocationLike;

/** One event as the builder hands it over: where it is sealed, and its event as still disclosed. */
export interface TimelineInput {
  ledger: string;
  index: number;
  receivedAtMicros: number;
  event: Record<string, unknown>;
  location?: TimelineLocation;
  redacted?: Record<string, string>;
}

/** What the actor touched before the window, per kind, as far as the history read could tell. */
export interface PriorHistory {
  /** Start of the history that was read (RFC 3339), or null when none was read. */
  from: string | null;
  tenants: ReadonlySet<string>;
  targetTypes: ReadonlySet<string>;
  /** `type:id` of each target. */
  targets: ReadonlySet<string>;
  /** False when a bound cut the history short: a first-seen mark may then be wrong. */
  complete: boolean;
}

/** Another actor seen from one of this actor's addresses in the window. */
export interface SharedAddress {
  ip: string;
  actors: Array<{ actor: string; events: number }>;
}

/** A session is a session_id, or, for events without one, a run with no gap over SESSION_GAP_MICROS. */
export const SESSION_GAP_MICROS = 30 * 60 * 1_000_000;
/** Failures in a row, at least, for a failed-then-successful run to be reported. */
export const AUTH_RUN_MIN_FAILURES = 3;
/** A success this long after the last failure no longer ends the run. */
export const AUTH_RUN_MAX_GAP_MICROS = 60 * 60 * 1_000_000;
/**
 * Travel faster than a passenger jet (and farther than geolocation error at city level) cannot be one
 * person moving: the pair is marked `implausible`.
 */
export const IMPLAUSIBLE_SPEED_KMH = 1000;
export const IMPLAUSIBLE_MIN_DISTANCE_KM = 500;

export interface EventRef {
  ledger: string;
  index: number;
  time: string;
}

export interface TimelineEvent extends EventRef {
  received_at: string;
  /** Position of its session in `sessions`. */
  session: number;
  event: Record<string, unknown>;
  location?: TimelineLocation;
  redacted?: Record<string, string>;
}

export interface TimelineSession {
  /** actor.session_id, or null for a session inferred from gaps. */
  session_id: string | null;
  start: string;
  end: string;
  events: number;
  ips: string[];
}

export interface TimelineAddress {
  ip: string;
  location?: TimelineLocation;
  events: number;
  first: string;
  last: string;
}

export interface TravelLeg {
  from: EventRef & { ip: string; location: TimelineLocation };
  to: EventRef & { ip: string; location: TimelineLocation };
  distance_km: number;
  seconds: number;
  /** null when both events happened at the same moment. */
  speed_kmh: number | null;
  implausible: boolean;
}

export interface FirstSeen {
  events: number;
  first: string;
  /** True when the actor's history before the window does not hold it. */
  first_seen: boolean;
}

export interface TimelineResource extends FirstSeen {
  type: string;
  id: string;
  name?: string;
}

export interface AuthRun {
  failures: number;
  first_failure: EventRef;
  last_failure: EventRef;
  success: EventRef;
  ips: string[];
  reasons: string[];
}

export interface Timeline {
  actor: string;
  from: string;
  to: string;
  ledgers: string[];
  events: TimelineEvent[];
  sessions: TimelineSession[];
  ips: TimelineAddress[];
  travel: TravelLeg[];
  systems: {
    tenants: Array<FirstSeen & { tenant: string }>;
    target_types: Array<FirstSeen & { type: string }>;
  };
  resources: TimelineResource[];
  auth_runs: AuthRun[];
  shared_addresses: SharedAddress[];
  history: { from: string | null; complete: boolean };
}

interface Ordered {
  input: TimelineInput;
  micros: number;
}

const group = (event: Record<string, unknown>, name: string): Record<string, unknown> =>
  (event[name] && typeof event[name] === 'object' ? event[name] : {}) as Record<string, unknown>;
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const ipOf = (event: Record<string, unknown>) => text(group(event, 'origin').ip);

/** Event time, then ledger and index: the same events always come out in the same order. */
export function orderByEventTime(inputs: readonly TimelineInput[]): Ordered[] {
  return inputs
    .map((input) => ({ input, micros: eventTimeMicros(input.event.occurred_at, input.receivedAtMicros) }))
    .sort((a, b) => a.micros - b.micros || (a.input.ledger < b.input.ledger ? -1 : a.input.ledger > b.input.ledger ? 1 : 0) || a.input.index - b.input.index);
}

const ref = (o: Ordered): EventRef => ({ ledger: o.input.ledger, index: o.input.index, time: formatMicros(o.micros) });

/** The session of each event (an index into the returned list), in event-time order. */
export function sessionsOf(ordered: readonly Ordered[]): { sessions: TimelineSession[]; of: number[] } {
  const sessions: Array<TimelineSession & { ipSet: Set<string> }> = [];
  const byId = new Map<string, number>();
  let open: { at: number; last: number } | undefined;
  const of = ordered.map((o) => {
    const id = text(group(o.input.event, 'actor').session_id);
    let at: number;
    if (id !== undefined) {
      at = byId.get(id) ?? -1;
      if (at < 0) byId.set(id, (at = sessions.push(newSession(id, o)) - 1));
    } else if (open && o.micros - open.last <= SESSION_GAP_MICROS) {
      at = open.at;
    } else {
      at = sessions.push(newSession(null, o)) - 1;
    }
    if (id === undefined) open = { at, last: o.micros };
    const session = sessions[at]!;
    session.events++;
    session.end = formatMicros(o.micros);
    const ip = ipOf(o.input.event);
    if (ip !== undefined && !session.ipSet.has(ip)) {
      session.ipSet.add(ip);
      session.ips.push(ip);
    }
    return at;
  });
  return { sessions: sessions.map(({ ipSet: _ipSet, ...session }) => session), of };
}

function newSession(id: string | null, o: Ordered): TimelineSession & { ipSet: Set<string> } {
  const start = formatMicros(o.micros);
  return { session_id: id, start, end: start, events: 0, ips: [], ipSet: new Set() };
}

export function addressesOf(ordered: readonly Ordered[]): TimelineAddress[] {
  const byIp = new Map<string, TimelineAddress>();
  for (const o of ordered) {
    const ip = ipOf(o.input.event);
    if (ip === undefined) continue;
    const time = formatMicros(o.micros);
    const known = byIp.get(ip);
    if (known) {
      known.events++;
      known.last = time;
      known.location ??= o.input.location;
    } else {
      byIp.set(ip, { ip, ...(o.input.location ? { location: o.input.location } : {}), events: 1, first: time, last: time });
    }
  }
  return [...byIp.values()];
}

type Located = TimelineLocation & { latitude: number; longitude: number };
const located = (l: TimelineLocation | undefined): l is Located => typeof l?.latitude === 'number' && typeof l.longitude === 'number';

/**
 * A leg for each pair of consecutive geolocated events whose coordinates differ: repeated events from
 * one place would otherwise fill the list with zero-length legs.
 */
export function travelOf(ordered: readonly Ordered[]): TravelLeg[] {
  const legs: TravelLeg[] = [];
  let previous: { o: Ordered; location: Located; ip: string } | undefined;
  for (const o of ordered) {
    const location = o.input.location;
    const ip = ipOf(o.input.event);
    if (!located(location) || ip === undefined) continue;
    if (previous && (previous.location.latitude !== location.latitude || previous.location.longitude !== location.longitude)) {
      const distance = greatCircleKm(previous.location, location);
      const seconds = (o.micros - previous.o.micros) / 1e6;
      const speed = seconds > 0 ? (distance / seconds) * 3600 : null;
      legs.push({
        from: { ...ref(previous.o), ip: previous.ip, location: previous.location },
        to: { ...ref(o), ip, location },
        distance_km: round(distance, 1),
        seconds: round(seconds, 3),
        speed_kmh: speed === null ? null : round(speed, 1),
        implausible: distance >= IMPLAUSIBLE_MIN_DISTANCE_KM && (speed === null || speed > IMPLAUSIBLE_SPEED_KMH),
      });
    }
    previous = { o, location, ip };
  }
  return legs;
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

const targetsOf = (event: Record<string, unknown>): Array<{ type: string; id: string; name?: string }> =>
  (Array.isArray(event.targets) ? event.targets : []).flatMap((t: unknown) => {
    const target = (t ?? {}) as Record<string, unknown>;
    const type = text(target.type);
    const id = text(target.id);
    const name = text(target.name);
    return type !== undefined && id !== undefined ? [{ type, id, ...(name !== undefined ? { name } : {}) }] : [];
  });

/** The `type:id` key of a target, as the store's `target` stats dimension names it. */
export const targetKey = (type: string, id: string): string => `${type}:${id}`;

/** Counts per key in event-time order, with the first time each was seen and whether history knew it. */
function tally<T>(ordered: readonly Ordered[], keysOf: (o: Ordered) => Array<[key: string, detail: T]>, known: ReadonlySet<string>) {
  const counts = new Map<string, FirstSeen & { detail: T }>();
  for (const o of ordered) {
    for (const [key, detail] of keysOf(o)) {
      const entry = counts.get(key);
      if (entry) entry.events++;
      else counts.set(key, { events: 1, first: formatMicros(o.micros), first_seen: !known.has(key), detail });
    }
  }
  return [...counts.entries()];
}

export function systemsOf(ordered: readonly Ordered[], history: PriorHistory): Timeline['systems'] {
  const tenants = tally(ordered, (o) => {
    const tenant = text(o.input.event.tenant);
    return tenant === undefined ? [] : [[tenant, undefined]];
  }, history.tenants);
  const types = tally(ordered, (o) => [...new Set(targetsOf(o.input.event).map((t) => t.type))].map((type) => [type, undefined]), history.targetTypes);
  return {
    tenants: tenants.map(([tenant, { detail: _detail, ...seen }]) => ({ tenant, ...seen })),
    target_types: types.map(([type, { detail: _detail, ...seen }]) => ({ type, ...seen })),
  };
}

export function resourcesOf(ordered: readonly Ordered[], history: PriorHistory): TimelineResource[] {
  return tally(ordered, (o) => targetsOf(o.input.event).map((t) => [targetKey(t.type, t.id), t]), history.targets).map(([, { detail, ...seen }]) => ({
    type: detail.type,
    id: detail.id,
    ...(detail.name !== undefined ? { name: detail.name } : {}),
    ...seen,
  }));
}

const isAuth = (event: Record<string, unknown>): boolean =>
  event.category === 'auth' || (typeof event.action === 'string' && event.action.startsWith('auth.'));

/**
 * Runs of at least AUTH_RUN_MIN_FAILURES failed authentications in a row (other authentications break
 * a run, other actions do not), ended by a successful one within AUTH_RUN_MAX_GAP_MICROS.
 */
export function authRunsOf(ordered: readonly Ordered[]): AuthRun[] {
  const runs: AuthRun[] = [];
  let failures: Ordered[] = [];
  for (const o of ordered) {
    const event = o.input.event;
    if (!isAuth(event)) continue;
    if (event.outcome === 'failure') {
      failures.push(o);
      continue;
    }
    const last = failures.at(-1);
    if (event.outcome === 'success' && last && failures.length >= AUTH_RUN_MIN_FAILURES && o.micros - last.micros <= AUTH_RUN_MAX_GAP_MICROS) {
      runs.push({
        failures: failures.length,
        first_failure: ref(failures[0]!),
        last_failure: ref(last),
        success: ref(o),
        ips: [...new Set([...failures, o].flatMap((f) => ipOf(f.input.event) ?? []))],
        reasons: [...new Set(failures.flatMap((f) => text(f.input.event.outcome_reason) ?? []))],
      });
    }
    failures = [];
  }
  return runs;
}

export interface TimelineParts {
  actor: string;
  fromMicros: number;
  toMicros: number;
  ledgers: string[];
  events: readonly TimelineInput[];
  history: PriorHistory;
  sharedAddresses: SharedAddress[];
}

/** The whole timeline from the events in the window, the actor's prior history and the shared addresses. */
export function assembleTimeline(parts: TimelineParts): Timeline {
  const ordered = orderByEventTime(parts.events);
  const { sessions, of } = sessionsOf(ordered);
  return {
    actor: parts.actor,
    from: formatMicros(parts.fromMicros),
    to: formatMicros(parts.toMicros),
    ledgers: parts.ledgers,
    events: ordered.map((o, i) => ({
      ...ref(o),
      received_at: formatMicros(o.input.receivedAtMicros),
      session: of[i]!,
      event: o.input.event,
      ...(o.input.location ? { location: o.input.location } : {}),
      ...(o.input.redacted ? { redacted: o.input.redacted } : {}),
    })),
    sessions,
    ips: addressesOf(ordered),
    travel: travelOf(ordered),
    systems: systemsOf(ordered, parts.history),
    resources: resourcesOf(ordered, parts.history),
    auth_runs: authRunsOf(ordered),
    shared_addresses: parts.sharedAddresses,
    history: { from: parts.history.from, complete: parts.history.complete },
  };
}
