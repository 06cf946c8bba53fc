/**
 * The `detection` section of a Sigma rule compiled into one predicate on judged events: search
 * identifiers (maps: AND of fields; lists of maps: OR; lists of strings: keywords), field values with
 * modifiers, and the condition over them. Everything the rule asks for is checked here, at load time:
 * an unknown field, modifier or condition form is refused with its place in the file.
 */
import { ipHex, parseCidr } from '../../core/ipnet.js';
import type { JudgedEvent } from '../detector.js';
import { ConditionError, evaluator, parseCondition, type Condition } from './condition.js';
import { eventStrings, resolveField, type ResolvedField } from './fields.js';
import { regexMatcher, regexProblem } from './regex.js';
import type { PathSegment, RuleDocument } from './source.js';
import { allOf, anyOf } from './predicates.js';
import { parseWildcards, wildcardMatcher, type WildcardPart } from './wildcard.js';

export type EventTest = (judged: JudgedEvent) => boolean;

/** What a field's values are tested with; `candidates` is undefined when the field is absent. */
type FieldTest = (candidates: unknown[] | undefined, judged: JudgedEvent) => boolean;

const SHAPES = ['contains', 'startswith', 'endswith'] as const;
const TYPES = ['re', 'cidr', 'gt', 'gte', 'lt', 'lte', 'exists', 'fieldref'] as const;
const REGEX_FLAGS = ['i', 'm', 's'] as const;
const KNOWN_UNSUPPORTED = new Set([
  'base64', 'base64offset', 'utf16le', 'utf16be', 'utf16', 'wide', 'windash', 'expand', 'neq',
  'minute', 'hour', 'day', 'week', 'month', 'year',
]);

/** Characters of one string value in a rule (event texts and identifiers are at most 1,024 too). */
const MAX_VALUE_LENGTH = 1024;

type Shape = (typeof SHAPES)[number];
type TypeModifier = (typeof TYPES)[number];

interface Modifiers {
  shape?: Shape;
  type?: TypeModifier;
  all: boolean;
  cased: boolean;
  regexFlags: string;
}

/** Compiles `detection` (at path ['detection'] of the document). */
export function compileDetection(doc: RuleDocument, detection: unknown): EventTest {
  const path = ['detection'];
  if (!isPlainObject(detection)) doc.fail(path, 'detection must be a map of search identifiers and a condition');
  if ('timeframe' in detection) doc.fail([...path, 'timeframe'], 'timeframe is not supported: write a correlation rule', { atKey: true });
  const searches = new Map<string, EventTest>();
  for (const [name, value] of Object.entries(detection)) {
    if (name !== 'condition') searches.set(name, compileSearch(doc, [...path, name], value));
  }
  if (!('condition' in detection)) doc.fail(path, 'detection has no condition', { atKey: true });
  const condition = detection.condition;
  const texts = Array.isArray(condition) ? condition : [condition];
  if (texts.length === 0) doc.fail([...path, 'condition'], 'condition is empty');
  const tests = texts.map((text, i) => {
    const at: PathSegment[] = Array.isArray(condition) ? [...path, 'condition', i] : [...path, 'condition'];
    if (typeof text !== 'string' || text.trim() === '') doc.fail(at, 'a condition must be a non-empty string');
    return evaluator(parseAt(doc, at, text, [...searches.keys()]), searches);
  });
  // A list of conditions is their OR (the specification: each would be its own query).
  return anyOf(tests);
}

function parseAt(doc: RuleDocument, path: PathSegment[], text: string, identifiers: string[]): Condition {
  try {
    return parseCondition(text, identifiers);
  } catch (error) {
    if (error instanceof ConditionError) doc.fail(path, `condition: ${error.message}`, { offset: error.offset });
    throw error;
  }
}

function compileSearch(doc: RuleDocument, path: PathSegment[], value: unknown): EventTest {
  if (Array.isArray(value)) {
    if (value.length === 0) doc.fail(path, 'a search identifier must not be an empty list');
    if (value.every(isPlainObject)) {
      const maps = value.map((item, i) => compileMap(doc, [...path, i], item as Record<string, unknown>));
      return anyOf(maps);
    }
    if (value.every(isKeyword)) return keywordEntry(doc, path, value, { all: false, cased: false, regexFlags: '' }, (problem) => doc.fail(path, problem));
    doc.fail(path, 'a search identifier list must hold only maps or only keywords (strings, numbers)');
  }
  if (isPlainObject(value)) return compileMap(doc, path, value);
  return doc.fail(path, 'a search identifier must be a map of fields or a list');
}

