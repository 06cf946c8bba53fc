/**
 * `serve --config FILE` (docs/CONFIG.md): a YAML or JSON file with a key for every `serve` flag, plus
 * the retention policy. YAML 1.2 is a superset of JSON, so one parser reads both and can name the line
 * of every key. The file only fills what neither a flag nor an environment variable set: flags override
 * environment variables, which override the file, which overrides the defaults.
 *
 * Everything is checked before the server opens its store: an unknown key is an error naming its line
 * (with the key it probably meant), never a setting silently ignored; so are keys reserved for later
 * subsystems, which a user may expect to work.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { parseRetentionPolicy, shortRules, type RetentionPolicy } from '../core/retention.js';
import { CONFIG_FILE_REQUESTER, type RetentionService } from '../server/retention.js';
import { SealtrailError } from '../core/errors.js';
import { ConfigError } from '../server/deployment.js';
import type { OptionSpec, ParsedArgs } from './command.js';
import { sinksFromConfig } from './sinks-config.js';
import { rulesFromConfig } from './commands/detect.js';

/** A configuration file is a page of settings; anything larger is a mistake (or an attack on the parser). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Keys that are not flags: the retention policy and its `--force`. */
const POLICY_KEYS = ['retention', 'retention-force'] as const;

/** Keys of subsystems that do not exist yet: refused, so that nobody believes they are in effect. */
const RESERVED_KEYS: Record<string, string> = {};

export interface ConfigFile {
  path: string;
  /** Flag name → value as the command line would give it (a string, or a boolean for switches). */
  values: Record<string, string | boolean>;
  /** Flag name → `key (FILE line N)`, for error messages. */
  origins: Record<string, string>;
  /** The validated policy, when the file has `retention:`. */
  retention?: RetentionPolicy;
  /** `retention-force: true`: store rules keeping events under 12 months, as `retention set --force`. */
  retentionForce: boolean;
  /** `sinks:`, each a POST /v1/sinks body, checked (src/cli/sinks-config.ts). */
  sinks?: Array<Record<string, unknown>>;
  /** `rules: {folder, disable}`: detection rule ids to disable at start (the folder becomes the `rules` flag). */
  rulesDisabled?: string[];
}

/**
 * Reads and validates a configuration file against a command's options (every option but `config`
 * itself is a key). Throws ConfigError naming the file, line and key of the first problem.
 */
export function readConfigFile(path: string, options: Record<string, OptionSpec>): ConfigFile {
  const size = statSync(path).size;
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(`${path}: ${size} bytes; a configuration file has at most ${MAX_CONFIG_BYTES}`);
  const text = readFileSync(path, 'utf8');
  const lines = new LineCounter();
  // uniqueKeys: a key given twice is an error, not "the last one wins"; aliases are capped (billion laughs).
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const name = basename(path);
  const at = (offset: number | undefined) => (offset === undefined ? name : `${name} line ${lines.linePos(offset).line}`);
  const parseError = doc.errors[0];
  if (parseError) throw new ConfigError(`${at(parseError.pos[0])}: not valid YAML or JSON: ${parseError.message.split('\n')[0]}`);
  if (doc.contents === null) return { path, values: {}, origins: {}, retentionForce: false };
  if (!isMap(doc.contents)) throw new ConfigError(`${name}: the configuration is a mapping of keys (port: 8470), not ${describe(doc.toJS())}`);

  const known = Object.keys(options).filter((key) => key !== 'config');
  const plain = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  const config: ConfigFile = { path, values: {}, origins: {}, retentionForce: false };
  for (const pair of doc.contents.items) {
    const keyNode = pair.key;
    const keyOffset = isScalar(keyNode) ? keyNode.range?.[0] : undefined;
    const key = isScalar(keyNode) ? keyNode.value : undefined;
    if (typeof key !== 'string') throw new ConfigError(`${at(keyOffset)}: keys are names, not ${describe(key)}`);
    const where = `${at(keyOffset)}: ${key}`;
    if (Object.hasOwn(RESERVED_KEYS, key)) throw new ConfigError(`${where}: ${RESERVED_KEYS[key]}; remove the key`);
    const value = plain[key] ?? null;
    if (key === 'retention') {
      config.retention = policyFrom(doc, value, where, at);
      continue;
    }
    if (key === 'rules' && typeof value !== 'string') {
      const { folder, disable } = rulesFromConfig(value, where);
      if (folder !== undefined) [config.values.rules, config.origins.rules] = [folder, `rules.folder (${at(keyOffset)})`];
      config.rulesDisabled = disable;
      continue;
    }
    if (key === 'sinks') {
      config.sinks = sinksFromConfig(value, where);
      continue;
    }
    if (key === 'retention-force') {
      // Read before or after `retention:`, it must be known before the policy is judged (below).
      if (typeof value !== 'boolean') throw new ConfigError(`${where}: must be true or false`);
      config.retentionForce = value;
      continue;
    }
    const spec = known.includes(key) ? options[key]! : undefined;
    if (!spec) {
      const suggestion = key === 'config' ? undefined : closest(key, [...known, ...POLICY_KEYS], options);
      throw new ConfigError(
        `${where}: unknown key${key === 'config' ? ' (a configuration file cannot name another)' : suggestion ? ` (did you mean "${suggestion}"?)` : ''}; the keys are the serve flags without "--" (docs/CONFIG.md)`,
      );
    }
    config.values[key] = optionValue(spec, value, where);
    config.origins[key] = `${key} (${at(keyOffset)})`;
  }
  // Short rules are refused here, before the server opens anything, unless the file says to force them.
  const short = config.retention ? shortRules(config.retention).map((rule) => rule.id) : [];
  if (short.length > 0 && !config.retentionForce) {
    throw new ConfigError(
      `${name}: retention: rules ${short.join(', ')} keep events for less than 12 months, below what SOC 2, ISO 27001 and PCI DSS expect; add "retention-force: true" to store them anyway`,
    );
  }
  return config;
}

