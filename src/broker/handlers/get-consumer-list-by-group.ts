/**
 * GET_CONSUMER_LIST_BY_GROUP (38), as ConsumerManageProcessor.getConsumerListByGroup: the client ids
 * of the group's live channels (a client that heartbeated is always in its own answer, which it
 * needs to be allocated queues); SYSTEM_ERROR when nobody is online.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok } from './util.js';

export function getConsumerListByGroup(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const group = new Header(req).str('consumerGroup');
    const ids = ctx.clients.consumerIds(group);
    if (ids.length === 0) return fail(req, ResponseCode.SYSTEM_ERROR, `no consumer for this group, ${group}`);
    return ok(req, undefined, encodeJson({ consumerIdList: ids }));
  };
}
