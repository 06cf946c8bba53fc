/**
 * Detection on a running server (docs/DETECTION.md): `sealtrail alerts`, `sealtrail rules` and
 * `sealtrail detect --backfill`. `rules test FILE` needs no server: it compiles the file with the same
 * compiler the server uses and runs it over sample events.
 */
import { readFileSync } from 'node:fs';
import { SealtrailApiError } from '../../client/index.js';
import { validateEvent } from '../../core/event.js';
import { eventTimeMicros, rfc3339Micros } from '../../core/event-time.js';
import { ConfigError } from '../../server/deployment.js';
import { builtinRuleFiles, testRuleFile } from '../../detection/sigma/index.js';
import type { JudgedEvent } from '../../detection/detector.js';
import { TextTable } from '../table.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, UsageError, type Command, type ParsedArgs } from '../command.js';

const print = (value: unknown, json: boolean) => process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${JSON.stringify(value, null, 2)}\n`);

/** A JSON request to the server with the command's --url and --token; errors as the client raises them. */
function api(args: ParsedArgs) {
  const base = requireString(args, 'url').replace(/\/+$/, '');
  const token = optionalString(args, 'token');
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: kept as text for the error.
    }
    if (!response.ok) {
      const error = parsed as { error?: string; message?: string };
      throw new SealtrailApiError(response.status, error.error ?? `HTTP_${response.status}`, error.message ?? `${method} ${path} answered ${response.status}`, parsed);
    }
    return parsed as T;
  };
}

const query = (params: Record<string, string | undefined>) => {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== '') as Array<[string, string]>;
  return pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
};

interface AlertJson {
  id: string;
  severity: string;
  status: string;
  rule: string;
  ledger: string;
  actor: { type: string; id: string } | null;
  count: number;
  last_seen: string;
  summary: string;
}

export const alertsCommand: Command = {
  name: 'alerts',
  summary: 'Alerts raised by detection: alerts list [filters] | show ID | ack ID | close ID --reason R',
  usage: 'alerts list [--status S] [--severity S] [--ledger L] [--rule R] [--actor ID [--actor-type T]] [--limit N] [--cursor C] [--all] [--json] | alerts show ID | alerts ack ID | alerts close ID --reason TEXT',
  options: {
    ...SERVER_OPTIONS,
    status: { type: 'string', description: 'open, acknowledged or closed.', value: 'S' },
    severity: { type: 'string', description: 'low, medium, high or critical.', value: 'S' },
    ledger: { type: 'string', short: 'l', description: 'Only alerts of this ledger.', value: 'L' },
    rule: { type: 'string', description: 'Only alerts of this rule id.', value: 'R' },
    actor: { type: 'string', description: 'Only alerts about this actor id.', value: 'ID' },
    'actor-type': { type: 'string', description: 'With --actor: only this type of actor (user, service, …).', value: 'T' },
    limit: { type: 'string', description: 'Alerts per page (1–1000).', default: '100', value: 'N' },
    cursor: { type: 'string', description: 'Continue from the `next` a previous page printed.', value: 'C' },
    all: { type: 'boolean', description: 'Follow every page.' },
    reason: { type: 'string', description: 'Why the alert is closed (required for close).', value: 'TEXT' },
    json: { type: 'boolean', description: 'JSON instead of a table (list) or indented JSON.' },
  },
  details:
    'Alerts are listed newest first. Acknowledging and closing are sealed in the system ledger\n' +
    '(alert.acknowledge, alert.close) with the key that did it. Any key that may read the alert\'s ledger\n' +
    'and tenant may read and handle it.',
  async run(args) {
    const [action, id, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const json = Boolean(args.values.json);
    const call = api(args);
    const alertPath = () => {
      if (!id) throw new UsageError(`alerts ${action} needs the alert id`);
      return `/v1/alerts/${encodeURIComponent(id)}`;
    };
    if ((action === 'list' || action === undefined) && id === undefined) {
      await listAlerts(args, call, json);
    } else if (action === 'show') {
      print(await call('GET', alertPath()), json);
    } else if (action === 'ack' || action === 'acknowledge') {
      print(await call('POST', `${alertPath()}/acknowledge`), json);
    } else if (action === 'close') {
      const path = alertPath();
      print(await call('POST', `${path}/close`, { reason: requireString(args, 'reason', 'why the alert is closed') }), json);
    } else {
      throw new UsageError('expected `alerts list`, `alerts show ID`, `alerts ack ID` or `alerts close ID --reason R`');
    }
    return 0;
  },
};

async function listAlerts(args: ParsedArgs, call: ReturnType<typeof api>, json: boolean): Promise<void> {
  const limit = String(integerOption(args, 'limit', { min: 1, max: 1000 }) ?? 100);
  const filters = { status: optionalString(args, 'status'), severity: optionalString(args, 'severity'), ledger: optionalString(args, 'ledger'), rule: optionalString(args, 'rule'), actor: optionalString(args, 'actor'), actor_type: optionalString(args, 'actor-type'), limit };
  let cursor = optionalString(args, 'cursor');
  const alerts: AlertJson[] = [];
  let next: string | null = null;
  do {
    const page: { alerts: AlertJson[]; next: string | null } = await call('GET', `/v1/alerts${query({ ...filters, cursor })}`);
    alerts.push(...page.alerts);
    next = page.next;
    cursor = next ?? undefined;
  } while (args.values.all && next !== null);
  if (json) {
    process.stdout.write(`${JSON.stringify({ alerts, next })}\n`);
    return;
  }
  const rows = alerts.map((a) => [a.id, a.severity, a.status, a.rule, a.ledger, a.actor ? `${a.actor.type}:${a.actor.id}` : '', String(a.count), a.last_seen, a.summary]);
  process.stdout.write(new TextTable(['id', 'severity', 'status', 'rule', 'ledger', 'actor', 'count', 'last_seen', 'summary'], new Set([6])).format(rows));
  if (next !== null) process.stderr.write(`more: --cursor ${next} (or --all)\n`);
}

interface RuleJson {
  id: string;
  title: string;
  enabled: boolean;
  severity: string;
  source: string;
  technique: string | null;
}

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'Detection rules: rules list | test FILE [--events F] | enable ID | disable ID | add FILE | remove ID',
  usage: 'rules list [--json] | rules test FILE [--events EVENTS.jsonl] | rules enable ID | rules disable ID | rules add FILE | rules remove ID',
  options: {
    ...SERVER_OPTIONS,
    events: { type: 'string', description: 'test: events to run the rule over, one JSON event a line (the body of POST …/events, or an export record with "event").', value: 'FILE' },
    json: { type: 'boolean', description: 'JSON instead of a table.' },
  },
  details:
    '`rules test` compiles FILE with the built-in pack (so its correlations may refer to pack rules) and\n' +
    'prints each rule and the events it matched; a rule that does not compile is reported with its line\n' +
    'and the feature, and the exit status is 1. It needs no server. enable, disable, add and remove need an\n' +
    'admin key and are sealed in the system ledger.',
  async run(args) {
    const [action, target, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const json = Boolean(args.values.json);
    if (action === 'test' && target) return testRules(target, optionalString(args, 'events'), json);
    const call = api(args);
    if ((action === 'list' || action === undefined) && target === undefined) {
      const { rules } = await call<{ rules: RuleJson[] }>('GET', '/v1/detection');
      if (json) print({ rules }, true);
      else process.stdout.write(new TextTable(['id', 'enabled', 'severity', 'source', 'technique', 'title']).format(rules.map((r) => [r.id, r.enabled ? 'yes' : 'no', r.severity, r.source, r.technique ?? '', r.title])));
    } else if ((action === 'enable' || action === 'disable') && target) {
      print(await call('POST', `/v1/detection/rules/${encodeURIComponent(target)}/${action}`), json);
    } else if (action === 'add' && target) {
      print(await call('POST', '/v1/detection/rules', { yaml: readFileSync(target, 'utf8') }), json);
    } else if (action === 'remove' && target) {
      print(await call('DELETE', `/v1/detection/rules/${encodeURIComponent(target)}`), json);
    } else {
      throw new UsageError('expected `rules list`, `rules test FILE`, `rules enable ID`, `rules disable ID`, `rules add FILE` or `rules remove ID`');
    }
    return 0;
  },
};

/** Compiles and runs one rule file locally; exit status 1 when it does not compile. */
function testRules(path: string, eventsPath: string | undefined, json: boolean): number {
  const events = eventsPath ? sampleEvents(eventsPath) : [];
  let result;
  try {
    result = testRuleFile(path, readFileSync(path, 'utf8'), events, builtinRuleFiles());
  } catch (error) {
    if ((error as Error).name !== 'SigmaRuleError') throw error;
    process.stderr.write(`sealtrail rules: ${(error as Error).message}\n`);
    return 1;
  }
  if (json) {
    print(result, true);
    return 0;
  }
  for (const rule of result.rules) {
    const where = rule.matches.map((m) => m.index).join(', ');
    process.stdout.write(`${rule.id}  ${rule.kind}${rule.raisesFindings ? '' : ' (quiet: used by a correlation)'}  ${rule.title}\n  matched ${rule.matches.length} of ${events.length} events${where ? `: ${where}` : ''}\n`);
  }
  for (const finding of result.findings) process.stdout.write(`finding ${finding.rule} [${finding.severity}] ${finding.summary}\n`);
  return 0;
}

/** Events of a JSON Lines file as the engine would judge them, in file order as ledger "test". */
function sampleEvents(path: string): JudgedEvent[] {
  const now = Date.now() * 1000;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new UsageError(`${path} line ${index + 1}: not JSON`);
      }
      const received = typeof value.received_at === 'string' ? (rfc3339Micros(value.received_at) ?? now) : now;
      const event = validateEvent((value.event ?? value) as never) as unknown as Record<string, unknown>;
      return { ledger: 'test', index, timeMicros: eventTimeMicros(event.occurred_at, received), receivedAtMicros: received, event };
    });
}

interface BackfillJson {
  id: string;
  ledger: string;
  from: number;
  to: number;
  judged: number;
  alerts_opened: number;
  state: 'running' | 'done' | 'failed';
  error: string | null;
}

export const detectCommand: Command = {
  name: 'detect',
  summary: 'Re-run detection over history: detect --backfill --ledger L [--from I]',
  usage: 'detect --backfill --ledger L [--from I] [--json]',
  options: {
    ...SERVER_OPTIONS,
    backfill: { type: 'boolean', description: 'Judge the ledger again from --from (required).' },
    ledger: { type: 'string', short: 'l', description: 'Ledger to judge again.', value: 'L' },
    from: { type: 'string', description: 'First index to judge.', default: '0', value: 'I' },
    json: { type: 'boolean', description: 'Print the finished job as JSON.' },
  },
  details:
    'A backfill judges entries [I, size) of the ledger with every enabled rule from fresh state: baselines\n' +
    'are learned anew from I, so learning periods apply again. Findings that an alert already holds are\n' +
    'not raised twice; new ones open or join alerts as live findings do. The live cursor is not moved.\n' +
    'Progress is printed to stderr; needs an admin key; sealed as detection.backfill.',
  async run(args) {
    if (!args.values.backfill) throw new UsageError('--backfill is required (it is the only thing detect does)');
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const call = api(args);
    const ledger = requireString(args, 'ledger');
    const from = integerOption(args, 'from') ?? 0;
    let job = await call<BackfillJson>('POST', '/v1/detection/backfills', { ledger, from });
    while (job.state === 'running') {
      process.stderr.write(`backfill ${job.id}: ${job.judged} of ${job.to - job.from} events judged, ${job.alerts_opened} alerts opened\r`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      job = await call<BackfillJson>('GET', `/v1/detection/backfills/${encodeURIComponent(job.id)}`);
    }
    process.stderr.write(`backfill ${job.id}: ${job.state}, ${job.judged} of ${job.to - job.from} events judged, ${job.alerts_opened} alerts opened${job.error ? `: ${job.error}` : ''}\n`);
    if (args.values.json) print(job, true);
    return job.state === 'done' ? 0 : 1;
  },
};

/**
 * The config file's `rules:` (src/cli/config.ts): a folder, or `{folder: DIR, disable: [rule ids]}`.
 * Disabled ids are applied at start as `rules disable` would, sealed, where the stored setting differs.
 */
export function rulesFromConfig(value: unknown, where: string): { folder?: string; disable: string[] } {
  if (typeof value === 'string' && value !== '') return { folder: value, disable: [] };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${where}: a rule folder, or a mapping with folder: and disable:`);
  const { folder, disable, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new ConfigError(`${where}: unknown key ${JSON.stringify(unknown)} (folder, disable)`);
  if (folder !== undefined && (typeof folder !== 'string' || folder === '')) throw new ConfigError(`${where}: folder must be a path`);
  if (disable !== undefined && (!Array.isArray(disable) || disable.some((id) => typeof id !== 'string' || id === ''))) throw new ConfigError(`${where}: disable must be a list of rule ids`);
  return { ...(folder !== undefined ? { folder: folder as string } : {}), disable: (disable as string[] | undefined) ?? [] };
}
