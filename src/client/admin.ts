/**
 * The admin API behind clusterList, brokerStatus, topic*, *SubGroup and *Connection: typed
 * functions over an AdminSession that send the request codes mqadmin sends (fact sheet §8), so
 * they work against our broker and any Apache RocketMQ 4.x/5.x cluster alike.
 *
 * Layers: (1) name server lookups and target resolution ("route of topic", "masters of a
 * cluster", "address of a BrokerData"); (2) one typed request to one broker; (3) one function per
 * command that fans out to brokers with bounded parallelism and returns what worked plus a
 * `failed` list, so commands can print the rest and exit 3. A fan-out where every broker failed
 * throws the first failure instead: there is nothing to print.
 */
import { BrokerUnreachableError, GroupNotFoundError, notRocketmqReply, RemoteError, RocketError, TopicNotFoundError, UsageError } from '../errors/index.js';
import {
  decodeConnection,
  decodeConsumerConnection,
  decodeKVTable,
  decodeStringList,
  decodeTopicConfigWrapper,
  decodeTopicStatsTable,
  encodeJson,
  type BrokerData,
  type ClusterInfo,
  type Connection,
  type ConsumeFromWhere,
  type ConsumeType,
  type MessageModel,
  type SubscriptionGroupConfig,
  type TopicConfig,
  type TopicRouteData,
} from '../protocol/bodies.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { BodyFormatError, parseFastjson } from '../protocol/fastjson.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import { groupNameProblem, topicNameProblem } from '../protocol/validate.js';
import { openAdminSession, sessionInvoke, type AdminSession, type AdminTargetOptions } from './admin-session.js';
import { compareStrings } from './allocate.js';
import { getBrokerClusterInfo, getAllTopicList, getKVConfig, getRouteInfoByTopic, deleteTopicInNamesrv, onAnyNamesrv, putKVConfig } from './namesrv-api.js';

/** Requests in flight at once when a command asks many brokers (or one broker many things). */
export const BROKER_PARALLELISM = 8;
/** UpdateTopicSubCommand's defaults. */
export const DEFAULT_QUEUE_NUMS = 8;
export const DEFAULT_TOPIC_PERM = 6;
/** Name server KV namespace of order-topic configs (NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG). */
export const NAMESPACE_ORDER_TOPIC_CONFIG = 'ORDER_TOPIC_CONFIG';
/** The template topic mqadmin names in UPDATE_AND_CREATE_TOPIC (TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC). */
const CREATE_TOPIC_KEY = 'TBW102';
const RETRY_PREFIX = '%RETRY%';
const DLQ_PREFIX = '%DLQ%';

/** Open a session, run `fn`, and always close it (so the process can exit). */
export async function withAdminSession<T>(opts: AdminTargetOptions, fn: (s: AdminSession) => Promise<T>): Promise<T> {
  const s = await openAdminSession(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

// ---- errors ---------------------------------------------------------------------------------

export class ClusterNotFoundError extends RocketError {
  constructor(cluster: string, known: string[]) {
    super(`cluster ${cluster} is not known to the name server${known.length > 0 ? ` (known: ${known.join(', ')})` : ' (no broker registered)'}`, {
      code: 'E_CLUSTER_NOT_FOUND',
      actions: ['list clusters with: rocketctl clusterList'],
    });
  }
}

export class ConsumerNotOnlineError extends RocketError {
  constructor(group: string, where: string) {
    super(`consumer group ${group} is not online (CONSUMER_NOT_ONLINE from ${where})`, {
      code: 'E_CONSUMER_NOT_ONLINE',
      actions: ['start a consumer of the group, then try again', 'see its stored offsets with: rocketctl consumerProgress -g ' + group],
    });
  }
}

export class ProducerNotOnlineError extends RocketError {
  constructor(group: string, where: string) {
    super(`no producer of group ${group} is connected to ${where}`, {
      code: 'E_PRODUCER_NOT_ONLINE',
      actions: ['producer connections are per broker: check the topic (-t) is one the producers send to'],
    });
  }
}

// ---- results --------------------------------------------------------------------------------

/** A broker or name server whose request failed: listed, never silently skipped. */
export interface BrokerFailure {
  kind: 'broker' | 'namesrv';
  addr: string;
  brokerName: string | null;
  code: string;
  message: string;
}

/** One broker address to send to, as the name server knows it. */
export interface BrokerTarget {
  clusterName: string | null;
  brokerName: string | null;
  brokerId: number | null;
  addr: string;
}

/** One warning line per failed broker / name server (commands exit 3 with them). */
export function failureWarnings(failed: BrokerFailure[]): string[] {
  return failed.map((f) => `${f.kind === 'namesrv' ? 'name server' : 'broker'} ${f.brokerName ? `${f.brokerName} (${f.addr})` : f.addr} failed: ${f.message}`);
}

export function failureOf(target: { addr: string; brokerName?: string | null }, err: unknown, kind: BrokerFailure['kind'] = 'broker'): BrokerFailure {
  const e = asRocketError(err, target.addr);
  return { kind, addr: target.addr, brokerName: target.brokerName ?? null, code: e.code, message: e.message };
}

function asRocketError(err: unknown, peer?: string): RocketError {
  if (err instanceof RocketError) return err;
  if (err instanceof BodyFormatError) return notRocketmqReply(err.message, peer, err);
  // Anything else a reply made us throw: reported against that broker, not a crash.
  return new RocketError(err instanceof Error ? err.message : String(err), { code: 'E_BAD_RESPONSE', cause: err });
}

// ---- bounded fan-out ------------------------------------------------------------------------

export type Settled<T, R> = { item: T; ok: true; value: R } | { item: T; ok: false; error: unknown };

/** Run `fn` over `items`, at most `limit` at a time; every outcome is returned, in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<Array<Settled<T, R>>> {
  const out: Array<Settled<T, R>> = new Array(items.length);
  let next = 0;
  const worker = async () => {
    // Each worker takes the next index until none is left: bounded by items.length.
    while (next < items.length) {
      const i = next++;
      const item = items[i]!;
      try {
        out[i] = { item, ok: true, value: await fn(item) };
      } catch (error) {
        out[i] = { item, ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Split settled results; when nothing succeeded (and something was tried), throw the first error. */
function partition<T extends { addr: string; brokerName?: string | null }, R>(
  settled: Array<Settled<T, R>>,
  opts: { throwIfAllFailed: boolean },
): { ok: Array<{ item: T; value: R }>; failed: BrokerFailure[] } {
  const ok: Array<{ item: T; value: R }> = [];
  const failed: BrokerFailure[] = [];
  let first: { error: unknown; addr: string } | undefined;
  for (const s of settled) {
    if (s.ok) ok.push({ item: s.item, value: s.value });
    else {
      first ??= { error: s.error, addr: s.item.addr };
      failed.push(failureOf(s.item, s.error));
    }
  }
  if (opts.throwIfAllFailed && ok.length === 0 && first) throw asRocketError(first.error, first.addr);
  return { ok, failed };
}

// ---- name server lookups --------------------------------------------------------------------

/** Ask the session's name servers in turn; an unreachable list names the addresses tried. */
async function onNamesrv<T>(s: AdminSession, fn: (addr: string) => Promise<T>): Promise<T> {
  try {
    return await onAnyNamesrv(s.namesrvAddrs, fn);
  } catch (err) {
    if (err instanceof BrokerUnreachableError && s.namesrvAddrs.length > 0 && !s.target.startsWith('local')) {
      throw new BrokerUnreachableError(`name server ${s.namesrvAddrs.join(';')}`, err.cause);
    }
    throw err;
  }
}

/** The route of a topic (GET_ROUTEINFO_BY_TOPIC); TopicNotFoundError when the name server has none. */
export function routeOfTopic(s: AdminSession, topic: string): Promise<TopicRouteData> {
  return onNamesrv(s, (a) => getRouteInfoByTopic(s.client, a, topic, s.timeoutMs));
}

/** GET_BROKER_CLUSTER_INFO. */
export function clusterInfo(s: AdminSession): Promise<ClusterInfo> {
  return onNamesrv(s, (a) => getBrokerClusterInfo(s.client, a, s.timeoutMs));
}

/** BrokerData.selectBrokerAddr, made deterministic: the master (id 0), else the lowest id. */
export function brokerAddrOf(bd: BrokerData): string | undefined {
  if (bd.brokerAddrs['0']) return bd.brokerAddrs['0'];
  const ids = Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b));
  return ids.length > 0 ? bd.brokerAddrs[ids[0]!] : undefined;
}

