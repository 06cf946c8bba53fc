/**
 * Sigma rules as detectors (docs/DETECTION.md, "Sigma rules"). compileSigmaRules takes a whole rule set
 * and gives one Detector per rule that raises findings: detection rules that no correlation refers to,
 * every outermost correlation, and the rules a correlation refers to when it says `generate: true`. A
 * correlation's referenced rules are judged inside its Detector, so one state holds all its windows.
 * All or nothing: the first problem in any file throws a SigmaRuleError and nothing is returned.
 */
import { MAX_FINDING_EVENTS, type Detector, type Finding, type JudgedEvent } from '../detector.js';
import { correlate, initialCorrelationState, type CorrelationState, type Hit, type SlotHit } from './correlation.js';
import { readRule, type CorrelationRule, type SigmaRule } from './rule.js';
import { parseRuleFile, RULE_FILE_LIMITS, SigmaRuleError, type RuleFile } from './source.js';

export { SigmaRuleError, RULE_FILE_LIMITS, type RuleFile } from './source.js';
export { builtinRuleFiles, loadRuleFolder } from './files.js';
export { MAPPED_FIELDS, FIELD_ALIASES } from './fields.js';

/** What a Sigma Detector persists: the latest event time it saw and each correlation's groups. */
export interface SigmaState {
  w: number | null;
  c: Record<string, CorrelationState>;
}

interface RuleNode {
  rule: SigmaRule;
  /** A correlation's referenced rules, in order. */
  slots: RuleNode[];
}

/**
 * Detectors of the rules in `files`. Correlations in `files` may also refer to rules in `references`
 * (the rule set already loaded, such as the built-in pack), which give no detectors of their own here;
 * a rule of `files` with the id or name of one in `references` replaces it.
 */
export function compileSigmaRules(files: RuleFile[], options: { references?: RuleFile[] } = {}): Array<Detector<SigmaState>> {
  const { nodes, roots } = compileRuleSet(files, options.references ?? []);
  return roots.map((id) => detectorOf(nodes.get(id)!));
}

/**
 * Parses, checks and links every rule; `order` lists the rules of `files`, `roots` those of them that
 * raise findings.
 */
function compileRuleSet(files: RuleFile[], references: RuleFile[]): { nodes: Map<string, RuleNode>; roots: string[]; order: string[] } {
  if (files.length + references.length > RULE_FILE_LIMITS.maxFiles) throw new SigmaRuleError('(rules)', undefined, undefined, `more than ${RULE_FILE_LIMITS.maxFiles} rule files`);
  const own = files.flatMap((file) => parseRuleFile(file).map(readRule));
  const ownNames = new Set(own.flatMap((r) => (r.name ? [r.id, r.name] : [r.id])));
  const replaced = (r: SigmaRule) => ownNames.has(r.id) || (r.name !== undefined && ownNames.has(r.name));
  const rules = [...references.flatMap((file) => parseRuleFile(file).map(readRule)).filter((r) => !replaced(r)), ...own];
  const byReference = new Map<string, SigmaRule>();
  for (const rule of rules) {
    for (const [key, value] of [['id', rule.id], ['name', rule.name]] as const) {
      if (value === undefined) continue;
      const earlier = byReference.get(value);
      if (earlier && earlier !== rule) rule.doc.fail([key], `rule ${key} "${value}" is already used by "${earlier.title}" in ${earlier.doc.file}`);
      byReference.set(value, rule);
    }
  }
  const nodes = new Map<string, RuleNode>(rules.map((rule) => [rule.id, { rule, slots: [] }]));
  const referenced = new Map<string, boolean>(); // rule id → whether every referrer keeps it quiet
  for (const rule of rules) {
    if (rule.kind !== 'correlation') continue;
    nodes.get(rule.id)!.slots = rule.references.map((reference, i) => {
      const target = byReference.get(reference) ?? rule.doc.fail(['correlation', 'rules', i], `no rule has the id or name "${reference}"`);
      referenced.set(target.id, (referenced.get(target.id) ?? true) && !rule.generate);
      return nodes.get(target.id)!;
    });
  }
  const done = new Set<RuleNode>();
  for (const node of nodes.values()) assertAcyclic(node, [], done);
  const order = own.map((r) => r.id);
  return { nodes, roots: order.filter((id) => referenced.get(id) !== true), order };
}

/** Depth-first, each rule finished once (`done`), so shared references cost no more than a tree. */
function assertAcyclic(node: RuleNode, path: RuleNode[], done: Set<RuleNode>): void {
  if (done.has(node)) return;
  if (path.includes(node)) {
    const rule = node.rule as CorrelationRule;
    rule.doc.fail(['correlation', 'rules'], `correlation rules refer to each other in a loop: ${[...path, node].map((n) => n.rule.id).join(' → ')}`);
  }
  for (const slot of node.slots) assertAcyclic(slot, [...path, node], done);
  done.add(node);
}

function detectorOf(node: RuleNode): Detector<SigmaState> {
  const { rule } = node;
  return {
    id: rule.id,
    title: rule.title,
    severity: rule.severity,
    ...(rule.technique ? { technique: rule.technique } : {}),
    description: rule.description,
    learningMicros: 0,
    initialState: () => ({ w: null, c: {} }),
    judge(judged: JudgedEvent, state: SigmaState): Finding[] {
      state.w = Math.max(state.w ?? judged.timeMicros, judged.timeMicros);
      const hit = evaluate(node, judged, state, new Map());
      return hit ? [findingOf(rule, judged, hit)] : [];
    },
  };
}

