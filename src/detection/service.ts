/**
 * Detection as the server runs it: the catalogue of rules (the built-in Sigma pack, the behavioural
 * detectors, rule files from a folder, rules added through the API — a later source overriding an
 * earlier one of the same id — each enabled or disabled by a stored, sealed setting), the HR feed of
 * departures, the engine that judges every ledger with the enabled ones, alert workflow and backfills.
 * Several processes sharing a PostgreSQL store see each other's rule changes within `refreshMs`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SYSTEM_LEDGER } from '../core/forgetting.js';
import type { Detector, DetectorContext, Severity } from './detector.js';
import { DEFAULT_GROUP_WINDOW_MICROS } from './grouping.js';
import { DetectionEngine, Judgement, type DetectorSource } from './engine.js';
import { adminRecord, alertRecord, SystemOutbox } from './outbox.js';
import { readLedgerRange } from '../store/follow.js';
import type { AlertFilter, AlertStatus, Departure, StoredAlert, StoredRule } from '../store/detection-state.js';
import type { IpLocation, Store } from '../store/store.js';

import type { RuleFile } from './sigma/source.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

/**
 * Where detectors come from: the Sigma compiler and pack (src/detection/sigma/) and the behavioural
 * detectors (src/detection/behaviour/); src/detection/library.ts binds the real ones. `compile` throws,
 * naming the file, line and feature, when any rule of the files does not load.
 */
export interface RuleLibrary {
  builtinFiles(): RuleFile[];
  compile(files: RuleFile[]): Detector[];
  behavioural(): Detector[];
}

export type RuleSource = 'builtin' | 'behaviour' | 'folder' | 'api';

export interface RuleInfo {
  id: string;
  title: string;
  severity: Severity;
  technique?: string;
  description: string;
  source: RuleSource;
  /** The file it came from (folder and built-in rules), or the stored rule id (API). */
  file?: string;
  enabled: boolean;
  learningMicros: number;
  /** The source of a rule of the same id that this one replaces. */
  overrides?: RuleSource;
}

/** A rule that does not load: the compiler's message names the file, line and feature. */
export class RuleRefusedError extends Error {
  override name = 'RuleRefusedError';
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
  }
}

export interface DetectionServiceOptions {
  store: Store;
  library: RuleLibrary;
  /** Rule files from `serve --rules DIR` / config `rules:`, read at start. */
  folderFiles?: RuleFile[];
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
  log?: (message: string, error?: unknown) => void;
  /** How often stored rules, settings and departures are re-read (other processes' changes); default 2000 ms. */
  refreshMs?: number;
  /** Engine tuning (tests, benchmarks). */
  engine?: { holder?: string; leaseMs?: number; discoverMs?: number; stepMs?: number; stepEvents?: number; pollMs?: number };
  groupWindowMicros?: number;
}

export interface BackfillJob {
  id: string;
  ledger: string;
  from: number;
  to: number;
  judged: number;
  opened: number;
  state: 'running' | 'done' | 'failed';
  error?: string;
  startedAt: string;
  finishedAt?: string;
}

const nowMicros = () => Date.now() * 1000;
const nonce = () => randomBytes(9).toString('base64url');
const textDigest = (text: string) => createHash('sha256').update(text).digest('base64url');

export class DetectionService implements DetectorSource {
  readonly outbox: SystemOutbox;
  private engine: DetectionEngine | undefined;
  private catalogue: Array<{ info: RuleInfo; detector: Detector }> = [];
  private signature = '';
  private revision = 0;
  private departuresByActor = new Map<string, number>();
  /** Compiled API rules by stored id and the text they were compiled from. */
  private readonly compiledApiRules = new Map<string, { yaml: string; detectors: Detector[] }>();
  private readonly builtin: Array<{ detector: Detector; source: RuleSource; file?: string }>;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The periodic re-read in flight, which stop() waits for so that none re-arms after it. */
  private refreshing: Promise<void> | undefined;
  private refreshingStopped = true;
  private readonly jobs = new Map<string, BackfillJob>();
  private readonly log: (message: string, error?: unknown) => void;

  readonly context: DetectorContext = { departureOf: (actorId) => this.departuresByActor.get(actorId) };

