/**
 * SEND_BATCH_MESSAGE (320): a V2 header plus a body of encoded messages (MessageDecoder.encodeMessages
 * layout), stored contiguously in one queue. The batch's own properties (plus
 * CLUSTER) are appended to each inner message's, as MessageExtBatchEncoder does. Answered with the
 * comma-separated offsetMsgIds and the first queue offset.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer, type RemotingCommand } from '../../protocol/frame.js';
import { JavaPropertiesMap, Prop, PROPERTY_SEPARATOR } from '../../protocol/properties.js';
import { PutFlushTimeoutError } from '../store/message-store.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext, PutInput } from './context.js';
import {
  bornHostOf,
  checkAndRoute,
  isTransactionPrepared,
  multiTagsFlag,
  putFailureResponse,
  readSendHeaderV2,
} from './send-common.js';
import { sendResponse } from './send-message.js';
import { fail } from './util.js';
import { RETRY_GROUP_TOPIC_PREFIX } from '../../protocol/names.js';

/** Inner messages per batch: the body is bounded by the frame size, this bounds the loop anyway. */
const MAX_BATCH_MESSAGES = 10_000;

interface BatchItem {
  flag: number;
  body: Buffer;
  properties: string;
}

/** Decode `int32 totalSize | int32 magic | int32 bodyCRC | int32 flag | int32 bodyLen | body | int16 propsLen | props` repeated. */
function decodeBatchBody(buf: Buffer): BatchItem[] {
  const out: BatchItem[] = [];
  let p = 0;
  while (p < buf.length) {
    if (out.length >= MAX_BATCH_MESSAGES) throw new Error(`batch holds more than ${MAX_BATCH_MESSAGES} messages`);
    if (p + 20 > buf.length) throw new Error(`batch body truncated at byte ${p}`);
    const total = buf.readInt32BE(p);
    const flag = buf.readInt32BE(p + 12);
    const bodyLen = buf.readInt32BE(p + 16);
    const bodyStart = p + 20;
    if (bodyLen < 0 || bodyStart + bodyLen + 2 > buf.length) throw new Error(`batch message at byte ${p}: body overruns`);
    const body = buf.subarray(bodyStart, bodyStart + bodyLen);
    const propsLen = buf.readInt16BE(bodyStart + bodyLen);
    const propsStart = bodyStart + bodyLen + 2;
    if (propsLen < 0 || propsStart + propsLen > buf.length) throw new Error(`batch message at byte ${p}: properties overrun`);
    const end = propsStart + propsLen;
    if (total !== end - p) throw new Error(`batch message at byte ${p}: size ${total} does not match its fields (${end - p})`);
    out.push({ flag, body, properties: buf.toString('utf8', propsStart, end) });
    p = end;
  }
  return out;
}

/**
 * The batch's own properties as SendMessageProcessor.asyncSendBatchMessage keeps them: the header's
 * (the Java client's MessageBatch carries WAIT there) plus CLUSTER; nothing removed.
 */
function batchProperties(ctx: BrokerContext, raw: string | undefined): JavaPropertiesMap {
  return JavaPropertiesMap.parse(raw ?? '').set(Prop.CLUSTER, ctx.config.brokerClusterName);
}

/**
 * One stored message of a batch: its own properties exactly as sent, then the batch's, joined by one
 * separator unless the first already ends with one (CommitLog.MessageExtBatchEncoder, 4.9.8). Names
 * in both appear twice, as in Apache's record; readers take the last.
 */
function withBatchProperties(own: string, batch: string): string {
  if (own === '' || batch === '') return own + batch;
  return own.endsWith(PROPERTY_SEPARATOR) ? own + batch : own + PROPERTY_SEPARATOR + batch;
}

export function sendBatchMessage(ctx: BrokerContext): RequestHandler {
  return async (req, channel): Promise<RemotingCommand> => {
    const h = readSendHeaderV2(req);
    if (h.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) {
      return fail(req, ResponseCode.MESSAGE_ILLEGAL, `batch request does not support retry group ${h.topic}`);
    }
    const target = await checkAndRoute(ctx, req, h);
    if ('code' in target) return target;
    const batchProps = batchProperties(ctx, h.properties);
    if (isTransactionPrepared(batchProps, h.sysFlag) || batchProps.get(Prop.DELAY)) {
      return fail(req, ResponseCode.MESSAGE_ILLEGAL, 'batch messages cannot be transactional or delayed');
    }
    let items: BatchItem[];
    try {
      items = decodeBatchBody(bodyBuffer(req));
    } catch (err) {
      return fail(req, ResponseCode.MESSAGE_ILLEGAL, `bad batch body: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (items.length === 0) return fail(req, ResponseCode.MESSAGE_ILLEGAL, 'the batch is empty');
    const bornHost = bornHostOf(channel);
    const batchText = batchProps.toString();
    const inputs: PutInput[] = items.map((m) => {
      return {
        topic: target.topic,
        queueId: target.queueId,
        flag: m.flag,
        sysFlag: multiTagsFlag(target.topicConfig, h.sysFlag),
        bornTimestamp: h.bornTimestamp,
        bornHost,
        body: m.body,
        properties: withBatchProperties(m.properties, batchText),
        reconsumeTimes: h.reconsumeTimes,
        preparedTransactionOffset: 0,
      };
    });
    const tracer = ctx.tracer;
    const startMs = tracer ? Date.now() : 0;
    try {
      const rs = await ctx.store.putBatch(inputs);
      if (tracer) for (const [i, m] of inputs.entries()) tracer.onStored(m, rs[i], h.producerGroup, channel.remoteAddress, Date.now() - startMs);
      return sendResponse(ctx, req, ResponseCode.SUCCESS, rs.map((r) => r.offsetMsgId).join(','), target.queueId, rs[0]!.queueOffset);
    } catch (err) {
      const rs = err instanceof PutFlushTimeoutError ? err.results : [];
      if (tracer) for (const [i, m] of inputs.entries()) tracer.onStored(m, rs[i], h.producerGroup, channel.remoteAddress, Date.now() - startMs);
      if (rs.length > 0) return sendResponse(ctx, req, ResponseCode.FLUSH_DISK_TIMEOUT, rs.map((r) => r.offsetMsgId).join(','), target.queueId, rs[0]!.queueOffset, (err as Error).message);
      return putFailureResponse(req, err);
    }
  };
}
