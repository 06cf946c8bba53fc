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
}

/**
 * Every grant a verifier has accepted, looked up by (ledger, index, path, reason). Grants arrive from
 * the system ledger in any order relative to the entries they cover.
 */
export class ForgetAuthorisations {
  private readonly byLedger = new Map<string, Array<{ from: number; to: number; paths: Set<string> | '*'; reason: Redaction; source: GrantSource }>>();
  /** Per ledger, once sorted by `from`: the largest `to` among ranges 0..i, to end a backward scan early. */
  private readonly reach = new Map<string, number[]>();
  count = 0;

  add(grant: ForgetGrant, source: GrantSource): void {
    const list = this.byLedger.get(grant.ledger) ?? [];
    for (const [from, to, paths] of grant.ranges) list.push({ from, to, paths: paths === '*' ? '*' : new Set(paths), reason: grant.reason, source });
    this.byLedger.set(grant.ledger, list);
    this.reach.delete(grant.ledger);
    this.count++;
  }

  /** The record that authorises removing `path` of entry `index` for `reason`, or undefined. */
  find(ledger: string, index: number, path: string, reason: Redaction): GrantSource | undefined {
    const list = this.byLedger.get(ledger);
    if (!list) return undefined;
    let reach = this.reach.get(ledger);
    if (!reach) {
      list.sort((a, b) => a.from - b.from);
      let max = -1;
      reach = list.map((g) => (max = Math.max(max, g.to)));
      this.reach.set(ledger, reach);
    }
    // Ranges starting at or before index may overlap it; scanning back stops where none reaches it.
    let hi = list.length;
    let lo = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.from <= index) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1; i >= 0 && reach[i]! >= index; i--) {
      const g = list[i]!;
      if (g.to >= index && g.reason === reason && (g.paths === '*' || g.paths.has(path))) return g.source;
    }
    return undefined;
  }
}

/**
 * Checks every redaction of one entry against the accepted grants; throws COMMITMENT_MISMATCH naming the
 * first field no sealed record authorises.
 */
export function checkRedactionsAuthorised(
  authorisations: ForgetAuthorisations,
  ledger: string,
  index: number,
  redactions: Record<string, Redaction> | undefined,
): void {
  for (const [path, reason] of Object.entries(redactions ?? {})) {
    if (!authorisations.find(ledger, index, path, reason)) {
      throw new SealtrailError(
        'COMMITMENT_MISMATCH',
        `recorded as ${reason}, but no sealed forgetting record in ${SYSTEM_LEDGER} authorises it (an unexplained removal)`,
        { path },
      );
    }
  }
}
