/** GET_ALL_TOPIC_CONFIG (21): TopicConfigSerializeWrapper {dataVersion, topicConfigTable}. */
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

export function getAllTopicConfig(ctx: BrokerContext): RequestHandler {
  return (req) => ok(req, undefined, encodeJson(ctx.topicConfigWrapper()));
}
