/**
 * UPDATE_AND_CREATE_TOPIC (17), as AdminBrokerProcessor.updateAndCreateTopic:
 * validate the name, refuse system topics, store the config, and re-register with the name servers
 * at once so routes reflect it.
 */
import { ResponseCode } from '../../protocol/codes.js';
import type { TopicConfig } from '../../protocol/bodies.js';
import { topicNameProblem } from '../../protocol/validate.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { fail, Header, notSaved, ok } from './util.js';

/** Queues per topic we accept (each queue is a directory of files; BenchmarkTest, the largest system topic, has 1024). */
const MAX_QUEUE_NUMS = 1024;

export function updateAndCreateTopic(ctx: BrokerContext): RequestHandler {
  return async (req) => {
    const h = new Header(req);
    const topic = h.str('topic');
    const why = topicNameProblem(topic);
    if (why) return fail(req, ResponseCode.SYSTEM_ERROR, `The specified topic[${topic}] is not valid: ${why}`);
    if (ctx.isSystemTopic(topic)) return fail(req, ResponseCode.SYSTEM_ERROR, `The topic[${topic}] is conflict with system topic.`);
    const readQueueNums = h.int('readQueueNums');
    const writeQueueNums = h.int('writeQueueNums');
    for (const [name, n] of [['readQueueNums', readQueueNums], ['writeQueueNums', writeQueueNums]] as const) {
      if (n < 0 || n > MAX_QUEUE_NUMS) return fail(req, ResponseCode.SYSTEM_ERROR, `${name} ${n} is out of range 0..${MAX_QUEUE_NUMS}`);
    }
    const perm = h.int('perm');
    if (perm < 0 || perm > 15) return fail(req, ResponseCode.SYSTEM_ERROR, `perm ${perm} is not a PermName bit set`);
    const filter = h.optStr('topicFilterType') ?? 'SINGLE_TAG';
    if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') return fail(req, ResponseCode.SYSTEM_ERROR, `topicFilterType ${filter} is not SINGLE_TAG or MULTI_TAG`);
    const tc: TopicConfig = {
      topicName: topic,
      readQueueNums,
      writeQueueNums,
      perm,
      topicFilterType: filter,
      topicSysFlag: h.optInt('topicSysFlag', 0),
      order: h.bool('order'),
    };
    try {
      await ctx.updateTopicConfig(tc);
    } catch (err) {
      return notSaved(req, `topic ${topic}`, err);
    }
    return ok(req);
  };
}
