/**
 * What the behavioural detectors share: reading the fields of a disclosed event (any of which may be
 * absent, since erased fields are not disclosed), bounded tables of per-actor state, exponential decay
 * in event time, and the shape of a finding. State is plain JSON throughout (detector.ts).
 */
import type { Detector, Finding, JudgedEvent, Severity } from '../detector.js';

export const SECOND = 1_000_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

export interface ActorRef {
  type: string;
  id: string;
}

export interface EventRef {
  ledger: string;
  index: number;
}

export interface Target {
  type: string;
  id: string;
  name?: string;
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export function actorOf(e: JudgedEvent): ActorRef | undefined {
  const actor = record(e.event.actor);
  const type = text(actor?.type);
  const id = text(actor?.id);
  return type && id ? { type, id } : undefined;
}

export const actorKey = (actor: ActorRef): string => `${actor.type}:${actor.id}`;
export const actionOf = (e: JudgedEvent): string => text(e.event.action) ?? '';
export const categoryOf = (e: JudgedEvent): string => text(e.event.category) ?? '';
export const outcomeOf = (e: JudgedEvent): string => text(e.event.outcome) ?? '';
export const tenantOf = (e: JudgedEvent): string | undefined => text(e.event.tenant);
export const originOf = (e: JudgedEvent): Record<string, unknown> => record(e.event.origin) ?? {};
export const metadataOf = (e: JudgedEvent): Record<string, unknown> => record(e.event.metadata) ?? {};
export const eventRef = (e: JudgedEvent): EventRef => ({ ledger: e.ledger, index: e.index });

export function targetsOf(e: JudgedEvent): Target[] {
  if (!Array.isArray(e.event.targets)) return [];
  const targets: Target[] = [];
  for (const item of e.event.targets) {
    const t = record(item);
    const type = text(t?.type);
    const id = text(t?.id);
    if (type && id) targets.push({ type, id, ...(text(t?.name) ? { name: text(t?.name)! } : {}) });
  }
  return targets;
}

/** A non-negative finite number in metadata, else undefined (a client may send anything there). */
export function metadataAmount(e: JudgedEvent, key: string): number | undefined {
  const value = metadataOf(e)[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** Authentication events: `auth.*` or the auth category, logouts aside (they prove nothing about who logs in). */
export function isAuthentication(e: JudgedEvent): boolean {
  const action = actionOf(e);
  if (/\.(logout|signout|sign_out)$/.test(action)) return false;
  return action.startsWith('auth.') || categoryOf(e) === 'auth';
}

/** Events that take data out: reads, exports and anything whose verb is download or export. */
export function takesDataOut(e: JudgedEvent): boolean {
  const category = categoryOf(e);
  return category === 'read' || category === 'export' || /\.(download|export)[a-z_]*$/.test(actionOf(e));
}

export function isExport(e: JudgedEvent): boolean {
  return categoryOf(e) === 'export' || /\.(download|export)[a-z_]*$/.test(actionOf(e));
}

// ---- bounded tables --------------------------------------------------------------------------------

/**
 * Per-key state with a cap: keys are kept in order of last use (JSON objects keep insertion order for
 * keys that are not array indexes, and every key here has a `type:` prefix), the least recently used
 * goes first when the cap is reached.
 */
export interface BoundedTable<T> {
  entries: Record<string, T>;
  size: number;
}

export const emptyTable = <T>(): BoundedTable<T> => ({ entries: {}, size: 0 });

export function touchEntry<T>(table: BoundedTable<T>, key: string, max: number, create: () => T): T {
  const existing = Object.prototype.hasOwnProperty.call(table.entries, key) ? table.entries[key] : undefined;
  if (existing !== undefined) {
    delete table.entries[key];
    table.entries[key] = existing;
    return existing;
  }
  while (table.size >= max) {
    const oldest = firstKey(table.entries);
    if (oldest === undefined) break;
    delete table.entries[oldest];
    table.size--;
  }
  const created = create();
  table.entries[key] = created;
  table.size++;
  return created;
}

export function peekEntry<T>(table: BoundedTable<T>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table.entries, key) ? table.entries[key] : undefined;
}

function firstKey(entries: Record<string, unknown>): string | undefined {
  for (const key in entries) return key;
  return undefined;
}

/** Adds `value` to a bounded list of remembered values (most recent last); true when it was not there. */
export function remember(list: string[], value: string, max: number): boolean {
  const at = list.indexOf(value);
  if (at >= 0) {
    list.splice(at, 1);
    list.push(value);
    return false;
  }
  list.push(value);
  if (list.length > max) list.splice(0, list.length - max);
  return true;
}

/** Appends an event reference, keeping the first and the latest ones when over `max`. */
export function keepRef(refs: EventRef[], ref: EventRef, max: number): void {
  refs.push(ref);
  if (refs.length > max) refs.splice(Math.floor(max / 2), 1);
}

// ---- event time --------------------------------------------------------------------------------------

/** Weight left to something `elapsed` ago under exponential decay with `halfLife`. */
export const decay = (elapsed: number, halfLife: number): number => Math.pow(0.5, Math.max(0, elapsed) / halfLife);

/**
 * The deployment-wide learning period (Detector.learningMicros): the time of the first event the
 * detector judged is kept in its state; true once `now` is that long after it.
 */
export function deploymentLearned(state: { startedMicros?: number }, now: number, learningMicros: number): boolean {
  if (state.startedMicros === undefined || now < state.startedMicros) state.startedMicros = Math.min(state.startedMicros ?? now, now);
  return now - state.startedMicros >= learningMicros;
}

export const isoTime = (micros: number): string => new Date(Math.floor(micros / 1000)).toISOString().replace('.000Z', 'Z');

// ---- findings --------------------------------------------------------------------------------------

export function findingOf(
  detector: Pick<Detector, 'id' | 'title'>,
  trigger: JudgedEvent,
  fields: { severity: Severity; summary: string; actor?: ActorRef; events?: EventRef[]; firstSeenMicros?: number; title?: string; suffix?: string },
): Finding {
  const events = fields.events && fields.events.length > 0 ? fields.events : [eventRef(trigger)];
  return {
    rule: detector.id,
    title: fields.title ?? detector.title,
    severity: fields.severity,
    ...(fields.actor ? { actor: { type: fields.actor.type, id: fields.actor.id } } : {}),
    firstSeenMicros: Math.min(fields.firstSeenMicros ?? trigger.timeMicros, trigger.timeMicros),
    lastSeenMicros: trigger.timeMicros,
    events,
    summary: fields.summary,
    key: `${detector.id}:${trigger.ledger}:${trigger.index}${fields.suffix ? `:${fields.suffix}` : ''}`,
  };
}

export const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
export const higher = (a: Severity, b: Severity): Severity => (SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b);
