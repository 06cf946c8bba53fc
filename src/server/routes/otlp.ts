/**
 * OTLP/HTTP logs receiver (OpenTelemetry protocol, "OTLP/HTTP"): POST /v1/logs with an
 * ExportLogsServiceRequest as application/x-protobuf or the OTLP JSON encoding, optionally gzip. Each log
 * record becomes an audit event (src/ingest/otlp/map.ts); records that cannot be mapped are counted in
 * the answer's partialSuccess rather than failing the request, as the protocol asks. Anything that is the
 * caller's fault as a whole — a body that does not decode, a ledger or tenant outside the key's scope —
 * refuses the request before anything is stored.
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppendRequest } from '../../store/store.js';
import type { AppContext } from '../app.js';
import { requireLedger, tenantInScope } from '../auth.js';
import { SYSTEM_LEDGER } from '../access-log.js';
import { ApiError, errorHandler, toApiError } from '../errors.js';
import { BODY_SHAPE_LIMITS, scanBody } from '../json-body.js';
import { eventIdKey } from '../../store/idempotency.js';
import { BODY_ERRORS, keyedErrors, LEDGER_PATTERN } from '../schemas.js';
import { decodeProtobufRequest, encodeProtobufResponse, encodeRpcStatus } from '../../ingest/otlp/proto.js';
import { mapResourceLogs, type MappedResource } from '../../ingest/otlp/map.js';

const inflate = promisify(gunzip);
const PROTOBUF = 'application/x-protobuf';
const LEDGER = new RegExp(LEDGER_PATTERN);
/** Most log records in one request: the SDK's batch processor sends 512 by default. */
export const MAX_OTLP_RECORDS = 10_000;
/** An OTLP request is one JSON object: its values are bounded by the whole-body limit, not the per-item one. */
const OTLP_JSON_LIMITS = { ...BODY_SHAPE_LIMITS, maxUnitValues: BODY_SHAPE_LIMITS.maxValues, maxDepth: 64 };

interface OtlpBody {
  encoding: 'protobuf' | 'json';
  request: unknown;
}

export async function otlpRoutes(app: FastifyInstance, context: AppContext): Promise<void> {
  await app.register(async (scope) => {
    const inflatedLimit = scope.initialConfig.bodyLimit ?? 8 * 1024 * 1024;
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser([PROTOBUF, 'application/json'], { parseAs: 'buffer' }, async (request: FastifyRequest, raw: Buffer) => {
      const bytes = await decompressed(request, raw, inflatedLimit);
      if (isProtobuf(request)) return { encoding: 'protobuf', request: decodeProtobuf(bytes) } satisfies OtlpBody;
      return { encoding: 'json', request: await parseJson(bytes) } satisfies OtlpBody;
    });
    // A protobuf client reads a google.rpc.Status on failure (OTLP/HTTP "Failures"); JSON clients get the API's error body.
    scope.setErrorHandler((error, request, reply) => {
      if (!isProtobuf(request)) return errorHandler(error, request, reply);
      const apiError = toApiError(error);
      if (apiError.status >= 500) request.log.error({ err: error }, 'request failed');
      void reply.code(apiError.status).headers(apiError.headers).type(PROTOBUF).send(Buffer.from(encodeRpcStatus(grpcCode(apiError.status), `${apiError.code}: ${apiError.message}`)));
    });
    scope.post<{ Body: OtlpBody; Headers: { 'x-sealtrail-ledger'?: string } }>(
      '/logs',
      {
        schema: {
          summary: 'Receive OpenTelemetry logs (OTLP/HTTP) as audit events.',
          description:
            'An OTLP ExportLogsServiceRequest, as `application/x-protobuf` or the OTLP JSON encoding (`application/json`), optionally ' +
            '`Content-Encoding: gzip` (inflated size bounded by the body limit). Each log record becomes one audit event (docs/INGEST.md has ' +
            'the mapping); the ledger is the resource attribute `sealtrail.ledger`, else the `X-Sealtrail-Ledger` header. Answers an ' +
            'ExportLogsServiceResponse in the request\'s encoding, with `partialSuccess` counting the records that could not be mapped. ' +
            `At most ${MAX_OTLP_RECORDS} records per request. Errors of protobuf requests are a protobuf google.rpc.Status.`,
          headers: Type.Object({ 'x-sealtrail-ledger': Type.Optional(Type.String({ pattern: LEDGER_PATTERN })) }),
          response: {
            200: Type.Object(
              { partialSuccess: Type.Optional(Type.Object({ rejectedLogRecords: Type.Optional(Type.String()), errorMessage: Type.Optional(Type.String()) })) },
              { description: 'ExportLogsServiceResponse (JSON encoding shown; protobuf requests get it as protobuf).' },
            ),
            ...keyedErrors(BODY_ERRORS, 'FORBIDDEN', 'LEDGER_NOT_FOUND', 'IDEMPOTENCY_CONFLICT', 'CORRUPT'),
          },
        },
        validatorCompiler: () => () => true,
      },
      async (request, reply) => {
        const header = request.headers['x-sealtrail-ledger'];
        if (header !== undefined && !LEDGER.test(header)) throw new ApiError(400, 'INVALID_ARGUMENT', 'X-Sealtrail-Ledger is not a valid ledger name');
        const resources = mapRequest(request.body.request, header);
        const { batches, rejected, firstError } = authorize(request, resources);
        for (const [ledger, requests] of batches) {
          for (let at = 0; at < requests.length; at += context.maxBatch) await context.store.append(ledger, requests.slice(at, at + context.maxBatch));
        }
        return answer(reply, request.body.encoding, rejected, firstError ?? '');
      },
    );
  });
}

