/**
 * Message lookup, as mqadmin's queryMsgById / queryMsgByKey / queryMsgByUniqueKey (apache/rocketmq tools QueryMsgByIdSubCommand, QueryMsgByKeySubCommand, QueryMsgByUniqueKeySubCommand), with answers that say what they looked at:
 *
 *  - an id of 32 (IPv4) or 56 (IPv6) hex characters may be an offsetMsgId or a UNIQ_KEY — the two
 *    look alike. It is read as an offsetMsgId only when the address it decodes to is a broker of
 *    the cluster and VIEW_MESSAGE_BY_ID there returns a message whose own offsetMsgId is that id;
 *    otherwise it is a UNIQ_KEY, looked up in the index (QUERY_MESSAGE, _UNIQUE_KEY_QUERY=true) of
 *    the topic given with -t, or of every topic the name server knows (bounded parallelism). Any
 *    other id, except 34 hex characters (a RocketMQ 5 gRPC client's UNIQ_KEY), is refused by
 *    queryMsgById before anything is asked (checkMessageIds);
 *  - index answers are re-checked (topic, and KEYS or UNIQ_KEY): hash collisions are dropped and
 *    counted;
 *  - nothing is consumed or committed: lookups are QUERY_MESSAGE, VIEW_MESSAGE_BY_ID, and for the
 *    consumer tracks QUERY_TOPIC_CONSUME_BY_WHO, GET_CONSUME_STATS, GET_CONSUMER_CONNECTION_LIST;
 *  - a broker that fails is listed (`failed`, as clusterList's) and the rest is still answered:
 *    what was found elsewhere is returned, and consumer tracking it could not do is marked
 *    unknown. Brokers are asked in parallel, and one that did not answer (timeout, unreachable,
 *    connection lost) is not asked again in the same session, so a hung broker costs about one
 *    request timeout per command, not one per request.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RemoteError, RocketError, UsageError } from '../errors/index.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import type { ConsumerConnection } from '../protocol/bodies.js';
import { decodeOffsetMsgId } from '../protocol/message.js';
import { Prop } from '../protocol/properties.js';
import { decodeMessages, type MessageExt } from '../client/message.js';
import { ensureDir } from '../util/ensure-dir.js';
import { sessionInvoke, type AdminSession } from './session.js';
import { BROKER_PARALLELISM, failureOf, mapBounded, type BrokerFailure, DEFAULT_CONCURRENCY, errorText, mapLimit } from './fanout.js';
import { clusterInfo, topicBrokers, type TopicBroker } from './targets.js';
import { allTopics } from './topics.js';
import { queryTopicConsumeByWho, getConsumeStats, getConsumerConnection } from './requests.js';
import { mergeConnections } from './progress.js';

/** QUERY_MESSAGE maxNum (mqadmin sends 64; brokers cap at maxMsgsNumBatch = 64). */
export const QUERY_MAX_NUM = 64;
/** "No upper bound" for endTimestamp: the largest long a JS number holds exactly (Java takes any long). */
export const END_OF_TIME_MS = Number.MAX_SAFE_INTEGER;

export type IdKind = 'offsetMsgId' | 'uniqKey';

export type TrackType = 'CONSUMED' | 'CONSUMED_BUT_FILTERED' | 'PULL' | 'NOT_CONSUME_YET' | 'NOT_ONLINE' | 'UNKNOWN';

export interface MessageTrack {
  consumerGroup: string;
  trackType: TrackType;
  online: boolean;
  /** The group's committed offset on the message's queue (null: none, or unknown). */
  consumerOffset: number | null;
  exceptionDesc?: string;
}

