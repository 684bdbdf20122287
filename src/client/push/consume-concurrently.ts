/**
 * Concurrent consumption (Java ConsumeMessageConcurrentlyService at 4.9.8): every pulled message
 * gets its own handler run, at most consumeConcurrency at once; a message is committed when its
 * handler succeeded or a copy of it is back on the broker (processConsumeResult), and a handler
 * stuck past consumeTimeout is taken over (cleanExpireMsg).
 */
import { RocketError } from '../../errors/index.js';
import type { MessageExt } from '../message.js';
import type { ConsumeContext, HandlerOutcome } from './handler.js';
import type { ConsumeService, PushContext, QueueState } from './context.js';
import { DEFAULT_CONSUME_TIMEOUT_MS } from './options.js';
import { sendMessageBack } from './send-back.js';

/** A message whose send-back and fallback resend both failed is consumed again after this. */
const CONSUME_AGAIN_DELAY_MS = 5_000;
/** How often stuck handlers are looked for (consumeTimeout). */
const CONSUME_TIMEOUT_SCAN_MS = 60_000;
/** The delay level a timed-out message is sent back with (ProcessQueue#cleanExpiredMsg: sendMessageBack(msg, 3)). */
const EXPIRED_SEND_BACK_DELAY_LEVEL = 3;

export class ConsumeConcurrently implements ConsumeService {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: PushContext) {}

  start(): void {
    this.timer = setInterval(() => this.cleanExpiredMessages(), Math.min(CONSUME_TIMEOUT_SCAN_MS, this.ctx.opts.consumeTimeoutMs ?? DEFAULT_CONSUME_TIMEOUT_MS));
  }

  shutdown(): void {
    clearInterval(this.timer);
  }

  submitConsumeRequest(st: QueueState, msgs: MessageExt[]): void {
    for (const m of msgs) this.consumeSoon(st, m);
  }

  onLocked(): void {}

  /**
   * Run the handler for `msg` under a permit of the handler pool. With a permit free and a
   * synchronous handler, the whole run (handler, commit) happens now, without a promise.
   */
  private consumeSoon(st: QueueState, msg: MessageExt): void {
    const { pool } = this.ctx.handlers;
    if (pool.tryAcquire()) this.consumeHeld(st, msg);
    else void pool.acquire().then(() => this.consumeHeld(st, msg));
  }

  /** The permit is held: run, then release it (at once, or when an asynchronous part settles). */
  private consumeHeld(st: QueueState, msg: MessageExt): void {
    const { ctx } = this;
    let pending: Promise<void> | undefined;
    try {
      if (!ctx.isRunning() || st.pq.dropped) return;
      const cctx = ctx.handlers.context(st.mq);
      const outcome = ctx.handlers.invoke(st, msg, cctx);
      pending = outcome instanceof Promise ? outcome.then((o) => this.afterHandler(st, msg, cctx, o)) : this.afterHandler(st, msg, cctx, outcome);
    } catch (err) {
      ctx.report(err, `consuming ${msg.msgId}`);
    } finally {
      // Closures only for a run that goes on asynchronously (not per message).
      if (pending) {
        void pending
          .catch((err: unknown) => ctx.report(err, `consuming ${msg.msgId}`))
          .finally(() => ctx.handlers.pool.release());
      } else {
        ctx.handlers.pool.release();
      }
    }
  }

  /** Commit a consumed message, or get a failed one consumed again; a promise only when that waits (send-back). */
  private afterHandler(st: QueueState, msg: MessageExt, cctx: ConsumeContext, { ok, run }: HandlerOutcome): Promise<void> | undefined {
    const { ctx } = this;
    // A queue given up while the handler ran (rebalance, reset, close) commits nothing.
    if (st.pq.dropped || run.expired) return undefined;
    if (ok || !ctx.clustering) {
      if (!ok) ctx.report(new RocketError(`broadcast message ${msg.msgId} failed and is dropped (broadcasting has no retry)`, { code: 'E_CONSUME_FAILED' }), 'consume');
      this.commit(st, msg);
      return undefined;
    }
    return this.retry(st, msg, cctx);
  }

  /** A failed message: a copy back to the broker (then commit), else consume it again later. */
  private async retry(st: QueueState, msg: MessageExt, cctx: ConsumeContext): Promise<void> {
    const { ctx } = this;
    if (await sendMessageBack(ctx, msg, cctx.delayLevelWhenNextConsume)) {
      if (!st.pq.dropped) this.commit(st, msg);
      return;
    }
    // Nowhere to put a copy: keep it in flight (its offset is not passed) and consume it again.
    msg.reconsumeTimes++;
    void ctx.sleep(CONSUME_AGAIN_DELAY_MS).then(() => {
      if (ctx.isRunning() && !st.pq.dropped) this.consumeSoon(st, msg);
    });
  }

  private commit(st: QueueState, msg: MessageExt): void {
    const offset = st.pq.removeMessages([msg]);
    if (offset >= 0 && !st.pq.dropped) this.ctx.offsetStore.updateOffset(st.mq, offset, true);
  }

  /**
   * consumeTimeout: a handler running longer than consumeTimeoutMs has its message sent back (so a
   * copy exists) and removed from flight, so one stuck handler cannot hold the queue's offset
   * forever. Its eventual outcome is ignored.
   */
  private cleanExpiredMessages(): void {
    const { ctx } = this;
    if (!ctx.clustering || !ctx.isRunning()) return;
    const limitMs = ctx.opts.consumeTimeoutMs ?? DEFAULT_CONSUME_TIMEOUT_MS;
    const now = Date.now();
    for (const run of [...ctx.handlers.running]) {
      if (run.expired || now - run.startMs < limitMs) continue;
      run.expired = true;
      void sendMessageBack(ctx, run.msg, EXPIRED_SEND_BACK_DELAY_LEVEL).then((ok) => {
        if (ok && !run.st.pq.dropped) this.commit(run.st, run.msg);
        else run.expired = false;
      });
    }
  }
}
