/**
 * Syslog target: RFC 5424 messages over one persistent TCP connection (RFC 6587 framing: octet counting
 * by default, non-transparent LF framing as an option) or TLS (RFC 5425: octet counting, the server's
 * certificate always verified, a client certificate optional).
 *
 * Each message is the export's RFC 5424 line (src/core/export/syslog.ts), whose `seal@PEN` element
 * carries ledger, index, leaf hash and writer; `[chain@PEN previous="N"]` the index this sink delivered
 * before it (`-` where a chain starts). The last message of every delivery also carries
 * `[checkpoint@PEN size="N" note="…"]`: the signed checkpoint covering the batch (its line breaks written
 * `\n`, as every PARAM-VALUE is), so a receiver can prove what it got. Format `cef` keeps the RFC 5424
 * header and the seal and checkpoint elements and sends the CEF line as MSG.
 *
 * Syslog has no application-level acknowledgement: a delivery counts as done once its bytes are flushed
 * to the kernel's socket buffer. That proves neither receipt nor storage — a receiver that dies, or
 * closes the connection, with bytes still in flight loses them silently — so the target drops the
 * connection as soon as the peer closes or errors and reconnects on the next delivery, which narrows the
 * window to what was in flight at that moment. docs/STREAMS.md says what a receiver should do about it.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { checkServerIdentity, connect as connectTls, type PeerCertificate } from 'node:tls';
import { formatCefLine } from '../../core/export/cef.js';
import { DOCUMENTATION_PEN, formatSyslogLine, isEnterpriseNumber, MAX_ENTERPRISE_NUMBER, sdValueEscape } from '../../core/export/syslog.js';
import { DeliveryError, type Delivery, type StreamRecord, type Target, type TargetKind } from '../target.js';
import {
  abortedError,
  caCertificates,
  caSetting,
  choiceSetting,
  describeConnectError,
  HOST_PATTERN,
  integerSetting,
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

export type SyslogFraming = 'octet-counting' | 'non-transparent';

export interface SyslogConfig extends Timeouts {
  host: string;
  port: number;
  transport: 'tcp' | 'tls';
  framing: SyslogFraming;
  /** TLS only: the CA that issued the receiver's certificate; our certificate and key (PEM files). */
  ca?: CaSource;
  certFile?: string;
  keyFile?: string;
  /** The name the receiver's certificate must carry, when it is not `host`. */
  serverName?: string;
  /** The messages' HOSTNAME field (the deployment's name). */
  hostname?: string;
  enterpriseNumber: number;
}

const SETTINGS = ['host', 'port', 'transport', 'framing', 'ca', 'ca_file', 'cert_file', 'key_file', 'server_name', 'hostname', 'enterprise_number', ...TIMEOUT_SETTINGS];
const TLS_ONLY = { cert_file: 'certFile', key_file: 'keyFile', server_name: 'serverName' } as const;

