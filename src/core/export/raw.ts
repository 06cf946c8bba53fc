/**
 * The bulk path of JSON Lines and CSV (docs/EXPORT.md, "How an export reads"): lines written straight
 * from an entry's disclosures as the store keeps them, JSON text `{"path":["salt",value],…}` written by
 * JSON.stringify, without parsing it into objects and serialising the rebuilt event again. Each value's
 * text is already what JSON.stringify writes for it (stringify of a parse of stringify's output is that
 * output), so the event's JSON is assembled from the slices, grouped like recordFromEntry groups them.
 *
 * It answers only the common case and returns undefined otherwise, for the caller to take the general
 * path (recordFromEntry and the formatter), which stays the definition of the output: an entry with
 * redactions (erased or purged fields, whose markers and `redacted` list that path writes), and any text
 * not exactly of the shape above (whitespace, escapes in a path or next to a salt's quotes, keys the
 * general path would order or treat differently: a leading digit, `__proto__`, a path naming a group
 * itself). test/core/export/raw.test.ts compares both paths byte for byte.
 */
import { csvCell } from './csv.js';
import { base64Of, controlSafeText, exportLocation, formatReceivedAt, type LocationLike } from './record.js';

/** An entry as a bulk reader has it (the store's ExportHit extends it): disclosures still JSON text. */
export interface RawEntryLike {
  ledger: string;
  index: number;
  receivedAtMicros: number;
  leafHash: Uint8Array;
  /** The leaf's writer (writerFromLeaf). */
  writer: string;
  /** The stored disclosures, JSON text written by JSON.stringify. */
  disclosuresJson: string;
  redactions?: Record<string, string> | undefined;
  location?: LocationLike | undefined;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Index after the JSON string opening at `open`, or -1. */
function stringEnd(text: string, open: number): number {
  for (let from = open + 1; ; ) {
    const close = text.indexOf('"', from);
    if (close < 0) return -1;
    let before = close - 1;
    while (text.charCodeAt(before) === BACKSLASH) before--;
    if (((close - 1 - before) & 1) === 0) return close + 1;
    from = close + 1;
  }
}

/** Index after the JSON value starting at `start` (stringify's form: no whitespace), or -1. */
function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return stringEnd(text, start);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    for (let i = start; i < text.length; ) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i = stringEnd(text, i);
        if (i < 0) return -1;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (--depth === 0) return i + 1;
      } else if (c <= 0x20) return -1;
      i++;
    }
    return -1;
  }
  // A literal or a number: up to the `]` closing the [salt, value] pair, in stringify's spelling.
  const end = text.indexOf(']', start);
  if (end < 0) return -1;
  const literal = text.slice(start, end);
  if (literal === 'true' || literal === 'false' || literal === 'null' || String(Number(literal)) === literal) return end;
  return -1;
}

/**
 * `json` ({"path":["salt",value],…}) as parallel lists of paths and value texts, in order; false when the
 * text is not exactly of that shape. The lists are the caller's, reused across entries.
 */
export function splitDisclosures(json: string, paths: string[], values: string[]): boolean {
  paths.length = 0;
  values.length = 0;
  if (json.charCodeAt(0) !== OPEN_BRACE) return false;
  if (json.charCodeAt(1) === CLOSE_BRACE) return json.length === 2;
  for (let i = 1; ; ) {
    if (json.charCodeAt(i) !== QUOTE) return false;
    const pathEnd = json.indexOf('"', i + 1);
    if (pathEnd < 0) return false;
    const path = json.slice(i + 1, pathEnd);
    if (path.includes('\\') || json.charCodeAt(pathEnd + 1) !== COLON || json.charCodeAt(pathEnd + 2) !== OPEN_BRACKET || json.charCodeAt(pathEnd + 3) !== QUOTE) return false;
    // The salt: its content is not needed, only where it ends (a quote after a backslash could be escaped).
    const saltEnd = json.indexOf('"', pathEnd + 4);
    if (saltEnd < 0 || json.charCodeAt(saltEnd - 1) === BACKSLASH || json.charCodeAt(saltEnd + 1) !== COMMA) return false;
    const start = saltEnd + 2;
    const end = valueEnd(json, start);
    if (end < 0 || json.charCodeAt(end) !== CLOSE_BRACKET) return false;
    paths.push(path);
    values.push(json.slice(start, end));
    const next = json.charCodeAt(end + 1);
    if (next === CLOSE_BRACE) return end + 2 === json.length;
    if (next !== COMMA) return false;
    i = end + 2;
  }
}

