/** Response and parameter schemas of the HTTP API, for validation of inputs and the OpenAPI document. */
import { Type } from '@sinclair/typebox';
import { ROLES } from '../store/store.js';

export const LEDGER_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

export const LedgerParams = Type.Object({
  ledger: Type.String({ pattern: LEDGER_PATTERN, description: 'Ledger name: 1–64 of [a-z0-9._-], starting alphanumeric.' }),
});

export const IndexParam = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable error code, e.g. INVALID_EVENT.' }),
    message: Type.String(),
  },
  { additionalProperties: true, $id: 'Error' },
);

export const Receipt = Type.Object(
  {
    ledger: Type.String(),
    index: Type.Integer({ description: 'Position of the event in the ledger (leaf index).' }),
    leaf_hash: Type.String({ description: 'Standard base64 of the RFC 6962 leaf hash.' }),
    received_at: Type.String({ description: 'Server time of sealing, RFC 3339 UTC with microseconds.' }),
    tree_size: Type.Integer({ description: 'Size of the tree in `checkpoint`; index < tree_size.' }),
    checkpoint: Type.String({ description: 'Signed checkpoint (C2SP signed note) covering this event.' }),
    duplicate: Type.Boolean({ description: 'True when this answers a retry: the event was sealed earlier.' }),
  },
  { description: 'Proof of sealing for one event.' },
);

export const LedgerInfo = Type.Object(
  {
    name: Type.String(),
    origin: Type.String({ description: 'Checkpoint origin line: <deployment name>/<ledger>.' }),
    created_at: Type.String(),
    size: Type.Integer({ description: 'Tree size of the latest checkpoint.' }),
  },
  { description: 'A ledger and its current tree size.' },
);

/** Fields whose values were removed after sealing: the visible marker of erasure and purge. */
export const Redacted = Type.Record(Type.String(), Type.Union([Type.Literal('erased'), Type.Literal('purged')]), {
  description: 'Field path → "erased" (GDPR erasure) or "purged" (retention); the leaf still commits to them.',
});

export const EntryBody = Type.Object({
  ledger: Type.String(),
  index: Type.Integer(),
  leaf: Type.String({ description: 'Standard base64 of the exact leaf bytes.' }),
  leaf_hash: Type.String(),
  received_at: Type.String(),
  disclosures: Type.Optional(
    // An array schema rather than a tuple: the response serializer cannot write an untyped tuple member.
    Type.Record(Type.String(), Type.Array(Type.Unknown(), { minItems: 2, maxItems: 2 }), {
      description: 'Field path → [salt, value]; present for roles that may read event contents.',
    }),
  ),
  event: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'The event rebuilt from its disclosures.' })),
  redacted: Type.Optional(Redacted),
});

export const InclusionProofBody = Type.Object({
  index: Type.Integer(),
  size: Type.Integer(),
  hashes: Type.Array(Type.String(), { description: 'Audit path, leaf sibling first, standard base64.' }),
});

export const ConsistencyProofBody = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  hashes: Type.Array(Type.String(), { description: 'RFC 9162 consistency proof, standard base64.' }),
});

export const RoleSchema = Type.Union(ROLES.map((r) => Type.Literal(r)));

export const CreateKeyBody = Type.Object(
  {
    role: RoleSchema,
    ledgers: Type.Array(Type.String({ pattern: `${LEDGER_PATTERN}|^\\*$` }), {
      minItems: 1,
      maxItems: 100,
      description: 'Ledgers the key may use; ["*"] for all.',
    }),
    tenants: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }), {
        minItems: 1,
        maxItems: 100,
        description: 'Tenants the key may write or read within its ledgers; ["*"] (the default) for all.',
      }),
    ),
    description: Type.Optional(Type.String({ maxLength: 256 })),
    expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400 })),
  },
  { additionalProperties: false },
);

export const ApiKeyBody = Type.Object({
  id: Type.String(),
  role: RoleSchema,
  ledgers: Type.Array(Type.String()),
  tenants: Type.Array(Type.String()),
  description: Type.String(),
  created_at: Type.String(),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});

export const CreatedKeyBody = Type.Composite([ApiKeyBody, Type.Object({ token: Type.String({ description: 'Shown once; store it now.' }) })]);

/**
 * Every `error` code the API answers, with its status (docs/API.md "Errors"). Routes document which of
 * them they can answer with errorResponses(); the OpenAPI test holds the two to what the server does.
 */