/** One target per BrokerData of a route (its master, else any address), sorted by broker name. */
export function brokerTargetsOfRoute(route: TopicRouteData): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of [...route.brokerDatas].sort((a, b) => compareStrings(a.brokerName, b.brokerName))) {
    const addr = brokerAddrOf(bd);
    if (!addr) continue;
    const id = Object.entries(bd.brokerAddrs).find(([, a]) => a === addr)?.[0];
    out.push({ clusterName: bd.cluster || null, brokerName: bd.brokerName, brokerId: id === undefined ? null : Number(id), addr });
  }
  return out;
}

function clusterBrokers(info: ClusterInfo, cluster: string): BrokerData[] {
  const names = info.clusterAddrTable[cluster];
  if (!names) throw new ClusterNotFoundError(cluster, Object.keys(info.clusterAddrTable).sort());
  return [...names]
    .sort(compareStrings)
    .map((n) => info.brokerAddrTable[n])
    .filter((b): b is BrokerData => b !== undefined);
}

/** CommandUtil.fetchMasterAddrByClusterName: the master address of each broker of a cluster. */
export function mastersOfCluster(info: ClusterInfo, cluster: string): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of clusterBrokers(info, cluster)) {
    const addr = bd.brokerAddrs['0'];
    if (addr) out.push({ clusterName: cluster, brokerName: bd.brokerName, brokerId: 0, addr });
  }
  return out;
}

/** CommandUtil.fetchMasterAndSlaveAddrByClusterName: every address of every broker of a cluster. */
export function allAddrsOfCluster(info: ClusterInfo, cluster: string): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of clusterBrokers(info, cluster)) {
    for (const id of Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b))) {
      out.push({ clusterName: cluster, brokerName: bd.brokerName, brokerId: Number(id), addr: bd.brokerAddrs[id]! });
    }
  }
  return out;
}

/** The broker (name, id, cluster) an address belongs to, if the name server knows it. */
export function brokerOfAddr(info: ClusterInfo, addr: string): BrokerTarget | undefined {
  for (const bd of Object.values(info.brokerAddrTable)) {
    for (const [id, a] of Object.entries(bd.brokerAddrs)) {
      if (a === addr) return { clusterName: bd.cluster || clusterOfBroker(info, bd.brokerName), brokerName: bd.brokerName, brokerId: Number(id), addr };
    }
  }
  return undefined;
}

function clusterOfBroker(info: ClusterInfo, brokerName: string): string | null {
  for (const [c, names] of Object.entries(info.clusterAddrTable)) if (names.includes(brokerName)) return c;
  return null;
}

export interface TargetOptions {
  brokerAddr?: string;
  clusterName?: string;
  /** Include slaves for -c (brokerStatus reads them; writes go to masters only). */
  withSlaves?: boolean;
  /** Neither -b nor -c: allowed only for the local broker, whose one cluster is then meant. */
  local?: boolean;
}

/**
 * -b ADDR (one broker; named from cluster info when the name server knows it), -c CLUSTER (its
 * masters, or every address withSlaves), or — for the local broker only — its single cluster.
 */
export async function resolveTargets(s: AdminSession, o: TargetOptions): Promise<BrokerTarget[]> {
  if (o.brokerAddr) {
    const info = await clusterInfo(s).catch(() => undefined);
    return [(info && brokerOfAddr(info, o.brokerAddr)) ?? { clusterName: null, brokerName: null, brokerId: null, addr: o.brokerAddr }];
  }
  const info = await clusterInfo(s);
  const cluster = o.clusterName ?? localCluster(info, o.local === true);
  const targets = o.withSlaves ? allAddrsOfCluster(info, cluster) : mastersOfCluster(info, cluster);
  if (targets.length === 0) throw new RocketError(`cluster ${cluster} has no ${o.withSlaves ? '' : 'master '}broker registered`, { code: 'E_NO_BROKER' });
  return targets;
}

