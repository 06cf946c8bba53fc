/**
 * Retention policies, legal holds and erasure settings: their validation and the decisions made from
 * them (which rule governs an event, when it expires, which fields of an event concern a data subject).
 * Pure: the server applies these decisions through the store's one narrow forgetting path.
 */
import { SealtrailError } from './errors.js';
import { isFieldPath } from './commitments.js';
import { formatQuery, parseQuery } from './query.js';

/** One retention rule. Criteria left out match every event; `retain` is a period or "forever". */
export interface RetentionRule {
  id: string;
  /** Ledger name, exact. */
  ledger?: string;
  /** Action, exact ("auth.login") or a prefix with a trailing `*` ("auth.*"). */
  action?: string;
  category?: string;
  tenant?: string;
  /** "400d", "18m" (calendar months), "7y" (calendar years) or "forever". */
  retain: string;
  description?: string;
}

/** Which fields erasure removes from events that concern a data subject. */
export interface ErasureSettings {
  /** Actor and origin fields removed when the subject is the event's actor. */
  fields: string[];
  /**
   * Metadata keys removed, whatever their value, when the subject is the event's actor. Any metadata
   * value that holds the subject goes whether listed or not (erasurePlan).
   */
  metadata: string[];
}

export interface RetentionPolicy {
  rules: RetentionRule[];
  erasure: ErasureSettings;
}

/** The fields the issue of erasure names as personal: who the actor is and where they acted from. */
export const DEFAULT_ERASURE: ErasureSettings = {
  fields: ['actor.name', 'actor.email', 'origin.ip', 'origin.user_agent', 'origin.device_id'],
  metadata: [],
};

/** Without a policy nothing expires: forgetting is only ever what a policy explicitly says. */
export const EMPTY_POLICY: RetentionPolicy = { rules: [], erasure: DEFAULT_ERASURE };

/** SOC 2 / ISO 27001 expectations and PCI DSS 10.5.1: at least 12 months. */
export const MINIMUM_MONTHS = 12;

const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RETAIN = /^(?:forever|([1-9][0-9]{0,4})([dmy]))$/;
const ACTION_PATTERN = /^[A-Za-z0-9_.:-]{1,128}\*?$/;
const CRITERION = /^[^\u0000-\u001f]{1,256}$/;
const MAX_RULES = 1000;

const invalid = (message: string, path: string): never => {
  throw new SealtrailError('INVALID_ARGUMENT', message, { path });
};

/** Validates a policy document (the JSON of a config file or an API body) and fills in defaults. */
export function parseRetentionPolicy(input: unknown): RetentionPolicy {
  if (!isObject(input)) invalid('a retention policy is a JSON object with "rules"', '');
  const doc = input as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (key !== 'rules' && key !== 'erasure') invalid(`unknown member "${key}"`, `/${key}`);
  if (!Array.isArray(doc.rules)) invalid('"rules" must be an array', '/rules');
  const raw = doc.rules as unknown[];
  if (raw.length > MAX_RULES) invalid(`at most ${MAX_RULES} rules`, '/rules');
  const rules = raw.map((rule, i) => parseRule(rule, `/rules/${i}`));
  const seen = new Map<string, string>();
  for (const [i, rule] of rules.entries()) {
    const ids = rules.findIndex((r) => r.id === rule.id);
    if (ids !== i) invalid(`rule id "${rule.id}" is used twice`, `/rules/${i}/id`);
    const criteria = criteriaKey(rule);
    const other = seen.get(criteria);
    if (other !== undefined) invalid(`rules "${other}" and "${rule.id}" match exactly the same events`, `/rules/${i}`);
    seen.set(criteria, rule.id);
  }
  return { rules, erasure: doc.erasure === undefined ? DEFAULT_ERASURE : parseErasure(doc.erasure) };
}

