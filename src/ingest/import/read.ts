/**
 * Records out of an export file of any size, streamed, each with the line it ends on. Three shapes,
 * told apart by the file's first bytes:
 *   - a JSON array of records (`[{…}, …]`: GitHub, Okta and gcloud exports),
 *   - an object whose first member is an array of records (`{"Records": […]}`: CloudTrail log files;
 *     `{"entries": […]}`, `{"events": […]}`),
 *   - JSON Lines (one record per line), anything else that starts with `{`.
 * Arrays are parsed by @streamparser/json, fed one line at a time, so a record is tied to the line where
 * it ends; JSON Lines are parsed line by line, so one bad line does not stop the rest. A syntax error
 * inside an array cannot be resynchronised: the file stops there, reported with its line.
 */
import { createReadStream } from 'node:fs';
import { JSONParser } from '@streamparser/json';

/** One record is at most this big; a larger one stops the file (the parser would hold it all in memory). */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export type ReadItem = { line: number; record: unknown } | { line: number; error: string; fatal?: boolean };

const WRAPPERS = ['Records', 'entries', 'events'];

export async function* readRecords(path: string): AsyncGenerator<ReadItem> {
  const lines = readLines(path);
  // Enough of the start to see the shape, even when it is pretty-printed over several lines.
  const head: Line[] = [];
  let text = '';
  while (text.length < 256 && head.length < 64) {
    const next = await lines.next();
    if (next.done) break;
    head.push(next.value);
    text += `${next.value.text}\n`;
  }
  const start = text.replace(/^\uFEFF/, '').trimStart();
  if (start === '') return;
  const all = replay(head, lines);
  const wrapper = new RegExp(`^\\{\\s*"(${WRAPPERS.join('|')})"\\s*:\\s*\\[`).exec(start);
  if (wrapper) yield* parseArray(all, `$.${wrapper[1]}.*`);
  else if (start.startsWith('[')) yield* parseArray(all, '$.*');
  else yield* parseJsonLines(all);
}

async function* replay(head: Line[], rest: AsyncGenerator<Line>): AsyncGenerator<Line> {
  yield* head;
  yield* rest;
}

interface Line {
  text: string;
  number: number;
  /** The line was cut at the bound (it goes on past MAX_RECORD_BYTES). */
  cut: boolean;
}

/** Lines of a file, each ≤ MAX_RECORD_BYTES (a longer one is cut and flagged), without holding the file. */
async function* readLines(path: string): AsyncGenerator<Line> {
  let pending = '';
  let number = 0;
  let skipping = false;
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 })) {
    pending += chunk as string;
    let at: number;
    while ((at = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, at);
      pending = pending.slice(at + 1);
      number++;
      if (skipping) skipping = false;
      else yield { text, number, cut: false };
    }
    if (pending.length > MAX_RECORD_BYTES) {
      if (!skipping) yield { text: pending.slice(0, MAX_RECORD_BYTES), number: number + 1, cut: true };
      skipping = true;
      pending = '';
    }
  }
  if (pending !== '' && !skipping) yield { text: pending, number: number + 1, cut: false };
}

async function* parseJsonLines(lines: AsyncGenerator<Line>): AsyncGenerator<ReadItem> {
  for await (const line of lines) {
    if (line.cut) {
      yield { line: line.number, error: `line is over ${MAX_RECORD_BYTES} bytes` };
      continue;
    }
    const text = line.text.replace(/^\uFEFF/, '').trim();
    if (text === '') continue;
    try {
      yield { line: line.number, record: JSON.parse(text) };
    } catch (error) {
      yield { line: line.number, error: `not JSON: ${(error as Error).message}` };
    }
  }
}

async function* parseArray(lines: AsyncGenerator<Line>, path: string): AsyncGenerator<ReadItem> {
  const found: ReadItem[] = [];
  let line = 0;
  let sinceRecord = 0;
  const parser = new JSONParser({ paths: [path], keepStack: false });
  parser.onValue = ({ value }) => {
    found.push({ line, record: value });
    sinceRecord = 0;
  };
  let failed: string | undefined;
  parser.onError = (error) => (failed ??= error.message);
  for await (const current of lines) {
    line = current.number;
    sinceRecord += current.text.length + 1;
    if (current.cut || sinceRecord > MAX_RECORD_BYTES) failed ??= `a record is over ${MAX_RECORD_BYTES} bytes`;
    if (failed === undefined) {
      try {
        parser.write(`${current.text}\n`);
      } catch (error) {
        failed ??= (error as Error).message;
      }
    }
    yield* found.splice(0);
    if (failed !== undefined) {
      yield { line, error: `the file stops being valid JSON here (${failed}); the records before were read`, fatal: true };
      return;
    }
  }
  try {
    // A complete document has ended the parser already; end() is for one that stopped part-way.
    if (!parser.isEnded) parser.end();
  } catch (error) {
    failed ??= (error as Error).message;
  }
  if (failed !== undefined) yield { line, error: `the file ends in the middle of a record (${failed})`, fatal: true };
}
