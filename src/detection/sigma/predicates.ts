/**
 * OR and AND of compiled tests as plain loops: these run for every event and rule, and a closure made
 * per call (`tests.some((t) => t(x))`) costs an allocation each time.
 */

export function anyOf<A extends unknown[]>(tests: ReadonlyArray<(...args: A) => boolean>): (...args: A) => boolean {
  if (tests.length === 1) return tests[0]!;
  return (...args) => {
    for (const test of tests) if (test(...args)) return true;
    return false;
  };
}

export function allOf<A extends unknown[]>(tests: ReadonlyArray<(...args: A) => boolean>): (...args: A) => boolean {
  if (tests.length === 1) return tests[0]!;
  return (...args) => {
    for (const test of tests) if (!test(...args)) return false;
    return true;
  };
}
