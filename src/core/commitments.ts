/**
 * Field commitments, in the style of SD-JWT (RFC 9901 §4.2) but over RFC 8785 canonical JSON instead of
 * a base64url disclosure string:
 *
 *   commitment(path) = base64url(SHA-256(UTF-8(JCS([salt, path, value]))))
 *
 * where `salt` is the base64url (no padding) encoding of 18 bytes (144 bits; 24 characters) from a
 * CSPRNG, fresh for every field of every event. A *disclosure* is the pair [salt, value]; with the path it lets anyone recompute the
 * commitment. Salts are random, never derived, and stored only beside their value: erasing a field
 * deletes salt and value together, and what remains (the commitment) cannot be brute-forced even for a
 * field with few possible values (an IPv4 address), because the unknown salt adds 128 bits.
 */
import canonicalizeModule from 'canonicalize';
import { fromBase64Url, toBase64Url } from './bytes.js';
import type { CryptoSuite } from './crypto.js';
import { fail } from './errors.js';
import type { AuditEvent } from './event.js';

// The package is CommonJS (`module.exports = fn`) but its typings declare an ES default export, which
// NodeNext types as the module object; at run time the default import is the function itself.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

/**
 * Salt length. 18 bytes rather than the minimum 16 because 18 is a multiple of 3: a whole buffer of salts
 * encodes to base64url in one call and splits into 24-character salts without re-encoding each.
 */
export const SALT_BYTES = 18;
/** Shortest salt a verifier accepts (128 bits). */
export const MIN_SALT_BYTES = 16;
const SALT_CHARS = (SALT_BYTES / 3) * 4;

/** [salt, value]: what must be kept (or handed to a verifier) to open one commitment. */
export type Disclosure = [salt: string, value: unknown];

/** Disclosures of one event, by field path. A path missing here is withheld, erased or purged. */
export type Disclosures = Record<string, Disclosure>;

/** Why a committed field's value is gone: erased for a data subject (GDPR Art. 17) or purged by retention. */
export type Redaction = 'erased' | 'purged';
/** Field path → why its value was removed after sealing. */
export type Redactions = Record<string, Redaction>;

/** RFC 8785 canonical JSON. Strings and finite numbers are JSON.stringify's output in both. */
export function canonicalJson(value: unknown): string {
  // Scalars are JSON.stringify's output in RFC 8785 too (finite numbers are checked by validation).
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  const text = canonicalize(value);
  if (text === undefined) fail('INVALID_ARGUMENT', 'value cannot be canonicalized');
  return text;
}

export function commitmentInput(salt: string, path: string, value: unknown): string {
  return `[${JSON.stringify(salt)},${JSON.stringify(path)},${canonicalJson(value)}]`;
}

// ---- commitment inputs, written as bytes ----------------------------------------------------------
//
// Sealing is dominated by per-field costs, so commitment inputs are not built as strings and then
// encoded: their UTF-8 bytes are written straight into one reused buffer. JSON as JSON.parse makes it
// (strings, finite numbers, booleans, null, arrays and plain objects) takes this path; any other value
// (a Date, a boxed primitive, a sparse array, NaN, …) falls back to the string form of
// {@link commitmentInput}, so that every value is committed exactly as canonicalJson writes it.
// Strings of printable ASCII without `"` or `\` are copied byte for byte; the others are written as
// JSON.stringify escapes them (RFC 8785 §3.2.2.2), encoded to UTF-8.

const encoder = new TextEncoder();
const OPEN = 0x5b; // [
const CLOSE = 0x5d; // ]
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Arrays and objects nested deeper than this are written by the general canonicalizer. */
const MAX_FAST_DEPTH = 64;

let out = new Uint8Array(4096);
let pos = 0;

function reserve(extra: number): void {
  if (pos + extra <= out.length) return;
  const grown = new Uint8Array(Math.max(out.length * 2, pos + extra));
  grown.set(out.subarray(0, pos));
  out = grown;
}

