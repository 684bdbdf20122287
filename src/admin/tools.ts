/**
 * The tools behind `sendMessage` and `consumeMessage` (mqadmin's SendMessageCommand and
 * ConsumeMessageCommand): send one message, and read queue ranges without joining any group's
 * rebalance and without storing offsets (the pull consumer's tools group).
 */
import fs from 'node:fs';
import { BrokerUnreachableError, RocketError, UsageError } from '../errors/index.js';
import { DEFAULT_LOCAL_SOCKET } from './session.js';
import type { MessageExt } from '../client/message.js';
import { Producer, type SendResult } from '../client/producer.js';
import { PullConsumer } from '../client/pull-consumer.js';
import type { MessageQueue } from '../protocol/bodies.js';
import type { Credentials } from '../protocol/acl-sign.js';
import type { ClientOptions } from '../client/client-instance.js';
import { TOOLS_CONSUMER_GROUP } from '../protocol/names.js';

export interface ToolTarget {
  namesrvAddr?: string;
  socket?: string;
  timeoutMs: number;
  /** Sign requests for brokers with ACL on. */
  credentials?: Credentials;
}

/** The client options of a tool's producer or consumer: target, timeouts and credentials. */
export function clientOfTarget(t: ToolTarget, instanceName: string): ClientOptions {
  return { namesrvAddr: namesrvOfTarget(t), instanceName, requestTimeoutMs: t.timeoutMs, connectTimeoutMs: t.timeoutMs, credentials: t.credentials };
}

/** -n/NAMESRV_ADDR, else the local broker's socket (which answers name server requests). */
export function namesrvOfTarget(t: ToolTarget): string {
  if (t.namesrvAddr && t.namesrvAddr.trim()) return t.namesrvAddr;
  const socket = t.socket || process.env.ROCKETCTL_SOCKET || DEFAULT_LOCAL_SOCKET;
  if (!fs.existsSync(socket)) throw new BrokerUnreachableError(`the local broker (no socket at ${socket})`);
  return socket;
}

export interface SendOneInput {
  topic: string;
  body: string;
  keys?: string;
  tags?: string;
  delayLevel?: number;
  /** With queueId: send to exactly this broker's queue. */
  brokerName?: string;
  queueId?: number;
  producerGroup?: string;
}

export interface SendOneResult {
  status: SendResult['status'];
  msgId: string;
  offsetMsgId: string | null;
  topic: string;
  brokerName: string | null;
  queueId: number | null;
  queueOffset: number | null;
}

export async function sendOne(target: ToolTarget, input: SendOneInput): Promise<SendOneResult> {
  if (input.queueId !== undefined && !input.brokerName) throw new UsageError('Broker name must be set if the queue is chosen (-b with -i)');
  // As mqadmin: a producer group of its own per call (current millis), so no real group is disturbed.
  const producer = new Producer({
    ...clientOfTarget(target, `rocketctl-send-${process.pid}`),
    producerGroup: input.producerGroup ?? `rocketctl_send_${Date.now()}`,
    sendMsgTimeoutMs: target.timeoutMs,
  });
  try {
    await producer.start();
    const msg = { topic: input.topic, body: input.body, tags: input.tags, keys: input.keys ? input.keys.split(' ').filter(Boolean) : undefined, delayLevel: input.delayLevel };
    const queue = input.queueId !== undefined ? { topic: input.topic, brokerName: input.brokerName!, queueId: input.queueId } : undefined;
    const r = await producer.send(msg, queue ? { queue } : {});
    return {
      status: r.status,
      msgId: r.msgId,
      offsetMsgId: r.offsetMsgId ?? null,
      topic: input.topic,
      brokerName: r.messageQueue?.brokerName ?? null,
      queueId: r.messageQueue?.queueId ?? null,
      queueOffset: r.queueOffset ?? null,
    };
  } finally {
    await producer.close();
  }
}

export interface ConsumeRangeInput {
  topic: string;
  /**
   * Read this group's backlog: each queue from the group's committed offset (queues where it has
   * none are skipped, with a note). The pulls are still the tools group's, so the group's offsets
   * and statistics do not change. Not with `offset` or `beginTimestampMs`.
   */
  group?: string;
  brokerName?: string;
  queueId?: number;
  offset?: number;
  beginTimestampMs?: number;
  endTimestampMs?: number;
  /** Total messages at most (mqadmin's -c, default 128). */
  count: number;
  expression?: string;
}

export interface ConsumedMessage {
  topic: string;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  msgId: string;
  offsetMsgId: string;
  tags: string | null;
  keys: string[];
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
  reconsumeTimes: number;
  properties: Record<string, string>;
  /** UTF-8 text, or base64 when the body is not valid UTF-8 (see bodyEncoding). */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
}

