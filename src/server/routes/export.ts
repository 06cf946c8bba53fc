/**
 * Streaming export of a search result (docs/EXPORT.md):
 *   GET /v1/ledgers/{ledger}/export?q=&format=jsonl|csv|ocsf|cef|syslog
 *
 * The export is a snapshot: it covers the matching entries below the tree size at the start of the
 * request (new appends do not make it run forever). It pages through store.searchForExport in index
 * order and writes formatted lines to the response as the client reads them (a pull-based Readable), so
 * memory stays constant whatever the size. A tenant-scoped key exports only its tenants (scopedQuery).
 *
 * Errors found before the first byte (bad format or query, unknown ledger, a query the store refuses)
 * are ordinary JSON errors. One after it can only abort the response: the chunked body then ends
 * without its terminating chunk, which every HTTP client reports as an error rather than a short file.
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { exportFormatter, EXPORT_FORMATS, isExportFormat, MAX_ENTERPRISE_NUMBER, recordWithAttribution, type ExportFormatter } from '../../core/export/index.js';
import type { Query } from '../../core/query.js';
import { GEO_ATTRIBUTION } from '../../platform/geo.js';
import type { Disclosures } from '../../core/commitments.js';
import type { ExportHit, ExportPage, Store } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { ledgerNotFound, requireLedger } from '../auth.js';
import { ApiError } from '../errors.js';
import { keyedErrors, LedgerParams } from '../schemas.js';
import { scopedQuery } from './search.js';

/**
 * Entries read per store.searchForExport call: a quarter of search's maximum, because SQLite reads an
 * export of one index range on the event loop (sqlite-store.ts bulkRows) and 250 rows take it a few
 * milliseconds. Fewer entries per page cost one more statement per page, nothing measurable.
 */
export const EXPORT_PAGE = 250;
/** Characters of formatted output gathered before a chunk is handed to the response. */
const CHUNK_CHARS = 64 * 1024;

const ExportQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 2000, description: 'Query (docs/SEARCH.md); empty exports every event.' })),
  // A string enum rather than a union of literals: one `enum` in the OpenAPI document, one error to replace.
  format: Type.Optional(
    Type.String({
      enum: [...EXPORT_FORMATS],
      default: 'jsonl',
      description: 'jsonl (JSON Lines), csv (RFC 4180), ocsf (OCSF 1.8.0 JSON Lines), cef (ArcSight CEF), syslog (RFC 5424).',
    }),
  ),
  enterprise_number: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_ENTERPRISE_NUMBER,
      description:
        "syslog only: the IANA private enterprise number in the SD-IDs (seal@N, event@N). Default: the server's configured one, else 32473, which RFC 5612 reserves for documentation.",
    }),
  ),
});

const STREAM = { type: 'string', description: 'One line per event (CSV: after a header row); docs/EXPORT.md.' } as const;

/**
 * The export body as text chunks: the format's header, then every entry of `first` and the pages after
 * it, formatted. Exported for the benchmark, which times exactly this path.
 *
 * Pages come from store.searchForExport (the entries search would return, with the disclosures left as
 * stored text), and the next page is asked for before this one is formatted, so that on SQLite the read
 * thread fetches it while this thread writes lines. JSON Lines and CSV lines are written from the text
 * (core/export/raw.ts); any entry that path declines (redactions, an unusual shape) and every other
 * format go through recordWithAttribution and the formatter, which define the output. The generator
 * yields a chunk only when the consumer pulls (Readable.from waits for the socket to drain), so at most
 * two pages and one chunk are held, whatever the size of the export.
 */
