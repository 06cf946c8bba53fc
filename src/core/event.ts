/**
 * The audit event: its JSON Schema (TypeBox, shared with the HTTP layer and the OpenAPI description),
 * and validation that names the offending field. Every string, array, object and the whole event are
 * bounded, so nothing a client sends can make a leaf, a disclosure or a search row unbounded.
 */
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { fail } from './errors.js';
import { isIPv4, isIPv6 } from './ip.js';
import { isRfc3339 } from './time.js';

/** Limits that apply to every event. Changing them changes what the API accepts: document it. */
export const EVENT_LIMITS = {
  /** Serialized JSON size of one event, in UTF-8 bytes. */
  maxEventBytes: 16 * 1024,
  maxIdentifierLength: 256,
  maxTextLength: 1024,
  maxTargets: 32,
  maxMetadataKeys: 64,
  /** Nesting depth inside one metadata value (a scalar is depth 0). */
  maxMetadataDepth: 4,
  maxMetadataArrayItems: 256,
} as const;

// Identifiers: printable, no control characters (they end up in CSV, syslog and terminal output).
const IDENTIFIER_PATTERN = '^[^\\u0000-\\u001f\\u007f]+$';
const identifier = (description: string, maxLength: number = EVENT_LIMITS.maxIdentifierLength) =>
  Type.String({ minLength: 1, maxLength, pattern: IDENTIFIER_PATTERN, description });
const text = (description: string) => Type.String({ maxLength: EVENT_LIMITS.maxTextLength, description });

export const ACTOR_TYPES = ['user', 'service', 'api_key', 'system'] as const;
export const CATEGORIES = ['create', 'read', 'update', 'delete', 'auth', 'admin', 'export', 'execute', 'other'] as const;
export const OUTCOMES = ['success', 'failure'] as const;

export const ActorSchema = Type.Object(
  {
    type: Type.Union(
      ACTOR_TYPES.map((t) => Type.Literal(t)),
      { description: 'What kind of principal acted.' },
    ),
    id: identifier('Stable identifier of the actor (user id, service name, key id).'),
    name: Type.Optional(text('Display name.')),
    email: Type.Optional(Type.String({ maxLength: 320, description: 'E-mail address, if the actor has one.' })),
    session_id: Type.Optional(identifier('Session in which the action happened.')),
  },
  { additionalProperties: false, description: 'Who acted.' },
);

export const TargetSchema = Type.Object(
  {
    type: identifier('Kind of resource, e.g. "file", "database", "user".', 128),
    id: identifier('Identifier of the resource.'),
    name: Type.Optional(text('Human-readable name of the resource.')),
  },
  { additionalProperties: false },
);

export const OriginSchema = Type.Object(
  {
    ip: Type.Optional(
      Type.Union([Type.String({ format: 'ipv4' }), Type.String({ format: 'ipv6' })], {
        description: 'Client IP address (IPv4 dotted quad or IPv6).',
      }),
    ),
    user_agent: Type.Optional(text('User agent string.')),
    device_id: Type.Optional(identifier('Device identifier.')),
  },
  { additionalProperties: false, description: 'Where the action came from.' },
);

/** Metadata: flat map of keys to JSON values; values are bounded by depth and the event size limit. */
export const METADATA_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;
export const MetadataSchema = Type.Record(Type.String(), Type.Unknown(), {
    maxProperties: EVENT_LIMITS.maxMetadataKeys,
    propertyNames: { pattern: METADATA_KEY.source },
    description: 'Free-form context. Keys: 1–64 characters of [A-Za-z0-9_.:-]; values: any JSON up to depth 4.',
});

export const AuditEventSchema = Type.Object(
  {
    id: Type.Optional(
      identifier('Client-chosen unique event id; a retry with the same id returns the original receipt.', 128),
    ),
    actor: ActorSchema,
    action: Type.String({
      pattern: '^[a-z0-9_]+(\\.[a-z0-9_-]+)+$',
      maxLength: 128,
      description: 'Dotted verb, e.g. "file.download", "auth.login", "role.grant".',
    }),
    category: Type.Union(
      CATEGORIES.map((c) => Type.Literal(c)),
      { description: 'Operation category of the action.' },
    ),
    targets: Type.Optional(Type.Array(TargetSchema, { maxItems: EVENT_LIMITS.maxTargets })),
    occurred_at: Type.Optional(
      Type.String({
        format: 'date-time',
        maxLength: 40,
        description: 'When the client says the action happened (RFC 3339). A claim; received_at is authoritative.',
      }),
    ),
    origin: Type.Optional(OriginSchema),
    outcome: Type.Union(
      OUTCOMES.map((o) => Type.Literal(o)),
      { description: 'Whether the action succeeded.' },
    ),
    outcome_reason: Type.Optional(text('Why the action failed or succeeded, e.g. "invalid password".')),
    tenant: Type.Optional(identifier('Whose data the action concerns (the client of the IT company).', 128)),
    metadata: Type.Optional(MetadataSchema),
  },
  { additionalProperties: false, $id: 'AuditEvent', description: 'One audit event as submitted by a client.' },
);

