/**
 * Labelled scenarios for the evaluation of detection (bench/eval.ts): weeks of realistic traffic from
 * the generator (bench/gen.ts, with its own three planted incidents), then one incident of every kind
 * the detectors and the Sigma pack look for, planted among it and acted out by actors chosen from the
 * traffic itself (a user with an office-hours history for the night-time payroll reads, a service
 * account for lateral movement, …), and realistic look-alikes that must not alarm (a flight between
 * continents, a night-shift worker, a weekly big export, a departing user who only does their work,
 * mistyped passwords). Every planted event of an incident carries its name; incidents carry the kinds
 * of detection that should find them.
 *
 * Everything is derived from the seed: the same seed gives the same scenario.
 */
import type { AuditEvent } from '../src/core/event.js';
import { SYSTEM_LEDGER } from '../src/core/forgetting.js';
import type { IpLocation } from '../src/store/store.js';
import { Dataset, Random, randomIp, type GenOptions } from './gen.js';

const SECOND = 1_000_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const INCIDENT_KINDS = [
  'off-hours',
  'departing',
  'brute-force',
  'impossible-travel',
  'lateral-movement',
  'privilege-escalation',
  'bulk',
  'audit-tampering',
] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

export const TRAFFIC_LEDGER = 'demo';

export interface LabelledEvent {
  ledger: string;
  event: AuditEvent;
  /** When it happened (occurred_at, unless the generator's client clock was off). */
  atMicros: number;
  /** The planted incident it belongs to. */
  incident?: string;
  /** The look-alike it belongs to (ordinary activity that resembles an incident). */
  lookalike?: string;
}

export interface PlantedIncident {
  name: string;
  kinds: IncidentKind[];
  description: string;
}

export interface Lookalike {
  name: string;
  description: string;
}

export interface Scenario {
  seed: string;
  options: GenOptions;
  incidents: PlantedIncident[];
  lookalikes: Lookalike[];
  /** End dates of employment the HR feed knows (DetectorContext.departureOf), by actor id. */
  departures: Map<string, number>;
  /** Every event in time order (the same on every call). */
  events(): Generator<LabelledEvent>;
}

export interface ScenarioOptions {
  events: number;
  days: number;
  endMicros: number;
  tenants: number;
  users: number;
  /** Geolocation, to choose victims whose addresses all lie in their home country; without it, any. */
  locate?: (ip: string) => IpLocation | undefined;
}

export const SCENARIO_DEFAULTS: Omit<ScenarioOptions, 'locate'> = {
  events: 200_000,
  days: 28,
  endMicros: Date.UTC(2026, 10, 30, 12) * 1000,
  tenants: 20,
  users: 1500,
};

/** What the generator's own incidents are. */
const GENERATED_KINDS: Record<string, IncidentKind[]> = {
  'brute-force': ['brute-force', 'off-hours'], // at 03:10 local time
  'bulk-download': ['bulk'],
  'off-hours-admin-grant': ['off-hours', 'privilege-escalation'],
};

/** Far-away public blocks attackers and travellers appear from (checked against DB-IP Lite). */
const FAR_BLOCKS: Array<{ country: string; continent: string; block: string }> = [
  { country: 'BR', continent: 'SA', block: '179.96.0.0/12' },
  { country: 'JP', continent: 'AS', block: '153.128.0.0/9' },
  { country: 'AU', continent: 'OC', block: '1.128.0.0/11' },
  { country: 'US', continent: 'NA', block: '73.0.0.0/8' },
];
const CONTINENT: Record<string, string> = {
  US: 'NA', CA: 'NA', DE: 'EU', GB: 'EU', FR: 'EU', NL: 'EU', ES: 'EU', SE: 'EU', JP: 'AS', IN: 'AS', AU: 'OC', BR: 'SA',
};
const HOSTILE_BLOCKS = ['95.24.0.0/13', '113.160.0.0/11', '41.96.0.0/12'];

// ---- what the traffic holds --------------------------------------------------------------------------

