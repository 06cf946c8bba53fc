/**
 * Issue 19: a bundle's redactions must be backed by the system ledger's forgetting records, carried in
 * the bundle and proven in a signed system-ledger checkpoint. A removal without a record, a record
 * edited, one for another ledger or reason, or a disclosed field turned into "erased" is invalid.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verifyBundle, type BundleReport } from '../../../src/core/bundle/index.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';
import { eventLines, manifestOf, MemoryLedger, redigest, rezip, setEventLines, setManifest, setText, text, unzipFiles, verifierKey } from './helpers.js';

const verify = (files: Map<string, Uint8Array> | Uint8Array): BundleReport =>
  verifyBundle({ files: files instanceof Map ? rezip(files) : files, verifierKey, suite: nodeSuite });

function erasedLedger(): MemoryLedger {
  const ledger = new MemoryLedger('payments');
  ledger.append(Array.from({ length: 6 }, (_, i) => sampleEvent(i)));
  ledger.erase(2, 'actor.email');
  ledger.erase(4, 'origin.ip', 'purged');
  return ledger;
}

const redactionProblems = (report: BundleReport) => report.problems.filter((p) => p.kind === 'redaction').map((p) => [p.index, p.field]);

describe('bundles prove their redactions were authorised', () => {
  it('carries the forgetting records and verifies', async () => {
    const files = unzipFiles(await erasedLedger().bundle());
    assert.deepEqual(verify(files).problems, []);
    const manifest = manifestOf(files);
    assert.equal(manifest.version, 2);
    assert.equal(manifest.forgetting.records, 2);
    const records = text(files, 'forgetting/records.jsonl').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(records[0].disclosures).sort(), ['action', 'metadata.forget'], 'who asked stays withheld');
    assert.match(text(files, 'forgetting/checkpoint.txt'), /^bundle\.test\/sealtrail-system\n/);
  });

  it('a bundle without redactions carries no forgetting files', async () => {
    const ledger = new MemoryLedger('payments');
    ledger.append([sampleEvent(0)]);
    const files = unzipFiles(await ledger.bundle());
    assert.equal(manifestOf(files).forgetting, null);
    assert.ok(![...files.keys()].some((name) => name.startsWith('forgetting/')));
    assert.deepEqual(verify(files).problems, []);
  });

  it('fails a removal that no record names (a forged erasure), naming event and field', async () => {
    const ledger = erasedLedger();
    ledger.erase(5, 'outcome', 'erased', false);
    const report = verify(await ledger.bundle());
    assert.equal(report.ok, false);
    assert.deepEqual(redactionProblems(report), [[5, 'outcome']]);
  });

  it('fails a disclosed field turned into "erased" in the bundle, even with every digest redone', async () => {
    const files = unzipFiles(await erasedLedger().bundle());
    const lines = eventLines(files);
    delete lines[1].disclosures.outcome;
    lines[1].redactions = { outcome: 'erased' };
    setEventLines(files, lines);
    const manifest = manifestOf(files);
    manifest.counts.redacted_fields += 1;
    setManifest(files, manifest);
    redigest(files);
    assert.deepEqual(redactionProblems(verify(files)), [[1, 'outcome']]);
  });

  it('fails an edited record, a record of another reason, and a missing system checkpoint signature', async () => {
    const base = unzipFiles(await erasedLedger().bundle());
    const records = () => text(base, 'forgetting/records.jsonl').trim().split('\n').map((l) => JSON.parse(l));

    // Widen a grant to cover more: its commitment no longer opens.
    const widened = new Map(base);
    const edited = records();
    edited[0].disclosures['metadata.forget'][1].ranges = [[0, 5, '*']];
    setText(widened, 'forgetting/records.jsonl', edited.map((r) => `${JSON.stringify(r)}\n`).join(''));
    redigest(widened);
    const report = verify(widened);
    assert.ok(report.problems.some((p) => p.kind === 'forgetting record' && p.file === 'forgetting/records.jsonl'), JSON.stringify(report.problems));
    assert.deepEqual(redactionProblems(report), [[2, 'actor.email']]);

    // The erasure of entry 2 relabelled as a purge: no record names that.
    const relabelled = new Map(base);
    const lines = eventLines(relabelled);
    lines[2].redactions = { 'actor.email': 'purged' };
    setEventLines(relabelled, lines);
    redigest(relabelled);
    assert.deepEqual(redactionProblems(verify(relabelled)), [[2, 'actor.email']]);

    // A system checkpoint that is not signed by the pinned key proves no record.
    const unsigned = new Map(base);
    setText(unsigned, 'forgetting/checkpoint.txt', text(base, 'forgetting/checkpoint.txt').replace(/— .*\n$/, '— bundle.test AAAAAAAA\n'));
    redigest(unsigned);
    const failed = verify(unsigned);
    assert.ok(failed.problems.some((p) => p.kind === 'checkpoint' && p.file === 'forgetting/checkpoint.txt'));
    assert.equal(redactionProblems(failed).length, 2);
  });

  it('a version 1 bundle with redactions is invalid, and says why', async () => {
    const files = unzipFiles(await erasedLedger().bundle());
    const manifest = manifestOf(files);
    manifest.version = 1;
    delete manifest.forgetting;
    manifest.files = manifest.files.filter((f: { name: string }) => !f.name.startsWith('forgetting/'));
    files.delete('forgetting/checkpoint.txt');
    files.delete('forgetting/records.jsonl');
    setManifest(files, manifest);
    const report = verify(files);
    assert.deepEqual(redactionProblems(report), [[2, 'actor.email'], [4, 'origin.ip']]);
    assert.match(report.problems.find((p) => p.kind === 'redaction')!.message, /version 1 bundle carries no forgetting records/);
  });
});
