/**
 * GET_TOPIC_STATS_INFO (202), as AdminBrokerProcessor.getTopicStatsInfo (4.9.8):
 * for write queues 0..writeQueueNums-1 of a topic, min offset (clamped to 0), max offset, and the
 * store time of the newest message (max - 1; 0 when the queue is empty). Unknown topic →
 * TOPIC_NOT_EXIST. Reads only: nothing is created.
 */
import { encodeTopicStatsTable, type TopicStatsTable } from '../../protocol/bodies.js';
import { ResponseCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok, storeTimestampAt } from './util.js';


export function getTopicStatsInfo(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const topic = new Header(req).str('topic');
    const tc = ctx.topicConfig(topic);
    if (!tc) return fail(req, ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist`);
    const table: TopicStatsTable = { offsetTable: [] };
    // Bounded by writeQueueNums (at most MAX_QUEUE_NUMS, checked when the topic was created).
    for (let queueId = 0; queueId < tc.writeQueueNums; queueId++) {
      const minOffset = Math.max(0, ctx.store.minOffset(topic, queueId));
      const maxOffset = Math.max(0, ctx.store.maxOffset(topic, queueId));
      const lastUpdateTimestamp = maxOffset > 0 ? await storeTimestampAt(ctx, topic, queueId, maxOffset - 1) : 0;
      table.offsetTable.push([{ topic, brokerName: ctx.config.brokerName, queueId }, { minOffset, maxOffset, lastUpdateTimestamp }]);
    }
    return ok(req, undefined, encodeTopicStatsTable(table));
  };
}

