/**
 * The one place where errors become HTTP responses. Every error body is
 * `{"error": CODE, "message": text, ...details}`; codes are stable and listed in docs/API.md.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { SealtrailError } from '../core/errors.js';
import { StoreError } from '../store/store.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const CORE_STATUS: Record<string, number> = {
  INVALID_EVENT: 400,
  INVALID_ARGUMENT: 400,
  MALFORMED: 400,
  INVALID_PROOF: 400,
  BAD_SIGNATURE: 400,
  COMMITMENT_MISMATCH: 400,
  VERIFICATION_FAILED: 400,
  QUERY_TOO_COSTLY: 400,
};

const STORE_STATUS: Record<string, number> = {
  LEDGER_NOT_FOUND: 404,
  NOT_FOUND: 404,
  IDEMPOTENCY_CONFLICT: 409,
  OVERLOADED: 503,
  QUERY_TIMEOUT: 503,
  SCHEMA_TOO_NEW: 500,
  CORRUPT: 500,
  LEDGER_INTEGRITY: 503,
};

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
};

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof SealtrailError) {
    return new ApiError(CORE_STATUS[error.code] ?? 400, error.code, error.message, { ...error.details });
  }
  if (error instanceof StoreError) {
    const headers: Record<string, string> = error.code === 'OVERLOADED' ? { 'retry-after': '1' } : {};
    return new ApiError(STORE_STATUS[error.code] ?? 500, error.code, error.message, { ...error.details }, headers);
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return new ApiError(400, 'INVALID_ARGUMENT', fastifyError.message);
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Fastify's own 4xx (bad JSON, prototype keys, body too large, wrong content type) under stable codes.
    const code = FASTIFY_CODES[fastifyError.code] ?? 'BAD_REQUEST';
    const message = fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /prototype/i.test(fastifyError.message)
      ? `the body is not acceptable JSON: ${fastifyError.message}`
      : fastifyError.message;
    return new ApiError(fastifyError.statusCode, code, message);
  }
  return new ApiError(500, 'INTERNAL', 'internal error; the server log has details');
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(error);
  if (apiError.status >= 500) request.log.error({ err: error }, 'request failed');
  void reply
    .code(apiError.status)
    .headers(apiError.headers)
    .type('application/json')
    .send({ error: apiError.code, message: apiError.message, ...apiError.details });
}
