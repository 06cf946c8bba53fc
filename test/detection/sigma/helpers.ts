/** Judged events and rule runs for the Sigma tests. */
import type { Detector, Finding, JudgedEvent } from '../../../src/detection/detector.js';
import { compileSigmaRules, type SigmaState } from '../../../src/detection/sigma/index.js';

export const T0 = Date.parse('2026-11-02T09:00:00Z') * 1000;
export const SECOND = 1_000_000;
export const MINUTE = 60 * SECOND;

export const NO_CONTEXT = { departureOf: () => undefined };

/** An event of `ledger` at ledger `index`, judged at T0 + `at`. */
export function judged(index: number, event: Record<string, unknown>, options: { at?: number; ledger?: string; location?: JudgedEvent['location'] } = {}): JudgedEvent {
  const time = T0 + (options.at ?? index * SECOND);
  return {
    ledger: options.ledger ?? 'app',
    index,
    timeMicros: time,
    receivedAtMicros: time,
    event: { actor: { type: 'user', id: 'alice' }, action: 'file.read', category: 'read', outcome: 'success', ...event },
    ...(options.location ? { location: options.location } : {}),
  };
}

/** The rule's YAML as one file; a single-document rule gets a logsource and an id unless it has them. */
export function compile(yaml: string, path = 'rules/test.yml'): Array<Detector<SigmaState>> {
  return compileSigmaRules([{ path, text: yaml }]);
}

/** A detection rule from its `detection` block (indented by four spaces in the YAML). */
export function detectionRule(detection: string): Detector<SigmaState> {
  const text = `title: test rule\nid: test-rule\nlogsource:\n    product: sealtrail\ndetection:\n${detection.replace(/^/gm, '    ')}\nlevel: medium\n`;
  const [detector] = compile(text);
  return detector!;
}

/** Whether a one-event rule matches the event. */
export function matches(detector: Detector<SigmaState>, event: Record<string, unknown>, options: Parameters<typeof judged>[2] = {}): boolean {
  return detector.judge(judged(1, event, options), detector.initialState(), NO_CONTEXT).length > 0;
}

/**
 * Runs a detector over events in order; with `roundTrip` the state goes through JSON before every event,
 * as the engine persists it.
 */
export function run(detector: Detector<SigmaState>, events: JudgedEvent[], roundTrip = true): Finding[] {
  let state = detector.initialState();
  const findings: Finding[] = [];
  for (const event of events) {
    if (roundTrip) state = JSON.parse(JSON.stringify(state)) as SigmaState;
    findings.push(...detector.judge(event, state, NO_CONTEXT));
  }
  return findings;
}

/** The message of the error `f` throws (asserting that it throws a SigmaRuleError). */
export function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if ((error as Error).name !== 'SigmaRuleError') throw error;
    return (error as Error).message;
  }
  throw new Error('expected a SigmaRuleError');
}
