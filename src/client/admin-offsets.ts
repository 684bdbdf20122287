/**
 * Consumer progress and offset reset, as mqadmin's consumerProgress / resetOffsetByTime /
 * skipAccumulatedMessage do it (fact sheet §8.2-§8.5), against our broker or any RocketMQ 4.x/5.x
 * cluster, with the same request codes — and without mqadmin's habits:
 *
 *  - a broker or group whose request failed is reported, never skipped (callers exit 3);
 *  - reads change nothing: progress uses GET_CONSUME_STATS, QUERY_CONSUMER_OFFSET,
 *    GET_CONSUMER_CONNECTION_LIST and 1-message PULLs as TOOLS_CONSUMER without the commit flag;
 *  - time lag is the age of the oldest unconsumed message, read from its stored timestamp;
 *  - resets are planned first (per queue: current, target, replayed/skipped, store time at the
 *    target), applied compare-and-set per queue, and leave an undo plan;
 *  - reset targets are exact: "now"/--latest is the max offset, a time is the first message
 *    stored at or after it (SEARCH_OFFSET_BY_TIMESTAMP only gives the closest: it is a hint
 *    refined by reading store times), an offset is that offset.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RemoteError, RocketError, TopicNotFoundError, GroupNotConsumedError, GroupNotFoundError, UsageError } from '../errors/index.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import {
  decodeConsumeStats,
  decodeResetOffsetBody,
  encodeResetOffsetBody,
  type Connection,
  type ConsumerConnection,
  type MessageQueue,
} from '../protocol/bodies.js';
import { messageQueueEntries, parseFastjson } from '../protocol/fastjson.js';
import { decodeRecord } from '../protocol/message.js';
import { ensureDir } from '../util/ensure-dir.js';
import { sessionInvoke, type AdminSession } from './admin-session.js';
import { queryCommittedOffset, type OffsetTable } from './committed-offset.js';
import { compareMessageQueues, compareStrings } from './allocate.js';
import { oneShotDrain, type OneShotDrain } from './drain-estimate.js';
import { retentionReader, retentionsOf, retentionWarning, type BrokerRetention, type RetentionWarning } from './retention.js';
import { brokerAddrOf, clusterInfo, ConsumerNotOnlineError, getAllSubscriptionGroups, getConsumerConnectionList, getTopicStatsInfo, mapBounded, routeOfTopic, subscriptionGroupExists, topicList } from './admin.js';

// ---- limits and names -----------------------------------------------------------------------

/** Requests in flight at once for fan-outs (groups × brokers, queues). */
export const DEFAULT_CONCURRENCY = 32;
/** Group used for the 1-message PULLs that read store times (exists on every broker, MixAll.TOOLS_CONSUMER_GROUP). */
export const TOOLS_CONSUMER_GROUP = 'TOOLS_CONSUMER';
/** PullSysFlag.FLAG_SUBSCRIPTION only: no commit, no suspend. */
const PULL_SYSFLAG_SUBSCRIPTION_ONLY = 0x4;
/** Upper bound on store-time reads while refining one SEARCH_OFFSET_BY_TIMESTAMP hint. */
const MAX_TIME_PROBES = 160;
/** MQVersion.V5_0_0: brokers from here take ResetOffsetRequestHeader.queueId/offset. */
const MQ_VERSION_V5_0_0 = 413;
/** GET_CONSUME_STATS answer field by which a rocketctl broker takes exact reset tables. */
const RESET_OFFSET_TABLE_CAPABILITY = 'resetOffsetTable';
export const RETRY_GROUP_TOPIC_PREFIX = '%RETRY%';

// ---- small helpers ----------------------------------------------------------------------------


/**
 * Run `fn` over `items` with at most `limit` in flight (admin.ts mapBounded); results in input
 * order. Every call finishes before the first failure is thrown, so none runs on unobserved.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const settled = await mapBounded(
    items.map((item, index) => ({ item, index })),
    limit,
    (x) => fn(x.item, x.index),
  );
  return settled.map((r) => {
    if (!r.ok) throw r.error;
    return r.value;
  });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function remote(res: RemotingCommand, what: string): RemoteError {
  return new RemoteError(res.code, `${what}: ${res.remark?.trim() || responseCodeName(res.code)}`);
}

/** MQVersion ordinal → enum name (V4_9_8); exact from V4_0_0 (212) to V5_9_9 (611). */
export function versionDesc(ordinal: number): string {
  if (ordinal >= 612) return 'HIGHER_VERSION';
  if (ordinal < 212) return `V3 (${ordinal})`;
  const release = ordinal % 2 === 1;
  const n = Math.floor((ordinal + (release ? 0 : 1) - 213) / 2);
  const major = 4 + Math.floor(n / 100);
  const minor = Math.floor((n % 100) / 10);
  const patch = n % 10;
  return `V${major}_${minor}_${patch}${release ? '' : '_SNAPSHOT'}`;
}

