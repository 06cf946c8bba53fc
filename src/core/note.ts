/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, compatible with
 * golang.org/x/mod/sumdb/note.
 *
 * A note is a text, a blank line, and one or more signature lines:
 *
 *     <text, every line ending in "\n">
 *     <blank line>
 *     — <key name> <base64(4-byte big-endian key ID || signature)>
 *
 * The signed message is the text including its final newline (not the blank line). The text is
 * separated from the signatures at the last blank line ("\n\n") of the note, so the text may itself
 * contain blank lines. A verifier key is written `<name>+<key ID as 8 lowercase hex>+<base64(0x01 ||
 * 32-byte public key)>`, and the Ed25519 key ID is the first four bytes of
 * SHA-256(name || 0x0A || 0x01 || public key), read big-endian.
 *
 * Everything here works on JS strings. A string is "valid UTF-8" when it has no lone surrogate
 * (TextEncoder would silently turn one into U+FFFD, changing the signed bytes), so lone surrogates are
 * rejected wherever the spec demands valid UTF-8.
 *
 * Error codes: 'MALFORMED' for anything not in its exact canonical form (note, signature line, key
 * name, verifier key, note text); 'BAD_SIGNATURE' for a known key's signature that does not verify or
 * a note that no known key signed; 'INVALID_ARGUMENT' for misuse by the caller (bad public key length,
 * empty/duplicate/inconsistent signer or verifier lists, a signer whose signature does not verify).
 */
import { bytesEqual, concatBytes, fromBase64, toBase64, utf8 } from './bytes.js';
import type { CryptoSuite, Ed25519Signer } from './crypto.js';
import { fail } from './errors.js';

/** A trusted Ed25519 note key: its name, its 32-bit key ID and its raw 32-byte public key. */
export type NoteVerifier = {
  /** The key name (non-empty, no Unicode white space, no `+`). */
  name: string;
  /** The key ID, an unsigned 32-bit integer (the big-endian reading of the 4 bytes). */
  keyId: number;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
};

/** A key that signs notes: the key name to sign under and the Ed25519 signer holding the private key. */
export type NoteSigner = { name: string; signer: Ed25519Signer };

/** One signature line of a note, structurally parsed but not verified. */
export type NoteSignature = { name: string; keyId: number; signature: Uint8Array };

/**
 * The most signature lines a note may carry (the limit of golang.org/x/mod/sumdb/note; the spec
 * requires accepting at least 16). Notes with more are rejected as 'MALFORMED'.
 */
export const MAX_NOTE_SIGNATURES = 100;

/** The signature type byte of plain Ed25519 note signatures (c2sp.org/signed-note). */
const ED25519_TYPE = 0x01;
const ED25519_PUBLIC_KEY_LENGTH = 32;
const ED25519_SIGNATURE_LENGTH = 64;
const SIGNATURE_PREFIX = '\u2014 '; // em dash, space
const WHITE_SPACE = /\p{White_Space}/u;
/** ASCII control characters other than newline, or a lone surrogate (not encodable as UTF-8). */
const FORBIDDEN_CHAR = /[\u0000-\u0009\u000b-\u001f]|\p{Cs}/u;
const KEY_ID_HEX = /^[0-9a-f]{8}$/;

function describeChar(text: string, index: number): string {
  const code = text.codePointAt(index) ?? 0;
  const hex = code.toString(16).toUpperCase().padStart(4, '0');
  return code >= 0xd800 && code <= 0xdfff
    ? `a lone surrogate U+${hex} (not valid UTF-8)`
    : `the control character U+${hex}`;
}

/** Throws 'MALFORMED' if `text` has a control character other than newline or a lone surrogate. */
function checkCharacters(text: string, what: string): void {
  const match = FORBIDDEN_CHAR.exec(text);
  if (match) {
    fail('MALFORMED', `${what} contains ${describeChar(text, match.index)} at offset ${match.index}`, {
      offset: match.index,
    });
  }
}

/** The key ID as 8 lowercase hex digits, as in verifier keys and error messages. */
function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

function keyLabel(name: string, keyId: number): string {
  return `${name}+${keyIdHex(keyId)}`;
}

/**
 * Whether `name` is a valid note key name: non-empty, no Unicode white space (the Unicode
 * White_Space property, as Go's unicode.IsSpace), no `+`. Names that could never appear in a valid
 * note (containing other ASCII control characters or lone surrogates) are rejected too.
 */
