/**
 * Appends waiting for the commit log to reach their end offset: written (ASYNC_FLUSH: the bytes are
 * in the page cache) or durable (SYNC_FLUSH: an fdatasync that covers them completed).
 *
 * This is RocketMQ's GroupCommitService request list without the thread: appends are queued in
 * offset order, so completing "everything up to position P" pops from the front, and one flush
 * completes every append it covers (group commit). A watchdog fails requests still waiting after
 * `timeoutMs` (SYNC_FLUSH's syncFlushTimeout → FLUSH_DISK_TIMEOUT); their bytes stay in the log and
 * are flushed and dispatched later, as in RocketMQ.
 */

interface Waiter {
  end: number;
  deadlineMs: number;
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
}

export class WaiterQueue {
  private readonly waiters: Waiter[] = [];
  private head = 0;
  /** Waiters before this index are settled already (expired): the watchdog resumes after them. */
  private expiredUpTo = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param timeoutMs     fail a waiter after this long (Infinity: never)
   * @param onTimeout     builds the error for a waiter that timed out
   */
  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: () => Error,
  ) {}

  get size(): number {
    return this.waiters.length - this.head;
  }

  /** Wait until `end` is reached. Ends must be added in non-decreasing order. */
  wait(end: number): Promise<void> {
    const last = this.waiters[this.waiters.length - 1];
    if (last && this.size > 0 && end < last.end) throw new Error(`waiter ends out of order: ${end} after ${last.end}`);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ end, deadlineMs: performance.now() + this.timeoutMs, resolve, reject, settled: false });
      this.armWatchdog();
    });
  }

  /** Complete every waiter whose end is <= `position`. */
  resolveUpTo(position: number): void {
    while (this.head < this.waiters.length && this.waiters[this.head]!.end <= position) {
      const w = this.waiters[this.head++]!;
      if (!w.settled) {
        w.settled = true;
        w.resolve();
      }
    }
    this.compact();
  }

  /** Fail every waiter whose end is > `position` (their bytes were rolled back). */
  rejectAbove(position: number, err: Error): void {
    let i = this.waiters.length;
    while (i > this.head && this.waiters[i - 1]!.end > position) i--;
    const removed = this.waiters.splice(i);
    this.expiredUpTo = Math.min(this.expiredUpTo, this.waiters.length);
    for (const w of removed) {
      if (!w.settled) {
        w.settled = true;
        w.reject(err);
      }
    }
    this.compact();
  }

  rejectAll(err: Error): void {
    this.rejectAbove(-1, err);
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
      this.expiredUpTo = 0;
      this.disarm();
    } else if (this.head > 4096 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.expiredUpTo = Math.max(0, this.expiredUpTo - this.head);
      this.head = 0;
    }
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private armWatchdog(): void {
    if (this.timer || !Number.isFinite(this.timeoutMs)) return;
    const first = this.firstUnsettled();
    if (!first) return;
    const delayMs = Math.max(1, Math.ceil(first.deadlineMs - performance.now()));
    this.timer = setTimeout(() => this.expire(), delayMs);
    // Never keep the process alive only to time out an append.
    this.timer.unref();
  }

  private firstUnsettled(): Waiter | undefined {
    for (let i = Math.max(this.head, this.expiredUpTo); i < this.waiters.length; i++) {
      if (!this.waiters[i]!.settled) return this.waiters[i];
    }
    return undefined;
  }

  /**
   * Fail the expired waiters. They stay in the queue (settled) so offsets stay ordered; deadlines
   * grow with insertion order, so the scan stops at the first one still in time.
   */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    let i = Math.max(this.head, this.expiredUpTo);
    for (; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.deadlineMs > now) break;
      if (!w.settled) {
        w.settled = true;
        w.reject(this.onTimeout());
      }
    }
    this.expiredUpTo = i;
    this.armWatchdog();
  }
}
