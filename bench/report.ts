/** Result rows, their printed table and the JSON file written beside it. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';

/** A measured figure beside the baseline measured in the same run. */
export interface Row {
  /** Stable key for the JSON file, e.g. "core.seal". */
  id: string;
  label: string;
  value: number;
  unit: string;
  baseline?: { label: string; value: number; unit: string };
  /** How the figure compares with its baseline; its meaning is in `label` ("× raw SQLite", "SHA-256 calls"). */
  ratio?: { value: number; label: string };
  /** A goal on `value` or on `ratio`. */
  target?: { on: 'value' | 'ratio'; op: '<=' | '>='; limit: number };
  note?: string;
}

export interface Section {
  title: string;
  rows: Row[];
  /** Lines printed under the table (what was measured, and how). */
  notes: string[];
}

export interface Report {
  startedAt: string;
  quick: boolean;
  /** Commit measured, with "+dirty" when src/ had uncommitted changes. */
  revision: string;
  node: string;
  cpus: string;
  memoryGiB: number;
  /** 1-minute load average at the start and at the end: above the core count, figures are unreliable. */
  loadAverage: { start: number; end: number };
  sections: Section[];
  durationSeconds: number;
}

function git(args: string[], cwd: string): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

/** The commit being measured, marked "+dirty" when src/ differs from it. */
export function revision(projectRoot: string): string {
  try {
    const head = git(['rev-parse', '--short', 'HEAD'], projectRoot);
    return git(['status', '--porcelain', '--', 'src'], projectRoot) === '' ? head : `${head}+dirty`;
  } catch {
    return 'unknown';
  }
}

export function machine(projectRoot: string): Pick<Report, 'revision' | 'node' | 'cpus' | 'memoryGiB'> {
  const list = cpus();
  return {
    revision: revision(projectRoot),
    node: process.version,
    cpus: `${list.length} × ${list[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

export function loadAverage(): number {
  return Math.round(loadavg()[0]! * 100) / 100;
}

export function meetsTarget(row: Row): boolean | undefined {
  if (!row.target) return undefined;
  const actual = row.target.on === 'value' ? row.value : row.ratio?.value;
  if (actual === undefined) return undefined;
  return row.target.op === '<=' ? actual <= row.target.limit : actual >= row.target.limit;
}

/** 1234567 → "1,234,567"; small numbers keep up to 3 significant decimals. */
export function formatNumber(n: number): string {
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : Math.abs(n) >= 1 ? 2 : 3;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

function cell(value: number, unit: string): string {
  return `${formatNumber(value)} ${unit}`;
}

function targetText(row: Row): string {
  const passed = meetsTarget(row);
  if (passed === undefined || !row.target) return '';
  const subject = row.target.on === 'ratio' ? 'ratio ' : '';
  return `${passed ? 'PASS' : 'MISS'} (${subject}${row.target.op === '<=' ? '≤' : '≥'} ${formatNumber(row.target.limit)})`;
}

function rowCells(row: Row): string[] {
  return [
    row.label,
    cell(row.value, row.unit),
    row.baseline ? `${row.baseline.label}: ${cell(row.baseline.value, row.baseline.unit)}` : '',
    row.ratio ? `${formatNumber(row.ratio.value)} ${row.ratio.label}` : '',
    targetText(row),
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((c, col) => c.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n');
}

export function formatSection(section: Section): string {
  const header = ['figure', 'measured', 'baseline (same run)', 'ratio', 'target'];
  const lines = [`== ${section.title} ==`, table([header, ...section.rows.map(rowCells)])];
  const rowNotes = section.rows.filter((r) => r.note).map((r) => `  * ${r.label}: ${r.note}`);
  const notes = [...section.notes.map((n) => `  - ${n}`), ...rowNotes];
  return notes.length > 0 ? `${lines.join('\n')}\n${notes.join('\n')}\n` : `${lines.join('\n')}\n`;
}

/** "37.6 SHA-256 calls/event (target ≤ 20)" for a row with a target. */
function targetSummary(row: Row): string {
  const target = row.target!;
  const actual = target.on === 'value' ? cell(row.value, row.unit) : `${formatNumber(row.ratio?.value ?? NaN)} ${row.ratio?.label ?? ''}`;
  return `${actual} (target ${target.op === '<=' ? '≤' : '≥'} ${formatNumber(target.limit)})`;
}

export function formatSummary(report: Report): string {
  const targeted = report.sections.flatMap((s) => s.rows).filter((r) => r.target);
  const lines = targeted.map((r) => `  ${meetsTarget(r) ? 'PASS' : 'MISS'}  ${r.label.trim()}: ${targetSummary(r)}`);
  const { start, end } = report.loadAverage;
  return `== Targets ==\n${lines.join('\n')}\n(total ${formatNumber(report.durationSeconds)} s; load average ${start} at start, ${end} at end)\n`;
}

export function writeJson(path: string, report: Report): void {
  mkdirSync(dirname(path), { recursive: true });
  const rows = report.sections.map((s) => ({ ...s, rows: s.rows.map((r) => ({ ...r, met: meetsTarget(r) ?? null })) }));
  writeFileSync(path, `${JSON.stringify({ ...report, sections: rows }, null, 2)}\n`);
}