export function isValidKeyName(name: string): boolean {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    !name.includes('+') &&
    !WHITE_SPACE.test(name) &&
    !FORBIDDEN_CHAR.test(name)
  );
}

function checkKeyName(name: string, where: string): void {
  if (!isValidKeyName(name)) {
    fail(
      'MALFORMED',
      `${where}: invalid key name ${JSON.stringify(name)} (it must be non-empty, without Unicode spaces, "+" or control characters)`,
      { name },
    );
  }
}

function checkPublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    fail('INVALID_ARGUMENT', `an Ed25519 public key is ${ED25519_PUBLIC_KEY_LENGTH} bytes`, {
      length: publicKey instanceof Uint8Array ? publicKey.length : undefined,
    });
  }
}

function readUint32(bytes: Uint8Array): number {
  return (((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0)) >>> 0;
}

function writeUint32(value: number): Uint8Array {
  return new Uint8Array([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
}

function keyIdUnchecked(suite: CryptoSuite, name: string, publicKey: Uint8Array): number {
  return readUint32(suite.sha256(concatBytes(utf8(name), new Uint8Array([0x0a, ED25519_TYPE]), publicKey)));
}

/**
 * The key ID of an Ed25519 note key: the first 4 bytes, big-endian, of
 * SHA-256(name || 0x0A || 0x01 || publicKey). Returns an unsigned 32-bit integer.
 *
 * @throws SealtrailError 'MALFORMED' for an invalid key name, 'INVALID_ARGUMENT' unless `publicKey`
 *   is 32 bytes.
 */
export function ed25519KeyId(suite: CryptoSuite, name: string, publicKey: Uint8Array): number {
  checkKeyName(name, 'key ID');
  checkPublicKey(publicKey);
  return keyIdUnchecked(suite, name, publicKey);
}

/**
 * The verifier key string `<name>+<key ID in 8 lowercase hex>+<base64(0x01 || publicKey)>` for an
 * Ed25519 key (the form golang.org/x/mod/sumdb/note's NewEd25519VerifierKey produces).
 *
 * @throws SealtrailError 'MALFORMED' for an invalid key name, 'INVALID_ARGUMENT' unless `publicKey`
 *   is 32 bytes.
 */
export function formatVerifierKey(suite: CryptoSuite, name: string, publicKey: Uint8Array): string {
  const keyId = ed25519KeyId(suite, name, publicKey);
  return `${name}+${keyIdHex(keyId)}+${toBase64(concatBytes(new Uint8Array([ED25519_TYPE]), publicKey))}`;
}

/**
 * Parses a verifier key string strictly: a valid key name, exactly 8 lowercase hex digits of key
 * ID, canonical padded standard base64 of the signature type byte 0x01 (Ed25519; any other type is
 * rejected) followed by exactly 32 bytes of public key, and a key ID equal to the one computed from
 * the name and key.
 *
 * @throws SealtrailError 'MALFORMED' with a message naming the first rule broken.
 */
export function parseVerifierKey(suite: CryptoSuite, text: string): NoteVerifier {
  if (typeof text !== 'string') fail('MALFORMED', 'verifier key: expected a string');
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) fail('MALFORMED', 'verifier key: expected <name>+<key ID>+<base64 key>');
  const name = text.slice(0, first);
  const idText = text.slice(first + 1, second);
  const keyText = text.slice(second + 1);
  checkKeyName(name, 'verifier key');
  if (!KEY_ID_HEX.test(idText)) {
    fail('MALFORMED', `verifier key: the key ID ${JSON.stringify(idText)} is not 8 lowercase hex digits`);
  }
  let keyBytes: Uint8Array;
  try {
    keyBytes = fromBase64(keyText);
  } catch (cause) {
    fail('MALFORMED', `verifier key: the key is not canonical standard base64 (${(cause as Error).message})`);
  }
  const type = keyBytes[0];
  if (type === undefined) fail('MALFORMED', 'verifier key: the key is empty');
  if (type !== ED25519_TYPE) {
    fail(
      'MALFORMED',
      `verifier key: unsupported signature type 0x${type.toString(16).padStart(2, '0')} (only Ed25519, type 0x01, is supported)`,
      { signatureType: type },
    );
  }
  const publicKey = keyBytes.slice(1);
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    fail('MALFORMED', `verifier key: an Ed25519 public key is 32 bytes, this one is ${publicKey.length}`);
  }
  const keyId = Number.parseInt(idText, 16);
  const expected = keyIdUnchecked(suite, name, publicKey);
  if (keyId !== expected) {
    fail('MALFORMED', `verifier key: the key ID ${idText} does not match the key (expected ${keyIdHex(expected)})`, {
      keyId: idText,
      expected: keyIdHex(expected),
    });
  }
  return { name, keyId, publicKey };
}

/** Throws 'MALFORMED' unless `text` can be the text of a note. */
function checkNoteText(text: string): void {
  if (typeof text !== 'string') fail('MALFORMED', 'note text: expected a string');
  if (text.length === 0) fail('MALFORMED', 'note text is empty');
  if (!text.endsWith('\n')) fail('MALFORMED', 'note text does not end with a newline');
  checkCharacters(text, 'note text');
}

/**
 * Signs `text` with each signer and returns the note: the text, a blank line, then one signature
 * line per signer in the order given. The text must be non-empty, end with a newline, and contain no
 * control character but newline and no lone surrogate. Each signature is checked against the
 * signer's public key before it is used, so a signer whose key pair is inconsistent is caught here
 * rather than by every verifier.
 *
 * @throws SealtrailError 'MALFORMED' for a bad text or key name; 'INVALID_ARGUMENT' for no signers,
 *   more than {@link MAX_NOTE_SIGNATURES}, two signers with the same name and key ID, a public key
 *   that is not 32 bytes, or a signature that is not 64 bytes or does not verify.
 */
export function signNote(suite: CryptoSuite, text: string, signers: readonly NoteSigner[]): string {
  checkNoteText(text);
  if (!Array.isArray(signers) || signers.length === 0) fail('INVALID_ARGUMENT', 'a note needs at least one signer');
  if (signers.length > MAX_NOTE_SIGNATURES) {
    fail('INVALID_ARGUMENT', `a note carries at most ${MAX_NOTE_SIGNATURES} signatures`, { count: signers.length });
  }
  const message = utf8(text);
  const seen = new Set<string>();
  let lines = '';
  for (const { name, signer } of signers) {
    const keyId = ed25519KeyId(suite, name, signer.publicKey);
    const label = keyLabel(name, keyId);
    if (seen.has(label)) fail('INVALID_ARGUMENT', `the key ${label} is given twice`, { key: label });
    seen.add(label);
    const signature = signer.sign(message);
    if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_LENGTH) {
      fail('INVALID_ARGUMENT', `the signer for ${label} did not return a 64-byte Ed25519 signature`, { key: label });
    }
    if (!suite.verifyEd25519(signer.publicKey, message, signature)) {
      fail('INVALID_ARGUMENT', `the signature by ${label} does not verify under its own public key`, { key: label });
    }
    lines += `${SIGNATURE_PREFIX}${name} ${toBase64(concatBytes(writeUint32(keyId), signature))}\n`;
  }
  return `${text}\n${lines}`;
}

