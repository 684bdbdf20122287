import { SysFlag, transactionType, type MessageRecord } from '../../protocol/message.js';
import type { Checkpoint } from './checkpoint.js';
import { segmentFileName } from './commitlog-files.js';
import type { CommitLogService } from './commitlog-service.js';
import type { ConsumeQueueLike, DispatchRequest, RecoveryReport } from './types.js';

/**
 * Commit log recovery on open (apache/rocketmq DefaultMessageStore.load, CommitLog.recoverNormally / recoverAbnormally,
 * DefaultMessageStore.recover):
 *
 *  1. pick a safe start: clean shutdown → the third-to-last segment; abnormal (abort marker present)
 *     → walk back to the segment whose first record is older than the checkpoint's
 *     min(physic, logics[, index]) - 3 s (or the first segment), and never after the point the
 *     consume queues / index say they end;
 *  2. scan forward validating every record (size, magic, layout, physical offset, body CRC when
 *     checkCRCOnRecover) and stop at the first bad one; while scanning, re-dispatch records the
 *     consume queues or the index lack (a unit already present is skipped, as
 *     ConsumeQueue.putMessagePositionInfo skips "repeated" builds);
 *  3. cut the log there: zero the rest of that segment, delete later segments;
 *  4. drop consume-queue units pointing past the end; rebuild topicQueueTable from the queues.
 *
 * If re-dispatch meets a queue gap (the queues lost more than the checkpoint promised), the scan is
 * repeated once from the first segment, so every queue is rebuilt from what the log holds.
 */

/** The consume-queue side as recovery needs it (ConsumeQueueStore, consume-queue.ts). */
interface ConsumeQueueStoreLike {
  findOrCreate(topic: string, queueId: number): ConsumeQueueLike;
  queues(): Iterable<ConsumeQueueLike>;
  maxCommitLogEnd(): number;
  truncateByCommitLogOffset(offset: number): { queuesTouched: string[]; unitsDropped: number };
  /** Write every queue's changes (cut tails zeroed, rebuilt units) and fsync them. */
  flush(): Promise<void>;
}

/** The index side as recovery needs it (IndexService, index-service.ts). */
interface IndexServiceLike {
  put(req: DispatchRequest): void;
  endPhyOffset(): number;
  truncateByCommitLogOffset(end: number): Promise<number>;
}

/** RecoveryReport plus the details `store verify` prints. */
export interface StoreRecoveryReport extends RecoveryReport {
  /** True when produced by a dry run (files untouched). */
  dryRun: boolean;
  /** Offset the scan started from. */
  scanStartOffset: number;
  /** Human detail of the problem that ended the log, or null. */
  problem: string | null;
  /** Segment files deleted because they lay past the end. */
  segmentsDeleted: string[];
  /** Whether re-dispatch had to restart from the first segment (queues behind the checkpoint). */
  fullRescan: boolean;
  /** Queue gaps that could not be filled from the log (should be empty). */
  queueGaps: string[];
  /** Consume queues whose torn or garbled tails were cut when they were loaded. */
  consumeQueuesTornAtLoad: string[];
}

interface RecoverInput {
  commitLog: CommitLogService;
  cqStore: ConsumeQueueStoreLike;
  index: IndexServiceLike | undefined;
  checkpoint: Checkpoint;
  abnormal: boolean;
  checkCrc: boolean;
  dryRun: boolean;
  /** Builds the dispatch request for a recovered record (tags code, keys, ...). */
  toDispatchRequest: (rec: MessageRecord) => DispatchRequest;
}