interface KnownActor {
  type: string;
  id: string;
  tenant: string | undefined;
  events: number;
  adminEvents: number;
  /** Events per UTC hour of the day. */
  hours: number[];
  ips: Map<string, number>;
  template: AuditEvent;
}

interface Survey {
  actors: Map<string, KnownActor>;
  /** Per tenant: files whose names speak of pay, and some records. */
  payrollFiles: Map<string, NonNullable<AuditEvent['targets']>>;
  records: Map<string, NonNullable<AuditEvent['targets']>>;
}

function survey(dataset: Dataset): Survey {
  const actors = new Map<string, KnownActor>();
  const payrollFiles = new Map<string, NonNullable<AuditEvent['targets']>>();
  const records = new Map<string, NonNullable<AuditEvent['targets']>>();
  for (const { event, atMicros } of dataset.events()) {
    const key = `${event.actor.type}:${event.actor.id}`;
    let known = actors.get(key);
    if (!known) {
      known = { type: event.actor.type, id: event.actor.id, tenant: event.tenant, events: 0, adminEvents: 0, hours: new Array<number>(24).fill(0), ips: new Map(), template: event };
      actors.set(key, known);
    }
    known.events++;
    if (event.category === 'admin') known.adminEvents++;
    known.hours[Math.floor(atMicros / HOUR) % 24]!++;
    const ip = event.origin?.ip;
    if (ip) known.ips.set(ip, (known.ips.get(ip) ?? 0) + 1);
    const tenant = event.tenant;
    const target = event.targets?.[0];
    if (!tenant || !target) continue;
    if (target.type === 'file' && /payroll|salaries/.test(target.name ?? '')) addBounded(payrollFiles, tenant, target);
    if (event.action.startsWith('record.')) addBounded(records, tenant, target);
  }
  return { actors, payrollFiles, records };
}

function addBounded<T extends { id: string }>(map: Map<string, T[]>, key: string, item: T, max = 40): void {
  const list = map.get(key) ?? [];
  if (list.length < max && !list.some((x) => x.id === item.id)) list.push(item);
  map.set(key, list);
}

// ---- building the scenario -----------------------------------------------------------------------------

export function buildScenario(seed: string, overrides: Partial<ScenarioOptions> = {}): Scenario {
  const options = { ...SCENARIO_DEFAULTS, ...overrides };
  const gen: GenOptions = { events: options.events, seed, days: options.days, endMicros: options.endMicros, tenants: options.tenants, users: options.users };
  const dataset = new Dataset(gen);
  const planter = new Planter(dataset, survey(dataset), new Random(`${seed}/scenario`), options.locate);
  planter.plantAll();
  const planted = planter.planted.sort((a, b) => a.atMicros - b.atMicros);
  const incidents: PlantedIncident[] = [
    ...dataset.incidents.map((i) => ({ name: i.name, kinds: GENERATED_KINDS[i.name] ?? [], description: `${i.description} (generated by bench/gen.ts)` })),
    ...planter.incidents,
  ];
  return {
    seed,
    options: gen,
    incidents,
    lookalikes: planter.lookalikes,
    departures: planter.departures,
    *events() {
      let next = 0;
      for (const generated of dataset.events()) {
        if (planter.paused(generated.event.actor.id, generated.atMicros)) continue;
        while (next < planted.length && planted[next]!.atMicros <= generated.atMicros) yield planted[next++]!;
        yield { ledger: TRAFFIC_LEDGER, event: generated.event, atMicros: generated.atMicros, ...(generated.incident ? { incident: generated.incident } : {}) };
      }
      while (next < planted.length) yield planted[next++]!;
    },
  };
}

type Targets = NonNullable<AuditEvent['targets']>;

interface Change {
  action: string;
  category: AuditEvent['category'];
  targets?: Targets;
  outcome?: AuditEvent['outcome'];
  reason?: string;
  ip?: string;
  agent?: string;
  tenant?: string;
  metadata?: Record<string, unknown>;
  actor?: AuditEvent['actor'];
}

