/**
 * The signed-heads journal: every (ledger, size, root) this server process signed, one JSON line each,
 * appended and fsynced before the checkpoint's receipt is released. It lives beside the signing key
 * (`<key file>.heads`), outside the database, so that someone who can edit or roll back the database but
 * not that file cannot make the server sign a second, different tree of a size it signed before (a fork
 * under its own key), and so that `sealtrail verify` can tell a deleted checkpoint from one never signed.
 * When the key sits in the data folder the journal does too, and then it only protects against
 * tampering with the database alone (docs/SECURITY.md, "Integrity of the running server").
 *
 * Sizes only grow per ledger, so the process keeps just the latest head per ledger in memory; the whole
 * file is read only by `verify`. A torn last line (a crash mid-write) is ignored; any other unreadable
 * line is refused, since the journal is written by this code alone.
 */
import { closeSync, existsSync, fdatasync, openSync, readFileSync, truncateSync, write as writeFd } from 'node:fs';
import { promisify } from 'node:util';
import { bytesEqual, fromBase64, toBase64 } from '../core/bytes.js';
import { SealtrailError } from '../core/errors.js';
import type { Store } from './store.js';

const writeAsync = promisify((fd: number, text: string, done: (error: NodeJS.ErrnoException | null) => void) => writeFd(fd, text, (error) => done(error)));
const fdatasyncAsync = promisify(fdatasync);

export interface SignedHead {
  size: number;
  root: Uint8Array;
}

/** Largest journal read back in memory by `readSignedHeads` (one line per signed batch, ~100 bytes). */
const MAX_JOURNAL_BYTES = 512 * 1024 * 1024;

export class SignedHeadsError extends Error {
  override name = 'SignedHeadsError';
}

/** Parses the journal text into every signed head per ledger, by increasing size. */
export function parseSignedHeads(text: string, path: string): Map<string, SignedHead[]> {
  const heads = new Map<string, SignedHead[]>();
  const lines = text.split('\n');
  // A last line without its newline was torn by a crash before the fsync: its batch was never released.
  lines.pop();
  lines.forEach((line, i) => {
    let record: { l?: unknown; s?: unknown; r?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      throw new SignedHeadsError(`${path}: line ${i + 1} is not a signed head`);
    }
    const { l: ledger, s: size, r: root } = record;
    if (typeof ledger !== 'string' || !Number.isSafeInteger(size) || (size as number) < 1 || typeof root !== 'string') {
      throw new SignedHeadsError(`${path}: line ${i + 1} is not a signed head`);
    }
    const rootBytes = fromBase64(root);
    if (rootBytes.length !== 32) throw new SignedHeadsError(`${path}: line ${i + 1} has a malformed root`);
    const list = heads.get(ledger) ?? [];
    const previous = list.at(-1);
    // Several processes may share one journal (PostgreSQL); their lines interleave but each is a size
    // the ledger really reached, so order by size and keep duplicates of the same head once.
    if (previous && previous.size === size) {
      if (toBase64(previous.root) !== root) throw new SignedHeadsError(`${path}: ${ledger} has two different roots signed for size ${size}`);
      return;
    }
    list.push({ size: size as number, root: rootBytes });
    heads.set(ledger, list);
  });
  for (const list of heads.values()) list.sort((a, b) => a.size - b.size);
  return heads;
}

/** Every signed head in the journal file, or undefined when there is none. */
export function readSignedHeads(path: string): Map<string, SignedHead[]> | undefined {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  if (text.length > MAX_JOURNAL_BYTES) throw new SignedHeadsError(`${path} is larger than ${MAX_JOURNAL_BYTES} bytes`);
  return parseSignedHeads(text, path);
}

export class SignedHeadsJournal {
  private readonly latest = new Map<string, SignedHead>();
  private readonly fd: number;
  /** Writes are serialized: batches of different ledgers commit concurrently. */
  private pending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(readonly path: string) {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      // A line torn by a crash is cut off, so that the next line is not appended to its fragment.
      if (text.length > 0 && !text.endsWith('\n')) truncateSync(path, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    }
    for (const [ledger, list] of readSignedHeads(path) ?? []) this.latest.set(ledger, list.at(-1)!);
    this.fd = openSync(path, 'a', 0o600);
  }

  /** The largest size this journal knows to have been signed for the ledger, with its root. */
  latestOf(ledger: string): SignedHead | undefined {
    return this.latest.get(ledger);
  }

  /** Appends and fsyncs one signed head; resolves once it is on disk. */
  record(ledger: string, size: number, root: Uint8Array): Promise<void> {
    const line = `${JSON.stringify({ l: ledger, s: size, r: toBase64(root) })}\n`;
    // On the thread pool, so that the fsync does not hold the event loop.
    const write = this.pending.then(async () => {
      await writeAsync(this.fd, line);
      await fdatasyncAsync(this.fd);
      const known = this.latest.get(ledger);
      if (!known || known.size < size) this.latest.set(ledger, { size, root });
    });
    // A failed write fails its own batch only; the next one tries again.
    this.pending = write.catch(() => {});
    return write;
  }

  /** Closes the file once the writes already asked for are done. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.pending.then(() => {
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
