/**
 * Alerts raised by detection (docs/DETECTION.md "Alerts and their API"):
 *   GET  /v1/alerts?status=&severity=&ledger=&rule=&actor=&actor_type=&limit=&cursor=
 *   GET  /v1/alerts/{id}   POST /v1/alerts/{id}/acknowledge   POST /v1/alerts/{id}/close {"reason"}
 * Reading an alert is a reader's right on its ledger and tenant: a key sees an alert only if it may read
 * the events behind it, and any other alert answers exactly like a missing one. Whoever may read an
 * alert may handle it; every change is sealed in the system ledger before the answer.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { SEVERITIES } from '../../detection/detector.js';
import type { DetectionService } from '../../detection/service.js';
import { formatMicros } from '../../core/time.js';
import { ALERT_STATUSES, type StoredAlert } from '../../store/detection-state.js';
import { can, inScope, ledgerNotFound, requireLedger, tenantInScope, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { BODY_ERRORS, keyedErrors, LEDGER_PATTERN } from '../schemas.js';

const literals = (values: readonly string[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const AlertBody = Type.Object({
  id: Type.String({ description: 'Stable, URL-safe alert id.' }),
  rule: Type.String(),
  title: Type.String(),
  severity: literals(SEVERITIES),
  status: literals(ALERT_STATUSES),
  ledger: Type.String(),
  tenant: Type.Union([Type.String(), Type.Null()], { description: 'Tenant of the events that raised it.' }),
  actor: Type.Union([Type.Object({ type: Type.String(), id: Type.String() }), Type.Null()]),
  first_seen: Type.String({ description: 'Event time of its first event (RFC 3339).' }),
  last_seen: Type.String({ description: 'Event time of its latest event (RFC 3339).' }),
  count: Type.Integer({ description: 'Findings grouped into it.' }),
  events: Type.Array(Type.Object({ ledger: Type.String(), index: Type.Integer() }), { description: 'The events that caused it, oldest first (at most 100).' }),
  summary: Type.String(),
  close_reason: Type.Union([Type.String(), Type.Null()]),
  opened_at: Type.String({ description: 'When the engine opened it (server time).' }),
  changed_at: Type.Union([Type.String(), Type.Null()], { description: 'When its status last changed.' }),
  changed_by: Type.Union([Type.String(), Type.Null()], { description: 'Key id that last changed its status.' }),
});

export function alertBody(alert: StoredAlert) {
  return {
    id: alert.id,
    rule: alert.rule,
    title: alert.title,
    severity: alert.severity,
    status: alert.status,
    ledger: alert.ledger,
    tenant: alert.tenant,
    actor: alert.actor ? { type: alert.actor.type, id: alert.actor.id } : null,
    first_seen: formatMicros(alert.firstSeenMicros),
    last_seen: formatMicros(alert.lastSeenMicros),
    count: alert.count,
    events: alert.events,
    summary: alert.summary,
    close_reason: alert.closeReason,
    opened_at: formatMicros(alert.openedAtMicros),
    changed_at: alert.changedAtMicros === null ? null : formatMicros(alert.changedAtMicros),
    changed_by: alert.changedBy,
  };
}

/** Whether the key may read the events behind the alert: read rights, its ledger and its tenant in scope. */
export function mayReadAlert(principal: Principal, alert: StoredAlert): boolean {
  return can(principal, 'read') && inScope(principal, alert.ledger) && tenantInScope(principal, alert.tenant ?? undefined);
}

const AlertParams = Type.Object({ id: Type.String({ pattern: '^al_[A-Za-z0-9_-]{1,64}$', maxLength: 67 }) });

function notFound(id: string): ApiError {
  return new ApiError(404, 'NOT_FOUND', `no alert ${JSON.stringify(id)}`);
}

