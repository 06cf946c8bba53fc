/** Alerts as GET /v1/alerts answers them (docs/DETECTION.md "Alerts and their API"), and the reads the pages share. */
import { api } from '../../api.js';

export const STATUSES = ['open', 'acknowledged', 'closed'] as const;
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AlertStatus = (typeof STATUSES)[number];
export type Severity = (typeof SEVERITIES)[number];

export interface Alert {
  id: string;
  rule: string;
  title: string;
  severity: Severity;
  status: AlertStatus;
  ledger: string;
  tenant: string | null;
  actor: { type: string; id: string } | null;
  first_seen: string;
  last_seen: string;
  count: number;
  events: Array<{ ledger: string; index: number }>;
  summary: string;
  close_reason: string | null;
  opened_at: string;
  changed_at: string | null;
  changed_by: string | null;
}

export interface AlertPage {
  alerts: Alert[];
  next: string | null;
}

export interface AlertFilters {
  status?: string;
  severity?: string;
  ledger?: string;
  rule?: string;
}

export function listAlerts(filters: AlertFilters, options: { limit: number; cursor?: string; signal?: AbortSignal }): Promise<AlertPage> {
  return api<AlertPage>('/alerts', { query: { ...filters, limit: options.limit, cursor: options.cursor }, signal: options.signal });
}

/**
 * Whether an alert is about the erasure subject: its actor id equals the subject, or holds it as a word
 * (the subject's ends not running on into letters or digits), compared without case — the way an
 * erasure decides that a value contains the subject (docs/RETENTION.md).
 */
export function alertConcernsSubject(alert: Alert, subject: string): boolean {
  const id = alert.actor?.id;
  const wanted = subject.trim().toLowerCase();
  if (!id || !wanted) return false;
  const haystack = id.toLowerCase();
  const word = /[\p{L}\p{N}]/u;
  for (let at = haystack.indexOf(wanted); at >= 0; at = haystack.indexOf(wanted, at + 1)) {
    const before = at === 0 ? '' : haystack[at - 1]!;
    const after = haystack[at + wanted.length] ?? '';
    if (!word.test(before) && !word.test(after)) return true;
  }
  return false;
}

/**
 * Every alert not yet closed (open or acknowledged) that concerns the subject, reading at most
 * `maxPages` pages of 1,000 per status; `complete` is false when there were more.
 */
export async function openAlertsFor(subject: string, signal?: AbortSignal, maxPages = 20): Promise<{ alerts: Alert[]; complete: boolean }> {
  const found: Alert[] = [];
  let complete = true;
  for (const status of ['open', 'acknowledged'] as const) {
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      if (page === maxPages) {
        complete = false;
        break;
      }
      const answer = await listAlerts({ status }, { limit: 1000, cursor, signal });
      found.push(...answer.alerts.filter((a) => alertConcernsSubject(a, subject)));
      if (!answer.next) break;
      cursor = answer.next;
    }
  }
  return { alerts: found, complete };
}

/** The events of an alert by ledger, in index order. */
export function eventsByLedger(alert: Pick<Alert, 'events'>): Map<string, number[]> {
  const byLedger = new Map<string, number[]>();
  for (const { ledger, index } of alert.events) {
    const list = byLedger.get(ledger) ?? [];
    if (!list.includes(index)) list.push(index);
    byLedger.set(ledger, list);
  }
  for (const list of byLedger.values()) list.sort((a, b) => a - b);
  return byLedger;
}

/** The query that selects exactly these indexes (`index:3,5,9`; an alert has at most 100 events). */
export const indexQuery = (indexes: number[]) => `index:${indexes.join(',')}`;
