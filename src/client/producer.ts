/**
 * The producer (Java DefaultMQProducer): sync, async, oneway and batch sends over
 * SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE, with UNIQ_KEY ids, tags/keys/user properties/delay
 * level, zlib compression of bodies ≥ 4 KiB, retries on another broker within sendMsgTimeoutMs,
 * queue selectors for ordered messages, and the outbox fallback (outbox.ts): with `outboxDir`
 * set, a message that could not reach any name server or broker after its retries is stored
 * durably and resent in order once they are back; the caller gets status OUTBOXED.
 */
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import type { MessageQueue } from '../protocol/bodies.js';
import { SysFlag } from '../protocol/message.js';
import { encodeProperties, Prop, type Properties } from '../protocol/properties.js';
import { javaHashCode } from '../protocol/hash.js';
import { RemoteError, RocketError, TopicNotFoundError, UsageError } from '../errors/index.js';
import { ClientClosedError, ClientInstance, ClientStateError, errText, isAmbiguousError, isConnectivityError, isUnavailableError, type ClientOptions, type ProducerMember, type TopicPublishInfo } from './client-instance.js';
import { AUTO_CREATE_TOPIC_KEY_TOPIC, RETRY_GROUP_TOPIC_PREFIX } from '../protocol/names.js';
import { buildSendProperties, compressBody, DEFAULT_COMPRESS_OVER_BYTES, DEFAULT_MAX_MESSAGE_BYTES, decodeMessages, encodeBatchBody, MessageIllegalError, validateMessage, type Message, type MessageExt } from './message.js';
import { createUniqId } from '../protocol/uniq-id.js';
import { Outbox, OutboxSender, type OutboxEntry, type OutboxRecovery } from './outbox.js';
import { TraceBatcher, traceProducerOptions, type TraceStats } from './trace-batcher.js';
import type { PubTrace } from '../protocol/trace.js';

export const DEFAULT_SEND_MSG_TIMEOUT_MS = 3_000;
export const DEFAULT_RETRY_TIMES_WHEN_SEND_FAILED = 2;
const DEFAULT_TOPIC_QUEUE_NUMS = 4;
/** Don't ask the name server about one topic more than once a second after broker failures. */
const ROUTE_REFRESH_AFTER_FAILURE_MIN_MS = 1_000;
/** QUERY_MESSAGE window around a message's born time when checking whether it was delivered. */
const DELIVERED_LOOKUP_SLACK_MS = 60 * 60 * 1000;

/** Broker answers after which Java retries on another broker (DefaultMQProducer.retryResponseCodes), plus SYSTEM_BUSY. */
const RETRY_RESPONSE_CODES: ReadonlySet<number> = new Set([
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.SYSTEM_ERROR,
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.NO_PERMISSION,
  ResponseCode.NO_BUYER_ID,
  ResponseCode.NOT_IN_CURRENT_UNIT,
]);

export type SendStatus = 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE' | 'OUTBOXED';

export interface SendResult {
  /** SEND_OK and the three "stored, but" statuses come from a broker; OUTBOXED means stored locally. */
  status: SendStatus;
  /** The message's UNIQ_KEY (comma-separated for a batch). */
  msgId: string;
  /** The broker's id (store host + commit log offset), absent when OUTBOXED. */
  offsetMsgId?: string;
  messageQueue?: MessageQueue;
  queueOffset?: number;
  transactionId?: string;
  regionId?: string;
  traceOn?: boolean;
  /** OUTBOXED: what could not be reached. */
  outboxReason?: string;
}

export type QueueSelector = (queues: MessageQueue[], msg: Message, arg: unknown) => MessageQueue;

/** Java SelectMessageQueueByHash: `abs(arg.hashCode() % size)`, hashCode as Java computes it. */
export const selectMessageQueueByHash: QueueSelector = (queues, _msg, arg) => {
  let h: number;
  if (typeof arg === 'number' && Number.isInteger(arg) && arg >= -2147483648 && arg <= 2147483647) h = arg;
  else if (typeof arg === 'number' && Number.isInteger(arg)) h = Number(BigInt.asIntN(32, BigInt(arg) ^ (BigInt.asUintN(64, BigInt(arg)) >> 32n)));
  else h = javaHashCode(String(arg));
  const v = h % queues.length;
  return queues[Math.abs(v)]!;
};

