/**
 * Splunk HTTP Event Collector target: `POST <url>/services/collector/event` with
 * `Authorization: Splunk <token>`, a delivery's events batched as concatenated JSON event objects
 * (split into requests of at most `max_request_bytes`), each with `time` (the event time in epoch
 * seconds, microseconds as decimals), `host`/`source`/`sourcetype`/`index` when set, the record (or its
 * OCSF object) as `event`, and indexed `fields` sealtrail_ledger, sealtrail_index, sealtrail_leaf_hash.
 * The last event of each delivery is the checkpoint covering it (sourcetype `sealtrail:checkpoint`,
 * event `{"sealtrail_checkpoint": {ledger, size, note}}`).
 *
 * HTTP 200 from HEC only means the request parsed, not that anything was indexed. With indexer
 * acknowledgement (`ack`: `auto`, the default, uses it whenever the receiver answers with an `ackId`;
 * `required` fails deliveries whose answer has none), every request carries the target's
 * `X-Splunk-Request-Channel` and the delivery resolves only once `POST /services/collector/ack` reports
 * every ackId true; an ackId still false after `ack_timeout_ms` fails the delivery, which is then sent
 * again (receivers de-duplicate on sealtrail_ledger + sealtrail_index).
 *
 * Answers: 400 with a data error (codes 5, 6, 12, 13, 15, `invalid-event-number`), 413 and other
 * 4xx not listed here are permanent (the same bytes would be refused again); 401/403 (token), 404 (no
 * collector there), 400 codes 10/11 (channel), 408, 429 and 5xx (503 "server is busy") are transient,
 * with Retry-After honoured. The token never appears in an error, even if a receiver echoes it.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { rfc3339Micros, eventTimeMicros } from '../../core/event-time.js';
import { DeliveryError, type Delivery, type StreamRecord, type Target, type TargetKind } from '../target.js';
import { checkpointLine, recordLine } from './file.js';
import {
  abortedError,
  caCertificates,
  caSetting,
  choiceSetting,
  describeConnectError,
  integerSetting,
  rejectUnknownSettings,
  stringSetting,
  TIMEOUT_SETTINGS,
  timeoutSettings,
  withDeadline,
  type CaSource,
  type Settings,
  type Timeouts,
} from './settings.js';

export type HecFormat = 'json' | 'ocsf';
export type HecAck = 'auto' | 'required' | 'off';

export interface SplunkHecConfig extends Timeouts {
  /** The collector's base URL (scheme, host, port), e.g. https://splunk.example.com:8088. */
  url: string;
  token: string;
  index?: string;
  source?: string;
  sourcetype?: string;
  host?: string;
  ack: HecAck;
  ackTimeoutMs: number;
  ackPollMs: number;
  maxRequestBytes: number;
  ca?: CaSource;
}

const SETTINGS = ['url', 'token', 'index', 'source', 'sourcetype', 'host', 'ack', 'ack_timeout_ms', 'ack_poll_ms', 'max_request_bytes', 'ca', 'ca_file', ...TIMEOUT_SETTINGS];
const EVENT_PATH = '/services/collector/event';
const ACK_PATH = '/services/collector/ack';
/** HEC answers are a line of JSON; more than this is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** HEC data errors: the request's events themselves are refused (Splunk's documented status codes). */
const DATA_ERRORS = new Set([5, 6, 7, 12, 13, 15]);
/** Channel errors: the channel is missing or unknown to the receiver (it may have expired). */
const CHANNEL_ERRORS = new Set([10, 11]);
const MAX_RETRY_AFTER_MS = 10 * 60_000;

function parseUrl(input: Settings): string {
  const text = stringSetting(input, 'url', { required: true, max: 2048 });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('url must be an absolute http(s) URL such as https://splunk.example.com:8088');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('url must be http or https');
  if (url.username || url.password) throw new Error('url must not carry credentials: set token');
  if (url.search || url.hash) throw new Error('url takes no query or fragment');
  // Accept the collector's own paths too; requests always go to its event and ack endpoints.
  const path = url.pathname.replace(/\/+$/, '').replace(/\/services\/collector(?:\/event)?$/, '');
  return `${url.origin}${path}`;
}

function parseSplunkHecConfig(input: Settings): SplunkHecConfig {
  rejectUnknownSettings(input, SETTINGS, 'splunk_hec');
  const config: SplunkHecConfig = {
    url: parseUrl(input),
    token: stringSetting(input, 'token', { required: true, max: 256, pattern: /^[!-~]+$/, expected: 'the HEC token (printable characters, no spaces)' }),
    ack: choiceSetting(input, 'ack', ['auto', 'required', 'off'] as const, 'auto'),
    ackTimeoutMs: integerSetting(input, 'ack_timeout_ms', 60_000, 100, 3_600_000),
    ackPollMs: integerSetting(input, 'ack_poll_ms', 500, 20, 60_000),
    maxRequestBytes: integerSetting(input, 'max_request_bytes', 1_000_000, 16 * 1024, 800 * 1024 * 1024),
    ...timeoutSettings(input),
  };
  for (const name of ['index', 'source', 'sourcetype', 'host'] as const) {
    const value = stringSetting(input, name, { max: 1024 });
    if (value !== undefined) config[name] = value;
  }
  const ca = caSetting(input);
  if (ca !== undefined) config.ca = ca;
  return config;
}

