/**
 * Evidence bundles, offline: a bundle written by the real writer verifies against the pinned key, with
 * and without withheld and erased fields, and every kind of tampering fails with a reason that names
 * the file, the event and the field or proof concerned. Most tampering also rewrites the manifest's
 * digests (`redigest`), as a careful attacker would, so that the check that must catch the change is
 * not merely the digest.
 *
 * Ledger "payments": batches of 150, 150 and 20 events (checkpoints at 150, 300, 320); bundles select
 * every third event (index % 3 === 0) against the checkpoint of size 300.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64, toBase64 } from '../../../src/core/bytes.js';
import { decodeLeaf, encodeLeaf } from '../../../src/core/leaf.js';
import { verifyBundle, type BundleProblem, type BundleReport } from '../../../src/core/bundle/index.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';
import {
  eventLines,
  manifestOf,
  MemoryLedger,
  otherKey,
  redigest,
  rezip,
  setEventLines,
  setManifest,
  setText,
  text,
  unzipFiles,
  verifierKey,
} from './helpers.js';

const SELECT = (i: number) => i % 3 === 0;
let ledger: MemoryLedger;
let fork: MemoryLedger;
let plain: Uint8Array;
let withheld: Uint8Array;
let cp150: string;
let cp320: string;

before(async () => {
  ledger = new MemoryLedger('payments');
  cp150 = ledger.append(Array.from({ length: 150 }, (_, i) => sampleEvent(i)));
  ledger.append(Array.from({ length: 150 }, (_, i) => sampleEvent(150 + i)));
  cp320 = ledger.append(Array.from({ length: 20 }, (_, i) => sampleEvent(300 + i)));
  // Same key, same ledger name, a different event at 100: a forked history.
  fork = new MemoryLedger('payments');
  fork.append(Array.from({ length: 150 }, (_, i) => sampleEvent(i === 100 ? 999 : i)));
  plain = await ledger.bundle({ select: SELECT, size: 300, auditor: [cp150, cp320], eventsPerFile: 40 });
  withheld = await ledger.bundle({ select: SELECT, size: 300, withhold: ['origin.ip', 'actor.name'], eventsPerFile: 40 });
});

const verify = (files: Map<string, Uint8Array> | Uint8Array, key = verifierKey, extra: { requiredCheckpoints?: string[] } = {}): BundleReport =>
  verifyBundle({ files, verifierKey: key, suite: nodeSuite, ...extra });

/** Asserts the report fails and has a problem of `kind` whose message matches `message`. */
function assertProblem(report: BundleReport, kind: BundleProblem['kind'], message: RegExp, fields: Partial<BundleProblem> = {}): BundleProblem {
  assert.equal(report.ok, false, 'the bundle should not verify');
  const found = report.problems.find((p) => p.kind === kind && message.test(p.message) && Object.entries(fields).every(([k, v]) => (p as any)[k] === v));
  assert.ok(found, `expected a ${kind} problem matching ${message}; got:\n${report.problems.map((p) => `  [${p.kind}] ${p.message}`).join('\n')}`);
  return found;
}

