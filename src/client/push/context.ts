/**
 * What the parts of a push consumer share: the queue table, the consume service's interface and
 * the consumer's state, as the facade (src/client/push-consumer.ts) hands them out. The parts
 * mirror DefaultMQPushConsumerImpl's collaborators in apache/rocketmq 4.9.8:
 *   rebalance.ts             RebalanceImpl / RebalancePushImpl (and MQClientInstance#resetOffset)
 *   pull-loop.ts             PullMessageService + DefaultMQPushConsumerImpl#pullMessage
 *   consume-concurrently.ts  ConsumeMessageConcurrentlyService  } behind ConsumeService
 *   consume-orderly.ts       ConsumeMessageOrderlyService       } (ConsumeMessageService)
 *   send-back.ts             DefaultMQPushConsumerImpl#sendMessageBack and its %RETRY% fallback
 *   lock.ts                  RebalanceImpl#lock / #unlock (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ)
 *   handler.ts               the listener types, the handler call, its trace hook
 *   stats.ts, options.ts     ConsumerStatsManager; DefaultMQPushConsumer's settings
 * None of them imports the facade, and none holds another's class: a part reaches rebalance, the
 * pull loop or the consume service only through this context, so their imports have no cycle.
 */
import { RocketError } from '../../errors/index.js';
import type { MessageQueue, SubscriptionData } from '../../protocol/bodies.js';
import type { ClientInstance } from '../client-instance.js';
import type { MessageExt } from '../message.js';
import type { OffsetStore } from '../offset-store.js';
import type { ProcessQueue } from '../process-queue.js';
import type { Producer } from '../producer.js';
import type { TraceDispatcher } from '../trace-dispatcher.js';
import type { HandlerInvoker } from './handler.js';
import type { PushConsumerOptions } from './options.js';
import type { ConsumerStats } from './stats.js';

/** One queue this consumer holds (Java: a PullRequest and its ProcessQueue). */
export interface QueueState {
  mq: MessageQueue;
  pq: ProcessQueue;
  nextOffset: number;
  suggestBrokerId: number;
  loop?: Promise<void>;
  /** Orderly: resolves when the queue's consume loop is not running. */
  idle: Promise<void>;
  /** Orderly: a handler of this queue is running right now (its lock must not be released). */
  handlerRunning: boolean;
}

/** Java ConsumeMessageService: how pulled messages reach the handler. */
export interface ConsumeService {
  /** The service's periodic task (cleanExpireMsg, or lockMQPeriodically when clustering). */
  start(): void;
  shutdown(): void;
  /** submitConsumeRequest: `msgs` were just put into st.pq, which answered `dispatchToConsume`. */
  submitConsumeRequest(st: QueueState, msgs: MessageExt[], dispatchToConsume: boolean): void;
  /** The queue's broker lock was taken again: consume what is waiting (orderly only). */
  onLocked(st: QueueState): void;
}

export interface PushContext {
  readonly group: string;
  readonly opts: PushConsumerOptions;
  readonly orderly: boolean;
  readonly clustering: boolean;
  /** Orderly and clustering: a queue is consumed only under a broker lock (LOCK_BATCH_MQ). */
  readonly usesQueueLocks: boolean;
  /** Throw before start: every part runs only once the consumer has started. */
  readonly instance: ClientInstance;
  readonly offsetStore: OffsetStore;
  readonly innerProducer: Producer | undefined;
  readonly tracer: TraceDispatcher | undefined;
  readonly subscriptions: ReadonlyMap<string, SubscriptionData>;
  /** Java processQueueTable, by mqKey. */
  readonly queues: Map<string, QueueState>;
  readonly stats: ConsumerStats;
  readonly handlers: HandlerInvoker;
  readonly consumeService: ConsumeService;
  /** The consumer's state is 'running' (not starting, closing or closed). */
  isRunning(): boolean;
  /** A sleep that close() cuts short. */
  sleep(ms: number): Promise<void>;
  /** Something went wrong in the background: logged and passed to opts.onError. */
  report(err: unknown, where: string): void;
  /** RebalanceService#wakeup: rebalance now; calls during a rebalance coalesce into one more round. */
  rebalanceSoon(): Promise<void>;
  /** RebalancePushImpl#dispatchPullRequest: start pulling a queue just taken. */
  dispatchPullRequest(st: QueueState): void;
}

export function describeMq(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}:${mq.queueId}`;
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new RocketError(`timed out after ${ms} ms`, { code: 'E_TIMEOUT' })), ms);
    }),
  ]);
}