/** `now`, epoch millis, or yyyy-MM-dd#HH:mm:ss:SSS (local time), as mqadmin's -s takes them. */
export function parseTimestamp(text: string, flag = '--timestamp'): number | 'now' {
  const s = text.trim();
  if (s === 'now') return 'now';
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(\d{4})-(\d{2})-(\d{2})#(\d{2}):(\d{2}):(\d{2}):(\d{3})$/.exec(s);
  if (m) {
    const [y, mo, d, h, mi, se, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
    const t = new Date(y, mo - 1, d, h, mi, se, ms);
    if (t.getFullYear() === y && t.getMonth() === mo - 1 && t.getDate() === d) return t.getTime();
  }
  throw new UsageError(`${flag} ${JSON.stringify(text)}: expected now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS`);
}

// ---- cluster, routes --------------------------------------------------------------------------

export interface BrokerRef {
  brokerName: string;
  /** Master address (brokerId 0), else the lowest id (admin.ts brokerAddrOf): where offsets live. */
  addr: string;
}

/** Every broker (by name) of the cluster(s) the name server knows, with its master address. */
export async function clusterBrokers(session: AdminSession): Promise<BrokerRef[]> {
  const info = await clusterInfo(session);
  const out: BrokerRef[] = [];
  for (const b of Object.values(info.brokerAddrTable)) {
    const addr = brokerAddrOf(b);
    if (addr) out.push({ brokerName: b.brokerName, addr });
  }
  if (out.length === 0) {
    throw new RocketError(`${session.target} knows no broker`, {
      code: 'E_NO_BROKER',
      actions: ['start a broker registered with this name server (rocketctl broker start)'],
    });
  }
  return out.sort((a, b) => compareStrings(a.brokerName, b.brokerName));
}

/** Every topic the name server knows (GET_ALL_TOPIC_LIST_FROM_NAMESERVER). */
export async function allTopics(session: AdminSession): Promise<string[]> {
  return (await topicList(session, { clusterModel: false })).topics.map((t) => t.topic);
}

export interface TopicBroker extends BrokerRef {
  readQueueNums: number;
  writeQueueNums: number;
}

/** The brokers serving `topic` (readable queue data with a reachable master), sorted by name. */
export async function topicBrokers(session: AdminSession, topic: string): Promise<TopicBroker[]> {
  const route = await routeOfTopic(session, topic);
  const out: TopicBroker[] = [];
  for (const q of route.queueDatas) {
    const b = route.brokerDatas.find((d) => d.brokerName === q.brokerName);
    const addr = b && brokerAddrOf(b);
    if (addr) out.push({ brokerName: q.brokerName, addr, readQueueNums: q.readQueueNums, writeQueueNums: q.writeQueueNums });
  }
  if (out.length === 0) throw new TopicNotFoundError(topic);
  return out.sort((a, b) => compareStrings(a.brokerName, b.brokerName));
}

// ---- broker requests ----------------------------------------------------------------------------

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
async function lastConsumeTimes(session: AdminSession, addr: string, group: string, topic: string, limit: number): Promise<Map<number, number>> {
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

// ---- consumer progress (-g) -------------------------------------------------------------------

export interface QueueProgress {
  topic: string;
  brokerName: string;
  queueId: number;
  brokerOffset: number;
  /** null: the group never committed an offset for this queue. */
  consumerOffset: number | null;
  /** Messages not consumed yet: brokerOffset − consumerOffset, never below 0 (see notes). */
  diff: number;
  /** Store time of the last consumed message (consumerOffset − 1), null when unknown. */
  lastTimestamp: number | null;
  /** Store time of the oldest message not consumed yet, null when there is none. */
  oldestUnconsumedTimestamp: number | null;
  /** Age of that message at measuredAt (0 when nothing is pending, null when unknown). */
  lagMs: number | null;
  /** With --showClientIP: the client consuming this queue (null: none holds it). */
  clientId?: string | null;
  clientIp?: string | null;
  notes: string[];
}

export interface ClientInfo {
  clientId: string;
  clientAddr: string;
  language: string;
  version: number;
  versionDesc: string;
}

export interface BrokerFailure {
  brokerName: string;
  addr: string;
  error: string;
}

export interface GroupProgress {
  group: string;
  online: boolean;
  clients: ClientInfo[];
  consumeType: string | null;
  messageModel: string | null;
  measuredAt: number;
  queues: QueueProgress[];
  totals: {
    diff: number;
    consumeTps: number;
    lagMsMax: number | null;
    queues: number;
    queuesWithBacklog: number;
    queuesWithoutOffset: number;
  };
  diagnosis: string;
  notes: string[];
  /** The queue whose oldest unconsumed message retention deletes first, when within a day (retention.ts). */
  retentionWarning: RetentionWarning | null;
  /** When the backlog drains at the brokers' TPS statistics (drain-estimate.ts); also ends the diagnosis. */
  drainEstimate: OneShotDrain;
  failedBrokers: BrokerFailure[];
}

export interface ProgressOptions {
  group: string;
  /** Only this topic's queues. */
  topic?: string;
  /** Map each queue to the client holding it (GET_CONSUMER_RUNNING_INFO per client). */
  showClient?: boolean;
  concurrency?: number;
  now?: () => number;
}

export async function consumerProgress(session: AdminSession, opts: ProgressOptions): Promise<GroupProgress> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const now = opts.now ?? Date.now;
  const brokers = await clusterBrokers(session);
  if (opts.topic) await routeOfTopic(session, opts.topic); // TopicNotFoundError for an unknown -t
  const failedBrokers: BrokerFailure[] = [];
  let anyCommitted = false;
  const fail = (b: BrokerRef, err: unknown) => failedBrokers.push({ brokerName: b.brokerName, addr: b.addr, error: errorText(err) });

  // Who is online, and what they subscribe to (every broker a consumer talks to knows it).
  const conns = await mapLimit(brokers, limit, async (b) => {
    try {
      return await getConsumerConnection(session, b.addr, opts.group);
    } catch (err) {
      fail(b, err);
      return undefined;
    }
  });
  const connection = mergeConnections(conns);
  const subscribed = Object.keys(connection?.subscriptionTable ?? {});

  // Without a topic a broker lists only the topics the group committed offsets for ON THAT BROKER.
  const statsPerBroker = await mapLimit(brokers, limit, async (b) => {
    if (failedBrokers.some((f) => f.addr === b.addr)) return undefined;
    try {
      return await getConsumeStats(session, b.addr, opts.group);
    } catch (err) {
      fail(b, err);
      return undefined;
    }
  });
  // The group's topics: committed on any broker, subscribed by an online consumer, or -t. A broker
  // of such a topic where the group never committed still holds backlog: its queues are asked by
  // topic and shown with no committed offset (else a backlog there would be invisible).
  const committedTopics = new Set(statsPerBroker.flatMap((st) => (st?.rows ?? []).map(([mq]) => mq.topic)));
  anyCommitted = committedTopics.size > 0;
  const wanted = opts.topic ? [opts.topic] : [...new Set([...committedTopics, ...subscribed])];
  const rowsPerBroker = await mapLimit(
    brokers.map((b, i) => ({ b, all: statsPerBroker[i] })),
    limit,
    async ({ b, all }) => {
      if (!all) return [];
      try {
        const rows: ProgressRow[] = all.rows.filter(([mq]) => !opts.topic || mq.topic === opts.topic).map(([mq, w]) => ({ b, mq, w, tps: 0, committed: true }));
        const seen = new Set(rows.map((r) => r.mq.topic));
        for (const t of wanted.filter((x) => !seen.has(x))) {
          // A broker without the topic answers no rows.
          const more = await getConsumeStats(session, b.addr, opts.group, t);
          for (const [mq, w] of more.rows) rows.push({ b, mq, w, tps: 0, committed: false });
        }
        if (rows.length > 0) rows[0]!.tps = all.consumeTps;
        return rows;
      } catch (err) {
        fail(b, err);
        return [];
      }
    },
  );
  const rows = rowsPerBroker.flat().sort((x, y) => compareMessageQueues(x.mq, y.mq));
  // Unknown: nothing committed anywhere and nobody online (a -t topic's rows alone don't make a group).
  if (!anyCommitted && !connection && failedBrokers.length === 0) {
    // A group created with updateSubGroup (or auto-created) that never committed: say so, rather
    // than that it does not exist. Only asked on this path (one request per broker).
    throw (await subscriptionGroupExists(session, brokers.map((b) => b.addr), opts.group)) ? new GroupNotConsumedError(opts.group) : new GroupNotFoundError(opts.group);
  }

  const measuredAt = now();
  const queues = await mapLimit(rows, limit, async (r) => queueProgress(session, r, opts.group, measuredAt));
  if (opts.showClient && connection) await assignClients(session, brokers, opts.group, connection, queues, limit);

  const consumeTps = rows.reduce((s, r) => s + r.tps, 0);
  const lags = queues.map((q) => q.lagMs).filter((l): l is number => l !== null);
  const progress: GroupProgress = {
    group: opts.group,
    online: connection !== undefined,
    clients: (connection?.connectionSet ?? []).map(clientInfo),
    consumeType: connection?.consumeType ?? null,
    messageModel: connection?.messageModel ?? null,
    measuredAt,
    queues,
    totals: {
      diff: queues.reduce((s, q) => s + q.diff, 0),
      consumeTps,
      lagMsMax: lags.length > 0 ? Math.max(...lags) : null,
      queues: queues.length,
      queuesWithBacklog: queues.filter((q) => q.diff > 0).length,
      queuesWithoutOffset: queues.filter((q) => q.consumerOffset === null).length,
    },
    diagnosis: '',
    notes: [],
    retentionWarning: null,
    drainEstimate: { state: 'unknown', etaMs: null, backlog: 0, consumeTps, produceTps: null, produceTpsSource: '', text: '' },
    failedBrokers,
  };
  const d = diagnose(progress);
  const pairs = new Map<string, { addr: string; topic: string }>();
  for (const r of rows) if (!r.mq.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) pairs.set(`${r.b.addr}\u0000${r.mq.topic}`, { addr: r.b.addr, topic: r.mq.topic });
  progress.drainEstimate = await oneShotDrain(session, { pairs: [...pairs.values()], backlog: progress.totals.diff, consumeTps });
  if (progress.totals.diff > 0 && progress.online) d.diagnosis = `${d.diagnosis}; ${progress.drainEstimate.text}`;
  progress.retentionWarning = retentionWarning(queues, await retentionsOf(brokers, queues, retentionReader(session)));
  progress.diagnosis = progress.retentionWarning ? `${retentionDiagnosis(progress.retentionWarning)}; ${d.diagnosis}` : d.diagnosis;
  progress.notes = d.notes;
  return progress;
}

/** The retention warning as the head of the diagnosis: it is the most urgent thing to say. */
export function retentionDiagnosis(w: RetentionWarning): string {
  return `messages will be lost to retention: ${w.message} (${w.topic} queue ${w.queueId} on ${w.brokerName})`;
}

function clientInfo(c: Connection): ClientInfo {
  return { clientId: c.clientId, clientAddr: c.clientAddr, language: c.language, version: c.version, versionDesc: versionDesc(c.version) };
}

/** One ConsumerConnection from the brokers' answers: connections de-duplicated by client id. */
export function mergeConnections(list: Array<ConsumerConnection | undefined>): ConsumerConnection | undefined {
  const present = list.filter((c): c is ConsumerConnection => c !== undefined);
  if (present.length === 0) return undefined;
  const byId = new Map<string, Connection>();
  const merged: ConsumerConnection = { ...present[0]!, connectionSet: [], subscriptionTable: {} };
  for (const c of present) {
    for (const conn of c.connectionSet) if (!byId.has(conn.clientId)) byId.set(conn.clientId, conn);
    Object.assign(merged.subscriptionTable, c.subscriptionTable);
  }
  merged.connectionSet = [...byId.values()].sort((a, b) => compareStrings(a.clientId, b.clientId));
  return merged;
}

interface ProgressRow {
  b: BrokerRef;
  mq: MessageQueue;
  w: { brokerOffset: number; consumerOffset: number; lastTimestamp: number };
  tps: number;
  /** The topic is among those the group committed offsets for (false: none on any queue). */
  committed: boolean;
}

async function queueProgress(session: AdminSession, r: ProgressRow, group: string, measuredAt: number): Promise<QueueProgress> {
  const { b, mq, w } = r;
  const notes: string[] = [];
  // ConsumeStats reports "none" as 0: ask the queue itself when it says 0.
  const consumerOffset = !r.committed ? null : w.consumerOffset === 0 ? await queryConsumerOffset(session, b.addr, group, mq) : w.consumerOffset;
  if (consumerOffset === null) notes.push('no committed offset: where consumption starts depends on the consumer (consumeFromWhere)');
  const from = consumerOffset ?? 0;
  let diff = w.brokerOffset - from;
  if (diff < 0) {
    notes.push(`consumer offset ${from} is ahead of the broker's max offset ${w.brokerOffset} (queue recreated or store truncated?): shown as no backlog; the consumer is moved back when it next pulls`);
    diff = 0;
  }
  const q: QueueProgress = {
    topic: mq.topic,
    brokerName: mq.brokerName,
    queueId: mq.queueId,
    brokerOffset: w.brokerOffset,
    consumerOffset,
    diff,
    lastTimestamp: w.lastTimestamp > 0 ? w.lastTimestamp : null,
    oldestUnconsumedTimestamp: null,
    lagMs: diff === 0 ? 0 : null,
    notes,
  };
  if (diff > 0) {
    const min = await getMinOffset(session, b.addr, mq);
    let at = from;
    if (from < min) {
      notes.push(`${min - from} message(s) before offset ${min} were deleted before being consumed; the oldest still stored is at ${min}`);
      at = min;
      q.diff = Math.max(0, w.brokerOffset - min);
    }
    if (at < w.brokerOffset) {
      const ts = await readStoreTime(session, b.addr, mq, at);
      if (ts !== undefined) {
        q.oldestUnconsumedTimestamp = ts;
        q.lagMs = Math.max(0, measuredAt - ts);
      } else {
        notes.push(`could not read the message at offset ${at} to measure the time lag`);
      }
    }
  }
  return q;
}

/** --showClientIP: ask each client which queues it holds (mqadmin -s true). */
async function assignClients(session: AdminSession, brokers: BrokerRef[], group: string, conn: ConsumerConnection, queues: QueueProgress[], limit: number): Promise<void> {
  const owner = new Map<string, string>();
  const clients = conn.connectionSet.map((c) => c.clientId);
  const answers = await mapLimit(clients, limit, async (clientId) => {
    for (const b of brokers) {
      try {
        return { clientId, mqs: await getClientQueues(session, b.addr, group, clientId) };
      } catch {
        // another broker may have this client's channel
      }
    }
    return { clientId, mqs: undefined };
  });
  for (const a of answers) for (const mq of a.mqs ?? []) owner.set(`${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`, a.clientId);
  const unknown = answers.filter((a) => a.mqs === undefined).map((a) => a.clientId);
  for (const q of queues) {
    const id = owner.get(`${q.topic}\u0000${q.brokerName}\u0000${q.queueId}`) ?? null;
    q.clientId = id;
    q.clientIp = id ? id.split('@')[0]! : null;
    if (!id && unknown.length > 0) q.notes.push(`owner unknown: ${unknown.join(', ')} did not answer GET_CONSUMER_RUNNING_INFO`);
  }
}

// ---- diagnosis ---------------------------------------------------------------------------------

export interface DiagnosisInput {
  group: string;
  online: boolean;
  clients: Array<{ clientId: string }>;
  messageModel: string | null;
  queues: Array<Pick<QueueProgress, 'topic' | 'brokerName' | 'queueId' | 'diff' | 'consumerOffset' | 'lagMs'> & { clientId?: string | null }>;
}

/**
 * One line saying what limits the group, plus notes. Rules, first match wins:
 *  1. offline: "offline (no consumer connected): N messages wait".
 *  2. no backlog: "no backlog" (+ consumer/queue counts).
 *  3. broadcasting: every consumer reads every queue; more consumers don't help.
 *  4. for the topic with the largest backlog (retry topics aside), with c consumers and q queues:
 *     one queue holding half of its backlog or more → "backlog concentrated in one queue" (a slow
 *     consumer or a hot key: more consumers don't drain one queue faster); otherwise
 *     c < q → "c consumers for q queues: adding up to q−c more consumers will help";
 *     c = q → "as many consumers as queues: more consumers won't help; migrateBacklog to a topic
 *     with more queues (or make each consumer faster)";
 *     c > q → the same, and c−q consumers are idle.
 * Notes: queues with backlog nobody holds (with --showClientIP), queues without a committed
 * offset.
 */
export function diagnose(g: DiagnosisInput): { diagnosis: string; notes: string[] } {
  const notes: string[] = [];
  const total = g.queues.reduce((s, q) => s + q.diff, 0);
  const c = g.clients.length;
  const noOffset = g.queues.filter((q) => q.consumerOffset === null).length;
  if (noOffset > 0) notes.push(`${noOffset} queue(s) have no committed offset`);
  const orphaned = g.queues.filter((q) => q.diff > 0 && q.clientId === null);
  if (g.online && orphaned.length > 0) notes.push(`${orphaned.length} queue(s) with backlog are held by no consumer (rebalance pending, or consumers subscribe differently)`);
  if (!g.online) {
    return { diagnosis: total > 0 ? `offline (no consumer connected): ${total} message(s) wait and the backlog grows until a consumer starts` : 'offline (no consumer connected); nothing pending', notes };
  }
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const byTopic = new Map<string, { queues: number; diff: number; diffs: number[] }>();
  for (const q of g.queues) {
    const t = byTopic.get(q.topic) ?? { queues: 0, diff: 0, diffs: [] };
    t.queues++;
    t.diff += q.diff;
    t.diffs.push(q.diff);
    byTopic.set(q.topic, t);
  }
  if (total === 0) {
    const main = [...byTopic.entries()].filter(([t]) => !t.startsWith(RETRY_GROUP_TOPIC_PREFIX));
    const queues = Math.max(0, ...main.map(([, t]) => t.queues));
    return { diagnosis: `no backlog (${plural(c, 'consumer')}${queues > 0 ? `, ${plural(queues, 'queue')}` : ''})`, notes };
  }
  if (g.messageModel === 'BROADCASTING') {
    return { diagnosis: `broadcasting: each of ${plural(c, 'consumer')} reads every queue, so more consumers won't help; make each consumer faster (${total} pending)`, notes };
  }
  const candidates = [...byTopic.entries()].filter(([t, v]) => v.diff > 0 && !t.startsWith(RETRY_GROUP_TOPIC_PREFIX));
  const [topic, t] = (candidates.length > 0 ? candidates : [...byTopic.entries()].filter(([, v]) => v.diff > 0)).sort((a, b) => b[1].diff - a[1].diff)[0]!;
  const sorted = [...t.diffs].sort((a, b) => b - a);
  const q = t.queues;
  // Most of the backlog in one queue, well ahead of the next (at least twice it, so 100 and 90 of
  // two queues is not "concentrated"): one consumer drains a queue, so more consumers won't help.
  if (q >= 2 && sorted[0]! >= 2 * (sorted[1] ?? 0) && sorted[0]! >= 0.5 * t.diff) {
    const share = Math.round((100 * sorted[0]!) / t.diff);
    return { diagnosis: `backlog concentrated in one queue of ${topic}: it holds ${share}% (${sorted[0]} of ${t.diff}): a slow consumer or a hot key, not a lack of consumers; more consumers won't drain it faster`, notes };
  }
  if (c < q) return { diagnosis: `${plural(c, 'consumer')} for ${plural(q, 'queue')} of ${topic}: adding up to ${q - c} more consumer${q - c === 1 ? '' : 's'} will help`, notes };
  const idle = c > q ? `; ${plural(c - q, 'consumer')} idle` : '';
  return { diagnosis: `as many consumers as queues (${c} for ${q} of ${topic})${idle}: more consumers won't help; migrateBacklog to a topic with more queues, or make each consumer faster`, notes };
}

// ---- every group (no -g) -------------------------------------------------------------------------

export interface GroupRow {
  group: string;
  status: 'online' | 'offline' | 'failed';
  /** Why the group's row is incomplete (status failed). */
  error?: string;
  count: number;
  /** Lowest client version (V4_9_8), or OFFLINE. */
  version: string;
  type: 'PUSH' | 'PULL' | '';
  model: string;
  tps: number;
  diffTotal: number;
  /**
   * The largest time lag among the group's queues (age of the oldest unconsumed message, from its
   * stored timestamp; 0 without backlog); null when not measured (no withLag) or unknown (no
   * queue with backlog could be read).
   */
  lagMs: number | null;
  /** With the lag measured: the queue retention deletes first, when within a day; else null. */
  retentionWarning: RetentionWarning | null;
  /** Per-queue backlog, for --max-lag checks, --watch's rates and metrics (not printed in the table); consumerOffset null: none committed. */
  queues: Array<{ topic: string; brokerName: string; queueId: number; diff: number; brokerOffset: number; consumerOffset: number | null; lagMs?: number | null }>;
}

export interface AllGroupsOptions {
  concurrency?: number;
  /** Also measure the time lag of every queue with a backlog (--lag, --max-lag-ms). */
  withLag?: boolean;
  /** Only these brokers (default: every broker the name servers know). */
  brokers?: BrokerRef[];
  now?: () => number;
}

export interface AllGroups {
  groups: GroupRow[];
  measuredAt: number;
  /** Brokers whose subscription groups could not be listed: groups only they know may be missing. */
  failedBrokers: BrokerFailure[];
}

/**
 * Subscription groups a broker creates or uses itself, not an application's (skipped when listing
 * subscription groups): SubscriptionGroupManager's defaults (src/broker/store/config/
 * subscription-group.ts, fact sheet §5), MixAll's well-known groups and its CID_RMQ_SYS_ prefix
 * (MixAll.isSysConsumerGroup, fact sheet §6.8; src/broker/store/config/system-topics.ts).
 */
const BUILT_IN_GROUPS: ReadonlySet<string> = new Set([
  TOOLS_CONSUMER_GROUP,
  'FILTERSRV_CONSUMER',
  'SELF_TEST_C_GROUP',
  'CID_ONS-HTTP-PROXY',
  'CID_ONSAPI_PULL',
  'CID_ONSAPI_PERMISSION',
  'CID_ONSAPI_OWNER',
  'DEFAULT_CONSUMER',
  'SCHEDULE_CONSUMER',
  '__MONITOR_CONSUMER',
]);

export function isBuiltInGroup(group: string): boolean {
  return BUILT_IN_GROUPS.has(group) || group.startsWith('CID_RMQ_SYS_');
}

/**
 * Groups = topics named %RETRY%<group> (as mqadmin) plus the subscription groups of every broker
 * (one GET_ALL_SUBSCRIPTIONGROUP_CONFIG each: a group created with updateSubGroup, or auto-created,
 * that never had a retry topic), built-in groups left out; sorted. Each is measured on every
 * broker, bounded in parallel. A broker whose groups cannot be listed is in failedBrokers.
 */
export async function allGroupsProgress(session: AdminSession, opts: AllGroupsOptions = {}): Promise<AllGroups> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const [topics, brokers] = await Promise.all([allTopics(session), opts.brokers ?? clusterBrokers(session)]);
  const failedBrokers: BrokerFailure[] = [];
  const listed = await mapLimit(brokers, limit, async (b) => {
    try {
      return Object.keys(await getAllSubscriptionGroups(session, b.addr)).filter((g) => !isBuiltInGroup(g));
    } catch (err) {
      failedBrokers.push({ brokerName: b.brokerName, addr: b.addr, error: errorText(err) });
      return [];
    }
  });
  const retry = topics.filter((t) => t.startsWith(RETRY_GROUP_TOPIC_PREFIX)).map((t) => t.slice(RETRY_GROUP_TOPIC_PREFIX.length));
  const groups = [...new Set([...retry, ...listed.flat()])].sort(compareStrings);
  const measuredAt = (opts.now ?? Date.now)();
  const ctx: RowContext = { session, brokers, measuredAt, withLag: !!opts.withLag, slot: limiter(limit), minOffsets: new Map(), retention: retentionReader(session) };
  const rows = await mapLimit(groups, limit, (g) => groupRow(ctx, g));
  return { groups: rows, measuredAt, failedBrokers: failedBrokers.sort((a, b) => compareStrings(a.brokerName, b.brokerName)) };
}

