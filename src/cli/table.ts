/** Plain text for a terminal: counted nouns, and tables with a header row and columns that line up. */

/** "1 event", "2 events", "0 events". */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/**
 * Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides, which
 * event values may carry: printed raw they would break rows apart, or let a writer of events move the
 * cursor, recolour or reorder what an investigator reads.
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export const printable = (cell: unknown): string => String(cell).replace(UNPRINTABLE, ' ');

/**
 * A table printed in parts (one page of results at a time): the header comes with the first part;
 * columns are as wide as the widest cell seen so far, so they only ever widen. Columns are two spaces
 * apart; the last one is not padded.
 */
export class TextTable {
  private readonly widths: number[];
  private headerShown = false;

  constructor(
    private readonly header: readonly string[],
    private readonly rightAligned: ReadonlySet<number> = new Set(),
  ) {
    this.widths = header.map((h) => h.length);
  }

  /** The lines of these rows (each with its newline), preceded by the header the first time. */
  format(rows: readonly (readonly unknown[])[]): string {
    const cells = rows.map((row) => row.map(printable));
    for (const row of cells) row.forEach((cell, i) => (this.widths[i] = Math.max(this.widths[i] ?? 0, cell.length)));
    const lines = cells.map((row) => this.line(row));
    if (!this.headerShown) {
      lines.unshift(this.line([...this.header]));
      this.headerShown = true;
    }
    return lines.map((line) => `${line}\n`).join('');
  }

  private line(row: string[]): string {
    const last = row.length - 1;
    return row
      .map((cell, i) => {
        const width = this.widths[i] ?? cell.length;
        if (this.rightAligned.has(i)) return cell.padStart(width);
        return i === last ? cell : cell.padEnd(width);
      })
      .join('  ');
  }
}
