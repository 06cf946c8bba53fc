/**
 * Refusals: every rule that does not parse or asks for what this subset does not do is refused with the
 * file, line (and column where there is one) and the feature, and a rule set with one bad rule loads
 * nothing at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileSigmaRules } from '../../../src/detection/sigma/index.js';
import { compile, errorOf } from './helpers.js';

const header = 'title: t\nid: r1\nlogsource:\n    product: sealtrail\n';

describe('Sigma rule refusals', () => {
  const cases: Array<[what: string, yaml: string, expected: string]> = [
    ['an unsupported modifier', `${header}detection:\n    sel:\n        action|base64offset|contains: x\n    condition: sel\n`, 'rules/x.yml:7:9: modifier "base64offset" is not supported'],
    ['an unknown modifier', `${header}detection:\n    sel:\n        action|sorta: x\n    condition: sel\n`, 'rules/x.yml:7:9: unknown modifier "sorta"'],
    ['an unknown field', `${header}detection:\n    sel:\n        Image|endswith: cmd.exe\n    condition: sel\n`, 'rules/x.yml:7:9: unknown field "Image"'],
    ['a v1 aggregation', `${header}detection:\n    sel:\n        action: auth.login\n    condition: sel | count() by actor.id > 5\n`, 'rules/x.yml:8:20: condition: aggregation in the condition'],
    ['near', `${header}detection:\n    sel:\n        action: auth.login\n    condition: near sel\n`, 'rules/x.yml:8:16: condition: "near" is not supported'],
    ['"2 of"', `${header}detection:\n    sel1:\n        action: a.b\n    sel2:\n        action: a.c\n    condition: 2 of sel*\n`, 'rules/x.yml:10:16: condition: "2 of" is not supported'],
    ['an unknown identifier', `${header}detection:\n    sel:\n        action: a.b\n    condition: sel and filter\n`, 'rules/x.yml:8:24: condition: unknown search identifier "filter"'],
    ['a pattern matching nothing', `${header}detection:\n    sel:\n        action: a.b\n    condition: 1 of filter_*\n`, 'rules/x.yml:8:21: condition: no search identifier matches "filter_*"'],
    ['an unbalanced parenthesis', `${header}detection:\n    sel:\n        action: a.b\n    condition: (sel\n`, 'rules/x.yml:8:20: condition: missing ")"'],
    ['another product', 'title: t\nid: r1\nlogsource:\n    product: windows\ndetection:\n    sel:\n        action: a.b\n    condition: sel\n', 'rules/x.yml:4:14: logsource product "windows" is not supported'],
    ['a logsource category', 'title: t\nid: r1\nlogsource:\n    product: sealtrail\n    category: process_creation\ndetection:\n    sel:\n        action: a.b\n    condition: sel\n', 'rules/x.yml:5:5: logsource category is not supported'],
    ['a timeframe', `${header}detection:\n    sel:\n        action: a.b\n    timeframe: 5m\n    condition: sel\n`, 'rules/x.yml:8:5: timeframe is not supported'],
    ['a catastrophic regex', `${header}detection:\n    sel:\n        actor.id|re: '(a+)+$'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression repeats a group'],
    ['a regex alternation under a quantifier', `${header}detection:\n    sel:\n        actor.id|re: '^(a|aa)*$'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression repeats a group'],
    ['a regex backreference', `${header}detection:\n    sel:\n        actor.id|re: '(a)\\1'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression escape "\\1" is not supported'],
    ['a regex repeating a group with a quantifier a bounded number of times', `${header}detection:\n    sel:\n        actor.id|re: '(a+){2}'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression repeats a group'],
    ['a regex lookahead', `${header}detection:\n    sel:\n        actor.id|re: 'a(?=b)'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression lookarounds'],
    ['too many unbounded quantifiers', `${header}detection:\n    sel:\n        actor.id|re: '.*a.*b.*c.*d'\n    condition: sel\n`, 'rules/x.yml:7:22: regular expression has more than 3 unbounded quantifiers'],
    ['a bad cidr', `${header}detection:\n    sel:\n        origin.ip|cidr: 10.0.0.0/33\n    condition: sel\n`, 'rules/x.yml:7:25: "cidr" needs an IPv4 or IPv6 network'],
    ['a non-numeric gt', `${header}detection:\n    sel:\n        metadata.rows|gt: many\n    condition: sel\n`, 'rules/x.yml:7:27: "gt" needs a number'],
    ['exists without a boolean', `${header}detection:\n    sel:\n        metadata.rows|exists: yes\n    condition: sel\n`, 'rules/x.yml:7:31: "exists" needs true or false'],
    ['all with one value', `${header}detection:\n    sel:\n        action|all: a.b\n    condition: sel\n`, 'rules/x.yml:7:9: modifier "all" needs a list of at least two values'],
    ['null in a list', `${header}detection:\n    sel:\n        tenant:\n            - acme\n            - null\n    condition: sel\n`, 'rules/x.yml:9:15: null cannot be one of a list'],
    ['two shape modifiers', `${header}detection:\n    sel:\n        action|contains|startswith: a\n    condition: sel\n`, 'rules/x.yml:7:9: modifiers "contains" and "startswith" cannot be combined'],
    ['a fieldref to an unknown field', `${header}detection:\n    sel:\n        targets.id|fieldref: User\n    condition: sel\n`, 'rules/x.yml:7:30: "fieldref" needs a known field name'],
    ['an overlong value', `${header}detection:\n    sel:\n        metadata.note|contains: '${'*a'.repeat(600)}'\n    condition: sel\n`, 'rules/x.yml:7:33: a value longer than 1024 characters'],
    ['an overlong keyword', `${header}detection:\n    keywords:\n        - '${'a'.repeat(1025)}'\n    condition: keywords\n`, 'rules/x.yml:7:9: a keyword longer than 1024 characters'],
    ['control characters in a name, shown harmlessly', `${header}detection:\n    sel:\n        "\\e[31mevil": x\n    condition: sel\n`, 'rules/x.yml:7:9: unknown field "\ufffd[31mevil"'],
    ['no condition', `${header}detection:\n    sel:\n        action: a.b\n`, 'rules/x.yml:5:1: detection has no condition'],
    ['a YAML syntax error', `${header}detection:\n    sel: [a\n    condition: sel\n`, 'rules/x.yml:7:'],
    ['a rule collection', `action: global\n${header}`, 'rules/x.yml:1:1: rule collections'],
    ['a bad level', `${header}level: severe\ndetection:\n    sel:\n        action: a.b\n    condition: sel\n`, 'rules/x.yml:5:8: level "severe" is not one of'],
    ['an unsupported correlation type', 'title: c\nid: c1\ncorrelation:\n    type: value_sum\n    rules: [r1]\n    timespan: 1h\n', 'rules/x.yml:4:11: correlation type "value_sum" is not supported'],
    ['a bad timespan', 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [r1]\n    timespan: 1w\n    condition: {gte: 2}\n', 'rules/x.yml:6:15: timespan must be'],
    ['a correlation without a condition', 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [r1]\n    timespan: 1h\n', 'rules/x.yml:3:1: a event_count correlation needs a condition'],
    ['a value_count without a field', 'title: c\nid: c1\ncorrelation:\n    type: value_count\n    rules: [r1]\n    timespan: 1h\n    condition: {gte: 3}\n', 'rules/x.yml:7:16: a value_count condition needs a field'],
    ['an impossible window', 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [r1]\n    timespan: 1h\n    condition: {gte: 5000}\n', 'rules/x.yml:7:16: condition needs more than 1000 events'],
    ['an unknown condition operator', 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [r1]\n    timespan: 1h\n    condition: {above: 5}\n', 'rules/x.yml:7:17: condition "above" is not supported'],
    ['an unknown group-by field', 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules: [r1]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 5}\n', 'rules/x.yml:6:16: unknown field "User"'],
  ];
  for (const [what, yaml, expected] of cases) {
    it(`refuses ${what}, naming the place`, () => {
      const message = errorOf(() => compile(yaml, 'rules/x.yml'));
      assert.ok(message.startsWith(expected), `${message}\n  should start with\n${expected}`);
    });
  }

  it('refuses a reference to no rule, and a loop of correlations', () => {
    const dangling = 'title: c\nid: c1\ncorrelation:\n    type: event_count\n    rules:\n        - nothing_here\n    timespan: 1h\n    condition: {gte: 2}\n';
    assert.match(errorOf(() => compile(dangling, 'rules/x.yml')), /^rules\/x\.yml:6:11: no rule has the id or name "nothing_here"/);
    const loop = [
      'title: a\nid: a\ncorrelation:\n    type: event_count\n    rules: [b]\n    timespan: 1h\n    condition: {gte: 2}\n',
      'title: b\nid: b\ncorrelation:\n    type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 2}\n',
    ].join('---\n');
    assert.match(errorOf(() => compile(loop, 'rules/x.yml')), /refer to each other in a loop: a → b → a/);
  });

  it('loads a deep chain of correlations sharing references in linear time', () => {
    const documents = ['title: base\nid: c0\nlogsource: {product: sealtrail}\ndetection:\n    s: {action: a.b}\n    condition: s\n', 'title: one\nid: c1\ncorrelation:\n    type: event_count\n    rules: [c0]\n    timespan: 1h\n    condition: {gte: 1}\n'];
    for (let i = 2; i < 150; i++) {
      documents.push(`title: c${i}\nid: c${i}\ncorrelation:\n    type: temporal\n    rules: [c${i - 1}, c${i - 2}]\n    timespan: 1h\n`);
    }
    // Each level refers to the two below it: 2^150 paths for a walk that does not remember.
    assert.deepEqual(compile(documents.join('---\n')).map((d) => d.id), ['c149']);
  });

  it('refuses a duplicate id across files, naming both', () => {
    const rule = `${header}detection:\n    sel:\n        action: a.b\n    condition: sel\n`;
    const message = errorOf(() => compileSigmaRules([{ path: 'rules/one.yml', text: rule }, { path: 'rules/two.yml', text: rule }]));
    assert.match(message, /^rules\/two\.yml:2:5: rule id "r1" is already used by "t" in rules\/one\.yml/);
  });

  it('loads nothing when one rule of the set is bad', () => {
    const good = `${header}detection:\n    sel:\n        action: a.b\n    condition: sel\n`;
    const bad = good.replace('r1', 'r2').replace('action:', 'action|wide:');
    assert.throws(() => compileSigmaRules([{ path: 'rules/good.yml', text: good }, { path: 'rules/bad.yml', text: bad }]), /rules\/bad\.yml:7:9: modifier "wide" is not supported/);
    assert.equal(compileSigmaRules([{ path: 'rules/good.yml', text: good }]).length, 1);
  });

  it('refuses a file over the size limit and YAML alias bombs', () => {
    const huge = `${header}description: '${'x'.repeat(300 * 1024)}'\n`;
    assert.match(errorOf(() => compile(huge, 'rules/big.yml')), /^rules\/big\.yml: file is larger than 262144 bytes/);
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    assert.match(errorOf(() => compile(`${header}${lines.join('\n')}\n`, 'rules/bomb.yml')), /^rules\/bomb\.yml: YAML: .*alias/i);
  });
});
