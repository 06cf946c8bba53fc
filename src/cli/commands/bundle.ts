/**
 * Evidence bundles on the command line:
 * - `sealtrail export --bundle FILE.zip …` (the export command calls runBundleExport): asks the server
 *   for a bundle, streams it to a temporary file beside FILE, verifies it offline exactly as an auditor
 *   would, and only then renames it into place, so a FILE that exists is a bundle that verified;
 * - `sealtrail verify-bundle FILE.zip --key KEY`: the auditor's side, with no server and no database;
 *   `--expect-count`, `--expect-indexes` and `--expect-disclosed` check what a bundle cannot prove by
 *   itself (that nothing was left out) against what the auditor expected to receive.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_BUNDLE_LIMITS, parseIndexRanges, verifyBundle, type BundleExpectations, type BundleLimits, type BundleReport } from '../../core/bundle/index.js';
import { SealtrailError } from '../../core/errors.js';
import { parseVerifierKey } from '../../core/note.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { integerOption, optionalString, requireString, serverClient, UsageError, type Command, type ParsedArgs } from '../command.js';
import { Progress } from '../progress.js';
import { countOf } from '../table.js';

/** A verifier key given on the command line: the key string itself, or `@FILE` holding it. */
export function readKeyArgument(value: string): string {
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  const key = text.trim();
  try {
    parseVerifierKey(nodeSuite, key);
  } catch (error) {
    throw new UsageError(`--key: ${(error as Error).message}`);
  }
  return key;
}

function listOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  const items = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  return items.flatMap((item) => item.split(',')).map((item) => item.trim()).filter(Boolean);
}

function readCheckpointFiles(args: ParsedArgs): string[] {
  const value = args.values.checkpoint;
  const files = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  return files.map((file) => {
    if (!existsSync(file)) throw new UsageError(`--checkpoint: no file ${file}`);
    return readFileSync(file, 'utf8');
  });
}

/** A zip without ZIP64 (the only kind of bundle) ends within 4 GiB: anything larger is not read into memory. */
const MAX_ARCHIVE_BYTES = 0xffffffff;

interface VerifyOptions {
  expect?: BundleExpectations;
  limits?: Partial<BundleLimits>;
}

function verifyFile(path: string, key: string, requiredCheckpoints: string[], options: VerifyOptions = {}): BundleReport {
  const size = statSync(path).size;
  if (size > MAX_ARCHIVE_BYTES) {
    return { ok: false, problems: [{ kind: 'archive', message: `archive: ${size} bytes, more than a zip without ZIP64 can hold: not a bundle` }], omittedProblems: 0, verifiedEvents: 0, consistentWith: [], verifierKey: key };
  }
  return verifyBundle({ files: new Uint8Array(readFileSync(path)), verifierKey: key, requiredCheckpoints, suite: nodeSuite, ...options });
}

/** The auditor's expectations and limits from verify-bundle's options. */
function verifyOptions(args: ParsedArgs): VerifyOptions {
  const expect: BundleExpectations = {};
  const count = integerOption(args, 'expect-count');
  if (count !== undefined) expect.count = count;
  const indexes = optionalString(args, 'expect-indexes');
  if (indexes !== undefined) {
    try {
      expect.indexes = parseIndexRanges(indexes);
    } catch (error) {
      throw new UsageError(`--expect-indexes: ${(error as Error).message}`);
    }
  }
  const disclosed = listOption(args, 'expect-disclosed');
  if (disclosed.length > 0) expect.disclosed = disclosed;
  const maxBytes = integerOption(args, 'max-inflated-bytes', { min: 1 });
  return {
    ...(Object.keys(expect).length > 0 ? { expect } : {}),
    ...(maxBytes !== undefined ? { limits: { maxTotalBytes: maxBytes } } : {}),
  };
}