interface RowContext {
  session: AdminSession;
  brokers: BrokerRef[];
  measuredAt: number;
  withLag: boolean;
  /** Bounds the lag reads of all groups together. */
  slot: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Min offset per queue, one GET_TOPIC_STATS_INFO per broker and topic (shared by all groups). */
  minOffsets: Map<string, Promise<Map<number, number> | null>>;
  /** Each broker's retention, one GET_BROKER_CONFIG per broker (shared by all groups). */
  retention: (addr: string) => Promise<BrokerRetention>;
}

/** At most `n` calls of the returned function's argument running at once. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

async function groupRow(ctx: RowContext, group: string): Promise<GroupRow> {
  const { session, brokers } = ctx;
  const row: GroupRow = { group, status: 'offline', count: 0, version: 'OFFLINE', type: '', model: '', tps: 0, diffTotal: 0, lagMs: null, retentionWarning: null, queues: [] };
  const errors: string[] = [];
  const failed = (b: BrokerRef, err: unknown) => errors.push(`${b.brokerName} (${b.addr}): ${errorText(err)}`);
  const conns: Array<ConsumerConnection | undefined> = [];
  const answered: Array<{ b: BrokerRef; stats: ConsumeStatsAnswer }> = [];
  for (const b of brokers) {
    try {
      const [stats, conn] = await Promise.all([getConsumeStats(session, b.addr, group), getConsumerConnection(session, b.addr, group)]);
      conns.push(conn);
      answered.push({ b, stats });
    } catch (err) {
      failed(b, err);
    }
  }
  // As with -g: the group's topics on every broker, also where it never committed (all backlog).
  const topics = new Set([...answered.flatMap(({ stats }) => stats.rows.map(([mq]) => mq.topic)), ...Object.keys(mergeConnections(conns)?.subscriptionTable ?? {})]);
  for (const { b, stats } of answered) {
    row.tps += stats.consumeTps;
    const rows = stats.rows.map(([mq, w]) => ({ mq, w, committed: true }));
    try {
      const seen = new Set(rows.map((r) => r.mq.topic));
      for (const t of topics) {
        if (seen.has(t)) continue;
        for (const [mq, w] of (await getConsumeStats(session, b.addr, group, t)).rows) rows.push({ mq, w, committed: false });
      }
      const lags: Array<Promise<void>> = [];
      for (const { mq, w, committed } of rows) {
        // No committed offset: everything still stored is backlog.
        const from = committed ? w.consumerOffset : w.brokerOffset > 0 ? await getMinOffset(session, b.addr, mq) : 0;
        const diff = Math.max(0, w.brokerOffset - from);
        const q: GroupRow['queues'][number] = { topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId, diff, brokerOffset: w.brokerOffset, consumerOffset: committed ? w.consumerOffset : null };
        if (ctx.withLag) {
          q.lagMs = diff === 0 ? 0 : null;
          if (diff > 0) lags.push(ctx.slot(() => lagAt(ctx, b, mq, from, w.brokerOffset)).then((ms) => void (q.lagMs = ms)));
        }
        row.queues.push(q);
        row.diffTotal += diff;
      }
      await settleAll(lags);
    } catch (err) {
      failed(b, err);
    }
  }
  if (ctx.withLag) {
    const known = row.queues.map((q) => q.lagMs).filter((ms): ms is number => typeof ms === 'number');
    row.lagMs = known.length > 0 ? Math.max(...known) : row.queues.length === 0 ? 0 : null;
    row.retentionWarning = retentionWarning(row.queues, await retentionsOf(brokers, row.queues, ctx.retention));
  }
  const conn = mergeConnections(conns);
  if (conn) {
    row.status = 'online';
    row.count = conn.connectionSet.length;
    row.version = versionDesc(Math.min(...conn.connectionSet.map((c) => c.version)));
    row.type = conn.consumeType === 'CONSUME_ACTIVELY' ? 'PULL' : 'PUSH';
    row.model = row.type === 'PUSH' ? (conn.messageModel ?? '') : '';
  }
  if (errors.length > 0) {
    row.status = 'failed';
    row.error = errors.join('; ');
  }
  return row;
}

/** Wait for every promise, then throw the first failure (none left running unobserved). */
async function settleAll(list: Array<Promise<void>>): Promise<void> {
  const failure = (await Promise.allSettled(list)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Age of the message at max(consumer offset, min offset), read only inside [min, max). */
async function lagAt(ctx: RowContext, b: BrokerRef, mq: MessageQueue, consumerOffset: number, brokerOffset: number): Promise<number | null> {
  const min = (await minOffsetsOf(ctx, b, mq.topic))?.get(mq.queueId) ?? (await getMinOffset(ctx.session, b.addr, mq));
  const at = Math.max(consumerOffset, min);
  if (at >= brokerOffset) return 0;
  const ts = await readStoreTime(ctx.session, b.addr, mq, at);
  return ts === undefined ? null : Math.max(0, ctx.measuredAt - ts);
}

/** The min offset of each queue of `topic` on one broker; null when the broker gives no stats (then asked per queue). */
function minOffsetsOf(ctx: RowContext, b: BrokerRef, topic: string): Promise<Map<number, number> | null> {
  const key = `${b.addr}\u0000${topic}`;
  let p = ctx.minOffsets.get(key);
  if (!p) {
    p = getTopicStatsInfo(ctx.session, b.addr, topic).then(
      (stats) => new Map(stats.filter((s) => s.brokerName === b.brokerName).map((s) => [s.queueId, s.minOffset])),
      () => null,
    );
    ctx.minOffsets.set(key, p);
  }
  return p;
}

// ---- lag checks --------------------------------------------------------------------------------

export interface LagViolation {
  group: string;
  topic: string;
  brokerName: string;
  queueId: number;
  diff: number;
  lagMs: number | null;
}

export function lagViolations(
  group: string,
  queues: Array<{ topic: string; brokerName: string; queueId: number; diff: number; lagMs?: number | null }>,
  maxLag?: number,
  maxLagMs?: number,
): LagViolation[] {
  return queues
    .filter((q) => (maxLag !== undefined && q.diff > maxLag) || (maxLagMs !== undefined && q.lagMs != null && q.lagMs > maxLagMs))
    .map((q) => ({ group, topic: q.topic, brokerName: q.brokerName, queueId: q.queueId, diff: q.diff, lagMs: q.lagMs ?? null }));
}

// ---- committed offsets ---------------------------------------------------------------------------

/**
 * The group's committed offset of each read queue of `topic` on one broker, null where none.
 * GET_CONSUME_STATS without a topic lists only the topics the group committed offsets for
 * (ConsumerOffsetManager.whichTopicByConsumer), so a topic missing there has none on any queue —
 * exact on every broker version, unlike ConsumeStats' 0 for "none". Within a listed topic a 0 is
 * asked again with QUERY_CONSUMER_OFFSET (exact on 5.x; a 4.x broker may still say 0, §2.6). When
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

// ---- reset: plan ---------------------------------------------------------------------------------

export type ResetMode =
  | { kind: 'timestamp'; timestampMs: number }
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'offset'; offset: number };

export interface PlannedQueue {
  topic: string;
  brokerName: string;
  brokerAddr: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** Committed offset when planned (null: none). Apply only proceeds while it is unchanged. */
  currentOffset: number | null;
  targetOffset: number;
  /** Messages consumed again (target before current) / skipped (target after current). */
  replay: number;
  skip: number;
  /** Store time of the message at the target (null: the target is the end of the queue). */
  targetStoreTimestamp: number | null;
  notes: string[];
}

export interface ResetPlan {
  kind: 'rocketctl.resetOffset.plan';
  formatVersion: 1;
  group: string;
  topic: string;
  /** What the plan was made for: "latest", "earliest", "offset 0", "timestamp 1700000000000", or "undo of FILE". */
  mode: string;
  timestampMs: number | null;
  force: boolean;
  createdAt: number;
  online: boolean;
  queues: PlannedQueue[];
  totals: { replay: number; skip: number; queues: number };
}

export interface PlanOptions {
  group: string;
  topic: string;
  mode: ResetMode;
  queueId?: number;
  /** mqadmin -f: false = only move offsets back (default true). */
  force?: boolean;
  concurrency?: number;
}

/** Per queue: where the group is, where it would go, and what that means. Changes nothing. */
export async function planReset(session: AdminSession, opts: PlanOptions): Promise<ResetPlan> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const force = opts.force ?? true;
  const brokers = await topicBrokers(session, opts.topic);
  const perBroker = await mapLimit(brokers, limit, async (b) => {
    const [known, conn] = await Promise.all([committedOffsets(session, b, opts.group, opts.topic, limit), getConsumerConnection(session, b.addr, opts.group)]);
    const queueIds = [...known.offsets.keys()].filter((q) => opts.queueId === undefined || q === opts.queueId);
    const planned = await mapLimit(queueIds, limit, async (queueId) => {
      const mq: MessageQueue = { topic: opts.topic, brokerName: b.brokerName, queueId };
      return planQueue(session, b, mq, known.offsets.get(queueId) ?? null, opts.mode, force);
    });
    return { planned, online: conn !== undefined };
  });
  const queues = perBroker.flatMap((p) => p.planned).sort(compareMessageQueues);
  if (opts.queueId !== undefined && queues.length === 0) {
    throw new UsageError(`--queue ${opts.queueId}: topic ${opts.topic} has no such queue (its brokers have ${brokers.map((b) => `${b.brokerName}: 0-${b.readQueueNums - 1}`).join(', ')})`);
  }
  const online = perBroker.some((p) => p.online);
  if (!online && queues.every((q) => q.currentOffset === null)) {
    // Never consumed with and nobody online: a group that exists (updateSubGroup, or created by a
    // consumer's first heartbeat) gets its starting offsets set; an unknown name is an error.
    if (!(await subscriptionGroupExists(session, brokers.map((b) => b.addr), opts.group))) {
      throw new RocketError(`consumer group ${opts.group} has no offsets for topic ${opts.topic}, no consumer online and no subscription group on its brokers`, {
        code: 'E_GROUP_NOT_FOUND',
        actions: ['check the group and topic names: rocketctl consumerProgress -g GROUP', `to set the starting offsets of a new group, create it first: rocketctl updateSubGroup -g ${opts.group}`],
      });
    }
    for (const q of queues) q.notes.push('the group has never consumed here: --execute sets where it starts (instead of its consumeFromWhere)');
  }
  return {
    kind: 'rocketctl.resetOffset.plan',
    formatVersion: 1,
    group: opts.group,
    topic: opts.topic,
    mode: modeText(opts.mode),
    timestampMs: opts.mode.kind === 'timestamp' ? opts.mode.timestampMs : null,
    force,
    createdAt: Date.now(),
    online,
    queues,
    totals: totals(queues),
  };
}

