/**
 * The rule library the server judges with: the Sigma compiler and built-in pack (src/detection/sigma/)
 * and the behavioural detectors (src/detection/behaviour/), behind the RuleLibrary seam that lets tests
 * and benchmarks judge with detectors of their own.
 */
import { behaviouralDetectors } from './behaviour/index.js';
import { builtinRuleFiles, compileSigmaRules } from './sigma/index.js';
import type { RuleLibrary } from './service.js';

export function defaultRuleLibrary(): RuleLibrary {
  return {
    builtinFiles: () => builtinRuleFiles(),
    compile: (files) => compileSigmaRules(files),
    behavioural: () => behaviouralDetectors(),
  };
}
