/**
 * Built-in topics and groups (apache/rocketmq TopicConfigManager's constructor,
 * common/topic/TopicValidator.java, common/MixAll.java).
 */
import type { TopicConfig } from '../../../protocol/bodies.js';
import { RMQ_SYS_TRACE_TOPIC, REPLY_TOPIC_POSTFIX, OFFSET_MOVED_EVENT, BENCHMARK_TOPIC, AUTO_CREATE_TOPIC_KEY_TOPIC, SCHEDULE_TOPIC, SELF_TEST_TOPIC } from '../../../protocol/names.js';
import { PERM_INHERIT, PERM_READ, PERM_WRITE, defaultTopicConfig } from './topic-config.js';

/** Delay levels of messageDelayLevel's default: SCHEDULE_TOPIC_XXXX has one queue per level. */
const SCHEDULE_TOPIC_QUEUE_NUMS = 18;

interface SystemTopicOptions {
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

