/**
 * One sink's delivery, run by one process at a time under the lease `sink:<name>` (src/store/lease.ts).
 * Per ledger: read in order from the durable cursor (followLedger), keep what the filter selects, batch
 * by size and time, deliver with the target, and move the cursor only once the receiver acknowledged.
 * A failed batch is retried with exponential backoff and full jitter; after `maxAttempts` (or at once,
 * when the failure is permanent) it goes to the dead-letter list and delivery goes on. Nothing here is
 * on the append path: a slow or failing receiver holds back only its own sink.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { recordFromEntry } from '../core/export/record.js';
import { matchesQuery } from '../core/query-match.js';
import type { Query } from '../core/query.js';
import { followLedger } from '../store/follow.js';
import { runUnderLease, type LeaseWorker } from '../store/lease.js';
import type { SinkCursor } from '../store/sink-state.js';
import type { IpLocation, Store, StoredEntry } from '../store/store.js';
import type { SinkDefinition } from './sink.js';
import { DeliveryError, type StreamRecord, type Target } from './target.js';

/** Consecutive failed tries after which a sink counts as failing (one blip is not an alert). */
export const FAILING_AFTER = 3;

export interface SinkEvents {
  /** A health transition or a dead letter, to seal in the system ledger and log. */
  report(sink: string, action: 'sink.failing' | 'sink.recovered' | 'sink.lagging' | 'sink.dead_letter', detail: Record<string, string | number>): Promise<void>;
}

export interface WorkerOptions {
  store: Store;
  definition: SinkDefinition;
  query: Query;
  makeTarget: () => Target;
  events: SinkEvents;
  locate?: ((ip: string) => IpLocation | undefined) | undefined;
  holder?: string;
  leaseMs?: number;
  /** How often the cursor's generation (replays) and the lag are checked; default 1 s. */
  checkMs?: number;
  log: (message: string, error?: unknown) => void;
}

/** Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in [0, min(cap, base·2^n)). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs = 0): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  return Math.max(retryAfterMs, Math.floor(Math.random() * ceiling));
}

/** What /metrics and the health check read of a running worker, per ledger. */
export interface LedgerLag {
  events: number;
  seconds: number;
}

export class SinkWorker {
  private readonly lease: LeaseWorker;
  /** Per ledger: the running round and the cursor generation it delivers under. */
  private readonly rounds = new Map<string, { controller: AbortController; generation: number }>();
  private consecutiveFailures = 0;
  private failing: boolean | undefined;