/** A message as printed (QueryMsgByIdSubCommand's fields), without its body. */
export interface MessageView {
  /** UNIQ_KEY when present (what producers call msgId), else the offsetMsgId. */
  msgId: string;
  offsetMsgId: string;
  uniqKey: string | null;
  topic: string;
  tags: string | null;
  keys: string[];
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  reconsumeTimes: number;
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
  sysFlag: number;
  properties: Record<string, string>;
  bodySize: number;
  brokerName: string | null;
  /** Where the body was written (--body-file), null when it was not. */
  bodyFile: string | null;
  tracks?: MessageTrack[];
  /**
   * Brokers of the topic that could not say which groups consume it, or whether they are online
   * (with tracks): the tracking of groups known to them is unknown.
   */
  tracksFailed?: BrokerFailure[];
}

export interface FoundMessage {
  view: MessageView;
  body: Buffer;
  brokerAddr: string;
}

export interface IdLookup {
  id: string;
  idKind: IdKind;
  /** How the id was read, or why nothing was found. */
  reason: string;
  found: FoundMessage[];
  /** Topics whose index was searched (UNIQ_KEY lookups). */
  searchedTopics: number;
  /** Brokers or topics that could not be asked (the answer may be incomplete). */
  failures: string[];
  /** The brokers behind `failures`, and those that failed while tracking consumers: one entry each. */
  failed: BrokerFailure[];
}

function view(m: MessageExt, brokerName: string | null): MessageView {
  return {
    msgId: m.msgId,
    offsetMsgId: m.offsetMsgId,
    uniqKey: m.properties[Prop.UNIQ_KEY] ?? null,
    topic: m.queue.topic,
    tags: m.tags ?? null,
    keys: m.keys,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    reconsumeTimes: m.reconsumeTimes,
    bornTimestamp: m.bornTimestamp,
    storeTimestamp: m.storeTimestamp,
    bornHost: m.bornHost,
    storeHost: m.storeHost,
    sysFlag: m.sysFlag,
    properties: m.properties,
    bodySize: m.body.length,
    brokerName,
    bodyFile: null,
  };
}

/** Broker address → broker name, every address of the cluster (masters and slaves). */
async function brokerAddresses(session: AdminSession): Promise<Map<string, string>> {
  const info = await clusterInfo(session);
  const out = new Map<string, string>();
  for (const b of Object.values(info.brokerAddrTable)) for (const a of Object.values(b.brokerAddrs)) out.set(a, b.brokerName);
  return out;
}

// ---- brokers that fail ----------------------------------------------------------------------------

/** Failed brokers, one entry per address (the first failure), in the order they failed. */
class FailedBrokers {
  readonly list: BrokerFailure[] = [];
  add(b: { addr: string; brokerName?: string | null }, err: unknown): void {
    if (!this.list.some((f) => f.addr === b.addr)) this.list.push(failureOf(b, err));
  }
  addAll(list: readonly BrokerFailure[]): void {
    for (const f of list) if (!this.list.some((x) => x.addr === f.addr)) this.list.push(f);
  }
}

// ---- message ids ------------------------------------------------------------------------------------

/** What -i takes, for the usage error. */
export const MESSAGE_ID_SHAPE =
  'an offsetMsgId or UNIQ_KEY is 32 hex characters (56 when made from an IPv6 address; a RocketMQ 5 gRPC client\'s message id is 34)';

/**
 * Can `id` be a message id at all? offsetMsgIds (IPv4 address + port + offset: 16 bytes; IPv6:
 * 28) and UNIQ_KEYs of remoting clients (IPv4 address + pid + salt + time + counter: 16 bytes;
 * IPv6: 28) are 32 or 56 hex characters; RocketMQ 5 gRPC clients set a 17-byte UNIQ_KEY
 * (version 01, MAC, pid, time, sequence): 34 hex characters.
 */
export function isMessageIdShape(id: string): boolean {
  return /^[0-9A-Fa-f]+$/.test(id) && (id.length === 32 || id.length === 56 || id.length === 34);
}

/** UsageError unless every id has the shape of a message id. */
export function checkMessageIds(ids: readonly string[]): void {
  const bad = ids.find((id) => !isMessageIdShape(id));
  if (bad !== undefined) throw new UsageError(`${JSON.stringify(bad)} is not a message id: ${MESSAGE_ID_SHAPE}`);
}

// ---- by id ---------------------------------------------------------------------------------------

