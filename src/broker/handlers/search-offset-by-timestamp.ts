/** SEARCH_OFFSET_BY_TIMESTAMP (29): the offset whose store time is closest to `timestamp` (apache/rocketmq ConsumerManageProcessor). */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function searchOffsetByTimestamp(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    return ok(req, { offset: await ctx.store.offsetByTime(h.str('topic'), h.int('queueId'), h.timeMs('timestamp')) });
  };
}