  constructor(private readonly options: DetectionServiceOptions) {
    this.log = options.log ?? (() => {});
    this.outbox = new SystemOutbox(options.store, this.log);
    const { library } = options;
    // Compiled once, at start: a folder rule that does not load stops the server before it serves.
    this.builtin = [
      ...library.compile(library.builtinFiles()).map((detector) => ({ detector, source: 'builtin' as const })),
      ...library.behavioural().map((detector) => ({ detector, source: 'behaviour' as const })),
      ...compileRefusing(library, options.folderFiles ?? []).map((detector) => ({ detector, source: 'folder' as const })),
    ];
  }

  get version(): number {
    return this.revision;
  }

  enabled(): readonly Detector[] {
    return this.catalogue.filter((r) => r.info.enabled).map((r) => r.detector);
  }

  rules(): RuleInfo[] {
    return this.catalogue.map((r) => r.info);
  }

  /** Loads stored rules and settings; then judges every ledger when `judge` (serve), else only serves the API. */
  async start(judge: boolean): Promise<void> {
    await this.refresh();
    this.refreshingStopped = false;
    const refresh = () => {
      if (this.refreshingStopped) return;
      this.refreshTimer = setTimeout(() => {
        this.refreshing = this.refresh()
          .catch((error: unknown) => this.log('detection could not re-read its rules; retrying', error))
          .finally(refresh);
      }, this.options.refreshMs ?? 2000);
      this.refreshTimer.unref?.();
    };
    refresh();
    if (!judge) return;
    this.outbox.start();
    this.engine = new DetectionEngine({
      store: this.options.store,
      detectors: this,
      outbox: this.outbox,
      locate: this.options.locate,
      log: this.log,
      groupWindowMicros: this.options.groupWindowMicros ?? DEFAULT_GROUP_WINDOW_MICROS,
      ...this.options.engine,
    });
    await this.engine.start();
  }

  async stop(): Promise<void> {
    this.refreshingStopped = true;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    await this.refreshing;
    await this.engine?.stop();
    this.engine = undefined;
    await this.outbox.stop();
  }

  /** Per ledger: size and evaluated (the tree size fully judged), as stored. */
  async ledgers(): Promise<Array<{ ledger: string; size: number; evaluated: number }>> {
    const [ledgers, cursors] = await Promise.all([this.options.store.listLedgers(), this.options.store.detection.cursors()]);
    const evaluated = new Map(cursors.map((c) => [c.ledger, c.evaluated]));
    return ledgers.map((l) => ({ ledger: l.name, size: l.size, evaluated: Math.min(l.size, evaluated.get(l.name) ?? 0) }));
  }

  async ledgerExists(ledger: string): Promise<boolean> {
    return (await this.options.store.getLedger(ledger)) !== undefined;
  }

  /** The engine's lag per ledger (for the metric); empty where this process does not run the engine. */
  lag(): Array<{ ledger: string; size: number; evaluated: number }> {
    return this.engine?.lag() ?? [];
  }

  /** Re-reads stored rules, settings and departures; a changed set of enabled detectors restarts the workers. */
  async refresh(): Promise<void> {
    const detection = this.options.store.detection;
    const [stored, settings, departures] = await Promise.all([detection.rules(), detection.ruleSettings(), detection.departures()]);
    this.departuresByActor = new Map(departures.map((d) => [d.actorId, d.endsAtMicros]));
    const disabled = new Map(settings.map((s) => [s.id, !s.enabled]));
    const byId = new Map<string, { info: RuleInfo; detector: Detector }>();
    const add = (detector: Detector, source: RuleSource, file: string | undefined) => {
      const earlier = byId.get(detector.id);
      byId.set(detector.id, {
        detector,
        info: {
          id: detector.id,
          title: detector.title,
          severity: detector.severity,
          ...(detector.technique ? { technique: detector.technique } : {}),
          description: detector.description,
          source,
          ...(file !== undefined ? { file } : {}),
          enabled: !(disabled.get(detector.id) ?? false),
          learningMicros: detector.learningMicros,
          ...(earlier ? { overrides: earlier.info.source } : {}),
        },
      });
    };
    for (const { detector, source, file } of this.builtin) add(detector, source, file);
    for (const rule of stored) for (const detector of this.compiledApiRule(rule)) add(detector, 'api', rule.id);
    this.catalogue = [...byId.values()];
    const signature = JSON.stringify(this.catalogue.map((r) => [r.info.id, r.info.source, r.info.file ?? '', r.info.enabled, r.info.source === 'api' ? textDigest(this.compiledApiRules.get(r.info.file!)?.yaml ?? '') : '']));
    if (signature !== this.signature) {
      this.signature = signature;
      this.revision++;
    }
  }

