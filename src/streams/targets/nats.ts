/**
 * NATS JetStream target: each record is one message published to a subject (`sealtrail.{ledger}` by
 * default) and counts as delivered only once JetStream acknowledged storing it (a PubAck). The message
 * id (`Nats-Msg-Id`) is `<ledger>:<index>`, so a record sent again after a lost acknowledgement, a crash
 * or a retry is dropped by the stream as a duplicate within its duplicate window (default two minutes)
 * instead of being stored twice.
 *
 * Headers carry what a receiver needs to check its copy: `Sealtrail-Ledger`, `Sealtrail-Index`,
 * `Sealtrail-Leaf-Hash`, `Sealtrail-Previous-Index` (the index this sink delivered before, `-` at the
 * start of a stream), and on the last message of each delivery `Sealtrail-Checkpoint` (the signed note,
 * base64, since a header value cannot hold line breaks) with `Sealtrail-Checkpoint-Size`.
 *
 * Messages of a delivery are pipelined (up to PIPELINE unacknowledged) on one connection, which JetStream
 * stores in the order sent. If one fails the whole delivery fails and is sent again; the ones already
 * stored come back as duplicates and are not stored twice.
 */
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { connect, headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { deliveryEvents } from '../cloudevents.js';
import { DeliveryError, type Delivery, type Target, type TargetKind } from '../target.js';
import { recordLine } from './file.js';
import {
  abortedError,
  booleanSetting,
  caCertificates,
  caSetting,
  choiceSetting,
  describeConnectError,
  integerSetting,
  raceAbort,
  readSettingFile,
  rejectUnknownSettings,
  stringSetting,
  TIMEOUT_SETTINGS,
  timeoutSettings,
  withDeadline,
  type CaSource,
  type Settings,
  type Timeouts,
} from './settings.js';

export type NatsFormat = 'json' | 'ocsf' | 'cloudevents';

export interface NatsConfig extends Timeouts {
  servers: string[];
  /** `{ledger}` stands for the ledger's name. */
  subject: string;
  /** The stream that must store the messages: checked (or created) before the first publish. */
  stream?: string;
  createStream: boolean;
  duplicateWindowSeconds: number;
  user?: string;
  password?: string;
  token?: string;
  ca?: CaSource;
  certFile?: string;
  keyFile?: string;
}

/** Most messages sent and not yet acknowledged: enough to hide the round trip, few enough to bound memory. */
const PIPELINE = 256;

const SETTINGS = ['servers', 'subject', 'stream', 'create_stream', 'duplicate_window_seconds', 'user', 'password', 'token', 'ca', 'ca_file', 'cert_file', 'key_file', ...TIMEOUT_SETTINGS];

/** `nats://host:port`, `tls://host:port` or `host:port`; credentials go in their own (secret) settings. */
const SERVER = /^(?:(?:nats|tls):\/\/)?[A-Za-z0-9.-]+(?::\d{1,5})?$|^(?:(?:nats|tls):\/\/)?\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;
/** Subject tokens: no spaces, no wildcards (a publish subject is literal); `{ledger}` is filled in. */
const SUBJECT = /^(?:[A-Za-z0-9_$-]+|\{ledger\})(?:\.(?:[A-Za-z0-9_$-]+|\{ledger\}))*$/;
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;

function parseServers(input: Settings): string[] {
  const value = input.servers;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > 16) throw new Error('servers must be a server URL or a list of 1 to 16 of them');
  for (const server of list) {
    if (typeof server === 'string' && server.includes('@')) throw new Error('servers must not contain credentials: set user and password, or token');
    if (typeof server !== 'string' || !SERVER.test(server)) throw new Error('servers must be nats://host:port, tls://host:port or host:port');
  }
  return list as string[];
}

