/**
 * The evidence a report gathers from the store, one kind at a time, each read through the search index
 * (stats and one-entry search pages), never by loading the period's events: volume per day, event
 * types, gaps, retention rules, legal holds and who read the audit log. Integrity is in integrity.ts.
 */
import { parseRetentionPolicy, expiryCutoff, holdCovers, type LegalHold, type RetentionRule } from '../core/retention.js';
import { parseQuery } from '../core/query.js';
import { formatMicros } from '../core/time.js';
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import type { Store } from '../store/store.js';
import type { Framework } from './frameworks.js';
import { findGaps, type Gap } from './gaps.js';
import { cite, exact, hourCeil, hourlyCounts, hourOf, periodQuery, type Citation, type ReportScope } from './scope.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

export interface Bucket {
  key: string | null;
  count: number;
}

export interface VolumeEvidence {
  ledger: string;
  total: number;
  /** Events per UTC day that had any. */
  days: Array<{ day: string; count: number }>;
  citation: Citation;
}

export interface EventTypeEvidence {
  ledger: string;
  actions: Bucket[];
  categories: Bucket[];
  outcomes: Bucket[];
  citation: Citation;
}

export interface GapEvidence {
  ledger: string;
  source: { kind: 'ledger' | 'tenant' | 'writer'; id: string };
  cycle: 'week' | 'day' | 'flat' | 'too-sparse';
  active_hours: number;
  gaps: Array<{ from: string; to: string; hours: number; expected_events: number; citation: Citation }>;
}

export interface RetentionEvidence {
  policy_version: number | null;
  minimum_months: number | null;
  basis: string;
  rules: Array<{ id: string; applies_to: string; retain: string; months: number | null; meets_minimum: boolean | null }>;
  /** True when no rule keeps events for less than the minimum; null when the framework sets none. */
  meets_minimum: boolean | null;
}

export interface HoldEvidence {
  id: string;
  ledgers: string[];
  query: string;
  reason: string;
  owner: string;
  created_at: string;
  released_at: string | null;
}

export interface AuditLogAccessEvidence {
  included: boolean;
  note?: string;
  total?: number;
  readers?: Bucket[];
  actions?: Bucket[];
  citation?: Citation;
}

/** Distinct sources per kind whose rhythm is judged; the busiest first. */
const MAX_SOURCES = 50;
const MAX_BUCKETS = 200;

/** Hourly counts, total and per day, of the scope's events in `ledger`. */
export async function ledgerVolume(store: Store, ledger: string, scope: ReportScope): Promise<{ volume: VolumeEvidence; hourly: Map<number, number> }> {
  const query = periodQuery(scope);
  const [hourly, citation] = await Promise.all([hourlyCounts(store, ledger, query, scope), cite(store, ledger, query)]);
  // Summed per day number (hours / 24), in hour order; a day is formatted once, not once per hour.
  const perDay = new Map<number, number>();
  let total = 0;
  for (const hour of [...hourly.keys()].sort((a, b) => a - b)) {
    const count = hourly.get(hour)!;
    const day = Math.floor(hour / 24);
    perDay.set(day, (perDay.get(day) ?? 0) + count);
    total += count;
  }
  const days = [...perDay].map(([day, count]) => ({ day: new Date(day * 86_400_000).toISOString().slice(0, 10), count }));
  return { volume: { ledger, total, days, citation }, hourly };
}

export async function eventTypes(store: Store, ledger: string, scope: ReportScope): Promise<EventTypeEvidence> {
  const query = periodQuery(scope);
  const [actions, categories, outcomes, citation] = await Promise.all([
    store.stats(ledger, query, 'action', MAX_BUCKETS),
    store.stats(ledger, query, 'category', MAX_BUCKETS),
    store.stats(ledger, query, 'outcome', MAX_BUCKETS),
    cite(store, ledger, query),
  ]);
  return { ledger, actions, categories, outcomes, citation };
}

/**
 * Gaps of the ledger as a whole (from the hourly counts already read), of each tenant with events in
 * the period and of each writer key (API keys of the writer role).
 */
export async function ledgerGaps(store: Store, ledger: string, scope: ReportScope, hourly: Map<number, number>): Promise<GapEvidence[]> {
  const fromHour = hourOf(scope.fromMicros);
  const toHour = hourCeil(scope.toMicros);
  const judge = async (kind: GapEvidence['source']['kind'], id: string, counts: Map<number, number>): Promise<GapEvidence> => {
    await yieldToEventLoop();
    const analysis = findGaps(counts, fromHour, toHour);
    const gaps = await Promise.all(analysis.gaps.map((gap) => citeGap(store, ledger, scope, kind, id, gap)));
    return { ledger, source: { kind, id }, cycle: analysis.cycle, active_hours: analysis.activeHours, gaps };
  };
  const results = [await judge('ledger', ledger, hourly)];
  const sourceQuery = (kind: 'tenant' | 'writer', id: string) => periodQuery(scope, exact(kind, [id]));
  for (const tenant of await tenantsIn(store, ledger, scope)) {
    results.push(await judge('tenant', tenant, await hourlyCounts(store, ledger, sourceQuery('tenant', tenant), scope)));
  }
  for (const writer of await writerKeys(store, ledger)) {
    const counts = await hourlyCounts(store, ledger, sourceQuery('writer', writer), scope);
    if (counts.size > 0) results.push(await judge('writer', writer, counts));
  }
  return results;
}

