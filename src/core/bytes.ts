/**
 * Byte helpers shared by the core. Everything here works on Uint8Array so the core runs unchanged in
 * a browser; Node's Buffer is a Uint8Array and is accepted wherever these take bytes.
 */
import { base64, base64urlnopad, hex } from '@scure/base';

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, throwing on malformed input rather than substituting U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

export function toBase64(bytes: Uint8Array): string {
  return base64.encode(bytes);
}

/** Strict standard base64 (with padding); throws on anything else, including non-canonical trailing bits. */
export function fromBase64(text: string): Uint8Array {
  return base64.decode(text);
}

export function toBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

export function fromBase64Url(text: string): Uint8Array {
  return base64urlnopad.decode(text);
}

export function toHex(bytes: Uint8Array): string {
  return hex.encode(bytes);
}

export function fromHex(text: string): Uint8Array {
  return hex.decode(text);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Equality for public values (hashes, roots). Not constant-time: never use it on secrets. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
