/**
 * The push consumer (Java DefaultMQPushConsumer): subscribes topics with TAG expressions, splits
 * the queues of its group with the other members (AllocateMessageQueueAveragely, on
 * NOTIFY_CONSUMER_IDS_CHANGED and every 20 s), long-polls each of its queues, and hands messages
 * to a handler, concurrently (at most `consumeConcurrency` at once) or orderly (one at a time
 * per queue, under a broker lock, LOCK_BATCH_MQ).
 *
 * The offset rules that keep messages from being lost:
 *   - a queue's committed offset is the smallest offset still in flight (ProcessQueue), so a
 *     message is only committed past when its handler returned successfully;
 *   - a failed message goes back to the broker (CONSUMER_SEND_MSG_BACK → %RETRY%<group>), or, if
 *     that fails, is re-sent to %RETRY%<group> by the consumer itself, or, if that fails too, stays
 *     in flight and is consumed again locally: in every case its offset is not passed until the
 *     broker holds a copy;
 *   - a queue taken away (rebalance, reset, close) stops committing at once: a handler that finishes
 *     afterwards does not move the offset; the offset committed so far is persisted first.
 * Offsets are persisted every 5 s (UPDATE_CONSUMER_OFFSET, oneway) and, synchronously, on close.
 *
 * This file is the facade (DefaultMQPushConsumer with DefaultMQPushConsumerImpl's lifecycle); the
 * parts it wires together live in ./push/ (see push/context.ts for the map).
 */
import { encodeJson, type ConsumerData, type MessageModel, type MessageQueue, type SubscriptionData } from '../protocol/bodies.js';
import { messageQueueMap } from '../protocol/fastjson.js';
import { CLIENT_INNER_PRODUCER_GROUP, retryTopic } from '../protocol/names.js';
import { UsageError } from '../errors/index.js';
import { mqKey } from './allocate.js';
import { ClientClosedError, ClientInstance, ClientStateError, CLIENT_VERSION, errText, type ConsumerMember, type ConsumerStatusEntry } from './client-instance.js';
import type { MessageExt } from './message.js';
import { LocalFileOffsetStore, RemoteBrokerOffsetStore, defaultLocalOffsetDir, type OffsetStore } from './offset-store.js';
import { Producer } from './producer.js';
import { buildSubscriptionData } from './tag-expression.js';
import { TraceDispatcher, type TraceStats } from './trace-dispatcher.js';
import { ConsumeConcurrently } from './push/consume-concurrently.js';
import { ConsumeOrderly } from './push/consume-orderly.js';
import { withTimeout, type ConsumeService, type PushContext, type QueueState } from './push/context.js';
import { HandlerInvoker, type MessageHandler } from './push/handler.js';
import { unlockQueues } from './push/lock.js';
import { DEFAULT_CONSUME_CONCURRENCY, DEFAULT_PERSIST_CONSUMER_OFFSET_INTERVAL_MS, DEFAULT_PULL_BATCH_SIZE, DEFAULT_PULL_THRESHOLD_FOR_QUEUE, DEFAULT_REBALANCE_INTERVAL_MS, type PushConsumerOptions } from './push/options.js';
import { PullLoop } from './push/pull-loop.js';
import { RebalancePush } from './push/rebalance.js';
import { ConsumerStats } from './push/stats.js';

export { BROKER_SUSPEND_MAX_TIME_MS, CONSUMER_TIMEOUT_MS_WHEN_SUSPEND } from './push/pull-loop.js';
export {
  DEFAULT_PULL_BATCH_SIZE,
  DEFAULT_PULL_THRESHOLD_FOR_QUEUE,
  DEFAULT_PULL_THRESHOLD_SIZE_FOR_QUEUE_MIB,
  DEFAULT_CONSUME_CONCURRENCY,
  DEFAULT_PERSIST_CONSUMER_OFFSET_INTERVAL_MS,
  DEFAULT_REBALANCE_INTERVAL_MS,
  DEFAULT_LOCK_INTERVAL_MS,
  DEFAULT_SUSPEND_CURRENT_QUEUE_TIME_MS,
  DEFAULT_PULL_TIME_DELAY_MS_WHEN_EXCEPTION,
  DEFAULT_CONSUME_TIMEOUT_MS,
  parseConsumeTimestamp,
  type PushConsumerOptions,
} from './push/options.js';
export type { ConsumeContext, ConsumeStatus, MessageHandler } from './push/handler.js';

