/**
 * Ingest: POST one event (→ one receipt) or a JSON array of events (→ an array of receipts, in order).
 * Validation of every event happens before anything is queued, so a bad event anywhere in a batch
 * stores nothing. Bodies are validated by the core's validateEvent, which names the offending field;
 * the schema on the route serves the OpenAPI document.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AuditEventSchema, validateEvent } from '../../core/event.js';
import { SealtrailError } from '../../core/errors.js';
import type { AppendRequest, Receipt } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { requireLedger, tenantInScope } from '../auth.js';
import { SYSTEM_LEDGER } from '../access-log.js';
import { ApiError } from '../errors.js';
import { eventIdKey } from '../../store/idempotency.js';
import { BODY_ERRORS, keyedErrors, LEDGER_PATTERN, Receipt as ReceiptSchema } from '../schemas.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;
const LEDGER = new RegExp(LEDGER_PATTERN);

export function receiptBody(receipt: Receipt) {
  return {
    ledger: receipt.ledger,
    index: receipt.index,
    leaf_hash: receipt.leafHash,
    received_at: receipt.receivedAt,
    tree_size: receipt.treeSize,
    checkpoint: receipt.checkpoint,
    duplicate: receipt.duplicate,
  };
}

export async function eventRoutes(app: FastifyInstance, { store, maxBatch }: AppContext): Promise<void> {
  app.post<{ Params: { ledger: string }; Body: unknown; Headers: { 'idempotency-key'?: string } }>(
    '/ledgers/:ledger/events',
    {
      schema: {
        summary: 'Append one event or a batch of events.',
        description:
          'A JSON object appends one event and answers with its receipt; a JSON array appends every event in order ' +
          `(at most ${maxBatch}) and answers with an array of receipts. Answers 201, or 200 when every event was a retry. ` +
          'An event `id`, or else the Idempotency-Key header (suffixed with the position for arrays), makes retries safe; ' +
          'keys are scoped to the API key that writes (another key never collides with them) and stored only as keyed hashes.',
        params: Type.Object({ ledger: Type.String() }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ maxLength: 128 })) }),
        body: Type.Union([Type.Ref(AuditEventSchema), Type.Array(Type.Ref(AuditEventSchema))]),
        response: { 201: Type.Union([ReceiptSchema, Type.Array(ReceiptSchema)]), 200: Type.Union([ReceiptSchema, Type.Array(ReceiptSchema)]),
          ...keyedErrors(BODY_ERRORS, 'INVALID_EVENT', 'FORBIDDEN', 'LEDGER_NOT_FOUND', 'IDEMPOTENCY_CONFLICT', 'CORRUPT'),
        },
      },
      // validateEvent does the body (with precise field paths); params and header are checked below.
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const { ledger } = request.params;
      if (!LEDGER.test(ledger)) throw new ApiError(400, 'INVALID_ARGUMENT', 'invalid ledger name');
      requireLedger(request.principal, ledger, 'append');
      if (ledger === SYSTEM_LEDGER) throw new ApiError(403, 'FORBIDDEN', `only the server appends to ${SYSTEM_LEDGER}`);
      const headerKey = request.headers['idempotency-key'];
      if (headerKey !== undefined && !IDEMPOTENCY_KEY.test(headerKey)) {
        throw new ApiError(400, 'INVALID_ARGUMENT', 'Idempotency-Key must be 1–128 printable ASCII characters');
      }
      const body = request.body;
      const events = Array.isArray(body) ? body : [body];
      if (Array.isArray(body) && (body.length === 0 || body.length > maxBatch)) {
        throw new ApiError(400, 'INVALID_ARGUMENT', `a batch holds 1 to ${maxBatch} events; this one has ${body.length}`);
      }
      const requests: AppendRequest[] = events.map((raw, i) => {
        const event = validateAt(raw, Array.isArray(body) ? i : undefined);
        if (!tenantInScope(request.principal, event.tenant)) {
          const path = `${Array.isArray(body) ? `/${i}` : ''}/tenant`;
          throw new ApiError(403, 'FORBIDDEN', `this key may only write events of tenants ${request.principal.tenants.join(', ')}`, { path });
        }
        const key = idempotencyKey(event.id, headerKey, Array.isArray(body) ? i : undefined);
        return { event, writer: request.principal.id, ...(key !== undefined ? { idempotencyKey: key } : {}) };
      });
      const receipts = await store.append(ledger, requests);
      const status = receipts.every((r) => r.duplicate) ? 200 : 201;
      return reply.code(status).send(Array.isArray(body) ? receipts.map(receiptBody) : receiptBody(receipts[0]!));
    },
  );
}

/**
 * The idempotency key of one event: its own `id`, else the request's header key, qualified by the
 * position for arrays. The three forms cannot collide: they differ in their first four characters
 * ("id:", "hdr:", "hdr["), whatever the key that follows. The store keeps only an HMAC of it, scoped by
 * the writer (this request's key id), so another writer's key never claims or reveals it.
 */
function idempotencyKey(eventId: string | undefined, headerKey: string | undefined, position: number | undefined): string | undefined {
  if (eventId !== undefined) return eventIdKey(eventId);
  if (headerKey === undefined) return undefined;
  return position === undefined ? `hdr:${headerKey}` : `hdr[${position}]:${headerKey}`;
}

/** Validates one event, prefixing the field path with its position when it came in an array. */
function validateAt(raw: unknown, position: number | undefined) {
  try {
    return validateEvent(raw);
  } catch (error) {
    if (position === undefined || !(error instanceof SealtrailError)) throw error;
    const path = `/${position}${String(error.details.path ?? '')}`;
    throw new SealtrailError(error.code, `event ${position}: ${error.message}`, { ...error.details, path });
  }
}
