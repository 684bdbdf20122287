/**
 * One long-poll loop per held queue (Java PullMessageService with DefaultMQPushConsumerImpl#pullMessage
 * and PullAPIWrapper#processPullResult at 4.9.8): flow control on the ProcessQueue, the broker lock
 * of orderly clustering queues, PULL_MESSAGE with the commit offset piggy-backed, and the answer's
 * messages handed to the consume service.
 */
import { RemoteError, RocketError } from '../../errors/index.js';
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../protocol/frame.js';
import { Prop } from '../../protocol/properties.js';
import { mqKey } from '../allocate.js';
import { decodeMessages } from '../message.js';
import { OFFSET_NOT_FOUND } from '../offset-store.js';
import { matchesSubscription } from '../tag-expression.js';
import { describeMq, type PushContext, type QueueState } from './context.js';
import { lockQueue, unlockQueues } from './lock.js';
import { DEFAULT_PULL_BATCH_SIZE, DEFAULT_PULL_THRESHOLD_FOR_QUEUE, DEFAULT_PULL_THRESHOLD_SIZE_FOR_QUEUE_MIB, DEFAULT_PULL_TIME_DELAY_MS_WHEN_EXCEPTION } from './options.js';

/** DefaultMQPushConsumerImpl's BROKER_SUSPEND_MAX_TIME_MILLIS / CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND: how long the broker may hold a pull, and how long the client waits for its answer. */
export const BROKER_SUSPEND_MAX_TIME_MS = 15_000;
export const CONSUMER_TIMEOUT_MS_WHEN_SUSPEND = 30_000;
/** Flow control: wait this long before looking again at a full queue (PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL). */
const FLOW_CONTROL_DELAY_MS = 50;

/** PullSysFlag bits. */
const PULL_FLAG_COMMIT_OFFSET = 0x1;
const PULL_FLAG_SUSPEND = 0x2;
const PULL_FLAG_SUBSCRIPTION = 0x4;

export class PullLoop {
  constructor(private readonly ctx: PushContext) {}

  /** Start pulling a queue just put into the queue table (PullMessageService#executePullRequestImmediately). */
  dispatch(st: QueueState): void {
    st.loop = this.run(st).catch((err: unknown) => this.ctx.report(err, `pull loop of ${describeMq(st.mq)}`));
  }

  /** Until the queue is dropped or the consumer stops; every turn pulls once or waits. */
  private async run(st: QueueState): Promise<void> {
    const { ctx } = this;
    const { pq } = st;
    const countLimit = ctx.opts.pullThresholdForQueue ?? DEFAULT_PULL_THRESHOLD_FOR_QUEUE;
    const sizeLimitBytes = (ctx.opts.pullThresholdSizeForQueueMiB ?? DEFAULT_PULL_THRESHOLD_SIZE_FOR_QUEUE_MIB) * 1024 * 1024;
    const errorDelayMs = ctx.opts.pullTimeDelayMsWhenException ?? DEFAULT_PULL_TIME_DELAY_MS_WHEN_EXCEPTION;
    while (ctx.isRunning() && !pq.dropped) {
      if (pq.msgCount >= countLimit || pq.msgSize >= sizeLimitBytes) {
        await ctx.sleep(FLOW_CONTROL_DELAY_MS);
        continue;
      }
      if (ctx.usesQueueLocks && (!pq.locked || pq.isLockExpired())) {
        if (await lockQueue(ctx, st.mq)) {
          pq.locked = true;
          pq.lastLockTimestamp = Date.now();
          ctx.consumeService.onLocked(st);
        } else {
          pq.locked = false;
          await ctx.sleep(errorDelayMs);
          continue;
        }
      }
      try {
        await this.pullOnce(st);
      } catch (err) {
        if (!ctx.isRunning() || pq.dropped) break;
        ctx.report(err, `pull from ${describeMq(st.mq)}`);
        if (err instanceof RemoteError && (err.responseCode === ResponseCode.SUBSCRIPTION_NOT_EXIST || err.responseCode === ResponseCode.SUBSCRIPTION_NOT_LATEST)) {
          void ctx.instance.sendHeartbeatToAllBrokers();
        }
        await ctx.sleep(errorDelayMs);
        continue;
      }
      if (ctx.opts.pullIntervalMs) await ctx.sleep(ctx.opts.pullIntervalMs);
    }
  }

