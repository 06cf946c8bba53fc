/**
 * One YAML document of a rule file read as a Sigma rule: a detection rule or a correlation rule (v2),
 * with the metadata a Detector carries. Anything this subset does not implement is refused here with
 * its place in the file, so a rule set either loads as written or not at all.
 */
import type { Severity } from '../detector.js';
import { compileDetection, isPlainObject, type EventTest } from './detection.js';
import { resolveField, type ResolvedField } from './fields.js';
import type { PathSegment, RuleDocument } from './source.js';

export const PRODUCT = 'sealtrail';

interface RuleMeta {
  id: string;
  name?: string;
  title: string;
  description: string;
  severity: Severity;
  technique?: string;
  doc: RuleDocument;
}

export interface DetectionRule extends RuleMeta {
  kind: 'detection';
  test: EventTest;
  /** `logsource.service`: the one ledger the rule judges, when set. */
  ledger?: string;
}

export const CORRELATION_TYPES = ['event_count', 'value_count', 'temporal', 'temporal_ordered'] as const;
export type CorrelationType = (typeof CORRELATION_TYPES)[number];
const COUNT_OPERATORS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;
type CountOperator = (typeof COUNT_OPERATORS)[number];

export interface CountCondition {
  terms: Array<[CountOperator, number]>;
  /** Smallest count that can satisfy it (what a window must be able to hold). */
  least: number;
  text: string;
}

export interface GroupField {
  /** As written in group-by (a field or an alias name). */
  name: string;
  /** The field it reads, per referenced rule (aliases differ per rule; `default` otherwise). */
  fieldFor(ruleName: string | undefined): ResolvedField;
  /** The sealtrail field when it is one for every rule (so `actor.id` names the finding's actor). */
  field?: string;
}

export interface CorrelationRule extends RuleMeta {
  kind: 'correlation';
  type: CorrelationType;
  /** References as written (id or name), in order. */
  references: string[];
  groupBy: GroupField[];
  timespanMicros: number;
  timespanText: string;
  condition: CountCondition;
  /** value_count: the field whose distinct values are counted. */
  field?: ResolvedField;
  /** The referenced rules also raise findings of their own. */
  generate: boolean;
}

export type SigmaRule = DetectionRule | CorrelationRule;

/** Hits a correlation keeps per group; a condition needing more is refused at load. */
export const MAX_GROUP_HITS = 1000;
const MAX_TIMESPAN_MICROS = 90 * 86_400 * 1_000_000;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const LEVELS: Record<string, Severity> = { informational: 'low', low: 'low', medium: 'medium', high: 'high', critical: 'critical' };

export function readRule(doc: RuleDocument): SigmaRule {
  const rule = doc.value;
  if (!isPlainObject(rule)) return doc.fail([], 'a rule must be a YAML map');
  if ('action' in rule) doc.fail(['action'], 'rule collections ("action: global" and the like) are not supported', { atKey: true });
  const meta = readMeta(doc, rule);
  const hasDetection = 'detection' in rule;
  const hasCorrelation = 'correlation' in rule;
  if (hasDetection && hasCorrelation) doc.fail(['correlation'], 'a rule has either detection or correlation, not both', { atKey: true });
  if (hasCorrelation) return readCorrelation(doc, rule, meta);
  if (!hasDetection) return doc.fail([], 'a rule needs a detection or a correlation section');
  return { kind: 'detection', ...meta, ledger: readLogsource(doc, rule.logsource), test: compileDetection(doc, rule.detection) };
}

function readMeta(doc: RuleDocument, rule: Record<string, unknown>): RuleMeta {
  const title = rule.title;
  if (typeof title !== 'string' || title.trim() === '' || title.length > 256) doc.fail(['title'], 'a rule needs a title (at most 256 characters)');
  const name = optionalString(doc, rule, 'name');
  const id = optionalString(doc, rule, 'id') ?? name ?? doc.fail([], 'a rule needs an id or a name');
  if (!ID_PATTERN.test(id)) doc.fail(['id'], `rule id "${id}" must be 1–128 characters of A-Z a-z 0-9 _ . : -`);
  const description = optionalString(doc, rule, 'description') ?? title;
  const level = optionalString(doc, rule, 'level');
  const severity = level === undefined ? 'low' : (LEVELS[level] ?? doc.fail(['level'], `level "${level}" is not one of ${Object.keys(LEVELS).join(', ')}`));
  const tags = rule.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) doc.fail(['tags'], 'tags must be a list of strings');
  const technique = (tags as string[]).map((t) => /^attack\.(t\d{4}(\.\d{3})?)$/i.exec(t)?.[1]).find((t) => t !== undefined);
  return { id, ...(name ? { name } : {}), title, description, severity, ...(technique ? { technique: technique.toUpperCase() } : {}), doc };
}