export interface ByIdOptions {
  /** Topic to search for a UNIQ_KEY (else every topic). */
  topic?: string;
  concurrency?: number;
}

export async function queryMsgById(session: AdminSession, id: string, opts: ByIdOptions = {}): Promise<IdLookup> {
  const decoded = decodeOffsetMsgId(id);
  let why = '';
  let viewFailure: { where: { addr: string; brokerName: string }; err: unknown } | undefined;
  if (decoded) {
    const addrs = await brokerAddresses(session);
    const brokerName = addrs.get(decoded.address);
    if (brokerName === undefined) {
      const moved = await viewMovedStore(session, addrs, id, decoded.commitLogOffset);
      if (moved) {
        return {
          id,
          idKind: 'offsetMsgId',
          reason: `offsetMsgId of ${decoded.address}, which is no broker of this cluster now: broker ${moved.view.brokerName} (${moved.brokerAddr}) holds the store it was written to, commit log offset ${decoded.commitLogOffset}`,
          found: [moved],
          searchedTopics: 0,
          failures: [],
          failed: [],
        };
      }
      why = `as an offsetMsgId it names ${decoded.address}, which is not a broker of this cluster (and no broker holds a message stored by it at commit log offset ${decoded.commitLogOffset})`;
    } else {
      let msgs: MessageExt[] = [];
      try {
        const res = await sessionInvoke(session, decoded.address, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: decoded.commitLogOffset }));
        msgs = res.code === ResponseCode.SUCCESS && res.body ? decodeMessages(bodyBuffer(res)) : [];
      } catch (err) {
        // It may hold the message: say so, and still try the id as a UNIQ_KEY on the others.
        viewFailure = { where: { addr: decoded.address, brokerName }, err };
      }
      // By offset, as mqadmin: the record's own STOREHOST may name another address (a moved store).
      const m = msgs.find((x) => x.commitLogOffset === decoded.commitLogOffset);
      if (m) {
        return {
          id,
          idKind: 'offsetMsgId',
          reason: `offsetMsgId: broker ${brokerName} (${decoded.address}), commit log offset ${decoded.commitLogOffset}`,
          found: [{ view: view(m, brokerName), body: m.body, brokerAddr: decoded.address }],
          searchedTopics: 0,
          failures: [],
          failed: [],
        };
      }
      why = viewFailure
        ? `as an offsetMsgId it names broker ${brokerName} (${decoded.address}), which did not answer: ${errorText(viewFailure.err)}`
        : `as an offsetMsgId it names broker ${brokerName}, which holds no message at commit log offset ${decoded.commitLogOffset} (deleted by retention?)`;
    }
  } else {
    why = 'it does not decode to a broker address, so it is no offsetMsgId';
  }
  const u = await queryByUniqKey(session, id, opts);
  if (viewFailure) {
    const failed = new FailedBrokers();
    failed.add(viewFailure.where, viewFailure.err);
    failed.addAll(u.failed);
    u.failed = failed.list;
    u.failures.unshift(`VIEW_MESSAGE_BY_ID on ${viewFailure.where.brokerName} (${viewFailure.where.addr}): ${errorText(viewFailure.err)}`);
  }
  return { ...u, reason: u.found.length > 0 ? `UNIQ_KEY (${why})` : `${u.reason}; ${why}` };
}

/**
 * An offsetMsgId names the broker that stored the message (its STOREHOST) and a commit log offset.
 * A store moved to a broker on another address (a new port or host) keeps its records and their
 * STOREHOST bytes, so the ids consumers see still name the old address, which Apache's mqadmin then
 * cannot reach. Ask every broker for the offset and keep the record whose own STOREHOST and offset
 * make exactly this id: only the store that record was written to has one.
 */
