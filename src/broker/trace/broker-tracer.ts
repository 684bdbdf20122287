/**
 * Broker-side message tracing (`brokerTraceEnable=true`; docs/broker-trace.md): the broker writes,
 * in Apache's trace format (client TraceDataEncoder, 4.9.8) and into the trace topic
 * (msgTraceTopicName), what it saw of every message of a user topic, whatever client sent or
 * consumed it:
 *  - stored: a Pub record when the message is stored (also for its copies to %RETRY% / %DLQ%);
 *  - delivered: a SubBefore record when a pull returns it, requestId = `<n>@<consumer address>`;
 *  - committed: a SubAfter record, same requestId, when the group's committed offset passes it
 *    (costTime = ms from delivery to commit).
 * Every record's groupName starts with BROKER_TRACE_GROUP_PREFIX, and the trace messages are born
 * at the broker's own address: nothing a client writes looks like this, and mqadmin
 * queryMsgTraceById (which prints the Pub and SubAfter rows) shows them as the broker's.
 *
 * Nothing here runs on the send or pull path but appending a small event to a bounded queue (full:
 * dropped and counted); a timer turns the events into records and stores them as trace messages,
 * as AsyncTraceDispatcher batches a client's, keyed by each message's id and keys so
 * QUERY_MESSAGE finds them by either.
 */
import { BROKER_TRACE_GROUP_PREFIX, encodeTrace, traceKeys, type TraceRecord } from '../../protocol/trace.js';
import { createOffsetMsgId, decodeRecord, formatSocketAddr, type SocketAddr } from '../../protocol/message.js';
import { encodeProperties, pickProperties, Prop } from '../../protocol/properties.js';
import { createUniqId } from '../../protocol/uniq-id.js';
import { SCHEDULE_TOPIC } from '../../protocol/names.js';
import type { PutInput, PutOutput } from '../handlers/context.js';
import type { Logger } from '../../remoting/server.js';

export { BROKER_TRACE_GROUP_PREFIX };

/** Events waiting to become trace records; more are dropped (and counted), never waited for. */
export const BROKER_TRACE_QUEUE_MAX = 65_536;
/** Records per trace message at most (AsyncTraceDispatcher batches 100 contexts). */
const BROKER_TRACE_BATCH_RECORDS = 100;
/** A trace message's body stays under maxMessageSize (128000) - 10000, as the Java dispatcher's. */
const BROKER_TRACE_MAX_BODY_BYTES = 118_000;
/** How often waiting events are written. */
const BROKER_TRACE_FLUSH_INTERVAL_MS = 100;
/** Delivered messages remembered until their group's commit passes them; more are not tracked to a commit. */
const BROKER_TRACE_PENDING_COMMITS_MAX = 200_000;
/** A delivery not committed for this long is forgotten (its group went away, or it will be redelivered). */
const BROKER_TRACE_PENDING_MAX_AGE_MS = 30 * 60_000;

/** Properties a delivery's SubBefore record reads. */
const DELIVERY_PROPS = [Prop.UNIQ_KEY, Prop.ORIGIN_MESSAGE_ID, Prop.KEYS] as const;
/** Properties a store's Pub record reads. */
const PUB_PROPS = [Prop.UNIQ_KEY, Prop.ORIGIN_MESSAGE_ID, Prop.KEYS, Prop.TAGS, Prop.REAL_TOPIC, Prop.DELAY, Prop.TRAN_MSG] as const;

export interface BrokerTraceStats {
  /** Records turned into trace messages the store took. */
  written: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  /** Records whose trace message the store refused (lost, as a client's failed trace send). */
  failed: number;
  /** Deliveries not remembered for a commit record (too many pending). */
  untracked: number;
}

/** What the tracer needs of the broker. */
export interface BrokerTraceHost {
  readonly traceTopic: string;
  readonly regionId: string;
  readonly storeHost: SocketAddr;
  /** System topics are never traced (TopicValidator.isSystemTopic and this broker's own). */
  isSystemTopic(topic: string): boolean;
  /** Write trace messages (one topic and queue): the store's putBatch. */
  putBatch(inputs: PutInput[]): Promise<unknown>;
  /** Write queues of the trace topic (0: it does not exist; nothing is written). */
  traceQueueNums(): number;
  logger: Logger;
}

/** A store, as onStored sees it: strings only, so no body stays referenced. */
interface StoredEvent {
  kind: 'stored';
  timeStamp: number;
  group: string;
  clientHost: string;
  topic: string;
  properties: string;
  bodyLength: number;
  costMs: number;
  offsetMsgId: string | null;
}

type TraceEvent = StoredEvent | { kind: 'record'; record: TraceRecord };

interface PendingDelivery {
  queueOffset: number;
  msgId: string;
  keys: string | null;
  requestId: string;
  deliveredAt: number;
}

