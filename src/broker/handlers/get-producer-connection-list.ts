/**
 * GET_PRODUCER_CONNECTION_LIST (204), as AdminBrokerProcessor.getProducerConnectionList: the producer group's live channels. None → SYSTEM_ERROR
 * "the producer group[X] not exist" (Java's wording; it means "no producer connected").
 */
import { encodeJson } from '../../protocol/bodies.js';
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok } from './util.js';

export function getProducerConnectionList(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const group = new Header(req).str('producerGroup');
    const live = ctx.clients.producerGroup(group).filter((c) => c.channel.isOpen());
    if (live.length === 0) return fail(req, ResponseCode.SYSTEM_ERROR, `the producer group[${group}] not exist`);
    return ok(
      req,
      undefined,
      encodeJson({ connectionSet: live.map((c) => ({ clientAddr: c.channel.remoteAddress, clientId: c.clientId, language: c.language, version: c.version })) }),
    );
  };
}
