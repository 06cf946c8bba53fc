/**
 * `sealtrail report` and `sealtrail certificate` (docs/REPORTS.md). Both ask the server for the JSON
 * document (which the server seals in its system ledger) and render HTML or PDF here, so that only the
 * machine printing a PDF needs Chromium. The JSON is what proves a report: it is always written, beside
 * an HTML or PDF output under the same name with .json. `sealtrail report verify FILE.json` recomputes
 * the document's SHA-256 and finds the record that sealed it. `certificate --bundle` writes the evidence
 * bundle of each ledger's accesses (export --bundle's code: verified before it is kept) and checks that
 * it holds exactly the certificate's count of events.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { SealtrailApiError } from '../../client/index.js';
import { FRAMEWORK_IDS, isFrameworkId } from '../../reports/frameworks.js';
import { documentDigest } from '../../reports/digest.js';
import { certificateHtml, reportHtml } from '../../reports/html.js';
import { BROWSER_HELP, findBrowser, htmlToPdf, ReportError } from '../../reports/pdf.js';
import { VERIFICATION_MODES } from '../../reports/integrity.js';
import type { CertificateDocument } from '../../reports/certificate.js';
import type { ReportDocument } from '../../reports/report.js';
import type { SealedRecord } from '../../reports/seal.js';
import { optionalString, requireString, SERVER_OPTIONS, UsageError, type Command, type ParsedArgs } from '../command.js';
import { runBundleExport, verifyBundleCommand } from './bundle.js';

const OUTPUTS = ['.json', '.html', '.pdf'] as const;
type Output = (typeof OUTPUTS)[number];

const PERIOD_OPTIONS = {
  ...SERVER_OPTIONS,
  from: { type: 'string', description: 'Start of the period (inclusive): a date (UTC midnight) or an RFC 3339 time.', value: 'TIME' },
  to: { type: 'string', description: 'End of the period (exclusive).', value: 'TIME' },
  ledgers: { type: 'string', description: 'Comma-separated ledgers (default: every ledger the key may read).', value: 'LIST' },
  output: { type: 'string', short: 'o', description: 'FILE.pdf, FILE.html or FILE.json; with .pdf or .html, FILE.json is written too.', value: 'FILE' },
} as const satisfies Command['options'];

export const reportCommand: Command = {
  name: 'report',
  summary: 'A compliance report (SOC 2, ISO 27001, PCI DSS, HIPAA, GDPR) of the evidence the log holds for a period; `report verify FILE.json` proves one unaltered.',
  usage: `report --framework ${FRAMEWORK_IDS.join('|')} --from TIME --to TIME [--ledgers LIST] [--tenant T] [--verify full|checkpoints] --output FILE.(pdf|html|json)\n       sealtrail report verify FILE.json`,
  options: {
    ...PERIOD_OPTIONS,
    framework: { type: 'string', short: 'f', description: `Framework: ${FRAMEWORK_IDS.join(', ')}.`, value: 'F' },
    tenant: { type: 'string', description: "Only this tenant's events.", value: 'T' },
    verify: { type: 'string', description: "Integrity evidence: full (every entry verified: the server's integrity monitor's run cited below its watermark, the rest re-derived now), entries (every entry of the period re-derived now) or checkpoints (signatures only).", default: 'full', value: 'MODE' },
  },
  details:
    'Auditor or admin key. The server seals the report\'s SHA-256 (RFC 8785 canonical JSON without its sha256\n' +
    'member) as a report.generate event in the system ledger; every PDF and HTML page is footed with it.\n' +
    `PDF needs Chromium on this machine (${BROWSER_HELP})\n` +
    'Exit status of `report verify`: 0 when the hash matches and a sealed record names it, 1 otherwise.',
  async run(args) {
    if (args.positionals[0] === 'verify') return verifyReportFile(args);
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const framework = requireString(args, 'framework');
    if (!isFrameworkId(framework)) throw new UsageError(`--framework must be one of ${FRAMEWORK_IDS.join(', ')}`);
    const verify = requireString(args, 'verify');
    if (!(VERIFICATION_MODES as readonly string[]).includes(verify)) throw new UsageError(`--verify must be one of ${VERIFICATION_MODES.join(', ')}`);
    const output = outputOf(args);
    const tenant = optionalString(args, 'tenant');
    const { document, seal } = await fetchDocument<ReportDocument>(args, `/v1/reports/${framework}`, { ...periodParams(args), verify, ...(tenant ? { tenant } : {}) });
    if (!(await writeOutputs(output, document, () => reportHtml(document)))) return 1;
    process.stdout.write(`${framework} report ${document.period.from} .. ${document.period.to}: SHA-256 ${document.sha256}, sealed at ${seal}\n`);
    for (const control of document.controls) process.stdout.write(`  ${control.id.padEnd(10)} ${control.summary.join(' ')}\n`);
    return document.evidence.integrity.some((i) => i.result === 'failed') ? 1 : 0;
  },
};

export const certificateCommand: Command = {
  name: 'certificate',
  summary: "A client access certificate: every access to a tenant's records in a period, with the evidence bundle to check it offline.",
  usage: 'certificate --tenant T --from TIME --to TIME [--ledgers LIST] --output cert.(pdf|html|json) [--bundle cert.zip] [--key VERIFIER_KEY]',
  options: {
    ...PERIOD_OPTIONS,
    tenant: { type: 'string', description: 'The tenant whose records were accessed.', value: 'T' },
    bundle: { type: 'string', description: 'Write the evidence bundle to FILE.zip (several ledgers: FILE.<ledger>.zip each).', value: 'FILE' },
    key: { type: 'string', description: 'With --bundle: the verifier key you trust (string or @FILE).', env: 'SEALTRAIL_VERIFIER_KEY', value: 'KEY' },
  },
  details:
    'Auditor or admin key whose scope includes the tenant. An access is an event of the tenant with category\n' +
    'read, export, create, update or delete, and a read of the audit log by a key scoped to the tenant\n' +
    '(docs/REPORTS.md). Each bundle is verified before it is kept and must hold exactly the certificate\'s\n' +
    'count; hand it over with the certificate: `sealtrail verify-bundle cert.zip --key KEY --expect-count N`.',
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const tenant = requireString(args, 'tenant');
    const output = outputOf(args);
    const bundle = optionalString(args, 'bundle');
    if (bundle !== undefined && !bundle.endsWith('.zip')) throw new UsageError('--bundle must name a .zip file');
    const { document, seal } = await fetchDocument<CertificateDocument>(args, `/v1/certificates/${encodeURIComponent(tenant)}`, periodParams(args));
    if (!(await writeOutputs(output, document, () => certificateHtml(document)))) return 1;
    process.stdout.write(`access certificate for ${tenant}: ${document.accesses_total} accesses, SHA-256 ${document.sha256}, sealed at ${seal}\n`);
    if (bundle === undefined) return 0;
    const ledgers = document.ledgers.filter((l) => l.accesses > 0);
    for (const ledger of ledgers) {
      const file = ledgers.length === 1 ? bundle : bundle.replace(/\.zip$/, `.${ledger.ledger}.zip`);
      const status = await writeBundle(args, ledger.ledger, ledger.citation.query, file, ledger.accesses);
      if (status !== 0) return status;
    }
    return 0;
  },
};

function outputOf(args: ParsedArgs): { path: string; kind: Output } {
  const path = requireString(args, 'output');
  const kind = extname(path).toLowerCase() as Output;
  if (!OUTPUTS.includes(kind)) throw new UsageError('--output must end in .pdf, .html or .json');
  // Before the server makes (and seals) anything: a PDF that cannot be printed is refused now.
  if (kind === '.pdf' && !findBrowser()) throw new UsageError(BROWSER_HELP);
  return { path, kind };
}

function periodParams(args: ParsedArgs): Record<string, string> {
  const ledgers = optionalString(args, 'ledgers');
  return { from: requireString(args, 'from'), to: requireString(args, 'to'), format: 'json', ...(ledgers ? { ledgers } : {}) };
}

async function serverGet(args: ParsedArgs, path: string): Promise<Response> {
  const token = optionalString(args, 'token');
  const response = await fetch(`${requireString(args, 'url').replace(/\/+$/, '')}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    const text = await response.text();
    let body: { error?: string; message?: string } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Not JSON: the status says enough.
    }
    throw new SealtrailApiError(response.status, body.error ?? `HTTP_${response.status}`, body.message ?? text.slice(0, 200), body);
  }
  return response;
}

async function fetchDocument<T>(args: ParsedArgs, path: string, params: Record<string, string>): Promise<{ document: T; seal: string }> {
  const response = await serverGet(args, `${path}?${new URLSearchParams(params).toString()}`);
  return { document: (await response.json()) as T, seal: response.headers.get('sealtrail-seal') ?? '(not sealed)' };
}

/** Writes under a temporary name beside the target, then renames: a file that exists is complete. */
function writeAtomically(path: string, data: string | Buffer): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    writeFileSync(temp, data, { flag: 'wx', mode: 0o600 });
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
}

