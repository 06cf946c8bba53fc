/**
 * Request bodies are JSON in the strict sense of I-JSON (RFC 7493): valid UTF-8 (not repaired with
 * U+FFFD, which would seal something other than what the client sent) and no duplicate member names
 * (which different parsers resolve differently). Prototype-poisoning keys are refused by Fastify's own
 * parser, which does the parsing here.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function registerStrictJson(app: FastifyInstance): void {
  const parseSecurely = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = strictUtf8.decode(body as Buffer);
    } catch {
      done(new ApiError(400, 'MALFORMED_JSON', 'the body is not valid UTF-8'), undefined);
      return;
    }
    parseSecurely(request, text, (error, value) => {
      if (error) return done(error, undefined);
      const duplicate = duplicateMember(text);
      if (duplicate !== undefined) {
        return done(new ApiError(400, 'MALFORMED_JSON', `the body repeats the member name ${JSON.stringify(duplicate)}`), undefined);
      }
      done(null, value);
    });
  });
}

const isWhitespace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * The first member name repeated within one object of `text`, which must already be valid JSON. In
 * valid JSON a string is a member name exactly when it is inside an object and followed by ":".
 */
export function duplicateMember(text: string): string | undefined {
  const objects: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) objects.push(new Set());
    else if (c === 0x5b) objects.push(null);
    else if (c === 0x7d || c === 0x5d) objects.pop();
    else if (c === 0x22) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      const names = objects[objects.length - 1];
      if (!names) continue;
      let next = i + 1;
      while (isWhitespace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) !== 0x3a) continue;
      // Decoded, so that "a\u0062" and "ab" count as the same name.
      const name = JSON.parse(text.slice(start, i + 1)) as string;
      if (names.has(name)) return name;
      names.add(name);
    }
  }
  return undefined;
}
