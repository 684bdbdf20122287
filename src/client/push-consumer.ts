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
 */
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import { decodeStringList, encodeJson, type ConsumeFromWhere, type ConsumerData, type MessageModel, type MessageQueue, type SubscriptionData } from '../protocol/bodies.js';
import { messageQueueMap, parseFastjson } from '../protocol/fastjson.js';
import { Prop } from '../protocol/properties.js';
import { RemoteError, RocketError } from '../errors/index.js';
import { allocateAveragely, mqKey, type AllocateStrategy } from './allocate.js';
import {
  ClientClosedError,
  ClientInstance,
  ClientStateError,
  CLIENT_INNER_PRODUCER_GROUP,
  CLIENT_VERSION,
  errText,
  type ClientOptions,
  type ConsumerMember,
  type ConsumerStatusEntry,
} from './client-instance.js';
import { decodeMessages, retryTopic, RETRY_TOPIC_PREFIX, type MessageExt } from './message.js';
import { LocalFileOffsetStore, OFFSET_NOT_FOUND, RemoteBrokerOffsetStore, defaultLocalOffsetDir, type OffsetStore } from './offset-store.js';
import { ProcessQueue } from './process-queue.js';
import { Producer, type PreparedMessage } from './producer.js';
import { buildSubscriptionData, matchesSubscription } from './tag-expression.js';
import { TraceDispatcher, type TraceStats } from './trace-dispatcher.js';
import { createUniqId } from './uniq-id.js';

/** §6.7: how long the broker may hold a pull, and how long the client waits for its answer. */
export const BROKER_SUSPEND_MAX_TIME_MS = 15_000;
export const CONSUMER_TIMEOUT_MS_WHEN_SUSPEND = 30_000;
/** §6.11 defaults. */
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
/** Concurrent consumers: maxReconsumeTimes -1 means 16 (the broker then moves it to %DLQ%). */
const DEFAULT_MAX_RECONSUME_TIMES = 16;
/** Flow control: wait this long before looking again at a full queue (PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL). */
const FLOW_CONTROL_DELAY_MS = 50;
/** A message whose send-back and fallback resend both failed is consumed again after this. */
const CONSUME_AGAIN_DELAY_MS = 5_000;
/** Rebalance again this soon when a round could not finish (an orderly queue still locked elsewhere, our heartbeat not yet seen); Java waits for the 20 s tick. */
const REBALANCE_AGAIN_DELAY_MS = 1_000;
/** How often stuck handlers are looked for (consumeTimeout). */
const CONSUME_TIMEOUT_SCAN_MS = 60_000;
/** Upper bound on waiting for a running orderly handler when resetting offsets. */
const RESET_WAIT_FOR_HANDLER_MS = 30_000;
/** Each queue's LOCK/UNLOCK/persist on close gets this long. */
const CLOSE_STEP_TIMEOUT_MS = 3_000;

/** PullSysFlag bits (§2.3). */
const PULL_FLAG_COMMIT_OFFSET = 0x1;
const PULL_FLAG_SUSPEND = 0x2;
const PULL_FLAG_SUBSCRIPTION = 0x4;

export type ConsumeStatus = 'CONSUME_SUCCESS' | 'RECONSUME_LATER' | 'SUCCESS' | 'SUSPEND_CURRENT_QUEUE_A_MOMENT';

export interface ConsumeContext {
  queue: MessageQueue;
  /**
   * Concurrent consumers, after a failure: delay level of the redelivery. 0 (default) lets the
   * broker choose (3 + reconsumeTimes: 10 s, 30 s, 1 min, ...); -1 sends it to the DLQ at once.
   */
  delayLevelWhenNextConsume: number;
  /** Orderly consumers, after a failure: wait this long before consuming the queue again. */
  suspendCurrentQueueTimeMs: number;
}

/**
 * Resolve (or return undefined/true/'CONSUME_SUCCESS'/'SUCCESS') when the message is consumed;
 * throw, or return false/'RECONSUME_LATER'/'SUSPEND_CURRENT_QUEUE_A_MOMENT', to have it again.
 */
export type MessageHandler = (msg: MessageExt, ctx: ConsumeContext) => ConsumeStatus | boolean | void | Promise<ConsumeStatus | boolean | void>;

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

interface QueueState {
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

interface RunningHandler {
  msg: MessageExt;
  st: QueueState;
  startMs: number;
  /** Taken over by the consume-timeout scan: the handler's own outcome is ignored. */
  expired: boolean;
}

interface TopicStats {
  pullCount: number;
  pullRtTotalMs: number;
  consumeOk: number;
  consumeFailed: number;
  consumeRtTotalMs: number;
}

class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((r) => this.waiters.push(r));
  }
  release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.free++;
  }
}

function isFailure(r: unknown): boolean {
  return r === false || r === 'RECONSUME_LATER' || r === 'SUSPEND_CURRENT_QUEUE_A_MOMENT';
}

/** yyyyMMddHHmmss (local time) or ms → ms. */
export function parseConsumeTimestamp(v: number | string | undefined, nowMs = Date.now()): number {
  if (v === undefined) return nowMs - 30 * 60 * 1000;
  if (typeof v === 'number') return v;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(v);
  if (!m) throw new RocketError(`consumeTimestamp must be yyyyMMddHHmmss, got ${v}`, { code: 'E_USAGE', exitCode: 2 });
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
}

