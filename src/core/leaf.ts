/**
 * The leaf: the exact bytes that enter the Merkle tree for one event. They are the RFC 8785 canonical
 * JSON of a small envelope that holds who sealed the event, where and when, and one commitment per
 * field; never a field value. docs/FORMAT.md gives the byte-level description and a worked example.
 */
import { bytesEqual, fromUtf8 } from './bytes.js';
import { checkSalt, commit, commitFields, isFieldPath, SaltSource, type Disclosures } from './commitments.js';
import type { CryptoSuite } from './crypto.js';
import { fail } from './errors.js';
import type { AuditEvent } from './event.js';
import { formatMicros, parseMicros } from './time.js';

export const LEAF_VERSION = 1;

/** Ledger names: lowercase, 1–64 characters, safe in URLs, file names and checkpoint origins. */
export const LEDGER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Writer ids: the id of the credential that submitted the event. */
export const WRITER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export interface LeafEnvelope {
  v: typeof LEAF_VERSION;
  ledger: string;
  index: number;
  received_at: string;
  writer: string;
  /** base64url(SHA-256) commitment by field path. */
  commitments: Record<string, string>;
}

export interface SealInput {
  ledger: string;
  index: number;
  receivedAtMicros: number;
  writer: string;
  event: AuditEvent;
}

export interface SealedEntry {
  leaf: Uint8Array;
  leafHash: Uint8Array;
  disclosures: Disclosures;
}

/** An event's commitments and disclosures: everything of sealing that does not depend on its position. */
export interface CommittedEvent {
  commitments: Record<string, string>;
  disclosures: Disclosures;
}

/**
 * Commits to every field of a validated event. Independent of index and time, so a server can do it
 * before it takes a ledger's sequencing lock, which then only covers buildLeaf and the tree.
 */
export function commitEvent(suite: CryptoSuite, event: AuditEvent, salts: SaltSource): CommittedEvent {
  const commitments: Record<string, string> = {};
  const disclosures: Disclosures = {};
  commitFields(suite, event, salts, commitments, disclosures);
  return { commitments, disclosures };
}

/** Commits to every field of a validated event and builds its leaf. */
export function sealEvent(suite: CryptoSuite, input: SealInput, salts: SaltSource): SealedEntry {
  const { commitments, disclosures } = commitEvent(suite, input.event, salts);
  const { leaf, leafHash } = buildLeaf(suite, input, commitments);
  return { leaf, leafHash, disclosures };
}

let checkedLedger: string | undefined;
let checkedWriter: string | undefined;

/** The leaf of committed fields at a position: the part of sealing that needs the index and the time. */
export function buildLeaf(
  suite: CryptoSuite,
  input: Omit<SealInput, 'event'>,
  commitments: Record<string, string>,
): { leaf: Uint8Array; leafHash: Uint8Array } {
  // A sequencer seals batch after batch for one ledger and a few writers: the last names checked are kept.
  if (typeof input.ledger !== 'string' || input.ledger !== checkedLedger) {
    if (!LEDGER_NAME.test(input.ledger)) fail('INVALID_ARGUMENT', `bad ledger name ${JSON.stringify(input.ledger)}`);
    if (typeof input.ledger === 'string') checkedLedger = input.ledger;
  }
  if (typeof input.writer !== 'string' || input.writer !== checkedWriter) {
    if (!WRITER_ID.test(input.writer)) fail('INVALID_ARGUMENT', `bad writer id ${JSON.stringify(input.writer)}`);
    if (typeof input.writer === 'string') checkedWriter = input.writer;
  }
  // The paths come from eventFields and the digests from commit, so the envelope needs no re-checking.
  const length = writeEnvelope({
    v: LEAF_VERSION,
    ledger: input.ledger,
    index: input.index,
    received_at: formatMicros(input.receivedAtMicros),
    writer: input.writer,
    commitments,
  });
  // The buffer holds 0x00 || leaf: the leaf hash's input (hashLeaf's, RFC 9162 §2.1.1) without a copy.
  return { leaf: envelopeBuffer.slice(1, length + 1), leafHash: suite.sha256(envelopeBuffer.subarray(0, length + 1)) };
}

/**
 * RFC 8785 form of the envelope. Written by hand because every member is a string, a safe integer or a
 * flat string map, whose JCS form is JSON.stringify's with members in UTF-16 code-unit order; this is
 * several times faster than a general canonicalizer. decodeLeaf re-encodes to prove the equivalence.
 */
export function encodeLeaf(envelope: LeafEnvelope): Uint8Array {
  checkEnvelope(envelope);
  return envelopeBuffer.slice(1, writeEnvelope(envelope) + 1);
}