async function tenantsIn(store: Store, ledger: string, scope: ReportScope): Promise<string[]> {
  if (scope.tenant !== undefined) return [];
  const buckets = await store.stats(ledger, periodQuery(scope), 'tenant', MAX_SOURCES);
  return buckets.flatMap((b) => (b.key === null ? [] : [b.key]));
}

async function writerKeys(store: Store, ledger: string): Promise<string[]> {
  const keys = await store.listApiKeys();
  return keys
    .filter((k) => k.role === 'writer' && (k.ledgers.includes('*') || k.ledgers.includes(ledger)))
    .map((k) => k.id)
    .slice(0, MAX_SOURCES);
}

/** A gap's citation: the source's events from an hour before it to an hour after it, which show the silence. */
async function citeGap(store: Store, ledger: string, scope: ReportScope, kind: GapEvidence['source']['kind'], id: string, gap: Gap) {
  const around = { ...scope, fromMicros: gap.fromMicros - 3_600_000_000, toMicros: gap.toMicros + 3_600_000_000 };
  const query = kind === 'ledger' ? periodQuery(around) : periodQuery(around, exact(kind, [id]));
  return { from: formatMicros(gap.fromMicros), to: formatMicros(gap.toMicros), hours: gap.hours, expected_events: gap.expected, citation: await cite(store, ledger, query) };
}

const MONTH_MICROS = (365.25 / 12) * 86_400_000_000;

export async function retentionEvidence(store: Store, framework: Framework, nowMicros: number): Promise<RetentionEvidence> {
  const stored = await store.retentionPolicy();
  const policy = stored ? parseRetentionPolicy(JSON.parse(stored.policy)) : { rules: [] as RetentionRule[] };
  const minimum = framework.retentionMonths;
  const rules = policy.rules.map((rule) => {
    const cutoff = expiryCutoff(rule.retain, nowMicros);
    // Tenths of a month, so that "12m" (a calendar year) and "365d" both count as twelve.
    const months = cutoff === undefined ? null : Math.round(((nowMicros - cutoff) / MONTH_MICROS) * 10) / 10;
    return { id: rule.id, applies_to: ruleSelector(rule), retain: rule.retain, months, meets_minimum: minimum === null ? null : months === null || months >= minimum };
  });
  const meets = minimum === null ? null : rules.every((r) => r.meets_minimum !== false);
  return { policy_version: stored?.version ?? null, minimum_months: minimum, basis: framework.retentionBasis, rules, meets_minimum: meets };
}

function ruleSelector(rule: RetentionRule): string {
  const parts = [rule.ledger && `ledger ${rule.ledger}`, rule.action && `action ${rule.action}`, rule.category && `category ${rule.category}`, rule.tenant && `tenant ${rule.tenant}`];
  const named = parts.filter(Boolean);
  return named.length === 0 ? 'every event' : named.join(', ');
}

/** Holds in force at some time in the period over one of the ledgers (a tenant's report: holds naming it or all). */
export async function legalHoldEvidence(store: Store, scope: ReportScope): Promise<HoldEvidence[]> {
  const holds = await store.legalHolds();
  return holds.filter((hold) => activeDuring(hold, scope) && scope.ledgers.some((l) => holdCovers(hold, l)) && holdConcerns(hold, scope.tenant)).map(holdBody);
}

const activeDuring = (hold: LegalHold, scope: ReportScope) => hold.createdAtMicros < scope.toMicros && (hold.releasedAtMicros === null || hold.releasedAtMicros >= scope.fromMicros);

/**
 * A tenant's report shows the holds that select every event or name its tenant exactly, never another
 * hold: its reason and owner may describe another tenant's case.
 */
function holdConcerns(hold: LegalHold, tenant: string | undefined): boolean {
  if (tenant === undefined || hold.query === '') return true;
  const clauses = parseQuery(hold.query).clauses;
  return clauses.some((c) => c.field === 'tenant' && !c.negate && c.anyOf.some((m) => m.kind === 'exact' && m.value === tenant));
}

function holdBody(hold: LegalHold): HoldEvidence {
  return {
    id: hold.id,
    ledgers: hold.ledgers,
    query: hold.query,
    reason: hold.reason,
    owner: hold.owner,
    created_at: formatMicros(hold.createdAtMicros),
    released_at: hold.releasedAtMicros === null ? null : formatMicros(hold.releasedAtMicros),
  };
}

/** Who read or exported audit data in the period: the server's own access records in the system ledger. */
export async function auditLogAccess(store: Store, scope: ReportScope, allowed: { included: boolean; note?: string }): Promise<AuditLogAccessEvidence> {
  if (!allowed.included) return { included: false, note: allowed.note ?? 'not included' };
  if (!(await store.getLedger(SYSTEM_LEDGER))) return { included: false, note: `${SYSTEM_LEDGER} does not exist yet` };
  const query = periodQuery({ fromMicros: scope.fromMicros, toMicros: scope.toMicros }, exact('category', ['read', 'export']));
  const [readers, actions, citation] = await Promise.all([
    store.stats(SYSTEM_LEDGER, query, 'actor', MAX_BUCKETS),
    store.stats(SYSTEM_LEDGER, query, 'action', MAX_BUCKETS),
    cite(store, SYSTEM_LEDGER, query),
  ]);
  return { included: true, total: actions.reduce((sum, b) => sum + b.count, 0), readers, actions, citation };
}
