/**
 * Builds an actor timeline from a store (docs/REPORTS.md "Actor timelines"): the actor's events in the
 * window from each ledger through the search index's (ledger, actor_id, idx) index, the actor's prior
 * history as two stats reads, and the other actors at each of its addresses as one stats read per
 * address. Everything else is the pure analysis in analysis.ts. The server's route and the reports
 * call this; so can anything holding a Store.
 */
import { eventFromDisclosures } from '../core/commitments.js';
import { SealtrailError } from '../core/errors.js';
import { eventTimeMicros, MAX_FUTURE_SKEW_MICROS } from '../core/event-time.js';
import { ipHex } from '../core/ipnet.js';
import type { Clause, Query } from '../core/query.js';
import { formatMicros } from '../core/time.js';
import type { SearchHit, Store } from '../store/store.js';
import { assembleTimeline, targetKey, type PriorHistory, type SharedAddress, type Timeline, type TimelineInput } from './analysis.js';

/** Most events one timeline holds; past it the request is refused and the window must be narrowed. */
export const MAX_TIMELINE_EVENTS = 10_000;
/**
 * Events received up to this long after the window are read as part of its index range; ones received
 * later are found by occurred_at instead (see readWindow).
 */
export const LATE_DELIVERY_MICROS = 24 * 3_600_000_000;
/** How far before the window the actor's history is read for first-seen marks. */
export const HISTORY_MICROS = 90 * 86_400_000_000;
/** Distinct targets (and tenants) of the history read per ledger; more makes the history incomplete. */
export const HISTORY_MAX_KEYS = 10_000;
/** Addresses whose other actors are looked up (the busiest first), and actors listed per address. */
export const MAX_SHARED_ADDRESSES = 100;
export const MAX_ACTORS_PER_ADDRESS = 20;

const PAGE = 1000;
/** Stats reads in flight at once: the SQLite store has two reading threads; more would only queue. */
const PARALLEL_READS = 4;

export interface TimelineRequest {
  actor: string;
  /** The window in event time, [from, to), microseconds since the epoch. */
  fromMicros: number;
  toMicros: number;
  /** Ledgers to read, each already checked as readable by the caller. */
  ledgers: string[];
  /** Tenants the caller may see; undefined (or containing '*') for all. */
  tenants?: readonly string[] | undefined;
  /** Lower bound than MAX_TIMELINE_EVENTS (tests, callers with smaller budgets). */
  maxEvents?: number;
}

type TimelineStore = Pick<Store, 'search' | 'stats'>;

const exact = (field: Clause['field'], value: string, negate = false): Clause => ({ field, negate, anyOf: [{ kind: 'exact', value }], position: 0 });
const range = (field: 'received' | 'occurred', from: number, to: number): Clause => ({ field, negate: false, anyOf: [{ kind: 'range', from: Math.max(0, from), to }], position: 0 });
const received = (from: number, to: number) => range('received', from, to);
const occurred = (from: number, to: number) => range('occurred', from, to);

function scoped(clauses: Clause[], tenants: readonly string[] | undefined): Query {
  if (!tenants || tenants.includes('*')) return { clauses };
  return { clauses: [...clauses, { field: 'tenant', negate: false, anyOf: tenants.map((value) => ({ kind: 'exact', value })), position: 0 }] };
}

export async function buildTimeline(store: TimelineStore, request: TimelineRequest): Promise<Timeline> {
  if (!(request.toMicros > request.fromMicros)) throw new SealtrailError('INVALID_ARGUMENT', 'the timeline window is empty: `to` must be after `from`');
  const events = await readWindow(store, request);
  const [history, sharedAddresses] = await Promise.all([readHistory(store, request), readSharedAddresses(store, request, events)]);
  return assembleTimeline({ ...request, events, history, sharedAddresses });
}

/**
 * The actor's events whose event time lies in the window, from every ledger. Event time is at most
 * MAX_FUTURE_SKEW after received time, so two reads cover them exactly: events received in the window
 * (give or take the skew and late deliveries), a range of the ledger's indexes; and events received
 * after that whose occurred_at falls in the window (late or imported history).
 */
