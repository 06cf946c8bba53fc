/**
 * CSV (RFC 4180): a header row, then one row per event; CRLF after every row; a field is quoted when it
 * contains `"`, `,`, CR or LF, with inner quotes doubled. The columns are fixed (CSV_COLUMNS) so that a
 * streamed export never needs to see every row first, and files from different exports line up.
 *
 * Spreadsheet formula injection (OWASP "CSV Injection"): a cell whose first character is `=`, `+`, `-`,
 * `@`, TAB or CR is prefixed with `'`, so spreadsheets show it as text instead of evaluating it. Cells
 * that are plain decimal numbers (`-3`, `-1.5e3`) are left alone: a spreadsheet reads them as numbers,
 * never as formulas. The prefix applies to every column, generated ones included (a base64 leaf hash may
 * start with `+`). Tools that need exact values should read JSON Lines instead.
 *
 * Control characters that CSV cannot carry and that would reach a terminal or split a line for
 * str.splitlines (C0 but TAB, CR and LF; DEL; C1, NEL among them) become U+FFFD; JSON cells escape them
 * instead. CR, LF, U+2028 and U+2029 are kept, inside a quoted cell, as RFC 4180 allows line breaks.
 *
 * A value removed after sealing reads `[erased]` or `[purged]`; the `redacted` column lists every removed
 * path, which tells such a marker from a value that happens to be that text.
 */
import type { Redaction } from '../commitments.js';
import { escapeChars, isUnicodeLineBreak } from './escape.js';
import { controlSafeJson, redactedList, redactionMarker, type ExportRecord } from './record.js';

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8; header=present';

/** Targets flattened into their own columns; later ones (an event has up to 32) go to `targets.more`. */
export const CSV_FLAT_TARGETS = 3;

type Getter = (record: ExportRecord) => unknown;

interface Column {
  name: string;
  /** The field path of the value in `redacted`, if the column shows one field. */
  path?: string;
  get: Getter;
}

const field = (group: string, member: string): Getter => (r) => (r.event[group] as Record<string, unknown> | undefined)?.[member];

const targetAt = (r: ExportRecord, i: number) => {
  const targets = r.event.targets as Array<Record<string, unknown> | null> | undefined;
  return targets?.[i] ?? undefined;
};

function targetColumns(i: number): Column[] {
  return (['type', 'id', 'name'] as const).map((member) => ({
    name: `target.${i}.${member}`,
    path: `targets.${i}`,
    get: (r: ExportRecord) => targetAt(r, i)?.[member],
  }));
}

/** The column order, documented in docs/EXPORT.md. Append new columns at the end only. */
const COLUMNS: Column[] = [
  { name: 'ledger', get: (r) => r.ledger },
  { name: 'index', get: (r) => r.index },
  { name: 'received_at', get: (r) => r.received_at },
  { name: 'leaf_hash', get: (r) => r.leaf_hash },
  { name: 'writer', get: (r) => r.writer },
  { name: 'id', path: 'id', get: (r) => r.event.id },
  { name: 'occurred_at', path: 'occurred_at', get: (r) => r.event.occurred_at },
  { name: 'actor.type', path: 'actor.type', get: field('actor', 'type') },
  { name: 'actor.id', path: 'actor.id', get: field('actor', 'id') },
  { name: 'actor.name', path: 'actor.name', get: field('actor', 'name') },
  { name: 'actor.email', path: 'actor.email', get: field('actor', 'email') },
  { name: 'actor.session_id', path: 'actor.session_id', get: field('actor', 'session_id') },
  { name: 'action', path: 'action', get: (r) => r.event.action },
  { name: 'category', path: 'category', get: (r) => r.event.category },
  { name: 'outcome', path: 'outcome', get: (r) => r.event.outcome },
  { name: 'outcome_reason', path: 'outcome_reason', get: (r) => r.event.outcome_reason },
  { name: 'tenant', path: 'tenant', get: (r) => r.event.tenant },
  { name: 'origin.ip', path: 'origin.ip', get: field('origin', 'ip') },
  { name: 'origin.user_agent', path: 'origin.user_agent', get: field('origin', 'user_agent') },
  { name: 'origin.device_id', path: 'origin.device_id', get: field('origin', 'device_id') },
  { name: 'target.count', get: (r) => targetCount(r) },
  ...Array.from({ length: CSV_FLAT_TARGETS }, (_, i) => targetColumns(i)).flat(),
  { name: 'targets.more', get: (r) => moreTargets(r) },
  { name: 'metadata', get: (r) => metadataCell(r) },
  { name: 'redacted', get: (r) => redactedList(r.redacted, ';') },
  // Where origin.ip was placed when indexed; empty without a location (or once origin.ip is removed).
  { name: 'location.country', get: (r) => r.location?.country },
  { name: 'location.region', get: (r) => r.location?.region },
  { name: 'location.city', get: (r) => r.location?.city },
  { name: 'location.latitude', get: (r) => r.location?.latitude },
  { name: 'location.longitude', get: (r) => r.location?.longitude },
  { name: 'location.reserved', get: (r) => r.location?.reserved },
  { name: 'location.attribution', get: (r) => r.location?.attribution },
];