  private async pullOnce(st: QueueState): Promise<void> {
    const { ctx } = this;
    const { instance } = ctx;
    const { mq, pq } = st;
    const sub = ctx.subscriptions.get(mq.topic);
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
    const commitOffset = ctx.clustering ? await ctx.offsetStore.readOffset(mq, 'MEMORY') : OFFSET_NOT_FOUND;
    const post = ctx.opts.postSubscriptionWhenPull ?? false;
    let sysFlag = PULL_FLAG_SUSPEND;
    if (commitOffset > 0 && !target.slave) sysFlag |= PULL_FLAG_COMMIT_OFFSET;
    if (post) sysFlag |= PULL_FLAG_SUBSCRIPTION;
    const req = makeRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: ctx.group,
      topic: mq.topic,
      queueId: mq.queueId,
      queueOffset: st.nextOffset,
      maxMsgNums: ctx.opts.pullBatchSize ?? DEFAULT_PULL_BATCH_SIZE,
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
    if (!ctx.isRunning() || pq.dropped) return;
    pq.lastPullTimestamp = Date.now();
    ctx.stats.pulled(mq.topic, Date.now() - started);
    const h = res.extFields ?? {};
    const nextBegin = Number(h.nextBeginOffset);
    if (h.suggestWhichBrokerId !== undefined) st.suggestBrokerId = Number(h.suggestWhichBrokerId) || 0;
    switch (res.code) {
      case ResponseCode.SUCCESS: {
        const msgs = decodeMessages(bodyBuffer(res), { brokerName: mq.brokerName, restoreRetryTopicForGroup: ctx.group })
          .filter((m) => matchesSubscription(sub, m.tags));
        for (const m of msgs) {
          if (h.minOffset !== undefined) m.properties[Prop.MIN_OFFSET] = h.minOffset;
          if (h.maxOffset !== undefined) m.properties[Prop.MAX_OFFSET] = h.maxOffset;
        }
        if (Number.isFinite(nextBegin)) st.nextOffset = nextBegin;
        const dispatchToConsume = pq.putMessages(msgs, nextBegin);
        if (msgs.length === 0) {
          this.correctTagsOffset(st);
          return;
        }
        ctx.consumeService.submitConsumeRequest(st, msgs, dispatchToConsume);
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

  /** Nothing of this queue in flight: the next pull offset is also a safe commit point (DefaultMQPushConsumerImpl#correctTagsOffset). */
  private correctTagsOffset(st: QueueState): void {
    if (st.pq.msgCount === 0) this.ctx.offsetStore.updateOffset(st.mq, st.nextOffset, true);
  }

  /**
   * PULL_OFFSET_MOVED (the queue was truncated or reset under us): as Java, drop the queue, store
   * the broker's nextBeginOffset, and let the next rebalance pick the queue up from there.
   */
  private async offsetMoved(st: QueueState, nextBegin: number): Promise<void> {
    const { ctx } = this;
    if (!Number.isFinite(nextBegin)) return;
    st.pq.dropped = true;
    const key = mqKey(st.mq);
    if (ctx.queues.get(key) === st) ctx.queues.delete(key);
    await st.idle;
    ctx.offsetStore.updateOffset(st.mq, nextBegin, false);
    await ctx.offsetStore.persist(st.mq, true).catch((err: unknown) => ctx.report(err, 'persisting a moved offset'));
    ctx.offsetStore.removeOffset(st.mq);
    if (ctx.usesQueueLocks) await unlockQueues(ctx, [st.mq]).catch(() => undefined);
    void ctx.rebalanceSoon();
  }
}
