/**
 * What a push consumer can be configured with, and the defaults (DefaultMQPushConsumer's fields at
 * 4.9.8 where it has them).
 */
import { UsageError } from '../../errors/index.js';
import type { ConsumeFromWhere, MessageModel } from '../../protocol/bodies.js';
import type { AllocateStrategy } from '../allocate.js';
import type { ClientOptions } from '../client-instance.js';

/** DefaultMQPushConsumer's defaults. */
export const DEFAULT_PULL_BATCH_SIZE = 32;
export const DEFAULT_PULL_THRESHOLD_FOR_QUEUE = 1000;
export const DEFAULT_PULL_THRESHOLD_SIZE_FOR_QUEUE_MIB = 100;
export const DEFAULT_CONSUME_CONCURRENCY = 20;
export const DEFAULT_PERSIST_CONSUMER_OFFSET_INTERVAL_MS = 5_000;
export const DEFAULT_REBALANCE_INTERVAL_MS = 20_000;
export const DEFAULT_LOCK_INTERVAL_MS = 20_000;
export const DEFAULT_SUSPEND_CURRENT_QUEUE_TIME_MS = 1_000;
export const DEFAULT_PULL_TIME_DELAY_MS_WHEN_EXCEPTION = 3_000;
export const DEFAULT_CONSUME_TIMEOUT_MS = 15 * 60 * 1000;

export interface PushConsumerOptions extends ClientOptions {
  consumerGroup: string;
  messageModel?: MessageModel;
  consumeFromWhere?: ConsumeFromWhere;
  /** CONSUME_FROM_TIMESTAMP: ms since the epoch, or yyyyMMddHHmmss (default now − 30 min). */
  consumeTimestamp?: number | string;
  /** Orderly: one message at a time per queue, in queue order, under a broker lock. */
  orderly?: boolean;
  consumeConcurrency?: number;
  pullBatchSize?: number;
  pullThresholdForQueue?: number;
  pullThresholdSizeForQueueMiB?: number;
  pullIntervalMs?: number;
  /** Concurrent: -1 = 16. Orderly: -1 = unlimited local retries. */
  maxReconsumeTimes?: number;
  suspendCurrentQueueTimeMs?: number;
  persistConsumerOffsetIntervalMs?: number;
  rebalanceIntervalMs?: number;
  lockIntervalMs?: number;
  pullTimeDelayMsWhenException?: number;
  /** Send the subscription with every pull (Java default false: the broker uses the heartbeat's). */
  postSubscriptionWhenPull?: boolean;
  /** On close, wait this long for running handlers (their messages are committed if they finish). */
  awaitTerminationMsWhenShutdown?: number;
  /** A handler running longer than this has its message sent back and the queue moves on. */
  consumeTimeoutMs?: number;
  /** Broadcasting: directory of the local offset files. */
  offsetStoreDir?: string;
  allocateStrategy?: AllocateStrategy;
  /** Things that went wrong in the background (pull, rebalance, send-back...). */
  onError?: (err: unknown, where: string) => void;
  /**
   * Java's enableMsgTrace: a SubBefore and a SubAfter trace record per message handled, written
   * to the trace topic in the background (src/client/trace-dispatcher.ts).
   */
  enableMsgTrace?: boolean;
  /** Java's customizedTraceTopic (default RMQ_SYS_TRACE_TOPIC). */
  customizedTraceTopic?: string;
}

/** yyyyMMddHHmmss (local time) or ms → ms. */
export function parseConsumeTimestamp(v: number | string | undefined, nowMs = Date.now()): number {
  if (v === undefined) return nowMs - 30 * 60 * 1000;
  if (typeof v === 'number') return v;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(v);
  if (!m) throw new UsageError(`consumeTimestamp must be yyyyMMddHHmmss, got ${v}`);
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
}
