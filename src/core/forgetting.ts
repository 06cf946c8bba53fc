/**
 * Forgetting records: the sealed authority for every redaction. Before a value is erased or purged, the
 * server seals a record into the system ledger naming the ledger, the entries and the field paths it is
 * about to remove, and why. A verifier accepts a redaction only when a verified record of the system
 * ledger names it, so whoever can write the database but not sign checkpoints cannot remove evidence
 * and call it an erasure; and whoever can sign leaves a sealed, permanent trace of what they removed.
 *
 * Record = an ordinary audit event in the system ledger, written by the server itself, with
 * `action` = FORGET_ACTION and the grant as the JSON value of `metadata.forget` (docs/FORMAT.md §11).
 * Pure: no I/O, runs in browsers.
 */
import { fail, SealtrailError } from './errors.js';
import type { AuditEvent } from './event.js';
import type { Disclosures, Redaction } from './commitments.js';

/** The ledger holding the server's own records. Its name is reserved. */
export const SYSTEM_LEDGER = 'sealtrail-system';
/** The writer id (leaf `writer`) of records the server makes itself; no API key can have it. */
export const SERVER_WRITER = 'sealtrail';
export const FORGET_ACTION = 'retention.forget';
/** The field path whose value is the grant. */
export const FORGET_PATH = 'metadata.forget';

/**
 * Entries [from, to] (inclusive) of the grant's ledger may lose `paths` ("*": every field) for `reason`.
 * Ranges keep a purge of millions of contiguous entries to a few records.
 */
export type GrantRange = [from: number, to: number, paths: string[] | '*'];

export interface ForgetGrant {
  ledger: string;
  reason: Redaction;
  /** The erasure or purge run this record belongs to (its subject.erase / retention.purge record). */
  run: string;
  /**
   * True for the one-time attestation of redactions made before forgetting records existed: the server
   * that upgraded the store vouches for what it found, without earlier proof.
   */
  legacy?: true;
  ranges: GrantRange[];
}

/** One entry's fields to authorise. */
export interface GrantRequest {
  index: number;
  paths: string[] | '*';
}

/** Ranges per record: the event schema allows 256 array items. */
const MAX_RANGES = 256;
/** JSON bytes of a grant's ranges per record, well inside the 16 KiB event limit with the rest. */
const MAX_RANGES_BYTES = 12_000;

/**
 * Grants covering every request, split so that each fits one audit event. Adjacent indexes with the
 * same paths share a range. Requests may come in any order.
 */
export function planGrants(ledger: string, reason: Redaction, run: string, requests: GrantRequest[], legacy = false): ForgetGrant[] {
  const sorted = [...requests].sort((a, b) => a.index - b.index);
  const grants: ForgetGrant[] = [];
  let ranges: GrantRange[] = [];
  let bytes = 0;
  const flush = () => {
    if (ranges.length === 0) return;
    grants.push({ ledger, reason, run, ...(legacy ? { legacy: true as const } : {}), ranges });
    ranges = [];
    bytes = 0;
  };
  for (const { index, paths } of sorted) {
    const key = paths === '*' ? '*' : [...new Set(paths)].sort();
    const last = ranges.at(-1);
    if (last && last[1] + 1 === index && samePaths(last[2], key)) {
      last[1] = index;
      continue;
    }
    if (last && last[1] >= index && samePaths(last[2], key)) continue;
    const size = JSON.stringify([index, index, key]).length + 1;
    if (ranges.length >= MAX_RANGES || bytes + size > MAX_RANGES_BYTES) flush();
    ranges.push([index, index, key]);
    bytes += size;
  }
  flush();
  return grants;
}

