/**
 * The `condition` of a Sigma detection: search identifiers joined by `and`, `or`, `not`, parentheses
 * and `1 of` / `all of` a pattern or `them`. Precedence, least binding first: or, and, not, x of,
 * parentheses (sigma-rules-specification, "Condition"). Aggregations (`| count() …`, Sigma v1) and
 * `near` are refused: correlation rules express them.
 */
import { allOf, anyOf } from './predicates.js';
import { wildcardMatcher, type WildcardPart } from './wildcard.js';

export type Condition =
  | { kind: 'ref'; name: string }
  | { kind: 'not'; operand: Condition }
  | { kind: 'and' | 'or'; operands: Condition[] }
  | { kind: 'of'; quantifier: 'one' | 'all'; names: string[] };

/** A refusal with the character offset in the condition text it is about. */
export class ConditionError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

interface Token {
  text: string;
  offset: number;
}

const TOKEN = /\s*(\(|\)|\||[^\s()|]+)/y;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  for (;;) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) {
      if (text.slice(start).trim() !== '') throw new ConditionError('unreadable condition', start);
      return tokens;
    }
    tokens.push({ text: match[1]!, offset: match.index + match[0].length - match[1]!.length });
  }
}

const AGGREGATION = 'aggregation in the condition (Sigma v1 "| count() …") is not supported: write a correlation rule';
const IDENTIFIER = /^[A-Za-z0-9_.\-*]+$/;
const KEYWORDS = new Set(['and', 'or', 'not', 'of', 'them']);

/** Parses `text` against the rule's search identifiers (names as written in `detection`). */
export function parseCondition(text: string, identifiers: readonly string[]): Condition {
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const word = (t: Token | undefined) => t?.text.toLowerCase();
  const endOffset = () => text.length;
  const fail = (message: string, token = peek()): never => {
    throw new ConditionError(message, token?.offset ?? endOffset());
  };

  /** Operands of one binary operator, each parsed by the next tighter level. */
  const joined = (operator: 'and' | 'or', operand: () => Condition) => (): Condition => {
    const operands = [operand()];
    while (word(peek()) === operator) {
      at++;
      operands.push(operand());
    }
    return operands.length === 1 ? operands[0]! : { kind: operator, operands };
  };
  const parseNot = (): Condition => {
    if (word(peek()) !== 'not') return parsePrimary();
    at++;
    return { kind: 'not', operand: parseNot() };
  };
  const parsePrimary = (): Condition => {
    const token = peek();
    if (!token) return fail('condition ends where a search identifier was expected');
    if (token.text === '(') {
      at++;
      const inner = parseOr();
      if (peek()?.text !== ')') fail('missing ")"');
      at++;
      return inner;
    }
    if (token.text === '|') return fail(AGGREGATION);
    if (word(token) === 'near') return fail('"near" is not supported: write a temporal correlation rule');
    if (word(tokens[at + 1]) === 'of') return parseOf(token);
    if (KEYWORDS.has(word(token)!) || !IDENTIFIER.test(token.text)) return fail(`unexpected "${token.text}"`);
    if (token.text.includes('*')) return fail(`a pattern such as "${token.text}" needs "1 of" or "all of" before it`);
    if (!identifiers.includes(token.text)) return fail(`unknown search identifier "${token.text}"`);
    at++;
    return { kind: 'ref', name: token.text };
  };
  const parseOf = (quantifierToken: Token): Condition => {
    const quantifier = word(quantifierToken) === 'all' ? 'all' : quantifierToken.text === '1' ? 'one' : undefined;
    if (!quantifier) return fail(`"${quantifierToken.text} of" is not supported (only "1 of" and "all of")`, quantifierToken);
    at += 2;
    const target = peek();
    if (!target || !IDENTIFIER.test(target.text)) return fail('"of" needs a search identifier pattern or "them" after it');
    at++;
    const names =
      word(target) === 'them'
        ? identifiers.filter((name) => !name.startsWith('_'))
        : identifiers.filter((name) => patternMatches(target.text, name));
    if (names.length === 0) fail(`no search identifier matches "${target.text}"`, target);
    return { kind: 'of', quantifier, names };
  };

  const parseAnd = joined('and', parseNot);
  const parseOr = joined('or', parseAnd);
  const condition = parseOr();
  if (peek()?.text === '|') fail(AGGREGATION);
  if (at < tokens.length) fail(`unexpected "${peek()!.text}"`);
  return condition;
}

/** `*` in an identifier pattern is any run of characters (glob-matched: no RegExp to backtrack). */
function patternMatches(pattern: string, name: string): boolean {
  const parts = pattern.split('*').flatMap((literal, i): WildcardPart[] => [...(i > 0 ? ['*' as const] : []), ...(literal ? [{ literal }] : [])]);
  return wildcardMatcher(parts, true)(name);
}

/** A predicate from a condition, given one predicate per search identifier. */
export function evaluator<T>(condition: Condition, searches: ReadonlyMap<string, (input: T) => boolean>): (input: T) => boolean {
  switch (condition.kind) {
    case 'ref':
      return searches.get(condition.name)!;
    case 'not': {
      const operand = evaluator(condition.operand, searches);
      return (input) => !operand(input);
    }
    case 'and': {
      return allOf(condition.operands.map((c) => evaluator(c, searches)));
    }
    case 'or': {
      return anyOf(condition.operands.map((c) => evaluator(c, searches)));
    }
    case 'of': {
      const operands = condition.names.map((name) => searches.get(name)!);
      return condition.quantifier === 'all' ? allOf(operands) : anyOf(operands);
    }
  }
}
