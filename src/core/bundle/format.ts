/**
 * Evidence bundles: a zip archive that lets an auditor check a selection of events offline, with nothing
 * but the deployment's verifier key. docs/FORMAT.md ("Evidence bundles") describes every file; this
 * module holds the names, the JSON shapes and the rules shared by the writer (write.ts) and the
 * verifier (verify.ts), so that the two cannot drift apart.
 *
 * Layout (every name fixed, nothing else allowed):
 *
 *     README.txt                       how to verify, with and without sealtrail
 *     verifier-key.txt                 the deployment's verifier key string and "\n"
 *     checkpoint.txt                   the signed note every inclusion proof is against
 *     auditor/checkpoint-K.txt         K = 0, 1, …: checkpoints the requester supplied, as given
 *     auditor/consistency-K.json       {"from","to","hashes"}: RFC 9162 proof between K and checkpoint.txt
 *     events/part-NNNNN.jsonl          N = 00000, 00001, …: one event per line, in increasing index order
 *     forgetting/checkpoint.txt        when events have redactions: the system ledger's signed note
 *     forgetting/records.jsonl         the system ledger's forgetting records that authorise them
 *     manifest.json                    what was exported, counts, and the SHA-256 of every other file
 */
import { isFieldPath, type Redaction } from '../commitments.js';

export const BUNDLE_FORMAT = 'sealtrail-evidence-bundle';
/** 2 added the forgetting records; a verifier still reads version 1 bundles, whose redactions no record backs. */
export const BUNDLE_VERSION = 2;
export const SUPPORTED_BUNDLE_VERSIONS: readonly number[] = [1, 2];

export const MANIFEST_FILE = 'manifest.json';
export const README_FILE = 'README.txt';
export const VERIFIER_KEY_FILE = 'verifier-key.txt';
export const CHECKPOINT_FILE = 'checkpoint.txt';
export const FORGETTING_CHECKPOINT_FILE = 'forgetting/checkpoint.txt';
export const FORGETTING_RECORDS_FILE = 'forgetting/records.jsonl';
/**
 * The fields of a forgetting record a bundle discloses: what it authorises. The rest (who asked, the
 * target ledger as a target) stays withheld; verification needs only these two.
 */
export const FORGETTING_RECORD_FIELDS: readonly string[] = ['action', 'metadata.forget'];

/** Events per part: bounds what a writer or a verifier holds in memory at once (a few MiB). */
export const DEFAULT_EVENTS_PER_FILE = 1000;
/** Auditor checkpoints one bundle may carry. */
export const MAX_AUDITOR_CHECKPOINTS = 16;

export const eventFileName = (part: number): string => `events/part-${String(part).padStart(5, '0')}.jsonl`;
export const auditorCheckpointName = (k: number): string => `auditor/checkpoint-${k}.txt`;
export const auditorProofName = (k: number): string => `auditor/consistency-${k}.json`;

/** How a bundle checkpoint and an auditor checkpoint relate: which one the consistency proof starts from. */
export type CheckpointRelation = 'older' | 'same' | 'newer';

export function relationOf(auditorSize: number, bundleSize: number): CheckpointRelation {
  return auditorSize < bundleSize ? 'older' : auditorSize === bundleSize ? 'same' : 'newer';
}

export interface ManifestFile {
  name: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the file's bytes (the form `sha256sum` prints). */
  sha256: string;
}

export interface ManifestEventFile {
  file: string;
  count: number;
  first_index: number;
  last_index: number;
}

export interface ManifestAuditorCheckpoint {
  checkpoint_file: string;
  proof_file: string;
  size: number;
  relation: CheckpointRelation;
}

/** Where the forgetting records are, and the system-ledger checkpoint they are proven in. */
export interface ManifestForgetting {
  checkpoint_file: typeof FORGETTING_CHECKPOINT_FILE;
  records_file: typeof FORGETTING_RECORDS_FILE;
  size: number;
  root_hash: string;
  records: number;
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: number;
  ledger: string;
  /** The checkpoint origin: `<deployment name>/<ledger>`. */
  origin: string;
  /** The search query that selected the events (docs/SEARCH.md), as the requester wrote it. */
  query: string;
  /** Server time of the export, `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
  exported_at: string;
  checkpoint: { file: typeof CHECKPOINT_FILE; size: number; root_hash: string };
  verifier_key_file: typeof VERIFIER_KEY_FILE;
  /** Withhold specifications (field paths or whole groups), sorted, without duplicates. */
  withheld: string[];
  counts: { events: number; event_files: number; auditor_checkpoints: number; redacted_fields: number };
  events: ManifestEventFile[];
  auditor_checkpoints: ManifestAuditorCheckpoint[];
  /** Version 2: null when no event has a redaction; absent in version 1. */
  forgetting?: ManifestForgetting | null;
  /** Every file of the archive except manifest.json, sorted by name. */
  files: ManifestFile[];
}

