/**
 * The contract between the detection engine (src/detection/engine.ts) and what judges events: Sigma
 * rules (src/detection/sigma/) and behavioural detectors (src/detection/behaviour/). A detector sees
 * each sealed event of one ledger exactly once, in ledger order, and keeps what it learns in a state
 * the engine persists beside the ledger index it covers. Replaying the same events onto the same state
 * must give the same findings: that is what lets a restart after kill -9 neither lose nor double an
 * alert (the engine resumes from its last persisted state and deduplicates by Finding.key).
 */
import type { IpLocation } from '../store/store.js';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One sealed event as detection sees it. */
export interface JudgedEvent {
  ledger: string;
  index: number;
  /** Event time (src/core/event-time.ts), microseconds since the epoch: what windows and baselines use. */
  timeMicros: number;
  receivedAtMicros: number;
  /** The event as still disclosed (ExportRecord.event: erased fields are absent). */
  event: Record<string, unknown>;
  /** Where origin.ip is, from the deployment's geolocation database; absent when unknown. */
  location?: IpLocation;
}

/** What a detector reports; the engine turns findings into alerts (grouped per rule and actor). */
export interface Finding {
  /** Rule or detector id that fired (Detector.id). */
  rule: string;
  title: string;
  severity: Severity;
  /** Who the finding is about, when it is about someone. */
  actor?: { type: string; id: string };
  /** Event time of the first and last event behind the finding, microseconds. */
  firstSeenMicros: number;
  lastSeenMicros: number;
  /** The events behind it, oldest first, at most MAX_FINDING_EVENTS (the triggering event last). */
  events: Array<{ ledger: string; index: number }>;
  /** One sentence for a human: what happened, with the numbers that made it fire. */
  summary: string;
  /**
   * Deterministic identity of this finding: the same events judged from the same state give the same
   * key, so a replay after a crash re-raises nothing. Convention: `${rule}:${ledger}:${triggerIndex}`
   * plus a suffix when one event can fire the same rule more than once.
   */
  key: string;
}

export const MAX_FINDING_EVENTS = 100;

/** What the engine offers detectors beyond the event itself. */
export interface DetectorContext {
  /**
   * The end of employment of an actor, from the HR feed (`PUT /v1/detection/departures`), in
   * microseconds; undefined when none is known. Detectors also read end dates carried in event
   * metadata themselves.
   */
  departureOf(actorId: string): number | undefined;
}

/**
 * A detector. `State` must survive JSON.stringify/JSON.parse unchanged (plain objects, arrays, numbers,
 * strings, booleans, null): the engine persists it that way. Keep it bounded — prune what no window or
 * baseline needs any more — since it is written at every persisted step.
 */
export interface Detector<State = unknown> {
  readonly id: string;
  readonly title: string;
  /** Severity of what it reports (a finding may raise it, never lower it below 'low'). */
  readonly severity: Severity;
  /** MITRE ATT&CK technique id, e.g. T1110 (brute force). */
  readonly technique?: string;
  /** Why it fires, in one sentence. */
  readonly description: string;
  /**
   * How long, in event time from the first event the detector sees, it only learns and reports nothing
   * (0 for rules that need no baseline). Documented per detector in docs/DETECTION.md.
   */
  readonly learningMicros: number;
  initialState(): State;
  /** Judges one event, updating `state` in place; returns what it found (usually nothing). */
  judge(event: JudgedEvent, state: State, context: DetectorContext): Finding[];
}