export interface SendOptions {
  /** Whole-send budget including retries (default: the producer's sendMsgTimeoutMs). */
  timeoutMs?: number;
  /** Send to exactly this queue (no retry on another). */
  queue?: MessageQueue;
  /** Choose the queue (ordered messages); one attempt, as Java's send(msg, selector, arg). */
  selector?: QueueSelector;
  selectorArg?: unknown;
  /**
   * Ordered messages by key: the queue is selectMessageQueueByHash(shardingKey). Unlike a custom
   * selector this survives the outbox (the key is stored with the message).
   */
  shardingKey?: string;
}

export interface ProducerOptions extends ClientOptions {
  producerGroup: string;
  sendMsgTimeoutMs?: number;
  retryTimesWhenSendFailed?: number;
  /** Compress bodies of at least this many bytes (default 4096; -1 never). */
  compressMsgBodyOverBytes?: number;
  maxMessageBytes?: number;
  defaultTopicQueueNums?: number;
  createTopicKey?: string;
  /** Retry on another broker when a broker stored the message but flush/replication timed out. */
  retryAnotherBrokerWhenNotStoreOk?: boolean;
  /** Enables the outbox fallback: a directory only this producer uses. */
  outboxDir?: string;
  outboxMaxBytes?: number;
  outboxMaxBackoffMs?: number;
  /** fdatasync outbox appends (default true). */
  outboxSync?: boolean;
  /** Outbox activity: a message resent, or moved to outbox.dead.jsonl after repeated refusals. */
  onOutboxEvent?: (ev: OutboxEvent) => void;
  /**
   * Java's enableMsgTrace: write a Pub trace record for every message the broker stored (and an
   * EndTransaction record per transaction end) to the trace topic, in the background
   * (src/client/trace-batcher.ts); `rocketctl queryMsgTrace -i MSGID` shows them.
   */
  enableMsgTrace?: boolean;
  /** Java's customizedTraceTopic (default RMQ_SYS_TRACE_TOPIC). */
  customizedTraceTopic?: string;
}

export type OutboxEvent =
  | { type: 'recovered'; recovery: OutboxRecovery }
  | { type: 'resent'; msgId: string; topic: string }
  | { type: 'dead'; msgId: string; topic: string; reason: string }
  | { type: 'retrying'; msgId: string; reason: string };

/** A message ready for the wire (properties final, body uncompressed). */
export interface PreparedMessage {
  topic: string;
  body: Buffer;
  flag: number;
  properties: Properties;
  uniqKey: string;
  bornTimestamp: number;
  /** A batch: the messages in it (each gets its own trace record). */
  parts?: PreparedMessage[];
}

type SendMode = 'sync' | 'oneway';

interface AttemptTrace {
  ambiguous: boolean;
  /**
   * Stop at the first attempt that may have been stored (timeout, connection lost after the
   * request went out) instead of trying again at once: the outbox resender asks the brokers
   * whether it was stored before it sends again, so a slow broker does not get a second copy.
   */
  stopWhenAmbiguous?: boolean;
}

export class Producer implements ProducerMember {
  readonly group: string;
  protected readonly opts: ProducerOptions;
  protected instance: ClientInstance | undefined;
  private state: 'created' | 'starting' | 'running' | 'closed' = 'created';
  private starting: Promise<void> | undefined;
  private readonly publishTopics = new Set<string>();
  private readonly sendWhichQueue = new Map<string, number>();
  private readonly lastRouteRefreshMs = new Map<string, number>();
  private outbox: Outbox | undefined;
  private outboxSender: OutboxSender | undefined;
  /** Internal producers (a consumer's fallback resend) share the instance without registering. */
  private readonly internal: boolean;
  /** With enableMsgTrace: where Pub (and EndTransaction) records go. */
  protected tracer: TraceBatcher | undefined;

