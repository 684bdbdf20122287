/**
 * A message's trace as a timeline (docs/broker-trace.md): every step client and broker records
 * tell, in time order, with the gap since the step before.
 *
 *  - sent: a client's Pub (its time is when the send started)
 *  - stored / retried / DLQ: a broker's Pub into the message's topic / %RETRY%<group> / %DLQ%<group>
 *  - delivered: a broker's SubBefore (a pull returned the message to a consumer)
 *  - consumed / consume failed / consuming: a client's consume attempt (SubAfter success, failed,
 *    or no SubAfter yet)
 *  - committed: a broker's SubAfter (the group's committed offset passed the message)
 *  - transaction: a client's EndTransaction (its state in the detail)
 */
import type { TraceRecord } from '../protocol/trace.js';
import type { TraceRow, TraceSource } from './trace.js';

export type TimelineStepName = 'sent' | 'stored' | 'transaction' | 'delivered' | 'consumed' | 'consume failed' | 'consuming' | 'retried' | 'DLQ' | 'committed';

export interface TimelineStep {
  step: TimelineStepName;
  source: TraceSource;
  timeStamp: number | null;
  /** ms since the step before (null for the first, or when either has no time). */
  gapMs: number | null;
  group: string | null;
  clientHost: string | null;
  costTimeMs: number | null;
  /** Topic, reconsume count, transaction state, failure: what else the record says. */
  detail: string;
}

export interface TraceTimeline {
  msgId: string;
  /** The message's topic, from its first Pub (null when no Pub was found). */
  topic: string | null;
  keys: string | null;
  steps: TimelineStep[];
}

/** Same time: the order the steps happen in. */
const STEP_ORDER: Record<TimelineStepName, number> = {
  sent: 0,
  stored: 1,
  transaction: 2,
  delivered: 3,
  consuming: 4,
  'consume failed': 5,
  consumed: 6,
  retried: 7,
  DLQ: 8,
  committed: 9,
};

/** One timeline per message of `rows`, in the order the messages first appear. */
export function traceTimelines(rows: readonly TraceRow[]): TraceTimeline[] {
  const byId = new Map<string, TimelineStep[]>();
  const meta = new Map<string, { topic: string | null; keys: string | null }>();
  for (const row of rows) {
    let steps = byId.get(row.msgId);
    if (!steps) {
      steps = [];
      byId.set(row.msgId, steps);
      meta.set(row.msgId, { topic: null, keys: null });
    }
    const m = meta.get(row.msgId)!;
    for (const rec of row.records) {
      if (rec.type === 'Pub' && m.topic === null && !rec.topic.startsWith('%')) m.topic = rec.topic;
      m.keys ??= rec.keys;
    }
    steps.push(...stepsOf(row));
  }
  return [...byId].map(([msgId, steps]) => ({ msgId, ...meta.get(msgId)!, steps: withGaps(steps) }));
}

function stepsOf(row: TraceRow): TimelineStep[] {
  const base = { source: row.source, group: row.group, clientHost: row.clientHost, gapMs: null };
  const one = (step: TimelineStepName, detail: string): TimelineStep[] => [{ ...base, step, timeStamp: row.timeStamp, costTimeMs: row.costTimeMs, detail }];
  const rec = row.records[0]!;
  if (rec.type === 'Pub') {
    const failed = rec.success ? '' : ', failed';
    if (row.source === 'client') return one('sent', `${rec.topic}${failed}`);
    const step: TimelineStepName = rec.topic.startsWith('%RETRY%') ? 'retried' : rec.topic.startsWith('%DLQ%') ? 'DLQ' : 'stored';
    return one(step, `${rec.topic}${rec.msgType === 1 ? ' (half message)' : ''}${failed}`);
  }
  if (rec.type === 'EndTransaction') return one('transaction', rec.transactionState);
  if (row.source === 'client') {
    const step: TimelineStepName = row.success === null ? 'consuming' : row.success ? 'consumed' : 'consume failed';
    const before = row.records.find((r) => r.type === 'SubBefore');
    return one(step, before?.type === 'SubBefore' ? `reconsume ${before.retryTimes}` : '');
  }
  // A broker's Sub row: its delivery and its commit are two steps.
  return row.records.map((r) => brokerSubStep(r, base));
}

function brokerSubStep(r: TraceRecord, base: Pick<TimelineStep, 'source' | 'group' | 'clientHost' | 'gapMs'>): TimelineStep {
  if (r.type === 'SubBefore') return { ...base, step: 'delivered', timeStamp: r.timeStamp, costTimeMs: null, detail: `reconsume ${r.retryTimes}` };
  const cost = r.type === 'SubAfter' ? r.costTime : null;
  const ts = r.type === 'SubAfter' ? r.timeStamp : null;
  return { ...base, step: 'committed', timeStamp: ts, costTimeMs: cost, detail: 'the group\'s committed offset passed it' };
}

function withGaps(steps: TimelineStep[]): TimelineStep[] {
  steps.sort((a, b) => (a.timeStamp ?? Infinity) - (b.timeStamp ?? Infinity) || STEP_ORDER[a.step] - STEP_ORDER[b.step]);
  let prev: number | null = null;
  for (const [i, s] of steps.entries()) {
    s.gapMs = i > 0 && prev !== null && s.timeStamp !== null ? s.timeStamp - prev : null;
    if (s.timeStamp !== null) prev = s.timeStamp;
  }
  return steps;
}
