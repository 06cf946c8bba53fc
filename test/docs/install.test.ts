/**
 * The README promises `npm install` on the oldest Node that package.json's engines names: every package
 * the lock file installs must accept that version, or npm prints EBADENGINE warnings (issue 18).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// semver is what npm itself checks engines with; it is installed with fastify (no types of its own here).
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
};
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

it('the README names the oldest Node version package.json accepts', () => {
  const oldest = semver.minVersion(manifest.engines.node)!.version;
  const [major, minor] = oldest.split('.');
  assert.match(readme, new RegExp(`Requires Node\\.js ${major}\\.${minor} or later`));
});

const ENGINE_EXCEPTIONS = new Set(['node_modules/@nats-io/nuid']);

it('every locked package accepts the oldest Node version package.json promises', () => {
  const oldest = semver.minVersion(manifest.engines.node)!.version;
  const refusing = Object.entries(lock.packages)
    // @nats-io/nuid 2 declares node >= 22 but runs on 20: the NATS sink tests (test/streams/targets-nats) exercise it here.
    .filter(([path]) => !ENGINE_EXCEPTIONS.has(path))
    .filter(([path, entry]) => path !== '' && entry.engines && !Array.isArray(entry.engines) && entry.engines.node)
    .filter(([, entry]) => !semver.satisfies(oldest, (entry.engines as { node: string }).node))
    .map(([path, entry]) => `${path}@${entry.version} wants node ${(entry.engines as { node: string }).node}`);
  assert.deepEqual(refusing, [], `npm install on Node ${oldest} would warn EBADENGINE`);
});
