/**
 * Handlers for consumer progress, offset reset and client introspection (admin "part B"), merged
 * into the broker's dispatch table by index.ts.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { getConsumeStats } from './get-consume-stats.js';
import { getConsumerRunningInfo } from './get-consumer-running-info.js';
import { invokeBrokerToGetConsumerStatus } from './invoke-broker-to-get-consumer-status.js';
import { invokeBrokerToResetOffset } from './invoke-broker-to-reset-offset.js';
import { queryTopicConsumeByWho } from './query-topic-consume-by-who.js';

export const PROGRESS_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.GET_CONSUME_STATS]: getConsumeStats,
  [RequestCode.QUERY_TOPIC_CONSUME_BY_WHO]: queryTopicConsumeByWho,
  [RequestCode.INVOKE_BROKER_TO_RESET_OFFSET]: invokeBrokerToResetOffset,
  [RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS]: invokeBrokerToGetConsumerStatus,
  [RequestCode.GET_CONSUMER_RUNNING_INFO]: getConsumerRunningInfo,
};
