/**
 * The record every export format is written from (docs/EXPORT.md): one sealed entry with its event
 * rebuilt from the disclosures the store still holds, and the list of fields whose values were removed
 * after sealing (GDPR erasure, retention purge). Pure: no I/O, runs in browsers like the rest of core/.
 */
import { formatMicros } from '../time.js';

import type { Redaction } from '../commitments.js';

export interface ExportRecord {
  ledger: string;
  index: number;
  /** RFC 3339 UTC with exactly six fractional digits (the leaf's received_at). */
  received_at: string;
  /** Standard base64 of the RFC 6962 leaf hash. */
  leaf_hash: string;
  /** Id of the API key that submitted the event (from the leaf). */
  writer: string;
  /**
   * The event as far as it is still disclosed. A removed target leaves `null` in its slot (when a later
   * target remains), so that target positions stay those of the sealed event.
   */
  event: Record<string, unknown>;
  /** Field path (`actor.name`, `origin.ip`, `metadata.email`, `targets.0`) → why its value is gone. */
  redacted?: Record<string, Redaction>;
  /**
   * Where origin.ip was placed when the event was indexed (derived, not sealed; gone with origin.ip),
   * with the geolocation data's attribution, which its licence asks to show beside it.
   */
  location?: ExportLocation;
}

/** The store's IpLocation, structurally. */
export interface LocationLike {
  country?: string;
  region?: string;
  city?: string;
  latitude?: number;
  longitude?: number;
  reserved?: string;
}

export interface ExportLocation extends LocationLike {
  /** e.g. "IP Geolocation by DB-IP (https://db-ip.com), licensed under CC BY 4.0". */
  attribution?: string;
}

/** What recordFromEntry needs of a stored entry (structurally the store's StoredEntry or ExportHit). */
export type EntryLike = EntryFields & ({ leaf: Uint8Array } | { writer: string });

interface EntryFields {
  ledger: string;
  index: number;
  receivedAtMicros: number;
  leafHash: Uint8Array;
  disclosures: Record<string, readonly [string, unknown] | [string, unknown]>;
  redactions?: Record<string, string> | undefined;
  /** A search hit's location (SearchHit.location); absent for entries read without the index. */
  location?: LocationLike | undefined;
}