async function viewMovedStore(session: AdminSession, addrs: Map<string, string>, id: string, commitLogOffset: number): Promise<FoundMessage | undefined> {
  const brokers = [...addrs].map(([addr, brokerName]) => ({ addr, brokerName }));
  const settled = await mapBounded(brokers, BROKER_PARALLELISM, async (b) => {
    const res = await sessionInvoke(session, b.addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: commitLogOffset }));
    return res.code === ResponseCode.SUCCESS && res.body ? decodeMessages(bodyBuffer(res)) : [];
  });
  for (const s of settled) {
    const m = s.ok ? s.value.find((x) => x.offsetMsgId.toUpperCase() === id.toUpperCase()) : undefined;
    if (m) return { view: view(m, s.item.brokerName), body: m.body, brokerAddr: s.item.addr };
  }
  return undefined;
}

/** A UNIQ_KEY looked up in the index of `topic`, or of every topic when none is given. */
export async function queryByUniqKey(session: AdminSession, id: string, opts: ByIdOptions = {}): Promise<IdLookup> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const topics = opts.topic !== undefined ? [opts.topic] : await allTopics(session);
  const failures: string[] = [];
  const failed = new FailedBrokers();
  const found: FoundMessage[] = [];
  await mapLimit(topics, limit, async (topic) => {
    let brokers: TopicBroker[];
    try {
      brokers = await topicBrokers(session, topic);
    } catch (err) {
      if (opts.topic !== undefined) throw err; // the named topic must exist
      return; // a topic deleted since the list was read
    }
    const r = await queryIndex(session, brokers, topic, id, true, 0, END_OF_TIME_MS);
    failures.push(...r.failures);
    failed.addAll(r.failed);
    found.push(...r.found.filter((f) => f.view.uniqKey === id));
  });
  found.sort((a, b) => a.view.storeTimestamp - b.view.storeTimestamp || a.view.commitLogOffset - b.view.commitLogOffset);
  const where = opts.topic !== undefined ? `topic ${opts.topic}` : `any of ${topics.length} topic(s)`;
  return {
    id,
    idKind: 'uniqKey',
    reason: found.length > 0 ? `UNIQ_KEY found in ${where}` : `no message with UNIQ_KEY ${id} in the index of ${where} (the index covers what the broker still stores)`,
    found,
    searchedTopics: topics.length,
    failures,
    failed: failed.list,
  };
}

// ---- by key ---------------------------------------------------------------------------------------

export interface ByKeyResult {
  topic: string;
  key: string;
  beginMs: number;
  endMs: number;
  found: FoundMessage[];
  /** Index hits that were another key or topic (hash collisions), dropped. */
  collisions: number;
  /** A broker answered the maximum: more may exist in the range. */
  truncated: boolean;
  failures: string[];
  /** The brokers behind `failures`, one entry each. */
  failed: BrokerFailure[];
}

export async function queryMsgByKey(session: AdminSession, topic: string, key: string, beginMs = 0, endMs = END_OF_TIME_MS): Promise<ByKeyResult> {
  const brokers = await topicBrokers(session, topic);
  const r = await queryIndex(session, brokers, topic, key, false, beginMs, endMs);
  const found = r.found.filter((f) => f.view.topic === topic && f.view.keys.includes(key));
  found.sort((a, b) => a.view.storeTimestamp - b.view.storeTimestamp || a.view.commitLogOffset - b.view.commitLogOffset);
  return { topic, key, beginMs, endMs, found, collisions: r.found.length - found.length, truncated: r.truncated, failures: r.failures, failed: r.failed };
}