export async function* exportChunks(store: Store, ledger: string, query: Query, formatter: ExportFormatter, first?: ExportPage): AsyncGenerator<string> {
  const read = (after?: number) => store.searchForExport(ledger, { query, limit: EXPORT_PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
  let chunk = formatter.header;
  let page = first ?? (await read());
  for (;;) {
    const pending = page.next === null ? undefined : read(page.next);
    // Awaited below; this only keeps an export the client abandoned meanwhile from leaving an unhandled rejection.
    pending?.catch(() => {});
    for (const entry of page.entries) {
      // The geolocation data's licence (CC BY 4.0) asks for attribution wherever its places are shown.
      chunk += formatter.rawLine?.(entry, GEO_ATTRIBUTION) ?? formatter.line(recordWithAttribution(parsedEntry(entry), GEO_ATTRIBUTION));
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk;
        chunk = '';
      }
    }
    if (!pending) break;
    page = await pending;
  }
  if (chunk.length > 0) yield chunk;
}

/** An export hit with its disclosures parsed, for recordWithAttribution. */
function parsedEntry(entry: ExportHit): ExportHit & { disclosures: Disclosures } {
  return { ...entry, disclosures: JSON.parse(entry.disclosuresJson) as Disclosures };
}

/** `query` narrowed to entries below `size`: the snapshot an export covers. */
export function boundedQuery(query: Query, size: number): Query {
  return { clauses: [...query.clauses, { field: 'index', negate: false, anyOf: [{ kind: 'range', to: size }], position: 0 }] };
}

/** 2026-11-26T07:51:51.123Z → 20261126T075151Z, for file names. */
function fileStamp(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** Attached validation errors, with the list of formats when the format is what was wrong. */
function validationFailure(request: FastifyRequest): ApiError {
  const error = request.validationError!;
  const format = (request.query as { format?: unknown } | undefined)?.format;
  if ((error as { validation?: Array<{ instancePath?: string }> }).validation?.some((v) => v.instancePath === '/format')) {
    return new ApiError(400, 'INVALID_ARGUMENT', `format ${JSON.stringify(format)} is not supported; use one of ${EXPORT_FORMATS.join(', ')}`, {
      formats: [...EXPORT_FORMATS],
    });
  }
  return new ApiError(400, 'INVALID_ARGUMENT', error.message);
}

export async function exportRoutes(app: FastifyInstance, { store, syslogEnterpriseNumber }: AppContext): Promise<void> {
  app.get<{ Params: { ledger: string }; Querystring: { q?: string; format?: string; enterprise_number?: number } }>(
    '/ledgers/:ledger/export',
    {
      // Validation errors reach the handler, which answers a bad format with the list of good ones.
      attachValidation: true,
      schema: {
        summary: 'Export every event matching a query, streamed, as JSON Lines, CSV, OCSF, CEF or RFC 5424 syslog.',
        description:
          'Readers, auditors and admins. The export covers the entries sealed before the request (below X-Sealtrail-Tree-Size). ' +
          'X-Sealtrail-Match-Count is sent when the query (with the key\'s tenant scope) is empty. A failure after the first byte aborts the response.',
        params: LedgerParams,
        querystring: ExportQuery,
        response: {
          200: {
            description: 'The export, as an attachment.',
            content: {
              'application/x-ndjson': { schema: STREAM },
              'text/csv': { schema: STREAM },
              'text/plain': { schema: STREAM },
            },
          },
          ...keyedErrors('FORBIDDEN', 'LEDGER_NOT_FOUND', 'QUERY_TOO_COSTLY', 'QUERY_TIMEOUT'),
        },
      },
    },
    async (request, reply) => {
      if (request.validationError) throw validationFailure(request);
      const { ledger } = request.params;
      requireLedger(request.principal, ledger, 'read');
      const format = request.query.format ?? 'jsonl';
      if (!isExportFormat(format)) throw new ApiError(400, 'INVALID_ARGUMENT', `format must be one of ${EXPORT_FORMATS.join(', ')}`);
      // Silently ignoring it would let a user believe their CSV or CEF carries their PEN.
      if (request.query.enterprise_number !== undefined && format !== 'syslog') {
        throw new ApiError(400, 'INVALID_ARGUMENT', 'enterprise_number applies only to format=syslog');
      }
      const query = scopedQuery(request.query.q, request.principal);
      const info = await store.getLedger(ledger);
      if (!info) throw ledgerNotFound(ledger);
      const snapshot = boundedQuery(query, info.size);
      // The first page is read before any header is sent, so that whatever the store refuses (a short
      // free-text term, for one) is a 400 and not a truncated download.
      const first = await store.searchForExport(ledger, { query: snapshot, limit: EXPORT_PAGE, order: 'asc' });
      const hostname = info.origin.slice(0, info.origin.lastIndexOf('/'));
      const formatter = exportFormatter(format, { hostname, enterpriseNumber: request.query.enterprise_number ?? syslogEnterpriseNumber });
      void reply
        .type(formatter.contentType)
        .header('content-disposition', `attachment; filename="${ledger}-${fileStamp(new Date())}.${formatter.extension}"`)
        .header('x-sealtrail-tree-size', String(info.size));
      // Counting matches costs a scan of its own; only the empty query's count is known for free.
      if (query.clauses.length === 0) void reply.header('x-sealtrail-match-count', String(info.size));
      const body = Readable.from(exportChunks(store, ledger, snapshot, formatter, first), { objectMode: false, highWaterMark: CHUNK_CHARS });
      return reply.send(body);
    },
  );
}