/** The JSON first (it is what proves the others), then the rendering; false when the PDF could not be printed. */
async function writeOutputs(output: { path: string; kind: Output }, document: object, html: () => string): Promise<boolean> {
  const jsonPath = output.kind === '.json' ? output.path : output.path.slice(0, -output.kind.length) + '.json';
  writeAtomically(jsonPath, `${JSON.stringify(document, null, 2)}\n`);
  try {
    if (output.kind === '.html') writeAtomically(output.path, html());
    if (output.kind === '.pdf') writeAtomically(output.path, await htmlToPdf(html()));
  } catch (error) {
    if (!(error instanceof ReportError)) throw error;
    process.stderr.write(`${error.message}; ${jsonPath} was written\n`);
    return false;
  }
  process.stderr.write(`wrote ${output.kind === '.json' ? output.path : `${output.path} and ${jsonPath}`}\n`);
  return true;
}

async function writeBundle(args: ParsedArgs, ledger: string, query: string, file: string, expected: number): Promise<number> {
  const common = { url: args.values.url, token: args.values.token, key: args.values.key };
  const exported = await runBundleExport({ values: { ...common, ledger, bundle: file }, positionals: [query] });
  if (exported !== 0) return exported;
  const key = optionalString(args, 'key');
  if (!key) {
    process.stderr.write(`not checked: the count of ${file} (give --key to check it holds exactly ${expected} events)\n`);
    return 0;
  }
  return verifyBundleCommand.run({ values: { key, 'expect-count': String(expected) }, positionals: [file] });
}

async function verifyReportFile(args: ParsedArgs): Promise<number> {
  const [, file, ...extra] = args.positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('expected: report verify FILE.json');
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall) throw error;
    throw new UsageError(`${file} is not JSON: give the .json written beside the PDF or HTML`);
  }
  const recomputed = documentDigest(document);
  if (recomputed !== document.sha256) {
    process.stdout.write(`ALTERED ${file}: its content hashes to ${recomputed}, but it says ${String(document.sha256)}\n`);
    return 1;
  }
  const { records } = (await (await serverGet(args, `/v1/reports/sealed/${recomputed}`)).json()) as { records: SealedRecord[] };
  const record = records[0];
  if (!record) {
    process.stdout.write(`UNSEALED ${file}: SHA-256 ${recomputed} matches its content, but no sealed record names it\n`);
    return 1;
  }
  process.stdout.write(`VALID ${file}: SHA-256 ${recomputed}, sealed as ${record.action} at ${record.ledger}/${record.index} (${record.received_at}) by ${record.actor}\n`);
  return 0;
}
