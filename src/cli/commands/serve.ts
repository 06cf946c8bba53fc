/** `sealtrail serve`: the HTTP server over the embedded store in a data folder. */
import { readFileSync } from 'node:fs';
import { buildApp } from '../../server/app.js';
import { CONFIG_FILE_REQUESTER, RetentionService } from '../../server/retention.js';
import { newToken } from '../../server/auth.js';
import { ConfigError, openDeployment, openPostgresDeployment, type Deployment, type PostgresDeployment } from '../../server/deployment.js';
import { IntegrityMonitor, type IntegrityLog } from '../../store/integrity.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { GeoUnavailableError, openGeo, type Geo } from '../../platform/geo.js';
import type { ApiKeyRecord, Store } from '../../store/store.js';
import { recordKeyCreation } from '../../server/key-registry.js';
import { nodeSuite } from '../../platform/node-crypto.js';
import { SYSTEM_LEDGER } from '../../core/forgetting.js';
import { applyConfiguredPolicy, readConfigFile, withConfigValues } from '../config.js';
import { DetectionService, RuleRefusedError } from '../../detection/service.js';
import { defaultRuleLibrary } from '../../detection/library.js';
import { loadRuleFolder, SigmaRuleError } from '../../detection/sigma/index.js';
import { MAX_ENTERPRISE_NUMBER } from '../../core/export/syslog.js';
import { startSyslog, SYSLOG_OPTIONS } from '../syslog-options.js';
import { SinkService } from '../../streams/service.js';
import { signingKeySecretBox } from '../../streams/secrets.js';
import { applyConfiguredSinks } from '../sinks-config.js';
import { DATA_OPTION, integerOption, optionalString, requireString, UsageError, type Command, type OptionSpec } from '../command.js';

const BOOTSTRAP_KEY_ID = 'admin0';

