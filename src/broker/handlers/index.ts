/**
 * The broker's dispatch table: one handler per request code (one file each). Codes not listed are
 * answered REQUEST_CODE_NOT_SUPPORTED by RemotingServer. The fast ("VIP") port, listenPort - 2,
 * gets the same table minus PULL_MESSAGE, as NettyRemotingServer's fastRemotingServer.
 */
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { makeResponse } from '../../protocol/frame.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext } from './context.js';
import { consumerSendMsgBack } from './consumer-send-msg-back.js';
import { deleteTopicInBroker } from './delete-topic-in-broker.js';
import { deleteExpiredCommitLog } from './delete-expired-commitlog.js';
import { endTransaction } from './end-transaction.js';
import { getAllConsumerOffset } from './get-all-consumer-offset.js';
import { getAllDelayOffset } from './get-all-delay-offset.js';
import { getAllTopicConfig } from './get-all-topic-config.js';
import { getConsumerListByGroup } from './get-consumer-list-by-group.js';
import { getEarliestMsgStoretime } from './get-earliest-msg-storetime.js';
import { getMaxOffset } from './get-max-offset.js';
import { getMinOffset } from './get-min-offset.js';
import { heartBeat } from './heart-beat.js';
import { lockBatchMq } from './lock-batch-mq.js';
import { pullMessage } from './pull-message.js';
import { queryConsumerOffset } from './query-consumer-offset.js';
import { queryMessage } from './query-message.js';
import { searchOffsetByTimestamp } from './search-offset-by-timestamp.js';
import { sendBatchMessage } from './send-batch-message.js';
import { sendMessage } from './send-message.js';
import { sendMessageV2 } from './send-message-v2.js';
import { unlockBatchMq } from './unlock-batch-mq.js';
import { unregisterClient } from './unregister-client.js';
import { updateAndCreateSubscriptionGroup } from './update-and-create-subscriptiongroup.js';
import { updateAndCreateTopic } from './update-and-create-topic.js';
import { updateConsumerOffset } from './update-consumer-offset.js';
import { viewMessageById } from './view-message-by-id.js';
import { queryAuditLog } from './query-audit-log.js';
import { audited } from '../audit/audited.js';
import { deleteSubscriptionGroup } from './delete-subscriptiongroup.js';
import { getAllSubscriptionGroupConfig } from './get-all-subscriptiongroup-config.js';
import { getBrokerRuntimeInfo } from './get-broker-runtime-info.js';
import { getConsumerConnectionList } from './get-consumer-connection-list.js';
import { getProducerConnectionList } from './get-producer-connection-list.js';
import { getTopicStatsInfo } from './get-topic-stats-info.js';
import { getConsumeStats } from './get-consume-stats.js';
import { getConsumerRunningInfo } from './get-consumer-running-info.js';
import { invokeBrokerToGetConsumerStatus } from './invoke-broker-to-get-consumer-status.js';
import { invokeBrokerToResetOffset } from './invoke-broker-to-reset-offset.js';
import { queryTopicConsumeByWho } from './query-topic-consume-by-who.js';
import { getBrokerConfig } from './get-broker-config.js';
import { updateBrokerConfig } from './update-broker-config.js';
import { viewBrokerStatsData } from './view-broker-stats-data.js';
import { deleteAclConfig } from './delete-acl-config.js';
import { getBrokerClusterAclInfo } from './get-broker-cluster-acl-info.js';
import { updateAndCreateAclConfig } from './update-and-create-acl-config.js';
import { updateGlobalWhiteAddrsConfig } from './update-global-white-addrs-config.js';

