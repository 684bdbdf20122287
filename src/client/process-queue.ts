/**
 * The messages of one queue that a push consumer has pulled and not yet finished (Java
 * ProcessQueue). Its one job that matters for "never lose a message": the offset a consumer may
 * commit is the smallest offset still in flight, or (when nothing is in flight) one past the
 * largest offset ever pulled. A handler that finishes early never moves the offset past a message
 * whose handler is still running.
 */
import type { MessageQueue } from '../protocol/bodies.js';
import type { MessageExt } from './message.js';

/** A queue lock from LOCK_BATCH_MQ is trusted for 30 s on the client (REBALANCE_LOCK_MAX_LIVE_TIME). */
const REBALANCE_LOCK_MAX_LIVE_MS = 30_000;
/** Push consumers drop a queue whose pulls stalled this long (PULL_MAX_IDLE_TIME). */
const PULL_MAX_IDLE_MS = 120_000;

/** ProcessQueueInfo as GET_CONSUMER_RUNNING_INFO reports it. */
interface ProcessQueueInfo {
  commitOffset: number;
  cachedMsgMinOffset: number;
  cachedMsgMaxOffset: number;
  cachedMsgCount: number;
  cachedMsgSizeInMiB: number;
  transactionMsgMinOffset: number;
  transactionMsgMaxOffset: number;
  transactionMsgCount: number;
  locked: boolean;
  tryUnlockTimes: number;
  lastLockTimestamp: number;
  droped: boolean;
  lastPullTimestamp: number;
  lastConsumeTimestamp: number;
}

/** Sorted offsets with their messages: insert/remove by binary search (queues hold ≤ a few thousand). */
class OffsetTree {
  private readonly keys: number[] = [];
  private readonly values = new Map<number, MessageExt>();

  get size(): number {
    return this.keys.length;
  }

  has(offset: number): boolean {
    return this.values.has(offset);
  }

  get(offset: number): MessageExt | undefined {
    return this.values.get(offset);
  }

  set(offset: number, msg: MessageExt): boolean {
    if (this.values.has(offset)) {
      this.values.set(offset, msg);
      return false;
    }
    this.values.set(offset, msg);
    const n = this.keys.length;
    if (n === 0 || this.keys[n - 1]! < offset) this.keys.push(offset);
    else this.keys.splice(this.lowerBound(offset), 0, offset);
    return true;
  }

  delete(offset: number): MessageExt | undefined {
    const m = this.values.get(offset);
    if (m === undefined) return undefined;
    this.values.delete(offset);
    // Handlers mostly finish in offset order: taking the first key is the common case.
    if (this.keys[0] === offset) this.keys.shift();
    else this.keys.splice(this.lowerBound(offset), 1);
    return m;
  }

  first(): number | undefined {
    return this.keys[0];
  }

  last(): number | undefined {
    return this.keys[this.keys.length - 1];
  }

  firstN(n: number): MessageExt[] {
    return this.keys.slice(0, n).map((k) => this.values.get(k)!);
  }

  all(): MessageExt[] {
    return this.keys.map((k) => this.values.get(k)!);
  }

