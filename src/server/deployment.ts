/**
 * A deployment's data folder:
 *   sealtrail.json      {"name": deployment name}, fixed at first start (it is part of every checkpoint)
 *   signing-key.pem     Ed25519 private key (PKCS#8 PEM, mode 0600), unless a key path is given
 *   sealtrail.db        the SQLite store (+ -wal, -shm), unless the deployment uses PostgreSQL
 *   signing-key.pem.heads  every checkpoint head signed (src/store/signed-heads.ts); beside the key file
 *                       given instead, as <that file>.heads, when the key is kept outside the folder
 * With PostgreSQL, every server process is given the same signing key (the same folder or --signing-key)
 * and the same deployment name, which the database also records and checks.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { Ed25519Signer } from '../core/crypto.js';
import { formatVerifierKey, isValidKeyName } from '../core/note.js';
import { nodeSigner, nodeSuite } from '../platform/node-crypto.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { DEFAULT_SCHEMA, PostgresStore } from '../store/postgres/postgres-store.js';
import type { GeolocationOption } from '../store/search-fields.js';
import { IntegrityGuard } from '../store/integrity.js';
import { SignedHeadsJournal } from '../store/signed-heads.js';

export const DEFAULT_NAME = 'sealtrail.local';

export interface DeploymentOptions {
  dataDir: string;
  /** Deployment name; defaults to the one stored in the folder, else DEFAULT_NAME. */
  name?: string | undefined;
  /** Path of an Ed25519 PKCS#8 PEM key to use instead of the folder's own. */
  signingKeyPath?: string | undefined;
  maxBatchEvents?: number;
  /** Geolocation of an origin IP (country, region, city, coordinates), recorded in the search index. */
  locate?: GeolocationOption['locate'];
  /** Open the embedded store for bulk loading (SqliteStoreOptions.bulkLoad): no index catch-up on open. */
  bulkLoad?: boolean;
  /** Time budget of one search page or stats read in milliseconds (the stores' queryTimeoutMs). */
  queryTimeoutMs?: number;
}

interface DeploymentIdentity {
  name: string;
  dataDir: string;
  signer: Ed25519Signer;
  verifierKey: string;
  /** True when this call created the folder's signing key. */
  createdKey: boolean;
  /** Things about the folder an operator should fix (printed by `serve`); empty when all is well. */
  warnings: string[];
  /** Refuses to sign on broken ledgers and forks; holds the signed-heads journal beside the key. */
  guard: IntegrityGuard;
}

export interface Deployment extends DeploymentIdentity {
  databasePath: string;
  store: SqliteStore;
}

export interface PostgresDeployment extends DeploymentIdentity {
  /** The connection string with any password masked, for messages. */
  database: string;
  store: PostgresStore;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function openIdentity(options: DeploymentOptions): DeploymentIdentity {
  const { dataDir } = options;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const name = resolveName(dataDir, options.name);
  const { key, created } = loadSigningKey(dataDir, options.signingKeyPath);
  const signer = nodeSigner(key);
  const guard = new IntegrityGuard(new SignedHeadsJournal(signedHeadsPath(dataDir, options.signingKeyPath)));
  return { name, dataDir, signer, verifierKey: formatVerifierKey(nodeSuite, name, signer.publicKey), createdKey: created, guard, warnings: dataFolderWarnings(dataDir) };
}

/**
 * A folder others may enter or list is worth a warning even though sealtrail's database files are
 * 0600: it shows their names, sizes and times, and files other tools put there (backups, copies) keep
 * looser modes. A new folder is created 0700; an existing one is left as the operator made it.
 */
export function dataFolderWarnings(dataDir: string): string[] {
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o077) === 0) return [];
  return [
    `data folder ${dataDir} is accessible to other users (mode ${mode.toString(8).padStart(4, '0')}); its database files are kept 0600, but chmod 700 the folder`,
  ];
}

/** Where the signed-heads journal is kept: beside the signing key, wherever that is. */
export function signedHeadsPath(dataDir: string, signingKeyPath: string | undefined): string {
  return `${signingKeyPath ?? join(dataDir, 'signing-key.pem')}.heads`;
}

/** The embedded deployment: everything in the data folder. */
export function openDeployment(options: DeploymentOptions): Deployment {
  const identity = openIdentity(options);
  const { dataDir, name, signer } = identity;
  const databasePath = join(dataDir, 'sealtrail.db');
  const store = new SqliteStore({
    path: databasePath,
    suite: nodeSuite,
    signer,
    name,
    ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
    ...(options.locate ? { locate: options.locate } : {}),
    ...(options.bulkLoad ? { bulkLoad: true } : {}),
    ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
    signingGuard: identity.guard,
  });
  return { ...identity, databasePath, store };
}

/** A shared deployment: key and name from the data folder (or flags), events in PostgreSQL. */
export async function openPostgresDeployment(
  options: DeploymentOptions & { databaseUrl: string; schema?: string | undefined },
): Promise<PostgresDeployment> {
  const identity = openIdentity(options);
  const store = await PostgresStore.open({
    url: options.databaseUrl,
    schema: options.schema ?? DEFAULT_SCHEMA,
    suite: nodeSuite,
    signer: identity.signer,
    name: identity.name,
    ...(options.maxBatchEvents !== undefined ? { maxBatchEvents: options.maxBatchEvents } : {}),
    ...(options.locate ? { locate: options.locate } : {}),
    ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
    signingGuard: identity.guard,
  });
  return { ...identity, database: maskPassword(options.databaseUrl), store };
}

export function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable database URL)';
  }
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