class Planter {
  readonly planted: LabelledEvent[] = [];
  readonly incidents: PlantedIncident[] = [];
  readonly lookalikes: Lookalike[] = [];
  readonly departures = new Map<string, number>();
  private readonly used = new Set<string>();
  /** Spans in which an actor's generated traffic is left out (travelling, or gone). */
  private readonly pauses = new Map<string, Array<[from: number, to: number]>>();
  private readonly offsets: Map<string, number>;
  private readonly countries: Map<string, string>;

  constructor(
    private readonly dataset: Dataset,
    private readonly known: Survey,
    private readonly random: Random,
    private readonly locate: ((ip: string) => IpLocation | undefined) | undefined,
  ) {
    this.offsets = new Map(dataset.tenants.map((t) => [t.id, t.utcOffset]));
    this.countries = new Map(dataset.tenants.map((t) => [t.id, t.country]));
    for (const incident of dataset.incidents) this.used.add(`user:${incident.actor}`);
  }

  paused(actor: string, at: number): boolean {
    return this.pauses.get(actor)?.some(([from, to]) => at >= from && at < to) ?? false;
  }

  private pause(actor: string, from: number, to = Number.POSITIVE_INFINITY): void {
    this.pauses.set(actor, [...(this.pauses.get(actor) ?? []), [from, to]]);
  }

  plantAll(): void {
    this.contractorAtNight();
    this.departingByHrFeed();
    this.departingByMetadata();
    this.bruteForceOnAccount();
    this.passwordSpray();
    this.impossibleTravel();
    this.lateralApiKey();
    this.lateralService();
    this.selfGrant();
    this.noviceGrant();
    this.auditTampering();
    this.planeTravel();
    this.nightShift();
    this.weeklyExport();
    this.departingOrdinary();
    this.mistypedPasswords();
  }

  // ---- incidents ---------------------------------------------------------------------------------

  private contractorAtNight(): void {
    const user = this.user((u) => u.events >= 120 && this.nightEvents(u) <= 0.01 * u.events);
    const payroll = this.known.payrollFiles.get(user.tenant!) ?? [];
    const files = payroll.length > 0 ? payroll : [this.fileOf(user, 7)];
    let at = this.localTime(user, 0.7, 2 + 5 / 60, (d) => d >= 2 && d <= 4);
    const name = 'contractor-payroll-at-night';
    this.emit(name, user, at, { action: 'auth.login', category: 'auth', metadata: { method: 'password' } });
    for (let i = 0; i < 14; i++) {
      at += 2 * MINUTE + this.random.int(2 * MINUTE);
      const file = files[i % files.length]!;
      this.emit(name, user, at, { action: i % 3 === 2 ? 'file.download' : 'file.read', category: 'read', targets: [file], metadata: { bytes: 200_000 + this.random.int(4_000_000) } });
    }
    this.incident(name, ['off-hours'], `${user.id} (${user.tenant}), who never works at night, reads 14 payroll files at 02:05 local time`);
  }

  private departingByHrFeed(): void {
    const user = this.user((u) => u.events >= 100);
    const end = this.dataset.options.endMicros + 2 * DAY;
    this.departures.set(user.id, end);
    const at = this.localTime(user, 0.93, 15, (d) => d >= 1 && d <= 5);
    const name = 'departing-export-hr-feed';
    this.exfiltrate(name, user, at, 3, 40, 300_000);
    this.incident(name, ['departing', 'bulk'], `${user.id} (${user.tenant}) exports 3 large record sets and downloads 40 files days before an end date the HR feed knows`);
  }

