/**
 * A pull consumer for tools (the CLI's consumeMessage, checks, benchmarks): reads queues by
 * offset with PULL_MESSAGE (sysFlag FLAG_SUBSCRIPTION, subscription posted, no commit offset,
 * no suspend by default), as DefaultMQPullConsumer does. It never heartbeats a consumer group,
 * never takes part in a rebalance and never stores an offset, so the group it names (default
 * TOOLS_CONSUMER) is only used for the broker's permission check.
 */
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import type { MessageQueue } from '../protocol/bodies.js';
import { Prop } from '../protocol/properties.js';
import { queryCommittedOffset } from './committed-offset.js';
import { RemoteError, RocketError } from '../errors/index.js';
import { ClientClosedError, ClientInstance, ClientStateError, type ClientOptions } from './client-instance.js';
import { decodeMessages, type MessageExt } from './message.js';
import { buildSubscriptionData, matchesSubscription } from './tag-expression.js';
import { mqKey, sortMessageQueues } from './allocate.js';
import { TOOLS_CONSUMER_GROUP } from '../protocol/names.js';

/** Blocking pull: broker hold time and client wait (DefaultMQPullConsumer: 20000 / 30000). */
const PULL_CONSUMER_SUSPEND_MS = 20_000;
const PULL_CONSUMER_TIMEOUT_WHEN_SUSPEND_MS = 30_000;
/** Most messages one PULL_MESSAGE may ask for (the broker caps it at 32 in memory anyway). */
export const MAX_PULL_NUMS = 32;

const PULL_FLAG_SUSPEND = 0x2;
const PULL_FLAG_SUBSCRIPTION = 0x4;

export type PullStatus = 'FOUND' | 'NO_NEW_MSG' | 'NO_MATCHED_MSG' | 'OFFSET_ILLEGAL';

export interface PullResult {
  status: PullStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** FOUND: the messages matching the expression (may be fewer than were read). */
  msgs: MessageExt[];
  /** The broker id the answer suggests for the next pull of this queue (0 = master). */
  suggestWhichBrokerId: number;
  /** The answer came from a slave. */
  fromSlave: boolean;
}

export interface PullOptions {
  /** TAG expression (default "*"). */
  expression?: string;
  /** Hold the request on the broker until a message arrives (up to 20 s). */
  block?: boolean;
  timeoutMs?: number;
  /**
   * Pull from this broker (e.g. a slave of the queue's broker name) instead of the one the route
   * picks; its suggestWhichBrokerId is then not followed.
   */
  brokerAddr?: string;
}

export interface PullConsumerOptions extends ClientOptions {
  /** Group named in pulls (default TOOLS_CONSUMER): nothing is stored for it. */
  consumerGroup?: string;
}

export interface ReadRangeOptions {
  expression?: string;
  /** Messages per pull (≤ 32). */
  batchSize?: number;
  /** Stop after this many messages. */
  maxMessages?: number;
}

export class PullConsumer {
  readonly group: string;
  private readonly opts: PullConsumerOptions;
  private instance: ClientInstance | undefined;
  private state: 'created' | 'running' | 'closed' = 'created';
  /** Per queue, the broker id the last answer suggested (PullAPIWrapper's pullFromWhichNodeTable). */
  private readonly pullFromWhichNode = new Map<string, number>();