/** What the auditor asked to be checked beyond the bundle itself, in words. */
function describeExpectations(expect: BundleExpectations): string {
  const parts: string[] = [];
  if (expect.count !== undefined) parts.push(`${expect.count} event${expect.count === 1 ? '' : 's'}`);
  if (expect.indexes) parts.push(`indexes ${expect.indexes.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`)).join(',')}`);
  if (expect.disclosed) parts.push(`disclosed ${expect.disclosed.join(', ')}`);
  return parts.join('; ');
}

/** The verdict in words: one line, then the problems or the facts an auditor should read. */
/** `unchecked`: say that nothing checked whether events or fields were left out (verify-bundle without --expect-*). */
function describe(report: BundleReport, name: string, expect?: BundleExpectations | 'unchecked'): string {
  const lines: string[] = [];
  const m = report.manifest;
  if (!report.ok) {
    const total = report.problems.length + report.omittedProblems;
    lines.push(`INVALID evidence bundle ${name}: ${total} problem${total === 1 ? '' : 's'}`);
    for (const problem of report.problems) lines.push(`  - ${problem.message}`);
    if (report.omittedProblems > 0) lines.push(`  … and ${report.omittedProblems} more`);
    return `${lines.join('\n')}\n`;
  }
  const cp = report.checkpoint!;
  lines.push(`VALID evidence bundle ${name}: ${report.verifiedEvents} event${report.verifiedEvents === 1 ? '' : 's'} of ledger ${m!.ledger} verified`);
  lines.push(`  checkpoint:  ${cp.origin}, size ${cp.size}, signed by ${report.verifierKey}`);
  for (const c of report.consistentWith) {
    lines.push(`  consistent with your checkpoint of size ${c.size} (${c.relation === 'older' ? 'older: the bundle extends it' : c.relation === 'newer' ? 'newer: it extends the bundle' : 'the same tree'})`);
  }
  lines.push(`  withheld:    ${m!.withheld.length > 0 ? m!.withheld.join(', ') : 'nothing'}${m!.counts.redacted_fields > 0 ? `; ${m!.counts.redacted_fields} erased or purged field(s)` : ''}`);
  lines.push(`  query:       ${JSON.stringify(m!.query)} (exported ${m!.exported_at}; the query and time are the exporter's statements)`);
  if (expect === 'unchecked') lines.push('  not checked: whether events or fields were left out (give --expect-count, --expect-indexes or --expect-disclosed)');
  else if (expect) lines.push(`  expected:    ${describeExpectations(expect)}: met`);
  return `${lines.join('\n')}\n`;
}

function printReport(report: BundleReport, name: string, json: boolean, expect?: BundleExpectations): void {
  if (json) {
    const { manifest, checkpoint, ...rest } = report;
    const summary = {
      ...rest,
      ...(manifest ? { ledger: manifest.ledger, query: manifest.query, exported_at: manifest.exported_at, withheld: manifest.withheld, counts: manifest.counts } : {}),
      ...(checkpoint ? { checkpoint: { origin: checkpoint.origin, size: checkpoint.size } } : {}),
      ...(expect ? { expected: expect } : {}),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(describe(report, name, expect ?? 'unchecked'));
  }
}

/** `export --bundle FILE.zip`: see the file comment. Returns the exit status. */
export async function runBundleExport(args: ParsedArgs): Promise<number> {
  const ledger = requireString(args, 'ledger');
  const out = requireString(args, 'bundle');
  if (!out.endsWith('.zip')) throw new UsageError('--bundle must name a .zip file (the only bundle format)');
  const withhold = listOption(args, 'withhold');
  const checkpoints = readCheckpointFiles(args);
  const query = args.positionals.join(' ');
  const api = serverClient(args);
  const keyOption = optionalString(args, 'key');
  let key: string;
  if (keyOption) {
    key = readKeyArgument(keyOption);
  } else {
    key = await api.verifierKey();
    process.stderr.write(
      'warning: no --key given, so the bundle is checked against the key the server itself announces; that only\n' +
        '  proves the bundle is consistent, not that it comes from the deployment you trust. Pin the verifier key\n' +
        `  you obtained at setup with --key (the server says: ${key}).\n`,
    );
  }

  const temp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const body = await api.bundle(ledger, { q: query, withhold, checkpoints });
    const progress = new Progress(`exporting ${ledger}`, undefined, 'bytes');
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        progress.update(received, `${(received / 1048576).toFixed(1)} MiB`);
        done(null, chunk);
      },
    });
    // 'wx': never follow or reuse a file someone placed at the temporary name.
    await pipeline(Readable.fromWeb(body as WebReadableStream<Uint8Array>), counter, createWriteStream(temp, { flags: 'wx', mode: 0o600 }));

    const report = verifyFile(temp, key, checkpoints);
    // Beyond the bundle being genuine, it must be the one asked for: a server could answer another query
    // or drop a checkpoint the auditor supplied (the verifier above already requires those to be proven).
    const m = report.manifest;
    if (m && report.ok) {
      const mismatch = (what: string, got: unknown, asked: unknown) =>
        report.problems.push({ kind: 'manifest', file: 'manifest.json', message: `manifest.json: ${what} is ${JSON.stringify(got)}, but ${JSON.stringify(asked)} was requested` });
      if (m.ledger !== ledger) mismatch('ledger', m.ledger, ledger);
      if (m.query !== query) mismatch('query', m.query, query);
      const asked = [...new Set(withhold)].sort();
      if (m.withheld.join(',') !== asked.join(',')) mismatch('withheld', m.withheld, asked);
      if (m.counts.auditor_checkpoints !== checkpoints.length) mismatch('counts.auditor_checkpoints', m.counts.auditor_checkpoints, checkpoints.length);
      report.ok = report.problems.length === 0;
    }
    if (!report.ok) {
      process.stdout.write(describe(report, out));
      process.stderr.write(`sealtrail export: the server's bundle did not verify; nothing was written to ${out}\n`);
      return 1;
    }
    renameSync(temp, out);
    progress.done(`${out}: ${countOf(received, 'byte')}, ${countOf(report.verifiedEvents, 'event')}`);
    process.stdout.write(describe(report, out));
    return 0;
  } finally {
    rmSync(temp, { force: true });
  }
}

