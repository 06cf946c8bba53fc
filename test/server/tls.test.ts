/** HTTPS: the server serves TLS with a given certificate and key, and says so with HSTS. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { buildApp } from '../../src/server/app.js';
import { openDeployment } from '../../src/server/deployment.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const ADMIN_TOKEN = 'tls-test-admin-token-0123456789abcdef';

it('serves HTTPS with HSTS and safe headers, and Secure session cookies', { skip: hasOpenssl() ? false : 'openssl is needed to make a test certificate' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-tls-'));
  const deployment = openDeployment({ dataDir: join(dir, 'data') });
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const app = await buildApp({ store: deployment.store, suite: nodeSuite, verifierKey: deployment.verifierKey, adminToken: ADMIN_TOKEN, tls: { cert, key: readFileSync(join(dir, 'key.pem')) } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as AddressInfo;
      const response = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/verifier-key', ca: cert }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.trim(), deployment.verifierKey);
      assert.match(String(response.headers['strict-transport-security']), /max-age=\d+/);
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      assert.equal(response.headers['cache-control'], 'no-store');

      // Under TLS the console's session cookie is Secure too (with httpOnly and SameSite=Strict).
      const signIn = await app.inject({ method: 'POST', url: '/v1/session', payload: { api_key: ADMIN_TOKEN } });
      assert.equal(signIn.statusCode, 201, signIn.body);
      const cookie = signIn.cookies.find((c) => c.name === 'sealtrail_session');
      assert.equal(cookie?.secure, true);
      assert.equal(cookie?.httpOnly, true);
      assert.equal(cookie?.sameSite, 'Strict');
    } finally {
      await app.close();
    }
  } finally {
    await deployment.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
