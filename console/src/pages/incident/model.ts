/**
 * What the incident view reads from a timeline answer (GET /v1/actors/{actor}/timeline, docs/REPORTS.md)
 * and the small derivations it shows: places as text, the travel legs it flags, and the alerts that
 * involve the actor.
 */
import type { Timeline, TimelineEvent, TimelineLocation, TravelLeg } from '../../../../src/timeline/analysis.js';

export type { Timeline, TimelineEvent, TimelineLocation, TravelLeg };

/**
 * A leg is flagged above the impossible-travel detector's speed (docs/DETECTION.md: 900 km/h) when the
 * places are at least 500 km apart (closer than that, city-level geolocation error dominates). The
 * timeline's own `implausible` mark (over 1000 km/h) is flagged too.
 */
export const FLAG_SPEED_KMH = 900;
export const FLAG_MIN_DISTANCE_KM = 500;

export function isFlagged(leg: TravelLeg): boolean {
  if (leg.implausible) return true;
  if (leg.distance_km < FLAG_MIN_DISTANCE_KM) return false;
  return leg.speed_kmh === null || leg.speed_kmh > FLAG_SPEED_KMH;
}

/** The bundled geolocation data's licence (CC BY 4.0) asks for this wherever its places are shown. */
export const GEO_ATTRIBUTION = 'IP Geolocation by DB-IP';
export const GEO_ATTRIBUTION_URL = 'https://db-ip.com';
export const GEO_LICENCE = 'licensed under CC BY 4.0';

export function placeOf(location: TimelineLocation | undefined): string {
  if (!location) return '';
  if (location.reserved) return `(${location.reserved})`;
  return [location.country, location.city ?? location.region].filter(Boolean).join(' ');
}

export const hasCoordinates = (location: TimelineLocation | undefined): location is TimelineLocation & { latitude: number; longitude: number } =>
  typeof location?.latitude === 'number' && typeof location.longitude === 'number';

const group = (event: Record<string, unknown>, name: string): Record<string, unknown> =>
  (event[name] && typeof event[name] === 'object' && !Array.isArray(event[name]) ? event[name] : {}) as Record<string, unknown>;
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export interface EventSummary {
  action: string;
  outcome: string;
  reason: string | undefined;
  ip: string | undefined;
  tenant: string | undefined;
  targets: string[];
}

export function summarize(event: Record<string, unknown>): EventSummary {
  const targets = Array.isArray(event.targets) ? event.targets : [];
  return {
    action: text(event.action) ?? '(withheld)',
    outcome: text(event.outcome) ?? '',
    reason: text(event.outcome_reason),
    ip: text(group(event, 'origin').ip),
    tenant: text(event.tenant),
    targets: targets.flatMap((target) => {
      if (!target || typeof target !== 'object') return [];
      const t = target as Record<string, unknown>;
      return [`${text(t.type) ?? '?'}:${text(t.id) ?? '?'}`];
    }),
  };
}

export interface AlertSummary {
  id: string;
  rule: string;
  title: string;
  severity: string;
  status: string;
  ledger: string;
  actor: { type: string; id: string } | null;
  first_seen: string;
  last_seen: string;
  summary: string;
  events: Array<{ ledger: string; index: number }>;
}

/** Alerts of the actor whose events overlap the window (times compared as instants). */
export function involves(alert: AlertSummary, actor: string, from: string, to: string): boolean {
  if (alert.actor?.id !== actor) return false;
  const first = Date.parse(alert.first_seen);
  const last = Date.parse(alert.last_seen);
  return last >= Date.parse(from) && first < Date.parse(to);
}

/** Index selections for `index:` queries: consecutive indexes as one range (`5..9`), the rest listed. */
export function indexSelection(indexes: number[]): string {
  const sorted = [...new Set(indexes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}..${sorted[j]}`);
    i = j + 1;
  }
  return `index:${parts.join(',')}`;
}
