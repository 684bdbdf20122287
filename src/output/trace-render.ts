/** queryMsgTrace's human output: mqadmin's trace table and the timeline of each message. */
import type { TraceLookup, TraceRow } from '../admin/trace.js';
import type { TraceTimeline } from '../admin/trace-timeline.js';
import { formatTime, formatTimeMs } from './progress-render.js';

/** mqadmin's "%-10s %-20s %-20s %-20s %-10s %-10s" (Java printf: pads, never truncates). */
function line(cells: string[], widths = [10, 20, 20, 20, 10, 10]): string {
  return cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ').trimEnd();
}

function renderTraceRows(rows: TraceRow[]): string {
  const out = [line(['#Type', '#Group', '#ClientHost', '#Time', '#CostTimes', '#Status'])];
  for (const r of rows) {
    out.push(line([r.type, r.group ?? 'N/A', r.clientHost, r.timeStamp === null ? 'N/A' : formatTime(r.timeStamp), r.costTimeMs === null ? '' : `${r.costTimeMs}ms`, r.status]));
  }
  return out.join('\n');
}

/** The steps of one message, oldest first, with the gap since the step before. */
function renderTimeline(t: TraceTimeline): string {
  const widths = [14, 7, 23, 9, 28, 22, 8];
  const out = [line(['#Step', '#By', '#Time', '#Gap', '#Group', '#ClientHost', '#Cost', '#Detail'], widths)];
  for (const s of t.steps) {
    const gap = s.gapMs === null ? '' : `+${s.gapMs}ms`;
    out.push(line([s.step, s.source, formatTimeMs(s.timeStamp), gap, s.group ?? 'N/A', s.clientHost ?? 'N/A', s.costTimeMs === null ? '' : `${s.costTimeMs}ms`, s.detail], widths));
  }
  return out.join('\n');
}

/** By id: mqadmin's table, then the timeline. By key: the same for each message found. */
export function renderTrace(r: TraceLookup): string {
  const parts: string[] = [];
  for (const t of r.timelines) {
    const rows = r.rows.filter((x) => x.msgId === t.msgId);
    const head = r.key === null ? [] : [`Message ${t.msgId}${t.topic === null ? '' : ` (topic ${t.topic}${t.keys === null ? '' : `, keys ${t.keys}`})`}`];
    parts.push([...head, renderTraceRows(rows), '', `Timeline (by: client = enableMsgTrace records, broker = brokerTraceEnable records):`, renderTimeline(t)].join('\n'));
  }
  return parts.join('\n\n');
}