export const ERROR_CODES = {
  INVALID_EVENT: { status: 400, when: 'an event fails validation; `path` is a JSON Pointer to the field' },
  INVALID_ARGUMENT: { status: 400, when: 'a path, query or body parameter is invalid' },
  QUERY_TOO_COSTLY: { status: 400, when: 'a valid search query over a cost bound; `position`, `length` and `limit` say which' },
  RETENTION_TOO_SHORT: { status: 400, when: 'a policy rule keeps events under 12 months and force=1 was not given' },
  INVALID_RULE: { status: 400, when: 'a detection rule does not compile; the message names the line and the feature, `line` the line' },
  MALFORMED_JSON: { status: 400, when: 'the body is not acceptable JSON (syntax, UTF-8, repeated or prototype keys, shape limits)' },
  BAD_REQUEST: { status: 400, when: 'the request is malformed at the HTTP level (e.g. a wrong Content-Length)' },
  MALFORMED: { status: 400, when: 'a checkpoint given in the body is not a well-formed signed note' },
  BAD_SIGNATURE: { status: 400, when: 'a checkpoint given in the body is not signed by this deployment for this ledger' },
  UNAUTHENTICATED: { status: 401, when: 'missing, unknown, expired or revoked token (never says which)' },
  FORBIDDEN: { status: 403, when: "the key's role or scope may not do this" },
  LEDGER_NOT_FOUND: { status: 404, when: "no such ledger, or not in the key's scope" },
  NOT_FOUND: { status: 404, when: 'no such entry, checkpoint, key or hold' },
  IDEMPOTENCY_CONFLICT: { status: 409, when: 'an Idempotency-Key reused for a different event; `position` is the event' },
  ALERT_STATE_CONFLICT: { status: 409, when: 'an alert cannot take that step from its status (a closed alert is not acknowledged)' },
  SINK_EXISTS: { status: 409, when: 'a sink of that name exists; remove it first' },
  CHECKPOINT_CONFLICT: { status: 409, when: 'a checkpoint given in the body contradicts the ledger (rolled back, rewritten or forked)' },
  BODY_TOO_LARGE: { status: 413, when: 'the body is over the body limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, when: 'the body is not application/json' },
  RATE_LIMITED: { status: 429, when: "the key's request budget is spent; retry after Retry-After seconds" },
  INTERNAL: { status: 500, when: 'a bug; details only in the server log' },
  DELIVERY_FAILED: { status: 502, when: "a sink's receiver did not acknowledge a delivery asked for in the request (a dead letter's replay); the message says why" },
  CORRUPT: { status: 500, when: 'stored data contradicts its signed checkpoint; run sealtrail verify' },
  OVERLOADED: { status: 503, when: 'too many events waiting to be sealed or costly reads running; retry after Retry-After seconds' },
  QUERY_TIMEOUT: { status: 503, when: 'a search, stats or export read ran past its time budget; `budgetMs`' },
  LEDGER_INTEGRITY: { status: 503, when: "the ledger (or the system ledger recording this request) failed the running server's integrity verification" },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * What any route under /v1 behind a key can answer: a bad parameter, no valid token, its rate limit, a
 * bug, and the system ledger that records the request being full or broken.
 */
export const KEYED_ROUTE_ERRORS: readonly ErrorCode[] = ['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'RATE_LIMITED', 'INTERNAL', 'OVERLOADED', 'LEDGER_INTEGRITY'];
/** What a route with a JSON body can answer about the body itself. */
export const BODY_ERRORS: readonly ErrorCode[] = ['MALFORMED_JSON', 'BAD_REQUEST', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];

/**
 * Response schemas for the given error codes, one per status: the Error body with `error` limited to the
 * codes of that status, and the description naming each code and when it is answered. Serializing
 * through it keeps every detail member (additionalProperties).
 */
export function errorResponses(...codes: ReadonlyArray<ErrorCode | readonly ErrorCode[]>): Record<number, object> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes.flat()) {
    const { status } = ERROR_CODES[code];
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  const responses: Record<number, object> = {};
  for (const [status, set] of [...byStatus].sort(([a], [b]) => a - b)) {
    const listed = [...set].sort();
    // Per content type: routes that produce text/plain still answer errors as JSON.
    responses[status] = {
      description: listed.map((code) => `\`${code}\`: ${ERROR_CODES[code].when}`).join('. '),
      content: {
        'application/json': {
          schema: {
            type: 'object',
            title: 'Error',
            required: ['error', 'message'],
            properties: {
              error: { type: 'string', enum: listed, description: 'Stable error code.' },
              message: { type: 'string' },
            },
            additionalProperties: true,
          },
        },
      },
    };
  }
  return responses;
}

/** Errors of a route behind a key, with the route's own codes. */
export const keyedErrors = (...codes: ReadonlyArray<ErrorCode | readonly ErrorCode[]>) => errorResponses(KEYED_ROUTE_ERRORS, ...codes);
