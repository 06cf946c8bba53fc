/**
 * The behavioural detectors: what Sigma rules cannot say, because it needs a learned baseline per actor
 * or arithmetic across events (docs/DETECTION.md, "Behavioural detectors"). The engine runs them beside
 * the Sigma pack; the evaluation harness (bench/eval.ts) measures them. Brute force then success is the
 * pack's (rules/brute_force_then_success.yml, a Sigma correlation), not repeated here.
 */
import type { Detector } from '../detector.js';
import { bulkDetector, type BulkOptions } from './bulk.js';
import { departingDetector, type DepartingOptions } from './departing.js';
import { firstSeenDetector, type FirstSeenOptions } from './first-seen.js';
import { impossibleTravelDetector, type ImpossibleTravelOptions } from './impossible-travel.js';
import { offHoursDetector, type OffHoursOptions } from './off-hours.js';
import { privilegeDetector, type PrivilegeOptions } from './privilege.js';

export interface BehaviouralOptions {
  offHours?: Partial<OffHoursOptions>;
  firstSeen?: Partial<FirstSeenOptions>;
  impossibleTravel?: Partial<ImpossibleTravelOptions>;
  bulk?: Partial<BulkOptions>;
  departing?: Partial<DepartingOptions>;
  privilege?: Partial<PrivilegeOptions>;
  /** Detector ids to leave out. */
  disabled?: readonly string[];
}

export function behaviouralDetectors(options: BehaviouralOptions = {}): Detector[] {
  const all: Detector[] = [
    offHoursDetector(options.offHours) as Detector,
    firstSeenDetector(options.firstSeen) as Detector,
    impossibleTravelDetector(options.impossibleTravel) as Detector,
    bulkDetector(options.bulk) as Detector,
    departingDetector(options.departing) as Detector,
    privilegeDetector(options.privilege) as Detector,
  ];
  const disabled = new Set(options.disabled ?? []);
  return all.filter((d) => !disabled.has(d.id));
}

export { bulkDetector, departingDetector, firstSeenDetector, impossibleTravelDetector, offHoursDetector, privilegeDetector };
export { BULK_DEFAULTS } from './bulk.js';
export { DEPARTING_DEFAULTS, END_DATE_KEYS } from './departing.js';
export { FIRST_SEEN_DEFAULTS } from './first-seen.js';
export { IMPOSSIBLE_TRAVEL_DEFAULTS } from './impossible-travel.js';
export { OFF_HOURS_DEFAULTS } from './off-hours.js';
export { PRIVILEGE_DEFAULTS } from './privilege.js';
