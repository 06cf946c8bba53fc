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

// Commitment inputs are encoded into one reused buffer: sealing is dominated by per-field costs, and an
// allocation per field is a measurable share of them.
const encoder = new TextEncoder();
let scratch = new Uint8Array(4096);

export function commit(suite: CryptoSuite, salt: string, path: string, value: unknown): string {
  const input = commitmentInput(salt, path, value);
  if (input.length * 3 > scratch.length) scratch = new Uint8Array(input.length * 3);
  const bytes = scratch.subarray(0, encoder.encodeInto(input, scratch).written);
  return suite.sha256Base64Url ? suite.sha256Base64Url(bytes) : toBase64Url(suite.sha256(bytes));
}

/**
 * Hands out salts from one buffer of CSPRNG output, so that sealing an event costs one random call per
 * few hundred fields rather than one per field.
 */
export class SaltSource {
  private encoded = '';
  private offset = 0;

  /** `batch`: salts drawn per call to the random generator. */
  constructor(private readonly suite: CryptoSuite, private readonly batch = 256) {}

  next(): string {
    if (this.offset >= this.encoded.length) {
      const random = this.suite.randomBytes(SALT_BYTES * this.batch);
      this.encoded = toBase64Url(random);
      random.fill(0);
      this.offset = 0;
    }
    const salt = this.encoded.slice(this.offset, this.offset + SALT_CHARS);
    this.offset += SALT_CHARS;
    return salt;
  }
}

/** Checks a salt's form: base64url without padding of at least 16 bytes. */
export function checkSalt(salt: unknown, path: string): asserts salt is string {
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
  for (const [key, value] of Object.entries(event)) {
    if (value === undefined) continue;
    if (key === 'actor' || key === 'origin') {
      for (const [member, memberValue] of Object.entries(value as Record<string, unknown>)) {
        if (memberValue !== undefined) fields.push([`${key}.${member}`, memberValue]);
      }
    } else if (key === 'targets') {
      (value as unknown[]).forEach((target, i) => fields.push([`targets.${i}`, target]));
    } else if (key === 'metadata') {
      for (const [metaKey, metaValue] of Object.entries(value as Record<string, unknown>)) {
        if (metaValue !== undefined) fields.push([`metadata.${metaKey}`, metaValue]);
      }
    } else {
      fields.push([key, value]);
    }
  }
  return fields;
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
