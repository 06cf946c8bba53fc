/**
 * The signed-heads journal: every (ledger, size, root) this server process signed, one JSON line each,
 * appended and fsynced before the checkpoint's receipt is released. It lives beside the signing key
 * (`<key file>.heads`), outside the database, so that someone who can edit or roll back the database but
 * not that file cannot make the server sign a second, different tree of a size it signed before (a fork
 * under its own key), and so that `sealtrail verify` can tell a deleted checkpoint from one never signed.
 * When the key sits in the data folder the journal does too, and then it only protects against
 * tampering with the database alone (docs/SECURITY.md, "Integrity of the running server").
 *
 * Sizes only grow per ledger, so the process keeps just the latest head per ledger in memory, streaming
 * the file at start; only `verify` collects every head. A torn last line (a crash mid-write) is ignored; any other unreadable
 * line is refused, since the journal is written by this code alone.
 */
import { closeSync, existsSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync, statSync, truncateSync, write as writeFd } from 'node:fs';
import { promisify } from 'node:util';
import { bytesEqual, fromBase64, toBase64 } from '../core/bytes.js';
import { SealtrailError } from '../core/errors.js';
import type { Store } from './store.js';

const writeAsync = promisify((fd: number, text: string, done: (error: NodeJS.ErrnoException | null, written: number) => void) =>
  writeFd(fd, text, (error, written) => done(error, written)),
);
const fdatasyncAsync = promisify(fdatasync);

/** How the journal writes: node:fs on the thread pool; tests give a writer that fails part way. */
export interface JournalIo {
  /** Appends `text`; resolves with the bytes written. */
  write(fd: number, text: string): Promise<number>;
  datasync(fd: number): Promise<void>;
}

const nodeJournalIo: JournalIo = { write: writeAsync, datasync: fdatasyncAsync };

export interface SignedHead {
  size: number;
  root: Uint8Array;
}

export class SignedHeadsError extends Error {
  override name = 'SignedHeadsError';
}

/** Bytes read at a time: the journal grows one line per signed batch and is never read whole. */
const READ_CHUNK = 1024 * 1024;

/**
 * Calls `onHead` for every complete line of the journal, in file order, reading it a chunk at a time.
 * Returns the byte length of the complete lines: a last line without its newline was torn by a crash
 * before its fsync (its batch was never released) and is not reported.
 */
function scanSignedHeads(path: string, onHead: (ledger: string, head: SignedHead, line: number) => void): number {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(READ_CHUNK);
    let carry = Buffer.alloc(0);
    let complete = 0;
    let line = 0;
    for (;;) {
      const read = readSync(fd, buffer, 0, READ_CHUNK, null);
      if (read === 0) break;
      let chunk = Buffer.concat([carry, buffer.subarray(0, read)]);
      let newline: number;
      while ((newline = chunk.indexOf(0x0a)) !== -1) {
        line++;
        const text = chunk.subarray(0, newline).toString('utf8');
        complete += newline + 1;
        chunk = chunk.subarray(newline + 1);
        const [ledger, head] = parseLine(text, path, line);
        onHead(ledger, head, line);
      }
      carry = Buffer.from(chunk);
      if (carry.length > 64 * 1024) throw new SignedHeadsError(`${path}: line ${line + 1} is not a signed head`);
    }
    return complete;
  } finally {
    closeSync(fd);
  }
}

function parseLine(text: string, path: string, line: number): [string, SignedHead] {
  let record: { l?: unknown; s?: unknown; r?: unknown };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    throw new SignedHeadsError(`${path}: line ${line} is not a signed head`);
  }
  const { l: ledger, s: size, r: root } = record;
  if (typeof ledger !== 'string' || !Number.isSafeInteger(size) || (size as number) < 1 || typeof root !== 'string') {
    throw new SignedHeadsError(`${path}: line ${line} is not a signed head`);
  }
  const rootBytes = fromBase64(root);
  if (rootBytes.length !== 32) throw new SignedHeadsError(`${path}: line ${line} has a malformed root`);
  return [ledger, { size: size as number, root: rootBytes }];
}

/** Every signed head in the journal file per ledger, by increasing size, or undefined when there is none. */
export function readSignedHeads(path: string): Map<string, SignedHead[]> | undefined {
  if (!existsSync(path)) return undefined;
  const heads = new Map<string, SignedHead[]>();
  scanSignedHeads(path, (ledger, head) => {
    const list = heads.get(ledger) ?? [];
    heads.set(ledger, list);
    list.push(head);
  });
  for (const [ledger, list] of heads) {
    // Several processes may share one journal (PostgreSQL); their lines interleave but each is a size
    // the ledger really reached, so order by size and keep duplicates of the same head once.
    list.sort((a, b) => a.size - b.size);
    const unique = list.filter((head, i) => {
      const previous = list[i - 1];
      if (!previous || previous.size !== head.size) return true;
      if (!bytesEqual(previous.root, head.root)) throw new SignedHeadsError(`${path}: ${ledger} has two different roots signed for size ${head.size}`);
      return false;
    });
    heads.set(ledger, unique);
  }
  return heads;
}

/** Heads waiting for one write: their lines, and the callers to tell once the write is on disk. */
class QueuedHeads {
  readonly heads: Array<{ ledger: string; size: number; root: Uint8Array }> = [];
  private readonly waiting: Array<{ resolve(): void; reject(error: unknown): void }> = [];

