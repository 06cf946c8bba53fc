/**
 * OTLP log records → audit events (docs/INGEST.md, "OTLP logs", has the table). The input is the OTLP
 * JSON encoding's shape, from either encoding (proto.ts), and untrusted: every member is type-checked
 * here, and a record that cannot become a valid event is counted as rejected with the reason, never
 * stored half-mapped.
 */
import { createHash } from 'node:crypto';
import { CATEGORIES, validateEvent, type AuditEvent } from '../../core/event.js';
import { SealtrailError } from '../../core/errors.js';
import { isIPv4, isIPv6 } from '../../core/ip.js';
import { actionFrom, identifierFrom, textFrom, withMetadata } from '../bounded.js';

/** Depth of nested AnyValues converted; deeper parts become a marker (hostile nesting ends here). */
const MAX_ANY_DEPTH = 8;
/** Resource and record attributes read per record; the rest are dropped before mapping. */
const MAX_ATTRIBUTES = 256;

export interface MappedRecord {
  event: AuditEvent;
  /** Retry-safety: the record's own event id, else a digest of the record (undefined without a timestamp). */
  idempotencyKey?: string;
}

export interface MappedResource {
  ledger: string | undefined;
  records: MappedRecord[];
  /** Records that could not be mapped, with the first reason. */
  rejected: number;
  firstError?: string;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** An AnyValue as plain JSON: int64 stays a decimal string beyond 2^53, bytes stay base64. */
export function anyValue(value: unknown, depth = 0): unknown {
  if (!isObject(value)) return undefined;
  if (depth > MAX_ANY_DEPTH) return '[nested too deep]';
  if (typeof value.stringValue === 'string') return value.stringValue;
  if (typeof value.boolValue === 'boolean') return value.boolValue;
  if (typeof value.intValue === 'string' || typeof value.intValue === 'number') return integer(value.intValue);
  if (typeof value.doubleValue === 'number') return value.doubleValue;
  if (typeof value.doubleValue === 'string') return Number(value.doubleValue); // JSON mapping allows "NaN", "1.5"
  if (typeof value.bytesValue === 'string') return value.bytesValue;
  if (isObject(value.arrayValue)) return list(value.arrayValue.values).slice(0, MAX_ATTRIBUTES).map((v) => anyValue(v, depth + 1) ?? null);
  if (isObject(value.kvlistValue)) return Object.fromEntries(attributes(value.kvlistValue.values, depth + 1));
  return undefined;
}

function integer(value: string | number): number | string {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : String(value);
}

function attributes(values: unknown, depth = 0): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const kv of list(values).slice(0, MAX_ATTRIBUTES)) {
    if (!isObject(kv) || typeof kv.key !== 'string' || kv.key === '') continue;
    const value = anyValue(kv.value, depth);
    if (value !== undefined) out.push([kv.key, value]);
  }
  return out;
}

/** Nanoseconds since the epoch (decimal string or number) as RFC 3339 UTC with nanoseconds; 0 is absent. */
export function nanosToRfc3339(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value);
  if (!/^\d{1,20}$/.test(text)) return undefined;
  const nanos = BigInt(text);
  if (nanos === 0n) return undefined;
  const millis = Number(nanos / 1_000_000n);
  const date = new Date(millis);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() > 9999) return undefined;
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${date.toISOString().slice(0, 19)}.${fraction}Z`;
}

const ACTOR_ID_KEYS = ['user.id', 'enduser.id'];
const ORIGIN_KEYS = ['client.address', 'source.address'];
/** Attributes the mapping consumes; everything else goes to metadata under its own name. */
const CONSUMED = new Set([
  ...ACTOR_ID_KEYS, 'user.name', 'user.email', 'session.id', 'user_agent.original', 'event.name', 'event.outcome',
  'error.type', 'sealtrail.category', 'sealtrail.outcome', 'sealtrail.tenant', 'sealtrail.ledger', 'sealtrail.event_id',
  'sealtrail.target.type', 'sealtrail.target.id', 'sealtrail.target.name', 'sealtrail.actor.type',
]);

/** One ResourceLogs: its ledger and its records, mapped. `headerLedger` applies when the resource names none. */
export function mapResourceLogs(resourceLogs: unknown, headerLedger: string | undefined): MappedResource {
  const result: MappedResource = { ledger: headerLedger, records: [], rejected: 0 };
  if (!isObject(resourceLogs)) return reject(result, 1, 'a resourceLogs item is not an object');
  const resource = new Map(attributes(isObject(resourceLogs.resource) ? resourceLogs.resource.attributes : undefined));
  const resourceLedger = resource.get('sealtrail.ledger');
  if (typeof resourceLedger === 'string') result.ledger = resourceLedger;
  for (const scopeLogs of list(resourceLogs.scopeLogs)) {
    if (!isObject(scopeLogs)) continue;
    const scope = isObject(scopeLogs.scope) ? scopeLogs.scope : {};
    for (const [position, record] of list(scopeLogs.logRecords).entries()) {
      try {
        result.records.push(mapRecord(record, resource, scope, result.ledger));
      } catch (error) {
        reject(result, 1, `log record ${position} of scope ${JSON.stringify(String(scope.name ?? ''))}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return result;
}

function reject(result: MappedResource, count: number, reason: string): MappedResource {
  result.rejected += count;
  result.firstError ??= reason;
  return result;
}

