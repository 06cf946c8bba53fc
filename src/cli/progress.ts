/**
 * A progress line on standard error: redrawn in place on a terminal, printed every few seconds
 * otherwise (so logs of long runs still show progress), silent for short runs.
 */
export class Progress {
  private readonly started = Date.now();
  private lastPrint = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly unit: string,
  ) {}

  update(done: number, note = ''): void {
    const now = Date.now();
    // Quiet for the first second (short runs need no progress), then at most 10/s on a terminal, every 5 s in logs.
    if (now - this.started < 1000 || now - this.lastPrint < (this.tty ? 100 : 5000)) return;
    this.lastPrint = now;
    const seconds = (now - this.started) / 1000;
    const share = this.total ? ` ${bar(done / this.total)} ${Math.floor((100 * done) / this.total)}%` : '';
    const text = `${this.label}${share} ${note || `${done} ${this.unit}`} (${seconds.toFixed(0)} s)`;
    process.stderr.write(this.tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }

  done(summary: string): void {
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1);
    process.stderr.write(`${this.tty && this.lastPrint ? '\r\x1b[2K' : ''}${summary} in ${seconds} s\n`);
  }
}

function bar(fraction: number, width = 24): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}
