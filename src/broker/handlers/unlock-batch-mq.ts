/** UNLOCK_BATCH_MQ (42): release this client's locks on the given queues (often sent oneway). */
import { ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer } from '../../protocol/frame.js';
import { decodeLockBatchRequestBody, type LockBatchRequestBody } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, ok } from './util.js';

export function unlockBatchMq(ctx: BrokerContext): RequestHandler {
  return (req) => {
    let body: LockBatchRequestBody;
    try {
      body = decodeLockBatchRequestBody(bodyBuffer(req));
    } catch (err) {
      return fail(req, ResponseCode.SYSTEM_ERROR, `bad LockBatchRequestBody: ${errMessage(err)}`);
    }
    ctx.clients.lockManager.unlockBatch(body.consumerGroup, body.mqSet, body.clientId);
    return ok(req);
  };
}