/** Epoch seconds with six decimals, written exactly (a float would lose the last digits). */
export function epochSeconds(micros: number): string {
  const seconds = Math.floor(micros / 1_000_000);
  return `${seconds}.${String(micros - seconds * 1_000_000).padStart(6, '0')}`;
}

function recordSeconds(record: StreamRecord): string {
  const received = rfc3339Micros(record.received_at) ?? 0;
  return epochSeconds(eventTimeMicros(record.event.occurred_at, received));
}

/** The metadata members every event of this sink carries, as JSON text to splice into each event. */
function metadataJson(config: SplunkHecConfig, ledger: string, sourcetype: string): string {
  const members: Record<string, string> = {};
  if (config.host !== undefined) members.host = config.host;
  members.source = config.source ?? `sealtrail:${ledger}`;
  members.sourcetype = sourcetype;
  if (config.index !== undefined) members.index = config.index;
  return JSON.stringify(members).slice(1, -1);
}

/** The delivery as HEC event objects (JSON text each), oldest first, the checkpoint event last. */
export function hecEvents(delivery: Delivery, config: SplunkHecConfig, format: HecFormat): string[] {
  const recordMeta = metadataJson(config, delivery.ledger, config.sourcetype ?? `sealtrail:${format}`);
  let previous = delivery.previous ?? null;
  const events = delivery.records.map((record) => {
    const fields = JSON.stringify({ sealtrail_ledger: record.ledger, sealtrail_index: String(record.index), sealtrail_leaf_hash: record.leaf_hash });
    const event = `{"time":${recordSeconds(record)},${recordMeta},"event":${recordLine(record, previous, format)},"fields":${fields}}`;
    previous = record.index;
    return event;
  });
  const last = delivery.records[delivery.records.length - 1]!;
  const checkpointMeta = metadataJson(config, delivery.ledger, 'sealtrail:checkpoint');
  const fields = JSON.stringify({ sealtrail_ledger: delivery.ledger, sealtrail_checkpoint_size: String(delivery.checkpoint.size) });
  events.push(`{"time":${recordSeconds(last)},${checkpointMeta},"event":${checkpointLine(delivery.ledger, delivery.checkpoint)},"fields":${fields}}`);
  return events;
}

/** Consecutive events joined into request bodies of at most `max` bytes (an event larger than that goes alone). */
export function requestBodies(events: string[], max: number): string[] {
  const bodies: string[] = [];
  let body = '';
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(event);
    if (bytes > 0 && bytes + size > max) {
      bodies.push(body);
      body = '';
      bytes = 0;
    }
    body += event;
    bytes += size;
  }
  if (bytes > 0) bodies.push(body);
  return bodies;
}

interface Answer {
  status: number;
  json: Record<string, unknown> | undefined;
  retryAfter: string | undefined;
}

function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

class SplunkHecTarget implements Target {
  private channel = randomUUID();
  private agent: http.Agent | undefined;
  private readonly base: URL;

  constructor(
    private readonly config: SplunkHecConfig,
    private readonly format: HecFormat,
  ) {
    this.base = new URL(config.url);
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const pending: number[] = [];
    for (const body of requestBodies(hecEvents(delivery, this.config, this.format), this.config.maxRequestBytes)) {
      const ackId = await this.send(body, signal);
      if (ackId !== undefined) pending.push(ackId);
    }
    if (pending.length > 0) await this.awaitAcks(pending, signal);
  }

