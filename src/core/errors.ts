/**
 * One error class for everything the core rejects. Callers branch on `code` (stable, documented in
 * docs/FORMAT.md and mapped to HTTP statuses by the server), never on the message.
 */
export type ErrorCode =
  /** An event failed schema or size validation; `details.path` names the field. */
  | 'INVALID_EVENT'
  /** A caller passed an argument outside its domain (negative index, index ≥ size, …). */
  | 'INVALID_ARGUMENT'
  /** An inclusion or consistency proof does not verify. */
  | 'INVALID_PROOF'
  /** A signed note, verifier key, checkpoint body or leaf is not in its exact canonical form. */
  | 'MALFORMED'
  /** A signature by a known key does not verify, or no known key signed the note. */
  | 'BAD_SIGNATURE'
  /** A disclosure does not match its commitment, or a leaf does not match what it claims. */
  | 'COMMITMENT_MISMATCH'
  /** Verification of a bundle of material failed; `details` says where. */
  | 'VERIFICATION_FAILED'
  /** A search query is valid but over a cost bound (QUERY_LIMITS); `details.limit` is the bound. */
  | 'QUERY_TOO_COSTLY';

export class SealtrailError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SealtrailError';
    this.code = code;
    this.details = details;
  }
}

export function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new SealtrailError(code, message, details);
}