function localCluster(info: ClusterInfo, local: boolean): string {
  const clusters = Object.keys(info.clusterAddrTable).sort();
  if (local && clusters.length === 1) return clusters[0]!;
  const known = clusters.length > 0 ? ` (clusters: ${clusters.join(', ')})` : '';
  throw new UsageError(`give the target: -b/--brokerAddr host:port or -c/--clusterName NAME${known}`);
}

// ---- one request to one broker --------------------------------------------------------------

async function invoke(s: AdminSession, addr: string, code: number, header?: Record<string, string | number | boolean | undefined>, body?: Buffer): Promise<RemotingCommand> {
  return sessionInvoke(s, addr, makeRequest(code, header, body));
}

function remoteFail(res: RemotingCommand, what: string): never {
  throw new RemoteError(res.code, `${what}: ${res.remark || responseCodeName(res.code)}`);
}

/** GET_BROKER_RUNTIME_INFO (28): the broker's KVTable, all values strings (§8.13). */
export async function getBrokerRuntimeInfo(s: AdminSession, addr: string): Promise<Record<string, string>> {
  const res = await invoke(s, addr, RequestCode.GET_BROKER_RUNTIME_INFO);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `runtime info of ${addr}`);
  return decodeKVTable(bodyBuffer(res));
}

export interface QueueStats {
  brokerName: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** Store time (ms) of the newest message; null for an empty queue. */
  lastUpdateTimestamp: number | null;
}

/** GET_TOPIC_STATS_INFO (202) from one broker; TopicNotFoundError when it has no such topic. */
export async function getTopicStatsInfo(s: AdminSession, addr: string, topic: string): Promise<QueueStats[]> {
  const res = await invoke(s, addr, RequestCode.GET_TOPIC_STATS_INFO, { topic });
  if (res.code === ResponseCode.TOPIC_NOT_EXIST) throw new TopicNotFoundError(topic);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `stats of ${topic} on ${addr}`);
  return decodeTopicStatsTable(bodyBuffer(res)).offsetTable.map(([mq, o]) => ({
    brokerName: mq.brokerName,
    queueId: mq.queueId,
    minOffset: o.minOffset,
    maxOffset: o.maxOffset,
    lastUpdateTimestamp: o.lastUpdateTimestamp > 0 ? o.lastUpdateTimestamp : null,
  }));
}

/** UPDATE_AND_CREATE_TOPIC (17), as DefaultMQAdminExt.createAndUpdateTopicConfig. */
export async function createOrUpdateTopic(s: AdminSession, addr: string, tc: TopicConfig): Promise<void> {
  const res = await invoke(s, addr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic: tc.topicName,
    defaultTopic: CREATE_TOPIC_KEY,
    readQueueNums: tc.readQueueNums,
    writeQueueNums: tc.writeQueueNums,
    perm: tc.perm,
    topicFilterType: tc.topicFilterType,
    topicSysFlag: tc.topicSysFlag,
    order: tc.order,
  });
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `create topic ${tc.topicName} on ${addr}`);
}

/** DELETE_TOPIC_IN_BROKER (215). */
export async function deleteTopicInBroker(s: AdminSession, addr: string, topic: string): Promise<void> {
  const res = await invoke(s, addr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic });
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `delete topic ${topic} on ${addr}`);
}

/** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): the whole config replaces the broker's. */
export async function createOrUpdateSubscriptionGroup(s: AdminSession, addr: string, cfg: SubscriptionGroupConfig): Promise<void> {
  const res = await invoke(s, addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, encodeJson(cfg));
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `update group ${cfg.groupName} on ${addr}`);
}

/** GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201): the broker's groups by name. */
export async function getAllSubscriptionGroups(s: AdminSession, addr: string): Promise<Record<string, SubscriptionGroupConfig>> {
  const res = await invoke(s, addr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `subscription groups of ${addr}`);
  const o = parseFastjson(bodyBuffer(res).toString('utf8'));
  const table = isObject(o) && isObject(o.subscriptionGroupTable) ? o.subscriptionGroupTable : {};
  const out: Record<string, SubscriptionGroupConfig> = {};
  for (const [name, v] of Object.entries(table)) out[name] = decodeGroupConfig(name, v);
  return out;
}

/**
 * Whether any of the brokers at `addrs` has `group` as a subscription group (one request each, in
 * parallel; a broker that does not answer counts as not having it). Used on error paths to tell a
 * group that exists but never consumed from an unknown name.
 */
export async function subscriptionGroupExists(s: AdminSession, addrs: readonly string[], group: string): Promise<boolean> {
  const known = await mapBounded(addrs, BROKER_PARALLELISM, async (addr) => group in (await getAllSubscriptionGroups(s, addr)));
  return known.some((r) => r.ok && r.value);
}

/** DELETE_SUBSCRIPTIONGROUP (207); `removeOffset` also drops the group's committed offsets. */
export async function deleteSubscriptionGroupOn(s: AdminSession, addr: string, group: string, removeOffset: boolean): Promise<void> {
  const res = await invoke(s, addr, RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: group, removeOffset });
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `delete group ${group} on ${addr}`);
}

/** GET_CONSUMER_CONNECTION_LIST (203); ConsumerNotOnlineError for CONSUMER_NOT_ONLINE. */
export async function getConsumerConnectionList(s: AdminSession, addr: string, group: string) {
  const res = await invoke(s, addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: group });
  if (res.code === ResponseCode.CONSUMER_NOT_ONLINE) throw new ConsumerNotOnlineError(group, addr);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `connections of ${group} on ${addr}`);
  return decodeConsumerConnection(bodyBuffer(res));
}