  private departingByMetadata(): void {
    const admin = this.user((u) => u.adminEvents >= 2 && this.has((v) => v.tenant === u.tenant && v.events >= 60 && v.id !== u.id), false);
    const user = this.user((u) => u.tenant === admin.tenant && u.events >= 60 && u.id !== admin.id);
    const name = 'departing-export-metadata';
    const recorded = this.localTime(user, 0.6, 11, (d) => d >= 1 && d <= 5);
    const exportAt = this.localTime(user, 0.82, 16, (d) => d >= 1 && d <= 5);
    const lastDay = new Date((exportAt + 4 * DAY) / 1000).toISOString().slice(0, 10);
    this.pause(user.id, Date.parse(`${lastDay}T23:59:59.999Z`) * 1000); // gone after the last day
    const record: Change = {
      action: 'user.update',
      category: 'admin',
      targets: [{ type: 'user', id: user.id, name: user.template.actor.name ?? user.id }],
      metadata: { fields: ['employment_end'], employment_end: lastDay },
    };
    this.add({ ledger: TRAFFIC_LEDGER, event: this.build(admin, recorded, record), atMicros: recorded, lookalike: 'hr-record' });
    this.exfiltrate(name, user, exportAt, 2, 25, 70_000);
    this.incident(name, ['departing'], `${user.id} (${user.tenant}), whose employment_end ${lastDay} an admin recorded, exports 2 record sets and downloads 25 files: more than usual, not a bulk by the deployment's standards`);
  }

  private exfiltrate(name: string, user: KnownActor, from: number, exports: number, downloads: number, rows: number): void {
    const records = this.known.records.get(user.tenant!) ?? [];
    let at = from;
    for (let i = 0; i < downloads; i++) {
      at += 20 * SECOND + this.random.int(40 * SECOND);
      this.emit(name, user, at, { action: 'file.download', category: 'read', targets: [this.fileOf(user, i)], metadata: { bytes: 2_000_000 + this.random.int(30_000_000) } });
      if (i % Math.ceil(downloads / exports) === 0 && records.length > 0) {
        this.emit(name, user, at + 5 * SECOND, { action: 'record.export', category: 'export', targets: [records[i % records.length]!], metadata: { rows: rows + this.random.int(rows / 2) } });
      }
    }
  }

  private bruteForceOnAccount(): void {
    const user = this.user((u) => u.events >= 30);
    const ip = randomIp(this.random.pick(HOSTILE_BLOCKS), this.random);
    let at = this.localTime(user, 0.55, 23 + 30 / 60, () => true);
    const name = 'brute-force-twenty';
    for (let i = 0; i < 20; i++) {
      at += 4 * SECOND + this.random.int(8 * SECOND);
      this.emit(name, user, at, { action: 'auth.login', category: 'auth', outcome: 'failure', reason: 'invalid password', ip, agent: 'python-requests/2.31.0', metadata: { method: 'password' } });
    }
    at += 30 * SECOND;
    this.emit(name, user, at, { action: 'auth.login', category: 'auth', ip, agent: 'python-requests/2.31.0', metadata: { method: 'password' } });
    this.emit(name, user, at + MINUTE, { action: 'file.download', category: 'read', targets: [this.fileOf(user, 1)], ip, agent: 'python-requests/2.31.0' });
    this.incident(name, ['brute-force', 'off-hours'], `20 failed logins for ${user.id} from ${ip} at 23:30 local time, then a success`);
  }

  private passwordSpray(): void {
    const first = this.user((u) => u.events >= 30);
    const victims = [first, ...this.users((u) => u.tenant === first.tenant && u.events >= 5, 11)];
    const ip = randomIp(this.random.pick(HOSTILE_BLOCKS), this.random);
    let at = this.localTime(first, 0.48, 4, () => true);
    const name = 'password-spray';
    for (const victim of victims) {
      at += 20 * SECOND + this.random.int(40 * SECOND);
      this.emit(name, victim, at, { action: 'auth.login', category: 'auth', outcome: 'failure', reason: 'invalid password', ip, agent: 'curl/8.5.0' });
    }
    at += MINUTE;
    this.emit(name, victims[5]!, at, { action: 'auth.login', category: 'auth', ip, agent: 'curl/8.5.0' });
    this.incident(name, ['brute-force'], `one address ${ip} tries ${victims.length} accounts of ${first.tenant}, then gets into ${victims[5]!.id}`);
  }

