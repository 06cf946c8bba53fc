/**
 * Where rule files come from: an operator's folder, and the built-in pack in the package's rules/
 * folder (found from this module both as src/detection/sigma/ under tsx and as dist/src/detection/sigma/
 * after a build).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RULE_FILE_LIMITS, SigmaRuleError, type RuleFile } from './source.js';

const RULE_FILE = /\.ya?ml$/i;
/** Subfolders followed below a rule folder. */
const MAX_DEPTH = 4;

/**
 * Every *.yml / *.yaml file under `dir` (subfolders too, symbolic links not followed), sorted by path.
 * A file over the size limit, or more files than the limit, is refused as a SigmaRuleError.
 */
export async function loadRuleFolder(dir: string): Promise<RuleFile[]> {
  const paths: string[] = [];
  const visit = async (folder: string, depth: number): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory() && depth < MAX_DEPTH) await visit(path, depth + 1);
      else if (entry.isFile() && RULE_FILE.test(entry.name)) paths.push(path);
      if (paths.length > RULE_FILE_LIMITS.maxFiles) throw new SigmaRuleError(dir, undefined, undefined, `more than ${RULE_FILE_LIMITS.maxFiles} rule files`);
    }
  };
  await visit(dir, 0);
  paths.sort();
  const files: RuleFile[] = [];
  for (const path of paths) {
    const { size } = await lstat(path);
    if (size > RULE_FILE_LIMITS.maxFileBytes) throw new SigmaRuleError(path, undefined, undefined, `file is larger than ${RULE_FILE_LIMITS.maxFileBytes} bytes`);
    files.push({ path, text: await readFile(path, 'utf8') });
  }
  return files;
}

/** The pack's folder: the first `rules/` beside a package.json above this module. */
export function builtinRuleFolder(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'rules'))) return join(dir, 'rules');
    const parent = resolve(dir, '..');
    if (parent === dir) throw new Error('the built-in rules/ folder was not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The built-in rule pack, paths as `rules/<file>`. */
export function builtinRuleFiles(): RuleFile[] {
  const folder = builtinRuleFolder();
  return readdirSync(folder)
    .filter((name) => RULE_FILE.test(name))
    .sort()
    .map((name) => ({ path: `rules/${name}`, text: readFileSync(join(folder, name), 'utf8') }));
}
