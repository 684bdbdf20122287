/**
 * One typed request to one broker per function: the request codes mqadmin sends
 * (apache/rocketmq MQClientAPIImpl), each answer decoded, each non-SUCCESS turned into a
 * RemoteError that names what was asked and of whom.
 */
import type { TopicBroker } from './targets.js';
import { AdminSession, sessionInvoke } from './session.js';
import { mapBounded, BROKER_PARALLELISM, DEFAULT_CONCURRENCY, mapLimit } from './fanout.js';
import { decodeRecord } from '../protocol/message.js';
import { RemotingCommand, makeRequest, bodyBuffer } from '../protocol/frame.js';
import { parseFastjson, MessageQueue, messageQueueEntries } from '../protocol/fastjson.js';
import { responseCodeName, RequestCode, ResponseCode } from '../protocol/codes.js';
import { decodeKVTable, decodeTopicStatsTable, TopicConfig, SubscriptionGroupConfig, encodeJson, decodeConsumerConnection, Connection, decodeConnection, decodeStringList, decodeTopicConfigWrapper, decodeConsumeStats, ConsumerConnection } from '../protocol/bodies.js';
import { RocketError, RemoteError, TopicNotFoundError } from '../errors/index.js';
import { queryCommittedOffset, OffsetTable } from '../client/committed-offset.js';
import { compareStrings } from '../client/allocate.js';
import { AUTO_CREATE_TOPIC_KEY_TOPIC, TOOLS_CONSUMER_GROUP } from '../protocol/names.js';

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

export async function invoke(s: AdminSession, addr: string, code: number, header?: Record<string, string | number | boolean | undefined>, body?: Buffer): Promise<RemotingCommand> {
  return sessionInvoke(s, addr, makeRequest(code, header, body));
}

export function remoteFail(res: RemotingCommand, what: string): never {
  throw new RemoteError(res.code, `${what}: ${res.remark || responseCodeName(res.code)}`);
}

/** GET_BROKER_RUNTIME_INFO (28): the broker's KVTable, all values strings. */
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
    defaultTopic: AUTO_CREATE_TOPIC_KEY_TOPIC,
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

/** GET_ALL_TOPIC_CONFIG (21): the broker's topic configs by name. */
export async function getAllTopicConfigs(s: AdminSession, addr: string): Promise<Record<string, TopicConfig>> {
  const res = await invoke(s, addr, RequestCode.GET_ALL_TOPIC_CONFIG);
  if (res.code !== ResponseCode.SUCCESS) remoteFail(res, `topic configs of ${addr}`);
  const table = decodeTopicConfigWrapper(parseFastjson(bodyBuffer(res).toString('utf8'))).topicConfigTable;
  for (const [name, tc] of Object.entries(table)) if (!tc.topicName) tc.topicName = name;
  return table;
}

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

export function definedOnly<T extends object>(o: T): Partial<T> {
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

export function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort(compareStrings)) out[k] = r[k]!;
  return out;
}

/** PullSysFlag.FLAG_SUBSCRIPTION only: no commit, no suspend. */
const PULL_SYSFLAG_SUBSCRIPTION_ONLY = 0x4;

/** GET_CONSUME_STATS answer field by which a rocketctl broker takes exact reset tables. */
const RESET_OFFSET_TABLE_CAPABILITY = 'resetOffsetTable';

export function remote(res: RemotingCommand, what: string): RemoteError {
  return new RemoteError(res.code, `${what}: ${res.remark?.trim() || responseCodeName(res.code)}`);
}

async function call(session: AdminSession, addr: string, code: number, fields: Record<string, string | number | boolean | undefined>, body?: Buffer): Promise<RemotingCommand> {
  return sessionInvoke(session, addr, makeRequest(code, fields, body));
}

export interface ConsumeStatsAnswer {
  rows: Array<[MessageQueue, { brokerOffset: number; consumerOffset: number; lastTimestamp: number }]>;
  consumeTps: number;
  /** Broker's MQVersion ordinal (from the response). */
  version: number;
  /** The broker takes exact reset tables (rocketctl). */
  resetTable: boolean;
}

