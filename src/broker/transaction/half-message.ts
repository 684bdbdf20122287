/**
 * The records of the transaction protocol (apache/rocketmq TransactionalMessageServiceImpl), built as Apache RocketMQ 4.9.8's
 * TransactionalMessageBridge, EndTransactionProcessor and the check listeners build them:
 *
 * - half message: the producer's message moved to RMQ_SYS_TRANS_HALF_TOPIC queue 0, its real
 *   topic/queue kept in REAL_TOPIC / REAL_QID, transaction bits reset to NOT_TYPE (so it is in the
 *   half topic's consume queue and index, and nowhere a consumer looks);
 * - committed message: the half message back in its real topic/queue, sysFlag COMMIT_TYPE,
 *   preparedTransactionOffset = the half message's commit log offset, properties unchanged;
 * - op message: RMQ_SYS_TRANS_OP_HALF_TOPIC (queue = half queue), tag "d", body = the decimal half
 *   queue offset that was committed or rolled back;
 * - re-appended copy: what every check writes back to the half queue (new offsets, the incremented
 *   TRANSACTION_CHECK_TIMES);
 * - discarded copy: the half message parked in TRANS_CHECK_MAX_TIME_TOPIC after transactionCheckMax.
 *
 * Pure functions only; the service decides when to write which.
 */
