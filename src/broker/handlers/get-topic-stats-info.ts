/**
 * GET_TOPIC_STATS_INFO (202), as AdminBrokerProcessor.getTopicStatsInfo (4.9.8; fact sheet §2.11):
 * for write queues 0..writeQueueNums-1 of a topic, min offset (clamped to 0), max offset, and the
 * store time of the newest message (max - 1; 0 when the queue is empty). Unknown topic →
 * TOPIC_NOT_EXIST. Reads only: nothing is created.
 */
import { encodeTopicStatsTable, type TopicStatsTable } from '../../protocol/bodies.js';
import { ResponseCode } from '../../protocol/codes.js';
import { readInt64 } from '../../protocol/long.js';
import { storeTimestampPos } from '../../protocol/message.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, ok } from './util.js';

/** Enough for one record: the store returns at least one message whatever the limit. */
const ONE_RECORD_MAX_BYTES = 4 * 1024 * 1024;
/** Shortest record that still holds a STORETIMESTAMP (IPv6 born host included). */
const MIN_RECORD_BYTES = 80;

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

/** DefaultMessageStore.getMessageStoreTimeStamp: store time of the message at a queue offset; 0 when unreadable. */
export async function storeTimestampAt(ctx: BrokerContext, topic: string, queueId: number, offset: number): Promise<number> {
  if (offset < ctx.store.minOffset(topic, queueId)) return 0;
  const got = await ctx.store.get(topic, queueId, offset, 1, undefined, ONE_RECORD_MAX_BYTES);
  const rec = got.status === 'FOUND' ? got.records[0] : undefined;
  if (!rec || rec.length < MIN_RECORD_BYTES) return 0;
  return readInt64(rec, storeTimestampPos(rec.readInt32BE(36)));
}
