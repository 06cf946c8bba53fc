/**
 * Sigma files as YAML documents that remember where each value came from, so that every refusal names
 * the file, line and column an author has to fix. Positions come from the `yaml` package's node ranges;
 * the values the compiler reads are plain JavaScript (Document.toJS), looked up again by path on error.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';

/** One rule file: its name as the operator knows it, and its text. */
export interface RuleFile {
  path: string;
  text: string;
}

/** Bounds on what a rule file may make the parser do. */
export const RULE_FILE_LIMITS = {
  /** UTF-8 bytes of one file. */
  maxFileBytes: 256 * 1024,
  /** Files loaded at once. */
  maxFiles: 2000,
  /** YAML documents (rules) in one file. */
  maxDocuments: 200,
  /** Alias expansions per document (YAML anchors could otherwise blow up a small file). */
  maxAliasCount: 100,
} as const;

/** A rule that does not load; the message is `file:line[:column]: what is wrong`. */
export class SigmaRuleError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly problem: string,
  ) {
    // Names from a rule file reach terminals: no control characters in the message.
    super(`${file}${line === undefined ? '' : `:${line}${column === undefined ? '' : `:${column}`}`}: ${problem}`.replace(/[\u0000-\u001f\u007f]/g, '\ufffd'));
    this.name = 'SigmaRuleError';
  }
}

export type PathSegment = string | number;

/** One YAML document of a rule file, with the means to blame a place in it. */
export class RuleDocument {
  readonly value: unknown;

  constructor(
    readonly file: string,
    private readonly document: Document,
    private readonly lines: LineCounter,
  ) {
    this.value = document.toJS({ maxAliasCount: RULE_FILE_LIMITS.maxAliasCount });
  }

  /**
   * Throws a SigmaRuleError at the value found under `path` (at its key when `atKey`), moved `offset`
   * characters into a one-line scalar (a condition's column).
   */
  fail(path: readonly PathSegment[], problem: string, options: { atKey?: boolean; offset?: number } = {}): never {
    const node = this.nodeAt(path, options.atKey ?? false);
    const start = node?.range?.[0];
    if (start === undefined) throw new SigmaRuleError(this.file, undefined, undefined, problem);
    const position = this.lines.linePos(start);
    let column = position.col;
    if (options.offset !== undefined && isScalar(node) && isOneLine(node)) {
      column += options.offset + (node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE' ? 1 : 0);
    }
    throw new SigmaRuleError(this.file, position.line, column, problem);
  }

  private nodeAt(path: readonly PathSegment[], atKey: boolean): Node | undefined {
    let node: Node | undefined = this.document.contents ?? undefined;
    for (let i = 0; i < path.length && node; i++) {
      const segment = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) return node;
        const key = pair.key as Node;
        node = last && atKey ? key : ((pair.value as Node | null) ?? key);
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment] as Node | undefined;
        if (!item) return node;
        node = item;
      } else {
        return node;
      }
    }
    return node;
  }
}

function isOneLine(node: Node): boolean {
  const source = (node as { source?: unknown }).source;
  return typeof source !== 'string' || !source.includes('\n');
}

/** Every YAML document of a file; a syntax error, an oversized file or too many documents throws. */
export function parseRuleFile(file: RuleFile): RuleDocument[] {
  if (Buffer.byteLength(file.text, 'utf8') > RULE_FILE_LIMITS.maxFileBytes) {
    throw new SigmaRuleError(file.path, undefined, undefined, `file is larger than ${RULE_FILE_LIMITS.maxFileBytes} bytes`);
  }
  const lines = new LineCounter();
  const documents = parseAllDocuments(file.text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(documents)) return []; // an empty file: the parser returns an empty stream
  if (documents.length > RULE_FILE_LIMITS.maxDocuments) {
    throw new SigmaRuleError(file.path, undefined, undefined, `more than ${RULE_FILE_LIMITS.maxDocuments} YAML documents in one file`);
  }
  const parsed: RuleDocument[] = [];
  for (const document of documents) {
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem) {
      const at = problem.linePos?.[0] ?? lines.linePos(problem.pos[0]);
      throw new SigmaRuleError(file.path, at.line, at.col, `YAML: ${problem.message.split('\n')[0]}`);
    }
    let rule: RuleDocument;
    try {
      rule = new RuleDocument(file.path, document, lines);
    } catch (error) {
      throw new SigmaRuleError(file.path, undefined, undefined, `YAML: ${(error as Error).message}`);
    }
    if (rule.value !== null && rule.value !== undefined) parsed.push(rule); // not an empty document between two `---`
  }
  return parsed;
}
