/**
 * Compliance reports and client access certificates (docs/REPORTS.md):
 *   GET /v1/reports/{framework}?from=&to=&ledgers=&tenant=&format=json|html|pdf&verify=full|checkpoints
 *   GET /v1/certificates/{tenant}?from=&to=&ledgers=&format=json|html|pdf
 *   GET /v1/reports/sealed/{sha256}      the system-ledger record that sealed a report or certificate
 * Auditors and admins only. Ledgers are those named (each in the key's scope) or every ledger the key may
 * read; a tenant-scoped key reports on one of its tenants only. Each report's SHA-256 is sealed as a
 * `report.generate` / `certificate.generate` event in the system ledger before the answer is sent (fail
 * closed, as access-log.ts does), and a refused request is recorded there too, as a failure.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { validateEvent, type AuditEvent } from '../../core/event.js';
import { isIPv4, isIPv6 } from '../../core/ip.js';
import { parseVerifierKey } from '../../core/note.js';
import { FRAMEWORK_IDS, isFrameworkId, type FrameworkId } from '../../reports/frameworks.js';
import { buildReport } from '../../reports/report.js';
import { buildCertificate } from '../../reports/certificate.js';
import { certificateHtml, reportHtml } from '../../reports/html.js';
import { htmlToPdf, ReportError } from '../../reports/pdf.js';
import { findSeal, sealDigest, type SealKind } from '../../reports/seal.js';
import { VERIFICATION_MODES, type VerificationMode } from '../../reports/integrity.js';
import type { ReportScope } from '../../reports/scope.js';
import type { Store } from '../../store/store.js';
import { clean, SERVER_WRITER, SYSTEM_LEDGER } from '../access-log.js';
import type { AppContext } from '../app.js';
import { inScope, ledgerNotFound, requireLedger, type Principal } from '../auth.js';
import { ApiError } from '../errors.js';
import { keyedErrors, LEDGER_PATTERN } from '../schemas.js';
import type { IntegritySource } from './integrity.js';

const FORMATS = ['json', 'html', 'pdf'] as const;
type Format = (typeof FORMATS)[number];
/** Longest period a report may cover: HIPAA's six years, plus a leap day or two. */
const MAX_PERIOD_DAYS = 6 * 366 + 2;
const TENANT_PATTERN = '^[^\\u0000-\\u001f]{1,256}$';

const PeriodQuery = {
  from: Type.String({ maxLength: 40, description: 'Start of the period (inclusive): RFC 3339 time or a date (UTC midnight).' }),
  to: Type.String({ maxLength: 40, description: 'End of the period (exclusive): RFC 3339 time or a date.' }),
  ledgers: Type.Optional(Type.String({ maxLength: 4096, description: 'Comma-separated ledger names (default: every ledger the key may read).' })),
  format: Type.Optional(Type.Union(FORMATS.map((f) => Type.Literal(f)), { default: 'json', description: 'json (the document), html (one printable page) or pdf (needs Chromium on the server).' })),
};

const DOCUMENT_RESPONSE = {
  description: 'The document: JSON (schema in docs/REPORTS.md), a self-contained HTML page or a PDF. Header Sealtrail-Seal names the sealing record (ledger/index).',
  content: {
    'application/json': { schema: { type: 'object', additionalProperties: true } },
    'text/html': { schema: { type: 'string' } },
    'application/pdf': { schema: { type: 'string', format: 'binary' } },
  },
};

interface PeriodParams {
  from: string;
  to: string;
  ledgers?: string;
  format?: Format;
}

