/**
 * Putting a failed message back on the broker so its offset can be passed: CONSUMER_SEND_MSG_BACK
 * (DefaultMQPushConsumerImpl#sendMessageBack), and, when the broker refuses or cannot be reached,
 * a copy sent to %RETRY%<group> by the inner producer (the catch branch of the same method).
 */
import { RemoteError } from '../../errors/index.js';
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { makeRequest } from '../../protocol/frame.js';
import { retryTopic } from '../../protocol/names.js';
import { Prop } from '../../protocol/properties.js';
import type { MessageExt } from '../message.js';
import type { PreparedMessage } from '../producer.js';
import type { PushContext } from './context.js';

/** Concurrent consumers: maxReconsumeTimes -1 means 16 (the broker then moves it to %DLQ%). */
const DEFAULT_MAX_RECONSUME_TIMES = 16;
/** The broker reads maxReconsumeTimes as a Java int. */
const JAVA_INT_MAX = 0x7fffffff;

/**
 * -1 means 16 for concurrent consumers (DefaultMQPushConsumerImpl#getMaxReconsumeTimes) and no limit on
 * local retries for orderly ones (ConsumeMessageOrderlyService#getMaxReconsumeTimes: Integer.MAX_VALUE).
 */
export function maxReconsumeTimes(ctx: PushContext): number {
  const v = ctx.opts.maxReconsumeTimes ?? -1;
  if (v >= 0) return v;
  return ctx.orderly ? Number.MAX_SAFE_INTEGER : DEFAULT_MAX_RECONSUME_TIMES;
}

/**
 * CONSUMER_SEND_MSG_BACK to the broker the message came from; if that fails, a copy sent to
 * %RETRY%<group> by the inner producer. True when some broker now holds the copy.
 */
export async function sendMessageBack(ctx: PushContext, msg: MessageExt, delayLevel: number): Promise<boolean> {
  const { instance } = ctx;
  try {
    const addr = await instance.brokerAddrForQueue(msg.queue);
    const res = await instance.remoting.invoke(
      addr,
      makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset: msg.commitLogOffset,
        group: ctx.group,
        delayLevel,
        originMsgId: msg.msgId,
        originTopic: msg.topic,
        unitMode: false,
        maxReconsumeTimes: Math.min(maxReconsumeTimes(ctx), JAVA_INT_MAX),
        bname: msg.queue.brokerName,
      }),
    );
    if (res.code === ResponseCode.SUCCESS) return true;
    ctx.report(new RemoteError(res.code, res.remark ?? '', 'E_SEND_BACK_FAILED'), `send-back of ${msg.msgId}`);
  } catch (err) {
    ctx.report(err, `send-back of ${msg.msgId}`);
  }
  return resendToRetryTopic(ctx, msg, msg.reconsumeTimes + 1, 3 + msg.reconsumeTimes);
}

/**
 * The copy to %RETRY%<group> through the inner producer (Java: the fallback of sendMessageBack, and
 * ConsumeMessageOrderlyService#sendMessageBack once an orderly message is out of local retries).
 */
export async function resendToRetryTopic(ctx: PushContext, msg: MessageExt, reconsumeTime: number, delayLevel: number | undefined): Promise<boolean> {
  const p = ctx.innerProducer;
  if (!p) return false;
  const props = { ...msg.properties };
  delete props[Prop.MIN_OFFSET];
  delete props[Prop.MAX_OFFSET];
  if (!props[Prop.RETRY_TOPIC]) props[Prop.RETRY_TOPIC] = msg.topic;
  if (!props[Prop.ORIGIN_MESSAGE_ID]) props[Prop.ORIGIN_MESSAGE_ID] = msg.msgId;
  props[Prop.RECONSUME_TIME] = String(reconsumeTime);
  props[Prop.MAX_RECONSUME_TIMES] = String(Math.min(maxReconsumeTimes(ctx), JAVA_INT_MAX));
  if (delayLevel !== undefined && delayLevel > 0) props[Prop.DELAY] = String(delayLevel);
  else delete props[Prop.DELAY];
  const retry = retryTopic(ctx.group);
  const prepared: PreparedMessage = {
    topic: retry,
    body: msg.body,
    flag: msg.flag,
    properties: props,
    uniqKey: props[Prop.UNIQ_KEY] ?? msg.msgId,
    bornTimestamp: msg.bornTimestamp,
  };
  try {
    await p.sendRaw(prepared);
    return true;
  } catch (err) {
    ctx.report(err, `resending ${msg.msgId} to ${retry}`);
    return false;
  }
}
