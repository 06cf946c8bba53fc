/**
 * Event time: when an event happened, as detection, timelines and reports order and window events.
 * `occurred_at` when the event carries one (any past time, so imported history is judged as it
 * happened), unless it lies more than five minutes after `received_at` — a clock that runs ahead cannot
 * move an event into the future — else `received_at`. Pure: runs in browsers.
 */
import { isRfc3339 } from './time.js';

/** How far `occurred_at` may lie after `received_at` and still be believed. */
export const MAX_FUTURE_SKEW_MICROS = 5 * 60 * 1_000_000;

/** Microseconds since the epoch of an RFC 3339 time (sub-microsecond digits dropped); undefined if not one. */
export function rfc3339Micros(text: string): number | undefined {
  if (!isRfc3339(text)) return undefined;
  const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
  const millis = Date.parse(text.replace(/\.\d+/, '').replace(/:60([Zz+-])/, ':59$1'));
  if (Number.isNaN(millis)) return undefined;
  const micros = millis * 1000 + Number((fraction + '000000').slice(0, 6));
  return Number.isSafeInteger(micros) ? micros : undefined;
}

export function eventTimeMicros(occurredAt: unknown, receivedAtMicros: number): number {
  if (typeof occurredAt !== 'string') return receivedAtMicros;
  const occurred = rfc3339Micros(occurredAt);
  if (occurred === undefined || occurred - receivedAtMicros > MAX_FUTURE_SKEW_MICROS) return receivedAtMicros;
  return occurred;
}
