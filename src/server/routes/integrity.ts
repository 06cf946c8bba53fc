/**
 * Readiness and the running server's integrity verification (src/store/integrity.ts).
 *   GET /readyz        unauthenticated: 200 when the store answers and every ledger's head is verified;
 *                      503 naming the ledgers still being verified or found broken. /healthz stays liveness.
 *   GET /v1/integrity  the same per ledger, with the reasons, for an admin or an auditor of every ledger.
 */
import type { FastifyInstance } from 'fastify';
import type { IntegrityStatus } from '../../store/integrity.js';
import type { Store } from '../../store/store.js';
import { requireAdmin, type Principal } from '../auth.js';
import { keyedErrors } from '../schemas.js';

/** What the routes need of the integrity monitor. */
export interface IntegritySource {
  status(): IntegrityStatus;
}

const LedgerStatus = {
  type: 'object',
  required: ['ledger', 'state', 'verifiedSize', 'sweep'],
  properties: {
    ledger: { type: 'string' },
    state: { type: 'string', enum: ['verifying', 'trusted', 'broken'] },
    verifiedSize: { type: 'integer', description: 'Entries verified from the start of the ledger.' },
    sweep: {
      type: 'object',
      properties: { position: { type: 'integer' }, rounds: { type: 'integer' } },
      description: 'The background re-verification of already-verified entries: where it is, and its completed rounds.',
    },
    reason: { type: 'string', description: 'Why the ledger is broken.' },
    brokenAt: { type: 'string' },
  },
} as const;

const ReadinessBody = {
  type: 'object',
  required: ['ok', 'store'],
  properties: {
    ok: { type: 'boolean' },
    store: { type: 'string', enum: ['ok', 'unreachable'] },
    ledgers: {
      type: 'array',
      items: { type: 'object', required: ['ledger', 'state'], properties: { ledger: { type: 'string' }, state: { type: 'string', enum: ['verifying', 'broken'] } } },
    },
  },
} as const;

const IntegrityBody = {
  type: 'object',
  required: ['ok', 'ledgers'],
  properties: { ok: { type: 'boolean' }, monitored: { type: 'boolean' }, ledgers: { type: 'array', items: LedgerStatus } },
} as const;

function oversight(principal: Principal): void {
  if (principal.role === 'auditor' && principal.ledgers.includes('*') && principal.tenants.includes('*')) return;
  requireAdmin(principal);
}

export async function readinessRoute(app: FastifyInstance, store: Store, integrity: IntegritySource | undefined): Promise<void> {
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the store answers and every ledger is verified up to its head (no key).',
        security: [],
        response: {
          200: { ...ReadinessBody, description: 'Ready.' },
          503: { ...ReadinessBody, description: 'Not ready: the store is unreachable, or `ledgers` names those being verified or broken.' },
        },
      },
    },
    async (_request, reply) => {
    try {
      await store.listLedgers();
    } catch {
      return reply.code(503).send({ ok: false, store: 'unreachable' });
    }
    if (!integrity) return { ok: true, store: 'ok' };
    const status = integrity.status();
    const notReady = status.ledgers.filter((l) => l.state !== 'trusted').map((l) => ({ ledger: l.ledger, state: l.state }));
    // Names and states only: reasons can describe stored data, and this route needs no key.
    return reply.code(status.ok ? 200 : 503).send({ ok: status.ok, store: 'ok', ...(notReady.length ? { ledgers: notReady } : {}) });
  });
}

export async function integrityRoutes(v1: FastifyInstance, integrity: IntegritySource | undefined): Promise<void> {
  v1.get(
    '/integrity',
    {
      schema: {
        summary: "The running server's integrity verification of every ledger (admin, or auditor of every ledger)",
        response: { 200: IntegrityBody, ...keyedErrors('FORBIDDEN') },
      },
    },
    async (request) => {
      oversight(request.principal);
      if (!integrity) return { ok: true, monitored: false, ledgers: [] };
      return { ...integrity.status(), monitored: true };
    },
  );
}
