/**
 * Retention, legal holds and erasure as the server runs them: the decisions come from the pure core
 * (src/core/retention.ts), every change goes through Store.forget, and every policy change, hold,
 * release, purge run and erasure is itself recorded in the system ledger — without the erased data.
 */
import { randomBytes } from 'node:crypto';
import { validateEvent, type AuditEvent } from '../core/event.js';
import { parseQuery, type Query } from '../core/query.js';
import {
  checkSubject,
  EMPTY_POLICY,
  erasurePlan,
  expiryCutoff,
  governingRule,
  latestPossibleCutoff,
  parseLegalHold,
  parseRetentionPolicy,
  shortRules,
  holdCovers,
  mentionsSubject,
  type ErasureKept,
  type LegalHold,
  type RetentionPolicy,
} from '../core/retention.js';
import { formatMicros } from '../core/time.js';
import { SealtrailError } from '../core/errors.js';
import { ApiError } from './errors.js';
import type { ForgetRequest, Store, StoredEntry } from '../store/store.js';
import { authoriseForget } from '../store/forget.js';
import { planGrants, forgetRecordEvent, type GrantRequest } from '../core/forgetting.js';
import type { Redaction } from '../core/commitments.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from './access-log.js';
import { holdRecordMetadata, holdReleaseMetadata } from '../store/verify-records.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

/** Who asked: the API key id, or "scheduler" for the periodic job. */
export type Requester = string;
/** The requester of a policy change made by `serve --config` at start (src/cli/config.ts). */
export const CONFIG_FILE_REQUESTER = 'serve-config';

export interface PurgeRuleSummary {
  ledger: string;
  rule: string;
  retain: string;
  /** Events received before this instant had expired under the rule. */
  cutoff: string;
  expired: number;
  purged: number;
  held: number;
  /** Purged indexes as compact ranges, "0-99,120". */
  ranges: string;
}

export interface PurgeSummary {
  run: string;
  dryRun: boolean;
  at: string;
  policyVersion: number | null;
  rules: PurgeRuleSummary[];
  purged: number;
  held: number;
  fieldsRemoved: number;
}

export interface ErasureSummary {
  erasure: string;
  dryRun: boolean;
  events: number;
  fieldsRemoved: number;
  held: number;
  /**
   * Per ledger: `events` changed, `held` left under a legal hold, and `recent`, how many of the changed
   * events were received since `recentSince`: possibly the evidence of an incident still being looked
   * into, which no hold protects (issue 18: place a hold first).
   */
  ledgers: Array<{ ledger: string; events: number; held: number; recent: number; fields: string[] }>;
  recentSince: string;
  /** Every copy of the subject's values this erasure did not remove, and why: none is left unsaid. */
  notReached: ErasureGap[];
}

/**
 * Something an erasure could not reach. `held`: events under a legal hold (counted per ledger);
 * `kept`: fields that hold the subject and stay, counted per ledger and field (actor.id as the
 * pseudonymous key, an event's classification, a metadata key's sealed name); `store`: other copies in the
 * store that erasure does not rewrite (a legal hold's or an API key's own text); `outside`: copies
 * beyond the store's control, listed every time because the server cannot see them.
 */
export interface ErasureGap {
  kind: 'held' | 'kept' | 'store' | 'outside';
  /** Where the copy is: a ledger, a ledger and field, a hold or key, a kind of copy. */
  where: string;
  /** Events concerned, where they can be counted. */
  events?: number;
  reason: string;
}

/** Why erasure keeps a field that holds the subject (ErasureKept in src/core/retention.ts). */
const KEPT_BECAUSE: Record<ErasureKept, string> = {
  pseudonym: 'actor.id equal to the subject is kept as the pseudonymous actor key; list actor.id in erasure.fields to remove it',
  classifies: "the event's action, tenant or target type: tenant-scoped keys and retention rules read them, so erasure does not change them",
  'sealed-name': "a metadata key's name is committed in the leaf: its value is erased, the name cannot be",
};