export class PushConsumer implements ConsumerMember {
  readonly group: string;
  /** With enableMsgTrace: where SubBefore/SubAfter records go. */
  private tracer: TraceDispatcher | undefined;
  private readonly opts: PushConsumerOptions;
  private readonly messageModel: MessageModel;
  private readonly orderly: boolean;
  private readonly subscriptions = new Map<string, SubscriptionData>();
  private readonly queues = new Map<string, QueueState>();
  private readonly running = new Set<RunningHandler>();
  private readonly stats = new Map<string, TopicStats>();
  private readonly pausedTopics = new Set<string>();
  private instance: ClientInstance | undefined;
  private offsetStore: OffsetStore | undefined;
  private innerProducer: Producer | undefined;
  private handler: MessageHandler | undefined;
  private sem: Semaphore;
  private state: 'created' | 'starting' | 'running' | 'closing' | 'closed' = 'created';
  private timers: NodeJS.Timeout[] = [];
  private rebalanceLaterTimer: NodeJS.Timeout | undefined;
  private readonly wakers = new Set<() => void>();
  private rebalanceRunning: Promise<void> | undefined;
  private rebalanceAgain = false;
  private starting: Promise<void> | undefined;
  private shuttingDown = false;
  private startTimestampMs = 0;

  constructor(opts: PushConsumerOptions) {
    if (!opts.consumerGroup) throw new RocketError('consumerGroup is required', { code: 'E_USAGE', exitCode: 2 });
    this.group = opts.consumerGroup;
    this.opts = opts;
    this.messageModel = opts.messageModel ?? 'CLUSTERING';
    this.orderly = opts.orderly ?? false;
    this.sem = new Semaphore(Math.max(1, opts.consumeConcurrency ?? DEFAULT_CONSUME_CONCURRENCY));
  }

  get clientId(): string | undefined {
    return this.instance?.clientId;
  }

  private get clustering(): boolean {
    return this.messageModel === 'CLUSTERING';
  }

  private get active(): boolean {
    return this.state === 'running' || this.state === 'starting';
  }

  /** Subscribe `topic` with a TAG expression ("*", "TagA || TagB"). Allowed before and after start. */
  subscribe(topic: string, expression = '*'): this {
    if (this.state === 'closed' || this.state === 'closing') throw new ClientClosedError('consumer');
    this.subscriptions.set(topic, buildSubscriptionData(topic, expression));
    if (this.state === 'running') {
      void this.instance?.sendHeartbeatToAllBrokers().then(() => this.rebalanceSoon());
    }
    return this;
  }

  unsubscribe(topic: string): void {
    this.subscriptions.delete(topic);
    if (this.state === 'running') void this.instance?.sendHeartbeatToAllBrokers().then(() => this.rebalanceSoon());
  }

  /** Queues this consumer holds right now. */
  assignedQueues(): MessageQueue[] {
    return [...this.queues.values()].map((s) => ({ ...s.mq }));
  }

