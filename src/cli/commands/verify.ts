/** `sealtrail verify`: check a data folder end to end, offline, trusting only the verifier key. */
import { existsSync, readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { formatVerifierKey, parseVerifierKey, type NoteVerifier } from '../../core/note.js';
import { SealtrailError } from '../../core/errors.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { loadSigningKey } from '../../server/deployment.js';
import { SqliteStore } from '../../store/sqlite/sqlite-store.js';
import { PostgresStore } from '../../store/postgres/postgres-store.js';
import { StoreError, type Store } from '../../store/store.js';
import { verifyStoredLedger } from '../../store/verify-ledger.js';
import { verifyDerived, type DerivedVerification } from '../../store/verify-derived.js';
import { idempotencySecret } from '../../store/idempotency.js';
import { nodeSigner } from '../../platform/node-crypto.js';
import { readSignedHeads, verifySignedHeads } from '../../store/signed-heads.js';
import { verifySealedRecords, type RecordsVerification } from '../../store/verify-records.js';
import { ForgetAuthorisations, SYSTEM_LEDGER } from '../../core/forgetting.js';
import { DATA_OPTION, optionalString, requireString, UsageError, type Command } from '../command.js';
import { Progress } from '../progress.js';
import { countOf } from '../table.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Verify every ledger (or one) in a data folder: leaves, disclosures, tree, checkpoints and their signatures.',
  usage: 'verify [--data DIR | --database-url URL] [--ledger L] [--key VERIFIER_KEY] [--checkpoint FILE]... [--signed-heads FILE] [--signing-key FILE]',
  options: {
    ...DATA_OPTION,
    ledger: { type: 'string', short: 'l', description: 'Only this ledger.', value: 'L' },
    key: {
      type: 'string',
      description: "Verifier key to trust (default: derived from the folder's own signing key).",
      env: 'SEALTRAIL_VERIFIER_KEY',
      value: 'KEY',
    },
    checkpoint: {
      type: 'string',
      multiple: true,
      description: 'A checkpoint saved earlier (e.g. by `sealtrail checkpoint`); detects rollback and a cut-off tail.',
      value: 'FILE',
    },
    'signed-heads': {
      type: 'string',
      description: "The server's signed-heads journal (<signing key file>.heads); detects deleted checkpoints, a cut-off tail, rollback and forks.",
      value: 'FILE',
    },
    'signing-key': {
      type: 'string',
      description: "The deployment's signing key, if not in DIR: lets verify check that each idempotency key is the one its event id gives.",
      value: 'FILE',
    },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
    'database-url': { type: 'string', description: 'Verify a PostgreSQL store instead of DIR/sealtrail.db.', env: 'SEALTRAIL_DATABASE_URL', value: 'URL' },
    'database-schema': { type: 'string', description: 'PostgreSQL schema.', env: 'SEALTRAIL_DATABASE_SCHEMA', default: 'sealtrail', value: 'NAME' },
  },
  details:
    'The database cannot prove by itself that it was not rolled back to an earlier copy, or that its newest\n' +
    'entries were not cut off together with their checkpoints: pass checkpoints you saved outside the server\n' +
    'with --checkpoint. Pass --key with the verifier key you obtained when the deployment was set up, so that\n' +
    'a replaced signing key in the folder is caught too. API keys and legal holds are compared with their\n' +
    'sealed records in sealtrail-system unless --ledger names another ledger.\n' +
    'Exit status: 0 verified, 1 verification failed, 2 usage.',
  async run(args) {
    const dataDir = requireString(args, 'data');
    const databaseUrl = optionalString(args, 'database-url');
    const databasePath = join(dataDir, 'sealtrail.db');
    if (!databaseUrl && !existsSync(databasePath)) throw new UsageError(`no sealtrail database in ${dataDir}`);
    const verifier = trustedVerifier(dataDir, optionalString(args, 'key'), databaseUrl !== undefined);
    const external = ((args.values.checkpoint as string[] | undefined) ?? []).map((file) => readFileSync(file, 'utf8'));
    const headsFile = optionalString(args, 'signed-heads');
    const signedHeads = headsFile === undefined ? undefined : readSignedHeads(headsFile);
    if (headsFile !== undefined && !signedHeads) throw new UsageError(`no signed-heads journal at ${headsFile}`);
    // Verification never appends: the signer is required by the store's type but never called.
    const signer = { publicKey: verifier.publicKey, sign: (): Uint8Array => { throw new Error('verification does not sign'); } };
    const store: Store = databaseUrl
      ? await openPostgresToVerify({ url: databaseUrl, schema: optionalString(args, 'database-schema'), suite: nodeSuite, name: verifier.name, signer })
      : new SqliteStore({ path: databasePath, suite: nodeSuite, name: verifier.name, readonly: true, signer });
    try {
      const only = optionalString(args, 'ledger');
      const names = (await store.listLedgers()).map((l) => l.name);
      if (only && !names.includes(only)) throw new UsageError(`no ledger ${JSON.stringify(only)} in ${dataDir}`);
      // The system ledger holds the forgetting records that every redaction must be named by: it goes
      // first, also when one other ledger was asked for.
      const system = names.includes(SYSTEM_LEDGER) ? [SYSTEM_LEDGER] : [];
      for (const journalled of signedHeads?.keys() ?? []) {
        if (!names.includes(journalled) && (!only || only === journalled)) {
          const message = `${journalled}: the signed-heads journal records checkpoints of this ledger, but the store has no such ledger`;
          process.stdout.write(args.values.json ? `${JSON.stringify({ ok: false, error: message, ledger: journalled })}\n` : `FAILED ${message}\n`);
          return 1;
        }
      }
      const ledgers = only ? [...(only === SYSTEM_LEDGER ? [] : system), only] : [...system, ...names.filter((n) => n !== SYSTEM_LEDGER)];
      const forgetting = new ForgetAuthorisations();
      const derivedOptions = {
        ...(idempotencySecretFor(dataDir, optionalString(args, 'signing-key'), verifier) ?? {}),
        httpWriters: new Set(['admin', ...(await store.listApiKeys()).map((k) => k.id)]),
        allowUnindexedTail: !databaseUrl,
      };
      const results = [];
      for (const ledger of ledgers) {
        const progress = new Progress(`verifying ${ledger}`, undefined, 'entries');
        try {
          const result = await verifyStoredLedger(store, ledger, {
            suite: nodeSuite,
            verifiers: [verifier],
            external,
            forgetting,
            onProgress: (done) => progress.update(done),
          });
          results.push(result);
          const journalled = await verifySignedHeads(store, ledger, signedHeads?.get(ledger));
          if (journalled && !args.values.json) process.stdout.write(`    ${ledger}: ${journalled} signed heads of the journal are stored as signed\n`);
          const derived = await verifyDerived(store, ledger, { ...derivedOptions, size: result.entries });
          Object.assign(result, { derived });
          if (!args.values.json) process.stdout.write(`    ${ledger}: ${describeDerived(derived)}\n`);
          if (!args.values.json) {
            process.stdout.write(
              `ok  ${ledger}: ${countOf(result.entries, 'entry', 'entries')}, ${countOf(result.checkpoints, 'checkpoint')}` +
                `${result.externalCheckpoints ? `, ${countOf(result.externalCheckpoints, 'saved checkpoint')}` : ''} verified` +
                `${result.redactedFields ? `, ${countOf(result.redactedFields, 'forgotten field')} each named by a sealed record${result.legacyRedactedFields ? ` (${result.legacyRedactedFields} attested at the upgrade)` : ''}` : ''}` +
                `; root ${result.rootHash}\n`,
            );
          }
        } catch (error) {
          if (!(error instanceof SealtrailError)) throw error;
          if (args.values.json) process.stdout.write(`${JSON.stringify({ ok: false, error: error.message, ...error.details })}\n`);
          else process.stdout.write(`FAILED ${error.message}\n`);
          return 1;
        }
      }
      // API keys and legal holds: every row as its sealed records in the (now verified) system ledger describe it.
      let records: RecordsVerification | undefined;
      if (!only || only === SYSTEM_LEDGER) {
        try {
          records = await verifySealedRecords(store, SYSTEM_LEDGER, nodeSuite);
        } catch (error) {
          if (!(error instanceof SealtrailError)) throw error;
          if (args.values.json) process.stdout.write(`${JSON.stringify({ ok: false, error: error.message, ...error.details })}\n`);
          else process.stdout.write(`FAILED ${error.message}\n`);
          return 1;
        }
        if (!args.values.json) {
          process.stdout.write(
            records.keysChecked
              ? `ok  ${countOf(records.keys, 'API key')} and ${countOf(records.holds, 'legal hold')} match their sealed records\n`
              : `ok  ${records.holds} legal holds match their sealed records; API keys not checked: no server has started on this store since keys were sealed\n`,
          );
        }
      }
      const unmatched = external.length > 0 && results.every((r) => r.externalCheckpoints === 0);
      if (unmatched) process.stderr.write('warning: no saved checkpoint belongs to a verified ledger of this deployment\n');
      if (args.values.json) process.stdout.write(`${JSON.stringify({ ok: true, verifierKey: formatVerifierKey(nodeSuite, verifier.name, verifier.publicKey), ledgers: results, ...(records ? { records } : {}) })}\n`);
      return 0;
    } finally {
      await store.close();
    }
  },
};

