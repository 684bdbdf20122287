/**
 * Concurrent consumption (Java ConsumeMessageConcurrentlyService at 4.9.8): every pulled message
 * gets its own handler run, at most consumeConcurrency at once; a message is committed when its
 * handler succeeded or a copy of it is back on the broker (processConsumeResult), and a handler
 * stuck past consumeTimeout is taken over (cleanExpireMsg).
 */
import { RocketError } from '../../errors/index.js';
import type { MessageExt } from '../message.js';
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

  private consumeSoon(st: QueueState, msg: MessageExt): void {
    void this.consume(st, msg).catch((err: unknown) => this.ctx.report(err, `consuming ${msg.msgId}`));
  }

  private async consume(st: QueueState, msg: MessageExt): Promise<void> {
    const { ctx } = this;
    if (!ctx.handlers.pool.tryAcquire()) await ctx.handlers.pool.acquire();
    try {
      if (!ctx.isRunning() || st.pq.dropped) return;
      const cctx = ctx.handlers.context(st.mq);
      const { ok, run } = await ctx.handlers.invoke(st, msg, cctx);
      // A queue given up while the handler ran (rebalance, reset, close) commits nothing.
      if (st.pq.dropped || run.expired) return;
      if (ok || !ctx.clustering) {
        if (!ok) ctx.report(new RocketError(`broadcast message ${msg.msgId} failed and is dropped (broadcasting has no retry)`, { code: 'E_CONSUME_FAILED' }), 'consume');
        this.commit(st, msg);
        return;
      }
      if (await sendMessageBack(ctx, msg, cctx.delayLevelWhenNextConsume)) {
        if (!st.pq.dropped) this.commit(st, msg);
        return;
      }
      // Nowhere to put a copy: keep it in flight (its offset is not passed) and consume it again.
      msg.reconsumeTimes++;
      void ctx.sleep(CONSUME_AGAIN_DELAY_MS).then(() => {
        if (ctx.isRunning() && !st.pq.dropped) this.consumeSoon(st, msg);
      });
    } finally {
      ctx.handlers.pool.release();
    }
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
