/**
 * The Fastify application, separate from `listen` so tests drive it with inject(). Routes:
 *   ledgers      PUT/GET /v1/ledgers[/{ledger}]
 *   events       POST /v1/ledgers/{ledger}/events
 *   verification GET checkpoint, entries/{index}, proof/inclusion, proof/consistency, /v1/verifier-key
 *   keys         POST/GET/DELETE /v1/keys
 *   search       GET /v1/ledgers/{ledger}/events, /v1/ledgers/{ledger}/stats, /v1/events
 *   actors       GET /v1/actors/{actor_id}/timeline
 *   integrity    GET /v1/integrity; GET /readyz (no key; /healthz is liveness)
 *   otlp         POST /v1/logs (OpenTelemetry logs as events, docs/INGEST.md)
 *   metrics      GET /metrics, Prometheus (metrics.ts; admin or all-ledger auditor unless metricsPublic)
 *   session      POST/GET/DELETE /v1/session: console sign-in with an httpOnly cookie (session.ts)
 *   console      GET / and its assets: the web console built into dist/console (console-static.ts)
 * OpenAPI at /openapi.json, a browsable reference at /docs. Reads and administration are recorded in
 * the system ledger (access-log.ts).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { CryptoSuite } from '../core/crypto.js';
import { AuditEventSchema } from '../core/event.js';
import type { Store } from '../store/store.js';
import { Authenticator, type Principal } from './auth.js';
import { KeyRegistry } from './key-registry.js';
import { parseVerifierKey } from '../core/note.js';
import rateLimit from '@fastify/rate-limit';
import type { FastifyReply } from 'fastify';
import { ApiError, errorHandler } from './errors.js';
import { registerAccessLog } from './access-log.js';
import { registerStrictJson } from './json-body.js';
import { ledgerRoutes } from './routes/ledgers.js';
import { eventRoutes } from './routes/events.js';
import { verificationRoutes } from './routes/verification.js';
import { keyRoutes } from './routes/keys.js';
import { searchRoutes } from './routes/search.js';
import { actorRoutes } from './routes/actors.js';
import { retentionRoutes } from './routes/retention.js';
import { RetentionService } from './retention.js';
import { exportRoutes } from './routes/export.js';
import { DOCUMENTATION_PEN } from '../core/export/syslog.js';
import { bundleRoutes } from './routes/bundle.js';
import { reportRoutes } from './routes/reports.js';
import { integrityRoutes, readinessRoute, type IntegritySource } from './routes/integrity.js';
import { otlpRoutes } from './routes/otlp.js';
import { ErrorBody, ERROR_CODES } from './schemas.js';
import { metricsRoute, registerMetrics } from './metrics.js';
import { sinkRoutes } from './routes/sinks.js';
import { SinkService } from '../streams/service.js';
import { secretBox } from '../streams/secrets.js';
import { randomBytes } from 'node:crypto';
import { alertRoutes } from './routes/alerts.js';
import { detectionRoutes } from './routes/detection.js';
import { DetectionService } from '../detection/service.js';
import { defaultRuleLibrary } from '../detection/library.js';
import cookie from '@fastify/cookie';
import { ConsoleSessions, SESSION_COOKIE } from './session.js';
import { sessionRoutes } from './routes/session.js';
import { CONSOLE_CSP, consoleRoutes, findConsoleBuild } from './console-static.js';

export interface AppOptions {
  store: Store;
  suite: CryptoSuite;
  /** The signed-note verifier key string of this deployment. */
  verifierKey: string;
  /** Optional operator admin token (SEALTRAIL_ADMIN_TOKEN). */
  adminToken?: string;
  logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes. */
  bodyLimit?: number;
  /** Most events in one POST. */
  maxBatch?: number;
  version?: string;
  /** Requests per key (or per address, before authentication) allowed in each window; false disables. */
  rateLimit?: { max: number; windowMs: number } | false;
  /** Serve HTTPS with this PEM certificate chain and key; adds HSTS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** A request (headers and body) must arrive within this time; default 30 s. */
  requestTimeoutMs?: number;
  /** The retention service (the server's scheduler shares it); made from the store when absent. */
  retention?: RetentionService;
  /** Detection (rules, alerts; serve starts its engine); made from the store, serving the API only, when absent. */
  detection?: DetectionService;
  /**
   * Sinks (src/streams/service.ts; serve makes and starts it with the signing key's secret box). When
   * absent, one serving the API only, whose secrets no later process can open.
   */
  sinks?: SinkService;
  /** The integrity monitor (src/store/integrity.ts), for /readyz and /v1/integrity; absent in tools and tests. */
  integrity?: IntegritySource;
  /** Serve /metrics without a token (`serve --metrics-public`); by default it needs an admin or all-ledger auditor key. */
  metricsPublic?: boolean;
  /** Syslog exports' default private enterprise number in SD-IDs (docs/EXPORT.md); default 32473, the documentation PEN. */
  syslogEnterpriseNumber?: number;
  /** The built web console's folder (dist/console); found beside the code when absent, null to serve none. */
  consoleDir?: string | null;
  /** Console sessions' lifetime in ms (default 8 hours; never beyond the key's own expiry). */
  sessionTtlMs?: number;
}

