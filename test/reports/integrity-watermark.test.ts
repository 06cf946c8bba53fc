/**
 * A report's integrity section on a server whose integrity monitor has verified the ledger, on SQLite
 * and PostgreSQL: `full` cites the monitor's watermark (naming the signed checkpoint it covered) and
 * re-derives only what lies beyond it, with a consistency proof an auditor can check offline; an entry
 * tampered beyond the watermark fails the report; one tampered below it, after the monitor verified it,
 * is not re-derived by a `full` report (which says so), fails an `entries` report at once, and fails the
 * `full` report once the monitor's sweep has found it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64 } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { parseVerifierKey, formatVerifierKey } from '../../src/core/note.js';
import { verifyConsistency } from '../../src/core/tree.js';
import { nodeSuite } from '../../src/platform/node-crypto.js';
import type { ReportDocument } from '../../src/reports/report.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import { admin, buildReportServer, END, LEDGER, NAME, START, type ReportServer } from './harness.js';

const PERIOD = `from=${new Date(START / 1000).toISOString()}&to=${new Date(END / 1000).toISOString()}`;
const EVENTS = 2500;

async function integrityOf(server: ReportServer, verify: 'full' | 'entries') {
  const response = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${PERIOD}&ledgers=${LEDGER}&verify=${verify}`, headers: admin });
  assert.equal(response.statusCode, 200, response.body);
  const doc = response.json() as ReportDocument;
  return { doc, integrity: doc.evidence.integrity[0]! };
}

function watermarkSuite(kind: 'sqlite' | 'postgres') {
  describe('beyond the watermark', () => {
    let server: ReportServer;
    before(async () => {
      server = await buildReportServer(kind, EVENTS, { monitored: true });
    });
    after(async () => server?.cleanup());

    it('cites the monitor and names the signed checkpoint its verification covered', async () => {
      const total = server.known.total;
      const status = server.monitor!.status().ledgers.find((l) => l.ledger === LEDGER)!;
      assert.equal(status.state, 'trusted');
      assert.equal(status.verifiedSize, total);
      const { doc, integrity } = await integrityOf(server, 'full');
      assert.equal(integrity.result, 'verified', integrity.reason);
      const cited = integrity.cited!;
      assert.equal(cited.by, 'integrity-monitor');
      assert.equal(cited.verified_size, total);
      // The checkpoint named is the stored, signed one of that size, and its note opens under the deployment's key.
      const head = (await server.store.latestCheckpoint(LEDGER))!;
      assert.equal(cited.checkpoint.size, total);
      assert.equal(cited.checkpoint.root, Buffer.from(head.rootHash).toString('base64'));
      const verifier = parseVerifierKey(nodeSuite, server.verifierKey);
      const opened = openCheckpoint(nodeSuite, cited.checkpoint.note, [verifier], `${NAME}/${LEDGER}`).checkpoint;
      assert.equal(opened.size, total);
      assert.equal(cited.verified_at, status.verifiedAt);
      assert.match(cited.statement, new RegExp(`Entries 0\\.\\.${total - 1}, which include the whole period, were verified by this server's integrity monitor`));
      // Nothing lay beyond the watermark: nothing was re-derived now, and the proof is the empty one.
      assert.deepEqual(integrity.entries, { from: total, to: total });
      assert.deepEqual(integrity.consistency, { from: total, to: total, proof: [], to_checkpoint: cited.checkpoint });
      assert.ok(integrity.verified_now!.some((s) => s.includes(`checkpoint of size ${total} (the monitor's watermark)`)));
      assert.ok(doc.controls.find((c) => c.id === 'CC6.1')!.summary.some((l) => l.includes(`below the integrity monitor's verified checkpoint (${LEDGER} size ${total})`)));

      const html = await server.app.inject({ method: 'GET', url: `/v1/reports/soc2?${PERIOD}&ledgers=${LEDGER}&format=html`, headers: admin });
      assert.ok(html.body.includes(`checkpoint ${total} ${cited.checkpoint.root}`), 'the HTML names the cited checkpoint');
      assert.ok(html.body.includes('this report did not re-derive them'));

      // verify=entries cites nothing and re-derives the period itself.
      const { integrity: own } = await integrityOf(server, 'entries');
      assert.equal(own.result, 'verified');
      assert.equal(own.cited, undefined);
      assert.deepEqual(own.entries, { from: 0, to: total });
    });

    it('re-derives entries appended after the watermark, with a consistency proof that checks offline', async () => {
      const watermark = server.known.total;
      const size = await server.appendAfterPeriod(3, 40);
      assert.equal(size, watermark + 120);
      const { integrity } = await integrityOf(server, 'full');
      assert.equal(integrity.result, 'verified', integrity.reason);
      assert.equal(integrity.cited!.verified_size, watermark, 'the monitor has not run since: its watermark is where it was');
      assert.deepEqual(integrity.entries, { from: watermark, to: size });
      const proof = integrity.consistency!;
      assert.equal(proof.from, watermark);
      assert.equal(proof.to, size);
      assert.ok(proof.proof.length > 0);
      // An auditor's check, from the report alone: the two signed roots and the proof.
      verifyConsistency(nodeSuite, watermark, size, proof.proof.map(fromBase64), fromBase64(integrity.cited!.checkpoint.root), fromBase64(proof.to_checkpoint.root));
    });

    it('fails when an entry beyond the watermark was tampered with', async () => {
      const target = server.known.total + 50;
      await server.tamper(target);
      const { doc, integrity } = await integrityOf(server, 'full');
      assert.equal(integrity.result, 'failed');
      assert.match(integrity.reason!, new RegExp(`entry ${target}: the stored leaf hash is not the hash of its leaf`));
      assert.ok(doc.controls.find((c) => c.id === 'CC7.3')!.summary.some((l) => l.startsWith('VERIFICATION FAILED')));
    });
  });

  describe('below the watermark', () => {
    let server: ReportServer;
    before(async () => {
      server = await buildReportServer(kind, EVENTS, { monitored: true });
    });
    after(async () => server?.cleanup());

    it('says it did not re-derive what it cites; entries mode and the next sweep catch the change', async () => {
      const target = 777;
      await server.tamper(target);
      const full = await integrityOf(server, 'full');
      // Honest about its reach: verified, because nothing it checked now covers entry 777, and it says so.
      assert.equal(full.integrity.result, 'verified');
      assert.match(full.integrity.cited!.statement, /this report did not re-derive them/);
      assert.match(full.integrity.cited!.statement, /found by its next sweep round, not by this report/);
      assert.ok(full.integrity.entries!.from > target);

      const entries = await integrityOf(server, 'entries');
      assert.equal(entries.integrity.result, 'failed');
      assert.match(entries.integrity.reason!, new RegExp(`entry ${target}:`));

      await server.monitor!.runOnce();
      const status = server.monitor!.status().ledgers.find((l) => l.ledger === LEDGER)!;
      assert.equal(status.state, 'broken');
      const after = await integrityOf(server, 'full');
      assert.equal(after.integrity.result, 'failed');
      assert.equal(after.integrity.cited, undefined, 'a broken ledger is not cited');
      assert.match(after.integrity.reason!, new RegExp(`entry ${target}:`));
      assert.ok(after.integrity.verified_now!.some((s) => s.startsWith('The integrity monitor found this ledger broken')));
    });

    it('a completed sweep round is cited with its size and times', async () => {
      // This server's ledger is broken now; a fresh one shows the sweep round.
      const fresh = await buildReportServer(kind, 600, { monitored: true });
      try {
        await fresh.monitor!.runOnce();
        const { integrity } = await integrityOf(fresh, 'full');
        assert.equal(integrity.result, 'verified', integrity.reason);
        const round = integrity.cited!.sweep.last_round!;
        assert.equal(integrity.cited!.sweep.rounds, 1);
        assert.equal(round.size, fresh.known.total);
        assert.ok(Date.parse(round.started_at) <= Date.parse(round.ended_at));
        assert.match(integrity.cited!.statement, new RegExp(`last complete sweep re-derived entries 0\\.\\.${fresh.known.total - 1} again`));
      } finally {
        await fresh.cleanup();
      }
    });
  });
}

describe('report integrity from the monitor watermark: SQLite', () => watermarkSuite('sqlite'));
describe('report integrity from the monitor watermark: PostgreSQL', async () => {
  const unavailable = await postgresUnavailable();
  if (unavailable) {
    it.skip(unavailable);
    return;
  }
  watermarkSuite('postgres');
});