  add(ledger: string, size: number, root: Uint8Array): Promise<void> {
    this.heads.push({ ledger, size, root });
    return new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  text(): string {
    return this.heads.map((h) => `${JSON.stringify({ l: h.ledger, s: h.size, r: toBase64(h.root) })}\n`).join('');
  }

  resolveAll(): void {
    for (const caller of this.waiting) caller.resolve();
  }

  rejectAll(error: unknown): void {
    for (const caller of this.waiting) caller.reject(error);
  }
}

export class SignedHeadsJournal {
  private readonly latest = new Map<string, SignedHead>();
  private readonly fd: number;
  /** Heads asked for while a write is in flight: they go to disk together in the next write. */
  private queued: QueuedHeads | undefined;
  /** The write in flight, if any; writes are serialized, one write and one fdatasync each. */
  private writing: Promise<void> | undefined;
  private closed = false;
  /** Writes made durable so far (each one fdatasync, however many heads it carried). */
  syncs = 0;

  constructor(
    readonly path: string,
    private readonly io: JournalIo = nodeJournalIo,
  ) {
    if (existsSync(path)) {
      // Only the latest head per ledger is kept: the file is streamed, never held whole.
      const complete = scanSignedHeads(path, (ledger, head) => {
        const known = this.latest.get(ledger);
        if (known && known.size === head.size && !bytesEqual(known.root, head.root)) {
          throw new SignedHeadsError(`${path}: ${ledger} has two different roots signed for size ${head.size}`);
        }
        if (!known || known.size < head.size) this.latest.set(ledger, head);
      });
      // A line torn by a crash is cut off, so that the next line is not appended to its fragment.
      if (statSync(path).size !== complete) truncateSync(path, complete);
    }
    this.fd = openSync(path, 'a', 0o600);
  }

  /** The largest size this journal knows to have been signed for the ledger, with its root. */
  latestOf(ledger: string): SignedHead | undefined {
    return this.latest.get(ledger);
  }

  /**
   * Appends and fsyncs one signed head; resolves once it is on disk. Group commit: every head asked for
   * while a write is in flight joins the next write, so that one fdatasync covers them all. Without it,
   * single-event appends (one checkpoint each) queued one thread-pool write and fsync per event, and
   * each receipt waited behind all the fsyncs before it (~100 ms at 50 concurrent clients).
   */
  record(ledger: string, size: number, root: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new SignedHeadsError(`${this.path} is closed`));
    this.queued ??= new QueuedHeads();
    const done = this.queued.add(ledger, size, root);
    // Started on a later tick, so that `writing` is set before the loop can end and clear it.
    this.writing ??= Promise.resolve().then(() => this.writeQueued());
    return done;
  }

  /** Writes what is queued, then again while more was queued meanwhile; on the thread pool, off the event loop. */
  private async writeQueued(): Promise<void> {
    try {
      while (this.queued) {
        const group = this.queued;
        this.queued = undefined;
        try {
          await this.writeGroup(group);
        } catch (error) {
          // A failed write fails its own heads only (their batches are not released); the next one tries again.
          group.rejectAll(error);
          continue;
        }
        for (const head of group.heads) {
          const known = this.latest.get(head.ledger);
          if (!known || known.size < head.size) this.latest.set(head.ledger, { size: head.size, root: head.root });
        }
        this.syncs++;
        group.resolveAll();
      }
    } finally {
      this.writing = undefined;
    }
  }

  /**
   * One write and one fdatasync of a group's lines. A write that stops short (a full disk) or whose
   * fdatasync fails leaves its bytes at the end of the file; they are cut off again, since the next
   * group's line would merge with a fragment and make the journal unreadable at the next start. Only
   * when the file ends exactly where this write left it: another process sharing the journal may have
   * appended its own lines, which are never cut.
   */
  private async writeGroup(group: QueuedHeads): Promise<void> {
    const text = group.text();
    const length = Buffer.byteLength(text);
    const before = fstatSync(this.fd).size;
    const written = await this.io.write(this.fd, text);
    if (written !== length) {
      this.cutBack(before, written);
      throw new Error(`short write to ${this.path} (${written} of ${length} bytes)`);
    }
    try {
      await this.io.datasync(this.fd);
    } catch (error) {
      this.cutBack(before, written);
      throw error;
    }
  }

  private cutBack(before: number, written: number): void {
    try {
      if (written > 0 && fstatSync(this.fd).size === before + written) ftruncateSync(this.fd, before);
    } catch {
      // The file cannot even be inspected: the next write fails too, and its heads with it.
    }
  }

  /** Closes the file once the writes already asked for are done. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void (this.writing ?? Promise.resolve()).then(() => {
      try {
        closeSync(this.fd);
      } catch {
        // Already gone with the process's descriptors; nothing is left to write.
      }
    });
  }
}

/**
 * `verify` with the journal: every size the server signed must still be stored as a checkpoint with the
 * root it signed. Catches a deleted checkpoint (also one between two batches of the same received_at,
 * which the entries alone cannot reveal), a cut-off tail, a rollback, and a rollback refilled with other
 * events. Run after verifyStoredLedger, which ties the stored checkpoints to the entries.
 */
export async function verifySignedHeads(store: Store, ledger: string, heads: SignedHead[] | undefined): Promise<number> {
  if (!heads || heads.length === 0) return 0;
  const stored = new Map((await store.checkpoints(ledger)).map((row) => [row.size, row.rootHash]));
  for (const head of heads) {
    const root = stored.get(head.size);
    if (!root) {
      throw new SealtrailError('VERIFICATION_FAILED', `${ledger}: the checkpoint of size ${head.size}, which the signed-heads journal records as signed, is not stored (deleted, cut off or rolled back)`, {
        ledger,
        checkpoint: head.size,
      });
    }
    if (!bytesEqual(root, head.root)) {
      throw new SealtrailError('VERIFICATION_FAILED', `${ledger}: the stored checkpoint of size ${head.size} is not the one signed (signed-heads journal): a fork`, {
        ledger,
        checkpoint: head.size,
      });
    }
  }
  return heads.length;
}
