/**
 * QUERY_CONSUMER_OFFSET (14), as ConsumerManageProcessor.queryConsumerOffset: the
 * stored offset; for a group that never committed one, 0 while the queue still starts at 0 and its
 * first message is not far behind (so a new CONSUME_FROM_LAST_OFFSET group on a young broker reads
 * from the start, as with Java), else QUERY_NOT_FOUND (the client then asks GET_MAX_OFFSET).
 * RocketMQ 5.x's `setZeroIfNotFound=false` (sent by admin tools, ours included) turns that 0 rule
 * off: "none" is then always QUERY_NOT_FOUND, so tools can tell it from a committed 0.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { makeResponse } from '../../protocol/frame.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function queryConsumerOffset(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const group = h.str('consumerGroup');
    const topic = h.str('topic');
    const queueId = h.int('queueId');
    const offset = ctx.queryOffset(group, topic, queueId);
    if (offset >= 0) return ok(req, { offset });
    const minOffset = ctx.store.minOffset(topic, queueId);
    const zeroIfNotFound = h.bool('setZeroIfNotFound', true);
    if (zeroIfNotFound && minOffset <= 0 && !(await ctx.store.isFarBehind(topic, queueId, 0))) return ok(req, { offset: 0 });
    return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, 'Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first');
  };
}
