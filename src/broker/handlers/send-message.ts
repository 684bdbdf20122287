/**
 * SEND_MESSAGE (10): the V1 header (full field names). SEND_MESSAGE_V2 maps its one-letter header
 * to the same fields and calls `sendOne` too (SendMessageProcessor.sendMessage).
 */
import { ResponseCode } from '../../protocol/codes.js';
import { Prop } from '../../protocol/properties.js';
import { bodyBuffer, makeResponse, type RemotingCommand } from '../../protocol/frame.js';
import type { RequestHandler, ClientChannel } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { applyDelayLevel } from './delay.js';
import {
  bornHostOf,
  buildInput,
  checkAndRoute,
  isTransactionPrepared,
  putFailureResponse,
  readSendHeaderV1,
  storedProperties,
  type SendHeader,
} from './send-common.js';
import { fail } from './util.js';
import { PutFlushTimeoutError } from '../store/message-store.js';

export function sendMessage(ctx: BrokerContext): RequestHandler {
  return (req, channel) => sendOne(ctx, req, channel, readSendHeaderV1(req));
}

export async function sendOne(ctx: BrokerContext, req: RemotingCommand, channel: ClientChannel, h: SendHeader): Promise<RemotingCommand> {
  if (h.batch) return fail(req, ResponseCode.MESSAGE_ILLEGAL, 'batch messages must be sent with SEND_BATCH_MESSAGE (320)');
  const routed = checkAndRoute(ctx, req, h);
  const target = routed instanceof Promise ? await routed : routed;
  if ('code' in target) return target;
  const props = storedProperties(ctx, h.properties);
  // SendMessageProcessor: TRAN_MSG=true is stored as a half message, or refused.
  const prepared = isTransactionPrepared(props, h.sysFlag);
  const tx = prepared ? ctx.transactions : undefined;
  if (prepared && (!tx || ctx.config.rejectTransactionMessage)) {
    return fail(req, ResponseCode.NO_PERMISSION, `the broker[${ctx.config.brokerName}] sending transaction message is forbidden`);
  }
  const input = buildInput(target, h, props.text, bodyBuffer(req), bornHostOf(channel));
  // Without DELAY in the stored string applyDelayLevel changes nothing: spare building the map.
  if (!tx && props.get(Prop.DELAY) !== undefined) applyDelayLevel(input, ctx.delayLevelCount, props.map);
  const tracer = ctx.tracer;
  const startMs = tracer ? Date.now() : 0;
  try {
    const r = await (tx ? tx.prepare(input, props.map) : ctx.store.put(input));
    tracer?.onStored(input, r, h.producerGroup, channel.remoteAddress, Date.now() - startMs);
    return sendResponse(ctx, req, ResponseCode.SUCCESS, r.offsetMsgId, target.queueId, r.queueOffset);
  } catch (err) {
    // SYNC_FLUSH timed out but the message is stored: FLUSH_DISK_TIMEOUT with the header filled.
    const stored = err instanceof PutFlushTimeoutError ? err.results[0] : undefined;
    tracer?.onStored(input, stored, h.producerGroup, channel.remoteAddress, Date.now() - startMs);
    if (stored) return sendResponse(ctx, req, ResponseCode.FLUSH_DISK_TIMEOUT, stored.offsetMsgId, target.queueId, stored.queueOffset, (err as Error).message);
    return putFailureResponse(req, err);
  }
}

/**
 * SendMessageResponseHeader: msgId (offsetMsgId), queueId, queueOffset; plus MSG_REGION and TRACE_ON,
 * which Java clients read from extFields unconditionally.
 */
export function sendResponse(
  ctx: BrokerContext,
  req: RemotingCommand,
  code: number,
  msgId: string,
  queueId: number,
  queueOffset: number,
  remark?: string,
): RemotingCommand {
  return makeResponse(req, code, remark, {
    msgId,
    queueId,
    queueOffset,
    MSG_REGION: ctx.config.regionId,
    TRACE_ON: String(ctx.config.traceOn),
  });
}