  constructor(private readonly options: WorkerOptions) {
    this.lease = runUnderLease(
      { store: options.store, name: `sink:${options.definition.name}`, ...(options.holder ? { holder: options.holder } : {}), ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}), log: options.log },
      (signal) => this.work(signal),
    );
  }

  get holding(): boolean {
    return this.lease.holding;
  }

  /** A replay moved a cursor: the ledger's loop starts again from it now rather than at its next batch. */
  restartLedger(ledger: string): void {
    this.rounds.get(ledger)?.controller.abort();
  }

  stop(): Promise<void> {
    return this.lease.stop();
  }

  private async work(signal: AbortSignal): Promise<void> {
    const target = this.options.makeTarget();
    const stored = await this.options.store.sinks.getSink(this.options.definition.name);
    this.failing = stored?.failing ?? false;
    try {
      await Promise.all([...this.options.definition.ledgers.map((ledger) => this.followLoop(ledger, target, signal)), this.watchLoop(signal)]);
    } finally {
      await target.close().catch((error) => this.options.log(`sink ${this.options.definition.name}: closing its target failed`, error));
    }
  }

  private async startCursor(ledger: string): Promise<SinkCursor> {
    const start = this.options.definition.start === 'latest' ? ((await this.options.store.getLedger(ledger))?.size ?? 0) : 0;
    return this.options.store.sinks.ensureCursor(this.options.definition.name, ledger, start);
  }

  private async followLoop(ledger: string, target: Target, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const cursor = await this.startCursor(ledger);
      const round = new AbortController();
      const onAbort = () => round.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      // Aborted while the cursor was read: the event has fired already and would never end this round.
      if (signal.aborted) round.abort();
      const entry = { controller: round, generation: cursor.generation };
      this.rounds.set(ledger, entry);
      try {
        await this.stream(ledger, cursor, target, round.signal);
      } finally {
        signal.removeEventListener('abort', onAbort);
        if (this.rounds.get(ledger) === entry) this.rounds.delete(ledger);
      }
    }
  }

  /** Delivers from `cursor` until the round is aborted (stop, lost lease, replay). */
  private async stream(ledger: string, cursor: SinkCursor, target: Target, signal: AbortSignal): Promise<void> {
    const { definition } = this.options;
    const batch = new PendingBatch(cursor.lastSent);
    const entries = followLedger(this.options.store, ledger, { from: cursor.next, batchSize: definition.batchSize, signal })[Symbol.asyncIterator]();
    let next = entries.next();
    const flush = async (through: number) => {
      const moved = await this.flush(ledger, cursor.generation, batch, through, target, signal);
      if (!moved && !signal.aborted) this.restartLedger(ledger);
    };
    while (!signal.aborted) {
      const waitMs = batch.records.length > 0 ? Math.max(0, batch.startedAt + definition.batchMs - Date.now()) : undefined;
      const result = await raceTimeout(next, waitMs);
      if (result === 'timeout') {
        await flush(batch.through!);
        continue;
      }
      if (result.done) break;
      next = entries.next();
      for (const entry of result.value) {
        const record = this.selected(entry);
        batch.add(entry.index, record);
        if (batch.records.length >= definition.batchSize) await flush(entry.index);
        if (signal.aborted) break;
      }
      // Everything read was filtered out: move the cursor anyway, so lag reflects what is left to judge.
      if (batch.records.length === 0 && batch.through !== undefined && !signal.aborted) await flush(batch.through);
    }
    await next.catch(() => {});
  }

  private selected(entry: StoredEntry): StreamRecord | undefined {
    const record: StreamRecord = recordFromEntry(entry);
    const ip = (record.event.origin as { ip?: unknown } | undefined)?.ip;
    if (typeof ip === 'string' && this.options.locate) {
      const location = this.options.locate(ip);
      if (location) record.location = location;
    }
    const match = matchesQuery(this.options.query, {
      index: entry.index,
      receivedAtMicros: entry.receivedAtMicros,
      writer: record.writer,
      event: record.event,
      country: record.location?.country,
    });
    return match ? record : undefined;
  }

  /**
   * Delivers the batch (retrying, or dead-lettering), then moves the cursor past `through`. False when
   * the cursor's generation changed (a replay): the caller starts again from the new cursor.
   */
  private async flush(ledger: string, generation: number, batch: PendingBatch, through: number, target: Target, signal: AbortSignal): Promise<boolean> {
    const records = batch.records;
    const previous = batch.previous;
    if (records.length > 0) {
      const delivered = await this.deliver(ledger, records, previous, target, signal);
      if (!delivered) return true;
    }
    const lastSent = records.length > 0 ? records[records.length - 1]!.index : null;
    batch.reset(lastSent ?? previous);
    return this.options.store.sinks.advanceCursor(this.options.definition.name, ledger, generation, through + 1, lastSent);
  }

  /** True once the batch was acknowledged or dead-lettered; false only when the signal stopped it. */
  private async deliver(ledger: string, records: StreamRecord[], previous: number | null, target: Target, signal: AbortSignal): Promise<boolean> {
    const { definition, store } = this.options;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return false;
      const checkpoint = await store.latestCheckpoint(ledger);
      if (!checkpoint) throw new Error(`ledger ${ledger} has entries but no checkpoint`);
      try {
        await target.deliver({ sink: definition.name, ledger, records, checkpoint: { note: checkpoint.note, size: checkpoint.size }, attempt, previous }, signal);
        await this.succeeded();
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        const failure = error instanceof DeliveryError ? error : new DeliveryError((error as Error).message ?? String(error));
        const last = failure.permanent || attempt >= definition.maxAttempts;
        await this.failed(failure, last);
        if (last) {
          await this.deadLetter(ledger, records, previous, attempt, failure.message);
          return true;
        }
        await sleep(backoffMs(attempt, definition.retryBaseMs, definition.retryMaxMs, failure.retryAfterMs), undefined, { signal }).catch(() => {});
      }
    }
  }

  private async succeeded(): Promise<void> {
    this.consecutiveFailures = 0;
    const name = this.options.definition.name;
    await this.options.store.sinks.updateSinkHealth(name, { lastSuccessMicros: Date.now() * 1000, ...(this.failing ? { failing: false } : {}) });
    if (this.failing) {
      this.failing = false;
      await this.options.events.report(name, 'sink.recovered', { from: 'failing' });
    }
  }

  private async failed(failure: DeliveryError, last: boolean): Promise<void> {
    this.consecutiveFailures++;
    const name = this.options.definition.name;
    const nowFailing = this.failing || last || this.consecutiveFailures >= FAILING_AFTER;
    await this.options.store.sinks.updateSinkHealth(name, { lastErrorMicros: Date.now() * 1000, lastError: failure.message, failing: nowFailing });
    if (nowFailing && !this.failing) {
      this.failing = true;
      await this.options.events.report(name, 'sink.failing', { error: failure.message, attempts: this.consecutiveFailures });
    }
  }

  private async deadLetter(ledger: string, records: StreamRecord[], previous: number | null, attempts: number, error: string): Promise<void> {
    const name = this.options.definition.name;
    const from = records[0]!.index;
    const to = records[records.length - 1]!.index + 1;
    const id = await this.options.store.sinks.addDeadLetter({
      sink: name,
      ledger,
      from,
      to,
      indexes: records.map((r) => r.index),
      previous,
      attempts,
      error,
      createdAtMicros: Date.now() * 1000,
    });
    await this.options.events.report(name, 'sink.dead_letter', { ledger, from, to, records: records.length, dead_letter: id, error });
  }

  /** Replays made by other processes, and the lag alert, checked every checkMs while delivering. */
  private async watchLoop(signal: AbortSignal): Promise<void> {
    const name = this.options.definition.name;
    while (!signal.aborted) {
      await sleep(this.options.checkMs ?? 1000, undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      const cursors = await this.options.store.sinks.cursors(name);
      for (const cursor of cursors) {
        const round = this.rounds.get(cursor.ledger);
        if (round && round.generation !== cursor.generation) this.restartLedger(cursor.ledger);
      }
      await this.checkLag(cursors);
    }
  }

  private async checkLag(cursors: SinkCursor[]): Promise<void> {
    const { definition, store } = this.options;
    const lag = await sinkLag(store, cursors);
    const over = (definition.lagEvents > 0 && lag.events >= definition.lagEvents) || (definition.lagSeconds > 0 && lag.seconds >= definition.lagSeconds);
    const stored = await store.sinks.getSink(definition.name);
    if (!stored || stored.lagging === over) return;
    await store.sinks.updateSinkHealth(definition.name, { lagging: over });
    await this.options.events.report(definition.name, over ? 'sink.lagging' : 'sink.recovered', over ? { lag_events: lag.events, lag_seconds: lag.seconds } : { from: 'lagging' });
  }
}