  private impossibleTravel(): void {
    const user = this.user((u) => u.events >= 80 && this.homeOnly(u));
    const home = this.mainIp(user);
    const far = this.farBlock(user);
    const ip = randomIp(far.block, this.random);
    const at = this.localTime(user, 0.66, 10, (d) => d >= 1 && d <= 5);
    const name = 'impossible-travel';
    this.emit(name, user, at, { action: 'auth.login', category: 'auth', ip: home, metadata: { method: 'sso' } });
    const later = at + 50 * MINUTE;
    this.emit(name, user, later, { action: 'auth.login', category: 'auth', ip, metadata: { method: 'password' } });
    for (let i = 0; i < 4; i++) this.emit(name, user, later + (i + 1) * 2 * MINUTE, { action: 'file.download', category: 'read', targets: [this.fileOf(user, i)], ip });
    this.incident(name, ['impossible-travel'], `${user.id} logs in at home and 50 minutes later from ${far.country}`);
  }

  private lateralApiKey(): void {
    const key = this.actor((a) => a.type === 'api_key' && a.events >= 50);
    const other = [...this.known.records.keys()].find((t) => t !== key.tenant && (this.known.records.get(t)?.length ?? 0) >= 5)!;
    const records = this.known.records.get(other)!;
    let at = this.timeAt(0.72);
    const name = 'lateral-api-key';
    for (let i = 0; i < 8; i++) {
      at += 30 * SECOND + this.random.int(MINUTE);
      this.emit(name, key, at, { action: 'record.view', category: 'read', targets: [records[i % records.length]!], tenant: other });
    }
    this.incident(name, ['lateral-movement'], `API key ${key.id} of ${key.tenant} reads records of ${other}`);
  }

  private lateralService(): void {
    const service = this.actor((a) => a.type === 'service' && a.id !== 'svc-backup');
    let at = this.timeAt(0.8);
    const name = 'lateral-service';
    for (const [i, target] of [{ type: 'database', id: 'hr-payroll' }, { type: 'secret', id: 'vault/prod/db-root' }, { type: 'database', id: 'hr-payroll' }].entries()) {
      at += MINUTE + this.random.int(MINUTE);
      this.emit(name, service, at, { action: i === 1 ? 'secret.read' : 'database.query', category: 'read', targets: [target] });
    }
    this.incident(name, ['lateral-movement'], `service account ${service.id} queries the HR payroll database and reads a root secret, systems it never used`);
  }

  private selfGrant(): void {
    const user = this.user((u) => u.events >= 60 && u.adminEvents === 0);
    const name = 'self-grant-admin';
    this.grantAdmin(name, user, user, this.localTime(user, 0.76, 14, (d) => d >= 1 && d <= 5));
    this.incident(name, ['privilege-escalation'], `${user.id} (${user.tenant}) grants itself the admin role`);
  }

  private noviceGrant(): void {
    const user = this.user((u) => u.events >= 250 && u.adminEvents === 0);
    const colleague = this.user((u) => u.tenant === user.tenant, false);
    const name = 'novice-grants-admin';
    this.grantAdmin(name, user, colleague, this.localTime(user, 0.86, 11, (d) => d >= 1 && d <= 5));
    this.incident(name, ['privilege-escalation'], `${user.id} (${user.tenant}), who never did anything administrative, grants admin to ${colleague.id}`);
  }

  private grantAdmin(incident: string, granter: KnownActor, grantee: KnownActor, at: number): void {
    this.emit(incident, granter, at, {
      action: 'role.grant',
      category: 'admin',
      targets: [{ type: 'user', id: grantee.id, name: grantee.template.actor.name ?? grantee.id }, { type: 'role', id: 'admin' }],
      metadata: { role: 'admin' },
    });
  }