/** GET_PRODUCER_CONNECTION_LIST (204); ProducerNotOnlineError when the broker knows no such producer. */
export async function getProducerConnectionList(s: AdminSession, addr: string, group: string): Promise<Connection[]> {
  const res = await invoke(s, addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, { producerGroup: group });
  // Apache answers SYSTEM_ERROR "the producer group[X] not exist" when no producer is connected.
  if (res.code === ResponseCode.SYSTEM_ERROR && /producer group\[.*\] not exist/.test(res.remark ?? '')) throw new ProducerNotOnlineError(group, addr);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `producers of ${group} on ${addr}`);
  const o = parseFastjson(bodyBuffer(res).toString('utf8'));
  return (isObject(o) && Array.isArray(o.connectionSet) ? o.connectionSet : []).map(decodeConnection);
}

/** QUERY_TOPIC_CONSUME_BY_WHO (300): groups consuming (or having consumed) a topic on one broker. */
export async function queryTopicConsumeByWho(s: AdminSession, addr: string, topic: string): Promise<string[]> {
  const res = await invoke(s, addr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic });
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `consumers of ${topic} on ${addr}`);
  return decodeStringList(bodyBuffer(res), 'groupList');
}

// ---- clusterList ----------------------------------------------------------------------------

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

function clusterRow(t: { clusterName: string; brokerName: string; brokerId: number; addr: string }, kv: Record<string, string>, nowMs: number): ClusterBrokerRow {
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
  };
}

// ---- brokerStatus ---------------------------------------------------------------------------

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

// ---- topicList ------------------------------------------------------------------------------

export interface TopicListEntry {
  topic: string;
  /** With -c: the clusters of the topic's brokers, and the groups consuming it. */
  clusters?: string[];
  consumerGroups?: string[];
}

export interface TopicListResult {
  clusterModel: boolean;
  topics: TopicListEntry[];
  failed: BrokerFailure[];
}

/**
 * GET_ALL_TOPIC_LIST_FROM_NAMESERVER; with clusterModel, for each topic but retry/DLQ ones its
 * route and QUERY_TOPIC_CONSUME_BY_WHO from each of its brokers (mqadmin asks the first only).
 */
export async function topicList(s: AdminSession, o: { clusterModel: boolean }): Promise<TopicListResult> {
  const topics = (await onNamesrv(s, (a) => getAllTopicList(s.client, a, s.timeoutMs))).sort(compareStrings);
  if (!o.clusterModel) return { clusterModel: false, topics: topics.map((topic) => ({ topic })), failed: [] };
  const wanted = topics.filter((t) => !t.startsWith(RETRY_PREFIX) && !t.startsWith(DLQ_PREFIX));
  const failed: BrokerFailure[] = [];
  const settled = await mapBounded(wanted, BROKER_PARALLELISM, async (topic) => {
    const route = await routeOfTopic(s, topic);
    const targets = brokerTargetsOfRoute(route);
    const groups = new Set<string>();
    const perBroker = await mapBounded(targets, BROKER_PARALLELISM, (t) => queryTopicConsumeByWho(s, t.addr, topic));
    for (const r of perBroker) {
      if (r.ok) r.value.forEach((g) => groups.add(g));
      else failed.push(failureOf(r.item, r.error));
    }
    const clusters = [...new Set(route.brokerDatas.map((b) => b.cluster).filter((c) => c))].sort(compareStrings);
    return { topic, clusters, consumerGroups: [...groups].sort(compareStrings) };
  });
  const entries: TopicListEntry[] = [];
  for (const r of settled) {
    if (r.ok) entries.push(r.value);
    // A topic deleted between the list and its route lookup is simply gone now.
    else if (!(r.error instanceof TopicNotFoundError)) failed.push(failureOf({ addr: s.namesrvAddrs.join(';'), brokerName: null }, r.error, 'namesrv'));
  }
  return { clusterModel: true, topics: entries, failed: dedupeFailures(failed) };
}

// ---- topicRoute -----------------------------------------------------------------------------

export interface TopicRouteResult {
  topic: string;
  brokerDatas: BrokerData[];
  queueDatas: TopicRouteData['queueDatas'];
  orderTopicConf: string | null;
}

export async function topicRoute(s: AdminSession, topic: string): Promise<TopicRouteResult> {
  const r = await routeOfTopic(s, topic);
  return {
    topic,
    brokerDatas: [...r.brokerDatas].sort((a, b) => compareStrings(a.brokerName, b.brokerName)),
    queueDatas: [...r.queueDatas].sort((a, b) => compareStrings(a.brokerName, b.brokerName)),
    orderTopicConf: r.orderTopicConf ?? null,
  };
}

// ---- topicStatus ----------------------------------------------------------------------------

export interface TopicStatusResult {
  topic: string;
  queues: QueueStats[];
  failed: BrokerFailure[];
}

/** Route, then GET_TOPIC_STATS_INFO from each broker of it; queues sorted by broker name, queue id. */
export async function topicStatus(s: AdminSession, topic: string): Promise<TopicStatusResult> {
  const targets = brokerTargetsOfRoute(await routeOfTopic(s, topic));
  if (targets.length === 0) throw new TopicNotFoundError(topic);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getTopicStatsInfo(s, t.addr, topic));
  const { ok, failed } = partition(settled, { throwIfAllFailed: true });
  const queues = ok.flatMap((r) => r.value).sort((a, b) => compareStrings(a.brokerName, b.brokerName) || a.queueId - b.queueId);
  return { topic, queues, failed };
}

// ---- updateTopic ----------------------------------------------------------------------------

export interface UpdateTopicOptions extends TargetOptions {
  topic: string;
  /** Fields left undefined keep each broker's current value (a new topic gets the defaults). */
  readQueueNums?: number;
  writeQueueNums?: number;
  perm?: number;
  order?: boolean;
  /** topicSysFlag bit 0. */
  unit?: boolean;
  /** topicSysFlag bit 1. */
  hasUnitSub?: boolean;
}

/** A read queue that the update drops (queueId >= the new readQueueNums) while it still holds messages. */
export interface DroppedReadQueue {
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** maxOffset - minOffset: stored, but unreadable after the update. */
  messages: number;
}

export interface TopicOnBroker extends BrokerTarget {
  /** False when the topic was created on this broker by this call. */
  existed: boolean;
  /** The broker's config before the update (GET_ALL_TOPIC_CONFIG); null for a new topic. */
  before: TopicConfig | null;
  /** The config written. */
  after: TopicConfig;
  /** Dropped read queues that still hold messages. */
  droppedReadQueues: DroppedReadQueue[];
}

