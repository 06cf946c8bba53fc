/** `sealtrail search`: find events with the query language of docs/SEARCH.md; a table or JSON lines. */
import type { SearchResult } from '../../client/index.js';
import { GEO_ATTRIBUTION } from '../../platform/geo.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command } from '../command.js';
import { countOf, TextTable } from '../table.js';

export const searchCommand: Command = {
  name: 'search',
  summary: 'Search a ledger (or several) for events: sealtrail search --ledger L \'actor:alice received:-24h\'',
  usage: 'search [--ledger L]... [--limit N] [--all] [--json] [--stats DIMENSION] QUERY...',
  options: {
    ...SERVER_OPTIONS,
    ledger: { type: 'string', short: 'l', multiple: true, description: 'Ledger to search (repeat for several; default: all you may read).', value: 'L' },
    limit: { type: 'string', description: 'Events per page.', default: '50', value: 'N' },
    all: { type: 'boolean', description: 'Fetch every page, not only the first.' },
    order: { type: 'string', description: 'desc (newest first) or asc; one ledger only.', default: 'desc', value: 'ORDER' },
    json: { type: 'boolean', description: 'Print JSON lines (one event per line) instead of a table.' },
    stats: { type: 'string', description: 'Print counts by actor, action, hour, day, country, outcome, tenant, category, ip or target instead.', value: 'DIMENSION' },
  },
  details: 'The query is every remaining argument joined by spaces; see docs/SEARCH.md for the language.',
  async run(args) {
    const api = serverClient(args);
    const q = args.positionals.join(' ');
    const ledgers = (args.values.ledger as string[] | undefined) ?? [];
    const limit = integerOption(args, 'limit', { min: 1, max: 1000 })!;
    const order = requireString(args, 'order');
    if (order !== 'desc' && order !== 'asc') throw new UsageError('--order is desc or asc');
    const by = optionalString(args, 'stats');
    if (by) {
      if (ledgers.length !== 1) throw new UsageError('--stats needs exactly one --ledger');
      const { buckets } = await api.stats(ledgers[0]!, by, { q, limit });
      if (args.values.json) for (const b of buckets) process.stdout.write(`${JSON.stringify(b)}\n`);
      else if (buckets.length > 0) process.stdout.write(new TextTable(['count', by], new Set([0])).format(buckets.map((b) => [b.count, b.key ?? '(none)'])));
      if (buckets.length === 0) process.stderr.write(`${NO_MATCH}\n`);
      // The bundled geolocation data's licence (CC BY 4.0) asks for attribution wherever it is shown.
      if (by === 'country') process.stderr.write(`countries: ${GEO_ATTRIBUTION}\n`);
      return 0;
    }
    let cursor: string | undefined;
    let shown = 0;
    let located = false;
    const table = new TextTable(COLUMNS);
    do {
      const page =
        ledgers.length === 1
          ? await api.search(ledgers[0]!, { q, limit, order, ...(cursor ? { cursor } : {}) })
          : await api.searchLedgers(ledgers.length ? ledgers : undefined, { q, limit, ...(cursor ? { cursor } : {}) });
      if (args.values.json) for (const result of page.events) process.stdout.write(`${JSON.stringify(result)}\n`);
      else if (page.events.length > 0) process.stdout.write(table.format(page.events.map(row)));
      located ||= page.events.some((r) => r.location?.country !== undefined);
      shown += page.events.length;
      cursor = page.next ?? undefined;
      if (cursor && !args.values.all) process.stderr.write(`(more results: rerun with --all)\n`);
    } while (cursor && args.values.all);
    // Said in both modes (on standard error, so JSON lines stay clean): an empty answer is not a failure to look.
    if (shown === 0) process.stderr.write(`${NO_MATCH}\n`);
    else if (!args.values.json) process.stderr.write(`${countOf(shown, 'event')}\n`);
    if (located) process.stderr.write(`locations: ${GEO_ATTRIBUTION}\n`);
    return 0;
  },
};

const NO_MATCH = 'no events match';

/**
 * Both times: received_at is when sealtrail sealed the event (a batch shares one), occurred_at when the
 * client says it happened, which is what an investigator usually reads.
 */
const COLUMNS = ['received_at', 'occurred_at', 'entry', 'actor', 'action', 'target', 'outcome', 'ip', 'place', 'tenant'];

function row(result: SearchResult): unknown[] {
  const e = result.event as Record<string, any>;
  const actor = e.actor ? `${e.actor.type ?? '?'}:${e.actor.id ?? '?'}` : '-';
  const targets = Array.isArray(e.targets) ? e.targets : [];
  const target = targets[0] ? `${targets[0].type}:${targets[0].id}${targets.length > 1 ? ` (+${targets.length - 1})` : ''}` : '-';
  return [result.received_at, e.occurred_at ?? '-', `${result.ledger}#${result.index}`, actor, e.action ?? '-', target, e.outcome ?? '-', e.origin?.ip ?? '-', place(result), e.tenant ?? '-'];
}

/** "DE Berlin", "private", or "-": where the origin address is, as the server located it. */
function place(result: SearchResult): string {
  const l = result.location;
  if (!l) return '-';
  if (l.reserved) return l.reserved;
  return [l.country, l.city].filter(Boolean).join(' ') || '-';
}
