/**
 * Timestamps. `received_at` is kept as an integer count of microseconds since the Unix epoch (exact in
 * a JS number until the year 2255) and written as RFC 3339 UTC with exactly six fractional digits,
 * e.g. "2026-11-26T07:51:51.123456Z", so that it sorts as text and round-trips exactly.
 */
import { fail } from './errors.js';

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 §5.6 date-time, with calendar checks (no Feb 30, hours ≤ 23, leap second allowed as :60). */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// Every event of a batch shares one received_at, and sealing, search answers and exports format it per
// event: the last result is kept rather than rebuilt.
let lastMicros = -1;
let lastText = '';

export function formatMicros(micros: number): string {
  if (micros === lastMicros) return lastText;
  if (!Number.isSafeInteger(micros) || micros < 0) fail('INVALID_ARGUMENT', `bad timestamp ${micros}`);
  const millis = Math.floor(micros / 1000);
  const iso = new Date(millis).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const fraction = String(micros % 1_000_000).padStart(6, '0');
  lastText = `${iso.slice(0, 19)}.${fraction}Z`;
  lastMicros = micros;
  return lastText;
}

const MICROS_FORMAT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/;

/** Parses exactly the form formatMicros writes; anything else is MALFORMED. */
export function parseMicros(text: string): number {
  const m = MICROS_FORMAT.exec(text);
  const seconds = m ? Date.parse(`${m[1]}Z`) : NaN;
  if (!m || Number.isNaN(seconds)) fail('MALFORMED', `not a sealtrail timestamp: ${JSON.stringify(text)}`);
  const micros = seconds * 1000 + Number(m[2]);
  if (formatMicros(micros) !== text) fail('MALFORMED', `not a canonical timestamp: ${JSON.stringify(text)}`);
  return micros;
}