export interface UpdateTopicResult {
  topic: string;
  /** The config written to the first broker (see brokers[].after: brokers can differ). */
  config: TopicConfig;
  /** Brokers that now have the config. */
  brokers: TopicOnBroker[];
  /** ORDER_TOPIC_CONFIG value written to the name servers (with order=true), else null. */
  orderConf: string | null;
  failed: BrokerFailure[];
}

/** UpdateTopicSubCommand's TopicConfig for a new topic: 8/8 queues, perm 6, SINGLE_TAG. */
function newTopicConfig(topic: string): TopicConfig {
  return {
    topicName: topic,
    readQueueNums: DEFAULT_QUEUE_NUMS,
    writeQueueNums: DEFAULT_QUEUE_NUMS,
    perm: DEFAULT_TOPIC_PERM,
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  };
}

/** `base` with the fields the caller gave; topicSysFlag keeps the bits not given. */
function applyTopicFields(base: TopicConfig, o: UpdateTopicOptions): TopicConfig {
  let sysFlag = base.topicSysFlag;
  if (o.unit !== undefined) sysFlag = o.unit ? sysFlag | 1 : sysFlag & ~1;
  if (o.hasUnitSub !== undefined) sysFlag = o.hasUnitSub ? sysFlag | 2 : sysFlag & ~2;
  return {
    ...base,
    topicName: o.topic,
    readQueueNums: o.readQueueNums ?? base.readQueueNums,
    writeQueueNums: o.writeQueueNums ?? base.writeQueueNums,
    perm: o.perm ?? base.perm,
    order: o.order ?? base.order,
    topicSysFlag: sysFlag,
  };
}

/** GET_ALL_TOPIC_CONFIG (21): the broker's topic configs by name. */
export async function getAllTopicConfigs(s: AdminSession, addr: string): Promise<Record<string, TopicConfig>> {
  const res = await invoke(s, addr, RequestCode.GET_ALL_TOPIC_CONFIG);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `topic configs of ${addr}`);
  const table = decodeTopicConfigWrapper(parseFastjson(bodyBuffer(res).toString('utf8'))).topicConfigTable;
  for (const [name, tc] of Object.entries(table)) if (!tc.topicName) tc.topicName = name;
  return table;
}

/** GET_MIN_OFFSET (31) and GET_MAX_OFFSET (30) of one queue. */
async function queueOffsetRange(s: AdminSession, addr: string, topic: string, brokerName: string | null, queueId: number): Promise<{ minOffset: number; maxOffset: number }> {
  const ask = async (code: number) => {
    const res = await invoke(s, addr, code, { topic, queueId, bname: brokerName ?? undefined });
    if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `offsets of ${topic} queue ${queueId} on ${addr}`);
    return Number(res.extFields?.offset ?? 0);
  };
  const [minOffset, maxOffset] = await Promise.all([ask(RequestCode.GET_MIN_OFFSET), ask(RequestCode.GET_MAX_OFFSET)]);
  return { minOffset, maxOffset };
}

/** "queues 2–3" / "queue 2". */
function queueRangeText(from: number, to: number): string {
  return from === to ? `queue ${from}` : `queues ${from}–${to}`;
}

/**
 * Hazards of an update that RocketMQ nonetheless allows, one line each per broker: write queues no
 * reader sees (writeQueueNums > readQueueNums), read queues dropped while they hold messages.
 */
export function updateTopicWarnings(r: UpdateTopicResult): string[] {
  return r.brokers.flatMap((b) => topicChangeWarnings(brokerLabelOf(b), b.after, b.droppedReadQueues));
}

function topicChangeWarnings(label: string, after: TopicConfig, dropped: DroppedReadQueue[]): string[] {
  const out: string[] = [];
  if (after.writeQueueNums > after.readQueueNums) {
    out.push(
      `${label}: topic ${after.topicName} has ${after.writeQueueNums} write queues but only ${after.readQueueNums} read queues: messages written to ${queueRangeText(after.readQueueNums, after.writeQueueNums - 1)} are never read`,
    );
  }
  if (dropped.length > 0) {
    const list = dropped.map((q) => `queue ${q.queueId} (${q.messages} message${q.messages === 1 ? '' : 's'})`).join(', ');
    out.push(`${label}: topic ${after.topicName} read queues cut to ${after.readQueueNums}: messages still stored in ${list} become unreadable (they are not deleted; raise -r again to read them)`);
  }
  return out;
}

/** UsageError for an invalid topic name or a queue count below 1 (before anything is sent). */
export function checkUpdateTopicOptions(o: Pick<UpdateTopicOptions, 'topic' | 'readQueueNums' | 'writeQueueNums'>): void {
  const why = topicNameProblem(o.topic);
  if (why) throw new UsageError(`invalid topic name ${JSON.stringify(o.topic)}: ${why}`);
  for (const [flag, kind, n] of [['-r/--readQueueNums', 'read', o.readQueueNums], ['-w/--writeQueueNums', 'write', o.writeQueueNums]] as const) {
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
      throw new UsageError(`${flag} must be at least 1, got ${n}: a topic with no ${kind} queues on a broker is never ${kind === 'read' ? 'read' : 'written'} there (to stop ${kind}s use -p)`);
    }
  }
}

/**
 * UpdateTopicSubCommand, made safe for existing topics: per target broker (-b, or every master of
 * -c) read the current config (GET_ALL_TOPIC_CONFIG), apply only the fields given, and write it
 * (UPDATE_AND_CREATE_TOPIC). A new topic gets mqadmin's defaults (8/8, perm 6). mqadmin instead
 * sends the given fields over those defaults, silently resetting an existing topic's queue counts,
 * perm and order. With order=true (or an ordered topic whose write queue count changed) also the
 * ORDER_TOPIC_CONFIG KV on every name server ("brokerName:writeQueueNums" per broker; for -b
 * merged into the existing value).
 */