export async function reportRoutes(app: FastifyInstance, { store, suite, verifierKey }: AppContext, integrity?: IntegritySource): Promise<void> {
  const verifier = parseVerifierKey(suite, verifierKey);
  const monitor = (ledger: string) => integrity?.status().ledgers.find((l) => l.ledger === ledger);

  app.get<{ Params: { framework: string }; Querystring: PeriodParams & { tenant?: string; verify?: VerificationMode } }>(
    '/reports/:framework',
    {
      schema: {
        summary: 'A compliance report: the evidence sealtrail holds for a framework\'s logging and monitoring controls over a period.',
        description: 'Auditors and admins. The report\'s SHA-256 is sealed as a report.generate event in the system ledger before it is sent.',
        params: Type.Object({ framework: Type.Union(FRAMEWORK_IDS.map((f) => Type.Literal(f))) }),
        querystring: Type.Object({
          ...PeriodQuery,
          tenant: Type.Optional(Type.String({ pattern: TENANT_PATTERN, description: 'Only this tenant\'s events (a tenant-scoped key must name one of its tenants).' })),
          verify: Type.Optional(Type.Union(VERIFICATION_MODES.map((m) => Type.Literal(m)), { default: 'full', description: 'full: every entry of the period verified, below the integrity monitor\'s watermark by citing its run, the rest now; entries: every entry re-derived now; checkpoints: only the signed checkpoints.' })),
        }),
        response: { 200: DOCUMENT_RESPONSE, ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TIMEOUT') },
      },
      onSend: recordRefusal(store, 'report'),
    },
    async (request, reply) => {
      const principal = requireOversight(request.principal);
      const framework = request.params.framework as FrameworkId;
      if (!isFrameworkId(framework)) throw new ApiError(400, 'INVALID_ARGUMENT', `framework must be one of ${FRAMEWORK_IDS.join(', ')}`);
      const scope = await resolveScope(store, principal, request.query, request.query.tenant);
      const document = await buildReport({
        store,
        framework,
        scope,
        deployment: verifier.name,
        generatedBy: principal.id,
        nowMicros: Date.now() * 1000,
        integrity: { suite, verifier, mode: request.query.verify ?? 'full', monitor },
        deploymentWide: deploymentWide(principal, scope),
      });
      const rendered = await render(request.query.format ?? 'json', document, () => reportHtml(document));
      await seal(store, request, reply, 'report', { sha256: document.sha256, subject: framework, scope });
      return send(reply, rendered, `sealtrail-${framework}-${document.period.from.slice(0, 10)}`);
    },
  );

  app.get<{ Params: { tenant: string }; Querystring: PeriodParams }>(
    '/certificates/:tenant',
    {
      schema: {
        summary: "A client access certificate: every access to one tenant's records in a period, with signed-checkpoint references.",
        description: 'Auditors and admins whose scope includes the tenant. Sealed as a certificate.generate event. The evidence bundle of each ledger is POST /v1/ledgers/{ledger}/bundle with the cited query.',
        params: Type.Object({ tenant: Type.String({ pattern: TENANT_PATTERN }) }),
        querystring: Type.Object(PeriodQuery),
        response: { 200: DOCUMENT_RESPONSE, ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TIMEOUT') },
      },
      onSend: recordRefusal(store, 'certificate'),
    },
    async (request, reply) => {
      const principal = requireOversight(request.principal);
      const scope = await resolveScope(store, principal, request.query, request.params.tenant);
      const document = await buildCertificate({
        store,
        scope: { ...scope, tenant: request.params.tenant },
        deployment: verifier.name,
        generatedBy: principal.id,
        nowMicros: Date.now() * 1000,
      });
      const rendered = await render(request.query.format ?? 'json', document, () => certificateHtml(document));
      await seal(store, request, reply, 'certificate', { sha256: document.sha256, subject: 'access-certificate', scope });
      return send(reply, rendered, `sealtrail-certificate-${document.period.from.slice(0, 10)}`);
    },
  );

  app.get<{ Params: { sha256: string } }>(
    '/reports/sealed/:sha256',
    {
      schema: {
        summary: 'The system-ledger records that sealed a report or certificate of this SHA-256 (none: an empty list).',
        params: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        response: {
          200: Type.Object({
            records: Type.Array(
              Type.Object({
                ledger: Type.String(),
                index: Type.Integer(),
                received_at: Type.String(),
                action: Type.String(),
                actor: Type.String(),
                tenant: Type.Union([Type.String(), Type.Null()]),
                metadata: Type.Record(Type.String(), Type.Unknown()),
              }),
            ),
          }),
          ...keyedErrors('FORBIDDEN'),
        },
      },
    },
    async (request) => {
      const principal = requireOversight(request.principal);
      // None found is an answer, not an error: "this report was never sealed (or not for your tenants)".
      const records = await findSeal(store, request.params.sha256, principal.tenants);
      request.resultCount = records.length;
      return { records };
    },
  );
}

function requireOversight(principal: Principal): Principal {
  if (principal.role !== 'auditor' && principal.role !== 'admin') throw new ApiError(403, 'FORBIDDEN', `the ${principal.role} role cannot make reports; use an auditor or admin key`);
  return principal;
}

function parseTime(name: string, text: string): number {
  const millis = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(millis) || millis < 0) throw new ApiError(400, 'INVALID_ARGUMENT', `${name} must be an RFC 3339 time or a date (2026-01-31)`);
  return millis * 1000;
}

async function resolveScope(store: Store, principal: Principal, query: PeriodParams, tenant: string | undefined): Promise<ReportScope> {
  const fromMicros = parseTime('from', query.from);
  const toMicros = parseTime('to', query.to);
  if (toMicros <= fromMicros) throw new ApiError(400, 'INVALID_ARGUMENT', 'to must be after from');
  if (toMicros - fromMicros > MAX_PERIOD_DAYS * 86_400_000_000) throw new ApiError(400, 'INVALID_ARGUMENT', `a period is at most ${MAX_PERIOD_DAYS} days`);
  const allTenants = principal.tenants.includes('*');
  if (tenant === undefined && !allTenants) {
    if (principal.tenants.length !== 1) throw new ApiError(400, 'INVALID_ARGUMENT', 'this key is scoped to several tenants: name one with tenant=');
    tenant = principal.tenants[0];
  }
  if (tenant !== undefined && !allTenants && !principal.tenants.includes(tenant)) throw new ApiError(403, 'FORBIDDEN', 'this key may not read that tenant');
  const ledgers = await scopeLedgers(store, principal, query.ledgers);
  return { ledgers, fromMicros, toMicros, ...(tenant !== undefined ? { tenant } : {}) };
}

async function scopeLedgers(store: Store, principal: Principal, names: string | undefined): Promise<string[]> {
  if (names) {
    const requested = [...new Set(names.split(',').map((n) => n.trim()).filter(Boolean))];
    if (requested.length > 100) throw new ApiError(400, 'INVALID_ARGUMENT', 'at most 100 ledgers');
    for (const ledger of requested) {
      if (!new RegExp(LEDGER_PATTERN).test(ledger)) throw new ApiError(400, 'INVALID_ARGUMENT', `${JSON.stringify(ledger.slice(0, 80))} is not a ledger name`);
      requireLedger(principal, ledger, 'read');
      if (!(await store.getLedger(ledger))) throw ledgerNotFound(ledger);
    }
    return requested;
  }
  return (await store.listLedgers()).map((l) => l.name).filter((name) => name !== SYSTEM_LEDGER && inScope(principal, name));
}

/** Deployment-wide records (who read the audit log, sinks) go only to keys that may read all of it. */
function deploymentWide(principal: Principal, scope: ReportScope): { included: boolean; note?: string } {
  if (scope.tenant !== undefined) return { included: false, note: "the system ledger's access records carry no tenant, so a tenant's report leaves them out" };
  if (!principal.tenants.includes('*') || !inScope(principal, SYSTEM_LEDGER)) return { included: false, note: `the key may not read ${SYSTEM_LEDGER}` };
  return { included: true };
}

interface Rendered {
  type: string;
  extension: string;
  body: string | Buffer;
}

async function render(format: Format, document: object, html: () => string): Promise<Rendered> {
  if (format === 'json') return { type: 'application/json; charset=utf-8', extension: 'json', body: `${JSON.stringify(document, null, 2)}\n` };
  if (format === 'html') return { type: 'text/html; charset=utf-8', extension: 'html', body: html() };
  try {
    return { type: 'application/pdf', extension: 'pdf', body: await htmlToPdf(html()) };
  } catch (error) {
    if (error instanceof ReportError) throw new ApiError(400, 'INVALID_ARGUMENT', `format=pdf is not available on this server: ${error.message}`);
    throw error;
  }
}

function send(reply: FastifyReply, rendered: Rendered, name: string) {
  return reply.type(rendered.type).header('content-disposition', `attachment; filename="${name}.${rendered.extension}"`).send(rendered.body);
}

const clientIp = (request: FastifyRequest) => (isIPv4(request.ip) || isIPv6(request.ip) ? request.ip : undefined);

async function seal(store: Store, request: FastifyRequest, reply: FastifyReply, kind: SealKind, what: { sha256: string; subject: string; scope: ReportScope }): Promise<void> {
  const { scope } = what;
  const ip = clientIp(request);
  const receipt = await sealDigest(store, {
    kind,
    sha256: what.sha256,
    subject: what.subject,
    from: new Date(scope.fromMicros / 1000).toISOString(),
    to: new Date(scope.toMicros / 1000).toISOString(),
    ledgers: scope.ledgers,
    tenant: scope.tenant ?? null,
    actor: request.principal.id,
    ...(ip ? { ip } : {}),
  });
  void reply.header('sealtrail-seal', `${receipt.ledger}/${receipt.index}`);
}

/**
 * A refused report or certificate request is recorded as a failed report.generate (certificate.generate)
 * in the system ledger; a successful one was sealed by the handler. Requests without a principal (401)
 * are the access log's to record.
 */
function recordRefusal(store: Store, kind: SealKind) {
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (reply.statusCode < 400 || !request.principal) return payload;
    const ip = clientIp(request);
    const event: AuditEvent = {
      actor: { type: 'api_key', id: request.principal.id },
      action: kind === 'report' ? 'report.generate' : 'certificate.generate',
      category: 'export',
      ...(ip ? { origin: { ip } } : {}),
      outcome: 'failure',
      outcome_reason: `HTTP ${reply.statusCode}`,
      metadata: { route: `GET ${request.routeOptions.url ?? ''}`, status: reply.statusCode, query: clean(request.url.split('?')[1] ?? '', 1024) },
    };
    await store.append(SYSTEM_LEDGER, [{ event: validateEvent(event), writer: SERVER_WRITER }]);
    return payload;
  };
}