/** Copies of values outside what the store controls; every erasure report names them. */
const OUTSIDE_THE_STORE: ErasureGap[] = [
  {
    kind: 'outside',
    where: 'database storage',
    reason: 'PostgreSQL keeps old row versions until VACUUM and page images in WAL and its archives until they are recycled (docs/RETENTION.md); SQLite files are scrubbed after the erasure',
  },
  { kind: 'outside', where: 'backups and snapshots', reason: 'copies of the data folder or database taken before the erasure still hold the values' },
  { kind: 'outside', where: 'exports, bundles and SIEM feeds', reason: 'events already exported or streamed keep the values they had' },
  {
    kind: 'outside',
    where: 'server logs',
    reason: 'request logs carry client addresses; logs written before request lines lost their query strings also carry searches',
  },
  {
    kind: 'outside',
    where: 'events sealed after the erasure began',
    reason: 'later events, such as the access record of a search for the subject, are not erased: erase again',
  },
];

/** One rule's expired events in one ledger: its summary line and the requests not yet forgotten. */
interface ExpiredGroup {
  line: PurgeRuleSummary;
  requests: ForgetRequest[];
}

/** Candidates are read in pages of this size and forgotten in calls of at most FORGET_BATCH. */
const PAGE = 1000;
const FORGET_BATCH = 10_000;
/** An erasure reads every entry; it lets other requests run after each 250 (about 15 ms of work). */
const SCAN_PAGE = 250;
/** An erasure counts the events it changes that were received within this many days (ErasureSummary.recent). */
export const ERASURE_RECENT_DAYS = 30;
/** Summaries in audit records stay readable: longer range lists are cut with a count of the rest. */
const MAX_RANGES_TEXT = 2000;

