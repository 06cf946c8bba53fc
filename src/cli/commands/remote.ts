/** Commands that talk to a running server: ledgers, append, checkpoint, proof, keys. */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fromBase64 } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/checkpoint.js';
import { parseVerifierKey } from '../../core/note.js';
import { hashLeaf, verifyConsistency, verifyInclusion } from '../../core/tree.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { countOf, TextTable } from '../table.js';


const print = (value: unknown) => process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);

export const ledgersCommand: Command = {
  name: 'ledgers',
  summary: 'Create or list ledgers.',
  usage: 'ledgers create NAME | ledgers list',
  options: { ...SERVER_OPTIONS },
  async run(args) {
    const [action, name] = args.positionals;
    if (action === 'create' && name) print(await serverClient(args).createLedger(name));
    else if (action === 'list' && !name) print(await serverClient(args).listLedgers());
    else throw new UsageError('expected `ledgers create NAME` or `ledgers list`');
    return 0;
  },
};

export const appendCommand: Command = {
  name: 'append',
  summary: 'Append events read as JSON lines (one event per line) from a file or standard input.',
  usage: 'append --ledger L [--file FILE] [--batch N]',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', description: 'Ledger to append to.', env: 'SEALTRAIL_LEDGER', value: 'L' },
    file: { type: 'string', short: 'f', description: 'JSON-lines file (default: standard input).', value: 'FILE' },
    batch: { type: 'string', description: 'Events per request.', default: '500', value: 'N' },
    receipts: { type: 'boolean', description: 'Print every receipt as a JSON line.' },
  },
  details:
    'Each batch is sent with an idempotency key derived from its first line number and its content, so\n' +
    'rerunning the same input after a failure does not duplicate events already sealed. Prints a summary\n' +
    'and the final checkpoint on standard error.',
  async run(args) {
    const ledger = requireString(args, 'ledger');
    const batchSize = integerOption(args, 'batch', { min: 1, max: 1000 })!;
    const file = optionalString(args, 'file');
    const api = serverClient(args);
    // stat first: a missing file is then one clear error, before any stream exists to emit another.
    const totalBytes = file ? statSync(file).size : undefined;
    const input = file ? createReadStream(file) : process.stdin;
    const progress = new Progress('appending', totalBytes, 'bytes');
    const lines = createInterface({ input, crlfDelay: Infinity });
    let batch: unknown[] = [];
    let batchHash = createHash('sha256');
    let firstLine = 1;
    let lineNumber = 0;
    let bytes = 0;
    let appended = 0;
    let duplicates = 0;
    let lastCheckpoint = '';
    const flush = async () => {
      if (batch.length === 0) return;
      const key = `append:${firstLine}:${batchHash.digest('base64url')}`;
      const receipts = await api.append(ledger, batch as never[], { idempotencyKey: key });
      for (const receipt of receipts) {
        if (receipt.duplicate) duplicates++;
        if (args.values.receipts) process.stdout.write(`${JSON.stringify(receipt)}\n`);
      }
      appended += receipts.length;
      lastCheckpoint = receipts.at(-1)!.checkpoint;
      batch = [];
      batchHash = createHash('sha256');
      progress.update(totalBytes === undefined ? appended : bytes, countOf(appended, 'event'));
    };
    for await (const line of lines) {
      lineNumber++;
      bytes += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      if (batch.length === 0) firstLine = lineNumber;
      try {
        batch.push(JSON.parse(line));
        batchHash.update(line).update('\n');
      } catch (error) {
        throw new UsageError(`line ${lineNumber}: not JSON (${(error as Error).message})`);
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    progress.done(`${countOf(appended, 'event')} appended${duplicates ? ` (${duplicates} already present)` : ''}`);
    if (lastCheckpoint) process.stderr.write(`latest checkpoint:\n${lastCheckpoint}`);
    return 0;
  },
};

export const checkpointCommand: Command = {
  name: 'checkpoint',
  summary: "Print a ledger's latest signed checkpoint (or the one of a given size); save it to detect rollbacks later.",
  usage: 'checkpoint --ledger L [--size N] [--verify]',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', description: 'Ledger.', env: 'SEALTRAIL_LEDGER', value: 'L' },
    size: { type: 'string', description: 'Tree size of a stored checkpoint.', value: 'N' },
    key: { type: 'string', description: 'Verifier key to check the signature with (default: ask the server).', env: 'SEALTRAIL_VERIFIER_KEY', value: 'KEY' },
    verify: { type: 'boolean', description: 'Check the signature before printing.' },
  },
  async run(args) {
    const api = serverClient(args);
    const note = await api.checkpoint(requireString(args, 'ledger'), integerOption(args, 'size'));
    if (args.values.verify) {
      const key = optionalString(args, 'key') ?? (await api.verifierKey());
      openCheckpoint(nodeSuite, note, [parseVerifierKey(nodeSuite, key)]);
    }
    process.stdout.write(note);
    return 0;
  },
};