describe('valid bundles', () => {
  it('verifies every event, proof and auditor checkpoint', () => {
    const events: number[] = [];
    const report = verifyBundle({ files: plain, verifierKey, suite: nodeSuite, onEvent: (e) => events.push(e.index) });
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
    assert.equal(report.verifiedEvents, 100);
    assert.deepEqual(events, Array.from({ length: 100 }, (_, i) => i * 3));
    assert.equal(report.checkpoint?.size, 300);
    assert.deepEqual(report.consistentWith, [{ size: 150, relation: 'older' }, { size: 320, relation: 'newer' }]);
    const manifest = report.manifest!;
    assert.equal(manifest.counts.events, 100);
    assert.equal(manifest.counts.event_files, 3);
    assert.deepEqual(manifest.events.map((e) => e.count), [40, 40, 20]);
  });

  it('verifies with the portable (browser) crypto suite too', () => {
    const report = verifyBundle({ files: plain, verifierKey });
    assert.deepEqual(report.problems, []);
  });

  it('verifies with withheld fields, which are absent from every event', () => {
    const seen: string[][] = [];
    const report = verifyBundle({ files: withheld, verifierKey, suite: nodeSuite, onEvent: (e) => seen.push(e.withheld) });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.manifest!.withheld, ['actor.name', 'origin.ip']);
    assert.ok(seen.every((paths) => paths.sort().join() === 'actor.name,origin.ip'));
    const files = unzipFiles(withheld);
    for (const line of eventLines(files)) {
      assert.equal(line.disclosures['origin.ip'], undefined);
      assert.equal(line.disclosures['actor.name'], undefined);
      assert.ok(line.disclosures['actor.id']);
    }
    assert.doesNotMatch(text(files, 'events/part-00000.jsonl'), /203\.0\.113/);
  });

  it('withholds whole groups', async () => {
    const report = verify(await ledger.bundle({ select: (i) => i < 5, withhold: ['origin', 'metadata'] }));
    assert.deepEqual(report.problems, []);
  });

  it('records erased fields, which verify like withheld ones', async () => {
    const erased = new MemoryLedger('erasure');
    erased.append(Array.from({ length: 5 }, (_, i) => sampleEvent(i)));
    erased.erase(2, 'actor.email');
    erased.erase(2, 'origin.ip', 'purged');
    const files = unzipFiles(await erased.bundle());
    const report = verify(files);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(eventLines(files)[2].redactions, { 'actor.email': 'erased', 'origin.ip': 'purged' });
    assert.equal(report.manifest!.counts.redacted_fields, 2);
  });

  it('verifies an empty selection and a bundle with a single event', async () => {
    assert.deepEqual(verify(await ledger.bundle({ select: () => false })).problems, []);
    assert.deepEqual(verify(await ledger.bundle({ select: (i) => i === 319 })).problems, []);
  });

  it('is a zip every reader sees the same way, with the manifest listing every other file', () => {
    const files = unzipFiles(plain);
    const manifest = manifestOf(files);
    assert.deepEqual(
      [...files.keys()].sort(),
      [...manifest.files.map((f: { name: string }) => f.name), 'manifest.json'].sort(),
    );
    assert.deepEqual(manifest.files.map((f: { name: string }) => f.name), [
      'README.txt',
      'auditor/checkpoint-0.txt',
      'auditor/checkpoint-1.txt',
      'auditor/consistency-0.json',
      'auditor/consistency-1.json',
      'checkpoint.txt',
      'events/part-00000.jsonl',
      'events/part-00001.jsonl',
      'events/part-00002.jsonl',
      'verifier-key.txt',
    ]);
    assert.match(text(files, 'README.txt'), /Query: +"action:file\.download"/);
  });

  it('requires the checkpoints the auditor holds', () => {
    assert.equal(verify(plain, verifierKey, { requiredCheckpoints: [cp150, cp320] }).ok, true);
    assert.equal(verify(plain, verifierKey, { requiredCheckpoints: [ledger.checkpoints.get(300)!] }).ok, true);
    assertProblem(verify(withheld, verifierKey, { requiredCheckpoints: [cp150] }), 'auditor checkpoint', /required checkpoint 1 \(size 150\): the bundle proves nothing/);
  });
});

