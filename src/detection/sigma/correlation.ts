/**
 * Correlation rules at run time, in event time (JudgedEvent.timeMicros). Each matching event (or each
 * firing of a referenced correlation) becomes a hit in its group; the windows are every span of
 * `timespan` that contains the new hit (one, the span ending at it, when events come in time order;
 * more when an event arrives late). The first window whose hits satisfy the rule fires, and its hits are
 * consumed: the next firing needs a fresh set, so a long burst raises one finding per condition met
 * rather than one per event. State is plain JSON, pruned as event time moves past a timespan and
 * capped per group and in groups.
 */
import { MAX_FINDING_EVENTS, type JudgedEvent } from '../detector.js';
import { countSatisfies, MAX_GROUP_HITS, type CorrelationRule } from './rule.js';

/** Groups one correlation keeps; past it the group idle longest is dropped. */
export const MAX_GROUPS = 10_000;

/** One hit as kept in state: event time, trigger index, rule slot, values (value_count), event indexes. */
export interface StoredHit {
  t: number;
  /** Event time of the earliest event behind it (a referenced correlation's window start). */
  f: number;
  i: number;
  r: number;
  v?: string[];
  x: number[];
}

export interface CorrelationState {
  /** Watermark at the last full sweep of old hits. */
  s: number;
  g: Record<string, StoredHit[]>;
}

/** What a rule yields for the event being judged: it matched (detection) or fired (correlation). */
export interface Hit {
  t: number;
  first: number;
  /** Ledger indexes of the events behind it, ascending. */
  x: number[];
  /** For a firing correlation, what its summary says. */
  detail?: FiringDetail;
}

export interface FiringDetail {
  /** Events, distinct values or distinct rules counted. */
  count: number;
  group: Array<[field: string, value: string]>;
}

/** A referenced rule as the correlation sees it: its slot, its `name` (for aliases) and its hit, if any. */
export interface SlotHit {
  slot: number;
  ruleName: string | undefined;
  hit: Hit;
}

export function initialCorrelationState(): CorrelationState {
  return { s: Number.MIN_SAFE_INTEGER, g: {} };
}

/** Adds the slots' hits for this event and returns the firing, if a window now satisfies the rule. */
export function correlate(
  rule: CorrelationRule,
  state: CorrelationState,
  watermark: number,
  judged: JudgedEvent,
  hits: SlotHit[],
): Hit | undefined {
  const horizon = watermark - rule.timespanMicros;
  if (watermark - state.s >= rule.timespanMicros) sweep(state, horizon, watermark);
  let fired: Hit | undefined;
  for (const { slot, ruleName, hit } of hits) {
    const group = groupOf(rule, judged, ruleName);
    if (!group) continue; // a group-by field is absent: the event belongs to no group
    const key = JSON.stringify(group.map(([, v]) => v));
    const stored: StoredHit = { t: hit.t, f: hit.first, i: judged.index, r: slot, x: boundedIndexes(hit.x) };
    if (rule.type === 'value_count') {
      const values = valuesOf(rule.field!.read(judged));
      if (values.length === 0) continue; // nothing to count
      stored.v = values;
    }
    const list = groupList(state, key);
    insert(list, stored);
    pruneGroup(list, horizon);
    fired ??= fire(rule, list, list.indexOf(stored), group);
    if (list.length === 0) delete state.g[key];
  }
  return fired;
}

/** A chained correlation's hit can stand for a whole window: keep its oldest events and its last. */
function boundedIndexes(indexes: number[]): number[] {
  return indexes.length <= MAX_FINDING_EVENTS ? indexes : [...indexes.slice(0, MAX_FINDING_EVENTS - 1), indexes.at(-1)!];
}

function groupOf(rule: CorrelationRule, judged: JudgedEvent, ruleName: string | undefined): Array<[string, string]> | undefined {
  const group: Array<[string, string]> = [];
  for (const by of rule.groupBy) {
    const values = valuesOf(by.fieldFor(ruleName).read(judged));
    if (values.length === 0) return undefined;
    group.push([by.name, values.join(',')]);
  }
  return group;
}

function valuesOf(candidates: unknown[] | undefined): string[] {
  const texts = (candidates ?? []).flatMap((c) => (typeof c === 'string' || typeof c === 'number' || typeof c === 'boolean' ? [String(c)] : []));
  return [...new Set(texts)].sort();
}

function groupList(state: CorrelationState, key: string): StoredHit[] {
  const existing = state.g[key];
  if (existing) return existing;
  const keys = Object.keys(state.g);
  if (keys.length >= MAX_GROUPS) {
    const idlest = keys.reduce((a, b) => (newest(state.g[a]!) <= newest(state.g[b]!) ? a : b));
    delete state.g[idlest];
  }
  return (state.g[key] = []);
}

const newest = (list: StoredHit[]) => list.at(-1)?.t ?? Number.MIN_SAFE_INTEGER;

/** Keeps the list ordered by (event time, ledger index), dropping the oldest past the cap. */
function insert(list: StoredHit[], hit: StoredHit): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    const other = list[mid]!;
    if (other.t < hit.t || (other.t === hit.t && other.i <= hit.i)) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, hit);
  if (list.length > MAX_GROUP_HITS) list.shift();
}

function pruneGroup(list: StoredHit[], horizon: number): void {
  let stale = 0;
  while (stale < list.length && list[stale]!.t < horizon) stale++;
  if (stale > 0) list.splice(0, stale);
}

function sweep(state: CorrelationState, horizon: number, watermark: number): void {
  for (const [key, list] of Object.entries(state.g)) {
    pruneGroup(list, horizon);
    if (list.length === 0) delete state.g[key];
  }
  state.s = watermark; // sweep again once event time has moved on by another span
}

function fire(rule: CorrelationRule, list: StoredHit[], at: number, group: Array<[string, string]>): Hit | undefined {
  if (at < 0) return undefined; // pruned at once: too late to correlate with anything kept
  const span = rule.timespanMicros;
  const newHit = list[at]!;
  let start = 0;
  for (let end = at; end < list.length && list[end]!.t <= newHit.t + span; end++) {
    while (list[start]!.t < list[end]!.t - span) start++;
    // Measured in place: a group holds up to MAX_GROUP_HITS hits, and each event measures its window.
    const count = measure(rule, list, start, end + 1);
    if (count === undefined) continue;
    const window = list.splice(start, end + 1 - start);
    const x = [...new Set(window.flatMap((h) => h.x))].sort((a, b) => a - b);
    return {
      t: Math.max(...window.map((h) => h.t)),
      first: Math.min(...window.map((h) => h.f)),
      x,
      detail: { count, group },
    };
  }
  return undefined;
}

/** The count of the window list[from, to) when it satisfies the rule, else undefined. */
function measure(rule: CorrelationRule, list: StoredHit[], from: number, to: number): number | undefined {
  switch (rule.type) {
    case 'event_count':
      return countSatisfies(rule.condition, to - from) ? to - from : undefined;
    case 'value_count': {
      const values = new Set<string>();
      for (let i = from; i < to; i++) for (const v of list[i]!.v ?? []) values.add(v);
      return countSatisfies(rule.condition, values.size) ? values.size : undefined;
    }
    case 'temporal': {
      const rules = new Set<number>();
      for (let i = from; i < to; i++) rules.add(list[i]!.r);
      return countSatisfies(rule.condition, rules.size) ? rules.size : undefined;
    }
    case 'temporal_ordered': {
      let next = 0;
      for (let i = from; i < to; i++) if (list[i]!.r === next) next++;
      return next === rule.references.length ? next : undefined;
    }
  }
}
