import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { firstSeenDetector, networkOf, userAgentFamily } from '../../../src/detection/behaviour/first-seen.js';
import { DAY, HOUR, MONDAY, Stream, alice, run } from './helpers.js';

const reports = { type: 'service', id: 'svc-reports' };

/** Two weeks of a service account reading files and invoices of tenant acme from one network. */
function serviceHistory(): Stream {
  const stream = new Stream();
  for (let i = 0; i < 300; i++) {
    const at = MONDAY + Math.floor((i * 14 * DAY) / 300);
    stream.add({ actor: reports, at, ip: '10.20.4.11', agent: 'sealtrail-sdk-node/0.1.0 reports-worker/1.4.28', tenant: 'acme', targets: [{ type: i % 2 ? 'file' : 'invoice', id: `x-${i}` }] });
  }
  return stream;
}

describe('first-seen: new countries, ranges, devices and systems', () => {
  it('reports a service account touching another tenant and a kind of system it never used as lateral movement', () => {
    const stream = serviceHistory();
    stream.add({ actor: reports, at: MONDAY + 14 * DAY + HOUR, ip: '10.20.4.11', agent: 'sealtrail-sdk-node/0.1.0 reports-worker/1.4.28', tenant: 'globex', targets: [{ type: 'file', id: 'f-1' }] });
    stream.add({ actor: reports, at: MONDAY + 14 * DAY + 2 * HOUR, ip: '10.20.4.11', agent: 'sealtrail-sdk-node/0.1.0 reports-worker/1.4.28', tenant: 'acme', targets: [{ type: 'secret', id: 'vault/prod/db-root' }] });
    const { findings } = run(firstSeenDetector(), stream.events);
    assert.deepEqual(findings.map((f) => f.severity), ['high', 'high']);
    assert.match(findings[0]!.title, /Lateral movement/);
    assert.match(findings[0]!.summary, /tenant globex/);
    assert.match(findings[1]!.summary, /kind of target secret/);
  });

  it('reports a user’s new country, range and device as low, and another tenant as medium', () => {
    const stream = new Stream();
    for (let i = 0; i < 100; i++) stream.add({ at: MONDAY + i * 3 * HOUR, ip: '81.2.69.160', location: { country: 'GB' }, tenant: 'acme', targets: [{ type: 'file', id: `f${i}` }] });
    stream.add({ at: MONDAY + 13 * DAY, ip: '179.97.1.2', location: { country: 'BR' }, agent: 'curl/8.5.0', tenant: 'acme', targets: [{ type: 'file', id: 'f1' }] });
    stream.add({ at: MONDAY + 13 * DAY + HOUR, ip: '81.2.69.160', location: { country: 'GB' }, tenant: 'globex', targets: [{ type: 'file', id: 'f1' }] });
    const { findings } = run(firstSeenDetector(), stream.events);
    assert.equal(findings.length, 2);
    assert.equal(findings[0]!.severity, 'low');
    assert.match(findings[0]!.summary, /country BR, address range 179\.97\.1\.0\/24, device curl/);
    assert.equal(findings[1]!.severity, 'medium');
  });

  it('keeps quiet at full severity for an actor whose values keep changing (Good–Turing)', () => {
    const stream = new Stream();
    const key = { type: 'api_key', id: 'ak_1' };
    // Every event a new kind of record: a new kind is what this key does.
    for (let i = 0; i < 120; i++) stream.add({ actor: key, at: MONDAY + i * 3 * HOUR, tenant: 'acme', targets: [{ type: `kind-${i}`, id: 'r' }] });
    const { findings } = run(firstSeenDetector(), stream.events);
    assert.ok(findings.length > 0);
    assert.ok(findings.every((f) => f.severity === 'low'));
  });

  it('learns first: nothing for an actor with few events or a short history', () => {
    const stream = new Stream();
    for (let i = 0; i < 30; i++) stream.add({ actor: reports, at: MONDAY + i * DAY, tenant: 'acme' });
    stream.add({ actor: reports, at: MONDAY + 31 * DAY, tenant: 'globex' });
    assert.deepEqual(run(firstSeenDetector(), stream.events).findings, [], 'only 30 events');
    const short = serviceHistory();
    short.events.splice(150); // one week
    short.add({ actor: reports, at: MONDAY + 7 * DAY - HOUR, tenant: 'globex' });
    assert.deepEqual(run(firstSeenDetector({ learningMicros: 0 }), short.events).findings, [], 'a week is not enough');
  });

  it('gives the same findings across JSON round trips of its state, and on imported history', () => {
    const stream = serviceHistory();
    stream.add({ actor: reports, at: MONDAY + 15 * DAY, tenant: 'globex', location: { country: 'RU' }, ip: '95.24.1.2' });
    const straight = run(firstSeenDetector(), stream.events).findings;
    assert.equal(straight.length, 1);
    assert.deepEqual(run(firstSeenDetector(), stream.events, { roundTripEvery: 17 }).findings, straight);
    const imported = stream.events.map((e) => ({ ...e, receivedAtMicros: MONDAY + 90 * DAY }));
    assert.deepEqual(run(firstSeenDetector(), imported).findings, straight);
  });

  it('keeps its state bounded: values per actor and actors', () => {
    const stream = new Stream();
    for (let i = 0; i < 500; i++) stream.add({ at: MONDAY + i * HOUR, ip: `203.0.${i % 250}.${1 + (i % 200)}`, tenant: `t${i}` });
    for (let i = 0; i < 300; i++) stream.add({ actor: { type: 'user', id: `u${i}` }, at: MONDAY + 600 * HOUR + i });
    const { state } = run(firstSeenDetector({ maxActors: 200, maxValues: 16 }), stream.events);
    assert.equal(state.actors.size, 200);
    for (const seen of Object.values(state.actors.entries)) for (const values of Object.values(seen.values)) assert.ok(values.counts.length <= 16);
  });

  it('names address ranges and device families', () => {
    assert.equal(networkOf('203.0.113.77'), '203.0.113.0/24');
    assert.equal(networkOf('2001:db8:1234:5678::1'), '2001:db8:1234::/48');
    assert.equal(networkOf('not an address'), undefined);
    assert.equal(userAgentFamily('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'), 'Edge on Windows');
    assert.equal(userAgentFamily('Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1'), 'Safari on iOS');
    assert.equal(userAgentFamily('python-requests/2.32.3'), 'python-requests');
    void alice;
  });
});
