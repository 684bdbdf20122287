/**
 * Delivery of delayed messages, as ScheduleMessageService: queue level-1 of
 * SCHEDULE_TOPIC_XXXX holds the messages of delay level `level`, each consume-queue unit's tagsCode
 * being its delivery time. Per level, from the offset kept in delayOffset.json, every due message
 * is re-put to its REAL_TOPIC / REAL_QID (properties unchanged: DELAY, WAIT and REAL_* stay in the
 * stored string, as messageTimeup writes it) and the offset moves
 * past it; delivery stops at the first message not yet due (times in one level's queue ascend).
 *
 * Bounds: one tick every DELAY_FOR_A_WHILE_MS, at most MAX_DELIVER_PER_TICK messages per level and
 * tick; after a failed re-put the level pauses DELAY_FOR_A_PERIOD_MS; the timer is cleared on close.
 *
 * Runs on a master only (DefaultMessageStore#handleScheduleMessageService): a DLedger member stops
 * it when it becomes a slave and starts it again when it becomes master, from the offsets table as
 * it is then (a slave's is its master's, SlaveSynchronize#syncDelayOffset).
 */
import { decodeProperties, Prop } from '../protocol/properties.js';
import { SysFlag, transactionType } from '../protocol/message.js';
import type { MessageStore } from './store/message-store.js';
import { SCHEDULE_TOPIC } from '../protocol/names.js';
import type { Logger } from '../remoting/server.js';
import { silentLogger } from '../remoting/server.js';

/** ScheduleMessageService.FIRST_DELAY_TIME: delivery starts 1 s after start. */
const FIRST_DELAY_MS = 1000;
/** DELAY_FOR_A_WHILE: idle poll interval. */
const DELAY_FOR_A_WHILE_MS = 100;
/** DELAY_FOR_A_PERIOD: pause of a level after a failed re-put. */
const DELAY_FOR_A_PERIOD_MS = 10_000;
/** Messages delivered per level per tick (keeps one tick short when a backlog is due at once). */
const MAX_DELIVER_PER_TICK = 256;

/** Where each level's delivery stands (delayOffset.json: level → next SCHEDULE_TOPIC_XXXX offset). */
interface DelayOffsets {
  offset(level: number): number;
  update(level: number, offset: number): void;
  persist(): Promise<void>;
}

interface ScheduleServiceOptions {
  store: MessageStore;
  offsets: DelayOffsets;
  delayLevelMillis: number[];
  persistIntervalMs: number;
  logger?: Logger;
}

export class ScheduleMessageService {
  private timer: NodeJS.Timeout | undefined;
  private persistTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  /** Bumped by every start and stop: a tick of an earlier run does not schedule the next one. */
  private generation = 0;
  private closed = false;
  /** Per level: do not try before this time (after an error). */
  private readonly pausedUntil = new Map<number, number>();
  private readonly logger: Logger;

  constructor(private readonly opts: ScheduleServiceOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** ScheduleMessageService#start: deliver from each level's offset in the table, the first tick FIRST_DELAY_MS from now. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.schedule(FIRST_DELAY_MS, ++this.generation);
    this.persistTimer = setInterval(() => void this.opts.offsets.persist().catch((err) => this.warn('persisting delay offsets', err)), this.opts.persistIntervalMs);
    this.persistTimer.unref();
  }

  /** ScheduleMessageService#shutdown: no more ticks; resolves once a running tick is done and the offsets are persisted. */
  async stop(): Promise<void> {
    this.started = false;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    if (this.persistTimer) clearInterval(this.persistTimer);
    this.timer = this.persistTimer = undefined;
    await this.running;
    await this.opts.offsets.persist();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  /** One pass over all levels (exposed for tests). */
  async tick(now = Date.now()): Promise<void> {
    for (let level = 1; level <= this.opts.delayLevelMillis.length && !this.closed; level++) {
      if ((this.pausedUntil.get(level) ?? 0) > now) continue;
      try {
        await this.deliverLevel(level, now);
      } catch (err) {
        this.pausedUntil.set(level, now + DELAY_FOR_A_PERIOD_MS);
        this.warn(`delivering delay level ${level}`, err);
      }
    }
  }

  private schedule(ms: number, generation: number): void {
    if (this.closed || generation !== this.generation) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        this.schedule(DELAY_FOR_A_WHILE_MS, generation);
      });
    }, ms);
    this.timer.unref();
  }

  private async deliverLevel(level: number, now: number): Promise<void> {
    const cq = this.opts.store.consumeQueues.get(SCHEDULE_TOPIC, level - 1);
    if (!cq) return;
    let offset = Math.max(this.opts.offsets.offset(level), cq.minOffset());
    const units = cq.get(offset, MAX_DELIVER_PER_TICK);
    const delayMs = this.opts.delayLevelMillis[level - 1]!;
    for (const u of units) {
      // correctDeliverTimestamp: a time further out than the level's delay means the clock went back.
      const deliverAt = u.tagsCode > now + delayMs ? now : u.tagsCode;
      if (deliverAt > now) break;
      await this.deliverOne(u.commitLogOffset);
      offset++;
      this.opts.offsets.update(level, offset);
    }
  }

  /** messageTimeup: rebuild the message for its real topic and queue, and put it. */
  private async deliverOne(commitLogOffset: number): Promise<void> {
    const msg = await this.opts.store.lookMessageByOffset(commitLogOffset);
    if (!msg) {
      this.logger.warn(`delayed message at commit log offset ${commitLogOffset} is gone; skipped`);
      return;
    }
    const props = decodeProperties(msg.properties);
    const realTopic = props[Prop.REAL_TOPIC];
    const realQid = Number(props[Prop.REAL_QID]);
    // Half messages are never delayed; a malformed entry is skipped rather than blocking the level.
    if (!realTopic || !Number.isInteger(realQid) || transactionType(msg.sysFlag) === SysFlag.TRANSACTION_PREPARED_TYPE) {
      this.logger.warn(`delayed message at commit log offset ${commitLogOffset} has no REAL_TOPIC/REAL_QID; skipped`);
      return;
    }
    await this.opts.store.putMessage({
      topic: realTopic,
      queueId: realQid,
      flag: msg.flag,
      sysFlag: msg.sysFlag,
      bornTimestamp: msg.bornTimestamp,
      bornHost: msg.bornHost,
      body: Buffer.from(msg.body),
      // messageTimeup writes the properties string before it clears DELAY and sets WAIT=false in
      // the map, so the delivered record keeps the delayed one's properties byte for byte (a Java
      // consumer's getDelayTimeLevel() sees the level; a retry keeps its WAIT=false).
      properties: msg.properties,
      reconsumeTimes: msg.reconsumeTimes,
      preparedTransactionOffset: msg.preparedTransactionOffset,
    });
  }

  private warn(what: string, err: unknown): void {
    this.logger.warn(`schedule service: ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
