/**
 * Syslog messages → audit events. The messages people forward most for audit — sshd logins, sudo, su,
 * Linux auditd USER_LOGIN/USER_AUTH records — become events with an actor, an action, an outcome and the
 * origin IP (docs/INGEST.md, "Syslog", has the table); any other message is kept as a generic
 * `syslog.message` event with its text, so nothing forwarded is lost.
 */
import { validateEvent, type AuditEvent } from '../../core/event.js';
import { isIPv4, isIPv6 } from '../../core/ip.js';
import { identifierFrom, textFrom, truncate, withMetadata } from '../bounded.js';
import type { SyslogMessage } from './message.js';

type Recognized = Pick<AuditEvent, 'actor' | 'action' | 'category' | 'outcome'> & Partial<Pick<AuditEvent, 'id' | 'outcome_reason' | 'targets' | 'origin' | 'occurred_at'>> & {
  details?: Record<string, unknown>;
};

const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'ntp', 'audit', 'alert', 'clock', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

const ip = (text: string | undefined) => (text !== undefined && (isIPv4(text) || isIPv6(text)) ? text : undefined);
const user = (id: string | undefined) => ({ type: 'user' as const, id: identifierFrom(id) ?? 'unknown' });

// sshd(8) as OpenSSH logs them (auth.c, auth2.c).
const SSHD_AUTH = /^(Accepted|Failed) (password|publickey|keyboard-interactive\/pam|keyboard-interactive|hostbased|gssapi-with-mic|none) for (invalid user )?(\S+) from (\S+) port (\d+)(?: ssh2)?(?:: (.*))?$/;
const SSHD_INVALID = /^Invalid user (\S*) from (\S+)(?: port (\d+))?$/;

function sshd(text: string): Recognized | undefined {
  const auth = SSHD_AUTH.exec(text);
  if (auth) {
    const [, result, method, invalid, name, from, port, key] = auth;
    const success = result === 'Accepted';
    return {
      actor: user(name),
      action: 'auth.login',
      category: 'auth',
      outcome: success ? 'success' : 'failure',
      ...(success ? {} : { outcome_reason: invalid ? 'invalid user' : `wrong ${method}` }),
      ...(ip(from) ? { origin: { ip: from! } } : {}),
      details: { 'ssh.method': method, 'source.port': Number(port), ...(key ? { 'ssh.key': key } : {}), ...(invalid ? { 'user.invalid': true } : {}) },
    };
  }
  const invalid = SSHD_INVALID.exec(text);
  if (invalid) {
    return {
      actor: user(invalid[1] || '(empty)'),
      action: 'auth.login',
      category: 'auth',
      outcome: 'failure',
      outcome_reason: 'invalid user',
      ...(ip(invalid[2]) ? { origin: { ip: invalid[2]! } } : {}),
      details: { 'user.invalid': true, ...(invalid[3] ? { 'source.port': Number(invalid[3]) } : {}) },
    };
  }
  return undefined;
}

// sudo(8)'s log line: "USER : [problem ; ]TTY=… ; PWD=… ; USER=… ; COMMAND=…".
function sudo(text: string): Recognized | undefined {
  const match = /^\s*(\S+) : (.*)$/.exec(text);
  if (!match) return undefined;
  const fields: Record<string, string> = {};
  const problems: string[] = [];
  for (const part of match[2]!.split(' ; ')) {
    const kv = /^([A-Z]+)=(.*)$/.exec(part);
    if (kv) fields[kv[1]!] = kv[2]!;
    else problems.push(part.trim());
  }
  if (fields.COMMAND === undefined && problems.length === 0) return undefined;
  const runAs = fields.USER ?? 'root';
  return {
    actor: user(match[1]),
    action: 'sudo.command',
    category: 'execute',
    outcome: problems.length === 0 ? 'success' : 'failure',
    ...(problems.length ? { outcome_reason: textFrom(problems.join('; '))! } : {}),
    targets: [{ type: 'user', id: identifierFrom(runAs) ?? 'root' }],
    details: { ...(fields.COMMAND ? { 'process.command_line': fields.COMMAND } : {}), ...(fields.TTY ? { tty: fields.TTY } : {}), ...(fields.PWD ? { 'process.working_directory': fields.PWD } : {}) },
  };
}

