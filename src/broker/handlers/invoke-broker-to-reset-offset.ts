/**
 * INVOKE_BROKER_TO_RESET_OFFSET (222): move a consumer group's offsets on this broker and tell its
 * online consumers (RESET_CONSUMER_CLIENT_OFFSET, oneway), as Broker2Client.resetOffset. Three forms, in this order:
 *
 *  1. A ResetOffsetBody in the request (rocketctl's extension; Java brokers ignore request bodies
 *     here): exact per-queue offsets. rocketctl sends it only to brokers that advertise
 *     `resetOffsetTable=true` in their GET_CONSUME_STATS answers (this broker does).
 *  2. `queueId` >= 0 (5.x ResetOffsetRequestHeader): that queue only, to `offset` when given, else
 *     by `timestamp`; an offset outside [min, max] is refused, as 5.x resetOffsetInner.
 *  3. Otherwise 4.x: every write queue, target = max offset (timestamp -1) or the offset whose
 *     store time is closest to `timestamp`; kept at the current offset unless `isForce` or the
 *     target is behind it; a queue with no committed offset → SYSTEM_ERROR (Java's wording).
 *
 * No online consumer → CONSUMER_NOT_ONLINE and nothing changed (the tool then writes offsets with
 * UPDATE_CONSUMER_OFFSET itself); unlike Java this is decided before the offsets are looked at, so
 * an offline group with a queue never committed gets it too (Java answers SYSTEM_ERROR there, and
 * mqadmin then does not fall back). Otherwise the new offsets are also stored here at once (as 5.x
 * assignResetOffset does), so they are visible before the consumers persist theirs, and written to
 * disk before anyone is told: when they cannot be (a full disk), SYSTEM_ERROR and nothing changed.
 */
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { FLAG_ONEWAY, bodyBuffer, makeRequest, type RemotingCommand } from '../../protocol/frame.js';
import { decodeResetOffsetBody, encodeJson, encodeResetOffsetBody, type MessageQueue } from '../../protocol/bodies.js';
import type { ClientChannelInfo } from '../client-manager.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, Header, notSaved, ok } from './util.js';

/** Response extField by which GET_CONSUME_STATS advertises form 1 above. */
export const RESET_OFFSET_TABLE_CAPABILITY = 'resetOffsetTable';

let notifyOpaque = 1;

export function invokeBrokerToResetOffset(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const topic = h.str('topic');
    const group = h.str('group');
    const timestamp = h.int('timestamp');
    const isForce = h.bool('isForce');
    const tc = ctx.topicConfig(topic);
    if (!tc) return fail(req, ResponseCode.TOPIC_NOT_EXIST, `[reset-offset] reset offset failed, no topic in this broker. topic=${topic}`);

    // Checked before the offsets (Java checks after): an offline group always gets
    // CONSUMER_NOT_ONLINE, the answer on which tools fall back to writing offsets directly.
    const channels = [...(ctx.clients.consumerGroup(group)?.channels.values() ?? [])].filter((c) => c.channel.isOpen());
    if (channels.length === 0) {
      return fail(req, ResponseCode.CONSUMER_NOT_ONLINE, `Consumer not online, so can not reset offset, Group: ${group} Topic: ${topic} Timestamp: ${timestamp}`);
    }

    let table: Array<[MessageQueue, number]>;
    try {
      table = req.body && bodyBuffer(req).length > 0 ? exactTable(ctx, topic, bodyBuffer(req)) : await headerTable(ctx, h, topic, group, timestamp, isForce, tc.writeQueueNums);
    } catch (err) {
      if (err instanceof ResetRefused) return fail(req, ResponseCode.SYSTEM_ERROR, err.message);
      throw err;
    }

    try {
      await ctx.commitOffsetsDurably(group, topic, table.map(([mq, offset]) => [mq.queueId, offset] as const));
    } catch (err) {
      // Consumers are told nothing: they keep the offsets that are on disk.
      return notSaved(req, `[reset-offset] the new offsets of ${group}`, err);
    }
    notifyConsumers(ctx, channels, req, { topic, group, timestamp, isForce }, table);
    return ok(req, undefined, encodeResetOffsetBody(table));
  };
}

class ResetRefused extends Error {}

