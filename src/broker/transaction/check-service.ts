/**
 * Check-back of unresolved half messages, as Apache RocketMQ 4.9.8's
 * TransactionalMessageCheckService + TransactionalMessageServiceImpl.check +
 * (Default|Abstract)TransactionalMessageCheckListener.
 *
 * One pass, per half queue, from CID_RMQ_SYS_TRANS's half offset:
 * - op markers from CID_RMQ_SYS_TRANS's op offset are read first; a marker for a half offset below
 *   the half offset is done, the others wait for their half message ("removeMap");
 * - a half message with a marker is done; one whose TRANSACTION_CHECK_TIMES reached
 *   transactionCheckMax (or older than fileReservedTime) is parked in TRANS_CHECK_MAX_TIME_TOPIC;
 * - the pass stops at a message stored after it started, or younger than transactionTimeOut (or
 *   its CHECK_IMMUNITY_TIME_IN_SECONDS; such a message is re-appended with
 *   TRAN_PREPARED_QUEUE_OFFSET instead, as Apache does);
 * - otherwise the message is re-appended with TRANSACTION_CHECK_TIMES + 1 and a oneway
 *   CHECK_TRANSACTION_STATE with the copy's offsets goes to a live channel of its PGROUP group;
 * - the half offset moves past what was handled, the op offset past the contiguous done markers.
 *
 * Bounds: a pass per queue stops after MAX_QUEUE_PROCESS_TIME_MS (Apache's 60 s) or
 * MAX_HALF_MESSAGES_PER_PASS messages; op markers read per pass are capped at MAX_OPS_PER_PASS;
 * passes never overlap; close() stops a running pass at the next message and waits for it.
 *
 * Deliberate differences from Apache (each marked where it happens): a failed re-append or park
 * ends the pass (Apache retries the same offset until its time limit, or drops the message); a
 * half message whose transaction was already resolved through another copy is skipped, not checked
 * again; when the op markers could not all be read, nothing past them is checked; an immunity
 * copy does not use up a check.
 */
import type { MessageRecord } from '../../protocol/message.js';
import { decodeProperties, Prop, type Properties } from '../../protocol/properties.js';
import type { ClientChannel } from '../../remoting/server.js';
import {
  checkTransactionStateRequest,
  discardedCopyOf,
  parseJavaLong,
  renewedHalfOf,
  TRANS_CHECK_MAX_TIME_TOPIC,
  TRANS_HALF_TOPIC,
  TRANS_OP_HALF_TOPIC,
  type CopyLocation,
} from './half-message.js';
import type { TransactionalMessageService, TransactionHost } from './transactional-service.js';

/** TransactionalMessageServiceImpl.MAX_QUEUE_PROCESS_TIME: time budget of one queue in one pass. */
const MAX_QUEUE_PROCESS_TIME_MS = 60_000;
/** Half messages handled per queue per pass (the time budget usually ends a pass first). */
const MAX_HALF_MESSAGES_PER_PASS = 100_000;
/** Op markers held in memory per queue per pass. */
const MAX_OPS_PER_PASS = 200_000;
/** MAX_RETRY_COUNT_WHEN_HALF_NULL: one unreadable half offset is skipped, the second ends the pass. */
const MAX_RETRY_COUNT_WHEN_HALF_NULL = 1;
/** fileReservedTime (72 h): a half message born longer ago is parked without a check (isNeedSkip). */
const FILE_RESERVED_TIME_MS = 72 * 3600 * 1000;

interface CheckServiceOptions {
  /** Per-queue time budget of a pass (default MAX_QUEUE_PROCESS_TIME_MS). */
  queueProcessTimeMs?: number;
}

/** What one pass did (for logs and tests). */
interface CheckPassReport {
  checked: number;
  discarded: number;
  /** Half messages found committed or rolled back (by marker or through another copy). */
  resolved: number;
  /** Checks that found no live producer channel of the message's group. */
  noProducer: number;
}

interface OpScan {
  /** Half offset → the op offset of its marker (removeMap). */
  remove: Map<number, number>;
  /** Op offsets that are done (doneOpOffset). */
  done: number[];
  /** Every marker up to the op queue's end was read. */
  complete: boolean;
}

