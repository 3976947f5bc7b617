import { printable } from './terminal-text.js';

/** Colors the tables use (only on a terminal). */
export type Color = 'red' | 'yellow' | 'green' | 'dim' | 'bold' | 'none';
const ANSI: Record<Color, string> = { red: '\u001b[31m', yellow: '\u001b[33m', green: '\u001b[32m', dim: '\u001b[2m', bold: '\u001b[1m', none: '' };

/** Wraps `text` in a color when `enabled`. */
export function paint(enabled: boolean, color: Color, text: string): string {
  return enabled && color !== 'none' ? `${ANSI[color]}${text}\u001b[0m` : text;
}

/** One cell: text, and optionally its color. */
export type Cell = string | { readonly text: string; readonly color: Color };

/**
 * A plain-text table: a header row, then one row per entry, columns padded to the widest cell,
 * the last column left ragged. Cells are made {@link printable}; colors only when `color` is true.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[], options: { readonly color: boolean }): string {
  const text = (cell: Cell) => printable(typeof cell === 'string' ? cell : cell.text);
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => text(row[i] ?? '').length)));
  const line = (cells: readonly Cell[], header: boolean) =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? text(cell) : text(cell).padEnd(widths[i]!);
        const color = header ? 'bold' : typeof cell === 'string' ? 'none' : cell.color;
        return paint(options.color, color, padded);
      })
      .join('  ')
      .trimEnd();
  return [line(headers, true), ...rows.map((row) => line(row, false))].join('\n');
}

/** "1 problem" / "2 problems". */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** A duration for people: "850 ms", "12 s", "4 min", "3 h", "2 d". */
export function humanDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(ms)} ms`;
  if (abs < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (abs < 2 * 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (abs < 2 * 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/**
 * An ISO time without milliseconds, e.g. 2026-05-01T12:00:00Z; "invalid time" for a number no Date
 * holds (a forged entry in Redis must not stop the command that shows it).
 */
export function isoTime(ms: number): string {
  const time = new Date(ms);
  return Number.isNaN(time.getTime()) ? 'invalid time' : time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
