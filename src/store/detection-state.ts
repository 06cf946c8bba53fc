/**
 * What the detection engine (src/detection/engine.ts) keeps in the store, and the one contract both
 * stores implement (src/store/sqlite/detection.ts, src/store/postgres/detection.ts):
 *   - per ledger, the cursor (entries [0, evaluated) are judged) and each detector's state at it;
 *   - alerts, and the finding keys each one holds (exact deduplication of replays and backfills);
 *   - the outbox of system-ledger records (alert.open, alert.acknowledge, alert.close,
 *     detection.rule.enable/disable …), written in the transaction of the change they describe and
 *     appended to the system ledger afterwards under their idempotency key, so none is lost or doubled;
 *   - rules added through the API, rule enable/disable settings and the HR feed of departures.
 * A judged step (cursor, states, alert changes, finding keys, outbox records) commits in ONE
 * transaction: after a crash the engine resumes from a cursor that matches its states and alerts.
 */
import type { Severity } from '../detection/detector.js';
import type { AlertGroup } from '../detection/grouping.js';

export const ALERT_STATUSES = ['open', 'acknowledged', 'closed'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** An alert as stored: the grouping's view (AlertGroup) plus identity, tenant and workflow. */
export interface StoredAlert extends AlertGroup {
  /** Stable and URL-safe: derived from the group, tenant and the finding that opened it (alertId). */
  id: string;
  /** Order of opening, for paging (newest first); assigned by the store. */
  seq?: number;
  /** Tenant of the events that raised it (the triggering event's `tenant`); null when they name none. */
  tenant: string | null;
  status: AlertStatus;
  closeReason: string | null;
  openedAtMicros: number;
  /** When and by whom the status last changed (acknowledged or closed); null while open. */
  changedAtMicros: number | null;
  changedBy: string | null;
}

/** A record for the system ledger, sealed once through the outbox. */
export interface OutboxRecord {
  /** Idempotency key of the append: the same change always has the same key. */
  key: string;
  /** The AuditEvent as JSON. */
  event: string;
}

export interface DetectionCursor {
  ledger: string;
  evaluated: number;
}

/** One judged step of one ledger, committed atomically. */
export interface DetectionStep {
  ledger: string;
  /**
   * The new cursor and the detectors' states (JSON) at it. Absent for a backfill, which judges history
   * with fresh state and leaves the live cursor where it is.
   */
  cursor?: { evaluated: number; states: Array<{ detector: string; state: string }> };
  /** Alerts opened (inserted) or merged into (their detection fields updated; status never touched). */
  alerts: Array<{ alert: StoredAlert; opened: boolean }>;
  /** Finding keys now held, with the alert holding each. */
  findings: Array<{ key: string; alertId: string }>;
  outbox: OutboxRecord[];
}

export interface AlertFilter {
  status?: AlertStatus;
  severity?: Severity;
  ledger?: string;
  rule?: string;
  /** Alerts about this actor id (of any type, unless `actorType` is given too). */
  actor?: string;
  actorType?: string;
  /** Scope of the key reading: ledger names (['*'] all) and tenants (['*'] all; alerts without a tenant need '*'). */
  ledgers: string[];
  tenants: string[];
  /** Alerts opened before this seq (the previous page's cursor). */
  beforeSeq?: number;
  limit: number;
}

export interface StatusChange {
  /** The statuses the alert may be in for the change to apply. */
  from: readonly AlertStatus[];
  to: AlertStatus;
  closeReason?: string;
  by: string;
  atMicros: number;
}

export interface StoredRule {
  id: string;
  /** The Sigma YAML as given. */
  yaml: string;
  addedAtMicros: number;
  addedBy: string;
}

export interface RuleSetting {
  id: string;
  enabled: boolean;
  changedAtMicros: number;
  changedBy: string;
}

export interface Departure {
  actorId: string;
  endsAtMicros: number;
}

export interface DetectionStateStore {
  /** The ledger's cursor and the detectors' states there; evaluated 0 and no states before the first step. */
  loadCursor(ledger: string): Promise<{ evaluated: number; states: Map<string, string> }>;
  cursors(): Promise<DetectionCursor[]>;
  /** Moves the cursor back (a backfill from an index restarts live judging there); states are dropped. */
  resetCursor(ledger: string, evaluated: number): Promise<void>;
  commitStep(step: DetectionStep): Promise<void>;
  /** Which of these finding keys some alert already holds. */
  knownFindings(keys: string[]): Promise<Set<string>>;
  /** The most recently opened alert of a group (AlertGroup.groupKey) for a tenant. */
  newestAlert(groupKey: string, tenant: string | null): Promise<StoredAlert | undefined>;
  getAlert(id: string): Promise<StoredAlert | undefined>;
  /** Alerts matching the filter, newest opened first. */
  listAlerts(filter: AlertFilter): Promise<StoredAlert[]>;
  /**
   * Applies a status change if the alert is in one of `change.from`, together with its outbox record,
   * in one transaction. Returns the changed alert, undefined when there is no such alert, or the
   * alert unchanged (status not in `from`).
   */
  changeAlertStatus(id: string, change: StatusChange, record: OutboxRecord): Promise<{ alert: StoredAlert; changed: boolean } | undefined>;
  /** Oldest first. */
  pendingOutbox(limit: number): Promise<OutboxRecord[]>;
  removeOutbox(keys: string[]): Promise<void>;

  rules(): Promise<StoredRule[]>;
  /** Adds or replaces a rule (with its outbox record, in one transaction). */
  putRule(rule: StoredRule, record: OutboxRecord): Promise<void>;
  /** Returns false when no such rule was stored. */
  deleteRule(id: string, record: OutboxRecord): Promise<boolean>;
  ruleSettings(): Promise<RuleSetting[]>;
  putRuleSetting(setting: RuleSetting, record: OutboxRecord): Promise<void>;
  departures(): Promise<Departure[]>;
  /** Replaces the whole HR feed. */
  putDepartures(departures: Departure[], record: OutboxRecord): Promise<void>;
}

/** The row shape both stores read alerts from (the store-specific code maps its columns onto it). */
export interface AlertRow {
  id: string;
  seq: number | string;
  group_key: string;
  tenant: string | null;
  rule: string;
  title: string;
  severity: string;
  ledger: string;
  actor_type: string | null;
  actor_id: string | null;
  first_seen: number | string;
  last_seen: number | string;
  count: number | string;
  events: string;
  summary: string;
  finding_keys: string;
  status: string;
  close_reason: string | null;
  opened_at: number | string;
  changed_at: number | string | null;
  changed_by: string | null;
}

/** Group keys hold NUL separators, which PostgreSQL text cannot: both stores keep them as JSON strings. */
export const storedGroupKey = (groupKey: string): string => JSON.stringify(groupKey);

export function alertFromRow(row: AlertRow): StoredAlert {
  return {
    id: row.id,
    seq: Number(row.seq),
    groupKey: JSON.parse(row.group_key) as string,
    tenant: row.tenant,
    rule: row.rule,
    title: row.title,
    severity: row.severity as Severity,
    ledger: row.ledger,
    ...(row.actor_type !== null && row.actor_id !== null ? { actor: { type: row.actor_type, id: row.actor_id } } : {}),
    firstSeenMicros: Number(row.first_seen),
    lastSeenMicros: Number(row.last_seen),
    count: Number(row.count),
    events: JSON.parse(row.events) as StoredAlert['events'],
    summary: row.summary,
    findingKeys: JSON.parse(row.finding_keys) as string[],
    status: row.status as AlertStatus,
    closeReason: row.close_reason,
    openedAtMicros: Number(row.opened_at),
    changedAtMicros: row.changed_at === null ? null : Number(row.changed_at),
    changedBy: row.changed_by,
  };
}

/** The columns an opened alert is inserted with, in the order both stores' INSERT lists them. */
export function alertColumns(alert: StoredAlert): unknown[] {
  return [
    alert.id,
    storedGroupKey(alert.groupKey),
    alert.tenant,
    alert.rule,
    alert.title,
    alert.severity,
    alert.ledger,
    alert.actor?.type ?? null,
    alert.actor?.id ?? null,
    alert.firstSeenMicros,
    alert.lastSeenMicros,
    alert.count,
    JSON.stringify(alert.events),
    alert.summary,
    JSON.stringify(alert.findingKeys),
    alert.status,
    alert.openedAtMicros,
  ];
}

/** What a merge changes, in the order both stores' UPDATE lists them, the id last. */
export function mergedColumns(alert: StoredAlert): unknown[] {
  return [
    alert.severity,
    alert.firstSeenMicros,
    alert.lastSeenMicros,
    alert.count,
    JSON.stringify(alert.events),
    alert.summary,
    JSON.stringify(alert.findingKeys),
    alert.id,
  ];
}

export const ALERT_INSERT_COLUMNS =
  'id, group_key, tenant, rule, title, severity, ledger, actor_type, actor_id, first_seen, last_seen, count, events, summary, finding_keys, status, opened_at';