function writeByte(byte: number): void {
  reserve(1);
  out[pos++] = byte;
}

/** Text already in its JSON form (escaped), as UTF-8. */
function writeText(text: string): void {
  reserve(text.length * 3);
  pos += encoder.encodeInto(text, out.subarray(pos)).written;
}

/** Text known to be ASCII (a number's digits, a literal), byte for byte. */
function writeAscii(text: string): void {
  const length = text.length;
  reserve(length);
  // Loops work on locals: `out` and `pos` are module bindings, which V8 reloads on every use.
  const buffer = out;
  const at = pos;
  for (let i = 0; i < length; i++) buffer[at + i] = text.charCodeAt(i);
  pos = at + length;
}

/** A JSON string: JSON.stringify's form, which is RFC 8785's. */
function writeString(text: string): void {
  const length = text.length;
  reserve(length + 2);
  const buffer = out;
  let p = pos;
  buffer[p++] = QUOTE;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    // Control characters, quote, backslash and anything beyond ASCII: JSON.stringify escapes or encodes them.
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) {
      writeText(JSON.stringify(text));
      return;
    }
    buffer[p++] = c;
  }
  buffer[p++] = QUOTE;
  pos = p;
}

/** Writes plain JSON data in RFC 8785 form; false (with the output in an unknown state) for anything else. */
function writeValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      writeString(value);
      return true;
    case 'number':
      if (!Number.isFinite(value)) return false;
      // ECMAScript Number::toString, as JSON.stringify and RFC 8785 §3.2.2.3 write it (-0 is "0").
      writeAscii(String(value));
      return true;
    case 'boolean':
      writeAscii(value ? 'true' : 'false');
      return true;
    case 'object':
      if (value === null) {
        writeAscii('null');
        return true;
      }
      if (depth >= MAX_FAST_DEPTH) return false;
      return Array.isArray(value) ? writeArray(value as unknown[], depth + 1) : writeObject(value as Record<string, unknown>, depth + 1);
    default:
      return false;
  }
}

function writeArray(array: unknown[], depth: number): boolean {
  if (Object.getPrototypeOf(array) !== Array.prototype || (array as { toJSON?: unknown }).toJSON !== undefined) return false;
  writeByte(OPEN);
  for (let i = 0; i < array.length; i++) {
    const element = array[i];
    // A hole or undefined: the general canonicalizer decides (it writes them differently).
    if (element === undefined) return false;
    if (i > 0) writeByte(COMMA);
    if (!writeValue(element, depth)) return false;
  }
  writeByte(CLOSE);
  return true;
}

function writeObject(object: Record<string, unknown>, depth: number): boolean {
  const prototype: unknown = Object.getPrototypeOf(object);
  if ((prototype !== Object.prototype && prototype !== null) || object.toJSON !== undefined) return false;
  // Members sorted by UTF-16 code units (RFC 8785 §3.2.3), which is what sort() compares; members whose
  // value is undefined are left out, as JSON.stringify leaves them out.
  const keys = Object.keys(object);
  if (keys.length > 1) keys.sort();
  writeByte(OPEN_OBJECT);
  let first = true;
  for (const key of keys) {
    const member = object[key];
    if (member === undefined) continue;
    if (!first) writeByte(COMMA);
    first = false;
    writeString(key);
    writeByte(COLON);
    if (!writeValue(member, depth)) return false;
  }
  writeByte(CLOSE_OBJECT);
  return true;
}

/** Writes `[salt,path,` (both JSON strings) from the start of the buffer. */
function writeHead(salt: string, path: string): void {
  pos = 0;
  writeByte(OPEN);
  writeString(salt);
  writeByte(COMMA);
  writeString(path);
  writeByte(COMMA);
}

