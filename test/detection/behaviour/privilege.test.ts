import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { privilegeDetector } from '../../../src/detection/behaviour/privilege.js';
import { behaviouralDetectors } from '../../../src/detection/behaviour/index.js';
import { DAY, HOUR, MONDAY, Stream, alice, run } from './helpers.js';

const admin = { type: 'user', id: 'root-admin' };
const grant = (stream: Stream, at: number, actor: { type: string; id: string }, to: string, role: string) =>
  stream.add({ actor, at, action: 'role.grant', category: 'admin', targets: [{ type: 'user', id: to }, { type: 'role', id: role }] });

/** Three weeks: alice works (no admin), the admin administers. */
function history(): Stream {
  const stream = new Stream();
  stream.daily(MONDAY, 21, 15, 9, 17, { actor: alice });
  stream.daily(MONDAY, 21, 2, 9, 17, { actor: admin, action: 'user.invite', category: 'admin', targets: [{ type: 'user', id: 'new' }] });
  stream.events.sort((a, b) => a.timeMicros - b.timeMicros).forEach((e, i) => (e.index = i));
  return stream;
}

describe('privilege escalation', () => {
  it('reports a user granting itself admin as critical, from the very first event', () => {
    const stream = new Stream();
    grant(stream, MONDAY, alice, 'alice', 'admin');
    grant(stream, MONDAY + HOUR, alice, 'alice', 'viewer');
    const { findings } = run(privilegeDetector(), stream.events);
    assert.deepEqual(findings.map((f) => f.severity), ['critical', 'high']);
    assert.match(findings[0]!.summary, /granted itself role admin/);
  });

  it('reports a grant by someone never administrative: high for admin, medium otherwise; low for a practised admin', () => {
    const stream = history();
    grant(stream, MONDAY + 21 * DAY + 10 * HOUR, alice, 'bob', 'admin');
    grant(stream, MONDAY + 21 * DAY + 11 * HOUR, admin, 'carol', 'admin');
    const { findings } = run(privilegeDetector(), stream.events);
    assert.deepEqual(findings.map((f) => [f.actor!.id, f.severity]), [['alice', 'high'], ['root-admin', 'low']]);
    const editor = history();
    grant(editor, MONDAY + 21 * DAY + 10 * HOUR, alice, 'bob', 'editor');
    assert.deepEqual(run(privilegeDetector(), editor.events).findings.map((f) => f.severity), ['medium']);
    const failed = history();
    failed.add({ actor: alice, at: MONDAY + 21 * DAY + 10 * HOUR, action: 'role.grant', category: 'admin', outcome: 'failure', targets: [{ type: 'role', id: 'admin' }] });
    assert.deepEqual(run(privilegeDetector(), failed.events).findings, [], 'a refused grant grants nothing');
  });

  it('needs history before calling anyone a novice, survives JSON round trips and stays bounded', () => {
    const early = new Stream().daily(MONDAY, 10, 30, 9, 17, { actor: alice });
    grant(early, MONDAY + 10 * DAY, alice, 'bob', 'admin');
    assert.deepEqual(run(privilegeDetector(), early.events).findings.map((f) => f.severity), ['low'], 'ten days of history: only the record of an admin grant');
    const stream = history();
    grant(stream, MONDAY + 21 * DAY + 10 * HOUR, alice, 'bob', 'admin');
    grant(stream, MONDAY + 21 * DAY + 12 * HOUR, alice, 'alice', 'owner');
    const straight = run(privilegeDetector(), stream.events).findings;
    assert.equal(straight.length, 2);
    assert.deepEqual(run(privilegeDetector(), stream.events, { roundTripEvery: 41 }).findings, straight);
    const many = new Stream();
    for (let i = 0; i < 300; i++) many.add({ actor: { type: 'user', id: `u${i}` }, at: MONDAY + i });
    assert.equal(run(privilegeDetector({ maxActors: 30 }), many.events).state.actors.size, 30);
  });
});

describe('behaviouralDetectors', () => {
  it('lists every detector with a distinct id, learning period and description; leaves out disabled ones', () => {
    const all = behaviouralDetectors();
    assert.equal(new Set(all.map((d) => d.id)).size, all.length);
    assert.ok(all.length >= 6);
    for (const d of all) {
      assert.ok(d.description.length > 20 && d.learningMicros >= 0 && d.technique);
      assert.deepEqual(JSON.parse(JSON.stringify(d.initialState())), d.initialState());
    }
    assert.equal(behaviouralDetectors({ disabled: ['behaviour.off-hours'] }).length, all.length - 1);
  });
});
