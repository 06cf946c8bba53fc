/**
 * `npm run gen -- --events N [--ledger L] [--data DIR | --url URL --token T] [--seed S] [--days D]`
 *
 * Generates realistic audit traffic and writes it to a ledger, to demonstrate and measure search:
 * a few thousand users with Zipf-like activity in 20–50 tenants (each in one country and time zone,
 * office-hours and weekday rhythm), services and API keys acting around the clock, actions by category
 * (auth, file, record, role, key, …) on tenant-owned files and records, origin IPs from real public
 * ranges of each tenant's country (a few per user; some users behind private office networks; services
 * on private addresses; API keys in cloud ranges), user agents, occurred_at ≈ received_at. Planted
 * incidents (brute force, bulk download, off-hours admin grant) are printed with the queries that find
 * them. The same options and --seed give the same events (give --end too: by default the span ends at
 * the current hour).
 *
 * --data DIR writes in-process through SqliteStore into the deployment folder DIR (so that `sealtrail
 * serve --data DIR` serves it afterwards), in batches of up to 1000 events; each batch's received_at is
 * the simulated time of its last event (batches span at most --window seconds). --url writes over HTTP
 * with the client; there the server stamps received_at, so only occurred_at follows the simulated days.
 *
 * After a --data run, DIR/gen-<ledger>.json records the options the events were generated with, so that
 * `npm run bench:search -- --data DIR --ledger L` rebuilds the same Dataset (busiest user, incidents, …)
 * without regenerating it. The same options give the same events, so for a folder generated before
 * this file existed it can be written by hand. Its format (GenInfo; `end` is any ISO time, `seed` a
 * string; batch and window are informational, they shape received_at and the indexes, not the Dataset):
 *
 *   {"ledger": "bench", "events": 10000000, "seed": "1", "days": 60, "end": "2026-11-26T12:00:00Z",
 *    "tenants": 30, "users": 5000, "batch": 1000, "window": 300}
 *
 * A run also adds "written": {"events", "appends", "seconds", "indexSeconds" (with --bulk)} and "geo" (the
 * geolocation note).
 *
 * --bulk (with --data): appends leave the search index alone and it is built once at the end, in one
 * pass (SqliteStore.rebuildSearchIndex, as `sealtrail reindex` does). Row by row, indexing slows to
 * ~1.5k events/s past 600k events on these machines; for millions of events use --bulk.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { AuditEvent } from '../src/core/event.js';
import { parseCidr } from '../src/core/ipnet.js';
import { SealtrailApiError, SealtrailClient } from '../src/client/index.js';
import { Progress } from '../src/cli/progress.js';
import { nodeSuite } from '../src/platform/node-crypto.js';
import { openDeployment } from '../src/server/deployment.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { rebuildSearchIndexShowingProgress } from '../src/cli/commands/reindex.js';
import type { AppendRequest, IpLocation, Store } from '../src/store/store.js';

const SECOND = 1_000_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface GenOptions {
  /** Events in all, planted incidents included. */
  events: number;
  seed: string;
  /** Length of the simulated span, in days. */
  days: number;
  /** End of the span, microseconds since the epoch. */
  endMicros: number;
  tenants: number;
  users: number;
}

export const GEN_DEFAULTS = { seed: '1', days: 14, tenants: 30, users: 3000, windowSeconds: 300, batch: 1000 } as const;

/** DIR/gen-<ledger>.json: the options a --data run generated the ledger with (see the header comment). */
export interface GenInfo {
  ledger: string;
  events: number;
  seed: string;
  days: number;
  /** End of the span, an ISO time. */
  end: string;
  tenants: number;
  users: number;
  batch: number;
  window: number;
  written?: { events: number; appends: number; seconds: number; indexSeconds?: number };
  geo?: string;
}

export const genInfoPath = (dataDir: string, ledger: string): string => join(dataDir, `gen-${ledger}.json`);

export function writeGenInfo(dataDir: string, info: GenInfo): string {
  const path = genInfoPath(dataDir, info.ledger);
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`);
  return path;
}

/** Reads DIR/gen-<ledger>.json and the GenOptions it stands for (numbers and the seed checked). */
export function readGenInfo(dataDir: string, ledger: string): { info: GenInfo; options: GenOptions } {
  const path = genInfoPath(dataDir, ledger);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new Error(
      `cannot read ${path} (${(error as Error).message}); write it with the options the folder was generated with, e.g.\n` +
        `  {"ledger": "${ledger}", "events": 10000000, "seed": "1", "days": 60, "end": "2026-11-26T12:00:00Z", "tenants": 30, "users": 5000, "batch": 1000, "window": 300}`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${path}: "${key}" must be a positive number`);
    return v;
  };
  const endMicros = typeof raw.end === 'string' ? Date.parse(raw.end) * 1000 : Number.NaN;
  if (!Number.isSafeInteger(endMicros)) throw new Error(`${path}: "end" must be an ISO time, e.g. "2026-11-26T12:00:00Z"`);
  if (raw.seed === undefined) throw new Error(`${path}: "seed" is missing (the gen default is "${GEN_DEFAULTS.seed}")`);
  const info: GenInfo = {
    ...(raw as Partial<GenInfo>),
    ledger: typeof raw.ledger === 'string' ? raw.ledger : ledger,
    events: num('events'),
    seed: String(raw.seed),
    days: num('days'),
    end: raw.end as string,
    tenants: num('tenants', GEN_DEFAULTS.tenants),
    users: num('users', GEN_DEFAULTS.users),
    batch: num('batch', GEN_DEFAULTS.batch),
    window: num('window', GEN_DEFAULTS.windowSeconds),
  };
  return { info, options: { events: info.events, seed: info.seed, days: info.days, endMicros, tenants: info.tenants, users: info.users } };
}

// ---------------------------------------------------------------------------------------------------
// Deterministic randomness

/** sfc32, seeded from a string: small, fast and the same on every platform. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    // xmur3 string hash to seed the four words.
    let h = 1779033703 ^ seed.length;
    for (let i = 0; i < seed.length; i++) {
      h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
      h = (h << 13) | (h >>> 19);
    }
    const next = () => {
      h = Math.imul(h ^ (h >>> 16), 2246822507);
      h = Math.imul(h ^ (h >>> 13), 3266489909);
      return (h ^= h >>> 16) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Zipf-like (s ≈ 1) rank in [0, n): rank r is about 1/(r+1) as likely as rank 0. */
  zipf(n: number): number {
    return Math.min(n - 1, Math.floor(Math.pow(n + 1, this.next())) - 1);
  }

  hex(digits: number): string {
    let out = '';
    while (out.length < digits) out += this.uint32().toString(16).padStart(8, '0');
    return out.slice(0, digits);
  }
}

