/**
 * How idempotency keys are stored: never as the client sent them (an event `id` or an Idempotency-Key
 * header is often personal data, e.g. `evt-alice@example.com`, and an erasure must not leave it in a
 * table nobody forgets), but as an HMAC under a secret only the deployment's signers hold, scoped by
 * ledger and writer (the API key id), so that one writer's keys never collide with another's.
 *
 * The secret is derived from the Ed25519 signing key without exposing it: Ed25519 signatures are
 * deterministic (RFC 8032), so the signature of one fixed, domain-separated message is a value every
 * process holding the same signing key computes identically and nobody without it can compute. HKDF
 * turns it into the HMAC key. The message has no newline, so it can never be the text of a signed note
 * (a checkpoint note is at least three lines, each ending in one): the server never signs it otherwise.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { Ed25519Signer } from '../core/crypto.js';

const SECRET_MESSAGE = 'sealtrail: idempotency key secret, version 2 (never a signed note)';
const HKDF_INFO = 'sealtrail idempotency-key hmac v2';

/** Prefix of every stored key made here; rows without it were written before (raw client keys). */
export const STORED_KEY_PREFIX = 'v2:';

/** The HMAC key of a deployment's stored idempotency keys (32 bytes). */
export function idempotencySecret(signer: Ed25519Signer): Uint8Array {
  const signature = signer.sign(new TextEncoder().encode(SECRET_MESSAGE));
  return new Uint8Array(hkdfSync('sha256', signature, new Uint8Array(0), HKDF_INFO, 32));
}

/**
 * The stored form of one request's key: `v2:` and base64url(HMAC-SHA256(secret, [ledger, writer, key]))
 * over the JSON array, so that no two (ledger, writer, key) triples share an input whatever they hold.
 */
export function storedIdempotencyKey(secret: Uint8Array, ledger: string, writer: string, key: string): string {
  return STORED_KEY_PREFIX + createHmac('sha256', secret).update(JSON.stringify([ledger, writer, key])).digest('base64url');
}

/** Whether a stored key was written before keys were hashed (a raw client key, to be converted). */
export function isLegacyKey(stored: string): boolean {
  return !stored.startsWith(STORED_KEY_PREFIX);
}

/** The key the HTTP route derives from an event's own `id` (src/server/routes/events.ts). */
export function eventIdKey(eventId: string): string {
  return `id:${eventId}`;
}

/** Legacy rows converted per transaction when a store opens (bounds lock time on large tables). */
export const LEGACY_KEY_CHUNK = 5000;