  async start(handler: MessageHandler): Promise<void> {
    if (this.state !== 'created') throw new ClientStateError(`the consumer is ${this.state}; a consumer starts once`);
    if (this.subscriptions.size === 0) throw new ClientStateError('subscribe to at least one topic before start()');
    this.handler = handler;
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
      await this.rebalanceSoon();
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  private startTimers(): void {
    this.timers.push(
      setInterval(() => void this.rebalanceSoon(), this.opts.rebalanceIntervalMs ?? DEFAULT_REBALANCE_INTERVAL_MS),
      setInterval(() => void this.persistOffsets(false), this.opts.persistConsumerOffsetIntervalMs ?? DEFAULT_PERSIST_CONSUMER_OFFSET_INTERVAL_MS),
      setInterval(() => this.cleanExpiredHandlers(), Math.min(CONSUME_TIMEOUT_SCAN_MS, this.opts.consumeTimeoutMs ?? DEFAULT_CONSUME_TIMEOUT_MS)),
    );
    if (this.orderly && this.clustering) {
      this.timers.push(setInterval(() => void this.lockAll(), this.opts.lockIntervalMs ?? DEFAULT_LOCK_INTERVAL_MS));
    }
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
    if (this.rebalanceLaterTimer) clearTimeout(this.rebalanceLaterTimer);
    for (const w of [...this.wakers]) w();
    const awaitMs = this.opts.awaitTerminationMsWhenShutdown ?? 0;
    if (awaitMs > 0) {
      const deadline = Date.now() + awaitMs;
      // Bounded polling: at most awaitMs, in 10 ms steps.
      while (this.running.size > 0 && Date.now() < deadline) await delay(10);
    }
    for (const st of this.queues.values()) st.pq.dropped = true;
    await this.rebalanceRunning?.catch(() => undefined);
    const held = [...this.queues.values()];
    this.queues.clear();
    if (this.offsetStore && this.instance) {
      await withTimeout(this.offsetStore.persistAll(held.map((s) => s.mq), true), CLOSE_STEP_TIMEOUT_MS).catch((err: unknown) => this.report(err, 'persisting offsets on close'));
    }
    if (this.orderly && this.clustering && this.instance) {
      // A queue whose handler is still running keeps its lock (it expires on the broker after
      // 60 s): releasing it now could let another member consume the next message meanwhile.
      const idle = held.filter((s) => !s.handlerRunning).map((s) => s.mq);
      await withTimeout(this.unlockQueues(idle), CLOSE_STEP_TIMEOUT_MS).catch(() => undefined);
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
    void this.rebalanceSoon();
  }

  onRouteChanged(): void {
    void this.rebalanceSoon();
  }

  /**
   * RESET_CONSUMER_CLIENT_OFFSET: stop the topic's queues, store the new offsets on the broker, let
   * rebalance start them again from there.
   */
  resetOffset(topic: string, offsets: Array<[MessageQueue, number]>): void {
    if (this.state !== 'running') return;
    void (async () => {
      this.pausedTopics.add(topic);
      try {
        await this.rebalanceRunning?.catch(() => undefined);
        const wanted = new Map(offsets.map(([mq, o]) => [mqKey(mq), o]));
        const affected = [...this.queues.values()].filter((s) => s.mq.topic === topic && wanted.has(mqKey(s.mq)));
        for (const s of affected) {
          s.pq.dropped = true;
          this.queues.delete(mqKey(s.mq));
        }
        // No need to wait for pulls in flight (Java sleeps 10 s): their answers are dropped with
        // the queue, and a held pull's commitOffset was applied when it arrived, not on replay.
        // An orderly handler still running must finish first, though (it holds the lock).
        await withTimeout(Promise.all(affected.map((s) => s.idle)), RESET_WAIT_FOR_HANDLER_MS).catch(() => undefined);
        for (const s of affected) {
          this.offsetStore?.updateOffset(s.mq, wanted.get(mqKey(s.mq))!, false);
          await this.offsetStore?.persist(s.mq, true).catch((err: unknown) => this.report(err, 'persisting a reset offset'));
          this.offsetStore?.removeOffset(s.mq);
        }
        if (this.orderly && this.clustering) await this.unlockQueues(affected.map((s) => s.mq)).catch(() => undefined);
      } finally {
        this.pausedTopics.delete(topic);
      }
      await this.rebalanceSoon();
    })().catch((err: unknown) => this.report(err, 'resetting offsets'));
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
    const statusTable: Record<string, unknown> = {};
    const upSec = Math.max(1, (Date.now() - this.startTimestampMs) / 1000);
    for (const [topic, st] of this.stats) {
      statusTable[topic] = {
        consumeFailedMsgs: st.consumeFailed,
        consumeFailedTPS: st.consumeFailed / upSec,
        consumeOKTPS: st.consumeOk / upSec,
        consumeRT: st.consumeOk + st.consumeFailed > 0 ? st.consumeRtTotalMs / (st.consumeOk + st.consumeFailed) : 0,
        pullRT: st.pullCount > 0 ? st.pullRtTotalMs / st.pullCount : 0,
        pullTPS: st.pullCount / upSec,
      };
    }
    const info: Record<string, unknown> = {
      properties,
      subscriptionSet: [...this.subscriptions.values()],
      mqTable: messageQueueMap(mqTable),
      statusTable,
    };
    if (jstack) info.jstack = `rocketctl TypeScript client ${CLIENT_VERSION} (Node ${process.version}): no threads; ${this.running.size} handlers running`;
    return encodeJson(info);
  }

  async consumeDirectly(msg: MessageExt): Promise<Buffer> {
    const started = Date.now();
    let consumeResult = 'CR_SUCCESS';
    let remark = '';
    try {
      const r = await this.handler?.(msg, this.context(msg.queue));
      if (isFailure(r)) consumeResult = this.orderly ? 'CR_ROLLBACK' : 'CR_LATER';
    } catch (err) {
      consumeResult = 'CR_THROW_EXCEPTION';
      remark = errText(err);
    }
    return encodeJson({ autoCommit: true, consumeResult, order: this.orderly, remark, spentTimeMills: Date.now() - started });
  }

  // ---- rebalance -------------------------------------------------------------------------------

  /** Rebalance now; calls during a rebalance coalesce into one more round. */
  rebalanceSoon(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (this.rebalanceRunning) {
      this.rebalanceAgain = true;
      return this.rebalanceRunning;
    }
    this.rebalanceRunning = (async () => {
      try {
        // Bounded: a burst of notifications causes at most 3 back-to-back rounds.
        for (let round = 0; round < 3 && this.state === 'running'; round++) {
          this.rebalanceAgain = false;
          await this.doRebalance();
          if (!this.rebalanceAgain) break;
        }
      } catch (err) {
        this.report(err, 'rebalance');
      } finally {
        this.rebalanceRunning = undefined;
      }
    })();
    return this.rebalanceRunning;
  }

  private async doRebalance(): Promise<void> {
    for (const topic of [...this.subscriptions.keys()]) {
      if (this.state !== 'running') return;
      if (this.pausedTopics.has(topic)) continue;
      try {
        await this.rebalanceTopic(topic);
      } catch (err) {
        this.report(err, `rebalance of ${topic}`);
      }
    }
    for (const s of [...this.queues.values()]) {
      if (!this.subscriptions.has(s.mq.topic)) await this.removeQueue(s);
    }
  }

  private async rebalanceTopic(topic: string): Promise<void> {
    const instance = this.instance!;
    const mqAll = await instance.subscribeQueues(topic);
    let mine: MessageQueue[];
    if (!this.clustering) {
      mine = mqAll;
    } else {
      const cids = await this.findConsumerIdList(topic);
      if (cids.length === 0) return;
      if (!cids.includes(instance.clientId)) {
        // Java would allocate us nothing and drop every queue; our heartbeat has just not landed
        // (a broker restart, say): keep what we hold, heartbeat, and look again.
        void instance.sendHeartbeatToAllBrokers().then(() => this.rebalanceLater());
        return;
      }
      const strategy = this.opts.allocateStrategy ?? allocateAveragely;
      mine = strategy(this.group, instance.clientId, mqAll, cids);
    }
    await this.updateProcessQueueTable(topic, mine);
  }

  /** GET_CONSUMER_LIST_BY_GROUP to one broker of the topic. */
  private async findConsumerIdList(topic: string): Promise<string[]> {
    const instance = this.instance!;
    const addr = await instance.anyBrokerAddrForTopic(topic);
    if (!addr) return [];
    const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: this.group }));
    if (res.code !== ResponseCode.SUCCESS || !res.body) {
      // "no consumer for this group": our heartbeat has not reached this broker yet.
      if (res.code === ResponseCode.SYSTEM_ERROR) void instance.sendHeartbeatToAllBrokers();
      return [];
    }
    return decodeStringList(bodyBuffer(res), 'consumerIdList');
  }

  private async updateProcessQueueTable(topic: string, mine: MessageQueue[]): Promise<void> {
    const wanted = new Set(mine.map(mqKey));
    for (const s of [...this.queues.values()]) {
      if (s.mq.topic === topic && !wanted.has(mqKey(s.mq))) await this.removeQueue(s);
    }
    let lockFailed = false;
    for (const mq of mine) {
      if (this.state !== 'running') return;
      const key = mqKey(mq);
      if (this.queues.has(key)) continue;
      const pq = new ProcessQueue(mq);
      if (this.orderly && this.clustering) {
        const locked = await this.lockQueues([mq]).catch(() => new Set<string>());
        if (!locked.has(key)) {
          lockFailed = true;
          continue;
        }
        pq.locked = true;
        pq.lastLockTimestamp = Date.now();
      }
      this.offsetStore!.removeOffset(mq); // removeDirtyOffset
      let next: number;
      try {
        next = await this.computePullFromWhere(mq);
      } catch (err) {
        this.report(err, `reading the offset of ${describeMq(mq)}`);
        if (this.orderly && this.clustering) await this.unlockQueues([mq]).catch(() => undefined);
        continue;
      }
      if (this.state !== 'running' || this.queues.has(key)) continue;
      const st: QueueState = { mq, pq, nextOffset: next, suggestBrokerId: 0, idle: Promise.resolve(), handlerRunning: false };
      this.queues.set(key, st);
      st.loop = this.pullLoop(st).catch((err: unknown) => this.report(err, `pull loop of ${describeMq(mq)}`));
    }
    if (lockFailed) this.rebalanceLater();
  }

  private rebalanceLater(): void {
    if (this.rebalanceLaterTimer || this.state !== 'running') return;
    this.rebalanceLaterTimer = setTimeout(() => {
      this.rebalanceLaterTimer = undefined;
      void this.rebalanceSoon();
    }, REBALANCE_AGAIN_DELAY_MS);
  }

  /**
   * Give a queue up: freeze it (nothing more is committed), persist what was committed, forget the
   * offset; orderly consumers also wait for the running handler and then release the lock.
   */
  private async removeQueue(s: QueueState): Promise<void> {
    const key = mqKey(s.mq);
    if (this.queues.get(key) === s) this.queues.delete(key);
    s.pq.dropped = true;
    const store = this.offsetStore!;
    const finish = async () => {
      if (this.clustering) {
        await store.persist(s.mq, true).catch((err: unknown) => this.report(err, `persisting the offset of ${describeMq(s.mq)}`));
        store.removeOffset(s.mq);
      } else {
        await store.persist(s.mq).catch(() => undefined);
      }
      if (this.orderly && this.clustering) await this.unlockQueues([s.mq]).catch(() => undefined);
    };
    if (this.orderly) {
      // The lock may only go once the handler holding it has returned (another member would
      // otherwise consume the next message of the queue at the same time).
      void s.idle.then(finish);
    } else {
      await finish();
    }
  }

  /** Where a newly assigned queue starts (RebalancePushImpl.computePullFromWhere). */
  private async computePullFromWhere(mq: MessageQueue): Promise<number> {
    const store = this.offsetStore!;
    const last = await store.readOffset(mq, 'STORE');
    if (last >= 0) return last;
    const where = this.opts.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET';
    const isRetry = mq.topic.startsWith(RETRY_TOPIC_PREFIX);
    switch (where) {
      case 'CONSUME_FROM_FIRST_OFFSET':
      case 'CONSUME_FROM_MIN_OFFSET':
        return 0;
      case 'CONSUME_FROM_TIMESTAMP':
        if (isRetry) return this.queueOffset(mq, RequestCode.GET_MAX_OFFSET);
        return this.searchOffset(mq, parseConsumeTimestamp(this.opts.consumeTimestamp));
      default:
        return isRetry ? 0 : this.queueOffset(mq, RequestCode.GET_MAX_OFFSET);
    }
  }

  private async queueOffset(mq: MessageQueue, code: number): Promise<number> {
    const instance = this.instance!;
    const addr = await instance.brokerAddrForQueue(mq);
    const res = await instance.remoting.invoke(addr, makeRequest(code, { topic: mq.topic, queueId: mq.queueId, bname: mq.brokerName }));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    return Number(res.extFields?.offset ?? 0);
  }

  private async searchOffset(mq: MessageQueue, timestampMs: number): Promise<number> {
    const instance = this.instance!;
    const addr = await instance.brokerAddrForQueue(mq);
    const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: mq.topic, queueId: mq.queueId, timestamp: timestampMs, bname: mq.brokerName }));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    return Number(res.extFields?.offset ?? 0);
  }

  // ---- orderly locks ---------------------------------------------------------------------------

  /** LOCK_BATCH_MQ per broker; returns the keys of the queues now locked by us. */
  private async lockQueues(mqs: MessageQueue[]): Promise<Set<string>> {
    const instance = this.instance!;
    const ok = new Set<string>();
    for (const [brokerName, group] of groupByBroker(mqs)) {
      const addr = await instance.brokerAddrForQueue(group[0]!);
      const body = encodeJson({ consumerGroup: this.group, clientId: instance.clientId, mqSet: group });
      const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.LOCK_BATCH_MQ, undefined, body));
      if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_LOCK_FAILED');
      const v = res.body ? (parseFastjson(bodyBuffer(res).toString('utf8')) as { lockOKMQSet?: unknown[] }) : {};
      for (const m of v.lockOKMQSet ?? []) {
        const x = m as MessageQueue;
        ok.add(mqKey({ topic: String(x.topic), brokerName: String(x.brokerName ?? brokerName), queueId: Number(x.queueId) }));
      }
    }
    return ok;
  }

  private async unlockQueues(mqs: MessageQueue[]): Promise<void> {
    const instance = this.instance!;
    for (const [, group] of groupByBroker(mqs)) {
      const addr = await instance.brokerAddrForQueue(group[0]!);
      const body = encodeJson({ consumerGroup: this.group, clientId: instance.clientId, mqSet: group });
      await instance.remoting.invoke(addr, makeRequest(RequestCode.UNLOCK_BATCH_MQ, undefined, body), CLOSE_STEP_TIMEOUT_MS).catch(() => undefined);
    }
  }

  /** Every 20 s: renew the locks of every held queue; queues that lost theirs stop consuming. */
  private async lockAll(): Promise<void> {
    if (this.state !== 'running') return;
    const held = [...this.queues.values()];
    if (held.length === 0) return;
    try {
      const ok = await this.lockQueues(held.map((s) => s.mq));
      const now = Date.now();
      for (const s of held) {
        const locked = ok.has(mqKey(s.mq));
        s.pq.locked = locked;
        if (locked) {
          s.pq.lastLockTimestamp = now;
          this.startOrderly(s);
        }
      }
    } catch (err) {
      this.report(err, 'renewing queue locks');
    }
  }

  // ---- pulling ---------------------------------------------------------------------------------

  private async pullLoop(st: QueueState): Promise<void> {
    const { pq } = st;
    const countLimit = this.opts.pullThresholdForQueue ?? DEFAULT_PULL_THRESHOLD_FOR_QUEUE;
    const sizeLimitBytes = (this.opts.pullThresholdSizeForQueueMiB ?? DEFAULT_PULL_THRESHOLD_SIZE_FOR_QUEUE_MIB) * 1024 * 1024;
    const errorDelayMs = this.opts.pullTimeDelayMsWhenException ?? DEFAULT_PULL_TIME_DELAY_MS_WHEN_EXCEPTION;
    while (this.state === 'running' && !pq.dropped) {
      if (pq.msgCount >= countLimit || pq.msgSize >= sizeLimitBytes) {
        await this.sleep(FLOW_CONTROL_DELAY_MS);
        continue;
      }
      if (this.orderly && this.clustering && (!pq.locked || pq.isLockExpired())) {
        const ok = await this.lockQueues([st.mq]).catch(() => new Set<string>());
        if (ok.has(mqKey(st.mq))) {
          pq.locked = true;
          pq.lastLockTimestamp = Date.now();
          this.startOrderly(st);
        } else {
          pq.locked = false;
          await this.sleep(errorDelayMs);
          continue;
        }
      }
      try {
        await this.pullOnce(st);
      } catch (err) {
        if (this.state !== 'running' || pq.dropped) break;
        this.report(err, `pull from ${describeMq(st.mq)}`);
        if (err instanceof RemoteError && (err.responseCode === ResponseCode.SUBSCRIPTION_NOT_EXIST || err.responseCode === ResponseCode.SUBSCRIPTION_NOT_LATEST)) {
          void this.instance?.sendHeartbeatToAllBrokers();
        }
        await this.sleep(errorDelayMs);
        continue;
      }
      if (this.opts.pullIntervalMs) await this.sleep(this.opts.pullIntervalMs);
    }
  }

  private async pullOnce(st: QueueState): Promise<void> {
    const instance = this.instance!;
    const { mq, pq } = st;
    const sub = this.subscriptions.get(mq.topic);
    if (!sub) {
      pq.dropped = true;
      return;
    }
    let target = instance.findBrokerAddrInSubscribe(mq.brokerName, st.suggestBrokerId);
    if (!target) {
      await instance.updateRoute(mq.topic);
      target = instance.findBrokerAddrInSubscribe(mq.brokerName, st.suggestBrokerId);
      if (!target) throw new RocketError(`broker ${mq.brokerName} is not in the route of ${mq.topic}`, { code: 'E_BROKER_NOT_IN_ROUTE' });
    }
    const commitOffset = this.clustering ? await this.offsetStore!.readOffset(mq, 'MEMORY') : OFFSET_NOT_FOUND;
    const post = this.opts.postSubscriptionWhenPull ?? false;
    let sysFlag = PULL_FLAG_SUSPEND;
    if (commitOffset > 0 && !target.slave) sysFlag |= PULL_FLAG_COMMIT_OFFSET;
    if (post) sysFlag |= PULL_FLAG_SUBSCRIPTION;
    const req = makeRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: this.group,
      topic: mq.topic,
      queueId: mq.queueId,
      queueOffset: st.nextOffset,
      maxMsgNums: this.opts.pullBatchSize ?? DEFAULT_PULL_BATCH_SIZE,
      sysFlag,
      commitOffset: Math.max(0, commitOffset),
      suspendTimeoutMillis: BROKER_SUSPEND_MAX_TIME_MS,
      subscription: post ? sub.subString : undefined,
      subVersion: sub.subVersion,
      expressionType: 'TAG',
      bname: mq.brokerName,
    });
    const started = Date.now();
    const res = await instance.remoting.invoke(target.addr, req, CONSUMER_TIMEOUT_MS_WHEN_SUSPEND);
    if (this.state !== 'running' || pq.dropped) return;
    pq.lastPullTimestamp = Date.now();
    const stats = this.topicStats(mq.topic);
    stats.pullCount++;
    stats.pullRtTotalMs += Date.now() - started;
    const h = res.extFields ?? {};
    const nextBegin = Number(h.nextBeginOffset);
    if (h.suggestWhichBrokerId !== undefined) st.suggestBrokerId = Number(h.suggestWhichBrokerId) || 0;
    switch (res.code) {
      case ResponseCode.SUCCESS: {
        const msgs = decodeMessages(bodyBuffer(res), { brokerName: mq.brokerName, restoreRetryTopicForGroup: this.group })
          .filter((m) => matchesSubscription(sub, m.tags));
        for (const m of msgs) {
          if (h.minOffset !== undefined) m.properties[Prop.MIN_OFFSET] = h.minOffset;
          if (h.maxOffset !== undefined) m.properties[Prop.MAX_OFFSET] = h.maxOffset;
        }
        if (Number.isFinite(nextBegin)) st.nextOffset = nextBegin;
        const startOrderly = pq.putMessages(msgs, nextBegin);
        if (msgs.length === 0) {
          this.correctTagsOffset(st);
          return;
        }
        if (this.orderly) {
          if (startOrderly) this.runOrderly(st);
        } else {
          for (const m of msgs) void this.consumeConcurrently(st, m).catch((err: unknown) => this.report(err, `consuming ${m.msgId}`));
        }
        return;
      }
      case ResponseCode.PULL_NOT_FOUND:
      case ResponseCode.PULL_RETRY_IMMEDIATELY:
        if (Number.isFinite(nextBegin)) st.nextOffset = nextBegin;
        pq.advancePulled(nextBegin);
        this.correctTagsOffset(st);
        return;
      case ResponseCode.PULL_OFFSET_MOVED:
        await this.offsetMoved(st, nextBegin);
        return;
      default:
        throw new RemoteError(res.code, res.remark ?? '', 'E_PULL_FAILED');
    }
  }

  /** Nothing of this queue in flight: the next pull offset is also a safe commit point. */
  private correctTagsOffset(st: QueueState): void {
    if (st.pq.msgCount === 0) this.offsetStore!.updateOffset(st.mq, st.nextOffset, true);
  }

  /**
   * PULL_OFFSET_MOVED (the queue was truncated or reset under us): as Java, drop the queue, store
   * the broker's nextBeginOffset, and let the next rebalance pick the queue up from there.
   */
  private async offsetMoved(st: QueueState, nextBegin: number): Promise<void> {
    if (!Number.isFinite(nextBegin)) return;
    st.pq.dropped = true;
    const key = mqKey(st.mq);
    if (this.queues.get(key) === st) this.queues.delete(key);
    await st.idle;
    this.offsetStore!.updateOffset(st.mq, nextBegin, false);
    await this.offsetStore!.persist(st.mq, true).catch((err: unknown) => this.report(err, 'persisting a moved offset'));
    this.offsetStore!.removeOffset(st.mq);
    if (this.orderly && this.clustering) await this.unlockQueues([st.mq]).catch(() => undefined);
    void this.rebalanceSoon();
  }

  // ---- consuming -------------------------------------------------------------------------------

  private context(queue: MessageQueue): ConsumeContext {
    return {
      queue,
      delayLevelWhenNextConsume: 0,
      suspendCurrentQueueTimeMs: this.opts.suspendCurrentQueueTimeMs ?? DEFAULT_SUSPEND_CURRENT_QUEUE_TIME_MS,
    };
  }

  /** Run the handler; true when it consumed the message. */
  private async invokeHandler(st: QueueState, msg: MessageExt, ctx: ConsumeContext): Promise<{ ok: boolean; run: RunningHandler }> {
    const run: RunningHandler = { msg, st, startMs: Date.now(), expired: false };
    this.running.add(run);
    let ok: boolean;
    let threw = false;
    try {
      ok = !isFailure(await this.handler!(msg, ctx));
    } catch (err) {
      ok = false;
      threw = true;
      this.report(err, `handler for ${msg.msgId}`);
    } finally {
      this.running.delete(run);
    }
    if (this.tracer) this.traceConsume(msg, run.startMs, ok, threw);
    const stats = this.topicStats(msg.topic);
    if (ok) stats.consumeOk++;
    else stats.consumeFailed++;
    stats.consumeRtTotalMs += Date.now() - run.startMs;
    return { ok, run };
  }

  /**
   * SubBefore and SubAfter of one handled message (ConsumeMessageTraceHookImpl), one request id
   * for the pair; not for the trace topic itself or a message sent with TRACE_ON=false.
   */
  private traceConsume(msg: MessageExt, started: number, ok: boolean, threw: boolean): void {
    if (!this.tracer || msg.topic === this.tracer.traceTopic || msg.properties[Prop.TRACE_ON] === 'false') return;
    const requestId = createUniqId();
    const keys = msg.keys.length > 0 ? msg.keys.join(' ') : null;
    const regionId = msg.properties[Prop.MSG_REGION] ?? null;
    const ended = Date.now();
    this.tracer.append([
      { type: 'SubBefore', timeStamp: started, regionId, groupName: this.group, requestId, msgId: msg.msgId, retryTimes: msg.reconsumeTimes, keys },
      // contextCode: ConsumeReturnType SUCCESS 0, EXCEPTION 2, FAILED 4.
      { type: 'SubAfter', requestId, msgId: msg.msgId, costTime: ended - started, success: ok, keys, contextCode: ok ? 0 : threw ? 2 : 4, timeStamp: ended, groupName: this.group },
    ]);
  }

  private async consumeConcurrently(st: QueueState, msg: MessageExt): Promise<void> {
    await this.sem.acquire();
    try {
      if (this.state !== 'running' || st.pq.dropped) return;
      const ctx = this.context(st.mq);
      const { ok, run } = await this.invokeHandler(st, msg, ctx);
      // A queue given up while the handler ran (rebalance, reset, close) commits nothing.
      if (st.pq.dropped || run.expired) return;
      if (ok || !this.clustering) {
        if (!ok) this.report(new RocketError(`broadcast message ${msg.msgId} failed and is dropped (broadcasting has no retry)`, { code: 'E_CONSUME_FAILED' }), 'consume');
        this.commit(st, msg);
        return;
      }
      if (await this.sendBack(msg, ctx.delayLevelWhenNextConsume)) {
        if (!st.pq.dropped) this.commit(st, msg);
        return;
      }
      // Nowhere to put a copy: keep it in flight (its offset is not passed) and consume it again.
      msg.reconsumeTimes++;
      void this.sleep(CONSUME_AGAIN_DELAY_MS).then(() => {
        if (this.state === 'running' && !st.pq.dropped) void this.consumeConcurrently(st, msg).catch((err: unknown) => this.report(err, `consuming ${msg.msgId}`));
      });
    } finally {
      this.sem.release();
    }
  }

  private commit(st: QueueState, msg: MessageExt): void {
    const offset = st.pq.removeMessages([msg]);
    if (offset >= 0 && !st.pq.dropped) this.offsetStore!.updateOffset(st.mq, offset, true);
  }

  private maxReconsumeTimes(): number {
    const v = this.opts.maxReconsumeTimes ?? -1;
    if (v >= 0) return v;
    return this.orderly ? Number.MAX_SAFE_INTEGER : DEFAULT_MAX_RECONSUME_TIMES;
  }

  /**
   * CONSUMER_SEND_MSG_BACK to the broker the message came from; if that fails, a copy sent to
   * %RETRY%<group> by the inner producer (§2.7). True when some broker now holds the copy.
   */
  private async sendBack(msg: MessageExt, delayLevel: number): Promise<boolean> {
    const instance = this.instance!;
    try {
      const addr = await instance.brokerAddrForQueue(msg.queue);
      const res = await instance.remoting.invoke(
        addr,
        makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, {
          offset: msg.commitLogOffset,
          group: this.group,
          delayLevel,
          originMsgId: msg.msgId,
          originTopic: msg.topic,
          unitMode: false,
          maxReconsumeTimes: Math.min(this.maxReconsumeTimes(), 0x7fffffff),
          bname: msg.queue.brokerName,
        }),
      );
      if (res.code === ResponseCode.SUCCESS) return true;
      this.report(new RemoteError(res.code, res.remark ?? '', 'E_SEND_BACK_FAILED'), `send-back of ${msg.msgId}`);
    } catch (err) {
      this.report(err, `send-back of ${msg.msgId}`);
    }
    return this.resendToRetryTopic(msg, msg.reconsumeTimes + 1, 3 + msg.reconsumeTimes);
  }

  /** The fallback copy to %RETRY%<group> (Java: the inner producer's send). */
  private async resendToRetryTopic(msg: MessageExt, reconsumeTime: number, delayLevel: number | undefined): Promise<boolean> {
    const p = this.innerProducer;
    if (!p) return false;
    const props = { ...msg.properties };
    delete props[Prop.MIN_OFFSET];
    delete props[Prop.MAX_OFFSET];
    if (!props[Prop.RETRY_TOPIC]) props[Prop.RETRY_TOPIC] = msg.topic;
    if (!props[Prop.ORIGIN_MESSAGE_ID]) props[Prop.ORIGIN_MESSAGE_ID] = msg.msgId;
    props[Prop.RECONSUME_TIME] = String(reconsumeTime);
    props[Prop.MAX_RECONSUME_TIMES] = String(Math.min(this.maxReconsumeTimes(), 0x7fffffff));
    if (delayLevel !== undefined && delayLevel > 0) props[Prop.DELAY] = String(delayLevel);
    else delete props[Prop.DELAY];
    const prepared: PreparedMessage = {
      topic: retryTopic(this.group),
      body: msg.body,
      flag: msg.flag,
      properties: props,
      uniqKey: props[Prop.UNIQ_KEY] ?? msg.msgId,
      bornTimestamp: msg.bornTimestamp,
    };
    try {
      await p.sendRaw(prepared);
      return true;
    } catch (err) {
      this.report(err, `resending ${msg.msgId} to ${retryTopic(this.group)}`);
      return false;
    }
  }

  /** Start the orderly loop of a queue if it has messages and none is running. */
  private startOrderly(st: QueueState): void {
    if (!this.orderly || st.pq.consuming || !st.pq.hasPending()) return;
    st.pq.consuming = true;
    this.runOrderly(st);
  }

  private runOrderly(st: QueueState): void {
    let done!: () => void;
    const prev = st.idle;
    st.idle = new Promise<void>((r) => (done = r));
    void prev
      .then(() => this.consumeOrderly(st))
      .catch((err: unknown) => this.report(err, `orderly consumption of ${describeMq(st.mq)}`))
      .finally(() => {
        st.pq.consuming = false;
        done();
        // Messages may have arrived while the loop was finishing.
        if (this.state === 'running' && !st.pq.dropped && st.pq.hasPending() && (!this.clustering || (st.pq.locked && !st.pq.isLockExpired()))) {
          this.startOrderly(st);
        }
      });
  }

  /** One message at a time, in queue order; a failure retries the same message after a pause. */
  private async consumeOrderly(st: QueueState): Promise<void> {
    const { pq } = st;
    const max = this.maxReconsumeTimes();
    // Bounded by the queue: each turn either commits a message or waits suspendCurrentQueueTimeMs.
    while (this.state === 'running' && !pq.dropped) {
      if (this.clustering && (!pq.locked || pq.isLockExpired())) return; // the pull loop re-locks and restarts us
      const msgs = pq.takeMessages(1);
      if (msgs.length === 0) return;
      const msg = msgs[0]!;
      const ctx = this.context(st.mq);
      await this.sem.acquire();
      let ok: boolean;
      try {
        if (this.state !== 'running' || pq.dropped) {
          pq.makeMessagesToConsumeAgain(msgs);
          return;
        }
        st.handlerRunning = true;
        ({ ok } = await this.invokeHandler(st, msg, ctx));
      } finally {
        st.handlerRunning = false;
        this.sem.release();
      }
      if (pq.dropped) return;
      if (!ok && msg.reconsumeTimes >= max) {
        // Out of local retries: park a copy in the DLQ (through %RETRY% with RECONSUME_TIME ≥ max).
        ok = await this.resendToRetryTopic(msg, Math.max(msg.reconsumeTimes, max), undefined);
      }
      if (ok) {
        const offset = pq.commit();
        if (offset >= 0 && !pq.dropped) this.offsetStore!.updateOffset(st.mq, offset, false);
        continue;
      }
      msg.reconsumeTimes++;
      pq.makeMessagesToConsumeAgain(msgs);
      await this.sleep(ctx.suspendCurrentQueueTimeMs);
    }
  }

  /**
   * consumeTimeout: a concurrent handler running longer than consumeTimeoutMs has its message
   * sent back (so a copy exists) and removed from flight, so one stuck handler cannot hold the
   * queue's offset forever. Its eventual outcome is ignored.
   */
  private cleanExpiredHandlers(): void {
    if (this.orderly || !this.clustering || this.state !== 'running') return;
    const limitMs = this.opts.consumeTimeoutMs ?? DEFAULT_CONSUME_TIMEOUT_MS;
    const now = Date.now();
    for (const run of [...this.running]) {
      if (run.expired || now - run.startMs < limitMs) continue;
      run.expired = true;
      void this.sendBack(run.msg, 3).then((ok) => {
        if (ok && !run.st.pq.dropped) this.commit(run.st, run.msg);
        else run.expired = false;
      });
    }
  }

  // ---- offsets, helpers ------------------------------------------------------------------------

  private async persistOffsets(sync: boolean): Promise<void> {
    if (!this.offsetStore || this.state !== 'running') return;
    const mqs = [...this.queues.values()].filter((s) => !s.pq.dropped).map((s) => s.mq);
    await this.offsetStore.persistAll(mqs, sync).catch((err: unknown) => this.report(err, 'persisting offsets'));
  }

  private topicStats(topic: string): TopicStats {
    let s = this.stats.get(topic);
    if (!s) {
      s = { pullCount: 0, pullRtTotalMs: 0, consumeOk: 0, consumeFailed: 0, consumeRtTotalMs: 0 };
      this.stats.set(topic, s);
    }
    return s;
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

function groupByBroker(mqs: MessageQueue[]): Map<string, MessageQueue[]> {
  const out = new Map<string, MessageQueue[]>();
  for (const mq of mqs) {
    const g = out.get(mq.brokerName) ?? [];
    g.push({ topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId });
    out.set(mq.brokerName, g);
  }
  return out;
}

function describeMq(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}:${mq.queueId}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new RocketError(`timed out after ${ms} ms`, { code: 'E_TIMEOUT' })), ms);
    }),
  ]);
}

