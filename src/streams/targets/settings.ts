/**
 * Reading a target's type-specific settings (TargetKind.parseConfig) and the timing every target shares.
 * A sink definition arrives as JSON from the API or the CLI, its names in snake_case like the rest of
 * the API: every setting is checked for its type and range, and an unknown name is an error (a misspelt
 * `ca_file` must not silently mean "no CA").
 */
import { readFile } from 'node:fs/promises';
import { DeliveryError } from '../target.js';

export type Settings = Record<string, unknown>;

/** Setting files (CA, certificate, key) are small; a larger one is a wrong path, not a certificate. */
const MAX_SETTING_FILE_BYTES = 1024 * 1024;

export function rejectUnknownSettings(input: Settings, known: readonly string[], type: string): void {
  for (const name of Object.keys(input)) {
    if (!known.includes(name)) throw new Error(`${type}: unknown setting "${name}" (settings: ${known.join(', ')})`);
  }
}

interface StringRule {
  required?: boolean;
  max?: number;
  pattern?: RegExp;
  /** Shown when the pattern does not match. */
  expected?: string;
}

export function stringSetting(input: Settings, name: string, rule: StringRule & { required: true }): string;
export function stringSetting(input: Settings, name: string, rule?: StringRule): string | undefined;
export function stringSetting(input: Settings, name: string, rule: StringRule = {}): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (rule.required) throw new Error(`${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${name} must be a non-empty string`);
  const max = rule.max ?? 1024;
  if (value.length > max) throw new Error(`${name} is longer than ${max} characters`);
  if (rule.pattern && !rule.pattern.test(value)) throw new Error(`${name} must be ${rule.expected ?? `of the form ${rule.pattern}`}`);
  return value;
}

export function integerSetting(input: Settings, name: string, fallback: number, min: number, max: number): number {
  const value = input[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

export function booleanSetting(input: Settings, name: string, fallback: boolean): boolean {
  const value = input[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new Error(`${name} must be true or false`);
  return value;
}

export function choiceSetting<T extends string>(input: Settings, name: string, choices: readonly T[], fallback: T): T {
  const value = input[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${choices.join(', ')}`);
  }
  return value as T;
}

/** Host names and addresses: no scheme, path, credentials or spaces (each would be a different mistake). */
export const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+)$/;

/** Connect and write limits: every target gives up on a receiver that hangs. */
export interface Timeouts {
  connectTimeoutMs: number;
  writeTimeoutMs: number;
}

export const TIMEOUT_SETTINGS = ['connect_timeout_ms', 'write_timeout_ms'] as const;

export function timeoutSettings(input: Settings, defaults: Timeouts = { connectTimeoutMs: 10_000, writeTimeoutMs: 30_000 }): Timeouts {
  return {
    connectTimeoutMs: integerSetting(input, 'connect_timeout_ms', defaults.connectTimeoutMs, 100, 300_000),
    writeTimeoutMs: integerSetting(input, 'write_timeout_ms', defaults.writeTimeoutMs, 100, 600_000),
  };
}

/** The runtime's abort joined with a deadline (a timeout's reason is a DOMException named TimeoutError). */
export function withDeadline(signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(ms)]);
}

/** Why `signal` stopped a step, as a DeliveryError (transient: a later try may well finish in time). */
export function abortedError(signal: AbortSignal, step: string, ms: number): DeliveryError {
  const reason: unknown = signal.reason;
  if (reason instanceof DOMException && reason.name === 'TimeoutError') return new DeliveryError(`${step} timed out after ${ms} ms`);
  return new DeliveryError(`${step} was cancelled`);
}

/**
 * Rejects as soon as `signal` aborts, else settles as `work` does. `work` itself goes on (a publish
 * already sent cannot be recalled), which is harmless: the runtime resends and receivers de-duplicate.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}

/** Reads a CA, certificate or key file named in the settings, with an error that names the setting. */
export async function readSettingFile(path: string, setting: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new DeliveryError(`${setting} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (data.length > MAX_SETTING_FILE_BYTES) throw new DeliveryError(`${setting} ${path} is larger than ${MAX_SETTING_FILE_BYTES} bytes`);
  return data;
}

/** Trusted CA certificates: `ca` (PEM text, as the webhook takes it) or `ca_file` (a PEM file on the server). */
export type CaSource = { pem: string } | { file: string };

export function caSetting(input: Settings): CaSource | undefined {
  const pem = input.ca;
  const file = stringSetting(input, 'ca_file', { max: 4096 });
  if (pem !== undefined && file !== undefined) throw new Error('give either ca or ca_file, not both');
  if (file !== undefined) return { file };
  if (pem === undefined || pem === null) return undefined;
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----') || pem.length > MAX_SETTING_FILE_BYTES) throw new Error('ca must be PEM certificates');
  return { pem };
}

export async function caCertificates(ca: CaSource | undefined): Promise<Buffer | undefined> {
  if (ca === undefined) return undefined;
  return 'pem' in ca ? Buffer.from(ca.pem, 'utf8') : readSettingFile(ca.file, 'ca_file');
}

/** TLS verification failures by OpenSSL code, so that the error says what is wrong with the certificate. */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A connection error in words an operator can act on; never includes settings, so never a secret. */
export function describeConnectError(error: unknown, receiver: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const detail = error instanceof Error ? error.message : String(error);
  if (code && CERTIFICATE_ERRORS.has(code)) {
    return `${receiver}: its TLS certificate does not verify (${code}: ${detail}); set ca_file (or ca) to the CA that issued it, or fix the certificate's names`;
  }
  if (code === 'ECONNREFUSED') return `${receiver} refused the connection (nothing listens there?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${receiver}: the host name does not resolve (${code})`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `${receiver} closed the connection (${code})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${receiver} cannot be reached (${code})`;
  return `${receiver}: ${code ? `${code}: ` : ''}${detail}`;
}
