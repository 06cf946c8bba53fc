/**
 * GET /metrics in the Prometheus text format (README "Health and metrics", docs/API.md "Metrics").
 *
 * Each app has its own prom-client Registry, never the global one, so several apps in one process (tests,
 * tools) keep their own counts. Labels are bounded: route templates (never raw paths), status codes,
 * ledger names (a ledger exists before anything is counted under its name) and integrity states; never
 * an actor, key, tenant or address.
 *
 * Gathering never walks the store on the event loop per scrape: counters and histograms are updated by
 * request hooks, integrity state is read from the monitor's memory, and the per-ledger checkpoint times
 * and tree sizes come from a cache refreshed at most once per `storeCacheMs` (one ledger list and one
 * latest-checkpoint read per ledger). A scrape waits for a refresh at most `storeWaitMs`, then answers
 * with what the cache holds.
 *
 * Ledger names are in labels, so reading /metrics needs an admin key, or an auditor key for every ledger
 * and tenant, unless the operator opts in with `metricsPublic` (`serve --metrics-public`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/store.js';
import type { LedgerTrust } from '../store/integrity.js';
import { requireAdmin, type Authenticator, type Principal } from './auth.js';
import type { IntegritySource } from './routes/integrity.js';
import { errorResponses } from './schemas.js';

export interface MetricsOptions {
  store: Store;
  authenticator: Authenticator;
  integrity?: IntegritySource;
  /** Serve /metrics without a token (ledger names become readable by anyone who reaches the port). */
  metricsPublic?: boolean;
  /** How long ledger sizes and checkpoint times read from the store are reused; default 10 s. */
  storeCacheMs?: number;
  /** How long a scrape waits for a cache refresh before answering with older values; default 2 s. */
  storeWaitMs?: number;
  now?: () => number;
}

/** The route template of event ingestion, as Fastify reports it in routeOptions.url. */
const APPEND_ROUTE = '/v1/ledgers/:ledger/events';
const TRUST_STATES: readonly LedgerTrust[] = ['verifying', 'trusted', 'broken'];
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

interface LedgerHeadSnapshot {
  size: number;
  /** Milliseconds since the epoch of the latest checkpoint; undefined when the ledger has none. */
  checkpointAtMs: number | undefined;
}

/** A per-app registry and the handles later subsystems (detection, sinks) use to report their lag. */
export class Metrics {
  readonly registry = new Registry();

  /**
   * Registers a gauge whose values are read from in-memory state at each scrape, for a subsystem's lag
   * (events behind, seconds behind). `read` must be cheap and its label values bounded.
   */
  addGauge(name: string, help: string, labelNames: readonly string[], read: () => Array<{ labels?: Record<string, string>; value: number }>): void {
    new Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const sample of read()) {
          if (sample.labels) this.set(sample.labels, sample.value);
          else this.set(sample.value);
        }
      },
    });
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
  interface FastifyRequest {
    /** Events of an append request counted in flight, released once when the request ends. */
    metricsInFlightEvents?: number;
  }
}

/** Sampling period of the event-loop delay monitor: a stall shorter than this may go unseen. */
const EVENT_LOOP_RESOLUTION_MS = 5;

/**
 * How long the event loop was held, since the previous scrape: every request waits behind synchronous
 * work (a large index transaction, a long verification step), so this is the figure that shows it.
 * Reset at each scrape, like prom-client's nodejs_eventloop_lag gauges, so max means "since last scrape"
 * (the monitor restarts its clock at its first tick after a reset, so one tick after a scrape goes unseen).
 */
function registerEventLoopDelay(app: FastifyInstance, registry: Registry): void {
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  delay.enable();
  app.addHook('onClose', async () => delay.disable());
  new Gauge({
    name: 'sealtrail_event_loop_delay_seconds',
    help: 'How late the event loop ran a 5 ms timer since the previous scrape (perf_hooks.monitorEventLoopDelay), at quantiles 0.5, 0.99 and 1 (the longest stall).',
    labelNames: ['quantile'],
    registers: [registry],
    collect() {
      // The monitor records the whole interval between timer runs, resolution included: what it was late by is the rest.
      const seconds = (nanoseconds: number): number =>
        Number.isFinite(nanoseconds) ? Math.max(0, nanoseconds / 1e6 - EVENT_LOOP_RESOLUTION_MS) / 1000 : 0;
      this.set({ quantile: '0.5' }, seconds(delay.percentile(50)));
      this.set({ quantile: '0.99' }, seconds(delay.percentile(99)));
      this.set({ quantile: '1' }, seconds(delay.max));
      delay.reset();
    },
  });
}

