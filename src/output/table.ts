import Table from 'cli-table3';
import { colors } from './colors.js';

export type Cell = string | number | boolean | null | undefined;

/**
 * A borderless, left-aligned table in mqadmin's column spirit (its headers start with '#').
 * `align` lists column indexes to right-align (numbers).
 */
export function renderTable(head: string[], rows: Cell[][], opts: { align?: number[] } = {}): string {
  const right = new Set(opts.align ?? []);
  const table = new Table({
    head: head.map((h) => colors.head(h)),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
    colAligns: head.map((_, i) => (right.has(i) ? 'right' : 'left')),
  });
  for (const row of rows) table.push(row.map((v) => (v === null || v === undefined ? '' : String(v))));
  return table.toString();
}

/** key: value lines, keys padded to the longest (mqadmin's "%-20s %s" style). */
export function renderKeyValues(pairs: Array<[string, Cell]>): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width + 1)}${v ?? ''}`).join('\n');
}
