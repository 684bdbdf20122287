/**
 * GET_ALL_DELAY_OFFSET (45), as AdminBrokerProcessor#getAllDelayOffset (4.9.8): the body is
 * ScheduleMessageService#encode(), DelayOffsetSerializeWrapper compact ({"offsetTable":{1:12}}).
 * An Apache slave asks its master for it every 10 s (SlaveSynchronize#syncDelayOffset), so an
 * Apache member of a DLedger group led by one of ours asks us.
 */
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { ok } from './util.js';

export function getAllDelayOffset(ctx: BrokerContext): RequestHandler {
  return (req) => ok(req, undefined, Buffer.from(ctx.delayOffsetsBody(), 'utf8'));
}
