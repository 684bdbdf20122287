/**
 * Long polling for PULL_MESSAGE, as PullRequestHoldService: a pull that finds
 * nothing new is parked under `topic@queueId`; it is re-run (without suspending) when a matching
 * message is dispatched to that queue, when its hold time is up, or at the periodic re-check; the
 * re-run's answer is sent on the client's channel.
 *
 * Bounds: at most `maxParked` requests are parked (park() refuses beyond that; the caller answers
 * at once); each hold is capped at LONG_POLL_HOLD_MAX_MS so clients (30 s RPC timeout) always get an
 * answer first; every timer is cleared on close(), and close() answers all parked pulls.
 */
import type { RemotingCommand } from '../protocol/frame.js';
import type { ClientChannel, Logger } from '../remoting/server.js';
import { silentLogger } from '../remoting/server.js';

/**
 * Longest we hold a pull, whatever suspendTimeoutMillis asks: Java clients and ali-ons wait 30 s for
 * a suspended pull (CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND) and ask for 15-20 s; an unanswered pull
 * makes ali-ons close the whole connection, so we answer with margin.
 */
const LONG_POLL_HOLD_MAX_MS = 20_000;
/** Parked pulls across all clients (each is a request, a channel reference and a timer). */
const MAX_PARKED_PULLS = 10_000;
/** PullRequestHoldService re-checks all parked pulls every 5 s (long polling) ... */
export const LONG_POLL_CHECK_INTERVAL_MS = 5_000;

interface ParkedPull {
  channel: ClientChannel;
  request: RemotingCommand;
  topic: string;
  queueId: number;
  /** The offset the client asked for: any max offset beyond it may mean news. */
  pullFromThisOffset: number;
  /** Does a dispatched message with this tags code match the pull's subscription? */
  matches: (tagsCode: number) => boolean;
  /** Hold time asked for (suspendTimeoutMillis, or shortPollingTimeMills), capped. */
  holdMs: number;
}

interface Hold extends ParkedPull {
  key: string;
  timer: NodeJS.Timeout;
}

interface PullRequestHoldOptions {
  /** Re-run the pull with suspension off and send its answer on the channel. Must not throw. */
  wakeup: (p: ParkedPull) => Promise<void>;
  /** Current max offset (next offset to be written) of a queue. */
  maxOffset: (topic: string, queueId: number) => number | Promise<number>;
  maxParked?: number;
  checkIntervalMs?: number;
  holdMaxMs?: number;
  logger?: Logger;
}

export class PullRequestHoldService {
  private readonly holds = new Map<string, Set<Hold>>();
  private parked = 0;
  private timer: NodeJS.Timeout | undefined;
  private isClosed = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly maxParked: number;
  private readonly checkIntervalMs: number;
  private readonly holdMaxMs: number;
  private readonly logger: Logger;

  constructor(private readonly opts: PullRequestHoldOptions) {
    this.maxParked = opts.maxParked ?? MAX_PARKED_PULLS;
    this.checkIntervalMs = opts.checkIntervalMs ?? LONG_POLL_CHECK_INTERVAL_MS;
    this.holdMaxMs = opts.holdMaxMs ?? LONG_POLL_HOLD_MAX_MS;
    this.logger = opts.logger ?? silentLogger;
  }

  start(): void {
    if (this.timer || this.isClosed) return;
    this.timer = setInterval(() => void this.checkAll(), this.checkIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.parked;
  }

  /** After close(), nothing is parked any more: pulls are answered at once. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Park a pull (PullMessageProcessor: suspend when no message). False when full or closed. */
  park(p: ParkedPull): boolean {
    if (this.isClosed || this.parked >= this.maxParked) return false;
    const key = `${p.topic}@${p.queueId}`;
    const holdMs = Math.max(0, Math.min(p.holdMs, this.holdMaxMs));
    const hold: Hold = { ...p, holdMs, key, timer: undefined as unknown as NodeJS.Timeout };
    // The hold time is up: re-run; it normally answers PULL_NOT_FOUND with the four offset headers.
    hold.timer = setTimeout(() => this.wake(hold), holdMs);
    hold.timer.unref();
    let set = this.holds.get(key);
    if (!set) {
      set = new Set();
      this.holds.set(key, set);
    }
    set.add(hold);
    this.parked++;
    return true;
  }

  /**
   * A message was dispatched to `topic@queueId` (ReputMessageService → notifyMessageArriving):
   * wake the pulls waiting below `maxOffset` whose filter accepts the message's tags code.
   * Without a tags code (periodic check), any news wakes them: the re-run applies the filter.
   */
  notifyMessageArriving(topic: string, queueId: number, maxOffset: number, tagsCode?: number): void {
    const set = this.holds.get(`${topic}@${queueId}`);
    if (!set) return;
    for (const h of [...set]) {
      if (maxOffset <= h.pullFromThisOffset) continue;
      if (tagsCode !== undefined && !h.matches(tagsCode)) continue;
      this.wake(h);
    }
  }

  /** Answer every parked pull now (shutdown), and wait for those answers to be written. */
  async close(): Promise<void> {
    this.isClosed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const set of [...this.holds.values()]) for (const h of [...set]) this.wake(h);
    await Promise.allSettled([...this.inflight]);
  }

  /** Periodic re-check (every 5 s): catches arrivals whose tags did not match and closed channels. */
  private async checkAll(): Promise<void> {
    for (const [key, set] of [...this.holds]) {
      const first = set.values().next().value;
      if (!first) continue;
      for (const h of [...set]) if (!h.channel.isOpen()) this.drop(h);
      let max: number;
      try {
        max = await this.opts.maxOffset(first.topic, first.queueId);
      } catch (err) {
        this.logger.warn(`long polling: max offset of ${key}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
      this.notifyMessageArriving(first.topic, first.queueId, max);
    }
  }

  private drop(h: Hold): boolean {
    const set = this.holds.get(h.key);
    if (!set?.delete(h)) return false;
    clearTimeout(h.timer);
    this.parked--;
    if (set.size === 0) this.holds.delete(h.key);
    return true;
  }

  private wake(h: Hold): void {
    // Removed first, so a hold is re-run exactly once however many wake-ups race for it.
    if (!this.drop(h)) return;
    if (!h.channel.isOpen()) return;
    const p = this.opts.wakeup(h).catch((err) => {
      this.logger.warn(`long polling: re-running a pull of ${h.key} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }
}