export class TransactionCheckService {
  private running: Promise<CheckPassReport> | undefined;
  private closed = false;
  private opaque = 1;
  private channelCursor = 0;
  /** Passes finished since start (tests wait on it instead of on time). */
  passes = 0;
  readonly totals: CheckPassReport = { checked: 0, discarded: 0, resolved: 0, noProducer: 0 };
  private readonly queueProcessTimeMs: number;

  constructor(
    private readonly host: TransactionHost,
    private readonly tx: TransactionalMessageService,
    opts: CheckServiceOptions = {},
  ) {
    this.queueProcessTimeMs = opts.queueProcessTimeMs ?? MAX_QUEUE_PROCESS_TIME_MS;
  }

  /** One pass now, or the one already running (TransactionalMessageCheckService.onWaitEnd). */
  run(): Promise<CheckPassReport> {
    if (this.closed) return Promise.resolve(emptyReport());
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
      this.passes++;
    });
    return this.running;
  }

  /** Stop: a running pass ends at its next message (offsets reached so far are kept). */
  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<CheckPassReport> {
    const report = emptyReport();
    for (const queueId of this.tx.halfQueueIds()) {
      if (this.closed) break;
      try {
        await this.checkQueue(queueId, report);
      } catch (err) {
        // As check(): a failure is logged and the next pass starts over from the stored offsets.
        this.host.logger.warn(`transaction check of half queue ${queueId} failed: ${errText(err)}`);
      }
    }
    for (const k of Object.keys(report) as Array<keyof CheckPassReport>) this.totals[k] += report[k];
    return report;
  }

  private async checkQueue(queueId: number, report: CheckPassReport): Promise<void> {
    const startMs = Date.now();
    const deadline = startMs + this.queueProcessTimeMs;
    const c = this.host.config;
    const halfTopic = TRANS_HALF_TOPIC;
    const halfOffset = this.tx.consumeOffset(halfTopic, queueId);
    const opOffset = this.tx.consumeOffset(TRANS_OP_HALF_TOPIC, queueId);
    const ops = await this.readAllOps(queueId, opOffset, halfOffset, deadline);

    let i = halfOffset;
    let newOffset = halfOffset;
    let nullCount = 1;
    for (let steps = 0; steps < MAX_HALF_MESSAGES_PER_PASS && !this.closed && Date.now() <= deadline; steps++) {
      const opOfHalf = ops.remove.get(i);
      if (opOfHalf !== undefined) {
        ops.remove.delete(i);
        ops.done.push(opOfHalf);
        report.resolved++;
        newOffset = ++i;
        continue;
      }
      const read = await this.tx.readHalf(queueId, i);
      const half = read.record;
      if (!half) {
        if (nullCount++ > MAX_RETRY_COUNT_WHEN_HALF_NULL || read.noNewMessage || read.nextBeginOffset <= i) break;
        i = read.nextBeginOffset;
        newOffset = i;
        continue;
      }
      const props = decodeProperties(half.properties);
      // Ours: resolved through another copy (e.g. the producer's commit raced a check) → done.
      if (this.tx.isResolved(half, props)) {
        report.resolved++;
        newOffset = ++i;
        continue;
      }
      const asStored = { ...props };
      if (needDiscard(props, c.transactionCheckMax) || Date.now() - half.bornTimestamp > FILE_RESERVED_TIME_MS) {
        if (!(await this.discard(half, props))) break; // ours: retried next pass, not dropped
        report.discarded++;
        newOffset = ++i;
        continue;
      }
      if (half.storeTimestamp >= startMs) break; // stored during this pass: next pass
      const step = await this.immunity(half, asStored, ops);
      if (step === 'skip') {
        newOffset = ++i;
        continue;
      }
      if (step === 'wait') break;
      // Apache reads more op markers before a check until it has them all; without all, stop (ours).
      if (!ops.complete) break;
      const copy = await this.putBack(half, props);
      if (!copy) break; // ours: Apache retries this offset until the time budget
      this.sendCheck(half, props, copy, report);
      report.checked++;
      newOffset = ++i;
    }
    if (newOffset !== halfOffset) this.tx.updateConsumeOffset(halfTopic, queueId, newOffset);
    const newOpOffset = calculateOpOffset(ops.done, opOffset);
    if (newOpOffset !== opOffset) this.tx.updateConsumeOffset(TRANS_OP_HALF_TOPIC, queueId, newOpOffset);
  }

  /**
   * The transactionTimeOut / CHECK_IMMUNITY_TIME_IN_SECONDS gate: 'check' when old enough, 'wait'
   * (end the pass) when too young, 'skip' when an immunity copy was written or found resolved
   * (checkPrepareQueueOffset). Age is measured from the born time, as Apache does.
   */
  private async immunity(half: MessageRecord, props: Properties, ops: OpScan): Promise<'check' | 'wait' | 'skip'> {
    const timeoutMs = this.host.config.transactionTimeOut;
    const ageMs = Date.now() - half.bornTimestamp;
    const immunityStr = props[Prop.CHECK_IMMUNITY_TIME_IN_SECONDS];
    if (immunityStr === undefined) return ageMs >= 0 && ageMs < timeoutMs ? 'wait' : 'check';
    const immunitySeconds = parseJavaLong(immunityStr);
    const immunityMs = immunitySeconds === -1 ? timeoutMs : immunitySeconds * 1000;
    if (ageMs >= immunityMs) return 'check';
    // checkPrepareQueueOffset: the first copy remembers the original queue offset.
    const prepared = props[Prop.TRAN_PREPARED_QUEUE_OFFSET];
    if (prepared !== undefined) {
      const original = parseJavaLong(prepared);
      if (original === -1) return 'wait'; // ours: Apache re-reads op markers until its time budget
      const opOffset = ops.remove.get(original);
      if (opOffset !== undefined) {
        ops.remove.delete(original);
        ops.done.push(opOffset);
        return 'skip';
      }
    }
    // renewImmunityHalfMessageInner: keep (or set) TRAN_PREPARED_QUEUE_OFFSET and append again.
    // Ours: the copy keeps the check count it had. Apache's carries the count isNeedDiscard just
    // incremented, so an immunity longer than transactionCheckMax passes parks the message unchecked.
    const copyProps = { ...props, [Prop.TRAN_PREPARED_QUEUE_OFFSET]: prepared ?? String(half.queueOffset) };
    return (await this.putBack(half, copyProps)) ? 'skip' : 'wait';
  }

  /**
   * fillOpRemoveMap, repeated until the op queue's end (bounded by MAX_OPS_PER_PASS and the
   * deadline): markers below the half offset are done, the others wait for their half message.
   */
  private async readAllOps(queueId: number, opOffset: number, halfOffset: number, deadline: number): Promise<OpScan> {
    const scan: OpScan = { remove: new Map(), done: [], complete: false };
    let offset = opOffset;
    let held = 0;
    while (held < MAX_OPS_PER_PASS && Date.now() <= deadline && !this.closed) {
      const read = await this.tx.readOps(queueId, offset);
      for (const m of read.markers) {
        held++;
        // A marker with another tag is logged and left pending, as Apache does.
        if (!m.isRemove) {
          this.host.logger.warn(`transaction op marker at ${m.opOffset} has an unknown tag`);
          continue;
        }
        if (m.halfOffset < halfOffset) scan.done.push(m.opOffset);
        else scan.remove.set(m.halfOffset, m.opOffset);
      }
      // Units that held no readable marker are past: count them done so the op offset can move.
      scan.done.push(...read.unreadable);
      if (read.end) {
        scan.complete = true;
        break;
      }
      if (read.markers.length === 0 && read.unreadable.length === 0) {
        // The requested offset was gone (OFFSET_TOO_SMALL/OVERFLOW_BADLY): fillOpRemoveMap jumps there.
        if (read.nextBeginOffset === offset) break;
        this.tx.updateConsumeOffset(TRANS_OP_HALF_TOPIC, queueId, read.nextBeginOffset);
      }
      offset = read.nextBeginOffset;
    }
    return scan;
  }

  /** putBackHalfMsgQueue: the copy's location, or undefined when the append failed (logged). */
  private async putBack(half: MessageRecord, props: Properties): Promise<CopyLocation | undefined> {
    try {
      const r = await this.tx.putStored(renewedHalfOf(half, props));
      return { queueOffset: r.queueOffset, commitLogOffset: r.commitLogOffset };
    } catch (err) {
      this.host.logger.warn(`re-appending half message ${half.commitLogOffset} failed: ${errText(err)}`);
      return undefined;
    }
  }

  /** DefaultTransactionalMessageCheckListener.resolveDiscardMsg: park it; false when the put failed. */
  private async discard(half: MessageRecord, props: Properties): Promise<boolean> {
    try {
      await this.tx.ensureTopic(TRANS_CHECK_MAX_TIME_TOPIC);
      await this.tx.putStored(discardedCopyOf(half, props));
      this.host.logger.warn(
        `half message ${props[Prop.UNIQ_KEY] ?? half.commitLogOffset} of ${props[Prop.PGROUP] ?? '?'} checked ${props[Prop.TRANSACTION_CHECK_TIMES] ?? 0} times without an answer: moved to ${TRANS_CHECK_MAX_TIME_TOPIC}`,
      );
      return true;
    } catch (err) {
      this.host.logger.warn(`parking half message ${half.commitLogOffset} in ${TRANS_CHECK_MAX_TIME_TOPIC} failed: ${errText(err)}`);
      return false;
    }
  }

  /** AbstractTransactionalMessageCheckListener.sendCheckMessage (oneway; no answer awaited). */
  private sendCheck(half: MessageRecord, props: Properties, copy: CopyLocation, report: CheckPassReport): void {
    const group = props[Prop.PGROUP] ?? '';
    const channel = this.producerChannel(group);
    if (!channel) {
      report.noProducer++;
      this.host.logger.warn(`cannot check transaction ${props[Prop.UNIQ_KEY] ?? copy.commitLogOffset}: no live producer of group ${group}`);
      return;
    }
    const req = checkTransactionStateRequest(half, props, copy, this.host.storeHost);
    req.opaque = this.opaque;
    this.opaque = this.opaque >= 0x7fffffff ? 1 : this.opaque + 1;
    try {
      channel.send(req);
    } catch (err) {
      this.host.logger.warn(`CHECK_TRANSACTION_STATE to ${channel.remoteAddress} failed: ${errText(err)}`);
    }
  }

  /**
   * ProducerManager.getAvailableChannel: round robin over the group's channels, the first open one
   * from there (Apache tries four; we try each once — the list is the group's connections).
   */
  private producerChannel(group: string): ClientChannel | undefined {
    const list = this.host.clients.producerGroup(group);
    if (list.length === 0) return undefined;
    const start = this.channelCursor++ % list.length;
    if (this.channelCursor > 0x7fffffff) this.channelCursor = 0;
    for (let k = 0; k < list.length; k++) {
      const info = list[(start + k) % list.length]!;
      if (info.channel.isOpen()) return info.channel;
    }
    return undefined;
  }
}