const enum Group {
  Actor = 0,
  Origin = 1,
  Metadata = 2,
}

function groupOf(head: string): Group | -1 {
  return head === 'actor' ? Group.Actor : head === 'origin' ? Group.Origin : head === 'metadata' ? Group.Metadata : -1;
}

/** Keys the general path would not keep in insertion order (array indexes) or would not keep at all. */
function awkwardKey(key: string): boolean {
  const c = key.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39) || key === '__proto__';
}

/** The CSV columns (csv.ts) that show one top-level field or group member, in column order. */
const SIMPLE_COLUMNS = [
  'id',
  'occurred_at',
  'actor.type',
  'actor.id',
  'actor.name',
  'actor.email',
  'actor.session_id',
  'action',
  'category',
  'outcome',
  'outcome_reason',
  'tenant',
  'origin.ip',
  'origin.user_agent',
  'origin.device_id',
] as const;

const SIMPLE_COLUMN = new Map<string, number>(SIMPLE_COLUMNS.map((path, i) => [path, i]));

/**
 * How the event of every entry with one list of paths is written (compileShape): the JSON of the event
 * and of its metadata as literal pieces between value texts, and where the CSV columns and targets find
 * theirs. The events of a ledger have few distinct lists of paths, so an export compiles each of them
 * once and then, per entry, only reads the text along the tree of known shapes (knownShape) and fills
 * in the values, instead of sorting every path into its group again.
 */
interface Shape {
  paths: readonly string[];
  /** False: the general path decides every entry of this shape (see rawEvent). */
  ok: boolean;
  /** The event's JSON: eventParts[0] + values[eventRefs[0]] + eventParts[1] + … + eventParts[n]. */
  eventParts: string[];
  eventRefs: number[];
  /** The metadata object's JSON the same way, or undefined when no member is disclosed. */
  metadataParts: string[] | undefined;
  metadataRefs: number[];
  /** The value of each SIMPLE_COLUMNS column, by its index in the entry's list; -1 when absent. */
  columns: number[];
  /** The value of each target position, by its index in the entry's list; -1 for a hole. */
  targets: number[];
}

/** Shapes one export keeps, beyond which it forgets them all and starts again. */
const MAX_SHAPES = 64;

/** Lists one export reuses for every entry (an export formats one entry at a time). */
export interface RawScratch {
  paths: string[];
  values: string[];
  /** Value texts of SIMPLE_COLUMNS, by column (rawEvent). */
  columns: Array<string | undefined>;
  /** Target value texts by position (undefined: a hole, which the event shows as null; rawEvent). */
  targets: Array<string | undefined>;
  /** The event's JSON text as JSON.stringify(recordFromEntry(entry).event) writes it (rawEvent). */
  event: string;
  /** The metadata object's JSON text, or undefined when no member is disclosed (rawEvent). */
  metadata: string | undefined;
  /** The shapes compiled so far, as a tree of their paths, and how many. */
  tree: ShapeNode;
  shapes: number;
}

export function rawScratch(): RawScratch {
  return { paths: [], values: [], columns: [], targets: [], event: '', metadata: undefined, tree: shapeTree(), shapes: 0 };
}

/** Literal text and value references, gathered into the parts/refs form of a Shape. */
class Template {
  readonly parts: string[] = [''];
  readonly refs: number[] = [];
  text(text: string): void {
    this.parts[this.parts.length - 1] += text;
  }
  value(n: number): void {
    this.refs.push(n);
    this.parts.push('');
  }
}

function fill(parts: readonly string[], refs: readonly number[], values: readonly string[]): string {
  let out = parts[0]!;
  for (let k = 0; k < refs.length; k++) out += values[refs[k]!]! + parts[k + 1]!;
  return out;
}