function totals(queues: PlannedQueue[]): ResetPlan['totals'] {
  return { replay: queues.reduce((s, q) => s + q.replay, 0), skip: queues.reduce((s, q) => s + q.skip, 0), queues: queues.length };
}

export function modeText(m: ResetMode): string {
  switch (m.kind) {
    case 'latest':
      return 'latest';
    case 'earliest':
      return 'earliest';
    case 'offset':
      return `offset ${m.offset}`;
    case 'timestamp':
      return `timestamp ${m.timestampMs} (${new Date(m.timestampMs).toISOString()})`;
  }
}

async function planQueue(session: AdminSession, b: BrokerRef, mq: MessageQueue, current: number | null, mode: ResetMode, force: boolean): Promise<PlannedQueue> {
  const [minOffset, maxOffset] = await Promise.all([getMinOffset(session, b.addr, mq), getMaxOffset(session, b.addr, mq)]);
  const notes: string[] = [];
  let target: number;
  let targetStoreTimestamp: number | null | undefined;
  switch (mode.kind) {
    case 'latest':
      target = maxOffset;
      break;
    case 'earliest':
      target = minOffset;
      break;
    case 'offset':
      target = Math.min(Math.max(mode.offset, minOffset), maxOffset);
      if (target !== mode.offset) notes.push(`offset ${mode.offset} is outside the stored range [${minOffset}, ${maxOffset}]: clamped to ${target}`);
      break;
    case 'timestamp': {
      const found = await firstOffsetAtOrAfter(session, b.addr, mq, minOffset, maxOffset, mode.timestampMs);
      target = found.offset;
      targetStoreTimestamp = found.storeTimestamp;
      if (found.approximate) notes.push(found.approximate);
      break;
    }
  }
  if (!force && current !== null && target > current) {
    notes.push(`--force false: the target ${target} is ahead of the current offset, kept at ${current}`);
    target = current;
    targetStoreTimestamp = undefined;
  }
  if (targetStoreTimestamp === undefined) targetStoreTimestamp = target < maxOffset ? ((await readStoreTime(session, b.addr, mq, target)) ?? null) : null;
  // Messages exist only in [min, max): a current offset outside (ahead of a recreated queue, or
  // behind deleted files) counts from the nearest stored one, so replay/skip count real messages.
  const from = Math.min(Math.max(current ?? minOffset, minOffset), maxOffset);
  if (current === null) notes.push(`no committed offset: replay/skip counted from the earliest stored message (${minOffset})`);
  else if (current > maxOffset) notes.push(`current offset ${current} is ahead of the queue's max offset ${maxOffset}: replay counted from ${maxOffset}`);
  return {
    topic: mq.topic,
    brokerName: mq.brokerName,
    brokerAddr: b.addr,
    queueId: mq.queueId,
    minOffset,
    maxOffset,
    currentOffset: current,
    targetOffset: target,
    replay: Math.max(0, from - target),
    skip: Math.max(0, target - from),
    targetStoreTimestamp,
    notes,
  };
}

