/**
 * OCSF 1.8.0 (https://schema.ocsf.io/1.8.0): one event object per record, written as JSON Lines.
 *
 * Class by action and category (docs/EXPORT.md has the full table):
 *   category auth, or action auth.*                        → Authentication 3002 (1 Logon, 2 Logoff, 99 Other)
 *   user.* / account.* that change something, with a target → Account Change 3001
 *   role.* / permission.* / privilege.* grant or revoke,
 *     with a user target and a privilege target            → User Access Management 3005
 *   group.* / team.* that change something, with a target   → Group Management 3006
 *   other admin actions, and key/role/policy/… changes,
 *     with a target                                        → Entity Management 3004
 *   everything else                                        → API Activity 6003 (create 1, read 2, update 3, delete 4, 99 Other)
 * An IAM class is only chosen when the event has the target its required attribute is made of; otherwise
 * the event is API Activity, whose required attributes every sealtrail event can fill.
 *
 * class_uid = category_uid × 1000 + class number; type_uid = class_uid × 100 + activity_id.
 * time is received_at (authoritative, sealed) in epoch milliseconds; the client's occurred_at goes to
 * metadata.original_time. Sealtrail's own fields (ledger position, leaf hash, writer, exact
 * received_at, category, the event's metadata, targets not mapped) are in `unmapped`.
 *
 * A value removed after sealing: a string attribute mapped from it reads `[erased]` / `[purged]` in
 * place (an attribute with a format, like an IP address or e-mail, is left out instead), and
 * `unmapped.redacted` lists every removed path with its reason.
 */
import type { Redaction } from '../commitments.js';
import { ownValue } from '../own.js';
import { controlSafeJson, eventLevel, PRODUCT, redactionMarker, type ExportLocation, type ExportRecord, type Level } from './record.js';

export const OCSF_VERSION = '1.8.0';
export const OCSF_CONTENT_TYPE = 'application/x-ndjson';

type Json = Record<string, unknown>;

interface OcsfClass {
  uid: number;
  name: string;
  categoryUid: number;
  categoryName: string;
}

const IAM = { categoryUid: 3, categoryName: 'Identity & Access Management' };
export const OCSF_CLASSES = {
  accountChange: { uid: 3001, name: 'Account Change', ...IAM },
  authentication: { uid: 3002, name: 'Authentication', ...IAM },
  entityManagement: { uid: 3004, name: 'Entity Management', ...IAM },
  userAccess: { uid: 3005, name: 'User Access Management', ...IAM },
  groupManagement: { uid: 3006, name: 'Group Management', ...IAM },
  apiActivity: { uid: 6003, name: 'API Activity', categoryUid: 6, categoryName: 'Application Activity' },
} as const satisfies Record<string, OcsfClass>;

/** Activities by verb (the last segment of the action), per class; unlisted verbs are 99 Other. */
const AUTH_VERBS: Record<string, [number, string]> = {
  login: [1, 'Logon'], logon: [1, 'Logon'], signin: [1, 'Logon'], sign_in: [1, 'Logon'],
  logout: [2, 'Logoff'], logoff: [2, 'Logoff'], signout: [2, 'Logoff'], sign_out: [2, 'Logoff'],
};
const ACCOUNT_VERBS: Record<string, [number, string]> = {
  create: [1, 'Create'], enable: [2, 'Enable'], password_change: [3, 'Password Change'], change_password: [3, 'Password Change'],
  password_reset: [4, 'Password Reset'], reset_password: [4, 'Password Reset'], disable: [5, 'Disable'], delete: [6, 'Delete'],
  attach_policy: [7, 'Attach Policy'], detach_policy: [8, 'Detach Policy'], lock: [9, 'Lock'],
  mfa_enable: [10, 'MFA Factor Enable'], mfa_disable: [11, 'MFA Factor Disable'], unlock: [12, 'Unlock'],
};
const ACCESS_VERBS: Record<string, [number, string]> = {
  grant: [1, 'Assign Privileges'], assign: [1, 'Assign Privileges'], add: [1, 'Assign Privileges'],
  revoke: [2, 'Revoke Privileges'], unassign: [2, 'Revoke Privileges'], remove: [2, 'Revoke Privileges'],
};
const GROUP_VERBS: Record<string, [number, string]> = {
  grant: [1, 'Assign Privileges'], assign_privileges: [1, 'Assign Privileges'], revoke: [2, 'Revoke Privileges'],
  revoke_privileges: [2, 'Revoke Privileges'], add_member: [3, 'Add User'], add_user: [3, 'Add User'], member_add: [3, 'Add User'],
  remove_member: [4, 'Remove User'], remove_user: [4, 'Remove User'], member_remove: [4, 'Remove User'],
  delete: [5, 'Delete'], create: [6, 'Create'], add_subgroup: [7, 'Add Subgroup'], remove_subgroup: [8, 'Remove Subgroup'],
};
const ENTITY_VERBS: Record<string, [number, string]> = {
  create: [1, 'Create'], read: [2, 'Read'], get: [2, 'Read'], list: [2, 'Read'], update: [3, 'Update'], modify: [3, 'Update'],
  delete: [4, 'Delete'], move: [5, 'Move'], rename: [5, 'Move'], enroll: [6, 'Enroll'], unenroll: [7, 'Unenroll'],
  enable: [8, 'Enable'], disable: [9, 'Disable'], revoke: [9, 'Disable'], activate: [10, 'Activate'], deactivate: [11, 'Deactivate'],
  suspend: [12, 'Suspend'], resume: [13, 'Resume'],
};
const CRUD_BY_CATEGORY: Record<string, [number, string]> = {
  create: [1, 'Create'], read: [2, 'Read'], update: [3, 'Update'], delete: [4, 'Delete'],
};

