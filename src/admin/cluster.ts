/** clusterList and brokerStatus (apache/rocketmq tools ClusterListSubCommand, BrokerStatusSubCommand). */

import { BrokerFailure, mapBounded, BROKER_PARALLELISM, partition } from './fanout.js';
import { getBrokerRuntimeInfo, sortedRecord, numOrNull, firstNumber } from './requests.js';
import { AdminSession } from './session.js';
import { dledgerStateOf, type DLedgerState } from '../protocol/dledger-state.js';
import { clusterInfo, BrokerTarget, allAddrsOfCluster, TargetOptions, resolveTargets } from './targets.js';

export interface ClusterBrokerRow {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  addr: string;
  /** brokerVersionDesc, e.g. V4_9_8. */
  version: string | null;
  /** First number of putTps / getTransferedTps (getTransferredTps on 5.x brokers) (10 s window). */
  inTps: number | null;
  outTps: number | null;
  sendThreadPoolQueueSize: number | null;
  sendThreadPoolQueueHeadWaitTimeMills: number | null;
  pullThreadPoolQueueSize: number | null;
  pullThreadPoolQueueHeadWaitTimeMills: number | null;
  pageCacheLockTimeMills: number | null;
  /** Hours since the oldest message still stored (earliestMessageTimeStamp). */
  hoursSinceEarliestMessage: number | null;
  /** Used share of the commit log's disk, 0..1. */
  commitLogDiskRatio: number | null;
  inTotalYesterday: number | null;
  outTotalYesterday: number | null;
  inTotalToday: number | null;
  outTotalToday: number | null;
  /** A DLedger member's state as rocketctl's broker reports it (dLeger* runtime keys); null otherwise. */
  dledger: DLedgerState | null;
}

export function clusterRow(t: { clusterName: string; brokerName: string; brokerId: number; addr: string }, kv: Record<string, string>, nowMs: number): ClusterBrokerRow {
  const earliest = numOrNull(kv.earliestMessageTimeStamp);
  const diff = (a: string | undefined, b: string | undefined) => {
    const x = numOrNull(a);
    const y = numOrNull(b);
    return x === null || y === null ? null : x - y;
  };
  return {
    clusterName: t.clusterName,
    brokerName: t.brokerName,
    brokerId: t.brokerId,
    addr: t.addr,
    version: kv.brokerVersionDesc ?? null,
    inTps: firstNumber(kv.putTps),
    // 5.x brokers renamed the key (mqadmin 5.x reads getTransferredTps; 4.9.8's reads the old name)
    outTps: firstNumber(kv.getTransferedTps ?? kv.getTransferredTps),
    sendThreadPoolQueueSize: numOrNull(kv.sendThreadPoolQueueSize),
    sendThreadPoolQueueHeadWaitTimeMills: numOrNull(kv.sendThreadPoolQueueHeadWaitTimeMills),
    pullThreadPoolQueueSize: numOrNull(kv.pullThreadPoolQueueSize),
    pullThreadPoolQueueHeadWaitTimeMills: numOrNull(kv.pullThreadPoolQueueHeadWaitTimeMills),
    pageCacheLockTimeMills: numOrNull(kv.pageCacheLockTimeMills),
    hoursSinceEarliestMessage: earliest !== null && earliest > 0 ? Math.max(0, nowMs - earliest) / 3_600_000 : null,
    commitLogDiskRatio: numOrNull(kv.commitLogDiskRatio),
    // As ClusterListSubCommand -m: yesterday = morning(today) - morning(yesterday), today = now - morning(today).
    inTotalYesterday: diff(kv.msgPutTotalTodayMorning, kv.msgPutTotalYesterdayMorning),
    outTotalYesterday: diff(kv.msgGetTotalTodayMorning, kv.msgGetTotalYesterdayMorning),
    inTotalToday: diff(kv.msgPutTotalTodayNow, kv.msgPutTotalTodayMorning),
    outTotalToday: diff(kv.msgGetTotalTodayNow, kv.msgGetTotalTodayMorning),
    dledger: dledgerStateOf(kv),
  };
}

export interface ClusterListResult {
  brokers: ClusterBrokerRow[];
  failed: BrokerFailure[];
}

/** GET_BROKER_CLUSTER_INFO, then GET_BROKER_RUNTIME_INFO from every address (masters and slaves). */
export async function clusterList(s: AdminSession, nowMs = Date.now()): Promise<ClusterListResult> {
  const info = await clusterInfo(s);
  const targets: Array<BrokerTarget & { clusterName: string; brokerName: string; brokerId: number }> = [];
  for (const cluster of Object.keys(info.clusterAddrTable).sort()) {
    for (const t of allAddrsOfCluster(info, cluster)) targets.push({ ...t, clusterName: cluster, brokerName: t.brokerName!, brokerId: t.brokerId! });
  }
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getBrokerRuntimeInfo(s, t.addr));
  const { ok, failed } = partition(settled, { throwIfAllFailed: false });
  const brokers = ok.map(({ item: t, value: kv }) => clusterRow(t, kv, nowMs));
  return { brokers, failed };
}

export interface BrokerStatusEntry {
  addr: string;
  brokerName: string | null;
  brokerId: number | null;
  clusterName: string | null;
  /** Every KVTable entry the broker returned (values are strings, as on the wire). */
  stats: Record<string, string>;
}

export interface BrokerStatusResult {
  brokers: BrokerStatusEntry[];
  failed: BrokerFailure[];
}

/** GET_BROKER_RUNTIME_INFO from -b, or from every master and slave of -c. */
export async function brokerStatus(s: AdminSession, o: TargetOptions): Promise<BrokerStatusResult> {
  const targets = await resolveTargets(s, { ...o, withSlaves: true });
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getBrokerRuntimeInfo(s, t.addr));
  const { ok, failed } = partition(settled, { throwIfAllFailed: true });
  return {
    brokers: ok.map(({ item: t, value }) => ({ addr: t.addr, brokerName: t.brokerName, brokerId: t.brokerId, clusterName: t.clusterName, stats: sortedRecord(value) })),
    failed,
  };
}
