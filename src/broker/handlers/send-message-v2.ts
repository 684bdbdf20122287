/**
 * SEND_MESSAGE_V2 (310), what Java clients and ali-ons send by default: the V1 fields under the
 * keys a..n (SendMessageRequestHeaderV2), handled exactly as SEND_MESSAGE.
 */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { readSendHeaderV2 } from './send-common.js';
import { sendOne } from './send-message.js';

export function sendMessageV2(ctx: BrokerContext): RequestHandler {
  return (req, channel) => sendOne(ctx, req, channel, readSendHeaderV2(req));
}
