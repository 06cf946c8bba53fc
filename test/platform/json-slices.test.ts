import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LoopBudget } from '../../src/platform/event-loop.js';
import { stringifyInSlices } from '../../src/platform/json-slices.js';
import { countLoopTurns } from '../helpers/loop-turns.js';

/** Values with containers both sides of the split size, and members JSON.stringify omits or nulls. */
const member = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(undefined, NaN, Infinity, -0, () => 1, Symbol('s'), new Date(0), { toJSON: () => undefined }),
);
const wide = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, member, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 80 }),
  object: fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 80 }),
}));

/** A detector-like state: a few thousand entities, each a small record with arrays. */
function largeState(entities: number): Record<string, unknown> {
  const users: Record<string, unknown> = {};
  for (let i = 0; i < entities; i++) {
    users[`user-${i}`] = { hours: Array.from({ length: 24 }, (_, h) => (i * 7 + h) % 13), seen: [`10.0.${i % 256}.${i % 7}`, 'de'], last: 1_700_000_000_000_000 + i, note: i % 3 === 0 ? undefined : 'x' };
  }
  return { version: 1, users, order: Object.keys(users).slice(0, 500) };
}

describe('stringifyInSlices', () => {
  it('writes exactly what JSON.stringify writes, for any JSON-like value', async () => {
    await fc.assert(
      // A split size of 1–8 nodes writes nearly every container member by member.
      fc.asyncProperty(fc.oneof(wide.array, wide.object), fc.integer({ min: 1, max: 8 }), async (value, smallNodes) => {
        assert.equal(await stringifyInSlices(value, new LoopBudget(0), smallNodes), JSON.stringify(value));
        assert.equal(await stringifyInSlices(value), JSON.stringify(value));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps JSON.stringify key order, integer-like keys first', async () => {
    const value: Record<string, number> = {};
    for (const key of ['b', '10', 'a', '2', ...Array.from({ length: 40 }, (_, i) => `k${i}`)]) value[key] = 1;
    assert.equal(await stringifyInSlices(value), JSON.stringify(value));
    assert.ok((await stringifyInSlices(value)).startsWith('{"2":1,"10":1,"b":1,"a":1'));
  });

  it('hands the event loop back while it writes a large state', async () => {
    const state = largeState(5000);
    const loop = countLoopTurns();
    const budget = new LoopBudget(1);
    const text = await stringifyInSlices(state, budget);
    const turns = loop.stop();
    assert.equal(text, JSON.stringify(state));
    assert.ok(text.length > 500_000, `the state is ${text.length} bytes`);
    // Written at once, no other callback would have run until it returned.
    assert.ok(turns >= 3, `the loop turned ${turns} times during the write`);
    assert.ok(budget.workedMs > 0);
  });

  it('writes a member named __proto__ as a member', async () => {
    const value = JSON.parse(`{"__proto__":{"x":1},${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(',')}}`) as unknown;
    for (const smallNodes of [1, 3, 512]) assert.equal(await stringifyInSlices(value, new LoopBudget(0), smallNodes), JSON.stringify(value));
    assert.ok((await stringifyInSlices(value, new LoopBudget(0), 3)).startsWith('{"__proto__":{"x":1}'));
  });

  it('does not yield at all for a small value', async () => {
    let turned = false;
    setImmediate(() => (turned = true));
    const text = await stringifyInSlices({ a: [1, 2, 3], b: { c: 'd' } }, new LoopBudget(0));
    assert.equal(text, '{"a":[1,2,3],"b":{"c":"d"}}');
    assert.equal(turned, false);
  });
});
