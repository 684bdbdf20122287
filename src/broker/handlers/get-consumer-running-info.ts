/**
 * GET_CONSUMER_RUNNING_INFO (307), as AdminBrokerProcessor.getConsumerRunningInfo: relay the request — same code, extFields and body — to the client's channel and answer
 * with the client's response as it is. Client not connected → SYSTEM_ERROR; no answer within
 * 10 s → CONSUME_MSG_TIMEOUT.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import { TimeoutError } from '../../errors/index.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, Header } from './util.js';

/** Broker2Client.callClient timeout for relayed admin requests. */
const RELAY_TIMEOUT_MS = 10_000;

export function getConsumerRunningInfo(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const group = h.str('consumerGroup');
    const clientId = h.str('clientId');
    const info = [...(ctx.clients.consumerGroup(group)?.channels.values() ?? [])].find((c) => c.clientId === clientId && c.channel.isOpen());
    if (!info) return fail(req, ResponseCode.SYSTEM_ERROR, `The Consumer <${group}> <${clientId}> not online`);
    const relayed: RemotingCommand = { ...req, opaque: 0, flag: 0 };
    try {
      const res = await info.channel.invoke(relayed, RELAY_TIMEOUT_MS);
      return makeResponse(req, res.code, res.remark, res.extFields, res.body);
    } catch (err) {
      if (err instanceof TimeoutError) return fail(req, ResponseCode.CONSUME_MSG_TIMEOUT, `consumer <${group}> <${clientId}> Timeout: ${errMessage(err)}`);
      return fail(req, ResponseCode.SYSTEM_ERROR, `invoke consumer <${group}> <${clientId}> Exception: ${errMessage(err)}`);
    }
  };
}
