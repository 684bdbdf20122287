/**
 * QUERY_TOPIC_CONSUME_BY_WHO (300), as AdminBrokerProcessor.queryTopicConsumeByWho: the groups online now that subscribe to the topic, plus every group with a committed
 * offset for it (offline groups included). Body GroupList {"groupList":[...]}.
 */
import { encodeJson } from '../../protocol/bodies.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { Header, ok } from './util.js';

export function queryTopicConsumeByWho(ctx: BrokerContext): RequestHandler {
  return (req) => {
    const topic = new Header(req).str('topic');
    const groups = new Set<string>();
    for (const g of ctx.clients.consumerGroups()) if (g.subscriptions.has(topic)) groups.add(g.groupName);
    for (const g of ctx.offsetIndex.groupsOfTopic(topic)) groups.add(g);
    return ok(req, undefined, encodeJson({ groupList: [...groups].sort() }));
  };
}