function compileMap(doc: RuleDocument, path: PathSegment[], map: Record<string, unknown>): EventTest {
  const entries = Object.entries(map);
  if (entries.length === 0) doc.fail(path, 'a selection must not be an empty map');
  const tests = entries.map(([key, value]) => compileEntry(doc, [...path, key], key, value));
  return allOf(tests);
}

function compileEntry(doc: RuleDocument, path: PathSegment[], key: string, value: unknown): EventTest {
  const [fieldName, ...modifierNames] = key.split('|');
  const failKey = (problem: string): never => doc.fail(path, problem, { atKey: true });
  const modifiers = parseModifiers(modifierNames, failKey);
  if (fieldName === '') return keywordEntry(doc, path, value, modifiers, failKey);
  const field = resolveField(fieldName!) ?? failKey(`unknown field "${fieldName}"`);
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) doc.fail(path, 'a field must have at least one value');
  if (modifiers.all && values.length < 2) failKey('modifier "all" needs a list of at least two values');
  if (value === null) {
    if (modifierNames.length > 0) failKey('a null value takes no modifiers');
    return (judged) => {
      for (const v of field.read(judged) ?? []) if (v !== null) return false;
      return true;
    };
  }
  const tests = values.map((v, i) => valueTest(doc, Array.isArray(value) ? [...path, i] : path, v, modifiers));
  const combined = modifiers.all ? allOf(tests) : anyOf(tests);
  return (judged) => combined(field.read(judged), judged);
}

function parseModifiers(names: string[], failKey: (problem: string) => never): Modifiers {
  const modifiers: Modifiers = { all: false, cased: false, regexFlags: '' };
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) failKey(`modifier "${name}" is repeated`);
    seen.add(name);
    if ((SHAPES as readonly string[]).includes(name)) {
      if (modifiers.shape) failKey(`modifiers "${modifiers.shape}" and "${name}" cannot be combined`);
      modifiers.shape = name as Shape;
    } else if ((TYPES as readonly string[]).includes(name)) {
      if (modifiers.type) failKey(`modifiers "${modifiers.type}" and "${name}" cannot be combined`);
      modifiers.type = name as TypeModifier;
    } else if (name === 'all') {
      modifiers.all = true;
    } else if (name === 'cased') {
      modifiers.cased = true;
    } else if ((REGEX_FLAGS as readonly string[]).includes(name) && modifiers.type === 're') {
      modifiers.regexFlags += name;
    } else if (KNOWN_UNSUPPORTED.has(name)) {
      failKey(`modifier "${name}" is not supported`);
    } else {
      failKey(`unknown modifier "${name}"`);
    }
  }
  if (modifiers.shape && modifiers.type) failKey(`modifiers "${modifiers.shape}" and "${modifiers.type}" cannot be combined`);
  if (modifiers.cased && modifiers.type && modifiers.type !== 'fieldref') failKey(`modifier "cased" does not apply to "${modifiers.type}"`);
  if (modifiers.all && modifiers.type === 'exists') failKey('modifiers "all" and "exists" cannot be combined');
  return modifiers;
}

function valueTest(doc: RuleDocument, path: PathSegment[], value: unknown, modifiers: Modifiers): FieldTest {
  const fail = (problem: string): never => doc.fail(path, problem);
  if (value === null) return fail('null cannot be one of a list of values (use a selection of its own)');
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    return fail('a value must be a string, number, boolean or null');
  }
  // Wildcard matching costs pattern × value at worst: a bounded pattern keeps that small.
  if (typeof value === 'string' && value.length > MAX_VALUE_LENGTH) return fail(`a value longer than ${MAX_VALUE_LENGTH} characters`);
  switch (modifiers.type) {
    case 'exists': {
      if (typeof value !== 'boolean') return fail('"exists" needs true or false');
      return (candidates) => (candidates !== undefined) === value;
    }
    case 're': {
      if (typeof value !== 'string') return fail('"re" needs a string');
      const flags = modifiers.regexFlags;
      const problem = regexProblem(value, flags);
      if (problem) return fail(problem);
      return anyScalar(regexMatcher(value, flags));
    }
    case 'cidr': {
      const range = typeof value === 'string' ? parseCidr(value) : undefined;
      if (!range) return fail(`"cidr" needs an IPv4 or IPv6 network such as 10.0.0.0/8, not ${JSON.stringify(value)}`);
      return anyScalar((text) => {
        const hex = ipHex(text);
        return hex !== undefined && hex >= range.low && hex <= range.high;
      });
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(`"${modifiers.type}" needs a number`);
      const compare = COMPARISONS[modifiers.type];
      return (candidates) => {
        for (const c of candidates ?? []) {
          const n = numberOf(c);
          if (n !== undefined && compare(n, value)) return true;
        }
        return false;
      };
    }
    case 'fieldref': {
      const other = typeof value === 'string' ? resolveField(value) : undefined;
      if (!other) return fail(`"fieldref" needs a known field name, not ${JSON.stringify(value)}`);
      return fieldRefTest(other, modifiers.cased);
    }
    case undefined:
      return anyScalar(wildcardMatcher(shaped(value, modifiers.shape), modifiers.cased));
  }
}

