/**
 * Sealing a generated report's digest in the system ledger, and finding that record again, so that a
 * report handed over later can be proven unaltered: recompute its digest (digest.ts) and look for the
 * `report.generate` (or `certificate.generate`) record that names it.
 */
import { eventFromDisclosures } from '../core/commitments.js';
import { validateEvent, type AuditEvent } from '../core/event.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from '../core/forgetting.js';
import { formatMicros } from '../core/time.js';
import type { Receipt, SearchHit, Store } from '../store/store.js';
import { exact } from './scope.js';

export const SEAL_ACTIONS = { report: 'report.generate', certificate: 'certificate.generate' } as const;
export type SealKind = keyof typeof SEAL_ACTIONS;

export interface SealRequest {
  kind: SealKind;
  sha256: string;
  /** Framework id, or "access-certificate". */
  subject: string;
  from: string;
  to: string;
  ledgers: string[];
  tenant: string | null;
  actor: string;
  ip?: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export async function sealDigest(store: Store, request: SealRequest): Promise<Receipt> {
  await store.createLedger(SYSTEM_LEDGER);
  const event: AuditEvent = {
    actor: { type: 'api_key', id: request.actor },
    action: SEAL_ACTIONS[request.kind],
    category: 'export',
    targets: request.ledgers.slice(0, 32).map((ledger) => ({ type: 'ledger', id: ledger })),
    ...(request.tenant !== null ? { tenant: request.tenant } : {}),
    ...(request.ip ? { origin: { ip: request.ip } } : {}),
    outcome: 'success',
    metadata: { sha256: request.sha256, subject: request.subject, period_from: request.from, period_to: request.to },
  };
  const [receipt] = await store.append(SYSTEM_LEDGER, [{ event: validateEvent(event), writer: SERVER_WRITER }]);
  return receipt!;
}

export interface SealedRecord {
  ledger: string;
  index: number;
  received_at: string;
  action: string;
  actor: string;
  tenant: string | null;
  metadata: Record<string, unknown>;
}

/**
 * The sealed records naming `sha256`, written by the server itself (a record anyone else wrote proves
 * nothing); `tenants` limits them as a key's scope does (['*']: all).
 */
export async function findSeal(store: Store, sha256: string, tenants: string[]): Promise<SealedRecord[]> {
  if (!SHA256_HEX.test(sha256) || !(await store.getLedger(SYSTEM_LEDGER))) return [];
  const query = {
    clauses: [
      exact('action', Object.values(SEAL_ACTIONS)),
      { ...exact('metadata', [sha256]), key: 'sha256' },
      exact('writer', [SERVER_WRITER]),
    ],
  };
  const page = await store.search(SYSTEM_LEDGER, { query, limit: 10, order: 'asc' });
  return page.entries.map(sealedBody).filter((r) => tenants.includes('*') || (r.tenant !== null && tenants.includes(r.tenant)));
}

function sealedBody(hit: SearchHit): SealedRecord {
  const event = eventFromDisclosures(hit.disclosures) as { action?: unknown; actor?: { id?: unknown }; tenant?: unknown; metadata?: Record<string, unknown> };
  return {
    ledger: hit.ledger,
    index: hit.index,
    received_at: formatMicros(hit.receivedAtMicros),
    action: String(event.action),
    actor: String(event.actor?.id),
    tenant: typeof event.tenant === 'string' ? event.tenant : null,
    metadata: event.metadata ?? {},
  };
}