/**
 * Stores the file's retention policy as the new current version, recorded in the system ledger as
 * `retention set` is, unless it already is the current one (a restart must not add a version each
 * time). Returns the line the start banner shows.
 */
export async function applyConfiguredPolicy(retention: RetentionService, config: ConfigFile): Promise<string | undefined> {
  if (!config.retention) return undefined;
  const name = basename(config.path);
  const current = await retention.policy();
  if (current.version !== null && JSON.stringify(current.policy) === JSON.stringify(config.retention)) {
    return `policy version ${current.version} is the one in ${name}`;
  }
  const { version } = await retention.setPolicy(config.retention, CONFIG_FILE_REQUESTER, config.retentionForce);
  return `policy from ${name} stored as version ${version}${current.version === null ? '' : ` (was ${current.version})`}`;
}

/**
 * The arguments with the file's values filled in wherever a flag or an environment variable did not set
 * the option (it holds its default or nothing). `envOverrides` names further variables that override a
 * key although they are not its option's `env` (SEALTRAIL_ADMIN_TOKEN over `admin-token-file`).
 */
export function withConfigValues(args: ParsedArgs, config: ConfigFile, envOverrides: Record<string, string> = {}): ParsedArgs {
  const values = { ...args.values };
  const origins = { ...args.origins };
  const defaulted = new Set(args.defaulted ?? []);
  for (const [name, value] of Object.entries(config.values)) {
    const setElsewhere = values[name] !== undefined && !defaulted.has(name);
    const overridingEnv = Object.hasOwn(envOverrides, name) ? process.env[envOverrides[name]!] : undefined;
    if (setElsewhere || (overridingEnv !== undefined && overridingEnv !== '')) continue;
    values[name] = value;
    origins[name] = config.origins[name]!;
    defaulted.delete(name);
  }
  return { ...args, values, origins, defaulted: [...defaulted] };
}

/** A key's value as its flag would carry it: text (numbers allowed, `port: 8470`) or a switch. */
function optionValue(spec: OptionSpec, value: unknown, where: string): string | boolean {
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') throw new ConfigError(`${where}: must be true or false, not ${describe(value)}`);
    return value;
  }
  if (spec.multiple) throw new ConfigError(`${where}: a repeatable flag cannot be set from the file yet`);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') throw new ConfigError(`${where}: must be ${spec.value ? `a ${spec.value}` : 'a value'} (text or a number), not ${describe(value)}`);
  if (value === '') throw new ConfigError(`${where}: is empty; leave the key out to use the default`);
  return value;
}

/** `retention:` is the document `sealtrail retention set --file` takes, checked by the same parser. */
function policyFrom(doc: Document, value: unknown, where: string, at: (offset: number | undefined) => string): RetentionPolicy {
  try {
    return parseRetentionPolicy(value);
  } catch (error) {
    if (!(error instanceof SealtrailError)) throw error;
    // The parser names a JSON pointer (/rules/0/retain): point at that line of the file.
    const pointer = typeof error.details.path === 'string' ? error.details.path : '';
    const steps = pointer.split('/').slice(1).map((step) => (/^\d+$/.test(step) ? Number(step) : step));
    const node = doc.getIn(['retention', ...steps], true) as { range?: [number, number] } | undefined;
    const line = node?.range ? at(node.range[0]) : where.slice(0, where.lastIndexOf(':'));
    const key = ['retention', ...steps].join('.');
    throw new ConfigError(`${line}: ${key}: ${error.message}`);
  }
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The known key a mistyped one most likely meant: the same name written another way (rateLimit,
 * rate_limit, SEALTRAIL_RATE_LIMIT, --rate-limit), else the nearest within a few edits.
 */
function closest(key: string, known: readonly string[], options: Record<string, OptionSpec>): string | undefined {
  const plain = (text: string) => text.toLowerCase().replace(/^-+/, '').replace(/[-_]/g, '');
  for (const name of known) {
    const env = options[name]?.env;
    if (plain(name) === plain(key) || (env !== undefined && env.toLowerCase() === key.toLowerCase())) return name;
  }
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const name of known) {
    const distance = editDistance(plain(key), plain(name));
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance (insert, delete, substitute), over two short names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
