/**
 * Retention policy, purge runs, legal holds and erasure (docs/RETENTION.md). Changing anything needs an
 * admin key for every ledger; reading the policy and the holds also suits an auditor with that scope.
 *   GET  /v1/retention/policy              PUT /v1/retention/policy?force=1
 *   POST /v1/retention/run?dry_run=1
 *   GET  /v1/holds   POST /v1/holds   POST /v1/holds/{id}/release
 *   POST /v1/erasures
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { LegalHold } from '../../core/retention.js';
import { formatMicros } from '../../core/time.js';
import type { AppContext } from '../app.js';
import { requireAdmin, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { BODY_ERRORS, keyedErrors } from '../schemas.js';

const Flag = Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')]));

/** An answer documented by description (docs/RETENTION.md) and serialized whole, every member kept. */
const Described = (description: string) => Type.Object({}, { additionalProperties: true, description });
const HoldBody = Described('A legal hold: id, ledgers, query, reason, owner, created_at, created_by, released_at, released_by, release_reason; active holds listed by GET also carry covers: [{ledger, events}].');

/** Auditors review policies and holds; only admins change them. Either way, for every ledger. */
function requireOversight(principal: Principal): void {
  if (principal.role === 'auditor' && principal.ledgers.includes('*') && principal.tenants.includes('*')) return;
  requireAdmin(principal);
}

function holdBody(hold: LegalHold & { covers?: Array<{ ledger: string; events: number }> }) {
  return {
    id: hold.id,
    ledgers: hold.ledgers,
    query: hold.query,
    reason: hold.reason,
    owner: hold.owner,
    created_at: formatMicros(hold.createdAtMicros),
    created_by: hold.createdBy,
    released_at: hold.releasedAtMicros === null ? null : formatMicros(hold.releasedAtMicros),
    released_by: hold.releasedBy,
    release_reason: hold.releaseReason,
    ...(hold.covers ? { covers: hold.covers } : {}),
  };
}

export async function retentionRoutes(app: FastifyInstance, { retention }: AppContext): Promise<void> {
  app.get('/retention/policy', {
    schema: {
      summary: 'The retention policy in force (admin or auditor).',
      response: { 200: Described('The policy: version, rules, erasure, changed_at, changed_by.'), ...keyedErrors('FORBIDDEN') },
    },
  }, async (request) => {
    requireOversight(request.principal);
    const current = await retention.policy();
    return { version: current.version, changed_at: current.changedAt, changed_by: current.changedBy, ...current.policy };
  });

  app.put<{ Querystring: { force?: '0' | '1' } }>(
    '/retention/policy',
    {
      schema: {
        summary: 'Replace the retention policy (admin). Rules under 12 months need force=1.',
        querystring: Type.Object({ force: Flag }),
        body: Type.Object({ rules: Type.Array(Type.Unknown(), { maxItems: 1000 }), erasure: Type.Optional(Type.Unknown()) }, { additionalProperties: true }),
        response: { 200: Described('The stored policy: version, rules, erasure, and warnings.'), ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'RETENTION_TOO_SHORT') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { version, policy, shortRules } = await retention.setPolicy(request.body, request.principal.id, request.query.force === '1');
      return { version, ...policy, warnings: shortRules.map((id) => `rule ${id} keeps events for less than 12 months`) };
    },
  );

  app.post<{ Querystring: { dry_run?: '0' | '1' } }>(
    '/retention/run',
    { schema: { summary: 'Run a purge now (admin); dry_run=1 reports what would go, changing nothing.', querystring: Type.Object({ dry_run: Flag }),
        response: { 200: Described('Per rule and ledger: expired, purged, held, and index ranges.'), ...keyedErrors('FORBIDDEN', 'QUERY_TIMEOUT') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      return retention.purge(request.principal.id, request.query.dry_run === '1');
    },
  );

  app.get('/holds', {
    schema: {
      summary: 'Legal holds, with how many events each active hold covers (admin or auditor).',
      response: { 200: Type.Object({ holds: Type.Array(HoldBody) }), ...keyedErrors('FORBIDDEN') },
    },
  }, async (request) => {
    requireOversight(request.principal);
    const holds = await retention.holds();
    request.resultCount = holds.length;
    return { holds: holds.map(holdBody) };
  });

  app.post(
    '/holds',
    {
      schema: {
        summary: 'Place a legal hold (admin): held events are never purged or erased until it is released.',
        body: Type.Object({
          ledgers: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
          query: Type.Optional(Type.String({ maxLength: 2000 })),
          reason: Type.String({ maxLength: 2000 }),
          owner: Type.String({ maxLength: 200 }),
        }),
        response: { 201: HoldBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'QUERY_TOO_COSTLY') },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      return reply.code(201).send(holdBody(await retention.createHold(request.body, request.principal.id)));
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/holds/:id/release',
    {
      schema: {
        summary: 'Release a legal hold (admin).',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: Type.Object({ reason: Type.String({ maxLength: 2000 }) }),
        response: { 200: HoldBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'NOT_FOUND') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const hold = await retention.releaseHold(request.params.id, request.body.reason, request.principal.id);
      if (!hold) throw new ApiError(404, 'NOT_FOUND', `no legal hold ${JSON.stringify(request.params.id)}`);
      return holdBody(hold);
    },
  );

  app.post<{ Body: { subject: string; reference?: string; dry_run?: boolean } }>(
    '/erasures',
    {
      schema: {
        summary: "Erase a data subject's personal values from every ledger (admin). Held events are left and counted.",
        description:
          'Reads every entry of every ledger (the system ledger too) and removes each field whose value contains the subject. ' +
          'The answer lists, in `notReached` ({kind, where, events?, reason}), what the erasure could not reach: held events, ' +
          'actor.id kept as the pseudonymous key, legal holds and API keys naming the subject, and copies outside the store (docs/RETENTION.md).',
        body: Type.Object({
          subject: Type.String({ maxLength: 320, description: 'Actor id, name, e-mail address or IP address.' }),
          reference: Type.Optional(Type.String({ maxLength: 200, description: 'Your request reference, kept in the audit record.' })),
          dry_run: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Described('Counts and fields per ledger, and notReached: [{kind, where, events?, reason}].'), ...keyedErrors(BODY_ERRORS, 'FORBIDDEN') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { subject, reference, dry_run: dryRun } = request.body;
      return retention.erase({ subject, ...(reference !== undefined ? { reference } : {}), dryRun: dryRun === true }, request.principal.id);
    },
  );
}
