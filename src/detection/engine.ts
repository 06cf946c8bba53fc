/**
 * The detection engine: every sealed event of every ledger (the system ledger too), judged in ledger
 * order by every enabled detector, incrementally as events are acknowledged.
 *
 * One worker per ledger, under the lease `detection:<ledger>` (src/store/lease.ts), so that of several
 * server processes on one PostgreSQL store exactly one judges a ledger and another takes over when it
 * dies. A worker reads with followLedger from its persisted cursor, turns each entry into a JudgedEvent
 * (the disclosed event, its event time, the geolocation of origin.ip), runs the detectors, and places
 * their findings into alerts (src/detection/grouping.ts). Every few hundred events or ~200 ms it
 * commits one step in one store transaction: the cursor, every detector's state at that cursor, the
 * alerts opened and merged, the finding keys they now hold, and the outbox records of alerts opened.
 * After a crash the next worker starts from that step; the events after it are judged again from the
 * same state, give the same findings, and the finding keys already held are skipped, so no alert is
 * lost or raised twice.
 */
import { createHash } from 'node:crypto';
import { eventTimeMicros } from '../core/event-time.js';
import { recordFromEntry, writerFromLeaf } from '../core/export/record.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from '../core/forgetting.js';
import type { AlertGroup } from './grouping.js';
import { DEFAULT_GROUP_WINDOW_MICROS, groupKeyOf, placeFinding } from './grouping.js';
import type { Detector, DetectorContext, Finding, JudgedEvent } from './detector.js';
import { ALERT_ACTION_PREFIX, alertRecord, type SystemOutbox } from './outbox.js';
import { followLedger } from '../store/follow.js';
import { LoopBudget } from '../platform/event-loop.js';
import { stringifyInSlices } from '../platform/json-slices.js';
import { runUnderLease, type LeaseWorker } from '../store/lease.js';
import type { DetectionStep, StoredAlert } from '../store/detection-state.js';
import type { IpLocation, Store, StoredEntry } from '../store/store.js';

/** What the engine judges with: the enabled detectors, changed as a whole (version) when rules change. */
export interface DetectorSource {
  /** Changes whenever the set of enabled detectors does; workers then restart on the new set. */
  readonly version: number;
  enabled(): readonly Detector[];
  readonly context: DetectorContext;
}

export interface EngineOptions {
  store: Store;
  detectors: DetectorSource;
  outbox: SystemOutbox;
  /** Geolocation of origin.ip (the deployment's `locate`); absent: events carry no location. */
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
  log?: (message: string, error?: unknown) => void;
  /** Lease holder (default: this process); tests give two engines in one process different ones. */
  holder?: string;
  leaseMs?: number;
  /** How often new ledgers are looked for and the lag gauge refreshed; default 1000 ms. */
  discoverMs?: number;
  /** A step is committed after this many events … default 500 … */
  stepEvents?: number;
  /** … or this long after the first uncommitted event, whichever is first; default 200 ms. */
  stepMs?: number;
  /** How often followLedger looks for appends by other processes; default 100 ms. */
  pollMs?: number;
  groupWindowMicros?: number;
}

/** Stable, URL-safe alert id: the same finding opening the same group always gives the same id. */
export function alertId(groupKey: string, tenant: string | null, findingKey: string): string {
  const digest = createHash('sha256').update(`${groupKey}\u0000${tenant ?? ''}\u0000${findingKey}`).digest('base64url');
  return `al_${digest.slice(0, 22)}`;
}

/** One stored entry as detectors see it. */
export function judgedEventOf(entry: StoredEntry, locate?: (ip: string) => IpLocation | undefined): JudgedEvent {
  const { event } = recordFromEntry(entry);
  const ip = (event.origin as Record<string, unknown> | undefined)?.ip;
  const location = typeof ip === 'string' && locate ? locate(ip) : undefined;
  return {
    ledger: entry.ledger,
    index: entry.index,
    timeMicros: eventTimeMicros(event.occurred_at, entry.receivedAtMicros),
    receivedAtMicros: entry.receivedAtMicros,
    event,
    ...(location ? { location } : {}),
  };
}