const DECLINED = (paths: readonly string[]): Shape => ({ paths, ok: false, eventParts: [], eventRefs: [], metadataParts: undefined, metadataRefs: [], columns: [], targets: [] });

/**
 * The shape of entries whose disclosures list `paths` in this order: top-level members in the order
 * recordFromEntry creates them, a group in the place of its first member, targets last. Declined where
 * the general path must decide (see the module comment); that depends on the paths alone.
 */
function compileShape(paths: readonly string[]): Shape {
  const seen = new Set<string>();
  /** Top-level members (their index in `paths`) and groups (~Group), in order. */
  const top: number[] = [];
  const members: Array<Array<[key: string, n: number]> | undefined> = [undefined, undefined, undefined];
  const columns = SIMPLE_COLUMNS.map(() => -1);
  const targets: number[] = [];
  for (let n = 0; n < paths.length; n++) {
    const path = paths[n]!;
    if (seen.has(path)) return DECLINED(paths); // JSON.parse keeps one member of a repeated name
    seen.add(path);
    const column = SIMPLE_COLUMN.get(path);
    if (column !== undefined) columns[column] = n;
    const dot = path.indexOf('.');
    if (dot < 0) {
      if (awkwardKey(path) || path === 'targets' || groupOf(path) !== -1) return DECLINED(paths);
      top.push(n);
      continue;
    }
    const head = path.slice(0, dot);
    if (head === 'targets') {
      const digits = path.slice(dot + 1);
      const position = Number(digits);
      if (!(position >= 0 && position < 1024 && String(position) === digits)) return DECLINED(paths);
      while (targets.length < position) targets.push(-1);
      targets[position] = n;
      continue;
    }
    const group = groupOf(head);
    if (group === -1) continue; // recordFromEntry keeps no other dotted path
    const key = path.slice(dot + 1);
    if (awkwardKey(key)) return DECLINED(paths);
    if (members[group] === undefined) {
      members[group] = [];
      top.push(~group);
    }
    members[group]!.push([key, n]);
  }
  const object = (t: Template, list: ReadonlyArray<[string, number]>) => {
    t.text('{');
    list.forEach(([key, n], i) => {
      t.text(`${i > 0 ? ',' : ''}"${key}":`);
      t.value(n);
    });
    t.text('}');
  };
  const event = new Template();
  event.text('{');
  top.forEach((item, i) => {
    if (i > 0) event.text(',');
    if (item >= 0) {
      event.text(`"${paths[item]!}":`);
      event.value(item);
      return;
    }
    const group = ~item as Group;
    event.text(group === Group.Actor ? '"actor":' : group === Group.Origin ? '"origin":' : '"metadata":');
    object(event, members[group]!);
  });
  if (targets.length > 0) {
    event.text(`${top.length > 0 ? ',' : ''}"targets":[`);
    targets.forEach((n, i) => {
      if (i > 0) event.text(',');
      if (n < 0) event.text('null');
      else event.value(n);
    });
    event.text(']');
  }
  event.text('}');
  let metadata: Template | undefined;
  if (members[Group.Metadata] !== undefined) object((metadata = new Template()), members[Group.Metadata]);
  return {
    paths,
    ok: true,
    eventParts: event.parts,
    eventRefs: event.refs,
    metadataParts: metadata?.parts,
    metadataRefs: metadata?.refs ?? [],
    columns,
    targets,
  };
}

/**
 * The shape of `json` from the shapes already compiled, its value texts into `values`; undefined when
 * none fits (a list of paths not seen yet) or the text is not of the form splitDisclosures reads. The
 * shapes are kept as a tree of their paths, walked as the text is read: at each member, the path is
 * compared in place with the few that followed the same paths before, then checked as splitDisclosures
 * checks it, so that a text fits a shape exactly when splitDisclosures gives the shape's paths.
 */
