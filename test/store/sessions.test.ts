/**
 * Console sessions in the store (src/store/session-state.ts), on both stores: a session is found by its
 * token hash until it expires, is shared by two processes on one database (a sign-out in one ends it in
 * the other), and is never found by a hash it was not created with. On PostgreSQL as the service role,
 * so the table's grants are exercised.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portableSigner } from '../../src/core/crypto.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { createPostgresFixture, postgresUnavailable } from '../helpers/postgres.js';

const NAME = 'sessions.test';
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  open(): Promise<Store>;
  destroy(): Promise<void>;
}

function sqliteHarness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'sealtrail-sessions-'));
  tempDirs.push(dir);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return { open: async () => new SqliteStore({ path: join(dir, 'sealtrail.db'), suite: nodeSuite, signer, name: NAME }), destroy: async () => {} };
}

async function postgresHarness(): Promise<Harness> {
  const fixture = await createPostgresFixture(NAME);
  const signer = portableSigner(nodeSuite.randomBytes(32));
  return {
    open: () => PostgresStore.open({ url: fixture.serviceUrl, schema: fixture.schema, suite: nodeSuite, signer, name: NAME }),
    destroy: () => fixture.drop(),
  };
}

const hashOf = (token: string) => new Uint8Array(createHash('sha256').update(token).digest());

for (const [kind, make] of [
  ['SQLite', async () => sqliteHarness()],
  ['PostgreSQL', postgresHarness],
] as const) {
  describe(`console sessions (${kind})`, async () => {
    const skip = kind === 'PostgreSQL' ? await postgresUnavailable() : undefined;
    it('found by hash until expiry, shared between processes, ended by either', { skip }, async () => {
      const harness = await make();
      const first = await harness.open();
      const second = await harness.open();
      try {
        const now = 1_800_000_000_000_000;
        const token = randomBytes(32).toString('base64url');
        const operatorCheck = new Uint8Array(32).fill(9);
        await first.sessions.createSession({ tokenHash: hashOf(token), keyId: 'k1', operatorCheck, createdAtMicros: now, expiresAtMicros: now + 1_000_000 });
        await first.sessions.createSession({ tokenHash: hashOf('other'), keyId: 'k2', operatorCheck: null, createdAtMicros: now, expiresAtMicros: now + 10 });

        const found = await second.sessions.getSession(hashOf(token), now);
        assert.equal(found?.keyId, 'k1');
        assert.deepEqual(found?.operatorCheck, operatorCheck);
        assert.equal(found?.expiresAtMicros, now + 1_000_000);
        assert.equal(await second.sessions.getSession(hashOf(token + 'x'), now), undefined, 'another token finds nothing');
        assert.equal(await second.sessions.getSession(hashOf(token), now + 1_000_000), undefined, 'not at or after its expiry');

        assert.equal(await second.sessions.deleteExpiredSessions(now + 11), 1, 'only the expired one is swept');
        assert.equal((await first.sessions.getSession(hashOf(token), now))?.keyId, 'k1');
        assert.equal(await second.sessions.deleteSession(hashOf(token)), true);
        assert.equal(await first.sessions.getSession(hashOf(token), now), undefined, 'signed out everywhere');
        assert.equal(await first.sessions.deleteSession(hashOf(token)), false);
        await assert.rejects(
          first.sessions.createSession({ tokenHash: hashOf('other2'), keyId: 'k', operatorCheck: null, createdAtMicros: now, expiresAtMicros: now + 5 }).then(() =>
            first.sessions.createSession({ tokenHash: hashOf('other2'), keyId: 'k', operatorCheck: null, createdAtMicros: now, expiresAtMicros: now + 5 }),
          ),
          'a token hash is unique',
        );
      } finally {
        await first.close();
        await second.close();
        await harness.destroy();
      }
    });
  });
}
