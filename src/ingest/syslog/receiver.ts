/**
 * The syslog receiver: TCP (RFC 6587 framing) and TLS (RFC 5425) listeners whose messages are sealed
 * as audit events in one ledger, appended in batches under the writer id `sealtrail-syslog`
 * (SYSLOG_WRITER), so that the ledger says which events arrived by syslog rather than from an API key.
 *
 * Bounded everywhere: message size (framing.ts), concurrent connections, idle connections, and the
 * queue of parsed events waiting to be sealed — when it is full every connection is paused, so TCP
 * pushes back on the senders (rsyslog and syslog-ng queue on their side) instead of this process
 * growing. A batch the store refuses for a passing reason is retried with backoff, input paused.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { AppendRequest, Store } from '../../store/store.js';
import { eventIdKey } from '../../store/idempotency.js';
import { SyslogFramer } from './framing.js';
import { parseSyslog } from './message.js';
import { syslogEvent } from './events.js';

export const SYSLOG_WRITER = 'sealtrail-syslog';

export interface SyslogReceiverOptions {
  store: Store;
  ledger: string;
  maxMessageBytes?: number;
  maxConnections?: number;
  /** A connection that sends nothing for this long is closed. */
  idleTimeoutMs?: number;
  /** Events per append. */
  batchSize?: number;
  /** How long the first queued event waits for others before its batch is sealed. */
  flushDelayMs?: number;
  /** Parsed events waiting to be sealed before input is paused. */
  maxQueued?: number;
  log?: { warn(message: string): void; error(message: string): void };
}

export interface SyslogStats {
  received: number;
  sealed: number;
  truncated: number;
  framingErrors: number;
  connections: number;
}

export class SyslogReceiver {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private queue: AppendRequest[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private paused = false;
  private closed = false;
  private readonly stats: SyslogStats = { received: 0, sealed: 0, truncated: 0, framingErrors: 0, connections: 0 };
  private readonly options: Required<Omit<SyslogReceiverOptions, 'log'>> & Pick<SyslogReceiverOptions, 'log'>;

  constructor(options: SyslogReceiverOptions) {
    this.options = {
      maxMessageBytes: 64 * 1024,
      maxConnections: 256,
      idleTimeoutMs: 300_000,
      batchSize: 1000,
      flushDelayMs: 20,
      maxQueued: 20_000,
      ...options,
    };
  }

  /** Creates the ledger if it does not exist yet. */
  async start(): Promise<void> {
    await this.options.store.createLedger(this.options.ledger);
  }

  listenTcp(host: string, port: number): Promise<{ host: string; port: number }> {
    return this.listen(createServer((socket) => this.accept(socket)), host, port);
  }

  /** RFC 5425: TLS 1.2 or later, the server's certificate; client certificates are not asked for. */
  listenTls(host: string, port: number, tls: { cert: string | Buffer; key: string | Buffer }): Promise<{ host: string; port: number }> {
    const server = createTlsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, (socket) => this.accept(socket));
    server.on('tlsClientError', () => {});
    return this.listen(server, host, port);
  }

  status(): SyslogStats {
    return { ...this.stats, connections: this.sockets.size };
  }

  /** Stops listening, closes connections and seals what was already received. */
  async close(): Promise<void> {
    this.closed = true;
    for (const server of this.servers) server.close();
    for (const socket of this.sockets) socket.destroy();
    clearTimeout(this.timer);
    while (this.queue.length > 0 || this.flushing) await (this.flushing ?? this.flush());
  }

  private listen(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
    server.maxConnections = this.options.maxConnections;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? { host: address.address, port: address.port } : { host, port });
      });
    });
  }

  private accept(socket: Socket): void {
    if (this.closed) return void socket.destroy();
    this.sockets.add(socket);
    const framer = new SyslogFramer(this.options.maxMessageBytes);
    const peer = socket.remoteAddress?.replace(/^::ffff:/, '');
    socket.setTimeout(this.options.idleTimeoutMs, () => socket.destroy());
    if (this.paused) socket.pause();
    socket.on('data', (chunk: Buffer) => {
      for (const text of framer.push(chunk)) this.receive(text, peer);
      if (framer.error) {
        this.stats.framingErrors++;
        this.options.log?.warn(`syslog: closing connection from ${peer}: ${framer.error.message}`);
        socket.destroy();
      }
    });
    socket.on('end', () => {
      for (const text of framer.end()) this.receive(text, peer);
      socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.stats.truncated += framer.truncated;
      this.sockets.delete(socket);
    });
  }

  private receive(text: string, peer: string | undefined): void {
    this.stats.received++;
    const event = syslogEvent(parseSyslog(text), peer);
    this.queue.push({ event, writer: SYSLOG_WRITER, ...(event.id ? { idempotencyKey: eventIdKey(event.id) } : {}) });
    if (this.queue.length >= this.options.maxQueued) this.setPaused(true);
    if (this.queue.length >= this.options.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushDelayMs);
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    for (const socket of this.sockets) {
      if (paused) socket.pause();
      else socket.resume();
    }
  }

  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0 && !this.closed) this.timer ??= setTimeout(() => void this.flush(), this.options.flushDelayMs);
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    let backoff = 100;
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.options.batchSize);
      try {
        await this.options.store.append(this.options.ledger, batch);
        this.queue.splice(0, batch.length);
        this.stats.sealed += batch.length;
        backoff = 100;
        if (this.queue.length < this.options.maxQueued / 2) this.setPaused(false);
      } catch (error) {
        // Events are validated before they are queued: a refusal is the store's (overloaded, being
        // verified, unreachable). Hold input and retry rather than lose what the senders handed over.
        this.setPaused(true);
        this.options.log?.error(`syslog: sealing ${batch.length} events in ${this.options.ledger} failed (${(error as Error).message}); retrying in ${backoff} ms`);
        if (this.closed && backoff > 2000) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}

/** "HOST:PORT" or "[IPv6]:PORT" of a listen flag. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new Error(`${JSON.stringify(text)} is not HOST:PORT`);
  return { host: (match[1] ?? match[2])!, port };
}
