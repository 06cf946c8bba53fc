/**
 * A compliance report (docs/REPORTS.md): for one framework and period, the evidence sealtrail holds for
 * each logging and monitoring control, every count citing the query that reproduces it, and what the
 * report does not prove. The document is plain JSON with a stable schema (REPORT_SCHEMA); its digest
 * (digest.ts) foots every rendered page and is sealed in the system ledger (seal.ts).
 */
import { formatMicros } from '../core/time.js';
import type { Store } from '../store/store.js';
import { documentDigest } from './digest.js';
import {
  auditLogAccess,
  eventTypes,
  ledgerGaps,
  ledgerVolume,
  legalHoldEvidence,
  retentionEvidence,
  type AuditLogAccessEvidence,
  type EventTypeEvidence,
  type GapEvidence,
  type HoldEvidence,
  type RetentionEvidence,
  type VolumeEvidence,
} from './evidence.js';
import { framework as frameworkOf, type EvidenceKind, type FrameworkId } from './frameworks.js';
import { verifyPeriod, type IntegrityContext, type IntegrityEvidence } from './integrity.js';
import { alertEvidence, sinkEvidence, type AlertEvidence, type SinkEvidence } from './operations.js';
import type { ReportScope } from './scope.js';

export const REPORT_SCHEMA = 'sealtrail.report/1';

export interface ReportEvidence {
  volume: VolumeEvidence[];
  event_types: EventTypeEvidence[];
  gaps: GapEvidence[];
  integrity: IntegrityEvidence[];
  retention: RetentionEvidence;
  legal_holds: HoldEvidence[];
  audit_log_access: AuditLogAccessEvidence;
  alerts: AlertEvidence;
  sinks: SinkEvidence;
}

export interface ControlFinding {
  id: string;
  title: string;
  paraphrase: string;
  evidence: EvidenceKind[];
  /** One line per evidence kind: what it shows for this period. */
  summary: string[];
}

export interface ReportDocument {
  schema: typeof REPORT_SCHEMA;
  kind: 'compliance-report';
  framework: { id: FrameworkId; name: string };
  deployment: string;
  period: { from: string; to: string };
  scope: { ledgers: string[]; tenant: string | null };
  generated_at: string;
  generated_by: string;
  controls: ControlFinding[];
  evidence: ReportEvidence;
  does_not_prove: string[];
  sha256: string;
}

export interface ReportOptions {
  store: Store;
  framework: FrameworkId;
  scope: ReportScope;
  deployment: string;
  /** Key id of whoever asked. */
  generatedBy: string;
  nowMicros: number;
  integrity: Omit<IntegrityContext, 'store'>;
  /** Whether the requester may see deployment-wide records (system ledger reads, sinks); else why not. */
  deploymentWide: { included: boolean; note?: string };
  /** Called as each part is done (the bench records memory there). */
  onStage?: (stage: string) => void;
}

export async function buildReport(options: ReportOptions): Promise<ReportDocument> {
  const { store, scope } = options;
  const fw = frameworkOf(options.framework);
  const volume: VolumeEvidence[] = [];
  const types: EventTypeEvidence[] = [];
  const gaps: GapEvidence[] = [];
  const integrity: IntegrityEvidence[] = [];
  // Ledger after ledger: each one's reads run together, but a report never loads every ledger at once.
  const stage = options.onStage ?? (() => {});
  for (const ledger of scope.ledgers) {
    const { volume: counted, hourly } = await ledgerVolume(store, ledger, scope);
    volume.push(counted);
    stage(`volume ${ledger}`);
    types.push(await eventTypes(store, ledger, scope));
    stage(`event types ${ledger}`);
    gaps.push(...(await ledgerGaps(store, ledger, scope, hourly)));
    stage(`gaps ${ledger}`);
    integrity.push(await verifyPeriod({ ...options.integrity, store }, counted.citation));
    stage(`integrity ${ledger}`);
  }
  const evidence: ReportEvidence = {
    volume,
    event_types: types,
    gaps,
    integrity,
    retention: await retentionEvidence(store, fw, options.nowMicros),
    legal_holds: await legalHoldEvidence(store, scope),
    audit_log_access: await auditLogAccess(store, scope, options.deploymentWide),
    alerts: await alertEvidence(store, scope),
    sinks: await sinkEvidence(store, scope, options.deploymentWide.included),
  };
  const document: Omit<ReportDocument, 'sha256'> = {
    schema: REPORT_SCHEMA,
    kind: 'compliance-report',
    framework: { id: fw.id, name: fw.name },
    deployment: options.deployment,
    period: { from: formatMicros(scope.fromMicros), to: formatMicros(scope.toMicros) },
    scope: { ledgers: scope.ledgers, tenant: scope.tenant ?? null },
    generated_at: formatMicros(options.nowMicros),
    generated_by: options.generatedBy,
    controls: fw.controls.map((control) => ({ ...control, summary: control.evidence.map((kind) => summarise(kind, evidence, fw.retentionMonths)) })),
    evidence,
    does_not_prove: REPORT_LIMITS,
  };
  return { ...document, sha256: documentDigest(document) };
}