/**
 * The first offset in [min, max) whose message was stored at or after `ts` (max when none): what
 * "reset to a time" means. SEARCH_OFFSET_BY_TIMESTAMP answers the *closest* store time (fact sheet
 * §2.6), which may sit one or many messages (same millisecond) off; it is used as a hint, then
 * refined by galloping and bisecting on store times read with 1-message pulls. Store times are
 * assumed non-decreasing along the queue (they are taken under the broker's put lock).
 */
export async function firstOffsetAtOrAfter(
  session: AdminSession,
  addr: string,
  mq: MessageQueue,
  min: number,
  max: number,
  ts: number,
): Promise<{ offset: number; storeTimestamp: number | null; approximate?: string }> {
  if (min >= max) return { offset: max, storeTimestamp: null };
  let probes = 0;
  const cache = new Map<number, number>();
  const timeAt = async (o: number): Promise<number> => {
    const hit = cache.get(o);
    if (hit !== undefined) return hit;
    if (++probes > MAX_TIME_PROBES) throw new ProbeLimit();
    // A missing message (deleted under us) sorts as "before ts": the answer moves forward.
    const t = (await readStoreTime(session, addr, mq, o)) ?? Number.NEGATIVE_INFINITY;
    cache.set(o, t);
    return t;
  };
  const hint = Math.min(Math.max(await searchOffsetByTimestamp(session, addr, mq, ts), min), max - 1);
  try {
    if ((await timeAt(max - 1)) < ts) return { offset: max, storeTimestamp: null };
    if ((await timeAt(min)) >= ts) return { offset: min, storeTimestamp: await timeAt(min) };
    // Invariant once bracketed: timeAt(lo) < ts <= timeAt(hi), min <= lo < hi <= max - 1.
    let lo: number;
    let hi: number;
    if ((await timeAt(hint)) >= ts) {
      hi = hint;
      let step = 1;
      lo = Math.max(min, hint - step);
      while ((await timeAt(lo)) >= ts) {
        hi = lo;
        step *= 2;
        lo = Math.max(min, hint - step);
      }
    } else {
      lo = hint;
      let step = 1;
      hi = Math.min(max - 1, hint + step);
      while ((await timeAt(hi)) < ts) {
        lo = hi;
        step *= 2;
        hi = Math.min(max - 1, hint + step);
      }
    }
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if ((await timeAt(mid)) >= ts) hi = mid;
      else lo = mid;
    }
    return { offset: hi, storeTimestamp: await timeAt(hi) };
  } catch (err) {
    if (!(err instanceof ProbeLimit)) throw err;
    return { offset: hint, storeTimestamp: cache.get(hint) ?? null, approximate: `store times could not be narrowed within ${MAX_TIME_PROBES} reads: using the broker's closest match ${hint}` };
  }
}