export async function updateTopic(s: AdminSession, o: UpdateTopicOptions): Promise<UpdateTopicResult> {
  checkUpdateTopicOptions(o);
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, async (t) => {
    const before = (await getAllTopicConfigs(s, t.addr))[o.topic] ?? null;
    const after = applyTopicFields(before ?? newTopicConfig(o.topic), o);
    const dropped: DroppedReadQueue[] = [];
    if (before && after.readQueueNums < before.readQueueNums) {
      const ids = Array.from({ length: before.readQueueNums - after.readQueueNums }, (_, i) => after.readQueueNums + i);
      const ranges = await mapBounded(ids, BROKER_PARALLELISM, (q) => queueOffsetRange(s, t.addr, o.topic, t.brokerName, q));
      for (const r of ranges) {
        if (!r.ok) throw r.error;
        const messages = r.value.maxOffset - r.value.minOffset;
        if (messages > 0) dropped.push({ queueId: r.item, ...r.value, messages });
      }
    }
    await createOrUpdateTopic(s, t.addr, after);
    return { existed: before !== null, before, after, droppedReadQueues: dropped };
  });
  const { ok, failed } = partition(settled, { throwIfAllFailed: true });
  const brokers: TopicOnBroker[] = ok.map(({ item, value }) => ({ ...item, ...value }));
  let orderConf: string | null = null;
  const orderChanged = brokers.some((b) => b.after.order && b.before !== null && b.before.writeQueueNums !== b.after.writeQueueNums);
  if (o.order === true || (o.order === undefined && orderChanged)) {
    const r = await writeOrderConf(s, o, brokers.filter((b) => b.after.order));
    orderConf = r.value;
    failed.push(...r.failed);
  }
  return { topic: o.topic, config: brokers[0]!.after, brokers, orderConf, failed };
}

function brokerLabelOf(t: BrokerTarget): string {
  return t.brokerName ? `broker ${t.brokerName} (${t.addr})` : `broker ${t.addr}`;
}

async function writeOrderConf(s: AdminSession, o: UpdateTopicOptions, done: TopicOnBroker[]): Promise<{ value: string | null; failed: BrokerFailure[] }> {
  if (s.namesrvAddrs.length === 0) {
    const why = new RocketError('no name server given (-n), so the order config (ORDER_TOPIC_CONFIG) was not written', { code: 'E_NO_NAMESRV' });
    return { value: null, failed: [failureOf({ addr: '(none)' }, why, 'namesrv')] };
  }
  let value: string;
  if (o.brokerAddr) {
    const b = done[0];
    const name = b?.brokerName;
    if (!b || !name) {
      const f = failureOf({ addr: o.brokerAddr }, new RocketError(`the name server does not know broker ${o.brokerAddr}, so its order config was not written`, { code: 'E_NO_BROKER' }), 'namesrv');
      return { value: null, failed: [f] };
    }
    // DefaultMQAdminExtImpl.createOrUpdateOrderConf(isCluster=false): replace this broker's entry.
    const old = await onNamesrv(s, (a) => getKVConfig(s.client, a, NAMESPACE_ORDER_TOPIC_CONFIG, o.topic, s.timeoutMs)).catch(() => undefined);
    const entries = new Map<string, string>();
    for (const item of (old ?? '').split(';').filter((x) => x.includes(':'))) entries.set(item.split(':')[0]!, item);
    entries.set(name, `${name}:${b.after.writeQueueNums}`);
    value = [...entries.values()].join(';');
  } else {
    // Cluster: every broker name written to, each with its own write queue count.
    const byName = new Map<string, number>();
    for (const b of done) if (b.brokerName) byName.set(b.brokerName, b.after.writeQueueNums);
    value = [...byName.keys()]
      .sort(compareStrings)
      .map((n) => `${n}:${byName.get(n)}`)
      .join(';');
  }
  // MQClientAPIImpl.putKVConfigValue writes to every name server.
  const settled = await mapBounded(s.namesrvAddrs, BROKER_PARALLELISM, (a) => putKVConfig(s.client, a, NAMESPACE_ORDER_TOPIC_CONFIG, o.topic, value, s.timeoutMs));
  const failed = settled.filter((r) => !r.ok).map((r) => failureOf({ addr: r.item }, (r as { error: unknown }).error, 'namesrv'));
  return { value, failed };
}

// ---- deleteTopic ----------------------------------------------------------------------------

export interface DeleteTopicResult {
  topic: string;
  clusterName: string;
  /** Brokers the topic was deleted from. */
  brokers: BrokerTarget[];
  /** Name servers that dropped its route. */
  namesrvs: string[];
  failed: BrokerFailure[];
}

/**
 * DeleteTopicSubCommand: DELETE_TOPIC_IN_BROKER on each master of the cluster, then
 * DELETE_TOPIC_IN_NAMESRV on every name server. A topic the name server has no route for is
 * TopicNotFoundError, before anything is deleted.
 */
export async function deleteTopic(s: AdminSession, o: { topic: string; clusterName?: string; local?: boolean }): Promise<DeleteTopicResult> {
  await routeOfTopic(s, o.topic);
  const info = await clusterInfo(s);
  const cluster = o.clusterName ?? localCluster(info, o.local === true);
  const targets = mastersOfCluster(info, cluster);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => deleteTopicInBroker(s, t.addr, o.topic));
  const { ok, failed } = partition(settled, { throwIfAllFailed: targets.length > 0 });
  const ns = await mapBounded(s.namesrvAddrs, BROKER_PARALLELISM, (a) => deleteTopicInNamesrv(s.client, a, o.topic, cluster, s.timeoutMs));
  const namesrvs: string[] = [];
  for (const r of ns) {
    if (r.ok) namesrvs.push(r.item);
    else failed.push(failureOf({ addr: r.item }, r.error, 'namesrv'));
  }
  return { topic: o.topic, clusterName: cluster, brokers: ok.map((x) => x.item), namesrvs, failed };
}

// ---- updateSubGroup / deleteSubGroup --------------------------------------------------------

/** Fields of SubscriptionGroupConfig a caller may set; unset ones keep the broker's current value. */
export type SubGroupFields = Partial<Omit<SubscriptionGroupConfig, 'groupName'>>;

