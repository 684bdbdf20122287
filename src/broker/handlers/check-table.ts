/**
 * Handlers that checks (checkNoLoss) need from the broker, merged into the dispatch table by
 * index.ts: GET_BROKER_CONFIG, answered as Apache RocketMQ 4.9.8's AdminBrokerProcessor does.
 */
import { RequestCode } from '../../protocol/codes.js';
import type { RequestHandler } from '../server.js';
import type { BrokerContext } from './context.js';
import { getBrokerConfig } from './get-broker-config.js';

export const CHECK_TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.GET_BROKER_CONFIG]: getBrokerConfig,
};
