/**
 * Lookups in constant tables keyed by strings that came from outside (an action's verb, a field path's
 * group). `table[key]` would answer `constructor`, `__proto__` or `toString` with what Object.prototype
 * holds under that name; these helpers only ever answer with the table's own entries.
 */
export function ownValue<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}
