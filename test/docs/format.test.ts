/** Keeps docs/FORMAT.md's worked example identical to what the code produces, and checks it by hand. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { formatExample } from '../../scripts/format-example.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';

const doc = readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8');

function documented(label: string): string {
  const marker = `<!-- example: ${label} -->\n\`\`\`\n`;
  const start = doc.indexOf(marker);
  assert.ok(start >= 0, `FORMAT.md lacks the example "${label}"`);
  const body = doc.slice(start + marker.length);
  return body.slice(0, body.indexOf('```\n'));
}

it('FORMAT.md shows exactly what the code produces', () => {
  for (const [label, value] of Object.entries(formatExample())) {
    assert.equal(documented(label), value.endsWith('\n') ? value : `${value}\n`, label);
  }
});

it('the example checks out with plain node:crypto, as an outside verifier would do it', () => {
  const example = formatExample();
  const input = example['commitment input for origin.ip of entry 0']!;
  const leaf = example['leaf of entry 0']!;
  const commitment = createHash('sha256').update(input).digest('base64url');
  assert.ok(leaf.includes(`"origin.ip":"${commitment}"`));
  const leafHash = createHash('sha256').update(Buffer.concat([Buffer.of(0), Buffer.from(leaf)])).digest('hex');
  assert.equal(leafHash, example['leaf hashes (hex)']!.split('\n')[0]);
  const [h0, h1, h2] = example['leaf hashes (hex)']!.split('\n').map((h) => Buffer.from(h, 'hex'));
  const node = (l: Buffer, r: Buffer) => createHash('sha256').update(Buffer.concat([Buffer.of(1), l, r])).digest();
  assert.equal(node(node(h0!, h1!), h2!).toString('base64'), example['root of size 3 (base64)']);
  // Signature: body = note up to the blank line; signature line = key id (4) || Ed25519 signature (64).
  const note = example.checkpoint!;
  const body = note.slice(0, note.lastIndexOf('\n\n') + 1);
  const sig = Buffer.from(note.trim().split(' ').at(-1)!, 'base64');
  // name+keyid+base64: the base64 part may itself contain '+', so split at the first two only.
  const verifierKey = example['verifier key']!;
  const encoded = verifierKey.slice(verifierKey.indexOf('+', verifierKey.indexOf('+') + 1) + 1);
  const key = Buffer.from(encoded, 'base64').subarray(1);
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key]), format: 'der', type: 'spki' });
  assert.ok(verify(null, Buffer.from(body), spki, sig.subarray(4)));
  openCheckpoint(nodeSuite, note, [parseVerifierKey(nodeSuite, example['verifier key']!)]);
});