  /** The system ledger as the server writes it (src/server/retention.ts, access-log.ts): routine reads, then tampering. */
  private auditTampering(): void {
    const operator: AuditEvent['actor'] = { type: 'api_key', id: 'st_ops01' };
    const span = this.dataset.options.endMicros - this.dataset.startMicros;
    for (let t = this.dataset.startMicros + 9 * HOUR; t < this.dataset.options.endMicros; t += DAY) {
      this.add({ ledger: SYSTEM_LEDGER, atMicros: t, lookalike: 'system-routine', event: this.systemEvent(operator, t, 'retention.policy.read', 'read', [], {}) });
    }
    const name = 'audit-tampering';
    let at = this.dataset.startMicros + Math.floor(0.9 * span) + 3 * HOUR;
    const events: Array<[string, AuditEvent['category'], Targets, Record<string, unknown>]> = [
      ['retention.policy.update', 'admin', [{ type: 'retention_policy', id: '7' }], { version: 7, rules: 1, forced_short_rules: 'demo', policy: '{"rules":[{"ledger":"demo","keep":"P1D"}]}' }],
      ['subject.erase', 'delete', [{ type: 'subject', id: 'usr_compliance' }], { fields: 12, events: 340 }],
      ['legal_hold.release', 'admin', [{ type: 'legal_hold', id: 'hold-2026-17' }], { reason: 'cleanup' }],
      ['key.revoke', 'admin', [{ type: 'api_key', id: 'st_audit_reader' }], {}],
    ];
    for (const [action, category, targets, metadata] of events) {
      at += 2 * MINUTE;
      this.add({ ledger: SYSTEM_LEDGER, atMicros: at, incident: name, event: this.systemEvent(operator, at, action, category, targets, metadata) });
    }
    this.incident(name, ['audit-tampering'], 'an operator key shortens the retention of ledger demo to a day, erases a subject, releases a legal hold and revokes the auditor’s key');
  }

  private systemEvent(actor: AuditEvent['actor'], at: number, action: string, category: AuditEvent['category'], targets: Targets, metadata: Record<string, unknown>): AuditEvent {
    return {
      id: `sc_${this.random.hex(20)}`,
      actor,
      action,
      category,
      ...(targets.length > 0 ? { targets } : {}),
      occurred_at: iso(at),
      origin: { ip: '10.0.0.5', user_agent: 'sealtrail-cli/0.1.0' },
      outcome: 'success',
      metadata,
    };
  }

  // ---- look-alikes ---------------------------------------------------------------------------------

  private planeTravel(): void {
    const user = this.user((u) => u.events >= 80 && this.homeOnly(u));
    const far = this.farBlock(user);
    const ip = randomIp(far.block, this.random);
    const departure = this.localTime(user, 0.5, 7, (d) => d >= 1 && d <= 4);
    const name = 'plane-travel';
    this.emitLookalike(name, user, departure, { action: 'auth.login', category: 'auth', ip: this.mainIp(user) });
    const arrival = departure + 13 * HOUR;
    this.pause(user.id, departure + MINUTE, arrival + 3 * DAY);
    for (let day = 0; day < 3; day++) {
      this.emitLookalike(name, user, arrival + day * DAY, { action: 'auth.login', category: 'auth', ip });
      for (let i = 0; i < 8; i++) {
        this.emitLookalike(name, user, arrival + day * DAY + (i + 1) * 17 * MINUTE, { action: i % 2 ? 'record.view' : 'file.read', category: 'read', targets: [this.fileOf(user, i)], ip });
      }
    }
    this.lookalikes.push({ name, description: `${user.id} flies to ${far.country} (13 h after the last login at home) and works there for three days` });
  }