function parseRule(input: unknown, path: string): RetentionRule {
  if (!isObject(input)) invalid('a rule is an object', path);
  const rule = input as Record<string, unknown>;
  const allowed = ['id', 'ledger', 'action', 'category', 'tenant', 'retain', 'description'];
  for (const key of Object.keys(rule)) if (!allowed.includes(key)) invalid(`unknown rule member "${key}"`, `${path}/${key}`);
  if (typeof rule.id !== 'string' || !RULE_ID.test(rule.id)) invalid('rule "id": 1–64 letters, digits, ".", "_" or "-"', `${path}/id`);
  if (typeof rule.retain !== 'string' || !RETAIN.test(rule.retain)) {
    invalid('rule "retain": a number of days, months or years ("400d", "18m", "7y") or "forever"', `${path}/retain`);
  }
  const out: RetentionRule = { id: rule.id as string, retain: rule.retain as string };
  for (const key of ['ledger', 'category', 'tenant'] as const) {
    if (rule[key] === undefined) continue;
    if (typeof rule[key] !== 'string' || !CRITERION.test(rule[key] as string)) invalid(`rule "${key}": a non-empty string`, `${path}/${key}`);
    out[key] = rule[key] as string;
  }
  if (rule.action !== undefined) {
    if (typeof rule.action !== 'string' || !ACTION_PATTERN.test(rule.action)) {
      invalid('rule "action": an action ("auth.login") or a prefix ending in "*" ("auth.*")', `${path}/action`);
    }
    out.action = rule.action as string;
  }
  if (rule.description !== undefined) {
    if (typeof rule.description !== 'string' || rule.description.length > 1000) invalid('rule "description": a string of at most 1000 characters', `${path}/description`);
    out.description = rule.description as string;
  }
  return out;
}