class ProbeLimit extends Error {}

// ---- reset: apply --------------------------------------------------------------------------------

/** `reverted`: reset, but a consumer wrote its old offset back afterwards (its client does not follow resets). */
export type ApplyStatus = 'applied' | 'unchanged' | 'moved' | 'failed' | 'inexact' | 'reverted';

export interface AppliedQueue {
  topic: string;
  brokerName: string;
  queueId: number;
  expectedOffset: number | null;
  targetOffset: number;
  /** The committed offset found just before writing (compare-and-set). */
  foundOffset: number | null;
  /** What the broker reports now (after the write), when known. */
  resultOffset: number | null;
  status: ApplyStatus;
  /** How it was written: INVOKE_BROKER_TO_RESET_OFFSET (online groups; every group on 5.x brokers) or UPDATE_CONSUMER_OFFSET (other offline groups). */
  via: 'reset-table' | 'reset-queue' | 'reset-timestamp' | 'update-offset' | null;
  message?: string;
}

export interface ApplyResult {
  queues: AppliedQueue[];
  applied: number;
  problems: number;
}

export interface ApplyOptions {
  /** Language of the INVOKE_BROKER_TO_RESET_OFFSET request (mqadmin -c: CPP clients get the list body). */
  cplus?: boolean;
  concurrency?: number;
  /** After resetting an online group, watch its offsets at most this long (default DEFAULT_RESET_WATCH_MS; 0: not at all). */
  watchMs?: number;
}

/**
 * The shortest watch of an online reset: one consumer offset persist (persistConsumerOffsetInterval,
 * 5 s by default) and a margin. A client that does not follow RESET_CONSUMER_CLIENT_OFFSET (ali-ons)
 * writes its old offset back within it.
 */
export const RESET_WATCH_MIN_MS = 6_000;
/**
 * The default longest watch: Java's MQClientInstance.resetOffset pauses 10 s before taking the new
 * offsets (its periodic persist writes the old ones meanwhile), then persists within 5 s.
 */
export const DEFAULT_RESET_WATCH_MS = 20_000;
const RESET_WATCH_POLL_MS = 500;

/**
 * Apply a plan, broker by broker. Per queue, compare-and-set: the committed offset is read again
 * and a queue whose offset is no longer the plan's `currentOffset` is reported `moved`, not
 * written. Online groups (a consumer connected to that broker) go through
 * INVOKE_BROKER_TO_RESET_OFFSET so the consumers drop their in-memory offsets:
 *   - rocketctl brokers: one request carrying the exact table;
 *   - 5.x brokers: one request per queue (queueId + offset header), for offline groups too: with
 *     useServerSideResetOffset (5.1+, on by default) the broker keeps a pending reset that it hands
 *     to the next pull and, until then, silently ignores UPDATE_CONSUMER_OFFSET for that queue
 *     (ConsumerManageProcessor#updateConsumerOffset, ConsumerOffsetManager#hasOffsetReset at
 *     5.3.0), so a write after an earlier mqadmin reset would not land;
 *   - 4.x brokers only reset by time: used when the plan is "latest" (-1), "earliest" (0) or a time,
 *     then the offsets the broker chose are compared with the plan (`inexact` when they differ);
 *     an offset plan for an online group on 4.x is refused (stop the consumers, then rerun).
 * Other offline groups (and 5.x brokers that answer CONSUMER_NOT_ONLINE, i.e. without the server-side
 * reset) are written with UPDATE_CONSUMER_OFFSET (sync) and read back.
 */
export async function applyReset(session: AdminSession, plan: ResetPlan, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const byBroker = new Map<string, PlannedQueue[]>();
  for (const q of plan.queues) byBroker.set(q.brokerAddr, [...(byBroker.get(q.brokerAddr) ?? []), q]);
  const results: AppliedQueue[] = [];
  for (const [addr, queues] of byBroker) results.push(...(await applyOnBroker(session, plan, addr, queues, opts, limit)));
  results.sort((a, b) => compareStrings(a.brokerName, b.brokerName) || a.queueId - b.queueId);
  return { queues: results, applied: results.filter((r) => r.status === 'applied').length, problems: results.filter((r) => r.status !== 'applied' && r.status !== 'unchanged').length };
}

