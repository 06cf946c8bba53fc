/**
 * The cryptographic primitives the core needs, injected so that the server can use node:crypto (native,
 * fastest) while a browser uses the audited pure-JS @noble libraries. Both suites must give identical
 * results; test/core/crypto.test.ts checks that.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';

export interface CryptoSuite {
  /**
   * SHA-256 of `data` (32 bytes, a new array). `data` may be a view of a buffer the caller reuses (the
   * core writes commitment inputs and leaves in place): read it before returning and keep no reference.
   */
  sha256(data: Uint8Array): Uint8Array;
  /** Ed25519 (RFC 8032, pure) verification; false for any malformed key or signature, never throws. */
  verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** `length` bytes from a cryptographically secure generator. */
  randomBytes(length: number): Uint8Array;
  /**
   * Optional fast path for base64url(SHA-256(data)), the form of every field commitment. node:crypto
   * encodes natively, which saves a third of the cost of a commitment; suites without it fall back to
   * encoding `sha256`'s output.
   */
  sha256Base64Url?(data: Uint8Array): string;
}

/** Pure-JS suite usable anywhere (browsers, workers, Node). */
export const portableSuite: CryptoSuite = {
  sha256: (data) => nobleSha256(data),
  verifyEd25519(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
  randomBytes(length) {
    const out = new Uint8Array(length);
    // getRandomValues is limited to 65,536 bytes per call.
    for (let offset = 0; offset < length; offset += 65536) {
      globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
    }
    return out;
  },
};

/**
 * Something that can sign with an Ed25519 private key without exposing it: the node:crypto KeyObject
 * on the server, a test key in tests.
 */
export interface Ed25519Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** A signer from a raw 32-byte Ed25519 seed, using @noble/curves (for browsers and tests). */
export function portableSigner(seed: Uint8Array): Ed25519Signer {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  const publicKey = ed25519.getPublicKey(seed);
  return { publicKey, sign: (message) => ed25519.sign(message, seed) };
}