export interface QueueRange {
  brokerName: string;
  queueId: number;
  fromOffset: number;
  toOffset: number;
  read: number;
  /** Why the queue was not read as asked (e.g. the -g group has no committed offset on it). */
  note?: string;
}

export interface ConsumeRangeSummary {
  topic: string;
  group: string;
  count: number;
  queues: QueueRange[];
}

export function toConsumed(m: MessageExt): ConsumedMessage {
  const text = m.body.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(m.body);
  return {
    topic: m.topic,
    brokerName: m.queue.brokerName,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    msgId: m.msgId,
    offsetMsgId: m.offsetMsgId,
    tags: m.tags ?? null,
    keys: m.keys,
    bornTimestamp: m.bornTimestamp,
    storeTimestamp: m.storeTimestamp,
    bornHost: m.bornHost,
    storeHost: m.storeHost,
    reconsumeTimes: m.reconsumeTimes,
    properties: m.properties,
    body: utf8 ? text : m.body.toString('base64'),
    bodyEncoding: utf8 ? 'utf8' : 'base64',
  };
}

/**
 * Read messages of a topic (or one queue) in offset order, calling `onMessage` for each as it
 * arrives, `count` at most in total. Start: -o, else the offset closest to the begin time, else
 * the queue's min offset; end: the offset closest to the end time, else the max offset at the call.
 */
export async function consumeRange(target: ToolTarget, input: ConsumeRangeInput, onMessage: (m: ConsumedMessage) => void): Promise<ConsumeRangeSummary> {
  if (input.queueId !== undefined && !input.brokerName) throw new UsageError('-i (queue) requires -b (broker name)');
  if (input.offset !== undefined && input.queueId === undefined) throw new UsageError('-o (offset) requires -i (queue)');
  if (input.group !== undefined && (input.offset !== undefined || input.beginTimestampMs !== undefined)) {
    throw new UsageError('-g (read the group\'s backlog, from its committed offsets) cannot be combined with -o or -s');
  }
  const now = Date.now();
  for (const [name, ts] of [['-s', input.beginTimestampMs], ['-e', input.endTimestampMs]] as const) {
    if (ts !== undefined && ts > now) throw new UsageError(`${name} is in the future`);
  }
  const consumer = new PullConsumer(clientOfTarget(target, `rocketctl-consume-${process.pid}`));
  const summary: ConsumeRangeSummary = { topic: input.topic, group: input.group ?? TOOLS_CONSUMER_GROUP, count: 0, queues: [] };
  try {
    await consumer.start();
    let queues: MessageQueue[] = await consumer.fetchSubscribeMessageQueues(input.topic);
    if (input.brokerName) queues = queues.filter((q) => q.brokerName === input.brokerName);
    if (input.queueId !== undefined) queues = queues.filter((q) => q.queueId === input.queueId);
    if (queues.length === 0) {
      throw new RocketError(`no readable queue of ${input.topic} matches${input.brokerName ? ` broker ${input.brokerName}` : ''}${input.queueId !== undefined ? ` queue ${input.queueId}` : ''}`, {
        code: 'E_QUEUE_NOT_FOUND',
        actions: [`see the topic's queues with: rocketctl topicStatus -t ${input.topic}`],
      });
    }
    for (const mq of queues) {
      if (summary.count >= input.count) break;
      const to = input.endTimestampMs !== undefined ? await consumer.searchOffset(mq, input.endTimestampMs) : await consumer.maxOffset(mq);
      let from: number;
      if (input.group !== undefined) {
        const committed = await consumer.committedOffset(mq, input.group);
        if (committed === null) {
          summary.queues.push({ brokerName: mq.brokerName, queueId: mq.queueId, fromOffset: to, toOffset: to, read: 0, note: `${input.group} has no committed offset on this queue: skipped` });
          continue;
        }
        // A committed offset behind the oldest stored message: the backlog starts at the oldest.
        from = Math.max(committed, await consumer.minOffset(mq));
      } else {
        from = input.offset ?? (input.beginTimestampMs !== undefined ? await consumer.searchOffset(mq, input.beginTimestampMs) : await consumer.minOffset(mq));
      }
      const range: QueueRange = { brokerName: mq.brokerName, queueId: mq.queueId, fromOffset: from, toOffset: to, read: 0 };
      summary.queues.push(range);
      for await (const m of consumer.readRange(mq, from, to, { maxMessages: input.count - summary.count, expression: input.expression })) {
        onMessage(toConsumed(m));
        range.read++;
        summary.count++;
      }
    }
    return summary;
  } finally {
    await consumer.close();
  }
}
