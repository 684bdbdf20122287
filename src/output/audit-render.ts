/** Human output of `rocketctl audit`: one row per change, before -> after as compact JSON. */
import type { AuditResult } from '../admin/audit.js';
import { renderTable } from './table.js';

/** Longest before/after text in a table cell; --json has the whole value. */
const STATE_CHARS_MAX = 120;

function compact(v: unknown): string {
  const s = v === null || v === undefined ? '-' : JSON.stringify(v);
  return s.length > STATE_CHARS_MAX ? `${s.slice(0, STATE_CHARS_MAX - 1)}…` : s;
}

export function renderAudit(r: AuditResult): string {
  if (r.entries.length === 0) return 'No audit entries match (the log holds admin changes only: sends, pulls and consumers\' own commits are not in it).';
  return renderTable(
    ['#Time', '#Who', '#What', '#Target', '#Before', '#After', '#Result'],
    r.entries.map((e) => [
      e.time,
      [e.who.addr, e.who.accessKey, e.who.command && `(${e.who.command})`].filter(Boolean).join(' '),
      e.what,
      Object.entries(e.target).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ') || '-',
      compact(e.before),
      compact(e.after),
      e.result.remark ? `${e.result.name}: ${e.result.remark}` : e.result.name,
    ]),
  );
}
