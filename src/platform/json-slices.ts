/**
 * JSON.stringify for large values on the thread that serves HTTP: the detection engine snapshots every
 * detector's state at each step, and one behavioural detector's state of a few thousand users is ~1 MB
 * of JSON, 10–30 ms of JSON.stringify at once. Here a large array or object is written in runs of its
 * members of at most SMALL_NODES nodes, each run by one JSON.stringify call, and the loop is handed back
 * whenever the budget is spent, so no turn holds it for much longer than the budget. The text is
 * exactly JSON.stringify's for JSON data; the CPU time is about twice as much.
 */
import { LoopBudget } from './event-loop.js';

/**
 * A value of at most this many nodes (members, at any depth) is written by one JSON.stringify call:
 * ~10–50 µs, far below a budget. A larger one is split.
 */
const SMALL_NODES = 512;

/**
 * The same text as JSON.stringify(value) for JSON data (plain objects, arrays, strings, finite numbers,
 * booleans, null; members that JSON.stringify omits or nulls are omitted or nulled the same way),
 * yielding to the event loop whenever `budget` is spent. The value must not change until it resolves.
 * `smallNodes` is for tests, which split nearly everything to exercise the joins.
 */
export async function stringifyInSlices(value: unknown, budget = new LoopBudget(), smallNodes = SMALL_NODES): Promise<string> {
  const parts: string[] = [];
  await new SlicedWriter(parts, budget, smallNodes).write(value);
  return parts.join('');
}

/** JSON.stringify of one member: undefined, functions and symbols give undefined (omitted, or null in arrays). */
const leaf = (value: unknown): string | undefined => JSON.stringify(value) as string | undefined;

class SlicedWriter {
  constructor(
    private readonly parts: string[],
    private readonly budget: LoopBudget,
    private readonly smallNodes: number,
  ) {}

  /** True when `value` is written by JSON.stringify at once: not a container, a small one, or one with toJSON. */
  private isSmall(value: unknown): boolean {
    return this.nodesUpTo(value, this.smallNodes) <= this.smallNodes;
  }

  /** The nodes of `value` (members at any depth), counted until they pass `cap`; no array is allocated. */
  private nodesUpTo(value: unknown, cap: number): number {
    if (typeof value !== 'object' || value === null) return 0;
    // An object with toJSON (a Date, for instance) is JSON.stringify's to write.
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return 0;
    // Only containers are descended into: a call per number of a long array cost more than writing it.
    let nodes = 0;
    if (Array.isArray(value)) {
      nodes = value.length;
      for (let i = 0; i < value.length && nodes <= cap; i++) {
        const member: unknown = value[i];
        if (typeof member === 'object' && member !== null) nodes += this.nodesUpTo(member, cap - nodes);
      }
      return nodes;
    }
    const object = value as Record<string, unknown>;
    for (const key in object) {
      const member = object[key];
      nodes += typeof member === 'object' && member !== null ? 1 + this.nodesUpTo(member, cap - nodes) : 1;
      if (nodes > cap) break;
    }
    return nodes;
  }

  async write(value: unknown): Promise<void> {
    const { parts } = this;
    if (this.isSmall(value)) {
      parts.push(leaf(value) ?? 'null');
      return;
    }
    if (Array.isArray(value)) await this.writeArray(value);
    else await this.writeObject(value as Record<string, unknown>);
  }

  /**
   * Small members are gathered into runs of up to `smallNodes` nodes, each written by one
   * JSON.stringify (one call per member cost twice the time of writing the whole at once).
   */
  private async writeArray(array: unknown[]): Promise<void> {
    const { parts, budget } = this;
    parts.push('[');
    let runStart = 0;
    let runNodes = 0;
    const flush = (end: number) => {
      if (end > runStart) parts.push((runStart > 0 ? ',' : '') + leaf(array.slice(runStart, end))!.slice(1, -1));
    };
    for (let i = 0; i < array.length; i++) {
      const nodes = 1 + this.nodesUpTo(array[i], this.smallNodes);
      if (nodes <= this.smallNodes && runNodes + nodes <= this.smallNodes) {
        runNodes += nodes;
        continue;
      }
      flush(i);
      if (budget.spent) await budget.yield();
      if (nodes <= this.smallNodes) {
        runStart = i;
        runNodes = nodes;
        continue;
      }
      if (i > 0) parts.push(',');
      await this.write(array[i]);
      runStart = i + 1;
      runNodes = 0;
      if (budget.spent) await budget.yield();
    }
    flush(array.length);
    parts.push(']');
  }

  private async writeObject(object: Record<string, unknown>): Promise<void> {
    const { parts, budget } = this;
    parts.push('{');
    let written = false;
    // Without a prototype, a member named __proto__ is a member like any other.
    let run: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    let runNodes = 0;
    const flush = () => {
      const text = leaf(run)!;
      if (text.length > 2) {
        parts.push((written ? ',' : '') + text.slice(1, -1));
        written = true;
      }
      run = Object.create(null) as Record<string, unknown>;
      runNodes = 0;
    };
    for (const key of Object.keys(object)) {
      const child = object[key];
      const nodes = 1 + this.nodesUpTo(child, this.smallNodes);
      if (nodes <= this.smallNodes) {
        if (runNodes + nodes > this.smallNodes) {
          flush();
          if (budget.spent) await budget.yield();
        }
        run[key] = child;
        runNodes += nodes;
        continue;
      }
      flush();
      parts.push((written ? ',' : '') + JSON.stringify(key) + ':');
      written = true;
      await this.write(child);
      if (budget.spent) await budget.yield();
    }
    flush();
    parts.push('}');
  }
}