function mqOf(ctx: BrokerContext, topic: string, queueId: number): MessageQueue {
  return { topic, brokerName: ctx.config.brokerName, queueId };
}

/** Form 1: the request body's offsets for this broker's queues of `topic`, range-checked. */
function exactTable(ctx: BrokerContext, topic: string, body: Buffer): Array<[MessageQueue, number]> {
  const out: Array<[MessageQueue, number]> = [];
  for (const [mq, offset] of decodeResetOffsetBody(body)) {
    if (mq.topic !== topic || (mq.brokerName !== '' && mq.brokerName !== ctx.config.brokerName)) continue;
    checkRange(ctx, topic, mq.queueId, offset);
    out.push([mqOf(ctx, topic, mq.queueId), offset]);
  }
  if (out.length === 0) throw new ResetRefused(`No queues to reset: the request names no queue of ${topic} on ${ctx.config.brokerName}`);
  return out;
}

function checkRange(ctx: BrokerContext, topic: string, queueId: number, offset: number): void {
  const tc = ctx.topicConfig(topic);
  if (!tc || queueId < 0 || queueId >= Math.max(tc.readQueueNums, tc.writeQueueNums)) throw new ResetRefused(`queueId ${queueId} is not a queue of ${topic}`);
  const min = ctx.store.minOffset(topic, queueId);
  const max = ctx.store.maxOffset(topic, queueId);
  if (!Number.isSafeInteger(offset) || offset < min || offset > max) {
    throw new ResetRefused(`Target offset ${offset} not in consume queue range [${min}-${max}]`);
  }
}

/** Forms 2 and 3 (the header only). */
async function headerTable(
  ctx: BrokerContext,
  h: Header,
  topic: string,
  group: string,
  timestamp: number,
  isForce: boolean,
  writeQueueNums: number,
): Promise<Array<[MessageQueue, number]>> {
  const target = async (q: number) => (timestamp < 0 ? ctx.store.maxOffset(topic, q) : Math.max(0, await ctx.store.offsetByTime(topic, q, timestamp)));
  const queueId = h.optInt('queueId', -1);
  if (queueId >= 0) {
    const offset = h.optInt('offset', -1);
    if (offset !== -1) {
      checkRange(ctx, topic, queueId, offset);
      return [[mqOf(ctx, topic, queueId), offset]];
    }
    if (queueId >= Math.max(writeQueueNums, ctx.topicConfig(topic)?.readQueueNums ?? 0)) throw new ResetRefused(`queueId ${queueId} is not a queue of ${topic}`);
    return [[mqOf(ctx, topic, queueId), await target(queueId)]];
  }
  const out: Array<[MessageQueue, number]> = [];
  for (let q = 0; q < writeQueueNums; q++) {
    const current = ctx.queryOffset(group, topic, q);
    // Java's remark, typo included: scripts may match on it.
    if (current === -1) throw new ResetRefused(`THe consumer group <${group}> not exist`);
    const t = await target(q);
    out.push([mqOf(ctx, topic, q), isForce || t < current ? t : current]);
  }
  return out;
}

/** RESET_CONSUMER_CLIENT_OFFSET, oneway, to each online consumer; C++ requesters get the list body. */
function notifyConsumers(
  ctx: BrokerContext,
  channels: ClientChannelInfo[],
  req: RemotingCommand,
  header: { topic: string; group: string; timestamp: number; isForce: boolean },
  table: Array<[MessageQueue, number]>,
): void {
  const body =
    req.language === 'CPP'
      ? encodeJson({ offsetTable: table.map(([mq, offset]) => ({ brokerName: mq.brokerName, offset, queueId: mq.queueId, topic: mq.topic })) })
      : encodeResetOffsetBody(table);
  for (const info of channels) {
    const cmd = makeRequest(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, header, body);
    cmd.flag = FLAG_ONEWAY;
    cmd.opaque = notifyOpaque;
    notifyOpaque = notifyOpaque >= 0x7fffffff ? 1 : notifyOpaque + 1;
    try {
      info.channel.send(cmd);
    } catch (err) {
      ctx.logger.warn(`[reset-offset] notifying ${info.clientId} of ${header.group} failed: ${errMessage(err)}`);
    }
  }
}