/**
 * Splits a note into its text and signature lines and decodes each line, without verifying
 * anything (the text of an unverified note must not be trusted). The rules, as in the spec and
 * golang.org/x/mod/sumdb/note:
 * - no ASCII control character other than newline and no lone surrogate anywhere in the note (so
 *   CRLF line endings are rejected);
 * - the text ends at the last blank line ("\n\n"), which must exist, and includes its final newline;
 * - after it, one or more signature lines, the last one ending in a newline, each being an em dash
 *   (U+2014), a space, a valid key name, a space, and canonical padded standard base64 of at least 5
 *   bytes (the 4-byte big-endian key ID, then the signature);
 * - at most {@link MAX_NOTE_SIGNATURES} signature lines.
 *
 * @throws SealtrailError 'MALFORMED' naming the rule broken (and `details.line`, 1-based among the
 *   signature lines, where it applies).
 */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (typeof note !== 'string') fail('MALFORMED', 'note: expected a string');
  checkCharacters(note, 'note');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) fail('MALFORMED', 'note: no blank line separates the text from the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) fail('MALFORMED', 'note: no signature lines follow the blank line');
  if (!block.endsWith('\n')) fail('MALFORMED', 'note: the last signature line does not end with a newline');
  // `block` has no "\n\n" (the split was at the last one) and does not start with "\n", so no line is empty.
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    fail('MALFORMED', `note: more than ${MAX_NOTE_SIGNATURES} signature lines (${lines.length})`, {
      count: lines.length,
    });
  }
  const signatures = lines.map((line, index) => parseSignatureLine(line, index + 1));
  return { text, signatures };
}

