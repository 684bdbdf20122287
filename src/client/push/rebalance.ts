/**
 * Which queues this member consumes (Java RebalanceImpl / RebalancePushImpl at 4.9.8): per topic,
 * all queues (broadcasting) or this member's share of them (clustering, the allocate strategy over
 * GET_CONSUMER_LIST_BY_GROUP); queues taken get a ProcessQueue and a pull loop, queues given up are
 * frozen and their offsets persisted. Also RESET_CONSUMER_CLIENT_OFFSET (MQClientInstance#resetOffset),
 * which drops queues and lets the next round take them again from the new offsets.
 */
import { RemoteError } from '../../errors/index.js';
import { decodeStringList, type MessageQueue } from '../../protocol/bodies.js';
import { RequestCode, ResponseCode } from '../../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../protocol/frame.js';
import { RETRY_GROUP_TOPIC_PREFIX } from '../../protocol/names.js';
import { allocateAveragely, mqKey } from '../allocate.js';
import { ProcessQueue } from '../process-queue.js';
import { describeMq, withTimeout, type PushContext, type QueueState } from './context.js';
import { lockQueue, unlockQueues } from './lock.js';
import { parseConsumeTimestamp } from './options.js';

/** Rebalance again this soon when a round could not finish (an orderly queue still locked elsewhere, our heartbeat not yet seen); Java waits for the 20 s tick. */
const REBALANCE_AGAIN_DELAY_MS = 1_000;
/** A burst of notifications causes at most this many back-to-back rounds. */
const REBALANCE_ROUNDS_MAX = 3;
/** Upper bound on waiting for a running orderly handler when resetting offsets. */
const RESET_WAIT_FOR_HANDLER_MS = 30_000;

export class RebalancePush {
  private running: Promise<void> | undefined;
  private again = false;
  private laterTimer: NodeJS.Timeout | undefined;
  /** Topics whose offsets are being reset: left alone by rebalance meanwhile. */
  private readonly pausedTopics = new Set<string>();

  constructor(private readonly ctx: PushContext) {}