/** Run recovery; the commit log is positioned at the recovered end when this returns. */
export async function recoverStore(input: RecoverInput): Promise<StoreRecoveryReport> {
  const started = performance.now();
  const { commitLog, cqStore, index } = input;
  const segmentBytes = commitLog.segmentBytes;
  const starts = commitLog.segmentStarts();
  const queuesRebuilt = new Set<string>();
  const gaps = new Map<string, string>();
  let redispatched = 0;
  let indexed = 0;

  const fromIndex = await chooseScanStart(input, starts);
  // Only a scan from the first segment may start an empty queue at an offset above 0 (the log's
  // older segments were deleted); from a later segment that would hide a gap.
  let fromLogStart = fromIndex === 0;

  const onRecord = (rec: MessageRecord): void => {
    const req = input.toDispatchRequest(rec);
    let touched = false;
    const type = transactionType(rec.sysFlag);
    if (type === SysFlag.TRANSACTION_NOT_TYPE || type === SysFlag.TRANSACTION_COMMIT_TYPE) {
      const r = redispatchToQueue(cqStore, req, gaps, fromLogStart);
      if (r) {
        queuesRebuilt.add(`${req.topic}/${req.queueId}`);
        touched = true;
      }
    }
    // Index building skips only rollback records (IndexService.buildIndex).
    if (index && type !== SysFlag.TRANSACTION_ROLLBACK_TYPE && rec.commitLogOffset >= index.endPhyOffset()) {
      index.put(req);
      indexed++;
      touched = true;
    }
    if (touched) redispatched++;
  };

  let scan = await commitLog.scan(fromIndex, input.checkCrc, onRecord);
  let fullRescan = false;
  if (gaps.size > 0 && fromIndex > 0) {
    // The queues end before the scan start: rebuild them from the whole log, once.
    fullRescan = true;
    fromLogStart = true;
    gaps.clear();
    scan = await commitLog.scan(0, input.checkCrc, onRecord);
  }

  const end = scan.end;
  let problem = scan.problem;
  let bytesDropped = 0;
  const segmentsDeleted = starts.filter((s) => s > end).map(segmentFileName);
  // What lies past the end: the bad record's bytes, torn leftovers, or data after a hole. The
  // segment holding the end and the last segment are searched for their data's extent; a
  // segment between them was filled before the next one began, so it counts whole.
  const after = starts.filter((s) => s + segmentBytes > end);
  for (let k = 0; k < after.length; k++) {
    const s = after[k]!;
    if (k > 0 && k < after.length - 1) {
      bytesDropped += segmentBytes;
      continue;
    }
    const from = Math.max(s, end);
    bytesDropped += (await commitLog.dataExtent(s, from)) - from;
  }
  if (!problem && bytesDropped > 0) {
    problem = { offset: end, reason: 'hole', detail: `zeros at the log end, but ${bytesDropped} bytes of data lie beyond (lost or reordered writes)` };
  }

  const truncated = cqStore.truncateByCommitLogOffset(end);
  // The index may reach past the recovered end (flushed ahead of lost log data, or a cut corrupt
  // record): drop those files, then index again what lies between the surviving files and `end`.
  if (index && index.endPhyOffset() >= end && (await index.truncateByCommitLogOffset(end)) > 0) {
    const from = index.endPhyOffset();
    let segIdx = 0;
    for (let k = 0; k < starts.length; k++) if (starts[k]! <= from) segIdx = k;
    await commitLog.scan(segIdx, input.checkCrc, (rec) => {
      if (rec.commitLogOffset < from || rec.commitLogOffset >= end) return;
      if (transactionType(rec.sysFlag) === SysFlag.TRANSACTION_ROLLBACK_TYPE) return;
      index.put(input.toDispatchRequest(rec));
      indexed++;
    });
  }
  for (const q of truncated.queuesTouched) queuesRebuilt.add(q);
  // The queues' repairs (tails cut here, by re-dispatch, or when torn at load) live in memory until
  // flushed, and the log will reuse the offsets past `end` for new records as soon as the store
  // opens. A power loss before the timed flush would then bring a cut unit back, pointing into a
  // different record of another queue, which no later scan notices (re-dispatch checks only the
  // record's own queue). So they reach the disk before anything is appended. Apache cuts its
  // mapped files in place, which survives a process crash but not a power loss.
  await cqStore.flush();
  // Under a dry run the FileIO is an overlay, so this "repair" never reaches the disk.
  await commitLog.truncateAndStartAt(end, scan.lastStoreTimestamp, { zeroTail: true });

  // topicQueueTable = each queue's next offset (DefaultMessageStore.recoverTopicQueueTable).
  commitLog.topicQueueTable.clear();
  for (const cq of cqStore.queues()) commitLog.topicQueueTable.set(`${cq.topic}-${cq.queueId}`, cq.maxOffset());

  const reportStarts = commitLog.segmentStarts();
  return {
    mode: input.abnormal ? 'abnormal' : 'clean',
    commitLogFiles: reportStarts.length,
    commitLogMaxOffset: end,
    commitLogMinOffset: reportStarts[0] ?? end,
    recordsScanned: scan.recordsScanned,
    truncatedFromOffset: problem ? problem.offset : null,
    bytesDropped,
    truncateReason: problem ? problem.reason : null,
    queuesRebuilt: [...queuesRebuilt].sort(),
    queueUnitsDropped: truncated.unitsDropped,
    recordsRedispatched: redispatched,
    indexRebuilt: indexed > 0,
    durationMs: Math.round(performance.now() - started),
    dryRun: input.dryRun,
    scanStartOffset: starts[fromIndex] ?? 0,
    problem: problem ? `${problem.reason} at offset ${problem.offset}: ${problem.detail}` : null,
    segmentsDeleted,
    fullRescan,
    queueGaps: [...gaps.values()],
    consumeQueuesTornAtLoad: [],
  };
}

