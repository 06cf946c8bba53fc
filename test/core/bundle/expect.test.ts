/**
 * What a bundle cannot prove on its own — that nothing was left out — checked against the auditor's
 * expectation: an event dropped from a bundle (manifest rewritten to match) still verifies, and fails
 * once the auditor says which events or how many they expect; fields withheld or presented as erased
 * fail once the auditor says they expect them disclosed.
 *
 * Ledger "ledger-x": 30 events; bundles of every event against the checkpoint of size 30.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIndexRanges, verifyBundle, type BundleExpectations, type BundleReport } from '../../../src/core/bundle/index.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';
import { eventLines, manifestOf, MemoryLedger, redigest, rezip, setEventLines, setManifest, unzipFiles, verifierKey } from './helpers.js';

let ledger: MemoryLedger;
let full: Uint8Array;

before(async () => {
  ledger = new MemoryLedger('ledger-x');
  ledger.append(Array.from({ length: 30 }, (_, i) => sampleEvent(i)));
  full = await ledger.bundle();
});

const verify = (files: Uint8Array, expect?: BundleExpectations): BundleReport => verifyBundle({ files, verifierKey, suite: nodeSuite, ...(expect ? { expect } : {}) });
const expectationMessages = (report: BundleReport) => report.problems.filter((p) => p.kind === 'expectation').map((p) => p.message);

/** The bundle with the event of `index` removed, the manifest made to agree, as an exporter who drops it would. */
function withoutEvent(archive: Uint8Array, index: number): Uint8Array {
  const files = unzipFiles(archive);
  const lines = eventLines(files).filter((line) => line.index !== index);
  setEventLines(files, lines);
  const manifest = manifestOf(files);
  manifest.events[0] = { ...manifest.events[0], count: lines.length, first_index: lines[0].index, last_index: lines[lines.length - 1].index };
  manifest.counts.events = lines.length;
  setManifest(files, manifest);
  redigest(files);
  return rezip(files);
}

describe('expected events', () => {
  it('a dropped event goes unnoticed without an expectation, and is reported with one', () => {
    const dropped = withoutEvent(full, 7);
    assert.deepEqual(verify(dropped).problems, [], 'a bundle cannot prove that nothing was left out');

    const byCount = verify(dropped, { count: 30 });
    assert.equal(byCount.ok, false);
    assert.deepEqual(expectationMessages(byCount), ['expected 30 events, the bundle proves 29']);

    const byIndexes = verify(dropped, { indexes: parseIndexRanges('0-29') });
    assert.equal(byIndexes.ok, false);
    assert.deepEqual(expectationMessages(byIndexes), ['expected events 7 (1 event) are not in the bundle (left out, or their lines did not verify)']);
    assert.equal(byIndexes.problems[0]!.index, 7);
  });

  it('names missing ranges and unexpected events, and passes an exact expectation', () => {
    const report = verify(withoutEvent(withoutEvent(full, 3), 4), { indexes: parseIndexRanges('1-5, 9,40-41') });
    assert.deepEqual(expectationMessages(report), [
      'expected events 3-4, 40-41 (4 events) are not in the bundle (left out, or their lines did not verify)',
      'events 0, 6-8, 10-29 (24 events) are in the bundle but were not expected',
    ]);
    assert.deepEqual(verify(full, { count: 30, indexes: parseIndexRanges('0-9,10-29'), disclosed: ['actor', 'outcome'] }).problems, []);
  });

  it('an event whose line does not verify does not count as present', () => {
    const files = unzipFiles(full);
    const lines = eventLines(files);
    lines[2].inclusion_proof[0] = lines[3].inclusion_proof[0];
    setEventLines(files, lines);
    redigest(files);
    const report = verify(rezip(files), { count: 30, indexes: [{ first: 0, last: 29 }] });
    assert.ok(report.problems.some((p) => p.kind === 'inclusion proof'));
    assert.deepEqual(expectationMessages(report), ['expected 30 events, the bundle proves 29', 'expected events 2 (1 event) are not in the bundle (left out, or their lines did not verify)']);
  });
});

describe('expected disclosures', () => {
  it('fails fields withheld by the exporter that the auditor expects disclosed', async () => {
    const withheld = await ledger.bundle({ withhold: ['actor.name', 'origin'] });
    assert.equal(verify(withheld).ok, true);
    const report = verify(withheld, { disclosed: ['actor.name', 'origin.ip', 'outcome'] });
    assert.equal(report.ok, false);
    const messages = expectationMessages(report);
    assert.ok(messages.includes('manifest.json: withholds actor.name, which you expect disclosed (actor.name)'), messages.join('\n'));
    assert.ok(messages.includes('manifest.json: withholds origin, which you expect disclosed (origin.ip)'), messages.join('\n'));
    assert.ok(messages.includes('event 0, field actor.name: expected disclosed, but it is withheld by the exporter'), messages.join('\n'));
    assert.ok(!messages.some((m) => m.includes('field outcome')));
  });

  it('fails a field presented as erased or purged that the auditor expects disclosed', async () => {
    const erased = new MemoryLedger('ledger-y');
    erased.append(Array.from({ length: 5 }, (_, i) => sampleEvent(i)));
    erased.erase(2, 'outcome', 'erased');
    erased.erase(4, 'actor.id', 'purged');
    const report = verify(await erased.bundle(), { disclosed: ['actor', 'outcome'] });
    assert.equal(report.ok, false);
    assert.deepEqual(expectationMessages(report), ['event 2, field outcome: expected disclosed, but it is erased', 'event 4, field actor.id: expected disclosed, but it is purged']);
    const fields = report.problems.filter((p) => p.kind === 'expectation').map((p) => [p.index, p.field]);
    assert.deepEqual(fields, [[2, 'outcome'], [4, 'actor.id']]);
  });
});

describe('expectations themselves', () => {
  it('parses index lists and refuses what is not one', () => {
    assert.deepEqual(parseIndexRanges('1-5,9'), [{ first: 1, last: 5 }, { first: 9, last: 9 }]);
    for (const bad of ['', '5-1', 'a', '1-', '-3', '01', '1.5', '9007199254740993']) {
      assert.throws(() => parseIndexRanges(bad), { code: 'INVALID_ARGUMENT' }, bad);
    }
  });

  it('refuses an expectation no bundle could meet, rather than reporting the bundle', () => {
    assert.throws(() => verify(full, { disclosed: ['actor.nope'] }), { code: 'INVALID_ARGUMENT', message: /expected disclosed "actor\.nope": not a field path or group/ });
    assert.throws(() => verify(full, { count: -1 }), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => verify(full, { indexes: [{ first: 3, last: 2 }] }), { code: 'INVALID_ARGUMENT' });
  });
});
