/**
 * CONSUMER_SEND_MSG_BACK (36), as SendMessageProcessor.asyncConsumerSendMsgBack: a message the consumer failed on is copied to `%RETRY%<group>` with a delay level
 * (delayLevel 0 → 3 + reconsumeTimes: 10 s, 30 s, 1 min ... with the default table), or to
 * `%DLQ%<group>` once it was retried maxReconsumeTimes times (or delayLevel < 0). The copy keeps
 * body, flag, tags, keys and born host/time, records RETRY_TOPIC and ORIGIN_MESSAGE_ID, sets
 * WAIT=false and DELAY (the level, 0 for the DLQ), and counts one more reconsume.
 */
import { Perm, ResponseCode } from '../../protocol/codes.js';
import { createOffsetMsgId } from '../../protocol/message.js';
import { JavaPropertiesMap, Prop } from '../../protocol/properties.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext, PutInput } from './context.js';
import { applyDelayLevel } from './delay.js';
import { DLQ_NUMS_PER_GROUP, putFailureResponse, randomInt } from './send-common.js';
import { fail, Header, ok } from './util.js';
import { dlqTopic, retryTopic } from '../../protocol/names.js';

export function consumerSendMsgBack(ctx: BrokerContext): RequestHandler {
  return async (req, channel) => {
    const h = new Header(req);
    const offset = h.int('offset');
    const group = h.str('group');
    let delayLevel = h.int('delayLevel');
    const groupCfg = ctx.findSubscriptionGroup(group);
    if (!groupCfg) return fail(req, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${group}`);
    if ((ctx.config.brokerPermission & Perm.WRITE) === 0) {
      return fail(req, ResponseCode.NO_PERMISSION, `the broker[${ctx.config.brokerName}] sending message is forbidden`);
    }
    // A group without retry queues drops failed messages (retryQueueNums <= 0).
    if (groupCfg.retryQueueNums <= 0) return ok(req);

    let topic = retryTopic(group);
    let queueId = randomInt(groupCfg.retryQueueNums);
    const sysFlagTopic = h.bool('unitMode') ? 1 : 0;
    const retryConfig = await ctx.createTopicInSendMessageBackMethod(topic, groupCfg.retryQueueNums, Perm.READ | Perm.WRITE, sysFlagTopic);
    if ((retryConfig.perm & Perm.WRITE) === 0) return fail(req, ResponseCode.NO_PERMISSION, `the topic[${topic}] sending message is forbidden`);

    const msg = await ctx.store.lookMessage(offset);
    if (!msg) return fail(req, ResponseCode.SYSTEM_ERROR, `look message by offset failed, ${offset}`);
    // msgExt.setWaitStoreMsgOK(false) before the properties are copied: the copy stores WAIT=false.
    // The map is Apache's (HashMap order), so the copy's string is written as Apache writes it.
    const props = JavaPropertiesMap.parse(msg.properties);
    if (!props.get(Prop.RETRY_TOPIC)) props.set(Prop.RETRY_TOPIC, msg.topic);
    props.set(Prop.WAIT, 'false');
    // Clients from V3_4_9 on send their limit in the header; older ones use the group's.
    const maxReconsumeTimes = h.has('maxReconsumeTimes') ? h.int('maxReconsumeTimes') : groupCfg.retryMaxTimes;
    if (msg.reconsumeTimes >= maxReconsumeTimes || delayLevel < 0) {
      topic = dlqTopic(group);
      queueId = randomInt(DLQ_NUMS_PER_GROUP);
      const dlqConfig = await ctx.createTopicInSendMessageBackMethod(topic, DLQ_NUMS_PER_GROUP, Perm.READ | Perm.WRITE, 0);
      if ((dlqConfig.perm & Perm.WRITE) === 0) return fail(req, ResponseCode.NO_PERMISSION, `the topic[${topic}] sending message is forbidden`);
      // msgExt.setDelayTimeLevel(0): the DLQ copy carries DELAY=0 (not delayed).
      props.set(Prop.DELAY, '0');
    } else {
      if (delayLevel === 0) delayLevel = 3 + msg.reconsumeTimes;
      props.set(Prop.DELAY, String(delayLevel));
    }
    // The first hop's offsetMsgId is kept through every retry (Java ignores the originMsgId header).
    props.set(Prop.ORIGIN_MESSAGE_ID, props.get(Prop.ORIGIN_MESSAGE_ID) || createOffsetMsgId(msg.storeHost, msg.commitLogOffset));
    const input: PutInput = {
      topic,
      queueId,
      flag: msg.flag,
      sysFlag: msg.sysFlag,
      bornTimestamp: msg.bornTimestamp,
      bornHost: msg.bornHost,
      body: Buffer.from(msg.body),
      properties: props.toString(),
      reconsumeTimes: msg.reconsumeTimes + 1,
      preparedTransactionOffset: msg.preparedTransactionOffset,
    };
    applyDelayLevel(input, ctx.delayLevelCount, props);
    const tracer = ctx.tracer;
    const startMs = tracer ? Date.now() : 0;
    try {
      const r = await ctx.store.put(input);
      // The copy to %RETRY% / %DLQ%: a "retried" or "DLQ" step of the message's trace.
      tracer?.onStored(input, r, group, channel.remoteAddress, Date.now() - startMs);
    } catch (err) {
      return putFailureResponse(req, err);
    }
    return ok(req);
  };
}