async function applyOnBroker(session: AdminSession, plan: ResetPlan, addr: string, queues: PlannedQueue[], opts: ApplyOptions, limit: number): Promise<AppliedQueue[]> {
  const out: AppliedQueue[] = queues.map((q) => ({
    topic: q.topic,
    brokerName: q.brokerName,
    queueId: q.queueId,
    expectedOffset: q.currentOffset,
    targetOffset: q.targetOffset,
    foundOffset: null,
    resultOffset: null,
    status: 'failed',
    via: null,
  }));
  const mqOf = (q: PlannedQueue): MessageQueue => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId });
  let stats: ConsumeStatsAnswer;
  let online: boolean;
  const b: TopicBroker = { brokerName: queues[0]!.brokerName, addr, readQueueNums: Math.max(...queues.map((q) => q.queueId)) + 1, writeQueueNums: 0 };
  try {
    // Compare-and-set, step 1: read every queue's committed offset again, the way the plan did.
    const [known, conn] = await Promise.all([committedOffsets(session, b, plan.group, plan.topic, limit), getConsumerConnection(session, addr, plan.group)]);
    stats = known.answer;
    online = conn !== undefined;
    out.forEach((o) => (o.foundOffset = known.offsets.get(o.queueId) ?? null));
  } catch (err) {
    for (const o of out) o.message = errorText(err);
    return out;
  }
  const todo: number[] = [];
  out.forEach((o, i) => {
    if (o.foundOffset === o.targetOffset) {
      o.status = 'unchanged';
      o.resultOffset = o.foundOffset;
    } else if (o.foundOffset !== o.expectedOffset) {
      o.status = 'moved';
      o.resultOffset = o.foundOffset;
      o.message = `offset moved since the plan (planned from ${o.expectedOffset ?? 'none'}, now ${o.foundOffset ?? 'none'}): not overwritten; plan again`;
    } else {
      todo.push(i);
    }
  });
  if (todo.length === 0) return out;
  const pick = todo.map((i) => queues[i]!);
  const mark = (i: number, status: ApplyStatus, via: AppliedQueue['via'], resultOffset: number | null, message?: string) => {
    Object.assign(out[i]!, { status, via, resultOffset });
    if (message) out[i]!.message = message;
  };

  const resetAtMs = Date.now();
  // 5.x brokers take a per-queue reset whether or not a consumer is online (see above).
  const perQueue = !stats.resetTable && stats.version >= MQ_VERSION_V5_0_0;
  if (online || perQueue) {
    const language = opts.cplus ? 'CPP' : 'JAVA';
    try {
      if (stats.resetTable) {
        // rocketctl brokers (online here: perQueue is false for them).
        const table: Array<[MessageQueue, number]> = pick.map((q) => [mqOf(q), q.targetOffset]);
        const res = await invokeReset(session, addr, plan, -1, language, undefined, encodeResetOffsetBody(table));
        if (res === 'offline') online = false;
        else for (const i of todo) checkResult(out[i]!, res, 'reset-table', mark, i);
      } else if (perQueue) {
        for (const i of todo) {
          const q = queues[i]!;
          const res = await invokeReset(session, addr, plan, plan.timestampMs ?? -1, language, { queueId: q.queueId, offset: q.targetOffset });
          if (res === 'offline') {
            online = false;
            break;
          }
          if (res.size > 1) {
            // The broker ignored queueId (useServerSideResetOffset=false): it reset every queue by time.
            for (const j of todo) checkResult(out[j]!, res, 'reset-timestamp', mark, j);
            break;
          }
          checkResult(out[i]!, res, 'reset-queue', mark, i);
        }
      } else {
        const ts = timestampFor4x(plan);
        if (ts === undefined) {
          for (const i of todo) mark(i, 'failed', null, out[i]!.foundOffset, 'this RocketMQ 4.x broker resets an online group only by time: stop the consumers and run again (offsets of an offline group are written exactly), or reset by --timestamp/--latest/--earliest');
          return out;
        }
        const res = await invokeReset(session, addr, plan, ts, language);
        if (res === 'offline') online = false;
        else for (const i of todo) checkResult(out[i]!, res, 'reset-timestamp', mark, i);
      }
    } catch (err) {
      for (const i of todo) if (out[i]!.status === 'failed') out[i]!.message = errorText(err);
      return out;
    }
    if (online) {
      const reset = todo.filter((i) => out[i]!.status === 'applied' || out[i]!.status === 'inexact');
      await watchOnlineReset(session, plan, b, out, reset, opts.watchMs ?? DEFAULT_RESET_WATCH_MS, limit, resetAtMs);
    }
  }
  if (!online) {
    await mapLimit(todo, limit, async (i) => {
      const q = queues[i]!;
      try {
        await updateConsumerOffset(session, addr, plan.group, mqOf(q), q.targetOffset);
        const now = await queryConsumerOffset(session, addr, plan.group, mqOf(q));
        if (now === q.targetOffset) mark(i, 'applied', 'update-offset', now);
        else mark(i, 'failed', 'update-offset', now, `written, but the broker now reports ${now ?? 'none'} (a consumer came online and committed?)`);
      } catch (err) {
        mark(i, 'failed', 'update-offset', null, errorText(err));
      }
    });
  }
  return out;
}

/**
 * After an online group was reset through the broker (which stored the new offsets and told its
 * consumers), read the offsets back until the consumers had time to follow: at least
 * RESET_WATCH_MIN_MS, at most `watchMs`, earlier done when every queue followed. A queue whose
 * consumer wrote its old offset back (ali-ons ignores RESET_CONSUMER_CLIENT_OFFSET and keeps
 * committing where it is) is `reverted`: it was not reset. Offsets alone cannot tell a consumer
 * that re-consumed a reset backwards to the end from one that wrote the old offset back; then an
 * offset seen in between, or a client reporting (running info, lastConsumeTimestamp) that it
 * consumed the queue since the reset, is what shows it followed.
 */
async function watchOnlineReset(session: AdminSession, plan: ResetPlan, b: TopicBroker, out: AppliedQueue[], reset: number[], watchMs: number, limit: number, resetAtMs: number): Promise<void> {
  if (reset.length === 0 || watchMs <= 0) return;
  const minMs = Math.min(RESET_WATCH_MIN_MS, watchMs);
  const start = Date.now();
  const progressed = new Set<number>();
  let now: Map<number, number | null> | undefined;
  let lastError: unknown;
  let askedClients = false;
  const pending = () => reset.filter((i) => !followed(out[i]!, now?.get(out[i]!.queueId) ?? null, progressed.has(i)));
  // Back at the old offset after a reset backwards: re-consumed already, or written back? Ask the
  // clients whether they consumed the queue since the reset (Java's and ours say, in running info).
  const askClients = async () => {
    askedClients = true;
    const times = await lastConsumeTimes(session, b.addr, plan.group, plan.topic, limit);
    for (const i of pending()) if ((times.get(out[i]!.queueId) ?? 0) >= resetAtMs) progressed.add(i);
  };
  // Bounded by watchMs: each round sleeps RESET_WATCH_POLL_MS.
  for (;;) {
    await new Promise((r) => setTimeout(r, RESET_WATCH_POLL_MS));
    try {
      now = (await committedOffsets(session, b, plan.group, plan.topic, limit)).offsets;
      for (const i of reset) if (consumingFromTarget(out[i]!, now.get(out[i]!.queueId) ?? null)) progressed.add(i);
    } catch (err) {
      lastError = err;
    }
    const elapsed = Date.now() - start;
    if (now && elapsed >= minMs) {
      if (pending().length > 0 && !askedClients) await askClients();
      if (pending().length === 0) break;
    }
    if (elapsed >= watchMs) break;
  }
  if (now && pending().length > 0) await askClients();
  const seconds = `${Math.round((Date.now() - start) / 1000)} s`;
  for (const i of reset) {
    const o = out[i]!;
    if (!now) {
      o.message = `reset, but its offset could not be read back to see whether the consumers followed: ${errorText(lastError)}`;
      continue;
    }
    const found = now.get(o.queueId) ?? null;
    if (followed(o, found, progressed.has(i))) {
      o.resultOffset = found;
      continue;
    }
    const target = o.resultOffset ?? o.targetOffset;
    Object.assign(o, { status: 'reverted', resultOffset: found });
    o.message =
      `reset to ${target}, but ${seconds} later the committed offset is ${found ?? 'none'}` +
      (found !== null && found === o.foundOffset ? ', its old offset' : '') +
      `: a consumer wrote its own offset back (its client does not follow resets; ali-ons does not). Stop the group's consumers, then run resetOffset again`;
  }
}

/** The committed offset shows a consumer consuming from the reset target: past it, below the old offset. */
function consumingFromTarget(o: AppliedQueue, found: number | null): boolean {
  const target = o.resultOffset ?? o.targetOffset;
  return found !== null && o.foundOffset !== null && target < o.foundOffset && found > target && found < o.foundOffset;
}

/**
 * Did the consumers take the reset? A consumer that follows commits from the target on: never
 * below it. One that does not commits from its old position on: below the target when the reset
 * skipped forward, at or past the old offset when it went back (unless it was seen in between).
 */
function followed(o: AppliedQueue, found: number | null, progressed: boolean): boolean {
  const target = o.resultOffset ?? o.targetOffset;
  if (found === null || found < target) return false;
  if (o.foundOffset === null || target > o.foundOffset) return true;
  return found < o.foundOffset || progressed;
}

/** 4.x brokers reset by time only: latest = -1, earliest = 0 (the closest to time 0 is the first). */
function timestampFor4x(plan: ResetPlan): number | undefined {
  if (plan.mode === 'latest') return -1;
  if (plan.mode === 'earliest') return 0;
  if (plan.timestampMs !== null && plan.force) return plan.timestampMs;
  return undefined;
}

function checkResult(o: AppliedQueue, res: Map<number, number>, via: AppliedQueue['via'], mark: (i: number, s: ApplyStatus, v: AppliedQueue['via'], r: number | null, m?: string) => void, i: number): void {
  const got = res.get(o.queueId);
  if (got === undefined) mark(i, 'failed', via, null, 'the broker did not report this queue as reset');
  else if (got === o.targetOffset) mark(i, 'applied', via, got);
  else mark(i, 'inexact', via, got, `the broker reset it to ${got}, not ${o.targetOffset} (RocketMQ 4.x searches the closest store time)`);
}

/** INVOKE_BROKER_TO_RESET_OFFSET; the offsets the broker set (queueId → offset), or 'offline'. */
async function invokeReset(
  session: AdminSession,
  addr: string,
  plan: ResetPlan,
  timestamp: number,
  language: string,
  queue?: { queueId: number; offset: number },
  body?: Buffer,
): Promise<Map<number, number> | 'offline'> {
  const req = makeRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: plan.topic, group: plan.group, timestamp, isForce: plan.force, queueId: queue?.queueId, offset: queue?.offset }, body);
  req.language = language;
  const res = await sessionInvoke(session, addr, req);
  if (res.code === ResponseCode.CONSUMER_NOT_ONLINE) return 'offline';
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `reset offset of ${plan.group} on ${addr}`);
  const out = new Map<number, number>();
  if (res.body && bodyBuffer(res).length > 0) for (const [mq, o] of decodeResetOffsetBody(bodyBuffer(res))) if (mq.topic === plan.topic) out.set(mq.queueId, o);
  return out;
}

