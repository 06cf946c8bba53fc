/**
 * Issue 19, "one reader can freeze the server": `stats?by=actor` with `reason` repeated 285 times over
 * 30,000 events held the event loop for 13 s (`/healthz` stalled 9 s), and `target:` with 498 values
 * answered 500. Over a 30,000-event ledger: the flood is refused before it costs anything, a costly
 * query that is allowed runs off the event loop (health checks keep answering meanwhile), a read past
 * its budget answers QUERY_TIMEOUT naming the budget, and the long list is answered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { QUERY_LIMITS } from '../../src/core/query.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import { sampleEvent } from '../helpers/events.js';

const EVENTS = 30_000;
const TOKEN = 'query-cost-admin-token-0123456789';
const NAME = 'query-cost.test';
/** Words in every sampleEvent's free text (user agent, e-mail, target name): each matches all events. */
const COMMON_WORDS = ['Mozilla', 'Linux', 'x86_64', 'example', 'report', '.pdf', 'X11', 'user'];

interface Server {
  app: FastifyInstance;
  deployment: Deployment;
  close(): Promise<void>;
}

describe('query cost bounds (issue 19)', { timeout: 240_000 }, () => {
  let dataDir: string;

  /** The HTTP app over the prepared ledger, with this read budget. */
  async function open(queryTimeoutMs: number): Promise<Server> {
    const deployment = openDeployment({ dataDir, name: NAME, queryTimeoutMs });
    const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: TOKEN, rateLimit: false });
    await app.ready();
    return {
      app,
      deployment,
      async close() {
        await app.close();
        await deployment.store.close();
      },
    };
  }

  const get = (app: FastifyInstance, url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${TOKEN}` } });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-query-cost-'));
    // The bulk path (as `gen --bulk`): appends leave the index alone, then it is built in one pass.
    const bulk = openDeployment({ dataDir, name: NAME, bulkLoad: true });
    await bulk.store.createLedger('big');
    for (let from = 0; from < EVENTS; from += 1000) {
      await bulk.store.append(
        'big',
        Array.from({ length: 1000 }, (_, i) => ({ event: { ...sampleEvent(from + i), outcome_reason: 'reason: timeout' }, writer: 'key_bulk' })),
      );
    }
    bulk.store.rebuildSearchIndex();
    await bulk.store.close();
  });

  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses the review's flood (285 free-text terms) at once, naming the limit", async () => {
    const server = await open(5000);
    try {
      const q = encodeURIComponent(Array.from({ length: 285 }, () => 'reason').join(' '));
      const started = performance.now();
      const response = await get(server.app, `/v1/ledgers/big/stats?by=actor&q=${q}`);
      const elapsed = performance.now() - started;
      assert.equal(response.statusCode, 400, response.body);
      const body = response.json() as { error: string; message: string; position: number; limit: number };
      assert.equal(body.error, 'QUERY_TOO_COSTLY');
      assert.equal(body.limit, QUERY_LIMITS.maxTextValues);
      assert.match(body.message, new RegExp(`at most ${QUERY_LIMITS.maxTextValues} free-text values`));
      assert.equal(body.position, QUERY_LIMITS.maxTextValues * 'reason '.length);
      // Refused by the parser: no scan of 30,000 events (which took 13 s) happened.
      assert.ok(elapsed < 1000, `${elapsed} ms`);
    } finally {
      await server.close();
    }
  });

  it('keeps answering health checks while a costly allowed query runs', async () => {
    const server = await open(60_000);
    try {
      // Warm up: the first search starts the read thread.
      assert.equal((await get(server.app, '/v1/ledgers/big/events?q=index:1&limit=1')).statusCode, 200);
      const q = encodeURIComponent(COMMON_WORDS.join(' '));
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      let running = true;
      const started = performance.now();
      const stats = get(server.app, `/v1/ledgers/big/stats?by=actor&q=${q}&limit=100`).finally(() => {
        running = false;
      });
      // Health checks every 10 ms for as long as the query runs.
      const healthLatencies: number[] = [];
      while (running) {
        const at = performance.now();
        const health = await server.app.inject({ method: 'GET', url: '/healthz' });
        assert.equal(health.statusCode, 200);
        if (running) healthLatencies.push(performance.now() - at);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const response = await stats;
      const elapsed = performance.now() - started;
      delay.disable();
      assert.equal(response.statusCode, 200, response.body);
      const buckets = (response.json() as { buckets: { key: string; count: number }[] }).buckets;
      assert.equal(buckets.reduce((n, b) => n + b.count, 0), EVENTS);
      const maxDelayMs = delay.max / 1e6;
      process.stdout.write(
        `# costly stats query: ${elapsed.toFixed(0)} ms; ${healthLatencies.length} health checks meanwhile, slowest ${Math.max(0, ...healthLatencies).toFixed(1)} ms; event loop max delay ${maxDelayMs.toFixed(1)} ms\n`,
      );
      // On the event loop, the query would have held it for its whole run: no health check could
      // have answered while it ran. Generous bounds for a loaded machine; bench measures precisely.
      if (elapsed > 200) assert.ok(healthLatencies.length >= 3, `only ${healthLatencies.length} health checks answered during ${elapsed} ms`);
      assert.ok(Math.max(0, ...healthLatencies) < 1000, `a health check took ${Math.max(...healthLatencies)} ms`);
      assert.ok(maxDelayMs < 1000, `event loop delayed ${maxDelayMs} ms`);
    } finally {
      await server.close();
    }
  });

  it('stops a read past its budget with QUERY_TIMEOUT naming the budget, then serves the next', async () => {
    const server = await open(20);
    try {
      const q = encodeURIComponent(COMMON_WORDS.join(' '));
      // Start the read thread first, so that the budget is spent by the query alone.
      await get(server.app, '/v1/ledgers/big/events?q=index:1&limit=1');
      const response = await get(server.app, `/v1/ledgers/big/stats?by=actor&q=${q}`);
      assert.equal(response.statusCode, 503, response.body);
      const body = response.json() as { error: string; message: string; budgetMs: number };
      assert.equal(body.error, 'QUERY_TIMEOUT');
      assert.equal(body.budgetMs, 20);
      assert.match(body.message, /time budget of 20 ms/);
      // The terminated thread is replaced: a cheap search answers (its budget is generous enough
      // for a primary-key page even on a loaded machine, so retry a few times rather than flake).
      let next = await get(server.app, '/v1/ledgers/big/events?q=index:7&limit=1');
      for (let attempt = 0; attempt < 5 && next.statusCode === 503; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        next = await get(server.app, '/v1/ledgers/big/events?q=index:7&limit=1');
      }
      assert.equal(next.statusCode, 200, next.body);
      assert.deepEqual((next.json() as { events: { index: number }[] }).events.map((e) => e.index), [7]);
    } finally {
      await server.close();
    }
  });

  it('answers a 2,000-character target list of 498 values instead of 500 "Expression tree is too large"', async () => {
    const server = await open(30_000);
    try {
      const values = ['f-11', 'f-12', ...Array.from({ length: 496 }, (_, i) => (1296 + i).toString(36))];
      const q = `target:${values.join(',')}`;
      assert.ok(q.length <= QUERY_LIMITS.maxLength);
      const response = await get(server.app, `/v1/ledgers/big/events?order=asc&q=${encodeURIComponent(q)}`);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual((response.json() as { events: { index: number }[] }).events.map((e) => e.index), [11, 12]);
      const stats = await get(server.app, `/v1/ledgers/big/stats?by=outcome&q=${encodeURIComponent(q)}`);
      assert.equal(stats.statusCode, 200, stats.body);
    } finally {
      await server.close();
    }
  });
});