/** How far behind the cursors are: events still to judge, and the age of the oldest of them. */
export async function sinkLag(store: Store, cursors: SinkCursor[], nowMicros = Date.now() * 1000): Promise<LedgerLag & { perLedger: Map<string, LedgerLag & { size: number }> }> {
  const perLedger = new Map<string, LedgerLag & { size: number }>();
  let events = 0;
  let seconds = 0;
  for (const cursor of cursors) {
    const size = (await store.getLedger(cursor.ledger))?.size ?? 0;
    const behind = Math.max(0, size - cursor.next);
    const oldest = behind > 0 ? await store.getEntry(cursor.ledger, cursor.next) : undefined;
    const age = oldest ? Math.max(0, (nowMicros - oldest.receivedAtMicros) / 1e6) : 0;
    perLedger.set(cursor.ledger, { events: behind, seconds: age, size });
    events += behind;
    seconds = Math.max(seconds, age);
  }
  return { events, seconds, perLedger };
}

/** The records waiting to be delivered, and the last index read (every index up to it was judged). */
class PendingBatch {
  records: StreamRecord[] = [];
  through: number | undefined;
  startedAt = 0;

  constructor(public previous: number | null) {}

  add(index: number, record: StreamRecord | undefined): void {
    if (record) {
      if (this.records.length === 0) this.startedAt = Date.now();
      this.records.push(record);
    }
    this.through = index;
  }

  reset(previous: number | null): void {
    this.records = [];
    this.through = undefined;
    this.previous = previous;
  }
}

async function raceTimeout<T>(promise: Promise<T>, ms: number | undefined): Promise<T | 'timeout'> {
  if (ms === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
