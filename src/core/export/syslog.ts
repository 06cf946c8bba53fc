/**
 * RFC 5424 syslog messages, one per line (LF-terminated, as files and non-transparent framing expect):
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [seal@32473 …][event@32473 …] MSG
 *
 * - PRI = facility × 8 + severity; facility 13 ("log audit", RFC 5424 table 1); severity 6
 *   (informational) for successes, 5 (notice) for failures, 4 (warning) for auth/admin failures.
 * - TIMESTAMP: received_at, RFC 3339 UTC with microseconds (TIME-SECFRAC allows 6 digits).
 * - HOSTNAME: the deployment name (printable ASCII, ≤ 255) or `-`; APP-NAME `sealtrail`; PROCID `-`;
 *   MSGID: the action when it fits (≤ 32 printable ASCII), else `-`.
 * - STRUCTURED-DATA: two elements whose SD-IDs use the private enterprise number 32473, which RFC 5612
 *   reserves for documentation: replace it with your organisation's PEN (option `enterpriseNumber`).
 *   PARAM-NAMEs are 1–32 printable ASCII without `=`, space, `]`, `"`; PARAM-VALUEs escape `"`, `\` and `]`
 *   with a backslash. RFC 5424 has no escape for line breaks, and a raw LF would split the message: LF and
 *   CR are written `\n` and `\r` (a backslash before anything but `"`, `\`, `]` is kept as is by RFC 5424
 *   receivers, and a real backslash is always doubled, so the two cannot be confused). Other control
 *   characters become U+FFFD.
 * - MSG: a short text ("alice file.download success"); prefixed by a UTF-8 BOM when it is not pure ASCII
 *   (MSG-UTF8), left bare otherwise (MSG-ANY).
 */
import { escapeChars } from './escape.js';
import { controlSafeJson, eventLevel, PRODUCT, redactedList, type ExportRecord, type Level } from './record.js';

export const SYSLOG_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** RFC 5424 §6.2.1 facility 13: log audit. */
export const SYSLOG_FACILITY = 13;
/** RFC 5612: the private enterprise number reserved for documentation. */
export const DOCUMENTATION_PEN = 32473;
/** IANA assigns PENs as 32-bit unsigned integers (SNMP sub-identifiers); 0 is reserved. */
export const MAX_ENTERPRISE_NUMBER = 4_294_967_295;

/** Whether `value` can stand after the `@` of an SD-ID: an IANA private enterprise number, 1 to 2^32 − 1. */
export function isEnterpriseNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_ENTERPRISE_NUMBER;
}

const SYSLOG_SEVERITY: Record<Level, number> = { info: 6, low: 5, medium: 4 };

export interface SyslogOptions {
  /** HOSTNAME field: the deployment name. Anything but 1–255 printable ASCII becomes `-`. */
  hostname?: string;
  /** Private enterprise number in the SD-IDs (default 32473, for documentation only). */
  enterpriseNumber?: number;
}

function isPrintUsAscii(text: string, max: number): boolean {
  if (text.length === 0 || text.length > max) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** An SD-NAME (SD-ID or PARAM-NAME): 1–32 printable US-ASCII except `=`, space, `]`, `"`. */
export function isSdName(name: string): boolean {
  return isPrintUsAscii(name, 32) && !/[= \]"]/.test(name);
}

/** PARAM-VALUE escaping (see the module comment). */
export function sdValueEscape(value: string): string {
  return escapeChars(value, (c) =>
    c === 0x22 ? '\\"' : c === 0x5c ? '\\\\' : c === 0x5d ? '\\]' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : undefined,
  );
}

/** MSG text: line breaks as `\n`/`\r` (a backslash is doubled), other controls as U+FFFD. */
function msgEscape(value: string): string {
  return escapeChars(value, (c) => (c === 0x5c ? '\\\\' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : undefined));
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

type Json = Record<string, unknown>;

function element(id: string, params: Array<[string, unknown]>): string {
  let out = `[${id}`;
  for (const [name, value] of params) {
    if (value === undefined || value === null) continue;
    const text = typeof value === 'string' ? value : typeof value === 'object' ? controlSafeJson(value) : String(value);
    out += ` ${name}="${sdValueEscape(text)}"`;
  }
  return `${out}]`;
}

/** The SD-PARAMs of the event element, in a fixed order (docs/EXPORT.md). */
function eventParams(e: Json, record: ExportRecord): Array<[string, unknown]> {
  const actor = (e.actor ?? {}) as Json;
  const origin = (e.origin ?? {}) as Json;
  const params: Array<[string, unknown]> = [
    ['id', e.id],
    ['action', e.action],
    ['category', e.category],
    ['outcome', e.outcome],
    ['reason', e.outcome_reason],
    ['tenant', e.tenant],
    ['occurred_at', e.occurred_at],
    ['actor.type', actor.type],
    ['actor.id', actor.id],
    ['actor.name', actor.name],
    ['actor.email', actor.email],
    ['actor.session_id', actor.session_id],
    ['origin.ip', origin.ip],
    ['origin.user_agent', origin.user_agent],
    ['origin.device_id', origin.device_id],
  ];
  const targets = Array.isArray(e.targets) ? (e.targets as Array<Json | null>) : [];
  targets.forEach((target, i) => {
    if (!target) return;
    params.push([`target.${i}.type`, target.type], [`target.${i}.id`, target.id], [`target.${i}.name`, target.name]);
  });
  if (e.metadata !== undefined) params.push(['metadata', e.metadata]);
  if (record.redacted) params.push(['redacted', redactedList(record.redacted, ',')]);
  return params;
}

export function formatSyslogLine(record: ExportRecord, options: SyslogOptions = {}): string {
  const e = record.event;
  const pen = options.enterpriseNumber ?? DOCUMENTATION_PEN;
  // A bad number would make every SD-ID malformed; the callers validate input, this guards the code.
  if (!isEnterpriseNumber(pen)) throw new RangeError(`the syslog enterprise number must be a whole number from 1 to ${MAX_ENTERPRISE_NUMBER}`);
  const pri = SYSLOG_FACILITY * 8 + SYSLOG_SEVERITY[eventLevel(e)];
  const hostname = options.hostname !== undefined && isPrintUsAscii(options.hostname, 255) ? options.hostname : '-';
  const action = typeof e.action === 'string' ? e.action : undefined;
  const msgid = action !== undefined && isPrintUsAscii(action, 32) ? action : '-';
  const sd =
    element(`seal@${pen}`, [
      ['ledger', record.ledger],
      ['index', record.index],
      ['leaf_hash', record.leaf_hash],
      ['writer', record.writer],
    ]) + element(`event@${pen}`, eventParams(e, record));
  const actorId = (e.actor as Json | undefined)?.id;
  const firstTarget = Array.isArray(e.targets) ? (e.targets as Array<Json | null>).find((t) => t) : undefined;
  const message = [
    typeof actorId === 'string' ? actorId : '-',
    action ?? '-',
    typeof e.outcome === 'string' ? e.outcome : '-',
    ...(firstTarget ? [`on ${String(firstTarget.type)}:${String(firstTarget.id)}`] : []),
  ].join(' ');
  const msg = msgEscape(message);
  return `<${pri}>1 ${record.received_at} ${hostname} ${PRODUCT.name} - ${msgid} ${sd} ${isAscii(msg) ? msg : `\ufeff${msg}`}\n`;
}
