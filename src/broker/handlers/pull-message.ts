/**
 * PULL_MESSAGE (11), as PullMessageProcessor: permission and subscription
 * checks, one store read filtered by tag hash codes, the store status mapped to a response code,
 * the four offset headers on EVERY answer (Java clients unbox them; ali-ons reads them for each
 * message), the broker the next pull should go to (suggestWhichBrokerId), the piggy-backed commit
 * offset (masters only), and long polling when nothing is there yet.
 *
 * A slave (a DLedger follower, brokerId other than 0) serves pulls from its replicated store, as
 * an Apache 4.9.8 slave does with or without slaveReadEnable: processRequest sets
 * PULL_RETRY_IMMEDIATELY for a slave without it, but the status switch that follows overwrites the
 * code, so only the suggestion (the master) differs.
 */
import { ResponseCode, Perm } from '../../protocol/codes.js';
import { makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import type { SubscriptionData, SubscriptionGroupConfig } from '../../protocol/bodies.js';
import type { ClientChannel, RequestHandler } from '../../remoting/server.js';
import type { BrokerContext, GetMessageStatus } from './context.js';
import { buildSubscriptionData, errMessage, fail, Header, tagFilter, topicNotExistRemark } from './util.js';

/** PullSysFlag bits. */
const PullSysFlag = { COMMIT_OFFSET: 0x1, SUSPEND: 0x2, SUBSCRIPTION: 0x4, CLASS_FILTER: 0x8 } as const;
/** MixAll.MASTER_ID. */
const MASTER_ID = 0;

interface PullHeader {
  consumerGroup: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  maxMsgNums: number;
  sysFlag: number;
  commitOffset: number;
  suspendTimeoutMillis: number;
  subscription: string | undefined;
  subVersion: number;
  expressionType: string | undefined;
}

function readPullHeader(req: RemotingCommand): PullHeader {
  const h = new Header(req);
  return {
    consumerGroup: h.str('consumerGroup'),
    topic: h.str('topic'),
    queueId: h.int('queueId'),
    queueOffset: h.int('queueOffset'),
    maxMsgNums: h.int('maxMsgNums'),
    sysFlag: h.int('sysFlag'),
    commitOffset: h.optInt('commitOffset', -1),
    suspendTimeoutMillis: h.optInt('suspendTimeoutMillis', 0),
    subscription: h.optStr('subscription'),
    subVersion: h.optInt('subVersion', 0),
    expressionType: h.optStr('expressionType'),
  };
}

export function pullMessage(ctx: BrokerContext): RequestHandler {
  return (req, channel) => processPull(ctx, req, channel, true);
}

/**
 * One pull. `allowSuspend` is false when a parked pull is re-run (PullRequestHoldService
 * executeRequestWhenWakeup): then the answer is sent whatever it is.
 */
async function processPull(ctx: BrokerContext, req: RemotingCommand, channel: ClientChannel, allowSuspend: boolean): Promise<RemotingCommand | undefined> {
  const h = readPullHeader(req);
  const c = ctx.config;
  const hasSuspend = (h.sysFlag & PullSysFlag.SUSPEND) !== 0;
  const hasCommitOffset = (h.sysFlag & PullSysFlag.COMMIT_OFFSET) !== 0;
  const hasSubscription = (h.sysFlag & PullSysFlag.SUBSCRIPTION) !== 0;

  if ((c.brokerPermission & Perm.READ) === 0) {
    return fail(req, ResponseCode.NO_PERMISSION, `the broker[${c.brokerName}] pulling message is forbidden`);
  }
  const groupCfg = ctx.findSubscriptionGroup(h.consumerGroup);
  if (!groupCfg) return fail(req, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group [${h.consumerGroup}] does not exist`);
  if (!groupCfg.consumeEnable) return fail(req, ResponseCode.NO_PERMISSION, `subscription group no permission, ${h.consumerGroup}`);
  const tc = ctx.topicConfig(h.topic);
  if (!tc) return fail(req, ResponseCode.TOPIC_NOT_EXIST, topicNotExistRemark(h.topic));
  if ((tc.perm & Perm.READ) === 0) return fail(req, ResponseCode.NO_PERMISSION, `the topic[${h.topic}] pulling message is forbidden`);
  if (h.queueId < 0 || h.queueId >= tc.readQueueNums) {
    return fail(req, ResponseCode.SYSTEM_ERROR, `queueId[${h.queueId}] is illegal, topic:[${h.topic}] topicConfig.readQueueNums:[${tc.readQueueNums}] consumer:[${channel.remoteAddress}]`);
  }

  let sub: SubscriptionData;
  if (hasSubscription) {
    if (h.expressionType && h.expressionType !== 'TAG') {
      // enablePropertyFilter=false on Java brokers gives the same answer.
      return fail(req, ResponseCode.SYSTEM_ERROR, 'The broker does not support consumer to filter message by SQL92');
    }
    sub = buildSubscriptionData(h.topic, h.subscription, h.subVersion);
  } else {
    // Push consumers do not send their subscription: use what their heartbeat registered.
    const info = ctx.clients.consumerGroup(h.consumerGroup);
    if (!info) return fail(req, ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's group info not exist");
    if (!groupCfg.consumeBroadcastEnable && info.messageModel === 'BROADCASTING') {
      return fail(req, ResponseCode.NO_PERMISSION, `the consumer group[${h.consumerGroup}] can not consume by broadcast way`);
    }
    const registered = info.subscriptions.get(h.topic);
    if (!registered) return fail(req, ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist");
    if (registered.subVersion < h.subVersion) return fail(req, ResponseCode.SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest");
    if (registered.expressionType && registered.expressionType !== 'TAG') {
      return fail(req, ResponseCode.SYSTEM_ERROR, 'The broker does not support consumer to filter message by SQL92');
    }
    sub = registered;
  }

  const filter = tagFilter(sub);
  const maxMsgNums = Math.max(1, Math.min(h.maxMsgNums, c.maxTransferCountOnMessageInMemory));
  const got = await ctx.store.get(h.topic, h.queueId, h.queueOffset, maxMsgNums, filter, c.maxTransferBytesOnMessageInMemory);
  // A DLedger member is a slave whenever it is not the writable leader (brokerId -1 before its first role).
  const slave = c.brokerId !== MASTER_ID;
  let code = responseCodeFor(got.status, h.queueOffset);
  let suggestWhichBrokerId = suggestBroker(c.slaveReadEnable, got.suggestPullingFromSlave, groupCfg);
  // DefaultMessageStore#nextOffsetCorrection with offsetCheckInSlave=false (its default): a slave
  // never moves a consumer's offset. Its queue may only lag the master's (replication), so an
  // offset it does not hold yet is retried at once on the group's broker (the master).
  let nextBeginOffset = got.nextBeginOffset;
  if (slave && !READ_STATUSES.has(got.status)) nextBeginOffset = h.queueOffset;
  if (slave && code === ResponseCode.PULL_OFFSET_MOVED) {
    code = ResponseCode.PULL_RETRY_IMMEDIATELY;
    suggestWhichBrokerId = groupCfg.brokerId;
  }
  const header = { suggestWhichBrokerId, nextBeginOffset, minOffset: got.minOffset, maxOffset: got.maxOffset };

  // Stored on the first processing only (not when a parked pull is re-run), on masters: a slave's
  // offsets are its master's, taken by SlaveSynchronize.
  if (allowSuspend && hasCommitOffset && !slave) {
    ctx.commitOffset(channel.remoteAddress, h.consumerGroup, h.topic, h.queueId, h.commitOffset);
  }

  if (code === ResponseCode.SUCCESS) {
    ctx.stats.onMessagesPulled(h.consumerGroup, h.topic, got.records.length);
    ctx.tracer?.onDelivered(h.consumerGroup, h.topic, h.queueId, channel.remoteAddress, got.records);
    return makeResponse(req, code, got.status, header, got.records);
  }
  if (code === ResponseCode.PULL_NOT_FOUND && allowSuspend && hasSuspend) {
    // As PullMessageProcessor: suspend when no message (long polling), or short polling when disabled.
    const holdMs = c.longPollingEnable ? h.suspendTimeoutMillis : c.shortPollingTimeMills;
    const parked = ctx.pullHold.park({
      channel,
      request: req,
      topic: h.topic,
      queueId: h.queueId,
      pullFromThisOffset: h.queueOffset,
      matches: filter ?? (() => true),
      holdMs,
    });
    if (parked) return undefined;
    if (!ctx.pullHold.closed) {
      return makeResponse(req, ResponseCode.SYSTEM_BUSY, `[OVERLOAD]too many suspended pulls (${ctx.pullHold.size}), retry later`);
    }
  }
  return makeResponse(req, code, got.status, header);
}

/**
 * PullMessageProcessor#processRequest: with slaveReadEnable, a consumer that has fallen far behind
 * is sent to the group's whichBrokerWhenConsumeSlowly (default 1) and any other to the group's
 * brokerId (default 0, the master); without it, always to the master. In a DLedger group the ids
 * are the slaves' registered ones (self id digits + 1); when the suggested id is not in the route
 * (it is the leader's own), the client takes the next id up or the master
 * (MQClientInstance#findBrokerAddressInSubscribe), as Apache's DLedger mode does.
 */
function suggestBroker(slaveReadEnable: boolean, fromSlave: boolean, group: SubscriptionGroupConfig): number {
  if (!slaveReadEnable) return MASTER_ID;
  return fromSlave ? group.whichBrokerWhenConsumeSlowly : group.brokerId;
}

/** Statuses whose nextBeginOffset comes from reading the queue, not from a correction. */
const READ_STATUSES: ReadonlySet<GetMessageStatus> = new Set(['FOUND', 'NO_MATCHED_MESSAGE', 'MESSAGE_WAS_REMOVING']);

/** Store status → response code (PullMessageProcessor's switch). */
function responseCodeFor(status: GetMessageStatus, requestOffset: number): number {
  switch (status) {
    case 'FOUND':
      return ResponseCode.SUCCESS;
    case 'MESSAGE_WAS_REMOVING':
    case 'NO_MATCHED_MESSAGE':
      return ResponseCode.PULL_RETRY_IMMEDIATELY;
    case 'NO_MATCHED_LOGIC_QUEUE':
    case 'NO_MESSAGE_IN_QUEUE':
      return requestOffset !== 0 ? ResponseCode.PULL_OFFSET_MOVED : ResponseCode.PULL_NOT_FOUND;
    case 'OFFSET_FOUND_NULL':
    case 'OFFSET_OVERFLOW_ONE':
      return ResponseCode.PULL_NOT_FOUND;
    case 'OFFSET_OVERFLOW_BADLY':
    case 'OFFSET_TOO_SMALL':
      return ResponseCode.PULL_OFFSET_MOVED;
  }
}

/** Re-run a parked pull and send its answer; any failure still answers (ali-ons drops the connection otherwise). */
export async function wakeupPull(ctx: BrokerContext, channel: ClientChannel, req: RemotingCommand): Promise<void> {
  let res: RemotingCommand | undefined;
  try {
    res = await processPull(ctx, req, channel, false);
  } catch (err) {
    res = makeResponse(req, ResponseCode.SYSTEM_ERROR, errMessage(err));
  }
  if (res) channel.send(res);
}