export class RetentionService {
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = () => Date.now() * 1000,
  ) {}

  // ---- policy -------------------------------------------------------------------------------------------

  async policy(): Promise<{ version: number | null; policy: RetentionPolicy; changedAt: string | null; changedBy: string | null }> {
    const stored = await this.store.retentionPolicy();
    if (!stored) return { version: null, policy: EMPTY_POLICY, changedAt: null, changedBy: null };
    return { version: stored.version, policy: parseRetentionPolicy(JSON.parse(stored.policy)), changedAt: formatMicros(stored.changedAtMicros), changedBy: stored.changedBy };
  }

  /**
   * Validates and stores a new policy. Rules keeping events under 12 months are refused unless forced;
   * forcing is recorded with the change.
   */
  async setPolicy(input: unknown, by: Requester, force: boolean): Promise<{ version: number; policy: RetentionPolicy; shortRules: string[] }> {
    const policy = parseRetentionPolicy(input);
    const short = shortRules(policy).map((r) => r.id);
    if (short.length > 0 && !force) {
      throw new ApiError(
        400,
        'RETENTION_TOO_SHORT',
        `rules ${short.join(', ')} keep events for less than 12 months, below what SOC 2, ISO 27001 and PCI DSS expect; confirm with force to store them anyway`,
        { rules: short },
      );
    }
    const text = JSON.stringify(policy);
    const version = await this.store.putRetentionPolicy(text, by, this.clock());
    await this.record(by, {
      action: 'retention.policy.update',
      category: 'admin',
      targets: [{ type: 'retention_policy', id: String(version) }],
      metadata: { version, rules: policy.rules.length, policy: text.slice(0, 6000), forced_short_rules: short.join(',') || 'none' },
    });
    return { version, policy, shortRules: short };
  }

  // ---- purge --------------------------------------------------------------------------------------------

  /** One purge run over every ledger; runs never overlap (a second waits for the first). */
  purge(by: Requester, dryRun: boolean): Promise<PurgeSummary> {
    const run = this.running.then(() => this.purgeNow(by, dryRun));
    this.running = run.catch(() => {});
    return run;
  }

  private async purgeNow(by: Requester, dryRun: boolean): Promise<PurgeSummary> {
    const now = this.clock();
    const { version, policy } = await this.policy();
    const summary: PurgeSummary = { run: newId('purge'), dryRun, at: formatMicros(now), policyVersion: version, rules: [], purged: 0, held: 0, fieldsRemoved: 0 };
    const latest = latestPossibleCutoff(policy, now);
    if (latest !== undefined) {
      for (const { name } of await this.store.listLedgers()) await this.purgeLedger(by, name, policy, now, latest, dryRun, summary);
    }
    // One rewrite of the files for the whole run, not one per batch of forgotten events.
    if (summary.purged > 0 && !dryRun) await this.store.scrubFiles();
    // A policy without expiring rules has nothing to run; scheduled no-op runs would only add noise.
    if (!dryRun && latest !== undefined) {
      await this.record(by, {
        action: 'retention.purge',
        category: 'delete',
        targets: [...new Set(summary.rules.filter((r) => r.purged > 0).map((r) => r.ledger))].slice(0, 100).map((id) => ({ type: 'ledger', id })),
        metadata: {
          run: summary.run,
          policy_version: version ?? 0,
          purged: summary.purged,
          held: summary.held,
          fields_removed: summary.fieldsRemoved,
          rules: JSON.stringify(summary.rules).slice(0, 6000),
        },
      });
    }
    return summary;
  }

  private async purgeLedger(by: Requester, ledger: string, policy: RetentionPolicy, now: number, latest: number, dryRun: boolean, summary: PurgeSummary): Promise<void> {
    const byRule = new Map<string, ExpiredGroup>();
    const query: Query = { clauses: [{ field: 'received', negate: false, anyOf: [{ kind: 'range', to: latest }], position: 0 }] };
    for await (const entry of this.matching(ledger, query)) {
      const value = (path: string) => stringValue(entry, path);
      const rule = governingRule(policy, { ledger, action: value('action'), category: value('category'), tenant: value('tenant') });
      if (!rule) continue;
      const cutoff = expiryCutoff(rule.retain, now);
      if (cutoff === undefined || entry.receivedAtMicros >= cutoff) continue;
      let group = byRule.get(rule.id);
      if (!group) {
        const line = { ledger, rule: rule.id, retain: rule.retain, cutoff: formatMicros(cutoff), expired: 0, purged: 0, held: 0, ranges: '' };
        summary.rules.push(line);
        byRule.set(rule.id, (group = { line, requests: [] }));
      }
      group.line.expired++;
      group.requests.push({ index: entry.index, paths: '*', reason: 'purged' });
      // Forget as we go, so memory stays bounded however much has expired.
      if (group.requests.length >= FORGET_BATCH) await this.flush(by, ledger, group, dryRun, summary);
    }
    for (const group of byRule.values()) await this.flush(by, ledger, group, dryRun, summary);
  }

  /** Every entry of the ledger matching the query, oldest first, read a page at a time. */
  private async *matching(ledger: string, query: Query): AsyncIterable<StoredEntry> {
    let after: number | undefined;
    do {
      const page = await this.store.search(ledger, { query, limit: PAGE, order: 'asc', ...(after !== undefined ? { after } : {}) });
      yield* page.entries;
      after = page.next ?? undefined;
    } while (after !== undefined);
  }

  private async flush(by: Requester, ledger: string, group: ExpiredGroup, dryRun: boolean, summary: PurgeSummary): Promise<void> {
    if (group.requests.length === 0) return;
    const { line } = group;
    // Sealed before anything is removed: the record is the authority verification checks each removal against.
    const requests = dryRun ? group.requests : await authoriseForget(this.store, ledger, 'purged', summary.run, requesterActor(by), group.requests);
    const result = await this.store.forget(ledger, requests, { dryRun, scrub: false });
    group.requests = [];
    const ranges = compactRanges(result.changed);
    line.ranges = line.ranges ? `${line.ranges},${ranges}` : ranges;
    if (line.ranges.length > MAX_RANGES_TEXT) line.ranges = `${line.ranges.slice(0, MAX_RANGES_TEXT)}…`;
    line.purged += result.changed.length;
    line.held += result.held.length;
    summary.purged += result.changed.length;
    summary.held += result.held.length;
    summary.fieldsRemoved += result.fieldsRemoved;
  }

  /**
   * Runs a purge every `everyMs` (the first one after `firstAfterMs`) until the returned function is
   * called; that function waits for a run in progress. A failed run is logged and retried next time.
   */
  schedule(everyMs: number, log: (message: string) => void, firstAfterMs = 60_000): () => Promise<void> {
    let stopped = false;
    let timer: NodeJS.Timeout;
    const tick = async () => {
      try {
        const run = await this.purge('scheduler', false);
        if (run.purged > 0 || run.held > 0) log(`retention run ${run.run}: purged ${run.purged} events, ${run.held} kept under legal hold`);
      } catch (error) {
        log(`retention run failed (will retry): ${(error as Error).message}`);
      }
      if (!stopped) timer = setTimeout(tick, everyMs).unref();
    };
    timer = setTimeout(tick, firstAfterMs).unref();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await this.running;
    };
  }

  // ---- holds --------------------------------------------------------------------------------------------

  async createHold(input: unknown, by: Requester): Promise<LegalHold> {
    const now = this.clock();
    const parsed = parseLegalHold(input, now);
    const known = new Set((await this.store.listLedgers()).map((l) => l.name));
    for (const ledger of parsed.ledgers) {
      if (ledger !== '*' && !known.has(ledger)) throw new SealtrailError('INVALID_ARGUMENT', `no ledger named ${JSON.stringify(ledger)}`, { path: '/ledgers' });
    }
    const hold: LegalHold = { ...parsed, id: newId('hold'), createdAtMicros: now, createdBy: by, releasedAtMicros: null, releasedBy: null, releaseReason: null };
    await this.store.createLegalHold(hold);
    await this.record(by, {
      action: 'legal_hold.create',
      category: 'admin',
      targets: [{ type: 'legal_hold', id: hold.id }],
      // Everything `sealtrail verify` compares the hold's row with (store/verify-records.ts).
      metadata: holdRecordMetadata(hold),
    });
    return hold;
  }

  async releaseHold(id: string, reason: unknown, by: Requester): Promise<LegalHold | undefined> {
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 2000) {
      throw new SealtrailError('INVALID_ARGUMENT', 'a release needs a reason (1–2000 characters)', { path: '/reason' });
    }
    const releasedAt = this.clock();
    const released = await this.store.releaseLegalHold(id, by, releasedAt, reason);
    const hold = (await this.store.legalHolds()).find((h) => h.id === id);
    if (!released) return hold;
    await this.record(by, {
      action: 'legal_hold.release',
      category: 'admin',
      targets: [{ type: 'legal_hold', id }],
      metadata: holdReleaseMetadata(reason, releasedAt),
    });
    return hold;
  }

  /** Every hold with, for active ones, how many events it covers in each ledger it names. */
  async holds(): Promise<Array<LegalHold & { covers: Array<{ ledger: string; events: number }> }>> {
    const ledgers = (await this.store.listLedgers()).map((l) => l.name);
    const holds = await this.store.legalHolds();
    return Promise.all(
      holds.map(async (hold) => {
        if (hold.releasedAtMicros !== null) return { ...hold, covers: [] };
        const covers = [];
        const query = parseQuery(hold.query);
        for (const ledger of ledgers.filter((name) => holdCovers(hold, name))) {
          const buckets = await this.store.stats(ledger, query, 'outcome', 10);
          covers.push({ ledger, events: buckets.reduce((sum, b) => sum + b.count, 0) });
        }
        return { ...hold, covers };
      }),
    );
  }

  // ---- erasure ------------------------------------------------------------------------------------------

  /**
   * Erases a data subject's personal values from every ledger (the system ledger included: it records
   * the addresses requests came from). Events under a legal hold are left as they are and counted.
   */
  async erase(input: { subject: unknown; reference?: unknown; dryRun?: boolean }, by: Requester): Promise<ErasureSummary> {
    const subject = checkSubject(input.subject);
    const reference = input.reference === undefined ? undefined : String(input.reference).slice(0, 200);
    const dryRun = input.dryRun === true;
    const { policy } = await this.policy();
    const recentSinceMicros = this.clock() - ERASURE_RECENT_DAYS * 86_400_000_000;
    const summary: ErasureSummary = {
      erasure: newId('erasure'),
      dryRun,
      events: 0,
      fieldsRemoved: 0,
      held: 0,
      ledgers: [],
      recentSince: formatMicros(recentSinceMicros),
      notReached: [],
    };
    /** "ledger path" → events whose field there holds the subject and stays, with why. */
    const kept = new Map<string, { ledger: string; path: string; because: ErasureKept; events: number }>();
    // Every sealed entry is read, not the search index's candidates: the index leaves out fields (event
    // ids, sessions, devices), folds metadata into text, and an erasure must not silently miss any.
    for (const { name: ledger, size } of await this.store.listLedgers()) {
      const requests: ForgetRequest[] = [];
      const recentIndexes = new Set<number>();
      const fields = new Set<string>();
      for await (const entry of sealedEntries(this.store, ledger, size)) {
        const values = new Map(Object.entries(entry.disclosures).map(([path, [, v]]) => [path, v] as const));
        const plan = erasurePlan(values, subject, policy.erasure);
        for (const { path, because } of plan.kept) {
          const field = path.replace(/^targets\.\d+$/, 'targets.N');
          const line = kept.get(`${ledger} ${field}`) ?? { ledger, path: field, because, events: 0 };
          line.events++;
          kept.set(`${ledger} ${field}`, line);
        }
        const { paths } = plan;
        if (paths.length === 0) continue;
        paths.forEach((p) => fields.add(p.replace(/^targets\.\d+$/, 'targets.N')));
        requests.push({ index: entry.index, paths, reason: 'erased' });
        if (entry.receivedAtMicros >= recentSinceMicros) recentIndexes.add(entry.index);
      }
      if (requests.length === 0) continue;
      const authorised = dryRun ? requests : await authoriseForget(this.store, ledger, 'erased', summary.erasure, requesterActor(by), requests);
      const result = await this.store.forget(ledger, authorised, { dryRun, scrub: false });
      summary.events += result.changed.length;
      summary.held += result.held.length;
      summary.fieldsRemoved += result.fieldsRemoved;
      const recent = result.changed.filter((index) => recentIndexes.has(index)).length;
      summary.ledgers.push({ ledger, events: result.changed.length, held: result.held.length, recent, fields: [...fields].sort() });
    }
    if (summary.events > 0 && !dryRun) await this.store.scrubFiles();
    summary.notReached = await this.erasureGaps(subject, summary, [...kept.values()]);
    if (!dryRun) {
      await this.record(by, {
        action: 'subject.erase',
        category: 'delete',
        targets: [{ type: 'erasure', id: summary.erasure }],
        // Counts and field names only: the subject itself is exactly what must not be kept.
        metadata: {
          ...(reference ? { reference } : {}),
          events: summary.events,
          fields_removed: summary.fieldsRemoved,
          held: summary.held,
          ledgers: summary.ledgers.map((l) => `${l.ledger}:${l.events}`).join(',').slice(0, 4000),
          // Where the subject's values remain in the store (ledger and field, hold or key ids: never a value).
          not_reached:
            summary.notReached
              .filter((gap) => gap.kind !== 'outside')
              .map((gap) => `${gap.kind} ${gap.where}${gap.events !== undefined ? ` (${gap.events})` : ''}`)
              .join('; ')
              .slice(0, 4000) || 'none in the store',
        },
      });
    }
    return summary;
  }

  /** What the erasure left, with why: held events, fields kept by policy, the store's other copies, and the rest. */
  private async erasureGaps(
    subject: string,
    summary: ErasureSummary,
    kept: Array<{ ledger: string; path: string; because: ErasureKept; events: number }>,
  ): Promise<ErasureGap[]> {
    const gaps: ErasureGap[] = [];
    for (const line of summary.ledgers) {
      if (line.held > 0) gaps.push({ kind: 'held', where: line.ledger, events: line.held, reason: 'under a legal hold (GDPR Art. 17(3)(e)); erase again once it is released' });
    }
    for (const { ledger, path, because, events } of kept) gaps.push({ kind: 'kept', where: `${ledger} ${path}`, events, reason: KEPT_BECAUSE[because] });
    for (const hold of await this.store.legalHolds()) {
      if ([hold.query, hold.reason, hold.owner].some((text) => mentionsSubject(text, subject))) {
        gaps.push({ kind: 'store', where: `legal hold ${hold.id}`, reason: "a legal hold's query, reason and owner are kept for good, released or not, as the record of what was held" });
      }
    }
    const idsErased = summary.ledgers.filter((line) => line.fields.includes('id')).map((line) => line.ledger);
    if (idsErased.length > 0) {
      gaps.push({
        kind: 'store',
        where: `idempotency keys of ${idsErased.join(', ')}`,
        reason: "an erased event id stays as its keyed hash, so that a retry still answers duplicate; whoever holds the signing key can test a guessed id against it",
      });
    }
    const policy = await this.store.retentionPolicy();
    if (policy && mentionsSubject(policy.policy, subject)) {
      gaps.push({ kind: 'store', where: `retention policy version ${policy.version}`, reason: 'policy versions are append-only and never rewritten (earlier versions were not searched)' });
    }
    for (const key of await this.store.listApiKeys()) {
      if (mentionsSubject(key.description, subject)) {
        gaps.push({ kind: 'store', where: `API key ${key.id}`, reason: "an API key's description is not erased; revoke the key and issue a new one without it" });
      }
    }
    return [...gaps, ...OUTSIDE_THE_STORE];
  }

  // ---- redactions from before forgetting records -------------------------------------------------------

  /**
   * Seals, once, the redactions that the schema upgrade found made before forgetting records existed,
   * then settles the list. These records say `legacy`: the server vouches for what the store held at
   * the upgrade, without earlier proof; verification counts them apart. Returns the entries attested.
   */
  async attestLegacyRedactions(): Promise<number> {
    const legacy = await this.store.legacyRedactions();
    if (legacy.length === 0) return 0;
    // Once only. A list left after an attestation is a crash between sealing and settling (the first
    // run covers it) or rows added since, which must not be laundered: settle it, and let verify judge.
    const earlier = await this.store.search(SYSTEM_LEDGER, { query: parseQuery('action:retention.legacy_attest'), limit: 1, order: 'asc' });
    if (earlier.entries.length > 0) {
      await this.store.settleLegacyRedactions(legacy);
      return 0;
    }
    const run = newId('attest');
    const groups = new Map<string, { ledger: string; reason: Redaction; requests: GrantRequest[] }>();
    for (const { ledger, index, redactions } of legacy) {
      const byReason = new Map<Redaction, string[]>();
      for (const [path, reason] of Object.entries(redactions)) byReason.set(reason, [...(byReason.get(reason) ?? []), path]);
      for (const [reason, paths] of byReason) {
        const key = `${ledger} ${reason}`;
        if (!groups.has(key)) groups.set(key, { ledger, reason, requests: [] });
        groups.get(key)!.requests.push({ index, paths });
      }
    }
    const actor: AuditEvent['actor'] = { type: 'system', id: 'sealtrail-upgrade' };
    const events = [...groups.values()].flatMap((g) => planGrants(g.ledger, g.reason, run, g.requests, true)).map((grant) => forgetRecordEvent(grant, actor));
    for (let at = 0; at < events.length; at += PAGE) {
      await this.store.append(SYSTEM_LEDGER, events.slice(at, at + PAGE).map((event) => ({ event: validateEvent(event), writer: SERVER_WRITER })));
    }
    await this.store.settleLegacyRedactions(legacy);
    await this.record('scheduler', {
      action: 'retention.legacy_attest',
      category: 'admin',
      targets: [{ type: 'attestation', id: run }],
      metadata: { entries: legacy.length, records: events.length },
    });
    return legacy.length;
  }

  private async record(by: Requester, event: Omit<AuditEvent, 'actor' | 'outcome'>): Promise<void> {
    const full = { actor: requesterActor(by), outcome: 'success', ...event } as AuditEvent;
    let valid: AuditEvent;
    try {
      valid = validateEvent(full);
    } catch {
      // Too large or odd for an event (a huge policy, say): keep the record, without the detail.
      valid = validateEvent({ ...full, metadata: { truncated: true, ...pickScalars(event.metadata ?? {}) } });
    }
    await this.store.append(SYSTEM_LEDGER, [{ event: valid, writer: SERVER_WRITER }]);
  }
}

