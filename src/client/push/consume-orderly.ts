/**
 * Orderly consumption (Java ConsumeMessageOrderlyService at 4.9.8): one message at a time per queue,
 * in queue order, only while this member holds the queue's broker lock (clustering); a failure
 * suspends the queue and retries the same message (processConsumeResult), and when local retries
 * run out a copy goes to %RETRY% with its reconsume count at the maximum, so the broker moves it to
 * %DLQ% (sendMessageBack). Locks are renewed every lockIntervalMs (lockMQPeriodically → RebalanceImpl#lockAll).
 */
import { mqKey } from '../allocate.js';
import type { MessageExt } from '../message.js';
import { describeMq, type ConsumeService, type PushContext, type QueueState } from './context.js';
import { lockQueues } from './lock.js';
import { DEFAULT_LOCK_INTERVAL_MS } from './options.js';
import { maxReconsumeTimes, resendToRetryTopic } from './send-back.js';

export class ConsumeOrderly implements ConsumeService {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: PushContext) {}

  start(): void {
    if (this.ctx.clustering) this.timer = setInterval(() => void this.lockAll(), this.ctx.opts.lockIntervalMs ?? DEFAULT_LOCK_INTERVAL_MS);
  }

  shutdown(): void {
    clearInterval(this.timer);
  }

  /** ProcessQueue#putMessage said whether a consume loop must start (none is running). */
  submitConsumeRequest(st: QueueState, _msgs: MessageExt[], dispatchToConsume: boolean): void {
    if (dispatchToConsume) this.run(st);
  }

  /** Start the queue's loop if it has messages and none is running. */
  onLocked(st: QueueState): void {
    if (st.pq.consuming || !st.pq.hasPending()) return;
    st.pq.consuming = true;
    this.run(st);
  }

  /** Every lockIntervalMs: renew the locks of every held queue; queues that lost theirs stop consuming. */
  private async lockAll(): Promise<void> {
    const { ctx } = this;
    if (!ctx.isRunning()) return;
    const held = [...ctx.queues.values()];
    if (held.length === 0) return;
    try {
      const ok = await lockQueues(ctx, held.map((s) => s.mq));
      const now = Date.now();
      for (const s of held) {
        const locked = ok.has(mqKey(s.mq));
        s.pq.locked = locked;
        if (locked) {
          s.pq.lastLockTimestamp = now;
          this.onLocked(s);
        }
      }
    } catch (err) {
      ctx.report(err, 'renewing queue locks');
    }
  }

  /** Chain a consume loop after the previous one; st.idle resolves when it has ended. */
  private run(st: QueueState): void {
    const { ctx } = this;
    let done!: () => void;
    const prev = st.idle;
    st.idle = new Promise<void>((r) => (done = r));
    void prev
      .then(() => this.consume(st))
      .catch((err: unknown) => ctx.report(err, `orderly consumption of ${describeMq(st.mq)}`))
      .finally(() => {
        st.pq.consuming = false;
        done();
        // Messages may have arrived while the loop was finishing.
        if (ctx.isRunning() && !st.pq.dropped && st.pq.hasPending() && (!ctx.clustering || (st.pq.locked && !st.pq.isLockExpired()))) {
          this.onLocked(st);
        }
      });
  }

  /** One message at a time, in queue order; a failure retries the same message after a pause. */
  private async consume(st: QueueState): Promise<void> {
    const { ctx } = this;
    const { pq } = st;
    const max = maxReconsumeTimes(ctx);
    // Bounded by the queue: each turn either commits a message or waits suspendCurrentQueueTimeMs.
    while (ctx.isRunning() && !pq.dropped) {
      if (ctx.clustering && (!pq.locked || pq.isLockExpired())) return; // the pull loop re-locks and restarts us
      const msgs = pq.takeMessages(1);
      if (msgs.length === 0) return;
      const msg = msgs[0]!;
      const cctx = ctx.handlers.context(st.mq);
      await ctx.handlers.pool.acquire();
      let ok: boolean;
      try {
        if (!ctx.isRunning() || pq.dropped) {
          pq.makeMessagesToConsumeAgain(msgs);
          return;
        }
        st.handlerRunning = true;
        ({ ok } = await ctx.handlers.invoke(st, msg, cctx));
      } finally {
        st.handlerRunning = false;
        ctx.handlers.pool.release();
      }
      if (pq.dropped) return;
      if (!ok && msg.reconsumeTimes >= max) {
        // Out of local retries: park a copy in the DLQ (through %RETRY% with RECONSUME_TIME ≥ max).
        ok = await resendToRetryTopic(ctx, msg, Math.max(msg.reconsumeTimes, max), undefined);
      }
      if (ok) {
        const offset = pq.commit();
        if (offset >= 0 && !pq.dropped) ctx.offsetStore.updateOffset(st.mq, offset, false);
        continue;
      }
      msg.reconsumeTimes++;
      pq.makeMessagesToConsumeAgain(msgs);
      await ctx.sleep(cctx.suspendCurrentQueueTimeMs);
    }
  }
}