export async function alertRoutes(app: FastifyInstance, detection: DetectionService): Promise<void> {
  /** The alert if it exists and this key may read it; otherwise the same 404 either way. */
  const readable = async (principal: Principal, id: string): Promise<StoredAlert> => {
    const alert = await detection.getAlert(id);
    if (!alert || !mayReadAlert(principal, alert)) throw notFound(id);
    return alert;
  };

  app.get<{ Querystring: { status?: StoredAlert['status']; severity?: StoredAlert['severity']; ledger?: string; rule?: string; actor?: string; actor_type?: string; limit?: number; cursor?: string } }>(
    '/alerts',
    {
      schema: {
        summary: 'Alerts the key may read, newest first (reader, auditor, admin).',
        querystring: Type.Object({
          status: Type.Optional(literals(ALERT_STATUSES)),
          severity: Type.Optional(literals(SEVERITIES)),
          ledger: Type.Optional(Type.String({ pattern: LEDGER_PATTERN })),
          rule: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
          actor: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Only alerts about this actor id (the events' actor.id)." })),
          actor_type: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'With actor: only that type of actor (user, service, …).' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
          cursor: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description: 'The `next` of the previous page.' })),
        }),
        response: {
          200: Type.Object({ alerts: Type.Array(AlertBody), next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last.' }) }),
          ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND'),
        },
      },
    },
    async (request) => {
      const { principal } = request;
      const { status, severity, ledger, rule, actor, actor_type: actorType, cursor } = request.query;
      const limit = request.query.limit ?? 100;
      if (ledger !== undefined) {
        requireLedger(principal, ledger, 'read');
        if (!(await detection.ledgerExists(ledger))) throw ledgerNotFound(ledger);
      }
      else if (!can(principal, 'read')) throw new ApiError(403, 'FORBIDDEN', `the ${principal.role} role cannot read alerts`);
      const alerts = await detection.listAlerts({
        ...(status ? { status } : {}),
        ...(severity ? { severity } : {}),
        ...(ledger ? { ledger } : {}),
        ...(rule ? { rule } : {}),
        ...(actor !== undefined ? { actor } : {}),
        ...(actorType !== undefined ? { actorType } : {}),
        ledgers: principal.ledgers,
        tenants: principal.tenants,
        ...(cursor ? { beforeSeq: Number(cursor) } : {}),
        // One more than the page: a last page that is exactly full then says so (next: null).
        limit: limit + 1,
      });
      const page = alerts.slice(0, limit);
      request.resultCount = page.length;
      const last = page[page.length - 1];
      return { alerts: page.map(alertBody), next: alerts.length > limit && last?.seq !== undefined ? String(last.seq) : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/alerts/:id',
    {
      schema: { summary: 'One alert (reader, auditor, admin with its ledger and tenant in scope).', params: AlertParams, response: { 200: AlertBody, ...keyedErrors('NOT_FOUND') } },
      config: { accessTargetType: 'alert' },
    },
    async (request) => alertBody(await readable(request.principal, request.params.id)),
  );

  app.post<{ Params: { id: string } }>(
    '/alerts/:id/acknowledge',
    {
      schema: {
        summary: 'Acknowledge an open alert; sealed in the system ledger as alert.acknowledge. Acknowledging twice changes nothing.',
        params: AlertParams,
        response: { 200: AlertBody, ...keyedErrors('NOT_FOUND', 'ALERT_STATE_CONFLICT') },
      },
    },
    async (request) => {
      const alert = await readable(request.principal, request.params.id);
      const changed = await detection.changeStatus(alert, 'acknowledged', request.principal.id);
      if (changed === 'conflict') throw new ApiError(409, 'ALERT_STATE_CONFLICT', `alert ${alert.id} is ${alert.status}; only an open alert can be acknowledged`, { status: alert.status });
      return alertBody(changed);
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/alerts/:id/close',
    {
      schema: {
        summary: 'Close an alert with a reason; sealed in the system ledger as alert.close. Closing twice changes nothing.',
        params: AlertParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1000, pattern: '\\S' }) }, { additionalProperties: false }),
        response: { 200: AlertBody, ...keyedErrors(BODY_ERRORS, 'NOT_FOUND', 'ALERT_STATE_CONFLICT') },
      },
    },
    async (request) => {
      const alert = await readable(request.principal, request.params.id);
      const changed = await detection.changeStatus(alert, 'closed', request.principal.id, request.body.reason.replace(/[\u0000-\u001f\u007f]/g, ' '));
      if (changed === 'conflict') throw new ApiError(409, 'ALERT_STATE_CONFLICT', `alert ${alert.id} is ${alert.status}`, { status: alert.status });
      return alertBody(changed);
    },
  );
}
