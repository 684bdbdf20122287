/**
 * --watch output: the live view redrawn on a terminal, and the NDJSON line of each sample
 * (schemas/watch-sample.json; README "Live watch").
 */
import type { BrokerInfo, GroupInfo, GroupTopicInfo, QueueInfo } from '../admin/watch-samplers.js';
import { RATE_WINDOW_INTERVALS, type Drain, type WatchRow, type WatchSample } from '../admin/watch.js';
import { colors } from './colors.js';
import { formatDuration, formatTime } from './progress-render.js';
import { renderTable, type Cell } from './table.js';

export type WatchMode = 'group' | 'all' | 'topic' | 'broker';

export interface WatchInfo {
  group: GroupTopicInfo;
  all: GroupInfo;
  topic: QueueInfo;
  broker: BrokerInfo;
}

// ---- NDJSON -------------------------------------------------------------------------------------

/** One NDJSON line: the sample, each row's info fields flattened into it, without the trend. */
export function sampleLine<M extends WatchMode>(command: string, mode: M, s: WatchSample<WatchInfo[M]>): Record<string, unknown> {
  return {
    type: 'sample',
    command,
    mode,
    seq: s.seq,
    measuredAt: s.measuredAt,
    intervalMs: s.intervalMs,
    rows: s.rows.map(({ info, trend: _t, ...m }) => ({ ...info, ...m })),
    failed: s.failed,
    error: s.error,
  };
}

// ---- cells --------------------------------------------------------------------------------------

const SPARKS = '▁▂▃▄▅▆▇█';

/** A trend line scaled from 0 to the largest value shown (so a drained backlog is the lowest bar); a gap where unknown. */
export function sparkline(values: ReadonlyArray<number | null>): string {
  const max = Math.max(0, ...values.filter((v): v is number => v !== null));
  return values.map((v) => (v === null ? ' ' : SPARKS[max === 0 ? 0 : Math.min(7, Math.round((v / max) * 7))])).join('');
}

/** "~4m05s", "drained", "growing", "stalled", "-" (not known yet). */
export function formatDrain(d: Drain): string {
  switch (d.state) {
    case 'drained':
      return colors.ok('drained');
    case 'draining':
      return `~${formatDuration(d.etaMs)}`;
    case 'growing':
      return colors.fail('growing');
    case 'stalled':
      return colors.warn('stalled');
    default:
      return '-';
  }
}

function formatRate(perS: number | null): string {
  if (perS === null) return '-';
  return `${perS >= 100 ? perS.toFixed(0) : perS.toFixed(1)}/s`;
}

function formatChange(n: number | null): string {
  if (n === null) return '-';
  return n > 0 ? `+${n}` : String(n);
}

// ---- frames -------------------------------------------------------------------------------------

interface View<E> {
  head: string[];
  align: number[];
  cells: (r: WatchRow<E>) => Cell[];
  /** Shown instead of the cells of a failed row (after the name cells). */
  nameCells: number;
}

const views: { [M in WatchMode]: View<WatchInfo[M]> } = {
  group: {
    head: ['#Topic', '#Backlog', '#Change', '#Produced', '#Consumed', '#Drained in', '#Trend', '#Lag'],
    align: [1, 2, 3, 4],
    nameCells: 1,
    cells: (r) => [r.info.topic, r.backlog, formatChange(r.backlogChange), formatRate(r.produceRate), formatRate(r.consumeRate), formatDrain(r.drain), sparkline(r.trend), formatDuration(r.info.lagMsMax)],
  },
  all: {
    head: ['#Group', '#Status', '#Backlog', '#Change', '#Produced', '#Consumed', '#Drained in', '#Trend'],
    align: [2, 3, 4, 5],
    nameCells: 1,
    cells: (r) => [r.info.group, r.info.status === 'online' ? `online (${r.info.count})` : r.info.status, r.backlog, formatChange(r.backlogChange), formatRate(r.produceRate), formatRate(r.consumeRate), formatDrain(r.drain), sparkline(r.trend)],
  },
  topic: {
    head: ['#Broker Name', '#QID', '#Min Offset', '#Max Offset', '#Change', '#Produced', '#Last Updated'],
    align: [1, 2, 3, 4, 5],
    nameCells: 2,
    cells: (r) => [r.info.brokerName, r.info.queueId, r.info.minOffset, r.info.maxOffset, formatChange(r.produced), formatRate(r.produceRate), formatTime(r.info.lastUpdateTimestamp)],
  },
  broker: {
    head: ['#Broker Name', '#Addr', '#Put', '#Get', '#Put Change', '#Get Change', '#Broker putTps', '#Disk'],
    align: [2, 3, 4, 5, 6, 7],
    nameCells: 2,
    cells: (r) => [
      r.info.brokerName ?? '',
      r.info.addr,
      formatRate(r.produceRate),
      formatRate(r.consumeRate),
      formatChange(r.produced),
      formatChange(r.consumed),
      r.info.brokerPutTps === null ? '-' : r.info.brokerPutTps.toFixed(1),
      r.info.commitLogDiskRatio === null ? '-' : `${(r.info.commitLogDiskRatio * 100).toFixed(0)}%`,
    ],
  },
};

interface FrameOptions {
  /** The command line shown at the top, e.g. "consumerProgress -g orders". */
  title: string;
  intervalS: number;
  /** Terminal rows: rows that do not fit are summarised in one line (a frame taller than the screen cannot be redrawn in place). */
  maxLines?: number;
}

/** The whole live view of one sample. */
export function renderWatchFrame<M extends WatchMode>(mode: M, s: WatchSample<WatchInfo[M]>, o: FrameOptions): string {
  const view = views[mode] as View<WatchInfo[M]>;
  const head = `${colors.bold(o.title)}  every ${o.intervalS}s  ${formatTime(s.measuredAt)}  sample ${s.seq}  ${colors.dim('(Ctrl-C to stop)')}`;
  const lines = [head, ''];
  if (s.error !== null) lines.push(colors.fail(`sample failed: ${s.error}`));
  else {
    const rows = s.rows.map((r) => (r.error === null ? view.cells(r) : [...view.cells(r).slice(0, view.nameCells), colors.fail('FAILED')]));
    lines.push(...(rows.length > 0 ? renderTable(view.head, rows, { align: view.align }).split('\n') : ['(nothing to show)']));
    for (const r of s.rows.filter((x) => x.error !== null)) lines.push(colors.fail(`${r.key}: ${r.error}`));
  }
  for (const f of s.failed) lines.push(colors.fail(`broker ${f.brokerName ?? f.addr} (${f.addr}) failed in this sample: ${f.message}`));
  lines.push('');
  lines.push(colors.dim(s.intervalMs === null ? 'rates need two samples: "-" until the next one' : `rates over the last ${RATE_WINDOW_INTERVALS} intervals at most; drained in = backlog ÷ (consumed − produced per second)`));
  if (o.maxLines !== undefined && lines.length > o.maxLines) {
    const keep = Math.max(1, o.maxLines - 1);
    return [...lines.slice(0, keep), colors.dim(`... ${lines.length - keep} more line(s): a taller terminal shows them`)].join('\n');
  }
  return lines.join('\n');
}