  clear(): void {
    this.keys.length = 0;
    this.values.clear();
  }

  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class ProcessQueue {
  /** Pulled, not finished (concurrent), or not yet taken (orderly). */
  private readonly msgTree = new OffsetTree();
  /** Orderly only: taken by the handler, not yet committed. */
  private readonly consumingTree = new OffsetTree();
  private msgSizeBytes = 0;
  /** Largest offset ever put in this queue (-1: none yet). */
  queueOffsetMax = -1;
  /**
   * Every offset below this was either put here or skipped by the tag filter (the last pull's
   * nextBeginOffset). With nothing in flight it is a safe commit point, which spares waiting for
   * the next (long-polled) pull when the queue ends in filtered-out messages.
   */
  pulledUpTo = -1;
  dropped = false;
  locked = false;
  lastLockTimestamp = 0;
  tryUnlockTimes = 0;
  lastPullTimestamp = Date.now();
  lastConsumeTimestamp = Date.now();
  /** Orderly: a consume loop is running for this queue. */
  consuming = false;

  constructor(readonly mq: MessageQueue) {}

  /** Messages held (pulled and not finished), for flow control. */
  get msgCount(): number {
    return this.msgTree.size + this.consumingTree.size;
  }

  get msgSize(): number {
    return this.msgSizeBytes;
  }

  /**
   * Add pulled messages. Returns true when an orderly consume loop should be started (messages
   * present and none running); concurrent consumers ignore the result.
   */
  putMessages(msgs: readonly MessageExt[], nextBeginOffset?: number): boolean {
    if (nextBeginOffset !== undefined) this.advancePulled(nextBeginOffset);
    for (const m of msgs) {
      if (this.msgTree.set(m.queueOffset, m)) this.msgSizeBytes += m.body.length;
      if (m.queueOffset > this.queueOffsetMax) this.queueOffsetMax = m.queueOffset;
    }
    if (this.msgTree.size > 0 && !this.consuming) {
      this.consuming = true;
      return true;
    }
    return false;
  }

  /** A pull answered with this nextBeginOffset (never moves back). */
  advancePulled(nextBeginOffset: number): void {
    if (Number.isFinite(nextBeginOffset) && nextBeginOffset > this.pulledUpTo) this.pulledUpTo = nextBeginOffset;
  }

  /** Where the offset stands when nothing is in flight. */
  private endOffset(): number {
    return Math.max(this.queueOffsetMax + 1, this.pulledUpTo);
  }

  /**
   * Concurrent consumption: the handlers of `msgs` are done. Returns the offset that may now be
   * committed: the smallest offset still held, else one past everything pulled; -1 if nothing
   * was held.
   */
  removeMessages(msgs: readonly MessageExt[]): number {
    if (this.msgTree.size === 0) return -1;
    let result = this.endOffset();
    for (const m of msgs) {
      const gone = this.msgTree.delete(m.queueOffset);
      if (gone) this.msgSizeBytes -= gone.body.length;
    }
    const first = this.msgTree.first();
    if (first !== undefined) result = first;
    this.lastConsumeTimestamp = Date.now();
    return result;
  }

  /** The offset that may be committed right now without consuming anything more. */
  commitableOffset(): number {
    const first = this.consumingTree.first() ?? this.msgTree.first();
    return first ?? this.endOffset();
  }

  /** Orderly: take the next `n` messages in offset order. */
  takeMessages(n: number): MessageExt[] {
    this.lastConsumeTimestamp = Date.now();
    const taken = this.msgTree.firstN(n);
    for (const m of taken) {
      this.msgTree.delete(m.queueOffset);
      this.consumingTree.set(m.queueOffset, m);
    }
    if (taken.length === 0) this.consuming = false;
    return taken;
  }

  /** Orderly: the taken messages are done; returns the offset to commit (-1 if none were taken). */
  commit(): number {
    const last = this.consumingTree.last();
    for (const m of this.consumingTree.all()) this.msgSizeBytes -= m.body.length;
    this.consumingTree.clear();
    if (last === undefined) return -1;
    return this.msgTree.size === 0 ? Math.max(last + 1, this.pulledUpTo) : last + 1;
  }

  /** Orderly: the handler failed; put the taken messages back to be consumed again, first. */
  makeMessagesToConsumeAgain(msgs: readonly MessageExt[]): void {
    for (const m of msgs) {
      this.consumingTree.delete(m.queueOffset);
      this.msgTree.set(m.queueOffset, m);
    }
  }

  hasPending(): boolean {
    return this.msgTree.size > 0;
  }

  isLockExpired(nowMs = Date.now()): boolean {
    return nowMs - this.lastLockTimestamp > REBALANCE_LOCK_MAX_LIVE_MS;
  }

  isPullExpired(nowMs = Date.now()): boolean {
    return nowMs - this.lastPullTimestamp > PULL_MAX_IDLE_MS;
  }

  /** Drop everything held (the queue was taken away or reset). */
  clear(): void {
    this.msgTree.clear();
    this.consumingTree.clear();
    this.msgSizeBytes = 0;
  }

  info(commitOffset: number): ProcessQueueInfo {
    return {
      commitOffset,
      cachedMsgMinOffset: this.msgTree.first() ?? 0,
      cachedMsgMaxOffset: this.msgTree.last() ?? 0,
      cachedMsgCount: this.msgCount,
      cachedMsgSizeInMiB: Math.floor(this.msgSizeBytes / (1024 * 1024)),
      transactionMsgMinOffset: this.consumingTree.first() ?? 0,
      transactionMsgMaxOffset: this.consumingTree.last() ?? 0,
      transactionMsgCount: this.consumingTree.size,
      locked: this.locked,
      tryUnlockTimes: this.tryUnlockTimes,
      lastLockTimestamp: this.lastLockTimestamp,
      droped: this.dropped,
      lastPullTimestamp: this.lastPullTimestamp,
      lastConsumeTimestamp: this.lastConsumeTimestamp,
    };
  }
}
