/** Ledger administration: create (idempotent, admin) and list/describe (any role, within its scope). */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app.js';
import { inScope, ledgerNotFound, requireAdmin } from '../auth.js';
import { SYSTEM_LEDGER } from '../access-log.js';
import { ApiError } from '../errors.js';
import { keyedErrors, LedgerInfo, LedgerParams } from '../schemas.js';
import type { LedgerInfo as StoredLedger } from '../../store/store.js';
import { formatMicros } from '../../core/time.js';

/** One ledger described: its listing and when its latest checkpoint was signed (the console's ledger health). */
const LedgerDescription = Type.Composite([
  LedgerInfo,
  Type.Object({ checkpoint_at: Type.Union([Type.String(), Type.Null()], { description: 'When the latest checkpoint was signed (RFC 3339); null before the first.' }) }),
]);

const toBody = (ledger: StoredLedger) => ({ name: ledger.name, origin: ledger.origin, created_at: ledger.createdAt, size: ledger.size });

export async function ledgerRoutes(app: FastifyInstance, { store }: AppContext): Promise<void> {
  app.put<{ Params: { ledger: string } }>(
    '/ledgers/:ledger',
    {
      schema: {
        summary: 'Create a ledger (idempotent; admin).',
        params: LedgerParams,
        response: { 200: LedgerInfo, 201: LedgerInfo, ...keyedErrors('FORBIDDEN') },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      if (request.params.ledger === SYSTEM_LEDGER) throw new ApiError(403, 'FORBIDDEN', `${SYSTEM_LEDGER} is reserved for the server's own records`);
      const created = await store.createLedger(request.params.ledger);
      const ledger = (await store.getLedger(request.params.ledger))!;
      return reply.code(created ? 201 : 200).send(toBody(ledger));
    },
  );

  app.get<{ Params: { ledger: string } }>(
    '/ledgers/:ledger',
    { schema: { summary: 'Describe a ledger, with when its latest checkpoint was signed.', params: LedgerParams, response: { 200: LedgerDescription, ...keyedErrors('LEDGER_NOT_FOUND') } } },
    async (request) => {
      const ledger = inScope(request.principal, request.params.ledger) ? await store.getLedger(request.params.ledger) : undefined;
      if (!ledger) throw ledgerNotFound(request.params.ledger);
      const checkpoint = await store.latestCheckpoint(ledger.name);
      return { ...toBody(ledger), checkpoint_at: checkpoint ? formatMicros(checkpoint.createdAtMicros) : null };
    },
  );

  app.get(
    '/ledgers',
    { schema: { summary: 'List the ledgers this key may use.', response: { 200: Type.Object({ ledgers: Type.Array(LedgerInfo) }), ...keyedErrors() } } },
    async (request) => {
      const ledgers = await store.listLedgers();
      const visible = ledgers.filter((l) => inScope(request.principal, l.name)).map(toBody);
      request.resultCount = visible.length;
      return { ledgers: visible };
    },
  );
}