/** QUERY_MESSAGE to every broker of the topic (masters), all at once. */
async function queryIndex(
  session: AdminSession,
  brokers: TopicBroker[],
  topic: string,
  key: string,
  uniq: boolean,
  beginMs: number,
  endMs: number,
): Promise<{ found: FoundMessage[]; failures: string[]; failed: BrokerFailure[]; truncated: boolean }> {
  const found: FoundMessage[] = [];
  const failures: string[] = [];
  const failed = new FailedBrokers();
  let truncated = false;
  const settled = await mapBounded(brokers, BROKER_PARALLELISM, async (b) => {
    const res = await sessionInvoke(
      session,
      b.addr,
      makeRequest(RequestCode.QUERY_MESSAGE, { topic, key, maxNum: QUERY_MAX_NUM, beginTimestamp: beginMs, endTimestamp: endMs, _UNIQUE_KEY_QUERY: uniq }),
    );
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return [];
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, `QUERY_MESSAGE ${topic}: ${res.remark?.trim() || responseCodeName(res.code)}`);
    return res.body ? decodeMessages(bodyBuffer(res)) : [];
  });
  for (const s of settled) {
    const b = s.item;
    if (!s.ok) {
      failures.push(`${topic} on ${b.brokerName} (${b.addr}): ${errorText(s.error)}`);
      failed.add(b, s.error);
      continue;
    }
    if (!uniq && s.value.length >= QUERY_MAX_NUM) truncated = true;
    for (const m of s.value) found.push({ view: view(m, b.brokerName), body: m.body, brokerAddr: b.addr });
  }
  return { found, failures, failed: failed.list, truncated };
}

// ---- consumer tracks (did each group consume it?) ------------------------------------------------

/** The consumer tracks of one message, and the brokers that could not help decide them. */
export interface TrackAnswer {
  tracks: MessageTrack[];
  failed: BrokerFailure[];
}

/**
 * For each group that consumes the message's topic (QUERY_TOPIC_CONSUME_BY_WHO on its brokers):
 * consumed when the group's committed offset on the message's queue is past the message, as
 * mqadmin's MessageTrack. Offline groups are judged by their offsets too: CONSUMED or
 * NOT_CONSUME_YET with online false (mqadmin says NOT_ONLINE whatever the offset); pull consumers
 * keep their own offsets, so they are PULL.
 *
 * Brokers are asked in parallel. One that fails is returned in `failed` (the groups only it knows
 * are unknown) and, once it did not answer, not asked again; a group whose offset cannot be read
 * on the message's broker is UNKNOWN, with why.
 */
export async function messageTracks(session: AdminSession, msg: FoundMessage, concurrency = DEFAULT_CONCURRENCY): Promise<TrackAnswer> {
  const v = msg.view;
  const failed = new FailedBrokers();
  let brokers = await topicBrokers(session, v.topic).catch(() => [] as TopicBroker[]);
  // The broker holding the message always has the offsets that decide it.
  if (!brokers.some((b) => b.addr === msg.brokerAddr)) {
    brokers = [...brokers, { brokerName: v.brokerName ?? msg.brokerAddr, addr: msg.brokerAddr, readQueueNums: 0, writeQueueNums: 0 }];
  }
  const byWho = await mapBounded(brokers, BROKER_PARALLELISM, (b) => queryTopicConsumeByWho(session, b.addr, v.topic));
  const groups = new Set<string>();
  for (const s of byWho) {
    if (s.ok) for (const g of s.value) groups.add(g);
    else failed.add(s.item, s.error);
  }
  const list = [...groups].sort();
  const tracks = await mapLimit(list, concurrency, async (group): Promise<MessageTrack> => {
    const [conns, stats] = await Promise.all([
      mapBounded(brokers, BROKER_PARALLELISM, (b) => getConsumerConnection(session, b.addr, group)),
      getConsumeStats(session, msg.brokerAddr, group, v.topic).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ]);
    const unanswered: string[] = [];
    for (const c of conns) {
      if (c.ok) continue;
      failed.add(c.item, c.error);
      unanswered.push(c.item.brokerName);
    }
    const conn = mergeConnections(conns.map((c) => (c.ok ? c.value : undefined)));
    if (!stats.ok) {
      failed.add({ addr: msg.brokerAddr, brokerName: v.brokerName }, stats.error);
      return { consumerGroup: group, trackType: 'UNKNOWN', online: conn !== undefined, consumerOffset: null, exceptionDesc: errorText(stats.error) };
    }
    const row = stats.value.rows.find(([mq]) => mq.topic === v.topic && mq.queueId === v.queueId && (v.brokerName === null || mq.brokerName === v.brokerName));
    const consumerOffset = row ? row[1].consumerOffset : null;
    const t: MessageTrack = { consumerGroup: group, trackType: 'UNKNOWN', online: conn !== undefined, consumerOffset };
    if (conn?.consumeType === 'CONSUME_ACTIVELY') t.trackType = 'PULL';
    else if (consumerOffset === null) t.exceptionDesc = 'the group has no offset on this queue';
    else if (consumerOffset > v.queueOffset) t.trackType = filteredOut(conn, v) ? 'CONSUMED_BUT_FILTERED' : 'CONSUMED';
    else t.trackType = 'NOT_CONSUME_YET';
    if (t.trackType === 'NOT_CONSUME_YET' && !conn && unanswered.length > 0) t.exceptionDesc = `no connection seen, but ${unanswered.join(', ')} did not answer: it may be online`;
    return t;
  });
  return { tracks, failed: failed.list };
}

