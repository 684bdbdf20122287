/**
 * GET_CONSUME_STATS (208), as AdminBrokerProcessor.getConsumeStats (4.9.8): for
 * the given topic, or every topic the group has committed offsets for, one OffsetWrapper per read
 * queue: brokerOffset = max offset, consumerOffset = committed offset (0 when none — Java clamps
 * -1 to 0, so callers that must tell "none" from 0 ask QUERY_CONSUMER_OFFSET), lastTimestamp =
 * store time of the message at consumerOffset - 1. An online group's topics it no longer
 * subscribes to are skipped, as Java does. consumeTps is the sum over those topics of the
 * messages per second the group pulled in the last minute (BrokerStatsManager.tpsGroupGetNums).
 *
 * Reading stats changes nothing: no offset, no counter, no subscription group is created.
 */
import { encodeConsumeStats, type ConsumeStats, type OffsetWrapper } from '../../protocol/bodies.js';
import type { MessageQueue } from '../../protocol/fastjson.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok, storeTimestampAt } from './util.js';
import { RESET_OFFSET_TABLE_CAPABILITY } from './invoke-broker-to-reset-offset.js';

/** Bytes enough to read one record's store timestamp (a record header, not its body). */
const ONE_RECORD_MAX_BYTES = 4 * 1024 * 1024;

export function getConsumeStats(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const group = h.str('consumerGroup');
    const topic = h.optStr('topic');
    const topics = topic !== undefined ? [topic] : ctx.offsetIndex.topicsOfGroup(group);
    const online = ctx.clients.consumerGroup(group);
    const stats: ConsumeStats = { consumeTps: 0, offsetTable: [] };
    for (const t of topics) {
      const tc = ctx.topicConfig(t);
      if (!tc) continue;
      // As Java: an online group that no longer subscribes to `t` does not report it.
      if (online && online.subscriptions.size > 0 && !online.subscriptions.has(t)) continue;
      stats.consumeTps += ctx.stats.groupGetTps(group, t);
      for (let q = 0; q < tc.readQueueNums; q++) {
        const mq: MessageQueue = { topic: t, brokerName: ctx.config.brokerName, queueId: q };
        stats.offsetTable.push([mq, await offsetWrapper(ctx, group, t, q)]);
      }
    }
    // Java answers no header; the extra field tells rocketctl this broker takes exact reset tables.
    return ok(req, { [RESET_OFFSET_TABLE_CAPABILITY]: true }, encodeConsumeStats(stats));
  };
}

async function offsetWrapper(ctx: BrokerContext, group: string, topic: string, queueId: number): Promise<OffsetWrapper> {
  const brokerOffset = Math.max(0, ctx.store.maxOffset(topic, queueId));
  const consumerOffset = Math.max(0, ctx.queryOffset(group, topic, queueId));
  const w: OffsetWrapper = { brokerOffset, consumerOffset, lastTimestamp: 0 };
  if (consumerOffset - 1 >= 0) w.lastTimestamp = await storeTimestampAt(ctx, topic, queueId, consumerOffset - 1);
  return w;
}