function parseSyslogConfig(input: Settings): SyslogConfig {
  rejectUnknownSettings(input, SETTINGS, 'syslog');
  const transport = choiceSetting(input, 'transport', ['tcp', 'tls'] as const, 'tcp');
  const framing = choiceSetting(input, 'framing', ['octet-counting', 'non-transparent'] as const, 'octet-counting');
  // RFC 5425 §4.3: over TLS every message is octet-counted; LF framing would be a non-standard stream.
  if (transport === 'tls' && framing !== 'octet-counting') throw new Error('framing must be octet-counting over TLS (RFC 5425)');
  const enterpriseNumber = input.enterprise_number ?? DOCUMENTATION_PEN;
  if (!isEnterpriseNumber(enterpriseNumber)) throw new Error(`enterprise_number must be a whole number from 1 to ${MAX_ENTERPRISE_NUMBER}`);
  const config: SyslogConfig = {
    host: stringSetting(input, 'host', { required: true, max: 253, pattern: HOST_PATTERN, expected: 'a host name or IP address' }),
    // 601 is syslog over TCP (RFC 3195/6587's registered port), 6514 syslog over TLS (RFC 5425).
    port: integerSetting(input, 'port', transport === 'tls' ? 6514 : 601, 1, 65535),
    transport,
    framing,
    enterpriseNumber,
    ...timeoutSettings(input),
  };
  for (const [name, field] of Object.entries(TLS_ONLY)) {
    const value = stringSetting(input, name, { max: 4096 });
    if (value === undefined) continue;
    if (transport !== 'tls') throw new Error(`${name} applies only to transport "tls"`);
    config[field] = value;
  }
  const ca = caSetting(input);
  if (ca !== undefined) {
    if (transport !== 'tls') throw new Error('ca and ca_file apply only to transport "tls"');
    config.ca = ca;
  }
  if ((config.certFile === undefined) !== (config.keyFile === undefined)) throw new Error('cert_file and key_file go together (a client certificate needs its key)');
  const hostname = stringSetting(input, 'hostname', { max: 255, pattern: /^[!-~]+$/, expected: 'printable ASCII without spaces' });
  if (hostname !== undefined) config.hostname = hostname;
  return config;
}

/** Where the STRUCTURED-DATA starts: after the six space-separated header fields, none of which has a space. */
function structuredDataStart(message: string): number {
  let at = -1;
  for (let field = 0; field < 6; field++) {
    at = message.indexOf(' ', at + 1);
    if (at < 0) throw new Error('not an RFC 5424 message');
  }
  return at + 1;
}

/** The end (exclusive) of the SD-ELEMENT starting at `start`: its `]` outside a quoted, escaped value. */
function elementEnd(message: string, start: number): number {
  let quoted = false;
  for (let i = start + 1; i < message.length; i++) {
    const c = message[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ']' && !quoted) return i + 1;
  }
  throw new Error('unterminated SD-ELEMENT');
}

export function checkpointElement(checkpoint: Delivery['checkpoint'], pen: number): string {
  return `[checkpoint@${pen} size="${checkpoint.size}" note="${sdValueEscape(checkpoint.note)}"]`;
}

/**
 * One record as an RFC 5424 message without framing. `extra` (the checkpoint element) goes after the
 * seal element; for `cef`, the event element and text give way to the CEF line.
 */
export function syslogMessage(record: StreamRecord, config: SyslogConfig, format: string, extra = ''): string {
  const line = formatSyslogLine(record, { hostname: config.hostname, enterpriseNumber: config.enterpriseNumber });
  const message = line.slice(0, -1);
  const sdStart = structuredDataStart(message);
  const sealEnd = elementEnd(message, sdStart);
  if (format === 'cef') return `${message.slice(0, sealEnd)}${extra} ${formatCefLine(record).slice(0, -1)}`;
  return `${message.slice(0, sealEnd)}${extra}${message.slice(sealEnd)}`;
}

/** RFC 6587 §3.4.1 / RFC 5425 §4.3: `MSG-LEN SP SYSLOG-MSG`, the length in octets. */
export function frame(message: string, framing: SyslogFraming): string {
  return framing === 'octet-counting' ? `${Buffer.byteLength(message, 'utf8')} ${message}` : `${message}\n`;
}

/** `[chain@PEN previous="N"]`: the index this sink delivered before the record (`-` where a chain starts). */
function chainElement(previous: number | null, pen: number): string {
  return `[chain@${pen} previous="${previous === null ? '-' : previous}"]`;
}

export function deliveryBytes(delivery: Delivery, config: SyslogConfig, format: string): Buffer {
  const last = delivery.records.length - 1;
  const pen = config.enterpriseNumber;
  const checkpoint = checkpointElement(delivery.checkpoint, pen);
  let previous = delivery.previous ?? null;
  const frames = delivery.records.map((record, i) => {
    const extra = chainElement(previous, pen) + (i === last ? checkpoint : '');
    previous = record.index;
    return frame(syslogMessage(record, config, format, extra), config.framing);
  });
  return Buffer.from(frames.join(''), 'utf8');
}

