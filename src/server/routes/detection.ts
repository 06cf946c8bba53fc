/**
 * Detection's state and administration (docs/DETECTION.md "Operating it"):
 *   GET    /v1/detection                          rules and per-ledger {ledger, size, evaluated}
 *   POST   /v1/detection/rules {"yaml"}           add (or replace) a Sigma rule file (admin)
 *   DELETE /v1/detection/rules/{id}               remove a rule added through the API (admin)
 *   POST   /v1/detection/rules/{id}/enable|disable                                    (admin)
 *   GET|PUT /v1/detection/departures              the HR feed of end dates (admin; GET also auditor)
 *   POST   /v1/detection/backfills {"ledger","from"}   GET /v1/detection/backfills/{id}   (admin)
 * Every change is sealed in the system ledger (detection.rule.*, detection.departures.replace,
 * detection.backfill) before the answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SEVERITIES } from '../../detection/detector.js';
import { departureMicros, RuleRefusedError, type BackfillJob, type DetectionService, type RuleInfo } from '../../detection/service.js';
import { formatMicros } from '../../core/time.js';
import { can, inScope, ledgerNotFound, requireAdmin, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { BODY_ERRORS, IndexParam, keyedErrors, LEDGER_PATTERN } from '../schemas.js';

const RuleBody = Type.Object({
  id: Type.String(),
  title: Type.String(),
  enabled: Type.Boolean(),
  severity: Type.Union(SEVERITIES.map((s) => Type.Literal(s))),
  technique: Type.Union([Type.String(), Type.Null()], { description: 'MITRE ATT&CK technique id.' }),
  description: Type.String(),
  source: Type.Union(['builtin', 'behaviour', 'folder', 'api'].map((s) => Type.Literal(s))),
  file: Type.Union([Type.String(), Type.Null()]),
  learning_period_seconds: Type.Integer(),
  overrides: Type.Union([Type.String(), Type.Null()], { description: 'Source of a rule of the same id this one replaces.' }),
});

function ruleBody(rule: RuleInfo) {
  return {
    id: rule.id,
    title: rule.title,
    enabled: rule.enabled,
    severity: rule.severity,
    technique: rule.technique ?? null,
    description: rule.description,
    source: rule.source,
    file: rule.file ?? null,
    learning_period_seconds: Math.round(rule.learningMicros / 1_000_000),
    overrides: rule.overrides ?? null,
  };
}

const BackfillBody = Type.Object({
  id: Type.String(),
  ledger: Type.String(),
  from: Type.Integer(),
  to: Type.Integer({ description: 'The ledger size when the backfill started: it judges [from, to).' }),
  judged: Type.Integer(),
  alerts_opened: Type.Integer(),
  state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  error: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.String(),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});

const backfillBody = (job: BackfillJob) => ({
  id: job.id,
  ledger: job.ledger,
  from: job.from,
  to: job.to,
  judged: job.judged,
  alerts_opened: job.opened,
  state: job.state,
  error: job.error ?? null,
  started_at: job.startedAt,
  finished_at: job.finishedAt ?? null,
});

const RuleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f/]+$' }) });
const MAX_DEPARTURES = 100_000;

/** Auditors review detection's inputs; only admins change them. Either way, for every ledger. */
function requireOversight(principal: Principal): void {
  if (principal.role === 'auditor' && principal.ledgers.includes('*') && principal.tenants.includes('*')) return;
  requireAdmin(principal);
}