function mayReadMetrics(principal: Principal): void {
  if (principal.role === 'auditor' && principal.ledgers.includes('*') && principal.tenants.includes('*')) return;
  requireAdmin(principal);
}

function routeLabel(request: FastifyRequest): { route: string; method: string } {
  const route = request.routeOptions.url;
  if (route === undefined) return { route: 'unmatched', method: KNOWN_METHODS.has(request.method) ? request.method : 'OTHER' };
  return { route, method: request.method };
}

export async function registerMetrics(app: FastifyInstance, options: MetricsOptions): Promise<Metrics> {
  const metrics = new Metrics();
  const { registry } = metrics;
  const now = options.now ?? Date.now;
  const storeCacheMs = options.storeCacheMs ?? 10_000;
  const storeWaitMs = options.storeWaitMs ?? 2_000;

  const httpRequests = new Counter({
    name: 'sealtrail_http_requests_total',
    help: 'HTTP requests answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'sealtrail_http_request_duration_seconds',
    help: 'Time from request to response, by route template.',
    labelNames: ['route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ingestedEvents = new Counter({
    name: 'sealtrail_ingest_events_total',
    help: 'Events sealed through POST /v1/ledgers/{ledger}/events (retries answered from an earlier seal included), per ledger.',
    labelNames: ['ledger'],
    registers: [registry],
  });
  const ingestDuration = new Histogram({
    name: 'sealtrail_ingest_duration_seconds',
    help: 'Time from receiving an append request to its answer (receipts are sent only once the batch is durable), by outcome.',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const ingestBatch = new Histogram({
    name: 'sealtrail_ingest_request_events',
    help: 'Events per sealed append request.',
    buckets: [1, 2, 5, 10, 50, 100, 250, 500, 1000],
    registers: [registry],
  });
  let inFlightEvents = 0;
  new Gauge({
    name: 'sealtrail_ingest_in_flight_events',
    help: 'Events of append requests received and not yet answered: waiting to be sealed or being sealed.',
    registers: [registry],
    collect() {
      this.set(inFlightEvents);
    },
  });
  const rateLimited = new Counter({
    name: 'sealtrail_rate_limited_total',
    help: 'Requests refused with 429 RATE_LIMITED.',
    registers: [registry],
  });

  registerEventLoopDelay(app, registry);

  // Ledger sizes and checkpoint times: read from the store at most once per storeCacheMs.
  let heads = new Map<string, LedgerHeadSnapshot>();
  let storeReachable: boolean | undefined;
  let refreshedAt = -Infinity;
  let refreshing: Promise<void> | undefined;
  const refreshHeads = async (): Promise<void> => {
    try {
      const ledgers = await options.store.listLedgers();
      const next = new Map<string, LedgerHeadSnapshot>();
      for (const ledger of ledgers) {
        const checkpoint = await options.store.latestCheckpoint(ledger.name);
        next.set(ledger.name, { size: ledger.size, checkpointAtMs: checkpoint ? checkpoint.createdAtMicros / 1000 : undefined });
      }
      heads = next;
      storeReachable = true;
    } catch {
      storeReachable = false;
    } finally {
      refreshedAt = now();
      refreshing = undefined;
    }
  };
  const currentHeads = async (): Promise<Map<string, LedgerHeadSnapshot>> => {
    if (!refreshing && now() - refreshedAt >= storeCacheMs) refreshing = refreshHeads();
    if (refreshing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([refreshing, new Promise<void>((resolve) => (timer = setTimeout(resolve, storeWaitMs)))]);
      clearTimeout(timer);
    }
    return heads;
  };

  new Gauge({
    name: 'sealtrail_store_reachable',
    help: '1 when the last read of ledger heads from the store succeeded, 0 when it failed.',
    registers: [registry],
    async collect() {
      await currentHeads();
      this.reset();
      if (storeReachable !== undefined) this.set(storeReachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sealtrail_ledger_size',
    help: 'Tree size of the latest checkpoint, per ledger (cached up to the store cache period).',
    labelNames: ['ledger'],
    registers: [registry],
    async collect() {
      const snapshot = await currentHeads();
      this.reset();
      for (const [ledger, head] of snapshot) this.set({ ledger }, head.size);
    },
  });
  new Gauge({
    name: 'sealtrail_checkpoint_age_seconds',
    help: 'Seconds since the latest checkpoint of each ledger was signed (ledgers without one are absent).',
    labelNames: ['ledger'],
    registers: [registry],
    async collect() {
      const snapshot = await currentHeads();
      this.reset();
      const nowMs = now();
      for (const [ledger, head] of snapshot) {
        if (head.checkpointAtMs !== undefined) this.set({ ledger }, Math.max(0, (nowMs - head.checkpointAtMs) / 1000));
      }
    },
  });

  const integrity = options.integrity;
  if (integrity) {
    new Gauge({
      name: 'sealtrail_integrity_state',
      help: "The running server's integrity verification per ledger: 1 for the ledger's current state (verifying, trusted, broken), 0 for the others.",
      labelNames: ['ledger', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const ledger of integrity.status().ledgers) {
          for (const state of TRUST_STATES) this.set({ ledger: ledger.ledger, state }, ledger.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'sealtrail_integrity_unverified_entries',
      help: 'Entries of each ledger not yet verified by the running server: tree size (cached) minus the verified size.',
      labelNames: ['ledger'],
      registers: [registry],
      async collect() {
        const snapshot = await currentHeads();
        this.reset();
        for (const ledger of integrity.status().ledgers) {
          const size = snapshot.get(ledger.ledger)?.size;
          if (size !== undefined) this.set({ ledger: ledger.ledger }, Math.max(0, size - ledger.verifiedSize));
        }
      },
    });
    new Gauge({
      name: 'sealtrail_integrity_sweep_rounds',
      help: 'Completed rounds of the background re-verification of already-verified entries, per ledger.',
      labelNames: ['ledger'],
      registers: [registry],
      collect() {
        this.reset();
        for (const ledger of integrity.status().ledgers) this.set({ ledger: ledger.ledger }, ledger.sweep.rounds);
      },
    });
  }

  const releaseInFlight = (request: FastifyRequest): void => {
    if (request.metricsInFlightEvents === undefined) return;
    inFlightEvents -= request.metricsInFlightEvents;
    request.metricsInFlightEvents = undefined;
  };
  // After validation, so only bodies that will be sealed count; the root hook runs before route hooks.
  app.addHook('preHandler', async (request) => {
    if (request.method !== 'POST' || request.routeOptions.url !== APPEND_ROUTE) return;
    const events = Array.isArray(request.body) ? request.body.length : 1;
    request.metricsInFlightEvents = events;
    inFlightEvents += events;
  });
  app.addHook('onRequestAbort', async (request) => releaseInFlight(request));
  app.addHook('onResponse', async (request, reply) => {
    const { route, method } = routeLabel(request);
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    httpRequests.inc({ route, method, status: String(status) });
    httpDuration.observe({ route }, seconds);
    if (status === 429) rateLimited.inc();
    if (method === 'POST' && route === APPEND_ROUTE) {
      releaseInFlight(request);
      const sealed = status === 200 || status === 201;
      ingestDuration.observe({ outcome: sealed ? 'sealed' : 'refused' }, seconds);
      if (sealed) {
        const events = Array.isArray(request.body) ? request.body.length : 1;
        const { ledger } = request.params as { ledger: string };
        ingestedEvents.inc({ ledger }, events);
        ingestBatch.observe(events);
        // 201: a new checkpoint was signed for this answer, so its age is known without a store read.
        const head = heads.get(ledger);
        if (status === 201 && head) head.checkpointAtMs = now();
      }
    }
  });

  app.decorate('metrics', metrics);
  return metrics;
}

/**
 * GET /metrics. Registered by the caller in a scope of its own, behind a per-address rate limit: the
 * route checks tokens outside /v1, and must not be an unlimited place to try them.
 */
export async function metricsRoute(scope: FastifyInstance, metrics: Metrics, options: Pick<MetricsOptions, 'authenticator' | 'metricsPublic'>): Promise<void> {
  const { registry } = metrics;
  scope.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (admin, or auditor of every ledger; no key with serve --metrics-public)',
        security: options.metricsPublic ? [] : [{ bearer: [] }],
        produces: ['text/plain'],
        response: {
          200: { type: 'string', description: 'Prometheus text exposition format 0.0.4.' },
          ...(options.metricsPublic ? errorResponses('RATE_LIMITED', 'INTERNAL') : errorResponses('UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED', 'INTERNAL')),
        },
      },
    },
    async (request, reply) => {
      if (!options.metricsPublic) mayReadMetrics(await options.authenticator.authenticate(request.headers.authorization));
      const body = await registry.metrics();
      return reply.type(registry.contentType).header('cache-control', 'no-store').send(body);
    },
  );
}
