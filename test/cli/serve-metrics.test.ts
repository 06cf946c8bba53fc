/**
 * `sealtrail serve --metrics-public` (issue 18): /metrics answers without a key only when the operator
 * asked for it; by default a request without a token is refused.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sealtrail-serve-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts serve with these extra flags, answers GET /metrics without a token, then stops it. */
async function metricsWithoutToken(flags: string[]): Promise<{ status: number; body: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--data', dir, '--port', '0', '--geoip', 'off', '--quiet', '--integrity-interval', '0', '--retention-interval', '0', ...flags],
    { cwd: ROOT, env: { ...process.env, SEALTRAIL_ADMIN_TOKEN: '', SEALTRAIL_DATA: '', SEALTRAIL_URL: '', SEALTRAIL_TOKEN: '', SEALTRAIL_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const url = /^sealtrail listening on (\S+)/m.exec(stdout)?.[1];
        if (url && /^integrity:/m.test(stdout)) resolve(url);
      });
      child.on('close', () => reject(new Error(`serve exited before its banner\n${stdout}\n${stderr}`)));
    });
    const response = await fetch(`${address}/metrics`);
    return { status: response.status, body: await response.text() };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

it('serves /metrics without a token only with --metrics-public', async () => {
  const closed = await metricsWithoutToken([]);
  assert.equal(closed.status, 401, closed.body);
  const open = await metricsWithoutToken(['--metrics-public']);
  assert.equal(open.status, 200, open.body);
  assert.match(open.body, /^sealtrail_integrity_state\{ledger="sealtrail-system",state="trusted"\} 1$/m);
});
