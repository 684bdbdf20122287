/**
 * Topics: topicList, topicRoute, topicStatus, updateTopic, deleteTopic (apache/rocketmq tools
 * TopicListSubCommand, TopicRouteSubCommand, TopicStatusSubCommand, UpdateTopicSubCommand,
 * DeleteTopicSubCommand), against our broker and any Apache RocketMQ 4.x/5.x cluster alike.
 */

import { compareStrings } from '../client/allocate.js';
import { TopicNotFoundError, UsageError, RocketError } from '../errors/index.js';
import { BrokerData, TopicRouteData, TopicConfig } from '../protocol/bodies.js';
import { ResponseCode, RequestCode } from '../protocol/codes.js';
import { RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX } from '../protocol/names.js';
import { topicNameProblem } from '../protocol/validate.js';
import { getAllTopicList, getKVConfig, putKVConfig, deleteTopicInNamesrv } from '../remoting/namesrv-api.js';
import { BrokerFailure, mapBounded, BROKER_PARALLELISM, failureOf, dedupeFailures, partition } from './fanout.js';
import { queryTopicConsumeByWho, QueueStats, getTopicStatsInfo, invoke, remoteFail, getAllTopicConfigs, createOrUpdateTopic, deleteTopicInBroker } from './requests.js';
import { AdminSession } from './session.js';
import { onNamesrv, routeOfTopic, brokerTargetsOfRoute, TargetOptions, BrokerTarget, resolveTargets, clusterInfo, localCluster, mastersOfCluster } from './targets.js';

/** UpdateTopicSubCommand's defaults. */
export const DEFAULT_QUEUE_NUMS = 8;

export const DEFAULT_TOPIC_PERM = 6;

/** Name server KV namespace of order-topic configs (NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG). */
export const NAMESPACE_ORDER_TOPIC_CONFIG = 'ORDER_TOPIC_CONFIG';

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
  const wanted = topics.filter((t) => !t.startsWith(RETRY_GROUP_TOPIC_PREFIX) && !t.startsWith(DLQ_GROUP_TOPIC_PREFIX));
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

/** Every topic the name server knows (GET_ALL_TOPIC_LIST_FROM_NAMESERVER). */
export async function allTopics(session: AdminSession): Promise<string[]> {
  return (await topicList(session, { clusterModel: false })).topics.map((t) => t.topic);
}

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
