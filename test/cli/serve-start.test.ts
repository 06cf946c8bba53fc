/**
 * `sealtrail serve`'s first-start banner as the README's quick start uses it (issue 18): it prints both
 * lines the other commands need, the token and the URL, so a server on another port is found too.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sealtrail-serve-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts serve on a free port, returns its banner (up to the integrity line), then stops it. */
async function firstStartBanner(): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--data', dir, '--port', '0', '--geoip', 'off', '--quiet', '--integrity-interval', '0', '--retention-interval', '0'],
    { cwd: ROOT, env: { ...process.env, SEALTRAIL_ADMIN_TOKEN: '', SEALTRAIL_DATA: '', SEALTRAIL_URL: '', SEALTRAIL_TOKEN: '', SEALTRAIL_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (/^integrity:/m.test(stdout)) resolve();
      });
      child.on('close', () => reject(new Error(`serve exited before its banner\n${stdout}\n${stderr}`)));
    });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  return stdout;
}

it('the first start prints export lines for both the token and the URL it listens on', async () => {
  const banner = await firstStartBanner();
  const address = /^sealtrail listening on (\S+)/m.exec(banner)?.[1];
  assert.ok(address, banner);
  assert.match(banner, /^ {2}export SEALTRAIL_TOKEN=st_admin0\.\S+$/m);
  // Port 0: not the default 8470, so without this line every other command would miss the server.
  assert.ok(banner.split('\n').includes(`  export SEALTRAIL_URL=${address}`), banner);
});