class SyslogTarget implements Target {
  private socket: Socket | undefined;
  private readonly receiver: string;

  constructor(
    private readonly config: SyslogConfig,
    private readonly format: string,
  ) {
    this.receiver = `syslog receiver ${config.host}:${config.port}`;
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const bytes = deliveryBytes(delivery, this.config, this.format);
    const socket = this.socket ?? (await this.open(signal));
    await this.write(socket, bytes, signal);
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private async open(signal: AbortSignal): Promise<Socket> {
    const { config } = this;
    const deadline = withDeadline(signal, config.connectTimeoutMs);
    const socket = config.transport === 'tls' ? await this.connectTls(deadline) : connectTcp({ host: config.host, port: config.port });
    await new Promise<void>((resolve, reject) => {
      const done = (error?: DeliveryError) => {
        deadline.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve();
      };
      const onAbort = () => done(abortedError(deadline, `connecting to ${this.receiver}`, config.connectTimeoutMs));
      const onError = (error: Error) => done(new DeliveryError(describeConnectError(error, this.receiver)));
      if (deadline.aborted) return onAbort();
      deadline.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once(config.transport === 'tls' ? 'secureConnect' : 'connect', () => done());
    });
    this.adopt(socket);
    return socket;
  }

  private async connectTls(signal: AbortSignal): Promise<Socket> {
    const { config } = this;
    const [ca, cert, key] = await Promise.all([
      caCertificates(config.ca),
      config.certFile === undefined ? undefined : readSettingFile(config.certFile, 'cert_file'),
      config.keyFile === undefined ? undefined : readSettingFile(config.keyFile, 'key_file'),
    ]);
    if (signal.aborted) throw abortedError(signal, `connecting to ${this.receiver}`, config.connectTimeoutMs);
    const serverName = config.serverName ?? (/^[\d.]+$|:/.test(config.host) ? undefined : config.host);
    return connectTls({
      host: config.host,
      port: config.port,
      ...(serverName !== undefined ? { servername: serverName } : {}),
      ...(config.serverName !== undefined ? { checkServerIdentity: (_host: string, peer: PeerCertificate) => checkServerIdentity(config.serverName!, peer) } : {}),
      ca,
      cert,
      key,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    });
  }

  /** Keeps the connection for later deliveries, and forgets it the moment the peer closes or fails. */
  private adopt(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const forget = () => {
      if (this.socket === socket) this.socket = undefined;
    };
    socket.on('error', forget);
    socket.on('end', forget);
    socket.on('close', forget);
    // Receivers send nothing on a syslog connection; reading keeps 'end' (a closed peer) observable.
    socket.resume();
  }

  private write(socket: Socket, bytes: Buffer, signal: AbortSignal): Promise<void> {
    const { writeTimeoutMs } = this.config;
    const deadline = withDeadline(signal, writeTimeoutMs);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (error?: DeliveryError) => {
        if (settled) return;
        settled = true;
        deadline.removeEventListener('abort', onAbort);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (!error) return resolve();
        if (this.socket === socket) this.socket = undefined;
        socket.destroy();
        reject(error);
      };
      const onAbort = () => done(abortedError(deadline, `writing to ${this.receiver}`, writeTimeoutMs));
      const onError = (error: Error) => done(new DeliveryError(describeConnectError(error, this.receiver)));
      const onClose = () => done(new DeliveryError(`${this.receiver} closed the connection during the write`));
      if (deadline.aborted) return onAbort();
      deadline.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.write(bytes, (error) => done(error ? new DeliveryError(describeConnectError(error, this.receiver)) : undefined));
    });
  }
}

export const syslogKind: TargetKind<SyslogConfig> = {
  type: 'syslog',
  formats: ['syslog', 'cef'],
  secretFields: [],
  parseConfig: parseSyslogConfig,
  create: (config, format) => new SyslogTarget(config, format),
};