export const verifyBundleCommand: Command = {
  name: 'verify-bundle',
  summary: 'Verify an evidence bundle offline against a pinned verifier key (no server or database needed).',
  usage: 'verify-bundle BUNDLE.zip --key KEY|@FILE [--checkpoint FILE]... [--expect-count N] [--expect-indexes LIST] [--expect-disclosed PATHS] [--json]',
  options: {
    key: {
      type: 'string',
      description: 'The verifier key you trust (the string, or @FILE holding it).',
      env: 'SEALTRAIL_VERIFIER_KEY',
      value: 'KEY',
    },
    checkpoint: {
      type: 'string',
      multiple: true,
      description: 'A checkpoint you saved earlier: require the bundle to prove consistency with it.',
      value: 'FILE',
    },
    'expect-count': { type: 'string', description: 'Require exactly N events (a bundle cannot prove that none was left out).', value: 'N' },
    'expect-indexes': {
      type: 'string',
      description: 'Require exactly these event indexes, e.g. 1-5,9 (the ones your own search returned).',
      value: 'LIST',
    },
    'expect-disclosed': {
      type: 'string',
      multiple: true,
      description: 'Require these field paths or groups (actor.id,outcome) disclosed in every event that has them: not withheld, erased or purged.',
      value: 'PATHS',
    },
    'max-inflated-bytes': {
      type: 'string',
      description: `Inflate at most this many bytes in all (default ${DEFAULT_BUNDLE_LIMITS.maxTotalBytes}); each file stays within ${DEFAULT_BUNDLE_LIMITS.maxEntryBytes}.`,
      value: 'N',
    },
    json: { type: 'boolean', description: 'Print the report as JSON.' },
  },
  details:
    'Checks every file digest, the checkpoint signature with your key, every event (leaf, inclusion proof,\n' +
    'disclosures), every consistency proof to the checkpoints in auditor/, and the counts. The key in the\n' +
    'bundle itself is never trusted. A bundle proves what it holds, not that nothing was left out: the\n' +
    '--expect-* options check that against what you expected. A bundle that inflates beyond the limits\n' +
    '(a zip bomb) is invalid. Exit status: 0 valid, 1 invalid, 2 usage.',
  async run(args) {
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) throw new UsageError('expected exactly one bundle file');
    if (!existsSync(file)) throw new UsageError(`no file ${file}`);
    const keyOption = optionalString(args, 'key');
    if (!keyOption) throw new UsageError('--key is required: verification means checking against the key you trust, not one the bundle names');
    const key = readKeyArgument(keyOption);
    const options = verifyOptions(args);
    let report: BundleReport;
    try {
      report = verifyFile(file, key, readCheckpointFiles(args), options);
    } catch (error) {
      if (error instanceof SealtrailError) throw new UsageError(error.message);
      throw error;
    }
    printReport(report, file, Boolean(args.values.json), options.expect);
    return report.ok ? 0 : 1;
  },
};