import { RequestCode } from '../../protocol/codes.js';
import { FLAG_ONEWAY, makeRequest, type RemotingCommand } from '../../protocol/frame.js';
import { createOffsetMsgId, encodeRecord, formatSocketAddr, SysFlag, type MessageRecord, type SocketAddr } from '../../protocol/message.js';
import { decodeProperties, encodeProperties, JavaPropertiesMap, Prop, type Properties } from '../../protocol/properties.js';
import { TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from '../../protocol/names.js';
import type { PutInput } from '../handlers/context.js';

export { TRANS_CHECK_MAX_TIME_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC };

/** TransactionalMessageUtil.REMOVETAG: the only op a 4.x broker writes ("delete the half message"). */
const REMOVE_TAG = 'd';
/** parseHalfMessageInner: every half message goes to queue 0 of the half topic. */
const HALF_QUEUE_ID = 0;

/** MessageSysFlag.resetTransactionValue. */
function withTransactionType(sysFlag: number, type: number): number {
  return (sysFlag & ~SysFlag.TRANSACTION_ROLLBACK_TYPE) | type;
}

/**
 * TransactionalMessageBridge.parseHalfMessageInner. DELAY is dropped: Apache's client clears it on
 * transactional messages and a delayed half message would be re-delivered into the half topic.
 */
export function toHalfMessage(input: PutInput, props?: JavaPropertiesMap): PutInput {
  const map = props ?? JavaPropertiesMap.parse(input.properties);
  map.set(Prop.REAL_TOPIC, input.topic);
  map.set(Prop.REAL_QID, String(input.queueId));
  map.delete(Prop.DELAY);
  return {
    ...input,
    topic: TRANS_HALF_TOPIC,
    queueId: HALF_QUEUE_ID,
    sysFlag: withTransactionType(input.sysFlag, SysFlag.TRANSACTION_NOT_TYPE),
    properties: map.toString(),
  };
}

/** A half message whose REAL_TOPIC / REAL_QID cannot say where it belongs (never written by us). */
export class NotAHalfMessageError extends Error {}

/**
 * EndTransactionProcessor.endMessageTransaction: the message a commit writes. Everything the
 * producer sent is kept (body, flag, born time/host, properties incl. PGROUP and any
 * TRANSACTION_CHECK_TIMES); REAL_TOPIC / REAL_QID become topic and queue. The stored properties
 * are the half message's unchanged (REAL_TOPIC, REAL_QID, TRAN_MSG and WAIT too): Apache sets the
 * properties string before it clears REAL_* from the map, so its consumers see them.
 */
export function committedMessageOf(half: MessageRecord, halfCommitLogOffset: number): PutInput {
  const props = decodeProperties(half.properties);
  const topic = props[Prop.REAL_TOPIC];
  const queueId = Number(props[Prop.REAL_QID]);
  if (!topic || !Number.isInteger(queueId) || queueId < 0) {
    throw new NotAHalfMessageError(`half message at ${halfCommitLogOffset} has no valid REAL_TOPIC/REAL_QID`);
  }
  return {
    topic,
    queueId,
    flag: half.flag,
    sysFlag: withTransactionType(half.sysFlag, SysFlag.TRANSACTION_COMMIT_TYPE),
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    body: half.body,
    properties: half.properties,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: halfCommitLogOffset,
  };
}

/**
 * TransactionalMessageBridge.renewHalfMessageInner: the same half message appended again, with
 * `props` (the check count already incremented), written in the order Apache's map of the stored
 * string gives them. Apache drops the user flag here (a quirk that would reach the committed
 * message); we keep it.
 */
export function renewedHalfOf(half: MessageRecord, props: Properties): PutInput {
  const map = JavaPropertiesMap.parse(half.properties);
  for (const k of Object.keys(props)) map.set(k, props[k]!);
  return {
    topic: half.topic,
    queueId: half.queueId,
    flag: half.flag,
    sysFlag: half.sysFlag,
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    body: half.body,
    properties: map.toString(),
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: 0,
  };
}

/** DefaultTransactionalMessageCheckListener.toMessageExtBrokerInner: parked, queue 0, as it was. */
export function discardedCopyOf(half: MessageRecord, props: Properties): PutInput {
  return { ...renewedHalfOf(half, props), topic: TRANS_CHECK_MAX_TIME_TOPIC, queueId: 0 };
}

/**
 * TransactionalMessageBridge.addRemoveTagInTransactionOp / makeOpMessageInner: born and stored by
 * the broker itself. Its properties are those of `new Message(opTopic, "d", body)`: TAGS, and
 * WAIT=true from the constructor.
 */
export function opMessageOf(halfQueueOffset: number, halfQueueId: number, storeHost: SocketAddr, nowMs: number): PutInput {
  return {
    topic: TRANS_OP_HALF_TOPIC,
    queueId: halfQueueId,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: nowMs,
    bornHost: storeHost,
    body: Buffer.from(String(halfQueueOffset), 'utf8'),
    properties: new JavaPropertiesMap().set(Prop.TAGS, REMOVE_TAG).set(Prop.WAIT, 'true').toString(),
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  };
}

/** An op marker as read back: its own queue offset and the half queue offset it resolves (-1 if unreadable). */
export interface OpMarker {
  opOffset: number;
  halfOffset: number;
  isRemove: boolean;
}

export function readOpMarker(rec: MessageRecord): OpMarker {
  const tags = decodeProperties(rec.properties)[Prop.TAGS];
  return { opOffset: rec.queueOffset, halfOffset: parseJavaLong(rec.body.toString('utf8')), isRemove: tags === REMOVE_TAG };
}

/** Java Long.valueOf inside TransactionalMessageServiceImpl.getLong: anything unparsable is -1. */
export function parseJavaLong(s: string | undefined): number {
  if (s === undefined || !/^[+-]?\d+$/.test(s)) return -1;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : -1;
}

/**
 * Which transaction a half message (or any re-appended copy of it) belongs to: producer group,
 * UNIQ_KEY (the client's transactionId), born time and host. Copies keep all four; two sends of
 * one reused Message object differ in born time. Used only to refuse a second resolution (our
 * addition: Apache 4.x commits again on a duplicate END_TRANSACTION or a late check answer).
 */
export function transactionKey(half: MessageRecord, props: Properties): string {
  return [props[Prop.PGROUP] ?? '', props[Prop.UNIQ_KEY] ?? '', half.bornTimestamp, formatSocketAddr(half.bornHost)].join('\u0000');
}

/** Where a re-appended copy was stored. */
export interface CopyLocation {
  queueOffset: number;
  commitLogOffset: number;
}

/**
 * AbstractTransactionalMessageCheckListener.sendCheckMessage + Broker2Client
 * .checkProducerTransactionState: a oneway CHECK_TRANSACTION_STATE whose offsets are the
 * re-appended copy's (what the producer must echo in END_TRANSACTION) and whose body is the
 * message in stored format with topic/queue restored from REAL_TOPIC / REAL_QID.
 */
export function checkTransactionStateRequest(half: MessageRecord, props: Properties, copy: CopyLocation, storeHost: SocketAddr): RemotingCommand {
  const offsetMsgId = createOffsetMsgId(storeHost, copy.commitLogOffset);
  const uniqKey = props[Prop.UNIQ_KEY];
  const realQid = Number(props[Prop.REAL_QID]);
  const body = encodeRecord({
    topic: props[Prop.REAL_TOPIC] ?? half.topic,
    queueId: Number.isInteger(realQid) && realQid >= 0 ? realQid : half.queueId,
    flag: half.flag,
    sysFlag: half.sysFlag,
    bornTimestamp: half.bornTimestamp,
    bornHost: half.bornHost,
    storeHost,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: half.preparedTransactionOffset,
    body: half.body,
    properties: encodeProperties(props),
    queueOffset: copy.queueOffset,
    commitLogOffset: copy.commitLogOffset,
    storeTimestamp: half.storeTimestamp,
  });
  const req = makeRequest(
    RequestCode.CHECK_TRANSACTION_STATE,
    {
      tranStateTableOffset: copy.queueOffset,
      commitLogOffset: copy.commitLogOffset,
      msgId: uniqKey,
      transactionId: uniqKey,
      offsetMsgId,
    },
    body,
  );
  req.flag = FLAG_ONEWAY;
  return req;
}
