/**
 * `|re` values. JavaScript's RegExp backtracks, so a hostile or careless pattern could hold the event
 * loop for minutes on one event. Patterns are held to the specification's flavour (`.`, anchors,
 * `* + ? {n,m}`, classes, alternation, groups) plus the usual class escapes, and refused when a
 * repeated group itself contains a quantifier or an alternation (`(a+)+`, `(a|a)*`: exponential; an
 * optional group, `(a+)?`, is a choice and allowed) or when they hold more than MAX_UNBOUNDED
 * quantifiers (`.*a.*b.*c.*d`: a high polynomial). What they are matched against is capped at
 * MAX_INPUT characters; a longer value does not match.
 */

export const REGEX_LIMITS = { maxPatternLength: 1024, maxInput: 1024, maxUnbounded: 3 } as const;

/** Escapes of one character class or control character; `\1`, `\k<n>`, `\p{..}` and the like are refused. */
const ALLOWED_LETTER_ESCAPES = new Set(['d', 'D', 'w', 'W', 's', 'S', 'b', 'B', 'n', 'r', 't', 'f', 'v']);

interface Group {
  quantified: boolean;
  alternation: boolean;
}

/** Why the pattern is refused, or undefined when it is acceptable. */
export function regexProblem(pattern: string, flags: string): string | undefined {
  if (pattern.length > REGEX_LIMITS.maxPatternLength) return `regular expression longer than ${REGEX_LIMITS.maxPatternLength} characters`;
  try {
    new RegExp(pattern, flags);
  } catch (error) {
    return `regular expression does not compile: ${(error as Error).message}`;
  }
  const stack: Group[] = [{ quantified: false, alternation: false }];
  let unbounded = 0;
  let lastGroup: Group | undefined; // the group just closed, while a quantifier may still follow it
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const top = stack.at(-1)!;
    const closed = lastGroup;
    lastGroup = undefined;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[A-Za-z0-9]/.test(next) && !ALLOWED_LETTER_ESCAPES.has(next)) return `regular expression escape "\\${next}" is not supported`;
      i++;
    } else if (c === '[') {
      i = classEnd(pattern, i);
    } else if (c === '(') {
      if (pattern[i + 1] === '?') {
        if (pattern[i + 2] !== ':') return 'regular expression lookarounds and named groups are not supported';
        i += 2;
      }
      stack.push({ quantified: false, alternation: false });
    } else if (c === ')') {
      lastGroup = stack.pop();
    } else if (c === '|') {
      top.alternation = true;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      const bound = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) : null;
      if (c === '{' && !bound) continue; // a literal brace
      if (c === '?' && isQuantifierEnd(pattern, i)) continue; // lazy marker of the quantifier before it
      // `?` (or {0,1}, {1}) takes a group once at most: a choice, not a repetition that can split input many ways.
      const repeats = !(c === '?' || (bound && (bound[0] === '{1}' || bound[0] === '{0,1}' || bound[0] === '{1,1}')));
      if (closed && repeats && (closed.quantified || closed.alternation)) {
        return 'regular expression repeats a group that contains a quantifier or alternation (catastrophic backtracking)';
      }
      if (c === '*' || c === '+' || (bound && bound[2] !== undefined && bound[3] === '')) unbounded++;
      for (const group of stack) group.quantified = true;
      if (bound) i += bound[0].length - 1;
    }
  }
  if (unbounded > REGEX_LIMITS.maxUnbounded) return `regular expression has more than ${REGEX_LIMITS.maxUnbounded} unbounded quantifiers`;
  return undefined;
}

function classEnd(pattern: string, open: number): number {
  let i = open + 1;
  if (pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === ']') return i;
  }
  return i;
}

/** True when the `?` at `i` follows a quantifier (making it lazy) rather than an atom. */
function isQuantifierEnd(pattern: string, i: number): boolean {
  const before = pattern[i - 1];
  if (before === undefined || pattern[i - 2] === '\\') return false;
  return before === '*' || before === '+' || before === '?' || before === '}';
}

/** A predicate for an accepted pattern; values longer than REGEX_LIMITS.maxInput never match. */
export function regexMatcher(pattern: string, flags: string): (text: string) => boolean {
  const regex = new RegExp(pattern, flags);
  return (text) => text.length <= REGEX_LIMITS.maxInput && regex.test(text);
}