/**
 * Put a recovered record's unit into its queue unless it is already there. Returns true when the
 * queue changed. A unit for a later offset than the queue's end is a gap (recorded, not written).
 */
function redispatchToQueue(cqStore: ConsumeQueueStoreLike, req: DispatchRequest, gaps: Map<string, string>, fromLogStart: boolean): boolean {
  const cq = cqStore.findOrCreate(req.topic, req.queueId);
  const key = `${req.topic}/${req.queueId}`;
  let max = cq.maxOffset();
  if (req.queueOffset < max) {
    const unit = cq.get(req.queueOffset, 1)[0];
    // Present (or expired) only when the unit is this record's: a unit left from a record the log
    // lost, whose offset a later record of the same queue reused, has the offset but not the size.
    if (!unit || (unit.commitLogOffset === req.commitLogOffset && unit.size === req.size)) return false;
    // The queue disagrees with the log from here on: drop its units from this record onwards.
    cq.truncateByCommitLogOffset(Math.min(unit.commitLogOffset, req.commitLogOffset));
    max = cq.maxOffset();
    if (req.queueOffset !== max) {
      gaps.set(key, `${key}: log has offset ${req.queueOffset} at ${req.commitLogOffset}, queue ends at ${max} after repair`);
      return true;
    }
  }
  if (req.queueOffset > max && !(fromLogStart && max === 0)) {
    gaps.set(key, `${key}: log has offset ${req.queueOffset} at ${req.commitLogOffset}, queue ends at ${max}`);
    return false;
  }
  cq.put(req.queueOffset, { commitLogOffset: req.commitLogOffset, size: req.size, tagsCode: req.tagsCode });
  return true;
}

async function chooseScanStart(input: RecoverInput, starts: number[]): Promise<number> {
  const n = starts.length;
  if (n === 0) return 0;
  const segmentBytes = input.commitLog.segmentBytes;
  let idx: number;
  if (!input.abnormal) {
    // recoverNormally: the last three files.
    idx = Math.max(0, n - 3);
  } else {
    // recoverAbnormally: newest file whose first message is older than the checkpoint's safe time.
    const safeMs = input.checkpoint.minTimestamp(input.index !== undefined);
    idx = 0;
    for (let i = n - 1; i >= 0; i--) {
      const ts = await input.commitLog.firstStoreTimestamp(starts[i]!);
      if (ts !== undefined && ts <= safeMs) {
        idx = i;
        break;
      }
    }
  }
  // Never start after the point the consume queues reach: records past it must be dispatched
  // (no queue at all → from the first segment). The index needs no such bound: it is covered by
  // the checkpoint, and a store whose messages carry no keys has an empty index forever.
  const cqEnd = input.cqStore.maxCommitLogEnd();
  const bound = cqEnd < 0 ? starts[0]! : cqEnd;
  const i = Math.floor((bound - starts[0]!) / segmentBytes);
  return Math.min(idx, Math.max(0, Math.min(n - 1, i)));
}
