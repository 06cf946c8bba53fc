/**
 * Audit history from other systems → audit events: AWS CloudTrail, Okta System Log, GitHub audit log,
 * Google Cloud Audit Logs and OCSF. docs/INGEST.md ("Imports") has one table per format. Each mapper
 * names the source's own event id (the event `id`, so a re-import is answered from the first sealing),
 * takes the original time as `occurred_at`, and leaves every member it did not consume to metadata.
 * A record that lacks what an event needs (an id, an actor, a time) throws, and is reported by line.
 */
import { CATEGORIES, type AuditEvent } from '../../core/event.js';
import { isIPv4, isIPv6 } from '../../core/ip.js';
import { isRfc3339 } from '../../core/time.js';
import { actionFrom, identifierFrom, textFrom, truncate } from '../bounded.js';

export const IMPORT_FORMATS = ['cloudtrail', 'okta', 'github', 'gcp', 'ocsf'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

export interface Mapped {
  event: AuditEvent;
  /** The source members not mapped to a named field, for metadata, in the order they should be kept. */
  rest: Array<[string, unknown]>;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const obj = (value: unknown): Json => (isObject(value) ? value : {});
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const ipOf = (value: unknown) => (typeof value === 'string' && (isIPv4(value) || isIPv6(value)) ? value : undefined);

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

/** The source's id as an event id, prefixed by the format so two sources' ids never meet. */
function sourceId(format: ImportFormat, id: unknown): string {
  const text = identifierFrom(need(str(id) ?? (typeof id === 'number' ? String(id) : undefined), 'event id'), 10_000)!;
  const full = `${format}:${text}`;
  if (full.length > 128) throw new Error(`event id is ${text.length} characters; at most ${127 - format.length} fit`);
  return full;
}

/** A time as RFC 3339: text that already is one, or milliseconds since the epoch. */
function timeOf(value: unknown, what: string): string {
  if (value === undefined || value === null) throw new Error(`no ${what}`);
  if (typeof value === 'string' && isRfc3339(value)) return value;
  if (typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 253402300800000) return new Date(value).toISOString();
  if (typeof value === 'string' && /^\d{10,16}$/.test(value)) return timeOf(Number(value), what);
  throw new Error(`${what} ${JSON.stringify(value)?.slice(0, 60)} is not a time`);
}

const VERBS: Array<[RegExp, AuditEvent['category']]> = [
  [/(^|[._])(login|logon|logout|logoff|signin|sign_in|authenticat\w*|session|mfa|password|sso|console_login)($|[._])/, 'auth'],
  [/(^|[._])(create|add|insert|put|upload|register|provision|invite|generate)\w*($|[._])/, 'create'],
  [/(^|[._])(delete|remove|destroy|deactivate|revoke|purge|terminate|unassign|drop)\w*($|[._])/, 'delete'],
  [/(^|[._])(get|list|describe|read|view|download|search|lookup|access|clone|fetch|head)\w*($|[._])/, 'read'],
  [/(^|[._])(update|modify|set|change|rename|edit|patch|attach|detach|assign|grant|enable|disable|suspend|activate|reset|transfer|move)\w*($|[._])/, 'update'],
  [/(^|[._])(export)\w*($|[._])/, 'export'],
  [/(^|[._])(run|invoke|execute|start|stop|exec)\w*($|[._])/, 'execute'],
];

/** The category an action's words suggest; `other` when none does. */
export function categoryOf(action: string): AuditEvent['category'] {
  const words = action.slice(action.indexOf('.') + 1);
  for (const [pattern, category] of VERBS) if (pattern.test(words)) return category;
  return 'other';
}

function without(record: Json, consumed: string[]): Array<[string, unknown]> {
  return Object.entries(record).filter(([key, value]) => !consumed.includes(key) && value !== null && value !== undefined && value !== '');
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function origin(ip: unknown, userAgent: unknown): Pick<AuditEvent, 'origin'> {
  const address = ipOf(ip);
  const agent = textFrom(userAgent);
  return address || agent ? { origin: { ...optional('ip', address), ...optional('user_agent', agent) } } : {};
}

function targetsOf(items: Array<{ type: unknown; id: unknown; name?: unknown }>): Pick<AuditEvent, 'targets'> {
  const targets = items
    .map(({ type, id, name }) => ({ type: identifierFrom(type, 128), id: identifierFrom(id), name: textFrom(name) }))
    .filter((t): t is { type: string; id: string; name: string | undefined } => t.type !== undefined && t.id !== undefined)
    .slice(0, 32)
    .map(({ type, id, name }) => ({ type, id, ...optional('name', name) }));
  return targets.length ? { targets } : {};
}

// AWS CloudTrail record contents (CloudTrail User Guide, "CloudTrail record contents").
function cloudtrail(record: Json): Mapped {
  const identity = obj(record.userIdentity);
  const issuer = obj(obj(identity.sessionContext).sessionIssuer);
  const type = str(identity.type);
  const actorId = identifierFrom(identity.arn ?? identity.principalId ?? identity.invokedBy ?? identity.accountId);
  const service = str(record.eventSource)?.replace(/\.amazonaws\.com$/, '') ?? 'aws';
  const eventName = need(str(record.eventName), 'eventName');
  const action = need(actionFrom(`${service.replace(/[^a-z0-9_]/gi, '_')}.${eventName}`), 'usable eventName');
  const error = str(record.errorCode);
  const consoleResult = str(obj(record.responseElements).ConsoleLogin);
  const failed = error !== undefined || consoleResult === 'Failure';
  const event: AuditEvent = {
    id: sourceId('cloudtrail', record.eventID),
    actor: {
      type: type === 'AWSService' ? 'service' : type === 'AWSAccount' ? 'system' : 'user',
      id: need(actorId, 'userIdentity'),
      ...optional('name', textFrom(identity.userName ?? issuer.userName)),
      ...optional('session_id', identifierFrom(identity.accessKeyId)),
    },
    action,
    category: record.readOnly === true ? 'read' : str(record.eventType) === 'AwsConsoleSignIn' ? 'auth' : categoryOf(action),
    outcome: failed ? 'failure' : 'success',
    ...optional('outcome_reason', textFrom(error ? `${error}${str(record.errorMessage) ? `: ${record.errorMessage as string}` : ''}` : consoleResult === 'Failure' ? str(record.errorMessage) ?? 'console sign-in failed' : undefined)),
    occurred_at: timeOf(record.eventTime, 'eventTime'),
    ...origin(record.sourceIPAddress, record.userAgent),
    ...targetsOf(Array.isArray(record.resources) ? record.resources.map((r) => ({ type: obj(r).type ?? 'aws', id: obj(r).ARN ?? obj(r).arn })) : []),
  };
  const rest = without(record, ['eventID', 'eventName', 'eventTime', 'userAgent', 'resources', 'errorCode', 'errorMessage']);
  // sourceIPAddress may be a service name ("s3.amazonaws.com"): kept in metadata when it is not an IP.
  return { event, rest: ipOf(record.sourceIPAddress) ? rest.filter(([k]) => k !== 'sourceIPAddress') : rest };
}

// Okta System Log LogEvent object (Okta System Log API reference).
function okta(record: Json): Mapped {
  const actor = obj(record.actor);
  const client = obj(record.client);
  const outcome = obj(record.outcome);
  const result = str(outcome.result)?.toUpperCase();
  const eventType = need(str(record.eventType), 'eventType');
  const action = need(actionFrom(eventType, 'okta'), 'usable eventType');
  const alternate = str(actor.alternateId);
  const event: AuditEvent = {
    id: sourceId('okta', record.uuid),
    actor: {
      type: str(actor.type) === 'User' ? 'user' : str(actor.type) === 'SystemPrincipal' ? 'system' : 'service',
      id: need(identifierFrom(actor.id ?? alternate), 'actor'),
      ...optional('name', textFrom(actor.displayName)),
      ...optional('email', alternate?.includes('@') ? alternate.slice(0, 320) : undefined),
      ...optional('session_id', identifierFrom(obj(record.authenticationContext).externalSessionId)),
    },
    action,
    category: /^user\.(session|authentication|mfa)|^policy\.evaluate_sign_on|\.auth/.test(eventType) ? 'auth' : categoryOf(action),
    outcome: result === 'FAILURE' || result === 'DENY' ? 'failure' : 'success',
    ...optional('outcome_reason', textFrom([result && result !== 'SUCCESS' ? result : undefined, str(outcome.reason)].filter(Boolean).join(': ') || undefined)),
    occurred_at: timeOf(record.published, 'published'),
    ...origin(client.ipAddress, obj(client.userAgent).rawUserAgent),
    ...targetsOf(Array.isArray(record.target) ? record.target.map((t) => ({ type: obj(t).type, id: obj(t).id ?? obj(t).alternateId, name: obj(t).displayName })) : []),
  };
  return { event, rest: [['displayMessage', record.displayMessage], ...without(record, ['uuid', 'eventType', 'published', 'target', 'displayMessage'])] };
}

const GITHUB_OPERATIONS: Record<string, AuditEvent['category']> = { create: 'create', modify: 'update', remove: 'delete', access: 'read', authentication: 'auth', transfer: 'update' };

// GitHub audit log events as streamed or exported (GitHub Docs, "Audit log events" and the export's JSON).
function github(record: Json): Mapped {
  const action = need(actionFrom(need(str(record.action), 'action'), 'github'), 'usable action');
  const operation = str(record.operation_type);
  const event: AuditEvent = {
    id: sourceId('github', record._document_id ?? record.document_id),
    actor: { type: str(record.actor_is_bot) === 'true' || record.actor_is_bot === true ? 'service' : 'user', id: need(identifierFrom(record.actor ?? record.actor_id), 'actor') },
    action,
    category: (operation !== undefined ? GITHUB_OPERATIONS[operation] : undefined) ?? categoryOf(action),
    outcome: 'success',
    occurred_at: timeOf(record['@timestamp'] ?? record.created_at ?? record.timestamp, '@timestamp'),
    ...origin(record.actor_ip, record.user_agent),
    ...targetsOf([
      { type: 'repository', id: record.repo },
      { type: 'user', id: record.user },
      { type: 'team', id: record.team },
      { type: 'organization', id: record.org },
      { type: 'enterprise', id: record.business },
    ]),
  };
  return { event, rest: without(record, ['_document_id', 'document_id', 'action', 'actor', '@timestamp', 'created_at', 'actor_ip', 'user_agent', 'repo', 'user', 'team', 'org', 'business']) };
}

// Google Cloud Audit Logs: a LogEntry whose protoPayload is a google.cloud.audit.AuditLog.
function gcp(record: Json): Mapped {
  const payload = obj(record.protoPayload);
  const auth = obj(payload.authenticationInfo);
  const meta = obj(payload.requestMetadata);
  const status = obj(payload.status);
  const method = need(str(payload.methodName), 'protoPayload.methodName');
  const service = str(payload.serviceName)?.replace(/\.googleapis\.com$/, '') ?? 'gcp';
  const action = need(actionFrom(method.includes('.') ? method : `${service}.${method}`, service), 'usable methodName');
  const principal = str(auth.principalEmail) ?? str(auth.principalSubject);
  const code = typeof status.code === 'number' ? status.code : 0;
  const logName = str(record.logName) ?? '';
  const event: AuditEvent = {
    id: sourceId('gcp', record.insertId),
    actor: {
      type: principal?.endsWith('.gserviceaccount.com') ? 'service' : principal ? 'user' : 'system',
      id: identifierFrom(principal) ?? 'unknown',
      ...optional('email', principal?.includes('@') ? principal.slice(0, 320) : undefined),
    },
    action,
    category: /data_access/.test(logName) && categoryOf(action) === 'other' ? 'read' : categoryOf(action),
    outcome: code === 0 ? 'success' : 'failure',
    ...optional('outcome_reason', code === 0 ? undefined : textFrom(`code ${code}${str(status.message) ? `: ${status.message as string}` : ''}`)),
    occurred_at: timeOf(record.timestamp, 'timestamp'),
    ...origin(meta.callerIp, meta.callerSuppliedUserAgent),
    ...targetsOf([{ type: obj(record.resource).type ?? 'gcp', id: payload.resourceName }]),
  };
  const payloadRest = without(payload, ['methodName', 'status', 'resourceName', '@type']).map(([k, v]): [string, unknown] => [`protoPayload.${k}`, v]);
  return { event, rest: [['logName', record.logName], ['resource', record.resource], ['severity', record.severity], ...payloadRest, ...without(record, ['insertId', 'timestamp', 'protoPayload', 'logName', 'resource', 'severity'])] };
}

// OCSF events (schema.ocsf.io): the base event's attributes and the IAM and Application classes' actor/user.
function ocsf(record: Json): Mapped {
  const metadata = obj(record.metadata);
  const actorUser = obj(obj(record.actor).user);
  const user = Object.keys(actorUser).length ? actorUser : obj(record.user);
  const className = need(str(record.class_name) ?? (typeof record.class_uid === 'number' ? `class_${record.class_uid}` : undefined), 'class_name or class_uid');
  const activity = str(record.activity_name) ?? (typeof record.activity_id === 'number' ? `activity_${record.activity_id}` : 'unknown');
  const api = obj(record.api);
  const action = need(actionFrom(str(api.operation) && str(obj(api.service).name) ? `${obj(api.service).name as string}.${api.operation as string}` : `${className}.${activity}`, 'ocsf'), 'usable class and activity');
  const statusId = typeof record.status_id === 'number' ? record.status_id : undefined;
  const failed = statusId === 2 || str(record.status)?.toLowerCase() === 'failure';
  const categoryWord = activity.toLowerCase();
  const event: AuditEvent = {
    id: sourceId('ocsf', metadata.uid ?? record.uid),
    actor: {
      type: str(user.type)?.toLowerCase() === 'system' ? 'system' : 'user',
      id: need(identifierFrom(user.uid ?? user.name ?? user.email_addr), 'actor.user or user'),
      ...optional('name', textFrom(user.name !== user.uid ? user.name : undefined)),
      ...optional('email', str(user.email_addr)?.slice(0, 320)),
      ...optional('session_id', identifierFrom(obj(obj(record.actor).session).uid ?? obj(record.session).uid)),
    },
    action,
    category: record.class_uid === 3002 || className.toLowerCase() === 'authentication' ? 'auth' : CATEGORIES.includes(categoryWord as never) ? (categoryWord as AuditEvent['category']) : categoryOf(action),
    outcome: failed ? 'failure' : 'success',
    ...optional('outcome_reason', textFrom(record.status_detail)),
    occurred_at: typeof record.time_dt === 'string' && isRfc3339(record.time_dt) ? record.time_dt : timeOf(record.time, 'time'),
    ...origin(obj(record.src_endpoint).ip, obj(record.http_request).user_agent),
    ...targetsOf(Array.isArray(record.resources) ? record.resources.map((r) => ({ type: obj(r).type ?? 'resource', id: obj(r).uid ?? obj(r).name, name: obj(r).name })) : []),
  };
  return { event, rest: [['message', record.message], ...without(record, ['time', 'time_dt', 'status', 'status_id', 'status_detail', 'message', 'resources'])] };
}

const MAPPERS: Record<ImportFormat, (record: Json) => Mapped> = { cloudtrail, okta, github, gcp, ocsf };

export function mapImported(format: ImportFormat, record: unknown): Mapped {
  if (!isObject(record)) throw new Error('a record must be a JSON object');
  const mapped = MAPPERS[format](record);
  return { ...mapped, event: { ...mapped.event, ...optional('outcome_reason', mapped.event.outcome_reason && truncate(mapped.event.outcome_reason, 1024)) } };
}
