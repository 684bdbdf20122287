/**
 * Message traces written by our clients (apache/rocketmq client trace: Apache's AsyncTraceDispatcher and the
 * send / consume / end-transaction trace hooks): producers and push consumers created with
 * `enableMsgTrace` hand a record per send (Pub), per consume (SubBefore, SubAfter) and per
 * transaction end (EndTransaction) to a TraceBatcher, which batches them into trace messages on
 * the trace topic (RMQ_SYS_TRACE_TOPIC, or the client's customizedTraceTopic) in TraceDataEncoder's
 * text format, keyed by every message id and key they hold — so `rocketctl queryMsgTrace` and
 * Apache's `mqadmin queryMsgTraceById` find them.
 *
 * Tracing never gets in the way of the traced client: records wait in a bounded queue (full:
 * dropped and counted), are sent in the background by an internal producer of their own group
 * (`_INNER_TRACE_PRODUCER-<group>-<PRODUCE|CONSUME>-<n>`), and a trace send that fails is counted,
 * not retried or reported to the business call. close() sends what is queued, bounded in time.
 *
 * The internal producer is handed in (a TraceSender): the Producer itself traces through a
 * TraceBatcher, so this module may know Producer as a type only, or the two would import each other.
 * TraceDispatcher (trace-dispatcher.ts) is a TraceBatcher that makes its own producer.
 */
import type { ClientOptions } from './client-instance.js';
import type { Producer, ProducerOptions } from './producer.js';
import { encodeTraces, traceKeys, type TraceRecord } from '../protocol/trace.js';
import { RMQ_SYS_TRACE_TOPIC } from '../protocol/names.js';

/** AsyncTraceDispatcher's queue size (contexts waiting to be sent). */
const TRACE_QUEUE_CAPACITY = 2048;
/** Records per trace message at most, and a flush as soon as this many wait. */
const TRACE_BATCH_SIZE = 100;
/** A trace message's body stays under maxMessageSize (128000) - 10000, as Java's. */
const TRACE_MAX_BODY_BYTES = 118_000;
/** Records wait at most this long before they are sent. */
const TRACE_FLUSH_INTERVAL_MS = 500;
/** close() waits at most this long for queued traces to be sent. */
const TRACE_CLOSE_TIMEOUT_MS = 3_000;
const TRACE_SEND_TIMEOUT_MS = 5_000;

export interface TraceDispatcherOptions {
  /** Where the traced client connects: the trace producer uses the same name servers. */
  client: ClientOptions;
  /** Group of the traced producer or consumer (names the internal producer group). */
  group: string;
  kind: 'PRODUCE' | 'CONSUME';
  /** The client's customizedTraceTopic; blank: RMQ_SYS_TRACE_TOPIC. */
  traceTopic?: string;
  flushIntervalMs?: number;
  capacity?: number;
}

export interface TraceStats {
  /** Records handed to the dispatcher. */
  appended: number;
  /** Records dropped because the queue was full. */
  dropped: number;
  /** Records in trace messages the broker stored. */
  sent: number;
  /** Records in trace messages whose send failed (not retried). */
  failed: number;
}

/** What a TraceBatcher needs of its internal producer. */
type TraceSender = Pick<Producer, 'start' | 'send' | 'close'>;

let producerCounter = 0;

/** The internal trace producer's options (Java's AsyncTraceDispatcher builds its traceProducer alike). */
export function traceProducerOptions(opts: TraceDispatcherOptions): ProducerOptions {
  const n = ++producerCounter;
  return {
    ...opts.client,
    producerGroup: `_INNER_TRACE_PRODUCER-${opts.group}-${opts.kind}-${n}`,
    sendMsgTimeoutMs: TRACE_SEND_TIMEOUT_MS,
    // Trace bodies are text: plain, as Java sends them (its trace producer does not compress).
    compressMsgBodyOverBytes: -1,
  };
}

/** The trace topic a client with `customizedTraceTopic` writes to (Java: null or blank → default). */
export function traceTopicOf(customizedTraceTopic: string | undefined): string {
  return customizedTraceTopic && customizedTraceTopic.trim() !== '' ? customizedTraceTopic.trim() : RMQ_SYS_TRACE_TOPIC;
}

export class TraceBatcher {
  readonly traceTopic: string;
  readonly stats: TraceStats = { appended: 0, dropped: 0, sent: 0, failed: 0 };
  private readonly capacity: number;
  private readonly flushIntervalMs: number;
  /** One entry per traced send or consume (its records travel together). */
  private queue: TraceRecord[][] = [];
  private queuedRecords = 0;
  private timer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private inFlight = new Set<Promise<void>>();
  private closed = false;

  /** `producer`: made with traceProducerOptions(opts); the batcher starts and closes it. */
  constructor(
    opts: TraceDispatcherOptions,
    private readonly producer: TraceSender,
  ) {
    this.traceTopic = traceTopicOf(opts.traceTopic);
    this.capacity = opts.capacity ?? TRACE_QUEUE_CAPACITY;
    this.flushIntervalMs = opts.flushIntervalMs ?? TRACE_FLUSH_INTERVAL_MS;
  }

  /** Queue the records of one send or consume; never blocks or throws. */
  append(records: TraceRecord[]): void {
    if (this.closed || records.length === 0) return;
    this.stats.appended += records.length;
    if (this.queue.length >= this.capacity) {
      this.stats.dropped += records.length;
      return;
    }
    this.queue.push(records);
    this.queuedRecords += records.length;
    if (this.queuedRecords >= TRACE_BATCH_SIZE) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Send everything queued now (in the background); resolves when those sends have finished. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const sends: Array<Promise<void>> = [];
    while (this.queue.length > 0) {
      const batch: TraceRecord[] = [];
      let body = '';
      let bytes = 0;
      while (this.queue.length > 0 && batch.length < TRACE_BATCH_SIZE) {
        const next = this.queue[0]!;
        const text = encodeTraces(next);
        const size = Buffer.byteLength(text);
        if (batch.length > 0 && bytes + size > TRACE_MAX_BODY_BYTES) break;
        this.queue.shift();
        this.queuedRecords -= next.length;
        batch.push(...next);
        body += text;
        bytes += size;
      }
      sends.push(this.track(this.send(batch, body)));
    }
    return Promise.all(sends).then(() => undefined);
  }

  /** Stop taking records, send what is queued (at most `timeoutMs`), close the trace producer. */
  async close(timeoutMs = TRACE_CLOSE_TIMEOUT_MS): Promise<void> {
    if (this.closed) return;
    void this.flush();
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.inFlight]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    await this.producer.close();
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    return p.finally(() => this.inFlight.delete(p));
  }

  /** One trace message: `body` is the records' encoding (records concatenate). */
  private async send(records: TraceRecord[], body: string): Promise<void> {
    try {
      this.started ??= this.producer.start();
      await this.started;
      const keys = traceKeys(records);
      await this.producer.send({ topic: this.traceTopic, body, keys: keys === '' ? undefined : keys.split(' ') });
      this.stats.sent += records.length;
    } catch {
      // A trace that cannot be written is lost, never the traced message's problem (as Java).
      this.stats.failed += records.length;
    }
  }
}
