/**
 * How much data an actor takes out per hour of event time: events that read or export, and the
 * `metadata.rows` and `metadata.bytes` they declare, summed over aligned one-hour windows. Each
 * completed window feeds the actor's baseline: a decayed peak (what the actor has done at its busiest
 * lately) and an exponentially weighted mean of its active hours. The bulk and departing-user detectors
 * compare the hour in progress against these.
 */
import type { JudgedEvent } from '../detector.js';
import { HOUR, decay, eventRef, keepRef, metadataAmount, type EventRef } from './common.js';

export const METRICS = ['events', 'rows', 'bytes'] as const;
export type Metric = (typeof METRICS)[number];
export type Amounts = [events: number, rows: number, bytes: number];

const MAX_REFS = 40;
/** Weight of a new active hour in the mean. */
const MEAN_WEIGHT = 0.1;

export interface Volume {
  firstMicros: number;
  /** Completed windows with any data taken out. */
  windows: number;
  /** Decayed peak per metric, as of `peakAt`. */
  peak: Amounts;
  peakAt: number;
  mean: Amounts;
  /** The hour in progress (floor(time / HOUR)). */
  hour: number;
  amounts: Amounts;
  refs: EventRef[];
  reported: boolean;
}

export function newVolume(e: JudgedEvent): Volume {
  const hour = Math.floor(e.timeMicros / HOUR);
  return { firstMicros: e.timeMicros, windows: 0, peak: [0, 0, 0], peakAt: e.timeMicros, mean: [0, 0, 0], hour, amounts: [0, 0, 0], refs: [], reported: false };
}

export function amountsOf(e: JudgedEvent): Amounts {
  return [1, metadataAmount(e, 'rows') ?? 0, metadataAmount(e, 'bytes') ?? 0];
}

/**
 * Adds one data-out event. Returns false for an event of an hour already closed (late or imported out
 * of order): it joins the baseline, and the hour in progress is not changed.
 */
export function addToVolume(volume: Volume, e: JudgedEvent, halfLife: number): boolean {
  const hour = Math.floor(e.timeMicros / HOUR);
  volume.firstMicros = Math.min(volume.firstMicros, e.timeMicros);
  if (hour < volume.hour) {
    learnWindow(volume, hour, amountsOf(e), halfLife);
    return false;
  }
  if (hour > volume.hour) {
    if (volume.amounts[0] > 0) learnWindow(volume, volume.hour, volume.amounts, halfLife);
    volume.hour = hour;
    volume.amounts = [0, 0, 0];
    volume.refs = [];
    volume.reported = false;
  }
  const add = amountsOf(e);
  for (let m = 0; m < 3; m++) volume.amounts[m] = volume.amounts[m]! + add[m]!;
  keepRef(volume.refs, eventRef(e), MAX_REFS);
  return true;
}

function learnWindow(volume: Volume, hour: number, amounts: Amounts, halfLife: number): void {
  const at = hour * HOUR;
  const factor = at > volume.peakAt ? decay(at - volume.peakAt, halfLife) : 1;
  for (let m = 0; m < 3; m++) {
    volume.peak[m] = Math.max(volume.peak[m]! * factor, amounts[m]!);
    volume.mean[m] = volume.windows === 0 ? amounts[m]! : volume.mean[m]! + MEAN_WEIGHT * (amounts[m]! - volume.mean[m]!);
  }
  volume.peakAt = Math.max(volume.peakAt, at);
  volume.windows++;
}

/** The decayed peak of each metric at time `now`. */
export function peakAt(volume: Volume, now: number, halfLife: number): Amounts {
  const factor = decay(now - volume.peakAt, halfLife);
  return [volume.peak[0] * factor, volume.peak[1] * factor, volume.peak[2] * factor];
}

/** The first metric of the hour in progress above its threshold, or undefined. */
export function exceeded(volume: Volume, thresholds: Amounts): { metric: Metric; index: number; amount: number; threshold: number } | undefined {
  for (let m = 0; m < 3; m++) {
    if (volume.amounts[m]! > thresholds[m]!) return { metric: METRICS[m]!, index: m, amount: volume.amounts[m]!, threshold: thresholds[m]! };
  }
  return undefined;
}

export function describeAmount(metric: Metric, amount: number): string {
  if (metric === 'bytes') return amount >= 2 ** 30 ? `${(amount / 2 ** 30).toFixed(1)} GiB` : `${Math.round(amount / 2 ** 20)} MiB`;
  return `${Math.round(amount)} ${metric}`;
}