/**
 * What a new group gets for fields not given: SubscriptionGroupConfig's defaults, except
 * consumeBroadcastEnable and consumeFromMinEnable, which UpdateSubGroupSubCommand sets to false.
 */
export function newSubGroupConfig(group: string): SubscriptionGroupConfig {
  return {
    groupName: group,
    consumeEnable: true,
    consumeFromMinEnable: false,
    consumeBroadcastEnable: false,
    retryQueueNums: 1,
    retryMaxTimes: 16,
    brokerId: 0,
    whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  };
}

export interface SubGroupOnBroker extends BrokerTarget {
  /** False when the group was created by this call. */
  existed: boolean;
  config: SubscriptionGroupConfig;
}

export interface UpdateSubGroupResult {
  group: string;
  brokers: SubGroupOnBroker[];
  failed: BrokerFailure[];
}

/**
 * Per target broker: read its current config of the group (GET_ALL_SUBSCRIPTIONGROUP_CONFIG),
 * apply the given fields, write it back (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP). mqadmin instead
 * sends the given fields over defaults, silently resetting every field not on the command line.
 */
export async function updateSubGroup(s: AdminSession, o: TargetOptions & { group: string; fields: SubGroupFields }): Promise<UpdateSubGroupResult> {
  const why = groupNameProblem(o.group);
  if (why) throw new UsageError(`invalid group name ${JSON.stringify(o.group)}: ${why}`);
  const targets = await resolveTargets(s, o);
  const settled = await mapBounded(targets, BROKER_PARALLELISM, async (t) => {
    const current = (await getAllSubscriptionGroups(s, t.addr))[o.group];
    const config: SubscriptionGroupConfig = { ...(current ?? newSubGroupConfig(o.group)), ...definedOnly(o.fields), groupName: o.group };
    await createOrUpdateSubscriptionGroup(s, t.addr, config);
    return { existed: current !== undefined, config };
  });
  const { ok, failed } = partition(settled, { throwIfAllFailed: true });
  return { group: o.group, brokers: ok.map(({ item, value }) => ({ ...item, ...value })), failed };
}

export interface DeleteSubGroupResult {
  group: string;
  removeOffset: boolean;
  /** Brokers the delete was sent to, and whether each had the group. */
  brokers: Array<BrokerTarget & { existed: boolean }>;
  failed: BrokerFailure[];
}

/**
 * DELETE_SUBSCRIPTIONGROUP on -b or each master of -c. The brokers are asked first
 * (GET_ALL_SUBSCRIPTIONGROUP_CONFIG): when none that answered has the group, GroupNotFoundError
 * (a broker deletes an unknown group "successfully", which would hide a typo).
 */
export async function deleteSubGroup(s: AdminSession, o: TargetOptions & { group: string; removeOffset: boolean }): Promise<DeleteSubGroupResult> {
  const targets = await resolveTargets(s, o);
  const known = await mapBounded(targets, BROKER_PARALLELISM, async (t) => (await getAllSubscriptionGroups(s, t.addr))[o.group] !== undefined);
  const first = partition(known, { throwIfAllFailed: true });
  if (!first.ok.some((r) => r.value)) throw new GroupNotFoundError(o.group);
  const settled = await mapBounded(first.ok, BROKER_PARALLELISM, async (r) => {
    await deleteSubscriptionGroupOn(s, r.item.addr, o.group, o.removeOffset);
    return r.value;
  });
  const failed = [...first.failed];
  const brokers: DeleteSubGroupResult['brokers'] = [];
  for (const r of settled) {
    if (r.ok) brokers.push({ ...r.item.item, existed: r.value });
    else failed.push(failureOf(r.item.item, r.error));
  }
  return { group: o.group, removeOffset: o.removeOffset, brokers, failed };
}

// ---- consumerConnection / producerConnection -------------------------------------------------

export interface ConnectionInfo extends Connection {
  /** MQVersion.getVersionDesc(version), e.g. V4_9_8. */
  versionDesc: string;
}

export interface ConsumerConnectionResult {
  group: string;
  connections: ConnectionInfo[];
  subscriptions: Array<{ topic: string; subExpression: string }>;
  consumeType: ConsumeType | null;
  messageModel: MessageModel | null;
  consumeFromWhere: ConsumeFromWhere | null;
  /** Brokers that answered. */
  brokers: string[];
  failed: BrokerFailure[];
}

/**
 * GET_CONSUMER_CONNECTION_LIST from -b, or from every broker of the group's retry topic route
 * (mqadmin asks one at random); connections merged by client id. A group without a retry topic
 * has never been online: GroupNotFoundError. Online nowhere: ConsumerNotOnlineError.
 */
export async function consumerConnection(s: AdminSession, o: { group: string; brokerAddr?: string }): Promise<ConsumerConnectionResult> {
  let targets: BrokerTarget[];
  if (o.brokerAddr) targets = [{ clusterName: null, brokerName: null, brokerId: null, addr: o.brokerAddr }];
  else {
    try {
      targets = brokerTargetsOfRoute(await routeOfTopic(s, RETRY_PREFIX + o.group));
    } catch (err) {
      if (!(err instanceof TopicNotFoundError)) throw err;
      // No retry topic: never had a consumer. A group that exists as a subscription group on a
      // master is offline, not unknown.
      const info = await clusterInfo(s);
      const masters = Object.keys(info.clusterAddrTable).flatMap((c) => mastersOfCluster(info, c));
      if (await subscriptionGroupExists(s, masters.map((t) => t.addr), o.group)) throw new ConsumerNotOnlineError(o.group, 'any broker: it exists but has never had a consumer');
      throw new GroupNotFoundError(o.group);
    }
  }
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getConsumerConnectionList(s, t.addr, o.group));
  const answered = settled.filter((r) => r.ok || r.error instanceof ConsumerNotOnlineError);
  const online = settled.flatMap((r) => (r.ok ? [{ item: r.item, value: r.value }] : []));
  const failed = settled.flatMap((r) => (!r.ok && !(r.error instanceof ConsumerNotOnlineError) ? [failureOf(r.item, r.error)] : []));
  if (online.length === 0) {
    const firstFailure = settled.find((r) => !r.ok && !(r.error instanceof ConsumerNotOnlineError));
    if (firstFailure && !firstFailure.ok) throw asRocketError(firstFailure.error);
    throw new ConsumerNotOnlineError(o.group, targets.length === 1 ? targets[0]!.addr : `any of ${targets.map((t) => t.addr).join(', ')}`);
  }
  const connections = new Map<string, ConnectionInfo>();
  const subscriptions = new Map<string, string>();
  for (const { value } of online) {
    for (const c of value.connectionSet) connections.set(c.clientId, { ...c, versionDesc: versionDesc(c.version) });
    for (const [topic, sub] of Object.entries(value.subscriptionTable)) subscriptions.set(topic, sub.subString);
  }
  const head = online[0]!.value;
  return {
    group: o.group,
    connections: [...connections.values()].sort((a, b) => compareStrings(a.clientId, b.clientId)),
    subscriptions: [...subscriptions].sort((a, b) => compareStrings(a[0], b[0])).map(([topic, subExpression]) => ({ topic, subExpression })),
    consumeType: head.consumeType ?? null,
    messageModel: head.messageModel ?? null,
    consumeFromWhere: head.consumeFromWhere ?? null,
    brokers: answered.map((r) => r.item.addr),
    failed,
  };
}