/** Index into cumulative weights (ascending, last = total) for a uniform draw. */
function pickCumulative(cumulative: Float64Array | number[], random: Random): number {
  const x = random.next() * cumulative[cumulative.length - 1]!;
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function cumulate(weights: number[]): Float64Array {
  const out = new Float64Array(weights.length);
  let sum = 0;
  weights.forEach((w, i) => (out[i] = sum += w));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The world: regions, tenants, people, services, keys, resources

interface Region {
  country: string;
  /** Hours from UTC (no daylight saving). */
  utcOffset: number;
  weight: number;
  /** Public blocks that geolocate to the country (checked against DB-IP Lite, 2026-06). */
  blocks: string[];
}

const REGIONS: Region[] = [
  { country: 'US', utcOffset: -5, weight: 18, blocks: ['24.0.0.0/12', '73.0.0.0/8', '98.192.0.0/10', '68.32.0.0/11'] },
  { country: 'US', utcOffset: -8, weight: 12, blocks: ['71.160.0.0/11', '174.48.0.0/12', '73.0.0.0/8'] },
  { country: 'DE', utcOffset: 1, weight: 12, blocks: ['79.192.0.0/10', '91.0.0.0/10', '84.128.0.0/10', '93.192.0.0/10'] },
  { country: 'GB', utcOffset: 0, weight: 12, blocks: ['86.128.0.0/10', '81.128.0.0/11', '90.192.0.0/11', '31.48.0.0/13'] },
  { country: 'FR', utcOffset: 1, weight: 8, blocks: ['86.192.0.0/11'] },
  { country: 'NL', utcOffset: 1, weight: 6, blocks: ['77.160.0.0/12', '84.24.0.0/13'] },
  { country: 'CA', utcOffset: -5, weight: 6, blocks: ['70.24.0.0/13', '142.112.0.0/12', '99.224.0.0/11'] },
  { country: 'ES', utcOffset: 1, weight: 4, blocks: ['83.32.0.0/11', '88.0.0.0/11', '79.144.0.0/12'] },
  { country: 'SE', utcOffset: 1, weight: 4, blocks: ['78.64.0.0/12', '83.248.0.0/13'] },
  { country: 'JP', utcOffset: 9, weight: 6, blocks: ['153.128.0.0/9', '60.64.0.0/11'] },
  { country: 'AU', utcOffset: 10, weight: 5, blocks: ['1.128.0.0/11', '120.144.0.0/12', '58.160.0.0/12'] },
  { country: 'IN', utcOffset: 5.5, weight: 4, blocks: ['106.192.0.0/11', '122.160.0.0/12', '117.192.0.0/10'] },
  { country: 'BR', utcOffset: -3, weight: 3, blocks: ['179.96.0.0/12'] },
];
const REGION_CUMULATIVE = cumulate(REGIONS.map((r) => r.weight));

/** Cloud ranges API keys call from (US East, EU Frankfurt). */
const CLOUD_BLOCKS = ['3.208.0.0/12', '3.120.0.0/13', '52.28.0.0/16', '35.156.0.0/14'];
/** Where the planted attacks come from. */
const HOSTILE_BLOCKS = ['95.24.0.0/13', '113.160.0.0/11'];

const TENANT_NAMES = [
  'globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'tyrell', 'cyberdyne', 'soylent', 'wonka', 'oscorp',
  'monarch', 'dunder-mifflin', 'pied-piper', 'massive-dynamic', 'aperture', 'blue-sun', 'virtucon', 'nakatomi',
  'weyland', 'octan', 'sterling-cooper', 'rekall', 'ingen', 'encom', 'oceanic', 'bluth', 'spacely', 'cogswell',
  'delos', 'yoyodyne', 'genco', 'paper-street', 'prestige-worldwide', 'acme', 'stark', 'wayne', 'lacroix', 'omni',
  'gringotts', 'krusty', 'duff', 'mooby', 'tessier-ashpool', 'zorg', 'gekko', 'bnl', 'northwind', 'contoso',
  'fabrikam', 'tailspin',
];
const FIRST_NAMES = [
  'Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia',
  'Peggy', 'Rupert', 'Sybil', 'Trent', 'Victor', 'Walter', 'Yuki', 'Zoe', 'Amara', 'Bilal', 'Chen', 'Dmitri',
  'Elena', 'Fatima', 'Gustavo', 'Hana', 'Ingrid', 'Jonas', 'Kenji', 'Lucia', 'Mateo', 'Nadia', 'Omar', 'Priya',
  'Quentin', 'Rosa', 'Sven', 'Tariq', 'Uma', 'Valentina', 'Wei', 'Ximena', 'Yusuf', 'Zainab', 'Aiko', 'Björn',
];
const LAST_NAMES = [
  'Smith', 'Müller', 'Tanaka', 'Garcia', 'Johnson', 'Schmidt', 'Martin', 'Rossi', 'Kowalski', 'Nguyen', 'Silva',
  'Jensen', 'Dubois', 'Sato', 'Brown', 'Novak', 'Andersson', 'Kumar', 'Okafor', 'Cohen', 'Lopez', 'Walker',
  'Fischer', 'Moreau', 'Suzuki', 'Patel', 'Wilson', 'Costa', 'Hansen', 'Yilmaz', 'Ivanova', 'Berg', 'Clarke',
];
const FILE_WORDS = [
  'budget', 'forecast', 'roadmap', 'invoice', 'contract', 'payroll', 'report', 'minutes', 'design', 'pitch', 'audit',
  'policy', 'customers', 'pricing', 'strategy', 'onboarding', 'handbook', 'security', 'salaries', 'board', 'merger',
  'vendor', 'q-review', 'inventory', 'incident', 'architecture', 'benchmark', 'campaign', 'hiring', 'legal',
];
const FILE_EXTENSIONS = ['pdf', 'xlsx', 'docx', 'csv', 'pptx', 'zip', 'png', 'md'];
const RECORD_TYPES = ['customer', 'invoice', 'contract', 'ticket', 'order'];
const ROLES = ['viewer', 'editor', 'billing', 'support', 'admin'];

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
];
const MOBILE = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
];
const API_AGENTS = ['python-requests/2.32.3', 'Go-http-client/2.0', 'curl/8.5.0', 'okhttp/4.12.0', 'axios/1.7.9', 'Terraform/1.9.8'];
const ATTACK_AGENT = 'python-requests/2.31.0';

interface Tenant {
  id: string;
  index: number;
  region: Region;
  users: User[];
  /** Cumulative Zipf weights of `users` (rank order). */
  userCumulative: Float64Array;
  /** Share of all user activity. */
  activity: number;
  keys: Actor[];
  files: number;
  records: number;
  officeNet: string;
}

interface Actor {
  type: 'user' | 'service' | 'api_key';
  id: string;
  name: string;
  email?: string;
  tenant?: Tenant;
  ips: string[];
  agent: string;
}

interface User extends Actor {
  type: 'user';
  tenant: Tenant;
  admin: boolean;
  mobile: string | undefined;
}