export const GEOIP_OPTION: Record<string, OptionSpec> = {
  geoip: {
    type: 'string',
    description: 'MaxMind DB (.mmdb) file or folder to locate origin IPs (country, region, city, coordinates); "off" to disable. Default: the bundled DB-IP Lite database.',
    env: 'SEALTRAIL_GEOIP',
    value: 'PATH',
  },
};

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the sealtrail server with the embedded SQLite store.',
  usage: 'serve [--config FILE] [--data DIR] [--port N] [--host ADDR] [--name NAME] [--signing-key FILE] [--database-url URL] [--geoip PATH|off] [--query-timeout MS]',
  options: {
    config: {
      type: 'string',
      description: 'YAML or JSON file with a key for every flag here and the retention policy (docs/CONFIG.md); flags and environment variables override it.',
      env: 'SEALTRAIL_CONFIG',
      value: 'FILE',
    },
    ...DATA_OPTION,
    port: { type: 'string', description: 'TCP port.', env: 'SEALTRAIL_PORT', default: '8470', value: 'N' },
    host: { type: 'string', description: 'Address to listen on.', env: 'SEALTRAIL_HOST', default: '127.0.0.1', value: 'ADDR' },
    name: {
      type: 'string',
      description: 'Deployment name: the checkpoint key name and origin prefix; fixed at first start.',
      env: 'SEALTRAIL_NAME',
      value: 'NAME',
    },
    'signing-key': { type: 'string', description: 'Ed25519 PKCS#8 PEM key to sign with, instead of DIR/signing-key.pem.', env: 'SEALTRAIL_SIGNING_KEY', value: 'FILE' },
    'database-url': {
      type: 'string',
      description: 'PostgreSQL connection string; without it the embedded SQLite store in DIR is used.',
      env: 'SEALTRAIL_DATABASE_URL',
      value: 'URL',
    },
    'database-schema': { type: 'string', description: 'PostgreSQL schema.', env: 'SEALTRAIL_DATABASE_SCHEMA', default: 'sealtrail', value: 'NAME' },
    'admin-token-file': { type: 'string', description: 'Read the admin token from this file.', value: 'FILE' },
    'tls-cert': { type: 'string', description: 'PEM certificate chain: serve HTTPS (with --tls-key).', env: 'SEALTRAIL_TLS_CERT', value: 'FILE' },
    'tls-key': { type: 'string', description: 'PEM private key for --tls-cert.', env: 'SEALTRAIL_TLS_KEY', value: 'FILE' },
    'rate-limit': { type: 'string', description: 'Requests per second allowed per API key (0: no limit).', env: 'SEALTRAIL_RATE_LIMIT', default: '2000', value: 'N' },
    ...GEOIP_OPTION,
    'retention-interval': {
      type: 'string',
      description: 'Minutes between scheduled retention purges (0: never; run them with `sealtrail retention run`).',
      env: 'SEALTRAIL_RETENTION_INTERVAL',
      default: '60',
      value: 'MIN',
    },
    'integrity-interval': {
      type: 'string',
      description: 'Seconds between background integrity verification rounds (0: verify only at start).',
      env: 'SEALTRAIL_INTEGRITY_INTERVAL',
      default: '1',
      value: 'SEC',
    },
    'query-timeout': {
      type: 'string',
      description: 'Time budget of one search page or stats read, in milliseconds; past it the request answers 503 QUERY_TIMEOUT.',
      env: 'SEALTRAIL_QUERY_TIMEOUT',
      default: '5000',
      value: 'MS',
    },
    'syslog-enterprise-number': {
      type: 'string',
      description: "Your organisation's IANA private enterprise number for syslog exports' SD-IDs; default 32473, which RFC 5612 reserves for documentation.",
      env: 'SEALTRAIL_SYSLOG_ENTERPRISE_NUMBER',
      value: 'PEN',
    },
    ...SYSLOG_OPTIONS,
    rules: {
      type: 'string',
      description: 'Folder of Sigma rule files (*.yml, *.yaml) judged beside the built-in pack; a rule of the same id replaces a built-in one. A rule that does not compile stops the server, naming its line.',
      env: 'SEALTRAIL_RULES',
      value: 'DIR',
    },
    'metrics-public': { type: 'boolean', description: 'Serve /metrics without a token (its labels name every ledger); by default it needs an admin or all-ledger auditor key.' },
    quiet: { type: 'boolean', description: 'Log only warnings and errors.' },
  },
  details:
    'Authentication: set SEALTRAIL_ADMIN_TOKEN (or --admin-token-file) to choose the admin token. Otherwise, on the\n' +
    'first start an admin key is generated and its token printed once; create further keys with `sealtrail keys create`.',
  async run(given) {
    // The file fills only what flags and environment variables left to their defaults (src/cli/config.ts).
    const configPath = optionalString(given, 'config');
    const configFile = configPath ? readConfigFile(configPath, serveCommand.options) : undefined;
    const args = configFile ? withConfigValues(given, configFile, { 'admin-token-file': 'SEALTRAIL_ADMIN_TOKEN' }) : given;
    const dataDir = requireString(args, 'data');
    const port = integerOption(args, 'port', { min: 0, max: 65535 })!;
    const host = requireString(args, 'host');
    const tokenFile = optionalString(args, 'admin-token-file');
    const adminToken = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : process.env.SEALTRAIL_ADMIN_TOKEN || undefined;
    if (adminToken !== undefined && adminToken.length < 16) throw new Error('the admin token must be at least 16 characters');

    const geo = openGeoOption(optionalString(args, 'geoip'));
    const identity = {
      dataDir,
      name: optionalString(args, 'name'),
      signingKeyPath: optionalString(args, 'signing-key'),
      ...(geo ? { locate: geo.lookup } : {}),
      queryTimeoutMs: integerOption(args, 'query-timeout', { min: 1, max: 600_000 })!,
    };
    const databaseUrl = optionalString(args, 'database-url');
    const deployment = databaseUrl
      ? await openPostgresDeployment({ ...identity, databaseUrl, schema: optionalString(args, 'database-schema') })
      : openDeployment(identity);
    const storage = 'database' in deployment ? `PostgreSQL ${deployment.database}` : deployment.databasePath;
    for (const warning of deployment.warnings) process.stderr.write(`warning: ${warning}\n`);
    const generated = adminToken === undefined ? await bootstrapAdmin(deployment.store) : undefined;
    const certFile = optionalString(args, 'tls-cert');
    const keyFile = optionalString(args, 'tls-key');
    if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert and --tls-key go together');
    const rate = integerOption(args, 'rate-limit', { min: 0, max: 1_000_000 })!;
    const retentionMinutes = integerOption(args, 'retention-interval', { min: 0, max: 525_600 })!;
    const retention = new RetentionService(deployment.store);
    const integrityInterval = integerOption(args, 'integrity-interval', { min: 0, max: 86_400 })!;
    const syslogEnterpriseNumber = integerOption(args, 'syslog-enterprise-number', { min: 1, max: MAX_ENTERPRISE_NUMBER });
    // Logged through the app's logger once it exists; the monitor is made first so that routes can report it.
    let log: IntegrityLog | undefined;
    const integrity = integrityMonitor(deployment, {
      error: (message, details) => log?.error(message, details),
      warn: (message, details) => log?.warn(message, details),
    }, integrityInterval);
    // Secrets sealed under the signing key; delivery starts once the ledgers are verified (below).
    const sinks = new SinkService({
      store: deployment.store,
      box: signingKeySecretBox(deployment.signer),
      locate: geo?.lookup,
      log: { error: (message, details) => log?.error(message, details ?? {}), warn: (message, details) => log?.warn(message, details ?? {}) },
    });
    const detection = await detectionService(deployment.store, optionalString(args, 'rules'), geo?.lookup, (message, error) => log?.error(message, { error: String(error ?? '') }));
    const app = await buildApp({
      detection,
      sinks,
      integrity,
      retention,
      ...(certFile && keyFile ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {}),
      rateLimit: rate === 0 ? false : { max: rate, windowMs: 1000 },
      store: deployment.store,
      suite: nodeSuite,
      verifierKey: deployment.verifierKey,
      ...(adminToken !== undefined ? { adminToken } : {}),
      ...(syslogEnterpriseNumber !== undefined ? { syslogEnterpriseNumber } : {}),
      metricsPublic: args.values['metrics-public'] === true,
      logger: { level: args.values.quiet ? 'warn' : 'info' },
    });
    log = { error: (message, details) => app.log.error(details, message), warn: (message, details) => app.log.warn(details, message) };
    // Before listening: every ledger is verified from its watermark, so nothing is appended to or served
    // from a ledger found tampered while the server was down.
    await integrity.start(integrityInterval > 0);
    const unready = integrity.status().ledgers.filter((l) => l.state !== 'trusted');
    for (const ledger of unready) app.log.error({ ledger: ledger.ledger, state: ledger.state, reason: ledger.reason }, 'ledger not trusted at start; appends to it are refused');
    // A policy change is sealed in the system ledger: not into one found tampered.
    const policyNote =
      configFile?.retention && unready.some((l) => l.ledger === SYSTEM_LEDGER)
        ? `policy in ${configFile.path} NOT applied: ${SYSTEM_LEDGER} is not trusted`
        : configFile && (await applyConfiguredPolicy(retention, configFile));
    const sinksNote = configFile?.sinks ? await applyConfiguredSinks(sinks, configFile.sinks) : undefined;
    await sinks.start();
    await detection.start(true);
    const detectionNote = await applyConfiguredRules(detection, configFile?.rulesDisabled, unready.some((l) => l.ledger === SYSTEM_LEDGER));
    const address = await app.listen({ port, host });
    const syslog = await startSyslog(args, deployment.store, certFile && keyFile ? { cert: certFile, key: keyFile } : undefined, {
      warn: (message) => app.log.warn(message),
      error: (message) => app.log.error(message),
    });
    const lines = [
      `sealtrail listening on ${address}  (API reference: ${address}/docs)`,
      `data folder:  ${deployment.dataDir}`,
      `store:        ${storage}`,
      `geolocation:  ${geo ? `${geo.source.databaseType} — ${geo.source.attribution ?? ''}` : 'off'}`,
      `verifier key: ${deployment.verifierKey}`,
    ];
    if (generated) {
      lines.push(
        '',
        'An admin key was created. Its token is shown this once; keep it somewhere safe:',
        `  ${generated}`,
        `  export SEALTRAIL_TOKEN=${generated}`,
        // The other commands' --url default is the default port and host; this one is right for any.
        `  export SEALTRAIL_URL=${address}`,
      );
    } else if (adminToken === undefined) {
      lines.push('authenticate with an API key token (Authorization: Bearer <token>)');
    } else {
      lines.push('authenticate with the admin token from SEALTRAIL_ADMIN_TOKEN (Authorization: Bearer <token>)');
    }
    lines.push(`retention:    ${retentionMinutes === 0 ? 'scheduled purges off' : `purge runs every ${retentionMinutes} min (policy: sealtrail retention show)`}`);
    if (policyNote) lines.push(`              ${policyNote}`);
    if (sinksNote) lines.push(`sinks:        ${sinksNote} (sealtrail sinks list)`);
    lines.push(`detection:    ${detectionNote} (sealtrail rules list; sealtrail alerts list)`);
    if (syslog) lines.push(`syslog:       ${syslog.description}`);
    if (configFile) lines.push(`config:       ${configFile.path} (flags and SEALTRAIL_* variables override it)`);
    const checked = integrity.status().ledgers;
    lines.push(
      `integrity:    ${checked.length - unready.length} of ${checked.length} ledgers verified${unready.length ? ` — NOT TRUSTED: ${unready.map((l) => l.ledger).join(', ')} (GET /v1/integrity)` : ''}; signed heads in ${deployment.guard.journal?.path ?? '(none)'}`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    const stopRetention =
      retentionMinutes === 0 ? async () => {} : retention.schedule(retentionMinutes * 60_000, (message) => app.log.warn(message), Math.min(60_000, retentionMinutes * 60_000));

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await stopRetention();
    await syslog?.receiver.close();
    await sinks.stop();
    await detection.stop();
    await integrity.stop();
    await app.close();
    await deployment.store.close();
    return 0;
  },
};

