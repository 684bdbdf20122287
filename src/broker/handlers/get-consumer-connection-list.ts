/**
 * GET_CONSUMER_CONNECTION_LIST (203), as AdminBrokerProcessor.getConsumerConnectionList: the group's live channels with the subscriptions and consume settings their heartbeats
 * carry. A group with no channel → CONSUMER_NOT_ONLINE "the consumer group[X] not online".
 */
import { encodeJson } from '../../protocol/bodies.js';
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok } from './util.js';

export function getConsumerConnectionList(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const group = new Header(req).str('consumerGroup');
    const g = ctx.clients.consumerGroup(group);
    const live = g ? [...g.channels.values()].filter((c) => c.channel.isOpen()) : [];
    if (!g || live.length === 0) return fail(req, ResponseCode.CONSUMER_NOT_ONLINE, `the consumer group[${group}] not online`);
    const subscriptionTable: Record<string, unknown> = {};
    for (const [topic, sub] of g.subscriptions) subscriptionTable[topic] = sub;
    return ok(
      req,
      undefined,
      encodeJson({
        connectionSet: live.map((c) => ({ clientAddr: c.channel.remoteAddress, clientId: c.clientId, language: c.language, version: c.version })),
        consumeFromWhere: g.consumeFromWhere,
        consumeType: g.consumeType,
        messageModel: g.messageModel,
        subscriptionTable,
      }),
    );
  };
}