export interface ProducerConnectionResult {
  group: string;
  topic: string;
  connections: ConnectionInfo[];
  brokers: string[];
  failed: BrokerFailure[];
}

/** GET_PRODUCER_CONNECTION_LIST from each broker of the topic's route, merged by client id. */
export async function producerConnection(s: AdminSession, o: { group: string; topic: string }): Promise<ProducerConnectionResult> {
  const targets = brokerTargetsOfRoute(await routeOfTopic(s, o.topic));
  const settled = await mapBounded(targets, BROKER_PARALLELISM, (t) => getProducerConnectionList(s, t.addr, o.group));
  const notOnline = (e: unknown) => e instanceof ProducerNotOnlineError;
  const online = settled.flatMap((r) => (r.ok ? [r.value] : []));
  const failed = settled.flatMap((r) => (!r.ok && !notOnline(r.error) ? [failureOf(r.item, r.error)] : []));
  const connections = new Map<string, ConnectionInfo>();
  for (const list of online) for (const c of list) connections.set(c.clientId, { ...c, versionDesc: versionDesc(c.version) });
  if (connections.size === 0) {
    const firstFailure = settled.find((r) => !r.ok && !notOnline(r.error));
    if (firstFailure && !firstFailure.ok) throw asRocketError(firstFailure.error);
    throw new ProducerNotOnlineError(o.group, `the brokers of topic ${o.topic} (${targets.map((t) => t.addr).join(', ')})`);
  }
  return {
    group: o.group,
    topic: o.topic,
    connections: [...connections.values()].sort((a, b) => compareStrings(a.clientId, b.clientId)),
    brokers: settled.filter((r) => r.ok || notOnline(r.error)).map((r) => r.item.addr),
    failed,
  };
}

// ---- small helpers --------------------------------------------------------------------------

/**
 * MQVersion.getVersionDesc: ordinals from V4_0_0_SNAPSHOT (212) run SNAPSHOT/release pairs
 * through x.y.0..x.y.9 for y = 0..9, so 409 = V4_9_8 and 413 = V5_0_0; past V5_9_9 is
 * HIGHER_VERSION. 3.x ordinals are not mapped.
 */
export function versionDesc(ordinal: number): string {
  if (!Number.isInteger(ordinal) || ordinal < 212) return `V3 (ordinal ${ordinal})`;
  const n = ordinal - 212;
  const k = Math.floor(n / 2);
  if (k >= 200) return 'HIGHER_VERSION';
  const name = `V${4 + Math.floor(k / 100)}_${Math.floor((k % 100) / 10)}_${k % 10}`;
  return n % 2 === 0 ? `${name}_SNAPSHOT` : name;
}

function decodeGroupConfig(name: string, v: unknown): SubscriptionGroupConfig {
  const o = isObject(v) ? v : {};
  // Class defaults for fields a broker leaves out (what fastjson would leave unset on the Java side).
  const d: SubscriptionGroupConfig = { ...newSubGroupConfig(name), consumeFromMinEnable: true, consumeBroadcastEnable: true };
  const bool = (k: keyof SubscriptionGroupConfig, dv: boolean) => (typeof o[k] === 'boolean' ? (o[k] as boolean) : typeof o[k] === 'string' ? o[k] === 'true' : dv);
  const int = (k: keyof SubscriptionGroupConfig, dv: number) => {
    const n = typeof o[k] === 'string' ? Number(o[k]) : o[k];
    return typeof n === 'number' && Number.isFinite(n) ? n : dv;
  };
  return {
    groupName: typeof o.groupName === 'string' && o.groupName ? o.groupName : name,
    consumeEnable: bool('consumeEnable', d.consumeEnable),
    consumeFromMinEnable: bool('consumeFromMinEnable', d.consumeFromMinEnable),
    consumeBroadcastEnable: bool('consumeBroadcastEnable', d.consumeBroadcastEnable),
    retryQueueNums: int('retryQueueNums', d.retryQueueNums),
    retryMaxTimes: int('retryMaxTimes', d.retryMaxTimes),
    brokerId: int('brokerId', d.brokerId),
    whichBrokerWhenConsumeSlowly: int('whichBrokerWhenConsumeSlowly', d.whichBrokerWhenConsumeSlowly),
    notifyConsumerIdsChangedEnable: bool('notifyConsumerIdsChangedEnable', d.notifyConsumerIdsChangedEnable),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function numOrNull(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** "12.5 3.0 1.1" → 12.5 (the 10 s window); null when absent or empty (a Java broker just started). */
export function firstNumber(v: string | undefined): number | null {
  return numOrNull(v?.trim().split(/\s+/)[0]);
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort(compareStrings)) out[k] = r[k]!;
  return out;
}

function dedupeFailures(fs: BrokerFailure[]): BrokerFailure[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const key = `${f.kind} ${f.addr} ${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