/** Each queue's LOCK/UNLOCK/persist on close gets this long. */
const CLOSE_STEP_TIMEOUT_MS = 3_000;
/** close() looks this often whether the running handlers have finished (awaitTerminationMsWhenShutdown). */
const AWAIT_TERMINATION_POLL_MS = 10;

export class PushConsumer implements ConsumerMember {
  readonly group: string;
  private readonly opts: PushConsumerOptions;
  private readonly messageModel: MessageModel;
  private readonly orderly: boolean;
  private readonly subscriptions = new Map<string, SubscriptionData>();
  /** Java processQueueTable, by mqKey. */
  private readonly queues = new Map<string, QueueState>();
  private readonly stats = new ConsumerStats();
  private readonly ctx: PushContext;
  private readonly handlers: HandlerInvoker;
  private readonly rebalance: RebalancePush;
  private readonly pullLoop: PullLoop;
  private readonly consumeService: ConsumeService;
  /** With enableMsgTrace: where SubBefore/SubAfter records go. */
  private tracer: TraceDispatcher | undefined;
  private instance: ClientInstance | undefined;
  private offsetStore: OffsetStore | undefined;
  private innerProducer: Producer | undefined;
  private state: 'created' | 'starting' | 'running' | 'closing' | 'closed' = 'created';
  private timers: NodeJS.Timeout[] = [];
  private readonly wakers = new Set<() => void>();
  private starting: Promise<void> | undefined;
  private shuttingDown = false;
  private startTimestampMs = 0;

  constructor(opts: PushConsumerOptions) {
    if (!opts.consumerGroup) throw new UsageError('consumerGroup is required');
    this.group = opts.consumerGroup;
    this.opts = opts;
    this.messageModel = opts.messageModel ?? 'CLUSTERING';
    this.orderly = opts.orderly ?? false;
    this.ctx = this.makeContext();
    this.handlers = new HandlerInvoker(this.ctx);
    this.rebalance = new RebalancePush(this.ctx);
    this.pullLoop = new PullLoop(this.ctx);
    this.consumeService = this.orderly ? new ConsumeOrderly(this.ctx) : new ConsumeConcurrently(this.ctx);
  }

  /** What the parts under ./push/ see of this consumer. */
  private makeContext(): PushContext {
    const self = this;
    const clustering = this.messageModel === 'CLUSTERING';
    return {
      group: this.group,
      opts: this.opts,
      orderly: this.orderly,
      clustering,
      usesQueueLocks: this.orderly && clustering,
      get instance() {
        return started(self.instance, 'client instance');
      },
      get offsetStore() {
        return started(self.offsetStore, 'offset store');
      },
      get innerProducer() {
        return self.innerProducer;
      },
      get tracer() {
        return self.tracer;
      },
      subscriptions: this.subscriptions,
      queues: this.queues,
      stats: this.stats,
      get handlers() {
        return self.handlers;
      },
      get consumeService() {
        return self.consumeService;
      },
      isRunning: () => this.state === 'running',
      sleep: (ms) => this.sleep(ms),
      report: (err, where) => this.report(err, where),
      rebalanceSoon: () => this.rebalance.rebalanceSoon(),
      dispatchPullRequest: (st) => this.pullLoop.dispatch(st),
    };
  }

  get clientId(): string | undefined {
    return this.instance?.clientId;
  }

  private get clustering(): boolean {
    return this.ctx.clustering;
  }

  /** Subscribe `topic` with a TAG expression ("*", "TagA || TagB"). Allowed before and after start. */
  subscribe(topic: string, expression = '*'): this {
    if (this.state === 'closed' || this.state === 'closing') throw new ClientClosedError('consumer');
    this.subscriptions.set(topic, buildSubscriptionData(topic, expression));
    if (this.state === 'running') {
      void this.instance?.sendHeartbeatToAllBrokers().then(() => this.rebalance.rebalanceSoon());
    }
    return this;
  }

  unsubscribe(topic: string): void {
    this.subscriptions.delete(topic);
    if (this.state === 'running') void this.instance?.sendHeartbeatToAllBrokers().then(() => this.rebalance.rebalanceSoon());
  }

  /** Queues this consumer holds right now. */
  assignedQueues(): MessageQueue[] {
    return [...this.queues.values()].map((s) => ({ ...s.mq }));
  }