export type { Redaction } from '../commitments.js';

/** One line of an events part. */
export interface BundleEventLine {
  index: number;
  /** Standard base64 of the exact leaf bytes. */
  leaf: string;
  /** Field path → [salt, value] for every field neither withheld nor redacted. */
  disclosures: Record<string, [string, unknown]>;
  /** Audit path of the leaf in the tree of checkpoint.txt, leaf sibling first, standard base64. */
  inclusion_proof: string[];
  /** Present when fields were erased or purged in the store: path → why it has no disclosure. */
  redactions?: Record<string, Redaction>;
}

/** One line of forgetting/records.jsonl: a system-ledger entry, partly disclosed, with its proof. */
export interface BundleRecordLine {
  index: number;
  leaf: string;
  disclosures: Record<string, [string, unknown]>;
  inclusion_proof: string[];
}

/** The consistency proof file of an auditor checkpoint. */
export interface BundleConsistencyProof {
  from: number;
  to: number;
  hashes: string[];
}

/**
 * Groups that may be withheld as a whole: `origin` withholds origin.ip, origin.user_agent and
 * origin.device_id; `targets` every target; `metadata` every metadata key.
 */
const WITHHOLD_GROUPS = new Set(['actor', 'origin', 'targets', 'metadata']);

/** Whether `spec` names a field path or a whole group that can be withheld. */
export function isWithholdSpec(spec: string): boolean {
  return WITHHOLD_GROUPS.has(spec) || isFieldPath(spec);
}

/** Whether field `path` is withheld by any of `specs` (exactly, or as a member of a withheld group). */
export function isWithheld(path: string, specs: ReadonlySet<string>): boolean {
  if (specs.has(path)) return true;
  const dot = path.indexOf('.');
  return dot > 0 && specs.has(path.slice(0, dot));
}

/** The manifest's form of a withhold list: sorted, without duplicates. */
export function normalizeWithheld(specs: readonly string[]): string[] {
  return [...new Set(specs)].sort();
}

/** The README placed in every bundle. It names the values an auditor needs, and nothing it cannot check. */
export interface ReadmeStatements {
  ledger: string;
  origin: string;
  query: string;
  exportedAt: string;
  checkpointSize: number;
  withheld: readonly string[];
}

/**
 * The statement lines of the README: `Label: value`, values that could hold anything written as JSON.
 * The verifier requires them to agree with the manifest, so that an accidental or careless change of
 * either (the query, the time) is caught; README.txt itself is covered by its digest in the manifest.
 * That is consistency, not authenticity: neither file is signed.
 */
const STATEMENT = /^(Ledger|Origin|Query|Exported at|Checkpoint size|Withheld): +(.*)$/;

function statementLines(s: ReadmeStatements): string {
  return [
    `Ledger:          ${s.ledger}`,
    `Origin:          ${s.origin}`,
    `Query:           ${JSON.stringify(s.query)}`,
    `Exported at:     ${s.exportedAt}`,
    `Checkpoint size: ${s.checkpointSize}`,
    `Withheld:        ${JSON.stringify(s.withheld)}`,
  ].join('\n');
}

/** The statements of a README, or the label of the first one missing or repeated. */
export function readmeStatements(text: string): ReadmeStatements | string {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = STATEMENT.exec(line);
    if (!match) continue;
    if (found.has(match[1]!)) return `repeats "${match[1]}:"`;
    found.set(match[1]!, match[2]!);
  }
  for (const label of ['Ledger', 'Origin', 'Query', 'Exported at', 'Checkpoint size', 'Withheld']) {
    if (!found.has(label)) return `has no "${label}:" line`;
  }
  try {
    const query: unknown = JSON.parse(found.get('Query')!);
    const withheld: unknown = JSON.parse(found.get('Withheld')!);
    const size = found.get('Checkpoint size')!;
    if (typeof query !== 'string' || !Array.isArray(withheld) || !/^(0|[1-9][0-9]*)$/.test(size)) return 'has a malformed statement';
    return { ledger: found.get('Ledger')!, origin: found.get('Origin')!, query, exportedAt: found.get('Exported at')!, checkpointSize: Number(size), withheld: withheld as string[] };
  } catch {
    return 'has a malformed statement';
  }
}