  /** A stored rule compiled (once per text); one that no longer compiles is left out and reported. */
  private compiledApiRule(rule: StoredRule): Detector[] {
    const known = this.compiledApiRules.get(rule.id);
    if (known && known.yaml === rule.yaml) return known.detectors;
    let detectors: Detector[] = [];
    try {
      detectors = this.options.library.compile([{ path: `api:${rule.id}`, text: rule.yaml }]);
    } catch (error) {
      this.log(`stored detection rule ${rule.id} does not compile; it is not used`, error);
    }
    this.compiledApiRules.set(rule.id, { yaml: rule.yaml, detectors });
    return detectors;
  }

  // ---- rules ------------------------------------------------------------------------------------

  /** Compiles and stores a rule file given through the API, under the id of its first rule. */
  async addRule(yaml: string, by: string): Promise<RuleInfo[]> {
    const detectors = compileRefusing(this.options.library, [{ path: 'rule', text: yaml }]);
    if (detectors.length === 0) throw new RuleRefusedError('rule: the file defines no rule that raises alerts', undefined);
    const id = detectors[0]!.id;
    const record = adminRecord('detection.rule.add', by, { type: 'detection_rule', id }, { rules: detectors.map((d) => d.id).slice(0, 50) }, nonce());
    await this.options.store.detection.putRule({ id, yaml, addedAtMicros: nowMicros(), addedBy: by }, record);
    await this.changed();
    const ids = new Set(detectors.map((d) => d.id));
    return this.rules().filter((r) => ids.has(r.id));
  }

  async deleteRule(id: string, by: string): Promise<boolean> {
    const removed = await this.options.store.detection.deleteRule(id, adminRecord('detection.rule.remove', by, { type: 'detection_rule', id }, {}, nonce()));
    if (removed) await this.changed();
    return removed;
  }

  /** Undefined when no rule has that id. */
  async setEnabled(id: string, enabled: boolean, by: string): Promise<RuleInfo | undefined> {
    if (!this.catalogue.some((r) => r.info.id === id)) return undefined;
    const action = enabled ? 'detection.rule.enable' : 'detection.rule.disable';
    await this.options.store.detection.putRuleSetting({ id, enabled, changedAtMicros: nowMicros(), changedBy: by }, adminRecord(action, by, { type: 'detection_rule', id }, {}, nonce()));
    await this.changed();
    return this.rules().find((r) => r.id === id);
  }

  /** Applies enable/disable settings from the configuration file where the stored ones differ. */
  async applyConfiguredSettings(disabled: readonly string[], by: string): Promise<string[]> {
    const unknown = disabled.filter((id) => !this.catalogue.some((r) => r.info.id === id));
    for (const id of disabled) {
      const rule = this.catalogue.find((r) => r.info.id === id);
      if (rule?.info.enabled) await this.setEnabled(id, false, by);
    }
    return unknown;
  }

  private async changed(): Promise<void> {
    await this.outbox.drain();
    await this.refresh();
  }

  // ---- departures -------------------------------------------------------------------------------

  async putDepartures(departures: Departure[], by: string): Promise<void> {
    await this.options.store.detection.putDepartures(departures, adminRecord('detection.departures.replace', by, undefined, { actors: departures.length }, nonce()));
    await this.changed();
  }

  departures(): Promise<Departure[]> {
    return this.options.store.detection.departures();
  }

  // ---- alerts -----------------------------------------------------------------------------------

  listAlerts(filter: AlertFilter): Promise<StoredAlert[]> {
    return this.options.store.detection.listAlerts(filter);
  }

  getAlert(id: string): Promise<StoredAlert | undefined> {
    return this.options.store.detection.getAlert(id);
  }

