/**
 * Evidence from detection and streams: alerts raised and how they were handled, and sink health, read
 * through the store's `detection` and `sinks` parts (src/store/detection-state.ts, sink-state.ts).
 */
import { formatMicros } from '../core/time.js';
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import type { Clause } from '../core/query.js';
import type { StoredAlert } from '../store/detection-state.js';
import type { Store } from '../store/store.js';
import { cite, exact, periodQuery, type Citation, type ReportScope } from './scope.js';

export interface AlertEvidence {
  configured: boolean;
  note?: string;
  total?: number;
  by_status?: Record<string, number>;
  /** Listed alerts (at most MAX_ALERTS), newest first; `truncated` when there were more. */
  alerts?: Array<{ id: string; rule: string; title: string; severity: string; ledger: string; first_seen: string; last_seen: string; status: string; close_reason: string | null; handled_at: string | null; handled_by: string | null; events: Array<{ ledger: string; index: number }> }>;
  truncated?: boolean;
  /** The sealed records of alerts and their status changes (alert.* in the system ledger). */
  citation?: Citation;
}

export interface SinkEvidence {
  configured: boolean;
  note?: string;
  sinks?: Array<{ name: string; type: string; paused: boolean; failing: boolean; lagging: boolean; last_success: string | null; last_error: string | null }>;
  /** Sealed health transitions (sink.failing, sink.lagging, sink.recovered, sink.dead_letter) in the period. */
  transitions?: Array<{ key: string | null; count: number }>;
  citation?: Citation;
}

const MAX_ALERTS = 500;
const PAGE = 200;

/** Alerts whose events fall in the period, in the report's ledgers and tenant. */
export async function alertEvidence(store: Store, scope: ReportScope): Promise<AlertEvidence> {
  const inPeriod: StoredAlert[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await store.detection.listAlerts({ ledgers: scope.ledgers, tenants: scope.tenant === undefined ? ['*'] : [scope.tenant], limit: PAGE, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
    inPeriod.push(...page.filter((a) => a.firstSeenMicros < scope.toMicros && a.lastSeenMicros >= scope.fromMicros));
    const oldest = page.at(-1);
    if (page.length < PAGE || oldest?.seq === undefined || oldest.lastSeenMicros < scope.fromMicros) break;
    beforeSeq = oldest.seq;
  }
  const byStatus: Record<string, number> = {};
  for (const alert of inPeriod) byStatus[alert.status] = (byStatus[alert.status] ?? 0) + 1;
  const citation = await systemCitation(store, scope, { field: 'action', negate: false, anyOf: [{ kind: 'prefix', value: 'alert.' }], position: 0 });
  return {
    configured: true,
    total: inPeriod.length,
    by_status: byStatus,
    alerts: inPeriod.slice(0, MAX_ALERTS).map(alertBody),
    truncated: inPeriod.length > MAX_ALERTS,
    ...(citation ? { citation } : {}),
  };
}

function alertBody(alert: StoredAlert) {
  return {
    id: alert.id,
    rule: alert.rule,
    title: alert.title,
    severity: alert.severity,
    ledger: alert.ledger,
    first_seen: formatMicros(alert.firstSeenMicros),
    last_seen: formatMicros(alert.lastSeenMicros),
    status: alert.status,
    close_reason: alert.closeReason,
    handled_at: alert.changedAtMicros === null ? null : formatMicros(alert.changedAtMicros),
    handled_by: alert.changedBy,
    events: alert.events.slice(0, 20),
  };
}

export async function sinkEvidence(store: Store, scope: ReportScope, includeDeployment: boolean): Promise<SinkEvidence> {
  if (!includeDeployment) return { configured: true, note: "sinks serve the whole deployment: shown only to keys that may read every tenant and the system ledger" };
  const sinks = await store.sinks.listSinks();
  if (sinks.length === 0) return { configured: false, note: 'no sinks defined' };
  const actions = exact('action', ['sink.failing', 'sink.lagging', 'sink.recovered', 'sink.dead_letter']);
  const transitions = (await store.getLedger(SYSTEM_LEDGER)) ? await store.stats(SYSTEM_LEDGER, periodQuery(systemScope(scope), actions), 'action', 10) : [];
  const citation = await systemCitation(store, scope, actions);
  return {
    configured: true,
    sinks: sinks.map((s) => ({
      name: s.name,
      type: s.type,
      paused: s.paused,
      failing: s.failing,
      lagging: s.lagging,
      last_success: s.lastSuccessMicros === null ? null : formatMicros(s.lastSuccessMicros),
      last_error: s.lastErrorMicros === null ? null : formatMicros(s.lastErrorMicros),
    })),
    transitions,
    ...(citation ? { citation } : {}),
  };
}

/** The system ledger has no tenants: its records of the period are cited without the tenant clause. */
const systemScope = (scope: ReportScope) => ({ fromMicros: scope.fromMicros, toMicros: scope.toMicros });

async function systemCitation(store: Store, scope: ReportScope, actions: Clause): Promise<Citation | undefined> {
  if (!(await store.getLedger(SYSTEM_LEDGER))) return undefined;
  return cite(store, SYSTEM_LEDGER, periodQuery(systemScope(scope), actions));
}
