/** Building streams of judged events for the behavioural detector tests, and running detectors over them. */
import type { Detector, DetectorContext, Finding, JudgedEvent } from '../../../src/detection/detector.js';
import type { IpLocation } from '../../../src/store/store.js';

export const SECOND = 1_000_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Monday 2026-11-02 00:00 UTC. */
export const MONDAY = Date.UTC(2026, 10, 2) * 1000;

export interface EventSpec {
  at: number;
  actor?: { type: string; id: string };
  action?: string;
  category?: string;
  outcome?: 'success' | 'failure';
  targets?: Array<{ type: string; id: string; name?: string }>;
  ip?: string;
  agent?: string;
  tenant?: string;
  metadata?: Record<string, unknown>;
  location?: IpLocation;
  /** When the server received it, if not at `at`. */
  received?: number;
}

export const alice = { type: 'user', id: 'alice' };

export class Stream {
  readonly events: JudgedEvent[] = [];

  add(spec: EventSpec): JudgedEvent {
    const event: JudgedEvent = {
      ledger: 'app',
      index: this.events.length,
      timeMicros: spec.at,
      receivedAtMicros: spec.received ?? spec.at,
      event: {
        actor: spec.actor ?? alice,
        action: spec.action ?? 'file.read',
        category: spec.category ?? 'read',
        outcome: spec.outcome ?? 'success',
        ...(spec.targets ? { targets: spec.targets } : {}),
        origin: { ip: spec.ip ?? '198.51.100.7', user_agent: spec.agent ?? 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' },
        ...(spec.tenant ? { tenant: spec.tenant } : {}),
        metadata: spec.metadata ?? {},
      },
      ...(spec.location ? { location: spec.location } : {}),
    };
    this.events.push(event);
    return event;
  }

  /** `perDay` events a day on `days` days from `from`, spread over the hours [fromHour, toHour) UTC. */
  daily(from: number, days: number, perDay: number, fromHour: number, toHour: number, spec: Omit<EventSpec, 'at'> = {}, skip?: (day: number) => boolean): this {
    const random = lcg(days * 7919 + perDay);
    for (let d = 0; d < days; d++) {
      if (skip?.(d)) continue;
      const times = Array.from({ length: perDay }, () => from + d * DAY + fromHour * HOUR + Math.floor(random() * (toHour - fromHour) * HOUR)).sort((a, b) => a - b);
      for (const at of times) this.add({ ...spec, at });
    }
    return this;
  }
}

export const weekend = (firstDayIsMonday = true) => (day: number) => (firstDayIsMonday ? day % 7 >= 5 : false);

export const noDepartures: DetectorContext = { departureOf: () => undefined };

/** Judges every event in order; `roundTripEvery` persists and reloads the state as JSON that often. */
export function run<S>(detector: Detector<S>, events: JudgedEvent[], options: { context?: DetectorContext; roundTripEvery?: number; state?: S } = {}): { findings: Finding[]; state: S } {
  let state = options.state ?? detector.initialState();
  const findings: Finding[] = [];
  events.forEach((event, i) => {
    if (options.roundTripEvery && i > 0 && i % options.roundTripEvery === 0) state = JSON.parse(JSON.stringify(state)) as S;
    findings.push(...detector.judge(event, state, options.context ?? noDepartures));
  });
  return { findings, state };
}

/** A small deterministic generator, so streams are the same on every run. */
export function lcg(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}