  /**
   * Moves an alert along open → acknowledged → closed, sealing the change before answering. Returns
   * the alert (unchanged when already there), 'conflict' when the change does not apply from its status.
   */
  async changeStatus(alert: StoredAlert, to: Exclude<AlertStatus, 'open'>, by: string, reason?: string): Promise<StoredAlert | 'conflict'> {
    if (alert.status === to) return alert;
    const from: AlertStatus[] = to === 'acknowledged' ? ['open'] : ['open', 'acknowledged'];
    if (!from.includes(alert.status)) return 'conflict';
    const change = { from, to, by, atMicros: nowMicros(), ...(reason !== undefined ? { closeReason: reason } : {}) };
    const after = { ...alert, status: to, closeReason: reason ?? null };
    const result = await this.options.store.detection.changeAlertStatus(alert.id, change, alertRecord(after, to === 'acknowledged' ? 'acknowledge' : 'close', by));
    if (!result) return 'conflict';
    if (!result.changed) return result.alert.status === to ? result.alert : 'conflict';
    await this.outbox.drain();
    return result.alert;
  }

  // ---- backfill ---------------------------------------------------------------------------------

  /**
   * Judges entries [from, size) of one ledger again with the enabled detectors from fresh state
   * (baselines are learned anew from `from`); findings whose keys an alert already holds are skipped.
   * The live cursor is not moved. Runs in the background; progress through backfillJob().
   */
  async startBackfill(ledger: string, from: number, by: string): Promise<BackfillJob | undefined> {
    const info = await this.options.store.getLedger(ledger);
    if (!info) return undefined;
    const job: BackfillJob = { id: `bf_${nonce()}`, ledger, from: Math.min(from, info.size), to: info.size, judged: 0, opened: 0, state: 'running', startedAt: new Date().toISOString() };
    this.jobs.set(job.id, job);
    await this.options.store.detection.commitStep({
      ledger: SYSTEM_LEDGER,
      alerts: [],
      findings: [],
      outbox: [adminRecord('detection.backfill', by, { type: 'ledger', id: ledger }, { from: job.from, to: job.to, job: job.id }, nonce())],
    });
    void this.outbox.drain().catch(() => {});
    void this.runBackfill(job).catch((error: unknown) => {
      job.state = 'failed';
      job.error = (error as Error).message;
      job.finishedAt = new Date().toISOString();
      this.log(`backfill ${job.id} of ${ledger} failed`, error);
    });
    return job;
  }

  backfillJob(id: string): BackfillJob | undefined {
    return this.jobs.get(id);
  }

  private async runBackfill(job: BackfillJob): Promise<void> {
    const { store } = this.options;
    const judgement = new Judgement({
      store,
      ledger: job.ledger,
      detectors: this.enabled(),
      context: this.context,
      locate: this.options.locate,
      groupWindowMicros: this.options.groupWindowMicros ?? DEFAULT_GROUP_WINDOW_MICROS,
      log: this.log,
    });
    for await (const batch of readLedgerRange(store, job.ledger, job.from, job.to)) {
      await judgement.judge(batch);
      await store.detection.commitStep(await judgement.takeStep());
      job.judged = judgement.judged;
      job.opened = judgement.opened;
      // Other requests run between batches.
      await yieldToEventLoop();
    }
    await this.outbox.drain();
    job.state = 'done';
    job.finishedAt = new Date().toISOString();
  }
}

/** Compiles files, turning the compiler's refusal (which names file, line and feature) into RuleRefusedError. */
function compileRefusing(library: RuleLibrary, files: RuleFile[]): Detector[] {
  if (files.length === 0) return [];
  try {
    return library.compile(files);
  } catch (error) {
    const line = (error as { line?: unknown }).line;
    throw new RuleRefusedError((error as Error).message, typeof line === 'number' ? line : undefined);
  }
}

/** An RFC 3339 time or date of the HR feed as microseconds; undefined when it is neither. */
export function departureMicros(text: string): number | undefined {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T23:59:59Z` : text;
  const millis = Date.parse(date);
  return Number.isFinite(millis) && /^\d{4}-\d{2}-\d{2}/.test(text) ? millis * 1000 : undefined;
}

