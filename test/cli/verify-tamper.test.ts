/**
 * `sealtrail verify` against an attacker who has the data folder: they open sealtrail.db directly, drop
 * the append-only triggers and rewrite rows. Every case works on its own copy of one pristine folder and
 * runs the real CLI as a child process (exit 0 verified, 1 failed, 2 usage).
 *
 * Pristine folder: ledger "audit" with 5 batches of 120 events (checkpoints at 120, 240, 360, 480, 600;
 * level-1 tree hashes at 256 and 512, the second completed by the last batch), every 10th event with an
 * idempotency key; ledger "other" with 5 events. "early" is a copy taken after the first 3 batches.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerify, type CliResult } from '../helpers/cli.js';
import Database from 'better-sqlite3';
import { fromUtf8, utf8 } from '../../src/core/bytes.js';
import { signCheckpoint } from '../../src/core/checkpoint.js';
import { commit, SaltSource, type Disclosures } from '../../src/core/commitments.js';
import type { Ed25519Signer } from '../../src/core/crypto.js';
import { decodeLeaf, encodeLeaf, sealEvent } from '../../src/core/leaf.js';
import { Frontier, hashLeaf, type TileNodes } from '../../src/core/tree.js';
import { nodeSigner, nodeSuite } from '../../src/platform/node-crypto.js';
import { openDeployment } from '../../src/server/deployment.js';
import { sampleEvent } from '../helpers/events.js';
import { recountRollups } from '../helpers/rollups.js';

const LEDGER = 'audit';
const WRITER = 'key_a';
const BATCH = 120;
const BATCHES = 5;
const SIZE = BATCH * BATCHES;
const SEALED_TABLES = ['ledgers', 'entries', 'tree_hashes', 'tile_nodes', 'checkpoints', 'idempotency_keys'] as const;



function show(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** Folds WAL into the main file, so that copying the folder copies every committed row. */
function checkpointWal(dir: string): void {
  const db = new Database(join(dir, 'sealtrail.db'));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** Applies `change` to DIR/sealtrail.db in one transaction (the triggers must already be gone). */
function tamperInPlace(dir: string, change: (db: Database.Database) => void): void {
  const db = new Database(join(dir, 'sealtrail.db'));
  try {
    db.transaction(() => change(db))();
  } finally {
    db.close();
  }
}

/** Every trigger guarding a sealed table, whatever its name (entries' update guards differ since retention). */
function dropTriggers(db: Database.Database): void {
  const triggers = db
    .prepare<unknown[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (${SEALED_TABLES.map(() => '?').join(',')})`)
    .all(...SEALED_TABLES);
  for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);
}

function ledgerId(db: Database.Database, name = LEDGER): number {
  return db.prepare<[string], number>('SELECT ledger_id FROM ledgers WHERE name = ?').pluck().get(name)!;
}

interface EntryRow {
  idx: number;
  received_at: number;
  leaf: Buffer;
  leaf_hash: Buffer;
  disclosures: string;
}

function entryRow(db: Database.Database, idx: number): EntryRow {
  return db
    .prepare<[number, number], EntryRow>('SELECT idx, received_at, leaf, leaf_hash, disclosures FROM entries WHERE ledger_id = ? AND idx = ?')
    .get(ledgerId(db), idx)!;
}

function updateEntry(db: Database.Database, idx: number, row: Pick<EntryRow, 'leaf' | 'leaf_hash' | 'disclosures'>): void {
  db.prepare('UPDATE entries SET leaf = ?, leaf_hash = ?, disclosures = ? WHERE ledger_id = ? AND idx = ?').run(
    row.leaf,
    row.leaf_hash,
    row.disclosures,
    ledgerId(db),
    idx,
  );
}

/**
 * Changes a disclosed value the way a careful attacker would: a fresh salt, the matching commitment in
 * the leaf, and the leaf hash of the new leaf, so that the row is consistent in itself.
 */
function recommit(db: Database.Database, idx: number, path: string, value: unknown): void {
  const row = entryRow(db, idx);
  const envelope = decodeLeaf(row.leaf);
  const disclosures = JSON.parse(row.disclosures) as Disclosures;
  const salt = new SaltSource(nodeSuite).next();
  envelope.commitments[path] = commit(nodeSuite, salt, path, value);
  disclosures[path] = [salt, value];
  const leaf = Buffer.from(encodeLeaf(envelope));
  updateEntry(db, idx, { leaf, leaf_hash: Buffer.from(hashLeaf(nodeSuite, leaf)), disclosures: JSON.stringify(disclosures) });
}

/**
 * Recomputes every tree hash, checkpoint root and frontier of the ledger from its (possibly rewritten)
 * entries. With `resign`, also re-signs every checkpoint note with that key; without, the notes keep the
 * genuine signatures over the old roots.
 */
function rebuildTree(db: Database.Database, ledger: string, resign?: { name: string; signer: Ed25519Signer }): void {
  const id = ledgerId(db, ledger);
  const origin = db.prepare<[number], string>('SELECT origin FROM ledgers WHERE ledger_id = ?').pluck().get(id)!;
  const hashes = db.prepare<[number], Buffer>('SELECT leaf_hash FROM entries WHERE ledger_id = ? ORDER BY idx').pluck().all(id);
  const sizes = new Set(db.prepare<[number], number>('SELECT size FROM checkpoints WHERE ledger_id = ?').pluck().all(id));
  db.prepare('DELETE FROM tree_hashes WHERE ledger_id = ?').run(id);
  db.prepare('DELETE FROM tile_nodes WHERE ledger_id = ?').run(id);
  const insertHash = db.prepare('INSERT INTO tree_hashes (ledger_id, level, idx, hash) VALUES (?, ?, ?, ?)');
  const insertTile = db.prepare('INSERT INTO tile_nodes (ledger_id, level, tile, nodes) VALUES (?, ?, ?, ?)');
  const updateCheckpoint = db.prepare('UPDATE checkpoints SET root = ?, frontier = ? WHERE ledger_id = ? AND size = ?');
  const updateNote = db.prepare('UPDATE checkpoints SET note = ? WHERE ledger_id = ? AND size = ?');
  const frontier = new Frontier();
  for (const leafHash of hashes) {
    const tiles: TileNodes[] = [];
    for (const h of frontier.append(nodeSuite, leafHash, tiles)) insertHash.run(id, h.level, h.index, h.hash);
    for (const t of tiles) insertTile.run(id, t.level, t.tile, t.nodes);
    if (!sizes.has(frontier.size)) continue;
    const rootHash = frontier.root(nodeSuite);
    updateCheckpoint.run(rootHash, frontier.toBytes(), id, frontier.size);
    if (resign) {
      const note = signCheckpoint(nodeSuite, { origin, size: frontier.size, rootHash, extensions: [] }, [resign]);
      updateNote.run(note, id, frontier.size);
    }
  }
}

describe('sealtrail verify: an attacker with the data folder', { concurrency: 4 }, () => {
  let work: string;
  let pristine: string;
  let early: string;
  let deploymentName: string;
  let origin: string;
  /** The verifier key handed out when the deployment was set up. */
  let verifierKey: string;
  /** The latest checkpoint of the pristine folder, saved outside the server. */
  let latestFile: string;
  /** The checkpoint at the size of the early copy. */
  let earlyFile: string;
  let copies = 0;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'sealtrail-tamper-'));
    pristine = join(work, 'pristine');
    early = join(work, 'early');
    let deployment = openDeployment({ dataDir: pristine });
    ({ name: deploymentName, verifierKey } = deployment);
    origin = `${deploymentName}/${LEDGER}`;
    await deployment.store.createLedger(LEDGER);
    await deployment.store.createLedger('other');
    await deployment.store.append('other', [0, 1, 2, 3, 4].map((i) => ({ event: sampleEvent(1000 + i), writer: WRITER })));
    const appendBatch = async (b: number) => {
      const requests = Array.from({ length: BATCH }, (_, i) => {
        const n = b * BATCH + i;
        return n % 10 === 0 ? { event: sampleEvent(n), writer: WRITER, idempotencyKey: `k-${n}` } : { event: sampleEvent(n), writer: WRITER };
      });
      const receipts = await deployment.store.append(LEDGER, requests);
      assert.equal(receipts.at(-1)!.treeSize, (b + 1) * BATCH, 'one checkpoint per batch');
    };
    for (let b = 0; b < 3; b++) await appendBatch(b);
    earlyFile = join(work, 'early-checkpoint.txt');
    writeFileSync(earlyFile, (await deployment.store.latestCheckpoint(LEDGER))!.note);
    await deployment.store.close();
    checkpointWal(pristine);
    cpSync(pristine, early, { recursive: true });

    deployment = openDeployment({ dataDir: pristine });
    for (let b = 3; b < BATCHES; b++) await appendBatch(b);
    const latest = (await deployment.store.latestCheckpoint(LEDGER))!;
    assert.equal(latest.size, SIZE);
    latestFile = join(work, 'latest-checkpoint.txt');
    writeFileSync(latestFile, latest.note);
    await deployment.store.close();
    checkpointWal(pristine);

    const db = new Database(join(pristine, 'sealtrail.db'), { readonly: true });
    const levels = db.prepare<[], { level: number; n: number }>('SELECT level, COUNT(*) AS n FROM tree_hashes GROUP BY level').all();
    assert.deepEqual(levels, [{ level: 1, n: 2 }], 'level-1 tree hashes at 256 and 512');
    assert.ok((db.prepare('SELECT COUNT(*) FROM idempotency_keys').pluck().get() as number) > 0);
    db.close();
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** A fresh copy of `source` (the pristine folder by default) for one case. */
  function copy(source = pristine): string {
    const dir = join(work, `case-${copies++}`);
    cpSync(source, dir, { recursive: true });
    return dir;
  }

  /** A fresh copy with `change` applied to sealtrail.db after dropping the append-only triggers. */
  function tampered(change: (db: Database.Database) => void, source = pristine): string {
    const dir = copy(source);
    tamperInPlace(dir, (db) => {
      dropTriggers(db);
      change(db);
    });
    return dir;
  }

  async function assertFails(args: string[], pattern: RegExp): Promise<CliResult> {
    const result = await runVerify(args);
    assert.equal(result.code, 1, show(result));
    assert.match(result.stdout, pattern, show(result));
    return result;
  }

  it('passes an untampered folder, in text and JSON, with and without saved checkpoints', async () => {
    const dir = copy();
    const text = await runVerify(['--data', dir]);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, new RegExp(`ok  ${LEDGER}: ${SIZE} entries, ${BATCHES} checkpoints verified`));
    assert.match(text.stdout, /ok  other: 5 entries, 1 checkpoint verified/);

    const json = await runVerify(['--data', dir, '--json', '--key', verifierKey, '--checkpoint', latestFile, '--checkpoint', earlyFile]);
    assert.equal(json.code, 0, show(json));
    const parsed = JSON.parse(json.stdout) as { ok: boolean; verifierKey: string; ledgers: Array<{ ledger: string; entries: number; checkpoints: number; externalCheckpoints: number }> };
    assert.equal(parsed.ok, true);
    assert.equal(parsed.verifierKey, verifierKey);
    const audit = parsed.ledgers.find((l) => l.ledger === LEDGER)!;
    assert.deepEqual([audit.entries, audit.checkpoints, audit.externalCheckpoints], [SIZE, BATCHES, 2]);

    const one = await runVerify(['--data', dir, '--ledger', 'other']);
    assert.equal(one.code, 0, show(one));
    assert.doesNotMatch(one.stdout, new RegExp(`ok  ${LEDGER}`));
  });

  it('catches a changed disclosed value, naming the index and the field', async () => {
    const dir = tampered((db) => {
      const row = entryRow(db, 17);
      const disclosures = JSON.parse(row.disclosures) as Disclosures;
      disclosures['actor.id']![1] = 'u-attacker';
      updateEntry(db, 17, { ...row, disclosures: JSON.stringify(disclosures) });
    });
    await assertFails(['--data', dir], /FAILED .*entry 17, field actor\.id/);
    const json = await runVerify(['--data', dir, '--json']);
    assert.equal(json.code, 1, show(json));
    const parsed = JSON.parse(json.stdout) as { ok: boolean; index: number; field: string; ledger: string };
    assert.deepEqual([parsed.ok, parsed.ledger, parsed.index, parsed.field], [false, LEDGER, 17, 'actor.id']);
  });

  it('catches a changed leaf byte whose leaf_hash was recomputed (the signed root no longer matches)', async () => {
    const dir = tampered((db) => {
      const row = entryRow(db, 17);
      const text = fromUtf8(row.leaf);
      assert.ok(text.includes(`"writer":"${WRITER}"`));
      const leaf = Buffer.from(utf8(text.replace(`"writer":"${WRITER}"`, '"writer":"key_b"')));
      updateEntry(db, 17, { ...row, leaf, leaf_hash: Buffer.from(hashLeaf(nodeSuite, leaf)) });
    });
    await assertFails(['--data', dir], /checkpoint of size 120 does not match the entries before it/);
  });

  it('catches a value re-committed in leaf, disclosure and leaf hash (a self-consistent row)', async () => {
    const dir = tampered((db) => recommit(db, 17, 'actor.id', 'u-attacker'));
    await assertFails(['--data', dir], /checkpoint of size 120 does not match the entries before it/);
  });

  it('catches a deleted entry', async () => {
    const dir = tampered((db) => db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx = 40').run(ledgerId(db)));
    await assertFails(['--data', dir], /entry 40 is missing/);
  });

  it('catches two swapped entries', async () => {
    const dir = tampered((db) => {
      const a = entryRow(db, 10);
      const b = entryRow(db, 11);
      updateEntry(db, 10, b);
      updateEntry(db, 11, a);
    });
    await assertFails(['--data', dir], /entry 10: its leaf says index 11/);
  });

  it('cannot see a cut-off tail by itself, but catches it with a saved checkpoint', async () => {
    const dir = tampered((db) => {
      const id = ledgerId(db);
      const from = SIZE - BATCH;
      db.prepare('DELETE FROM entries WHERE ledger_id = ? AND idx >= ?').run(id, from);
      db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size > ?').run(id, from);
      // Level-1 hash 1 (leaves 256..511) was completed by the last batch.
      assert.equal(db.prepare('DELETE FROM tree_hashes WHERE ledger_id = ? AND level = 1 AND idx = 1').run(id).changes, 1);
      db.prepare('DELETE FROM idempotency_keys WHERE ledger_id = ? AND idx >= ?').run(id, from);
      // A careful attacker cuts the derived search rows too (verify compares them with the entries).
      for (const table of ['search_events', 'search_targets', 'search_metadata']) db.prepare(`DELETE FROM ${table} WHERE ledger_id = ? AND idx >= ?`).run(id, from);
      recountRollups(db);
    });
    // Documented limitation: a store cannot prove that nothing was cut off together with its checkpoints.
    const alone = await runVerify(['--data', dir, '--key', verifierKey]);
    assert.equal(alone.code, 0, show(alone));
    assert.match(alone.stdout, new RegExp(`ok  ${LEDGER}: ${SIZE - BATCH} entries`));
    await assertFails(['--data', dir, '--key', verifierKey, '--checkpoint', latestFile], /saved checkpoint of size 600 is ahead .*rolled back or cut/);
  });

  it('catches a checkpoint note replaced by one signed with another key', async () => {
    const dir = tampered((db) => {
      const row = db.prepare<[number], { root: Buffer }>('SELECT root FROM checkpoints WHERE ledger_id = ? AND size = 240').get(ledgerId(db))!;
      const signer = nodeSigner(generateKeyPairSync('ed25519').privateKey);
      const note = signCheckpoint(nodeSuite, { origin, size: 240, rootHash: row.root, extensions: [] }, [{ name: deploymentName, signer }]);
      db.prepare('UPDATE checkpoints SET note = ? WHERE ledger_id = ? AND size = 240').run(note, ledgerId(db));
    });
    await assertFails(['--data', dir], /checkpoint of size 240/);
  });

  it('catches a checkpoint row whose root column differs from its signed note', async () => {
    const dir = tampered((db) => {
      db.prepare('UPDATE checkpoints SET root = ? WHERE ledger_id = ? AND size = 360').run(Buffer.alloc(32, 7), ledgerId(db));
    });
    await assertFails(['--data', dir], /checkpoint row of size 360 does not match its signed note/);
  });

  it('catches a rewritten history re-signed with a replaced signing key, but only with --key', async () => {
    // The attacker rewrites entry 17, rebuilds the whole tree, re-signs every checkpoint with their own
    // key under the deployment's name, and puts that key in signing-key.pem.
    const { privateKey } = generateKeyPairSync('ed25519');
    const dir = tampered((db) => {
      recommit(db, 17, 'actor.id', 'u-attacker');
      db.prepare("UPDATE search_events SET actor_id = 'u-attacker' WHERE ledger_id = ? AND idx = 17").run(ledgerId(db));
      recountRollups(db);
      const resign = { name: deploymentName, signer: nodeSigner(privateKey) };
      rebuildTree(db, LEDGER, resign);
      rebuildTree(db, 'other', resign);
    });
    rmSync(join(dir, 'signing-key.pem'));
    writeFileSync(join(dir, 'signing-key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });

    // Documented limitation: without --key, verify trusts the key in the folder, which the attacker owns.
    const trusting = await runVerify(['--data', dir]);
    assert.equal(trusting.code, 0, show(trusting));
    // With the verifier key obtained at setup, the forgery is caught.
    await assertFails(['--data', dir, '--key', verifierKey], /checkpoint of size 120/);
  });

  it('catches the whole folder rolled back to an earlier copy, given a later saved checkpoint', async () => {
    const dir = copy(early);
    const alone = await runVerify(['--data', dir]);
    assert.equal(alone.code, 0, `an earlier copy is a valid ledger in itself\n${show(alone)}`);
    assert.match(alone.stdout, new RegExp(`ok  ${LEDGER}: ${3 * BATCH} entries`));
    const matching = await runVerify(['--data', dir, '--checkpoint', earlyFile]);
    assert.equal(matching.code, 0, show(matching));
    await assertFails(['--data', dir, '--checkpoint', latestFile], /saved checkpoint of size 600 is ahead .*rolled back or cut/);
  });

  it('catches a changed received_at column', async () => {
    const dir = tampered((db) => {
      db.prepare('UPDATE entries SET received_at = received_at + 1 WHERE ledger_id = ? AND idx = 300').run(ledgerId(db));
    });
    await assertFails(['--data', dir], /entry 300: received_at differs from its leaf/);
  });

  it('catches an extra entry after the last, not covered by a checkpoint', async () => {
    const dir = tampered((db) => {
      const last = entryRow(db, SIZE - 1);
      const sealed = sealEvent(
        nodeSuite,
        { ledger: LEDGER, index: SIZE, receivedAtMicros: last.received_at + 1, writer: WRITER, event: sampleEvent(SIZE) },
        new SaltSource(nodeSuite),
      );
      db.prepare('INSERT INTO entries (ledger_id, idx, received_at, leaf, leaf_hash, disclosures) VALUES (?, ?, ?, ?, ?, ?)').run(
        ledgerId(db),
        SIZE,
        last.received_at + 1,
        sealed.leaf,
        sealed.leafHash,
        JSON.stringify(sealed.disclosures),
      );
    });
    await assertFails(['--data', dir], /1 entries after index 599 are not covered by any checkpoint/);
  });

  it('catches a changed stored tree hash', async () => {
    const dir = tampered((db) => {
      db.prepare('UPDATE tree_hashes SET hash = ? WHERE ledger_id = ? AND level = 1 AND idx = 0').run(Buffer.alloc(32, 1), ledgerId(db));
    });
    await assertFails(['--data', dir], /stored tree hash at level 1, index 0 does not match/);
  });

  it('catches changed stored interior nodes of a tile (every proof through it would fail)', async () => {
    const dir = tampered((db) => {
      const nodes = db.prepare<[number], Buffer>('SELECT nodes FROM tile_nodes WHERE ledger_id = ? AND level = 0 AND tile = 0').pluck().get(ledgerId(db))!;
      nodes[100] = nodes[100]! ^ 1;
      db.prepare('UPDATE tile_nodes SET nodes = ? WHERE ledger_id = ? AND level = 0 AND tile = 0').run(nodes, ledgerId(db));
    });
    await assertFails(['--data', dir], /stored interior nodes of tile 0 at level 0 do not match the entries/);
  });

  // BUG: the verifier never looks at checkpoints.frontier, the state the server resumes appending from
  // (SqliteStore.currentHead trusts it without checking it against the signed root).
  it('catches a checkpoint whose stored frontier was changed', async () => {
    const dir = tampered((db) => {
      const id = ledgerId(db);
      const frontier = db.prepare<[number, number], Buffer>('SELECT frontier FROM checkpoints WHERE ledger_id = ? AND size = ?').pluck().get(id, SIZE)!;
      db.prepare('UPDATE checkpoints SET frontier = ? WHERE ledger_id = ? AND size = ?').run(Buffer.alloc(frontier.length, 9), id, SIZE);
    });
    await assertFails(['--data', dir, '--key', verifierKey], /frontier/);
  });

  // BUG (same cause, and worse): planting the frontier of a forged history makes the server sign that
  // history with the genuine key at its next append. The attacker then rewrites the entries to match and
  // deletes the older checkpoints; what remains verifies under the genuine --key, and only a checkpoint
  // saved outside the server can still reveal it.
  it('does not let a planted frontier get a forged history signed by the genuine key', async () => {
    // The forged history: entry 17 re-committed, every tree hash, root and frontier recomputed (the
    // attacker cannot sign these roots).
    const forged = tampered((db) => {
      recommit(db, 17, 'actor.id', 'u-attacker');
      rebuildTree(db, LEDGER);
    });
    const forgedDb = new Database(join(forged, 'sealtrail.db'), { readonly: true });
    const forgedFrontier = forgedDb
      .prepare<[number, number], Buffer>('SELECT frontier FROM checkpoints WHERE ledger_id = ? AND size = ?')
      .pluck()
      .get(ledgerId(forgedDb), SIZE)!;
    const forgedEntry = entryRow(forgedDb, 17);
    forgedDb.close();

    // Step 1: plant only the forged frontier in the real folder.
    const dir = tampered((db) => {
      db.prepare('UPDATE checkpoints SET frontier = ? WHERE ledger_id = ? AND size = ?').run(forgedFrontier, ledgerId(db), SIZE);
    });
    // Step 2: the server restarts and seals the next event, as it would for any client.
    const deployment = openDeployment({ dataDir: dir });
    let signedByServer = true;
    try {
      await deployment.store.append(LEDGER, [{ event: sampleEvent(SIZE), writer: WRITER }]);
    } catch {
      signedByServer = false; // refusing to append over an inconsistent head defeats the attack
    } finally {
      await deployment.store.close();
    }
    if (!signedByServer) return;

    // Step 3: rewrite entry 17 and the tree to match, and drop every checkpoint older than the new one.
    tamperInPlace(dir, (db) => {
      updateEntry(db, 17, forgedEntry);
      rebuildTree(db, LEDGER);
      db.prepare('DELETE FROM checkpoints WHERE ledger_id = ? AND size <= ?').run(ledgerId(db), SIZE);
    });
    const result = await runVerify(['--data', dir, '--key', verifierKey]);
    assert.equal(result.code, 1, `a forged history (actor.id of entry 17 changed) verifies under the genuine key\n${show(result)}`);
  });

  it('enforces append-only in the database while the triggers are in place', () => {
    const dir = copy();
    const db = new Database(join(dir, 'sealtrail.db'));
    try {
      const updates: Record<(typeof SEALED_TABLES)[number], string> = {
        ledgers: "UPDATE ledgers SET origin = 'x'",
        entries: 'UPDATE entries SET received_at = received_at + 1 WHERE idx = 17',
        tree_hashes: 'UPDATE tree_hashes SET hash = zeroblob(32)',
        tile_nodes: 'UPDATE tile_nodes SET nodes = zeroblob(16320)',
        checkpoints: "UPDATE checkpoints SET note = 'x' WHERE size = 120",
        idempotency_keys: 'UPDATE idempotency_keys SET idx = idx + 1',
      };
      for (const table of SEALED_TABLES) {
        assert.ok((db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number) > 0, `${table} has rows`);
        assert.throws(() => db.exec(updates[table]), new RegExp(`sealtrail: ${table} is append-only`), `UPDATE ${table}`);
        assert.throws(() => db.exec(`DELETE FROM ${table}`), new RegExp(`sealtrail: ${table} is append-only`), `DELETE ${table}`);
      }
    } finally {
      db.close();
    }
  });

  it('answers an unknown ledger and a missing folder with a clear usage error', async () => {
    const ledger = await runVerify(['--data', copy(), '--ledger', 'nosuch']);
    assert.equal(ledger.code, 2, show(ledger));
    assert.match(ledger.stderr, /no ledger "nosuch"/);
    const folder = await runVerify(['--data', '/nonexistent']);
    assert.equal(folder.code, 2, show(folder));
    assert.match(folder.stderr, /no sealtrail database in/);
  });
});
