/**
 * ArcSight Common Event Format (CEF) version 0, one event per line:
 *
 *   CEF:0|sealtrail|sealtrail|0.1.0|<action>|<action> <outcome>|<severity 0-10>|<extension>
 *
 * Header fields escape `\` as `\\` and `|` as `\|`; a CR or LF in a header field becomes a space (the
 * header has no newline escape). Extension values escape `\` as `\\`, `=` as `\=`, LF as `\n` and CR as
 * `\r` (a `|` needs no escape there). Other control characters (C0 but TAB, DEL, C1) are replaced by
 * U+FFFD in both: CEF has no escape for them and they would reach terminals and SIEM consoles raw.
 * Extension keys come only from the CEF key dictionary; the mapping is in docs/EXPORT.md and in
 * cefExtension below. A field removed after sealing is left out and listed in cs6 ("redacted").
 */
import { controlSafeJson, eventLevel, PRODUCT, redactedList, type ExportRecord, type Level } from './record.js';
import { escapeChars } from './escape.js';

export const CEF_CONTENT_TYPE = 'text/plain; charset=utf-8';

/** CEF severity 0–10: 3 (low) for successes, 5 (medium) for failures, 7 (high) for auth/admin failures. */
const CEF_SEVERITY: Record<Level, number> = { info: 3, low: 5, medium: 7 };

/** `\` → `\\`, `|` → `\|`, CR/LF → space, other controls → U+FFFD. */
export function cefHeaderEscape(value: string): string {
  return escapeChars(value, (c) => (c === 0x5c ? '\\\\' : c === 0x7c ? '\\|' : c === 0x0a || c === 0x0d ? ' ' : undefined));
}

/** `\` → `\\`, `=` → `\=`, LF → `\n`, CR → `\r`, other controls → U+FFFD. */
export function cefValueEscape(value: string): string {
  return escapeChars(value, (c) => (c === 0x5c ? '\\\\' : c === 0x3d ? '\\=' : c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : undefined));
}

type Json = Record<string, unknown>;

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Milliseconds since the epoch of an RFC 3339 time (CEF accepts epoch milliseconds for time keys). */
function millis(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The extension's key/value pairs, in a fixed order. */
export function cefExtension(record: ExportRecord): Array<[string, string]> {
  const e = record.event;
  const actor = (e.actor ?? {}) as Json;
  const origin = (e.origin ?? {}) as Json;
  const pairs: Array<[string, string]> = [];
  const add = (key: string, value: string | number | undefined) => {
    if (value !== undefined) pairs.push([key, String(value)]);
  };
  add('rt', millis(record.received_at));
  add('start', millis(e.occurred_at));
  add('externalId', str(e.id));
  add('cn1', record.index);
  add('cn1Label', 'index');
  add('act', str(e.action));
  add('cat', str(e.category));
  add('outcome', str(e.outcome));
  add('reason', str(e.outcome_reason));
  add('suid', str(actor.id));
  add('suser', str(actor.name) ?? str(actor.id));
  const ip = str(origin.ip);
  // CEF's src is an IPv4 address; IPv6 goes to the dictionary's IPv6 custom field c6a2 ("Source IPv6 Address").
  if (ip !== undefined && ip.includes(':')) {
    add('c6a2', ip);
    add('c6a2Label', 'Source IPv6 Address');
  } else add('src', ip);
  add('requestClientApplication', str(origin.user_agent));
  add('cs1', str(e.tenant));
  if (e.tenant !== undefined) add('cs1Label', 'tenant');
  add('cs2', record.ledger);
  add('cs2Label', 'ledger');
  add('cs3', record.writer);
  add('cs3Label', 'writer');
  add('cs4', record.leaf_hash);
  add('cs4Label', 'leafHash');
  const details = detailsJson(e);
  if (details !== undefined) {
    add('cs5', details);
    add('cs5Label', 'details');
  }
  if (record.redacted) {
    add('cs6', redactedList(record.redacted, ','));
    add('cs6Label', 'redacted');
  }
  return pairs;
}

/**
 * The event's fields without a key of their own, as JSON: actor type, display name, e-mail and session,
 * device id, targets and metadata.
 */
function detailsJson(e: Json): string | undefined {
  const actor = (e.actor ?? {}) as Json;
  const origin = (e.origin ?? {}) as Json;
  const details: Json = {};
  if (actor.type !== undefined) details.actor_type = actor.type;
  if (actor.name !== undefined) details.actor_name = actor.name;
  if (actor.email !== undefined) details.actor_email = actor.email;
  if (actor.session_id !== undefined) details.session_id = actor.session_id;
  if (origin.device_id !== undefined) details.device_id = origin.device_id;
  if (e.targets !== undefined) details.targets = e.targets;
  if (e.metadata !== undefined) details.metadata = e.metadata;
  for (const _ in details) return controlSafeJson(details);
  return undefined;
}

export function formatCefLine(record: ExportRecord): string {
  const action = str(record.event.action) ?? 'unknown';
  const outcome = str(record.event.outcome) ?? 'unknown';
  const header = [
    'CEF:0',
    cefHeaderEscape(PRODUCT.vendor),
    cefHeaderEscape(PRODUCT.name),
    cefHeaderEscape(PRODUCT.version),
    cefHeaderEscape(action),
    cefHeaderEscape(`${action} ${outcome}`),
    String(CEF_SEVERITY[eventLevel(record.event)]),
  ].join('|');
  let extension = '';
  for (const [key, value] of cefExtension(record)) extension += `${extension ? ' ' : ''}${key}=${cefValueEscape(value)}`;
  return `${header}|${extension}\n`;
}
