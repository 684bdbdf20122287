/**
 * The broker's configuration, merged into the dispatch table by index.ts: GET_BROKER_CONFIG (what
 * checkNoLoss reads), UPDATE_BROKER_CONFIG and VIEW_BROKER_STATS_DATA (what metric exporters read), answered as Apache RocketMQ 4.9.8's
 * AdminBrokerProcessor does.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { getBrokerConfig } from './get-broker-config.js';
import { updateBrokerConfig } from './update-broker-config.js';
import { viewBrokerStatsData } from './view-broker-stats-data.js';

export const CHECK_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.GET_BROKER_CONFIG]: getBrokerConfig,
  [RequestCode.UPDATE_BROKER_CONFIG]: updateBrokerConfig,
  [RequestCode.VIEW_BROKER_STATS_DATA]: viewBrokerStatsData,
};