function isProtobuf(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF;
}

async function decompressed(request: FastifyRequest, raw: Buffer, limit: number): Promise<Buffer> {
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return raw;
  if (encoding !== 'gzip') throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not supported; use gzip or none`);
  try {
    // The inflated size is bounded, not just the wire size: a few KiB of gzip can inflate to GiBs.
    return await inflate(raw, { maxOutputLength: limit });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new ApiError(413, 'BODY_TOO_LARGE', `the body inflates past ${limit} bytes`);
    throw new ApiError(400, 'BAD_REQUEST', 'the body is not valid gzip');
  }
}

function decodeProtobuf(bytes: Buffer): unknown {
  let decoded: unknown;
  try {
    decoded = decodeProtobufRequest(bytes);
  } catch (error) {
    throw new ApiError(400, 'BAD_REQUEST', `the body is not an ExportLogsServiceRequest: ${(error as Error).message}`);
  }
  // Trace and span ids are hex in the JSON encoding, which the mapper reads; protobufjs gave base64.
  for (const resourceLogs of (decoded as { resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }> }).resourceLogs ?? []) {
    for (const scopeLogs of resourceLogs.scopeLogs ?? []) {
      for (const record of scopeLogs.logRecords ?? []) {
        for (const id of ['traceId', 'spanId']) if (typeof record[id] === 'string') record[id] = Buffer.from(record[id], 'base64').toString('hex');
      }
    }
  }
  return decoded;
}

async function parseJson(bytes: Buffer): Promise<unknown> {
  const scan = await scanBody(bytes, OTLP_JSON_LIMITS);
  if (scan.problem !== undefined) throw new ApiError(400, 'MALFORMED_JSON', scan.problem);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes), (key, value: unknown) => (key === '__proto__' ? undefined : value));
  } catch (error) {
    throw new ApiError(400, 'MALFORMED_JSON', `the body is not acceptable JSON: ${(error as Error).message}`);
  }
}

function mapRequest(body: unknown, headerLedger: string | undefined): MappedResource[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'BAD_REQUEST', 'the body must be an ExportLogsServiceRequest object');
  const resourceLogs = (body as { resourceLogs?: unknown }).resourceLogs ?? [];
  if (!Array.isArray(resourceLogs)) throw new ApiError(400, 'BAD_REQUEST', 'resourceLogs must be an array');
  const resources = resourceLogs.map((item) => mapResourceLogs(item, headerLedger));
  const total = resources.reduce((sum, r) => sum + r.records.length + r.rejected, 0);
  if (total > MAX_OTLP_RECORDS) throw new ApiError(400, 'INVALID_ARGUMENT', `a request holds at most ${MAX_OTLP_RECORDS} log records; this one has ${total}`);
  return resources;
}

/**
 * Groups the mapped records by ledger after checking the key may write every one of them: one ledger or
 * tenant outside the scope refuses the whole request, so nothing of it is stored.
 */
function authorize(request: FastifyRequest, resources: MappedResource[]) {
  const batches = new Map<string, AppendRequest[]>();
  let rejected = 0;
  let firstError: string | undefined;
  for (const resource of resources) {
    rejected += resource.rejected;
    firstError ??= resource.firstError;
    if (resource.records.length === 0) continue;
    const ledger = resource.ledger;
    if (ledger === undefined || !LEDGER.test(ledger)) {
      rejected += resource.records.length;
      firstError ??= ledger === undefined
        ? 'no ledger: set the resource attribute sealtrail.ledger or the X-Sealtrail-Ledger header'
        : `sealtrail.ledger ${JSON.stringify(ledger.slice(0, 80))} is not a valid ledger name`;
      continue;
    }
    requireLedger(request.principal, ledger, 'append');
    if (ledger === SYSTEM_LEDGER) throw new ApiError(403, 'FORBIDDEN', `only the server appends to ${SYSTEM_LEDGER}`);
    const batch = batches.get(ledger) ?? [];
    for (const { event, idempotencyKey } of resource.records) {
      if (!tenantInScope(request.principal, event.tenant)) {
        throw new ApiError(403, 'FORBIDDEN', `this key may only write events of tenants ${request.principal.tenants.join(', ')}`);
      }
      const key = event.id !== undefined ? eventIdKey(event.id) : idempotencyKey;
      batch.push({ event, writer: request.principal.id, ...(key !== undefined ? { idempotencyKey: key } : {}) });
    }
    batches.set(ledger, batch);
  }
  return { batches, rejected, firstError };
}

function answer(reply: FastifyReply, encoding: OtlpBody['encoding'], rejected: number, errorMessage: string) {
  if (encoding === 'protobuf') return reply.code(200).type(PROTOBUF).send(Buffer.from(encodeProtobufResponse(rejected, errorMessage)));
  const body = rejected === 0 && errorMessage === '' ? {} : { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage } };
  return reply.code(200).type('application/json').send(body);
}

/** The gRPC status code OTLP/HTTP pairs with an HTTP status. */
function grpcCode(status: number): number {
  const codes: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 3, 415: 3, 429: 8, 503: 14 };
  return codes[status] ?? 13;
}