export async function getConsumeStats(session: AdminSession, addr: string, group: string, topic?: string): Promise<ConsumeStatsAnswer> {
  const res = await call(session, addr, RequestCode.GET_CONSUME_STATS, { consumerGroup: group, topic });
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `consume stats of ${group} from ${addr}`);
  const stats = res.body && bodyBuffer(res).length > 0 ? decodeConsumeStats(bodyBuffer(res)) : { consumeTps: 0, offsetTable: [] };
  return {
    rows: stats.offsetTable,
    consumeTps: stats.consumeTps,
    version: res.version,
    resetTable: (res.extFields?.[RESET_OFFSET_TABLE_CAPABILITY] ?? '').toLowerCase() === 'true',
  };
}

/** The committed offset of one queue; null when the broker has none (4.x and 5.x alike: committed-offset.ts). */
export async function queryConsumerOffset(session: AdminSession, addr: string, group: string, mq: MessageQueue): Promise<number | null> {
  let tables = offsetTables.get(session);
  if (!tables) offsetTables.set(session, (tables = new Map()));
  return queryCommittedOffset((a, req) => sessionInvoke(session, a, req), addr, group, mq, tables);
}

/** GET_ALL_CONSUMER_OFFSET answers of 4.x brokers, asked at most once per broker and session. */
const offsetTables = new WeakMap<AdminSession, Map<string, Promise<OffsetTable | null>>>();

async function offsetRequest(session: AdminSession, addr: string, code: number, mq: MessageQueue, extra: Record<string, number> = {}): Promise<number> {
  const res = await call(session, addr, code, { topic: mq.topic, queueId: mq.queueId, ...extra, bname: mq.brokerName });
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `offsets of ${mqText(mq)}`);
  return Number(res.extFields?.offset ?? 0);
}

export const getMinOffset = (s: AdminSession, addr: string, mq: MessageQueue) => offsetRequest(s, addr, RequestCode.GET_MIN_OFFSET, mq);

export const getMaxOffset = (s: AdminSession, addr: string, mq: MessageQueue) => offsetRequest(s, addr, RequestCode.GET_MAX_OFFSET, mq);

export const searchOffsetByTimestamp = (s: AdminSession, addr: string, mq: MessageQueue, ts: number) =>
  offsetRequest(s, addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, mq, { timestamp: ts });

/** The group's connections on one broker; undefined when none is online there (CONSUMER_NOT_ONLINE). */
export async function getConsumerConnection(session: AdminSession, addr: string, group: string): Promise<ConsumerConnection | undefined> {
  try {
    const c = await getConsumerConnectionList(session, addr, group);
    return c.connectionSet.length > 0 ? c : undefined;
  } catch (err) {
    if (err instanceof ConsumerNotOnlineError) return undefined;
    throw err;
  }
}

/** A client's mqTable (GET_CONSUMER_RUNNING_INFO relayed by the broker): its queues and their ProcessQueueInfo. */
async function clientMqTable(session: AdminSession, addr: string, group: string, clientId: string): Promise<Array<[MessageQueue, unknown]>> {
  const res = await call(session, addr, RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: group, clientId, jstackEnable: false });
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `running info of ${clientId}`);
  const o = parseFastjson(bodyBuffer(res).toString('utf8')) as Record<string, unknown> | null;
  return messageQueueEntries<unknown>(o?.mqTable);
}

/** The queues a client holds right now (mqTable keys). */
export async function getClientQueues(session: AdminSession, addr: string, group: string, clientId: string): Promise<MessageQueue[]> {
  return (await clientMqTable(session, addr, group, clientId)).map(([mq]) => mq);
}

/**
 * Per queue of `topic`, the latest lastConsumeTimestamp (ProcessQueueInfo) any client of the group
 * on this broker reports. Clients that do not answer running info (ali-ons) are left out.
 */
