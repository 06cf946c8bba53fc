/**
 * A process that spools events and waits to be killed (test/client/writer.test.ts): argv are the server
 * URL, token, ledger, spool path and event count. Prints "spooled" once every enqueue has resolved.
 */
import { BatchingWriter } from '../../src/client/index.js';

const [url, token, ledger, spool, count] = process.argv.slice(2) as [string, string, string, string, string];
const writer = await BatchingWriter.open({ url, token, ledger, spool, maxDelayMs: 60_000, maxBatch: 1000, retry: { initialDelayMs: 50, maxDelayMs: 200 } });
for (let i = 0; i < Number(count); i++) {
  await writer.enqueue({ actor: { type: 'user', id: `spooled-${i}` }, action: 'file.download', category: 'read', outcome: 'success' });
}
process.stdout.write('spooled\n');
setInterval(() => {}, 1000);