/** One literal: a request code listed twice is a compile error (TS1117), not a silent override. */
const TABLE: Record<number, (ctx: BrokerContext) => RequestHandler> = {
  [RequestCode.SEND_MESSAGE]: sendMessage,
  [RequestCode.SEND_MESSAGE_V2]: sendMessageV2,
  [RequestCode.SEND_BATCH_MESSAGE]: sendBatchMessage,
  [RequestCode.PULL_MESSAGE]: pullMessage,
  [RequestCode.HEART_BEAT]: heartBeat,
  [RequestCode.UNREGISTER_CLIENT]: unregisterClient,
  [RequestCode.GET_CONSUMER_LIST_BY_GROUP]: getConsumerListByGroup,
  [RequestCode.QUERY_CONSUMER_OFFSET]: queryConsumerOffset,
  [RequestCode.UPDATE_CONSUMER_OFFSET]: updateConsumerOffset,
  [RequestCode.GET_MAX_OFFSET]: getMaxOffset,
  [RequestCode.GET_MIN_OFFSET]: getMinOffset,
  [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP]: searchOffsetByTimestamp,
  [RequestCode.GET_EARLIEST_MSG_STORETIME]: getEarliestMsgStoretime,
  [RequestCode.UPDATE_AND_CREATE_TOPIC]: updateAndCreateTopic,
  [RequestCode.DELETE_TOPIC_IN_BROKER]: deleteTopicInBroker,
  [RequestCode.DELETE_EXPIRED_COMMITLOG]: deleteExpiredCommitLog,
  [RequestCode.GET_ALL_TOPIC_CONFIG]: getAllTopicConfig,
  [RequestCode.GET_ALL_CONSUMER_OFFSET]: getAllConsumerOffset,
  [RequestCode.GET_ALL_DELAY_OFFSET]: getAllDelayOffset,
  [RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP]: updateAndCreateSubscriptionGroup,
  [RequestCode.QUERY_MESSAGE]: queryMessage,
  [RequestCode.VIEW_MESSAGE_BY_ID]: viewMessageById,
  [RequestCode.CONSUMER_SEND_MSG_BACK]: consumerSendMsgBack,
  [RequestCode.LOCK_BATCH_MQ]: lockBatchMq,
  [RequestCode.UNLOCK_BATCH_MQ]: unlockBatchMq,
  [RequestCode.END_TRANSACTION]: endTransaction,
  // rocketctl's own: the audit log of admin changes (README "Audit").
  [RequestCode.ROCKETCTL_QUERY_AUDIT_LOG]: queryAuditLog,
  // Topic, broker and group administration (AdminBrokerProcessor).
  [RequestCode.GET_TOPIC_STATS_INFO]: getTopicStatsInfo,
  [RequestCode.GET_CONSUMER_CONNECTION_LIST]: getConsumerConnectionList,
  [RequestCode.GET_PRODUCER_CONNECTION_LIST]: getProducerConnectionList,
  [RequestCode.GET_BROKER_RUNTIME_INFO]: getBrokerRuntimeInfo,
  [RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG]: getAllSubscriptionGroupConfig,
  [RequestCode.DELETE_SUBSCRIPTIONGROUP]: deleteSubscriptionGroup,
  // Backlog and offsets: consume stats, resets, client introspection.
  [RequestCode.GET_CONSUME_STATS]: getConsumeStats,
  [RequestCode.QUERY_TOPIC_CONSUME_BY_WHO]: queryTopicConsumeByWho,
  [RequestCode.INVOKE_BROKER_TO_RESET_OFFSET]: invokeBrokerToResetOffset,
  [RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS]: invokeBrokerToGetConsumerStatus,
  [RequestCode.GET_CONSUMER_RUNNING_INFO]: getConsumerRunningInfo,
  // What the checks read.
  [RequestCode.GET_BROKER_CONFIG]: getBrokerConfig,
  [RequestCode.UPDATE_BROKER_CONFIG]: updateBrokerConfig,
  [RequestCode.VIEW_BROKER_STATS_DATA]: viewBrokerStatsData,
  // The ACL admin codes (without aclEnable=true they answer their *_FAILED code saying so).
  [RequestCode.UPDATE_AND_CREATE_ACL_CONFIG]: updateAndCreateAclConfig,
  [RequestCode.DELETE_ACL_CONFIG]: deleteAclConfig,
  [RequestCode.GET_BROKER_CLUSTER_ACL_INFO]: getBrokerClusterAclInfo,
  [RequestCode.UPDATE_GLOBAL_WHITE_ADDRS_CONFIG]: updateGlobalWhiteAddrsConfig,
};

interface HandlerTableOptions {
  /** The fast port serves everything but PULL_MESSAGE. */
  fast?: boolean;
  /** False while starting or shutting down: requests are refused with SYSTEM_BUSY, never left unanswered. */
  accepting: () => boolean;
}

export function buildHandlerTable(ctx: BrokerContext, opts: HandlerTableOptions): Record<number, RequestHandler> {
  const out: Record<number, RequestHandler> = {};
  for (const [code, make] of Object.entries(TABLE)) {
    if (opts.fast && Number(code) === RequestCode.PULL_MESSAGE) continue;
    const handler = audited(ctx, Number(code), make(ctx));
    // As SendMessageProcessor's startAcceptSendRequestTimeStamp check: not serving yet → SYSTEM_BUSY.
    out[Number(code)] = (req, channel) =>
      opts.accepting() ? handler(req, channel) : makeResponse(req, ResponseCode.SYSTEM_BUSY, '[REJECTREQUEST]broker is starting or shutting down, try again later');
  }
  return out;
}

/** The request codes the broker serves (for docs and tests). */
export const HANDLED_CODES: readonly number[] = Object.keys(TABLE).map(Number);
