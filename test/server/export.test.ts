/** GET /v1/ledgers/{ledger}/export: streaming, formats, filtering, tenant scope, errors, access records. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SYSTEM_LEDGER } from '../../src/server/access-log.js';
import { CSV_COLUMNS } from '../../src/core/export/csv.js';
import { exportFormatter, recordWithAttribution } from '../../src/core/export/index.js';
import { GEO_ATTRIBUTION } from '../../src/platform/geo.js';
import { EXPORT_PAGE, exportChunks } from '../../src/server/routes/export.js';
import type { SearchHit, SearchRequest, Store } from '../../src/store/store.js';
import { forgetSealed } from '../helpers/forget.js';
import { buildTestServer, type TestServer } from '../helpers/server.js';
import { sampleEvent } from '../helpers/events.js';

const EVENTS = 3000;
let server: TestServer;
const auth = (token = server.adminToken) => ({ authorization: `Bearer ${token}` });
const exportUrl = (ledger: string, params: Record<string, string> = {}) => `/v1/ledgers/${ledger}/export?${new URLSearchParams(params)}`;
const get = (url: string, token?: string) => server.app.inject({ method: 'GET', url, headers: auth(token) });

async function createKey(body: object): Promise<string> {
  const res = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: auth(), payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().token;
}

before(async () => {
  server = await buildTestServer();
  for (const ledger of ['alpha', 'beta']) await server.app.inject({ method: 'PUT', url: `/v1/ledgers/${ledger}`, headers: auth() });
  for (let first = 0; first < EVENTS; first += 1000) {
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/ledgers/alpha/events',
      headers: auth(),
      payload: Array.from({ length: 1000 }, (_, i) => sampleEvent(first + i)),
    });
    assert.equal(res.statusCode, 201);
  }
  await server.app.inject({ method: 'POST', url: '/v1/ledgers/beta/events', headers: auth(), payload: [sampleEvent(1)] });
});
after(() => server.cleanup());

describe('GET /v1/ledgers/{ledger}/export', () => {
  it('streams every event of the ledger as JSON Lines, in index order, as an attachment', async () => {
    const res = await get(exportUrl('alpha'));
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    assert.match(String(res.headers['content-disposition']), /^attachment; filename="alpha-\d{8}T\d{6}Z\.jsonl"$/);
    assert.equal(res.headers['x-sealtrail-match-count'], String(EVENTS));
    assert.equal(res.headers['x-sealtrail-tree-size'], String(EVENTS));
    const lines = res.body.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, EVENTS);
    lines.forEach((line, i) => {
      const parsed = JSON.parse(line);
      assert.equal(parsed.index, i);
      assert.equal(parsed.writer, 'admin');
      assert.equal(parsed.event.id, `evt-${i}`);
    });
  });

  it('answers every format with its media type and one line per event', async () => {
    const expected: Record<string, string> = {
      jsonl: 'application/x-ndjson',
      csv: 'text/csv; charset=utf-8; header=present',
      ocsf: 'application/x-ndjson',
      cef: 'text/plain; charset=utf-8',
      syslog: 'text/plain; charset=utf-8',
    };
    const q = 'actor:u-3 outcome:failure';
    const matches = Array.from({ length: EVENTS }, (_, n) => n).filter((n) => n % 17 === 3 && n % 7 === 0);
    for (const [format, type] of Object.entries(expected)) {
      const res = await get(exportUrl('alpha', { format, q }));
      assert.equal(res.statusCode, 200, `${format}: ${res.body}`);
      assert.equal(res.headers['content-type'], type);
      assert.equal(res.headers['x-sealtrail-match-count'], undefined, 'not counted for a non-empty query');
      const lines = res.body.split(format === 'csv' ? '\r\n' : '\n');
      assert.equal(lines.pop(), '');
      if (format === 'csv') assert.equal(lines.shift(), CSV_COLUMNS.join(','));
      assert.equal(lines.length, matches.length, format);
      if (format === 'ocsf') assert.deepEqual(lines.map((l) => JSON.parse(l).metadata.sequence), matches);
      if (format === 'cef') for (const line of lines) assert.match(line, /^CEF:0\|sealtrail\|sealtrail\|/);
      if (format === 'syslog') for (const line of lines) assert.match(line, /^<\d+>1 \S+ api\.test sealtrail - /);
    }
  });

  it('filters with the search query language', async () => {
    const res = await get(exportUrl('alpha', { q: 'action:auth.login index:100..199', format: 'jsonl' }));
    const events = res.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(events.map((e) => e.index), Array.from({ length: 100 }, (_, i) => 100 + i).filter((i) => i % 3 !== 0));
    for (const e of events) assert.equal(e.event.action, 'auth.login');
    const none = await get(exportUrl('alpha', { q: 'actor:nobody' }));
    assert.equal(none.statusCode, 200);
    assert.equal(none.body, '');
    const csvNone = await get(exportUrl('alpha', { q: 'actor:nobody', format: 'csv' }));
    assert.equal(csvNone.body, `${CSV_COLUMNS.join(',')}\r\n`, 'an empty CSV export still has its header');
  });

  it('exports only the tenants of a tenant-scoped key, whatever it asks', async () => {
    const token = await createKey({ role: 'reader', ledgers: ['alpha'], tenants: ['tenant-1'] });
    const res = await get(exportUrl('alpha', { q: 'tenant:tenant-2 OR tenant:tenant-1' }), token);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-sealtrail-match-count'], undefined, 'the scope makes the query non-empty');
    const events = res.body.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(events.length, EVENTS / 3);
    for (const e of events) assert.equal(e.event.tenant, 'tenant-1');
    const all = await get(exportUrl('alpha'), token);
    assert.equal(all.body.trim().split('\n').length, EVENTS / 3);
    assert.equal((await get(exportUrl('beta'), token)).statusCode, 404, 'a ledger outside the scope does not exist');
  });

  it('needs a role that may read events', async () => {
    const writer = await createKey({ role: 'writer', ledgers: ['alpha'] });
    const res = await get(exportUrl('alpha'), writer);
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, 'FORBIDDEN');
    const auditor = await createKey({ role: 'auditor', ledgers: ['*'] });
    assert.equal((await get(exportUrl('beta'), auditor)).statusCode, 200);
    assert.equal((await server.app.inject({ method: 'GET', url: exportUrl('alpha') })).statusCode, 401);
  });

  it('refuses a bad format, query or ledger with a clear error before streaming anything', async () => {
    const format = await get(exportUrl('alpha', { format: 'xml' }));
    assert.equal(format.statusCode, 400);
    assert.equal(format.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(format.json().error, 'INVALID_ARGUMENT');
    assert.equal(format.json().message, 'format "xml" is not supported; use one of jsonl, csv, ocsf, cef, syslog');
    const query = await get(exportUrl('alpha', { q: 'actr:alice' }));
    assert.equal(query.statusCode, 400);
    assert.equal(query.json().position, 0);
    // Refused by the store, not the parser: still a 400, because the first page is read before any header.
    const short = await get(exportUrl('alpha', { q: 'ab' }));
    assert.equal(short.statusCode, 400);
    assert.equal(short.json().error, 'INVALID_ARGUMENT');
    const missing = await get(exportUrl('nope'));
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error, 'LEDGER_NOT_FOUND');
    assert.equal((await get('/v1/ledgers/BAD!/export')).statusCode, 400);
  });

  it('records every export in the system ledger with its query', async () => {
    await get(exportUrl('beta', { q: 'actor:u-1', format: 'cef' }));
    await get(exportUrl('beta', { format: 'nope' }));
    const res = await get(`/v1/ledgers/${SYSTEM_LEDGER}/events?q=${encodeURIComponent('action:event.export target.id:beta')}&limit=2`);
    const [failed, succeeded] = res.json().events.map((e: any) => e.event);
    assert.equal(succeeded.category, 'export');
    assert.equal(succeeded.outcome, 'success');
    assert.match(succeeded.metadata.query, /format=cef/);
    assert.equal(failed.outcome, 'failure');
    assert.equal(failed.metadata.status, 400);
  });

  it('writes every line as the general path does, across page boundaries, and never an erased value', async () => {
    const store = server.deployment.store;
    // Two full pages of EXPORT_PAGE and one event on a third.
    await store.createLedger('gamma');
    for (let first = 0; first < 2 * EXPORT_PAGE + 1; first += 500) {
      const count = Math.min(500, 2 * EXPORT_PAGE + 1 - first);
      await store.append('gamma', Array.from({ length: count }, (_, i) => ({ event: { ...sampleEvent(first + i), id: `g-${first + i}` }, writer: 'admin' })));
    }
    // One erasure on each side of the first page boundary and one on the last event.
    await forgetSealed(store, 'gamma', [EXPORT_PAGE - 1, EXPORT_PAGE, 2 * EXPORT_PAGE].map((index) => ({ index, paths: ['actor.name', 'origin.ip', 'targets.0'], reason: 'erased' as const })));
    const entries: SearchHit[] = [];
    for (let after: number | undefined; ; ) {
      const page = await store.search('gamma', { query: { clauses: [] }, limit: 1000, order: 'asc', ...(after !== undefined ? { after } : {}) });
      entries.push(...page.entries);
      if (page.next === null) break;
      after = page.next;
    }
    assert.equal(entries.length, 2 * EXPORT_PAGE + 1);
    for (const format of ['jsonl', 'csv', 'ocsf'] as const) {
      const formatter = exportFormatter(format, { hostname: 'api.test' });
      const res = await get(exportUrl('gamma', { format }));
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, formatter.header + entries.map((e) => formatter.line(recordWithAttribution(e, GEO_ATTRIBUTION))).join(''), format);
      const ids = new RegExp(`"?g-(${EXPORT_PAGE - 1}|${EXPORT_PAGE}|${2 * EXPORT_PAGE})\\b`);
      const erased = res.body.split(format === 'csv' ? '\r\n' : '\n').filter((line) => ids.test(line));
      assert.equal(erased.length, 3, format);
      for (const line of erased) {
        assert.doesNotMatch(line, /User \d|203\.0\.113|report-/, `${format}: an erased value shows`);
        assert.match(line, /erased/);
      }
    }
  });

  it('stops reading the store when the consumer stops, and leaves no failure of the page read ahead unhandled', async () => {
    const store = server.deployment.store;
    const searchForExport = store.searchForExport.bind(store);
    let calls = 0;
    const failing: Store = Object.create(store, {
      searchForExport: {
        value: async (ledger: string, request: SearchRequest) => {
          // The page read ahead fails; the consumer, gone, never awaits it.
          if (++calls === 2) throw new Error('read after the consumer left');
          return searchForExport(ledger, request);
        },
      },
    });
    const chunks = exportChunks(failing, 'alpha', { clauses: [] }, exportFormatter('jsonl'));
    const first = await chunks.next();
    assert.equal(first.done, false);
    await chunks.return(undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls, 2, 'the first page and the one read ahead, nothing after');
  });

  it('waits for a slow client instead of buffering the export, and stops when the client goes away', async () => {
    const store = server.deployment.store;
    const searchForExport = store.searchForExport.bind(store);
    let calls = 0;
    store.searchForExport = async (ledger, request) => {
      if (ledger === 'delta') calls++;
      return searchForExport(ledger, request);
    };
    // ~12 MB of JSON Lines: more than the sockets' buffers hold.
    await store.createLedger('delta');
    for (let first = 0; first < 20_000; first += 2000) {
      await store.append('delta', Array.from({ length: 2000 }, (_, i) => ({ event: { ...sampleEvent(first + i), id: `d-${first + i}` }, writer: 'admin' })));
    }
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.app.server.address() as AddressInfo;
    try {
      const aborter = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}${exportUrl('delta')}`, { headers: auth(), signal: aborter.signal });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      await reader.read();
      // Not reading: the server fills the socket, then stops asking the store for pages.
      let before = -1;
      for (let waited = 0; before !== calls && waited < 40; waited++) {
        before = calls;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(calls, before, 'the export waits while the client does not read');
      assert.ok(calls < 20_000 / EXPORT_PAGE, `${calls} of ${20_000 / EXPORT_PAGE} pages read while the client read one chunk`);
      aborter.abort();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = calls;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(calls, after, 'nothing read once the client is gone');
      assert.ok(after < 20_000 / EXPORT_PAGE);
      assert.equal((await get(exportUrl('beta'))).statusCode, 200, 'and the server serves on');
    } finally {
      store.searchForExport = searchForExport;
    }
  });

  it('aborts the response, rather than ending it early, when the store fails mid-way', async () => {
    const store = server.deployment.store;
    const searchForExport = store.searchForExport.bind(store);
    let calls = 0;
    store.searchForExport = async (ledger, request) => {
      if (ledger === 'alpha' && ++calls === 2) throw new Error('disk on fire');
      return searchForExport(ledger, request);
    };
    if (!server.app.server.listening) await server.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = server.app.server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}${exportUrl('alpha')}`, { headers: auth() });
      assert.equal(res.status, 200);
      await assert.rejects(res.text(), 'reading a body the server abandoned fails');
    } finally {
      store.searchForExport = searchForExport;
    }
  });
});
