/**
 * Handlers for cluster, broker, topic and group administration (admin "part A"), merged into the
 * broker's dispatch table by index.ts. Each code answers as Apache RocketMQ 4.9.8's
 * AdminBrokerProcessor does, so mqadmin and rocketctl both work against this broker.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { deleteSubscriptionGroup } from './delete-subscriptiongroup.js';
import { getAllSubscriptionGroupConfig } from './get-all-subscriptiongroup-config.js';
import { getBrokerRuntimeInfo } from './get-broker-runtime-info.js';
import { getConsumerConnectionList } from './get-consumer-connection-list.js';
import { getProducerConnectionList } from './get-producer-connection-list.js';
import { getTopicStatsInfo } from './get-topic-stats-info.js';

export const ADMIN_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.GET_TOPIC_STATS_INFO]: getTopicStatsInfo,
  [RequestCode.GET_CONSUMER_CONNECTION_LIST]: getConsumerConnectionList,
  [RequestCode.GET_PRODUCER_CONNECTION_LIST]: getProducerConnectionList,
  [RequestCode.GET_BROKER_RUNTIME_INFO]: getBrokerRuntimeInfo,
  [RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG]: getAllSubscriptionGroupConfig,
  [RequestCode.DELETE_SUBSCRIPTIONGROUP]: deleteSubscriptionGroup,
};