/**
 * Track every message of a lookup (sets each view's tracks and tracksFailed, all messages at
 * once) and add the brokers that failed to the lookup's `failed`.
 */
export async function trackLookup(session: AdminSession, lookup: IdLookup): Promise<void> {
  const answers = await mapLimit(lookup.found, BROKER_PARALLELISM, (f) => messageTracks(session, f));
  const failed = new FailedBrokers();
  failed.addAll(lookup.failed);
  lookup.found.forEach((f, i) => {
    const a = answers[i]!;
    f.view.tracks = a.tracks;
    if (a.failed.length > 0) f.view.tracksFailed = a.failed;
    failed.addAll(a.failed);
  });
  lookup.failed = failed.list;
}

function filteredOut(conn: ConsumerConnection | undefined, v: MessageView): boolean {
  const sub = conn?.subscriptionTable[v.topic];
  if (!sub || sub.subString === '*' || sub.subString === '' || sub.tagsSet.length === 0) return false;
  return v.tags === null || !sub.tagsSet.includes(v.tags);
}

// ---- not found ---------------------------------------------------------------------------------------

/** "Found nothing" as an error scripts can tell apart: exit 1, code E_MESSAGE_NOT_FOUND, with why. */
export class MessageNotFoundError extends RocketError {
  constructor(message: string, data: Record<string, unknown>, actions: string[] = []) {
    super(message, { code: 'E_MESSAGE_NOT_FOUND', data, actions });
  }
}

// ---- bodies to files ---------------------------------------------------------------------------

/**
 * --body-file PATH: one message → PATH (or PATH/<msgId> when PATH is a directory); several →
 * PATH is a directory (created) holding one file per message, named by offsetMsgId (unique).
 * Sets each view's bodyFile.
 */
export async function writeBodies(found: FoundMessage[], target: string): Promise<void> {
  let file = target;
  try {
    const isDir = fs.existsSync(target) && fs.statSync(target).isDirectory();
    if (found.length === 1 && !isDir) {
      ensureDir(path.dirname(path.resolve(target)));
      fs.writeFileSync(target, found[0]!.body);
      found[0]!.view.bodyFile = path.resolve(target);
      return;
    }
    ensureDir(path.resolve(target));
    for (const f of found) {
      file = path.resolve(target, found.length === 1 ? f.view.msgId : f.view.offsetMsgId);
      fs.writeFileSync(file, f.body);
      f.view.bodyFile = file;
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RocketError(`cannot write the message body to ${file}${code ? ` (${code})` : ''}`, {
      code: 'E_BODY_FILE',
      cause: err,
      actions: ['choose another path for --body-file (a file for one message, a directory for several)'],
    });
  }
}

/** queryMsgById for each id in turn (mqadmin takes a comma-separated list), each tracked when asked. */
export async function queryMsgsById(session: AdminSession, ids: readonly string[], opts: { topic?: string; track: boolean }): Promise<IdLookup[]> {
  const out: IdLookup[] = [];
  for (const id of ids) {
    const l = await queryMsgById(session, id, { topic: opts.topic });
    if (opts.track) await trackLookup(session, l);
    out.push(l);
  }
  return out;
}
