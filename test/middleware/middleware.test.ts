/**
 * Express and Fastify middleware with the SDK's writer and a real sealtrail server: authenticated
 * requests become events (actor through AsyncLocalStorage, action from route and method, targets from
 * params, origin from the socket or a trusted proxy header, outcome from the status); anonymous and
 * skipped routes are not recorded; a slow audit log does not slow the response.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import type { AuditEvent } from '../../src/core/event.js';
import { BatchingWriter } from '../../src/client/index.js';
import { sealtrailAudit as expressAudit, setAuditActor } from '../../src/middleware/express.js';
import { sealtrailAudit as fastifyAudit } from '../../src/middleware/fastify.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let url: string;
before(async () => {
  server = await buildTestServer();
  url = await server.app.listen({ port: 0, host: '127.0.0.1' });
  for (const ledger of ['express', 'fastify']) await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: { authorization: `Bearer ${server.adminToken}` } });
});
after(() => server.cleanup());

async function stored(ledger: string): Promise<Array<Record<string, any>>> {
  const response = await server.app.inject({ method: 'GET', url: `/v1/ledgers/${ledger}/events?order=asc`, headers: { authorization: `Bearer ${server.adminToken}` } });
  return response.json().events.map((e: { event: Record<string, any> }) => e.event);
}

const authenticate = (header: string | undefined) => (header?.startsWith('User ') ? { type: 'user' as const, id: header.slice(5) } : undefined);

describe('Express middleware', () => {
  it('records authenticated requests and only those', async () => {
    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'express', maxDelayMs: 5 });
    const app = express();
    app.use(expressAudit({ writer, trustProxy: true, routes: { 'GET /health': { skip: true }, 'POST /invoices/:invoiceId/approve': { action: 'invoice.approve', category: 'update' } } }));
    app.use((req, _res, next) => {
      const actor = authenticate(req.headers.authorization);
      if (actor) setAuditActor(actor);
      next();
    });
    app.get('/health', (_req, res) => void res.send('ok'));
    app.post('/invoices/:invoiceId/approve', (_req, res) => void res.status(204).end());
    app.delete('/files/:file_id', (_req, res) => void res.status(403).send('no'));
    const listener = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => listener.once('listening', resolve));
    const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    try {
      await fetch(`${base}/invoices/42/approve`, { method: 'POST', headers: { authorization: 'User alice', 'x-forwarded-for': '10.9.9.9, 203.0.113.8', 'user-agent': 'test-agent' } });
      await fetch(`${base}/files/f-7`, { method: 'DELETE', headers: { authorization: 'User bob' } });
      await fetch(`${base}/health`, { headers: { authorization: 'User alice' } });
      await fetch(`${base}/files/f-8`, { method: 'DELETE' });
      await writer.close();
      const events = await stored('express');
      assert.equal(events.length, 2);
      const [approve, remove] = events as [Record<string, any>, Record<string, any>];
      assert.deepEqual([approve.actor, approve.action, approve.category, approve.outcome, approve.targets, approve.origin], [{ type: 'user', id: 'alice' }, 'invoice.approve', 'update', 'success', [{ type: 'invoice', id: '42' }], { ip: '203.0.113.8', user_agent: 'test-agent' }]);
      assert.deepEqual([remove.action, remove.category, remove.outcome, remove.outcome_reason, remove.targets, remove.origin.ip], ['files.delete', 'delete', 'failure', 'HTTP 403', [{ type: 'file', id: 'f-7' }], '127.0.0.1']);
    } finally {
      listener.close();
    }
  });
});

describe('Fastify hooks', () => {
  it('records authenticated requests without waiting on the audit log', async () => {
    const writer = await BatchingWriter.open({ url, token: server.adminToken, ledger: 'fastify', maxDelayMs: 5 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A writer whose log answers only later: responses must not wait for it.
    const slow = { enqueue: async (event: AuditEvent) => { await gate; return writer.enqueue(event); } };
    const app = Fastify();
    fastifyAudit(app, { writer: slow });
    app.addHook('preHandler', async (request) => {
      const actor = authenticate(request.headers.authorization);
      if (actor) setAuditActor(actor);
    });
    app.get('/reports/:reportId', async () => ({ ok: true }));
    const started = Date.now();
    const response = await app.inject({ method: 'GET', url: '/reports/r-1', headers: { authorization: 'User carol' } });
    assert.equal(response.statusCode, 200);
    assert.ok(Date.now() - started < 1000);
    await app.inject({ method: 'GET', url: '/reports/r-2' });
    release();
    await new Promise((r) => setTimeout(r, 50));
    await writer.close();
    await app.close();
    const events = await stored('fastify');
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]!.actor.id, events[0]!.action, events[0]!.category, events[0]!.targets], ['carol', 'reports.get', 'read', [{ type: 'report', id: 'r-1' }]]);
  });
});
