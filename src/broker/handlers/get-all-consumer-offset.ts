/**
 * GET_ALL_CONSUMER_OFFSET (43), as AdminBrokerProcessor#getAllConsumerOffset (4.9.8): the body is
 * ConsumerOffsetSerializeWrapper ({"offsetTable":{"topic@group":{queueId:offset}}}). A slave reads
 * it from its master (SlaveSynchronize#syncConsumerOffset).
 */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

export function getAllConsumerOffset(ctx: BrokerContext): RequestHandler {
  return (req) => ok(req, undefined, Buffer.from(ctx.consumerOffsetsBody(), 'utf8'));
}
