/**
 * The rocketctl client library: producers (with an outbox fallback), a transactional producer,
 * push consumers (concurrent and orderly, clustering and broadcasting) and a pull consumer for
 * tools, for any broker speaking RocketMQ 4.x remoting.
 */
export { ClientInstance, ClientClosedError, ClientStateError, buildClientId, isConnectivityError, isUnavailableError, NoRouteError, type ClientOptions, type ClientLogger, type TopicPublishInfo } from './client-instance.js';
export { CLIENT_INNER_PRODUCER_GROUP, AUTO_CREATE_TOPIC_KEY_TOPIC } from '../protocol/names.js';
export {
  Producer,
  selectMessageQueueByHash,
  DEFAULT_SEND_MSG_TIMEOUT_MS,
  DEFAULT_RETRY_TIMES_WHEN_SEND_FAILED,
  type ProducerOptions,
  type SendOptions,
  type SendResult,
  type SendStatus,
  type QueueSelector,
  type OutboxEvent,
  type PreparedMessage,
} from './producer.js';
export {
  TransactionProducer,
  TransactionType,
  type TransactionProducerOptions,
  type TransactionSendResult,
  type LocalTransactionState,
  type LocalTransactionExecutor,
  type TransactionChecker,
  type HalfMessage,
} from './transaction-producer.js';
export {
  PushConsumer,
  parseConsumeTimestamp,
  type PushConsumerOptions,
  type MessageHandler,
  type ConsumeContext,
  type ConsumeStatus,
} from './push-consumer.js';
export { PullConsumer, type PullConsumerOptions, type PullResult, type PullStatus, type PullOptions, type ReadRangeOptions } from './pull-consumer.js';
export { TOOLS_CONSUMER_GROUP } from '../protocol/names.js';
export { type Message, type MessageExt, MessageIllegalError, decodeMessages, toMessageExt, compressBody, inflateBody, userProperties } from './message.js';
export { retryTopic, dlqTopic, RETRY_GROUP_TOPIC_PREFIX, DLQ_GROUP_TOPIC_PREFIX } from '../protocol/names.js';
export { Outbox, OutboxSender, OutboxLockedError, OutboxFullError, type OutboxEntry, type OutboxRecovery } from './outbox.js';
export { allocateAveragely, sortMessageQueues, compareMessageQueues, type AllocateStrategy } from './allocate.js';
export { createUniqId, parseUniqId, uniqIdNearlyTimeMs, UniqIdGenerator } from '../protocol/uniq-id.js';
export { buildSubscriptionData, parseTagExpression, matchesSubscription, InvalidSubscriptionError } from './tag-expression.js';
export { RemoteBrokerOffsetStore, LocalFileOffsetStore, type OffsetStore, type ReadOffsetType } from './offset-store.js';
export { ProcessQueue } from './process-queue.js';
export type { MessageQueue } from '../protocol/bodies.js';
export type { Credentials } from '../protocol/acl-sign.js';
export { readCredentialsFile, resolveCredentials } from './credentials.js';
export { TraceDispatcher } from './trace-dispatcher.js';
export { traceTopicOf, type TraceDispatcherOptions, type TraceStats } from './trace-batcher.js';