function mapRecord(record: unknown, resource: Map<string, unknown>, scope: Json, ledger: string | undefined): MappedRecord {
  if (!isObject(record)) throw new Error('not an object');
  const attrs = new Map(attributes(record.attributes));
  const str = (key: string) => (typeof attrs.get(key) === 'string' ? (attrs.get(key) as string) : undefined);
  const serviceName = identifierFrom(resource.get('service.name'));
  const userId = identifierFrom(ACTOR_ID_KEYS.map((k) => attrs.get(k)).find((v) => v !== undefined));
  const actorId = userId ?? serviceName;
  if (actorId === undefined) throw new Error('no actor: set user.id or enduser.id, or the resource attribute service.name');
  const eventName = typeof record.eventName === 'string' && record.eventName !== '' ? record.eventName : str('event.name');
  const action = eventName === undefined ? 'log.record' : actionFrom(eventName);
  if (action === undefined) throw new Error(`event name ${JSON.stringify(eventName)} cannot be an action`);
  const severity = typeof record.severityNumber === 'number' ? record.severityNumber : 0;
  const outcomeWord = (str('sealtrail.outcome') ?? str('event.outcome'))?.toLowerCase();
  const outcome = outcomeWord === 'failure' || outcomeWord === 'success' ? outcomeWord : severity >= 17 ? 'failure' : 'success';
  const category = str('sealtrail.category');
  const ip = ORIGIN_KEYS.map((k) => str(k)).find((v) => v !== undefined && (isIPv4(v) || isIPv6(v)));
  const actorType = str('sealtrail.actor.type');
  const tenant = identifierFrom(str('sealtrail.tenant') ?? resource.get('sealtrail.tenant'), 128);
  const targetType = identifierFrom(str('sealtrail.target.type'), 128);
  const targetId = identifierFrom(str('sealtrail.target.id'));
  const eventId = identifierFrom(str('sealtrail.event_id'), 128);
  const event: AuditEvent = {
    ...(eventId ? { id: eventId } : {}),
    actor: {
      type: actorType === 'user' || actorType === 'service' || actorType === 'api_key' || actorType === 'system' ? actorType : userId ? 'user' : 'service',
      id: actorId,
      ...optional('name', textFrom(str('user.name'))),
      ...optional('email', str('user.email')?.slice(0, 320)),
      ...optional('session_id', identifierFrom(str('session.id'))),
    },
    action,
    category: CATEGORIES.includes(category as (typeof CATEGORIES)[number]) ? (category as AuditEvent['category']) : 'other',
    outcome,
    ...optional('outcome_reason', textFrom(str('error.type'))),
    ...optional('occurred_at', nanosToRfc3339(record.timeUnixNano) ?? nanosToRfc3339(record.observedTimeUnixNano)),
    ...(ip || str('user_agent.original') ? { origin: { ...optional('ip', ip), ...optional('user_agent', textFrom(str('user_agent.original'))) } } : {}),
    ...optional('tenant', tenant),
    ...(targetType && targetId ? { targets: [{ type: targetType, id: targetId, ...optional('name', textFrom(str('sealtrail.target.name'))) }] } : {}),
  };
  const mapped = withMetadata(event, metadataFields(record, attrs, resource, scope, ip));
  const valid = validated(mapped);
  const key = eventId ? undefined : recordDigest(record, resource, scope, ledger);
  return { event: valid, ...(key ? { idempotencyKey: key } : {}) };
}

function* metadataFields(record: Json, attrs: Map<string, unknown>, resource: Map<string, unknown>, scope: Json, ip: string | undefined): Iterable<[string, unknown]> {
  const body = anyValue(record.body);
  if (body !== undefined) yield [typeof body === 'string' ? 'message' : 'body', body];
  if (typeof record.severityText === 'string' && record.severityText !== '') yield ['severity_text', record.severityText];
  if (typeof record.severityNumber === 'number' && record.severityNumber > 0) yield ['severity_number', record.severityNumber];
  if (resource.has('service.name')) yield ['service.name', resource.get('service.name')];
  if (typeof record.traceId === 'string' && record.traceId !== '') yield ['trace_id', record.traceId];
  if (typeof record.spanId === 'string' && record.spanId !== '') yield ['span_id', record.spanId];
  if (typeof scope.name === 'string' && scope.name !== '') yield ['otel.scope.name', scope.name];
  // An address that is not an IP (a host name, a socket path) is kept here rather than lost.
  for (const key of ORIGIN_KEYS) if (attrs.has(key) && attrs.get(key) !== ip) yield [key, attrs.get(key)];
  for (const [key, value] of attrs) if (!CONSUMED.has(key)) yield [key, value];
  for (const [key, value] of resource) if (key !== 'service.name' && !key.startsWith('sealtrail.')) yield [`resource.${key}`, value];
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function validated(event: AuditEvent): AuditEvent {
  try {
    return validateEvent(event);
  } catch (error) {
    if (error instanceof SealtrailError) throw new Error(error.message);
    throw error;
  }
}

/**
 * The OTLP exporters retry a whole request after a timeout or a 5xx: the same record (same resource,
 * scope, nanosecond timestamp and content) must not be sealed twice. Records without a timestamp get no
 * key: two of them that look alike may really be two events.
 */
function recordDigest(record: Json, resource: Map<string, unknown>, scope: Json, ledger: string | undefined): string | undefined {
  if (nanosToRfc3339(record.timeUnixNano) === undefined) return undefined;
  const digest = createHash('sha256')
    .update(JSON.stringify([ledger ?? null, [...resource], scope.name ?? null, scope.version ?? null, record]))
    .digest('base64url');
  return `otlp:${digest}`;
}