export function bundleReadme(input: ReadmeStatements & { verifierKey: string }): string {
  return `SEALTRAIL EVIDENCE BUNDLE
=========================

${statementLines(input)}

The deployment's verifier key, as written in this bundle, is:

    ${input.verifierKey}

DO NOT TRUST THAT KEY BECAUSE IT IS WRITTEN HERE. Compare it with the key you obtained from the
deployment's operator through another channel (or saved earlier). Everything below is proven only
relative to the key you trust.

What this bundle proves
-----------------------
- Each event in events/ was sealed into the ledger at the position (index) it names, at the time
  in its leaf, and is included in the tree whose root the checkpoint in checkpoint.txt signs.
- Each disclosed field value is exactly the value that was sealed (salted SHA-256 commitments).
  Fields listed under "withheld" in manifest.json were left out on purpose by the exporter; fields
  listed under "redactions" of an event were erased or purged in the ledger. Their commitments
  remain in the leaf, so the rest still verifies.
- Each redaction was authorised before it was made: forgetting/records.jsonl holds the system
  ledger's forgetting records (action "retention.forget"), each proven in the signed system-ledger
  checkpoint forgetting/checkpoint.txt, and each redacted field is named by one of them (ledger,
  entry range, field, reason). A value removed without such a record makes the bundle invalid.
- Each checkpoint in auditor/ (one you supplied when the bundle was made) is consistent with
  checkpoint.txt: one tree is a prefix of the other (RFC 9162 consistency proof), so the ledger
  you were shown then and the one proven here are the same history.

What it does not prove
----------------------
- That nothing was left out. Whoever made or edited this archive (manifest.json is not signed) can
  drop an event and fix the counts, or withhold more fields, and the rest still verifies. Only you
  know what you expected to receive: check it (below, --expect-*).
- That no other event matches the query. The query, the export time and the list of withheld fields
  above are the exporter's statements; nothing signs them.

Verifying with sealtrail (no server or database needed)
-------------------------------------------------------
    sealtrail verify-bundle THIS.zip --key '<the verifier key you trust>'

Add --checkpoint FILE for each checkpoint you saved earlier, to require that the bundle proves
consistency with it. Add --expect-count N, --expect-indexes 1-5,9 (the events you expect, e.g.
the ones your own search returned) and --expect-disclosed actor.id,outcome (fields that must not be
withheld, erased or purged in any event that has them) to check what the bundle cannot prove by
itself. Exit status 0 means every check passed.

Verifying without sealtrail
---------------------------
docs/FORMAT.md of sealtrail ("Evidence bundles" and sections 2-7) gives every byte. In short:

1. File digests. manifest.json lists the SHA-256 of every other file; no other file may be present:
       jq -r '.files[] | "\\(.sha256)  \\(.name)"' manifest.json | sha256sum -c
2. Checkpoint signature. checkpoint.txt is a C2SP signed note: a body, one empty line, then
   signature lines "— <name> <base64>", each a 4-byte key ID and a 64-byte Ed25519 signature over
   the body (including its final newline). The verifier key is
   <name>+<key ID hex>+<base64(0x01 || 32-byte public key)>. The body is three lines: origin (must be
   <name>/${input.ledger}), tree size, base64 root hash. With OpenSSL 3: write the 32-byte key after the
   DER prefix 302a300506032b6570032100 as a public key file, the body to body.txt, the 64 signature
   bytes to sig.bin, and run
       openssl pkeyutl -verify -pubin -inkey key.der -keyform DER -rawin -in body.txt -sigfile sig.bin
3. Events. Each line of events/part-*.jsonl is {"index","leaf","disclosures","inclusion_proof"}
   (and "redactions" when present). Decode the leaf (base64) to its exact bytes, which are canonical
   JSON (RFC 8785) with "index" and "ledger" equal to the line's. Leaf hash = SHA-256(0x00 || leaf).
   Check the inclusion proof for that index and the checkpoint's size against its root hash with the
   algorithm of RFC 9162 section 2.1.3.2 (node hash = SHA-256(0x01 || left || right)).
4. Fields. For each disclosure path: [salt, value], compute
       base64url(SHA-256(UTF-8(JCS([salt, path, value]))))   (no padding)
   and compare with leaf.commitments[path].
5. Auditor checkpoints. Check each signature as in step 2, then the RFC 9162 section 2.1.4.2
   consistency proof in auditor/consistency-K.json from the smaller tree size to the larger one.
6. Redactions. Check forgetting/checkpoint.txt as in step 2 (origin <name>/sealtrail-system) and each
   line of forgetting/records.jsonl as in steps 3 and 4 against it (its leaf's "writer" must be
   "sealtrail", its disclosed "action" "retention.forget"). The disclosed "metadata.forget" value is
   {"ledger","reason","run","ranges":[[from,to,paths or "*"],…]}: every redacted field of every event
   must fall in a range of a record with this ledger and the same reason.
`;
}
