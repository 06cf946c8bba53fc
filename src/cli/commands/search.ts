/** `sealtrail search`: find events with the query language of docs/SEARCH.md; a table or JSON lines. */
import type { SearchResult } from '../../client/index.js';
import { GEO_ATTRIBUTION } from '../../platform/geo.js';
import { integerOption, optionalString, requireString, SERVER_OPTIONS, serverClient, UsageError, type Command } from '../command.js';

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
    stats: { type: 'string', description: 'Print counts by actor, action, hour, country, outcome, tenant or category instead.', value: 'DIMENSION' },
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
      for (const b of buckets) process.stdout.write(args.values.json ? `${JSON.stringify(b)}\n` : `${String(b.count).padStart(10)}  ${b.key ?? '(none)'}\n`);
      // The bundled geolocation data's licence (CC BY 4.0) asks for attribution wherever it is shown.
      if (by === 'country') process.stderr.write(`countries: ${GEO_ATTRIBUTION}\n`);
      return 0;
    }
    let cursor: string | undefined;
    let shown = 0;
    let located = false;
    do {
      const page =
        ledgers.length === 1
          ? await api.search(ledgers[0]!, { q, limit, order, ...(cursor ? { cursor } : {}) })
          : await api.searchLedgers(ledgers.length ? ledgers : undefined, { q, limit, ...(cursor ? { cursor } : {}) });
      for (const result of page.events) process.stdout.write(args.values.json ? `${JSON.stringify(result)}\n` : `${row(result)}\n`);
      located ||= page.events.some((r) => r.location?.country !== undefined);
      shown += page.events.length;
      cursor = page.next ?? undefined;
      if (cursor && !args.values.all) process.stderr.write(`(more results: rerun with --all)\n`);
    } while (cursor && args.values.all);
    if (!args.values.json) process.stderr.write(`${shown} events\n`);
    if (located) process.stderr.write(`locations: ${GEO_ATTRIBUTION}\n`);
    return 0;
  },
};

function row(result: SearchResult): string {
  const e = result.event as Record<string, any>;
  const actor = e.actor ? `${e.actor.type ?? '?'}:${e.actor.id ?? '?'}` : '-';
  const target = Array.isArray(e.targets) && e.targets[0] ? `${e.targets[0].type}:${e.targets[0].id}` : '-';
  const cells = [result.received_at, `${result.ledger}#${result.index}`, actor, e.action ?? '-', target, e.outcome ?? '-', e.origin?.ip ?? '-', place(result), e.tenant ?? '-'];
  return cells.map((c) => String(c).replace(/[\t\r\n]/g, ' ')).join('\t');
}

/** "DE Berlin", "private", or "-": where the origin address is, as the server located it. */
function place(result: SearchResult): string {
  const l = result.location;
  if (!l) return '-';
  if (l.reserved) return l.reserved;
  return [l.country, l.city].filter(Boolean).join(' ') || '-';
}
