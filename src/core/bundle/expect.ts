/**
 * The auditor's own expectations of a bundle. A bundle proves that the events it holds are in the
 * ledger with the values shown; it cannot prove that nothing was left out: an exporter (or anyone who
 * edits the archive and its unsigned manifest) can drop an event, withhold more fields than agreed, or
 * present a disclosed field as erased, and the bundle still verifies. What was left out can only be
 * judged against what the auditor expected to receive, so the verifier takes that expectation as input:
 *
 * - `count`: exactly this many events;
 * - `indexes`: exactly these leaf indexes (e.g. the ones a search the auditor ran returned);
 * - `disclosed`: these field paths or groups are disclosed wherever an event commits them, so neither
 *   withheld nor erased nor purged in any event (a path an event does not commit at all is not a failure:
 *   that event never had the field).
 *
 * Each unmet expectation is a problem of kind "expectation", so that the bundle is invalid for this
 * auditor. Only events that verified count as present.
 */
import { fail } from '../errors.js';
import { isWithheld, isWithholdSpec } from './format.js';
import type { BundleProblem, VerifiedBundleEvent } from './verify.js';

/** Leaf indexes first…last, both included. */
export interface IndexRange {
  first: number;
  last: number;
}

export interface BundleExpectations {
  /** The bundle holds exactly this many (verified) events. */
  count?: number;
  /** The bundle holds exactly the events of these indexes, no more, no fewer. */
  indexes?: readonly IndexRange[];
  /** Field paths ("actor.id") or groups ("actor") that no event may withhold or redact. */
  disclosed?: readonly string[];
}

/** Longest index list accepted as text: an expectation is typed or pasted, not a data file. */
const MAX_INDEX_LIST_CHARS = 100_000;
/** Ranges named in one problem message; the rest are counted. */
const LISTED_RANGES = 20;

/** Parses "1-5,9,12-12" into ranges. INVALID_ARGUMENT names the part that is not an index or a range. */
export function parseIndexRanges(text: string): IndexRange[] {
  if (text.length > MAX_INDEX_LIST_CHARS) fail('INVALID_ARGUMENT', `the index list is longer than ${MAX_INDEX_LIST_CHARS} characters`);
  const ranges: IndexRange[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = /^(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?$/.exec(part);
    const first = match ? Number(match[1]) : NaN;
    const last = match?.[2] !== undefined ? Number(match[2]) : first;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first) {
      fail('INVALID_ARGUMENT', `${JSON.stringify(part)} is not an index or a range first-last of indexes`);
    }
    ranges.push({ first, last });
  }
  if (ranges.length === 0) fail('INVALID_ARGUMENT', 'the index list is empty');
  return ranges;
}

/** Sorted, overlapping and adjacent ranges joined. */
function mergeRanges(ranges: readonly IndexRange[]): IndexRange[] {
  const merged: IndexRange[] = [];
  for (const range of [...ranges].sort((a, b) => a.first - b.first)) {
    const last = merged[merged.length - 1];
    if (last && range.first <= last.last + 1) last.last = Math.max(last.last, range.last);
    else merged.push({ ...range });
  }
  return merged;
}