const ACCOUNT_PREFIXES = new Set(['user', 'account']);
const ACCESS_PREFIXES = new Set(['role', 'permission', 'privilege', 'access']);
const GROUP_PREFIXES = new Set(['group', 'team']);
/** Prefixes of managed entities whose changes are Entity Management even outside category admin. */
const ENTITY_PREFIXES = new Set(['key', 'api_key', 'apikey', 'role', 'policy', 'permission', 'privilege', 'ledger', 'tenant', 'org', 'organization', 'setting', 'settings', 'config']);
/** Categories that change something (IAM classes are about changes, not reads). */
const CHANGES = new Set(['create', 'update', 'delete', 'admin']);
const USER_TARGET_TYPES = new Set(['user', 'account']);

interface Classified {
  cls: OcsfClass;
  activityId: number;
  activityName: string;
}

type Target = { type?: unknown; id?: unknown; name?: unknown };

function targetsOf(event: Json): Target[] {
  const targets = event.targets;
  return Array.isArray(targets) ? (targets.filter((t) => t && typeof t === 'object') as Target[]) : [];
}

function other(name: string): [number, string] {
  return [99, name];
}

function capitalised(word: string): string {
  return word.length === 0 ? 'Other' : word[0]!.toUpperCase() + word.slice(1);
}

/** The class and activity of an event (exported for tests and docs/EXPORT.md). */
export function classify(event: Json): Classified {
  const action = typeof event.action === 'string' ? event.action : '';
  const category = typeof event.category === 'string' ? event.category : '';
  const dot = action.indexOf('.');
  const prefix = dot < 0 ? action : action.slice(0, dot);
  const verb = action.slice(action.lastIndexOf('.') + 1);
  const targets = targetsOf(event);
  const pick = (cls: OcsfClass, [activityId, activityName]: [number, string]): Classified => ({ cls, activityId, activityName });

  if (category === 'auth' || prefix === 'auth') return pick(OCSF_CLASSES.authentication, ownValue(AUTH_VERBS, verb) ?? other(capitalised(verb)));
  if (CHANGES.has(category) && targets.length > 0) {
    if (ACCOUNT_PREFIXES.has(prefix)) return pick(OCSF_CLASSES.accountChange, ownValue(ACCOUNT_VERBS, verb) ?? other(capitalised(verb)));
    const access = ownValue(ACCESS_VERBS, verb);
    if (ACCESS_PREFIXES.has(prefix) && access && userTarget(targets) && privilegeTargets(targets).length > 0) {
      return pick(OCSF_CLASSES.userAccess, access);
    }
    if (GROUP_PREFIXES.has(prefix)) return pick(OCSF_CLASSES.groupManagement, ownValue(GROUP_VERBS, verb) ?? other(capitalised(verb)));
    if (category === 'admin' || ENTITY_PREFIXES.has(prefix)) {
      return pick(OCSF_CLASSES.entityManagement, ownValue(ENTITY_VERBS, verb) ?? ownValue(CRUD_BY_CATEGORY, category) ?? other(capitalised(verb)));
    }
  }
  return pick(OCSF_CLASSES.apiActivity, ownValue(CRUD_BY_CATEGORY, category) ?? other(capitalised(category)));
}

function userTarget(targets: Target[]): Target | undefined {
  return targets.find((t) => USER_TARGET_TYPES.has(String(t.type)));
}

function privilegeTargets(targets: Target[]): Target[] {
  return targets.filter((t) => !USER_TARGET_TYPES.has(String(t.type)));
}