export async function detectionRoutes(app: FastifyInstance, detection: DetectionService): Promise<void> {
  app.metrics?.addGauge('sealtrail_detection_lag_events', 'Sealed events of a ledger the detection engine of this process has not judged yet.', ['ledger'], () =>
    detection.lag().map(({ ledger, size, evaluated }) => ({ labels: { ledger }, value: Math.max(0, size - evaluated) })),
  );

  app.get(
    '/detection',
    {
      schema: {
        summary: 'Rules and, per ledger in scope, how far detection has judged it (reader, auditor, admin).',
        response: {
          200: Type.Object({
            rules: Type.Array(RuleBody),
            ledgers: Type.Array(Type.Object({ ledger: Type.String(), size: Type.Integer(), evaluated: Type.Integer({ description: 'Tree size fully judged; wait for it to reach size.' }) })),
          }),
          ...keyedErrors('FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const { principal } = request;
      if (!can(principal, 'read')) throw new ApiError(403, 'FORBIDDEN', `the ${principal.role} role cannot read detection`);
      const ledgers = (await detection.ledgers()).filter((l) => inScope(principal, l.ledger));
      return { rules: detection.rules().map(ruleBody), ledgers };
    },
  );

  app.post<{ Body: { yaml: string } }>(
    '/detection/rules',
    {
      schema: {
        summary: 'Add or replace a Sigma rule file (admin); stored under the id of its first rule. Refused whole, naming line and feature, if any rule does not compile.',
        body: Type.Object({ yaml: Type.String({ minLength: 1, maxLength: 256 * 1024 }) }, { additionalProperties: false }),
        response: { 201: Type.Object({ rules: Type.Array(RuleBody) }), ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'INVALID_RULE') },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      try {
        const rules = await detection.addRule(request.body.yaml, request.principal.id);
        return reply.code(201).send({ rules: rules.map(ruleBody) });
      } catch (error) {
        if (error instanceof RuleRefusedError) throw new ApiError(400, 'INVALID_RULE', error.message, error.line !== undefined ? { line: error.line } : {});
        throw error;
      }
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/detection/rules/:id',
    {
      schema: { summary: 'Remove a rule file added through the API (admin).', params: RuleParams, response: { 200: Type.Object({ removed: Type.String() }), ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } },
    },
    async (request) => {
      requireAdmin(request.principal);
      if (!(await detection.deleteRule(request.params.id, request.principal.id))) throw new ApiError(404, 'NOT_FOUND', `no rule ${JSON.stringify(request.params.id)} was added through the API`);
      return { removed: request.params.id };
    },
  );

  for (const [action, enabled] of [['enable', true], ['disable', false]] as const) {
    app.post<{ Params: { id: string } }>(
      `/detection/rules/:id/${action}`,
      {
        schema: { summary: `${enabled ? 'Enable' : 'Disable'} a rule (admin); sealed as detection.rule.${action}.`, params: RuleParams, response: { 200: RuleBody, ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } },
      },
      async (request) => {
        requireAdmin(request.principal);
        const rule = await detection.setEnabled(request.params.id, enabled, request.principal.id);
        if (!rule) throw new ApiError(404, 'NOT_FOUND', `no rule ${JSON.stringify(request.params.id)}`);
        return ruleBody(rule);
      },
    );
  }

  const DepartureList = Type.Object({
    departures: Type.Array(
      Type.Object({ actor_id: Type.String({ minLength: 1, maxLength: 256 }), ends_at: Type.String({ maxLength: 40, description: 'Last day (YYYY-MM-DD, to its end in UTC) or an RFC 3339 time.' }) }, { additionalProperties: false }),
      { maxItems: MAX_DEPARTURES },
    ),
  });

  app.get('/detection/departures', { schema: { summary: 'The HR feed of end dates (admin or auditor).', response: { 200: DepartureList, ...keyedErrors('FORBIDDEN') } } }, async (request) => {
    requireOversight(request.principal);
    const departures = await detection.departures();
    request.resultCount = departures.length;
    return { departures: departures.map((d) => ({ actor_id: d.actorId, ends_at: formatMicros(d.endsAtMicros) })) };
  });

  app.put<{ Body: { departures: Array<{ actor_id: string; ends_at: string }> } }>(
    '/detection/departures',
    {
      schema: {
        summary: 'Replace the HR feed of end dates (admin): detectors of departing users read it.',
        body: Type.Object({ departures: DepartureList.properties.departures }, { additionalProperties: false }),
        response: { 200: Type.Object({ departures: Type.Integer() }), ...keyedErrors(BODY_ERRORS, 'FORBIDDEN') },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const byActor = new Map<string, number>();
      request.body.departures.forEach((d, i) => {
        const micros = departureMicros(d.ends_at);
        if (micros === undefined) throw new ApiError(400, 'INVALID_ARGUMENT', `departures[${i}].ends_at is neither a date nor an RFC 3339 time`, { position: i });
        byActor.set(d.actor_id, micros);
      });
      const departures = [...byActor].map(([actorId, endsAtMicros]) => ({ actorId, endsAtMicros }));
      await detection.putDepartures(departures, request.principal.id);
      return { departures: departures.length };
    },
  );

  app.post<{ Body: { ledger: string; from?: number } }>(
    '/detection/backfills',
    {
      schema: {
        summary: 'Judge a ledger again from an index with fresh detector state (admin); findings already in alerts are not raised again.',
        body: Type.Object({ ledger: Type.String({ pattern: LEDGER_PATTERN }), from: Type.Optional(IndexParam) }, { additionalProperties: false }),
        response: { 202: BackfillBody, ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'LEDGER_NOT_FOUND') },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const job = await detection.startBackfill(request.body.ledger, request.body.from ?? 0, request.principal.id);
      if (!job) throw ledgerNotFound(request.body.ledger);
      return reply.code(202).send(backfillBody(job));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/detection/backfills/:id',
    {
      schema: { summary: "A backfill's progress (admin; kept by the process that runs it).", params: Type.Object({ id: Type.String({ maxLength: 64 }) }), response: { 200: BackfillBody, ...keyedErrors('FORBIDDEN', 'NOT_FOUND') } },
    },
    async (request) => {
      requireAdmin(request.principal);
      const job = detection.backfillJob(request.params.id);
      if (!job) throw new ApiError(404, 'NOT_FOUND', `no backfill ${JSON.stringify(request.params.id)} in this process`);
      return backfillBody(job);
    },
  );
}
