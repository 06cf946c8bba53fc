/**
 * The signed-heads journal is streamed, never read whole: a journal of many batches (one line each)
 * opens with only the latest head per ledger in memory, lines spanning read chunks parse, a torn last
 * line is cut off, and verify's reader still sees every head.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
});
