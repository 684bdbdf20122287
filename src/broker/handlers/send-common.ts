/**
 * The part of SendMessageProcessor shared by SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and
 * SEND_BATCH_MESSAGE (320): header checks (AbstractSendMessageProcessor.msgCheck), auto-creating
 * the topic, retry → DLQ redirection, stored-property rewriting, delay levels, and mapping store
 * failures to response codes.
 */
import { ResponseCode, Perm } from '../../protocol/codes.js';
import { makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { parseSocketAddr, SysFlag, transactionType, type SocketAddr } from '../../protocol/message.js';
import { JavaPropertiesMap, Prop, scanProperties } from '../../protocol/properties.js';
import { topicNameProblem } from '../../protocol/validate.js';
import {
  DiskFullError,
  FlushTimeoutError,
  InvalidTopicError,
  MessageTooLargeError,
  RocketError,
  StoreClosedError,
} from '../../errors/index.js';
import type { ClientChannel } from '../../remoting/server.js';
import type { BrokerContext, PutInput } from './context.js';
import type { TopicConfig } from '../../protocol/bodies.js';
import { Header, fail, topicNotExistRemark } from './util.js';
import { dlqTopic, RETRY_GROUP_TOPIC_PREFIX } from '../../protocol/names.js';

/** SEND_MESSAGE's header, once V2's one-letter keys are mapped (SendMessageRequestHeaderV2.createSendMessageRequestHeaderV1). */
export interface SendHeader {
  producerGroup: string;
  topic: string;
  defaultTopic: string;
  defaultTopicQueueNums: number;
  queueId: number;
  sysFlag: number;
  bornTimestamp: number;
  flag: number;
  properties: string | undefined;
  reconsumeTimes: number;
  unitMode: boolean;
  maxReconsumeTimes: number | undefined;
  batch: boolean;
}

export function readSendHeaderV1(req: RemotingCommand): SendHeader {
  const h = new Header(req);
  return {
    producerGroup: h.str('producerGroup'),
    topic: h.str('topic'),
    defaultTopic: h.str('defaultTopic'),
    defaultTopicQueueNums: h.int('defaultTopicQueueNums'),
    queueId: h.int('queueId'),
    sysFlag: h.int('sysFlag'),
    bornTimestamp: h.int('bornTimestamp'),
    flag: h.int('flag'),
    properties: h.optStr('properties'),
    reconsumeTimes: h.optInt('reconsumeTimes', 0),
    unitMode: h.bool('unitMode'),
    maxReconsumeTimes: h.has('maxReconsumeTimes') ? h.int('maxReconsumeTimes') : undefined,
    batch: h.bool('batch'),
  };
}

/** V2 (and batch) headers use the letters a..n for the same fields (apache/rocketmq SendMessageProcessor, SendMessageRequestHeaderV2). */
export function readSendHeaderV2(req: RemotingCommand): SendHeader {
  const h = new Header(req);
  return {
    producerGroup: h.str('a'),
    topic: h.str('b'),
    defaultTopic: h.str('c'),
    defaultTopicQueueNums: h.int('d'),
    queueId: h.int('e'),
    sysFlag: h.int('f'),
    bornTimestamp: h.int('g'),
    flag: h.int('h'),
    properties: h.optStr('i'),
    reconsumeTimes: h.optInt('j', 0),
    unitMode: h.bool('k'),
    maxReconsumeTimes: h.has('l') ? h.int('l') : undefined,
    batch: h.bool('m'),
  };
}

/** Where the message will go once checks, auto-creation and retry/DLQ redirection are done. */
interface SendTarget {
  topic: string;
  queueId: number;
  topicConfig: TopicConfig;
}

/**
 * AbstractSendMessageProcessor.msgCheck + SendMessageProcessor.handleRetryAndDLQ. Returns the
 * target, or the error response to send; a promise only when a topic must be created first (the
 * usual send, to an existing topic, costs no promise here).
 */
export function checkAndRoute(ctx: BrokerContext, req: RemotingCommand, h: SendHeader): SendTarget | RemotingCommand | Promise<SendTarget | RemotingCommand> {
  const c = ctx.config;
  if ((c.brokerPermission & Perm.WRITE) === 0) {
    return fail(req, ResponseCode.NO_PERMISSION, `the broker[${c.brokerName}] sending message is forbidden`);
  }
  const why = topicNameProblem(h.topic);
  if (why) return fail(req, ResponseCode.SYSTEM_ERROR, `The specified topic[${h.topic}] is not valid: ${why}`);
  if (ctx.isNotAllowedSendTopic(h.topic)) {
    return fail(req, ResponseCode.NO_PERMISSION, `Sending message to topic[${h.topic}] is forbidden.`);
  }
  const tc = ctx.topicConfig(h.topic);
  if (!tc) return createThenRoute(ctx, req, h);
  return route(ctx, req, h, tc);
}

/** The topic does not exist: create it as SendMessageProcessor does (or refuse), then route. */
async function createThenRoute(ctx: BrokerContext, req: RemotingCommand, h: SendHeader): Promise<SendTarget | RemotingCommand> {
  const sysFlag = h.unitMode ? 1 : 0;
  let tc = await ctx.createTopicInSendMessageMethod(h.topic, h.defaultTopic, h.defaultTopicQueueNums, sysFlag);
  // A producer may resend a failed retry directly to %RETRY%group: always create those.
  if (!tc && h.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) {
    tc = await ctx.createTopicInSendMessageBackMethod(h.topic, 1, Perm.READ | Perm.WRITE, sysFlag);
  }
  if (!tc) return fail(req, ResponseCode.TOPIC_NOT_EXIST, topicNotExistRemark(h.topic));
  return route(ctx, req, h, tc);
}

function route(ctx: BrokerContext, req: RemotingCommand, h: SendHeader, tc: TopicConfig): SendTarget | RemotingCommand | Promise<SendTarget | RemotingCommand> {
  const idValid = Math.max(tc.readQueueNums, tc.writeQueueNums);
  if (h.queueId >= idValid) {
    return fail(req, ResponseCode.SYSTEM_ERROR, `request queueId[${h.queueId}] is illegal, topic ${h.topic} has ${idValid} queues; producer: ${h.producerGroup}`);
  }
  if ((tc.perm & Perm.WRITE) === 0) {
    return fail(req, ResponseCode.NO_PERMISSION, `the topic[${h.topic}] sending message is forbidden`);
  }
  // A negative queue id asks the broker to choose (SendMessageProcessor: random % writeQueueNums).
  const queueId = h.queueId < 0 ? randomInt(tc.writeQueueNums) : h.queueId;

  if (!h.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) return { topic: h.topic, queueId, topicConfig: tc };

  // handleRetryAndDLQ: a retry whose reconsume count reached the limit goes to the group's DLQ.
  const group = h.topic.slice(RETRY_GROUP_TOPIC_PREFIX.length);
  const groupCfg = ctx.findSubscriptionGroup(group);
  if (!groupCfg) return fail(req, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${group}`);
  // Clients from V3_4_9 on send their own limit in the header; older ones use the group's.
  const maxReconsumeTimes = h.maxReconsumeTimes ?? groupCfg.retryMaxTimes;
  if (h.reconsumeTimes < maxReconsumeTimes) return { topic: h.topic, queueId, topicConfig: tc };
  return toDlq(ctx, group);
}

async function toDlq(ctx: BrokerContext, group: string): Promise<SendTarget> {
  const dlq = dlqTopic(group);
  const dlqConfig = await ctx.createTopicInSendMessageBackMethod(dlq, DLQ_NUMS_PER_GROUP, Perm.READ | Perm.WRITE, 0);
  return { topic: dlq, queueId: 0, topicConfig: dlqConfig };
}

/** MixAll.DLQ_NUMS_PER_GROUP: a dead-letter topic has one queue. */
export const DLQ_NUMS_PER_GROUP = 1;

export function randomInt(n: number): number {
  return n > 0 ? Math.floor(Math.random() * n) : 0;
}

/**
 * A sent message's properties as SendMessageProcessor (4.9.8) handles them: `text` is what is
 * stored when nothing rewrites it (the producer's, plus CLUSTER, in Apache's map order, without
 * WAIT); `map` is that java.util.HashMap (WAIT put back) for a rewrite (CommitLog's delay level,
 * parseHalfMessageInner) to continue, built when first asked for.
 */
export class StoredProperties {
  private built: JavaPropertiesMap | undefined;

  constructor(
    readonly text: string,
    private readonly build: () => JavaPropertiesMap,
    /** TRAN_MSG and DELAY are known to be absent (answered without building the map). */
    private readonly plain: boolean,
  ) {}

  get map(): JavaPropertiesMap {
    return (this.built ??= this.build());
  }

  get(name: string): string | undefined {
    if (this.plain && (name === Prop.TRAN_MSG || name === Prop.DELAY)) return undefined;
    return this.map.get(name);
  }
}

/**
 * As SendMessageProcessor.asyncSendMessage: CLUSTER is put, WAIT removed for the stored string and
 * put back afterwards, so a rewrite (CommitLog's delay level, parseHalfMessageInner) stores it
 * again (Apache saves those 9 bytes only where nothing rewrites the string).
 */
function javaMapOf(raw: string, cluster: string): { map: JavaPropertiesMap; text: string } {
  const map = JavaPropertiesMap.parse(raw);
  map.set(Prop.CLUSTER, cluster);
  const wait = map.delete(Prop.WAIT);
  const text = map.toString();
  if (wait !== undefined) map.set(Prop.WAIT, wait);
  return { map, text };
}

/**
 * The stored order of each sequence of property names met (producers send the same few), as item
 * indexes; -1 is CLUSTER. Bounded; cleared when full.
 */
const storedOrders = new Map<string, number[]>();
const STORED_ORDERS_MAX = 256;
const STORED_ORDER_KEY_MAX_CHARS = 1024;

export function storedProperties(ctx: BrokerContext, raw: string | undefined): StoredProperties {
  const s = raw ?? '';
  const cluster = ctx.config.brokerClusterName;
  if (s.includes(Prop.TRAN_MSG) || s.includes(Prop.DELAY)) {
    const slow = javaMapOf(s, cluster);
    return new StoredProperties(slow.text, () => slow.map, false);
  }
  // The map's order depends only on the names and their order: built once per sequence of names
  // (with placeholder values: each item's index), then filled with this message's values.
  const names: string[] = [];
  const values: string[] = [];
  scanProperties(s, (start, sep, end) => {
    names.push(s.slice(start, sep));
    values.push(s.slice(sep + 1, end));
  });
  const key = names.join('\u0001');
  if (key.length > STORED_ORDER_KEY_MAX_CHARS) {
    // Hundreds of names: not worth keeping (the cache would hold up to 32 KiB per entry).
    const slow = javaMapOf(s, cluster);
    return new StoredProperties(slow.text, () => slow.map, true);
  }
  let order = storedOrders.get(key);
  if (order === undefined) {
    order = storedOrderOf(names, cluster);
    if (storedOrders.size >= STORED_ORDERS_MAX) storedOrders.clear();
    storedOrders.set(key, order);
  }
  let text = '';
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const item = i < 0 ? Prop.CLUSTER + '\u0001' + cluster : names[i] + '\u0001' + values[i];
    text = k === 0 ? item : text + '\u0002' + item;
  }
  return new StoredProperties(text, () => javaMapOf(s, cluster).map, true);
}

/** What javaMapOf stores for these names, as item indexes (a repeated name: its last index, whose value the map keeps). */
function storedOrderOf(names: readonly string[], cluster: string): number[] {
  const { text } = javaMapOf(names.map((n, i) => n + '\u0001' + i).join('\u0002'), cluster);
  const order: number[] = [];
  scanProperties(text, (start, sep, end) => {
    order.push(text.slice(start, sep) === Prop.CLUSTER ? -1 : Number(text.slice(sep + 1, end)));
  });
  return order;
}

/** Parsed BORNHOSTs by channel: a channel's remote address never changes. */
const bornHosts = new WeakMap<ClientChannel, SocketAddr>();

/** The sender's address as a record's BORNHOST (Unix-socket clients count as loopback). */
export function bornHostOf(channel: ClientChannel): SocketAddr {
  let addr = bornHosts.get(channel);
  if (!addr) {
    try {
      addr = parseSocketAddr(channel.remoteAddress);
    } catch {
      addr = parseSocketAddr('127.0.0.1:0');
    }
    bornHosts.set(channel, addr);
  }
  return addr;
}

export function multiTagsFlag(tc: TopicConfig, sysFlag: number): number {
  return tc.topicFilterType === 'MULTI_TAG' ? sysFlag | SysFlag.MULTI_TAGS : sysFlag;
}

/**
 * A half message (TRAN_MSG=true, as SendMessageProcessor tests; also a PREPARED sysFlag, which
 * Apache would store in the real topic where no consumer can ever see it).
 */
export function isTransactionPrepared(props: { get(name: string): string | undefined }, sysFlag: number): boolean {
  return props.get(Prop.TRAN_MSG) === 'true' || transactionType(sysFlag) === SysFlag.TRANSACTION_PREPARED_TYPE;
}

export function buildInput(target: SendTarget, h: SendHeader, properties: string, body: Buffer, bornHost: SocketAddr): PutInput {
  return {
    topic: target.topic,
    queueId: target.queueId,
    flag: h.flag,
    sysFlag: multiTagsFlag(target.topicConfig, h.sysFlag),
    bornTimestamp: h.bornTimestamp,
    bornHost,
    body,
    properties,
    reconsumeTimes: h.reconsumeTimes,
    preparedTransactionOffset: 0,
  };
}

/**
 * Map a store failure to the response SendMessageProcessor.handlePutMessageResult would give.
 * Anything unexpected is rethrown (the server answers SYSTEM_ERROR).
 */
export function putFailureResponse(req: RemotingCommand, err: unknown): RemotingCommand {
  if (err instanceof MessageTooLargeError || err instanceof InvalidTopicError) {
    return makeResponse(req, ResponseCode.MESSAGE_ILLEGAL, err.message);
  }
  if (err instanceof FlushTimeoutError) return makeResponse(req, ResponseCode.FLUSH_DISK_TIMEOUT, err.message);
  // E_DISK_FULL: ENOSPC on a write, or the disk over diskSpaceWarningLevelRatio (clean-service.ts).
  // E_STORE_NOT_LEADER: a DLedger commit log on a node that is not the group's leader (DefaultMessageStore#checkStoreStatus answers a slave so).
  if (err instanceof DiskFullError || err instanceof StoreClosedError || (err instanceof RocketError && (err.code === 'E_DISK_FULL' || err.code === 'E_STORE_NOT_LEADER'))) {
    return makeResponse(req, ResponseCode.SERVICE_NOT_AVAILABLE, `service not available now: ${err.message}`);
  }
  if (err instanceof RocketError && err.code === 'E_STORE_BUSY') {
    return makeResponse(req, ResponseCode.SYSTEM_BUSY, `[PC_SYNCHRONIZED]broker busy, start flow control for a while: ${err.message}`);
  }
  if (err instanceof RocketError) return makeResponse(req, ResponseCode.SYSTEM_ERROR, err.message);
  throw err;
}