/**
 * isNeedDiscard: a copy already checked transactionCheckMax times is discarded; otherwise
 * TRANSACTION_CHECK_TIMES is set (first check: 1) in `props`, which the copy then carries.
 */
function needDiscard(props: Properties, transactionCheckMax: number): boolean {
  const times = props[Prop.TRANSACTION_CHECK_TIMES];
  let checkTimes = 1;
  if (times !== undefined) {
    checkTimes = javaInt(times);
    if (checkTimes >= transactionCheckMax) return true;
    checkTimes++;
  }
  props[Prop.TRANSACTION_CHECK_TIMES] = String(checkTimes);
  return false;
}

/** calculateOpOffset: past the op offsets done contiguously from `oldOffset`. */
function calculateOpOffset(done: number[], oldOffset: number): number {
  const sorted = [...new Set(done)].sort((a, b) => a - b);
  let next = oldOffset;
  for (const o of sorted) {
    if (o < next) continue;
    if (o !== next) break;
    next++;
  }
  return next;
}

/** Integer.valueOf inside getInt: anything unparsable (or out of int range) is -1. */
function javaInt(s: string): number {
  const n = parseJavaLong(s);
  return n > 0x7fffffff || n < -0x80000000 ? -1 : n;
}

function emptyReport(): CheckPassReport {
  return { checked: 0, discarded: 0, resolved: 0, noProducer: 0 };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
