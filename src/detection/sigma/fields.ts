/**
 * Sigma field names → what they read of a judged event (docs/DETECTION.md, "Field mapping"). A field
 * reads as a list of values, because some are many (`targets.id`: one per target; a metadata array:
 * one per item) and a rule's value matches when any of them does; `undefined` means the field is absent.
 */
import { METADATA_KEY } from '../../core/event.js';
import type { JudgedEvent } from '../detector.js';

export type FieldReader = (judged: JudgedEvent) => unknown[] | undefined;

const member = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;

const one = (value: unknown): unknown[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);

const eventMember = (...path: string[]): FieldReader => (judged) => one(path.reduce(member, judged.event as unknown));

const targetsMember = (key: string): FieldReader => (judged) => {
  const targets = judged.event.targets;
  if (!Array.isArray(targets)) return undefined;
  const values: unknown[] = [];
  for (const target of targets) {
    const value = member(target, key);
    if (value !== undefined) values.push(value);
  }
  return values.length > 0 ? values : undefined;
};

const locationMember = (key: 'country' | 'city' | 'region'): FieldReader => (judged) => one(judged.location?.[key]);

const FIELDS: Record<string, FieldReader> = {
  'actor.id': eventMember('actor', 'id'),
  'actor.type': eventMember('actor', 'type'),
  'actor.name': eventMember('actor', 'name'),
  'actor.email': eventMember('actor', 'email'),
  'actor.session_id': eventMember('actor', 'session_id'),
  action: eventMember('action'),
  category: eventMember('category'),
  outcome: eventMember('outcome'),
  outcome_reason: eventMember('outcome_reason'),
  tenant: eventMember('tenant'),
  occurred_at: eventMember('occurred_at'),
  'origin.ip': eventMember('origin', 'ip'),
  'origin.user_agent': eventMember('origin', 'user_agent'),
  'origin.device_id': eventMember('origin', 'device_id'),
  'origin.country': locationMember('country'),
  'origin.city': locationMember('city'),
  'origin.region': locationMember('region'),
  'targets.id': targetsMember('id'),
  'targets.type': targetsMember('type'),
  'targets.name': targetsMember('name'),
  ledger: (judged) => [judged.ledger],
};

/** Common Sigma / Elastic Common Schema names accepted for the fields above. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  'user.id': 'actor.id',
  'user.name': 'actor.name',
  'user.email': 'actor.email',
  'event.action': 'action',
  'event.category': 'category',
  'event.outcome': 'outcome',
  'event.reason': 'outcome_reason',
  'source.ip': 'origin.ip',
  'user_agent.original': 'origin.user_agent',
  'source.geo.country_iso_code': 'origin.country',
  'source.geo.city_name': 'origin.city',
  'source.geo.region_name': 'origin.region',
};

export const MAPPED_FIELDS: readonly string[] = Object.keys(FIELDS);

export interface ResolvedField {
  /** The sealtrail name (an alias resolved). */
  name: string;
  read: FieldReader;
}

/**
 * The field a Sigma name means, or undefined if it names none. `metadata.<key>` reads the metadata key
 * as written (keys may contain dots); when there is no such key, the dotted parts walk nested objects.
 */
export function resolveField(sigmaName: string): ResolvedField | undefined {
  const name = FIELD_ALIASES[sigmaName] ?? sigmaName;
  const fixed = FIELDS[name];
  if (fixed) return { name, read: fixed };
  if (!name.startsWith('metadata.')) return undefined;
  const key = name.slice('metadata.'.length);
  if (!METADATA_KEY.test(key.split('.')[0]!)) return undefined;
  return { name, read: (judged) => one(metadataValue(judged.event.metadata, key)) };
}

function metadataValue(metadata: unknown, key: string): unknown {
  const direct = member(metadata, key);
  if (direct !== undefined || !key.includes('.')) return direct;
  return key.split('.').reduce(member, metadata);
}

/** Every string the event carries, for Sigma keyword searches ("free text"). */
export function eventStrings(judged: JudgedEvent): string[] {
  const out: string[] = [];
  const walk = (value: unknown, depth: number): void => {
    if (typeof value === 'string') out.push(value);
    else if (depth < 8 && typeof value === 'object' && value !== null) for (const v of Object.values(value)) walk(v, depth + 1);
  };
  walk(judged.event, 0);
  return out;
}
