/**
 * LOCK_BATCH_MQ (41), as AdminBrokerProcessor.lockBatchMQ for orderly consumers:
 * lock the queues that are free (or already this client's), answer the set now held.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer } from '../../protocol/frame.js';
import { decodeLockBatchRequestBody, encodeJson, type LockBatchRequestBody } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, ok } from './util.js';

export function lockBatchMq(ctx: BrokerContext): RequestHandler {
  return (req) => {
    let body: LockBatchRequestBody;
    try {
      body = decodeLockBatchRequestBody(bodyBuffer(req));
    } catch (err) {
      return fail(req, ResponseCode.SYSTEM_ERROR, `bad LockBatchRequestBody: ${errMessage(err)}`);
    }
    const locked = ctx.clients.lockManager.tryLockBatch(body.consumerGroup, body.mqSet, body.clientId);
    return ok(req, undefined, encodeJson({ lockOKMQSet: locked.map((mq) => ({ brokerName: mq.brokerName, queueId: mq.queueId, topic: mq.topic })) }));
  };
}