function knownShape(json: string, root: ShapeNode, values: string[]): Shape | undefined {
  values.length = 0;
  if (json.charCodeAt(0) !== OPEN_BRACE || json.charCodeAt(1) === CLOSE_BRACE) return undefined;
  for (let node = root, i = 1; ; ) {
    if (json.charCodeAt(i) !== QUOTE) return undefined;
    let child: ShapeNode | undefined;
    // The paths of a tree hold neither `"` nor `\\`, so one followed by a quote is what splitDisclosures would cut here.
    for (const c of node.children) {
      if (json.startsWith(c.path, i + 1) && json.charCodeAt(i + 1 + c.path.length) === QUOTE) {
        child = c;
        break;
      }
    }
    if (child === undefined) return undefined;
    const pathEnd = i + 1 + child.path.length;
    if (json.charCodeAt(pathEnd + 1) !== COLON || json.charCodeAt(pathEnd + 2) !== OPEN_BRACKET || json.charCodeAt(pathEnd + 3) !== QUOTE) return undefined;
    const saltEnd = json.indexOf('"', pathEnd + 4);
    if (saltEnd < 0 || json.charCodeAt(saltEnd - 1) === BACKSLASH || json.charCodeAt(saltEnd + 1) !== COMMA) return undefined;
    const start = saltEnd + 2;
    const end = valueEnd(json, start);
    if (end < 0 || json.charCodeAt(end) !== CLOSE_BRACKET) return undefined;
    values.push(json.slice(start, end));
    const next = json.charCodeAt(end + 1);
    if (next === CLOSE_BRACE) return end + 2 === json.length ? child.shape : undefined;
    if (next !== COMMA) return undefined;
    node = child;
    i = end + 2;
  }
}

/** A tree of the compiled shapes' paths: a node per path after those of its ancestors. */
interface ShapeNode {
  path: string;
  children: ShapeNode[];
  /** The shape whose paths end here. */
  shape: Shape | undefined;
}

function shapeTree(): ShapeNode {
  return { path: '', children: [], shape: undefined };
}

/** Adds the shape of `paths` to the tree. */
function addShape(root: ShapeNode, shape: Shape): void {
  let node = root;
  for (const path of shape.paths) {
    let child = node.children.find((c) => c.path === path);
    if (child === undefined) node.children.push((child = { path, children: [], shape: undefined }));
    node = child;
  }
  node.shape = shape;
}

/**
 * The shape of an entry without redactions, its value texts in `scratch.values`; undefined where the
 * general path must decide (see the module comment).
 */
function shapeOf(entry: RawEntryLike, scratch: RawScratch): Shape | undefined {
  if (entry.redactions !== undefined && entry.redactions !== null) return undefined;
  const json = entry.disclosuresJson;
  let shape = knownShape(json, scratch.tree, scratch.values);
  if (shape === undefined) {
    const { paths, values } = scratch;
    if (!splitDisclosures(json, paths, values)) return undefined;
    if (scratch.shapes >= MAX_SHAPES) {
      scratch.tree = shapeTree();
      scratch.shapes = 0;
    }
    shape = compileShape([...paths]);
    // The empty text is not walked (it has no member to walk): no node is needed for it.
    if (paths.length > 0) {
      addShape(scratch.tree, shape);
      scratch.shapes++;
    }
  }
  return shape.ok ? shape : undefined;
}

/**
 * Reads the event of an entry without redactions from its disclosures text into `scratch` (event,
 * metadata, columns, targets); false where the general path must decide (see the module comment).
 */
export function rawEvent(entry: RawEntryLike, scratch: RawScratch): boolean {
  const shape = shapeOf(entry, scratch);
  if (shape === undefined) return false;
  const { values } = scratch;
  scratch.event = fill(shape.eventParts, shape.eventRefs, values);
  scratch.metadata = shape.metadataParts === undefined ? undefined : fill(shape.metadataParts, shape.metadataRefs, values);
  scratch.columns = shape.columns.map((n) => (n < 0 ? undefined : values[n]));
  scratch.targets = shape.targets.map((n) => (n < 0 ? undefined : values[n]));
  return true;
}

/** A text made from a name (ledger, writer), remembered: the same few names are on every line. */
class NameText {
  private name: string | undefined;
  private text = '';
  constructor(private readonly make: (name: string) => string) {}
  of(name: string): string {
    if (name !== this.name) {
      this.text = this.make(name);
      this.name = name;
    }
    return this.text;
  }
}

