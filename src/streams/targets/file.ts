/**
 * The file target: JSON Lines (export records, or OCSF objects) in a directory, one file open at a
 * time. Each delivery appends its records and then a checkpoint line, and is fsynced before it counts as
 * acknowledged. A file is rotated once it reaches `max_bytes` or is `max_seconds` old: fsynced, closed and
 * renamed from `.open` to its final name, the directory fsynced — and never opened for writing again.
 * A `.open` file left by a crash is closed off at the next start: cut back to its last complete line
 * (what follows it was never acknowledged), fsynced and renamed like any other.
 *
 * Lines: a record is the export record with `previous` (docs/EXPORT.md, docs/STREAMS.md); in OCSF format
 * the OCSF object with `unmapped.previous`; a checkpoint is {"sealtrail_checkpoint": {ledger, size, note}}.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { link, open, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { controlSafeJson } from '../../core/export/record.js';
import { formatData, type RecordFormat } from '../cloudevents.js';
import { DeliveryError, type Delivery, type Target, type TargetKind } from '../target.js';

export interface FileConfig {
  directory: string;
  maxBytes: number;
  maxSeconds: number;
}

const OPEN_SUFFIX = '.open';

function parseConfig(input: Record<string, unknown>): FileConfig {
  const known = new Set(['directory', 'max_bytes', 'max_seconds']);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new Error(`file sinks take no setting ${JSON.stringify(key)}`);
  const { directory, max_bytes: maxBytes, max_seconds: maxSeconds } = input;
  if (typeof directory !== 'string' || directory.length === 0 || directory.length > 4096 || directory.includes('\0')) {
    throw new Error('directory must be the path of a folder on the server');
  }
  const checkInt = (value: unknown, name: string, min: number, max: number) => {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
      throw new Error(`${name} must be an integer from ${min} to ${max}`);
    }
  };
  checkInt(maxBytes, 'max_bytes', 1024, 2 ** 40);
  checkInt(maxSeconds, 'max_seconds', 1, 31_536_000);
  return { directory, maxBytes: (maxBytes as number | undefined) ?? 64 * 1024 * 1024, maxSeconds: (maxSeconds as number | undefined) ?? 3600 };
}

/** One record's line in the sink's format, with the index delivered before it. */
export function recordLine(record: Delivery['records'][number], previous: number | null, format: RecordFormat): string {
  const data = formatData(record, format);
  if (format === 'ocsf') (data.unmapped as Record<string, unknown>).previous = previous;
  else data.previous = previous;
  return controlSafeJson(data);
}

export function checkpointLine(ledger: string, checkpoint: Delivery['checkpoint']): string {
  return JSON.stringify({ sealtrail_checkpoint: { ledger, size: checkpoint.size, note: checkpoint.note } });
}

async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Cuts a file back to its last newline: a line cut short by a crash was never acknowledged. */
async function dropPartialLine(path: string): Promise<void> {
  const handle = await open(path, 'r');
  let keep = 0;
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.alloc(64 * 1024);
    for (let end = size; end > 0 && keep === 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) keep = start + at + 1;
      end = start;
    }
    if (keep === size) return;
  } finally {
    await handle.close();
  }
  await truncate(path, keep);
}

class FileTarget implements Target {
  private current: { handle: FileHandle; path: string; bytes: number; openedAt: number } | undefined;
  /** Deliveries of the sink's ledgers share the open file: one writes at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private recovered = false;
  private sequence = 0;

  constructor(
    private readonly config: FileConfig,
    private readonly format: RecordFormat,
  ) {}

  deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const run = this.queue.then(() => {
      if (signal.aborted) throw new DeliveryError('delivery stopped');
      return this.write(delivery);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async write(delivery: Delivery): Promise<void> {
    try {
      await this.recoverOnce();
      if (this.current && this.due(this.current)) await this.rotate();
      const file = this.current ?? (await this.openNext());
      let previous = delivery.previous ?? null;
      const lines: string[] = [];
      for (const record of delivery.records) {
        lines.push(recordLine(record, previous, this.format));
        previous = record.index;
      }
      lines.push(checkpointLine(delivery.ledger, delivery.checkpoint));
      const bytes = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
      await file.handle.write(bytes, 0, bytes.length, file.bytes);
      await file.handle.sync();
      file.bytes += bytes.length;
      if (this.due(file)) await this.rotate();
    } catch (error) {
      if (error instanceof DeliveryError) throw error;
      // A failed write may have left part of a line: that file is closed off as a crash would leave it.
      await this.abandonCurrent();
      throw new DeliveryError(`cannot write to ${this.config.directory}: ${(error as Error).message}`);
    }
  }

  private due(file: NonNullable<FileTarget['current']>): boolean {
    return file.bytes >= this.config.maxBytes || Date.now() - file.openedAt >= this.config.maxSeconds * 1000;
  }

  private async recoverOnce(): Promise<void> {
    if (this.recovered) return;
    mkdirSync(this.config.directory, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.config.directory).filter((n) => n.endsWith(OPEN_SUFFIX)).sort()) {
      const path = join(this.config.directory, name);
      const closed = path.slice(0, -OPEN_SUFFIX.length);
      // A crash between link and unlink: both names are the same closed file.
      if (existsSync(closed) && statSync(closed).ino === statSync(path).ino) {
        await unlink(path);
        continue;
      }
      await dropPartialLine(path);
      await this.finish(path);
    }
    this.recovered = true;
  }

  private async openNext(): Promise<NonNullable<FileTarget['current']>> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    // Random as well as ordered: another process, or this one after a restart, must never pick a used name.
    const name = `sealtrail-${stamp}-${String(this.sequence++).padStart(4, '0')}-${randomBytes(4).toString('hex')}.jsonl`;
    const path = join(this.config.directory, `${name}${OPEN_SUFFIX}`);
    // 'wx': a name is used once; a closed file is never reopened.
    const handle = await open(path, 'wx', 0o600);
    this.current = { handle, path, bytes: 0, openedAt: Date.now() };
    return this.current;
  }

  private async finish(openPath: string, handle?: FileHandle): Promise<void> {
    if (handle) {
      await handle.sync();
      await handle.close();
    } else {
      const h = await open(openPath, 'r+');
      await h.sync();
      await h.close();
    }
    // link, not rename: it fails where a file of the final name exists instead of replacing it.
    await link(openPath, openPath.slice(0, -OPEN_SUFFIX.length));
    await unlink(openPath);
    await fsyncDirectory(this.config.directory);
  }

  private async rotate(): Promise<void> {
    const file = this.current;
    if (!file) return;
    this.current = undefined;
    await this.finish(file.path, file.handle);
  }

  private async abandonCurrent(): Promise<void> {
    const file = this.current;
    this.current = undefined;
    if (!file) return;
    await file.handle.close().catch(() => {});
    this.recovered = false;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.rotate().catch(() => {});
  }
}

export const fileKind: TargetKind<FileConfig> = {
  type: 'file',
  formats: ['json', 'ocsf'],
  secretFields: [],
  parseConfig,
  create: (config, format) => new FileTarget(config, format as RecordFormat),
};
