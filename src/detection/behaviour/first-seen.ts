/**
 * First-seen: what an established actor has never been seen with — a country, an address range (/24
 * for IPv4, /48 for IPv6), a device (origin.device_id, else the user agent's family: product and
 * operating system, versions ignored, so a browser update is not a new device), a target type or a
 * tenant. For service accounts and API keys, a tenant or a kind of system they never touched is
 * lateral movement (high); a new country for them is medium; for users a tenant other than their own is
 * medium and the rest is low (context for an investigator, not an alarm).
 *
 * An actor whose values keep changing is not surprised by one more: the chance that its next event
 * shows a new value is estimated as Good–Turing does (the share of its observations that were values
 * seen only once), and a first sighting keeps its severity only when that chance is below `newValueChance`;
 * otherwise it is reported as low.
 *
 * Each actor's sets are bounded (least recently seen values go first), so a value forgotten that way
 * can be reported again.
 */
import { formatIPv6, ipBytes } from '../../core/ipnet.js';
import type { Detector, DetectorContext, Finding, JudgedEvent, Severity } from '../detector.js';
import {
  DAY,
  actorKey,
  actorOf,
  deploymentLearned,
  emptyTable,
  findingOf,
  higher,
  originOf,
  targetsOf,
  tenantOf,
  touchEntry,
  type BoundedTable,
} from './common.js';

export interface FirstSeenOptions {
  learningMicros: number;
  /** An actor is judged once it has this many events… */
  minActorEvents: number;
  /** …spread over at least this long. */
  minActorSpanMicros: number;
  /** Good–Turing chance of a new value above which a first sighting is only low. */
  newValueChance: number;
  /** Values remembered per actor and attribute. */
  maxValues: number;
  maxActors: number;
}

export const FIRST_SEEN_DEFAULTS: FirstSeenOptions = {
  learningMicros: 7 * DAY,
  minActorEvents: 50,
  minActorSpanMicros: 7 * DAY,
  newValueChance: 0.01,
  maxValues: 64,
  maxActors: 50_000,
};

const ATTRIBUTES = ['country', 'network', 'device', 'targetType', 'tenant'] as const;
type Attribute = (typeof ATTRIBUTES)[number];

/** Values seen of one attribute, least recently seen first, with how often (capped). */
interface Values {
  observations: number;
  counts: Array<[value: string, count: number]>;
}

interface Seen {
  firstMicros: number;
  events: number;
  values: Record<Attribute, Values>;
}

const MAX_COUNT = 1_000_000;

export interface FirstSeenState {
  startedMicros?: number;
  actors: BoundedTable<Seen>;
}

const LABEL: Record<Attribute, string> = {
  country: 'country',
  network: 'address range',
  device: 'device',
  targetType: 'kind of target',
  tenant: 'tenant',
};

export function firstSeenDetector(overrides: Partial<FirstSeenOptions> = {}): Detector<FirstSeenState> {
  const options = { ...FIRST_SEEN_DEFAULTS, ...overrides };
  const detector: Detector<FirstSeenState> = {
    id: 'behaviour.first-seen',
    title: 'First seen: new country, address range, device or system for the actor',
    severity: 'low',
    technique: 'T1021',
    description:
      'Fires when an established actor appears from a country, address range or device it never used, or touches a tenant or kind of system it never touched; for service accounts the latter is lateral movement.',
    learningMicros: options.learningMicros,
    initialState: () => ({ actors: emptyTable() }),
    judge(e: JudgedEvent, state: FirstSeenState, _context: DetectorContext): Finding[] {
      const actor = actorOf(e);
      const learnedDeployment = deploymentLearned(state, e.timeMicros, options.learningMicros);
      if (!actor) return [];
      const seen = touchEntry(state.actors, actorKey(actor), options.maxActors, () => ({
        firstMicros: e.timeMicros,
        events: 0,
        values: { country: noValues(), network: noValues(), device: noValues(), targetType: noValues(), tenant: noValues() },
      }));
      seen.firstMicros = Math.min(seen.firstMicros, e.timeMicros);
      const judged = learnedDeployment && seen.events >= options.minActorEvents && e.timeMicros - seen.firstMicros >= options.minActorSpanMicros;
      seen.events++;
      const fresh: Array<[Attribute, string, surprising: boolean]> = [];
      for (const [attribute, value] of attributesOf(e)) {
        const values = seen.values[attribute];
        const surprising = newValueChanceOf(values) < options.newValueChance;
        if (count(values, value, options.maxValues)) fresh.push([attribute, value, surprising]);
      }
      if (!judged || fresh.length === 0) return [];
      const machine = actor.type === 'service' || actor.type === 'api_key';
      let severity: Severity = 'low';
      for (const [attribute, , surprising] of fresh) if (surprising) severity = higher(severity, severityOf(attribute, machine));
      const lateral = machine && fresh.some(([a, , surprising]) => surprising && (a === 'tenant' || a === 'targetType'));
      return [
        findingOf(detector, e, {
          severity,
          actor,
          ...(lateral ? { title: 'Lateral movement: a service account touches a system it never used' } : {}),
          summary: `${actor.type} ${actor.id}, known for ${seen.events - 1} events, is seen for the first time with ${fresh
            .map(([a, v]) => `${LABEL[a]} ${v}`)
            .join(', ')}`,
        }),
      ];
    },
  };
  return detector;
}

