/**
 * The controls each compliance framework names about logging and monitoring, each with our own one-line
 * paraphrase (never the standard's text), the kinds of evidence sealtrail holds for it, and the least
 * retention the framework asks of audit logs. docs/REPORTS.md explains each choice.
 */

export const FRAMEWORK_IDS = ['soc2', 'iso27001', 'pci-dss', 'hipaa', 'gdpr'] as const;
export type FrameworkId = (typeof FRAMEWORK_IDS)[number];

export const EVIDENCE_KINDS = ['volume', 'event_types', 'gaps', 'integrity', 'retention', 'legal_holds', 'audit_log_access', 'alerts', 'sinks'] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

export interface Control {
  id: string;
  title: string;
  /** What the control asks, in our words. */
  paraphrase: string;
  evidence: EvidenceKind[];
}

export interface Framework {
  id: FrameworkId;
  name: string;
  controls: Control[];
  /** Least months of audit-log history the report checks the retention rules against; null: none set. */
  retentionMonths: number | null;
  /** Why that figure. */
  retentionBasis: string;
}

const ACTIVITY: EvidenceKind[] = ['volume', 'event_types', 'gaps'];
const MONITORING: EvidenceKind[] = ['gaps', 'alerts', 'sinks'];
const PROTECTION: EvidenceKind[] = ['integrity', 'audit_log_access'];

const FRAMEWORKS: Record<FrameworkId, Framework> = {
  soc2: {
    id: 'soc2',
    name: 'SOC 2 (AICPA Trust Services Criteria 2017, common criteria)',
    retentionMonths: 12,
    retentionBasis: 'SOC 2 sets no period; a Type II examination covers up to 12 months, so evidence for the whole period must still exist.',
    controls: [
      { id: 'CC6.1', title: 'Logical access security', paraphrase: 'Access to protected information is restricted by logical access controls, and who used them is known.', evidence: ['event_types', 'audit_log_access', 'integrity'] },
      { id: 'CC7.2', title: 'Monitoring for anomalies', paraphrase: 'System components and their operation are watched for anomalies, which are analysed as possible security events.', evidence: [...ACTIVITY, 'alerts', 'sinks'] },
      { id: 'CC7.3', title: 'Evaluation of security events', paraphrase: 'Security events are evaluated to decide whether they are incidents, and acted on when they are.', evidence: ['alerts', 'legal_holds', 'integrity'] },
    ],
  },
  iso27001: {
    id: 'iso27001',
    name: 'ISO/IEC 27001:2022 Annex A',
    retentionMonths: 12,
    retentionBasis: 'ISO 27001 leaves the period to the organisation; 12 months is the common choice and covers one surveillance-audit cycle.',
    controls: [
      { id: 'A.8.15', title: 'Logging', paraphrase: 'Logs of activities, exceptions and faults are produced, kept, protected from change and analysed.', evidence: [...ACTIVITY, ...PROTECTION, 'retention'] },
      { id: 'A.8.16', title: 'Monitoring activities', paraphrase: 'Systems are monitored for anomalous behaviour and appropriate action is taken on what is found.', evidence: MONITORING },
      { id: 'A.5.28', title: 'Collection of evidence', paraphrase: 'Evidence about security events is identified, collected and preserved so it holds up later.', evidence: ['integrity', 'legal_holds', 'retention'] },
    ],
  },
  'pci-dss': {
    id: 'pci-dss',
    name: 'PCI DSS v4.0.1, Requirement 10',
    retentionMonths: 12,
    retentionBasis: '10.5.1: at least 12 months of history, the latest three immediately available; sealtrail keeps everything it retains online, so the 12-month figure is the one checked.',
    controls: [
      { id: '10.2', title: 'Audit logs record activity', paraphrase: 'Logs capture user access, administrative actions, log access and failed access, with who, what, when, where and outcome.', evidence: ['volume', 'event_types', 'audit_log_access'] },
      { id: '10.3', title: 'Audit logs are protected', paraphrase: 'Logs are protected from change and destruction and read access to them is limited and recorded.', evidence: PROTECTION },
      { id: '10.4', title: 'Audit logs are reviewed', paraphrase: 'Logs are reviewed, with automated help, to find anomalies, and exceptions are followed up.', evidence: ['alerts', 'gaps'] },
      { id: '10.5', title: 'Audit log history is retained', paraphrase: 'Log history is kept for at least a year, with recent months immediately at hand.', evidence: ['retention', 'legal_holds'] },
      { id: '10.6', title: 'Time is synchronised', paraphrase: 'Systems share a correct time source so that log times can be trusted and compared.', evidence: ['integrity'] },
      { id: '10.7', title: 'Failures of security controls are detected', paraphrase: 'Failures of critical security controls, logging included, are detected, reported and answered promptly.', evidence: ['gaps', 'sinks', 'integrity'] },
    ],
  },
  hipaa: {
    id: 'hipaa',
    name: 'HIPAA Security Rule (45 CFR Part 164)',
    retentionMonths: 72,
    retentionBasis: '164.312(b) sets no period; 164.316(b)(2)(i) keeps required documentation six years, which many covered entities apply to audit logs, so six years is checked.',
    controls: [
      { id: '164.312(b)', title: 'Audit controls', paraphrase: 'Mechanisms record and let someone examine activity in systems that hold electronic protected health information.', evidence: [...ACTIVITY, 'integrity', 'audit_log_access', 'retention', 'alerts'] },
    ],
  },
  gdpr: {
    id: 'gdpr',
    name: 'GDPR (Regulation (EU) 2016/679)',
    retentionMonths: null,
    retentionBasis: 'GDPR sets no minimum; storage limitation (Art. 5(1)(e)) argues for the shortest period that serves the purpose, so rules are listed, not judged.',
    controls: [
      { id: 'Art. 30', title: 'Records of processing activities', paraphrase: 'The controller keeps a record of its processing, including erasure time limits and security measures.', evidence: ['event_types', 'retention', 'legal_holds'] },
      { id: 'Art. 5(2)', title: 'Accountability', paraphrase: 'The controller is responsible for the processing principles and must be able to show it complies.', evidence: ['integrity', 'audit_log_access', 'retention'] },
    ],
  },
};

export function isFrameworkId(value: string): value is FrameworkId {
  return (FRAMEWORK_IDS as readonly string[]).includes(value);
}

export function framework(id: FrameworkId): Framework {
  return FRAMEWORKS[id];
}
