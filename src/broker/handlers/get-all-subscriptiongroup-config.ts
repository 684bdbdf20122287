/**
 * GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), as AdminBrokerProcessor.getAllSubscriptionGroup: body {"dataVersion":{...},"subscriptionGroupTable":{group: SubscriptionGroupConfig}}.
 */
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

export function getAllSubscriptionGroupConfig(ctx: BrokerContext): RequestHandler {
  return (req) => ok(req, undefined, encodeJson(ctx.groupTable.wrapper()));
}
