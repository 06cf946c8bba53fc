/**
 * RFC 6587 framing of syslog over a byte stream: octet counting (`LEN SP MSG`, the only framing RFC 5425
 * allows over TLS) and non-transparent framing (each message ends with LF; NUL is accepted too, as some
 * senders use it). Both may be mixed on one connection: each frame's first byte says which it is.
 * Message size is bounded: an octet count over the bound is a protocol error (the stream cannot be
 * resynchronised: `error` is set and nothing more is read), an LF-terminated message over it is cut at
 * the bound and the rest skipped.
 */
export class FramingError extends Error {}

export class SyslogFramer {
  private buffer: Buffer = Buffer.alloc(0);
  /** Skipping the rest of an over-long LF-terminated message. */
  private skipping = false;
  /** Messages cut at the bound so far. */
  truncated = 0;
  /** Set when the stream broke the framing; the messages before the break were still returned. */
  error: FramingError | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** The complete messages in `chunk` (with what was buffered before it), as UTF-8 text. */
  push(chunk: Buffer): string[] {
    if (this.error) return [];
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const messages: string[] = [];
    try {
      for (;;) {
        const message = this.skipping ? this.skip() : this.next();
        if (message === undefined) break;
        if (message !== null) messages.push(message);
      }
    } catch (error) {
      if (!(error instanceof FramingError)) throw error;
      this.error = error;
      this.buffer = Buffer.alloc(0);
    }
    return messages;
  }

  /** What is left at the end of the stream: a last LF-terminated message without its LF. */
  end(): string[] {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    if (this.error || this.skipping || rest.length === 0 || isDigit(rest[0]!)) return [];
    return [rest.toString('utf8').replace(/\r$/, '')].filter((m) => m !== '');
  }

  /** One frame: its text, null for an empty frame, undefined when more bytes are needed. */
  private next(): string | null | undefined {
    if (this.buffer.length === 0) return undefined;
    const first = this.buffer[0]!;
    if (first === 0x0a || first === 0x0d || first === 0x00) {
      this.buffer = this.buffer.subarray(1);
      return null;
    }
    return isDigit(first) ? this.octetCounted() : this.lineTerminated();
  }

  private octetCounted(): string | undefined {
    const space = this.buffer.indexOf(0x20);
    const digits = space < 0 ? this.buffer.length : space;
    if (digits > 10 || (space >= 0 && !/^[1-9]\d*$/.test(this.buffer.subarray(0, space).toString('latin1')))) {
      throw new FramingError('malformed octet count');
    }
    if (space < 0) return undefined;
    const length = Number(this.buffer.subarray(0, space).toString('latin1'));
    if (length > this.maxMessageBytes) throw new FramingError(`message of ${length} bytes is over the limit of ${this.maxMessageBytes}`);
    if (this.buffer.length < space + 1 + length) return undefined;
    const message = this.buffer.subarray(space + 1, space + 1 + length).toString('utf8');
    this.buffer = this.buffer.subarray(space + 1 + length);
    return message;
  }

  private lineTerminated(): string | undefined {
    const end = terminator(this.buffer);
    if (end < 0) {
      if (this.buffer.length <= this.maxMessageBytes) return undefined;
      const message = this.buffer.subarray(0, this.maxMessageBytes).toString('utf8');
      this.buffer = Buffer.alloc(0);
      this.skipping = true;
      this.truncated++;
      return message;
    }
    const line = this.buffer.subarray(0, Math.min(end, this.maxMessageBytes));
    if (end > this.maxMessageBytes) this.truncated++;
    this.buffer = this.buffer.subarray(end + 1);
    return line.toString('utf8').replace(/\r$/, '');
  }

  private skip(): null | undefined {
    const end = terminator(this.buffer);
    if (end < 0) {
      this.buffer = Buffer.alloc(0);
      return undefined;
    }
    this.buffer = this.buffer.subarray(end + 1);
    this.skipping = false;
    return null;
  }
}

const isDigit = (byte: number) => byte >= 0x30 && byte <= 0x39;

function terminator(buffer: Buffer): number {
  const lf = buffer.indexOf(0x0a);
  const nul = buffer.indexOf(0x00);
  if (lf < 0) return nul;
  return nul < 0 ? lf : Math.min(lf, nul);
}