function parseErasure(input: unknown): ErasureSettings {
  if (!isObject(input)) invalid('"erasure" is an object with "fields" and "metadata"', '/erasure');
  const doc = input as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (key !== 'fields' && key !== 'metadata') invalid(`unknown member "${key}"`, `/erasure/${key}`);
  const fields = doc.fields === undefined ? DEFAULT_ERASURE.fields : doc.fields;
  const metadata = doc.metadata === undefined ? [] : doc.metadata;
  if (!Array.isArray(fields) || fields.some((f) => typeof f !== 'string' || !/^(actor|origin)\./.test(f) || !isFieldPath(f))) {
    invalid('"erasure.fields" lists actor.* and origin.* fields (actor.id, actor.name, actor.email, actor.session_id, origin.ip, origin.user_agent, origin.device_id)', '/erasure/fields');
  }
  if (!Array.isArray(metadata) || metadata.some((k) => typeof k !== 'string' || !isFieldPath(`metadata.${k}`))) {
    invalid('"erasure.metadata" lists metadata keys', '/erasure/metadata');
  }
  return { fields: [...new Set(fields as string[])], metadata: [...new Set(metadata as string[])] };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const criteriaKey = (r: RetentionRule) => JSON.stringify([r.ledger ?? null, r.action ?? null, r.category ?? null, r.tenant ?? null]);

/** The retention period of a rule in whole months (years count 12, days count 1/30.44 of a month). */
function retainMonths(retain: string): number {
  const m = RETAIN.exec(retain)!;
  if (m[1] === undefined) return Infinity;
  const n = Number(m[1]);
  return m[2] === 'y' ? n * 12 : m[2] === 'm' ? n : n / (365.25 / 12);
}

/** Rules that keep events for less than the 12 months that SOC 2, ISO 27001 and PCI DSS expect. */
export function shortRules(policy: RetentionPolicy): RetentionRule[] {
  return policy.rules.filter((r) => retainMonths(r.retain) < MINIMUM_MONTHS);
}

/**
 * The instant (µs since the epoch) before which an event governed by the rule has expired, judged at
 * `nowMicros`; undefined for "forever". Months and years are calendar periods in UTC, clamped to the
 * month's last day (31 March minus one month is 28 or 29 February).
 */
export function expiryCutoff(retain: string, nowMicros: number): number | undefined {
  const m = RETAIN.exec(retain);
  if (!m) throw new SealtrailError('INVALID_ARGUMENT', `bad retention period ${JSON.stringify(retain)}`);
  if (m[1] === undefined) return undefined;
  const n = Number(m[1]);
  if (m[2] === 'd') return nowMicros - n * 86_400_000_000;
  const months = m[2] === 'y' ? n * 12 : n;
  const millis = Math.floor(nowMicros / 1000);
  const now = new Date(millis);
  const targetMonth = now.getUTCMonth() - months;
  const firstOfTarget = new Date(Date.UTC(now.getUTCFullYear(), targetMonth, 1));
  const lastDay = new Date(Date.UTC(firstOfTarget.getUTCFullYear(), firstOfTarget.getUTCMonth() + 1, 0)).getUTCDate();
  const day = Math.min(now.getUTCDate(), lastDay);
  const cutoffMillis = Date.UTC(firstOfTarget.getUTCFullYear(), firstOfTarget.getUTCMonth(), day) + (millis % 86_400_000);
  return cutoffMillis * 1000 + (nowMicros % 1000);
}

/** What rule matching needs of an event. */
export interface RuleSubject {
  ledger: string;
  action?: string | undefined;
  category?: string | undefined;
  tenant?: string | undefined;
}

function matches(rule: RetentionRule, e: RuleSubject): boolean {
  if (rule.ledger !== undefined && rule.ledger !== e.ledger) return false;
  if (rule.category !== undefined && rule.category !== e.category) return false;
  if (rule.tenant !== undefined && rule.tenant !== e.tenant) return false;
  if (rule.action !== undefined) {
    if (e.action === undefined) return false;
    if (rule.action.endsWith('*') ? !e.action.startsWith(rule.action.slice(0, -1)) : rule.action !== e.action) return false;
  }
  return true;
}

/** More criteria is more specific; among equals, an exact action beats a prefix and a longer prefix a shorter one. */
function specificity(rule: RetentionRule): number {
  const criteria = [rule.ledger, rule.action, rule.category, rule.tenant].filter((c) => c !== undefined).length;
  const action = rule.action === undefined ? 0 : rule.action.endsWith('*') ? rule.action.length - 1 : 1000;
  return criteria * 10_000 + action;
}

/**
 * The rule that governs an event: the most specific matching rule. When equally specific rules
 * disagree (a ledger rule and a tenant rule, say), the longer retention wins: policy never forgets
 * more than some rule that applies says it may. Undefined when no rule matches (the event is kept).
 */
export function governingRule(policy: RetentionPolicy, event: RuleSubject): RetentionRule | undefined {
  let best: RetentionRule | undefined;
  let bestScore = -1;
  for (const rule of policy.rules) {
    if (!matches(rule, event)) continue;
    const score = specificity(rule);
    if (score > bestScore || (score === bestScore && retainMonths(rule.retain) > retainMonths(best!.retain))) {
      best = rule;
      bestScore = score;
    }
  }
  return best;
}

/** The earliest cutoff any rule can produce: nothing received after it can have expired. */
export function latestPossibleCutoff(policy: RetentionPolicy, nowMicros: number): number | undefined {
  let latest: number | undefined;
  for (const rule of policy.rules) {
    const cutoff = expiryCutoff(rule.retain, nowMicros);
    if (cutoff !== undefined && (latest === undefined || cutoff > latest)) latest = cutoff;
  }
  return latest;
}

// ---- legal holds -------------------------------------------------------------------------------------

export interface LegalHoldInput {
  /** Ledger names the hold covers; ["*"]: every ledger. */
  ledgers: string[];
  /** Search query (docs/SEARCH.md) selecting the held events within those ledgers; "" holds them all. */
  query: string;
  reason: string;
  owner: string;
}

export interface LegalHold extends LegalHoldInput {
  id: string;
  createdAtMicros: number;
  createdBy: string;
  releasedAtMicros: number | null;
  releasedBy: string | null;
  releaseReason: string | null;
}

const TEXT = /^[^\u0000-\u0008\u000b-\u001f\u007f]+$/;

/**
 * Validates a hold and pins its query: relative times ("received:-30d") are resolved against
 * `nowMicros`, so a hold covers the same events tomorrow as today.
 */
export function parseLegalHold(input: unknown, nowMicros: number): LegalHoldInput {
  if (!isObject(input)) invalid('a legal hold is a JSON object', '');
  const doc = input as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (!['ledgers', 'query', 'reason', 'owner'].includes(key)) invalid(`unknown member "${key}"`, `/${key}`);
  const ledgers = doc.ledgers ?? ['*'];
  if (!Array.isArray(ledgers) || ledgers.length === 0 || ledgers.length > 100 || ledgers.some((l) => typeof l !== 'string' || !/^(\*|[a-z0-9][a-z0-9._-]{0,63})$/.test(l))) {
    invalid('"ledgers": ledger names, or ["*"] for every ledger', '/ledgers');
  }
  for (const key of ['reason', 'owner'] as const) {
    const v = doc[key];
    if (typeof v !== 'string' || v.trim() === '' || v.length > (key === 'reason' ? 2000 : 200) || !TEXT.test(v)) {
      invalid(`"${key}" is required: non-empty text (${key === 'reason' ? 2000 : 200} characters at most)`, `/${key}`);
    }
  }
  const text = doc.query ?? '';
  if (typeof text !== 'string' || text.length > 2000) invalid('"query": a search query of at most 2000 characters', '/query');
  const query = formatQuery(parseQuery(text as string, { now: nowMicros }));
  const unique = [...new Set(ledgers as string[])];
  return { ledgers: unique.includes('*') ? ['*'] : unique.sort(), query, reason: doc.reason as string, owner: doc.owner as string };
}

export function holdCovers(hold: LegalHold, ledger: string): boolean {
  return hold.releasedAtMicros === null && (hold.ledgers.includes('*') || hold.ledgers.includes(ledger));
}

// ---- erasure -------------------------------------------------------------------------------------------

/** What erasure does to one event: the fields that go, and those that hold the subject but stay. */
export interface ErasurePlan {
  /** Field paths to remove, sorted. */
  paths: string[];
  /** Field paths that hold the subject and stay, each with why (KEPT_BECAUSE). Sorted by path. */
  kept: Array<{ path: string; because: ErasureKept }>;
}

/**
 * Why a field that holds the subject stays. `pseudonym`: `actor.id` equal to the subject, the key that
 * keeps the actor's events linked, unless `erasure.fields` lists it. `classifies`: `action`, `tenant`
 * or a target's `type` — the application's classification of the event, which tenant-scoped keys and
 * retention rules read; erasing it would change who may read the event and how long it is kept.
 * `sealed-name`: a metadata key's name, which the leaf commits to (its value goes, the name cannot).
 */
export type ErasureKept = 'pseudonym' | 'classifies' | 'sealed-name';

/** Fields whose schema cannot hold a name, address or identifier: enumerations and a timestamp. */
const UNNAMEABLE_FIELDS = new Set(['actor.type', 'category', 'outcome', 'occurred_at']);
const CLASSIFYING_FIELDS = new Set(['action', 'tenant']);

/**
 * The fields of one event that hold the subject and must go, given the event's disclosed values. A
 * field goes when any text in it (a target's id and name, a metadata value's members and keys at any
 * depth, and their percent-decoded form, as in recorded query strings) contains the subject, compared
 * without case and not directly next to a letter or digit: "evt-zed@example.com" holds
 * "zed@example.com", "jimzed@example.com" does not, "u-50" does not hold "u-5". When the subject is the
 * event's actor, the policy's `erasure.fields` and `erasure.metadata` go as well, whatever their
 * values. `actor.id` equal to the subject stays unless `erasure.fields` lists it: it is the
 * pseudonymous key that keeps the actor's events linked; an actor id that carries the subject inside a
 * longer value ("user:zed@example.com") is a copy of the value rather than a key standing in for it,
 * and goes. What stays although it holds the subject is in `kept` (ErasureKept says why).
 */
export function erasurePlan(values: ReadonlyMap<string, unknown>, subject: string, settings: ErasureSettings): ErasurePlan {
  const paths = new Set<string>();
  const kept = new Map<string, ErasureKept>();
  const holds = (value: unknown) => mentionsSubject(value, subject);
  const subjectIsActor = ['actor.id', 'actor.name', 'actor.email', 'origin.ip'].some((p) => holds(values.get(p)));
  if (subjectIsActor) {
    for (const field of settings.fields) if (values.has(field)) paths.add(field);
    for (const key of settings.metadata) if (values.has(`metadata.${key}`)) paths.add(`metadata.${key}`);
  }
  for (const [path, value] of values) {
    // A key named after the subject: what it says is about them, so the value goes; the name stays sealed.
    if (path.startsWith('metadata.') && holds(path.slice('metadata.'.length))) {
      kept.set(path, 'sealed-name');
      paths.add(path);
    }
    if (paths.has(path) || UNNAMEABLE_FIELDS.has(path)) continue;
    if (CLASSIFYING_FIELDS.has(path)) {
      if (holds(value)) kept.set(path, 'classifies');
    } else if (path.startsWith('targets.')) {
      const { type, ...named } = (value ?? {}) as { type?: unknown };
      if (holds(named)) paths.add(path);
      else if (holds(type)) kept.set(path, 'classifies');
    } else if (holds(value)) {
      if (path === 'actor.id' && typeof value === 'string' && value.toLowerCase() === subject.toLowerCase()) kept.set(path, 'pseudonym');
      else paths.add(path);
    }
  }
  const keptList = [...kept].map(([path, because]) => ({ path, because })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { paths: [...paths].sort(), kept: keptList };
}

/** The fields of one event that erasure removes (erasurePlan's `paths`). */
export function erasurePaths(values: ReadonlyMap<string, unknown>, subject: string, settings: ErasureSettings): string[] {
  return erasurePlan(values, subject, settings).paths;
}

/** Whether any text in a disclosed value (strings, object keys, numbers, at any depth) holds the subject. */
export function mentionsSubject(value: unknown, subject: string): boolean {
  if (typeof value === 'string') return textHoldsSubject(value, subject);
  if (typeof value === 'number' || typeof value === 'boolean') return textHoldsSubject(String(value), subject);
  if (Array.isArray(value)) return value.some((item) => mentionsSubject(item, subject));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).some(([key, item]) => textHoldsSubject(key, subject) || mentionsSubject(item, subject));
  }
  return false;
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

function textHoldsSubject(text: string, subject: string): boolean {
  const { pattern, quick } = subjectPattern(subject);
  if (quick.test(text) && pattern.test(text)) return true;
  // Query strings are recorded as sent: "zed%40example.com", "Zed+Marker".
  if (!text.includes('%') && !text.includes('+')) return false;
  const decoded = percentDecoded(text);
  return pattern.test(decoded) || pattern.test(decoded.replace(/\+/g, ' '));
}

/** `pattern` decides; `quick`, the bare text without case, rules out most values several times faster. */
let lastPattern: { subject: string; pattern: RegExp; quick: RegExp } | undefined;

/**
 * The subject as a case-insensitive pattern whose letter or digit ends may not run on into further
 * letters or digits. One erasure tests it against every value of every entry: built once per subject.
 */
function subjectPattern(subject: string): { pattern: RegExp; quick: RegExp } {
  if (lastPattern?.subject === subject) return lastPattern;
  const literal = subject.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
  const first = String.fromCodePoint(subject.codePointAt(0)!);
  const last = [...subject.slice(-2)].pop()!;
  const source = `${LETTER_OR_DIGIT.test(first) ? '(?<![\\p{L}\\p{N}])' : ''}${literal}${LETTER_OR_DIGIT.test(last) ? '(?![\\p{L}\\p{N}])' : ''}`;
  lastPattern = { subject, pattern: new RegExp(source, 'iu'), quick: new RegExp(literal, 'iu') };
  return lastPattern;
}

/** Percent-decoding that leaves malformed sequences as they are instead of failing. */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** A subject must be specific enough that erasure cannot sweep up unrelated people by accident. */
export function checkSubject(subject: unknown): string {
  if (typeof subject !== 'string' || subject.trim().length < 3 || subject.length > 320 || !TEXT.test(subject)) {
    throw new SealtrailError('INVALID_ARGUMENT', 'the subject is an actor id, name, e-mail address or IP address of 3–320 characters', { path: '/subject' });
  }
  return subject;
}
