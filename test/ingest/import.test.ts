/**
 * Imports: each format's sample file (written from the vendor's documented schema) into a real store,
 * then the events are read back; bad records are reported by file and line without stopping the rest;
 * a re-import adds nothing; the CLI over the API and into a data folder; a large file streams.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { openDeployment, type Deployment } from '../../src/server/deployment.js';
import { importFiles, storeSink, type BadRecord } from '../../src/ingest/import/run.js';
import type { ImportFormat } from '../../src/ingest/import/formats.js';
import { recordFromEntry } from '../../src/core/export/record.js';
import { parseQuery } from '../../src/core/query.js';
import { runCli } from '../helpers/cli.js';
import { buildTestServer } from '../helpers/server.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/ingest/', import.meta.url));
let dir: string;
let deployment: Deployment;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealtrail-import-'));
  deployment = openDeployment({ dataDir: join(dir, 'data'), name: 'import.test' });
});
after(async () => {
  await deployment.store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function importFixture(format: ImportFormat, file: string, ledger = format) {
  await deployment.store.createLedger(ledger);
  const bad: BadRecord[] = [];
  const summary = await importFiles({ format, ledger, files: [join(FIXTURES, file)], sink: storeSink(deployment.store), onBad: (b) => bad.push(b) });
  return { summary, bad };
}

async function events(ledger: string, q = ''): Promise<Array<Record<string, any>>> {
  const page = await deployment.store.search(ledger, { query: parseQuery(q), limit: 1000, order: 'asc' });
  return page.entries.map((hit) => recordFromEntry(hit).event as Record<string, any>);
}

describe('import formats', () => {
  it('cloudtrail: Records files, console logins, errors, roles, services and resources', async () => {
    const { summary, bad } = await importFixture('cloudtrail', 'cloudtrail.json');
    assert.deepEqual([summary.records, summary.imported, summary.bad], [6, 5, 1]);
    assert.equal(bad[0]!.line, 123, 'the record is reported on the line where it ends');
    assert.match(bad[0]!.reason, /eventTime/);
    const [login, failed, get, denied, service] = await events('cloudtrail');
    assert.deepEqual([login!.id, login!.action, login!.category, login!.outcome, login!.occurred_at], ['cloudtrail:3fcfb586-3f0d-4f4b-9b1a-4a1b2c3d4e01', 'signin.console_login', 'auth', 'success', '2026-11-20T08:14:02Z']);
    assert.deepEqual(login!.actor, { type: 'user', id: 'arn:aws:iam::123456789012:user/Alice', name: 'Alice' });
    assert.equal(login!.origin.ip, '203.0.113.10');
    assert.equal(login!.metadata.additionalEventData.MFAUsed, 'Yes');
    assert.deepEqual([failed!.outcome, failed!.outcome_reason], ['failure', 'Failed authentication']);
    assert.deepEqual([get!.action, get!.category, get!.actor.name, get!.actor.session_id], ['s3.get_object', 'read', 'DeployRole', 'ASIAIOSFODNN7EXAMPLE']);
    assert.deepEqual(get!.targets, [{ type: 'AWS::S3::Object', id: 'arn:aws:s3:::payroll-exports/2026/11/payroll.csv' }, { type: 'AWS::S3::Bucket', id: 'arn:aws:s3:::payroll-exports' }]);
    assert.equal(get!.metadata.requestParameters.bucketName, 'payroll-exports');
    assert.deepEqual([denied!.action, denied!.category, denied!.outcome], ['iam.create_access_key', 'create', 'failure']);
    assert.match(denied!.outcome_reason, /^AccessDenied: User: arn/);
    assert.deepEqual([service!.actor, service!.origin, service!.metadata.sourceIPAddress], [{ type: 'service', id: 'cloudtrail.amazonaws.com' }, { user_agent: 'cloudtrail.amazonaws.com' }, 'cloudtrail.amazonaws.com']);
  });

  it('okta: System Log events, failures with reasons, targets', async () => {
    const { summary, bad } = await importFixture('okta', 'okta.json');
    assert.deepEqual([summary.imported, summary.bad], [3, 1]);
    assert.match(bad[0]!.reason, /event id/);
    const [start, failure, add] = await events('okta');
    assert.deepEqual(start!.actor, { type: 'user', id: '00u1qw2e3r4T5y6U7i8o', name: 'Alice Example', email: 'alice@example.com', session_id: '102bZDNFfWaQSyEZQuDgWt-uQ' });
    assert.deepEqual([start!.action, start!.category, start!.outcome, start!.origin.ip], ['user.session.start', 'auth', 'success', '203.0.113.50']);
    assert.equal(start!.metadata.displayMessage, 'User login to Okta');
    assert.deepEqual([failure!.outcome, failure!.outcome_reason], ['failure', 'FAILURE: INVALID_CREDENTIALS']);
    assert.deepEqual([add!.action, add!.category, add!.targets.map((t: any) => t.name)], ['group.user_membership.add', 'create', ['Alice Example', 'Payroll Admins']]);
  });

  it('github: audit log export, operation types, repositories and users as targets', async () => {
    const { summary } = await importFixture('github', 'github.json');
    assert.deepEqual([summary.imported, summary.bad], [4, 1]);
    const [create, member, clone, destroy] = await events('github');
    assert.deepEqual([create!.action, create!.category, create!.actor.id, create!.occurred_at, create!.origin.ip], ['repo.create', 'create', 'octocat', '2025-11-21T08:00:00.000Z', '203.0.113.99']);
    assert.deepEqual(create!.targets, [{ type: 'repository', id: 'example-org/payments-api' }, { type: 'organization', id: 'example-org' }, { type: 'enterprise', id: 'example-corp' }]);
    assert.deepEqual([member!.category, member!.targets[0]], ['update', { type: 'user', id: 'hubot' }]);
    assert.equal(clone!.category, 'read');
    assert.deepEqual([destroy!.category, destroy!.metadata.programmatic_access_type], ['delete', 'Fine-grained personal access token']);
  });

  it('gcp: Cloud Audit Logs entries as JSON Lines, status codes, a bad line skipped', async () => {
    const { summary, bad } = await importFixture('gcp', 'gcp.jsonl');
    assert.deepEqual([summary.imported, summary.bad], [3, 1]);
    assert.equal(bad[0]!.line, 3);
    assert.match(bad[0]!.reason, /not JSON/);
    const [get, iam, denied] = await events('gcp');
    assert.deepEqual([get!.action, get!.category, get!.actor.email, get!.origin.ip], ['storage.objects.get', 'read', 'alice@example.com', '203.0.113.61']);
    assert.deepEqual(get!.targets, [{ type: 'gcs_bucket', id: 'projects/_/buckets/payroll-archive/objects/2026/11.csv' }]);
    assert.deepEqual([iam!.actor.type, iam!.action, iam!.category, iam!.origin.ip], ['service', 'cloudresourcemanager.set_iam_policy', 'update', '2001:db8::1f']);
    assert.equal(iam!.metadata['protoPayload.serviceData'].policyDelta.bindingDeltas[0].member, 'user:mallory@example.com');
    assert.deepEqual([denied!.outcome, denied!.outcome_reason, denied!.category], ['failure', 'code 7: PERMISSION_DENIED', 'delete']);
  });

  it('ocsf: authentication and API activity', async () => {
    const { summary, bad } = await importFixture('ocsf', 'ocsf.jsonl');
    assert.deepEqual([summary.imported, summary.bad], [3, 1]);
    assert.deepEqual([bad[0]!.line, /time/.test(bad[0]!.reason)], [4, true]);
    const [logon, failed, api] = await events('ocsf');
    assert.deepEqual([logon!.action, logon!.category, logon!.actor.id, logon!.actor.name, logon!.origin.ip, logon!.occurred_at], ['authentication.logon', 'auth', 'u-1001', 'alice', '203.0.113.70', '2025-11-22T10:00:00.000Z']);
    assert.deepEqual([failed!.outcome, failed!.outcome_reason], ['failure', 'Invalid password']);
    assert.deepEqual([api!.action, api!.category, api!.actor.session_id, api!.targets], ['billing.update_invoice', 'update', 's-901', [{ type: 'invoice', id: 'inv-42', name: 'Invoice 42' }]]);
  });

  it('re-importing a file adds nothing', async () => {
    await deployment.store.createLedger('again');
    const first = await importFiles({ format: 'okta', ledger: 'again', files: [join(FIXTURES, 'okta.json')], sink: storeSink(deployment.store) });
    const second = await importFiles({ format: 'okta', ledger: 'again', files: [join(FIXTURES, 'okta.json')], sink: storeSink(deployment.store) });
    assert.deepEqual([first.imported, second.imported, second.duplicates], [3, 0, 3]);
    assert.equal((await deployment.store.getLedger('again'))!.size, 3);
  });

  it('streams a large CloudTrail file and keeps oversized records within the event limits', async () => {
    const path = join(dir, 'big.json');
    const out = createWriteStream(path);
    out.write('{"Records":[');
    const count = 20_000;
    for (let i = 0; i < count; i++) {
      const record = { eventID: `e-${i}`, eventTime: '2026-11-20T08:00:00Z', eventName: 'GetObject', eventSource: 's3.amazonaws.com', userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::1:user/u${i % 50}` }, requestParameters: i === 7 ? { blob: 'x'.repeat(40_000) } : { key: `k${i}` } };
      if (!out.write(`${i ? ',' : ''}\n${JSON.stringify(record)}`)) await once(out, 'drain');
    }
    out.end(']}\n');
    await once(out, 'finish');
    await deployment.store.createLedger('big');
    const summary = await importFiles({ format: 'cloudtrail', ledger: 'big', files: [path], sink: storeSink(deployment.store), batchSize: 1000 });
    assert.deepEqual([summary.records, summary.imported, summary.bad, summary.trimmed], [count, count, 0, 1]);
    const trimmed = recordFromEntry((await deployment.store.getEntry('big', 7))!).event as Record<string, any>;
    assert.equal(trimmed.id, 'cloudtrail:e-7');
    assert.equal(trimmed.metadata.requestParameters.blob.length, 2048, 'a long string is cut at 2,048 characters');
    assert.deepEqual(trimmed.metadata.dropped_fields, ['requestParameters (cut)']);
  });
});

describe('sealtrail import', () => {
  it('imports over the API with progress and a summary, reports bad records as FILE:LINE, and re-imports nothing', async () => {
    const server = await buildTestServer();
    try {
      const url = await server.app.listen({ port: 0, host: '127.0.0.1' });
      await server.app.inject({ method: 'PUT', url: '/v1/ledgers/aws', headers: { authorization: `Bearer ${server.adminToken}` } });
      const file = join(FIXTURES, 'cloudtrail.json');
      const args = ['import', '--format', 'cloudtrail', '--ledger', 'aws', '--url', url, '--token', server.adminToken, '--tenant', 'acme', file];
      const first = await runCli(args);
      assert.equal(first.code, 1, 'one bad record: exit status 1');
      assert.match(first.stderr, new RegExp(`${file}:123: no eventTime`));
      assert.match(first.stderr, /6 records in 1 file: 5 imported, 0 already present, 1 bad/);
      const again = await runCli(args);
      assert.match(again.stderr, /0 imported, 5 already present, 1 bad/);
      const found = await server.app.inject({ method: 'GET', url: '/v1/ledgers/aws/events?q=tenant:acme%20outcome:failure', headers: { authorization: `Bearer ${server.adminToken}` } });
      assert.equal(found.json().events.length, 2);
      const usage = await runCli(['import', '--format', 'splunk', '--ledger', 'aws', file]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /--format must be one of cloudtrail, okta, github, gcp, ocsf/);
    } finally {
      await server.cleanup();
    }
  });

  it('imports into a data folder, and refuses a folder that holds no deployment', async () => {
    const data = join(dir, 'cli-data');
    const local = openDeployment({ dataDir: data, name: 'cli.test' });
    await local.store.createLedger('github');
    await local.store.close();
    const result = await runCli(['import', '--format', 'github', '--ledger', 'github', '--data', data, join(FIXTURES, 'github.json')]);
    assert.match(result.stderr, /4 imported/);
    const reopened = openDeployment({ dataDir: data });
    try {
      assert.equal((await reopened.store.getLedger('github'))!.size, 4);
    } finally {
      await reopened.store.close();
    }
    const missing = await runCli(['import', '--format', 'github', '--ledger', 'github', '--data', join(dir, 'nothing-here'), join(FIXTURES, 'github.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /holds no sealtrail deployment/);
  });
});
