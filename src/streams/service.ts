/**
 * Sinks as the server runs them: their definitions (create, pause, resume, replay, remove — each sealed
 * in the system ledger), one SinkWorker per unpaused sink in every process (the lease lets one of them
 * deliver), health for GET /v1/sinks and /metrics, and the system-ledger events a failing or lagging
 * sink raises. Every process re-reads the sink list every `refreshMs`, so a change made through another
 * process sharing a PostgreSQL store takes effect there too.
 */
import { validateEvent, type AuditEvent } from '../core/event.js';
import { SERVER_WRITER, SYSTEM_LEDGER } from '../core/forgetting.js';
import { recordFromEntry } from '../core/export/record.js';
import { SealtrailError } from '../core/errors.js';
import { formatMicros } from '../core/time.js';
import type { DeadLetter, SinkHealthState, StoredSink } from '../store/sink-state.js';
import { StoreError, type IpLocation, type Store } from '../store/store.js';
import type { SecretBox } from './secrets.js';
import { parseSinkInput, readDefinition, sinkQuery, type SinkDefinition } from './sink.js';
import { targetKind } from './targets/index.js';
import type { StreamRecord, Target } from './target.js';
import { sinkLag, SinkWorker, type SinkEvents } from './worker.js';

export interface SinkLog {
  error(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
}

export interface SinkServiceOptions {
  store: Store;
  box: SecretBox;
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
  log?: SinkLog;
  /** Lease holder name of this process (default: src/store/lease.ts PROCESS_HOLDER). */
  holder?: string;
  leaseMs?: number;
  /** How often the sink list and lag are re-read; default 2 s. */
  refreshMs?: number;
  /** How often a worker checks replays and lag; default 1 s. */
  checkMs?: number;
}

/** A sink as the API shows it: its definition without secrets, and its health. */
export interface SinkView {
  name: string;
  type: string;
  ledgers: string[];
  query: string;
  format: string;
  start: string;
  batch_size: number;
  batch_ms: number;
  max_attempts: number;
  lag_alert_events: number;
  lag_alert_seconds: number;
  /** Type-specific settings; secrets are listed by name in `secrets`, never shown. */
  settings: Record<string, unknown>;
  secrets: string[];
  paused: boolean;
  state: 'paused' | 'failing' | 'lagging' | 'delivering';
  created_at: string;
  created_by: string;
  cursors: Array<{ ledger: string; next: number; size: number; lag_events: number; lag_seconds: number }>;
  lag_events: number;
  lag_seconds: number;
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
  dead_letters: number;
}

export interface DeadLetterView {
  id: number;
  ledger: string;
  from: number;
  to: number;
  records: number;
  attempts: number;
  error: string;
  created_at: string;
}

/** A sink of that name exists already (409 SINK_EXISTS). */
export class SinkExistsError extends Error {
  constructor(readonly sink: string) {
    super(`a sink named ${JSON.stringify(sink)} exists; remove it first`);
  }
}

/** A one-off delivery (a dead letter's replay) the receiver did not acknowledge (502 DELIVERY_FAILED). */
export class SinkDeliveryError extends Error {
  constructor(
    readonly sink: string,
    message: string,
  ) {
    super(message);
  }
}

const sinkNotFound = (name: string) => new StoreError('NOT_FOUND', `no sink named ${JSON.stringify(name)}`, { sink: name });

/** Delivery errors and settings end up in sealed records and logs: one line, bounded. */
const oneLine = (text: string, max = 500) => text.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, ' ');

export class SinkService implements SinkEvents {
  private readonly workers = new Map<string, SinkWorker & { definition?: string }>();
  /** Starting and stopping workers, by requests and by the refresh loop, one change at a time. */
  private changes: Promise<unknown> = Promise.resolve();
  private lag = new Map<string, { events: number; seconds: number }>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private stopped = true;

  constructor(private readonly options: SinkServiceOptions) {}

  private get sinks() {
    return this.options.store.sinks;
  }

