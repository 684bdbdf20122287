/**
 * RocketMQ's well-known topic and group names, defined once for the broker, the client and the
 * admin layer (apache/rocketmq common/topic/TopicValidator.java, common/MixAll.java,
 * broker/subscription/SubscriptionGroupManager#init).
 */

// ---- topics ---------------------------------------------------------------------------------

/** MixAll.RETRY_GROUP_TOPIC_PREFIX: `%RETRY%<group>` holds a group's messages to redeliver. */
export const RETRY_GROUP_TOPIC_PREFIX = '%RETRY%';
/** MixAll.DLQ_GROUP_TOPIC_PREFIX: `%DLQ%<group>` holds what a group gave up on. */
export const DLQ_GROUP_TOPIC_PREFIX = '%DLQ%';
/** The auto-create template topic (TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC). */
export const AUTO_CREATE_TOPIC_KEY_TOPIC = 'TBW102';
/** Delayed messages wait here, one queue per delay level (TopicValidator.RMQ_SYS_SCHEDULE_TOPIC). */
export const SCHEDULE_TOPIC = 'SCHEDULE_TOPIC_XXXX';
/** Transaction half messages and their op records (TopicValidator.RMQ_SYS_TRANS_HALF_TOPIC / _OP_HALF_TOPIC). */
export const TRANS_HALF_TOPIC = 'RMQ_SYS_TRANS_HALF_TOPIC';
export const TRANS_OP_HALF_TOPIC = 'RMQ_SYS_TRANS_OP_HALF_TOPIC';
export const TRANS_CHECK_MAX_TIME_TOPIC = 'TRANS_CHECK_MAX_TIME_TOPIC';
/** The default message trace topic (TopicValidator.RMQ_SYS_TRACE_TOPIC). */
export const RMQ_SYS_TRACE_TOPIC = 'RMQ_SYS_TRACE_TOPIC';
export const SELF_TEST_TOPIC = 'SELF_TEST_TOPIC';
export const BENCHMARK_TOPIC = 'BenchmarkTest';
export const OFFSET_MOVED_EVENT = 'OFFSET_MOVED_EVENT';
export const REPLY_TOPIC_POSTFIX = '_REPLY_TOPIC';
const SYSTEM_TOPIC_PREFIX = 'rmq_sys_';

/** TopicValidator's system topic set (a broker adds its own cluster- and broker-name topics). */
const SYSTEM_TOPICS: ReadonlySet<string> = new Set([
  AUTO_CREATE_TOPIC_KEY_TOPIC,
  SCHEDULE_TOPIC,
  BENCHMARK_TOPIC,
  TRANS_HALF_TOPIC,
  TRANS_OP_HALF_TOPIC,
  TRANS_CHECK_MAX_TIME_TOPIC,
  RMQ_SYS_TRACE_TOPIC,
  OFFSET_MOVED_EVENT,
  SELF_TEST_TOPIC,
]);

/** Topics clients may not send to (TopicValidator.isNotAllowedSendTopic). */
export const NOT_ALLOWED_SEND_TOPICS: ReadonlySet<string> = new Set([
  SCHEDULE_TOPIC,
  TRANS_HALF_TOPIC,
  TRANS_OP_HALF_TOPIC,
  TRANS_CHECK_MAX_TIME_TOPIC,
  SELF_TEST_TOPIC,
  OFFSET_MOVED_EVENT,
]);

/**
 * TopicValidator.isSystemTopic: the set above, anything starting with `rmq_sys_`, and a broker's
 * own cluster/broker-name/reply topics when given.
 */
export function isSystemTopic(name: string, broker: { clusterName?: string; brokerName?: string } = {}): boolean {
  if (SYSTEM_TOPICS.has(name) || name.startsWith(SYSTEM_TOPIC_PREFIX)) return true;
  if (broker.clusterName !== undefined && (name === broker.clusterName || name === broker.clusterName + REPLY_TOPIC_POSTFIX)) return true;
  return broker.brokerName !== undefined && name === broker.brokerName;
}

/** A group's retry or dead-letter topic (its backlog belongs to the group, not to an application topic). */
export function isRetryOrDlqTopic(name: string): boolean {
  return name.startsWith(RETRY_GROUP_TOPIC_PREFIX) || name.startsWith(DLQ_GROUP_TOPIC_PREFIX);
}

export function retryTopic(group: string): string {
  return RETRY_GROUP_TOPIC_PREFIX + group;
}

export function dlqTopic(group: string): string {
  return DLQ_GROUP_TOPIC_PREFIX + group;
}

// ---- groups ---------------------------------------------------------------------------------

/** MixAll.TOOLS_CONSUMER_GROUP: admin tools pull as this group (it exists on every broker). */
export const TOOLS_CONSUMER_GROUP = 'TOOLS_CONSUMER';
const FILTERSRV_CONSUMER_GROUP = 'FILTERSRV_CONSUMER';
const SELF_TEST_CONSUMER_GROUP = 'SELF_TEST_C_GROUP';
/** MixAll.CLIENT_INNER_PRODUCER_GROUP: the producer a client uses to send messages back. */
export const CLIENT_INNER_PRODUCER_GROUP = 'CLIENT_INNER_PRODUCER';
/** The group the broker's transaction check-back runs as (TransactionalMessageUtil.buildConsumerGroup). */
export const CID_RMQ_SYS_TRANS = 'CID_RMQ_SYS_TRANS';
const CID_RMQ_SYS_PREFIX = 'CID_RMQ_SYS_';

/** MixAll's well-known groups. */
export const SYSTEM_GROUPS: ReadonlySet<string> = new Set([
  'DEFAULT_PRODUCER',
  'DEFAULT_CONSUMER',
  TOOLS_CONSUMER_GROUP,
  'SCHEDULE_CONSUMER',
  FILTERSRV_CONSUMER_GROUP,
  '__MONITOR_CONSUMER',
  CLIENT_INNER_PRODUCER_GROUP,
  'SELF_TEST_P_GROUP',
  SELF_TEST_CONSUMER_GROUP,
  CID_RMQ_SYS_TRANS,
]);

/** A system group: one of the above or prefixed `CID_RMQ_SYS_` (MixAll.isSysConsumerGroup). */
export function isSystemGroup(group: string): boolean {
  return SYSTEM_GROUPS.has(group) || group.startsWith(CID_RMQ_SYS_PREFIX);
}

/** Groups SubscriptionGroupManager#init always has: present even when its file lacks them. */
export const DEFAULT_SUBSCRIPTION_GROUPS: readonly string[] = [
  TOOLS_CONSUMER_GROUP,
  FILTERSRV_CONSUMER_GROUP,
  SELF_TEST_CONSUMER_GROUP,
  'CID_ONS-HTTP-PROXY',
  'CID_ONSAPI_PULL',
  'CID_ONSAPI_PERMISSION',
  'CID_ONSAPI_OWNER',
];

const DEFAULT_SUBSCRIPTION_GROUP_SET: ReadonlySet<string> = new Set(DEFAULT_SUBSCRIPTION_GROUPS);

/** A group a broker creates or uses itself, not an application's: skipped when listing groups. */
export function isBuiltInGroup(group: string): boolean {
  return DEFAULT_SUBSCRIPTION_GROUP_SET.has(group) || isSystemGroup(group);
}
