/**
 * HEART_BEAT (34), as ClientManageProcessor.heartBeat: for each consumer group,
 * find or auto-create its subscription group, create `%RETRY%<group>` (so the name server has a
 * route for it after the first heartbeat), and register the channel and subscriptions (which
 * notifies the group's consumers when they changed); register producer groups. The response
 * carries version 409: clients read the broker version from it.
 */
import { Perm, ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer } from '../../protocol/frame.js';
import { decodeHeartbeatData, type HeartbeatData } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { errMessage, fail, ok } from './util.js';
import { retryTopic } from '../../protocol/names.js';

export function heartBeat(ctx: BrokerContext): RequestHandler {
  return async (req, channel) => {
    let data: HeartbeatData;
    try {
      data = decodeHeartbeatData(bodyBuffer(req));
    } catch (err) {
      return fail(req, ResponseCode.SYSTEM_ERROR, `bad heartbeat body: ${errMessage(err)}`);
    }
    if (!data.clientID) return fail(req, ResponseCode.SYSTEM_ERROR, 'heartbeat without clientID');
    const consumers = data.consumerDataSet.filter((c) => c.groupName);
    // The retry topics of all groups at once: each is on disk before it exists, and created
    // together they share topics.json writes (one heartbeat may carry a thousand new groups).
    await Promise.all(
      consumers.map((consumer) => {
        const groupCfg = ctx.findSubscriptionGroup(consumer.groupName);
        if (!groupCfg) return undefined;
        const sysFlag = consumer.unitMode ? 1 : 0;
        return ctx.createTopicInSendMessageBackMethod(retryTopic(consumer.groupName), groupCfg.retryQueueNums, Perm.READ | Perm.WRITE, sysFlag);
      }),
    );
    for (const consumer of consumers) ctx.clients.registerConsumer(channel, data.clientID, consumer);
    for (const producer of data.producerDataSet) {
      if (producer.groupName) ctx.clients.registerProducer(channel, data.clientID, producer.groupName);
    }
    return ok(req);
  };
}
