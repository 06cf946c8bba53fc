/**
 * The batching writer: the way an application sends audit events without waiting on the audit log.
 *
 * - Batches: a batch is sent when it holds `maxBatch` events or its first event has waited `maxDelayMs`.
 * - Retries: network errors, 429 and 5xx are retried with exponential backoff (full jitter), the same
 *   events with the same ids — every event gets an `id` when it has none, and the server answers a
 *   retried id with its first receipt, so nothing is sealed twice.
 * - Backpressure: at most `maxQueue` events wait; past it `enqueue` refuses with QueueFullError
 *   (`whenFull: 'reject'`, the default) or waits for room (`'wait'`).
 * - Spool (optional, Node): events are fsynced to an append-only file before `enqueue` resolves, and
 *   sent from there after a restart (spool.ts).
 * - Receipt verification (optional): each receipt's checkpoint must be signed by the pinned verifier key
 *   for the ledger, and its leaf hash proven included in that checkpoint's tree (receipts.ts).
 * - `close()` stops taking events and sends what is queued before it resolves.
 *
 * Events are validated when enqueued (core validateEvent), so a bad one is refused at once with the
 * field at fault rather than failing a whole batch later. An event the server still refuses (403
 * tenant out of scope, 409 id reused) fails alone: its batch is resent one event at a time.
 */
import { validateEvent, type AuditEvent } from '../core/event.js';
import { SealtrailApiError, SealtrailClient, type ClientOptions, type ReceiptBody } from './index.js';
import { ReceiptVerifier } from './receipts.js';
import type { Spool } from './spool.js';

export class QueueFullError extends Error {
  override name = 'QueueFullError';
  readonly code = 'QUEUE_FULL';
}

export class WriterClosedError extends Error {
  override name = 'WriterClosedError';
  readonly code = 'WRITER_CLOSED';
}

export interface BatchingWriterOptions extends ClientOptions {
  ledger: string;
  /** Events per request (1–1000); default 100. */
  maxBatch?: number;
  /** Longest an event waits for others before its batch is sent; default 200 ms. */
  maxDelayMs?: number;
  /** Events waiting (queued or in flight) before enqueue refuses or waits; default 10,000. */
  maxQueue?: number;
  whenFull?: 'reject' | 'wait';
  /** Backoff between retries: first delay and cap; default 100 ms and 10 s. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Each request's time limit; default 30 s. */
  requestTimeoutMs?: number;
  /** Path of an on-disk spool (Node only): events survive restarts and an unreachable server. */
  spool?: string;
  /** The deployment's verifier key: every receipt is checked against it. */
  verifierKey?: string;
  /** Events that could not be sealed (refused by the server) or whose receipt failed verification. */
  onError?: (error: Error, event: AuditEvent) => void;
}

