/**
 * VIEW_MESSAGE_BY_ID (33): the stored record at a commit log offset (decoded by the client from an
 * offsetMsgId), as QueryMessageProcessor.viewMessageById.
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok } from './util.js';

export function viewMessageById(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const offset = new Header(req).int('offset');
    const rec = await ctx.store.readRecord(offset);
    if (!rec) return fail(req, ResponseCode.SYSTEM_ERROR, `can not find message by the offset, ${offset}`);
    return ok(req, undefined, rec);
  };
}