  private nightShift(): void {
    const template = this.user((u) => u.events >= 50);
    const id = `usr_night${this.random.hex(6)}`;
    const worker: KnownActor = {
      ...template,
      id,
      template: { ...template.template, actor: { type: 'user', id, name: 'Night Operator' } },
    };
    const offset = this.offsets.get(template.tenant!) ?? 0;
    const name = 'night-shift';
    const { startMicros } = this.dataset;
    for (let day = 0; day * DAY < this.dataset.options.endMicros - startMicros; day++) {
      const shift = Math.floor((startMicros + day * DAY + offset * HOUR) / DAY) * DAY - offset * HOUR + 22 * HOUR;
      for (let i = 0; i < 10; i++) {
        const at = shift + this.random.int(7 * HOUR);
        if (at >= this.dataset.options.endMicros) continue;
        this.emitLookalike(name, worker, at, i === 0 ? { action: 'auth.login', category: 'auth' } : { action: this.random.pick(['file.read', 'record.view', 'record.update']), category: 'read', targets: [this.fileOf(worker, i)] });
      }
    }
    this.lookalikes.push({ name, description: `${id} (${template.tenant}) works every night, 22:00–05:00 local` });
  }

  private weeklyExport(): void {
    const key = this.actor((a) => a.type === 'api_key' && a.events >= 50);
    const records = this.known.records.get(key.tenant!) ?? [];
    const name = 'weekly-export';
    const first = Math.floor(this.dataset.startMicros / (7 * DAY)) * 7 * DAY + 4 * DAY + 5 * HOUR; // Mondays 05:00 UTC
    for (let at = first; at < this.dataset.options.endMicros; at += 7 * DAY) {
      if (at < this.dataset.startMicros) continue;
      this.emitLookalike(name, key, at, { action: 'record.export', category: 'export', targets: records.slice(0, 1), metadata: { rows: 1_600_000 + this.random.int(400_000) } });
    }
    this.lookalikes.push({ name, description: `API key ${key.id} exports about 1.8 million rows every Monday at 05:00 UTC` });
  }

  private departingOrdinary(): void {
    const user = this.user((u) => u.events >= 100);
    this.departures.set(user.id, this.dataset.options.endMicros + 3 * DAY);
    this.lookalikes.push({ name: 'departing-ordinary', description: `${user.id} leaves three days after the end and only does their usual work` });
  }

  private mistypedPasswords(): void {
    for (const [n, user] of this.users((u) => u.events >= 30, 5).entries()) {
      let at = this.localTime(user, 0.3 + 0.1 * n, 9, (d) => d >= 1 && d <= 5);
      for (let i = 0; i < 3; i++) {
        at += 10 * SECOND + this.random.int(20 * SECOND);
        this.emitLookalike('mistyped-password', user, at, { action: 'auth.login', category: 'auth', outcome: 'failure', reason: 'invalid password' });
      }
      this.emitLookalike('mistyped-password', user, at + 30 * SECOND, { action: 'auth.login', category: 'auth' });
    }
    this.lookalikes.push({ name: 'mistyped-password', description: 'five users mistype their password three times, then log in' });
  }

  // ---- choosing actors and times --------------------------------------------------------------------

  private actor(fits: (a: KnownActor) => boolean, exclusive = true): KnownActor {
    const candidates = [...this.known.actors.values()].filter((a) => !this.used.has(`${a.type}:${a.id}`) && fits(a));
    if (candidates.length === 0) throw new Error('no actor in the traffic fits a planted incident: generate more events');
    const chosen = candidates[this.random.int(candidates.length)]!;
    if (exclusive) this.used.add(`${chosen.type}:${chosen.id}`);
    return chosen;
  }

  private has(fits: (a: KnownActor) => boolean): boolean {
    for (const a of this.known.actors.values()) if (a.type === 'user' && !this.used.has(`${a.type}:${a.id}`) && fits(a)) return true;
    return false;
  }

  private user(fits: (u: KnownActor) => boolean, exclusive = true): KnownActor {
    return this.actor((a) => a.type === 'user' && a.tenant !== undefined && fits(a), exclusive);
  }

  private users(fits: (u: KnownActor) => boolean, count: number): KnownActor[] {
    return Array.from({ length: count }, () => this.user(fits));
  }