export async function lastConsumeTimes(session: AdminSession, addr: string, group: string, topic: string, limit: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const conn = await getConsumerConnection(session, addr, group).catch(() => undefined);
  const tables = await mapBounded(conn?.connectionSet ?? [], limit, (c) => clientMqTable(session, addr, group, c.clientId));
  for (const t of tables) {
    if (!t.ok) continue;
    for (const [mq, info] of t.value) {
      const at = (info as { lastConsumeTimestamp?: unknown } | null)?.lastConsumeTimestamp;
      if (mq.topic === topic && typeof at === 'number' && at > (out.get(mq.queueId) ?? 0)) out.set(mq.queueId, at);
    }
  }
  return out;
}

/**
 * The stored record at a queue offset, read with a 1-message PULL as TOOLS_CONSUMER: subscription
 * flag only (no commit, no long poll), so nothing about the measured group changes. Only offsets
 * inside [min, max) are asked for (an out-of-range pull makes a 4.x broker write an
 * OFFSET_MOVED_EVENT). undefined when the queue has no message there.
 */
export async function readStoreTime(session: AdminSession, addr: string, mq: MessageQueue, offset: number): Promise<number | undefined> {
  const res = await call(session, addr, RequestCode.PULL_MESSAGE, {
    consumerGroup: TOOLS_CONSUMER_GROUP,
    topic: mq.topic,
    queueId: mq.queueId,
    queueOffset: offset,
    maxMsgNums: 1,
    sysFlag: PULL_SYSFLAG_SUBSCRIPTION_ONLY,
    commitOffset: 0,
    suspendTimeoutMillis: 0,
    subscription: '*',
    subVersion: 0,
    expressionType: 'TAG',
    bname: mq.brokerName,
  });
  if (res.code !== ResponseCode.SUCCESS || !res.body) return undefined;
  const body = bodyBuffer(res);
  if (body.length === 0) return undefined;
  const rec = decodeRecord(body, 0);
  return rec.storeTimestamp;
}

function mqText(mq: MessageQueue): string {
  return `${mq.topic}/${mq.brokerName}/${mq.queueId}`;
}

/**
 * The group's committed offset of each read queue of `topic` on one broker, null where none.
 * GET_CONSUME_STATS without a topic lists only the topics the group committed offsets for
 * (ConsumerOffsetManager.whichTopicByConsumer), so a topic missing there has none on any queue —
 * exact on every broker version, unlike ConsumeStats' 0 for "none". Within a listed topic a 0 is
 * asked again with QUERY_CONSUMER_OFFSET (exact on 5.x; a 4.x broker may still say 0). When
 * the broker answers neither (an online group no longer subscribing the topic is skipped), every
 * queue is asked with QUERY_CONSUMER_OFFSET.
 */
export async function committedOffsets(
  session: AdminSession,
  b: TopicBroker,
  group: string,
  topic: string,
  limit = DEFAULT_CONCURRENCY,
): Promise<{ offsets: Map<number, number | null>; answer: ConsumeStatsAnswer }> {
  const all = await getConsumeStats(session, b.addr, group);
  const rows = new Map(all.rows.filter(([mq]) => mq.topic === topic).map(([mq, w]) => [mq.queueId, w.consumerOffset]));
  const queueIds = Array.from({ length: b.readQueueNums }, (_, i) => i);
  const offsets = new Map<number, number | null>();
  if (rows.size === 0) {
    const one = await getConsumeStats(session, b.addr, group, topic);
    if (one.rows.some(([mq]) => mq.topic === topic)) {
      for (const q of queueIds) offsets.set(q, null);
      return { offsets, answer: all };
    }
  }
  await mapLimit(queueIds, limit, async (q) => {
    const o = rows.get(q);
    offsets.set(q, o !== undefined && o > 0 ? o : await queryConsumerOffset(session, b.addr, group, { topic, brokerName: b.brokerName, queueId: q }));
  });
  return { offsets, answer: all };
}

/** UPDATE_CONSUMER_OFFSET sent as a request (not oneway) so the write is acknowledged. */
export async function updateConsumerOffset(session: AdminSession, addr: string, group: string, mq: MessageQueue, offset: number): Promise<void> {
  const res = await call(session, addr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: mq.topic, queueId: mq.queueId, commitOffset: offset, bname: mq.brokerName });
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `writing the offset of ${group} on ${mqText(mq)}`);
}
