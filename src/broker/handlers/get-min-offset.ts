/** GET_MIN_OFFSET (31): the smallest readable offset of a queue (0 when it does not exist, as Java, which creates it). */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function getMinOffset(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const h = new Header(req);
    return ok(req, { offset: Math.max(0, ctx.store.minOffset(h.str('topic'), h.int('queueId'))) });
  };
}
