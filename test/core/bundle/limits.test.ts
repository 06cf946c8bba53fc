/**
 * Hostile archives: a zip bomb (a bundle whose events part inflates from a few hundred KiB to 250 MiB)
 * once killed the verifier with a V8 fatal error. Every bound of the zip reader and the events reader
 * is exercised here: the per-entry size, a directory that lies about the size, the total inflated, the
 * entry count, the lines per part and the line length; each must make the bundle INVALID with a reason
 * naming the file, never crash or hang.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import { utf8 } from '../../../src/core/bytes.js';
import { DEFAULT_BUNDLE_LIMITS, MAX_ENTRY_BYTES, openZip, verifyBundle, type BundleProblem, type BundleReport } from '../../../src/core/bundle/index.js';
import { nodeSuite } from '../../../src/platform/node-crypto.js';
import { sampleEvent } from '../../helpers/events.js';
import { MemoryLedger, redigest, rezip, unzipFiles, verifierKey } from './helpers.js';

const PART = 'events/part-00000.jsonl';
const BOMB_BYTES = 250 * 1024 * 1024;
let genuine: Uint8Array;
/** The genuine bundle with its events part replaced by 250 MiB of newlines (a run of one byte: a few hundred KiB compressed). */
let bomb: Uint8Array;

before(async () => {
  const ledger = new MemoryLedger('bombs');
  ledger.append(Array.from({ length: 12 }, (_, i) => sampleEvent(i)));
  genuine = await ledger.bundle();
  bomb = withFile(PART, new Uint8Array(BOMB_BYTES).fill(0x0a));
});

/** The genuine bundle with one file replaced, zipped at the strongest compression. */
function withFile(name: string, bytes: Uint8Array): Uint8Array {
  const files = unzipFiles(genuine);
  files.set(name, bytes);
  return zipSync(Object.fromEntries(files), { level: 9 });
}

/** Offset of the central directory header of `name` and of its local header. */
function headersOf(archive: Uint8Array, name: string): { central: number; local: number } {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const wanted = Buffer.from(name);
  for (let at = archive.length - 46; at >= 0; at--) {
    if (view.getUint32(at, true) !== 0x02014b50) continue;
    const length = view.getUint16(at + 28, true);
    if (Buffer.from(archive.subarray(at + 46, at + 46 + length)).equals(wanted)) return { central: at, local: view.getUint32(at + 42, true) };
  }
  throw new Error(`${name} not in the archive`);
}

const verify = (archive: Uint8Array, limits = {}): BundleReport => verifyBundle({ files: archive, verifierKey, suite: nodeSuite, limits });

function assertProblem(report: BundleReport, kind: BundleProblem['kind'], message: RegExp): void {
  assert.equal(report.ok, false, 'the bundle should not verify');
  assert.ok(
    report.problems.some((p) => p.kind === kind && message.test(p.message)),
    `expected a ${kind} problem matching ${message}; got:\n${report.problems.map((p) => `  [${p.kind}] ${p.message}`).join('\n')}`,
  );
}