/**
 * The HMAC key of stored idempotency keys, when the deployment's signing key is at hand (DIR or
 * --signing-key) and is the one the trusted verifier key belongs to; undefined otherwise, and verify
 * then checks the keys' presence only.
 */
function idempotencySecretFor(dataDir: string, keyPath: string | undefined, verifier: NoteVerifier): { idempotencySecret: Uint8Array } | undefined {
  let signer;
  try {
    signer = nodeSigner(loadSigningKey(dataDir, keyPath, false).key);
  } catch (error) {
    if (keyPath !== undefined) throw new UsageError((error as Error).message);
    return undefined;
  }
  if (!Buffer.from(signer.publicKey).equals(Buffer.from(verifier.publicKey))) {
    if (keyPath !== undefined) throw new UsageError(`${keyPath} is not the signing key of the trusted verifier key`);
    return undefined;
  }
  return { idempotencySecret: idempotencySecret(signer) };
}

/**
 * The store answers a name that is not its deployment's with advice for `serve` (--name), which verify
 * does not take: here the name comes with the trusted verifier key, so that is what must change.
 */
async function openPostgresToVerify(options: Parameters<typeof PostgresStore.open>[0]): Promise<PostgresStore> {
  try {
    return await PostgresStore.open(options);
  } catch (error) {
    const stored = error instanceof StoreError ? /belongs to deployment ("[^"]*")/.exec(error.message)?.[1] : undefined;
    if (stored === undefined) throw error;
    throw new UsageError(
      `this database belongs to deployment ${stored}, but the verifier key trusted here is for ${JSON.stringify(options.name)}; ` +
        `${KEY_ADVICE.replace("the deployment's", `${stored}'s`)}`,
    );
  }
}