/** The engine's own alert records in the system ledger: judging them would raise alerts about alerts. */
export function isOwnAlertRecord(entry: StoredEntry): boolean {
  if (entry.ledger !== SYSTEM_LEDGER) return false;
  const action = entry.disclosures.action?.[1];
  return typeof action === 'string' && action.startsWith(ALERT_ACTION_PREFIX) && writerFromLeaf(entry.leaf) === SERVER_WRITER;
}

/** A detector's persisted state: its own, plus the event time of the first event it saw (learning period). */
interface WrappedState {
  first: number | null;
  state: unknown;
}

export interface JudgementOptions {
  store: Store;
  ledger: string;
  detectors: readonly Detector[];
  context: DetectorContext;
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
  groupWindowMicros: number;
  log: (message: string, error?: unknown) => void;
  /** Persisted states by detector id (JSON); absent or empty: fresh state (a backfill). */
  states?: Map<string, string>;
}

/**
 * Judging one ledger from a known state: shared by the live worker and backfills. Holds what was
 * judged since the last step until takeStep() hands it over for one commit.
 */
export class Judgement {
  private readonly states = new Map<string, WrappedState>();
  private alerts = new Map<string, { alert: StoredAlert; opened: boolean }>();
  private findings: Array<{ key: string; alertId: string }> = [];
  /** Newest alert per group and tenant as this step knows it; emptied at each step (status changes by people). */
  private groups = new Map<string, StoredAlert | null>();
  private readonly failed = new Set<string>();
  /** Counters for progress and benchmarks. */
  judged = 0;
  opened = 0;

  constructor(private readonly options: JudgementOptions) {
    for (const detector of options.detectors) this.states.set(detector.id, this.restore(detector));
  }

  private restore(detector: Detector): WrappedState {
    const stored = this.options.states?.get(detector.id);
    if (stored !== undefined) {
      try {
        return JSON.parse(stored) as WrappedState;
      } catch (error) {
        this.options.log(`detector ${detector.id}: stored state of ${this.options.ledger} is not JSON; starting it afresh`, error);
      }
    }
    return { first: null, state: detector.initialState() };
  }

  get pending(): boolean {
    return this.alerts.size > 0;
  }

  /**
   * Judges the entries in order, yielding to the event loop every few ms: a step's 500 events took
   * ~50 ms at once under the HTTP bench, which every request waited behind (issue 17: no stall over
   * 10 ms). Steps are committed between calls only, so yielding never splits one.
   */
  async judge(entries: StoredEntry[]): Promise<void> {
    const budget = new LoopBudget();
    for (const entry of entries) {
      if (budget.spent) await budget.yield();
      this.judged++;
      if (isOwnAlertRecord(entry)) continue;
      const judged = judgedEventOf(entry, this.options.locate);
      for (const detector of this.options.detectors) {
        for (const finding of this.run(detector, judged)) await this.place(finding, judged);
      }
    }
  }

  /** A detector that throws is reported once and its event skipped: the same happens on replay. */
  private run(detector: Detector, judged: JudgedEvent): Finding[] {
    const wrapped = this.states.get(detector.id)!;
    wrapped.first ??= judged.timeMicros;
    let findings: Finding[];
    try {
      findings = detector.judge(judged, wrapped.state, this.options.context);
    } catch (error) {
      if (!this.failed.has(detector.id)) this.options.log(`detector ${detector.id} failed on ${judged.ledger}/${judged.index}; its events are skipped`, error);
      this.failed.add(detector.id);
      return [];
    }
    // A detector that learns nothing is never in a learning period: not even for an event that happened
    // before the first one this worker saw (a late delivery, or the first batch's own late events).
    if (findings.length > 0 && detector.learningMicros > 0 && judged.timeMicros - wrapped.first < detector.learningMicros) return [];
    return findings;
  }

