/**
 * VIEW_BROKER_STATS_DATA (315), as AdminBrokerProcessor#ViewBrokerStatsData (4.9.8): the statistic
 * `statsName` of `statsKey` (TOPIC_PUT_NUMS / TOPIC_PUT_SIZE: a topic; GROUP_GET_NUMS:
 * `topic@group`), answered as BrokerStatsData JSON; a statistic never counted is SYSTEM_ERROR
 * "The stats <name> <key> not exist", as Java. This is what rocketmq-exporter reads for its
 * rocketmq_producer_tps / rocketmq_consumer_tps, and so does `rocketctl exporter`.
 *
 * Only `statsMinute` is sent (sum and tps over the last minute; avgpt 0): BrokerStats keeps no
 * hour or day windows, and a made-up value would read as a measurement.
 */
import { ResponseCode } from '../../protocol/codes.js';
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, fail, ok } from './util.js';

export function viewBrokerStatsData(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const h = new Header(req);
    const name = h.str('statsName');
    const key = h.str('statsKey');
    const m = ctx.stats.minute(name, key);
    if (!m) return fail(req, ResponseCode.SYSTEM_ERROR, `The stats <${name}> <${key}> not exist`);
    return ok(req, undefined, encodeJson({ statsMinute: { sum: m.sum, tps: m.tps, avgpt: 0 } }));
  };
}