function parseNatsConfig(input: Settings): NatsConfig {
  rejectUnknownSettings(input, SETTINGS, 'nats');
  const config: NatsConfig = {
    servers: parseServers(input),
    subject: stringSetting(input, 'subject', { max: 255, pattern: SUBJECT, expected: 'a NATS subject without wildcards, such as sealtrail.{ledger}' }) ?? 'sealtrail.{ledger}',
    createStream: booleanSetting(input, 'create_stream', false),
    duplicateWindowSeconds: integerSetting(input, 'duplicate_window_seconds', 120, 1, 7 * 86_400),
    ...timeoutSettings(input),
  };
  const stream = stringSetting(input, 'stream', { pattern: STREAM_NAME, expected: 'a JetStream stream name (letters, digits, _ and -)' });
  if (stream !== undefined) config.stream = stream;
  if (config.createStream) {
    if (stream === undefined) throw new Error('create_stream needs stream (the name of the stream to create)');
    if (!config.subject.endsWith('{ledger}') || config.subject.indexOf('{ledger}') !== config.subject.length - 8) {
      throw new Error('create_stream needs {ledger} once, as the subject\'s last token (the stream then captures every ledger)');
    }
  }
  const fields = { user: 'user', password: 'password', token: 'token', cert_file: 'certFile', key_file: 'keyFile' } as const;
  for (const [name, field] of Object.entries(fields)) {
    const value = stringSetting(input, name, { max: 4096 });
    if (value !== undefined) config[field] = value;
  }
  const ca = caSetting(input);
  if (ca !== undefined) config.ca = ca;
  if ((config.user === undefined) !== (config.password === undefined)) throw new Error('user and password go together');
  if (config.token !== undefined && config.user !== undefined) throw new Error('give either token or user and password, not both');
  if ((config.certFile === undefined) !== (config.keyFile === undefined)) throw new Error('cert_file and key_file go together (a client certificate needs its key)');
  return config;
}

export function subjectFor(template: string, ledger: string): string {
  return template.replaceAll('{ledger}', ledger);
}

/** Ledger names may hold dots (more subject tokens, fine) but not empty tokens (`a..b`, a trailing dot). */
function checkedSubject(template: string, ledger: string): string {
  const subject = subjectFor(template, ledger);
  if (subject.split('.').some((token) => token.length === 0)) {
    throw new DeliveryError(`ledger ${ledger} makes ${subject}, which is not a NATS subject (an empty token)`, true);
  }
  return subject;
}

interface Message {
  id: string;
  payload: string;
  headers: MsgHdrs;
}

function messages(delivery: Delivery, format: NatsFormat): Message[] {
  const events = format === 'cloudevents' ? deliveryEvents(delivery, 'json', '/sealtrail') : undefined;
  let previous = delivery.previous ?? null;
  const last = delivery.records.length - 1;
  return delivery.records.map((record, i) => {
    const h = headers();
    h.set('Sealtrail-Ledger', record.ledger);
    h.set('Sealtrail-Index', String(record.index));
    h.set('Sealtrail-Leaf-Hash', record.leaf_hash);
    h.set('Sealtrail-Previous-Index', previous === null ? '-' : String(previous));
    if (i === last) {
      h.set('Sealtrail-Checkpoint', Buffer.from(delivery.checkpoint.note, 'utf8').toString('base64'));
      h.set('Sealtrail-Checkpoint-Size', String(delivery.checkpoint.size));
    }
    h.set('Content-Type', format === 'cloudevents' ? 'application/cloudevents+json' : 'application/json');
    const payload = events ? JSON.stringify(events[i]) : recordLine(record, previous, format as 'json' | 'ocsf');
    previous = record.index;
    return { id: `${record.ledger}:${record.index}`, payload, headers: h };
  });
}

/** What went wrong with a publish, in an operator's words (the library's errors never hold credentials). */
function publishError(error: unknown, subject: string): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const name = (error as { name?: string } | undefined)?.name;
  // The client reports a subject nobody answers for as "jetstream is not enabled" (no responders).
  if (name === 'JetStreamNotEnabled' || name === 'NoRespondersError') {
    return new DeliveryError(`no JetStream stream captures subject ${subject} (or JetStream is not enabled on the server): create one, or set stream and create_stream`);
  }
  if (name === 'TimeoutError') return new DeliveryError(`JetStream did not acknowledge a message on ${subject} in time`);
  return new DeliveryError(`publishing to ${subject}: ${error instanceof Error ? error.message : String(error)}`);
}

class NatsTarget implements Target {
  private connection: NatsConnection | undefined;
  private client: JetStreamClient | undefined;
  private readonly receiver: string;

  constructor(
    private readonly config: NatsConfig,
    private readonly format: NatsFormat,
  ) {
    this.receiver = `NATS server ${config.servers.join(', ')}`;
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const subject = checkedSubject(this.config.subject, delivery.ledger);
    const client = await this.connected(signal);
    const batch = messages(delivery, this.format);
    const maxPayload = this.connection?.info?.max_payload;
    for (const message of batch) {
      const size = Buffer.byteLength(message.payload);
      if (maxPayload !== undefined && size > maxPayload) {
        throw new DeliveryError(`record ${message.id} is ${size} bytes, more than the server's max_payload of ${maxPayload}`, true);
      }
    }
    const deadline = withDeadline(signal, this.config.writeTimeoutMs);
    const step = `publishing ${batch.length} message(s) to ${subject}`;
    await raceAbort(this.publishAll(client, subject, batch), deadline, () => abortedError(deadline, step, this.config.writeTimeoutMs));
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.client = undefined;
    if (connection && !connection.isClosed()) await connection.close();
  }