/** The formats an export can be written in. */
export const EXPORT_FORMATS = ['jsonl', 'csv', 'ocsf', 'cef', 'syslog'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(value: unknown): value is ExportFormat {
  return typeof value === 'string' && (EXPORT_FORMATS as readonly string[]).includes(value);
}

/** Product identity written into OCSF metadata, CEF headers and syslog APP-NAME. */
export const PRODUCT = { name: 'sealtrail', vendor: 'sealtrail', version: '0.1.0' } as const;

/** The text a removed value shows where the format has room for text: `[erased]`, `[purged]`. */
export function redactionMarker(kind: Redaction): string {
  return kind === 'purged' ? '[purged]' : '[erased]';
}

/**
 * How serious an event is, shared by the formats that carry a severity (OCSF severity_id, CEF severity,
 * syslog severity): successes are informational; failures are low, and failures of authentication or
 * administration (a refused login, a refused key change) are medium.
 */
export type Level = 'info' | 'low' | 'medium';

export function eventLevel(event: Record<string, unknown>): Level {
  if (event.outcome !== 'failure') return 'info';
  return event.category === 'auth' || event.category === 'admin' ? 'medium' : 'low';
}

/**
 * The writer id from leaf bytes without parsing the leaf. The leaf is RFC 8785 JSON whose last member is
 * always `"writer":"<id>"` (members sorted; see leaf.ts), and writer ids are ASCII without quotes or
 * backslashes, so the id is the bytes between the last two quotes. Falls back to '' if the tail is not
 * of that form (a corrupt leaf is `sealtrail verify`'s business, not the export's).
 */
export function writerFromLeaf(leaf: Uint8Array): string {
  const end = leaf.length - 2; // position of the closing quote, before the final '}'
  if (end < 10 || leaf[end + 1] !== 0x7d || leaf[end] !== 0x22) return '';
  let start = end - 1;
  while (start >= 0 && leaf[start] !== 0x22) start--;
  // `"writer":"` ends at start: check the member name so that another member is never taken for it.
  const name = '"writer":';
  if (start < name.length) return '';
  for (let i = 0; i < name.length; i++) if (leaf[start - name.length + i] !== name.charCodeAt(i)) return '';
  let id = '';
  for (let i = start + 1; i < end; i++) id += String.fromCharCode(leaf[i]!);
  return id;
}

let cachedSecond = -1;
let cachedSecondText = '';

/**
 * formatMicros, faster for runs of timestamps within one second (an export's are: a batch is received
 * at once): the date and time of day are formatted once per second, only the fraction per call.
 */
export function formatReceivedAt(micros: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) return formatMicros(micros); // which throws
  const second = Math.floor(micros / 1_000_000);
  if (second !== cachedSecond) {
    cachedSecondText = formatMicros(second * 1_000_000).slice(0, -8); // less ".000000Z"
    cachedSecond = second;
  }
  const fraction = micros - second * 1_000_000;
  return `${cachedSecondText}.${fraction >= 100_000 ? fraction : String(fraction).padStart(6, '0')}Z`;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 with padding (toBase64 of core/bytes.ts), by table: ~3× faster on a 32-byte leaf hash. */
export function base64Of(bytes: Uint8Array): string {
  let out = '';
  const whole = bytes.length - (bytes.length % 3);
  for (let i = 0; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + BASE64[(n >> 6) & 63]! + BASE64[n & 63]!;
  }
  if (whole < bytes.length) {
    const n = (bytes[whole]! << 16) | ((bytes[whole + 1] ?? 0) << 8);
    out += BASE64[n >> 18]! + BASE64[(n >> 12) & 63]! + (whole + 1 < bytes.length ? BASE64[(n >> 6) & 63]! : '=') + '=';
  }
  return out;
}

const GROUPS = new Set(['actor', 'origin', 'metadata']);
const REDACTION_KINDS = new Set(['erased', 'purged']);

/**
 * Rebuilds the event like the search API does (eventFromFields), trusting the store's own field paths,
 * except that targets keep their sealed positions (see ExportRecord.event). A search hit's location is
 * carried over (without attribution: see recordWithAttribution).
 */
export function recordFromEntry(entry: EntryLike): ExportRecord {
  const event: Record<string, unknown> = {};
  let targets: unknown[] | undefined;
  for (const path in entry.disclosures) {
    const value = entry.disclosures[path]![1];
    const dot = path.indexOf('.');
    if (dot < 0) {
      event[path] = value;
      continue;
    }
    const head = path.slice(0, dot);
    if (head === 'targets') {
      const position = Number(path.slice(dot + 1));
      targets ??= [];
      while (targets.length < position) targets.push(null);
      targets[position] = value;
    } else if (GROUPS.has(head)) {
      // Plain objects are safe here: the paths are the store's own, validated at append (isFieldPath
      // never admits __proto__ or constructor), so no key can reach a prototype.
      const group = (event[head] ??= {}) as Record<string, unknown>;
      group[path.slice(dot + 1)] = value;
    }
  }
  if (targets) event.targets = targets;
  const record: ExportRecord = {
    ledger: entry.ledger,
    index: entry.index,
    received_at: formatReceivedAt(entry.receivedAtMicros),
    leaf_hash: base64Of(entry.leafHash),
    writer: 'writer' in entry ? entry.writer : writerFromLeaf(entry.leaf),
    event,
  };
  const redactions = entry.redactions;
  if (redactions) {
    let redacted: Record<string, Redaction> | undefined;
    for (const path in redactions) {
      const kind = redactions[path];
      if (!REDACTION_KINDS.has(kind as string)) continue;
      (redacted ??= {})[path] = kind as Redaction;
    }
    if (redacted) record.redacted = redacted;
  }
  if (entry.location) record.location = exportLocation(entry.location, undefined);
  return record;
}

/** recordFromEntry, with the geolocation data's attribution in the location where there is one. */
export function recordWithAttribution(entry: EntryLike, geoAttribution: string): ExportRecord {
  const record = recordFromEntry(entry);
  if (entry.location) record.location = exportLocation(entry.location, geoAttribution);
  return record;
}

/** Members in one fixed order, whatever order the store gave them in, so exports stay byte-identical. */
export function exportLocation(l: LocationLike, attribution: string | undefined): ExportLocation {
  return {
    ...(l.country !== undefined ? { country: l.country } : {}),
    ...(l.region !== undefined ? { region: l.region } : {}),
    ...(l.city !== undefined ? { city: l.city } : {}),
    ...(l.latitude !== undefined ? { latitude: l.latitude } : {}),
    ...(l.longitude !== undefined ? { longitude: l.longitude } : {}),
    ...(l.reserved !== undefined ? { reserved: l.reserved } : {}),
    ...(attribution !== undefined && l.reserved === undefined ? { attribution } : {}),
  };
}

/** The redacted map as `path=kind` items joined by `separator`, sorted so output is stable. */
export function redactedList(redacted: Record<string, Redaction> | undefined, separator: string): string {
  if (!redacted) return '';
  return Object.keys(redacted)
    .sort()
    .map((path) => `${path}=${redacted[path]}`)
    .join(separator);
}

/**
 * JSON.stringify, with DEL, the C1 controls (U+007F–U+009F, NEL among them) and U+2028/U+2029 also
 * written as \u escapes. JSON allows them raw, but each is a line boundary to Python's str.splitlines
 * (or a control a terminal acts on), and the line formats that embed JSON (CEF, syslog) would otherwise
 * have to replace them, losing data; escaped, they survive exactly. JSON.stringify already escapes the
 * C0 controls (LF, CR, VT, FF, U+001C–U+001E included), so no character left can break a line.
 */
export function controlSafeJson(value: unknown): string {
  return controlSafeText(JSON.stringify(value));
}

/** Characters controlSafeJson writes as \u escapes on top of JSON.stringify's. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029]/;
const UNSAFE_IN_JSON_ALL = /[\u007f-\u009f\u2028\u2029]/g;

/**
 * JSON text (JSON.stringify's output, or any concatenation of such texts and ASCII) with controlSafeJson's
 * extra escapes. The characters it escapes can only occur inside JSON strings and each is replaced on its
 * own, so escaping a whole line (or many lines) at once is the same as escaping each value. A regular
 * expression rather than a charCode loop: it runs over every exported line, and V8 runs it ~8× faster.
 */
export function controlSafeText(text: string): string {
  if (!UNSAFE_IN_JSON.test(text)) return text;
  return text.replace(UNSAFE_IN_JSON_ALL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