/** The OpenAPI document's introduction: what sealtrail is, authentication, errors and where the docs are. */
const API_DESCRIPTION = [
  'sealtrail is a self-hosted, tamper-evident audit log. Events are validated, sealed into per-ledger RFC 6962 Merkle trees ' +
    'and answered with a receipt once durable; every batch is covered by a signed checkpoint (C2SP signed note). Field values ' +
    'are stored apart from the leaves behind salted commitments, so erasure and retention remove values without breaking proofs. ' +
    'Anyone holding the verifier key (`GET /v1/verifier-key`) can check checkpoints, inclusion and consistency proofs (RFC 9162) offline.',
  '**Authentication.** Every `/v1` route except `/v1/verifier-key` needs `Authorization: Bearer <token>`. A key has a role ' +
    '(writer, reader, auditor, admin) and a scope of ledgers and tenants; a ledger outside the scope answers like one that does not exist. ' +
    'Requests are rate-limited per key (429 `RATE_LIMITED` with Retry-After). `/healthz` and `/readyz` need no key; `/metrics` needs an admin ' +
    'or all-ledger auditor key unless the server runs with `--metrics-public`.',
  '**Errors.** Every error body is `{"error": CODE, "message": text, ...details}`. Each operation lists the statuses it can answer and, per ' +
    'status, the `error` codes it can carry. Codes: ' +
    Object.entries(ERROR_CODES).map(([code, { status }]) => `\`${code}\` (${status})`).join(', ') +
    '.',
  '**Documentation.** docs/API.md (routes, roles, errors, metrics), docs/SEARCH.md (query language), docs/EXPORT.md, docs/RETENTION.md, ' +
    'docs/FORMAT.md (exact bytes, for independent verifiers) and docs/SECURITY.md in the sealtrail source tree; this document is served at /openapi.json and browsable at /docs.',
].join('\n\n');

/** Per key: 2,000 requests a second (a batch request carries up to 1,000 events). */
const DEFAULT_RATE_LIMIT = { max: 2000, windowMs: 1000 };

/**
 * Headers on every response: no MIME sniffing, no framing, no referrer; API answers are never cached and
 * may load nothing; HSTS when served over TLS. The /docs page keeps its own script policy.
 */
function setSecurityHeaders(url: string, reply: FastifyReply, tls: boolean): void {
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('x-frame-options', 'DENY');
  void reply.header('referrer-policy', 'no-referrer');
  if (tls) void reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
  if (url.startsWith('/v1/') || url === '/openapi.json') {
    void reply.header('cache-control', 'no-store');
    void reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  } else if (!url.startsWith('/docs')) {
    // The console's pages and assets (console-static.ts).
    void reply.header('content-security-policy', CONSOLE_CSP);
  }
}

