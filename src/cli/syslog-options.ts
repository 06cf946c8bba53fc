/** `serve --syslog-tcp / --syslog-tls / --syslog-ledger`: the syslog receiver beside the HTTP server. */
import { readFileSync } from 'node:fs';
import type { Store } from '../store/store.js';
import { optionalString, requireString, UsageError, type OptionSpec, type ParsedArgs } from './command.js';
import { parseListenAddress, SyslogReceiver, SYSLOG_WRITER } from '../ingest/syslog/receiver.js';

export const SYSLOG_OPTIONS: Record<string, OptionSpec> = {
  'syslog-tcp': { type: 'string', description: 'Receive syslog (RFC 5424/3164, RFC 6587 framing) over TCP at this address, e.g. 127.0.0.1:6514.', env: 'SEALTRAIL_SYSLOG_TCP', value: 'HOST:PORT' },
  'syslog-tls': { type: 'string', description: 'Receive syslog over TLS (RFC 5425) at this address; the certificate is --syslog-tls-cert, else --tls-cert.', env: 'SEALTRAIL_SYSLOG_TLS', value: 'HOST:PORT' },
  'syslog-tls-cert': { type: 'string', description: 'PEM certificate chain of the syslog TLS listener (with --syslog-tls-key).', env: 'SEALTRAIL_SYSLOG_TLS_CERT', value: 'FILE' },
  'syslog-tls-key': { type: 'string', description: 'PEM private key for --syslog-tls-cert.', env: 'SEALTRAIL_SYSLOG_TLS_KEY', value: 'FILE' },
  'syslog-ledger': { type: 'string', description: `Ledger that syslog messages are sealed in (created if missing), as writer "${SYSLOG_WRITER}".`, env: 'SEALTRAIL_SYSLOG_LEDGER', default: 'syslog', value: 'NAME' },
};

/** Starts the receiver when a syslog listener is asked for; `serverTls` are the HTTP server's PEM files. */
export async function startSyslog(
  args: ParsedArgs,
  store: Store,
  serverTls: { cert: string; key: string } | undefined,
  log: { warn(message: string): void; error(message: string): void },
): Promise<{ receiver: SyslogReceiver; description: string } | undefined> {
  const tcp = optionalString(args, 'syslog-tcp');
  const tls = optionalString(args, 'syslog-tls');
  if (!tcp && !tls) return undefined;
  const ledger = requireString(args, 'syslog-ledger');
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(ledger) || ledger === 'sealtrail-system') throw new UsageError(`--syslog-ledger ${ledger} is not a ledger syslog may write`);
  const certFile = optionalString(args, 'syslog-tls-cert') ?? serverTls?.cert;
  const keyFile = optionalString(args, 'syslog-tls-key') ?? serverTls?.key;
  if (tls && (!certFile || !keyFile)) throw new UsageError('--syslog-tls needs a certificate: --syslog-tls-cert and --syslog-tls-key, or --tls-cert and --tls-key');
  const receiver = new SyslogReceiver({ store, ledger, log });
  await receiver.start();
  const listening: string[] = [];
  try {
    if (tcp) {
      const { host, port } = parseListenAddress(tcp);
      const address = await receiver.listenTcp(host, port);
      listening.push(`tcp ${address.host}:${address.port}`);
    }
    if (tls) {
      const { host, port } = parseListenAddress(tls);
      const address = await receiver.listenTls(host, port, { cert: readFileSync(certFile!), key: readFileSync(keyFile!) });
      listening.push(`tls ${address.host}:${address.port}`);
    }
  } catch (error) {
    await receiver.close();
    throw error;
  }
  return { receiver, description: `${listening.join(', ')} → ledger ${ledger} (writer ${SYSLOG_WRITER})` };
}
