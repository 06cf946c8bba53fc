/**
 * Debian's rsyslogd as the receiver of the syslog target tests: started in the foreground with its own
 * configuration and work directory, imtcp on a free port (with the gtls driver for TLS), writing each
 * message's raw text (`%rawmsg%`, framing removed) as one line of a file. Also: a test PKI made with
 * openssl, and a parser of RFC 5424 messages to read that file back.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort } from './targets-fixtures.js';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

export interface RsyslogTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** anon: any client; x509/certvalid: the client must present a certificate the CA issued. */
  authMode: 'anon' | 'x509/certvalid';
}

export interface Rsyslog {
  port: number;
  outFile: string;
  /** The raw messages received so far, one per line. */
  messages(): string[];
  stop(): Promise<void>;
  /** Starts again on the same port, appending to the same file. */
  start(): Promise<void>;
}

export async function startRsyslog(options: { tls?: RsyslogTls; port?: number } = {}): Promise<Rsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-rsyslog-'));
  const port = options.port ?? (await freePort());
  const outFile = join(dir, 'received.log');
  const tls = options.tls;
  const driver = tls
    ? `global(DefaultNetstreamDriverCAFile="${tls.caFile}" DefaultNetstreamDriverCertFile="${tls.certFile}" DefaultNetstreamDriverKeyFile="${tls.keyFile}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.Authmode="${tls.authMode}")`
    : 'module(load="imtcp")';
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${dir}" maxMessageSize="64k")
${driver}
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="received") { action(type="omfile" file="${outFile}" template="raw" flushOnTXEnd="on" asyncWriting="off") }
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="received")
`,
  );
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    log = '';
    const proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await eventually(() => (proc.exitCode !== null ? Promise.reject(new Error(`rsyslogd exited: ${log}`)) : listening(port)), 10_000, `rsyslogd on port ${port}`);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    outFile,
    messages: () => (existsSync(outFile) ? readFileSync(outFile, 'utf8').split('\n').filter((line) => line.length > 0) : []),
    stop,
    start,
  };
}

function listening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

export interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that issued nothing here: trusting only it, the server's certificate does not verify. */
  otherCaFile: string;
}

function openssl(args: string[], cwd: string): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
}

function issue(dir: string, name: string, subject: string, ca: string, extensions: string): void {
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.pem`, '-extfile', `${name}.ext`], dir);
}

function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'server', '/CN=localhost', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  issue(dir, 'client', '/CN=sealtrail-sink', 'ca', 'extendedKeyUsage=clientAuth\n');
  const at = (file: string) => join(dir, file);
  return { caFile: at('ca.pem'), serverCert: at('server.pem'), serverKey: at('server.key'), clientCert: at('client.pem'), clientKey: at('client.key'), otherCaFile: at('other-ca.pem') };
}

export interface ParsedSyslog {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  msgid: string;
  /** SD-ID → PARAM-NAME → value, unescaped (RFC 5424 §6.3.3, and sealtrail's `\n`/`\r`). */
  sd: Record<string, Record<string, string>>;
  msg: string;
}

/** A strict RFC 5424 reader: throws on anything malformed, so a broken message fails the test. */
export function parseSyslog(message: string): ParsedSyslog {
  const header = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(message);
  if (!header) throw new Error(`not an RFC 5424 header: ${message.slice(0, 80)}`);
  let at = header[0].length;
  const sd: ParsedSyslog['sd'] = {};
  if (message[at] === '-') at++;
  while (message[at] === '[') {
    const id = /^\[([^ =\]"]{1,32})/.exec(message.slice(at));
    if (!id) throw new Error(`bad SD-ID at ${at}`);
    at += id[0].length;
    const params: Record<string, string> = {};
    while (message[at] === ' ') {
      const name = /^ ([^ =\]"]{1,32})="/.exec(message.slice(at));
      if (!name) throw new Error(`bad SD-PARAM at ${at}`);
      at += name[0].length;
      let value = '';
      for (;;) {
        const c = message[at++];
        if (c === undefined) throw new Error('unterminated PARAM-VALUE');
        if (c === '"') break;
        const next = message[at];
        if (c !== '\\') value += c;
        else if (next === '"' || next === '\\' || next === ']') value += message[at++];
        // sealtrail writes line breaks as \n and \r (docs/EXPORT.md); a real backslash is always doubled.
        else if (next === 'n' || next === 'r') value += message[at++] === 'n' ? '\n' : '\r';
        else value += c;
      }
      params[name[1]!] = value;
    }
    if (message[at] !== ']') throw new Error(`SD-ELEMENT not closed at ${at}`);
    at++;
    sd[id[1]!] = params;
  }
  const rest = message.slice(at);
  if (rest.length > 0 && !rest.startsWith(' ')) throw new Error('no space before MSG');
  return { pri: Number(header[1]), timestamp: header[2]!, hostname: header[3]!, appName: header[4]!, msgid: header[6]!, sd, msg: rest.slice(1).replace(/^\ufeff/, '') };
}
