/**
 * An in-memory ledger for bundle tests: seals events with the real core (commitments, leaves, tree,
 * signed checkpoints), keeps the stored hashes a store would keep (leaf hashes and level ≥ 1 tiles), and
 * writes bundles with the real writer. Two instances with the same key and ledger name but different
 * events are two forks of one history.
 */
import { unzipSync, zipSync } from 'fflate';
import { fromUtf8, toHex, utf8 } from '../../../src/core/bytes.js';
import { signCheckpoint } from '../../../src/core/checkpoint.js';
import { SaltSource } from '../../../src/core/commitments.js';
import { portableSigner } from '../../../src/core/crypto.js';
import type { AuditEvent } from '../../../src/core/event.js';
import { sealEvent, type SealedEntry } from '../../../src/core/leaf.js';
import { formatVerifierKey } from '../../../src/core/note.js';
import { Frontier, planConsistencyProof, planInclusionProof, type HashRange } from '../../../src/core/tree.js';
import { writeBundle, type BundleEventInput, type BundleForgetting, type Redaction } from '../../../src/core/bundle/index.js';
import { forgetRecordEvent, ForgetAuthorisations, grantOf, planGrants, SERVER_WRITER, SYSTEM_LEDGER } from '../../../src/core/forgetting.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';

export const DEPLOYMENT = 'bundle.test';
export const signer = portableSigner(new Uint8Array(32).fill(3));
export const verifierKey = formatVerifierKey(nodeSuite, DEPLOYMENT, signer.publicKey);
export const otherSigner = portableSigner(new Uint8Array(32).fill(4));
export const otherKey = formatVerifierKey(nodeSuite, DEPLOYMENT, otherSigner.publicKey);

export class MemoryLedger {
  readonly entries: Array<SealedEntry & { redactions?: Record<string, Redaction> }> = [];
  readonly frontier = new Frontier();
  readonly tiles = new Map<number, Uint8Array[]>();
  readonly checkpoints = new Map<number, string>();
  private readonly salts = new SaltSource(nodeSuite);
  /** The deployment's system ledger, where erase() seals the forgetting records. */
  system?: MemoryLedger;