  private async place(finding: Finding, judged: JudgedEvent): Promise<void> {
    const { store, ledger } = this.options;
    if (this.findings.some((f) => f.key === finding.key)) return;
    if ((await store.detection.knownFindings([finding.key])).size > 0) return;
    const tenant = typeof judged.event.tenant === 'string' ? judged.event.tenant : null;
    const groupKey = groupKeyOf(finding, ledger);
    const slot = `${groupKey}\u0000${tenant ?? ''}`;
    if (!this.groups.has(slot)) this.groups.set(slot, (await store.detection.newestAlert(groupKey, tenant)) ?? null);
    const newest = this.groups.get(slot) ?? undefined;
    // Activity after an alert was closed is a new alert, not a footnote to a finished case.
    const current = newest && newest.status !== 'closed' ? newest : undefined;
    const placed = placeFinding(current, finding, ledger, this.options.groupWindowMicros);
    if (placed.kind === 'duplicate') return;
    const alert = placed.kind === 'opened' ? this.openedAlert(placed.alert, tenant, finding.key) : { ...current!, ...placed.alert };
    const earlier = this.alerts.get(alert.id);
    this.alerts.set(alert.id, { alert, opened: placed.kind === 'opened' || (earlier?.opened ?? false) });
    this.groups.set(slot, alert);
    this.findings.push({ key: finding.key, alertId: alert.id });
  }

  private openedAlert(group: AlertGroup, tenant: string | null, findingKey: string): StoredAlert {
    const alert: StoredAlert = {
      ...group,
      id: alertId(group.groupKey, tenant, findingKey),
      tenant,
      status: 'open',
      closeReason: null,
      openedAtMicros: Date.now() * 1000,
      changedAtMicros: null,
      changedBy: null,
    };
    this.opened++;
    return alert;
  }

  /**
   * Everything judged since the last step, for one commit; `evaluated` moves the live cursor, with a
   * snapshot of every detector's state. The snapshot is written in slices (stringifyInSlices: a
   * behavioural detector's state is ~1 MB of JSON at a few thousand users, 10–30 ms at once), so judge
   * must not run until this resolves; `budget` tells the caller how long the snapshot worked.
   */
  async takeStep(evaluated?: number, budget = new LoopBudget()): Promise<DetectionStep> {
    const alerts = [...this.alerts.values()];
    // Outbox records of opened alerts are made from the alert as committed (its count may have grown).
    const outbox = alerts.filter((a) => a.opened).map((a) => alertRecord(a.alert, 'open'));
    const findings = this.findings;
    this.alerts = new Map();
    this.findings = [];
    this.groups = new Map();
    const states: Array<{ detector: string; state: string }> = [];
    if (evaluated !== undefined) {
      for (const [detector, state] of this.states) states.push({ detector, state: await stringifyInSlices(state, budget) });
    }
    return { ledger: this.options.ledger, ...(evaluated !== undefined ? { cursor: { evaluated, states } } : {}), alerts, findings, outbox };
  }
}

/** Least time between two steps without alerts, as a multiple of the last step's snapshot time (≤ 2 % of the loop). */
const SNAPSHOT_SPACING = 50;

/** Runs one worker per ledger under its lease; see the file comment. */
export class DetectionEngine {
  private readonly workers = new Map<string, LeaseWorker>();
  private readonly sizes = new Map<string, { size: number; evaluated: number }>();
  private discoverTimer: NodeJS.Timeout | undefined;
  private discovering: Promise<void> | undefined;
  private stopped = true;
  private readonly log: (message: string, error?: unknown) => void;

  constructor(private readonly options: EngineOptions) {
    this.log = options.log ?? (() => {});
  }

  /** Starts judging every ledger there is, and every ledger created later. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.discover();
    const tick = () => {
      this.discoverTimer = setTimeout(() => {
        this.discovering = this.discover()
          .catch((error: unknown) => this.log('detection could not list ledgers; retrying', error))
          .finally(() => {
            if (!this.stopped) tick();
          });
      }, this.options.discoverMs ?? 1000);
      this.discoverTimer.unref?.();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.discoverTimer) clearTimeout(this.discoverTimer);
    await this.discovering;
    await Promise.all([...this.workers.values()].map((worker) => worker.stop()));
    this.workers.clear();
  }

  /** Per ledger: its size and how far the engine has judged it, as of the last discovery round. */
  lag(): Array<{ ledger: string; size: number; evaluated: number }> {
    return [...this.sizes].map(([ledger, { size, evaluated }]) => ({ ledger, size, evaluated }));
  }

  /** True while this process judges `ledger`. */
  judges(ledger: string): boolean {
    return this.workers.get(ledger)?.holding ?? false;
  }

