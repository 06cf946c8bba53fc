/**
 * Several sealtrail server processes on one PostgreSQL database. Two real `sealtrail serve` processes
 * (A and B) share a data folder (signing key and deployment name) and a schema; clients append through
 * both at once. Checked end to end, over HTTP and then on the database:
 *   1. many writers, one order: every acknowledged receipt has a unique index, the indexes are exactly
 *      0..N-1, each event sits at its receipt's index, every checkpoint verifies and is consistent with
 *      every later one, and A and B serve byte-identical checkpoints and proofs;
 *   2. a process SIGKILLed mid-load loses nothing it acknowledged, leaves no partial batch, and the
 *      surviving process carries on at the next index;
 *   3. the same event id sent to both processes at once is sealed exactly once.
 * Processes are started with `node --import tsx src/cli/main.ts serve` and always killed in `after`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SealtrailApiError, SealtrailClient, type EntryResponse, type ReceiptBody } from '../../src/client/index.js';
import { fromBase64 } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import type { AuditEvent } from '../../src/core/event.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { verifyCheckpointConsistency, verifyEntries } from '../../src/core/verify.js';
import { nodeSigner, nodeSuite } from '../../src/platform/node-crypto.js';
import { loadSigningKey } from '../../src/server/deployment.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { verifyStoredLedger } from '../../src/store/verify-ledger.js';
import { createPostgresFixture, postgresUnavailable, type PostgresFixture } from '../helpers/postgres.js';
import { sampleEvent } from '../helpers/events.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NAME = 'multiprocess.test';
const ADMIN_TOKEN = 'mp-admin-token-0123456789abcdefg'; // 32 characters
assert.equal(ADMIN_TOKEN.length, 32);

// ---- server processes ------------------------------------------------------------------------------

interface ServerProcess {
  label: string;
  url: string;
  child: ChildProcess;
  /** Resolves when the process has exited (its stdio fully read). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** A port that was free a moment ago: bind to port 0, read the port, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const children = new Set<ChildProcess>();
// Should the test process die without running its `after` hooks, take the servers with it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function spawnServer(label: string, dataDir: string, fixture: PostgresFixture, port: number): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, SEALTRAIL_ADMIN_TOKEN: ADMIN_TOKEN };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'serve',
      '--data',
      dataDir,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--database-url',
      fixture.serviceUrl,
      '--database-schema',
      fixture.schema,
      '--name',
      NAME,
      '--quiet',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server ${label} did not start listening in 30 s\n${output}`));
    }, 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const match = /sealtrail listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ label, url: match[1]!, child, exited, output: () => output });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server ${label} exited before listening (code ${code}, signal ${signal})\n${output}`));
    });
  });
}

/** Starts a server on a free port, retrying when another process took the port in between. */
async function startServer(label: string, dataDir: string, fixture: PostgresFixture): Promise<ServerProcess> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await spawnServer(label, dataDir, fixture, await freePort());
    } catch (error) {
      if (attempt < 2 && /EADDRINUSE/.test((error as Error).message)) continue;
      throw error;
    }
  }
}