async function readWindow(store: TimelineStore, request: TimelineRequest): Promise<TimelineInput[]> {
  const max = Math.min(request.maxEvents ?? MAX_TIMELINE_EVENTS, MAX_TIMELINE_EVENTS);
  const lateFrom = request.toMicros + LATE_DELIVERY_MICROS;
  const actor = exact('actor.id', request.actor);
  const queries = [
    scoped([actor, received(request.fromMicros - MAX_FUTURE_SKEW_MICROS, lateFrom)], request.tenants),
    scoped([actor, { field: 'received', negate: false, anyOf: [{ kind: 'range', from: lateFrom }], position: 0 }, occurred(request.fromMicros, request.toMicros)], request.tenants),
  ];
  const kept: TimelineInput[] = [];
  for (const ledger of request.ledgers) {
    for (const query of queries) {
      for await (const hit of matches(store, ledger, query)) {
        const event = eventFromDisclosures(hit.disclosures);
        const time = eventTimeMicros(event.occurred_at, hit.receivedAtMicros);
        if (time < request.fromMicros || time >= request.toMicros) continue;
        if (kept.length === max) {
          throw new SealtrailError('QUERY_TOO_COSTLY', `actor ${JSON.stringify(request.actor)} has more than ${max} events in this window; narrow from/to or the ledgers`, {
            limit: max,
          });
        }
        kept.push(inputOf(hit, event));
      }
    }
  }
  return kept;
}

async function* matches(store: TimelineStore, ledger: string, query: Query): AsyncGenerator<SearchHit> {
  for (let after: number | undefined; ; ) {
    const page = await store.search(ledger, { query, limit: PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
    yield* page.entries;
    if (page.next === null) return;
    after = page.next;
  }
}

function inputOf(hit: SearchHit, event: Record<string, unknown>): TimelineInput {
  return {
    ledger: hit.ledger,
    index: hit.index,
    receivedAtMicros: hit.receivedAtMicros,
    event,
    ...(hit.location ? { location: hit.location } : {}),
    ...(hit.redactions ? { redacted: hit.redactions } : {}),
  };
}

/** Tenants, target types and targets the actor touched in the HISTORY_MICROS before the window. */
async function readHistory(store: TimelineStore, request: TimelineRequest): Promise<PriorHistory> {
  const from = Math.max(0, request.fromMicros - HISTORY_MICROS);
  const query = scoped([exact('actor.id', request.actor), received(from, request.fromMicros)], request.tenants);
  const tenants = new Set<string>();
  const targetTypes = new Set<string>();
  const targets = new Set<string>();
  let complete = true;
  await eachLimited(request.ledgers, async (ledger) => {
    const [byTarget, byTenant] = await Promise.all([store.stats(ledger, query, 'target', HISTORY_MAX_KEYS), store.stats(ledger, query, 'tenant', HISTORY_MAX_KEYS)]);
    if (byTarget.length === HISTORY_MAX_KEYS || byTenant.length === HISTORY_MAX_KEYS) complete = false;
    for (const { key } of byTarget) {
      if (key === null) continue;
      const colon = key.indexOf(':');
      targetTypes.add(key.slice(0, colon));
      targets.add(targetKey(key.slice(0, colon), key.slice(colon + 1)));
    }
    for (const { key } of byTenant) if (key !== null) tenants.add(key);
  });
  return { from: formatMicros(from), tenants, targetTypes, targets, complete };
}

/** Other actors seen from the actor's addresses in the window, busiest addresses first. */
async function readSharedAddresses(store: TimelineStore, request: TimelineRequest, events: TimelineInput[]): Promise<SharedAddress[]> {
  const counts = new Map<string, number>();
  for (const e of events) {
    const ip = (e.event.origin as Record<string, unknown> | undefined)?.ip;
    if (typeof ip === 'string' && ipHex(ip) !== undefined) counts.set(ip, (counts.get(ip) ?? 0) + 1);
  }
  const ips = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, MAX_SHARED_ADDRESSES).map(([ip]) => ip);
  const window = received(request.fromMicros - MAX_FUTURE_SKEW_MICROS, request.toMicros + LATE_DELIVERY_MICROS);
  const shared = await mapLimited(ips, async (ip): Promise<SharedAddress> => {
    const hex = ipHex(ip)!;
    const query = scoped([{ field: 'ip', negate: false, anyOf: [{ kind: 'ipRange', low: hex, high: hex }], position: 0 }, window, exact('actor.id', request.actor, true)], request.tenants);
    const actors = new Map<string, number>();
    for (const ledger of request.ledgers) {
      for (const { key, count } of await store.stats(ledger, query, 'actor', MAX_ACTORS_PER_ADDRESS)) {
        if (key !== null) actors.set(key, (actors.get(key) ?? 0) + count);
      }
    }
    const top = [...actors.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_ACTORS_PER_ADDRESS);
    return { ip, actors: top.map(([actor, n]) => ({ actor, events: n })) };
  });
  return shared.filter((s) => s.actors.length > 0);
}

async function mapLimited<T, R>(items: readonly T[], run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await run(items[at]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, items.length) }, worker));
  return results;
}

const eachLimited = async <T>(items: readonly T[], run: (item: T) => Promise<void>): Promise<void> => void (await mapLimited(items, run));
