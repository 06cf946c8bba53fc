/**
 * Sigma string values: `*` (any run of characters) and `?` (exactly one) with the specification's
 * backslash escapes, matched case-insensitively unless `|cased`. Matching walks the pattern with the
 * classic two-pointer glob algorithm, O(pattern × text) at worst, so no value can make it backtrack
 * exponentially (a translation into a RegExp could).
 */

export type WildcardPart = { literal: string } | '*' | '?';

/**
 * The parts of a Sigma string. `\*` and `\?` are the plain characters; `\\` is one backslash; a
 * backslash before anything else is itself. So `\\*` is a backslash then a wildcard, `\\\*` a backslash
 * then a star, and three or four backslashes are two.
 */
export function parseWildcards(text: string): WildcardPart[] {
  const parts: WildcardPart[] = [];
  let literal = '';
  const flush = () => {
    if (literal) parts.push({ literal });
    literal = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '\\' && (next === '*' || next === '?' || next === '\\')) {
      literal += next;
      i++;
    } else if (c === '*' || c === '?') {
      flush();
      if (c === '?' || parts.at(-1) !== '*') parts.push(c); // `**` is `*`
    } else {
      literal += c;
    }
  }
  flush();
  return parts;
}

/** A predicate on text for the parts; `cased` false lowers both sides (Sigma's default). */
export function wildcardMatcher(parts: readonly WildcardPart[], cased: boolean): (text: string) => boolean {
  const fold = cased ? (s: string) => s : (s: string) => s.toLowerCase();
  const folded = parts.map((p) => (typeof p === 'string' ? p : { literal: fold(p.literal) }));
  const only = folded.length === 1 ? folded[0] : undefined;
  if (folded.length === 0) return (text) => text === '';
  if (only !== undefined && typeof only !== 'string') return (text) => fold(text) === only.literal;
  // The usual shapes of contains / startswith / endswith, without the general walk.
  const [first, middle, last] = folded;
  if (folded.length === 2 && first === '*' && typeof middle === 'object') return (text) => fold(text).endsWith(middle.literal);
  if (folded.length === 2 && middle === '*' && typeof first === 'object') return (text) => fold(text).startsWith(first.literal);
  if (folded.length === 3 && first === '*' && last === '*' && typeof middle === 'object') {
    return (text) => fold(text).includes(middle.literal);
  }
  const pattern = folded.flatMap((p): Token[] => (p === '*' ? [STAR] : p === '?' ? [ANY_ONE] : Array.from(p.literal)));
  return (text) => globMatch(pattern, Array.from(fold(text)));
}

// Tokens apart from characters, so that a literal `*` (from `\*`) is never taken for a wildcard.
const STAR = Symbol('*');
const ANY_ONE = Symbol('?');
type Token = string | typeof STAR | typeof ANY_ONE;

/** Greedy glob: on a mismatch, the last `*` takes one more character and matching resumes after it. */
function globMatch(pattern: readonly Token[], text: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < text.length) {
    const token = pattern[p];
    if (token === STAR) {
      starAt = p++;
      resumeAt = t;
    } else if (token !== undefined && (token === ANY_ONE || token === text[t])) {
      p++;
      t++;
    } else if (starAt >= 0) {
      p = starAt + 1;
      t = ++resumeAt;
    } else {
      return false;
    }
  }
  while (pattern[p] === STAR) p++;
  return p === pattern.length;
}