function describeRanges(ranges: readonly IndexRange[]): string {
  const shown = ranges.slice(0, LISTED_RANGES).map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`));
  const events = ranges.reduce((sum, r) => sum + (r.last - r.first + 1), 0);
  const more = ranges.length > LISTED_RANGES ? `, … (${ranges.length} ranges in all)` : '';
  return `${shown.join(', ')}${more} (${events} event${events === 1 ? '' : 's'})`;
}

/** Throws INVALID_ARGUMENT for an expectation that cannot be met by any bundle (a caller's mistake). */
export function checkExpectations(expect: BundleExpectations): void {
  if (expect.count !== undefined && !(Number.isSafeInteger(expect.count) && expect.count >= 0)) fail('INVALID_ARGUMENT', 'the expected count must be a whole number');
  for (const range of expect.indexes ?? []) {
    if (!Number.isSafeInteger(range.first) || !Number.isSafeInteger(range.last) || range.first < 0 || range.last < range.first) {
      fail('INVALID_ARGUMENT', `expected indexes ${range.first}-${range.last} are not a range of indexes`);
    }
  }
  for (const spec of expect.disclosed ?? []) {
    if (!isWithholdSpec(spec)) fail('INVALID_ARGUMENT', `expected disclosed ${JSON.stringify(spec)}: not a field path or group`);
  }
}

/** Whether a field path is covered by a spec, or a spec by a withheld spec, in either direction (a group and one of its paths). */
const overlaps = (a: string, b: string): boolean => isWithheld(a, new Set([b])) || isWithheld(b, new Set([a]));

/** Collects what the verified events show and reports every expectation they do not meet. */
export class ExpectationCheck {
  private readonly seen: number[] = [];
  private readonly disclosed: ReadonlySet<string>;

  constructor(
    private readonly expect: BundleExpectations,
    private readonly add: (problem: BundleProblem) => void,
  ) {
    checkExpectations(expect);
    this.disclosed = new Set(expect.disclosed ?? []);
  }

  /** One verified event: its index, and every expected field it withholds or redacts. */
  see(event: VerifiedBundleEvent): void {
    this.seen.push(event.index);
    if (this.disclosed.size === 0) return;
    const missing: Array<[string, string]> = [
      ...event.withheld.map((path): [string, string] => [path, 'withheld by the exporter']),
      ...Object.entries(event.redactions).map(([path, why]): [string, string] => [path, why]),
    ];
    for (const [path, why] of missing) {
      if (!isWithheld(path, this.disclosed)) continue;
      this.add({ kind: 'expectation', index: event.index, field: path, message: `event ${event.index}, field ${path}: expected disclosed, but it is ${why}` });
    }
  }

  /** After the last event: counts, indexes, and the manifest's withheld list against `disclosed`. */
  finish(withheld: readonly string[] | undefined): void {
    const { count, indexes } = this.expect;
    if (count !== undefined && this.seen.length !== count) {
      this.add({ kind: 'expectation', message: `expected ${count} event${count === 1 ? '' : 's'}, the bundle proves ${this.seen.length}` });
    }
    for (const spec of withheld ?? []) {
      const expected = [...this.disclosed].filter((d) => overlaps(d, spec));
      if (expected.length > 0) this.add({ kind: 'expectation', field: spec, message: `manifest.json: withholds ${spec}, which you expect disclosed (${expected.join(', ')})` });
    }
    if (indexes === undefined) return;
    const wanted = mergeRanges(indexes);
    const present = [...new Set(this.seen)].sort((a, b) => a - b);
    const missing: IndexRange[] = [];
    const extra: IndexRange[] = [];
    const note = (list: IndexRange[], first: number, last: number) => {
      const tail = list[list.length - 1];
      if (tail && tail.last + 1 === first) tail.last = last;
      else list.push({ first, last });
    };
    // One walk over both sorted lists: what is wanted but absent, and what is present but not wanted.
    let r = 0;
    let next = wanted[0]?.first ?? 0;
    for (const index of present) {
      while (r < wanted.length && wanted[r]!.last < index) {
        if (next <= wanted[r]!.last) note(missing, next, wanted[r]!.last);
        r++;
        next = wanted[r]?.first ?? 0;
      }
      const range = wanted[r];
      if (range && index >= range.first) {
        if (next < index) note(missing, next, index - 1);
        next = index + 1;
      } else {
        note(extra, index, index);
      }
    }
    for (; r < wanted.length; r++) {
      const from = Math.max(next, wanted[r]!.first);
      if (from <= wanted[r]!.last) note(missing, from, wanted[r]!.last);
      next = wanted[r + 1]?.first ?? 0;
    }
    if (missing.length > 0) {
      this.add({ kind: 'expectation', index: missing[0]!.first, message: `expected events ${describeRanges(missing)} are not in the bundle (left out, or their lines did not verify)` });
    }
    if (extra.length > 0) {
      this.add({ kind: 'expectation', index: extra[0]!.first, message: `events ${describeRanges(extra)} are in the bundle but were not expected` });
    }
  }
}
