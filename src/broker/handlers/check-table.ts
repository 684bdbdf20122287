/**
 * The broker's configuration, merged into the dispatch table by index.ts: GET_BROKER_CONFIG (what
 * checkNoLoss reads) and UPDATE_BROKER_CONFIG, answered as Apache RocketMQ 4.9.8's
 * AdminBrokerProcessor does.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { getBrokerConfig } from './get-broker-config.js';
import { updateBrokerConfig } from './update-broker-config.js';

export const CHECK_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.GET_BROKER_CONFIG]: getBrokerConfig,
  [RequestCode.UPDATE_BROKER_CONFIG]: updateBrokerConfig,
};