  constructor(
    readonly ledger: string,
    private readonly key = signer,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  /** Appends one batch and signs its checkpoint; returns the note. */
  append(events: AuditEvent[], writer = 'k_test'): string {
    for (const event of events) {
      const index = this.entries.length;
      const sealed = sealEvent(nodeSuite, { ledger: this.ledger, index, receivedAtMicros: 1_795_680_000_000_000 + index, writer, event }, this.salts);
      this.entries.push(sealed);
      for (const stored of this.frontier.append(nodeSuite, sealed.leafHash)) {
        const level = this.tiles.get(stored.level) ?? [];
        level[stored.index] = stored.hash;
        this.tiles.set(stored.level, level);
      }
    }
    const note = signCheckpoint(
      nodeSuite,
      { origin: `${DEPLOYMENT}/${this.ledger}`, size: this.size, rootHash: this.frontier.root(nodeSuite), extensions: [] },
      [{ name: DEPLOYMENT, signer: this.key }],
    );
    this.checkpoints.set(this.size, note);
    return note;
  }

  /**
   * Simulates erasure as the server does it: a forgetting record naming the field is sealed in the
   * system ledger, then the disclosure is gone and the entry records why. `sealRecord: false` forges it.
   */
  erase(index: number, path: string, why: Redaction = 'erased', sealRecord = true): void {
    if (sealRecord) {
      this.system ??= new MemoryLedger(SYSTEM_LEDGER, this.key);
      const [grant] = planGrants(this.ledger, why, 'erasure_test', [{ index, paths: [path] }]);
      this.system.append([forgetRecordEvent(grant!, { type: 'system', id: 'test' })], SERVER_WRITER);
    }
    const entry = this.entries[index]!;
    delete entry.disclosures[path];
    entry.redactions = { ...entry.redactions, [path]: why };
  }

  /** The writer's view of the system ledger's forgetting records. */
  forgetting(): BundleForgetting | undefined {
    const system = this.system;
    if (!system) return undefined;
    const authority = new ForgetAuthorisations();
    system.entries.forEach((entry, index) => {
      const grant = grantOf(SERVER_WRITER, JSON.parse(fromUtf8(entry.leaf)).commitments, entry.disclosures);
      if (grant) authority.add(grant, { record: index, legacy: false, sealedAtMicros: Number.MAX_SAFE_INTEGER });
    });
    return {
      recordFor: async (index, path, reason, receivedAtMicros) => authority.find(this.ledger, index, path, reason, receivedAtMicros)?.record,
      records: async (indexes) => ({
        checkpoint: system.checkpoints.get(system.size)!,
        records: indexes.map((index) => ({ index, leaf: system.entries[index]!.leaf, disclosures: system.entries[index]!.disclosures, inclusionProof: system.inclusion(index, system.size) })),
      }),
    };
  }

  private read(ranges: HashRange[]): Uint8Array[][] {
    return ranges.map((r) => (r.level === 0 ? this.entries.map((e) => e.leafHash) : this.tiles.get(r.level)!).slice(r.start, r.end));
  }

  inclusion(index: number, size: number): Uint8Array[] {
    const plan = planInclusionProof(nodeSuite, index, size);
    return plan.finish(this.read(plan.reads));
  }

  consistency(from: number, to: number): Uint8Array[] {
    if (from === 0) return [];
    const plan = planConsistencyProof(nodeSuite, from, to);
    return plan.finish(this.read(plan.reads));
  }

  /** Writes a bundle of the selected entries against the checkpoint of `size` (default: latest). */
  async bundle(options: { select?: (index: number) => boolean; withhold?: string[]; auditor?: string[]; size?: number; eventsPerFile?: number; query?: string } = {}): Promise<Uint8Array> {
    const size = options.size ?? this.size;
    const selected: BundleEventInput[] = [];
    for (let index = 0; index < size; index++) {
      if (options.select && !options.select(index)) continue;
      const entry = this.entries[index]!;
      selected.push({ index, leaf: entry.leaf, disclosures: entry.disclosures, inclusionProof: this.inclusion(index, size), redactions: entry.redactions });
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of writeBundle({
      suite: nodeSuite,
      ledger: this.ledger,
      query: options.query ?? 'action:file.download',
      exportedAt: '2026-11-27T10:00:00.000000Z',
      verifierKey,
      checkpoint: this.checkpoints.get(size)!,
      withhold: options.withhold ?? [],
      auditorCheckpoints: (options.auditor ?? []).map((note) => {
        const auditorSize = Number(note.split('\n')[1]);
        return { note, proof: this.consistency(Math.min(auditorSize, size), Math.max(auditorSize, size)) };
      }),
      events: selected,
      ...(this.forgetting() ? { forgetting: this.forgetting()! } : {}),
      ...(options.eventsPerFile ? { eventsPerFile: options.eventsPerFile } : {}),
    })) {
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }
}

/** The files of a zip archive, by name. */
export function unzipFiles(archive: Uint8Array): Map<string, Uint8Array> {
  return new Map(Object.entries(unzipSync(archive)));
}

export function rezip(files: Map<string, Uint8Array>): Uint8Array {
  return zipSync(Object.fromEntries(files));
}

export const text = (files: Map<string, Uint8Array>, name: string): string => fromUtf8(files.get(name)!);
export const setText = (files: Map<string, Uint8Array>, name: string, value: string): void => void files.set(name, utf8(value));

/** The manifest as an object, to change and write back with setManifest. */
export const manifestOf = (files: Map<string, Uint8Array>): any => JSON.parse(text(files, 'manifest.json'));
export const setManifest = (files: Map<string, Uint8Array>, manifest: unknown): void => setText(files, 'manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);

/**
 * Rewrites the manifest's digest of every file to match the files as they are now, as an attacker who
 * changes a file would, so that the check that must catch the change is not the digest.
 */
export function redigest(files: Map<string, Uint8Array>): void {
  const manifest = manifestOf(files);
  manifest.files = manifest.files
    .filter((f: { name: string }) => files.has(f.name))
    .map((f: { name: string }) => ({ name: f.name, bytes: files.get(f.name)!.length, sha256: toHex(nodeSuite.sha256(files.get(f.name)!)) }));
  setManifest(files, manifest);
}

/** Lines of an events part and a writer for them. */
export const eventLines = (files: Map<string, Uint8Array>, part = 'events/part-00000.jsonl'): any[] =>
  text(files, part).trimEnd().split('\n').map((line) => JSON.parse(line));
export const setEventLines = (files: Map<string, Uint8Array>, lines: unknown[], part = 'events/part-00000.jsonl'): void =>
  setText(files, part, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
