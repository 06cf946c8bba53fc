/**
 * The contract between the sink runtime (src/streams/runtime.ts) and each kind of receiver
 * (src/streams/targets/*.ts): webhook, syslog, splunk_hec, nats, file. The runtime reads the ledger in
 * order, filters, batches and retries; a target only turns one batch into bytes on the wire and says
 * whether the receiver took it.
 */
import type { ExportRecord } from '../core/export/record.js';
import type { IpLocation } from '../store/store.js';

/** One sealed event on its way out: what every export format is written from, and its location. */
export interface StreamRecord extends ExportRecord {
  location?: IpLocation;
}

/** A batch for one sink: consecutive ledger records (gaps only where the sink's filter left events out). */
export interface Delivery {
  sink: string;
  ledger: string;
  /** Oldest first; never empty. */
  records: StreamRecord[];
  /** The latest signed checkpoint (C2SP signed note text) whose tree covers every record, and its size. */
  checkpoint: { note: string; size: number };
  /** 1 for the first try of this batch, 2 for the first retry, … */
  attempt: number;
  /**
   * Index of the record this sink delivered from the ledger just before this batch; null where the
   * stream starts (a new sink, a replay). Each record's predecessor is the one before it in the batch,
   * so a receiver that finds every predecessor knows it holds an unbroken stream (docs/STREAMS.md).
   */
  previous?: number | null;
}

/**
 * Why a delivery failed. `permanent`: retrying the same bytes cannot succeed (a 4xx other than 408/429,
 * a message the receiver refuses): the runtime dead-letters at once. Otherwise it retries with backoff,
 * waiting at least `retryAfterMs` when the receiver said so.
 */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  constructor(
    message: string,
    readonly permanent = false,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface Target {
  /**
   * Delivers the whole batch and resolves only once the receiver acknowledged it (HTTP 2xx, a JetStream
   * ack, a TCP write flushed, a file fsynced; Splunk indexer acknowledgement when enabled). Throws
   * DeliveryError (or any error, taken as transient). Must give up when `signal` aborts.
   */
  deliver(delivery: Delivery, signal: AbortSignal): Promise<void>;
  /** Closes connections and files; the runtime calls it when the sink is paused, removed or stopped. */
  close(): Promise<void>;
}

/** One sink kind: checks its type-specific settings and makes targets from them. */
export interface TargetKind<Config = Record<string, unknown>> {
  readonly type: 'webhook' | 'syslog' | 'splunk_hec' | 'nats' | 'file';
  /** Formats this kind can write (the sink's `format`); the first is the default. */
  readonly formats: readonly string[];
  /** Setting names that are secrets: write-only, never returned by the API, never logged. */
  readonly secretFields: readonly string[];
  /**
   * Validates the type-specific part of a sink definition (everything but name, type, ledgers, query,
   * format) and returns it normalised; throws an Error whose message names the bad setting.
   */
  parseConfig(input: Record<string, unknown>): Config;
  create(config: Config, format: string): Target;
}