const SEVERITY: Record<Level, [number, string]> = { info: [1, 'Informational'], low: [2, 'Low'], medium: [3, 'Medium'] };

/** OCSF user.type_id by actor.type (4 Service since OCSF 1.x; api_key has no id of its own). */
const USER_TYPES: Record<string, [number, string]> = {
  user: [1, 'User'],
  system: [3, 'System'],
  service: [4, 'Service'],
  api_key: [99, 'API Key'],
};

/** A string attribute: the value, or the marker of its removal, or nothing. */
function text(value: unknown, kind: Redaction | undefined): string | undefined {
  if (kind) return redactionMarker(kind);
  return typeof value === 'string' ? value : undefined;
}

function put(object: Json, key: string, value: unknown): void {
  if (value !== undefined) object[key] = value;
}

/** The event's actor as an OCSF user; `uid` always present (user needs one of account, name, uid). */
function actorUser(event: Json, redacted: Record<string, Redaction> | undefined): Json {
  const actor = (event.actor ?? {}) as Json;
  const user: Json = {};
  put(user, 'uid', text(actor.id, redacted?.['actor.id']) ?? 'unknown');
  put(user, 'name', text(actor.name, redacted?.['actor.name']));
  if (typeof actor.email === 'string' && EMAIL.test(actor.email)) user.email_addr = actor.email;
  const type = typeof actor.type === 'string' ? ownValue(USER_TYPES, actor.type) : undefined;
  if (type) {
    user.type_id = type[0];
    user.type = type[1];
  }
  return user;
}