export const proofCommand: Command = {
  name: 'proof',
  summary: 'Fetch and verify an inclusion proof (--index) or a consistency proof (--from) against signed checkpoints.',
  usage: 'proof --ledger L --index I [--size N] | proof --ledger L --from M [--to N]',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', description: 'Ledger.', env: 'SEALTRAIL_LEDGER', value: 'L' },
    index: { type: 'string', description: 'Leaf index for an inclusion proof.', value: 'I' },
    size: { type: 'string', description: 'Tree size for the inclusion proof (default: latest).', value: 'N' },
    from: { type: 'string', description: 'Older tree size for a consistency proof.', value: 'M' },
    to: { type: 'string', description: 'Newer tree size (default: latest).', value: 'N' },
    key: { type: 'string', description: 'Verifier key (default: ask the server).', env: 'SEALTRAIL_VERIFIER_KEY', value: 'KEY' },
    json: { type: 'boolean', description: 'Print the proof as JSON.' },
  },
  details: 'The proof is checked against the signed checkpoint(s) of the sizes involved before it is printed; exit 1 if it fails.',
  async run(args) {
    const api = serverClient(args);
    const ledger = requireString(args, 'ledger');
    const index = integerOption(args, 'index');
    const from = integerOption(args, 'from', { min: 1 });
    if ((index === undefined) === (from === undefined)) throw new UsageError('give exactly one of --index or --from');
    const verifier = parseVerifierKey(nodeSuite, optionalString(args, 'key') ?? (await api.verifierKey()));
    const signed = async (size?: number) => openCheckpoint(nodeSuite, await api.checkpoint(ledger, size), [verifier]).checkpoint;
    if (index !== undefined) {
      const checkpoint = await signed(integerOption(args, 'size'));
      const proof = await api.inclusionProof(ledger, index, checkpoint.size);
      const entry = await api.entry(ledger, index);
      const leafHash = hashLeaf(nodeSuite, fromBase64(entry.leaf));
      verifyInclusion(nodeSuite, index, checkpoint.size, leafHash, proof.hashes.map(fromBase64), checkpoint.rootHash);
      print(args.values.json ? proof : `entry ${index} is included in ${ledger} at tree size ${checkpoint.size}: verified`);
    } else {
      const newer = await signed(integerOption(args, 'to'));
      const older = await signed(from);
      const proof = await api.consistencyProof(ledger, older.size, newer.size);
      verifyConsistency(nodeSuite, older.size, newer.size, proof.hashes.map(fromBase64), older.rootHash, newer.rootHash);
      print(args.values.json ? proof : `tree size ${older.size} is a prefix of tree size ${newer.size} in ${ledger}: verified`);
    }
    return 0;
  },
};

const DURATION = /^(\d+)([smhdw])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m || Number(m[1]) === 0) throw new UsageError(`--expires takes a duration like 30d, 12h or 90m, not ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_SECONDS[m[2]!]!;
}

export const keysCommand: Command = {
  name: 'keys',
  summary: 'Create, list or revoke API keys (needs an admin token).',
  usage: 'keys create --role ROLE --ledger L [--ledger L2] [--tenant T] [--expires 30d] [--description TEXT] [--json] | keys list [--json] | keys revoke ID',
  options: {
    ...SERVER_OPTIONS,
    role: { type: 'string', description: 'writer, reader, auditor or admin.', value: 'ROLE' },
    ledger: { type: 'string', short: 'l', multiple: true, description: 'Ledger the key may use ("*" for all).', value: 'L' },
    tenant: { type: 'string', short: 't', multiple: true, description: 'Tenant the key may write or read (default: all).', value: 'T' },
    expires: { type: 'string', description: 'Lifetime, e.g. 30d, 12h.', value: 'DURATION' },
    description: { type: 'string', description: 'What the key is for.', value: 'TEXT' },
    json: { type: 'boolean', description: 'Print JSON (create prints an object with the new `token`).' },
  },
  async run(args) {
    const api = serverClient(args);
    const [action, id] = args.positionals;
    if (action === 'create') {
      const role = requireString(args, 'role');
      const ledgers = (args.values.ledger as string[] | undefined) ?? [];
      if (ledgers.length === 0) throw new UsageError('--ledger is required (use --ledger "*" for every ledger)');
      const expires = optionalString(args, 'expires');
      const description = optionalString(args, 'description');
      const tenants = args.values.tenant as string[] | undefined;
      const created = await api.createKey({
        role: role as 'writer',
        ledgers,
        ...(tenants ? { tenants } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(expires !== undefined ? { expires_in_seconds: parseDuration(expires) } : {}),
      });
      if (args.values.json) print(JSON.stringify(created));
      else {
        const scope = `${created.ledgers.join(', ')}${created.tenants.includes('*') ? '' : ` (tenants ${created.tenants.join(', ')})`}`;
        print(`created ${created.role} key ${created.id} for ${scope}\ntoken (shown once): ${created.token}`);
      }
    } else if (action === 'list' && !id) {
      const { keys } = await api.listKeys();
      if (args.values.json) print(JSON.stringify(keys));
      else if (keys.length === 0) process.stderr.write('no API keys\n');
      else {
        const state = (k: (typeof keys)[number]) => (k.revoked_at ? `revoked ${k.revoked_at}` : k.expires_at ? `expires ${k.expires_at}` : 'active');
        const table = new TextTable(['id', 'role', 'ledgers', 'tenants', 'state', 'description']);
        process.stdout.write(table.format(keys.map((k) => [k.id, k.role, k.ledgers.join(','), k.tenants.join(','), state(k), k.description])));
      }
    } else if (action === 'revoke' && id) {
      const revoked = await api.revokeKey(id);
      print(args.values.json ? JSON.stringify(revoked) : `revoked ${revoked.id}`);
    } else {
      throw new UsageError('expected `keys create`, `keys list` or `keys revoke ID`');
    }
    return 0;
  },
};