export function randomIp(block: string, random: Random): string {
  const range = parseCidr(block)!;
  const low = Number.parseInt(range.low.slice(24), 16);
  const high = Number.parseInt(range.high.slice(24), 16);
  // Skip .0 and .255 so every address looks like a host.
  for (;;) {
    const n = low + Math.floor(random.next() * (high - low + 1));
    const last = n & 0xff;
    if (last !== 0 && last !== 255) return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${last}`;
  }
}

class World {
  readonly tenants: Tenant[] = [];
  readonly users: User[] = [];
  readonly services: Actor[] = [];
  readonly tenantActivityCumulative: Float64Array;

  constructor(options: GenOptions, random: Random) {
    const tenantCount = Math.max(1, Math.min(options.tenants, TENANT_NAMES.length));
    const sizes = distribute(Math.max(options.users, tenantCount * 5), Array.from({ length: tenantCount }, (_, k) => 1 / Math.pow(k + 1, 0.9)), 5);
    const usedNames = new Set<string>();
    for (let k = 0; k < tenantCount; k++) {
      const region = REGIONS[pickCumulative(REGION_CUMULATIVE, random)]!;
      const tenant: Tenant = {
        id: TENANT_NAMES[k]!,
        index: k,
        region,
        users: [],
        userCumulative: new Float64Array(0),
        activity: 0,
        keys: [],
        files: 40 + 15 * sizes[k]!,
        records: 100 + 40 * sizes[k]!,
        officeNet: random.chance(0.5) ? `10.${10 + k}.${random.int(250)}` : `192.168.${k}`,
      };
      for (let u = 0; u < sizes[k]!; u++) {
        const first = random.pick(FIRST_NAMES);
        const last = random.pick(LAST_NAMES);
        const base = `${first}.${last}`.toLowerCase().normalize('NFD').replace(/[^a-z.]/g, '');
        let handle = base;
        for (let n = 2; usedNames.has(`${tenant.id}/${handle}`); n++) handle = `${base}${n}`;
        usedNames.add(`${tenant.id}/${handle}`);
        const ips = [randomIp(random.pick(region.blocks), random)];
        if (random.chance(0.5)) ips.push(randomIp(random.pick(region.blocks), random));
        if (random.chance(0.3)) ips.push(`${tenant.officeNet}.${1 + random.int(254)}`); // behind the office NAT/VPN
        if (random.chance(0.08)) ips.push(randomIp(random.pick(REGIONS[pickCumulative(REGION_CUMULATIVE, random)]!.blocks), random)); // travels
        const user: User = {
          type: 'user',
          id: `usr_${random.hex(10)}`,
          name: `${first} ${last}`,
          email: `${handle}@${tenant.id}.example`,
          tenant,
          ips,
          agent: random.pick(BROWSERS),
          mobile: random.chance(0.4) ? random.pick(MOBILE) : undefined,
          admin: u === 3 || random.chance(0.03),
        };
        tenant.users.push(user);
        this.users.push(user);
      }
      // Rank order is creation order: activity ~ 1/(rank+1)^1.1.
      tenant.userCumulative = cumulate(tenant.users.map((_, r) => 1 / Math.pow(r + 1, 1.1)));
      tenant.activity = sizes[k]!;
      const keyCount = 1 + random.int(3);
      for (let i = 0; i < keyCount; i++) {
        tenant.keys.push({
          type: 'api_key',
          id: `ak_${random.hex(12)}`,
          name: `${tenant.id} ${random.pick(['CI pipeline', 'CRM sync', 'data warehouse export', 'Terraform', 'mobile backend'])}`,
          tenant,
          ips: [randomIp(random.pick(CLOUD_BLOCKS), random), randomIp(random.pick(CLOUD_BLOCKS), random)],
          agent: random.pick(API_AGENTS),
        });
      }
      this.tenants.push(tenant);
    }
    const total = this.tenants.reduce((s, t) => s + t.activity, 0);
    for (const t of this.tenants) t.activity /= total;
    this.tenantActivityCumulative = cumulate(this.tenants.map((t) => t.activity));
    const services = ['backup', 'indexer', 'billing', 'sync', 'reports', 'scim'];
    services.forEach((name, i) => {
      this.services.push({
        type: 'service',
        id: `svc-${name}`,
        name: `${name} service`,
        ips: Array.from({ length: 4 }, (_, p) => `10.20.${i}.${10 + p}`),
        agent: `sealtrail-sdk-node/0.1.0 ${name}-worker/${1 + (i % 3)}.${i}.${i * 7}`,
      });
    });
  }

  pickTenant(random: Random, weights?: Float64Array): Tenant {
    return this.tenants[pickCumulative(weights ?? this.tenantActivityCumulative, random)]!;
  }
}

/** Splits `total` in proportion to `weights` (each part at least `min`), exactly. */
function distribute(total: number, weights: number[], min = 0): number[] {
  const sum = weights.reduce((s, w) => s + w, 0);
  const spare = Math.max(0, total - min * weights.length);
  const raw = weights.map((w) => (spare * w) / sum);
  const parts = raw.map((r) => min + Math.floor(r));
  let left = total - parts.reduce((s, p) => s + p, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let i = 0; left > 0; i = (i + 1) % order.length, left--) parts[order[i]![1]]!++;
  return parts;
}

// ---------------------------------------------------------------------------------------------------
// Rhythm

/** Relative activity of office staff at a local hour (0–23) of a weekday or a weekend day. */
const WEEKDAY_HOURS = [0.04, 0.03, 0.02, 0.02, 0.03, 0.05, 0.12, 0.35, 0.8, 1, 1, 0.95, 0.7, 0.9, 1, 1, 0.9, 0.65, 0.35, 0.2, 0.15, 0.12, 0.08, 0.05];

function officeActivity(atMicros: number, utcOffset: number): number {
  const local = atMicros / HOUR + utcOffset;
  const hour = Math.floor(((local % 24) + 24) % 24);
  const weekday = new Date(Math.floor(local) * 3_600_000).getUTCDay(); // 0 Sunday … 6 Saturday
  const base = WEEKDAY_HOURS[hour]!;
  return weekday === 0 || weekday === 6 ? 0.02 + 0.08 * base : base;
}

/** Services: steady, with the nightly backup at 02:00 UTC. */
const serviceActivity = (atMicros: number): number => (Math.floor(atMicros / HOUR) % 24 === 2 ? 4 : 1);

const SHARE = { user: 0.8, service: 0.12, key: 0.08 };

// ---------------------------------------------------------------------------------------------------
// Events

export interface GeneratedEvent {
  event: AuditEvent;
  /** Simulated time the event happened (what occurred_at says, before any client clock trouble). */
  atMicros: number;
  /** Name of the planted incident it belongs to. */
  incident?: string;
}

export interface Incident {
  name: string;
  description: string;
  tenant: string;
  actor: string;
  ip: string;
  fromMicros: number;
  toMicros: number;
  eventIds: string[];
  /** Filled in as the events are written: first and last ledger index. */
  firstIndex?: number;
  lastIndex?: number;
  /** Search queries (docs/SEARCH.md) that find it. */
  queries: string[];
  /** Stats requests that show it: [by, query]. */
  stats: Array<[by: string, query: string]>;
}

interface Action {
  action: string;
  category: AuditEvent['category'];
  weight: number;
  /** Share of attempts that fail, and why. */
  failure?: [rate: number, reasons: string[]];
  target: 'file' | 'record' | 'session' | 'role' | 'key' | 'user' | 'job' | 'settings';
}

const USER_ACTIONS: Action[] = [
  { action: 'auth.login', category: 'auth', weight: 8, failure: [0.04, ['invalid password', 'mfa timeout', 'account locked']], target: 'session' },
  { action: 'auth.logout', category: 'auth', weight: 4, target: 'session' },
  { action: 'auth.mfa_verify', category: 'auth', weight: 2, failure: [0.03, ['wrong code']], target: 'session' },
  { action: 'file.read', category: 'read', weight: 20, failure: [0.003, ['permission denied']], target: 'file' },
  { action: 'file.download', category: 'read', weight: 9, failure: [0.005, ['permission denied', 'file quarantined']], target: 'file' },
  { action: 'file.upload', category: 'create', weight: 6, failure: [0.01, ['quota exceeded', 'virus detected']], target: 'file' },
  { action: 'file.share', category: 'update', weight: 1.2, target: 'file' },
  { action: 'file.delete', category: 'delete', weight: 1.5, failure: [0.01, ['permission denied']], target: 'file' },
  { action: 'record.view', category: 'read', weight: 25, target: 'record' },
  { action: 'record.update', category: 'update', weight: 10, failure: [0.01, ['validation failed', 'version conflict']], target: 'record' },
  { action: 'record.create', category: 'create', weight: 4, failure: [0.005, ['validation failed']], target: 'record' },
  { action: 'record.export', category: 'export', weight: 0.8, target: 'record' },
  { action: 'record.delete', category: 'delete', weight: 0.4, failure: [0.02, ['permission denied']], target: 'record' },
];
const ADMIN_ACTIONS: Action[] = [
  { action: 'role.grant', category: 'admin', weight: 0.6, target: 'role' },
  { action: 'role.revoke', category: 'admin', weight: 0.4, target: 'role' },
  { action: 'user.invite', category: 'admin', weight: 0.5, target: 'user' },
  { action: 'user.disable', category: 'admin', weight: 0.15, target: 'user' },
  { action: 'key.create', category: 'admin', weight: 0.2, target: 'key' },
  { action: 'key.revoke', category: 'admin', weight: 0.1, target: 'key' },
  { action: 'settings.update', category: 'admin', weight: 0.3, target: 'settings' },
];
const SERVICE_ACTIONS: Action[] = [
  { action: 'file.read', category: 'read', weight: 10, target: 'file' },
  { action: 'file.upload', category: 'create', weight: 3, target: 'file' },
  { action: 'record.view', category: 'read', weight: 8, target: 'record' },
  { action: 'record.update', category: 'update', weight: 4, failure: [0.01, ['version conflict']], target: 'record' },
  { action: 'record.export', category: 'export', weight: 1, target: 'record' },
  { action: 'job.run', category: 'execute', weight: 2, failure: [0.02, ['timeout']], target: 'job' },
];
const KEY_ACTIONS: Action[] = [
  { action: 'record.view', category: 'read', weight: 10, target: 'record' },
  { action: 'record.create', category: 'create', weight: 5, failure: [0.02, ['validation failed']], target: 'record' },
  { action: 'record.update', category: 'update', weight: 5, failure: [0.01, ['rate limited']], target: 'record' },
  { action: 'record.export', category: 'export', weight: 0.5, target: 'record' },
  { action: 'file.upload', category: 'create', weight: 2, target: 'file' },
  { action: 'file.download', category: 'read', weight: 2, target: 'file' },
];
const cumulativeOf = (actions: Action[]) => cumulate(actions.map((a) => a.weight));
const USER_CUMULATIVE = cumulativeOf(USER_ACTIONS);
const USER_ADMIN_CUMULATIVE = cumulativeOf([...USER_ACTIONS, ...ADMIN_ACTIONS]);
const SERVICE_CUMULATIVE = cumulativeOf(SERVICE_ACTIONS);
const KEY_CUMULATIVE = cumulativeOf(KEY_ACTIONS);

const actionNamed = (name: string): Action => [...USER_ACTIONS, ...ADMIN_ACTIONS].find((a) => a.action === name)!;

/** Stable small hash, for names that must not consume randomness (file names, sessions). */
function hash32(...parts: Array<string | number>): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

function fileTarget(tenant: Tenant, n: number): { type: string; id: string; name: string } {
  const h = hash32('file', tenant.id, n);
  const first = h % FILE_WORDS.length;
  const second = (first + 1 + ((h >>> 8) % (FILE_WORDS.length - 1))) % FILE_WORDS.length;
  const name = `${FILE_WORDS[first]}-${FILE_WORDS[second]}-${2024 + ((h >>> 16) % 3)}q${1 + ((h >>> 20) % 4)}.${FILE_EXTENSIONS[(h >>> 24) % FILE_EXTENSIONS.length]}`;
  return { type: 'file', id: `f-${tenant.id}-${String(n).padStart(5, '0')}`, name };
}

function recordTarget(tenant: Tenant, n: number): { type: string; id: string; name: string } {
  const h = hash32('record', tenant.id, n);
  const type = RECORD_TYPES[h % RECORD_TYPES.length]!;
  const name = `${LAST_NAMES[(h >>> 4) % LAST_NAMES.length]} ${['GmbH', 'Ltd', 'Inc', 'SA', 'KK', 'BV', 'AB'][(h >>> 12) % 7]}`;
  return { type, id: `${type.slice(0, 3)}-${tenant.id}-${String(n).padStart(6, '0')}`, name };
}

const isoMillis = (micros: number) => new Date(Math.floor(micros / 1000)).toISOString();

class EventFactory {
  constructor(
    private readonly world: World,
    private readonly random: Random,
    private readonly prefix: string,
  ) {}

  private id(): string {
    return `${this.prefix}${this.random.hex(20)}`;
  }

  private session(actor: Actor, atMicros: number): string {
    return `s_${hash32(actor.id, Math.floor(atMicros / (8 * HOUR))).toString(16).padStart(8, '0')}`;
  }

  userEvent(user: User, atMicros: number): GeneratedEvent {
    const r = this.random;
    const action = (user.admin ? [...USER_ACTIONS, ...ADMIN_ACTIONS] : USER_ACTIONS)[pickCumulative(user.admin ? USER_ADMIN_CUMULATIVE : USER_CUMULATIVE, r)]!;
    const ipIndex = user.ips.length === 1 || r.chance(0.7) ? 0 : 1 + r.int(user.ips.length - 1);
    const agent = user.mobile && r.chance(0.25) ? user.mobile : user.agent;
    return this.build(user, action, atMicros, user.ips[ipIndex]!, agent);
  }

  serviceEvent(atMicros: number): GeneratedEvent {
    const r = this.random;
    const service = serviceActivity(atMicros) > 1 && r.chance(0.75) ? this.world.services[0]! : r.pick(this.world.services);
    const action = service.id === 'svc-backup' ? SERVICE_ACTIONS[0]! : SERVICE_ACTIONS[pickCumulative(SERVICE_CUMULATIVE, r)]!;
    return this.build({ ...service, tenant: this.world.pickTenant(r) }, action, atMicros, r.pick(service.ips), service.agent);
  }

  keyEvent(atMicros: number): GeneratedEvent {
    const r = this.random;
    const key = r.pick(this.world.pickTenant(r).keys);
    return this.build(key, KEY_ACTIONS[pickCumulative(KEY_CUMULATIVE, r)]!, atMicros, r.pick(key.ips), key.agent);
  }

  /** One event of `actor` doing `action`; `overrides` pins parts for planted incidents. */
  build(
    actor: Actor,
    action: Action,
    atMicros: number,
    ip: string,
    agent: string,
    overrides: { outcome?: AuditEvent['outcome']; reason?: string; target?: number; targets?: AuditEvent['targets']; metadata?: Record<string, unknown> } = {},
  ): GeneratedEvent {
    const r = this.random;
    const tenant = actor.tenant!;
    const failed = overrides.outcome ? overrides.outcome === 'failure' : action.failure !== undefined && r.chance(action.failure[0]);
    const metadata: Record<string, unknown> = { request_id: `req_${r.hex(16)}` };
    let targets: AuditEvent['targets'];
    switch (action.target) {
      case 'file': {
        const file = fileTarget(tenant, overrides.target ?? r.zipf(tenant.files));
        targets = [file];
        if (action.action !== 'file.delete') metadata.bytes = 1024 + (hash32(file.id) % 40_000_000);
        if (action.action === 'file.share') {
          targets.push({ type: 'user', id: r.pick(tenant.users).id });
          metadata.permission = r.pick(['view', 'edit']);
        }
        break;
      }
      case 'record': {
        targets = [recordTarget(tenant, overrides.target ?? r.zipf(tenant.records))];
        if (action.action === 'record.export') metadata.rows = 100 + r.int(50_000);
        if (action.action === 'record.update') metadata.fields = r.pick([['status'], ['email', 'phone'], ['amount'], ['owner'], ['address']]);
        break;
      }
      case 'session':
        targets = [{ type: 'application', id: 'web-console', name: 'Web console' }];
        if (action.action === 'auth.login') metadata.method = r.pick(['password', 'password', 'sso', 'passkey']);
        break;
      case 'role': {
        const grantee = r.pick(tenant.users);
        targets = [
          { type: 'user', id: grantee.id, name: grantee.name },
          { type: 'role', id: r.pick(ROLES) },
        ];
        break;
      }
      case 'user': {
        const subject = r.pick(tenant.users);
        targets = [{ type: 'user', id: subject.id, name: subject.name }];
        break;
      }
      case 'key': {
        targets = [{ type: 'api_key', id: r.pick(tenant.keys).id }];
        metadata.scopes = r.pick([['read'], ['read', 'write'], ['admin']]);
        break;
      }
      case 'job':
        targets = [{ type: 'job', id: `job-${actor.id.slice(4)}-${Math.floor(atMicros / HOUR) % 100_000}` }];
        metadata.duration_ms = 50 + r.int(120_000);
        break;
      case 'settings':
        targets = [{ type: 'settings', id: `${tenant.id}/${r.pick(['sso', 'password-policy', 'retention', 'ip-allowlist'])}` }];
        break;
    }
    if (overrides.targets) targets = overrides.targets;
    Object.assign(metadata, overrides.metadata);
    // Clients' clocks: most are right; a few are behind or deliver late (offline devices); some send no time.
    let occurred: number | undefined = atMicros;
    const clock = r.next();
    if (overrides.outcome === undefined) {
      if (clock < 0.01) occurred = undefined;
      else if (clock < 0.013) occurred = atMicros - MINUTE - Math.floor(r.next() * 6 * HOUR);
      else if (clock < 0.02) occurred = atMicros - Math.floor(r.next() * 3 * SECOND);
    }
    const event: AuditEvent = {
      id: this.id(),
      actor: {
        type: actor.type,
        id: actor.id,
        name: actor.name,
        ...(actor.email ? { email: actor.email } : {}),
        ...(actor.type === 'user' ? { session_id: this.session(actor, atMicros) } : {}),
      },
      action: action.action,
      category: action.category,
      ...(targets ? { targets } : {}),
      ...(occurred !== undefined ? { occurred_at: isoMillis(occurred) } : {}),
      origin: { ip, user_agent: agent },
      outcome: failed ? 'failure' : 'success',
      ...(failed ? { outcome_reason: overrides.reason ?? r.pick(action.failure?.[1] ?? ['error']) } : {}),
      tenant: tenant.id,
      metadata,
    };
    return { event, atMicros };
  }
}

// ---------------------------------------------------------------------------------------------------
// The dataset

export class Dataset {
  readonly options: GenOptions;
  readonly startMicros: number;
  readonly incidents: Incident[] = [];
  private readonly world: World;
  private readonly random: Random;
  private readonly factory: EventFactory;
  private readonly planted: GeneratedEvent[] = [];

  constructor(options: GenOptions) {
    if (!Number.isSafeInteger(options.events) || options.events < 1) throw new Error('--events must be a positive integer');
    this.options = options;
    this.startMicros = options.endMicros - Math.round(options.days * DAY);
    this.random = new Random(options.seed);
    this.world = new World(options, this.random);
    this.factory = new EventFactory(this.world, this.random, 'ev_');
    if (options.events >= 2000) this.plant();
  }

  get tenants(): readonly { id: string; country: string; utcOffset: number; users: number; share: number }[] {
    return this.world.tenants.map((t) => ({ id: t.id, country: t.region.country, utcOffset: t.region.utcOffset, users: t.users.length, share: t.activity }));
  }

  get userCount(): number {
    return this.world.users.length;
  }

  /**
   * For benchmarks: the largest tenant, its most active user and their addresses, the tenant's most
   * popular file and one of its less used files.
   */
  get busiest(): { tenant: string; user: string; userIps: string[]; file: { id: string; name: string }; quietFile: { id: string; name: string } } {
    const tenant = this.world.tenants[0]!;
    const file = fileTarget(tenant, 0);
    const quiet = fileTarget(tenant, Math.min(tenant.files - 1, 200));
    return { tenant: tenant.id, user: tenant.users[0]!.id, userIps: tenant.users[0]!.ips, file: { id: file.id, name: file.name }, quietFile: { id: quiet.id, name: quiet.name } };
  }

  /** Local midnight-based time: the first day at or after `fraction` of the span that satisfies `day`, at `hour` local. */
  private localTime(tenant: Tenant, fraction: number, hour: number, day: (weekday: number) => boolean): number {
    const offset = tenant.region.utcOffset * HOUR;
    const anchor = this.startMicros + Math.floor(fraction * (this.options.endMicros - this.startMicros));
    const midnight = Math.floor((anchor + offset) / DAY) * DAY - offset;
    const fits = (at: number) => at >= this.startMicros && at + HOUR < this.options.endMicros;
    // The nearest day to the anchor that satisfies `day`, later days first; else the nearest that fits.
    for (const wanted of [day, () => true]) {
      for (let step = 0; step < 28; step++) {
        const d = step % 2 === 0 ? step / 2 : -(step + 1) / 2;
        const at = midnight + d * DAY + Math.round(hour * HOUR);
        if (fits(at) && wanted(new Date((at + offset) / 1000).getUTCDay())) return at;
      }
    }
    return anchor;
  }

  private plant(): void {
    const r = this.random;
    const w = this.world;
    const tenants = w.tenants;
    const f = this.factory;
    const day = (micros: number) => isoMillis(micros).slice(0, 10);
    const stamp = (micros: number) => `${isoMillis(micros).slice(0, 19)}Z`;
    const range = (from: number, to: number) => `${stamp(Math.floor(from / SECOND) * SECOND)}..${stamp(Math.ceil(to / SECOND) * SECOND)}`;
    const add = (incident: Incident, events: GeneratedEvent[]) => {
      for (const e of events) {
        e.incident = incident.name;
        incident.eventIds.push(e.event.id!);
      }
      incident.fromMicros = events[0]!.atMicros;
      incident.toMicros = events.at(-1)!.atMicros;
      this.planted.push(...events);
      this.incidents.push(incident);
    };

    // 1. Brute force: 30 failed logins from one foreign address at night, then a success, then downloads.
    {
      const tenant = tenants[Math.min(2, tenants.length - 1)]!;
      const victim = tenant.users[Math.min(5, tenant.users.length - 1)]!;
      const ip = randomIp(HOSTILE_BLOCKS[0]!, r);
      let at = this.localTime(tenant, 0.62, 3 + 10 / 60, () => true);
      const events: GeneratedEvent[] = [];
      const login = actionNamed('auth.login');
      for (let i = 0; i < 30; i++) {
        events.push(f.build(victim, login, at, ip, ATTACK_AGENT, { outcome: 'failure', reason: 'invalid password', metadata: { method: 'password', attempt: i + 1 } }));
        at += 3 * SECOND + r.int(5 * SECOND);
      }
      at += 20 * SECOND;
      events.push(f.build(victim, login, at, ip, ATTACK_AGENT, { outcome: 'success', metadata: { method: 'password' } }));
      for (let i = 0; i < 5; i++) {
        at += 40 * SECOND + r.int(60 * SECOND);
        events.push(f.build(victim, actionNamed('file.download'), at, ip, ATTACK_AGENT, { outcome: 'success', target: i }));
      }
      at += 30 * SECOND;
      events.push(f.build(victim, actionNamed('record.export'), at, ip, ATTACK_AGENT, { outcome: 'success', metadata: { rows: 48_213 } }));
      const block = ip.split('.').slice(0, 3).join('.');
      add(
        {
          name: 'brute-force',
          description: `30 failed logins for ${victim.name} (${victim.id}) from ${ip}, then a success, then 5 downloads and an export`,
          tenant: tenant.id,
          actor: victim.id,
          ip,
          fromMicros: 0,
          toMicros: 0,
          eventIds: [],
          queries: [
            `actor.id:${victim.id} action:auth.login outcome:failure received:${day(events[0]!.atMicros)}`,
            `ip:${block}.0/24 received:${day(events[0]!.atMicros)}`,
            `ip:${ip} -action:auth.login`,
          ],
          stats: [
            ['actor', `action:auth.login outcome:failure received:${day(events[0]!.atMicros)}`],
            ['country', `actor.id:${victim.id}`],
          ],
        },
        events,
      );
    }

    // 2. Bulk download: 500 file.download by one ordinary user in 10 minutes, in office hours.
    {
      const tenant = tenants[0]!;
      const user = tenant.users[Math.min(20, tenant.users.length - 1)]!;
      let at = this.localTime(tenant, 0.78, 14 + 10 / 60, (d) => d >= 1 && d <= 5);
      const events: GeneratedEvent[] = [];
      const download = actionNamed('file.download');
      for (let i = 0; i < 500; i++) {
        events.push(f.build(user, download, at, user.ips[0]!, user.agent, { outcome: 'success', target: i % tenant.files, metadata: { client: 'web-bulk' } }));
        at += Math.floor((10 * MINUTE) / 500) - 100_000 + r.int(200_000);
      }
      add(
        {
          name: 'bulk-download',
          description: `${user.name} (${user.id}, ${tenant.id}) downloads 500 files in 10 minutes`,
          tenant: tenant.id,
          actor: user.id,
          ip: user.ips[0]!,
          fromMicros: 0,
          toMicros: 0,
          eventIds: [],
          queries: [
            `actor.id:${user.id} action:file.download received:${range(events[0]!.atMicros - 5 * MINUTE, events.at(-1)!.atMicros + 10 * MINUTE)}`,
            `tenant:${tenant.id} action:file.download received:${day(events[0]!.atMicros)}`,
          ],
          stats: [
            ['actor', `tenant:${tenant.id} action:file.download received:${day(events[0]!.atMicros)}`],
            ['hour', `actor.id:${user.id} action:file.*`],
          ],
        },
        events,
      );
    }

    // 3. Off-hours admin grant: a weekend night login from an unusual address, then role.grant admin.
    {
      const tenant = tenants[Math.min(1, tenants.length - 1)]!;
      const admin = tenant.users.find((u) => u.admin) ?? tenant.users[0]!;
      const grantee = tenant.users.at(-1)!;
      const ip = randomIp(HOSTILE_BLOCKS[1]!, r);
      let at = this.localTime(tenant, 0.88, 2 + 47 / 60, (d) => d === 0 || d === 6);
      const events: GeneratedEvent[] = [];
      events.push(f.build(admin, actionNamed('auth.login'), at, ip, admin.agent, { outcome: 'success', metadata: { method: 'password' } }));
      at += 2 * MINUTE + r.int(MINUTE);
      events.push(
        f.build(admin, actionNamed('role.grant'), at, ip, admin.agent, {
          outcome: 'success',
          targets: [
            { type: 'user', id: grantee.id, name: grantee.name },
            { type: 'role', id: 'admin' },
          ],
          metadata: { role: 'admin', justification: '' },
        }),
      );
      at += MINUTE + r.int(MINUTE);
      events.push(f.build(admin, actionNamed('key.create'), at, ip, admin.agent, { outcome: 'success', metadata: { scopes: ['admin'] } }));
      add(
        {
          name: 'off-hours-admin-grant',
          description: `${admin.name} (${admin.id}, ${tenant.id}) grants admin to ${grantee.name} (${grantee.id}) at 02:49 local on a weekend, from ${ip}`,
          tenant: tenant.id,
          actor: admin.id,
          ip,
          fromMicros: 0,
          toMicros: 0,
          eventIds: [],
          queries: [
            `action:role.grant target.id:admin tenant:${tenant.id}`,
            `category:admin received:${day(events[0]!.atMicros)}`,
            `target.id:${grantee.id}`,
          ],
          stats: [['hour', `tenant:${tenant.id} category:admin`]],
        },
        events,
      );
    }
    this.planted.sort((a, b) => a.atMicros - b.atMicros);
  }

  /** Every event, in time order: ordinary traffic with the planted incidents woven in (the same on every call). */
  *events(): Generator<GeneratedEvent> {
    const { endMicros } = this.options;
    const ordinary = this.options.events - this.planted.length;
    const hours = Math.max(1, Math.ceil((endMicros - this.startMicros) / HOUR));
    const w = this.world;
    // Weight of each hour for each kind of actor, then the ordinary events split over the hours.
    const userHour: number[] = [];
    const serviceHour: number[] = [];
    const keyHour: number[] = [];
    for (let h = 0; h < hours; h++) {
      const at = this.startMicros + h * HOUR + HOUR / 2;
      userHour.push(w.tenants.reduce((s, t) => s + t.activity * officeActivity(at, t.region.utcOffset), 0));
      serviceHour.push(serviceActivity(at));
      keyHour.push(0.4 + 0.6 * w.tenants.reduce((s, t) => s + t.activity * officeActivity(at, t.region.utcOffset), 0));
    }
    const total = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
    const [uT, sT, kT] = [total(userHour), total(serviceHour), total(keyHour)];
    const classWeights = userHour.map((u, h) => [(SHARE.user * u) / uT, (SHARE.service * serviceHour[h]!) / sT, (SHARE.key * keyHour[h]!) / kT] as const);
    const perHour = distribute(Math.max(0, ordinary), classWeights.map((c) => c[0] + c[1] + c[2]));
    // Traffic has a random stream of its own, so that every iteration yields the same events.
    const r = new Random(`${this.options.seed}/traffic`);
    const factory = new EventFactory(this.world, r, 'ev_');
    let planted = 0;
    for (let h = 0; h < hours; h++) {
      const from = this.startMicros + h * HOUR;
      const to = Math.min(endMicros, from + HOUR);
      const [cu, cs, ck] = classWeights[h]!;
      const tenantWeights = cumulate(w.tenants.map((t) => t.activity * officeActivity(from + HOUR / 2, t.region.utcOffset)));
      const times = Array.from({ length: perHour[h]! }, () => from + Math.floor(r.next() * (to - from))).sort((a, b) => a - b);
      const batch: GeneratedEvent[] = [];
      for (const at of times) {
        const x = r.next() * (cu + cs + ck);
        if (x < cu) {
          const tenant = w.pickTenant(r, tenantWeights);
          batch.push(factory.userEvent(tenant.users[pickCumulative(tenant.userCumulative, r)]!, at));
        } else if (x < cu + cs) {
          batch.push(factory.serviceEvent(at));
        } else {
          batch.push(factory.keyEvent(at));
        }
      }
      while (planted < this.planted.length && this.planted[planted]!.atMicros < to) batch.push(this.planted[planted++]!);
      batch.sort((a, b) => a.atMicros - b.atMicros);
      yield* batch;
    }
    while (planted < this.planted.length) yield this.planted[planted++]!;
  }
}

/** Groups events into appends: at most `size` events whose times lie within `windowMicros` of the first. */
export function* batches(events: Iterable<GeneratedEvent>, size: number, windowMicros: number): Generator<GeneratedEvent[]> {
  let batch: GeneratedEvent[] = [];
  for (const e of events) {
    if (batch.length > 0 && (batch.length >= size || e.atMicros - batch[0]!.atMicros >= windowMicros)) {
      yield batch;
      batch = [];
    }
    batch.push(e);
  }
  if (batch.length > 0) yield batch;
}

// ---------------------------------------------------------------------------------------------------
// Writing

export interface WriteResult {
  events: number;
  appends: number;
  seconds: number;
  eventsPerSecond: number;
}

/** Received time of a batch: a moment after its last event happened. */
const receivedAfter = (batch: GeneratedEvent[]) => batch.at(-1)!.atMicros + 400_000;

/**
 * A clock the in-process store reads (SqliteStoreOptions.clock), set to each batch's simulated
 * received time before it is appended.
 */
export class SimulatedClock {
  now = 0;
  readonly read = (): number => this.now;
}

function recordIndexes(dataset: Dataset, batch: GeneratedEvent[], indexes: number[]): void {
  batch.forEach((e, i) => {
    if (!e.incident) return;
    const incident = dataset.incidents.find((x) => x.name === e.incident)!;
    incident.firstIndex ??= indexes[i]!;
    incident.lastIndex = indexes[i]!;
  });
}

/** Appends the dataset to `ledger` in-process; `clock` must be the store's clock (SQLite or PostgreSQL). */
export async function writeToStore(
  store: Pick<Store, 'append' | 'createLedger' | 'getLedger'>,
  clock: SimulatedClock,
  ledger: string,
  dataset: Dataset,
  options: { batch?: number; windowSeconds?: number; progress?: boolean } = {},
): Promise<WriteResult> {
  await store.createLedger(ledger);
  const existing = await store.getLedger(ledger);
  if (existing && existing.size > 0) {
    throw new Error(`ledger ${ledger} already holds ${existing.size} events; generated events go into a new ledger (choose another --ledger)`);
  }
  const progress = options.progress === false ? undefined : new Progress(`writing ${ledger}`, dataset.options.events, 'events');
  const started = performance.now();
  let events = 0;
  let appends = 0;
  for (const batch of batches(dataset.events(), options.batch ?? GEN_DEFAULTS.batch, (options.windowSeconds ?? GEN_DEFAULTS.windowSeconds) * SECOND)) {
    clock.now = receivedAfter(batch);
    const requests: AppendRequest[] = batch.map((e) => ({ event: e.event, writer: 'gen' }));
    const receipts = await store.append(ledger, requests);
    recordIndexes(dataset, batch, receipts.map((x) => x.index));
    events += batch.length;
    appends++;
    progress?.update(events);
  }
  const seconds = (performance.now() - started) / 1000;
  progress?.done(`wrote ${events} events in ${appends} appends`);
  return { events, appends, seconds, eventsPerSecond: events / seconds };
}

/** Appends the dataset over HTTP (the server stamps received_at), `concurrency` requests at a time. */
export async function writeOverHttp(
  client: SealtrailClient,
  ledger: string,
  dataset: Dataset,
  options: { batch?: number; concurrency?: number; progress?: boolean } = {},
): Promise<WriteResult> {
  try {
    await client.createLedger(ledger);
  } catch (error) {
    // A writer key may not create ledgers; go on if the ledger is there.
    const { ledgers } = await client.listLedgers().catch(() => ({ ledgers: [] as Array<{ name: string }> }));
    if (!ledgers.some((l) => l.name === ledger)) throw error;
  }
  const progress = options.progress === false ? undefined : new Progress(`sending to ${ledger}`, dataset.options.events, 'events');
  const started = performance.now();
  let events = 0;
  let appends = 0;
  const inFlight = new Set<Promise<void>>();
  for (const batch of batches(dataset.events(), Math.min(options.batch ?? GEN_DEFAULTS.batch, 1000), Number.MAX_SAFE_INTEGER)) {
    const task = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const receipts = await client.append(ledger, batch.map((e) => e.event));
          recordIndexes(dataset, batch, receipts.map((x) => x.index));
          break;
        } catch (error) {
          // Event ids make retries safe (the server answers a retry with the first receipts).
          const retriable = !(error instanceof SealtrailApiError) || error.status === 429 || error.status >= 500;
          if (!retriable || attempt >= 5) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
      events += batch.length;
      appends++;
      progress?.update(events);
    })();
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task)).catch(() => {});
    if (inFlight.size >= (options.concurrency ?? 2)) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  progress?.done(`sent ${events} events in ${appends} requests`);
  return { events, appends, seconds, eventsPerSecond: events / seconds };
}

/** Geolocation for the store, or none (and why) when no geolocation database is installed. */
export async function loadGeolocation(path: string | undefined): Promise<{ locate?: (ip: string) => IpLocation | undefined; note: string }> {
  if (path === 'off') return { note: 'geolocation off' };
  try {
    const { openGeo } = await import('../src/platform/geo.js');
    const geo = openGeo(path);
    return { locate: geo.lookup, note: `geolocation: ${geo.source.ipv4 ?? geo.source.ipv6}${geo.source.attribution ? ` (${geo.source.attribution})` : ''}` };
  } catch (error) {
    if (path !== undefined) throw error;
    return { note: `geolocation unavailable (${(error as Error).message}); locations stay empty` };
  }
}

/**
 * Opens the deployment folder's store with a simulated clock: the folder is set up as `sealtrail
 * serve --data DIR` expects (name, signing key, sealtrail.db), so the server can serve it afterwards.
 */
export function openGenStore(
  dataDir: string,
  options: { locate?: ((ip: string) => IpLocation | undefined) | undefined; path?: string; bulkLoad?: boolean } = {},
): {
  store: SqliteStore;
  clock: SimulatedClock;
  name: string;
} {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const deployment = openDeployment({ dataDir });
  void deployment.store.close();
  const clock = new SimulatedClock();
  const store = new SqliteStore({
    path: options.path ?? deployment.databasePath,
    suite: nodeSuite,
    signer: deployment.signer,
    name: deployment.name,
    maxBatchEvents: GEN_DEFAULTS.batch,
    clock: clock.read,
    ...(options.locate ? { locate: options.locate } : {}),
    ...(options.bulkLoad ? { bulkLoad: true } : {}),
  });
  return { store, clock, name: deployment.name };
}

// ---------------------------------------------------------------------------------------------------
// Report

/** `timeField` 'occurred' for data sent over HTTP, where the server stamped received_at with its own clock. */
export function describeDataset(dataset: Dataset, ledger: string, timeField: 'received' | 'occurred' = 'received'): string {
  const timed = (q: string) => (timeField === 'received' ? q : q.replaceAll('received:', 'occurred:'));
  const o = dataset.options;
  const lines = [
    `${o.events} events, seed ${JSON.stringify(o.seed)}, ${isoMillis(dataset.startMicros)} .. ${isoMillis(o.endMicros)} (${o.days} days)`,
    `${dataset.tenants.length} tenants, ${dataset.userCount} users; largest tenants: ${dataset.tenants
      .slice(0, 5)
      .map((t) => `${t.id} (${t.country}, ${t.users} users)`)
      .join(', ')}`,
  ];
  if (dataset.incidents.length === 0) lines.push('no incidents planted (fewer than 2000 events)');
  for (const incident of dataset.incidents) {
    lines.push(
      '',
      `incident ${incident.name}: ${incident.description}`,
      `  tenant ${incident.tenant}, ${isoMillis(incident.fromMicros)} .. ${isoMillis(incident.toMicros)}, ${incident.eventIds.length} events` +
        (incident.firstIndex !== undefined ? `, ledger ${ledger} indexes ${incident.firstIndex}..${incident.lastIndex}` : ''),
      `  event ids: ${incident.eventIds[0]} .. ${incident.eventIds.at(-1)}`,
      ...incident.queries.map((q) => `  sealtrail search --ledger ${ledger} '${timed(q)}'`),
      ...incident.stats.map(([by, q]) => `  sealtrail search --ledger ${ledger} --stats ${by} '${timed(q)}'`),
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Command line

const USAGE = `usage: npm run gen -- --events N [--ledger L] [--data DIR | --url URL --token T] [--seed S]
       [--days D] [--end ISO] [--tenants T] [--users U] [--window SECONDS] [--batch B] [--geo PATH|off] [--concurrency C] [--bulk]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string' },
      ledger: { type: 'string', default: 'demo' },
      data: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      seed: { type: 'string', default: GEN_DEFAULTS.seed },
      days: { type: 'string', default: String(GEN_DEFAULTS.days) },
      end: { type: 'string' },
      tenants: { type: 'string', default: String(GEN_DEFAULTS.tenants) },
      users: { type: 'string', default: String(GEN_DEFAULTS.users) },
      window: { type: 'string', default: String(GEN_DEFAULTS.windowSeconds) },
      batch: { type: 'string', default: String(GEN_DEFAULTS.batch) },
      concurrency: { type: 'string', default: '2' },
      geo: { type: 'string' },
      bulk: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const number = (name: string, text: string | undefined, min: number, max: number): number => {
    const n = Number(text);
    if (text === undefined || !Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in ${min}..${max}\n${USAGE}`);
    return n;
  };
  if ((values.data === undefined) === (values.url === undefined)) throw new Error(`give either --data DIR or --url URL\n${USAGE}`);
  const endMicros = values.end !== undefined ? Date.parse(values.end) * 1000 : Math.floor(Date.now() / 3_600_000) * 3_600_000 * 1000;
  if (!Number.isSafeInteger(endMicros)) throw new Error(`--end must be an ISO time, e.g. 2026-11-26T12:00:00Z`);
  const options: GenOptions = {
    events: Math.floor(number('events', values.events, 1, 100_000_000)),
    seed: values.seed!,
    days: number('days', values.days, 1 / 24, 3650),
    endMicros,
    tenants: Math.floor(number('tenants', values.tenants, 1, TENANT_NAMES.length)),
    users: Math.floor(number('users', values.users, 1, 1_000_000)),
  };
  const batch = Math.floor(number('batch', values.batch, 1, 1000));
  const dataset = new Dataset(options);
  const ledger = values.ledger!;
  process.stderr.write(`generating with --seed ${options.seed} --end ${isoMillis(endMicros)} --days ${options.days}\n`);
  let result: WriteResult;
  let indexSeconds: number | undefined;
  if (values.data !== undefined) {
    const geo = await loadGeolocation(values.geo);
    process.stderr.write(`${geo.note}\n`);
    const windowSeconds = number('window', values.window, 1, 86_400);
    const bulk = values.bulk === true;
    if (!bulk && options.events >= 500_000) process.stderr.write(`hint: --bulk builds the search index once at the end, many times faster for this many events\n`);
    const { store, clock } = openGenStore(values.data, { locate: geo.locate, bulkLoad: bulk });
    try {
      result = await writeToStore(store, clock, ledger, dataset, { batch, windowSeconds });
      if (bulk) indexSeconds = rebuildSearchIndexShowingProgress(store).seconds;
    } finally {
      await store.close();
    }
    const path = writeGenInfo(values.data, {
      ledger,
      events: options.events,
      seed: options.seed,
      days: options.days,
      end: isoMillis(endMicros),
      tenants: options.tenants,
      users: options.users,
      batch,
      window: windowSeconds,
      written: { events: result.events, appends: result.appends, seconds: Math.round(result.seconds * 10) / 10, ...(indexSeconds !== undefined ? { indexSeconds: Math.round(indexSeconds * 10) / 10 } : {}) },
      geo: geo.note,
    });
    process.stderr.write(`wrote ${path} (for npm run bench:search -- --data ${values.data} --ledger ${ledger})\n`);
  } else {
    const token = values.token ?? process.env.SEALTRAIL_TOKEN;
    const client = new SealtrailClient({ url: values.url!, token });
    result = await writeOverHttp(client, ledger, dataset, { batch, concurrency: Math.floor(number('concurrency', values.concurrency, 1, 64)) });
  }
  process.stdout.write(
    `${describeDataset(dataset, ledger, values.data !== undefined ? 'received' : 'occurred')}\n\ningest: ${result.events} events in ${result.seconds.toFixed(1)} s = ${Math.round(result.eventsPerSecond)} events/s (${result.appends} appends, ${(result.events / result.appends).toFixed(0)} events each)\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`gen: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
