/**
 * Compliance reports against generated data with planted gaps and known counts, on SQLite and on
 * PostgreSQL: the report's counts equal the written counts, the planted gaps are reported (and nothing
 * else in the ledger as a whole), a tampered entry shows as a failed verification, the sealed record
 * names the report's SHA-256, a PDF carries the hash on every page, and a tenant-scoped key cannot
 * report on another tenant.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ReportDocument } from '../../src/reports/report.js';
import { documentDigest } from '../../src/reports/digest.js';
import { findBrowser } from '../../src/reports/pdf.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import { admin, buildReportServer, END, LEDGER, START, type ReportServer } from './harness.js';

const PERIOD = `from=${new Date(START / 1000).toISOString()}&to=${new Date(END / 1000).toISOString()}`;
const sorted = (map: Map<string, number>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));

async function report(server: ReportServer, query: string, headers: Record<string, string> = admin) {
  const response = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${PERIOD}&ledgers=${LEDGER}${query}`, headers });
  return response;
}

async function keyFor(server: ReportServer, body: Record<string, unknown>): Promise<Record<string, string>> {
  const created = await server.app.inject({ method: 'POST', url: '/v1/keys', headers: admin, payload: body });
  assert.equal(created.statusCode, 201, created.body);
  return { authorization: `Bearer ${created.json().token as string}` };
}

function reportSuite(kind: 'sqlite' | 'postgres') {
  let server: ReportServer;
  let doc: ReportDocument;
  let seal: string | undefined;

  before(async () => {
    server = await buildReportServer(kind);
    const response = await report(server, '');
    assert.equal(response.statusCode, 200, response.body);
    doc = response.json() as ReportDocument;
    seal = response.headers['sealtrail-seal'] as string | undefined;
  });
  after(() => server?.cleanup());

  it('counts what was written: total, every day, every action and category', () => {
    const volume = doc.evidence.volume[0]!;
    assert.equal(volume.total, server.known.total);
    assert.deepEqual(volume.days.map((d) => [d.day, d.count]), sorted(server.known.perDay));
    const types = doc.evidence.event_types[0]!;
    assert.deepEqual(new Map(types.actions.map((b) => [b.key!, b.count])), server.known.perAction);
    assert.deepEqual(new Map(types.categories.map((b) => [b.key!, b.count])), server.known.perCategory);
    assert.equal(volume.citation.ledger, LEDGER);
    assert.match(volume.citation.query, /^received:/);
  });

  it('cites a query that reproduces its count through the search API', async () => {
    const volume = doc.evidence.volume[0]!;
    const stats = await server.app.inject({ method: 'GET', url: `/v1/ledgers/${LEDGER}/stats?by=category&q=${encodeURIComponent(volume.citation.query)}`, headers: admin });
    const total = (stats.json().buckets as Array<{ count: number }>).reduce((n, b) => n + b.count, 0);
    assert.equal(total, server.known.total);
    assert.deepEqual(volume.citation.indexes, [0, server.known.total - 1]);
  });

  it('reports the planted gaps: the ledger silent for half a day, one tenant for three days', () => {
    const { ledgerGap, tenantGap } = server.planted;
    const ledger = doc.evidence.gaps.find((g) => g.source.kind === 'ledger')!;
    assert.equal(ledger.cycle, 'week');
    assert.equal(ledger.gaps.length, 1, JSON.stringify(ledger.gaps));
    const found = ledger.gaps[0]!;
    // The silence is at least the planted window (events stop and resume at some point in the hours around it).
    assert.ok(Date.parse(found.from) <= ledgerGap.from / 1000 + 3_600_000 && Date.parse(found.to) >= ledgerGap.to / 1000 - 3_600_000, JSON.stringify(found));
    assert.ok(found.expected_events >= 14);
    const tenant = doc.evidence.gaps.find((g) => g.source.kind === 'tenant' && g.source.id === tenantGap.tenant)!;
    const long = tenant.gaps.filter((g) => g.hours >= 48);
    assert.equal(long.length, 1, JSON.stringify(tenant.gaps));
    assert.ok(Date.parse(long[0]!.from) <= tenantGap.from / 1000 + 12 * 3_600_000 && Date.parse(long[0]!.to) >= tenantGap.to / 1000 - 12 * 3_600_000);
    const cc72 = doc.controls.find((c) => c.id === 'CC7.2')!;
    assert.ok(cc72.summary.some((line) => line.includes(`tenant ${tenantGap.tenant}`)), cc72.summary.join('\n'));
  });

  it('verifies the period with the checkpoints it covered', () => {
    const integrity = doc.evidence.integrity[0]!;
    assert.equal(integrity.result, 'verified');
    assert.deepEqual(integrity.entries, { from: 0, to: server.known.total });
    assert.ok(integrity.checkpoints!.count > 10);
    assert.equal(integrity.checkpoints!.last.size, server.known.total);
  });

  it('hashes exactly what it documents, and the system ledger seals that hash', async () => {
    assert.equal(documentDigest(doc), doc.sha256);
    assert.match(seal ?? '', /^sealtrail-system\/\d+$/);
    const sealed = await server.app.inject({ method: 'GET', url: `/v1/reports/sealed/${doc.sha256}`, headers: admin });
    assert.equal(sealed.statusCode, 200, sealed.body);
    const [record] = sealed.json().records;
    assert.equal(`${record.ledger}/${record.index}`, seal);
    assert.deepEqual([record.action, record.metadata.sha256, record.metadata.subject], ['report.generate', doc.sha256, 'soc2']);
    const altered = { ...doc, generated_by: 'someone-else' };
    const none = await server.app.inject({ method: 'GET', url: `/v1/reports/sealed/${documentDigest(altered)}`, headers: admin });
    assert.deepEqual([none.statusCode, none.json().records], [200, []]);
  });

  it('lists who read the audit log, including the reads this test made', async () => {
    const untilTomorrow = `from=${new Date(START / 1000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
    const again = (await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${untilTomorrow}&ledgers=${LEDGER}`, headers: admin })).json() as ReportDocument;
    assert.ok(again.evidence.audit_log_access.included);
    assert.ok((again.evidence.audit_log_access.readers ?? []).some((r) => r.key === 'admin'), JSON.stringify(again.evidence.audit_log_access));
  });

  it('renders self-contained HTML with the hash, and a PDF with the hash on every page', { skip: !findBrowser() && 'no Chromium' }, async () => {
    const html = await report(server, '&format=html');
    assert.equal(html.statusCode, 200);
    assert.match(html.headers['content-type'] as string, /^text\/html/);
    assert.doesNotMatch(html.body, /<script|src=|href=|url\(/i);
    const htmlDoc = (await report(server, '&format=json')).json() as ReportDocument;
    assert.notEqual(htmlDoc.sha256, doc.sha256, 'each generation is its own document (generated_at)');
    const pdf = await report(server, '&format=pdf');
    assert.equal(pdf.statusCode, 200, pdf.body.slice(0, 300));
    assert.equal(pdf.rawPayload.subarray(0, 5).toString('latin1'), '%PDF-');
    const sealed = await server.app.inject({ method: 'GET', url: `/v1/reports/sealed/${pdfHash(pdf.rawPayload)}`, headers: admin });
    assert.equal(sealed.statusCode, 200, 'the hash in the PDF is a sealed one');
    if (existsSync('/usr/bin/pdftotext')) {
      const text = execFileSync('pdftotext', ['-layout', '-', '-'], { input: pdf.rawPayload }).toString('utf8');
      const pages = text.split('\f').filter((p) => p.trim() !== '');
      assert.ok(pages.length >= 2);
      for (const page of pages) assert.match(page, new RegExp(`SHA-256 ${pdfHash(pdf.rawPayload)}`));
    }
  });

  it('shows a tampered entry as a failed verification', async () => {
    await server.tamper(1234);
    const tampered = (await report(server, '')).json() as ReportDocument;
    const integrity = tampered.evidence.integrity[0]!;
    assert.equal(integrity.result, 'failed');
    assert.match(integrity.reason!, /entry 1234/);
    assert.ok(tampered.controls.find((c) => c.id === 'CC6.1')!.summary.some((l) => l.startsWith('VERIFICATION FAILED')));
  });

  it('reports on a tenant for its tenant-scoped key, and on no other tenant', async () => {
    const [own, other] = [...server.known.tenants.keys()] as [string, string];
    const scoped = await keyFor(server, { role: 'auditor', ledgers: ['*'], tenants: [own] });
    const mine = await report(server, '', scoped);
    assert.equal(mine.statusCode, 200, mine.body);
    const body = mine.json() as ReportDocument;
    assert.equal(body.scope.tenant, own);
    assert.equal(body.evidence.volume[0]!.total, server.known.tenants.get(own)!.events);
    assert.equal(body.evidence.audit_log_access.included, false);
    assert.equal((await report(server, `&tenant=${other}`, scoped)).statusCode, 403);
    // Holds: the tenant sees its own and the all-events one, never another tenant's case.
    for (const query of [`tenant:${own}`, `tenant:${other}`, '']) {
      const hold = await server.app.inject({ method: 'POST', url: '/v1/holds', headers: admin, payload: { reason: `case ${query || 'all'}`, owner: 'legal', query } });
      assert.equal(hold.statusCode, 201, hold.body);
    }
    const untilTomorrow = `from=${new Date(START / 1000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
    const withHolds = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${untilTomorrow}&ledgers=${LEDGER}`, headers: scoped });
    assert.deepEqual((withHolds.json() as ReportDocument).evidence.legal_holds.map((h) => h.reason).sort(), ['case all', `case tenant:${own}`]);
    const everyHold = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${untilTomorrow}&ledgers=${LEDGER}`, headers: admin });
    assert.equal((everyHold.json() as ReportDocument).evidence.legal_holds.length, 3);
    const reader = await keyFor(server, { role: 'reader', ledgers: ['*'] });
    assert.equal((await report(server, '', reader)).statusCode, 403);
    const refused = await server.app.inject({ method: 'GET', url: `/v1/ledgers/sealtrail-system/events?q=${encodeURIComponent('action:report.generate outcome:failure')}`, headers: admin });
    assert.ok((refused.json().events as unknown[]).length >= 2, 'refusals are recorded in the system ledger');
  });

  it('refuses a bad period', async () => {
    const bad = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?from=2026-11-02&to=2026-11-01`, headers: admin });
    assert.equal(bad.statusCode, 400);
    const unknown = await server.app.inject({ method: 'GET', url: `/v1/reports/sox?${PERIOD}`, headers: admin });
    assert.equal(unknown.statusCode, 400);
  });
}

/** The SHA-256 named in a PDF's Title (Chromium writes the title as UTF-16BE hex). */
function pdfHash(pdf: Buffer): string {
  const hex = /\/Title\s*<FEFF([0-9A-F]+)>/.exec(pdf.toString('latin1'))?.[1] ?? '';
  const title = Buffer.from(hex, 'hex').swap16().toString('utf16le');
  return /SHA-256 ([0-9a-f]{64})/.exec(title)?.[1] ?? '';
}

describe('compliance report on SQLite', () => reportSuite('sqlite'));

describe('compliance report on PostgreSQL', async () => {
  const unavailable = await postgresUnavailable();
  if (unavailable) {
    it.skip(unavailable);
    return;
  }
  reportSuite('postgres');
});