function requesterActor(by: Requester): AuditEvent['actor'] {
  if (by === CONFIG_FILE_REQUESTER) return { type: 'system', id: 'serve-config' };
  return by === 'scheduler' ? { type: 'system', id: 'retention-scheduler' } : { type: 'api_key', id: by };
}

function pickScalars(metadata: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(metadata).filter(([, v]) => typeof v === 'number' || (typeof v === 'string' && v.length <= 256)));
}

/**
 * Every entry of a ledger up to `size`, straight from the sealed entries, yielding the event loop
 * between pages so that a scan of a large store does not stall other requests.
 */
async function* sealedEntries(store: Store, ledger: string, size: number): AsyncIterable<StoredEntry> {
  for (let from = 0; from < size; from += SCAN_PAGE) {
    yield* store.entries(ledger, from, Math.min(size, from + SCAN_PAGE));
    await yieldToEventLoop();
  }
}

function stringValue(entry: StoredEntry, path: string): string | undefined {
  const disclosure = Object.hasOwn(entry.disclosures, path) ? entry.disclosures[path] : undefined;
  return typeof disclosure?.[1] === 'string' ? disclosure[1] : undefined;
}

function newId(kind: string): string {
  return `${kind}_${randomBytes(8).toString('hex')}`;
}

/** [1,2,3,7,9,10] → "1-3,7,9-10". */
export function compactRanges(indexes: number[]): string {
  const sorted = [...indexes].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