export class BrokerTracer {
  readonly stats: BrokerTraceStats = { written: 0, dropped: 0, failed: 0, untracked: 0 };
  private queue: TraceEvent[] = [];
  /** Per `group\u0001topic\u0001queueId`: deliveries not yet committed, by queue offset ascending. */
  private readonly pending = new Map<string, PendingDelivery[]>();
  private pendingCount = 0;
  private deliverySeq = 0;
  private queueRound = 0;
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private lastSweepMs = Date.now();
  private closed = false;
  private flushQueued = false;
  private readonly storeHostText: string;

  constructor(private readonly host: BrokerTraceHost) {
    this.storeHostText = formatSocketAddr(host.storeHost);
    this.timer = setInterval(() => void this.flush(), BROKER_TRACE_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Is `topic` one whose messages are traced (a user topic, or a group's retry/DLQ topic)? */
  traces(topic: string): boolean {
    return topic !== this.host.traceTopic && !this.host.isSystemTopic(topic);
  }

  /** A message was stored (or refused: `out` undefined). Cheap: the record is built at flush. */
  onStored(input: PutInput, out: PutOutput | undefined, group: string, clientHost: string, costMs: number): void {
    this.push({
      kind: 'stored',
      timeStamp: Date.now(),
      group,
      clientHost,
      topic: input.topic,
      properties: input.properties,
      bodyLength: input.body.length,
      costMs,
      offsetMsgId: out ? out.offsetMsgId : null,
    });
  }

  /** A pull returned `records` (stored message bytes) of `topic` to `clientHost` for `group`. */
  onDelivered(group: string, topic: string, queueId: number, clientHost: string, records: readonly Buffer[]): void {
    if (!this.traces(topic)) return;
    const now = Date.now();
    const key = pendingKey(group, topic, queueId);
    for (const buf of records) {
      let m;
      try {
        m = decodeRecord(buf);
      } catch {
        // Never the pull's problem: a record that cannot be read is not traced.
        this.stats.failed++;
        continue;
      }
      const props = pickProperties(m.properties, DELIVERY_PROPS);
      const msgId = props[Prop.UNIQ_KEY] ?? props[Prop.ORIGIN_MESSAGE_ID] ?? createOffsetMsgId(m.storeHost, m.commitLogOffset);
      const keys = props[Prop.KEYS] ?? null;
      const requestId = `${(++this.deliverySeq).toString(36)}@${clientHost}`;
      this.push({
        kind: 'record',
        record: { type: 'SubBefore', timeStamp: now, regionId: this.host.regionId, groupName: BROKER_TRACE_GROUP_PREFIX + group, requestId, msgId, retryTimes: m.reconsumeTimes, keys },
      });
      this.remember(key, { queueOffset: m.queueOffset, msgId, keys, requestId, deliveredAt: now });
    }
  }

  /** `group` committed `offset` on a queue: every remembered delivery below it is committed. */
  onCommitted(group: string, topic: string, queueId: number, offset: number): void {
    const key = pendingKey(group, topic, queueId);
    const list = this.pending.get(key);
    if (!list) return;
    let n = 0;
    while (n < list.length && list[n]!.queueOffset < offset) n++;
    if (n === 0) return;
    const now = Date.now();
    for (const d of list.splice(0, n)) {
      this.push({
        kind: 'record',
        record: { type: 'SubAfter', requestId: d.requestId, msgId: d.msgId, costTime: now - d.deliveredAt, success: true, keys: d.keys, contextCode: 0, timeStamp: now, groupName: BROKER_TRACE_GROUP_PREFIX + group },
      });
    }
    this.pendingCount -= n;
    if (list.length === 0) this.pending.delete(key);
  }

  /** Write what waits; resolves when written (writes never overlap). */
  flush(): Promise<void> {
    if (this.queue.length === 0) return this.writing;
    const events = this.queue;
    this.queue = [];
    this.writing = this.writing.then(() => this.write(events));
    this.sweep();
    return this.writing;
  }

  /** Stop taking events and write what waits. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }

  private push(e: TraceEvent): void {
    if (this.closed || this.queue.length >= BROKER_TRACE_QUEUE_MAX) {
      this.stats.dropped++;
      return;
    }
    // A full trace message's worth is written at once rather than on the timer: events then die
    // young (before a scavenge copies them), which under load costs less than the timer's larger batches.
    if (this.queue.push(e) === BROKER_TRACE_BATCH_RECORDS && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        void this.flush();
      });
    }
  }

  private remember(key: string, d: PendingDelivery): void {
    let list = this.pending.get(key);
    if (!list) {
      list = [];
      this.pending.set(key, list);
    }
    // A redelivery (consumer retry, rebalance, reset) replaces the earlier delivery of that offset.
    const at = lowerBound(list, d.queueOffset);
    if (list[at]?.queueOffset === d.queueOffset) {
      list[at] = d;
      return;
    }
    if (this.pendingCount >= BROKER_TRACE_PENDING_COMMITS_MAX) {
      this.stats.untracked++;
      return;
    }
    list.splice(at, 0, d);
    this.pendingCount++;
  }

  /** Forget deliveries older than BROKER_TRACE_PENDING_MAX_AGE_MS (checked at most once a minute). */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweepMs < 60_000) return;
    this.lastSweepMs = now;
    for (const [key, list] of this.pending) {
      const kept = list.filter((d) => now - d.deliveredAt < BROKER_TRACE_PENDING_MAX_AGE_MS);
      this.pendingCount -= list.length - kept.length;
      if (kept.length === 0) this.pending.delete(key);
      else this.pending.set(key, kept);
    }
  }

  /** Never rejects: the write chain (flush) must survive any failure. */
  private async write(events: TraceEvent[]): Promise<void> {
    try {
      await this.writeOnce(events);
    } catch (err) {
      this.stats.failed += events.length;
      this.host.logger.warn(`broker trace: ${events.length} event(s) not written: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async writeOnce(events: TraceEvent[]): Promise<void> {
    const queueNums = this.host.traceQueueNums();
    if (queueNums <= 0) {
      this.stats.failed += events.length;
      return;
    }
    const records: TraceRecord[] = [];
    for (const e of events) {
      const r = e.kind === 'record' ? e.record : this.pubOf(e);
      if (r) records.push(r);
    }
    if (records.length === 0) return;
    const inputs = this.messagesOf(records, this.queueRound++ % queueNums);
    try {
      await this.host.putBatch(inputs);
      this.stats.written += records.length;
    } catch (err) {
      this.stats.failed += records.length;
      this.host.logger.warn(`broker trace: ${records.length} record(s) not written to ${this.host.traceTopic}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The Pub record of a store; undefined for topics not traced (checked here, off the send path). */
  private pubOf(e: StoredEvent): TraceRecord | undefined {
    const props = pickProperties(e.properties, PUB_PROPS);
    // A delayed message (a retry too) is stored in SCHEDULE_TOPIC_XXXX first: trace its real topic.
    const topic = e.topic === SCHEDULE_TOPIC ? (props[Prop.REAL_TOPIC] ?? e.topic) : e.topic;
    const msgId = props[Prop.UNIQ_KEY] ?? props[Prop.ORIGIN_MESSAGE_ID] ?? e.offsetMsgId;
    // A refused message without a UNIQ_KEY (ali-ons sends none) has no id to find it by.
    if (!this.traces(topic) || msgId === null) return undefined;
    const delay = Number(props[Prop.DELAY] ?? 0);
    // MessageType ordinals: 0 normal, 1 half (transaction prepared), 3 delay.
    const msgType = props[Prop.TRAN_MSG] === 'true' ? 1 : delay > 0 ? 3 : 0;
    return {
      type: 'Pub',
      timeStamp: e.timeStamp,
      regionId: this.host.regionId,
      groupName: BROKER_TRACE_GROUP_PREFIX + e.group,
      topic,
      msgId,
      tags: props[Prop.TAGS] ?? null,
      keys: props[Prop.KEYS] ?? null,
      storeHost: this.storeHostText,
      bodyLength: e.bodyLength,
      costTime: e.costMs,
      msgType,
      offsetMsgId: e.offsetMsgId,
      success: e.offsetMsgId !== null,
      clientHost: e.clientHost,
    };
  }

  /** Records → trace messages of at most BROKER_TRACE_BATCH_RECORDS records and BROKER_TRACE_MAX_BODY_BYTES. */
  private messagesOf(records: TraceRecord[], queueId: number): PutInput[] {
    const out: PutInput[] = [];
    let batch: TraceRecord[] = [];
    let body = '';
    let chars = 0;
    for (const r of records) {
      const text = encodeTrace(r);
      // A UTF-16 unit is at most 3 UTF-8 bytes: a bound on the body's bytes without measuring it.
      if (batch.length >= BROKER_TRACE_BATCH_RECORDS || (batch.length > 0 && (chars + text.length) * 3 > BROKER_TRACE_MAX_BODY_BYTES)) {
        out.push(this.traceMessage(batch, body, queueId));
        batch = [];
        body = '';
        chars = 0;
      }
      batch.push(r);
      body += text;
      chars += text.length;
    }
    if (batch.length > 0) out.push(this.traceMessage(batch, body, queueId));
    return out;
  }

  /** A trace message as AsyncTraceDispatcher sends one: KEYS = ids and keys; born at the broker. */
  private traceMessage(records: TraceRecord[], body: string, queueId: number): PutInput {
    const now = Date.now();
    return {
      topic: this.host.traceTopic,
      queueId,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: now,
      bornHost: this.host.storeHost,
      body: Buffer.from(body, 'utf8'),
      properties: encodeProperties({ [Prop.KEYS]: traceKeys(records), [Prop.UNIQ_KEY]: createUniqId(now) }),
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
    };
  }
}

function pendingKey(group: string, topic: string, queueId: number): string {
  return `${group}\u0001${topic}\u0001${queueId}`;
}

/** First index whose queueOffset is >= offset (deliveries mostly arrive in order: check the end first). */
function lowerBound(list: readonly PendingDelivery[], offset: number): number {
  if (list.length === 0 || list[list.length - 1]!.queueOffset < offset) return list.length;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.queueOffset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
