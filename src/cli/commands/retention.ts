/**
 * `sealtrail retention`, `sealtrail holds` and `sealtrail erase`: retention policy, purge runs, legal
 * holds and GDPR erasure on a running server (docs/RETENTION.md). All need an admin token, except that
 * an auditor may show the policy and list holds.
 */
import { readFileSync } from 'node:fs';
import { countOf } from '../table.js';
import { SealtrailApiError } from '../../client/index.js';
import { quoteValue } from '../../core/query.js';
import { optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command, type ParsedArgs } from '../command.js';

const print = (value: unknown, json: boolean) => process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${JSON.stringify(value, null, 2)}\n`);

export const retentionCommand: Command = {
  name: 'retention',
  summary: 'Show or set the retention policy, or run a purge: retention show | set --file F [--force] | run [--dry-run]',
  usage: 'retention show | retention set --file POLICY.json [--force] | retention run [--dry-run]',
  options: {
    ...SERVER_OPTIONS,
    file: { type: 'string', short: 'f', description: 'Policy file (JSON: {"rules": [...], "erasure": {...}}).', value: 'FILE' },
    force: { type: 'boolean', description: 'Store rules that keep events for less than 12 months.' },
    'dry-run': { type: 'boolean', description: 'Report what a purge would remove, changing nothing.' },
    json: { type: 'boolean', description: 'One line of JSON instead of indented JSON.' },
  },
  details:
    'A rule matches by ledger, action ("auth.*" for a prefix), category and tenant; the most specific\n' +
    'matching rule governs an event, and "retain" is "400d", "18m", "7y" or "forever". Events no rule\n' +
    'matches are kept. Purges remove field values and search rows; leaves and proofs stay.',
  async run(args) {
    const [action, extra] = args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const json = Boolean(args.values.json);
    const api = serverClient(args);
    if (action === 'show') {
      print(await api.retentionPolicy(), json);
    } else if (action === 'set') {
      const file = requireString(args, 'file', 'the policy to store');
      let policy: unknown;
      try {
        policy = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        if (error instanceof SyntaxError) throw new UsageError(`${file} is not JSON: ${error.message}`);
        throw error;
      }
      try {
        const stored = await api.setRetentionPolicy(policy, { force: Boolean(args.values.force) });
        for (const warning of (stored.warnings as string[] | undefined) ?? []) process.stderr.write(`warning: ${warning}\n`);
        print(stored, json);
      } catch (error) {
        if (error instanceof SealtrailApiError && error.code === 'RETENTION_TOO_SHORT') {
          process.stderr.write(`sealtrail retention: ${error.message}\nRerun with --force if this is intended.\n`);
          return 1;
        }
        throw error;
      }
    } else if (action === 'run') {
      const dryRun = Boolean(args.values['dry-run']);
      const summary = (await api.runRetention({ dryRun })) as { purged: number; held: number; rules: Array<Record<string, unknown>> };
      print(summary, json);
      process.stderr.write(`${dryRun ? 'would purge' : 'purged'} ${summary.purged} events; ${summary.held} kept under legal hold\n`);
    } else {
      throw new UsageError('expected `retention show`, `retention set --file F` or `retention run`');
    }
    return 0;
  },
};

export const holdsCommand: Command = {
  name: 'holds',
  summary: 'Legal holds: holds list | create --reason R --owner O [criteria] | release ID --reason R',
  usage: 'holds list | holds create --reason R --owner O [--ledger L]... [--tenant T] [--actor A] [--from T] [--to T] [--query Q] | holds release ID --reason R',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', multiple: true, description: 'Ledger the hold covers (repeat; default: every ledger).', value: 'L' },
    tenant: { type: 'string', description: 'Hold only this tenant\'s events.', value: 'T' },
    actor: { type: 'string', description: 'Hold only this actor\'s events (id or name).', value: 'A' },
    from: { type: 'string', description: 'Hold events received at or after this time (RFC 3339 or date).', value: 'TIME' },
    to: { type: 'string', description: 'Hold events received before this time.', value: 'TIME' },
    query: { type: 'string', short: 'q', description: 'Any further search query (docs/SEARCH.md).', value: 'Q' },
    reason: { type: 'string', description: 'Why (the matter, the request): required.', value: 'TEXT' },
    owner: { type: 'string', description: 'Who answers for the hold: required when creating.', value: 'NAME' },
    json: { type: 'boolean', description: 'One line of JSON instead of indented JSON.' },
  },
  async run(args) {
    const [action, id, extra] = args.positionals;
    const json = Boolean(args.values.json);
    const api = serverClient(args);
    if (action === 'list' && id === undefined) {
      print(await api.listHolds(), json);
    } else if (action === 'create' && id === undefined) {
      const ledgers = (args.values.ledger as string[] | undefined) ?? ['*'];
      const query = holdQuery(args);
      const hold = await api.createHold({ ledgers, query, reason: requireString(args, 'reason'), owner: requireString(args, 'owner') });
      print(hold, json);
    } else if (action === 'release' && id !== undefined && extra === undefined) {
      print(await api.releaseHold(id, requireString(args, 'reason')), json);
    } else {
      throw new UsageError('expected `holds list`, `holds create --reason R --owner O …` or `holds release ID --reason R`');
    }
    return 0;
  },
};

/** Builds the hold's search query from the convenience flags; values are quoted for the query language. */
export function holdQuery(args: ParsedArgs): string {
  const parts: string[] = [];
  const tenant = optionalString(args, 'tenant');
  const actor = optionalString(args, 'actor');
  const from = optionalString(args, 'from');
  const to = optionalString(args, 'to');
  if (tenant) parts.push(`tenant:${quoteValue(tenant)}`);
  if (actor) parts.push(`actor:${quoteValue(actor)}`);
  if (from) parts.push(`received:>=${from}`);
  if (to) parts.push(`received:<${to}`);
  const query = optionalString(args, 'query');
  if (query) parts.push(query);
  return parts.join(' ');
}

export const eraseCommand: Command = {
  name: 'erase',
  summary: "Erase a data subject's personal values from every ledger (GDPR Art. 17): erase --subject S",
  usage: 'erase --subject ID [--reference REF] [--dry-run]',
  options: {
    ...SERVER_OPTIONS,
    subject: { type: 'string', description: 'Actor id, name, e-mail address or IP address of the data subject.', value: 'ID' },
    reference: { type: 'string', description: 'Your request reference, kept in the audit record (the subject is not).', value: 'REF' },
    'dry-run': { type: 'boolean', description: 'Report what would be erased, changing nothing.' },
    json: { type: 'boolean', description: 'One line of JSON instead of indented JSON.' },
  },
  details:
    'Removes the fields named in the policy\'s "erasure" settings (by default actor name and e-mail, origin\n' +
    'IP, user agent and device id) from events whose actor is the subject, targets that are the subject,\n' +
    'and every other field whose value contains the subject (event id, outcome reason, user agent, any\n' +
    'metadata, access records in sealtrail-system). Each removed field shows as "erased"; proofs still\n' +
    'verify. Events under a legal hold are left as they are and counted; what the erasure could not reach\n' +
    '(held events, actor.id kept as a pseudonym, backups, logs, exports) is listed on stderr.',
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError('the subject goes in --subject');
    const dryRun = Boolean(args.values['dry-run']);
    const reference = optionalString(args, 'reference');
    const summary = (await serverClient(args).erase(requireString(args, 'subject'), { dryRun, ...(reference ? { reference } : {}) })) as {
      events: number;
      fieldsRemoved: number;
      held: number;
      ledgers?: Array<{ ledger: string; events: number; held: number; recent?: number }>;
      recentSince?: string;
      notReached?: Array<{ kind: string; where: string; events?: number; reason: string }>;
    };
    print(summary, Boolean(args.values.json));
    process.stderr.write(
      `${dryRun ? 'would erase' : 'erased'} ${countOf(summary.fieldsRemoved, 'value')} in ${countOf(summary.events, 'event')}` +
        (summary.held > 0 ? `; ${summary.held} events under legal hold were left unchanged\n` : '\n'),
    );
    if (dryRun) process.stderr.write(erasureEvidenceReport(summary));
    // What the erasure could not reach is part of its answer, not a detail of the JSON.
    const gaps = summary.notReached ?? [];
    if (gaps.length > 0) {
      process.stderr.write(
        `not reached:\n${gaps.map((g) => `  ${g.kind.padEnd(7)} ${g.where}${g.events !== undefined ? ` (${g.events} event${g.events === 1 ? '' : 's'})` : ''}: ${g.reason}`).join('\n')}\n`,
      );
    }
    return 0;
  },
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The dry run's answer to "would this destroy evidence?" (issue 18): per ledger, the subject's events
 * it would change and those a legal hold keeps; that open alerts are not checked (there are none yet);
 * and a warning when events received lately would be erased with no hold over them.
 */
export function erasureEvidenceReport(summary: {
  held: number;
  ledgers?: Array<{ ledger: string; events: number; held: number; recent?: number }>;
  recentSince?: string;
}): string {
  const ledgers = summary.ledgers ?? [];
  const lines: string[] = [];
  if (ledgers.length > 0) {
    const width = Math.max(6, ...ledgers.map((l) => l.ledger.length));
    lines.push(`${'ledger'.padEnd(width)}  ${'to erase'.padStart(8)}  ${'held'.padStart(8)}  ${'recent'.padStart(8)}`);
    for (const l of ledgers) {
      lines.push(`${l.ledger.padEnd(width)}  ${String(l.events).padStart(8)}  ${String(l.held).padStart(8)}  ${String(l.recent ?? '?').padStart(8)}`);
    }
  }
  lines.push(
    `under legal hold: ${plural(summary.held, 'event')} of the subject's would be left unchanged`,
    'open alerts: not checked; sealtrail has no alerts yet, so nothing tells this erasure an incident is open',
  );
  const recent = ledgers.reduce((sum, l) => sum + (l.recent ?? 0), 0);
  if (recent > 0) {
    const where = ledgers.filter((l) => (l.recent ?? 0) > 0).map((l) => `${l.ledger} ${l.recent}`).join(', ');
    lines.push(
      `warning: ${plural(recent, 'event')} to erase ${recent === 1 ? 'was' : 'were'} received since ${summary.recentSince ?? 'recently'} (${where}) and no legal hold covers ${recent === 1 ? 'it' : 'them'}.`,
      '  If they may be evidence of an incident under investigation (origin IPs, sessions), place a hold first:',
      '  sealtrail holds create --reason R --owner O --actor A (or --query Q), then run this dry run again (docs/RETENTION.md).',
    );
  }
  return `${lines.join('\n')}\n`;
}
