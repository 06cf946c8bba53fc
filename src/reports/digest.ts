/**
 * The hash that foots every page of a report or certificate and that the system ledger seals: SHA-256,
 * in lowercase hex, of the RFC 8785 (JCS) canonical form of the JSON document without its `sha256`
 * member. The HTML and PDF are renderings of that document, so the JSON file is what proves them.
 */
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

export function documentDigest(document: object): string {
  const { sha256: _ignored, ...content } = document as Record<string, unknown>;
  const text = canonicalize(content);
  if (text === undefined) throw new Error('the document cannot be canonicalised');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