  private async publishAll(client: JetStreamClient, subject: string, batch: Message[]): Promise<void> {
    const inFlight: Array<Promise<PubAck>> = [];
    const timeout = this.config.writeTimeoutMs;
    try {
      for (const message of batch) {
        if (inFlight.length >= PIPELINE) this.checkAck(await inFlight.shift()!);
        inFlight.push(client.publish(subject, message.payload, { msgID: message.id, headers: message.headers, timeout }));
      }
      for (const ack of await Promise.all(inFlight)) this.checkAck(ack);
    } catch (error) {
      // Later publishes may fail too; their rejections are this one's consequence.
      for (const pending of inFlight) pending.catch(() => {});
      throw publishError(error, subject);
    }
  }

  private checkAck(ack: PubAck): void {
    const expected = this.config.stream;
    if (expected !== undefined && ack.stream !== expected) {
      throw new DeliveryError(`the message was stored by stream ${ack.stream}, not by ${expected}: another stream captures the subject`);
    }
  }

  private async connected(signal: AbortSignal): Promise<JetStreamClient> {
    if (this.client && this.connection && !this.connection.isClosed()) return this.client;
    const deadline = withDeadline(signal, this.config.connectTimeoutMs);
    const step = `connecting to ${this.receiver}`;
    const opening = this.open();
    const connection = await raceAbort(opening, deadline, () => abortedError(deadline, step, this.config.connectTimeoutMs)).catch((error: unknown) => {
      // A connection that opens after the caller gave up would otherwise live on, reconnecting forever.
      opening.then((late) => late.close(), () => {});
      throw error;
    });
    try {
      if (this.config.stream !== undefined) await raceAbort(this.ensureStream(connection), deadline, () => abortedError(deadline, `checking stream ${this.config.stream}`, this.config.connectTimeoutMs));
    } catch (error) {
      await connection.close().catch(() => {});
      throw error;
    }
    this.connection = connection;
    this.client = jetstream(connection, { timeout: this.config.writeTimeoutMs });
    return this.client;
  }

  private async open(): Promise<NatsConnection> {
    const { config } = this;
    const ca = await caCertificates(config.ca);
    const tls = ca !== undefined || config.certFile !== undefined || config.servers.some((s) => s.startsWith('tls://'))
      ? {
          ...(ca !== undefined ? { ca: ca.toString('utf8') } : {}),
          ...(config.certFile !== undefined ? { cert: (await readSettingFile(config.certFile, 'cert_file')).toString('utf8') } : {}),
          ...(config.keyFile !== undefined ? { key: (await readSettingFile(config.keyFile, 'key_file')).toString('utf8') } : {}),
        }
      : undefined;
    try {
      return await connect({
        servers: config.servers,
        timeout: config.connectTimeoutMs,
        name: 'sealtrail-sink',
        // Once connected the client reconnects by itself, and buffers publishes meanwhile; a publish
        // that is not acknowledged within writeTimeoutMs fails the delivery, which is then retried.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        ...(config.user !== undefined ? { user: config.user, pass: config.password } : {}),
        ...(config.token !== undefined ? { token: config.token } : {}),
        ...(tls ? { tls } : {}),
      });
    } catch (error) {
      const name = (error as { name?: string })?.name;
      if (name === 'AuthorizationError' || /authorization/i.test((error as Error)?.message ?? '')) {
        throw new DeliveryError(`${this.receiver} refused the credentials (authorization violation)`);
      }
      if ((error as Error)?.message === 'connection refused') throw new DeliveryError(`${this.receiver} refused the connection (nothing listens there?)`);
      throw new DeliveryError(describeConnectError(error, this.receiver));
    }
  }

  private async ensureStream(connection: NatsConnection): Promise<void> {
    const name = this.config.stream!;
    const manager = await jetstreamManager(connection, { timeout: this.config.connectTimeoutMs });
    try {
      await manager.streams.info(name);
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw publishError(error, this.config.subject);
    }
    if (!this.config.createStream) throw new DeliveryError(`JetStream stream ${name} does not exist: create it, or set create_stream`);
    await manager.streams.add({
      name,
      subjects: [subjectFor(this.config.subject, '>')],
      duplicate_window: this.config.duplicateWindowSeconds * 1_000_000_000,
    });
  }
}

export const natsKind: TargetKind<NatsConfig> = {
  type: 'nats',
  formats: ['json', 'ocsf', 'cloudevents'],
  secretFields: ['password', 'token'],
  parseConfig: parseNatsConfig,
  create: (config, format) => new NatsTarget(config, choiceSetting({ format }, 'format', ['json', 'ocsf', 'cloudevents'] as const, 'json')),
};
