/**
 * What the search index keeps of an event, derived from its disclosures (so the same function serves
 * sealing, re-indexing and, later, purging). The index is not sealed: it can be rebuilt from entries at
 * any time, and what it holds of an event disappears with the event's disclosures.
 */
import type { Disclosures } from '../core/commitments.js';
import type { IpLocation } from './store.js';

export interface SearchRecord {
  index: number;
  receivedAtMicros: number;
  occurredAtMicros: number | null;
  actorType: string | null;
  actorId: string | null;
  actorName: string | null;
  action: string | null;
  category: string | null;
  tenant: string | null;
  outcome: string | null;
  /** actor.session_id and origin.device_id (the session: and device: keys). */
  sessionId: string | null;
  deviceId: string | null;
  /** 16-byte IPv6 form (IPv4 as ::ffff:a.b.c.d), so one ordered column serves exact and CIDR queries. */
  ip: Uint8Array | null;
  /** Geolocation of the origin IP at indexing time; null without an IP, a database or an answer. */
  location: IpLocation | null;
  writer: string;
  targets: Array<{ type: string; id: string; name: string | null }>;
  /** Metadata key → value as text: strings as they are, other JSON as its canonical text. */
  metadata: Array<[key: string, value: string]>;
  /** Words for free-text search: names, reasons, user agent, metadata and target values. */
  text: string;
}

export interface SearchContext {
  /** 16-byte form of a textual IP address, or undefined if it is not one. */
  ipBytes(ip: string): Uint8Array | undefined;
  /** Location of an address (or its reserved range), when geolocation is configured. */
  locate?(ip: string): IpLocation | undefined;
}

/** How a store is told to geolocate origin IPs (SqliteStoreOptions, PostgresStoreOptions). */
export interface GeolocationOption {
  /** Geolocation of origin IPs for the search index (country, region, city, coordinates); none by default. */
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
}

export function searchContext(option: GeolocationOption, ipBytes: SearchContext['ipBytes']): SearchContext {
  return { ipBytes, ...(option.locate ? { locate: option.locate } : {}) };
}

/** The location columns of search_events, in this order, for both stores. */
export const LOCATION_COLUMNS = ['country', 'region', 'city', 'latitude', 'longitude', 'ip_reserved'] as const;

export function locationValues(location: IpLocation | null): [string | null, string | null, string | null, number | null, number | null, string | null] {
  return [
    location?.country ?? null,
    location?.region ?? null,
    location?.city ?? null,
    location?.latitude ?? null,
    location?.longitude ?? null,
    location?.reserved ?? null,
  ];
}

/** The location columns of a search row, as read back; undefined when all are NULL. */
export interface LocationRow {
  country: string | null;
  region: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
  ip_reserved: string | null;
}

export function locationFromRow(row: LocationRow): IpLocation | undefined {
  const location: IpLocation = {
    ...(row.country !== null ? { country: row.country } : {}),
    ...(row.region !== null ? { region: row.region } : {}),
    ...(row.city !== null ? { city: row.city } : {}),
    ...(row.latitude !== null ? { latitude: Number(row.latitude) } : {}),
    ...(row.longitude !== null ? { longitude: Number(row.longitude) } : {}),
    ...(row.ip_reserved !== null ? { reserved: row.ip_reserved } : {}),
  };
  return Object.keys(location).length > 0 ? location : undefined;
}

const asString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function occurredMicros(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const millis = Date.parse(value);
  if (Number.isNaN(millis)) return null;
  // Keep the microseconds an RFC 3339 fraction may carry beyond what Date resolves.
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  const extraMicros = fraction.length > 3 ? Number(fraction.slice(3, 6).padEnd(3, '0')) : 0;
  return millis * 1000 + extraMicros;
}

export function searchRecord(
  index: number,
  receivedAtMicros: number,
  writer: string,
  disclosures: Disclosures,
  context: SearchContext,
): SearchRecord {
  const value = (path: string): unknown => (Object.hasOwn(disclosures, path) ? disclosures[path]![1] : undefined);
  const ipText = asString(value('origin.ip'));
  const targets: SearchRecord['targets'] = [];
  const metadata: SearchRecord['metadata'] = [];
  const words: string[] = [];
  for (const [path, [, v]] of Object.entries(disclosures)) {
    if (path.startsWith('targets.')) {
      const target = v as { type?: unknown; id?: unknown; name?: unknown };
      if (typeof target.type === 'string' && typeof target.id === 'string') {
        targets.push({ type: target.type, id: target.id, name: asString(target.name) });
        words.push(target.type, target.id, ...(typeof target.name === 'string' ? [target.name] : []));
      }
    } else if (path.startsWith('metadata.')) {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      metadata.push([path.slice('metadata.'.length), text]);
      words.push(text);
    }
  }
  for (const path of ['actor.id', 'actor.name', 'actor.email', 'action', 'outcome_reason', 'origin.user_agent', 'tenant']) {
    const v = asString(value(path));
    if (v) words.push(v);
  }
  return {
    index,
    receivedAtMicros,
    occurredAtMicros: occurredMicros(value('occurred_at')),
    actorType: asString(value('actor.type')),
    actorId: asString(value('actor.id')),
    actorName: asString(value('actor.name')),
    action: asString(value('action')),
    category: asString(value('category')),
    tenant: asString(value('tenant')),
    outcome: asString(value('outcome')),
    sessionId: asString(value('actor.session_id')),
    deviceId: asString(value('origin.device_id')),
    ip: ipText ? (context.ipBytes(ipText) ?? null) : null,
    location: ipText && context.locate ? (context.locate(ipText) ?? null) : null,
    writer,
    targets,
    metadata,
    text: words.join(' '),
  };
}