/** OCSF email_t (dictionary.json types.email_t.regex); anything else stays in unmapped only. */
const EMAIL = /^[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$/;

function targetUser(target: Target): Json {
  const user: Json = { uid: String(target.id ?? 'unknown') };
  if (typeof target.name === 'string') user.name = target.name;
  return user;
}

function srcEndpoint(event: Json, location: ExportLocation | undefined): Json {
  const origin = (event.origin ?? {}) as Json;
  const endpoint: Json = {};
  if (typeof origin.ip === 'string') endpoint.ip = origin.ip;
  if (typeof origin.device_id === 'string') endpoint.uid = origin.device_id;
  const geo = location && typeof origin.ip === 'string' ? ocsfLocation(location) : undefined;
  if (geo) endpoint.location = geo;
  // network_endpoint needs one of ip, uid, name, …: an event without (or with an erased) origin says so.
  if (endpoint.ip === undefined && endpoint.uid === undefined) endpoint.name = 'unknown';
  return endpoint;
}

/** OCSF's region is an ISO 3166-2 code ("CH-VD"); a region the database gives by name goes into desc. */
const ISO_3166_2 = /^[A-Z]{2}-[A-Z0-9]{1,3}$/;

/**
 * The OCSF location object (objects/location.json): city, country, region, lat, long, and the
 * geolocation data's attribution as its provider. Reserved ranges are not places, and a location needs
 * one of city, country, region or postal_code: otherwise there is none.
 */
function ocsfLocation(l: ExportLocation): Json | undefined {
  if (l.reserved !== undefined || (l.city === undefined && l.country === undefined && (l.region === undefined || !ISO_3166_2.test(l.region)))) return undefined;
  const out: Json = {};
  put(out, 'city', l.city);
  put(out, 'country', l.country);
  if (l.region !== undefined && ISO_3166_2.test(l.region)) out.region = l.region;
  else put(out, 'desc', [l.city, l.region, l.country].filter((part) => part !== undefined).join(', ') || undefined);
  put(out, 'lat', l.latitude);
  put(out, 'long', l.longitude);
  put(out, 'provider', l.attribution);
  return out;
}

function epochMillis(rfc3339: string): number {
  // received_at is always "YYYY-MM-DDTHH:MM:SS.ffffffZ"; Date.parse reads the milliseconds of it.
  return Date.parse(rfc3339);
}

/** The OCSF event object of one record. */
export function toOcsf(record: ExportRecord): Json {
  const event = record.event;
  const redacted = record.redacted;
  const { cls, activityId, activityName } = classify(event);
  const [severityId, severity] = SEVERITY[eventLevel(event)];
  const outcome = event.outcome;
  const user = actorUser(event, redacted);
  const actor: Json = { user };
  const sessionId = text((event.actor as Json | undefined)?.session_id, redacted?.['actor.session_id']);
  if (sessionId !== undefined) actor.session = { uid: sessionId };

  const metadata: Json = {
    version: OCSF_VERSION,
    product: { name: PRODUCT.name, vendor_name: PRODUCT.vendor, version: PRODUCT.version },
    uid: `${record.ledger}/${record.index}`,
    log_name: record.ledger,
    sequence: record.index,
    logged_time: epochMillis(record.received_at),
  };
  put(metadata, 'original_event_uid', text(event.id, redacted?.id));
  put(metadata, 'original_time', text(event.occurred_at, redacted?.occurred_at));
  put(metadata, 'tenant_uid', text(event.tenant, redacted?.tenant));

  const out: Json = {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: cls.categoryUid,
    category_name: cls.categoryName,
    class_uid: cls.uid,
    class_name: cls.name,
    type_uid: cls.uid * 100 + activityId,
    type_name: `${cls.name}: ${activityName}`,
    severity_id: severityId,
    severity,
    time: epochMillis(record.received_at),
    metadata,
    actor,
    src_endpoint: srcEndpoint(event, record.location),
  };
  if (outcome === 'success' || outcome === 'failure') {
    out.status_id = outcome === 'success' ? 1 : 2;
    out.status = outcome === 'success' ? 'Success' : 'Failure';
  } else {
    out.status_id = 0;
    out.status = 'Unknown';
  }
  put(out, 'status_detail', text(event.outcome_reason, redacted?.outcome_reason));
  const action = text(event.action, redacted?.action) ?? 'unknown';
  out.message = `${action} ${outcome === 'success' || outcome === 'failure' ? outcome : 'unknown outcome'}`;
  const userAgent = text((event.origin as Json | undefined)?.user_agent, redacted?.['origin.user_agent']);
  if (userAgent !== undefined) out.http_request = { user_agent: userAgent };

  const targets = targetsOf(event);
  const mapped = new Set<Target>();
  switch (cls.uid) {
    case OCSF_CLASSES.authentication.uid:
      // The subject authenticating is the actor; the service is the ledger (the audited application).
      out.user = { ...user };
      out.service = { name: record.ledger };
      break;
    case OCSF_CLASSES.accountChange.uid: {
      const target = userTarget(targets) ?? targets[0]!;
      mapped.add(target);
      out.user = targetUser(target);
      break;
    }
    case OCSF_CLASSES.userAccess.uid: {
      const target = userTarget(targets)!;
      const privileges = privilegeTargets(targets);
      mapped.add(target);
      for (const p of privileges) mapped.add(p);
      out.user = targetUser(target);
      out.privileges = privileges.map((p) => String(p.id));
      out.resources = privileges.map(resource);
      break;
    }
    case OCSF_CLASSES.groupManagement.uid: {
      const group = targets.find((t) => GROUP_PREFIXES.has(String(t.type))) ?? targets[0]!;
      mapped.add(group);
      out.group = { uid: String(group.id), ...(typeof group.name === 'string' ? { name: group.name } : {}) };
      const member = userTarget(targets);
      if (member) {
        mapped.add(member);
        out.user = targetUser(member);
      }
      break;
    }
    case OCSF_CLASSES.entityManagement.uid: {
      const target = targets[0]!;
      mapped.add(target);
      out.entity = { uid: String(target.id), type: String(target.type), ...(typeof target.name === 'string' ? { name: target.name } : {}) };
      break;
    }
    default:
      out.api = { operation: action };
      if (targets.length > 0) {
        out.resources = targets.map(resource);
        for (const t of targets) mapped.add(t);
      }
  }

  const unmapped: Json = {
    ledger: record.ledger,
    index: record.index,
    received_at: record.received_at,
    leaf_hash: record.leaf_hash,
    writer: record.writer,
  };
  put(unmapped, 'category', event.category);
  put(unmapped, 'actor_type', (event.actor as Json | undefined)?.type);
  if (typeof (event.actor as Json | undefined)?.email === 'string' && user.email_addr === undefined) unmapped.actor_email = (event.actor as Json).email;
  const unmappedTargets = targets.filter((t) => !mapped.has(t));
  if (unmappedTargets.length > 0) unmapped.targets = unmappedTargets;
  put(unmapped, 'metadata', event.metadata);
  if (redacted) unmapped.redacted = redacted;
  out.unmapped = unmapped;
  return out;
}

function resource(target: Target): Json {
  const r: Json = { uid: String(target.id), type: String(target.type) };
  if (typeof target.name === 'string') r.name = target.name;
  return r;
}

export function formatOcsfLine(record: ExportRecord): string {
  // controlSafeJson: no raw NEL, DEL or U+2028/U+2029 to split the line (see jsonl.ts).
  return `${controlSafeJson(toOcsf(record))}\n`;
}
