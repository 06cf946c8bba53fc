/**
 * A deployment's data folder:
 *   sealtrail.json      {"name": deployment name}, fixed at first start (it is part of every checkpoint)
 *   signing-key.pem     Ed25519 private key (PKCS#8 PEM, mode 0600), unless a key path is given
 *   sealtrail.db        the SQLite store (+ -wal, -shm)
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Ed25519Signer } from '../core/crypto.js';
import { formatVerifierKey, isValidKeyName } from '../core/note.js';
import { nodeSigner, nodeSuite } from '../platform/node-crypto.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';

export const DEFAULT_NAME = 'sealtrail.local';

export interface DeploymentOptions {
  dataDir: string;
  /** Deployment name; defaults to the one stored in the folder, else DEFAULT_NAME. */
  name?: string | undefined;
  /** Path of an Ed25519 PKCS#8 PEM key to use instead of the folder's own. */
  signingKeyPath?: string | undefined;
  maxBatchEvents?: number;
}

export interface Deployment {
  name: string;
  dataDir: string;
  databasePath: string;
  signer: Ed25519Signer;
  verifierKey: string;
  store: SqliteStore;
  /** True when this call created the folder's signing key. */
  createdKey: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function openDeployment(options: DeploymentOptions): Deployment {
  const { dataDir } = options;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const name = resolveName(dataDir, options.name);
  const { key, created } = loadSigningKey(dataDir, options.signingKeyPath);
  const signer = nodeSigner(key);
  const databasePath = join(dataDir, 'sealtrail.db');
  const store = new SqliteStore({
    path: databasePath,
    suite: nodeSuite,
    signer,
    name,
    ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
  });
  return {
    name,
    dataDir,
    databasePath,
    signer,
    verifierKey: formatVerifierKey(nodeSuite, name, signer.publicKey),
    store,
    createdKey: created,
  };
}

function resolveName(dataDir: string, requested: string | undefined): string {
  const path = join(dataDir, 'sealtrail.json');
  const stored = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { name?: string }).name : undefined;
  if (stored !== undefined && requested !== undefined && requested !== stored) {
    throw new ConfigError(
      `this data folder belongs to deployment ${JSON.stringify(stored)}; its checkpoints are signed under that name, so it cannot become ${JSON.stringify(requested)}`,
    );
  }
  const name = stored ?? requested ?? DEFAULT_NAME;
  if (!isValidKeyName(name) || name.includes('/')) {
    throw new ConfigError(`invalid deployment name ${JSON.stringify(name)}: no spaces, "+" or "/"`);
  }
  if (stored === undefined) writeFileSync(path, `${JSON.stringify({ name })}\n`, { mode: 0o600 });
  return name;
}

export function loadSigningKey(dataDir: string, keyPath: string | undefined, create = true): { key: KeyObject; created: boolean } {
  const path = keyPath ?? join(dataDir, 'signing-key.pem');
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new ConfigError(`${path} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`);
    const key = createPrivateKey(readFileSync(path));
    if (key.asymmetricKeyType !== 'ed25519') throw new ConfigError(`${path} is not an Ed25519 private key`);
    return { key, created: false };
  }
  if (keyPath !== undefined) throw new ConfigError(`signing key ${keyPath} does not exist`);
  if (!create) throw new ConfigError(`no signing key in ${dataDir}`);
  const { privateKey } = generateKeyPairSync('ed25519');
  // Written with 0600 from the first byte (the mode applies at creation), then enforced again.
  writeFileSync(path, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { key: privateKey, created: true };
}