  /** Rebalance now; calls during a rebalance coalesce into one more round. */
  rebalanceSoon(): Promise<void> {
    if (!this.ctx.isRunning()) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        for (let round = 0; round < REBALANCE_ROUNDS_MAX && this.ctx.isRunning(); round++) {
          this.again = false;
          await this.doRebalance();
          if (!this.again) break;
        }
      } catch (err) {
        this.ctx.report(err, 'rebalance');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves once no round is running (a failed round included). */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  shutdown(): void {
    if (this.laterTimer) clearTimeout(this.laterTimer);
  }

  /**
   * RESET_CONSUMER_CLIENT_OFFSET: stop the topic's queues, store the new offsets on the broker, let
   * rebalance start them again from there.
   */
  resetOffset(topic: string, offsets: Array<[MessageQueue, number]>): void {
    const { ctx } = this;
    if (!ctx.isRunning()) return;
    void (async () => {
      this.pausedTopics.add(topic);
      try {
        await this.settled();
        const wanted = new Map(offsets.map(([mq, o]) => [mqKey(mq), o]));
        const affected = [...ctx.queues.values()].filter((s) => s.mq.topic === topic && wanted.has(mqKey(s.mq)));
        for (const s of affected) {
          s.pq.dropped = true;
          ctx.queues.delete(mqKey(s.mq));
        }
        // No need to wait for pulls in flight (Java sleeps 10 s): their answers are dropped with
        // the queue, and a held pull's commitOffset was applied when it arrived, not on replay.
        // An orderly handler still running must finish first, though (it holds the lock).
        await withTimeout(Promise.all(affected.map((s) => s.idle)), RESET_WAIT_FOR_HANDLER_MS).catch(() => undefined);
        for (const s of affected) {
          ctx.offsetStore.updateOffset(s.mq, wanted.get(mqKey(s.mq))!, false);
          await ctx.offsetStore.persist(s.mq, true).catch((err: unknown) => ctx.report(err, 'persisting a reset offset'));
          ctx.offsetStore.removeOffset(s.mq);
        }
        if (ctx.usesQueueLocks) await unlockQueues(ctx, affected.map((s) => s.mq)).catch(() => undefined);
      } finally {
        this.pausedTopics.delete(topic);
      }
      await this.rebalanceSoon();
    })().catch((err: unknown) => ctx.report(err, 'resetting offsets'));
  }

  /** RebalanceImpl#doRebalance: every subscribed topic, then drop queues of topics no longer subscribed. */
  private async doRebalance(): Promise<void> {
    const { ctx } = this;
    for (const topic of [...ctx.subscriptions.keys()]) {
      if (!ctx.isRunning()) return;
      if (this.pausedTopics.has(topic)) continue;
      try {
        await this.rebalanceByTopic(topic);
      } catch (err) {
        ctx.report(err, `rebalance of ${topic}`);
      }
    }
    for (const s of [...ctx.queues.values()]) {
      if (!ctx.subscriptions.has(s.mq.topic)) await this.removeQueue(s);
    }
  }

  private async rebalanceByTopic(topic: string): Promise<void> {
    const { ctx } = this;
    const { instance } = ctx;
    const mqAll = await instance.subscribeQueues(topic);
    let mine: MessageQueue[];
    if (!ctx.clustering) {
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
      const strategy = ctx.opts.allocateStrategy ?? allocateAveragely;
      mine = strategy(ctx.group, instance.clientId, mqAll, cids);
    }
    await this.updateProcessQueueTable(topic, mine);
  }

  /** GET_CONSUMER_LIST_BY_GROUP to one broker of the topic (MQClientInstance#findConsumerIdList). */
  private async findConsumerIdList(topic: string): Promise<string[]> {
    const { instance } = this.ctx;
    const addr = await instance.anyBrokerAddrForTopic(topic);
    if (!addr) return [];
    const res = await instance.remoting.invoke(addr, makeRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: this.ctx.group }));
    if (res.code !== ResponseCode.SUCCESS || !res.body) {
      // "no consumer for this group": our heartbeat has not reached this broker yet.
      if (res.code === ResponseCode.SYSTEM_ERROR) void instance.sendHeartbeatToAllBrokers();
      return [];
    }
    return decodeStringList(bodyBuffer(res), 'consumerIdList');
  }

  private async updateProcessQueueTable(topic: string, mine: MessageQueue[]): Promise<void> {
    const { ctx } = this;
    const wanted = new Set(mine.map(mqKey));
    for (const s of [...ctx.queues.values()]) {
      if (s.mq.topic === topic && !wanted.has(mqKey(s.mq))) await this.removeQueue(s);
    }
    let lockFailed = false;
    for (const mq of mine) {
      if (!ctx.isRunning()) return;
      const key = mqKey(mq);
      if (ctx.queues.has(key)) continue;
      const pq = new ProcessQueue(mq);
      if (ctx.usesQueueLocks) {
        if (!(await lockQueue(ctx, mq))) {
          lockFailed = true;
          continue;
        }
        pq.locked = true;
        pq.lastLockTimestamp = Date.now();
      }
      ctx.offsetStore.removeOffset(mq); // removeDirtyOffset
      let next: number;
      try {
        next = await this.computePullFromWhere(mq);
      } catch (err) {
        ctx.report(err, `reading the offset of ${describeMq(mq)}`);
        if (ctx.usesQueueLocks) await unlockQueues(ctx, [mq]).catch(() => undefined);
        continue;
      }
      if (!ctx.isRunning() || ctx.queues.has(key)) continue;
      const st: QueueState = { mq, pq, nextOffset: next, suggestBrokerId: 0, idle: Promise.resolve(), handlerRunning: false };
      ctx.queues.set(key, st);
      ctx.dispatchPullRequest(st);
    }
    if (lockFailed) this.rebalanceLater();
  }

  private rebalanceLater(): void {
    if (this.laterTimer || !this.ctx.isRunning()) return;
    this.laterTimer = setTimeout(() => {
      this.laterTimer = undefined;
      void this.rebalanceSoon();
    }, REBALANCE_AGAIN_DELAY_MS);
  }

  /**
   * Give a queue up (RebalancePushImpl#removeUnnecessaryMessageQueue): freeze it (nothing more is
   * committed), persist what was committed, forget the offset; orderly consumers also wait for the
   * running handler and then release the lock.
   */
  private async removeQueue(s: QueueState): Promise<void> {
    const { ctx } = this;
    const key = mqKey(s.mq);
    if (ctx.queues.get(key) === s) ctx.queues.delete(key);
    s.pq.dropped = true;
    const store = ctx.offsetStore;
    const finish = async () => {
      if (ctx.clustering) {
        await store.persist(s.mq, true).catch((err: unknown) => ctx.report(err, `persisting the offset of ${describeMq(s.mq)}`));
        store.removeOffset(s.mq);
      } else {
        await store.persist(s.mq).catch(() => undefined);
      }
      if (ctx.usesQueueLocks) await unlockQueues(ctx, [s.mq]).catch(() => undefined);
    };
    if (ctx.orderly) {
      // The lock may only go once the handler holding it has returned (another member would
      // otherwise consume the next message of the queue at the same time).
      void s.idle.then(finish);
    } else {
      await finish();
    }
  }

  /** Where a newly assigned queue starts (RebalancePushImpl#computePullFromWhere). */
  private async computePullFromWhere(mq: MessageQueue): Promise<number> {
    const last = await this.ctx.offsetStore.readOffset(mq, 'STORE');
    if (last >= 0) return last;
    const where = this.ctx.opts.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET';
    const isRetry = mq.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX);
    switch (where) {
      case 'CONSUME_FROM_FIRST_OFFSET':
      case 'CONSUME_FROM_MIN_OFFSET':
        return 0;
      case 'CONSUME_FROM_TIMESTAMP':
        if (isRetry) return this.askOffset(mq, RequestCode.GET_MAX_OFFSET, {});
        return this.askOffset(mq, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { timestamp: parseConsumeTimestamp(this.ctx.opts.consumeTimestamp) });
      default:
        return isRetry ? 0 : this.askOffset(mq, RequestCode.GET_MAX_OFFSET, {});
    }
  }

  /** GET_MAX_OFFSET or SEARCH_OFFSET_BY_TIMESTAMP of one queue. */
  private async askOffset(mq: MessageQueue, code: number, fields: { timestamp?: number }): Promise<number> {
    const { instance } = this.ctx;
    const addr = await instance.brokerAddrForQueue(mq);
    const res = await instance.remoting.invoke(addr, makeRequest(code, { topic: mq.topic, queueId: mq.queueId, ...fields, bname: mq.brokerName }));
    if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, res.remark ?? '', 'E_QUERY_OFFSET_FAILED');
    return Number(res.extFields?.offset ?? 0);
  }
}
