/**
 * The signed-heads journal is streamed, never read whole: a journal of many batches (one line each)
 * opens with only the latest head per ledger in memory, lines spanning read chunks parse, a torn last
 * line is cut off, and verify's reader still sees every head.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, fdatasyncSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64 } from '../../src/core/bytes.js';
import { readSignedHeads, SignedHeadsJournal } from '../../src/store/signed-heads.js';

const root = (n: number) => toBase64(new Uint8Array(32).fill(n % 251));

describe('signed-heads journal', () => {
  it('opens a journal larger than a read chunk, keeping the latest head per ledger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-heads-'));
    const path = join(dir, 'key.pem.heads');
    try {
      const lines: string[] = [];
      for (let size = 1; size <= 20_000; size++) lines.push(JSON.stringify({ l: size % 2 ? 'a' : 'b-ledger-with-a-longer-name', s: size, r: root(size) }));
      writeFileSync(path, `${lines.join('\n')}\n{"l":"a","s":200`); // a torn last line
      assert.ok(statSync(path).size > 1024 * 1024, 'spans several read chunks');
      const journal = new SignedHeadsJournal(path);
      assert.equal(journal.latestOf('a')?.size, 19_999);
      assert.equal(toBase64(journal.latestOf('b-ledger-with-a-longer-name')!.root), root(20_000));
      assert.ok(readFileSync(path, 'utf8').endsWith('\n'), 'the torn line was cut off');
      await journal.record('a', 20_001, new Uint8Array(32).fill(7));
      journal.close();
      const heads = readSignedHeads(path)!;
      assert.equal(heads.get('a')!.length, 10_001);
      assert.equal(heads.get('a')!.at(-1)!.size, 20_001);
      appendFileSync(path, `${JSON.stringify({ l: 'a', s: 20_001, r: root(3) })}\n`);
      assert.throws(() => readSignedHeads(path), /two different roots signed for size 20001/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes heads asked for together in one fsync, every one on disk before its promise resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-heads-'));
    const path = join(dir, 'key.pem.heads');
    try {
      const journal = new SignedHeadsJournal(path);
      const onDisk: number[] = [];
      // 300 batches of three ledgers signed at once, as single-event appends from many clients are.
      const records = Array.from({ length: 300 }, (_, i) =>
        journal.record(`ledger-${i % 3}`, Math.floor(i / 3) + 1, new Uint8Array(32).fill(i % 251)).then(() => {
          // Resolved only once its own line is in the file.
          const text = readFileSync(path, 'utf8');
          if (text.includes(`"s":${Math.floor(i / 3) + 1},"r":"${root(i)}"`)) onDisk.push(i);
        }),
      );
      await Promise.all(records);
      assert.equal(onDisk.length, 300, 'every head was in the file when its record resolved');
      assert.ok(journal.syncs >= 1 && journal.syncs <= 3, `300 heads asked for at once took ${journal.syncs} fsyncs`);
      assert.equal(journal.latestOf('ledger-2')?.size, 100);
      await journal.record('ledger-0', 101, new Uint8Array(32).fill(9));
      assert.equal(journal.syncs <= 4, true, 'a later head is a write of its own');
      journal.close();
      const heads = readSignedHeads(path)!;
      assert.deepEqual([...heads.keys()].sort(), ['ledger-0', 'ledger-1', 'ledger-2']);
      assert.equal(heads.get('ledger-0')!.length, 101);
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 302, 'one complete line per head');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cuts off what a failed write left, so the journal still opens and later heads follow whole lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealtrail-heads-'));
    const path = join(dir, 'key.pem.heads');
    try {
      let failNext = false;
      const io = {
        // A disk that fills part way through: half the text lands and the write says so (a short write).
        write: async (fd: number, text: string) => {
          if (!failNext) return writeSync(fd, text);
          failNext = false;
          return writeSync(fd, text.slice(0, Math.floor(text.length / 2)));
        },
        datasync: async (fd: number) => fdatasyncSync(fd),
      };
      const journal = new SignedHeadsJournal(path, io);
      await journal.record('a', 1, new Uint8Array(32).fill(1));
      failNext = true;
      await assert.rejects(journal.record('a', 2, new Uint8Array(32).fill(2)), /short write/);
      const afterFailure = readFileSync(path, 'utf8');
      assert.ok(afterFailure.endsWith('\n') && afterFailure.split('\n').length === 2, `the fragment was cut off: ${JSON.stringify(afterFailure)}`);
      await journal.record('a', 3, new Uint8Array(32).fill(3));
      assert.equal(journal.latestOf('a')?.size, 3);
      journal.close();
      const heads = readSignedHeads(path)!;
      assert.deepEqual(heads.get('a')!.map((h) => h.size), [1, 3], 'the failed head is not there; the journal reads whole');
      const reopened = new SignedHeadsJournal(path);
      assert.equal(reopened.latestOf('a')?.size, 3);
      reopened.close();
      await assert.rejects(reopened.record('a', 4, new Uint8Array(32).fill(4)), /closed/, 'a closed journal takes no heads');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
