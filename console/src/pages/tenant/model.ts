/**
 * The access certificate as the API answers it (GET /v1/certificates/{tenant}, schema
 * `sealtrail.certificate/1`, docs/REPORTS.md "Access certificates"), as far as the page reads it, and
 * the evidence bundle of one ledger's accesses: fetched through the bundle API with the certificate's
 * own selection and checkpoint, and verified in the browser before it is offered for saving (as
 * `sealtrail certificate --bundle` verifies before it keeps a bundle).
 */
import { api, apiBlob, apiText } from '../../api.js';

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

export interface CheckpointReference {
  size: number;
  root: string;
  note: string;
}

export interface CertificateLedger {
  ledger: string;
  accesses: number;
  by_category: Array<{ key: string | null; count: number }>;
  by_actor: Array<{ key: string | null; count: number }>;
  citation: { ledger: string; query: string; indexes?: [number, number] };
  checkpoint: CheckpointReference | null;
  first_covering_checkpoint: CheckpointReference | null;
}

export interface Certificate {
  schema: string;
  tenant: string;
  deployment: string;
  period: { from: string; to: string };
  generated_at: string;
  generated_by: string;
  definition: string;
  ledgers: CertificateLedger[];
  accesses_total: number;
  accesses: AccessRow[];
  truncated: boolean;
  audit_log_reads: { keys: string[]; total: number; by_action: Array<{ key: string | null; count: number }> };
  proves: string[];
  does_not_prove: string[];
  sha256: string;
}

export interface LoadedCertificate {
  certificate: Certificate;
  /** The JSON exactly as the server sent it: the bytes whose SHA-256 was sealed. */
  text: string;
}

export async function loadCertificate(tenant: string, from: string, to: string, signal: AbortSignal): Promise<LoadedCertificate> {
  const text = await apiText(`/certificates/${encodeURIComponent(tenant)}`, { query: { from, to, format: 'json' }, signal });
  return { certificate: JSON.parse(text) as Certificate, text };
}

export async function certificateFile(tenant: string, from: string, to: string, format: 'html' | 'pdf') {
  return apiBlob(`/certificates/${encodeURIComponent(tenant)}`, { query: { from, to, format } });
}

/** Tenants an all-tenant key can choose from: those with events in the ledgers it may read (best effort). */
export async function knownTenants(signal: AbortSignal): Promise<string[]> {
  const { ledgers } = await api<{ ledgers: Array<{ name: string }> }>('/ledgers', { signal });
  const names = new Set<string>();
  await Promise.all(
    ledgers
      .filter((l) => l.name !== 'sealtrail-system')
      .slice(0, 20)
      .map(async (l) => {
        const { buckets } = await api<{ buckets: Array<{ key: string | null }> }>(`/ledgers/${encodeURIComponent(l.name)}/stats`, { query: { by: 'tenant', limit: 200 }, signal }).catch(() => ({ buckets: [] }));
        for (const b of buckets) if (b.key) names.add(b.key);
      }),
  );
  return [...names].sort();
}

export type BundleOutcome =
  | { ok: true; filename: string; verifiedEvents: number; checkpointSize: number; verifierKey: string; bytes: number }
  | { ok: false; problems: string[]; verifierKey: string };

/**
 * One ledger's bundle: its accesses (the citation's query) proven against the certificate's checkpoint,
 * verified here against the deployment's verifier key and required to hold exactly the counted
 * accesses; saved only when it verifies.
 */
export async function fetchVerifiedBundle(certificate: Certificate, ledger: CertificateLedger): Promise<{ outcome: BundleOutcome; blob?: Blob }> {
  const { blob, filename } = await apiBlob(`/ledgers/${encodeURIComponent(ledger.ledger)}/bundle`, {
    method: 'POST',
    body: { q: ledger.citation.query, ...(ledger.checkpoint ? { size: ledger.checkpoint.size } : {}) },
  });
  const verifierKey = (await apiText('/verifier-key')).trim();
  const { verifyBundle } = await import('../../../../src/core/bundle/verify.js');
  const report = verifyBundle({ files: new Uint8Array(await blob.arrayBuffer()), verifierKey, expect: { count: ledger.accesses } });
  if (!report.ok) return { outcome: { ok: false, problems: report.problems.map((p) => `${p.kind}: ${p.message}`), verifierKey } };
  return {
    outcome: {
      ok: true,
      filename: filename ?? `sealtrail-${certificate.tenant}-${ledger.ledger}.zip`,
      verifiedEvents: report.verifiedEvents,
      checkpointSize: report.checkpoint?.size ?? ledger.checkpoint?.size ?? 0,
      verifierKey,
      bytes: blob.size,
    },
    blob,
  };
}
