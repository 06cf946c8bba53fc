/**
 * The SQLite files hold every value and salt: sealtrail.db, -wal and -shm must be 0600 whatever the
 * folder's mode and the umask (the review found all three 0644 in a folder that already existed 0755),
 * files of an older start that others could read are narrowed, and a folder others may enter is
 * reported as a warning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDeployment } from '../../src/server/deployment.js';
import { sampleEvent } from '../helpers/events.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;
const octal = (mode: number) => mode.toString(8).padStart(4, '0');

describe('SQLite file modes', { skip: process.platform === 'win32' ? 'POSIX modes' : undefined }, () => {
  let root: string;
  let savedUmask: number;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'sealtrail-modes-'));
    // A common default umask, under which SQLite alone would create 0644 files.
    savedUmask = process.umask(0o022);
  });
  after(() => {
    process.umask(savedUmask);
    rmSync(root, { recursive: true, force: true });
  });

  async function appendSome(dataDir: string) {
    const deployment = openDeployment({ dataDir });
    try {
      await deployment.store.createLedger('audit');
      for (let batch = 0; batch < 3; batch++) {
        await deployment.store.append('audit', Array.from({ length: 50 }, (_, i) => ({ event: sampleEvent(batch * 50 + i), writer: 'w' })));
      }
      const files = [deployment.databasePath, `${deployment.databasePath}-wal`, `${deployment.databasePath}-shm`];
      for (const file of files) assert.ok(existsSync(file), `${file} exists while the store is open`);
      return { deployment, files };
    } catch (error) {
      await deployment.store.close();
      throw error;
    }
  }

  it('creates sealtrail.db, -wal and -shm 0600 in a folder that already exists 0755, and warns about the folder', async () => {
    const dataDir = join(root, 'open-folder');
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o755);
    const { deployment, files } = await appendSome(dataDir);
    try {
      for (const file of files) assert.equal(octal(modeOf(file)), '0600', `${file} after appends`);
      assert.equal(deployment.warnings.length, 1);
      assert.match(deployment.warnings[0]!, /accessible to other users \(mode 0755\)/);
    } finally {
      await deployment.store.close();
    }
    for (const file of files.filter(existsSync)) assert.equal(octal(modeOf(file)), '0600', `${file} after close`);
  });

  it('narrows the files of an older start that others could read, and does not warn about a 0700 folder', async () => {
    const dataDir = join(root, 'older');
    const first = openDeployment({ dataDir });
    assert.deepEqual(first.warnings, [], 'a new folder is made 0700');
    assert.equal(octal(modeOf(dataDir)), '0700');
    await first.store.close();
    const db = join(dataDir, 'sealtrail.db');
    chmodSync(db, 0o644);
    writeFileSync(`${db}-wal`, '', { mode: 0o644 });
    chmodSync(`${db}-wal`, 0o644);
    const { deployment, files } = await appendSome(dataDir);
    try {
      for (const file of files) assert.equal(octal(modeOf(file)), '0600', `${file} after reopening`);
      assert.deepEqual(deployment.warnings, []);
    } finally {
      await deployment.store.close();
    }
  });
});
