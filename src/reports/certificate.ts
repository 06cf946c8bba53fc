/**
 * A client access certificate (docs/REPORTS.md, "Access certificates"): "who accessed your data" for
 * one tenant and period. An access is an event recorded with `tenant` = T whose category is read,
 * export, create, update or delete (the application's own record of a read or change of T's records),
 * plus the reads of the audit log made with API keys scoped to T (from the system ledger). Each ledger's
 * accesses are referenced to a signed checkpoint, and the evidence bundle of the same selection
 * (core/bundle, checked offline by `sealtrail verify-bundle --expect-count`) proves them.
 */
import { eventFromDisclosures } from '../core/commitments.js';
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import { formatMicros } from '../core/time.js';
import type { SearchHit, Store } from '../store/store.js';
import { documentDigest } from './digest.js';
import { checkpointAfter, reference, type CheckpointReference } from './integrity.js';
import { cite, exact, periodQuery, type Citation, type ReportScope } from './scope.js';

export const CERTIFICATE_SCHEMA = 'sealtrail.certificate/1';
export const ACCESS_CATEGORIES = ['read', 'export', 'create', 'update', 'delete'] as const;
/** Access rows listed in the document; counts always cover every access. */
export const MAX_LISTED_ACCESSES = 5000;

export interface AccessRow {
  ledger: string;
  index: number;
  received_at: string;
  occurred_at: string | null;
  actor: string;
  action: string;
  category: string;
  resource: string;
  origin: string;
  outcome: string;
}

export interface CertificateLedger {
  ledger: string;
  accesses: number;
  by_category: Array<{ key: string | null; count: number }>;
  by_actor: Array<{ key: string | null; count: number }>;
  /** The selection the bundle holds: search query of exactly these accesses. */
  citation: Citation;
  /** The signed checkpoint the accesses are proven against (the head when the certificate was made). */
  checkpoint: CheckpointReference | null;
  /** The first signed checkpoint that holds the first access of the period. */
  first_covering_checkpoint: CheckpointReference | null;
}

export interface CertificateDocument {
  schema: typeof CERTIFICATE_SCHEMA;
  kind: 'access-certificate';
  deployment: string;
  tenant: string;
  period: { from: string; to: string };
  generated_at: string;
  generated_by: string;
  definition: string;
  ledgers: CertificateLedger[];
  accesses_total: number;
  accesses: AccessRow[];
  truncated: boolean;
  audit_log_reads: { keys: string[]; total: number; by_action: Array<{ key: string | null; count: number }>; citation: Citation | null };
  proves: string[];
  does_not_prove: string[];
  sha256: string;
}

export const ACCESS_DEFINITION =
  `An access is an event sealed with tenant = the certificate's tenant and category ${ACCESS_CATEGORIES.join(', ')} ` +
  '(a read or change of its records as the application recorded it), received in the period; and a read or export of ' +
  "the audit log by an API key scoped to that tenant, from the server's own access records in the system ledger.";

export interface CertificateOptions {
  store: Store;
  scope: ReportScope & { tenant: string };
  deployment: string;
  generatedBy: string;
  nowMicros: number;
}

export async function buildCertificate(options: CertificateOptions): Promise<CertificateDocument> {
  const { store, scope } = options;
  const ledgers: CertificateLedger[] = [];
  const accesses: AccessRow[] = [];
  for (const ledger of scope.ledgers.filter((l) => l !== SYSTEM_LEDGER)) {
    const summary = await ledgerAccesses(store, ledger, scope);
    ledgers.push(summary);
    if (accesses.length < MAX_LISTED_ACCESSES) accesses.push(...(await listAccesses(store, ledger, scope, MAX_LISTED_ACCESSES - accesses.length, summary.checkpoint?.size ?? 0)));
  }
  const total = ledgers.reduce((n, l) => n + l.accesses, 0);
  const document: Omit<CertificateDocument, 'sha256'> = {
    schema: CERTIFICATE_SCHEMA,
    kind: 'access-certificate',
    deployment: options.deployment,
    tenant: scope.tenant,
    period: { from: formatMicros(scope.fromMicros), to: formatMicros(scope.toMicros) },
    generated_at: formatMicros(options.nowMicros),
    generated_by: options.generatedBy,
    definition: ACCESS_DEFINITION,
    ledgers,
    accesses_total: total,
    accesses,
    truncated: accesses.length < total,
    audit_log_reads: await auditLogReads(store, scope),
    proves: CERTIFICATE_PROVES,
    does_not_prove: CERTIFICATE_LIMITS,
  };
  return { ...document, sha256: documentDigest(document) };
}