function parseSignatureLine(line: string, lineNumber: number): NoteSignature {
  const where = `note signature line ${lineNumber}`;
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    fail('MALFORMED', `${where} does not start with an em dash (U+2014) and a space`, { line: lineNumber });
  }
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  if (space < 0) fail('MALFORMED', `${where} has no space between the key name and the signature`, { line: lineNumber });
  const name = rest.slice(0, space);
  const encoded = rest.slice(space + 1);
  checkKeyName(name, where);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(encoded);
  } catch (cause) {
    fail('MALFORMED', `${where}: the signature is not canonical standard base64 (${(cause as Error).message})`, {
      line: lineNumber,
    });
  }
  if (bytes.length < 5) {
    fail('MALFORMED', `${where}: the signature is ${bytes.length} bytes, less than a 4-byte key ID and a signature`, {
      line: lineNumber,
    });
  }
  return { name, keyId: readUint32(bytes), signature: bytes.slice(4) };
}

/**
 * Verifies a note against trusted keys and returns its text and the keys that signed it (each once,
 * in the order of their first signature line). Following the spec:
 * - signatures from unknown keys (no verifier with the same name AND key ID) are ignored;
 * - every signature from a known key is verified, and if any fails the whole note is rejected (even
 *   if another known key verified; golang.org/x/mod/sumdb/note verifies only the first signature per
 *   key, this is stricter);
 * - a note that no known key signed is rejected, the message listing the keys that did sign.
 *
 * @throws SealtrailError 'MALFORMED' (see {@link parseNote}); 'BAD_SIGNATURE' as above, with
 *   `details.key` or `details.signedBy`; 'INVALID_ARGUMENT' if a verifier is inconsistent (invalid
 *   name, key not 32 bytes, key ID not the one computed from name and key) or two verifiers share a
 *   name and key ID but not the public key.
 */
export function openNote(
  suite: CryptoSuite,
  note: string,
  verifiers: readonly NoteVerifier[],
): { text: string; verifiedBy: NoteVerifier[] } {
  const known = indexVerifiers(suite, verifiers);
  const { text, signatures } = parseNote(note);
  const message = utf8(text);
  const verifiedBy: NoteVerifier[] = [];
  for (const { name, keyId, signature } of signatures) {
    const label = keyLabel(name, keyId);
    const verifier = known.get(label);
    if (verifier === undefined) continue;
    if (!suite.verifyEd25519(verifier.publicKey, message, signature)) {
      fail('BAD_SIGNATURE', `note: the signature by the known key ${label} does not verify`, { key: label });
    }
    if (!verifiedBy.includes(verifier)) verifiedBy.push(verifier);
  }
  if (verifiedBy.length === 0) {
    const signedBy = [...new Set(signatures.map((s) => keyLabel(s.name, s.keyId)))];
    fail('BAD_SIGNATURE', `note: no known key signed it (it is signed by ${signedBy.join(', ')})`, { signedBy });
  }
  return { text, verifiedBy };
}

function indexVerifiers(suite: CryptoSuite, verifiers: readonly NoteVerifier[]): Map<string, NoteVerifier> {
  if (!Array.isArray(verifiers)) fail('INVALID_ARGUMENT', 'verifiers: expected an array');
  const known = new Map<string, NoteVerifier>();
  for (const verifier of verifiers) {
    const { name, keyId, publicKey } = verifier;
    if (!isValidKeyName(name)) fail('INVALID_ARGUMENT', `verifier: invalid key name ${JSON.stringify(name)}`);
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
      fail('INVALID_ARGUMENT', `verifier ${name}: an Ed25519 public key is 32 bytes`);
    }
    const expected = keyIdUnchecked(suite, name, publicKey);
    if (keyId !== expected) {
      const given = Number.isInteger(keyId) && keyId >= 0 ? keyIdHex(keyId) : String(keyId);
      fail('INVALID_ARGUMENT', `verifier ${name}: key ID ${given} is not ${keyIdHex(expected)}, the one its key gives`);
    }
    const label = keyLabel(name, keyId);
    const existing = known.get(label);
    if (existing === undefined) known.set(label, verifier);
    else if (!bytesEqual(existing.publicKey, publicKey)) {
      fail('INVALID_ARGUMENT', `verifiers: two different keys share the name and key ID ${label}`, { key: label });
    }
  }
  return known;
}