  /** Events the user had between 00:00 and 06:00 local time. */
  private nightEvents(user: KnownActor): number {
    const offset = this.offsets.get(user.tenant!) ?? 0;
    let night = 0;
    for (let h = 0; h < 24; h++) if ((((h + offset) % 24) + 24) % 24 < 6) night += user.hours[h]!;
    return night;
  }

  private homeOnly(user: KnownActor): boolean {
    if (!this.locate) return true;
    const home = this.countries.get(user.tenant!);
    return [...user.ips.keys()].every((ip) => {
      const where = this.locate!(ip);
      return where?.reserved !== undefined || where?.country === home;
    });
  }

  private farBlock(user: KnownActor): { country: string; block: string } {
    const home = CONTINENT[this.countries.get(user.tenant!) ?? ''] ?? '';
    const far = FAR_BLOCKS.filter((b) => b.continent !== home);
    return this.random.pick(far);
  }

  private mainIp(user: KnownActor): string {
    return [...user.ips.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? user.template.origin?.ip ?? '192.0.2.1';
  }

  private fileOf(user: KnownActor, n: number): Targets[number] {
    return { type: 'file', id: `f-${user.tenant}-${String(n).padStart(5, '0')}` };
  }

  private timeAt(fraction: number): number {
    const { startMicros } = this.dataset;
    return startMicros + Math.floor(fraction * (this.dataset.options.endMicros - startMicros));
  }

  /** `hour` local to the user's tenant on the first day at or after `fraction` of the span that `fits`. */
  private localTime(user: KnownActor, fraction: number, hour: number, fits: (weekday: number) => boolean): number {
    const offset = (this.offsets.get(user.tenant!) ?? 0) * HOUR;
    const midnight = Math.floor((this.timeAt(fraction) + offset) / DAY) * DAY - offset;
    for (let day = 0; day < 14; day++) {
      const at = midnight + day * DAY + Math.round(hour * HOUR);
      if (fits(new Date((at + offset) / 1000).getUTCDay()) && at < this.dataset.options.endMicros - HOUR) return at;
    }
    return this.timeAt(fraction);
  }

  // ---- events --------------------------------------------------------------------------------------

  private incident(name: string, kinds: IncidentKind[], description: string): void {
    this.incidents.push({ name, kinds, description });
  }

  private emit(incident: string, actor: KnownActor, at: number, change: Change): void {
    this.add({ ledger: TRAFFIC_LEDGER, event: this.build(actor, at, change), atMicros: at, incident });
  }

  private emitLookalike(lookalike: string, actor: KnownActor, at: number, change: Change): void {
    this.add({ ledger: TRAFFIC_LEDGER, event: this.build(actor, at, change), atMicros: at, lookalike });
  }

  private add(event: LabelledEvent): void {
    this.planted.push(event);
  }

  /** An event of `actor` shaped like its own traffic (its address, agent, tenant), changed as said. */
  private build(actor: KnownActor, at: number, change: Change): AuditEvent {
    const template = actor.template;
    const failed = change.outcome === 'failure';
    return {
      id: `sc_${this.random.hex(20)}`,
      actor: change.actor ?? { ...template.actor, ...(template.actor.session_id ? { session_id: `s_${this.random.hex(8)}` } : {}) },
      action: change.action,
      category: change.category,
      ...(change.targets ? { targets: change.targets } : {}),
      occurred_at: iso(at),
      origin: { ip: change.ip ?? this.mainIp(actor), user_agent: change.agent ?? template.origin?.user_agent ?? 'Mozilla/5.0' },
      outcome: failed ? 'failure' : 'success',
      ...(failed ? { outcome_reason: change.reason ?? 'error' } : {}),
      ...(change.tenant ?? actor.tenant ? { tenant: change.tenant ?? actor.tenant } : {}),
      metadata: { request_id: `req_${this.random.hex(16)}`, ...change.metadata },
    };
  }
}

const iso = (micros: number): string => new Date(Math.floor(micros / 1000)).toISOString();
