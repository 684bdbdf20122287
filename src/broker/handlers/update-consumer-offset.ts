/**
 * UPDATE_CONSUMER_OFFSET (15), usually oneway every 5 s from each consumer, as
 * ConsumerManageProcessor.updateConsumerOffset. Negative offsets (ali-ons sends -1 for "nothing
 * consumed yet") are not stored: they would erase a real offset.
 */
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function updateConsumerOffset(ctx: BrokerContext): RequestHandler {
  return (req, channel) => {
    const h = new Header(req);
    ctx.commitOffset(channel.remoteAddress, h.str('consumerGroup'), h.str('topic'), h.int('queueId'), h.int('commitOffset'));
    return ok(req);
  };
}
