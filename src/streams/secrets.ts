/**
 * Sink secrets (a webhook's signing secret, a Splunk token) are needed in clear to sign and to
 * authenticate, so they cannot be hashed like API keys. They are stored sealed with AES-256-GCM under
 * a key derived from the deployment's signing key, bound to the sink's name: a copy of the database
 * alone (a backup, a replica, a read-only role) does not reveal them, and a sealed value cannot be moved
 * to another sink. Whoever holds the signing key can open them, as they can sign checkpoints.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { utf8 } from '../core/bytes.js';
import type { Ed25519Signer } from '../core/crypto.js';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SecretBox {
  seal(sink: string, secrets: Record<string, unknown>): Uint8Array;
  open(sink: string, sealed: Uint8Array): Record<string, unknown>;
}

/** The box whose key is derived from a deterministic Ed25519 signature: only the signing key's holder has it. */
export function signingKeySecretBox(signer: Ed25519Signer): SecretBox {
  return secretBox(createHash('sha256').update(signer.sign(utf8('sealtrail sink secrets key v1'))).digest());
}

export function secretBox(key: Uint8Array): SecretBox {
  if (key.length !== 32) throw new RangeError('a secret box key is 32 bytes');
  return {
    seal(sink, secrets) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(utf8(`sealtrail sink ${sink}`));
      const body = Buffer.concat([cipher.update(JSON.stringify(secrets), 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
    },
    open(sink, sealed) {
      const bytes = Buffer.from(sealed);
      if (bytes[0] !== VERSION || bytes.length < 1 + IV_BYTES + TAG_BYTES) throw new Error(`sink ${sink}: sealed secrets are not in a known format`);
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(1, 1 + IV_BYTES));
      decipher.setAAD(utf8(`sealtrail sink ${sink}`));
      decipher.setAuthTag(bytes.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
      try {
        const clear = Buffer.concat([decipher.update(bytes.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
        return JSON.parse(clear.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new Error(`sink ${sink}: its secrets do not open with this deployment's signing key`);
      }
    },
  };
}