  async close(): Promise<void> {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /** Posts one body; returns its ackId when indexer acknowledgement is in use. */
  private async send(body: string, signal: AbortSignal): Promise<number | undefined> {
    const answer = await this.post(EVENT_PATH, body, signal);
    const { status, json } = answer;
    if (status >= 200 && status < 300) {
      if (json?.code !== undefined && json.code !== 0) throw new DeliveryError(this.describe('answered HTTP 200 with an error', json));
      const ackId = json?.ackId;
      if (this.config.ack === 'off') return undefined;
      if (typeof ackId === 'number' && Number.isSafeInteger(ackId)) return ackId;
      if (this.config.ack === 'required') {
        throw new DeliveryError(`${this.receiver()} answered without an ackId: enable indexer acknowledgement on the token, or set ack to auto`);
      }
      return undefined;
    }
    throw this.refusal(answer);
  }

  private refusal({ status, json, retryAfter }: Answer): DeliveryError {
    const code = typeof json?.code === 'number' ? json.code : undefined;
    if (status === 400 && code !== undefined && CHANNEL_ERRORS.has(code)) {
      this.channel = randomUUID();
      return new DeliveryError(this.describe('refused the request channel (a new one is used next time)', json, status));
    }
    if (status === 401 || status === 403) return new DeliveryError(this.describe('refused the token', json, status));
    if (status === 404) return new DeliveryError(`${this.receiver()} has no HTTP Event Collector at ${this.base.pathname === '/' ? '' : this.base.pathname}${EVENT_PATH} (HTTP 404)`);
    if (status === 408 || status === 429 || status >= 500) return new DeliveryError(this.describe('is unavailable', json, status), false, retryAfterMs(retryAfter));
    if (status === 400 && (code === undefined || !DATA_ERRORS.has(code))) return new DeliveryError(this.describe('refused the request', json, status));
    return new DeliveryError(this.describe('refused the events', json, status), true);
  }

  private async awaitAcks(ackIds: number[], signal: AbortSignal): Promise<void> {
    const { ackTimeoutMs, ackPollMs } = this.config;
    const deadline = withDeadline(signal, ackTimeoutMs);
    const waiting = new Set(ackIds);
    for (;;) {
      const answer = await this.post(ACK_PATH, JSON.stringify({ acks: [...waiting] }), signal).catch((error: unknown) => {
        throw error instanceof DeliveryError ? error : new DeliveryError(String(error));
      });
      if (answer.status < 200 || answer.status >= 300) throw this.refusal(answer);
      const acks = answer.json?.acks;
      if (acks && typeof acks === 'object') {
        for (const id of [...waiting]) if ((acks as Record<string, unknown>)[String(id)] === true) waiting.delete(id);
      }
      if (waiting.size === 0) return;
      if (!(await pause(ackPollMs, deadline))) {
        if (signal.aborted) throw abortedError(signal, `waiting for ${this.receiver()} to acknowledge indexing`, ackTimeoutMs);
        throw new DeliveryError(
          `${this.receiver()} did not confirm indexing of ackId ${[...waiting].join(', ')} within ${ackTimeoutMs} ms; the events will be sent again (de-duplicate on sealtrail_ledger and sealtrail_index)`,
        );
      }
    }
  }

  private receiver(): string {
    return `Splunk HEC ${this.base.host}`;
  }

  /** The receiver's own words, bounded, with the token cut out in case a receiver echoes it. */
  private describe(what: string, json: Record<string, unknown> | undefined, status?: number): string {
    const text = typeof json?.text === 'string' ? json.text.slice(0, 200) : undefined;
    const details = [
      status !== undefined ? `HTTP ${status}` : undefined,
      text !== undefined ? `"${text}"` : undefined,
      typeof json?.code === 'number' ? `code ${json.code}` : undefined,
      typeof json?.['invalid-event-number'] === 'number' ? `invalid event number ${json['invalid-event-number']}` : undefined,
    ].filter((part) => part !== undefined);
    return `${this.receiver()} ${what}${details.length > 0 ? ` (${details.join(', ')})` : ''}`.replaceAll(this.config.token, '[token]');
  }

  private async requestAgent(): Promise<http.Agent> {
    if (this.agent) return this.agent;
    if (this.base.protocol === 'https:') {
      const ca = await caCertificates(this.config.ca);
      this.agent = new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
    } else this.agent = new http.Agent({ keepAlive: true });
    return this.agent;
  }

  private async post(path: string, body: string, signal: AbortSignal): Promise<Answer> {
    const agent = await this.requestAgent();
    const url = new URL(`${this.base.pathname.replace(/\/$/, '')}${path}`, this.base);
    if (path === ACK_PATH) url.searchParams.set('channel', this.channel);
    const client = url.protocol === 'https:' ? https : http;
    const { writeTimeoutMs } = this.config;
    const deadline = withDeadline(signal, writeTimeoutMs);
    const step = `posting to ${this.receiver()}`;
    return new Promise<Answer>((resolve, reject) => {
      const fail = (error: unknown) => {
        if (deadline.aborted) return reject(abortedError(deadline, step, writeTimeoutMs));
        reject(new DeliveryError(describeConnectError(error, this.receiver())));
      };
      const request = client.request(url, {
        method: 'POST',
        agent,
        signal: deadline,
        headers: {
          authorization: `Splunk ${this.config.token}`,
          'x-splunk-request-channel': this.channel,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'sealtrail',
        },
      });
      request.once('error', fail);
      request.once('response', (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        response.once('error', fail);
        response.once('end', () => {
          let json: Record<string, unknown> | undefined;
          try {
            const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          const retryAfter = response.headers['retry-after'];
          resolve({ status: response.statusCode ?? 0, json, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter });
        });
      });
      request.end(body);
    });
  }
}

/** Waits `ms`; false if `signal` aborted first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve(true);
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

export const splunkHecKind: TargetKind<SplunkHecConfig> = {
  type: 'splunk_hec',
  formats: ['json', 'ocsf'],
  secretFields: ['token'],
  parseConfig: parseSplunkHecConfig,
  create: (config, format) => new SplunkHecTarget(config, format === 'ocsf' ? 'ocsf' : 'json'),
};
