/**
 * The character scan every text format's escaping shares (CEF header and extension values, syslog
 * PARAM-VALUEs and MSG): a charCode loop that copies runs of plain characters and returns the input
 * itself when nothing needs escaping, since it runs for every field of every exported event.
 */

/**
 * Control characters no format here can escape (C0 but TAB, LF, CR; DEL; C1): written as U+FFFD.
 * Among them are the line boundaries of Python's str.splitlines other than LF and CR (VT, FF, the
 * separators U+001C–U+001E, NEL U+0085), and ESC and BEL, which would reach a terminal raw.
 */
function isBadControl(c: number): boolean {
  return (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f);
}

/** U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: not controls, but line breaks to str.splitlines and to many viewers. */
export function isUnicodeLineBreak(c: number): boolean {
  return c === 0x2028 || c === 0x2029;
}

/**
 * `value` with each character for which `special` returns a replacement replaced by it, and every other
 * bad control character (isBadControl) or Unicode line break (isUnicodeLineBreak) by U+FFFD: formats
 * that have no escape for a character lose it rather than let it split a line or reach a console.
 */
export function escapeChars(value: string, special: (c: number) => string | undefined): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const replacement = special(c) ?? (isBadControl(c) || isUnicodeLineBreak(c) ? '\ufffd' : undefined);
    if (replacement !== undefined) {
      out += value.slice(from, i) + replacement;
      from = i + 1;
    }
  }
  return from === 0 ? value : out + value.slice(from);
}