  constructor(opts: PullConsumerOptions) {
    this.opts = opts;
    this.group = opts.consumerGroup ?? TOOLS_CONSUMER_GROUP;
  }

  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state === 'closed') throw new ClientClosedError('pull consumer');
    this.instance = ClientInstance.acquire(this.opts);
    this.state = 'running';
  }

  async close(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'closed';
      return;
    }
    this.state = 'closed';
    await this.instance?.release();
  }

  private inst(): ClientInstance {
    if (this.state === 'closed') throw new ClientClosedError('pull consumer');
    if (!this.instance) throw new ClientStateError('the pull consumer is not started: call start() first');
    return this.instance;
  }

  /** The readable queues of `topic`, sorted (throws TopicNotFoundError for an unknown topic). */
  async fetchSubscribeMessageQueues(topic: string): Promise<MessageQueue[]> {
    return sortMessageQueues(await this.inst().subscribeQueues(topic, { refresh: true }));
  }

  async minOffset(mq: MessageQueue): Promise<number> {
    return this.offsetCall(mq, RequestCode.GET_MIN_OFFSET, {});
  }

  /** The next offset to be written (one past the last message). */
  async maxOffset(mq: MessageQueue): Promise<number> {
    return this.offsetCall(mq, RequestCode.GET_MAX_OFFSET, {});
  }

  /** SEARCH_OFFSET_BY_TIMESTAMP: the offset whose store time is closest to `timestampMs`. */
  async searchOffset(mq: MessageQueue, timestampMs: number): Promise<number> {
    return this.offsetCall(mq, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { timestamp: timestampMs });
  }

  /**
   * `group`'s committed offset of `mq`, null when it has none, on 4.x and 5.x brokers alike
   * (committed-offset.ts). Reads only: nothing about the group changes.
   */
  async committedOffset(mq: MessageQueue, group: string): Promise<number | null> {
    const instance = this.inst();
    const addr = await instance.brokerAddrForQueue(mq);
    return queryCommittedOffset((a, req) => instance.remoting.invoke(a, req), addr, group, mq);
  }

  /** Store time of the oldest message in the queue, -1 when empty. */
  async earliestMsgStoreTime(mq: MessageQueue): Promise<number> {
    const instance = this.inst();
    const addr = await this.addrOf(mq);
    const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.GET_EARLIEST_MSG_STORETIME, { topic: mq.topic, queueId: mq.queueId, bname: mq.brokerName }));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    return Number(res.extFields?.timestamp ?? -1);
  }

  private async addrOf(mq: MessageQueue): Promise<string> {
    return (await this.targetOf(mq, 0)).addr;
  }

  /** `brokerId` of the queue's broker, or the one that stands in for it (PullAPIWrapper#pullKernelImpl). */
  private async targetOf(mq: MessageQueue, brokerId: number): Promise<{ addr: string; slave: boolean }> {
    const instance = this.inst();
    if (!instance.findBrokerAddrInSubscribe(mq.brokerName, brokerId)) await instance.updateRoute(mq.topic);
    const t = instance.findBrokerAddrInSubscribe(mq.brokerName, brokerId);
    if (!t) throw new RocketError(`broker ${mq.brokerName} is not in the route of ${mq.topic}`, { code: 'E_BROKER_NOT_IN_ROUTE' });
    return t;
  }

  private async offsetCall(mq: MessageQueue, code: number, extra: Record<string, number>): Promise<number> {
    const instance = this.inst();
    const addr = await instance.brokerAddrForQueue(mq);
    const res = await instance.remoting.invoke(addr, makeRequest(code, { topic: mq.topic, queueId: mq.queueId, ...extra, bname: mq.brokerName }));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    return Number(res.extFields?.offset ?? 0);
  }

  /**
   * One PULL_MESSAGE at `offset` (messages are tag-filtered again client-side), to the broker the
   * queue's last answer suggested (a slave when the group reads far behind and the broker has
   * slaveReadEnable), as PullAPIWrapper#processPullResult / #recalculatePullFromWhichNode.
   */
  async pull(mq: MessageQueue, offset: number, maxNums: number, opts: PullOptions = {}): Promise<PullResult> {
    const instance = this.inst();
    const sub = buildSubscriptionData(mq.topic, opts.expression ?? '*', 0);
    const key = mqKey(mq);
    const target = opts.brokerAddr !== undefined ? { addr: opts.brokerAddr, slave: false } : await this.targetOf(mq, this.pullFromWhichNode.get(key) ?? 0);
    const addr = target.addr;
    const block = opts.block ?? false;
    const req = makeRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: this.group,
      topic: mq.topic,
      queueId: mq.queueId,
      queueOffset: offset,
      maxMsgNums: Math.max(1, Math.min(MAX_PULL_NUMS, maxNums)),
      sysFlag: PULL_FLAG_SUBSCRIPTION | (block ? PULL_FLAG_SUSPEND : 0),
      commitOffset: 0,
      suspendTimeoutMillis: PULL_CONSUMER_SUSPEND_MS,
      subscription: sub.subString,
      subVersion: 0,
      expressionType: 'TAG',
      bname: mq.brokerName,
    });
    const timeoutMs = opts.timeoutMs ?? (block ? PULL_CONSUMER_TIMEOUT_WHEN_SUSPEND_MS : instance.requestTimeoutMs);
    const res = await instance.remoting.invoke(addr, req, timeoutMs);
    const h = res.extFields ?? {};
    const suggestWhichBrokerId = Number(h.suggestWhichBrokerId ?? 0) || 0;
    if (opts.brokerAddr === undefined) this.pullFromWhichNode.set(key, suggestWhichBrokerId);
    const base = {
      nextBeginOffset: Number(h.nextBeginOffset ?? offset),
      minOffset: Number(h.minOffset ?? 0),
      maxOffset: Number(h.maxOffset ?? 0),
      suggestWhichBrokerId,
      fromSlave: target.slave,
    };
    switch (res.code) {
      case ResponseCode.SUCCESS: {
        const msgs = decodeMessages(bodyBuffer(res), { brokerName: mq.brokerName }).filter((m) => matchesSubscription(sub, m.tags));
        for (const m of msgs) {
          m.properties[Prop.MIN_OFFSET] = String(base.minOffset);
          m.properties[Prop.MAX_OFFSET] = String(base.maxOffset);
        }
        return { status: 'FOUND', ...base, msgs };
      }
      case ResponseCode.PULL_NOT_FOUND:
        return { status: 'NO_NEW_MSG', ...base, msgs: [] };
      case ResponseCode.PULL_RETRY_IMMEDIATELY:
        return { status: 'NO_MATCHED_MSG', ...base, msgs: [] };
      case ResponseCode.PULL_OFFSET_MOVED:
        return { status: 'OFFSET_ILLEGAL', ...base, msgs: [] };
      default:
        throw new RemoteError(res.code, res.remark ?? '', 'E_PULL_FAILED');
    }
  }

  /**
   * Messages of `mq` with offsets in [fromOffset, toOffset) (toOffset default: the queue's max at
   * the call), in order. Bounded: stops at toOffset, at maxMessages, or when a pull makes no
   * progress.
   */
  async *readRange(mq: MessageQueue, fromOffset: number, toOffset?: number, opts: ReadRangeOptions = {}): AsyncGenerator<MessageExt> {
    const end = toOffset ?? (await this.maxOffset(mq));
    const batch = Math.max(1, Math.min(MAX_PULL_NUMS, opts.batchSize ?? MAX_PULL_NUMS));
    let offset = Math.max(fromOffset, 0);
    let left = opts.maxMessages ?? Number.POSITIVE_INFINITY;
    let askedMaster = false;
    while (offset < end && left > 0) {
      const r = await this.pull(mq, offset, Math.min(batch, end - offset, left), { expression: opts.expression });
      if (r.fromSlave && !askedMaster && (r.status === 'NO_NEW_MSG' || r.nextBeginOffset <= offset)) {
        // A slave may not hold yet what its master does: the same offset once more, on the master.
        this.pullFromWhichNode.set(mqKey(mq), 0);
        askedMaster = true;
        continue;
      }
      askedMaster = false;
      if (r.status === 'OFFSET_ILLEGAL') {
        if (r.nextBeginOffset <= offset) return;
        offset = r.nextBeginOffset; // below the queue's min offset: skip to what still exists
        continue;
      }
      for (const m of r.msgs) {
        if (m.queueOffset >= end || left <= 0) return;
        yield m;
        left--;
      }
      if (r.status === 'NO_NEW_MSG' || r.nextBeginOffset <= offset) return;
      offset = r.nextBeginOffset;
    }
  }
}