// su(1): util-linux/shadow "(to root) alice on pts/0", "FAILED SU (to root) alice on pts/0", and pam_unix's lines.
function su(text: string): Recognized | undefined {
  const plain = /^(FAILED SU )?\(to (\S+)\) (\S+) on (\S+)$/.exec(text);
  if (plain) return suEvent(plain[3], plain[2], !plain[1], plain[1] ? 'authentication failure' : undefined, { tty: plain[4] });
  const opened = /^pam_unix\(su(?:-l)?:session\): session opened for user ([^\s(]+)(?:\(uid=\d+\))? by ([^\s(]*)(?:\(uid=\d+\))?$/.exec(text);
  if (opened) return suEvent(opened[2] || 'unknown', opened[1], true, undefined, {});
  const failed = /^pam_unix\(su(?:-l)?:auth\): authentication failure; (.*)$/.exec(text);
  if (failed) {
    const kv = keyValues(failed[1]!);
    return suEvent(kv.ruser || kv.logname || 'unknown', kv.user || 'root', false, 'authentication failure', kv.tty ? { tty: kv.tty } : {});
  }
  return undefined;
}

function suEvent(actor: string | undefined, target: string | undefined, success: boolean, reason: string | undefined, details: Record<string, unknown>): Recognized {
  return {
    actor: user(actor),
    action: 'su.session',
    category: 'auth',
    outcome: success ? 'success' : 'failure',
    ...(reason ? { outcome_reason: reason } : {}),
    targets: [{ type: 'user', id: identifierFrom(target) ?? 'root' }],
    details,
  };
}

/**
 * auditd key=value records. Untrusted strings are either quoted or, when they hold spaces or controls,
 * written as hex (auditd's "encoded" fields): an unquoted acct is always hex, except `?`.
 */
function keyValues(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const m of text.matchAll(/([a-zA-Z_][\w-]*)=("[^"]*"|'[^']*'|\S*)/g)) {
    const raw = m[2]!;
    out[m[1]!] = raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1) : raw;
  }
  return { ...out };
}

function auditHex(raw: string | undefined, quoted: boolean): string | undefined {
  if (raw === undefined || raw === '?' || raw === '(unknown)') return undefined;
  if (quoted || !/^(?:[0-9A-Fa-f]{2})+$/.test(raw)) return raw;
  return Buffer.from(raw, 'hex').toString('utf8');
}

const AUDIT = /^(?:node=(\S+) )?type=(USER_LOGIN|USER_AUTH) msg=audit\((\d+)\.(\d{3}):(\d+)\): (.*)$/;

function auditd(text: string, host: string | undefined): Recognized | undefined {
  const match = AUDIT.exec(text);
  if (!match) return undefined;
  const [, node, type, seconds, millis, serial, body] = match as unknown as [string, string | undefined, string, string, string, string, string];
  // The interesting fields sit in the inner msg='…' that PAM and login programs write.
  const inner = /msg='([^']*)'/.exec(body);
  const fields = { ...keyValues(body), ...(inner ? keyValues(inner[1]!) : {}) };
  const acctQuoted = /acct="/.test(inner?.[1] ?? body);
  const account = auditHex(fields.acct, acctQuoted) ?? (fields.id && fields.id !== 'unset' ? `uid:${fields.id}` : undefined) ?? (fields.auid && fields.auid !== '4294967295' ? `uid:${fields.auid}` : undefined);
  const success = fields.res === 'success' || fields.res === 'yes' || fields.res === '1';
  const time = new Date(Number(seconds) * 1000 + Number(millis)).toISOString();
  return {
    // Audit records carry their own identity: the event time and serial number on a node.
    id: truncate(`auditd:${node ?? host ?? '-'}:${seconds}.${millis}:${serial}:${type}`, 128),
    actor: user(account ?? 'unknown'),
    action: type === 'USER_LOGIN' ? 'auth.login' : 'auth.authenticate',
    category: 'auth',
    outcome: success ? 'success' : 'failure',
    ...(success ? {} : { outcome_reason: `res=${fields.res ?? '?'}` }),
    ...(ip(fields.addr) ? { origin: { ip: fields.addr! } } : {}),
    occurred_at: time,
    details: {
      'audit.type': type,
      'audit.serial': Number(serial),
      ...(fields.op ? { 'audit.op': fields.op } : {}),
      ...(fields.exe ? { 'process.executable': auditHex(fields.exe, /exe="/.test(body)) } : {}),
      ...(fields.terminal ? { terminal: fields.terminal } : {}),
      ...(fields.hostname && fields.hostname !== '?' ? { 'source.hostname': fields.hostname } : {}),
      ...(fields.pid ? { 'process.pid': Number(fields.pid) } : {}),
      ...(fields.uid ? { 'user.uid': fields.uid } : {}),
    },
  };
}

/** Which parser reads a message: by its program name, and auditd by its content (audisp forwards under several names). */
function recognize(message: SyslogMessage): Recognized | undefined {
  const app = (message.appName ?? '').toLowerCase();
  const text = message.message.trim();
  return (
    auditd(text, message.hostname) ??
    (app === 'sshd' || app.startsWith('sshd-') ? sshd(text) : undefined) ??
    (app === 'sudo' ? sudo(text) : undefined) ??
    (app === 'su' || app === 'su-l' ? su(text) : undefined)
  );
}

/** The audit event of one syslog message. Always valid: a generic event when no parser recognizes it. */
export function syslogEvent(message: SyslogMessage, peer: string | undefined): AuditEvent {
  const recognized = recognize(message);
  const { details = {}, ...fields } = recognized ?? {
    actor: { type: 'system' as const, id: identifierFrom(message.hostname) ?? identifierFrom(peer) ?? 'unknown' },
    action: 'syslog.message',
    category: 'other' as const,
    outcome: 'success' as const,
  };
  const base: AuditEvent = {
    ...fields,
    ...(fields.occurred_at === undefined && message.timestamp ? { occurred_at: message.timestamp } : {}),
  };
  const event = withMetadata(base, [
    ['message', message.message],
    ['host.name', message.hostname],
    ['app_name', message.appName],
    ['procid', message.procId],
    ['msgid', message.msgId],
    ['syslog.facility', FACILITIES[message.facility] ?? message.facility],
    ['syslog.severity', SEVERITIES[message.severity]],
    ['syslog.format', message.format],
    ['syslog.peer', peer],
    ...Object.entries(details),
    ...Object.entries(message.structuredData ?? {}).map(([id, params]): [string, unknown] => [`sd.${id}`, params]),
  ].filter((entry): entry is [string, unknown] => entry[1] !== undefined));
  return validateEvent(event);
}