export const REPORT_LIMITS = [
  'That every event that should have been logged was sent: sealtrail proves what it received and sealed, not what applications failed to send (gaps are a statistical hint, not proof of completeness).',
  "That the events' contents are true: fields are the sending application's statements; only received_at and the writer key are sealtrail's own.",
  'That the controls are designed or operated effectively beyond what the events show: policies, reviews and people are outside the log.',
  'Anything outside the period and ledgers named in scope, or about tenants other than the one named.',
  'That the verification keeps holding after the report was made: re-run verification, or keep a checkpoint outside the server and verify against it.',
];

function summarise(kind: EvidenceKind, evidence: ReportEvidence, minimumMonths: number | null): string {
  switch (kind) {
    case 'volume': {
      const total = evidence.volume.reduce((sum, v) => sum + v.total, 0);
      const days = new Set(evidence.volume.flatMap((v) => v.days.map((d) => d.day))).size;
      return `${total} events recorded over ${days} days in ${evidence.volume.length} ledger(s).`;
    }
    case 'event_types': {
      const actions = new Set(evidence.event_types.flatMap((t) => t.actions.map((a) => a.key))).size;
      return `${actions} distinct actions recorded; categories: ${mergeBuckets(evidence.event_types.flatMap((t) => t.categories))}.`;
    }
    case 'gaps': {
      const found = evidence.gaps.filter((g) => g.gaps.length > 0);
      const judged = evidence.gaps.filter((g) => g.cycle !== 'too-sparse').length;
      return found.length === 0
        ? `No logging gaps among ${judged} sources judged against their own rhythm.`
        : `${found.reduce((n, g) => n + g.gaps.length, 0)} gap(s) in ${found.length} of ${judged} sources: ${found.map((g) => `${g.source.kind} ${g.source.id}`).join(', ')}.`;
    }
    case 'integrity': {
      const failed = evidence.integrity.filter((i) => i.result === 'failed');
      const checkpoints = evidence.integrity.reduce((n, i) => n + (i.checkpoints?.count ?? 0), 0);
      if (failed.length > 0) return `VERIFICATION FAILED for ${failed.map((f) => f.ledger).join(', ')}.`;
      const cited = evidence.integrity.filter((i) => i.cited);
      const now = evidence.integrity.reduce((n, i) => n + (i.entries ? i.entries.to - i.entries.from : 0), 0);
      const citing = cited.length === 0
        ? ''
        : `: ${now} entries re-derived now; below the integrity monitor's verified checkpoint (${cited.map((i) => `${i.ledger} size ${i.cited!.verified_size}`).join(', ')}) its verification is cited, not repeated`;
      return `Verified (${evidence.integrity.map((i) => i.mode)[0] ?? 'full'}) across ${checkpoints} signed checkpoints${citing}.`;
    }
    case 'retention':
      return minimumMonths === null
        ? `${evidence.retention.rules.length} retention rule(s) listed; the framework sets no minimum.`
        : evidence.retention.meets_minimum
          ? `Every retention rule keeps events at least ${minimumMonths} months.`
          : `Some retention rules keep events less than ${minimumMonths} months: ${evidence.retention.rules.filter((r) => r.meets_minimum === false).map((r) => r.id).join(', ')}.`;
    case 'legal_holds':
      return `${evidence.legal_holds.length} legal hold(s) in force during the period.`;
    case 'audit_log_access':
      return evidence.audit_log_access.included
        ? `${evidence.audit_log_access.total ?? 0} reads or exports of audit data by ${evidence.audit_log_access.readers?.length ?? 0} key(s), each sealed in the system ledger.`
        : `Audit-log reads not shown: ${evidence.audit_log_access.note}.`;
    case 'alerts':
      return evidence.alerts.configured
        ? `${evidence.alerts.total} alert(s) raised${evidence.alerts.total ? `: ${Object.entries(evidence.alerts.by_status ?? {}).map(([status, n]) => `${n} ${status}`).join(', ')}` : ''}.`
        : `Alerts: ${evidence.alerts.note}.`;
    case 'sinks':
      return evidence.sinks.configured && evidence.sinks.sinks
        ? `${evidence.sinks.sinks.length} sink(s); failing now: ${evidence.sinks.sinks.filter((s) => s.failing).length}.`
        : `Sinks: ${evidence.sinks.note}.`;
  }
}

function mergeBuckets(buckets: Array<{ key: string | null; count: number }>): string {
  const merged = new Map<string, number>();
  for (const b of buckets) merged.set(b.key ?? '(none)', (merged.get(b.key ?? '(none)') ?? 0) + b.count);
  return [...merged].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
}
