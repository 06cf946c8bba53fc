/**
 * Access accountability: every read of audit data, every administrative change and every failed
 * authentication is itself recorded as an event in the system ledger, which is sealed and verifiable
 * like any other (PCI DSS 10.2.1.3: access to audit logs is logged). Recording happens before the
 * response is sent and fails closed: if the record cannot be committed, the caller gets an error, not
 * the data. Appends are not recorded here; the ledger they land in already attributes them to their writer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validateEvent, type AuditEvent } from '../core/event.js';
import { isIPv4, isIPv6 } from '../core/ip.js';
import type { Store } from '../store/store.js';

/** The ledger holding access records (reserved: no one can create or append to it via the API) and the
 * writer id of records the server makes itself; defined in the core, where verifiers read them. */
import { SERVER_WRITER, SYSTEM_LEDGER } from '../core/forgetting.js';
export { SERVER_WRITER, SYSTEM_LEDGER };

type Category = AuditEvent['category'];

/** Route → what an access to it is called. Routes not listed (appends, the public key) are not recorded. */
const ACTIONS: Record<string, [action: string, category: Category]> = {
  'GET /v1/ledgers': ['ledger.list', 'read'],
  'GET /v1/ledgers/:ledger': ['ledger.describe', 'read'],
  'PUT /v1/ledgers/:ledger': ['ledger.create', 'admin'],
  'GET /v1/ledgers/:ledger/checkpoint': ['checkpoint.read', 'read'],
  'GET /v1/ledgers/:ledger/entries/:index': ['entry.read', 'read'],
  'GET /v1/ledgers/:ledger/proof/inclusion': ['proof.read', 'read'],
  'GET /v1/ledgers/:ledger/proof/consistency': ['proof.read', 'read'],
  'GET /v1/ledgers/:ledger/events': ['event.search', 'read'],
  'GET /v1/ledgers/:ledger/stats': ['event.stats', 'read'],
  'GET /v1/events': ['event.search', 'read'],
  'GET /v1/actors/:actor_id/timeline': ['actor.timeline', 'read'],
  'GET /v1/ledgers/:ledger/export': ['event.export', 'export'],
  'POST /v1/ledgers/:ledger/bundle': ['bundle.export', 'export'],
  'POST /v1/session': ['console.sign_in', 'auth'],
  'DELETE /v1/session': ['console.sign_out', 'auth'],
  'POST /v1/keys': ['key.create', 'admin'],
  'GET /v1/keys': ['key.list', 'read'],
  'DELETE /v1/keys/:id': ['key.revoke', 'admin'],
  // Changes to retention, holds and erasures are recorded by the retention service itself, with what
  // they did; only reads are recorded here.
  'GET /v1/retention/policy': ['retention.policy.read', 'read'],
  'GET /v1/holds': ['legal_hold.list', 'read'],
  // Alert and rule changes are sealed by detection itself (src/detection/outbox.ts); reads are recorded here.
  'GET /v1/alerts': ['alert.list', 'read'],
  'GET /v1/alerts/:id': ['alert.read', 'read'],
  'GET /v1/detection': ['detection.read', 'read'],
  'GET /v1/detection/departures': ['detection.departures.read', 'read'],
  // Sink changes are sealed by the sink service (src/streams/service.ts) with what they did.
  'GET /v1/sinks': ['sink.list', 'read'],
  'GET /v1/sinks/:name': ['sink.describe', 'read'],
  'GET /v1/sinks/:name/dead-letters': ['sink.dead_letter.list', 'read'],
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by routes that return a counted result (lists), recorded as metadata.results. */
    resultCount?: number;
  }
  interface FastifyContextConfig {
    /** A route that needs no token (the verifier key, console sign-in). */
    public?: boolean;
    /**
     * What a route adds to its access record beyond the URL's query string (a POST body's selection,
     * say); called when the record is made, so also for requests the route refused.
     */
    accessMetadata?: (request: FastifyRequest) => Record<string, unknown>;
    /** The token a public route was given in its body (console sign-in), to name the key it claims when refused. */
    accessClaimedToken?: (request: FastifyRequest) => unknown;
    /** What the route's `:id` names, as the record's target type; default api_key. */
    accessTargetType?: string;
  }
}

export async function registerAccessLog(app: FastifyInstance, store: Store): Promise<void> {
  await store.createLedger(SYSTEM_LEDGER);
  app.addHook('onSend', async (request, reply, payload) => {
    const event = accessEvent(request, reply);
    if (event) await store.append(SYSTEM_LEDGER, [{ event: validRecord(event), writer: SERVER_WRITER }]);
    return payload;
  });
}

/**
 * A record built from hostile request parts could still break an event rule; then it is kept without
 * the parts that came from the request (targets, query, user agent) rather than lost.
 */
function validRecord(event: AuditEvent): AuditEvent {
  try {
    return validateEvent(event);
  } catch {
    const { targets: _targets, origin, metadata, ...rest } = event;
    return validateEvent({
      ...rest,
      ...(origin?.ip ? { origin: { ip: origin.ip } } : {}),
      metadata: { route: metadata?.route, status: metadata?.status, truncated: true },
    });
  }
}

/** Control characters from a request never reach a sealed record (terminal escapes, log forging). */
export const clean = (text: string, max: number) => text.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, '\ufffd');

function accessEvent(request: FastifyRequest, reply: FastifyReply): AuditEvent | undefined {
  const route = `${request.method} ${request.routeOptions.url ?? ''}`;
  const status = reply.statusCode;
  const authFailed = status === 401;
  const known = ACTIONS[route];
  if (!known && !authFailed) return undefined;
  const [action, category] = authFailed ? (['auth.token_rejected', 'auth'] as const) : known!;
  const params = (request.params ?? {}) as Record<string, string | undefined>;
  const targets: NonNullable<AuditEvent['targets']> = [];
  if (params.ledger) targets.push({ type: 'ledger', id: clean(params.ledger, 256) });
  if (params.id) targets.push({ type: request.routeOptions.config?.accessTargetType ?? 'api_key', id: clean(params.id, 256) });
  const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
  const metadata: Record<string, unknown> = { route, status };
  if (query) metadata.query = query.slice(0, 1024);
  Object.assign(metadata, request.routeOptions.config?.accessMetadata?.(request));
  if (request.resultCount !== undefined) metadata.results = request.resultCount;
  const userAgent = request.headers['user-agent'];
  const ip = isIPv4(request.ip) || isIPv6(request.ip) ? request.ip : undefined;
  return {
    actor: request.principal ? { type: 'api_key', id: request.principal.id } : claimedActor(request.routeOptions.config?.accessClaimedToken?.(request) ?? request.headers.authorization),
    action,
    category,
    ...(targets.length > 0 ? { targets } : {}),
    origin: {
      ...(ip ? { ip } : {}),
      ...(typeof userAgent === 'string' && userAgent.length > 0 ? { user_agent: clean(userAgent, 1024) } : {}),
    },
    outcome: status < 400 ? 'success' : 'failure',
    ...(status >= 400 ? { outcome_reason: `HTTP ${status}` } : {}),
    metadata,
  };
}

/**
 * For a rejected token, the key id it claims (the part before the secret, never the secret), so that
 * attacks on one key can be seen; "anonymous" when there was no recognisable token.
 */
function claimedActor(presented: unknown): AuditEvent['actor'] {
  const claimed = typeof presented === 'string' ? /^(?:bearer\s+)?st_([a-z0-9]{4,32})\./i.exec(presented.slice(0, 600))?.[1] : undefined;
  return { type: 'api_key', id: claimed ? `claimed:${claimed}` : 'anonymous' };
}
