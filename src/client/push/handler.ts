/**
 * The handler a push consumer calls (Java MessageListenerConcurrently / MessageListenerOrderly),
 * and how it is called: the run bookkeeping the consume-timeout scan reads, the SubBefore/SubAfter
 * trace pair (ConsumeMessageTraceHookImpl), the consume counters, and CONSUME_MESSAGE_DIRECTLY
 * (ConsumeMessageConcurrentlyService#consumeMessageDirectly and its orderly twin).
 */
import { encodeJson, type MessageQueue } from '../../protocol/bodies.js';
import { Prop } from '../../protocol/properties.js';
import { createUniqId } from '../../protocol/uniq-id.js';
import { errText } from '../client-instance.js';
import type { MessageExt } from '../message.js';
import type { PushContext, QueueState } from './context.js';
import { DEFAULT_CONSUME_CONCURRENCY, DEFAULT_SUSPEND_CURRENT_QUEUE_TIME_MS } from './options.js';

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

export interface RunningHandler {
  msg: MessageExt;
  st: QueueState;
  startMs: number;
  /** Taken over by the consume-timeout scan: the handler's own outcome is ignored. */
  expired: boolean;
}

/** What one handler run came to. */
export interface HandlerOutcome {
  ok: boolean;
  run: RunningHandler;
}

function isThenable(r: unknown): r is PromiseLike<unknown> {
  return r !== null && (typeof r === 'object' || typeof r === 'function') && typeof (r as { then?: unknown }).then === 'function';
}

function isFailure(r: unknown): boolean {
  return r === false || r === 'RECONSUME_LATER' || r === 'SUSPEND_CURRENT_QUEUE_A_MOMENT';
}

/** At most n holders at once. */
class Semaphore {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  /** A permit now if one is free (no promise, no microtask: the common case). */
  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
  release(): void {
    const w = this.waiters.shift();
    if (w) w();
    else this.free++;
  }
}

export class HandlerInvoker {
  /** Set by start(). */
  handler: MessageHandler | undefined;
  /** Handlers running right now. */
  readonly running = new Set<RunningHandler>();
  /**
   * At most consumeConcurrency handlers at once, over all queues (Java: the consume service's
   * consumeExecutor); the consume services hold a permit around each run.
   */
  readonly pool: Semaphore;

  constructor(private readonly ctx: PushContext) {
    this.pool = new Semaphore(Math.max(1, ctx.opts.consumeConcurrency ?? DEFAULT_CONSUME_CONCURRENCY));
  }

  context(queue: MessageQueue): ConsumeContext {
    return {
      queue,
      delayLevelWhenNextConsume: 0,
      suspendCurrentQueueTimeMs: this.ctx.opts.suspendCurrentQueueTimeMs ?? DEFAULT_SUSPEND_CURRENT_QUEUE_TIME_MS,
    };
  }

  /**
   * Run the handler; ok when it consumed the message. The outcome comes back at once when the
   * handler returned a plain value (or threw), else as a promise: a synchronous handler costs no
   * promise and no microtask per message.
   */
  invoke(st: QueueState, msg: MessageExt, cctx: ConsumeContext): HandlerOutcome | Promise<HandlerOutcome> {
    const run: RunningHandler = { msg, st, startMs: Date.now(), expired: false };
    this.running.add(run);
    let r: ReturnType<MessageHandler>;
    try {
      r = this.handler!(msg, cctx);
    } catch (err) {
      return this.finish(run, false, true, err);
    }
    if (isThenable(r)) return Promise.resolve(r).then((v) => this.finish(run, !isFailure(v), false), (err: unknown) => this.finish(run, false, true, err));
    return this.finish(run, !isFailure(r), false);
  }

  /** A handler run ended: bookkeeping, trace and counters. With `threw`, `err` is what it threw. */
  private finish(run: RunningHandler, ok: boolean, threw: boolean, err?: unknown): HandlerOutcome {
    this.running.delete(run);
    if (threw) this.ctx.report(err, `handler for ${run.msg.msgId}`);
    if (this.ctx.tracer) this.traceConsume(run.msg, run.startMs, ok, threw);
    this.ctx.stats.consumed(run.msg.topic, ok, Date.now() - run.startMs);
    return { ok, run };
  }

  /** CONSUME_MESSAGE_DIRECTLY: run the handler on one message outside any queue, report the outcome. */
  async consumeDirectly(msg: MessageExt): Promise<Buffer> {
    const started = Date.now();
    let consumeResult = 'CR_SUCCESS';
    let remark = '';
    try {
      const r = await this.handler?.(msg, this.context(msg.queue));
      if (isFailure(r)) consumeResult = this.ctx.orderly ? 'CR_ROLLBACK' : 'CR_LATER';
    } catch (err) {
      consumeResult = 'CR_THROW_EXCEPTION';
      remark = errText(err);
    }
    return encodeJson({ autoCommit: true, consumeResult, order: this.ctx.orderly, remark, spentTimeMills: Date.now() - started });
  }

  /**
   * SubBefore and SubAfter of one handled message (ConsumeMessageTraceHookImpl), one request id
   * for the pair; not for the trace topic itself or a message sent with TRACE_ON=false.
   */
  private traceConsume(msg: MessageExt, started: number, ok: boolean, threw: boolean): void {
    const { tracer, group } = this.ctx;
    if (!tracer || msg.topic === tracer.traceTopic || msg.properties[Prop.TRACE_ON] === 'false') return;
    const requestId = createUniqId();
    const keys = msg.keys.length > 0 ? msg.keys.join(' ') : null;
    const regionId = msg.properties[Prop.MSG_REGION] ?? null;
    const ended = Date.now();
    tracer.append([
      { type: 'SubBefore', timeStamp: started, regionId, groupName: group, requestId, msgId: msg.msgId, retryTimes: msg.reconsumeTimes, keys },
      // contextCode: ConsumeReturnType SUCCESS 0, EXCEPTION 2, FAILED 4.
      { type: 'SubAfter', requestId, msgId: msg.msgId, costTime: ended - started, success: ok, keys, contextCode: ok ? 0 : threw ? 2 : 4, timeStamp: ended, groupName: group },
    ]);
  }
}
