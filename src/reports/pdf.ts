/**
 * PDF by printing the HTML with headless Chromium (`--print-to-pdf`), in a fresh profile folder, with
 * the background-networking flags that keep it from calling out. Only PDF needs a browser: HTML and
 * JSON are written without one. A missing browser is a ReportError saying how to install one.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export class ReportError extends Error {
  override name = 'ReportError';
  constructor(
    readonly code: 'BROWSER_MISSING' | 'PDF_FAILED',
    message: string,
  ) {
    super(message);
  }
}

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'];
const PRINT_TIMEOUT_MS = 60_000;

export const BROWSER_HELP =
  'PDF output needs Chromium or Chrome: install it (Debian/Ubuntu: apt-get install chromium; Fedora: dnf install chromium; macOS: install Google Chrome) ' +
  'or name it with SEALTRAIL_CHROMIUM=/path/to/chromium. HTML and JSON output need no browser.';

/** The browser to print with: SEALTRAIL_CHROMIUM, else the first usual path that exists. */
export function findBrowser(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env.SEALTRAIL_CHROMIUM;
  if (named) return existsSync(named) ? named : undefined;
  return CANDIDATES.find((path) => existsSync(path));
}

export async function htmlToPdf(html: string, browser = findBrowser()): Promise<Buffer> {
  if (!browser) throw new ReportError('BROWSER_MISSING', BROWSER_HELP);
  const dir = await mkdtemp(join(tmpdir(), 'sealtrail-pdf-'));
  try {
    const input = join(dir, 'report.html');
    const output = join(dir, 'report.pdf');
    await writeFile(input, html, { mode: 0o600 });
    await runBrowser(browser, [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-pdf-header-footer',
      `--user-data-dir=${join(dir, 'profile')}`,
      `--print-to-pdf=${output}`,
      pathToFileURL(input).href,
    ]);
    const pdf = await readFile(output).catch(() => undefined);
    if (!pdf || pdf.subarray(0, 5).toString('latin1') !== '%PDF-') throw new ReportError('PDF_FAILED', `${browser} wrote no PDF`);
    return pdf;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runBrowser(browser: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(browser, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), PRINT_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new ReportError('BROWSER_MISSING', `${browser} could not start (${error.message}). ${BROWSER_HELP}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new ReportError('PDF_FAILED', `${browser} exited with ${signal ?? code} while printing: ${stderr.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}
