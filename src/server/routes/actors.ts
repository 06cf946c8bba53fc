/**
 * Actor timelines (docs/REPORTS.md "Actor timelines"):
 *   GET /v1/actors/{actor_id}/timeline?from=&to=&ledgers=
 * across the ledgers named, or every ledger the key may read; a tenant-scoped key sees only its
 * tenants' events, in the timeline and in the history and shared addresses it is compared with.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { rfc3339Micros } from '../../core/event-time.js';
import { buildTimeline, MAX_TIMELINE_EVENTS } from '../../timeline/build.js';
import type { AppContext } from '../app.js';
import { ApiError } from '../errors.js';
import { keyedErrors, Redacted } from '../schemas.js';
import { readableLedgers } from './search.js';

const DAY_MICROS = 86_400_000_000;
/** The window when `from` is not given: the week before `to`. */
const DEFAULT_WINDOW_MICROS = 7 * DAY_MICROS;

const Time = (description: string) => Type.String({ maxLength: 64, description });
const Location = Type.Object(
  {
    country: Type.Optional(Type.String()),
    region: Type.Optional(Type.String()),
    city: Type.Optional(Type.String()),
    latitude: Type.Optional(Type.Number()),
    longitude: Type.Optional(Type.Number()),
    reserved: Type.Optional(Type.String()),
  },
  { description: "From the server's geolocation database when the event was indexed (IP Geolocation by DB-IP, CC BY 4.0, unless configured otherwise)." },
);
const Ref = Type.Object({ ledger: Type.String(), index: Type.Integer(), time: Type.String({ description: 'Event time (RFC 3339).' }) });
const Placed = Type.Composite([Ref, Type.Object({ ip: Type.String(), location: Location })]);
const Seen = {
  events: Type.Integer(),
  first: Type.String({ description: 'Event time of its first event in the window.' }),
  first_seen: Type.Boolean({ description: "True when the actor's history before the window (see history) does not hold it." }),
};

const TimelineBody = Type.Object({
  actor: Type.String(),
  from: Type.String(),
  to: Type.String(),
  ledgers: Type.Array(Type.String()),
  events: Type.Array(
    Type.Object({
      ledger: Type.String(),
      index: Type.Integer(),
      time: Type.String({ description: 'Event time: occurred_at, unless absent or more than 5 minutes after received_at.' }),
      received_at: Type.String(),
      session: Type.Integer({ description: 'Position of its session in `sessions`.' }),
      event: Type.Record(Type.String(), Type.Unknown()),
      location: Type.Optional(Location),
      redacted: Type.Optional(Redacted),
    }),
    { description: `In event-time order; at most ${MAX_TIMELINE_EVENTS}.` },
  ),
  sessions: Type.Array(
    Type.Object({
      session_id: Type.Union([Type.String(), Type.Null()], { description: 'actor.session_id; null for a run of events without one and no gap over 30 minutes.' }),
      start: Type.String(),
      end: Type.String(),
      events: Type.Integer(),
      ips: Type.Array(Type.String()),
    }),
  ),
  ips: Type.Array(Type.Object({ ip: Type.String(), location: Type.Optional(Location), events: Type.Integer(), first: Type.String(), last: Type.String() })),
  travel: Type.Array(
    Type.Object({
      from: Placed,
      to: Placed,
      distance_km: Type.Number({ description: 'Great-circle distance.' }),
      seconds: Type.Number(),
      speed_kmh: Type.Union([Type.Number(), Type.Null()], { description: 'null when both happened at the same moment.' }),
      implausible: Type.Boolean({ description: 'Over 1000 km/h and at least 500 km apart.' }),
    }),
    { description: 'Consecutive geolocated events whose coordinates differ.' },
  ),
  systems: Type.Object({
    tenants: Type.Array(Type.Object({ tenant: Type.String(), ...Seen })),
    target_types: Type.Array(Type.Object({ type: Type.String(), ...Seen })),
  }),
  resources: Type.Array(Type.Object({ type: Type.String(), id: Type.String(), name: Type.Optional(Type.String()), ...Seen })),
  auth_runs: Type.Array(
    Type.Object({
      failures: Type.Integer(),
      first_failure: Ref,
      last_failure: Ref,
      success: Ref,
      ips: Type.Array(Type.String()),
      reasons: Type.Array(Type.String()),
    }),
    { description: 'At least 3 failed authentications in a row, then a success within an hour.' },
  ),
  shared_addresses: Type.Array(
    Type.Object({ ip: Type.String(), actors: Type.Array(Type.Object({ actor: Type.String(), events: Type.Integer() })) }),
    { description: 'Other actors seen from the same addresses in the window.' },
  ),
  history: Type.Object({
    from: Type.Union([Type.String(), Type.Null()], { description: 'Start of the history read for first-seen marks (90 days before `from`).' }),
    complete: Type.Boolean({ description: 'False when a bound cut the history short; first-seen marks may then be wrong.' }),
  }),
});

function timeParameter(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const micros = rfc3339Micros(text);
  if (micros === undefined) throw new ApiError(400, 'INVALID_ARGUMENT', `${name} must be an RFC 3339 time such as 2026-11-26T00:00:00Z`);
  return micros;
}

export async function actorRoutes(app: FastifyInstance, { store }: AppContext): Promise<void> {
  app.get<{ Params: { actor_id: string }; Querystring: { from?: string; to?: string; ledgers?: string } }>(
    '/actors/:actor_id/timeline',
    {
      schema: {
        summary: "One actor's timeline across ledgers: events by event time, sessions, addresses, travel, first-seen systems, authentication runs.",
        description:
          `Readers, auditors and admins. Bounded, not paged: more than ${MAX_TIMELINE_EVENTS} events in the window answers 400 QUERY_TOO_COSTLY; narrow from/to. ` +
          'The window is in event time (occurred_at unless absent or over 5 minutes after received_at); history (first-seen marks) and shared addresses are read by received time.',
        params: Type.Object({ actor_id: Type.String({ minLength: 1, maxLength: 256 }) }),
        querystring: Type.Object({
          from: Type.Optional(Time('Start of the window (RFC 3339, inclusive); default a week before `to`.')),
          to: Type.Optional(Time('End of the window (RFC 3339, exclusive); default now.')),
          ledgers: Type.Optional(Type.String({ maxLength: 4096, description: 'Comma-separated ledger names; default every ledger the key may read.' })),
        }),
        response: { 200: TimelineBody, ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT') },
      },
    },
    async (request) => {
      const toMicros = timeParameter('to', request.query.to, Date.now() * 1000);
      const fromMicros = timeParameter('from', request.query.from, toMicros - DEFAULT_WINDOW_MICROS);
      if (fromMicros >= toMicros) throw new ApiError(400, 'INVALID_ARGUMENT', 'from must be before to');
      const ledgers = await readableLedgers(store, request, request.query.ledgers);
      const timeline = await buildTimeline(store, {
        actor: request.params.actor_id,
        fromMicros,
        toMicros,
        ledgers,
        tenants: request.principal.tenants,
      });
      request.resultCount = timeline.events.length;
      return timeline;
    },
  );
}