  async start(handler: MessageHandler): Promise<void> {
    if (this.state !== 'created') throw new ClientStateError(`the consumer is ${this.state}; a consumer starts once`);
    if (this.subscriptions.size === 0) throw new ClientStateError('subscribe to at least one topic before start()');
    this.handlers.handler = handler;
    this.state = 'starting';
    this.starting = this.doStart();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private async doStart(): Promise<void> {
    this.startTimestampMs = Date.now();
    const instance = ClientInstance.acquire(this.opts);
    try {
      instance.registerConsumer(this);
    } catch (err) {
      this.state = 'closed';
      await instance.release();
      throw err;
    }
    this.instance = instance;
    if (this.opts.enableMsgTrace) {
      this.tracer = new TraceDispatcher({ client: this.opts, group: this.group, kind: 'CONSUME', traceTopic: this.opts.customizedTraceTopic });
    }
    const stillStarting = () => {
      if (this.state !== 'starting') throw new ClientClosedError('consumer');
    };
    try {
      if (this.clustering) {
        const retry = retryTopic(this.group);
        if (!this.subscriptions.has(retry)) this.subscriptions.set(retry, buildSubscriptionData(retry, '*'));
        this.offsetStore = new RemoteBrokerOffsetStore(instance, this.group);
      } else {
        // Java keeps broadcasting consumers on instance name DEFAULT, so their offset file is
        // found again by the next run; a per-process name would start over every time.
        this.offsetStore = new LocalFileOffsetStore(this.opts.offsetStoreDir ?? defaultLocalOffsetDir(), this.opts.instanceName ?? 'DEFAULT', this.group);
      }
      await this.offsetStore.load();
      this.innerProducer = new Producer({ ...this.opts, producerGroup: CLIENT_INNER_PRODUCER_GROUP, outboxDir: undefined }, true);
      await this.innerProducer.start();
      for (const topic of this.subscriptions.keys()) {
        stillStarting();
        await instance.updateRoute(topic).catch((err: unknown) => this.report(err, `route of ${topic}`));
      }
      stillStarting();
      await instance.sendHeartbeatToAllBrokers();
      stillStarting();
      this.state = 'running';
      this.startTimers();
      await this.rebalance.rebalanceSoon();
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private startTimers(): void {
    this.timers.push(
      setInterval(() => void this.rebalance.rebalanceSoon(), this.opts.rebalanceIntervalMs ?? DEFAULT_REBALANCE_INTERVAL_MS),
      setInterval(() => void this.persistOffsets(false), this.opts.persistConsumerOffsetIntervalMs ?? DEFAULT_PERSIST_CONSUMER_OFFSET_INTERVAL_MS),
    );
    this.consumeService.start();
  }

  /**
   * Stop: no new pulls or handlers; wait up to awaitTerminationMsWhenShutdown for running
   * handlers; then freeze every queue (a handler finishing later commits nothing), persist the
   * offsets, release orderly locks, unregister from the brokers.
   */
  async close(): Promise<void> {
    if (this.starting) {
      if (this.state === 'starting') this.state = 'closing';
      await this.starting.catch(() => undefined);
    }
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    if (this.state === 'closed' || this.shuttingDown) return;
    this.shuttingDown = true;
    this.state = 'closing';
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.consumeService.shutdown();
    this.rebalance.shutdown();
    for (const w of [...this.wakers]) w();
    const awaitMs = this.opts.awaitTerminationMsWhenShutdown ?? 0;
    if (awaitMs > 0) {
      const deadline = Date.now() + awaitMs;
      // Bounded polling: at most awaitMs.
      while (this.handlers.running.size > 0 && Date.now() < deadline) await delay(AWAIT_TERMINATION_POLL_MS);
    }
    for (const st of this.queues.values()) st.pq.dropped = true;
    await this.rebalance.settled();
    const held = [...this.queues.values()];
    this.queues.clear();
    if (this.offsetStore && this.instance) {
      await withTimeout(this.offsetStore.persistAll(held.map((s) => s.mq), true), CLOSE_STEP_TIMEOUT_MS).catch((err: unknown) => this.report(err, 'persisting offsets on close'));
    }
    if (this.ctx.usesQueueLocks && this.instance) {
      // A queue whose handler is still running keeps its lock (it expires on the broker after
      // 60 s): releasing it now could let another member consume the next message meanwhile.
      const idle = held.filter((s) => !s.handlerRunning).map((s) => s.mq);
      await withTimeout(unlockQueues(this.ctx, idle), CLOSE_STEP_TIMEOUT_MS).catch(() => undefined);
    }
    await this.innerProducer?.close();
    await this.tracer?.close();
    if (this.instance) {
      await this.instance.unregisterConsumer(this);
      await this.instance.release();
    }
    this.state = 'closed';
  }

  // ---- ConsumerMember ------------------------------------------------------------------------

  /** With enableMsgTrace: trace records appended, dropped (queue full), sent and failed. */
  get traceStats(): TraceStats | undefined {
    return this.tracer?.stats;
  }

  topicsInUse(): string[] {
    return [...this.subscriptions.keys()];
  }

  consumerData(): ConsumerData {
    return {
      groupName: this.group,
      consumeType: 'CONSUME_PASSIVELY',
      messageModel: this.messageModel,
      consumeFromWhere: this.opts.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET',
      subscriptionDataSet: [...this.subscriptions.values()],
      unitMode: false,
    };
  }

  onConsumerIdsChanged(): void {
    void this.rebalance.rebalanceSoon();
  }

  onRouteChanged(): void {
    void this.rebalance.rebalanceSoon();
  }

  /** RESET_CONSUMER_CLIENT_OFFSET (see RebalancePush#resetOffset). */
  resetOffset(topic: string, offsets: Array<[MessageQueue, number]>): void {
    this.rebalance.resetOffset(topic, offsets);
  }

  consumerStatus(topic: string): ConsumerStatusEntry[] {
    return (this.offsetStore?.offsets(topic) ?? []).map(([mq, offset]) => ({ mq, offset }));
  }

  runningInfo(jstack: boolean): Buffer {
    const properties: Record<string, string> = {
      PROP_NAMESERVER_ADDR: this.opts.namesrvAddr,
      PROP_THREADPOOL_CORE_SIZE: String(this.opts.consumeConcurrency ?? DEFAULT_CONSUME_CONCURRENCY),
      PROP_CONSUMEORDERLY: String(this.orderly),
      PROP_CONSUME_TYPE: 'CONSUME_PASSIVELY',
      PROP_CLIENT_VERSION: 'V4_9_8',
      PROP_CONSUMER_START_TIMESTAMP: String(this.startTimestampMs),
      consumerGroup: this.group,
      messageModel: this.messageModel,
      consumeFromWhere: this.opts.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET',
      pullBatchSize: String(this.opts.pullBatchSize ?? DEFAULT_PULL_BATCH_SIZE),
      pullThresholdForQueue: String(this.opts.pullThresholdForQueue ?? DEFAULT_PULL_THRESHOLD_FOR_QUEUE),
      maxReconsumeTimes: String(this.opts.maxReconsumeTimes ?? -1),
      language: 'TYPESCRIPT',
    };
    const mqTable: Array<[MessageQueue, unknown]> = [];
    for (const s of this.queues.values()) {
      const committed = this.offsetStore?.offsets().find(([mq]) => mqKey(mq) === mqKey(s.mq))?.[1] ?? -1;
      mqTable.push([s.mq, s.pq.info(committed)]);
    }
    const upSec = Math.max(1, (Date.now() - this.startTimestampMs) / 1000);
    const info: Record<string, unknown> = {
      properties,
      subscriptionSet: [...this.subscriptions.values()],
      mqTable: messageQueueMap(mqTable),
      statusTable: this.stats.statusTable(upSec),
    };
    if (jstack) info.jstack = `rocketctl TypeScript client ${CLIENT_VERSION} (Node ${process.version}): no threads; ${this.handlers.running.size} handlers running`;
    return encodeJson(info);
  }

  consumeDirectly(msg: MessageExt): Promise<Buffer> {
    return this.handlers.consumeDirectly(msg);
  }

  // ---- offsets, helpers ------------------------------------------------------------------------

  private async persistOffsets(sync: boolean): Promise<void> {
    if (!this.offsetStore || this.state !== 'running') return;
    const mqs = [...this.queues.values()].filter((s) => !s.pq.dropped).map((s) => s.mq);
    await this.offsetStore.persistAll(mqs, sync).catch((err: unknown) => this.report(err, 'persisting offsets'));
  }

  /** Sleep that close() cuts short. */
  private sleep(ms: number): Promise<void> {
    if (this.state !== 'running' && this.state !== 'starting') return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private report(err: unknown, where: string): void {
    this.instance?.logger.debug(`${this.group}: ${where}: ${errText(err)}`);
    this.opts.onError?.(err, where);
  }
}

/** The parts under ./push/ run only after start() has set these; anything else is a bug. */
function started<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`push consumer: ${what} used before start() (this is a bug)`);
  return v;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