/** Finishes the input after its head `[salt,path,`: the value and `]`. */
function writeValueAndClose(salt: string, path: string, value: unknown): void {
  if (!writeValue(value, 0)) {
    // canonicalJson may throw (NaN, undefined, BigInt), as it always did. It may also run the value's
    // own code (toJSON), which could commit something itself: the whole input is rewritten after it.
    const text = canonicalJson(value);
    writeHead(salt, path);
    writeText(text);
  }
  writeByte(CLOSE);
}

// Views of the first n bytes of `out`, by n: creating a view costs as much as a fifth of the hash call
// it is made for, and inputs of one length recur from event to event. Dropped when `out` grows.
const MAX_CACHED_VIEW = 1024;
let views: Array<Uint8Array | undefined> = [];
let viewsOf = out;

function digest(suite: CryptoSuite): string {
  if (viewsOf !== out) {
    views = [];
    viewsOf = out;
  }
  const bytes = pos <= MAX_CACHED_VIEW ? (views[pos] ??= out.subarray(0, pos)) : out.subarray(0, pos);
  return suite.sha256Base64Url ? suite.sha256Base64Url(bytes) : toBase64Url(suite.sha256(bytes));
}

export function commit(suite: CryptoSuite, salt: string, path: string, value: unknown): string {
  if (typeof salt !== 'string' || typeof path !== 'string') {
    const bytes = encoder.encode(commitmentInput(salt, path, value));
    return suite.sha256Base64Url ? suite.sha256Base64Url(bytes) : toBase64Url(suite.sha256(bytes));
  }
  writeHead(salt, path);
  writeValueAndClose(salt, path, value);
  return digest(suite);
}

// ---- salts --------------------------------------------------------------------------------------

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64URL_CODES = Uint8Array.from(BASE64URL, (c) => c.charCodeAt(0));
const asciiDecoder = new TextDecoder();

/**
 * Hands out salts from one buffer of CSPRNG output, so that sealing an event costs one random call per
 * few hundred fields rather than one per field. The buffer is encoded to base64url once (RFC 4648 §5;
 * 18 bytes are 24 characters exactly, so each salt is a slice of it), both as text (the salts handed
 * out) and as its ASCII bytes (copied into commitment inputs).
 */
export class SaltSource {
  private encoded = '';
  private chars = new Uint8Array(0);
  private offset = 0;

  /** `batch`: salts drawn per call to the random generator. */
  constructor(private readonly suite: CryptoSuite, private readonly batch = 256) {}

  next(): string {
    if (this.offset >= this.encoded.length) this.refill();
    const salt = this.encoded.slice(this.offset, this.offset + SALT_CHARS);
    this.offset += SALT_CHARS;
    return salt;
  }

  /**
   * The next salt, also written as `"salt"` into the commitment buffer at `pos` (the caller has reserved
   * room for it). @internal For commitFields only.
   */
  writeNext(): string {
    if (this.offset >= this.encoded.length) this.refill();
    const { chars, offset } = this;
    const buffer = out;
    const at = pos;
    buffer[at] = QUOTE;
    for (let i = 0; i < SALT_CHARS; i++) buffer[at + 1 + i] = chars[offset + i]!;
    buffer[at + 1 + SALT_CHARS] = QUOTE;
    pos = at + SALT_CHARS + 2;
    this.offset = offset + SALT_CHARS;
    return this.encoded.slice(offset, offset + SALT_CHARS);
  }

  private refill(): void {
    const random = this.suite.randomBytes(SALT_BYTES * this.batch);
    const chars = new Uint8Array((random.length / 3) * 4);
    for (let i = 0, j = 0; i < random.length; i += 3, j += 4) {
      const triple = (random[i]! << 16) | (random[i + 1]! << 8) | random[i + 2]!;
      chars[j] = BASE64URL_CODES[triple >>> 18]!;
      chars[j + 1] = BASE64URL_CODES[(triple >>> 12) & 63]!;
      chars[j + 2] = BASE64URL_CODES[(triple >>> 6) & 63]!;
      chars[j + 3] = BASE64URL_CODES[triple & 63]!;
    }
    random.fill(0);
    this.chars.fill(0);
    this.chars = chars;
    this.encoded = asciiDecoder.decode(chars);
    this.offset = 0;
  }
}