  /** Starts delivering every unpaused sink and keeps the list in step with the store. */
  async start(): Promise<void> {
    this.stopped = false;
    // Where sink changes and health are sealed; the server's access log makes it too.
    await this.options.store.createLedger(SYSTEM_LEDGER);
    await this.refresh();
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.refreshing = this.refresh().catch((error) => this.options.log?.warn('sinks: refresh failed', { err: error })).finally(loop);
      }, this.options.refreshMs ?? 2000);
      this.timer.unref?.();
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.refreshing;
    await this.exclusive(async () => {
      await Promise.all([...this.workers.values()].map((worker) => worker.stop()));
      this.workers.clear();
    });
  }

  /** Lag per sink as last measured (for /metrics: cheap, in memory). */
  lagSamples(): Array<{ sink: string; events: number; seconds: number }> {
    return [...this.lag].map(([sink, lag]) => ({ sink, ...lag }));
  }

  /** True while this process delivers the sink (tests, and the process list in docs/STREAMS.md). */
  delivering(name: string): boolean {
    return this.workers.get(name)?.holding ?? false;
  }

  async create(input: Record<string, unknown>, by: string): Promise<SinkView> {
    const { definition, secrets, kind } = parseSinkInput(input);
    const stored: StoredSink = {
      name: definition.name,
      type: definition.type,
      definition: JSON.stringify(definition),
      sealedSecrets: kind.secretFields.length > 0 ? this.options.box.seal(definition.name, secrets) : null,
      paused: false,
      createdAtMicros: Date.now() * 1000,
      createdBy: by,
    };
    if (!(await this.sinks.createSink(stored))) {
      throw new SinkExistsError(definition.name);
    }
    await this.seal(by, 'sink.create', definition.name, {
      type: definition.type,
      ledgers: definition.ledgers.join(','),
      query: definition.query,
      format: definition.format,
      // Settings without secrets: the sealed record is readable by every auditor.
      settings: oneLine(JSON.stringify(definition.settings), 2000),
    });
    await this.exclusive(async () => this.startWorker(stored));
    return this.get(definition.name);
  }

  async list(): Promise<SinkView[]> {
    return Promise.all((await this.sinks.listSinks()).map((sink) => this.view(sink)));
  }

  async get(name: string): Promise<SinkView> {
    const sink = await this.sinks.getSink(name);
    if (!sink) throw sinkNotFound(name);
    return this.view(sink);
  }

  async pause(name: string, by: string): Promise<SinkView> {
    if (!(await this.sinks.setSinkPaused(name, true))) throw sinkNotFound(name);
    await this.exclusive(() => this.stopWorker(name));
    await this.seal(by, 'sink.pause', name, {});
    return this.get(name);
  }

  async resume(name: string, by: string): Promise<SinkView> {
    if (!(await this.sinks.setSinkPaused(name, false))) throw sinkNotFound(name);
    await this.seal(by, 'sink.resume', name, {});
    await this.exclusive(async () => {
      const sink = await this.sinks.getSink(name);
      if (sink) this.startWorker(sink);
    });
    return this.get(name);
  }

  async remove(name: string, by: string): Promise<void> {
    const removed = await this.exclusive(async () => {
      await this.stopWorker(name);
      return this.sinks.deleteSink(name);
    });
    if (!removed) throw sinkNotFound(name);
    this.lag.delete(name);
    await this.seal(by, 'sink.remove', name, {});
  }

  /** Delivers the ledger again from `from` on (everything still in the ledger: it is the buffer). */
  async replay(name: string, ledger: string, from: number, by: string): Promise<SinkView> {
    const sink = await this.sinks.getSink(name);
    if (!sink) throw sinkNotFound(name);
    if (!readDefinition(sink.definition).ledgers.includes(ledger)) {
      throw new SealtrailError('INVALID_ARGUMENT', `sink ${name} does not deliver ledger ${JSON.stringify(ledger)}`, { sink: name, ledger });
    }
    const size = (await this.options.store.getLedger(ledger))?.size ?? 0;
    if (from > size) throw new SealtrailError('INVALID_ARGUMENT', `from ${from} is past the end of ${ledger} (size ${size})`, { from, size });
    await this.sinks.resetCursor(name, ledger, from);
    this.workers.get(name)?.restartLedger(ledger);
    await this.seal(by, 'sink.replay', name, { ledger, from });
    return this.get(name);
  }

  async deadLetters(name: string): Promise<DeadLetterView[]> {
    if (!(await this.sinks.getSink(name))) throw sinkNotFound(name);
    return (await this.sinks.deadLetters(name)).map(deadLetterView);
  }

  /**
   * Delivers one dead letter's records again, once, with the sink's own target; on acknowledgement
   * the letter is removed. A failure answers with the receiver's error and keeps the letter.
   */
  async replayDeadLetter(name: string, id: number, by: string, timeoutMs = 30_000): Promise<{ delivered: number }> {
    const sink = await this.sinks.getSink(name);
    if (!sink) throw sinkNotFound(name);
    const letter = await this.sinks.getDeadLetter(name, id);
    if (!letter) throw new StoreError('NOT_FOUND', `sink ${name} has no dead letter ${id}`, { sink: name, id });
    const records = await this.letterRecords(letter);
    const checkpoint = await this.options.store.latestCheckpoint(letter.ledger);
    const target = this.makeTarget(sink);
    try {
      if (records.length > 0) {
        await target.deliver(
          { sink: name, ledger: letter.ledger, records, checkpoint: { note: checkpoint!.note, size: checkpoint!.size }, attempt: letter.attempts + 1, previous: letter.previous },
          AbortSignal.timeout(timeoutMs),
        );
      }
    } catch (error) {
      throw new SinkDeliveryError(name, `the receiver did not take dead letter ${id}: ${oneLine((error as Error).message)}`);
    } finally {
      await target.close().catch(() => {});
    }
    await this.sinks.removeDeadLetter(name, id);
    await this.seal(by, 'sink.dead_letter.replay', name, { ledger: letter.ledger, from: letter.from, to: letter.to, records: records.length });
    return { delivered: records.length };
  }

  /** SinkEvents: a worker's health transition or dead letter, sealed and logged as an error or a note. */
  async report(sink: string, action: Parameters<SinkEvents['report']>[1], detail: Record<string, string | number>): Promise<void> {
    const clean = Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, typeof v === 'string' ? oneLine(v) : v]));
    if (action === 'sink.recovered') this.options.log?.warn(`sink ${sink} recovered`, { sink, ...clean });
    else this.options.log?.error(`sink ${sink}: ${action.slice('sink.'.length).replace('_', ' ')}`, { sink, ...clean });
    await this.seal('sink-runtime', action, sink, clean, action === 'sink.recovered' ? 'success' : 'failure');
  }

  private async letterRecords(letter: DeadLetter): Promise<StreamRecord[]> {
    const wanted = new Set(letter.indexes);
    const records: StreamRecord[] = [];
    for await (const entry of this.options.store.entries(letter.ledger, letter.from, letter.to)) {
      if (wanted.has(entry.index)) records.push(recordFromEntry(entry));
    }
    return records;
  }

  private makeTarget(sink: StoredSink): Target {
    const definition = readDefinition(sink.definition);
    const kind = targetKind(definition.type);
    if (!kind) throw new Error(`sink ${sink.name}: type ${definition.type} is not available in this build`);
    const secrets = sink.sealedSecrets ? this.options.box.open(sink.name, sink.sealedSecrets) : {};
    return kind.create({ ...definition.settings, ...secrets }, definition.format);
  }

  private exclusive<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changes.then(change);
    this.changes = run.catch(() => {});
    return run;
  }

  private startWorker(sink: StoredSink): void {
    if (this.workers.has(sink.name) || sink.paused || this.stopped) return;
    const definition = readDefinition(sink.definition);
    const worker: SinkWorker & { definition?: string } = new SinkWorker({
        store: this.options.store,
        definition,
        query: sinkQuery(definition),
        makeTarget: () => this.makeTarget(sink),
        events: this,
        locate: this.options.locate,
        ...(this.options.holder ? { holder: this.options.holder } : {}),
        ...(this.options.leaseMs ? { leaseMs: this.options.leaseMs } : {}),
        ...(this.options.checkMs ? { checkMs: this.options.checkMs } : {}),
        log: (message, error) => this.options.log?.warn(message, { sink: sink.name, err: error instanceof Error ? error.message : error }),
    });
    worker.definition = sink.definition;
    this.workers.set(sink.name, worker);
  }

  private async stopWorker(name: string): Promise<void> {
    const worker = this.workers.get(name);
    this.workers.delete(name);
    await worker?.stop();
  }

  private async refresh(): Promise<void> {
    const sinks = await this.exclusive(async () => {
      const listed = await this.sinks.listSinks();
      // Stopped when paused or removed, and restarted when re-created under its name with another definition.
      const live = new Map(listed.filter((s) => !s.paused).map((s) => [s.name, s.definition]));
      for (const [name, worker] of [...this.workers]) if (live.get(name) !== worker.definition) await this.stopWorker(name);
      for (const sink of listed) this.startWorker(sink);
      return listed;
    });
    const lag = new Map<string, { events: number; seconds: number }>();
    for (const sink of sinks) {
      const { events, seconds } = await sinkLag(this.options.store, await this.sinks.cursors(sink.name));
      lag.set(sink.name, { events, seconds });
    }
    this.lag = lag;
  }

  private async view(sink: StoredSink & SinkHealthState): Promise<SinkView> {
    const definition: SinkDefinition = readDefinition(sink.definition);
    const cursors = await this.sinks.cursors(sink.name);
    const lag = await sinkLag(this.options.store, cursors);
    const kind = targetKind(definition.type);
    return {
      name: sink.name,
      type: definition.type,
      ledgers: definition.ledgers,
      query: definition.query,
      format: definition.format,
      start: definition.start,
      batch_size: definition.batchSize,
      batch_ms: definition.batchMs,
      max_attempts: definition.maxAttempts,
      lag_alert_events: definition.lagEvents,
      lag_alert_seconds: definition.lagSeconds,
      settings: definition.settings,
      secrets: [...(kind?.secretFields ?? [])],
      paused: sink.paused,
      state: sink.paused ? 'paused' : sink.failing ? 'failing' : sink.lagging ? 'lagging' : 'delivering',
      created_at: formatMicros(sink.createdAtMicros),
      created_by: sink.createdBy,
      cursors: cursors.map((c) => {
        const l = lag.perLedger.get(c.ledger)!;
        return { ledger: c.ledger, next: c.next, size: l.size, lag_events: l.events, lag_seconds: Math.round(l.seconds) };
      }),
      lag_events: lag.events,
      lag_seconds: Math.round(lag.seconds),
      last_success_at: sink.lastSuccessMicros === null ? null : formatMicros(sink.lastSuccessMicros),
      last_error_at: sink.lastErrorMicros === null ? null : formatMicros(sink.lastErrorMicros),
      last_error: sink.lastError,
      dead_letters: await this.sinks.countDeadLetters(sink.name),
    };
  }

  private async seal(by: string, action: string, sink: string, metadata: Record<string, string | number>, outcome: 'success' | 'failure' = 'success'): Promise<void> {
    const actor: AuditEvent['actor'] = by === 'sink-runtime' || by === 'serve-config' ? { type: 'system', id: by } : { type: 'api_key', id: by };
    const event = validateEvent({
      actor,
      action,
      category: action.startsWith('sink.failing') || action.startsWith('sink.lagging') || action.startsWith('sink.recovered') || action.startsWith('sink.dead_letter') ? 'export' : 'admin',
      targets: [{ type: 'sink', id: sink }],
      outcome,
      metadata,
    } as AuditEvent);
    await this.options.store.append(SYSTEM_LEDGER, [{ event, writer: SERVER_WRITER }]);
  }
}

function deadLetterView(letter: DeadLetter): DeadLetterView {
  return {
    id: letter.id,
    ledger: letter.ledger,
    from: letter.from,
    to: letter.to,
    records: letter.indexes.length,
    attempts: letter.attempts,
    error: letter.error,
    created_at: formatMicros(letter.createdAtMicros),
  };
}
