/** `sealtrail sinks …` (the /v1/sinks API) and `sealtrail verify-stream` (what a receiver stored). */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SealtrailApiError } from '../../client/index.js';
import { fromBase64 } from '../../core/bytes.js';
import { parseVerifierKey } from '../../core/note.js';
import { parseStreamLines, verifyStream, type ProofSource, type StreamReport } from '../../core/stream-verify.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command, type ParsedArgs } from '../command.js';
import { TextTable } from '../table.js';

const print = (value: unknown) => process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);

async function call(args: ParsedArgs, method: string, path: string, body?: unknown): Promise<any> {
  const base = requireString(args, 'url').replace(/\/+$/, '');
  const token = optionalString(args, 'token');
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (!response.ok) throw new SealtrailApiError(response.status, parsed?.error ?? `HTTP_${response.status}`, parsed?.message ?? `${method} ${path} answered ${response.status}`, parsed);
  return parsed;
}

/** Settings given as --set key=value: numbers and booleans as JSON, everything else as text. */
function settingValue(text: string): unknown {
  if (/^-?\d+$/.test(text) || text === 'true' || text === 'false') return JSON.parse(text);
  return text;
}

function sinkBody(args: ParsedArgs, name: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name,
    type: requireString(args, 'type'),
    ledgers: requireString(args, 'ledgers').split(',').filter(Boolean),
  };
  for (const option of ['query', 'format', 'directory', 'mode', 'start']) {
    const value = optionalString(args, option);
    if (value !== undefined) body[option] = value;
  }
  const receiver = optionalString(args, 'receiver');
  if (receiver !== undefined) body.url = receiver;
  // Read from a file or the environment, never from the command line, where other users see it.
  const secretFile = optionalString(args, 'secret-file');
  if (secretFile) body.secret = readFileSync(secretFile, 'utf8').trim();
  else if (process.env.SEALTRAIL_SINK_SECRET) body.secret = process.env.SEALTRAIL_SINK_SECRET;
  const caFile = optionalString(args, 'ca-file');
  if (caFile) body.ca = readFileSync(caFile, 'utf8');
  for (const pair of (args.values.set as string[] | undefined) ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--set takes key=value, not ${JSON.stringify(pair)}`);
    body[pair.slice(0, at)] = settingValue(pair.slice(at + 1));
  }
  return body;
}

function printSinks(sinks: any[]): void {
  const table = new TextTable(['name', 'type', 'state', 'ledgers', 'lag events', 'lag s', 'dead letters', 'last success', 'last error']);
  process.stdout.write(table.format(sinks.map((s) => [s.name, s.type, s.state, s.cursors.map((c: any) => `${c.ledger}@${c.next}/${c.size}`).join(' ') || s.ledgers.join(','), s.lag_events, s.lag_seconds, s.dead_letters, s.last_success_at ?? '-', s.last_error ?? '-'])));
}

export const sinksCommand: Command = {
  name: 'sinks',
  summary: 'Stream events to SIEMs and files: add, list, show, pause, resume, replay, remove sinks.',
  usage:
    'sinks add NAME --type webhook|file|syslog|splunk_hec|nats --ledgers L1,L2 [--receiver URL --secret-file F] [--directory DIR] [--query Q] [--format F] [--set key=value]… | ' +
    'sinks list | sinks show NAME | sinks pause NAME | sinks resume NAME | sinks replay NAME --ledger L --from N | sinks remove NAME | ' +
    'sinks dead-letters NAME | sinks replay-dead-letter NAME ID',
  options: {
    ...SERVER_OPTIONS,
    type: { type: 'string', description: 'Sink type (add).', value: 'TYPE' },
    ledgers: { type: 'string', description: 'Ledgers to deliver, comma-separated (add).', value: 'L1,L2' },
    query: { type: 'string', description: 'Deliver only events matching this search query (add; docs/SEARCH.md).', value: 'Q' },
    format: { type: 'string', description: 'Record format: json or ocsf for webhook and file sinks (add).', value: 'F' },
    start: { type: 'string', description: 'Where a new sink starts: oldest (all history, default) or latest (add).', value: 'oldest|latest' },
    receiver: { type: 'string', description: "Webhook receiver's URL (add).", value: 'URL' },
    mode: { type: 'string', description: 'Webhook: batched (default) or structured, one event per request (add).', value: 'MODE' },
    'secret-file': { type: 'string', description: 'File holding the webhook secret whsec_… (add); or set SEALTRAIL_SINK_SECRET.', value: 'FILE' },
    'ca-file': { type: 'string', description: "PEM file of certificates to trust for the receiver's TLS (add).", value: 'FILE' },
    directory: { type: 'string', description: 'File sink: folder on the server to write JSON Lines into (add).', value: 'DIR' },
    set: { type: 'string', multiple: true, description: 'Any other setting, key=value (batch_size=100, max_attempts=5, …) (add).', value: 'K=V' },
    ledger: { type: 'string', description: 'Ledger to replay (replay).', value: 'L' },
    from: { type: 'string', description: 'Index to replay from (replay).', value: 'N' },
    json: { type: 'boolean', description: 'Print JSON instead of a table.' },
  },
  details:
    'Needs an admin key. Secrets are write-only: `show` lists their names, never their values.\n' +
    'Settings of each type and what receivers get: docs/STREAMS.md.',
  async run(args) {
    const [action, name, extra] = args.positionals;
    const path = (suffix = '') => `/v1/sinks/${encodeURIComponent(name ?? '')}${suffix}`;
    const need = () => {
      if (!name) throw new UsageError(`sinks ${action} needs a sink name`);
    };
    switch (action) {
      case 'add': {
        need();
        print(await call(args, 'POST', '/v1/sinks', sinkBody(args, name!)));
        return 0;
      }
      case 'list': {
        const { sinks } = await call(args, 'GET', '/v1/sinks');
        if (args.values.json) print(sinks);
        else printSinks(sinks);
        return 0;
      }
      case 'show':
        need();
        print(await call(args, 'GET', path()));
        return 0;
      case 'pause':
      case 'resume':
        need();
        print(await call(args, 'POST', path(`/${action}`)));
        return 0;
      case 'replay':
        need();
        print(await call(args, 'POST', path('/replay'), { ledger: requireString(args, 'ledger'), from: integerOption(args, 'from', { min: 0, max: Number.MAX_SAFE_INTEGER }) ?? 0 }));
        return 0;
      case 'remove':
        need();
        print(await call(args, 'DELETE', path()));
        return 0;
      case 'dead-letters':
        need();
        print((await call(args, 'GET', path('/dead-letters'))).dead_letters);
        return 0;
      case 'replay-dead-letter':
        need();
        if (!extra || !/^\d+$/.test(extra)) throw new UsageError('sinks replay-dead-letter needs a sink name and a dead letter id');
        print(await call(args, 'POST', path(`/dead-letters/${extra}/replay`)));
        return 0;
      default:
        throw new UsageError('expected add, list, show, pause, resume, replay, remove, dead-letters or replay-dead-letter');
    }
  },
};

async function readLines(file: string): Promise<string[]> {
  const lines: string[] = [];
  const input = file === '-' ? process.stdin : createReadStream(file);
  for await (const line of createInterface({ input, crlfDelay: Infinity })) lines.push(line);
  return lines;
}

function printReport(report: StreamReport): void {
  for (const l of report.ledgers) {
    process.stdout.write(
      `${l.ledger}: ${l.records} records (${l.duplicates} duplicates, ${l.chainStarts} chain start${l.chainStarts === 1 ? '' : 's'}), ${l.checkpoints} signed checkpoints; ` +
        `inclusion proven offline ${l.provenOffline}, by proof ${l.provenByProof}, unproven ${l.unproven}; missing ${l.missingCount}\n`,
    );
    for (const problem of l.problems) process.stdout.write(`  FAIL ${problem}\n`);
  }
  if (report.ignoredLines > 0) process.stdout.write(`${report.ignoredLines} line(s) were neither records nor checkpoints\n`);
  process.stdout.write(report.ok ? 'verified: complete, unaltered and consistent\n' : 'NOT verified\n');
}

export const verifyStreamCommand: Command = {
  name: 'verify-stream',
  summary: "Check a receiver's copy of a stream: nothing missing, nothing altered, no fork.",
  usage: 'verify-stream FILE... --key VERIFIER_KEY [--url URL --token TOKEN] [--json]',
  options: {
    key: { type: 'string', description: 'The verifier key of the deployment (`GET /v1/verifier-key`), pinned outside the server.', env: 'SEALTRAIL_VERIFIER_KEY', value: 'KEY' },
    url: { type: 'string', description: 'Fetch inclusion and consistency proofs from this server for what cannot be checked offline.', value: 'URL' },
    token: { type: 'string', description: 'Bearer token for --url (a reader or auditor key).', env: 'SEALTRAIL_TOKEN', value: 'TOKEN' },
    json: { type: 'boolean', description: 'Print the report as JSON.' },
  },
  details:
    'FILE holds what the receiver stored, one JSON value per line: CloudEvents (or batch arrays of them) from\n' +
    'a webhook sink, or a file sink\'s JSON Lines; "-" reads standard input. Exit status 0 only when every\n' +
    'ledger is complete (every predecessor present), every record is included under a signed checkpoint\n' +
    'and the checkpoints are consistent. A receiver holding the stream from index 0 needs no server.',
  async run(args) {
    if (args.positionals.length === 0) throw new UsageError('give the files the receiver stored');
    const verifier = parseVerifierKey(nodeSuite, requireString(args, 'key'));
    const lines: string[] = [];
    for (const file of args.positionals) lines.push(...(await readLines(file)));
    const url = optionalString(args, 'url');
    let proofs: ProofSource | undefined;
    if (url) {
      const client = serverClient({ ...args, values: { ...args.values, url } });
      proofs = {
        inclusion: async (ledger, index, size) => (await client.inclusionProof(ledger, index, size)).hashes.map(fromBase64),
        consistency: async (ledger, from, to) => (await client.consistencyProof(ledger, from, to)).hashes.map(fromBase64),
      };
    }
    const report = await verifyStream(parseStreamLines(lines), { suite: nodeSuite, verifiers: [verifier], ...(proofs ? { proofs } : {}) });
    if (args.values.json) print(report);
    else printReport(report);
    return report.ok ? 0 : 1;
  },
};