/**
 * Commits to every field of `event` in {@link eventFields} order, each with the next salt of `salts`:
 * the loop of sealing, which writes each input in place instead of calling {@link commit}.
 */
export function commitFields(
  suite: CryptoSuite,
  event: AuditEvent,
  salts: SaltSource,
  commitments: Record<string, string>,
  disclosures: Disclosures,
): void {
  forEachField(event, (field, value) => {
    const { path, quoted } = field;
    pos = 0;
    reserve(SALT_CHARS + 4 + quoted.length);
    out[pos++] = OPEN;
    const salt = salts.writeNext();
    const buffer = out;
    let at = pos;
    buffer[at++] = COMMA;
    for (let i = 0; i < quoted.length; i++) buffer[at++] = quoted[i]!;
    pos = at;
    writeValueAndClose(salt, path, value);
    commitments[path] = digest(suite);
    disclosures[path] = [salt, value];
  });
}

/**
 * 24 base64url characters are 18 bytes exactly, with no leftover bits to be non-zero, so every such
 * string is a valid salt of more than MIN_SALT_BYTES: the form SaltSource hands out, accepted without
 * decoding (which was a sixth of verifying an event's disclosures).
 */
const WHOLE_SALT = /^[A-Za-z0-9_-]{24}$/;

/** Checks a salt's form: base64url without padding of at least 16 bytes. */
export function checkSalt(salt: unknown, path: string): asserts salt is string {
  if (typeof salt === 'string' && WHOLE_SALT.test(salt)) return;
  let bytes: Uint8Array | undefined;
  try {
    if (typeof salt === 'string') bytes = fromBase64Url(salt);
  } catch {
    bytes = undefined;
  }
  if (!bytes || bytes.length < MIN_SALT_BYTES) {
    fail('MALFORMED', `${path}: salt must be base64url of at least ${MIN_SALT_BYTES} bytes`, { path });
  }
}

/**
 * The field paths of an event and their values, in a fixed order. One commitment per path:
 * top-level scalars by name ("action"), members of `actor` and `origin` as "actor.id", each target as
 * "targets.N" (the whole target object), each metadata key as "metadata.KEY" (KEY may itself contain dots;
 * everything after the first "metadata." is the key).
 */
export function eventFields(event: AuditEvent): Array<[path: string, value: unknown]> {
  const fields: Array<[string, unknown]> = [];
  forEachField(event, (field, value) => fields.push([field.path, value]));
  return fields;
}

/** Calls `visit` with each field path of `event` and its value, in {@link eventFields} order. */
function forEachField(event: AuditEvent, visit: (field: FieldPath, value: unknown) => void): void {
  // Object.keys and indexed reads visit what Object.entries would, in its order, without its pairs.
  const record = event as unknown as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value === undefined) continue;
    if (key === 'actor' || key === 'origin' || key === 'metadata') {
      const members = value as Record<string, unknown>;
      const paths = key === 'actor' ? actorPaths : key === 'origin' ? originPaths : metadataPaths;
      for (const member of Object.keys(members)) {
        const memberValue = members[member];
        if (memberValue !== undefined) visit(fieldPath(paths, member, key), memberValue);
      }
    } else if (key === 'targets') {
      const targets = value as unknown[];
      // forEach's visit: holes are skipped.
      for (let i = 0; i < targets.length; i++) if (i in targets) visit(targetPath(i), targets[i]);
    } else {
      visit(fieldPath(topLevelPaths, key, undefined), value);
    }
  }
}