describe('zip bombs', () => {
  it('an events part that inflates to 250 MiB is refused by its declared size, quickly and without inflating it', () => {
    assert.ok(bomb.length < 400 * 1024, `${bomb.length} bytes`);
    const started = performance.now();
    const report = verify(bomb);
    assertProblem(report, 'archive', new RegExp(`events/part-00000\\.jsonl claims ${BOMB_BYTES} bytes, more than the ${MAX_ENTRY_BYTES} a bundle file may have`));
    assert.ok(performance.now() - started < 2000, 'the bomb was not inflated');
  });

  it('a directory that understates the size stops inflation at the declared size', () => {
    const lying = new Uint8Array(bomb);
    const { central, local } = headersOf(lying, PART);
    const view = new DataView(lying.buffer, lying.byteOffset, lying.byteLength);
    view.setUint32(central + 24, 5000, true);
    view.setUint32(local + 22, 5000, true);
    const report = verify(lying);
    assertProblem(report, 'archive', /events\/part-00000\.jsonl: inflates to more than the 5000 bytes the directory declares/);
    // And overstating it is caught at the end, when the stream stops short.
    const short = withFile(PART, utf8('{}\n'));
    const at = headersOf(short, PART);
    new DataView(short.buffer, short.byteOffset, short.byteLength).setUint32(at.central + 24, 4000, true);
    assertProblem(verify(short), 'archive', /events\/part-00000\.jsonl: inflated to 3 bytes, the directory says 4000/);
  });

  it('bounds what the whole archive may inflate to, and the number of entries', () => {
    assertProblem(verify(genuine, { maxTotalBytes: 6000 }), 'archive', /not read, its \d+ bytes would pass the 6000 bytes this archive may inflate to in total/);
    assertProblem(verify(genuine, { maxEntries: 3 }), 'archive', /archive: not a readable zip archive \(\d+ entries, more than the 3 a bundle may have\)/);
    assert.equal(verify(genuine).ok, true);
  });

  it('refuses a local header that names another file than the directory', () => {
    const archive = new Uint8Array(genuine);
    const { local } = headersOf(archive, 'checkpoint.txt');
    archive.set(Buffer.from('checkpoint.txX'), local + 30);
    assertProblem(verify(archive), 'archive', /checkpoint\.txt: its local header names another file/);
  });

  it('a truncated compressed stream fails as an archive problem', () => {
    const files = openZip(genuine);
    assert.ok(files.read(PART).length > 0);
    const archive = new Uint8Array(genuine);
    const { central } = headersOf(archive, PART);
    const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
    view.setUint32(central + 20, 10, true); // compressed size: only its first 10 bytes
    assertProblem(verify(archive), 'archive', /events\/part-00000\.jsonl: cannot be inflated \(unexpected EOF\)/);
  });
});

describe('events parts', () => {
  it('stops reading a part after maxLinesPerPart lines (millions of empty lines)', () => {
    const files = unzipFiles(genuine);
    files.set(PART, new Uint8Array(3_000_000).fill(0x0a));
    redigest(files);
    const started = performance.now();
    const report = verify(rezip(files));
    assertProblem(report, 'event', new RegExp(`events/part-00000\\.jsonl: more than ${DEFAULT_BUNDLE_LIMITS.maxLinesPerPart} lines; the file was not read`));
    assert.ok(performance.now() - started < 10_000);
  });

  it('bounds the forgetting records file like an events part', async () => {
    const ledger = new MemoryLedger('erased');
    ledger.append(Array.from({ length: 3 }, (_, i) => sampleEvent(i)));
    ledger.erase(1, 'actor.email');
    const files = unzipFiles(await ledger.bundle());
    assert.ok(files.has('forgetting/records.jsonl'));
    files.set('forgetting/records.jsonl', new Uint8Array(3_000_000).fill(0x0a));
    redigest(files);
    assertProblem(verify(rezip(files)), 'forgetting record', new RegExp(`forgetting/records\\.jsonl: more than ${DEFAULT_BUNDLE_LIMITS.maxLinesPerPart} lines; the file was not read`));
  });

  it('refuses a line longer than maxLineChars before parsing it', () => {
    const files = unzipFiles(genuine);
    const lines = Buffer.from(files.get(PART)!).toString('utf8').split('\n');
    lines[1] = 'x'.repeat(DEFAULT_BUNDLE_LIMITS.maxLineChars + 1);
    files.set(PART, utf8(lines.join('\n')));
    redigest(files);
    assertProblem(verify(rezip(files)), 'event', new RegExp(`events/part-00000\\.jsonl line 2: ${DEFAULT_BUNDLE_LIMITS.maxLineChars + 1} characters, more than the ${DEFAULT_BUNDLE_LIMITS.maxLineChars} an event line may have`));
  });
});