  private async discover(): Promise<void> {
    const { store } = this.options;
    const [ledgers, cursors] = await Promise.all([store.listLedgers(), store.detection.cursors()]);
    const evaluated = new Map(cursors.map((c) => [c.ledger, c.evaluated]));
    for (const ledger of ledgers) {
      this.sizes.set(ledger.name, { size: ledger.size, evaluated: Math.min(ledger.size, evaluated.get(ledger.name) ?? 0) });
      if (this.stopped || this.workers.has(ledger.name)) continue;
      this.workers.set(
        ledger.name,
        runUnderLease(
          {
            store,
            name: `detection:${ledger.name}`,
            ...(this.options.holder ? { holder: this.options.holder } : {}),
            ...(this.options.leaseMs ? { leaseMs: this.options.leaseMs } : {}),
            log: this.log,
          },
          (signal) => this.judgeLedger(ledger.name, signal),
        ),
      );
    }
  }

  /** The worker of one ledger: judges from the persisted cursor until its lease is lost or stopped. */
  private async judgeLedger(ledger: string, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) await this.judgeWithCurrentRules(ledger, signal);
  }

  /** One run with one set of detectors; returns when the set changes (after committing) or on abort. */
  private async judgeWithCurrentRules(ledger: string, signal: AbortSignal): Promise<void> {
    const { store, detectors: source } = this.options;
    const version = source.version;
    const { evaluated, states } = await store.detection.loadCursor(ledger);
    const judgement = new Judgement({
      store,
      ledger,
      detectors: source.enabled(),
      context: source.context,
      locate: this.options.locate,
      groupWindowMicros: this.options.groupWindowMicros ?? DEFAULT_GROUP_WINDOW_MICROS,
      log: this.log,
      states,
    });
    const stepEvents = this.options.stepEvents ?? 500;
    const stepMs = this.options.stepMs ?? 200;
    const run = new AbortController();
    const abort = () => run.abort();
    signal.addEventListener('abort', abort, { once: true });
    // Aborted while the cursor was loading: the event has fired already and would never reach `run`,
    // which would then follow the ledger for ever, and stop() would wait for it for ever.
    if (signal.aborted) run.abort();
    let next = evaluated;
    let committed = evaluated;
    let firstPendingAt = 0;
    // A step snapshots every detector's state (0.4–0.85 MB of JSON under the HTTP bench, several ms), so
    // steps without alerts are spaced to keep that a small part of the loop, however large states grow.
    let snapshotMs = 0;
    let lastStepAt = 0;
    const spaced = () => Date.now() - lastStepAt >= SNAPSHOT_SPACING * snapshotMs;
    // Steps are taken between batches only (never while a batch is half judged: the states would run
    // ahead of the cursor), by the loop below or by this timer when no further batch comes.
    let working: Promise<void> = Promise.resolve();
    const commit = async () => {
      if (next === committed && !judgement.pending) return;
      if (signal.aborted) return; // the lease is gone: whoever holds it now replays from the last step
      const upTo = next;
      const snapshot = new LoopBudget();
      const step = await judgement.takeStep(upTo, snapshot);
      snapshotMs = snapshot.workedMs;
      lastStepAt = Date.now();
      await store.detection.commitStep(step);
      committed = upTo;
      this.sizes.set(ledger, { size: Math.max(upTo, this.sizes.get(ledger)?.size ?? 0), evaluated: upTo });
      void this.options.outbox.drain().catch((error: unknown) => this.log('detection outbox drain failed; retrying', error));
    };
    const timer = setInterval(() => {
      if (next !== committed && Date.now() - firstPendingAt >= stepMs && spaced()) working = working.then(commit).catch((error: unknown) => this.log(`detection step of ${ledger} failed`, error));
    }, Math.max(20, Math.floor(stepMs / 4)));
    timer.unref?.();
    try {
      for await (const batch of followLedger(store, ledger, { from: evaluated, batchSize: stepEvents, pollMs: this.options.pollMs ?? 100, signal: run.signal })) {
        await working;
        if (next === committed) firstPendingAt = Date.now();
        working = (async () => {
          await judgement.judge(batch);
          next = batch[batch.length - 1]!.index + 1;
          const due = next - committed >= stepEvents || Date.now() - firstPendingAt >= stepMs;
          if ((due && spaced()) || judgement.pending) await commit();
        })();
        await working;
        if (source.version !== version) break;
      }
      await working;
      await commit();
    } finally {
      clearInterval(timer);
      signal.removeEventListener('abort', abort);
      run.abort();
    }
  }
}
