/**
 * A small command framework over node:util parseArgs: each command declares its options once, and
 * that declaration drives parsing, environment fallbacks and the `--help` text.
 */
import { parseArgs } from 'node:util';
import { SealtrailClient } from '../client/index.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  description: string;
  /** Environment variable consulted when the flag is absent. */
  env?: string;
  default?: string;
  /** Placeholder shown in help, e.g. DIR. */
  value?: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Extra help text after the options. */
  details?: string;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Options that hold their declared default (neither flag nor environment set them): a config file may. */
  defaulted?: string[];
  /** Where a value came from when not from its flag, e.g. `port (sealtrail.yaml line 3)`: errors name it. */
  origins?: Record<string, string>;
}

/** How an error names an option: its flag, or the config file key that set it. */
export function optionLabel(args: ParsedArgs, name: string): string {
  return (Object.hasOwn(args.origins ?? {}, name) ? args.origins![name] : undefined) ?? `--${name}`;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function helpText(command: Command): string {
  const lines = [`Usage: sealtrail ${command.usage}`, '', command.summary, ''];
  const entries = Object.entries({ ...command.options, help: { type: 'boolean', short: 'h', description: 'Show this help.' } as OptionSpec });
  if (entries.length > 0) lines.push('Options:');
  for (const [name, spec] of entries) {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    const extra = [spec.env ? `env ${spec.env}` : '', spec.default !== undefined ? `default ${spec.default}` : '', spec.multiple ? 'repeatable' : '']
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${flag.padEnd(30)} ${spec.description}${extra ? ` (${extra})` : ''}`);
  }
  if (command.details) lines.push('', command.details);
  return `${lines.join('\n')}\n`;
}

export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) return 'help';
  const values = { ...parsed.values } as ParsedArgs['values'];
  const defaulted: string[] = [];
  for (const [name, spec] of Object.entries(command.options)) {
    if (values[name] !== undefined) continue;
    const fromEnv = spec.env ? process.env[spec.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') values[name] = spec.multiple ? [fromEnv] : fromEnv;
    else if (spec.default !== undefined) {
      values[name] = spec.default;
      defaulted.push(name);
    }
  }
  return { values, positionals: parsed.positionals, defaulted };
}

export function requireString(args: ParsedArgs, name: string, hint = ''): string {
  const value = args.values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`${optionLabel(args, name)} is required${hint ? ` (${hint})` : ''}`);
  return value;
}

export function optionalString(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  return typeof value === 'string' ? value : undefined;
}

export function integerOption(args: ParsedArgs, name: string, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number | undefined {
  const value = optionalString(args, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${optionLabel(args, name)} must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}

/** Connection options shared by every command that talks to a server. */
export const SERVER_OPTIONS: Record<string, OptionSpec> = {
  url: { type: 'string', description: 'Server URL.', env: 'SEALTRAIL_URL', default: 'http://127.0.0.1:8470', value: 'URL' },
  token: { type: 'string', description: 'Bearer token.', env: 'SEALTRAIL_TOKEN', value: 'TOKEN' },
};

/** The client for a command declaring SERVER_OPTIONS. */
export function serverClient(args: ParsedArgs): SealtrailClient {
  return new SealtrailClient({ url: requireString(args, 'url'), token: optionalString(args, 'token') });
}

export const DATA_OPTION: Record<string, OptionSpec> = {
  data: { type: 'string', description: 'Data folder.', env: 'SEALTRAIL_DATA', default: './sealtrail-data', value: 'DIR' },
};
