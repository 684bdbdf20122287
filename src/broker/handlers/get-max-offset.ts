/** GET_MAX_OFFSET (30): the next offset to be written in a queue (0 for a queue that does not exist). */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function getMaxOffset(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const h = new Header(req);
    return ok(req, { offset: ctx.store.maxOffset(h.str('topic'), h.int('queueId')) });
  };
}