const nameJson = (name: string) => controlSafeText(JSON.stringify(name));
const ledgerJson = new NameText(nameJson);
const writerJson = new NameText(nameJson);
const ledgerCell = new NameText(csvCell);
const writerCell = new NameText(csvCell);

/** formatJsonLine(recordWithAttribution(entry, attribution)) without parsing the disclosures; undefined: take that path. */
export function rawJsonLine(entry: RawEntryLike, attribution: string, scratch: RawScratch = rawScratch()): string | undefined {
  const shape = shapeOf(entry, scratch);
  if (shape === undefined) return undefined;
  const event = fill(shape.eventParts, shape.eventRefs, scratch.values);
  const head = `{"ledger":${ledgerJson.of(entry.ledger)},"index":${entry.index},"received_at":"${formatReceivedAt(entry.receivedAtMicros)}","leaf_hash":"${base64Of(entry.leafHash)}","writer":${writerJson.of(entry.writer)},"event":${controlSafeText(event)}`;
  return entry.location ? `${head},"location":${controlSafeText(JSON.stringify(exportLocation(entry.location, attribution)))}}\n` : `${head}}\n`;
}

/** A value text as the CSV cell shows it (csv.ts cellText of the parsed value). */
function cellOf(value: string | undefined): string {
  if (value === undefined) return '';
  const c = value.charCodeAt(0);
  if (c === QUOTE) return value.includes('\\') ? (JSON.parse(value) as string) : value.slice(1, -1);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return controlSafeText(value);
  return value === 'null' ? '' : value; // numbers and booleans: JSON's spelling is String()'s
}

function memberCell(target: unknown, member: 'type' | 'id' | 'name'): string {
  if (target === null || typeof target !== 'object') return '';
  const value = (target as Record<string, unknown>)[member];
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return controlSafeText(JSON.stringify(value));
}

const optional = (value: string | number | undefined): string => (value === undefined ? '' : csvCell(String(value)));

/** formatCsvRow(recordWithAttribution(entry, attribution)) without parsing the disclosures; undefined: take that path. */
export function rawCsvRow(entry: RawEntryLike, attribution: string, scratch: RawScratch = rawScratch()): string | undefined {
  const shape = shapeOf(entry, scratch);
  if (shape === undefined) return undefined;
  const { values } = scratch;
  const { columns, targets } = shape;
  let line = `${ledgerCell.of(entry.ledger)},${entry.index},${csvCell(formatReceivedAt(entry.receivedAtMicros))},${csvCell(base64Of(entry.leafHash))},${writerCell.of(entry.writer)}`;
  for (let i = 0; i < SIMPLE_COLUMNS.length; i++) line += `,${csvCell(cellOf(columns[i]! < 0 ? undefined : values[columns[i]!]))}`;
  line += `,${targets.length === 0 ? '' : targets.length}`;
  for (let i = 0; i < 3; i++) {
    const n = i < targets.length ? targets[i]! : -1;
    const target: unknown = n < 0 ? undefined : JSON.parse(values[n]!);
    line += `,${csvCell(memberCell(target, 'type'))},${csvCell(memberCell(target, 'id'))},${csvCell(memberCell(target, 'name'))}`;
  }
  line += `,${targets.length > 3 ? csvCell(controlSafeText(`[${targets.slice(3).map((n) => (n < 0 ? 'null' : values[n]!)).join(',')}]`)) : ''}`;
  const metadata = shape.metadataParts === undefined ? undefined : fill(shape.metadataParts, shape.metadataRefs, values);
  line += `,${metadata === undefined ? '' : csvCell(controlSafeText(metadata))},`; // then redacted: empty
  const l = entry.location ? exportLocation(entry.location, attribution) : undefined;
  line += `,${optional(l?.country)},${optional(l?.region)},${optional(l?.city)},${optional(l?.latitude)},${optional(l?.longitude)},${optional(l?.reserved)},${optional(l?.attribution)}`;
  return `${line}\r\n`;
}
