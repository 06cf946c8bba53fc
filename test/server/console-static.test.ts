/**
 * The console's files (src/server/console-static.ts): index.html at `/` never cached, hashed assets cached
 * for a year, both under a CSP that lets the pages load nothing from another host; API answers keep their
 * own stricter policy; without a build, `/` says how to make one.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment } from '../../src/server/deployment.js';

const dir = mkdtempSync(join(tmpdir(), 'sealtrail-console-static-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function appWith(consoleDir: string | null) {
  const deployment = openDeployment({ dataDir: join(dir, `data-${Math.random().toString(36).slice(2)}`) });
  const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, consoleDir });
  return { app, close: async () => (await app.close(), await deployment.store.close()) };
}

it('serves the built console with its caching and content security policy', async () => {
  const build = join(dir, 'dist', 'console');
  mkdirSync(join(build, 'assets'), { recursive: true });
  writeFileSync(join(build, 'index.html'), '<!doctype html><title>sealtrail console</title><script type="module" src="/assets/index-abc.js"></script>');
  writeFileSync(join(build, 'assets', 'index-abc.js'), 'console.log(1)');
  const { app, close } = await appWith(build);
  try {
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /sealtrail console/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const csp = page.headers['content-security-policy'] as string;
    for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    assert.equal(page.headers['x-frame-options'], 'DENY');

    const asset = await app.inject({ method: 'GET', url: '/assets/index-abc.js' });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(asset.headers['content-security-policy'], csp);

    const api = await app.inject({ method: 'GET', url: '/v1/verifier-key' });
    assert.equal(api.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assert.equal((await app.inject({ method: 'GET', url: '/assets/../../etc/passwd' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/nope.js' })).statusCode, 404);
  } finally {
    await close();
  }
});

it('says how to build the console when there is no build', async () => {
  const { app, close } = await appWith(null);
  try {
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 503);
    assert.match(page.body, /npm run build/);
  } finally {
    await close();
  }
});