const COMPARISONS = {
  gt: (a: number, b: number) => a > b,
  gte: (a: number, b: number) => a >= b,
  lt: (a: number, b: number) => a < b,
  lte: (a: number, b: number) => a <= b,
} as const;

/** The wildcard parts of a value with its contains / startswith / endswith applied (numbers are literal). */
function shaped(value: string | number | boolean, shape: Shape | undefined): WildcardPart[] {
  const parts = typeof value === 'string' ? parseWildcards(value) : [{ literal: String(value) }];
  const before: WildcardPart[] = shape === 'contains' || shape === 'endswith' ? ['*'] : [];
  const after: WildcardPart[] = shape === 'contains' || shape === 'startswith' ? ['*'] : [];
  return collapseStars([...before, ...parts, ...after]);
}

/** Adjacent stars collapse, so `contains: '*x'` is still the fast "includes" form. */
function collapseStars(parts: WildcardPart[]): WildcardPart[] {
  return parts.filter((p, i) => !(p === '*' && parts[i - 1] === '*'));
}

/** Scalars compare as text (Sigma: "all values are treated as strings"); objects and null never match. */
function scalarText(candidate: unknown): string | undefined {
  if (typeof candidate === 'string') return candidate;
  if (typeof candidate === 'number' || typeof candidate === 'boolean') return String(candidate);
  return undefined;
}

function anyScalar(test: (text: string) => boolean): FieldTest {
  return (candidates) => {
    for (const c of candidates ?? []) {
      const text = scalarText(c);
      if (text !== undefined && test(text)) return true;
    }
    return false;
  };
}

function numberOf(candidate: unknown): number | undefined {
  if (typeof candidate === 'number') return Number.isFinite(candidate) ? candidate : undefined;
  if (typeof candidate === 'string' && /^-?\d+(\.\d+)?$/.test(candidate)) return Number(candidate);
  return undefined;
}

function fieldRefTest(other: ResolvedField, cased: boolean): FieldTest {
  const fold = (text: string) => (cased ? text : text.toLowerCase());
  return (candidates, judged) => {
    const wanted = new Set<string>();
    for (const v of other.read(judged) ?? []) {
      const text = scalarText(v);
      if (text !== undefined) wanted.add(fold(text));
    }
    return anyScalar((text) => wanted.has(fold(text)))(candidates, judged);
  };
}

function keywordEntry(doc: RuleDocument, path: PathSegment[], value: unknown, modifiers: Modifiers, failKey: (p: string) => never): EventTest {
  if (modifiers.shape || modifiers.type || modifiers.cased) failKey('keywords take only the "all" modifier');
  const values = Array.isArray(value) ? value : [value];
  if (!values.every(isKeyword) || values.length === 0) doc.fail(path, 'keywords must be strings or numbers');
  if (values.some((v) => String(v).length > MAX_VALUE_LENGTH)) doc.fail(path, `a keyword longer than ${MAX_VALUE_LENGTH} characters`);
  if (modifiers.all && values.length < 2) failKey('modifier "all" needs a list of at least two values');
  return keywordTest(values as Array<string | number>, modifiers.all);
}

/** Keywords match anywhere in any string the event carries (each one, with `all`). */
function keywordTest(keywords: Array<string | number>, all: boolean): EventTest {
  const tests = keywords.map((k) => wildcardMatcher(shaped(k, 'contains'), false));
  const inAny = (strings: string[], test: (text: string) => boolean) => {
    for (const text of strings) if (test(text)) return true;
    return false;
  };
  return (judged) => {
    const strings = eventStrings(judged);
    for (const test of tests) if (inAny(strings, test) !== all) return !all;
    return all;
  };
}

function isKeyword(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'number';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