/**
 * The running server's integrity monitor over a deployment's store (src/store/integrity.ts): one lease
 * holder name per process, so that processes sharing a PostgreSQL store split the background work.
 */
export function integrityMonitor(deployment: Deployment | PostgresDeployment, log: IntegrityLog, intervalSeconds = 1): IntegrityMonitor {
  return new IntegrityMonitor({
    store: deployment.store,
    suite: nodeSuite,
    signer: deployment.signer,
    keyName: deployment.name,
    guard: deployment.guard,
    holder: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    log,
    intervalMs: Math.max(1, intervalSeconds) * 1000,
  });
}

/**
 * Detection with the built-in pack, the behavioural detectors and the folder's rules, all compiled
 * before the server opens its port: a folder rule that does not compile is refused with its line.
 */
async function detectionService(store: Store, folder: string | undefined, locate: Geo['lookup'] | undefined, log: (message: string, error?: unknown) => void): Promise<DetectionService> {
  try {
    const folderFiles = folder ? await loadRuleFolder(folder) : [];
    return new DetectionService({ store, library: defaultRuleLibrary(), folderFiles, locate, log });
  } catch (error) {
    if (error instanceof RuleRefusedError || error instanceof SigmaRuleError) throw new ConfigError(`--rules ${folder ?? ''}: ${error.message}`);
    throw error;
  }
}

