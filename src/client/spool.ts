/**
 * The batching writer's on-disk spool (Node only): an append-only JSON Lines file of events accepted but
 * not yet sealed, so they survive the server being unreachable and the process restarting or being
 * killed. `{"add":EVENT}` lines are written and fsynced before `enqueue` resolves; `{"done":[ids]}` lines
 * follow each sealed batch (not fsynced: losing one only resends events the server then answers as
 * retries, by their ids). On open, adds without a done are pending again; a torn last line (a kill
 * mid-write) is cut off. One process at a time: a lock file holds the owner's pid, taken over when that
 * process is gone.
 */
import { open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import type { AuditEvent } from '../core/event.js';

/** Rewrite the file with only what is pending once it grows past this. */
const COMPACT_BYTES = 8 * 1024 * 1024;

export class SpoolLockedError extends Error {
  override name = 'SpoolLockedError';
}

export class Spool {
  private bytes = 0;
  private waiting: Array<{ events: AuditEvent[]; resolve: () => void; reject: (error: Error) => void }> = [];
  private writing: Promise<void> | undefined;
  /** File operations run one at a time: a rewrite swaps the handle under them. */
  private queue: Promise<void> = Promise.resolve();
  private constructor(
    private readonly path: string,
    private file: FileHandle,
    private readonly pending: Map<string, AuditEvent>,
  ) {}

  /** Opens (or creates) the spool and returns it with the events still waiting, oldest first. */
  static async open(path: string): Promise<{ spool: Spool; pending: AuditEvent[] }> {
    await lock(path);
    const pending = new Map<string, AuditEvent>();
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    // Only whole lines count: a last line without its newline was being written when the process died.
    const whole = text.slice(0, text.lastIndexOf('\n') + 1);
    for (const line of whole.split('\n')) {
      if (line === '') continue;
      let entry: { add?: AuditEvent; done?: string[] };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (entry.add?.id) pending.set(entry.add.id, entry.add);
      for (const id of entry.done ?? []) pending.delete(id);
    }
    const spool = new Spool(path, await open(path, 'a'), pending);
    await spool.rewrite();
    return { spool, pending: [...pending.values()] };
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Durably records events (each with its id) before they are acknowledged to the caller. Calls that
   * arrive while a write is on its way share the next write and fsync (group commit).
   */
  add(events: AuditEvent[]): Promise<void> {
    const written = new Promise<void>((resolve, reject) => this.waiting.push({ events, resolve, reject }));
    this.startWriting();
    return written;
  }

  private startWriting(): void {
    if (this.writing) return;
    this.writing = this.exclusive(() => this.writeWaiting()).finally(() => {
      this.writing = undefined;
      // An add that came after the loop's last look at the list must not wait for the next add.
      if (this.waiting.length > 0) this.startWriting();
    });
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation);
    this.queue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async writeWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      const events = group.flatMap((g) => g.events);
      const text = events.map((event) => `${JSON.stringify({ add: event })}\n`).join('');
      try {
        await this.file.write(text);
        await this.file.datasync();
      } catch (error) {
        for (const g of group) g.reject(error as Error);
        continue;
      }
      this.bytes += Buffer.byteLength(text);
      for (const event of events) this.pending.set(event.id!, event);
      for (const g of group) g.resolve();
    }
  }

  done(ids: string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.exclusive(() => this.writeDone(ids));
  }

  private async writeDone(ids: string[]): Promise<void> {
    const text = `${JSON.stringify({ done: ids })}\n`;
    await this.file.write(text);
    this.bytes += Buffer.byteLength(text);
    for (const id of ids) this.pending.delete(id);
    if (this.bytes > COMPACT_BYTES || (this.pending.size === 0 && this.bytes > 64 * 1024)) await this.rewrite();
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      await this.file.close();
      await rm(`${this.path}.lock`, { force: true });
    });
  }

  /** Replaces the file with one holding only the pending events: written aside, fsynced, then renamed over. */
  private async rewrite(): Promise<void> {
    const text = [...this.pending.values()].map((event) => `${JSON.stringify({ add: event })}\n`).join('');
    const aside = `${this.path}.compact`;
    const handle = await open(aside, 'w');
    try {
      await handle.write(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.file.close();
    await rename(aside, this.path);
    this.file = await open(this.path, 'a');
    await this.file.sync();
    this.bytes = Buffer.byteLength(text);
  }
}

async function lock(path: string): Promise<void> {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(lockPath, 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(owner) && alive(owner)) throw new SpoolLockedError(`spool ${path} is in use by process ${owner}`);
    // Its owner is gone (killed, crashed): the spool is ours to take over.
    await rm(lockPath, { force: true });
  }
  throw new SpoolLockedError(`spool ${path}: could not take the lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
