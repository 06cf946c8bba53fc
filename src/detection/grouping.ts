/**
 * How findings become alerts: one alert per rule, ledger and actor while findings keep coming within the
 * grouping window of the alert's last event; a finding after a longer quiet opens a new alert. Pure, so
 * that the engine (src/detection/engine.ts) and the evaluation harness (bench/eval.ts) group alike.
 * Merging the same finding twice (a replay after a crash) changes nothing: findings are told apart by
 * Finding.key, and an alert remembers the keys of the findings it holds.
 */
import { MAX_FINDING_EVENTS, SEVERITIES, type Finding, type Severity } from './detector.js';

/** Default grouping window: findings of one rule about one actor within an hour of each other are one alert. */
export const DEFAULT_GROUP_WINDOW_MICROS = 3600 * 1_000_000;

/** Findings remembered per alert for deduplication (older keys cannot come back: replays are short). */
const MAX_REMEMBERED_KEYS = 256;

export interface AlertGroup {
  /** Rule, ledger and actor: `${rule}\u0000${ledger}\u0000${actor.type}:${actor.id}` (no actor: empty). */
  groupKey: string;
  rule: string;
  title: string;
  /** Highest severity among its findings. */
  severity: Severity;
  ledger: string;
  actor?: { type: string; id: string };
  firstSeenMicros: number;
  lastSeenMicros: number;
  /** Findings merged into it. */
  count: number;
  /** Events behind it, oldest first, without repeats, at most MAX_FINDING_EVENTS. */
  events: Array<{ ledger: string; index: number }>;
  /** Summary of its latest finding. */
  summary: string;
  /** Keys of the latest findings merged in, newest last. */
  findingKeys: string[];
}

export function groupKeyOf(finding: Finding, ledger: string): string {
  const actor = finding.actor ? `${finding.actor.type}:${finding.actor.id}` : '';
  return `${finding.rule}\u0000${ledger}\u0000${actor}`;
}

const rank = (severity: Severity): number => SEVERITIES.indexOf(severity);

/**
 * Where `finding` goes, given the newest alert of its group (if any): `merged` into that alert,
 * `opened` as a new alert (first of its group, or after a quiet longer than the window), or
 * `duplicate` (already merged: nothing changes). Never mutates `current`.
 */
export function placeFinding(
  current: AlertGroup | undefined,
  finding: Finding,
  ledger: string,
  windowMicros = DEFAULT_GROUP_WINDOW_MICROS,
): { kind: 'duplicate' } | { kind: 'merged' | 'opened'; alert: AlertGroup } {
  if (current?.findingKeys.includes(finding.key)) return { kind: 'duplicate' };
  if (!current || finding.firstSeenMicros - current.lastSeenMicros > windowMicros) {
    return {
      kind: 'opened',
      alert: {
        groupKey: groupKeyOf(finding, ledger),
        rule: finding.rule,
        title: finding.title,
        severity: finding.severity,
        ledger,
        ...(finding.actor ? { actor: { ...finding.actor } } : {}),
        firstSeenMicros: finding.firstSeenMicros,
        lastSeenMicros: finding.lastSeenMicros,
        count: 1,
        events: mergeEvents([], finding.events),
        summary: finding.summary,
        findingKeys: [finding.key],
      },
    };
  }
  return {
    kind: 'merged',
    alert: {
      ...current,
      severity: rank(finding.severity) > rank(current.severity) ? finding.severity : current.severity,
      firstSeenMicros: Math.min(current.firstSeenMicros, finding.firstSeenMicros),
      lastSeenMicros: Math.max(current.lastSeenMicros, finding.lastSeenMicros),
      count: current.count + 1,
      events: mergeEvents(current.events, finding.events),
      summary: finding.summary,
      findingKeys: [...current.findingKeys, finding.key].slice(-MAX_REMEMBERED_KEYS),
    },
  };
}

/** Union of two event lists without repeats; when over the cap, the first events and the latest are kept. */
function mergeEvents(a: Array<{ ledger: string; index: number }>, b: Array<{ ledger: string; index: number }>) {
  const seen = new Set(a.map((e) => `${e.ledger}\u0000${e.index}`));
  const merged = [...a];
  for (const event of b) {
    const id = `${event.ledger}\u0000${event.index}`;
    if (seen.has(id)) continue;
    seen.add(id);
    merged.push({ ledger: event.ledger, index: event.index });
  }
  if (merged.length <= MAX_FINDING_EVENTS) return merged;
  const head = Math.floor(MAX_FINDING_EVENTS / 2);
  return [...merged.slice(0, head), ...merged.slice(merged.length - (MAX_FINDING_EVENTS - head))];
}
