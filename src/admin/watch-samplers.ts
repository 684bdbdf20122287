/**
 * What each --watch samples, as RowInputs for the RateTracker (watch.ts): the same admin calls as
 * the one-shot commands, reshaped into rows with monotonic per-queue counters.
 *
 *  - consumerProgress -g G: one row per topic of the group (its %RETRY% topic too); counters per
 *    queue: broker offset (produced) and committed consumer offset (consumed).
 *  - consumerProgress: one row per group, the same counters over all its queues.
 *  - topicStatus -t T: one row per queue; counter: its max offset (no consumer side).
 *  - brokerStatus: one row per broker; counters: msgPutTotalTodayNow (put) and
 *    msgGetTotalTodayNow (handed to consumers), which restart at midnight (that interval is unknown).
 */
import { brokerStatus } from './cluster.js';
import { firstNumber, numOrNull } from './requests.js';
import { topicStatus } from './topics.js';
import { type TargetOptions } from './targets.js';
import { allGroupsProgress, consumerProgress, type GroupRow } from './progress.js';
import type { AdminSession } from './session.js';
import type { Part, RowInput, SampleInput } from './watch.js';

/** consumerProgress -g: one group's topic. */
export interface GroupTopicInfo {
  group: string;
  topic: string;
  online: boolean;
  queues: number;
  /** Age of the topic's oldest unconsumed message (ms); null when unknown. */
  lagMsMax: number | null;
}

/** consumerProgress without -g: one group. */
export interface GroupInfo {
  group: string;
  status: GroupRow['status'];
  count: number;
  lagMs: number | null;
}

/** topicStatus: one queue. */
export interface QueueInfo {
  brokerName: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
  lastUpdateTimestamp: number | null;
}

/** brokerStatus: one broker. */
export interface BrokerInfo {
  addr: string;
  brokerName: string | null;
  brokerId: number | null;
  /** The broker's own 10 s put / get TPS (first number of putTps / getTransferedTps), for comparison. */
  brokerPutTps: number | null;
  brokerGetTps: number | null;
  commitLogDiskRatio: number | null;
}

const queueId = (brokerName: string, id: number) => `${brokerName}/${id}`;

export function groupTopicsSampler(s: AdminSession, o: { group: string; topic?: string; concurrency?: number }): () => Promise<SampleInput<GroupTopicInfo>> {
  return async () => {
    const p = await consumerProgress(s, { group: o.group, topic: o.topic, concurrency: o.concurrency });
    const byTopic = new Map<string, RowInput<GroupTopicInfo>>();
    for (const q of p.queues) {
      let row = byTopic.get(q.topic);
      if (!row) {
        row = { key: q.topic, backlog: 0, parts: [], error: null, info: { group: p.group, topic: q.topic, online: p.online, queues: 0, lagMsMax: null } };
        byTopic.set(q.topic, row);
      }
      row.backlog! += q.diff;
      row.info.queues++;
      if (q.lagMs !== null) row.info.lagMsMax = Math.max(row.info.lagMsMax ?? 0, q.lagMs);
      row.parts.push({ id: queueId(q.brokerName, q.queueId), produced: q.brokerOffset, consumed: q.consumerOffset });
    }
    return { rows: [...byTopic.values()], failed: p.failed };
  };
}

export function allGroupsSampler(s: AdminSession, o: { concurrency?: number; withLag?: boolean }): () => Promise<SampleInput<GroupInfo>> {
  return async () => {
    const all = await allGroupsProgress(s, { concurrency: o.concurrency, withLag: o.withLag });
    const rows = all.groups.map((g): RowInput<GroupInfo> => {
      const parts: Part[] = g.queues.map((q) => ({ id: `${q.topic}/${queueId(q.brokerName, q.queueId)}`, produced: q.brokerOffset, consumed: q.consumerOffset }));
      return { key: g.group, backlog: g.diffTotal, parts, error: g.status === 'failed' ? (g.error ?? 'failed') : null, info: { group: g.group, status: g.status, count: g.count, lagMs: g.lagMs } };
    });
    return { rows, failed: all.failed };
  };
}

export function topicQueuesSampler(s: AdminSession, topic: string): () => Promise<SampleInput<QueueInfo>> {
  return async () => {
    const r = await topicStatus(s, topic);
    const rows = r.queues.map((q): RowInput<QueueInfo> => {
      const id = queueId(q.brokerName, q.queueId);
      return { key: id, backlog: null, parts: [{ id, produced: q.maxOffset, consumed: null }], error: null, info: { ...q } };
    });
    return { rows, failed: r.failed };
  };
}

export function brokersSampler(s: AdminSession, o: TargetOptions): () => Promise<SampleInput<BrokerInfo>> {
  return async () => {
    const r = await brokerStatus(s, o);
    const rows = r.brokers.map((b): RowInput<BrokerInfo> => {
      const put = numOrNull(b.stats.msgPutTotalTodayNow);
      const get = numOrNull(b.stats.msgGetTotalTodayNow);
      const info: BrokerInfo = {
        addr: b.addr,
        brokerName: b.brokerName,
        brokerId: b.brokerId,
        brokerPutTps: firstNumber(b.stats.putTps),
        brokerGetTps: firstNumber(b.stats.getTransferedTps ?? b.stats.getTransferredTps),
        commitLogDiskRatio: numOrNull(b.stats.commitLogDiskRatio),
      };
      const parts: Part[] = put === null ? [] : [{ id: 'msgs', produced: put, consumed: get }];
      return { key: b.addr, backlog: null, parts, error: null, info };
    });
    // A broker that failed in this sample is a failed row (its address is known), not only a note.
    for (const f of r.failed) {
      rows.push({ key: f.addr, backlog: null, parts: [], error: f.message, info: { addr: f.addr, brokerName: f.brokerName, brokerId: null, brokerPutTps: null, brokerGetTps: null, commitLogDiskRatio: null } });
    }
    rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { rows, failed: r.failed };
  };
}

