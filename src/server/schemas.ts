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
