/**
 * INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223), as Broker2Client.getConsumeStatus: ask each online consumer of the group (or only `clientAddr`, a client id) for its
 * in-memory offsets of `topic` (GET_CONSUMER_STATUS_FROM_CLIENT, 5 s each, all at once) and answer
 * {"consumerTable":{clientId:{<MessageQueue>:offset}},"messageQueueTable":{}}. A client that fails
 * or times out is left out, as Java does.
 */
import { ResponseCode, RequestCode } from '../../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../protocol/frame.js';
import { FjMap, messageQueueEntries, messageQueueMap, parseFastjson } from '../../protocol/fastjson.js';
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, Header, ok } from './util.js';

/** Broker2Client waits this long for each client (invokeSync 5000). */
const CONSUMER_STATUS_TIMEOUT_MS = 5_000;

export function invokeBrokerToGetConsumerStatus(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const topic = h.str('topic');
    const group = h.str('group');
    const only = h.optStr('clientAddr');
    const channels = [...(ctx.clients.consumerGroup(group)?.channels.values() ?? [])].filter((c) => c.channel.isOpen());
    if (channels.length === 0) return fail(req, ResponseCode.SYSTEM_ERROR, `No Any Consumer online in the consumer group: [${group}]`);
    const asked = channels.filter((c) => only === undefined || c.clientId === only);
    const answers = await Promise.all(
      asked.map(async (info) => {
        try {
          const res = await info.channel.invoke(makeRequest(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, { topic, group }), CONSUMER_STATUS_TIMEOUT_MS);
          if (res.code !== ResponseCode.SUCCESS || !res.body) return undefined;
          const o = parseFastjson(bodyBuffer(res).toString('utf8')) as Record<string, unknown>;
          return [info.clientId, messageQueueEntries<number>(o?.messageQueueTable)] as const;
        } catch (err) {
          ctx.logger.warn(`[get-consumer-status] ${info.clientId} of ${group}: ${errMessage(err)}`);
          return undefined;
        }
      }),
    );
    const consumerTable: Record<string, FjMap> = {};
    for (const a of answers) if (a) consumerTable[a[0]] = messageQueueMap(a[1].map(([mq, o]) => [mq, Number(o)]));
    return ok(req, undefined, encodeJson({ consumerTable, messageQueueTable: new FjMap([]) }));
  };
}