function optionalString(doc: RuleDocument, rule: Record<string, unknown>, key: string): string | undefined {
  const value = rule[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') return doc.fail([key], `${key} must be a non-empty string`);
  return value;
}

function readLogsource(doc: RuleDocument, logsource: unknown): string | undefined {
  const path = ['logsource'];
  if (!isPlainObject(logsource)) return doc.fail(path, `a detection rule needs "logsource: product: ${PRODUCT}"`);
  for (const key of Object.keys(logsource)) {
    if (key === 'category') doc.fail([...path, key], 'logsource category is not supported: select on the event\'s category field instead', { atKey: true });
    if (key !== 'product' && key !== 'service' && key !== 'definition') doc.fail([...path, key], `logsource "${key}" is not supported`, { atKey: true });
  }
  if (logsource.product !== PRODUCT) doc.fail([...path, 'product'], `logsource product ${JSON.stringify(logsource.product ?? null)} is not supported (only "${PRODUCT}")`);
  const service = logsource.service;
  if (service === undefined) return undefined;
  if (typeof service !== 'string' || service === '') return doc.fail([...path, 'service'], 'logsource service must be a ledger name');
  return service;
}

function readCorrelation(doc: RuleDocument, rule: Record<string, unknown>, meta: RuleMeta): CorrelationRule {
  const path = ['correlation'];
  const correlation = rule.correlation;
  if (!isPlainObject(correlation)) return doc.fail(path, 'correlation must be a map');
  const known = new Set(['type', 'rules', 'group-by', 'timespan', 'condition', 'generate', 'aliases']);
  for (const key of Object.keys(correlation)) {
    if (!known.has(key)) doc.fail([...path, key], `correlation "${key}" is not supported`, { atKey: true });
  }
  const type = correlation.type;
  if (!(CORRELATION_TYPES as readonly unknown[]).includes(type)) {
    doc.fail([...path, 'type'], `correlation type ${JSON.stringify(type ?? null)} is not supported (${CORRELATION_TYPES.join(', ')})`);
  }
  const references = typeof correlation.rules === 'string' ? [correlation.rules] : correlation.rules;
  if (!Array.isArray(references) || references.length === 0 || !references.every((r) => typeof r === 'string' && r !== '')) {
    doc.fail([...path, 'rules'], 'correlation rules must be a list of rule ids or names');
  }
  if ((type === 'temporal' || type === 'temporal_ordered') && references.length < 2) doc.fail([...path, 'rules'], `a ${type} correlation needs at least two rules`);
  const timespan = readTimespan(doc, [...path, 'timespan'], correlation.timespan);
  const { condition, field } = readCountCondition(doc, [...path, 'condition'], correlation.condition, type as CorrelationType, references.length);
  const generate = correlation.generate ?? rule.generate ?? false;
  if (typeof generate !== 'boolean') doc.fail([...path, 'generate'], 'generate must be true or false');
  return {
    kind: 'correlation',
    ...meta,
    type: type as CorrelationType,
    references: references as string[],
    groupBy: readGroupBy(doc, path, correlation['group-by'], correlation.aliases),
    timespanMicros: timespan.micros,
    timespanText: timespan.text,
    condition,
    ...(field ? { field } : {}),
    generate,
  };
}

function readTimespan(doc: RuleDocument, path: PathSegment[], value: unknown): { micros: number; text: string } {
  const match = typeof value === 'string' ? /^([1-9][0-9]{0,6})([smhd])$/.exec(value) : null;
  if (!match) return doc.fail(path, 'timespan must be a number and one of s, m, h, d (e.g. 10m)');
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  const micros = Number(match[1]) * unit * 1_000_000;
  if (micros > MAX_TIMESPAN_MICROS) doc.fail(path, 'timespan longer than 90 days is not supported');
  return { micros, text: value as string };
}

function readCountCondition(
  doc: RuleDocument,
  path: PathSegment[],
  value: unknown,
  type: CorrelationType,
  ruleCount: number,
): { condition: CountCondition; field?: ResolvedField } {
  if (value === undefined) {
    if (type === 'temporal' || type === 'temporal_ordered') return { condition: { terms: [['gte', ruleCount]], least: ruleCount, text: `all ${ruleCount} rules` } };
    return doc.fail(path.slice(0, -1), `a ${type} correlation needs a condition`, { atKey: true });
  }
  if (type === 'temporal_ordered') return doc.fail(path, 'a temporal_ordered correlation takes no condition: all its rules must occur, in order');
  if (!isPlainObject(value)) return doc.fail(path, 'condition must be a map such as {gte: 10}');
  const terms: Array<[CountOperator, number]> = [];
  let field: ResolvedField | undefined;
  for (const [key, bound] of Object.entries(value)) {
    if (key === 'field' && type === 'value_count') {
      field = typeof bound === 'string' ? resolveField(bound) : undefined;
      if (!field) doc.fail([...path, key], `unknown field ${JSON.stringify(bound)}`);
    } else if ((COUNT_OPERATORS as readonly string[]).includes(key)) {
      if (!Number.isSafeInteger(bound) || (bound as number) < 0) doc.fail([...path, key], `${key} needs a whole number`);
      terms.push([key as CountOperator, bound as number]);
    } else {
      doc.fail([...path, key], `condition "${key}" is not supported (${COUNT_OPERATORS.join(', ')}${type === 'value_count' ? ', field' : ''})`, { atKey: true });
    }
  }
  if (type === 'value_count' && !field) doc.fail(path, 'a value_count condition needs a field');
  if (terms.length === 0) doc.fail(path, 'condition needs a comparison such as gte: 10');
  const least = leastSatisfying(terms);
  if (least === undefined) doc.fail(path, 'condition can never be met');
  if (least > MAX_GROUP_HITS) doc.fail(path, `condition needs more than ${MAX_GROUP_HITS} events in one window, more than a window keeps`);
  const text = terms.map(([op, n]) => `${op} ${n}`).join(' and ');
  return { condition: { terms, least, text }, ...(field ? { field } : {}) };
}

export function countSatisfies(condition: CountCondition, count: number): boolean {
  return condition.terms.every(([op, n]) => {
    switch (op) {
      case 'gt':
        return count > n;
      case 'gte':
        return count >= n;
      case 'lt':
        return count < n;
      case 'lte':
        return count <= n;
      case 'eq':
        return count === n;
      case 'neq':
        return count !== n;
    }
  });
}

function leastSatisfying(terms: Array<[CountOperator, number]>): number | undefined {
  const condition = { terms, least: 0, text: '' };
  const highest = Math.max(...terms.map(([, n]) => n)) + 2;
  for (let count = 1; count <= highest; count++) if (countSatisfies(condition, count)) return count;
  return undefined;
}

function readGroupBy(doc: RuleDocument, path: PathSegment[], groupBy: unknown, aliases: unknown): GroupField[] {
  if (groupBy === undefined) return [];
  if (!Array.isArray(groupBy) || !groupBy.every((g) => typeof g === 'string')) return doc.fail([...path, 'group-by'], 'group-by must be a list of field names');
  if (aliases !== undefined && !isPlainObject(aliases)) doc.fail([...path, 'aliases'], 'aliases must be a map');
  const aliasMap = (aliases ?? {}) as Record<string, unknown>;
  return (groupBy as string[]).map((name, i) => {
    const alias = aliasMap[name];
    if (alias === undefined) {
      const field = resolveField(name) ?? doc.fail([...path, 'group-by', i], `unknown field "${name}"`);
      return { name, fieldFor: () => field, field: field.name };
    }
    if (!isPlainObject(alias)) return doc.fail([...path, 'aliases', name], 'an alias maps rule names to field names');
    const perRule = new Map<string, ResolvedField>();
    for (const [ruleName, fieldName] of Object.entries(alias)) {
      const field = typeof fieldName === 'string' ? resolveField(fieldName) : undefined;
      if (!field) doc.fail([...path, 'aliases', name, ruleName], `unknown field ${JSON.stringify(fieldName)}`);
      perRule.set(ruleName, field);
    }
    const fields = new Set([...perRule.values()].map((f) => f.name));
    const only = fields.size === 1 ? [...fields][0] : undefined;
    return {
      name,
      fieldFor: (ruleName) => (ruleName !== undefined ? perRule.get(ruleName) : undefined) ?? MISSING_FIELD,
      ...(only ? { field: only } : {}),
    };
  });
}

/** An alias with no entry for a rule: that rule's events have no group and are not counted. */
const MISSING_FIELD: ResolvedField = { name: '', read: () => undefined };