function samePaths(a: string[] | '*', b: string[] | '*'): boolean {
  if (a === '*' || b === '*') return a === b;
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

/** The event that seals a grant; `actor` is who asked for the erasure or purge. */
export function forgetRecordEvent(grant: ForgetGrant, actor: AuditEvent['actor']): AuditEvent {
  return {
    actor,
    action: FORGET_ACTION,
    category: 'delete',
    outcome: 'success',
    targets: [{ type: 'ledger', id: grant.ledger }],
    metadata: { forget: grant as unknown as Record<string, unknown> },
  };
}

const LEDGER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Reads a grant from a record's `metadata.forget` value; throws MALFORMED on anything else. */
export function parseGrant(value: unknown): ForgetGrant {
  const bad = (why: string): never => fail('MALFORMED', `forgetting record: ${why}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('not an object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!['ledger', 'reason', 'run', 'legacy', 'ranges'].includes(key)) bad(`unknown member ${key}`);
  if (typeof v.ledger !== 'string' || !LEDGER_NAME.test(v.ledger)) bad('ledger is not a ledger name');
  if (v.reason !== 'erased' && v.reason !== 'purged') bad('reason is neither erased nor purged');
  if (typeof v.run !== 'string') bad('run is not a string');
  if (v.legacy !== undefined && v.legacy !== true) bad('legacy is not true');
  if (!Array.isArray(v.ranges)) bad('ranges is not an array');
  const ranges = (v.ranges as unknown[]).map((r): GrantRange => {
    if (!Array.isArray(r) || r.length !== 3) return bad('a range is not [from, to, paths]');
    const [from, to, paths] = r as unknown[];
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || (from as number) < 0 || (to as number) < (from as number)) bad('a range has bad bounds');
    if (paths !== '*' && !(Array.isArray(paths) && paths.every((p) => typeof p === 'string'))) bad('a range has bad paths');
    return [from as number, to as number, paths as string[] | '*'];
  });
  return { ledger: v.ledger as string, reason: v.reason as Redaction, run: v.run as string, ...(v.legacy ? { legacy: true as const } : {}), ranges };
}

/**
 * The grant a verified system-ledger entry carries, or undefined when it is not a forgetting record.
 * Only the server's own records count (`writer` is sealed in the leaf; no API key can append to the
 * system ledger). A record that lost its grant or action is itself an unexplained removal: it throws.
 */
export function grantOf(writer: string, commitments: Record<string, string>, disclosures: Disclosures): ForgetGrant | undefined {
  if (writer !== SERVER_WRITER || !Object.hasOwn(commitments, FORGET_PATH)) return undefined;
  const action = Object.hasOwn(disclosures, 'action') ? disclosures.action![1] : undefined;
  if (!Object.hasOwn(disclosures, FORGET_PATH) || action === undefined) {
    throw new SealtrailError('COMMITMENT_MISMATCH', 'a forgetting record lost its grant or action: forgetting records are never forgotten', {
      path: Object.hasOwn(disclosures, FORGET_PATH) ? 'action' : FORGET_PATH,
    });
  }
  if (action !== FORGET_ACTION) return undefined;
  return parseGrant(disclosures[FORGET_PATH]![1]);
}

/** Where a redaction's authority was found: the system-ledger index of the record. */
export interface GrantSource {
  record: number;
  legacy: boolean;
  /** The record's received_at: a legacy attestation covers only entries received before it. */
  sealedAtMicros: number;
}

interface IndexedRange {
  from: number;
  to: number;
  paths: Set<string> | '*';
  source: GrantSource;
}

/**
 * A static interval tree over ranges sorted by `from`: node `mid` of [lo, hi) keeps the largest `to`
 * in its subtree, so a lookup visits only subtrees that can contain the index. O(log n + matches),
 * however wide or overlapping the ranges (one purge of a million entries beside many erasures).
 */
class RangeIndex {
  private ranges: IndexedRange[] = [];
  private reach: number[] = [];
  private built = true;

  push(range: IndexedRange): void {
    this.ranges.push(range);
    this.built = false;
  }

  /** The first range containing `index` that `accept` takes. */
  find(index: number, accept: (range: IndexedRange) => boolean): IndexedRange | undefined {
    if (!this.built) this.build();
    return this.search(0, this.ranges.length, index, accept);
  }

  private build(): void {
    this.ranges.sort((a, b) => a.from - b.from);
    this.reach = new Array<number>(this.ranges.length);
    const fill = (lo: number, hi: number): number => {
      if (lo >= hi) return -1;
      const mid = (lo + hi) >>> 1;
      const max = Math.max(this.ranges[mid]!.to, fill(lo, mid), fill(mid + 1, hi));
      this.reach[mid] = max;
      return max;
    };
    fill(0, this.ranges.length);
    this.built = true;
  }

  private search(lo: number, hi: number, index: number, accept: (range: IndexedRange) => boolean): IndexedRange | undefined {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.reach[mid]! < index) return undefined;
      const left = this.search(lo, mid, index, accept);
      if (left) return left;
      const range = this.ranges[mid]!;
      // Ranges right of mid start at or after mid's start: none can contain an index before it.
      if (range.from > index) return undefined;
      if (range.to >= index && accept(range)) return range;
      lo = mid + 1;
    }
    return undefined;
  }
}

/**
 * Every grant a verifier has accepted, looked up by (ledger, index, path, reason). Grants arrive from
 * the system ledger in any order relative to the entries they cover. Legacy attestations count from
 * the first attestation run only (the one made at the upgrade; a later one is ignored), and only for
 * entries received before it.
 */
export class ForgetAuthorisations {
  private readonly index = new Map<string, RangeIndex>();
  private legacyRun: string | undefined;
  count = 0;

  add(grant: ForgetGrant, source: GrantSource): void {
    if (grant.legacy) {
      this.legacyRun ??= grant.run;
      if (grant.run !== this.legacyRun) return;
    }
    const key = `${grant.reason} ${grant.ledger}`;
    let ranges = this.index.get(key);
    if (!ranges) this.index.set(key, (ranges = new RangeIndex()));
    for (const [from, to, paths] of grant.ranges) ranges.push({ from, to, paths: paths === '*' ? '*' : new Set(paths), source });
    this.count++;
  }

  /**
   * The record that authorises removing `path` of entry `index` (received at `receivedAtMicros`) for
   * `reason`, or undefined.
   */
  find(ledger: string, index: number, path: string, reason: Redaction, receivedAtMicros: number): GrantSource | undefined {
    const accept = (g: IndexedRange) => (g.paths === '*' || g.paths.has(path)) && (!g.source.legacy || receivedAtMicros < g.source.sealedAtMicros);
    return this.index.get(`${reason} ${ledger}`)?.find(index, accept)?.source;
  }
}

/**
 * Checks every redaction of one entry against the accepted grants; throws COMMITMENT_MISMATCH naming the
 * first field no sealed record authorises. Returns how many were authorised by a legacy attestation.
 */
export function checkRedactionsAuthorised(
  authorisations: ForgetAuthorisations,
  ledger: string,
  entry: { index: number; receivedAtMicros: number; redactions?: Record<string, Redaction> | undefined },
): number {
  let legacy = 0;
  for (const [path, reason] of Object.entries(entry.redactions ?? {})) {
    const source = authorisations.find(ledger, entry.index, path, reason, entry.receivedAtMicros);
    if (!source) {
      throw new SealtrailError(
        'COMMITMENT_MISMATCH',
        `recorded as ${reason}, but no sealed forgetting record in ${SYSTEM_LEDGER} authorises it (an unexplained removal)`,
        { path },
      );
    }
    if (source.legacy) legacy++;
  }
  return legacy;
}
