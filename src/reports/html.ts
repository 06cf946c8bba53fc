/**
 * Reports and certificates as one self-contained, printable HTML page: no scripts, no external assets
 * (the page's own CSP forbids loading any), every value escaped. In print, each page's bottom margin
 * carries the document's SHA-256 and the page number (CSS paged-media margin boxes); the <title>
 * carries it too, so a PDF's metadata names it.
 */
import type { CertificateDocument } from './certificate.js';
import type { ReportDocument } from './report.js';

const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const table = (headers: string[], rows: unknown[][]): string =>
  rows.length === 0
    ? '<p class="none">none</p>'
    : `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
        .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;

const list = (items: string[]) => `<ul>${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;

const cited = (c: { ledger: string; query: string; indexes?: [number, number] } | null | undefined): string =>
  c ? `${c.ledger}: ${c.query}${c.indexes ? ` (indexes ${c.indexes[0]}–${c.indexes[1]})` : ''}` : '';

const buckets = (b: Array<{ key: string | null; count: number }> | undefined) => (b ?? []).map((x) => `${x.key ?? '(none)'} ${x.count}`).join(', ');

function page(title: string, sha256: string, body: string): string {
  // The digest is lowercase hex: safe inside a CSS string as it is.
  const digest = /^[0-9a-f]{64}$/.test(sha256) ? sha256 : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeHtml(title)} — SHA-256 ${digest}</title>
<style>
@page { size: A4; margin: 16mm 14mm 20mm 14mm;
  @bottom-left { content: "SHA-256 ${digest}"; font: 7pt monospace; color: #333; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font: 7pt sans-serif; color: #333; } }
body { font: 10pt/1.4 system-ui, sans-serif; color: #111; max-width: 60em; margin: 1em auto; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; border-bottom: 1px solid #999; margin-top: 1.4em; } h3 { font-size: 10.5pt; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: left; vertical-align: top; word-break: break-word; }
thead { display: table-header-group; } tr { break-inside: avoid; }
.cite, .none { color: #444; font-size: 8pt; } .failed { color: #a00; font-weight: bold; }
footer { margin-top: 2em; font: 8pt monospace; border-top: 1px solid #999; padding-top: .5em; word-break: break-all; }
</style></head><body>
${body}
<footer>SHA-256 ${digest}: the SHA-256 of the RFC 8785 canonical JSON of this document without its sha256 member (docs/REPORTS.md); its sealing record is in the sealtrail-system ledger.</footer>
</body></html>
`;
}

export function reportHtml(doc: ReportDocument): string {
  const e = doc.evidence;
  const sections = [
    `<h1>${escapeHtml(doc.framework.name)}: logging and monitoring evidence</h1>`,
    `<p>Deployment <b>${escapeHtml(doc.deployment)}</b>; period ${escapeHtml(doc.period.from)} to ${escapeHtml(doc.period.to)}; ledgers ${escapeHtml(doc.scope.ledgers.join(', '))}${
      doc.scope.tenant ? `; tenant ${escapeHtml(doc.scope.tenant)}` : ''
    }. Generated ${escapeHtml(doc.generated_at)} by ${escapeHtml(doc.generated_by)}.</p>`,
    '<h2>Controls</h2>',
    ...doc.controls.map((c) => `<h3>${escapeHtml(c.id)} ${escapeHtml(c.title)}</h3><p>${escapeHtml(c.paraphrase)}</p>${list(c.summary)}`),
    '<h2>Volume per day</h2>',
    ...e.volume.map((v) => `<h3>${escapeHtml(v.ledger)}: ${v.total} events</h3>${table(['day', 'events'], v.days.map((d) => [d.day, d.count]))}<p class="cite">${escapeHtml(cited(v.citation))}</p>`),
    '<h2>Event types</h2>',
    table(['ledger', 'actions', 'categories', 'outcomes'], e.event_types.map((t) => [t.ledger, buckets(t.actions), buckets(t.categories), buckets(t.outcomes)])),
    '<h2>Gaps in logging</h2>',
    table(
      ['ledger', 'source', 'rhythm', 'gap from', 'to', 'hours', 'usually', 'cited'],
      e.gaps.flatMap((g) => g.gaps.map((x) => [g.ledger, `${g.source.kind} ${g.source.id}`, g.cycle, x.from, x.to, x.hours, x.expected_events, cited(x.citation)])),
    ),
    `<p class="cite">${e.gaps.length} sources judged; sources with fewer than 24 active hours are not judged.</p>`,
    '<h2>Integrity verification</h2>',
    table(
      ['ledger', 'mode', 'result', 'entries', 'checkpoints', 'first', 'last', 'reason'],
      e.integrity.map((i) => [i.ledger, i.mode, i.result.toUpperCase(), i.entries ? `${i.entries.from}–${i.entries.to}` : '', i.checkpoints?.count ?? 0, i.checkpoints ? `${i.checkpoints.first.size} ${i.checkpoints.first.root}` : '', i.checkpoints ? `${i.checkpoints.last.size} ${i.checkpoints.last.root}` : '', i.reason ?? '']),
    ),
    ...e.integrity.map(
      (i) =>
        `<h3>${escapeHtml(i.ledger)}: verified now</h3>${list(i.verified_now ?? [])}` +
        (i.cited
          ? `<h3>${escapeHtml(i.ledger)}: cited</h3><p>${escapeHtml(i.cited.statement)}</p><p class="cite">checkpoint ${i.cited.checkpoint.size} ${escapeHtml(i.cited.checkpoint.root)}; consistency proof ${i.consistency?.from}→${i.consistency?.to}: ${escapeHtml((i.consistency?.proof ?? []).join(' ') || '(empty: same tree)')}</p>`
          : ''),
    ),
    '<h2>Retention</h2>',
    `<p>Minimum checked: ${e.retention.minimum_months === null ? 'none' : `${e.retention.minimum_months} months`}. ${escapeHtml(e.retention.basis)}</p>`,
    table(['rule', 'applies to', 'retain', 'meets minimum'], e.retention.rules.map((r) => [r.id, r.applies_to, r.retain, r.meets_minimum === null ? 'n/a' : r.meets_minimum ? 'yes' : 'NO'])),
    '<h2>Legal holds</h2>',
    table(['id', 'ledgers', 'query', 'reason', 'owner', 'created', 'released'], e.legal_holds.map((h) => [h.id, h.ledgers.join(','), h.query, h.reason, h.owner, h.created_at, h.released_at ?? ''])),
    '<h2>Who read the audit log</h2>',
    e.audit_log_access.included
      ? `${table(['key', 'reads and exports'], (e.audit_log_access.readers ?? []).map((r) => [r.key, r.count]))}<p class="cite">${escapeHtml(cited(e.audit_log_access.citation))}</p>`
      : `<p>${escapeHtml(e.audit_log_access.note)}</p>`,
    '<h2>Alerts</h2>',
    e.alerts.configured
      ? table(['alert', 'rule', 'severity', 'first seen', 'status', 'handled by', 'at'], (e.alerts.alerts ?? []).map((a) => [a.id, a.rule, a.severity, a.first_seen, a.status, a.handled_by ?? '', a.handled_at ?? '']))
      : `<p>${escapeHtml(e.alerts.note)}</p>`,
    '<h2>Sink health</h2>',
    e.sinks.sinks ? table(['sink', 'type', 'failing', 'lagging', 'last success'], e.sinks.sinks.map((s) => [s.name, s.type, s.failing, s.lagging, s.last_success ?? ''])) : `<p>${escapeHtml(e.sinks.note)}</p>`,
    '<h2>What this report does not prove</h2>',
    list(doc.does_not_prove),
  ];
  return page(`sealtrail ${doc.framework.id} report ${doc.period.from} – ${doc.period.to}`, doc.sha256, sections.join('\n'));
}

export function certificateHtml(doc: CertificateDocument): string {
  const sections = [
    `<h1>Access certificate for tenant ${escapeHtml(doc.tenant)}</h1>`,
    `<p>Deployment <b>${escapeHtml(doc.deployment)}</b>; period ${escapeHtml(doc.period.from)} to ${escapeHtml(doc.period.to)}. Generated ${escapeHtml(doc.generated_at)} by ${escapeHtml(doc.generated_by)}.</p>`,
    `<p>${escapeHtml(doc.definition)}</p>`,
    '<h2>Ledgers and signed checkpoints</h2>',
    table(
      ['ledger', 'accesses', 'by category', 'checkpoint (size, root)', 'selection'],
      doc.ledgers.map((l) => [l.ledger, l.accesses, buckets(l.by_category), l.checkpoint ? `${l.checkpoint.size} ${l.checkpoint.root}` : 'none', cited(l.citation)]),
    ),
    `<h2>Accesses (${doc.accesses.length} of ${doc.accesses_total} listed)</h2>`,
    table(['time', 'actor', 'action', 'resource', 'origin', 'outcome', 'ledger/index'], doc.accesses.map((a) => [a.occurred_at ?? a.received_at, a.actor, a.action, a.resource, a.origin, a.outcome, `${a.ledger}/${a.index}`])),
    '<h2>Reads of the audit log by keys scoped to this tenant</h2>',
    `<p>${doc.audit_log_reads.total} by ${doc.audit_log_reads.keys.length} key(s): ${escapeHtml(buckets(doc.audit_log_reads.by_action))}</p><p class="cite">${escapeHtml(cited(doc.audit_log_reads.citation))}</p>`,
    '<h2>What this certificate proves</h2>',
    list(doc.proves),
    '<h2>What it does not prove</h2>',
    list(doc.does_not_prove),
  ];
  return page(`sealtrail access certificate ${doc.tenant} ${doc.period.from} – ${doc.period.to}`, doc.sha256, sections.join('\n'));
}