  constructor(opts: ProducerOptions, internal = false) {
    if (!opts.producerGroup) throw new UsageError('producerGroup is required');
    this.group = opts.producerGroup;
    this.opts = opts;
    this.internal = internal;
  }

  get sendMsgTimeoutMs(): number {
    return this.opts.sendMsgTimeoutMs ?? DEFAULT_SEND_MSG_TIMEOUT_MS;
  }

  get clientId(): string | undefined {
    return this.instance?.clientId;
  }

  /** Start: join the process's client instance, open and recover the outbox if configured. */
  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state === 'closed') throw new ClientClosedError('producer');
    if (this.starting) return this.starting;
    this.state = 'starting';
    this.starting = (async () => {
      const instance = ClientInstance.acquire(this.opts);
      try {
        if (!this.internal) instance.registerProducer(this);
      } catch (err) {
        await instance.release();
        throw err;
      }
      this.instance = instance;
      if (this.opts.enableMsgTrace && !this.internal) {
        const trace = { client: this.opts, group: this.group, kind: 'PRODUCE' as const, traceTopic: this.opts.customizedTraceTopic };
        this.tracer = new TraceBatcher(trace, new Producer(traceProducerOptions(trace)));
      }
      try {
        if (this.opts.outboxDir) await this.openOutbox(this.opts.outboxDir);
      } catch (err) {
        if (!this.internal) await instance.unregisterProducer(this);
        await instance.release();
        this.instance = undefined;
        this.state = 'created';
        throw err;
      }
      this.state = 'running';
    })();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.starting) await this.starting.catch(() => undefined);
    this.state = 'closed';
    await this.outboxSender?.stop();
    await this.outbox?.close();
    await this.tracer?.close();
    const instance = this.instance;
    if (instance) {
      if (!this.internal) await instance.unregisterProducer(this);
      await instance.release();
    }
  }

  /** With enableMsgTrace: trace records appended, dropped (queue full), sent and failed. */
  get traceStats(): TraceStats | undefined {
    return this.tracer?.stats;
  }

  topicsInUse(): string[] {
    return [...this.publishTopics];
  }

  // ---- public send API --------------------------------------------------------------------------

  /** Send and wait for the broker (or the outbox) to have it. */
  async send(msg: Message, opts: SendOptions = {}): Promise<SendResult> {
    this.ensureRunning();
    const prepared = this.prepare(msg);
    const trace: AttemptTrace = { ambiguous: false };
    try {
      const r = await this.sendPrepared(prepared, 'sync', opts, trace, msg);
      this.outboxSender?.kick();
      return r!;
    } catch (err) {
      return this.outboxOrThrow(err, [prepared], opts, trace);
    }
  }

  /** Callback form of send (Java's async send): never throws, reports to `callback`. */
  sendAsync(msg: Message, callback: (err: Error | undefined, result?: SendResult) => void, opts: SendOptions = {}): void {
    this.send(msg, opts).then(
      (r) => callback(undefined, r),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /**
   * Fire and forget: resolves once the request is written to a broker connection (no answer is
   * awaited, so a broker-side refusal goes unnoticed). With an outbox, an unreachable broker
   * sends it to the outbox instead of failing.
   */
  async sendOneway(msg: Message, opts: SendOptions = {}): Promise<void> {
    this.ensureRunning();
    const prepared = this.prepare(msg);
    const trace: AttemptTrace = { ambiguous: false };
    try {
      await this.sendPrepared(prepared, 'oneway', opts, trace, msg);
    } catch (err) {
      await this.outboxOrThrow(err, [prepared], opts, trace);
    }
  }

  /**
   * SEND_BATCH_MESSAGE: messages of one topic stored together on one queue. No delay levels and
   * no retry topics in a batch (as Java). Bodies are not compressed in batches.
   */
  async sendBatch(msgs: Message[], opts: Omit<SendOptions, 'selector' | 'selectorArg'> = {}): Promise<SendResult> {
    this.ensureRunning();
    if (msgs.length === 0) throw new MessageIllegalError('a batch needs at least one message');
    const topic = msgs[0]!.topic;
    const prepared = msgs.map((m) => {
      if (m.topic !== topic) throw new MessageIllegalError('all messages of a batch must have the same topic');
      if (m.delayLevel) throw new MessageIllegalError('messages with a delay level cannot be batched');
      if (m.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) throw new MessageIllegalError('retry topic messages cannot be batched');
      return this.prepare(m);
    });
    const batch = this.batchOf(prepared, Date.now());
    const trace: AttemptTrace = { ambiguous: false };
    try {
      const r = await this.sendPrepared(batch, 'sync', opts, trace, undefined, true);
      this.outboxSender?.kick();
      return r!;
    } catch (err) {
      return this.outboxOrThrow(err, prepared, opts, trace);
    }
  }

  /**
   * Send a message whose properties are already final (reserved names allowed, UNIQ_KEY kept):
   * what a consumer's fallback resend to %RETRY%<group> needs. No outbox fallback.
   */
  async sendRaw(p: PreparedMessage, opts: SendOptions = {}): Promise<SendResult> {
    this.ensureRunning();
    const r = await this.sendPrepared(p, 'sync', opts, { ambiguous: false });
    return r!;
  }

  /**
   * SEND_BATCH_MESSAGE of messages whose properties are already final (as sendRaw), to exactly
   * `queue`, in one attempt: no retry on another queue, so a timeout never stores the batch twice
   * (migrateBacklog finds what an ambiguous failure stored by reading the target). The batch's
   * born time is the first message's (the broker gives every message of a batch the header's).
   */
  async sendRawBatch(parts: PreparedMessage[], queue: MessageQueue, timeoutMs?: number): Promise<SendResult> {
    this.ensureRunning();
    if (parts.length === 0) throw new MessageIllegalError('a batch needs at least one message');
    const batch = this.batchOf(parts, parts[0]!.bornTimestamp);
    const r = await this.sendPrepared(batch, 'sync', { queue, timeoutMs }, { ambiguous: false }, undefined, true);
    return r!;
  }

  /** One SEND_BATCH_MESSAGE body of `parts` (MessageDecoder.encodeMessages), within maxMessageBytes. */
  private batchOf(parts: PreparedMessage[], bornTimestamp: number): PreparedMessage {
    const body = encodeBatchBody(parts.map((p) => ({ body: p.body, flag: p.flag, properties: encodeProperties(p.properties) })));
    const maxBytes = this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (body.length > maxBytes) throw new MessageIllegalError(`the batch is ${body.length} bytes, over the limit of ${maxBytes} bytes`);
    return { topic: parts[0]!.topic, body, flag: 0, properties: { [Prop.WAIT]: 'true' }, uniqKey: parts.map((p) => p.uniqKey).join(','), bornTimestamp, parts };
  }

  /** Wait until the outbox is empty (true) or `timeoutMs` passes (false). True without an outbox. */
  async flushOutbox(timeoutMs: number): Promise<boolean> {
    if (!this.outboxSender) return true;
    this.outboxSender.kick();
    return this.outboxSender.drained(timeoutMs);
  }

  /** Messages waiting in the outbox (0 without one). */
  get outboxSize(): number {
    return this.outbox?.size ?? 0;
  }

  get outboxRecovery(): OutboxRecovery | undefined {
    return this.outbox?.recovery;
  }

  // ---- internals ------------------------------------------------------------------------------

  protected ensureRunning(): void {
    if (this.state === 'closed') throw new ClientClosedError('producer');
    if (this.state !== 'running' || !this.instance) throw new ClientStateError('the producer is not started: call start() first');
  }

  protected requireInstance(): ClientInstance {
    if (!this.instance || this.instance.isClosed) throw new ClientClosedError('producer');
    return this.instance;
  }

  /** Validate and give the message its final properties and UNIQ_KEY. */
  prepare(msg: Message, extraProps: Properties = {}): PreparedMessage {
    const body = validateMessage(msg, this.opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    const uniqKey = createUniqId();
    const properties = { ...buildSendProperties(msg, uniqKey), ...extraProps };
    return { topic: msg.topic, body, flag: msg.flag ?? 0, properties, uniqKey, bornTimestamp: Date.now() };
  }

  private async outboxOrThrow(err: unknown, prepared: PreparedMessage[], opts: SendOptions, trace: AttemptTrace): Promise<SendResult> {
    const outboxable = this.outbox && isUnavailableError(err) && !opts.selector && !opts.queue && !prepared.some((p) => p.properties[Prop.TRAN_MSG] === 'true');
    if (!outboxable) throw err;
    for (const p of prepared) {
      await this.outbox!.append({
        uniqKey: p.uniqKey,
        topic: p.topic,
        flag: p.flag,
        properties: p.properties,
        body: p.body,
        bornTimestamp: p.bornTimestamp,
        ambiguous: trace.ambiguous,
        ...(opts.shardingKey !== undefined ? { shardingKey: opts.shardingKey } : {}),
      });
    }
    return { status: 'OUTBOXED', msgId: prepared.map((p) => p.uniqKey).join(','), outboxReason: errText(err) };
  }

  private async openOutbox(dir: string): Promise<void> {
    const outbox = await Outbox.open({ dir, maxBytes: this.opts.outboxMaxBytes, sync: this.opts.outboxSync });
    this.outbox = outbox;
    this.opts.onOutboxEvent?.({ type: 'recovered', recovery: outbox.recovery });
    this.outboxSender = new OutboxSender(outbox, {
      send: (e) => this.resendFromOutbox(e),
      exists: (e) => this.isDelivered(e.topic, e.uniqKey, e.bornTimestamp),
      // "Not reachable" for the resender also covers a name server that lost the topic's route
      // while its broker is down: a stored message is never dead-lettered for an outage.
      isConnectivityError: (err) =>
        isUnavailableError(err) || err instanceof ClientStateError || err instanceof TopicNotFoundError || (err instanceof RocketError && err.code === 'E_NO_WRITABLE_QUEUE'),
      isAmbiguousError,
      maxBackoffMs: this.opts.outboxMaxBackoffMs,
      onSent: (e) => this.opts.onOutboxEvent?.({ type: 'resent', msgId: e.uniqKey, topic: e.topic }),
      onDead: (e, err) => this.opts.onOutboxEvent?.({ type: 'dead', msgId: e.uniqKey, topic: e.topic, reason: errText(err) }),
      onError: (e, err) => this.opts.onOutboxEvent?.({ type: 'retrying', msgId: e.uniqKey, reason: errText(err) }),
    });
    this.outboxSender.start();
  }

  private async resendFromOutbox(e: OutboxEntry): Promise<void> {
    if (this.state !== 'running') throw new ClientStateError('the producer is not running');
    const prepared: PreparedMessage = {
      topic: e.topic,
      body: e.body,
      flag: e.flag,
      properties: e.properties,
      uniqKey: e.uniqKey,
      bornTimestamp: e.bornTimestamp,
    };
    const trace: AttemptTrace = { ambiguous: false, stopWhenAmbiguous: true };
    const opts: SendOptions = e.shardingKey !== undefined ? { shardingKey: e.shardingKey } : {};
    try {
      await this.sendPrepared(prepared, 'sync', opts, trace);
    } finally {
      if (trace.ambiguous) e.ambiguous = true;
    }
  }

  /**
   * Is a message with this UNIQ_KEY already stored? QUERY_MESSAGE (unique-key query) on every
   * broker of the topic. undefined when some broker could not say (the caller then resends:
   * at least once beats at most once).
   */
  async isDelivered(topic: string, uniqKey: string, bornTimestamp: number): Promise<boolean | undefined> {
    const instance = this.requireInstance();
    const route = await instance.getRoute(topic);
    let unknown = false;
    for (const bd of route.brokerDatas) {
      const addr = bd.brokerAddrs['0'];
      if (!addr) {
        unknown = true;
        continue;
      }
      const req = makeRequest(RequestCode.QUERY_MESSAGE, {
        topic,
        key: uniqKey,
        maxNum: 32,
        beginTimestamp: bornTimestamp - DELIVERED_LOOKUP_SLACK_MS,
        endTimestamp: Date.now() + DELIVERED_LOOKUP_SLACK_MS,
        _UNIQUE_KEY_QUERY: 'true',
      });
      const res = await instance.remoting.invoke(addr, req, this.sendMsgTimeoutMs);
      if (res.code === ResponseCode.QUERY_NOT_FOUND) continue;
      if (res.code !== ResponseCode.SUCCESS) {
        unknown = true;
        continue;
      }
      const found = decodeMessages(bodyBuffer(res)).some((m) => m.properties[Prop.UNIQ_KEY] === uniqKey && m.topic === topic);
      if (found) return true;
    }
    return unknown ? undefined : false;
  }

  /**
   * Java sendDefaultImpl: up to 1 + retryTimesWhenSendFailed attempts (sync; oneway: 1) within
   * the timeout, each on a queue of another broker than the last failure.
   */
  protected async sendPrepared(
    p: PreparedMessage,
    mode: SendMode,
    opts: SendOptions,
    trace: AttemptTrace,
    original?: Message,
    batch = false,
  ): Promise<SendResult | undefined> {
    const instance = this.requireInstance();
    const timeoutMs = opts.timeoutMs ?? this.sendMsgTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const single = mode === 'oneway' || opts.queue !== undefined || opts.selector !== undefined;
    const times = single ? 1 : 1 + Math.max(0, this.opts.retryTimesWhenSendFailed ?? DEFAULT_RETRY_TIMES_WHEN_SEND_FAILED);
    this.publishTopics.add(p.topic);
    let lastBroker: string | undefined;
    let lastErr: unknown;
    for (let attempt = 0; attempt < times; attempt++) {
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) break;
      let mq: MessageQueue;
      try {
        let cached = instance.cachedPublishInfo(p.topic);
        // tryToFindTopicPublishInfo: a route without a writable queue (no master registered, e.g.
        // during a DLedger failover) is asked for again before the send, not kept until the next poll.
        if (cached && cached.queues.length === 0) {
          await instance.updateRoute(p.topic, leftMs).catch(() => undefined);
          cached = instance.cachedPublishInfo(p.topic);
        }
        const info =
          cached ??
          (await instance.publishInfo(p.topic, {
            defaultTopicQueueNums: this.opts.defaultTopicQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS,
            createTopicKey: this.opts.createTopicKey ?? AUTO_CREATE_TOPIC_KEY_TOPIC,
            timeoutMs: leftMs,
          }));
        mq = this.chooseQueue(info, opts, original, lastBroker);
      } catch (err) {
        lastErr = err;
        if (isUnavailableError(err)) continue;
        throw err;
      }
      try {
        const r = await this.sendKernel(mq, p, mode, Math.max(1, deadline - Date.now()), batch);
        if (r && r.status !== 'SEND_OK' && this.opts.retryAnotherBrokerWhenNotStoreOk && attempt + 1 < times) {
          lastBroker = mq.brokerName;
          lastErr = new RemoteError(-1, `broker ${mq.brokerName} answered ${r.status}`, 'E_SEND_NOT_STORE_OK');
          continue;
        }
        return r;
      } catch (err) {
        lastErr = err;
        lastBroker = mq.brokerName;
        if (isAmbiguousError(err)) {
          trace.ambiguous = true;
          if (trace.stopWhenAmbiguous) throw err;
        }
        if (isConnectivityError(err)) {
          this.refreshRouteSoon(p.topic);
          continue;
        }
        if (err instanceof RemoteError && RETRY_RESPONSE_CODES.has(err.responseCode)) continue;
        throw err;
      }
    }
    throw lastErr ?? new RocketError(`sending to ${p.topic} timed out after ${timeoutMs} ms`, { code: 'E_TIMEOUT' });
  }

  private refreshRouteSoon(topic: string): void {
    const now = Date.now();
    if (now - (this.lastRouteRefreshMs.get(topic) ?? 0) < ROUTE_REFRESH_AFTER_FAILURE_MIN_MS) return;
    this.lastRouteRefreshMs.set(topic, now);
    void this.instance?.updateRoute(topic).catch(() => undefined);
  }

  private chooseQueue(info: TopicPublishInfo, opts: SendOptions, msg: Message | undefined, lastBroker: string | undefined): MessageQueue {
    if (info.queues.length === 0) {
      throw new RocketError(`no writable queue for topic ${info.topic} (is its broker read-only or gone?)`, { code: 'E_NO_WRITABLE_QUEUE' });
    }
    if (opts.queue) return opts.queue;
    if (opts.selector) {
      const mq = opts.selector([...info.queues], msg ?? ({ topic: info.topic, body: '' } as Message), opts.selectorArg);
      if (!mq) throw new UsageError('the queue selector returned no queue');
      return mq;
    }
    if (opts.shardingKey !== undefined) return selectMessageQueueByHash(info.queues, msg ?? ({ topic: info.topic, body: '' } as Message), opts.shardingKey);
    return this.selectOneMessageQueue(info, lastBroker);
  }

  /** Round robin from a random start, skipping the broker that just failed if another exists. */
  private selectOneMessageQueue(info: TopicPublishInfo, lastBroker: string | undefined): MessageQueue {
    const qs = info.queues;
    let idx = this.sendWhichQueue.get(info.topic) ?? Math.floor(Math.random() * 1024);
    for (let i = 0; i < qs.length; i++) {
      idx = (idx + 1) & 0x7fffffff;
      const mq = qs[idx % qs.length]!;
      if (lastBroker === undefined || mq.brokerName !== lastBroker) {
        this.sendWhichQueue.set(info.topic, idx);
        return mq;
      }
    }
    idx = (idx + 1) & 0x7fffffff;
    this.sendWhichQueue.set(info.topic, idx);
    return qs[idx % qs.length]!;
  }

  /** One SEND_MESSAGE_V2 (or SEND_BATCH_MESSAGE) to the master of `mq`'s broker. */
  protected async sendKernel(mq: MessageQueue, p: PreparedMessage, mode: SendMode, timeoutMs: number, batch = false): Promise<SendResult | undefined> {
    const instance = this.requireInstance();
    const addr = instance.findBrokerAddrInPublish(mq.brokerName) ?? (await instance.brokerAddrForQueue(mq));
    let sysFlag = 0;
    let body = p.body;
    if (!batch) {
      const c = compressBody(p.body, this.opts.compressMsgBodyOverBytes ?? DEFAULT_COMPRESS_OVER_BYTES);
      if (c.compressed) {
        body = c.body;
        sysFlag |= SysFlag.COMPRESSED;
      }
    }
    if (p.properties[Prop.TRAN_MSG] === 'true') sysFlag |= SysFlag.TRANSACTION_PREPARED_TYPE;
    let props = p.properties;
    let reconsumeTimes = 0;
    let maxReconsumeTimes: number | undefined;
    if (p.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) {
      props = { ...p.properties };
      // A consumer's fallback resend: these travel in header fields j and l.
      if (props[Prop.RECONSUME_TIME] !== undefined) reconsumeTimes = Number(props[Prop.RECONSUME_TIME]) || 0;
      delete props[Prop.RECONSUME_TIME];
      if (props[Prop.MAX_RECONSUME_TIMES] !== undefined) maxReconsumeTimes = Number(props[Prop.MAX_RECONSUME_TIMES]);
      delete props[Prop.MAX_RECONSUME_TIMES];
    }
    const header: Record<string, string | number | boolean | undefined> = {
      a: this.group,
      b: p.topic,
      c: this.opts.createTopicKey ?? AUTO_CREATE_TOPIC_KEY_TOPIC,
      d: this.opts.defaultTopicQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS,
      e: mq.queueId,
      f: sysFlag,
      g: p.bornTimestamp,
      h: p.flag,
      i: encodeProperties(props),
      j: reconsumeTimes,
      k: false,
      l: maxReconsumeTimes,
      m: batch,
      n: mq.brokerName,
    };
    const req = makeRequest(batch ? RequestCode.SEND_BATCH_MESSAGE : RequestCode.SEND_MESSAGE_V2, header, body);
    if (mode === 'oneway') {
      await instance.remoting.invokeOneway(addr, req, timeoutMs);
      return undefined;
    }
    const started = this.tracer ? Date.now() : 0;
    const res = await instance.remoting.invoke(addr, req, timeoutMs);
    const result = this.processSendResponse(res, mq, p);
    if (this.tracer) this.tracePub(p, result, addr, started);
    return result;
  }

  /** An EndTransaction record (EndTransactionTraceHookImpl), for TransactionProducer. */
  protected traceEndTransaction(t: {
    topic: string;
    msgId: string;
    tags: string | null;
    keys: string | null;
    storeHost: string;
    regionId: string | null;
    transactionId: string | null;
    transactionState: string;
    fromTransactionCheck: boolean;
  }): void {
    if (!this.tracer || t.topic === this.tracer.traceTopic) return;
    this.tracer.append([{ type: 'EndTransaction', timeStamp: Date.now(), groupName: this.group, msgType: 2, ...t }]);
  }

  /**
   * Pub records for a send the broker answered (SendMessageTraceHookImpl): only with a region in
   * the answer and the broker's traceOn not false, never for the trace topic itself.
   */
  private tracePub(p: PreparedMessage, r: SendResult, addr: string, started: number): void {
    if (!this.tracer || r.traceOn === false || r.regionId === undefined || p.topic === this.tracer.traceTopic) return;
    const costTime = Date.now() - started;
    const offsetMsgIds = (r.offsetMsgId ?? '').split(',');
    const records = (p.parts ?? [p]).map((m, i): PubTrace => ({
      type: 'Pub',
      timeStamp: started,
      regionId: r.regionId ?? null,
      groupName: this.group,
      topic: m.topic,
      msgId: m.uniqKey,
      tags: m.properties[Prop.TAGS] ?? null,
      keys: m.properties[Prop.KEYS] ?? null,
      storeHost: addr,
      bodyLength: m.body.length,
      costTime,
      msgType: traceMessageType(m.properties),
      offsetMsgId: offsetMsgIds[i] ?? offsetMsgIds[0] ?? null,
      success: r.status === 'SEND_OK',
      clientHost: null,
    }));
    this.tracer.append(records);
  }

  private processSendResponse(res: RemotingCommand, mq: MessageQueue, p: PreparedMessage): SendResult {
    let status: SendStatus;
    switch (res.code) {
      case ResponseCode.SUCCESS:
        status = 'SEND_OK';
        break;
      case ResponseCode.FLUSH_DISK_TIMEOUT:
        status = 'FLUSH_DISK_TIMEOUT';
        break;
      case ResponseCode.FLUSH_SLAVE_TIMEOUT:
        status = 'FLUSH_SLAVE_TIMEOUT';
        break;
      case ResponseCode.SLAVE_NOT_AVAILABLE:
        status = 'SLAVE_NOT_AVAILABLE';
        break;
      default:
        throw new RemoteError(res.code, res.remark ?? '', 'E_SEND_FAILED', ['check the topic exists and the broker is writable: rocketctl topicRoute -t ' + p.topic]);
    }
    const h = res.extFields ?? {};
    const result: SendResult = {
      status,
      msgId: p.uniqKey,
      messageQueue: { topic: mq.topic, brokerName: mq.brokerName, queueId: h.queueId !== undefined ? Number(h.queueId) : mq.queueId },
      queueOffset: Number(h.queueOffset ?? -1),
    };
    if (h.msgId) result.offsetMsgId = h.msgId;
    if (h.transactionId) result.transactionId = h.transactionId;
    if (h.MSG_REGION) result.regionId = h.MSG_REGION;
    if (h.TRACE_ON !== undefined) result.traceOn = h.TRACE_ON !== 'false';
    return result;
  }
}

/** MessageType ordinal of a send: 1 half message, 3 delayed, else 0. */
function traceMessageType(props: Properties): number {
  if (props[Prop.TRAN_MSG] === 'true') return 1;
  if (props[Prop.DELAY] !== undefined || props.__STARTDELIVERTIME !== undefined) return 3;
  return 0;
}

export type { Message, MessageExt };
