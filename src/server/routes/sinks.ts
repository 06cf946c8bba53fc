/**
 * Sinks: streams of sealed events to SIEMs and files (docs/STREAMS.md). Admin only, for every ledger.
 * Secrets are write-only: accepted here, sealed by the service, never in an answer or a log line.
 *   POST /v1/sinks    GET /v1/sinks    GET /v1/sinks/{name}    DELETE /v1/sinks/{name}
 *   POST /v1/sinks/{name}/pause|resume    POST /v1/sinks/{name}/replay {"ledger","from"}
 *   GET  /v1/sinks/{name}/dead-letters    POST /v1/sinks/{name}/dead-letters/{letter}/replay
 * Changes are sealed in the system ledger by the service (sink.create, sink.pause, …); reads by the
 * access log.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { SinkService } from '../../streams/service.js';
import { SinkDeliveryError, SinkExistsError } from '../../streams/service.js';
import { requireAdmin } from '../auth.js';
import { ApiError } from '../errors.js';
import { BODY_ERRORS, keyedErrors, LEDGER_PATTERN } from '../schemas.js';

const NameParams = Type.Object({ name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) });
const LetterParams = Type.Object({ name: NameParams.properties.name, letter: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }) });

const Cursor = Type.Object({ ledger: Type.String(), next: Type.Integer(), size: Type.Integer(), lag_events: Type.Integer(), lag_seconds: Type.Integer() });
const SinkBody = Type.Object(
  {
    name: Type.String(),
    type: Type.String(),
    ledgers: Type.Array(Type.String()),
    query: Type.String(),
    format: Type.String(),
    start: Type.String(),
    batch_size: Type.Integer(),
    batch_ms: Type.Integer(),
    max_attempts: Type.Integer(),
    lag_alert_events: Type.Integer(),
    lag_alert_seconds: Type.Integer(),
    settings: Type.Object({}, { additionalProperties: true, description: 'Type-specific settings, without secrets.' }),
    secrets: Type.Array(Type.String(), { description: 'Names of the secret settings, which are stored sealed and never returned.' }),
    paused: Type.Boolean(),
    state: Type.Union([Type.Literal('delivering'), Type.Literal('paused'), Type.Literal('failing'), Type.Literal('lagging')]),
    created_at: Type.String(),
    created_by: Type.String(),
    cursors: Type.Array(Cursor),
    lag_events: Type.Integer(),
    lag_seconds: Type.Integer(),
    last_success_at: Type.Union([Type.String(), Type.Null()]),
    last_error_at: Type.Union([Type.String(), Type.Null()]),
    last_error: Type.Union([Type.String(), Type.Null()]),
    dead_letters: Type.Integer(),
  },
  { description: 'A sink: its definition without secrets, its cursor per ledger and its health.' },
);
const DeadLetterBody = Type.Object({
  id: Type.Integer(),
  ledger: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  records: Type.Integer(),
  attempts: Type.Integer(),
  error: Type.String(),
  created_at: Type.String(),
});

const CreateBody = Type.Object(
  {
    name: Type.String({ maxLength: 64 }),
    type: Type.String({ maxLength: 32 }),
    ledgers: Type.Array(Type.String({ pattern: LEDGER_PATTERN }), { minItems: 1, maxItems: 100 }),
    query: Type.Optional(Type.String({ maxLength: 2000 })),
    format: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: true, maxProperties: 40, description: 'Common members and the type-specific ones (docs/STREAMS.md); a webhook takes url and secret.' },
);

function toApi(error: unknown): never {
  if (error instanceof SinkExistsError) throw new ApiError(409, 'SINK_EXISTS', error.message, { sink: error.sink });
  if (error instanceof SinkDeliveryError) throw new ApiError(502, 'DELIVERY_FAILED', error.message, { sink: error.sink });
  throw error;
}

export async function sinkRoutes(app: FastifyInstance, sinks: SinkService): Promise<void> {
  app.post<{ Body: Record<string, unknown> }>(
    '/sinks',
    { schema: { summary: 'Create a sink (admin); delivery starts at once.', body: CreateBody, response: { 201: SinkBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'SINK_EXISTS') } } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const sink = await sinks.create(request.body, request.principal.id).catch(toApi);
      return reply.code(201).send(sink);
    },
  );

  app.get('/sinks', { schema: { summary: 'Sinks with their cursors, lag and health (admin).', response: { 200: Type.Object({ sinks: Type.Array(SinkBody) }), ...keyedErrors('FORBIDDEN') } } }, async (request) => {
    requireAdmin(request.principal);
    const list = await sinks.list();
    request.resultCount = list.length;
    return { sinks: list };
  });

  app.get<{ Params: { name: string } }>(
    '/sinks/:name',
    { schema: { summary: 'One sink (admin).', params: NameParams, response: { 200: SinkBody, ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } } },
    async (request) => {
      requireAdmin(request.principal);
      return sinks.get(request.params.name);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/sinks/:name',
    {
      schema: {
        summary: 'Remove a sink, its cursors and its dead letters (admin).',
        params: NameParams,
        response: { 200: Type.Object({ name: Type.String(), removed: Type.Literal(true) }), ...keyedErrors('FORBIDDEN', 'NOT_FOUND') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      await sinks.remove(request.params.name, request.principal.id);
      return { name: request.params.name, removed: true as const };
    },
  );

  for (const step of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(
      `/sinks/:name/${step}`,
      { schema: { summary: step === 'pause' ? 'Pause a sink (admin): its cursor stays; nothing is lost.' : 'Resume a paused sink (admin).', params: NameParams, response: { 200: SinkBody, ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } } },
      async (request) => {
        requireAdmin(request.principal);
        return step === 'pause' ? sinks.pause(request.params.name, request.principal.id) : sinks.resume(request.params.name, request.principal.id);
      },
    );
  }

  app.post<{ Params: { name: string }; Body: { ledger: string; from: number } }>(
    '/sinks/:name/replay',
    {
      schema: {
        summary: 'Deliver a ledger again from an index on (admin); any index: the ledger is the buffer.',
        params: NameParams,
        body: Type.Object({ ledger: Type.String({ pattern: LEDGER_PATTERN }), from: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) }, { additionalProperties: false }),
        response: { 200: SinkBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'NOT_FOUND') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      return sinks.replay(request.params.name, request.body.ledger, request.body.from, request.principal.id);
    },
  );

  app.get<{ Params: { name: string } }>(
    '/sinks/:name/dead-letters',
    { schema: { summary: "A sink's dead letters, oldest first (admin).", params: NameParams, response: { 200: Type.Object({ dead_letters: Type.Array(DeadLetterBody) }), ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } } },
    async (request) => {
      requireAdmin(request.principal);
      const letters = await sinks.deadLetters(request.params.name);
      request.resultCount = letters.length;
      return { dead_letters: letters };
    },
  );

  app.post<{ Params: { name: string; letter: number } }>(
    '/sinks/:name/dead-letters/:letter/replay',
    {
      schema: {
        summary: 'Deliver a dead letter again, once (admin); it is removed once the receiver acknowledged.',
        params: LetterParams,
        response: { 200: Type.Object({ delivered: Type.Integer() }), ...keyedErrors('FORBIDDEN', 'NOT_FOUND', 'DELIVERY_FAILED') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      return sinks.replayDeadLetter(request.params.name, request.params.letter, request.principal.id).catch(toApi);
    },
  );
}
