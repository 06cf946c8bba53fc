/**
 * What the Express and Fastify middleware share: the request's actor through AsyncLocalStorage (the
 * application's authentication calls `setAuditActor` wherever it learns who the user is), and one
 * request → event mapping (docs/INGEST.md, "Middleware"). The event is handed to the SDK's batching
 * writer without waiting: the response never waits on the audit log.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIPv4, isIPv6 } from '../core/ip.js';
import type { AuditEvent } from '../core/event.js';
import { actionFrom, identifierFrom } from '../ingest/bounded.js';

export type AuditActor = AuditEvent['actor'];

export interface RouteAudit {
  /** Leave this route out. */
  skip?: boolean;
  action?: string;
  category?: AuditEvent['category'];
  /** Target type of each route parameter (default: the parameter's name without an `Id`/`_id` suffix). */
  targets?: Record<string, string>;
}

export interface AuditMiddlewareOptions {
  writer: { enqueue(event: AuditEvent): Promise<unknown> };
  /** Per route, keyed "METHOD /route/:param" as the framework names the route. */
  routes?: Record<string, RouteAudit>;
  /** Take the client address from the nearest X-Forwarded-For hop (only behind a proxy you run). */
  trustProxy?: boolean;
  tenant?: (request: unknown) => string | undefined;
  /** An event the writer refused (full queue, bad event). Default: ignored. */
  onError?: (error: Error) => void;
}

const actorStore = new AsyncLocalStorage<{ actor?: AuditActor }>();

/** Names who is acting in the current request (call it in your authentication). */
export function setAuditActor(actor: AuditActor): void {
  const store = actorStore.getStore();
  if (store) store.actor = actor;
}

export function currentAuditActor(): AuditActor | undefined {
  return actorStore.getStore()?.actor;
}

export const runWithAuditContext = <T>(work: () => T): T => actorStore.run({}, work);
export const enterAuditContext = (): void => actorStore.enterWith({});

const CATEGORY: Record<string, AuditEvent['category']> = { GET: 'read', HEAD: 'read', POST: 'create', PUT: 'update', PATCH: 'update', DELETE: 'delete' };

export interface FinishedRequest {
  method: string;
  /** The route pattern ("/invoices/:id"), not the URL: undefined when no route matched. */
  route: string | undefined;
  params: Record<string, string>;
  status: number;
  socketAddress: string | undefined;
  forwardedFor: string | string[] | undefined;
  userAgent: string | undefined;
  raw: unknown;
}

/** The event of a finished request, or undefined when it is not recorded (no route, no actor, skipped). */
export function requestEvent(request: FinishedRequest, actor: AuditActor | undefined, options: AuditMiddlewareOptions): AuditEvent | undefined {
  if (!actor || request.route === undefined) return undefined;
  const config = options.routes?.[`${request.method} ${request.route}`] ?? {};
  if (config.skip) return undefined;
  const words = request.route.split('/').filter((part) => part !== '' && !part.startsWith(':') && !part.startsWith('*'));
  const action = (config.action && actionFrom(config.action)) ?? actionFrom(`${words.join('_') || 'root'}.${request.method.toLowerCase()}`, 'http')!;
  const ip = clientAddress(request, options.trustProxy === true);
  const targets = Object.entries(request.params)
    .map(([name, value]) => ({ type: identifierFrom(config.targets?.[name] ?? name.replace(/_?[iI]d$/, '') ?? name, 128) ?? name, id: identifierFrom(value) }))
    .filter((t): t is { type: string; id: string } => t.id !== undefined)
    .slice(0, 32);
  const tenant = identifierFrom(options.tenant?.(request.raw), 128);
  return {
    actor,
    action,
    category: config.category ?? CATEGORY[request.method] ?? 'other',
    outcome: request.status < 400 ? 'success' : 'failure',
    ...(request.status >= 400 ? { outcome_reason: `HTTP ${request.status}` } : {}),
    occurred_at: new Date().toISOString(),
    ...(ip || request.userAgent ? { origin: { ...(ip ? { ip } : {}), ...(request.userAgent ? { user_agent: request.userAgent.slice(0, 1024) } : {}) } } : {}),
    ...(targets.length ? { targets } : {}),
    ...(tenant ? { tenant } : {}),
    metadata: { 'http.method': request.method, 'http.route': request.route.slice(0, 512), 'http.status_code': request.status },
  };
}

function clientAddress(request: FinishedRequest, trustProxy: boolean): string | undefined {
  const forwarded = Array.isArray(request.forwardedFor) ? request.forwardedFor.join(',') : request.forwardedFor;
  // The nearest hop is the one our proxy appended; earlier ones are whatever the client claimed.
  const candidate = trustProxy && forwarded ? forwarded.split(',').at(-1)!.trim() : request.socketAddress;
  const address = candidate?.replace(/^::ffff:(?=\d+\.)/, '');
  return address && (isIPv4(address) || isIPv6(address)) ? address : undefined;
}

/** Hands the event to the writer; never throws into the request. */
export function record(event: AuditEvent | undefined, options: AuditMiddlewareOptions): void {
  if (!event) return;
  options.writer.enqueue(event).catch((error: Error) => options.onError?.(error));
}
