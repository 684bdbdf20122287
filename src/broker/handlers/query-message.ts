/**
 * QUERY_MESSAGE (12), as QueryMessageProcessor: messages of `topic` indexed under
 * `key` (KEYS or UNIQ_KEY) stored within [beginTimestamp, endTimestamp]. Unique-key queries use
 * defaultQueryMaxNum; every query is capped at maxMsgsNumBatch.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { makeResponse } from '../../protocol/frame.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header } from './util.js';

export function queryMessage(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const topic = h.str('topic');
    const key = h.str('key');
    let maxNum = h.int('maxNum');
    if (h.bool('_UNIQUE_KEY_QUERY')) maxNum = ctx.config.defaultQueryMaxNum;
    maxNum = Math.max(1, Math.min(maxNum, ctx.config.maxMsgsNumBatch));
    const r = await ctx.store.query(topic, key, maxNum, h.timeMs('beginTimestamp'), h.timeMs('endTimestamp'));
    const header = { indexLastUpdateTimestamp: r.indexLastUpdateTimestamp, indexLastUpdatePhyoffset: r.indexLastUpdatePhyoffset };
    if (r.records.length === 0) {
      return makeResponse(req, ResponseCode.QUERY_NOT_FOUND, 'can not find message, maybe time range not correct', header);
    }
    return makeResponse(req, ResponseCode.SUCCESS, undefined, header, r.records);
  };
}