interface Pending {
  event: AuditEvent;
  resolve: (receipt: ReceiptBody) => void;
  reject: (error: Error) => void;
  sealed: Promise<ReceiptBody>;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export class BatchingWriter {
  private readonly client: SealtrailClient;
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending: Promise<void> | undefined;
  private closed = false;
  private readonly roomWaiters: Array<() => void> = [];
  private spool: Spool | undefined;
  private readonly verifier: ReceiptVerifier | undefined;
  private readonly settings: Required<Pick<BatchingWriterOptions, 'maxBatch' | 'maxDelayMs' | 'maxQueue' | 'whenFull' | 'requestTimeoutMs'>> & { initialDelayMs: number; maxBackoffMs: number };
  readonly stats = { enqueued: 0, sealed: 0, retries: 0, failed: 0, refusedFull: 0 };

  private constructor(private readonly options: BatchingWriterOptions) {
    const timeout = options.requestTimeoutMs ?? 30_000;
    const baseFetch = options.fetch ?? globalThis.fetch;
    this.client = new SealtrailClient({ ...options, fetch: (input, init) => baseFetch(input, { ...init, signal: AbortSignal.timeout(timeout) }) });
    this.settings = {
      maxBatch: Math.min(1000, Math.max(1, options.maxBatch ?? 100)),
      maxDelayMs: options.maxDelayMs ?? 200,
      maxQueue: options.maxQueue ?? 10_000,
      whenFull: options.whenFull ?? 'reject',
      requestTimeoutMs: timeout,
      initialDelayMs: options.retry?.initialDelayMs ?? 100,
      maxBackoffMs: options.retry?.maxDelayMs ?? 10_000,
    };
    this.verifier = options.verifierKey ? new ReceiptVerifier(this.client, options.verifierKey) : undefined;
  }

  /** A writer; with `spool`, the events a previous process left in it are queued again first. */
  static async open(options: BatchingWriterOptions): Promise<BatchingWriter> {
    const writer = new BatchingWriter(options);
    if (options.spool) {
      const { Spool } = await import('./spool.js');
      const { spool, pending } = await Spool.open(options.spool);
      writer.spool = spool;
      for (const event of pending) writer.queue.push(writer.pending(event));
      if (pending.length > 0) writer.schedule();
    }
    return writer;
  }

  /** Events waiting to be sealed (queued and in flight). */
  get size(): number {
    return this.queue.length + this.inFlight;
  }

  /**
   * Accepts an event: resolves once it is queued (and, with a spool, on disk), with a promise of its
   * receipt. Throws the validation error for a bad event, QueueFullError when full in 'reject' mode.
   */
  async enqueue(input: AuditEvent): Promise<{ id: string; sealed: Promise<ReceiptBody> }> {
    if (this.closed) throw new WriterClosedError('the writer is closed');
    const event = validateEvent({ ...input, id: input.id ?? globalThis.crypto.randomUUID() });
    while (this.size >= this.settings.maxQueue) {
      if (this.settings.whenFull === 'reject') {
        this.stats.refusedFull++;
        throw new QueueFullError(`${this.size} events are waiting to be sealed (maxQueue ${this.settings.maxQueue})`);
      }
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      if (this.closed) throw new WriterClosedError('the writer closed while the event waited for room');
    }
    const item = this.pending(event);
    // Counted before the spool write, so concurrent enqueues cannot all pass the bound.
    this.inFlight++;
    try {
      await this.spool?.add([event]);
    } finally {
      this.inFlight--;
    }
    this.queue.push(item);
    this.stats.enqueued++;
    this.schedule();
    return { id: event.id!, sealed: item.sealed };
  }

  /** Enqueues and waits for the receipt (verified, when a verifier key is set). */
  async write(event: AuditEvent): Promise<ReceiptBody> {
    return (await this.enqueue(event)).sealed;
  }

  /** Sends everything queued now and waits for it. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.sending) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await (this.sending ?? this.send());
    }
  }

  /**
   * Stops accepting events and sends what is queued, for at most `timeoutMs` (default 10 s). Whatever is
   * still unsent then stays in the spool for the next start, or (without one) is rejected.
   */
  async close({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<void> {
    this.closed = true;
    for (const wake of this.roomWaiters.splice(0)) wake();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.flush().then(() => 'flushed' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      const left = this.queue.splice(0);
      const error = new WriterClosedError(`closed with ${left.length} events unsent${this.spool ? ' (they stay in the spool)' : ''}`);
      for (const item of left) item.reject(error);
    }
    await this.verifier?.idle();
    await this.spool?.close();
    this.spool = undefined;
  }

  private pending(event: AuditEvent): Pending {
    let resolve!: (receipt: ReceiptBody) => void;
    let reject!: (error: Error) => void;
    const sealed = new Promise<ReceiptBody>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that only enqueues never awaits `sealed`: its failure is reported through onError instead.
    sealed.catch(() => {});
    return { event, resolve, reject, sealed };
  }

  private schedule(): void {
    if (this.sending) return;
    if (this.queue.length >= this.settings.maxBatch) void this.send();
    else this.timer ??= setTimeout(() => void this.send(), this.settings.maxDelayMs);
  }

  private send(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending ??= this.drain().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.schedule();
    });
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.settings.maxBatch);
      this.inFlight += batch.length;
      try {
        await this.deliver(batch);
      } finally {
        this.inFlight -= batch.length;
        for (const wake of this.roomWaiters.splice(0, batch.length)) wake();
      }
      if (this.closed && this.queue.length === 0) return;
    }
  }

  /** Sends one batch until it is sealed or refused; a refused batch is resent event by event. */
  private async deliver(batch: Pending[]): Promise<void> {
    let attempt = 0;
    for (;;) {
      try {
        const receipts = await this.client.append(this.options.ledger, batch.map((p) => p.event));
        await this.sealed(batch, receipts);
        return;
      } catch (error) {
        if (!retryable(error)) return this.refused(batch, error as Error);
        this.stats.retries++;
        const cap = Math.min(this.settings.maxBackoffMs, this.settings.initialDelayMs * 2 ** Math.min(attempt++, 20));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * cap));
        if (this.closed && !this.spool && attempt > 3) return this.failed(batch, error as Error);
      }
    }
  }

  private async refused(batch: Pending[], error: Error): Promise<void> {
    if (batch.length > 1) {
      for (const item of batch) await this.deliver([item]);
      return;
    }
    await this.failed(batch, error);
  }

  private async failed(batch: Pending[], error: Error): Promise<void> {
    this.stats.failed += batch.length;
    await this.spool?.done(batch.map((p) => p.event.id!));
    for (const item of batch) {
      item.reject(error);
      this.options.onError?.(error, item.event);
    }
  }

  private async sealed(batch: Pending[], receipts: ReceiptBody[]): Promise<void> {
    this.stats.sealed += batch.length;
    await this.spool?.done(batch.map((p) => p.event.id!));
    batch.forEach((item, i) => {
      const receipt = receipts[i]!;
      if (!this.verifier) return item.resolve(receipt);
      this.verifier.verify(receipt).then(
        () => item.resolve(receipt),
        (error: Error) => {
          item.reject(error);
          this.options.onError?.(error, item.event);
        },
      );
    });
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof SealtrailApiError) return RETRYABLE_STATUS.has(error.status) && error.code !== 'CORRUPT';
  // fetch's own failures (connection refused, reset, DNS, timeout) are TypeError or an AbortError/TimeoutError.
  return error instanceof TypeError || (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'));
}
