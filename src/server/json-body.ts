/**
 * Request bodies are JSON in the strict sense of I-JSON (RFC 7493): valid UTF-8 (not repaired with
 * U+FFFD, which would seal something other than what the client sent) and no duplicate member names
 * (which different parsers resolve differently). Prototype-poisoning keys are refused by Fastify's own
 * parser, which does the parsing here.
 *
 * A body of several MiB must not hold the event loop while it is read: JSON.parse of one object with
 * 500,000 members takes seconds, and six such bodies at once stalled every other request for 3.6 s in
 * the review (11–13 s on a loaded test machine). So before anything is decoded or materialised, the
 * body's bytes are pre-scanned in slices that yield to the event loop between them (scanBody), and
 * refused when one object has more members, one array more items, one parsed unit or the whole more
 * values, or the nesting is deeper than any request of this API needs (BODY_SHAPE_LIMITS); the scan
 * also finds repeated member names. A body within those bounds is decoded and parsed whole, or, when
 * it is an array (a batch of events), item by item with yields between, so each JSON.parse is small.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { yieldToEventLoop } from '../platform/event-loop.js';

/** Shape limits of a request body, far above what any route accepts (1000 events of ≤ 16 KiB each). */
export interface BodyShapeLimits {
  /** Members of one object (an event has ~12, its metadata ≤ 64). */
  maxMembers: number;
  /** Items of one array (≤ 1000 events per POST, ≤ 256 items in an event's arrays). */
  maxItems: number;
  /**
   * Values (members and items, at any depth) in one parsed unit: the body, or one item of a body that
   * is an array (an event of 16 KiB holds at most ~8,000). Bounds the time one JSON.parse takes.
   */
  maxUnitValues: number;
  /** Values in the whole body. */
  maxValues: number;
  /**
   * Nesting of objects and arrays. Generous: the event checks refuse nesting beyond theirs with the
   * path where it happens, which is the better answer; this only keeps absurd depths from the parser.
   */
  maxDepth: number;
}

export const BODY_SHAPE_LIMITS: Readonly<BodyShapeLimits> = {
  maxMembers: 1000,
  maxItems: 10_000,
  maxUnitValues: 20_000,
  maxValues: 1_000_000,
  maxDepth: 20_000,
};

/** Characters scanned, decoded or parsed between two yields to the event loop. */
const SLICE = 64 * 1024;

export function registerStrictJson(app: FastifyInstance, limits: Readonly<BodyShapeLimits> = BODY_SHAPE_LIMITS): void {
  const parseSecurely = app.getDefaultJsonParser('error', 'error');
  const parse = (request: FastifyRequest, text: string) =>
    new Promise<unknown>((resolve, reject) => parseSecurely(request, text, (error, value) => (error ? reject(error) : resolve(value))));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, async (request: FastifyRequest, body: Buffer) => {
    const scan = await scanBody(body, limits);
    if (scan.problem !== undefined) throw new ApiError(400, 'MALFORMED_JSON', scan.problem);
    if (scan.items === undefined) return parse(request, await decodeStrictUtf8(body));
    // An array is parsed one item at a time (the same values JSON.parse of the whole would give),
    // yielding between them, so a batch of 1000 events never holds the event loop for all of them.
    const items: unknown[] = [];
    let sinceYield = 0;
    for (const [start, end] of scan.items) {
      if (sinceYield >= SLICE) {
        await yieldToEventLoop();
        sinceYield = 0;
      }
      // Items are split at ASCII bytes outside strings, so each is whole UTF-8 if the body is.
      items.push(await parse(request, await decodeStrictUtf8(body.subarray(start, end))));
      sinceYield += end - start;
    }
    return items;
  });
}

/** The body as text, decoded a slice at a time; invalid UTF-8 is refused, never repaired. */
async function decodeStrictUtf8(body: Uint8Array): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  try {
    for (let at = 0; at < body.length; at += SLICE) {
      if (at > 0) await yieldToEventLoop();
      parts.push(decoder.decode(body.subarray(at, at + SLICE), { stream: at + SLICE < body.length }));
    }
    parts.push(decoder.decode());
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'the body is not valid UTF-8');
  }
  return parts.join('');
}

export interface BodyScan {
  /** Why the body is refused before parsing, if it is. */
  problem?: string;
  /** When the body is an array: where each item's bytes start and end. */
  items?: Array<[start: number, end: number]>;
}

