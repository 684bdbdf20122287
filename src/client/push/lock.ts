/**
 * Broker-side queue locks of orderly clustering consumers (Java RebalanceImpl#lock / #unlock over
 * MQClientAPIImpl#lockBatchMQ / #unlockBatchMQ): one LOCK_BATCH_MQ / UNLOCK_BATCH_MQ per broker.
 */
import { RemoteError } from '../../errors/index.js';
import { encodeJson, type MessageQueue } from '../../protocol/bodies.js';
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { parseFastjson } from '../../protocol/fastjson.js';
import { bodyBuffer, makeRequest } from '../../protocol/frame.js';
import { mqKey } from '../allocate.js';
import type { PushContext } from './context.js';

/** UNLOCK_BATCH_MQ is best effort (the broker expires a lock after 60 s anyway): wait this long at most. */
const UNLOCK_TIMEOUT_MS = 3_000;

/** LOCK_BATCH_MQ per broker; returns the keys of the queues now locked by us. */
export async function lockQueues(ctx: PushContext, mqs: MessageQueue[]): Promise<Set<string>> {
  const { instance } = ctx;
  const ok = new Set<string>();
  for (const [brokerName, group] of groupByBroker(mqs)) {
    const addr = await instance.brokerAddrForQueue(group[0]!);
    const body = encodeJson({ consumerGroup: ctx.group, clientId: instance.clientId, mqSet: group });
    const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.LOCK_BATCH_MQ, undefined, body));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_LOCK_FAILED');
    const v = res.body ? (parseFastjson(bodyBuffer(res).toString('utf8')) as { lockOKMQSet?: unknown[] }) : {};
    for (const m of v.lockOKMQSet ?? []) {
      const x = m as MessageQueue;
      ok.add(mqKey({ topic: String(x.topic), brokerName: String(x.brokerName ?? brokerName), queueId: Number(x.queueId) }));
    }
  }
  return ok;
}

/** Lock one queue; false when another member holds it or the broker could not be asked. */
export async function lockQueue(ctx: PushContext, mq: MessageQueue): Promise<boolean> {
  const locked = await lockQueues(ctx, [mq]).catch(() => new Set<string>());
  return locked.has(mqKey(mq));
}

export async function unlockQueues(ctx: PushContext, mqs: MessageQueue[]): Promise<void> {
  const { instance } = ctx;
  for (const [, group] of groupByBroker(mqs)) {
    const addr = await instance.brokerAddrForQueue(group[0]!);
    const body = encodeJson({ consumerGroup: ctx.group, clientId: instance.clientId, mqSet: group });
    await instance.remoting.invoke(addr, makeRequest(RequestCode.UNLOCK_BATCH_MQ, undefined, body), UNLOCK_TIMEOUT_MS).catch(() => undefined);
  }
}

function groupByBroker(mqs: MessageQueue[]): Map<string, MessageQueue[]> {
  const out = new Map<string, MessageQueue[]>();
  for (const mq of mqs) {
    const g = out.get(mq.brokerName) ?? [];
    g.push({ topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId });
    out.set(mq.brokerName, g);
  }
  return out;
}