/**
 * Object.keys(record).sort(), by insertion: for the few dozen paths of an event, comparing with `<`
 * (UTF-16 code units, the order sort() and RFC 8785 §3.2.3 use) is several times faster than sort().
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  if (keys.length > 64) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

// Field paths repeat across events; each one's `"path":"` is kept rather than escaped and joined each time.
const pathHeads = new Map<string, string>();
function pathHead(path: string): string {
  let head = pathHeads.get(path);
  if (head === undefined) {
    head = `${JSON.stringify(path)}:"`;
    if (pathHeads.size < 10_000) pathHeads.set(path, head);
  }
  return head;
}

const encoder = new TextEncoder();
// Leaves are written into one reused buffer after a 0x00 byte (the leaf hash's prefix), so that hashing
// the leaf needs no second copy. The text is built as one string and encoded once: in V8 that beats
// copying its characters one by one.
let envelopeBuffer = new Uint8Array(8192);

/** Writes the envelope's bytes at offset 1 of envelopeBuffer (0x00 before them); returns their length. */
function writeEnvelope(envelope: LeafEnvelope): number {
  const paths = sortedKeys(envelope.commitments);
  // Joined rather than concatenated: one flat string instead of a tree of pieces to flatten.
  const members: string[] = new Array<string>(paths.length);
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    // Digests are base64url, which needs no escaping inside a JSON string.
    members[i] = `${pathHead(path)}${envelope.commitments[path]}"`;
  }
  // Member order below is the sorted order: commitments, index, ledger, received_at, v, writer.
  const text =
    `{"commitments":{${members.join(',')}},"index":${envelope.index},"ledger":${JSON.stringify(envelope.ledger)},` +
    `"received_at":${JSON.stringify(envelope.received_at)},"v":${envelope.v},"writer":${JSON.stringify(envelope.writer)}}`;
  if (text.length * 3 + 1 > envelopeBuffer.length) envelopeBuffer = new Uint8Array(Math.max(text.length * 3 + 1, envelopeBuffer.length * 2));
  envelopeBuffer[0] = 0x00;
  return encoder.encodeInto(text, envelopeBuffer.subarray(1)).written;
}

/** Parses leaf bytes, accepting only the exact canonical encoding of a well-formed envelope. */
export function decodeLeaf(bytes: Uint8Array): LeafEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    fail('MALFORMED', `leaf is not UTF-8 JSON: ${(cause as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('MALFORMED', 'leaf is not a JSON object');
  const envelope = parsed as LeafEnvelope;
  const keys = Object.keys(envelope).sort().join(',');
  if (keys !== 'commitments,index,ledger,received_at,v,writer') fail('MALFORMED', `leaf has members ${keys}`);
  if (typeof envelope.commitments !== 'object' || envelope.commitments === null || Array.isArray(envelope.commitments)) {
    fail('MALFORMED', 'leaf commitments must be an object');
  }
  const reencoded = encodeLeaf(envelope);
  // A plain loop: Array.prototype.every's callback per byte was half of decoding a 900-byte leaf.
  if (!bytesEqual(reencoded, bytes)) {
    fail('MALFORMED', 'leaf is not in RFC 8785 canonical form');
  }
  return envelope;
}

function checkEnvelope(envelope: LeafEnvelope): void {
  if (envelope.v !== LEAF_VERSION) fail('MALFORMED', `unsupported leaf version ${String(envelope.v)}`);
  if (typeof envelope.ledger !== 'string' || !LEDGER_NAME.test(envelope.ledger)) fail('MALFORMED', 'bad ledger name in leaf');
  if (!Number.isSafeInteger(envelope.index) || envelope.index < 0) fail('MALFORMED', 'bad index in leaf');
  if (typeof envelope.received_at !== 'string') fail('MALFORMED', 'bad received_at in leaf');
  parseMicros(envelope.received_at);
  if (typeof envelope.writer !== 'string' || !WRITER_ID.test(envelope.writer)) fail('MALFORMED', 'bad writer in leaf');
  for (const [path, digest] of Object.entries(envelope.commitments)) {
    if (!isFieldPath(path)) fail('MALFORMED', `unknown field path ${JSON.stringify(path)} in leaf`, { path });
    if (typeof digest !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(digest)) {
      fail('MALFORMED', `commitment for ${path} is not base64url SHA-256`, { path });
    }
  }
}

/**
 * Checks that each disclosure opens the leaf's commitment for its path. Paths with a commitment but no
 * disclosure are withheld (or erased) and are fine; a disclosure for a path the leaf does not commit to,
 * a wrong salt, path or value is a COMMITMENT_MISMATCH naming the path.
 */
export function verifyDisclosures(suite: CryptoSuite, envelope: LeafEnvelope, disclosures: Disclosures): void {
  for (const [path, disclosure] of Object.entries(disclosures)) {
    const expected = Object.hasOwn(envelope.commitments, path) ? envelope.commitments[path] : undefined;
    if (expected === undefined) {
      fail('COMMITMENT_MISMATCH', `${path}: disclosed, but the leaf has no commitment for it`, { path });
    }
    if (!Array.isArray(disclosure) || disclosure.length !== 2) fail('MALFORMED', `${path}: a disclosure is [salt, value]`, { path });
    const [salt, value] = disclosure;
    checkSalt(salt, path);
    if (commit(suite, salt, path, value) !== expected) {
      fail('COMMITMENT_MISMATCH', `${path}: disclosed value does not match its commitment`, { path });
    }
  }
}