export const CSV_COLUMNS: readonly string[] = COLUMNS.map((c) => c.name);

/** Sealed targets: the highest position present or removed, plus one. */
function targetCount(r: ExportRecord): number | undefined {
  let count = (r.event.targets as unknown[] | undefined)?.length ?? 0;
  if (r.redacted) {
    for (const path in r.redacted) {
      if (path.startsWith('targets.')) count = Math.max(count, Number(path.slice(8)) + 1);
    }
  }
  return count === 0 ? undefined : count;
}

/** Targets after the flattened ones, as a JSON array (removed ones as their marker); empty if none. */
function moreTargets(r: ExportRecord): string | undefined {
  const count = targetCount(r) ?? 0;
  if (count <= CSV_FLAT_TARGETS) return undefined;
  const targets = (r.event.targets as unknown[] | undefined) ?? [];
  const rest: unknown[] = [];
  for (let i = CSV_FLAT_TARGETS; i < count; i++) {
    const kind = r.redacted?.[`targets.${i}`];
    rest.push(kind ? redactionMarker(kind) : (targets[i] ?? null));
  }
  return controlSafeJson(rest);
}

/** Metadata as one JSON object (its keys vary per event); removed keys hold their marker string. */
function metadataCell(r: ExportRecord): string | undefined {
  const metadata = r.event.metadata as Record<string, unknown> | undefined;
  let removed: Record<string, string> | undefined;
  if (r.redacted) {
    for (const path in r.redacted) {
      if (path.startsWith('metadata.')) (removed ??= {})[path.slice(9)] = redactionMarker(r.redacted[path]!);
    }
  }
  if (!metadata && !removed) return undefined;
  return controlSafeJson(removed ? { ...metadata, ...removed } : metadata);
}

/** Leading characters that make a spreadsheet evaluate a cell (OWASP). */
function isFormulaStart(code: number): boolean {
  return code === 0x3d || code === 0x2b || code === 0x2d || code === 0x40 || code === 0x09 || code === 0x0d;
}

const PLAIN_NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** What csvCell may have to change or quote: controls (C0, DEL, C1), `"`, `,`, U+2028, U+2029. */
const CSV_SPECIAL = /[\u0000-\u001f\u007f-\u009f",\u2028\u2029]/;

/**
 * One cell: neutralised against formula injection, then quoted if needed. This runs for every cell of
 * every row: a regular expression finds the (usual) cells that need neither, then a charCode scan decides.
 */
export function csvCell(value: string): string {
  if (value.length === 0) return value;
  // Most cells hold nothing to replace, quote or double: one regular expression says so.
  if (!CSV_SPECIAL.test(value)) return isFormulaStart(value.charCodeAt(0)) && !PLAIN_NUMBER.test(value) ? `'${value}` : value;
  value = escapeChars(value, keepUnicodeLineBreak);
  if (isFormulaStart(value.charCodeAt(0)) && !PLAIN_NUMBER.test(value)) value = `'${value}`;
  let quote = false;
  let quotes = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22) {
      quote = true;
      quotes = true;
      break;
    }
    if (c === 0x2c || c === 0x0a || c === 0x0d || isUnicodeLineBreak(c)) quote = true;
  }
  if (!quote) return value;
  return `"${quotes ? value.replaceAll('"', '""') : value}"`;
}

/** U+2028 and U+2029 are text in a CSV cell (quoted, like LF), not characters to replace. */
function keepUnicodeLineBreak(c: number): string | undefined {
  return isUnicodeLineBreak(c) ? String.fromCharCode(c) : undefined;
}

function cellText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return controlSafeJson(value);
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.map(csvCell).join(',')}\r\n`;
}

export function formatCsvRow(record: ExportRecord): string {
  let line = '';
  for (let i = 0; i < COLUMNS.length; i++) {
    const column = COLUMNS[i]!;
    const kind: Redaction | undefined = column.path && record.redacted ? record.redacted[column.path] : undefined;
    const text = kind ? redactionMarker(kind) : cellText(column.get(record));
    line += i === 0 ? csvCell(text) : `,${csvCell(text)}`;
  }
  return `${line}\r\n`;
}