/** What the server log says of a request: method, path without its query string, and the client's address. */
function requestForLog(request: { method?: string; url?: string; ip?: string; socket?: { remotePort?: number } }) {
  const url = typeof request.url === 'string' ? request.url : '';
  const queryAt = url.indexOf('?');
  return {
    method: request.method,
    url: queryAt < 0 ? url : url.slice(0, queryAt),
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export interface AppContext {
  store: Store;
  suite: CryptoSuite;
  verifierKey: string;
  maxBatch: number;
  retention: RetentionService;
  /** Syslog exports' SD-ID enterprise number when the request names none. */
  syslogEnterpriseNumber: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // Request lines carry neither headers (bearer tokens) nor query strings (searches name people, and
    // the log is out of erasure's reach); the redaction stays in case a header is ever logged.
    logger: options.logger
      ? {
          ...(typeof options.logger === 'object' ? options.logger : {}),
          serializers: { ...(typeof options.logger === 'object' ? options.logger.serializers : {}), req: requestForLog },
          redact: ['req.headers.authorization'],
        }
      : false,
    bodyLimit: options.bodyLimit ?? 8 * 1024 * 1024,
    // coerceTypes: query strings arrive as text; scalars only, so a string never silently becomes an array.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    routerOptions: { maxParamLength: 200 },
    // The router's own refusals (over-long or badly encoded paths) get the same error body and headers.
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(request.url, reply, Boolean(options.tls));
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      errorHandler(new ApiError(status, 'INVALID_ARGUMENT', 'the request path is malformed or too long'), request, reply);
    },
  });
  const context: AppContext = {
    store: options.store,
    suite: options.suite,
    verifierKey: options.verifierKey,
    maxBatch: options.maxBatch ?? 1000,
    retention: options.retention ?? new RetentionService(options.store),
    syslogEnterpriseNumber: options.syslogEnterpriseNumber ?? DOCUMENTATION_PEN,
  };
  // API keys are accepted only as their sealed records describe them (key-registry.ts).
  const registry = new KeyRegistry(options.store, options.suite, [parseVerifierKey(options.suite, options.verifierKey)], {
    warn: (message) => app.log.warn(message),
    error: (message) => app.log.error(message),
  });
  await registry.start();
  app.addHook('onClose', async () => registry.stop());
  const authenticator = new Authenticator(options.store, options.adminToken, { registry });
  const sessions = new ConsoleSessions(options.store, authenticator, { ttlMs: options.sessionTtlMs });
  await app.register(cookie);

  app.setErrorHandler(errorHandler);
  app.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(request.url, reply, Boolean(options.tls));
    return payload;
  });
  // Only JSON bodies: a text/plain body must be refused (415), not parsed as a string.
  app.removeContentTypeParser('text/plain');
  registerStrictJson(app);
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  app.addSchema(ErrorBody);
  app.addSchema(AuditEventSchema);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'sealtrail',
        version: options.version ?? '0.1.0',
        description: API_DESCRIPTION,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: 200 while the process runs (no key). Readiness is /readyz.',
        security: [],
        response: { 200: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', const: true } } } },
      },
    },
    async () => ({ ok: true }),
  );
  await readinessRoute(app, options.store, options.integrity);
  // Before /v1 is registered: the metrics hooks see every route's requests.
  const metrics = await registerMetrics(app, { store: options.store, authenticator, integrity: options.integrity });
  const sinks = options.sinks ?? new SinkService({ store: options.store, box: secretBox(randomBytes(32)) });
  metrics.addGauge('sealtrail_sink_lag_events', 'Events each sink has still to deliver or judge, summed over its ledgers.', ['sink'], () =>
    sinks.lagSamples().map((lag) => ({ labels: { sink: lag.sink }, value: lag.events })),
  );
  const { store } = options;
  if (store.searchIndexBacklog) {
    metrics.addGauge('sealtrail_search_index_backlog_events', 'Acknowledged events whose search rows the background indexer has still to write (searches index them first).', [], () => [
      { value: store.searchIndexBacklog!() },
    ]);
  }
  metrics.addGauge('sealtrail_sink_lag_seconds', "Age in seconds of the oldest event each sink has still to deliver.", ['sink'], () =>
    sinks.lagSamples().map((lag) => ({ labels: { sink: lag.sink }, value: lag.seconds })),
  );
  await app.register(async (scope) => {
    // Per address, like unauthenticated /v1 requests: /metrics checks tokens and must not try them unlimited.
    if (options.rateLimit !== false) {
      const { max, windowMs } = options.rateLimit ?? DEFAULT_RATE_LIMIT;
      await scope.register(rateLimit, {
        max,
        timeWindow: windowMs,
        keyGenerator: (request) => `ip:${request.ip}`,
        errorResponseBuilder: (_request, context) =>
          new ApiError(429, 'RATE_LIMITED', `more than ${context.max} requests in ${context.after}; retry after the Retry-After seconds`),
      });
    }
    await metricsRoute(scope, metrics, { authenticator, metricsPublic: options.metricsPublic });
  });

  // Everything under /v1 needs a token, except the verifier key, which is public by design.
  await app.register(async (v1) => {
    v1.decorateRequest('principal', null as unknown as Principal);
    v1.addHook('onRequest', async (request) => {
      if (request.routeOptions.config && (request.routeOptions.config as { public?: boolean }).public) return;
      // A bearer token wins; without one, the console's session cookie (CSRF-checked for changes).
      const sessionToken = request.headers.authorization === undefined ? request.cookies[SESSION_COOKIE] : undefined;
      if (sessionToken === undefined) {
        request.principal = await authenticator.authenticate(request.headers.authorization);
        return;
      }
      const session = await sessions.resolve(request, sessionToken);
      request.principal = session.principal;
      request.sessionToken = sessionToken;
      request.sessionExpiresAtMicros = session.expiresAtMicros;
    });
    if (options.rateLimit !== false) {
      const { max, windowMs } = options.rateLimit ?? DEFAULT_RATE_LIMIT;
      // After authentication, before the body is parsed: the budget is per key (per address for the public
      // route), and a key over it cannot make the server parse or validate anything more.
      await v1.register(rateLimit, {
        hook: 'preParsing',
        max,
        timeWindow: windowMs,
        keyGenerator: (request) => (request.principal ? `key:${request.principal.id}` : `ip:${request.ip}`),
        errorResponseBuilder: (_request, context) =>
          new ApiError(429, 'RATE_LIMITED', `more than ${context.max} requests in ${context.after}; retry after the Retry-After seconds`),
      });
    }
    await registerAccessLog(v1, options.store);
    // Redactions from before forgetting records existed get their one sealed attestation (issue 19).
    await context.retention.attestLegacyRedactions();
    // ajv's coercion turns "Infinity" and "1e400" into numbers that skip minimum/maximum checks.
    v1.addHook('preHandler', async (request) => {
      for (const part of [request.query, request.params]) {
        for (const [name, value] of Object.entries((part ?? {}) as Record<string, unknown>)) {
          if (typeof value === 'number' && !Number.isFinite(value)) throw new ApiError(400, 'INVALID_ARGUMENT', `${name} must be a finite number`);
        }
      }
    });
    await sessionRoutes(v1, sessions, { secureCookie: Boolean(options.tls) });
    await ledgerRoutes(v1, context);
    await eventRoutes(v1, context);
    await verificationRoutes(v1, context);
    await keyRoutes(v1, context);
    await searchRoutes(v1, context);
    await actorRoutes(v1, context);
    await retentionRoutes(v1, context);
    await exportRoutes(v1, context);
    await bundleRoutes(v1, context);
    await integrityRoutes(v1, options.integrity);
    await reportRoutes(v1, context, options.integrity);
    await sinkRoutes(v1, sinks);
    const detection = options.detection ?? new DetectionService({ store: options.store, library: defaultRuleLibrary() });
    if (!options.detection) {
      await detection.start(false);
      app.addHook('onClose', () => detection.stop());
    }
    await alertRoutes(v1, detection);
    await detectionRoutes(v1, detection);
    await otlpRoutes(v1, context);
  }, { prefix: '/v1' });
  await consoleRoutes(app, options.consoleDir === undefined ? findConsoleBuild() : (options.consoleDir ?? undefined));
  return app;
}