/**
 * Reads the structure of the UTF-8 `bytes` (strings, brackets, commas, colons: all ASCII, which no byte
 * of a multi-byte character can be mistaken for) without decoding or materialising anything,
 * yielding to the event loop every SLICE characters, and refuses a repeated member name or a shape
 * beyond `limits`. Text that is not JSON is mostly left for the parser to refuse; a body that is an
 * array must be one well-closed array, since its items are then parsed one by one.
 */
export async function scanBody(bytes: Uint8Array, limits: Readonly<BodyShapeLimits> = BODY_SHAPE_LIMITS): Promise<BodyScan> {
  // One frame per open container: its member names (objects) or null (arrays), and its value count.
  const names: Array<Set<string> | null> = [];
  const counts: number[] = [];
  let values = 0;
  let unitValues = 0;
  // A byte order mark is dropped by the decoder, as it always was; the structure starts after it.
  let first = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (isWhitespace(bytes[first]!)) first++;
  const isArray = bytes[first]! === 0x5b;
  const items: Array<[number, number]> = [];
  let itemStart = first + 1;
  let closedAt = -1;
  const tooMany = (): string | undefined => {
    if (values > limits.maxValues) return `the body has more than ${limits.maxValues} values`;
    if (unitValues > limits.maxUnitValues) {
      return isArray ? `an item of the body has more than ${limits.maxUnitValues} values` : `the body has more than ${limits.maxUnitValues} values`;
    }
    return undefined;
  };
  let nextYield = SLICE;
  for (let i = first; i < bytes.length; i++) {
    if (i >= nextYield) {
      await yieldToEventLoop();
      nextYield = i + SLICE;
    }
    const c = bytes[i]!;
    if (isWhitespace(c) || c === 0x3a) continue;
    if (closedAt >= 0) return { problem: 'the body is not valid JSON: text after the closing bracket' };
    const top = counts.length - 1;
    if (c === 0x2c) {
      if (top < 0) continue;
      const count = ++counts[top]!;
      values++;
      if (isArray && top === 0) {
        items.push([itemStart, i]);
        itemStart = i + 1;
        unitValues = 0;
      } else unitValues++;
      const isObject = names[top] !== null;
      if (isObject && count > limits.maxMembers) return { problem: `an object in the body has more than ${limits.maxMembers} members` };
      if (!isObject && count > limits.maxItems) return { problem: `an array in the body has more than ${limits.maxItems} items` };
      const problem = tooMany();
      if (problem) return { problem };
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      if (isArray && top === 0) {
        if (counts[0]! > 0) items.push([itemStart, i]);
        closedAt = i;
      }
      names.pop();
      counts.pop();
      continue;
    }
    // The first character of a value or member name: the first one of its container counts here.
    if (top >= 0 && counts[top] === 0) {
      counts[top] = 1;
      values++;
      if (!(isArray && top === 0)) unitValues++;
    }
    if (c === 0x7b || c === 0x5b) {
      if (names.length >= limits.maxDepth) return { problem: `the body nests objects and arrays more than ${limits.maxDepth} deep` };
      names.push(c === 0x7b ? new Set() : null);
      counts.push(0);
    } else if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < bytes.length && bytes[i]! !== 0x22; i++) {
        if (bytes[i]! === 0x5c) {
          escaped = true;
          i++;
        }
      }
      const members = names[names.length - 1];
      if (!members) continue;
      let next = i + 1;
      while (isWhitespace(bytes[next]!)) next++;
      if (bytes[next]! !== 0x3a) continue;
      // Decoded, so that "a\u0062" and "ab" count as the same name; a bad escape is the parser's to refuse.
      let name: string;
      try {
        name = nameDecoder.decode(bytes.subarray(start + 1, i));
        if (escaped) name = JSON.parse(`"${name}"`) as string;
      } catch {
        continue; // Not UTF-8, or a bad escape: the decoder or the parser refuses it later.
      }
      if (members.has(name)) return { problem: `the body repeats the member name ${JSON.stringify(name)}` };
      members.add(name);
    }
    const problem = tooMany();
    if (problem) return { problem };
  }
  if (!isArray) return {};
  if (closedAt < 0) return { problem: 'the body is not valid JSON: the array is not closed' };
  return { items };
}

const nameDecoder = new TextDecoder('utf-8', { fatal: true });

const isWhitespace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
