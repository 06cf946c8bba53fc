/**
 * kill -9 under load. A child process (test/fixtures/crash-writer.ts) appends without pause with 50
 * appends in flight and prints every acknowledged receipt; it is SIGKILLed mid-flight, three times on
 * the same folder, at different moments. After each kill the folder must verify (read-only CLI straight
 * after the crash, then verifyStoredLedger on a reopened store), every acknowledged event must be stored
 * at its acknowledged index, no batch may be partially stored, and appending must resume where the
 * committed ledger ends.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVerify } from '../helpers/cli.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { openDeployment } from '../../src/server/deployment.js';
import { verifyStoredLedger } from '../../src/store/verify-ledger.js';
import { sampleEvent } from '../helpers/events.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LEDGER = 'crash';
/** Acknowledged events after which each run is killed. */
const KILL_AFTER = [500, 2000, 5000];
/** A further delay before each kill, so that the kills land at different points of a batch's commit. */
const KILL_DELAY_MS = [0, 7, 23];

interface AckLine {
  acks: Array<[index: number, id: string]>;
  size: number;
  checkpoint: string;
}

interface RunResult {
  acks: Array<[index: number, id: string]>;
  /** The acknowledged checkpoint with the largest tree size. */
  latest: { size: number; note: string };
  signal: NodeJS.Signals | null;
}

/** Runs the writer until it has acknowledged `killAfter` events, SIGKILLs it, and returns every ack. */
function runAndKill(dir: string, tag: string, killAfter: number, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-writer.ts', dir, LEDGER, tag], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: Array<[number, string]> = [];
    let latest = { size: 0, note: '' };
    let pending = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the writer acknowledged only ${acks.length} events in 15 s\n${stderr}`));
    }, 15_000);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      // The last piece is an unfinished line (or ''): an ack only counts once its line is complete.
      pending = lines.pop()!;
      for (const line of lines) {
        const ack = JSON.parse(line) as AckLine;
        for (const [index] of ack.acks) assert.ok(index < ack.size, `index ${index} acknowledged under a checkpoint of size ${ack.size}`);
        acks.push(...ack.acks);
        if (ack.size > latest.size) latest = { size: ack.size, note: ack.checkpoint };
      }
      if (!killed && acks.length >= killAfter) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('error', reject);
    // 'close': the process is gone and its stdout fully read (acks still in the pipe are kept).
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!killed) reject(new Error(`the writer exited by itself (code ${code}, signal ${signal})\n${stderr}`));
      else resolve({ acks, latest, signal });
    });
  });
}


describe('crash safety: kill -9 while appending under load', () => {
  let dir: string;
  let verifierKey: string;
  /** Every acknowledged event so far, across runs: index → event id. */
  const acknowledged = new Map<number, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealtrail-crash-'));
    const deployment = openDeployment({ dataDir: dir });
    verifierKey = deployment.verifierKey;
    await deployment.store.createLedger(LEDGER);
    await deployment.store.close();
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  KILL_AFTER.forEach((killAfter, run) => {
    it(`run ${run + 1}: killed after ${killAfter} acknowledged events, nothing acknowledged is lost`, async (t) => {
      const { acks, latest, signal } = await runAndKill(dir, `r${run}`, killAfter, KILL_DELAY_MS[run]!);
      assert.equal(signal, 'SIGKILL');
      assert.ok(acks.length >= killAfter);
      for (const [index, id] of acks) {
        assert.equal(acknowledged.get(index), undefined, `index ${index} acknowledged twice`);
        acknowledged.set(index, id);
      }
      const savedCheckpoint = `${dir}-run${run}.checkpoint`;
      writeFileSync(savedCheckpoint, latest.note);

      try {
        // Straight after the crash, before any read-write open has recovered the WAL: the read-only CLI.
        const cli = await runVerify(['--data', dir, '--key', verifierKey, '--checkpoint', savedCheckpoint]);
        assert.equal(cli.code, 0, `exit ${cli.code}\n${cli.stdout}\n${cli.stderr}`);
        assert.match(cli.stdout, /ok {2}crash: \d+ entries, \d+ checkpoints?, 1 saved checkpoint verified/);

        const deployment = openDeployment({ dataDir: dir });
        const { store } = deployment;
        try {
          // The whole ledger verifies, including the latest acknowledged checkpoint (not rolled back).
          // verifyStoredLedger also fails unless the latest stored checkpoint covers exactly the stored
          // entries: a partially written batch (entries without their checkpoint, or the reverse) fails.
          const result = await verifyStoredLedger(store, LEDGER, {
            suite: nodeSuite,
            verifiers: [parseVerifierKey(nodeSuite, verifierKey)],
            external: [latest.note],
          });
          assert.equal(result.externalCheckpoints, 1);
          const head = (await store.latestCheckpoint(LEDGER))!;
          assert.equal(result.entries, head.size);
          const ledgerId = store.db.prepare('SELECT ledger_id FROM ledgers WHERE name = ?').pluck().get(LEDGER) as number;
          assert.equal(store.db.prepare('SELECT COUNT(*) FROM entries WHERE ledger_id = ?').pluck().get(ledgerId), head.size, 'no entry without its checkpoint');
          const keyBeyond = store.db.prepare('SELECT COUNT(*) FROM idempotency_keys WHERE ledger_id = ? AND idx >= ?').pluck().get(ledgerId, head.size);
          assert.equal(keyBeyond, 0, 'no idempotency key of an uncommitted batch');

          // Every acknowledged event, from this run and the earlier ones, is where its receipt said.
          for (const [index, id] of acknowledged) {
            const entry = await store.getEntry(LEDGER, index);
            assert.ok(entry, `acknowledged entry ${index} (${id}) is missing`);
            assert.equal(entry.disclosures.id?.[1], id, `entry ${index}`);
          }
          assert.ok(head.size >= acknowledged.size);
          t.diagnostic(`${acks.length} acknowledged in this run; ledger size ${head.size}, ${head.size - acknowledged.size} committed but unacknowledged`);

          // The store appends again, continuing at the committed size.
          const [receipt] = await store.append(LEDGER, [{ event: { ...sampleEvent(run), id: `after-kill-${run}` }, writer: 'crash-test' }]);
          assert.equal(receipt!.index, head.size);
          assert.equal(receipt!.treeSize, head.size + 1);
          acknowledged.set(receipt!.index, `after-kill-${run}`);
          // Entries committed but never acknowledged (the batch in flight at the kill) are durable now
          // that a restart saw them: later runs check them too.
          for (let i = 0; i < head.size; i++) {
            if (!acknowledged.has(i)) acknowledged.set(i, (await store.getEntry(LEDGER, i))!.disclosures.id![1] as string);
          }
        } finally {
          await store.close();
        }
      } finally {
        rmSync(savedCheckpoint, { force: true });
      }
    });
  });
});