/** What `node` yields for this event; `memo` judges a rule shared by two branches once. */
function evaluate(node: RuleNode, judged: JudgedEvent, state: SigmaState, memo: Map<string, Hit | undefined>): Hit | undefined {
  const { rule } = node;
  if (memo.has(rule.id)) return memo.get(rule.id);
  let hit: Hit | undefined;
  if (rule.kind === 'detection') {
    const applies = rule.ledger === undefined || rule.ledger === judged.ledger;
    if (applies && rule.test(judged)) hit = { t: judged.timeMicros, first: judged.timeMicros, x: [judged.index] };
  } else {
    const slotHits: SlotHit[] = [];
    for (let i = 0; i < node.slots.length; i++) {
      const slot = node.slots[i]!;
      const slotHit = evaluate(slot, judged, state, memo);
      if (slotHit) slotHits.push({ slot: i, ruleName: slot.rule.name, hit: slotHit });
    }
    const correlationState = (state.c[rule.id] ??= initialCorrelationState());
    hit = correlate(rule, correlationState, state.w!, judged, slotHits);
  }
  memo.set(rule.id, hit);
  return hit;
}

function findingOf(rule: SigmaRule, judged: JudgedEvent, hit: Hit): Finding {
  const actor = rule.kind === 'detection' ? eventActor(judged) : groupActor(rule, hit, judged);
  return {
    rule: rule.id,
    title: rule.title,
    severity: rule.severity,
    ...(actor ? { actor } : {}),
    firstSeenMicros: hit.first,
    lastSeenMicros: hit.t,
    events: cappedEvents(hit.x, judged.index).map((index) => ({ ledger: judged.ledger, index })),
    summary: summaryOf(rule, judged, hit),
    key: `${rule.id}:${judged.ledger}:${judged.index}`,
  };
}

/** Oldest first, the triggering event last, at most MAX_FINDING_EVENTS (the oldest kept). */
function cappedEvents(indexes: number[], trigger: number): number[] {
  return [...indexes.filter((i) => i !== trigger).slice(0, MAX_FINDING_EVENTS - 1), trigger];
}

function eventActor(judged: JudgedEvent): Finding['actor'] {
  const actor = judged.event.actor as { type?: unknown; id?: unknown } | undefined;
  return typeof actor?.type === 'string' && typeof actor.id === 'string' ? { type: actor.type, id: actor.id } : undefined;
}

/** A correlation grouped by actor.id is about that actor (its type read from the triggering event). */
function groupActor(rule: CorrelationRule, hit: Hit, judged: JudgedEvent): Finding['actor'] {
  const index = rule.groupBy.findIndex((g) => g.field === 'actor.id');
  const id = index >= 0 ? hit.detail?.group[index]?.[1] : undefined;
  if (id === undefined) return undefined;
  return { type: eventActor(judged)?.type ?? 'user', id };
}

function summaryOf(rule: SigmaRule, judged: JudgedEvent, hit: Hit): string {
  if (rule.kind === 'detection') {
    const actor = eventActor(judged);
    const who = actor ? `${actor.type} ${actor.id}` : 'an unknown actor';
    return printable(`${rule.title}: ${who} did ${String(judged.event.action)} (${String(judged.event.outcome)}) in ${judged.ledger}`);
  }
  const count = hit.detail?.count ?? 0;
  const group = (hit.detail?.group ?? []).map(([field, value]) => `${field}=${value}`).join(', ');
  const within = `within ${rule.timespanText}${group ? ` for ${group}` : ''}`;
  const what = {
    event_count: `${count} matching events`,
    value_count: `${count} distinct ${rule.field?.name}`,
    temporal: `${count} of ${rule.references.length} rules (${rule.references.join(', ')})`,
    temporal_ordered: `${rule.references.join(' then ')} in that order`,
  }[rule.type];
  return printable(`${rule.title}: ${what} ${within} (${rule.condition.text})`);
}

/** Summaries end up in terminals and e-mails: no control characters, bounded. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '\ufffd').slice(0, 1000);
}

/** What one rule file does to sample events: for `sealtrail rules test FILE`. */
export interface RuleFileTest {
  rules: Array<{
    id: string;
    title: string;
    kind: 'detection' | 'correlation';
    /** Whether it raises findings itself (false for a correlation's quiet referenced rules). */
    raisesFindings: boolean;
    /** Events it matched (detection) or at which it fired (correlation). */
    matches: Array<{ ledger: string; index: number }>;
  }>;
  /** What the file's finding-raising rules report over the events. */
  findings: Finding[];
}

/**
 * Compiles one file (throwing SigmaRuleError as compileSigmaRules does) and runs each of its rules over
 * `events`, given in ledger order (several ledgers are judged apart, each with its own state).
 * `others` are rule files the file's correlations may refer to (the loaded rule set; the file's rules
 * replace theirs of the same id or name); their own rules are not reported.
 */
export function testRuleFile(path: string, text: string, events: JudgedEvent[], others: RuleFile[] = []): RuleFileTest {
  const { nodes, roots, order } = compileRuleSet([{ path, text }], others);
  const findings: Finding[] = [];
  const rules = order.map((id) => {
    const node = nodes.get(id)!;
    const detector = detectorOf(node);
    const states = new Map<string, SigmaState>();
    const matches: Array<{ ledger: string; index: number }> = [];
    const raisesFindings = roots.includes(id);
    for (const judged of events) {
      const state = states.get(judged.ledger) ?? detector.initialState();
      states.set(judged.ledger, state);
      for (const finding of detector.judge(judged, state, NO_CONTEXT)) {
        matches.push({ ledger: judged.ledger, index: judged.index });
        if (raisesFindings) findings.push(finding);
      }
    }
    return { id, title: node.rule.title, kind: node.rule.kind, raisesFindings, matches };
  });
  return { rules, findings };
}

const NO_CONTEXT = { departureOf: () => undefined };
