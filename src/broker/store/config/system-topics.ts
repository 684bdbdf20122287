/**
 * Built-in topics and groups (fact sheet §6.8; apache/rocketmq TopicConfigManager's constructor,
 * common/topic/TopicValidator.java, common/MixAll.java).
 */
import type { TopicConfig } from '../../../protocol/bodies.js';
import { SCHEDULE_TOPIC, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC } from '../types.js';
import { PERM_INHERIT, PERM_READ, PERM_WRITE, defaultTopicConfig } from './topic-config.js';

export const SELF_TEST_TOPIC = 'SELF_TEST_TOPIC';
/** The auto-create template topic (TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC). */
export const AUTO_CREATE_TOPIC_KEY_TOPIC = 'TBW102';
export const BENCHMARK_TOPIC = 'BenchmarkTest';
export const OFFSET_MOVED_EVENT = 'OFFSET_MOVED_EVENT';
export const RMQ_SYS_TRACE_TOPIC = 'RMQ_SYS_TRACE_TOPIC';
export const TRANS_CHECK_MAX_TIME_TOPIC = 'TRANS_CHECK_MAX_TIME_TOPIC';
export const REPLY_TOPIC_POSTFIX = '_REPLY_TOPIC';
export const SYSTEM_TOPIC_PREFIX = 'rmq_sys_';
/** Delay levels of messageDelayLevel's default: SCHEDULE_TOPIC_XXXX has one queue per level. */
export const SCHEDULE_TOPIC_QUEUE_NUMS = 18;

export interface SystemTopicOptions {
  /** Creates TBW102 (the auto-create template). Default true. */
  autoCreateTopicEnable?: boolean;
  /** TBW102's queue count. Default 8. */
  defaultTopicQueueNums?: number;
  /** The cluster-name topic gets R/W on top of INHERIT. Default true. */
  clusterTopicEnable?: boolean;
  /** The broker-name topic gets R/W on top of INHERIT. Default true. */
  brokerTopicEnable?: boolean;
  /** Creates the trace topic. Default false. */
  traceTopicEnable?: boolean;
  /** Default RMQ_SYS_TRACE_TOPIC. */
  msgTraceTopicName?: string;
}

function topic(name: string, queueNums: number, perm: number): TopicConfig {
  return { ...defaultTopicConfig(name, queueNums), perm };
}

/** The topics TopicConfigManager creates at broker start, in the order Java adds them. */
export function systemTopicConfigs(clusterName: string, brokerName: string, opts: SystemTopicOptions = {}): TopicConfig[] {
  const rw = PERM_READ | PERM_WRITE;
  const out: TopicConfig[] = [topic(SELF_TEST_TOPIC, 1, rw)];
  if (opts.autoCreateTopicEnable ?? true) {
    out.push(topic(AUTO_CREATE_TOPIC_KEY_TOPIC, opts.defaultTopicQueueNums ?? 8, PERM_INHERIT | rw));
  }
  out.push(topic(BENCHMARK_TOPIC, 1024, rw));
  out.push(topic(clusterName, 16, PERM_INHERIT | ((opts.clusterTopicEnable ?? true) ? rw : 0)));
  out.push(topic(brokerName, 1, PERM_INHERIT | ((opts.brokerTopicEnable ?? true) ? rw : 0)));
  out.push(topic(OFFSET_MOVED_EVENT, 1, rw));
  // Always 18 queues (TopicConfigManager.SCHEDULE_TOPIC_QUEUE_NUM), whatever messageDelayLevel says.
  out.push(topic(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUMS, rw));
  if (opts.traceTopicEnable ?? false) out.push(topic(opts.msgTraceTopicName ?? RMQ_SYS_TRACE_TOPIC, 1, rw));
  out.push(topic(clusterName + REPLY_TOPIC_POSTFIX, 1, rw));
  return out;
}

/** TopicValidator's system topic set (before the broker adds its cluster/broker-name topics). */
export const SYSTEM_TOPICS: ReadonlySet<string> = new Set([
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
 * TopicValidator.isSystemTopic: the set above, anything starting with `rmq_sys_`, and this
 * broker's own cluster/broker-name/reply topics when given.
 */
export function isSystemTopic(name: string, broker: { clusterName?: string; brokerName?: string } = {}): boolean {
  if (SYSTEM_TOPICS.has(name) || name.startsWith(SYSTEM_TOPIC_PREFIX)) return true;
  if (broker.clusterName !== undefined && (name === broker.clusterName || name === broker.clusterName + REPLY_TOPIC_POSTFIX)) return true;
  return broker.brokerName !== undefined && name === broker.brokerName;
}

export const TOOLS_CONSUMER_GROUP = 'TOOLS_CONSUMER';
export const FILTERSRV_CONSUMER_GROUP = 'FILTERSRV_CONSUMER';
export const SELF_TEST_CONSUMER_GROUP = 'SELF_TEST_C_GROUP';
export const CID_RMQ_SYS_PREFIX = 'CID_RMQ_SYS_';

/** Well-known groups (MixAll, §6.8). */
export const SYSTEM_GROUPS: ReadonlySet<string> = new Set([
  'DEFAULT_PRODUCER',
  'DEFAULT_CONSUMER',
  TOOLS_CONSUMER_GROUP,
  'SCHEDULE_CONSUMER',
  FILTERSRV_CONSUMER_GROUP,
  '__MONITOR_CONSUMER',
  'CLIENT_INNER_PRODUCER',
  'SELF_TEST_P_GROUP',
  SELF_TEST_CONSUMER_GROUP,
  'CID_RMQ_SYS_TRANS',
]);

/** A system group: one of the above or prefixed `CID_RMQ_SYS_` (MixAll.isSysConsumerGroup). */
export function isSystemGroup(group: string): boolean {
  return SYSTEM_GROUPS.has(group) || group.startsWith(CID_RMQ_SYS_PREFIX);
}
