/**
 * Sharing the one thread that also serves HTTP. An awaited value that is already there continues in the
 * same task (a microtask), so a long loop of awaits holds the event loop as surely as a synchronous
 * one; these helpers hand the thread back for a turn.
 */

/** Lets every request and timer that is ready run before this continues. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * How long a stretch of work may hold the loop (issue 17: no stall over 10 ms, and several pieces of
 * background work can run in the same turn of the loop, so each takes a few ms at most).
 */
export const BACKGROUND_SLICE_MS = 4;

/** A time budget for one stretch of a long loop: check `spent` each step, `yield()` when it is. */
export class LoopBudget {
  private since = performance.now();
  private earlierSlicesMs = 0;

  constructor(readonly ms: number = BACKGROUND_SLICE_MS) {}

  get spent(): boolean {
    return performance.now() - this.since >= this.ms;
  }

  /** Time spent working since the budget was made, the turns it handed back not counted. */
  get workedMs(): number {
    return this.earlierSlicesMs + performance.now() - this.since;
  }

  async yield(): Promise<void> {
    this.earlierSlicesMs += performance.now() - this.since;
    await yieldToEventLoop();
    this.since = performance.now();
  }
}
