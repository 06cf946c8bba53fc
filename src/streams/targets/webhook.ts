/**
 * The webhook target: CloudEvents 1.0 over HTTP(S) POST, one event per request (structured mode,
 * `application/cloudevents+json`) or a delivery's events as one JSON array (`application/cloudevents-batch+json`),
 * signed per Standard Webhooks: `webhook-id`, `webhook-timestamp` (seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">`, keyed by the bytes of the
 * `whsec_<base64>` secret. 2xx is acknowledgement; 408, 429 and 5xx are retried (honouring Retry-After);
 * any other answer is permanent. Certificates are always verified, against `ca` when given.
 */
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { BATCH_CONTENT_TYPE, deliveryEvents, STRUCTURED_CONTENT_TYPE, type RecordFormat } from '../cloudevents.js';
import { DeliveryError, type Delivery, type Target, type TargetKind } from '../target.js';

export interface WebhookConfig {
  url: string;
  secret: string;
  mode: 'batched' | 'structured';
  timeoutMs: number;
  /** PEM certificates to trust instead of the system's (a private CA, a self-signed receiver). */
  ca?: string;
}

const SECRET_PREFIX = 'whsec_';
/** Bytes of an answer read before it is dropped: only the status matters. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Retry-After longer than this is capped: the runtime's own backoff bounds the rest. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** A new signing secret in the Standard Webhooks form: whsec_ and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function secretKey(secret: string): Buffer {
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

/** The Standard Webhooks signature header value of one message. */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

function parseConfig(input: Record<string, unknown>): WebhookConfig {
  const known = new Set(['url', 'secret', 'mode', 'timeout_ms', 'ca']);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new Error(`webhook sinks take no setting ${JSON.stringify(key)}`);
  const { url, secret, mode, timeout_ms: timeoutMs, ca } = input;
  if (typeof url !== 'string' || url.length > 2048) throw new Error('url must be an http or https URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('url must be an http or https URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('url must be an http or https URL');
  if (parsed.username || parsed.password) throw new Error('url must not carry credentials: the requests are signed with the secret');
  if (typeof secret !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw new Error('secret must be whsec_ followed by base64');
  const keyBytes = secretKey(secret).length;
  if (keyBytes < 24 || keyBytes > 64) throw new Error('secret must hold 24 to 64 bytes');
  if (mode !== undefined && mode !== 'batched' && mode !== 'structured') throw new Error('mode must be "batched" or "structured"');
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 300_000)) {
    throw new Error('timeout_ms must be an integer from 100 to 300000');
  }
  if (ca !== undefined && (typeof ca !== 'string' || !ca.includes('-----BEGIN CERTIFICATE-----') || ca.length > 1_000_000)) {
    throw new Error('ca must be PEM certificates');
  }
  return {
    url: parsed.toString(),
    secret,
    mode: (mode as WebhookConfig['mode'] | undefined) ?? 'batched',
    timeoutMs: (timeoutMs as number | undefined) ?? 10_000,
    ...(ca !== undefined ? { ca: ca as string } : {}),
  };
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterMs(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - nowMs;
  return Number.isFinite(ms) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms)) : undefined;
}

function describeNetworkError(url: URL, error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(error.message)) {
    return `the TLS certificate of ${url.host} does not verify (${code || error.message}); give the sink a ca setting to trust a private CA`;
  }
  return `${url.host} unreachable: ${code || error.message}`;
}

class WebhookTarget implements Target {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    private readonly config: WebhookConfig,
    private readonly format: RecordFormat,
  ) {
    this.url = new URL(config.url);
    this.agent = this.url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, ...(config.ca ? { ca: config.ca } : {}) })
      : new http.Agent({ keepAlive: true });
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const events = deliveryEvents(delivery, this.format, '/sealtrail');
    if (this.config.mode === 'batched') {
      const first = delivery.records[0]!.index;
      const last = delivery.records[delivery.records.length - 1]!.index;
      await this.post(`${delivery.ledger}:${first}-${last}`, JSON.stringify(events), BATCH_CONTENT_TYPE, signal);
      return;
    }
    // One request per event, in order: a later event is never acknowledged before an earlier one.
    for (const event of events) await this.post(String(event.id), JSON.stringify(event), STRUCTURED_CONTENT_TYPE, signal);
  }

  private post(id: string, body: string, contentType: string, signal: AbortSignal): Promise<void> {
    const timestamp = Math.floor(Date.now() / 1000);
    const client = this.url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const request = client.request(this.url, {
        method: 'POST',
        agent: this.agent,
        signal,
        timeout: this.config.timeoutMs,
        headers: {
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
          'user-agent': 'sealtrail/0.1.0',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': webhookSignature(this.config.secret, id, timestamp, body),
        },
      });
      // The whole exchange is bounded, not only idle gaps: a receiver trickling bytes is a timeout too.
      const deadline = setTimeout(() => request.destroy(new DeliveryError(`${this.url.host} did not answer within ${this.config.timeoutMs} ms`)), this.config.timeoutMs);
      request.on('timeout', () => request.destroy(new DeliveryError(`${this.url.host} did not answer within ${this.config.timeoutMs} ms`)));
      request.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(deadline);
        reject(error instanceof DeliveryError ? error : new DeliveryError(signal.aborted ? 'delivery stopped' : describeNetworkError(this.url, error)));
      });
      request.on('response', (response) => {
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        const settle = () => {
          clearTimeout(deadline);
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          const transient = status === 408 || status === 429 || status >= 500;
          reject(new DeliveryError(`${this.url.host} answered HTTP ${status}`, !transient, transient ? retryAfterMs(response.headers['retry-after']) : undefined));
        };
        response.on('end', settle);
        response.on('close', settle);
        response.on('error', () => {});
      });
      request.end(body);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

export const webhookKind: TargetKind<WebhookConfig> = {
  type: 'webhook',
  formats: ['json', 'ocsf'],
  secretFields: ['secret'],
  parseConfig,
  create: (config, format) => new WebhookTarget(config, format as RecordFormat),
};