function describeDerived(d: DerivedVerification): string {
  return (
    `search index matches the entries (${countOf(d.indexed, 'event')}${d.unindexedTail ? `; the newest ${d.unindexedTail} not indexed yet, done at the next start` : ''}); ` +
    `${countOf(d.keyed, 'idempotency key')} ${d.keysAuthenticated ? (d.keyed === 1 ? 'matches its event' : 'match their events') : 'present (not authenticated: no signing key)'}`
  );
}

/** Where a verifier key comes from, for messages that ask for one. */
const KEY_ADVICE =
  "pass --key with the deployment's verifier key (`sealtrail serve` prints it; GET /v1/verifier-key answers it), " +
  'or --data with the folder holding its signing-key.pem and sealtrail.json';

function trustedVerifier(dataDir: string, key: string | undefined, postgres: boolean): NoteVerifier {
  if (key) return parseVerifierKey(nodeSuite, key);
  const configPath = join(dataDir, 'sealtrail.json');
  if (!existsSync(configPath)) {
    throw new UsageError(`${postgres ? 'no --key given, and ' : ''}${dataDir} has no sealtrail.json; ${KEY_ADVICE}`);
  }
  const { name } = JSON.parse(readFileSync(configPath, 'utf8')) as { name: string };
  let privateKey;
  try {
    privateKey = loadSigningKey(dataDir, undefined, false).key;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; ${KEY_ADVICE}`);
  }
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  return parseVerifierKey(nodeSuite, formatVerifierKey(nodeSuite, name, publicKey));
}
