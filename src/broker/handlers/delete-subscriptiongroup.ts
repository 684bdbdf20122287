/**
 * DELETE_SUBSCRIPTIONGROUP (207), as AdminBrokerProcessor.deleteSubscriptionGroup: drop the group's config, and with `removeOffset=true` its committed offsets too. As in
 * Java, deleting a group that does not exist succeeds (callers that care ask 201 first), and a
 * default group (TOOLS_CONSUMER, ...) comes back on the next start.
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, Header, ok } from './util.js';

export function deleteSubscriptionGroup(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const group = h.str('groupName');
    const removeOffset = h.bool('removeOffset');
    try {
      await ctx.groupTable.delete(group, removeOffset);
    } catch (err) {
      return fail(req, ResponseCode.SYSTEM_ERROR, `deleting subscription group ${group}: ${errMessage(err)}`);
    }
    return ok(req);
  };
}