/** The config file's disabled rules, sealed like `rules disable` (not into a system ledger found tampered); the banner line. */
async function applyConfiguredRules(detection: DetectionService, disabled: string[] | undefined, systemUntrusted: boolean): Promise<string> {
  let note = '';
  if (disabled && disabled.length > 0) {
    if (systemUntrusted) note = `; disable list NOT applied: ${SYSTEM_LEDGER} is not trusted`;
    else {
      const unknown = await detection.applyConfiguredSettings(disabled, CONFIG_FILE_REQUESTER);
      if (unknown.length > 0) note = `; no rule ${unknown.join(', ')} to disable`;
    }
  }
  const rules = detection.rules();
  return `${rules.filter((r) => r.enabled).length} of ${rules.length} rules enabled${note}`;
}

/** The geolocation database: the bundled one unless a path is given; none with "off" (or none installed). */
export function openGeoOption(path: string | undefined): Geo | undefined {
  if (path === 'off') return undefined;
  try {
    return openGeo(path);
  } catch (error) {
    if (path === undefined && error instanceof GeoUnavailableError) return undefined;
    throw error;
  }
}

/** Creates the first admin key when none exists and no admin token is configured; returns its token. */
async function bootstrapAdmin(store: Store): Promise<string | undefined> {
  if (await store.getApiKey(BOOTSTRAP_KEY_ID)) return undefined;
  const { token, secretHash } = newToken(BOOTSTRAP_KEY_ID);
  const key: ApiKeyRecord = {
    id: BOOTSTRAP_KEY_ID,
    role: 'admin',
    ledgers: ['*'],
    tenants: ['*'],
    description: 'created at first start',
    createdAtMicros: Date.now() * 1000,
    expiresAtMicros: null,
    revokedAtMicros: null,
    secretHash,
  };
  await store.createApiKey(key);
  // Sealed like every key, so the server accepts it (server/key-registry.ts) and `verify` checks it.
  await recordKeyCreation(store, key);
  return token;
}
