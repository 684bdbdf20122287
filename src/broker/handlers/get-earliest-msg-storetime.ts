/** GET_EARLIEST_MSG_STORETIME (32): store time of the message at the queue's min offset, -1 if none. */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function getEarliestMsgStoretime(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    return ok(req, { timestamp: await ctx.store.earliestTime(h.str('topic'), h.int('queueId')) });
  };
}
