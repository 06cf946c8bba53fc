/**
 * A sink's definition: what the API accepts (POST /v1/sinks), how it is checked, and how it is split
 * into what may be shown and stored as is and what is secret (sealed, never returned, never logged).
 */
import { SealtrailError } from '../core/errors.js';
import { parseQuery, type Query } from '../core/query.js';
import { SINK_TYPES, type SinkType } from '../store/sink-state.js';
import type { TargetKind } from './target.js';
import { targetKind } from './targets/index.js';

export const SINK_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const LEDGER_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MAX_LEDGERS = 100;

export interface SinkDefinition {
  name: string;
  type: SinkType;
  ledgers: string[];
  /** A search query (docs/SEARCH.md); '' delivers every event. */
  query: string;
  format: string;
  /** Where a new sink starts in each ledger: the oldest entry (the whole history) or the current end. */
  start: 'oldest' | 'latest';
  /** A batch is delivered once it holds this many records or its first record waited this long. */
  batchSize: number;
  batchMs: number;
  /** Tries of one batch before it is dead-lettered. */
  maxAttempts: number;
  /** Backoff: full jitter over [0, min(retryMaxMs, retryBaseMs·2^attempt)). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** sink.lagging is raised when the sink is this many events or seconds behind (0: never). */
  lagEvents: number;
  lagSeconds: number;
  /** The kind's settings, secrets left out. */
  settings: Record<string, unknown>;
}

/** Members every sink takes; the rest belongs to its type. */
const COMMON = ['name', 'type', 'ledgers', 'query', 'format', 'start', 'batch_size', 'batch_ms', 'max_attempts', 'retry_base_ms', 'retry_max_ms', 'lag_alert_events', 'lag_alert_seconds'];

function invalid(message: string): never {
  throw new SealtrailError('INVALID_ARGUMENT', message);
}

function integer(input: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const value = input[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** Checks a POST /v1/sinks body; returns the definition and the secret settings, apart. */
export function parseSinkInput(input: Record<string, unknown>): { definition: SinkDefinition; secrets: Record<string, unknown>; kind: TargetKind } {
  const { name, type, ledgers, query, format, start } = input;
  if (typeof name !== 'string' || !SINK_NAME_PATTERN.test(name)) invalid('name must be 1-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  if (typeof type !== 'string' || !(SINK_TYPES as readonly string[]).includes(type)) invalid(`type must be one of ${SINK_TYPES.join(', ')}`);
  const kind = targetKind(type as SinkType);
  if (!kind) invalid(`sinks of type ${type} are not available in this build`);
  if (!Array.isArray(ledgers) || ledgers.length === 0 || ledgers.length > MAX_LEDGERS) invalid(`ledgers must list 1 to ${MAX_LEDGERS} ledger names`);
  for (const ledger of ledgers) if (typeof ledger !== 'string' || !LEDGER_NAME.test(ledger)) invalid(`${JSON.stringify(ledger)} is not a ledger name`);
  if (new Set(ledgers).size !== ledgers.length) invalid('ledgers lists a ledger twice');
  if (query !== undefined && typeof query !== 'string') invalid('query must be a search query string');
  if (query) parseQuery(query);
  if (format !== undefined && (typeof format !== 'string' || !kind.formats.includes(format))) invalid(`format must be one of ${kind.formats.join(', ')} for ${type} sinks`);
  if (start !== undefined && start !== 'oldest' && start !== 'latest') invalid('start must be "oldest" or "latest"');
  const specific = Object.fromEntries(Object.entries(input).filter(([key]) => !COMMON.includes(key)));
  let config: Record<string, unknown>;
  try {
    config = kind.parseConfig(specific) as Record<string, unknown>;
  } catch (error) {
    invalid((error as Error).message);
  }
  const settings = Object.fromEntries(Object.entries(config).filter(([key]) => !kind.secretFields.includes(key)));
  const secrets = Object.fromEntries(Object.entries(config).filter(([key]) => kind.secretFields.includes(key)));
  const retryBaseMs = integer(input, 'retry_base_ms', 500, 1, 600_000);
  return {
    kind,
    secrets,
    definition: {
      name,
      type: type as SinkType,
      ledgers: ledgers as string[],
      query: query ?? '',
      format: (format as string | undefined) ?? kind.formats[0]!,
      start: (start as 'oldest' | 'latest' | undefined) ?? 'oldest',
      batchSize: integer(input, 'batch_size', 500, 1, 5000),
      batchMs: integer(input, 'batch_ms', 200, 0, 60_000),
      maxAttempts: integer(input, 'max_attempts', 8, 1, 1000),
      retryBaseMs,
      retryMaxMs: integer(input, 'retry_max_ms', 60_000, retryBaseMs, 3_600_000),
      lagEvents: integer(input, 'lag_alert_events', 100_000, 0, Number.MAX_SAFE_INTEGER),
      lagSeconds: integer(input, 'lag_alert_seconds', 300, 0, 31_536_000),
      settings,
    },
  };
}

/** The stored definition back, checked only for shape: it was validated when created. */
export function readDefinition(json: string): SinkDefinition {
  return JSON.parse(json) as SinkDefinition;
}

export function sinkQuery(definition: SinkDefinition): Query {
  return parseQuery(definition.query);
}
