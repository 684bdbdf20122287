/**
 * DELETE_TOPIC_IN_BROKER (215), as AdminBrokerProcessor.deleteTopic: drop the topic's config, consume
 * queues and offsets (its records stay in the commit log until it rolls away). System topics are
 * refused: deleting TBW102 or SCHEDULE_TOPIC_XXXX would break the broker.
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, Header, ok } from './util.js';

export function deleteTopicInBroker(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const topic = new Header(req).str('topic');
    if (ctx.isSystemTopic(topic)) return fail(req, ResponseCode.SYSTEM_ERROR, `The topic[${topic}] is conflict with system topic.`);
    try {
      await ctx.deleteTopic(topic);
    } catch (err) {
      // Either nothing changed, or (the message says so) only the offsets could not be removed.
      return fail(req, ResponseCode.SYSTEM_ERROR, `deleting topic ${topic}: ${errMessage(err)}`);
    }
    return ok(req);
  };
}
