/**
 * Sources carry more than an audit event can hold (src/core/event.ts EVENT_LIMITS): every ingest path
 * keeps what it could not map in `metadata`, and this is the one place that decides what fits. Fields are
 * offered in priority order; a field is dropped — never the event — when its key is not a valid metadata
 * key, the key budget is spent, or the event's serialized size would pass the limit. What was dropped is
 * named in `metadata.dropped_fields` (itself bounded; a value kept only in part is listed as `NAME (cut)`),
 * so an operator sees that the source said more.
 */
import { EVENT_LIMITS, METADATA_KEY, type AuditEvent } from '../core/event.js';

/** Longest string kept in a metadata value; longer ones are cut and marked with an ellipsis. */
export const MAX_METADATA_STRING = 2048;
/** Room kept for `dropped_fields` itself, in serialized bytes. */
const DROPPED_RESERVE = 600;
const DROPPED_KEY = 'dropped_fields';

const encoder = new TextEncoder();
const byteLength = (value: unknown) => encoder.encode(JSON.stringify(value)).length;

/** A string no longer than `max` UTF-16 units, cut at a code point boundary. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  // Never split a surrogate pair: a lone surrogate is refused by validateEvent.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * A JSON value that validateEvent accepts inside metadata: depth ≤ the limit (deeper parts become their
 * JSON text), arrays ≤ the item limit, finite numbers, well-formed strings of bounded length.
 */
export function boundedValue(value: unknown, depth = 0, cut: { cut: boolean } = { cut: false }): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return cutString(value.toWellFormed(), cut);
  if (typeof value !== 'object') return undefined;
  if (depth >= EVENT_LIMITS.maxMetadataDepth) return cutString(JSON.stringify(value) ?? '', cut);
  if (Array.isArray(value)) {
    if (value.length > EVENT_LIMITS.maxMetadataArrayItems) cut.cut = true;
    return value.slice(0, EVENT_LIMITS.maxMetadataArrayItems).map((item) => boundedValue(item, depth + 1, cut) ?? null);
  }
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const bounded = boundedValue(item, depth + 1, cut);
    if (bounded !== undefined) out[key] = bounded;
  }
  // Plain prototype again: validateEvent accepts only plain objects (or null-prototype ones).
  return { ...out };
}

function cutString(text: string, cut: { cut: boolean }): string {
  if (text.length > MAX_METADATA_STRING) cut.cut = true;
  return truncate(text, MAX_METADATA_STRING);
}

/** A source field name made into a metadata key: allowed characters kept, others as `_`, ≤ 64 long. */
export function metadataKey(name: string): string | undefined {
  const key = name.replace(/[^A-Za-z0-9_.:-]/g, '_').replace(/^[.:-]/, '_').slice(0, 64);
  return METADATA_KEY.test(key) ? key : undefined;
}

/**
 * Adds `fields` (in priority order) to the event's metadata while the event stays within its limits,
 * and returns the event. Keys already in the event's metadata win.
 */
export function withMetadata(event: AuditEvent, fields: Iterable<[string, unknown]>): AuditEvent {
  const metadata: Record<string, unknown> = { ...(event.metadata ?? {}) };
  const dropped: string[] = [];
  let size = byteLength({ ...event, metadata });
  const budget = EVENT_LIMITS.maxEventBytes - DROPPED_RESERVE;
  for (const [name, raw] of fields) {
    const key = metadataKey(name);
    const cut = { cut: false };
    const value = boundedValue(raw, 0, cut);
    if (value === undefined) continue;
    if (key === undefined || key in metadata) {
      if (key === undefined) dropped.push(name);
      continue;
    }
    const cost = byteLength(key) + byteLength(value) + 1;
    if (Object.keys(metadata).length >= EVENT_LIMITS.maxMetadataKeys - 1 || size + cost > budget) {
      dropped.push(name);
      continue;
    }
    metadata[key] = value;
    size += cost;
    if (cut.cut) dropped.push(`${name} (cut)`);
  }
  if (dropped.length > 0) metadata[DROPPED_KEY] = droppedList(dropped);
  return Object.keys(metadata).length === 0 ? event : { ...event, metadata };
}

function droppedList(names: string[]): string[] {
  const kept: string[] = [];
  let size = 2;
  for (const name of names) {
    const entry = truncate(name, 64);
    size += byteLength(entry) + 1;
    if (size > DROPPED_RESERVE - 40 || kept.length >= 32) {
      kept.push(`… ${names.length - kept.length} more`);
      break;
    }
    kept.push(entry);
  }
  return kept;
}

/** An action word from a source's name: lowercase, allowed characters only, dotted (`event.` prefix if not). */
export function actionFrom(name: string, prefix = 'event'): string | undefined {
  const word = name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '_')
    .replace(/\.{2,}/g, '.')
    .replace(/^[._-]+|[._-]+$/g, '');
  if (word === '') return undefined;
  const dotted = /^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(word) ? word : `${prefix}.${word.replace(/\./g, '_')}`;
  return dotted.length <= 128 && /^[a-z0-9_]+(\.[a-z0-9_-]+)+$/.test(dotted) ? dotted : undefined;
}

/** A printable identifier within `max` characters, or undefined if nothing printable is left. */
export function identifierFrom(value: unknown, max: number = EVENT_LIMITS.maxIdentifierLength): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  // eslint-disable-next-line no-control-regex
  const text = String(value).toWellFormed().replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return text === '' ? undefined : truncate(text, max);
}

/** Text for name, reason and user-agent fields (≤ the text limit). */
export function textFrom(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? truncate(value.toWellFormed(), EVENT_LIMITS.maxTextLength) : undefined;
}