/** A field path, and the bytes of `"path",` as commitment inputs hold them after the salt. */
interface FieldPath {
  path: string;
  quoted: Uint8Array;
}

function newFieldPath(path: string): FieldPath {
  return { path, quoted: encoder.encode(`${JSON.stringify(path)},`) };
}

// Paths repeat from event to event; they are kept rather than built and escaped each time (bounded,
// since metadata keys come from outside).
const MAX_CACHED_PATHS = 10_000;
let cachedPaths = 0;
const topLevelPaths = new Map<string, FieldPath>();
const actorPaths = new Map<string, FieldPath>();
const originPaths = new Map<string, FieldPath>();
const metadataPaths = new Map<string, FieldPath>();
const targetPaths: FieldPath[] = [];
/** Events have at most 100 targets (isFieldPath). */
const MAX_CACHED_TARGETS = 100;

function targetPath(index: number): FieldPath {
  if (index >= MAX_CACHED_TARGETS) return newFieldPath(`targets.${index}`);
  return (targetPaths[index] ??= newFieldPath(`targets.${index}`));
}

/** The path of `member` (of `group`, or a top-level member when there is none). */
function fieldPath(paths: Map<string, FieldPath>, member: string, group: string | undefined): FieldPath {
  let field = paths.get(member);
  if (field === undefined) {
    field = newFieldPath(group === undefined ? member : `${group}.${member}`);
    if (cachedPaths < MAX_CACHED_PATHS) {
      paths.set(member, field);
      cachedPaths++;
    }
  }
  return field;
}

const TOP_LEVEL_FIELDS = new Set(['id', 'action', 'category', 'occurred_at', 'outcome', 'outcome_reason', 'tenant']);
// A Map: the group of a path comes from outside (bundles, withhold specs), and a plain object would
// answer "constructor.x" or "__proto__.x" with Object.prototype's members.
const NESTED_FIELDS = new Map<string, ReadonlySet<string>>([
  ['actor', new Set(['type', 'id', 'name', 'email', 'session_id'])],
  ['origin', new Set(['ip', 'user_agent', 'device_id'])],
]);
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Whether `path` is one that eventFields can produce (used to reject forged disclosure paths). */
export function isFieldPath(path: string): boolean {
  if (TOP_LEVEL_FIELDS.has(path)) return true;
  const dot = path.indexOf('.');
  if (dot < 0) return false;
  const head = path.slice(0, dot);
  const rest = path.slice(dot + 1);
  if (head === 'targets') return /^(0|[1-9][0-9]?)$/.test(rest);
  if (head === 'metadata') return /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/.test(rest) && !FORBIDDEN_KEYS.has(rest);
  return NESTED_FIELDS.get(head)?.has(rest) ?? false;
}

/**
 * Rebuilds the (possibly partial) event from disclosed field values. Withheld targets are left out;
 * the others keep their order. The result is for display and search: it is not re-validated.
 */
export function eventFromFields(fields: Iterable<[path: string, value: unknown]>): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  const targets: Array<[number, unknown]> = [];
  for (const [path, value] of fields) {
    if (!isFieldPath(path)) fail('MALFORMED', `unknown field path ${JSON.stringify(path)}`, { path });
    const dot = path.indexOf('.');
    if (dot < 0) {
      event[path] = value;
      continue;
    }
    const head = path.slice(0, dot);
    const rest = path.slice(dot + 1);
    if (head === 'targets') {
      targets.push([Number(rest), value]);
    } else {
      const group = (event[head] ??= {}) as Record<string, unknown>;
      group[rest] = value;
    }
  }
  if (targets.length > 0) event.targets = targets.sort((a, b) => a[0] - b[0]).map(([, target]) => target);
  return event;
}

/** The (possibly partial) event its disclosures still show. */
export function eventFromDisclosures(disclosures: Disclosures): Record<string, unknown> {
  return eventFromFields(Object.entries(disclosures).map(([path, [, value]]) => [path, value]));
}