const noValues = (): Values => ({ observations: 0, counts: [] });

/** Counts one observation of `value`; true when it was not among the values remembered. */
function count(values: Values, value: string, max: number): boolean {
  values.observations = Math.min(values.observations + 1, MAX_COUNT);
  const at = values.counts.findIndex(([v]) => v === value);
  if (at >= 0) {
    const [entry] = values.counts.splice(at, 1);
    entry![1] = Math.min(entry![1] + 1, MAX_COUNT);
    values.counts.push(entry!);
    return false;
  }
  values.counts.push([value, 1]);
  if (values.counts.length > max) values.counts.splice(0, values.counts.length - max);
  return true;
}

/** Good–Turing: the chance the next observation is a value never seen is about the share of singletons. */
function newValueChanceOf(values: Values): number {
  if (values.observations === 0) return 1;
  const singletons = values.counts.filter(([, n]) => n === 1).length;
  return singletons / values.observations;
}

function severityOf(attribute: Attribute, machine: boolean): Severity {
  if (attribute === 'tenant') return machine ? 'high' : 'medium';
  if (attribute === 'targetType') return machine ? 'high' : 'low';
  if (attribute === 'country') return machine ? 'medium' : 'low';
  return 'low';
}

function* attributesOf(e: JudgedEvent): Generator<[Attribute, string]> {
  const country = e.location?.country;
  if (country) yield ['country', country];
  const origin = originOf(e);
  const network = typeof origin.ip === 'string' ? networkOf(origin.ip) : undefined;
  if (network) yield ['network', network];
  const device = typeof origin.device_id === 'string' ? `id ${origin.device_id}` : typeof origin.user_agent === 'string' ? userAgentFamily(origin.user_agent) : undefined;
  if (device) yield ['device', device];
  for (const target of targetsOf(e)) yield ['targetType', target.type];
  const tenant = tenantOf(e);
  if (tenant) yield ['tenant', tenant];
}

// Most audit traffic is IPv4: its /24 is read off the text, without building the 16-byte form.
const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The /24 of an IPv4 address or the /48 of an IPv6 address, as CIDR text. */
export function networkOf(ip: string): string | undefined {
  const v4 = DOTTED_QUAD.exec(ip);
  if (v4 && v4.slice(1).every((o) => Number(o) <= 255)) return `${Number(v4[1])}.${Number(v4[2])}.${Number(v4[3])}.0/24`;
  const bytes = ipBytes(ip);
  if (!bytes) return undefined;
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.0/24`;
  const prefix = new Uint8Array(16);
  prefix.set(bytes.subarray(0, 6));
  return `${formatIPv6(prefix)}/48`;
}

// Order matters: Edge and Opera say Chrome too, Chrome says Safari too.
const PRODUCTS: Array<[RegExp, string]> = [
  [/\bEdg(e|A|iOS)?\//, 'Edge'],
  [/\bOPR\//, 'Opera'],
  [/\bFirefox\//, 'Firefox'],
  [/\bChrome\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*Safari\//, 'Safari'],
  [/^([A-Za-z][\w.-]*)\//, '$1'],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/iPhone|iPad|iOS/, 'iOS'],
  [/Android/, 'Android'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

/** "Chrome on Windows", "python-requests", …: what a user agent is, without versions. */
export function userAgentFamily(userAgent: string): string {
  let product = 'unknown agent';
  for (const [pattern, name] of PRODUCTS) {
    const match = pattern.exec(userAgent);
    if (match) {
      product = name === '$1' ? match[1]! : name;
      break;
    }
  }
  const system = SYSTEMS.find(([pattern]) => pattern.test(userAgent))?.[1];
  return system ? `${product} on ${system}` : product;
}