export type AuditEvent = Static<typeof AuditEventSchema>;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// TypeBox formats are registered globally; the event schema needs these three.
if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', isIPv4);
if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', isIPv6);
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', isRfc3339);

let compiled: ReturnType<typeof TypeCompiler.Compile<typeof AuditEventSchema>> | undefined;

/**
 * Validates untrusted input as an audit event. Throws SealtrailError('INVALID_EVENT') whose
 * `details.path` is a JSON Pointer to the offending field (e.g. "/actor/id") and whose message says
 * what is wrong with it. Returns the same object, typed.
 */
export function validateEvent(input: unknown): AuditEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail('INVALID_EVENT', 'an event must be a JSON object', { path: '' });
  }
  checkKeysAndStrings(input, '', 0);
  compiled ??= TypeCompiler.Compile(AuditEventSchema);
  if (!compiled.Check(input)) {
    const first = compiled.Errors(input).First();
    const path = first?.path ?? '';
    fail('INVALID_EVENT', `${path || 'event'}: ${describeError(first?.message, first?.schema)}`, { path });
  }
  const size = utf8Length(JSON.stringify(input));
  if (size > EVENT_LIMITS.maxEventBytes) {
    fail('INVALID_EVENT', `event is ${size} bytes; the limit is ${EVENT_LIMITS.maxEventBytes}`, { path: '' });
  }
  return input as AuditEvent;
}

function describeError(message: string | undefined, schema: TSchema | undefined): string {
  const description = schema?.description ? ` (${schema.description})` : '';
  // A choice of fixed words (category, outcome, actor type): name them, so the caller need not guess.
  const choices = (schema?.anyOf as TSchema[] | undefined)?.map((s) => s.const).filter((c): c is string => typeof c === 'string');
  if (choices && choices.length > 0 && choices.length === schema!.anyOf.length) return `must be one of ${choices.join(', ')}${description}`;
  return `${(message ?? 'invalid value').toLowerCase()}${description}`;
}

/**
 * Walks the raw input before schema validation: rejects prototype-polluting keys anywhere, strings that
 * are not well-formed Unicode (lone surrogates cannot be canonicalized by RFC 8785), and metadata that
 * nests deeper than the limit. Bounded by the depth limit, so hostile nesting cannot exhaust the stack.
 */
/**
 * Deepest nesting anywhere in the input (the event is depth 0; a target object 2; a metadata value 2,
 * plus its own depth limit), checked before anything recurses further, so that no input can exhaust
 * the stack — whichever member the nesting hides in.
 */
const MAX_NESTING = 2 + EVENT_LIMITS.maxMetadataDepth;

function checkKeysAndStrings(value: unknown, path: string, metadataDepth: number, depth = 0): void {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) fail('INVALID_EVENT', `${path}: string contains a lone UTF-16 surrogate`, { path });
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('INVALID_EVENT', `${path}: numbers must be finite`, { path });
    return;
  }
  if (typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function' || typeof value === 'undefined') {
    // Only what JSON can carry: anything else would be committed in a form its stored JSON lacks.
    fail('INVALID_EVENT', `${path || 'event'}: a ${typeof value} is not a JSON value`, { path });
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_NESTING) fail('INVALID_EVENT', `${path}: nests deeper than ${MAX_NESTING} levels`, { path });
  const prototype = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) {
    fail('INVALID_EVENT', `${path || 'event'}: only plain JSON objects are accepted`, { path });
  }
  const inMetadata = path.startsWith('/metadata/');
  if (inMetadata && metadataDepth >= EVENT_LIMITS.maxMetadataDepth) {
    fail('INVALID_EVENT', `${path}: metadata nests deeper than ${EVENT_LIMITS.maxMetadataDepth} levels`, { path });
  }
  const nextDepth = inMetadata ? metadataDepth + 1 : 0;
  if (Array.isArray(value)) {
    if (value.length > EVENT_LIMITS.maxMetadataArrayItems) {
      fail('INVALID_EVENT', `${path}: array has more than ${EVENT_LIMITS.maxMetadataArrayItems} items`, { path });
    }
    for (let i = 0; i < value.length; i++) {
      // A hole (sparse array) would be committed as one thing and stored as another.
      if (!(i in value)) fail('INVALID_EVENT', `${path}: arrays may not have holes`, { path });
      checkKeysAndStrings(value[i], `${path}/${i}`, nextDepth, depth + 1);
    }
    return;
  }
  for (const key of Object.keys(value)) {
    const childPath = `${path}/${escapePointer(key)}`;
    if (FORBIDDEN_KEYS.has(key)) fail('INVALID_EVENT', `${childPath}: the key "${key}" is not allowed`, { path: childPath });
    if (!key.isWellFormed()) fail('INVALID_EVENT', `${childPath}: key contains a lone UTF-16 surrogate`, { path: childPath });
    // TypeBox does not check propertyNames, so metadata keys are checked here.
    if (path === '/metadata' && !METADATA_KEY.test(key)) {
      fail('INVALID_EVENT', `${childPath}: metadata keys are 1–64 characters of [A-Za-z0-9_.:-]`, { path: childPath });
    }
    checkKeysAndStrings((value as Record<string, unknown>)[key], childPath, nextDepth, depth + 1);
  }
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