const CERTIFICATE_PROVES = [
  "Each listed access was sealed by this deployment at its received_at, and is in the signed checkpoint named for its ledger (the bundle's inclusion proofs show it offline).",
  'The counts are those of the cited queries over the ledgers as sealed; the bundle of each ledger holds exactly that many events (verify-bundle --expect-count).',
  'This document is unaltered if its SHA-256 matches the certificate.generate record sealed in the system ledger.',
];

const CERTIFICATE_LIMITS = [
  'That the application recorded every access to your data: accesses it did not send to sealtrail cannot appear.',
  'Reads of the audit log by keys that may read every tenant: their access records do not say whose events a search returned, so they are not counted here.',
  'That the recorded actor really was who the application says: actor and origin are the application\'s statements.',
  'Anything after the named checkpoint or outside the period and ledgers listed.',
];

async function ledgerAccesses(store: Store, ledger: string, scope: CertificateOptions['scope']): Promise<CertificateLedger> {
  const query = accessQuery(scope);
  const [byCategory, byActor, citation, head] = await Promise.all([
    store.stats(ledger, query, 'category', 20),
    store.stats(ledger, query, 'actor', 100),
    cite(store, ledger, query),
    store.latestCheckpoint(ledger),
  ]);
  const first = citation.indexes ? await checkpointAfter(store, ledger, citation.indexes[0]) : undefined;
  return {
    ledger,
    accesses: byCategory.reduce((n, b) => n + b.count, 0),
    by_category: byCategory,
    by_actor: byActor,
    citation,
    checkpoint: head ? reference(head) : null,
    first_covering_checkpoint: first ? reference(first) : null,
  };
}

export const accessQuery = (scope: CertificateOptions['scope']) => periodQuery(scope, exact('category', ACCESS_CATEGORIES));

/** Accesses in index order, a page at a time, within the checkpoint the certificate names. */
async function listAccesses(store: Store, ledger: string, scope: CertificateOptions['scope'], max: number, size: number): Promise<AccessRow[]> {
  const rows: AccessRow[] = [];
  let after: number | undefined;
  while (rows.length < max) {
    const page = await store.search(ledger, { query: accessQuery(scope), limit: Math.min(1000, max - rows.length), order: 'asc', ...(after !== undefined ? { after } : {}) });
    rows.push(...page.entries.filter((e) => e.index < size).map(accessRow));
    if (page.next === null || page.entries.some((e) => e.index >= size)) break;
    after = page.next;
  }
  return rows;
}

function accessRow(hit: SearchHit): AccessRow {
  const e = eventFromDisclosures(hit.disclosures) as {
    actor?: { type?: string; id?: string };
    action?: string;
    category?: string;
    targets?: Array<{ type?: string; id?: string; name?: string }>;
    origin?: { ip?: string };
    outcome?: string;
    occurred_at?: string;
  };
  const country = hit.location?.country;
  return {
    ledger: hit.ledger,
    index: hit.index,
    received_at: formatMicros(hit.receivedAtMicros),
    occurred_at: e.occurred_at ?? null,
    actor: e.actor ? `${e.actor.type ?? '?'}:${e.actor.id ?? '(erased)'}` : '(erased)',
    action: e.action ?? '',
    category: e.category ?? '',
    resource: (e.targets ?? []).map((t) => `${t.type}:${t.id}`).join(', '),
    origin: [e.origin?.ip ?? '', country ? `(${country})` : ''].filter(Boolean).join(' '),
    outcome: e.outcome ?? '',
  };
}

/** Reads and exports of audit data by API keys whose tenant scope includes the tenant (and is not '*'). */
async function auditLogReads(store: Store, scope: CertificateOptions['scope']): Promise<CertificateDocument['audit_log_reads']> {
  const keys = (await store.listApiKeys()).filter((k) => !k.tenants.includes('*') && k.tenants.includes(scope.tenant)).map((k) => k.id);
  if (keys.length === 0 || !(await store.getLedger(SYSTEM_LEDGER))) return { keys, total: 0, by_action: [], citation: null };
  const query = periodQuery({ fromMicros: scope.fromMicros, toMicros: scope.toMicros }, exact('actor.id', keys), exact('category', ['read', 'export']));
  const [byAction, citation] = await Promise.all([store.stats(SYSTEM_LEDGER, query, 'action', 100), cite(store, SYSTEM_LEDGER, query)]);
  return { keys, total: byAction.reduce((n, b) => n + b.count, 0), by_action: byAction, citation };
}
