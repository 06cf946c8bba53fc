/**
 * node:crypto implementations of the core's crypto interfaces: native SHA-256 (crypto.hash is the
 * one-shot form, measurably faster than createHash for small inputs) and Ed25519 KeyObjects.
 */
import { createPrivateKey, createPublicKey, hash, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { CryptoSuite, Ed25519Signer } from '../core/crypto.js';

// DER prefixes of PKCS#8 / SPKI for Ed25519 (RFC 8410): fixed bytes followed by the raw 32-byte key.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Building a KeyObject costs more than the verification itself, and a server verifies under one or two
// keys (its own, on every head reload and every note it signs), so recent ones are kept.
const publicKeys = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 16;

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw).toString('hex');
  let key = publicKeys.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.delete(publicKeys.keys().next().value!);
    publicKeys.set(id, key);
  }
  return key;
}

/**
 * SHA-256 as bytes. hash() is asked for a 'binary' (latin1) string (one character per byte) and copied out:
 * Node 20's 'buffer' output takes a slow path (the encoding is looked up by name, then a Buffer made in
 * C++) and costs about twice as much for inputs of a few blocks.
 */
function sha256(data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'binary');
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = digest.charCodeAt(i);
  return out;
}

export const nodeSuite: CryptoSuite = {
  sha256,
  sha256Base64Url: (data) => hash('sha256', data, 'base64url'),
  verifyEd25519(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return verify(null, message, publicKeyObject(publicKey), signature);
    } catch {
      return false;
    }
  },
  randomBytes: (length) => randomBytes(length),
};

/** A signer over a node:crypto Ed25519 private key. */
export function nodeSigner(privateKey: KeyObject): Ed25519Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the signing key must be an Ed25519 key');
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
  return { publicKey, sign: (message) => sign(null, message, privateKey) };
}

/** The private key for a raw 32-byte seed (as stored in the data folder). */
export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}
