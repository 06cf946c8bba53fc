/**
 * A parsed search query (src/core/query.ts) judged against one event in memory, with the semantics the
 * stores give it in SQL (docs/SEARCH.md, src/store/search-sql.ts): terms ANDed, a clause's values ORed,
 * a negated clause matching events that lack the field, a target clause satisfied by any target, free
 * text a case-insensitive substring of the event's text. Sinks filter with it (src/streams/), so that a
 * sink's `query` selects exactly what a search with that query finds. Pure: runs in browsers.
 */
import { ipHex } from './ipnet.js';
import type { Clause, Match, Query } from './query.js';

/** One event as a filter sees it: what the search index derives from its still-disclosed fields. */
export interface MatchableEvent {
  index: number;
  receivedAtMicros: number;
  /** Id of the API key that submitted it. */
  writer: string;
  /** The event as far as it is disclosed (ExportRecord.event): erased fields are simply absent. */
  event: Record<string, unknown>;
  /** Country of the origin IP as geolocation placed it (upper case); absent when unknown. */
  country?: string | undefined;
}

type Value = string | number | null;

interface View {
  single(field: string): Value[];
  targets: Array<{ type: string; id: string; name: string | null }>;
  metadata: Map<string, string>;
  text: string;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const group = (value: unknown): Record<string, unknown> => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/** RFC 3339 text as microseconds, keeping the digits of a fraction beyond milliseconds. */
function occurredMicros(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) return null;
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  return millis * 1000 + (fraction.length > 3 ? Number(fraction.slice(3, 6).padEnd(3, '0')) : 0);
}

/** The index's columns of one event (src/store/search-fields.ts searchRecord), derived once per event. */
function viewOf(input: MatchableEvent): View {
  const { event } = input;
  const actor = group(event.actor);
  const origin = group(event.origin);
  const targets: View['targets'] = [];
  const words: string[] = [];
  for (const target of Array.isArray(event.targets) ? event.targets : []) {
    const t = group(target);
    if (typeof t.type === 'string' && typeof t.id === 'string') {
      targets.push({ type: t.type, id: t.id, name: text(t.name) });
      words.push(t.type, t.id, ...(typeof t.name === 'string' ? [t.name] : []));
    }
  }
  const metadata = new Map<string, string>();
  for (const [key, value] of Object.entries(group(event.metadata))) {
    const asText = typeof value === 'string' ? value : JSON.stringify(value);
    metadata.set(key, asText);
    words.push(asText);
  }
  for (const value of [actor.id, actor.name, actor.email, event.action, event.outcome_reason, origin.user_agent, event.tenant]) {
    if (typeof value === 'string' && value) words.push(value);
  }
  const ip = text(origin.ip);
  const columns: Record<string, Value[]> = {
    actor: [text(actor.id), text(actor.name)],
    'actor.id': [text(actor.id)],
    'actor.name': [text(actor.name)],
    'actor.type': [text(actor.type)],
    action: [text(event.action)],
    category: [text(event.category)],
    tenant: [text(event.tenant)],
    outcome: [text(event.outcome)],
    country: [input.country ?? null],
    writer: [input.writer],
    received: [input.receivedAtMicros],
    occurred: [occurredMicros(event.occurred_at)],
    index: [input.index],
    ip: [ip === null ? null : (ipHex(ip) ?? null)],
  };
  return { single: (field) => columns[field] ?? [], targets, metadata, text: words.join(' ').toLowerCase() };
}

function matchValue(value: Value, match: Match): boolean {
  if (value === null) return false;
  switch (match.kind) {
    case 'exact':
      return value === match.value;
    case 'prefix':
      return typeof value === 'string' && value.startsWith(match.value);
    case 'range':
      return typeof value === 'number' && (match.from === undefined || value >= match.from) && (match.to === undefined || value < match.to);
    case 'ipRange':
      return typeof value === 'string' && value >= match.low && value <= match.high;
    case 'text':
      return false;
  }
}

const anyMatch = (values: Value[], matches: Match[]) => values.some((value) => matches.some((match) => matchValue(value, match)));

function clauseHolds(clause: Clause, view: View): boolean {
  switch (clause.field) {
    case 'text':
      return clause.anyOf.some((match) => match.kind === 'text' && view.text.includes(match.value.toLowerCase()));
    case 'target':
      return view.targets.some((t) => anyMatch([t.id, t.name], clause.anyOf));
    case 'target.id':
      return view.targets.some((t) => anyMatch([t.id], clause.anyOf));
    case 'target.type':
      return view.targets.some((t) => anyMatch([t.type], clause.anyOf));
    case 'metadata':
      return clause.key !== undefined && anyMatch([view.metadata.get(clause.key) ?? null], clause.anyOf);
    default:
      return anyMatch(view.single(clause.field), clause.anyOf);
  }
}

/** Whether the event matches every clause of the query (an empty query matches everything). */
export function matchesQuery(query: Query, event: MatchableEvent): boolean {
  if (query.clauses.length === 0) return true;
  const view = viewOf(event);
  return query.clauses.every((clause) => clauseHolds(clause, view) !== clause.negate);
}