/** UPDATE_CONSUMER_OFFSET sent as a request (not oneway) so the write is acknowledged. */
export async function updateConsumerOffset(session: AdminSession, addr: string, group: string, mq: MessageQueue, offset: number): Promise<void> {
  const res = await call(session, addr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: mq.topic, queueId: mq.queueId, commitOffset: offset, bname: mq.brokerName });
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `writing the offset of ${group} on ${mqText(mq)}`);
}

// ---- plan files ----------------------------------------------------------------------------------

/** The plan that undoes `applied`: each applied queue back to where it was. */
export function undoPlan(plan: ResetPlan, applied: AppliedQueue[]): { plan: ResetPlan; skipped: string[] } {
  const skipped: string[] = [];
  const queues: PlannedQueue[] = [];
  for (const a of applied) {
    if (a.status !== 'applied' && a.status !== 'inexact') continue;
    const p = plan.queues.find((q) => q.brokerName === a.brokerName && q.queueId === a.queueId)!;
    if (a.expectedOffset === null) {
      skipped.push(`${a.topic}/${a.brokerName}/${a.queueId}: had no committed offset, which cannot be restored`);
      continue;
    }
    const now = a.resultOffset ?? a.targetOffset;
    queues.push({
      ...p,
      currentOffset: now,
      targetOffset: a.expectedOffset,
      replay: Math.max(0, now - a.expectedOffset),
      skip: Math.max(0, a.expectedOffset - now),
      targetStoreTimestamp: null,
      notes: [],
    });
  }
  const undo: ResetPlan = {
    ...plan,
    mode: `undo of the reset to ${plan.mode} made at ${new Date(plan.createdAt).toISOString()}`,
    timestampMs: null,
    force: true,
    createdAt: Date.now(),
    queues,
    totals: totals(queues),
  };
  return { plan: undo, skipped };
}

/** Read a plan file (resetOffset --plan FILE), checking its shape. */
export function parsePlan(text: string, file: string): ResetPlan {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--plan ${file}: not JSON (${errorText(err)})`);
  }
  const p = v as Partial<ResetPlan>;
  const bad = (why: string) => new UsageError(`--plan ${file}: not a resetOffset plan (${why})`);
  if (!p || typeof p !== 'object' || p.kind !== 'rocketctl.resetOffset.plan') throw bad('kind is not rocketctl.resetOffset.plan');
  if (p.formatVersion !== 1) throw bad(`formatVersion ${String(p.formatVersion)}`);
  if (typeof p.group !== 'string' || typeof p.topic !== 'string' || !Array.isArray(p.queues)) throw bad('group, topic or queues missing');
  for (const q of p.queues) {
    if (!q || typeof q.brokerName !== 'string' || typeof q.brokerAddr !== 'string' || !Number.isInteger(q.queueId) || !Number.isInteger(q.targetOffset)) throw bad('a queue lacks brokerName, brokerAddr, queueId or targetOffset');
    if (q.currentOffset !== null && !Number.isInteger(q.currentOffset)) throw bad('a queue has a bad currentOffset');
  }
  return { ...(p as ResetPlan), force: p.force ?? true, timestampMs: p.timestampMs ?? null };
}

/** Where undo plans go unless --undo-file says otherwise. */
export function defaultUndoFile(group: string, topic: string, nowMs = Date.now()): string {
  const d = new Date(nowMs);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}-${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}-${String(d.getMilliseconds()).padStart(3, '0')}`;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.%-]/g, '_');
  return path.join(os.homedir(), '.rocketctl', 'undo', `resetOffset-${safe(group)}-${safe(topic)}-${stamp}.json`);
}

/** Write a plan file atomically (tmp, fsync, rename); a failure is E_PLAN_FILE naming the path. */
export function writePlanFile(file: string, plan: ResetPlan): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    ensureDir(path.dirname(path.resolve(file)));
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, JSON.stringify(plan, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was created there (e.g. ENOTDIR: a parent is a file)
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw new RocketError(`cannot write the plan file ${file}${code ? ` (${code})` : ''}`, {
      code: 'E_PLAN_FILE',
      cause: err,
      actions: ['choose another path (--undo-file / --out); nothing was changed if this was the undo plan'],
    });
  }
}

export interface ExecuteOutcome {
  apply: ApplyResult;
  /** Null when nothing changed that an undo plan could restore (no file is left behind). */
  undoFile: string | null;
  undoSkipped: string[];
}

/**
 * Apply `plan` and leave its undo plan in `undoFile`: written before anything changes (as if every
 * queue were reset, so a crash mid-way still leaves a way back), rewritten afterwards with only
 * the queues that were actually reset; removed (undoFile null) when no queue was changed that it
 * could restore.
 */
export async function executeReset(session: AdminSession, plan: ResetPlan, undoFile: string, opts: ApplyOptions = {}): Promise<ExecuteOutcome> {
  const assumed: AppliedQueue[] = plan.queues
    .filter((q) => q.currentOffset !== q.targetOffset)
    .map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId, expectedOffset: q.currentOffset, targetOffset: q.targetOffset, foundOffset: q.currentOffset, resultOffset: q.targetOffset, status: 'applied', via: null }));
  writePlanFile(undoFile, undoPlan(plan, assumed).plan);
  const apply = await applyReset(session, plan, opts);
  const undo = undoPlan(plan, apply.queues);
  try {
    writePlanFile(undoFile, undo.plan);
  } catch (err) {
    // The first version is still there: it assumes every queue was reset, and compare-and-set
    // keeps its undo away from the queues that were not.
    undo.skipped.push(`${errorText(err)}: ${undoFile} keeps the undo plan written before applying`);
  }
  if (undo.plan.queues.length === 0) {
    // Nothing was changed that could be changed back: leave no file that would do nothing.
    fs.rmSync(undoFile, { force: true });
    return { apply, undoFile: null, undoSkipped: undo.skipped };
  }
  return { apply, undoFile, undoSkipped: undo.skipped };
}

/**
 * Point a plan (from a file) at the brokers' current addresses, looked up by broker name, and say
 * which queues' committed offsets have moved since it was made: the plan keeps its own current
 * offsets (compare-and-set expects them), so such a queue would be reported "moved" and left alone.
 */
export async function refreshPlanAddresses(session: AdminSession, plan: ResetPlan): Promise<ResetPlan> {
  const brokers = await topicBrokers(session, plan.topic);
  const byBroker = new Map<string, PlannedQueue[]>();
  for (const q of plan.queues) {
    if (!brokers.some((x) => x.brokerName === q.brokerName)) throw new RocketError(`the plan names broker ${q.brokerName}, which no longer serves topic ${plan.topic}`, { code: 'E_PLAN_STALE', actions: ['make a new plan'] });
    byBroker.set(q.brokerName, [...(byBroker.get(q.brokerName) ?? []), q]);
  }
  // Committed offsets now, per broker; a broker that does not answer gets no note here (apply
  // reads them again and reports it).
  const live = new Map<string, Map<number, number | null>>();
  await mapLimit([...byBroker.keys()], DEFAULT_CONCURRENCY, async (name) => {
    const b = brokers.find((x) => x.brokerName === name)!;
    const readQueueNums = Math.max(b.readQueueNums, ...byBroker.get(name)!.map((q) => q.queueId + 1));
    const known = await committedOffsets(session, { ...b, readQueueNums }, plan.group, plan.topic).catch(() => undefined);
    if (known) live.set(name, known.offsets);
  });
  const queues = await mapLimit(plan.queues, DEFAULT_CONCURRENCY, async (q) => {
    const b = brokers.find((x) => x.brokerName === q.brokerName)!;
    const mq: MessageQueue = { topic: q.topic, brokerName: q.brokerName, queueId: q.queueId };
    // Only inside [min, max): an out-of-range pull makes a 4.x broker log an OFFSET_MOVED_EVENT.
    const inRange = q.targetOffset >= q.minOffset && q.targetOffset < q.maxOffset;
    const targetStoreTimestamp = q.targetStoreTimestamp ?? (inRange ? await readStoreTime(session, b.addr, mq, q.targetOffset).catch(() => undefined) : undefined) ?? null;
    const now = live.get(q.brokerName)?.get(q.queueId);
    const notes = q.notes.filter((n) => !n.startsWith(MOVED_SINCE_PLAN));
    if (now !== undefined && now !== q.currentOffset && now !== q.targetOffset) {
      notes.push(`${MOVED_SINCE_PLAN} (planned from ${q.currentOffset ?? 'none'}, now ${now ?? 'none'}): --execute will leave this queue alone; make a new plan to move it`);
    }
    return { ...q, brokerAddr: b.addr, targetStoreTimestamp, notes };
  });
  return { ...plan, queues };
}

const MOVED_SINCE_PLAN = 'committed offset moved since the plan was made';
