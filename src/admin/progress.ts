/**
 * Consumer progress, as mqadmin's consumerProgress (apache/rocketmq tools ConsumerProgressSubCommand),
 * for one group (-g) or every group, without mqadmin's habits: a broker or group whose request
 * failed is reported, never skipped; reads change nothing (GET_CONSUME_STATS, QUERY_CONSUMER_OFFSET,
 * GET_CONSUMER_CONNECTION_LIST and 1-message PULLs as TOOLS_CONSUMER without the commit flag);
 * time lag is the age of the oldest unconsumed message, read from its stored timestamp.
 */
import { clusterBrokers, routeOfTopic, type BrokerRef } from './targets.js';
import { allTopics } from './topics.js';
import { AdminSession } from './session.js';
import { RetentionWarning, retentionWarning, retentionsOf, retentionReader, BrokerRetention } from './retention.js';
import { getConsumerConnection, getConsumeStats, subscriptionGroupExists, versionDesc, queryConsumerOffset, getMinOffset, readStoreTime, getClientQueues, getAllSubscriptionGroups, ConsumeStatsAnswer, getTopicStatsInfo } from './requests.js';
import { RETRY_GROUP_TOPIC_PREFIX, isBuiltInGroup } from '../protocol/names.js';
import { BrokerFailure, DEFAULT_CONCURRENCY, failureOf, mapLimit, errorText } from './fanout.js';
import { OneShotDrain, oneShotDrain } from './drain-estimate.js';
import { MessageQueue } from '../protocol/fastjson.js';
import { Connection, ConsumerConnection } from '../protocol/bodies.js';
import { GroupNotConsumedError, GroupNotFoundError } from '../errors/index.js';
import { compareMessageQueues, compareStrings } from '../client/allocate.js';

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
  failed: BrokerFailure[];
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
  const failed: BrokerFailure[] = [];
  let anyCommitted = false;
  const fail = (b: BrokerRef, err: unknown) => failed.push(failureOf(b, err));

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
    if (failed.some((f) => f.addr === b.addr)) return undefined;
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
  if (!anyCommitted && !connection && failed.length === 0) {
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
    failed,
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
  failed: BrokerFailure[];
}

/**
 * Groups = topics named %RETRY%<group> (as mqadmin) plus the subscription groups of every broker
 * (one GET_ALL_SUBSCRIPTIONGROUP_CONFIG each: a group created with updateSubGroup, or auto-created,
 * that never had a retry topic), built-in groups left out; sorted. Each is measured on every
 * broker, bounded in parallel. A broker whose groups cannot be listed is in failed.
 */
export async function allGroupsProgress(session: AdminSession, opts: AllGroupsOptions = {}): Promise<AllGroups> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const [topics, brokers] = await Promise.all([allTopics(session), opts.brokers ?? clusterBrokers(session)]);
  const failed: BrokerFailure[] = [];
  const listed = await mapLimit(brokers, limit, async (b) => {
    try {
      return Object.keys(await getAllSubscriptionGroups(session, b.addr)).filter((g) => !isBuiltInGroup(g));
    } catch (err) {
      failed.push(failureOf(b, err));
      return [];
    }
  });
  const retry = topics.filter((t) => t.startsWith(RETRY_GROUP_TOPIC_PREFIX)).map((t) => t.slice(RETRY_GROUP_TOPIC_PREFIX.length));
  const groups = [...new Set([...retry, ...listed.flat()])].sort(compareStrings);
  const measuredAt = (opts.now ?? Date.now)();
  const ctx: RowContext = { session, brokers, measuredAt, withLag: !!opts.withLag, slot: limiter(limit), minOffsets: new Map(), retention: retentionReader(session) };
  const rows = await mapLimit(groups, limit, (g) => groupRow(ctx, g));
  return { groups: rows, measuredAt, failed: failed.sort((a, b) => compareStrings(a.brokerName ?? a.addr, b.brokerName ?? b.addr)) };
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

export interface LagCheck {
  maxLag: number | null;
  maxLagMs: number | null;
  /** No queue over a limit, and every broker (and group) could be read. */
  passed: boolean;
  /** False when a broker or group failed: queues that could not be read were not checked. */
  complete: boolean;
  violations: LagViolation[];
}

/** The lag check of --max-lag / --max-lag-ms: null without limits; incomplete when something could not be read. */
export function lagCheck(violations: LagViolation[], maxLag: number | undefined, maxLagMs: number | undefined, unread: string[]): LagCheck | null {
  if (maxLag === undefined && maxLagMs === undefined) return null;
  const complete = unread.length === 0;
  return { maxLag: maxLag ?? null, maxLagMs: maxLagMs ?? null, passed: violations.length === 0 && complete, complete, violations };
}
