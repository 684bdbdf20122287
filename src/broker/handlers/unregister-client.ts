/**
 * UNREGISTER_CLIENT (35), as ClientManageProcessor.unregisterClient: a client leaving a producer
 * and/or consumer group (one of each per call); the consumer group's peers are told to rebalance.
 */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function unregisterClient(ctx: BrokerContext): RequestHandler {
  return (req, channel) => {
    const h = new Header(req);
    const clientId = h.str('clientID');
    const producerGroup = h.optStr('producerGroup');
    const consumerGroup = h.optStr('consumerGroup');
    if (producerGroup) ctx.clients.unregisterProducer(producerGroup, clientId, channel);
    if (consumerGroup) ctx.clients.unregisterConsumer(consumerGroup, clientId, channel);
    return ok(req);
  };
}