describe('tampering', () => {
  const fresh = () => unzipFiles(plain);

  it('a changed leaf (received_at rewritten, re-encoded canonically) fails its inclusion proof', () => {
    const files = fresh();
    const lines = eventLines(files);
    const envelope = decodeLeaf(fromBase64(lines[5].leaf));
    envelope.received_at = '2026-01-01T00:00:00.000000Z';
    lines[5].leaf = toBase64(encodeLeaf(envelope));
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'inclusion proof', /events\/part-00000\.jsonl line 6 \(event 15\): inclusion proof .*does not lead to the root/, { index: 15, line: 6 });
  });

  it('any changed byte of a leaf fails that event', () => {
    for (const offset of [0, 10, 60, 200, 400]) {
      const files = fresh();
      const lines = eventLines(files);
      const bytes = fromBase64(lines[1].leaf);
      bytes[offset % bytes.length]! ^= 0x01;
      lines[1].leaf = toBase64(bytes);
      setEventLines(files, lines);
      redigest(files);
      const report = verify(files);
      assert.equal(report.ok, false);
      assert.ok(report.problems.some((p) => p.index === 3 && (p.kind === 'leaf' || p.kind === 'inclusion proof')), JSON.stringify(report.problems));
    }
  });

  it('a changed disclosure value or salt fails with the field named', () => {
    let files = fresh();
    let lines = eventLines(files);
    lines[2].disclosures['actor.id'][1] = 'mallory';
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'disclosure', /line 3 \(event 6\), field actor\.id: disclosed value does not match its commitment/, { field: 'actor.id', index: 6 });

    files = fresh();
    lines = eventLines(files);
    const salt = fromBase64(lines[2].disclosures.tenant[0].replace(/-/g, '+').replace(/_/g, '/'));
    salt[0]! ^= 0x80;
    lines[2].disclosures.tenant[0] = toBase64(salt).replace(/\+/g, '-').replace(/\//g, '_');
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'disclosure', /field tenant: disclosed value does not match/, { field: 'tenant' });
  });

  it('a disclosure for a withheld path fails, forged or genuine', () => {
    let files = unzipFiles(withheld);
    let lines = eventLines(files);
    lines[0].disclosures['origin.ip'] = ['AAAAAAAAAAAAAAAAAAAAAAAA', '10.0.0.1'];
    setEventLines(files, lines);
    redigest(files);
    let report = verify(files);
    assertProblem(report, 'disclosure', /event 0\), field origin\.ip: disclosed value does not match/);
    assertProblem(report, 'withheld', /event 0\), field origin\.ip: disclosed, but the manifest lists it as withheld/);

    // The genuine disclosure opens its commitment, but contradicts the manifest.
    files = unzipFiles(withheld);
    lines = eventLines(files);
    lines[0].disclosures['origin.ip'] = ledger.entries[0]!.disclosures['origin.ip'];
    setEventLines(files, lines);
    redigest(files);
    report = verify(files);
    assertProblem(report, 'withheld', /field origin\.ip: disclosed, but the manifest lists it as withheld/);
    assert.ok(!report.problems.some((p) => p.kind === 'disclosure'));
  });

  it('a disclosure for a path the leaf does not commit to fails', () => {
    const files = fresh();
    const lines = eventLines(files);
    lines[0].disclosures['origin.device_id'] = ['AAAAAAAAAAAAAAAAAAAAAAAA', 'dev-1'];
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'disclosure', /field origin\.device_id: disclosed, but the leaf has no commitment for it/);
  });

  it('a silently dropped disclosure (neither withheld nor redacted) fails', () => {
    const files = fresh();
    const lines = eventLines(files);
    delete lines[4].disclosures['actor.email'];
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'withheld', /event 12\), field actor\.email: committed in the leaf but not disclosed/);
  });

  it('swapped events fail the order rule', () => {
    const files = fresh();
    const lines = eventLines(files);
    [lines[3], lines[4]] = [lines[4], lines[3]];
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'order', /line 5 \(event 9\): event 9 comes after event 12/);
  });

  it('a dropped event fails the counts', () => {
    const files = fresh();
    const lines = eventLines(files);
    lines.splice(7, 1);
    setEventLines(files, lines);
    redigest(files);
    const report = verify(files);
    assertProblem(report, 'count', /events\/part-00000\.jsonl: 39 events, the manifest says 40/);
    assertProblem(report, 'count', /counts\.events is 100, the bundle holds 99 events/);
  });

  it('a dropped event fails even when the attacker also fixes the counts', () => {
    const files = fresh();
    const lines = eventLines(files);
    lines.splice(39, 1); // the last of the part, so first/last_index would also need fixing
    setEventLines(files, lines);
    const manifest = manifestOf(files);
    manifest.events[0].count = 39;
    manifest.counts.events = 99;
    setManifest(files, manifest);
    redigest(files);
    assertProblem(verify(files), 'count', /events 0…114, the manifest says 0…117/);
  });

  it('a duplicated event fails', () => {
    const files = fresh();
    const lines = eventLines(files);
    lines.splice(8, 0, lines[7]);
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'duplicate', /line 9 \(event 21\): event 21 appears twice/);
  });

  it('an altered or truncated inclusion proof fails with the event named', () => {
    let files = fresh();
    let lines = eventLines(files);
    const hash = fromBase64(lines[10].inclusion_proof[2]);
    hash[31]! ^= 0x01;
    lines[10].inclusion_proof[2] = toBase64(hash);
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'inclusion proof', /event 30\): inclusion proof in the tree of size 300: the inclusion proof does not lead to the root/);

    files = fresh();
    lines = eventLines(files);
    lines[10].inclusion_proof.pop();
    setEventLines(files, lines);
    redigest(files);
    assertProblem(verify(files), 'inclusion proof', /event 30\): .*the proof has 8 hashes, expected 9/);
  });

  it('a changed checkpoint body or signature fails', () => {
    let files = fresh();
    setText(files, 'checkpoint.txt', text(files, 'checkpoint.txt').replace('\n300\n', '\n301\n'));
    redigest(files);
    assertProblem(verify(files), 'checkpoint', /checkpoint\.txt: note: the signature by the known key .* does not verify/);

    files = fresh();
    const note = text(files, 'checkpoint.txt');
    const sigStart = note.lastIndexOf(' ') + 1;
    const sig = fromBase64(note.slice(sigStart).trim());
    sig[10]! ^= 0x01;
    setText(files, 'checkpoint.txt', `${note.slice(0, sigStart)}${toBase64(sig)}\n`);
    redigest(files);
    assertProblem(verify(files), 'checkpoint', /checkpoint\.txt: .*does not verify/);
  });

  it('a different pinned key fails, and says the bundle names another key', () => {
    const report = verify(plain, otherKey);
    assertProblem(report, 'verifier key', /verifier-key\.txt: the bundle names the key .* but the pinned key is/);
    assertProblem(report, 'checkpoint', /checkpoint\.txt: note: no known key signed it/);
    assert.equal(report.verifiedEvents, 0);
  });

  it('an altered manifest fails: query, export time, counts, checkpoint size, digests', () => {
    const cases: Array<[string, (m: any) => void, BundleProblem['kind'], RegExp]> = [
      ['query', (m) => (m.query = 'action:auth.login'), 'manifest', /query is "action:auth\.login", but README\.txt states "action:file\.download"/],
      ['exported_at', (m) => (m.exported_at = '2027-01-01T00:00:00.000000Z'), 'manifest', /exported_at is .* but README\.txt states/],
      ['counts', (m) => (m.counts.events = 101), 'count', /counts\.events is 101, the bundle holds 100/],
      ['event_files', (m) => (m.counts.event_files = 2), 'manifest', /counts\.event_files is 2/],
      ['checkpoint size', (m) => (m.checkpoint.size = 320), 'manifest', /checkpoint\.size is 320, the signed checkpoint's is 300/],
      ['withheld', (m) => (m.withheld = ['actor.name']), 'manifest', /withheld is \["actor\.name"\], but README\.txt states \[\]/],
      ['digest', (m) => (m.files[6].sha256 = '0'.repeat(64)), 'digest', /events\/part-00000\.jsonl: SHA-256 [0-9a-f]{64} .* differs from the manifest's 0{64}/],
      ['ledger', (m) => (m.ledger = 'other'), 'checkpoint', /signed for origin "bundle\.test\/payments", expected "bundle\.test\/other"/],
      ['unknown member', (m) => (m.signed = true), 'manifest', /unexpected signed/],
    ];
    for (const [name, change, kind, message] of cases) {
      const files = fresh();
      const manifest = manifestOf(files);
      change(manifest);
      setManifest(files, manifest);
      assertProblem(verify(files), kind, message);
      assert.ok(name);
    }
  });

  it('an extra file fails, listed in the manifest or not', () => {
    let files = fresh();
    setText(files, 'events/part-00003.jsonl', '');
    assertProblem(verify(files), 'unexpected file', /events\/part-00003\.jsonl: unexpected file in the archive/);

    files = fresh();
    setText(files, 'notes.txt', 'trust me\n');
    redigest(files);
    const manifest = manifestOf(files);
    manifest.files.push({ name: 'notes.txt', bytes: 9, sha256: 'a'.repeat(64) });
    setManifest(files, manifest);
    const report = verify(files);
    assertProblem(report, 'unexpected file', /notes\.txt: unexpected file in the archive/);
    assertProblem(report, 'unexpected file', /files lists notes\.txt, which is not part of a bundle/);
  });

  it('a missing file fails', () => {
    const files = fresh();
    files.delete('auditor/consistency-1.json');
    assertProblem(verify(files), 'missing file', /auditor\/consistency-1\.json: missing from the archive/);
  });

  it('an auditor checkpoint from a forked history fails its consistency proof', async () => {
    // The fork's checkpoint is genuinely signed by the same key, for the same ledger and size 150.
    const forked = fork.checkpoints.get(150)!;
    const files = unzipFiles(await ledger.bundle({ select: SELECT, size: 300, auditor: [forked] }));
    const report = verify(files);
    assertProblem(report, 'consistency proof', /auditor\/consistency-0\.json \(size 150 → 300\): the consistency proof does not lead to the old root/, { auditor: 0 });
    assert.equal(report.verifiedEvents, 100, 'the events themselves still verify');
    // And an auditor who requires the fork's checkpoint is told the bundle does not prove it.
    assertProblem(verify(plain, verifierKey, { requiredCheckpoints: [forked] }), 'auditor checkpoint', /required checkpoint 1 \(size 150\)/);
  });

  it('an altered consistency proof or auditor checkpoint fails', () => {
    let files = fresh();
    const proof = JSON.parse(text(files, 'auditor/consistency-1.json'));
    proof.hashes[0] = toBase64(new Uint8Array(32));
    setText(files, 'auditor/consistency-1.json', JSON.stringify(proof));
    redigest(files);
    assertProblem(verify(files), 'consistency proof', /auditor\/consistency-1\.json \(size 320 ← 300\)/);

    files = fresh();
    setText(files, 'auditor/checkpoint-0.txt', text(files, 'auditor/checkpoint-0.txt').replace('\n150\n', '\n149\n'));
    redigest(files);
    assertProblem(verify(files), 'auditor checkpoint', /auditor\/checkpoint-0\.txt: note: the signature .* does not verify/, { auditor: 0 });
  });

  it('a corrupt or truncated zip fails as an archive problem', () => {
    assertProblem(verify(new Uint8Array([1, 2, 3, 4])), 'archive', /archive: not a readable zip archive/);
    assertProblem(verify(plain.subarray(0, plain.length - 30)), 'archive', /archive: not a readable zip archive/);
    const damaged = new Uint8Array(plain);
    damaged.fill(0x55, 200, 600); // inside the compressed README
    const report = verify(damaged);
    assert.equal(report.ok, false);
    assert.ok(report.problems.some((p) => p.file === 'README.txt'), JSON.stringify(report.problems));
  });

  it('a zip with two entries of one name is refused (readers disagree on which one counts)', () => {
    const files = fresh();
    const forged = text(files, 'checkpoint.txt').replace('\n300\n', '\n301\n');
    setText(files, 'checkpoint.txX', forged);
    // Same-length names: rename the extra entry in its local header and the central directory.
    const bytes = Buffer.from(rezip(files));
    for (let at = bytes.indexOf('checkpoint.txX'); at >= 0; at = bytes.indexOf('checkpoint.txX', at + 1)) bytes.write('checkpoint.txt', at);
    assertProblem(verify(new Uint8Array(bytes)), 'archive', /archive: the archive holds two entries named checkpoint\.txt/);
  });

  it('flipping any one byte of any file (re-zipped) fails', async () => {
    // A small bundle of every shape (two parts, both auditor directions, withheld fields) keeps this quick.
    const original = unzipFiles(await ledger.bundle({ select: (i) => i % 37 === 0, size: 300, auditor: [cp150, cp320], withhold: ['origin.ip'], eventsPerFile: 5 }));
    let checked = 0;
    for (const [name, bytes] of original) {
      // Every byte of files up to 2,500 bytes (manifest, checkpoints, proofs, key); 250 spread positions of larger ones.
      const step = bytes.length > 2500 ? Math.floor(bytes.length / 250) : 1;
      for (let offset = 0; offset < bytes.length; offset += step) {
        const files = new Map(original);
        const changed = new Uint8Array(bytes);
        changed[offset]! ^= 0x01;
        files.set(name, changed);
        const report = verify(rezip(files));
        assert.equal(report.ok, false, `flipping byte ${offset} of ${name} went unnoticed`);
        checked++;
      }
    }
    assert.ok(checked > 2000, `${checked} flips`);
  });
});
