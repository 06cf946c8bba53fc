/**
 * Prints the worked example of docs/FORMAT.md from the real code, with fixed salts and a fixed signing
 * seed so that every byte is reproducible. test/docs/format.test.ts checks that the document still
 * matches: run `npx tsx scripts/format-example.ts` to rewrite the examples there when a format changes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { toBase64, toHex } from '../src/core/bytes.js';
import { commitmentInput, SaltSource } from '../src/core/commitments.js';
import { portableSigner, portableSuite, type CryptoSuite } from '../src/core/crypto.js';
import type { AuditEvent } from '../src/core/event.js';
import { sealEvent } from '../src/core/leaf.js';
import { signCheckpoint } from '../src/core/checkpoint.js';
import { formatVerifierKey } from '../src/core/note.js';
import { Frontier, planInclusionProof } from '../src/core/tree.js';

/** Salt bytes 0x00 0x01 0x02 …, so the example's salts are visible and stable. */
function countingSuite(): CryptoSuite {
  let next = 0;
  return {
    ...portableSuite,
    randomBytes(length) {
      return Uint8Array.from({ length }, () => next++ % 256);
    },
  };
}

export function formatExample(): Record<string, string> {
  const suite = countingSuite();
  const salts = new SaltSource(suite, 16);
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const signer = portableSigner(seed);
  const name = 'audit.example.com';
  const events: AuditEvent[] = ['alice', 'bob', 'carol'].map((user, i) => ({
    actor: { type: 'user', id: user },
    action: 'file.download',
    category: 'read',
    origin: { ip: `203.0.113.${7 + i}` },
    outcome: 'success',
    tenant: 'acme',
  }));
  const frontier = new Frontier();
  const hashes: Uint8Array[] = [];
  const sealed = events.map((event, index) => {
    const entry = sealEvent(suite, { ledger: 'payments', index, receivedAtMicros: 1_795_680_000_000_000 + index, writer: 'k1a2b3c4d', event }, salts);
    frontier.append(suite, entry.leafHash);
    hashes.push(entry.leafHash);
    return entry;
  });
  const first = sealed[0]!;
  const checkpoint = signCheckpoint(
    suite,
    { origin: `${name}/payments`, size: frontier.size, rootHash: frontier.root(suite), extensions: [] },
    [{ name, signer }],
  );
  const plan = planInclusionProof(suite, 1, 3);
  const proof = plan.finish(plan.reads.map((r) => hashes.slice(r.start, r.end)));
  const ipDisclosure = first.disclosures['origin.ip']!;
  return {
    'signing seed (hex)': toHex(seed),
    'verifier key': formatVerifierKey(suite, name, signer.publicKey),
    'commitment input for origin.ip of entry 0': commitmentInput(ipDisclosure[0], 'origin.ip', ipDisclosure[1]),
    'disclosures of entry 0': JSON.stringify(first.disclosures),
    'leaf of entry 0': new TextDecoder().decode(first.leaf),
    'leaf hashes (hex)': hashes.map(toHex).join('\n'),
    'root of size 3 (base64)': toBase64(frontier.root(suite)),
    'inclusion proof of entry 1 in size 3 (base64)': proof.map(toBase64).join('\n'),
    checkpoint,
  };
}

/** Replaces each `<!-- example: LABEL -->` code block of the document with the current value. */
export function updateDocument(doc: string, example: Record<string, string>): string {
  let out = doc;
  for (const [label, value] of Object.entries(example)) {
    const marker = `<!-- example: ${label} -->\n\`\`\`\n`;
    const start = out.indexOf(marker);
    if (start < 0) throw new Error(`FORMAT.md lacks the example "${label}"`);
    const bodyStart = start + marker.length;
    const end = out.indexOf('```\n', bodyStart);
    out = out.slice(0, bodyStart) + (value.endsWith('\n') ? value : `${value}\n`) + out.slice(end);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL('../docs/FORMAT.md', import.meta.url);
  writeFileSync(path, updateDocument(readFileSync(path, 'utf8'), formatExample()));
  process.stdout.write('docs/FORMAT.md examples updated\n');
}