/** SIGTERM (graceful close), then SIGKILL if it has not exited within 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(timer);
}

// ---- HTTP helpers ----------------------------------------------------------------------------------

/** GET returning the exact response text, for byte-for-byte comparisons between servers. */
async function getText(base: string, path: string): Promise<string> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${base}${path} answered ${response.status}: ${text}`);
  return text;
}

/** Runs fn over items with at most `limit` in flight. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

function isConnectionError(error: unknown): boolean {
  // fetch rejects with TypeError('fetch failed') when the connection is refused or dropped; an HTTP
  // answer (any status) would be a SealtrailApiError instead.
  return error instanceof TypeError && !(error instanceof SealtrailApiError);
}

/** xorshift32: deterministic choice between single events and batches of 10. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const event = (id: string, n: number): AuditEvent => ({ ...sampleEvent(n), id });

// ---- load ------------------------------------------------------------------------------------------

interface Attempt {
  via: string;
  ids: string[];
  batch: boolean;
  startedAt: number;
  endedAt: number;
  receipts?: ReceiptBody[];
  error?: unknown;
}

interface LoadOptions {
  ledger: string;
  targets: ServerProcess[];
  workers: number;
  prefix: string;
  /** Events to send in total; unbounded when omitted (until `stop` returns true). */
  total?: number;
  stop?: () => boolean;
  /** Called after every attempt (for example to decide when to kill a server). */
  onAttempt?: (attempt: Attempt) => void;
}

/** `workers` clients, worker i on target i mod targets, each sending singles or batches of 10 back to back. */
async function runLoad(options: LoadOptions): Promise<Attempt[]> {
  const attempts: Attempt[] = [];
  let next = 0;
  const clients = options.targets.map((t) => new SealtrailClient({ url: t.url, token: ADMIN_TOKEN }));
  const worker = async (w: number) => {
    const target = options.targets[w % options.targets.length]!;
    const client = clients[w % clients.length]!;
    const random = rng(0x5ea1 + w * 7919);
    for (;;) {
      if (options.stop?.()) return;
      const remaining = options.total === undefined ? Infinity : options.total - next;
      if (remaining <= 0) return;
      const batch = random() < 0.5;
      const count = Math.min(batch ? 10 : 1, remaining);
      const numbers = Array.from({ length: count }, () => next++);
      const ids = numbers.map((n) => `${options.prefix}-${n}`);
      const events = numbers.map((n, i) => event(ids[i]!, n));
      const attempt: Attempt = { via: target.label, ids, batch, startedAt: performance.now(), endedAt: 0 };
      try {
        attempt.receipts = batch ? await client.append(options.ledger, events) : [await client.append(options.ledger, events[0]!)];
      } catch (error) {
        attempt.error = error;
      }
      attempt.endedAt = performance.now();
      attempts.push(attempt);
      options.onAttempt?.(attempt);
      // A refused connection fails at once: do not spin.
      if (attempt.error) await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, w) => worker(w)));
  return attempts;
}

interface Ack {
  id: string;
  via: string;
  receipt: ReceiptBody;
}

function acknowledged(attempts: Attempt[]): Ack[] {
  return attempts.flatMap((a) => (a.receipts ?? []).map((receipt, i) => ({ id: a.ids[i]!, via: a.via, receipt })));
}

// ---- the suite -------------------------------------------------------------------------------------

const unavailable = await postgresUnavailable();

describe('postgres: two server processes on one database', { skip: unavailable }, () => {
  let fixture: PostgresFixture | undefined;
  let dataDir: string | undefined;
  let a: ServerProcess;
  let b: ServerProcess;
  let verifierKey: string;
  let store: PostgresStore | undefined;

  before(async () => {
    fixture = await createPostgresFixture(NAME);
    dataDir = mkdtempSync(join(tmpdir(), 'sealtrail-mp-'));
    // A creates the signing key and records the name in the folder; B then starts on the same folder.
    a = await startServer('A', dataDir, fixture);
    b = await startServer('B', dataDir, fixture);
    verifierKey = (await getText(a.url, '/v1/verifier-key')).trim();
    assert.equal((await getText(b.url, '/v1/verifier-key')).trim(), verifierKey, 'A and B sign with the same key');
    const { key } = loadSigningKey(dataDir, undefined, false);
    store = await PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer: nodeSigner(key), name: NAME });
  });

  after(async () => {
    try {
      await Promise.all([...children].map((child) => stopChild(child)));
      await store?.close();
    } finally {
      await fixture?.drop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const verifiers = () => [parseVerifierKey(nodeSuite, verifierKey)];

  /** Every stored entry's disclosed event id, by index (straight from the database). */
  async function storedIds(ledger: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const entry of store!.entries(ledger, 0, Number.MAX_SAFE_INTEGER)) {
      assert.equal(entry.index, ids.length, `entry ${ids.length} is missing`);
      ids.push(entry.disclosures.id![1] as string);
    }
    return ids;
  }

  it('many writers through both processes: one order, no gaps, identical proofs from both', { timeout: 120_000 }, async (t) => {
    const ledger = 'many';
    const N = 3000;
    const origin = `${NAME}/${ledger}`;
    const clientA = new SealtrailClient({ url: a.url, token: ADMIN_TOKEN });
    await clientA.createLedger(ledger);

    const started = performance.now();
    const attempts = await runLoad({ ledger, targets: [a, b], workers: 40, prefix: 'mw', total: N });
    const seconds = (performance.now() - started) / 1000;
    const failed = attempts.filter((x) => x.error);
    assert.deepEqual(failed.map((x) => `${x.via}: ${String(x.error)}`), [], 'no append fails while both processes are up');
    const acks = acknowledged(attempts);
    assert.equal(acks.length, N);
    const batches = attempts.filter((x) => x.batch).length;
    t.diagnostic(
      `${N} events (${attempts.length} requests, ${batches} batches of 10) through A and B in ${seconds.toFixed(2)} s: ` +
        `${Math.round(N / seconds)} events/s, A ${acks.filter((x) => x.via === 'A').length} / B ${acks.filter((x) => x.via === 'B').length}`,
    );

    // Unique indexes, exactly 0..N-1; a batch's receipts are consecutive and in order.
    const byIndex = new Map<number, Ack>();
    for (const ack of acks) {
      assert.equal(byIndex.get(ack.receipt.index), undefined, `index ${ack.receipt.index} acknowledged twice`);
      byIndex.set(ack.receipt.index, ack);
      assert.equal(ack.receipt.duplicate, false);
      assert.ok(ack.receipt.index < ack.receipt.tree_size, `index ${ack.receipt.index} under a checkpoint of size ${ack.receipt.tree_size}`);
    }
    assert.deepEqual([...byIndex.keys()].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i), 'indexes are 0..N-1 without gaps');
    for (const attempt of attempts) {
      const indexes = attempt.receipts!.map((r) => r.index);
      assert.deepEqual(indexes, indexes.map((_, i) => indexes[0]! + i), 'a batch is sealed contiguously, in order');
      assert.ok(attempt.receipts!.every((r) => r.checkpoint === attempt.receipts![0]!.checkpoint), 'a batch shares one checkpoint');
    }
    // Both processes sequenced events (the load really was spread).
    assert.ok(acks.some((x) => x.via === 'A') && acks.some((x) => x.via === 'B'));

    // Every receipt's checkpoint verifies under the deployment key, is for this ledger and covers its index.
    const noteBySize = new Map<number, string>();
    for (const { receipt } of acks) {
      const known = noteBySize.get(receipt.tree_size);
      if (known !== undefined) {
        assert.equal(receipt.checkpoint, known, `two different checkpoints of size ${receipt.tree_size}`);
        continue;
      }
      const { checkpoint } = openCheckpoint(nodeSuite, receipt.checkpoint, verifiers(), origin);
      assert.equal(checkpoint.size, receipt.tree_size);
      noteBySize.set(receipt.tree_size, receipt.checkpoint);
    }
    const sizes = [...noteBySize.keys()].sort((x, y) => x - y);
    assert.equal(sizes.at(-1), N);
    // Every stored checkpoint is one some client was given (each batch had at least one caller).
    assert.deepEqual((await store!.checkpoints(ledger)).map((c) => c.size), sizes);

    // Each stored checkpoint, fetched by size from A and from B: byte-identical and equal to the receipts'.
    await mapLimit(sizes, 16, async (size) => {
      const [fromA, fromB] = await Promise.all([getText(a.url, `/v1/ledgers/${ledger}/checkpoint?size=${size}`), getText(b.url, `/v1/ledgers/${ledger}/checkpoint?size=${size}`)]);
      assert.equal(fromA, noteBySize.get(size), `checkpoint ${size} from A differs from the receipt's`);
      assert.equal(fromB, fromA, `checkpoint ${size}: A and B differ`);
    });
    const [latestA, latestB] = await Promise.all([getText(a.url, `/v1/ledgers/${ledger}/checkpoint`), getText(b.url, `/v1/ledgers/${ledger}/checkpoint`)]);
    assert.equal(latestA, noteBySize.get(N));
    assert.equal(latestB, latestA);

    const phase = performance.now();
    // Every event's entry, alternately from A and B: the disclosed id and the leaf hash are the
    // acknowledged ones. For a sample of indexes (every fifth, and the last of every checkpoint) the
    // inclusion proof at the receipt's size is fetched from both processes, must be byte-identical, and
    // verifies against the receipt's checkpoint with the disclosures (verifyStoredLedger below then
    // rebuilds the whole tree from the database).
    const lastOfCheckpoint = new Set(sizes.map((size) => size - 1));
    let proofs = 0;
    await mapLimit(Array.from({ length: N }, (_, i) => i), 16, async (index) => {
      const { id, receipt } = byIndex.get(index)!;
      const entry = JSON.parse(await getText(index % 2 === 0 ? a.url : b.url, `/v1/ledgers/${ledger}/entries/${index}`)) as EntryResponse;
      assert.equal(entry.event?.id, id, `entry ${index} holds ${String(entry.event?.id)}, acknowledged ${id}`);
      assert.equal(entry.leaf_hash, receipt.leaf_hash);
      if (index % 5 !== 0 && !lastOfCheckpoint.has(index)) return;
      proofs++;
      const proofPath = `/v1/ledgers/${ledger}/proof/inclusion?index=${index}&size=${receipt.tree_size}`;
      const [proofA, proofB] = await Promise.all([getText(a.url, proofPath), getText(b.url, proofPath)]);
      assert.equal(proofB, proofA, `inclusion proof (${index}, ${receipt.tree_size}): A and B differ`);
      const proof = JSON.parse(proofA) as { hashes: string[] };
      const verified = verifyEntries({
        verifierKeys: [verifierKey],
        checkpoint: receipt.checkpoint,
        origin,
        suite: nodeSuite,
        entries: [{ index, leaf: fromBase64(entry.leaf), disclosures: entry.disclosures!, inclusionProof: proof.hashes.map(fromBase64) }],
      });
      assert.equal(verified.entries[0]!.event.id, id);
    });
    t.diagnostic(`${N} entries and ${proofs} inclusion proofs (from A and B) checked in ${Math.round(performance.now() - phase)} ms`);
    const phase2 = performance.now();

    // Consistency between stored checkpoints, proofs from A and B (identical): every pair when there are
    // few; otherwise every consecutive pair, every one to the latest and a sample (consistency chains,
    // and verifyStoredLedger below checks every checkpoint against one rebuilt tree).
    const pairs: Array<[number, number]> = [];
    if ((sizes.length * (sizes.length - 1)) / 2 <= 1500) {
      for (let i = 0; i < sizes.length; i++) for (let j = i + 1; j < sizes.length; j++) pairs.push([sizes[i]!, sizes[j]!]);
    } else {
      const random = rng(42);
      for (let i = 0; i + 1 < sizes.length; i++) pairs.push([sizes[i]!, sizes[i + 1]!], [sizes[i]!, N]);
      for (let k = 0; k < 150; k++) {
        const [x, y] = [Math.floor(random() * sizes.length), Math.floor(random() * sizes.length)].sort((p, q) => p - q) as [number, number];
        if (x !== y) pairs.push([sizes[x]!, sizes[y]!]);
      }
    }
    await mapLimit(pairs, 24, async ([from, to]) => {
      const path = `/v1/ledgers/${ledger}/proof/consistency?from=${from}&to=${to}`;
      const [proofA, proofB] = await Promise.all([getText(a.url, path), getText(b.url, path)]);
      assert.equal(proofB, proofA, `consistency proof ${from}→${to}: A and B differ`);
      verifyCheckpointConsistency({
        verifierKeys: [verifierKey],
        older: noteBySize.get(from)!,
        newer: noteBySize.get(to)!,
        proof: (JSON.parse(proofA) as { hashes: string[] }).hashes.map(fromBase64),
        suite: nodeSuite,
      });
    });
    t.diagnostic(`${sizes.length} checkpoints, ${pairs.length} consistency proofs checked on A and B in ${Math.round(performance.now() - phase2)} ms`);

    // The whole stored ledger, re-derived from the database, with every acknowledged checkpoint as external.
    const result = await verifyStoredLedger(store!, ledger, { suite: nodeSuite, verifiers: verifiers(), external: [...noteBySize.values()] });
    assert.equal(result.entries, N);
    assert.equal(result.checkpoints, sizes.length);
    assert.equal(result.externalCheckpoints, sizes.length);
    const ids = await storedIds(ledger);
    ids.forEach((id, index) => assert.equal(id, byIndex.get(index)!.id));
  });

  it('the same event id sent to both processes at once is sealed once, with one index', { timeout: 60_000 }, async () => {
    const ledger = 'retries';
    const clientA = new SealtrailClient({ url: a.url, token: ADMIN_TOKEN });
    const clientB = new SealtrailClient({ url: b.url, token: ADMIN_TOKEN });
    await clientA.createLedger(ledger);

    // Rounds of concurrent retries: single events (twice to each server) and batches of 10 (once to each).
    const receiptsById = new Map<string, Array<{ via: string; receipt: ReceiptBody }>>();
    const record = (via: string, ids: string[], receipts: ReceiptBody[]) =>
      ids.forEach((id, i) => {
        const list = receiptsById.get(id) ?? [];
        list.push({ via, receipt: receipts[i]! });
        receiptsById.set(id, list);
      });
    let n = 0;
    for (let round = 0; round < 10; round++) {
      const sends: Array<Promise<void>> = [];
      for (let k = 0; k < 8; k++) {
        const id = `rt-${n}`;
        const e = event(id, n++);
        for (const [via, client] of [['A', clientA], ['B', clientB], ['A', clientA], ['B', clientB]] as const) {
          sends.push(client.append(ledger, e).then((r) => record(via, [id], [r])));
        }
      }
      for (let k = 0; k < 2; k++) {
        const ids = Array.from({ length: 10 }, () => `rt-${n++}`);
        const events = ids.map((id, i) => event(id, n + i));
        for (const [via, client] of [['A', clientA], ['B', clientB]] as const) {
          sends.push(client.append(ledger, events).then((r) => record(via, ids, r)));
        }
      }
      await Promise.all(sends);
    }

    const ids = await storedIds(ledger);
    assert.equal(ids.length, new Set(ids).size, 'no event id stored twice');
    assert.equal(ids.length, receiptsById.size, 'every id stored');
    for (const [id, list] of receiptsById) {
      const index = ids.indexOf(id);
      assert.ok(index >= 0, `${id} is not stored`);
      const [first] = list;
      for (const { receipt } of list) {
        assert.equal(receipt.index, index, `${id}: receipts carry ${list.map((x) => `${x.via}:${x.receipt.index}`).join(', ')}; stored at ${index}`);
        assert.equal(receipt.leaf_hash, first!.receipt.leaf_hash);
        assert.equal(receipt.tree_size, first!.receipt.tree_size);
        assert.equal(receipt.checkpoint, first!.receipt.checkpoint);
        assert.equal(receipt.received_at, first!.receipt.received_at);
      }
      // Only the process that sealed the event may answer it as new; the other sees a retry.
      const sealedBy = new Set(list.filter((x) => !x.receipt.duplicate).map((x) => x.via));
      assert.equal(sealedBy.size, 1, `${id}: answered as newly sealed by ${[...sealedBy].join(' and ') || 'nobody'}`);
    }

    // The same id with different content at once through A and B: one is sealed, the other is a conflict.
    for (let k = 0; k < 10; k++) {
      const id = `conflict-${k}`;
      const results = await Promise.allSettled([
        clientA.append(ledger, { ...event(id, k), action: 'conflict.a' }),
        clientB.append(ledger, { ...event(id, k), action: 'conflict.b' }),
      ]);
      const sealed = results.filter((r) => r.status === 'fulfilled');
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      assert.equal(sealed.length, 1, `${id}: ${results.map((r) => r.status).join(', ')}`);
      assert.ok(refused[0] instanceof SealtrailApiError && refused[0].status === 409 && refused[0].code === 'IDEMPOTENCY_CONFLICT', String(refused[0]));
    }
    const withConflicts = await storedIds(ledger);
    assert.equal(withConflicts.length, ids.length + 10);
    assert.equal(new Set(withConflicts).size, withConflicts.length);
    await verifyStoredLedger(store!, ledger, { suite: nodeSuite, verifiers: verifiers() });
  });

  it('a process SIGKILLed mid-load loses nothing it acknowledged; the other carries on', { timeout: 60_000 }, async (t) => {
    const ledger = 'killed';
    const clientA = new SealtrailClient({ url: a.url, token: ADMIN_TOKEN });
    await clientA.createLedger(ledger);
    // A third process on the same folder and database, to be killed (B stays up for the other tests).
    const victim = await startServer('V', dataDir!, fixture!);
    let goneAt = Infinity;
    void victim.exited.then(() => (goneAt = performance.now()));

    let killedAt: number | undefined;
    let stopAt = Infinity;
    const started = performance.now();
    const attempts = await runLoad({
      ledger,
      targets: [a, victim],
      workers: 40,
      prefix: 'kl',
      stop: () => performance.now() >= stopAt,
      // Killed on an acknowledgement from the victim after 1 s: by then it has sealed the next batch
      // from its queue and is usually inside that batch's transaction (holding the ledger lock).
      onAttempt: (attempt) => {
        const due = killedAt === undefined && attempt.via === 'V' && attempt.receipts !== undefined && performance.now() - started >= 1000;
        if (due) {
          killedAt = performance.now();
          victim.child.kill('SIGKILL');
          stopAt = killedAt + 1500;
        }
      },
    });
    const { signal } = await victim.exited;
    assert.equal(signal, 'SIGKILL');
    assert.ok(killedAt !== undefined);

    const fromA = attempts.filter((x) => x.via === 'A');
    const fromVictim = attempts.filter((x) => x.via === 'V');
    // A answered everything, before and after the kill.
    assert.deepEqual(fromA.filter((x) => x.error).map((x) => String(x.error)), [], 'appends through A keep succeeding');
    const aAfterKill = fromA.filter((x) => x.startedAt > killedAt!).length;
    assert.ok(aAfterKill > 0, 'A acknowledged appends after the kill');
    // The victim answered nothing with an HTTP error; whatever did not complete failed at the connection.
    for (const attempt of fromVictim.filter((x) => x.error)) {
      assert.ok(isConnectionError(attempt.error), `victim request failed with ${String(attempt.error)}`);
    }
    assert.ok(fromVictim.some((x) => x.receipts), 'the victim acknowledged appends before the kill');
    for (const attempt of fromVictim.filter((x) => x.startedAt > goneAt)) {
      assert.ok(attempt.error, 'no request to the victim succeeds once it is gone');
    }
    const failedAtVictim = fromVictim.filter((x) => x.error);
    const inFlight = failedAtVictim.filter((x) => x.startedAt <= killedAt!);
    const acks = acknowledged(attempts);
    const slowestA = Math.max(...fromA.filter((x) => x.endedAt > killedAt!).map((x) => x.endedAt - x.startedAt));
    t.diagnostic(
      `slowest A append finishing after the kill: ${Math.round(slowestA)} ms; kill after ${Math.round(killedAt! - started)} ms: ${acks.length} events acknowledged (A ${acks.filter((x) => x.via === 'A').length}, ` +
        `victim ${acks.filter((x) => x.via === 'V').length}), ${inFlight.length} victim requests cut in flight, ` +
        `${failedAtVictim.length - inFlight.length} refused after; ${aAfterKill} A requests after the kill`,
    );

    // Everything acknowledged by either process is stored exactly once, at its receipt's index.
    const ids = await storedIds(ledger);
    const where = new Map<string, number>();
    ids.forEach((id, index) => {
      assert.equal(where.get(id), undefined, `${id} stored twice`);
      where.set(id, index);
    });
    for (const ack of acks) assert.equal(where.get(ack.id), ack.receipt.index, `${ack.id} acknowledged at ${ack.receipt.index}`);
    // A request cut by the kill is stored whole (committed, answer lost) or not at all.
    let committedUnanswered = 0;
    for (const attempt of failedAtVictim) {
      const stored = attempt.ids.filter((id) => where.has(id)).length;
      assert.ok(stored === 0 || stored === attempt.ids.length, `a cut request of ${attempt.ids.length} events has ${stored} stored`);
      if (stored > 0) committedUnanswered++;
    }
    t.diagnostic(`${committedUnanswered} of the cut requests had committed before the kill (stored whole, never acknowledged)`);
    // Nothing else is stored.
    const sent = new Set(attempts.flatMap((x) => x.ids));
    assert.ok(ids.every((id) => sent.has(id)));

    // The whole ledger verifies, with every acknowledged checkpoint; the latest checkpoint covers every entry.
    const notes = [...new Set(acks.map((x) => x.receipt.checkpoint))];
    const result = await verifyStoredLedger(store!, ledger, { suite: nodeSuite, verifiers: verifiers(), external: notes });
    assert.equal(result.entries, ids.length);
    const latest = openCheckpoint(nodeSuite, await clientA.checkpoint(ledger), verifiers(), `${NAME}/${ledger}`).checkpoint;
    assert.equal(latest.size, ids.length, 'the latest checkpoint covers all stored entries (no partial batch)');

    // A goes on at the next index.
    const next = await clientA.append(ledger, event('kl-after', 0));
    assert.equal(next.index, ids.length);
    assert.equal(next.tree_size, ids.length + 1);
    assert.equal(next.duplicate, false);
    await verifyStoredLedger(store!, ledger, { suite: nodeSuite, verifiers: verifiers(), external: [...notes, next.checkpoint] });
  });
});
