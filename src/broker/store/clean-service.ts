/**
 * Retention: deletes commit log segments, then the consume-queue and index files that pointed into
 * them, as Apache 4.9.8's DefaultMessageStore.CleanCommitLogService followed by
 * CleanConsumeQueueService (cleanFilesPeriodically, every cleanResourceInterval).
 *
 * A pass deletes segments when one of these holds (CleanCommitLogService.deleteExpiredFiles):
 *  - timeup: the local hour is one of deleteWhen ("04", "04;16"; UtilAll.isItTimeToDo);
 *  - spacefull: the store's disk is used over diskMaxUsedSpaceRatio (clamped to 10..95 %), or its
 *    use cannot be read (isSpaceToDelete);
 *  - manual: DELETE_EXPIRED_COMMITLOG asked for it (the next 20 passes, executeDeleteFilesManually).
 * It then deletes, oldest first, segments last modified more than fileReservedTime ago — or, when
 * the disk is used over 85 % (diskSpaceCleanForciblyRatio) and cleanFileForciblyEnable, whatever
 * their age — at most 10 per pass (MappedFileQueue.DELETE_FILES_BATCH_MAX), waiting
 * deleteCommitLogFilesInterval between two, never the segment being written, and stopping at the
 * first segment it may not delete, so the log never gets a hole (deleteExpiredFileByTime).
 *
 * Over 90 % (diskSpaceWarningLevelRatio) the store is marked full and puts are refused with
 * DiskSpaceFullError (SERVICE_NOT_AVAILABLE to clients, as runningFlags DISK_FULL) until a pass finds
 * the disk at or below 90 % again. Apache also checks this every 10 s on a second timer
 * (isSpaceFull); here the pass does it, so the flag is as fresh as cleanResourceInterval.
 *
 * Whenever the commit log's min offset moved, every consume queue drops its files wholly below it
 * and moves its min offset to the first unit still in the log (ConsumeQueue.deleteExpiredFile +
 * correctMinOffset; deleteConsumeQueueFilesInterval after each queue that deleted files), then the
 * index drops its files wholly below it (IndexService.deleteExpiredFile). A consumer whose offset
 * is now below a queue's min gets OFFSET_TOO_SMALL and continues from the min (PULL_OFFSET_MOVED).
 *
 * Not mirrored: destroyMapedFileIntervalForcibly and redeleteHangedFileInterval. Apache cannot
 * unmap a file readers still hold and retries later; here a segment is unlinked at once and its
 * descriptor closed when the last read in flight ends (commitlog.ts deleteOldestSegment).
 *
 * Time (`now`) and pauses (`sleep`) are injected, so tests need neither a 04:00 clock nor waits.
 */
import path from 'node:path';
import { StoreError } from '../../errors/index.js';
import type { CommitLogService } from './commitlog-service.js';
import type { ConsumeQueueStore } from './consume-queue.js';
import type { FileIO } from './file-io.js';
import type { IndexService } from './index-service.js';
import { parseDeleteWhen } from './store-config.js';
import type { RetentionConfig } from './types.js';

/** MappedFileQueue.DELETE_FILES_BATCH_MAX: segments deleted per pass at most. */
export const DELETE_FILES_BATCH_MAX = 10;
/** CleanCommitLogService.MAX_MANUAL_DELETE_FILE_TIMES: passes a manual delete request lasts. */
const MAX_MANUAL_DELETE_FILE_TIMES = 20;
/** rocketmq.broker.diskSpaceWarningLevelRatio default: over it the store refuses puts. */
const DISK_SPACE_WARNING_LEVEL_RATIO = 0.9;
/** rocketmq.broker.diskSpaceCleanForciblyRatio default: over it segments go before they expire. */
const DISK_SPACE_CLEAN_FORCIBLY_RATIO = 0.85;
const HOUR_MS = 3_600_000;

/** Puts refused because the store's disk is over diskSpaceWarningLevelRatio (runningFlags DISK_FULL). */
export class DiskSpaceFullError extends StoreError {
  constructor(usedRatio: number) {
    super(
      `the store's disk is ${Math.round(usedRatio * 100)}% used, over diskSpaceWarningLevelRatio ${DISK_SPACE_WARNING_LEVEL_RATIO * 100}%: puts are refused until space is freed`,
      {
        code: 'E_DISK_FULL',
        actions: [
          'free space on the store\'s disk: retention deletes the oldest commit log segments (over 85 % even unexpired ones), or delete unneeded topics (deleteTopic) and other files',
          'puts resume at the next retention pass that finds the disk at or below 90 % (cleanResourceInterval); no restart is needed',
        ],
      },
    );
  }
}

/** The retention settings of a store, in the units the service uses. */
interface RetentionSettings {
  /** fileReservedTime in ms (or testOnlyFileReservedTimeMs when set). */
  fileReservedMs: number;
  deleteWhenHours: number[];
  /** diskMaxUsedSpaceRatio as a fraction, clamped to 0.10..0.95 as MessageStoreConfig's getter. */
  diskMaxUsedRatio: number;
  cleanFileForciblyEnable: boolean;
  cleanResourceIntervalMs: number;
  deleteCommitLogFilesIntervalMs: number;
  deleteConsumeQueueFilesIntervalMs: number;
}

function retentionSettingsOf(c: RetentionConfig): RetentionSettings {
  return {
    fileReservedMs: c.testOnlyFileReservedTimeMs > 0 ? c.testOnlyFileReservedTimeMs : c.fileReservedTime * HOUR_MS,
    deleteWhenHours: parseDeleteWhen(c.deleteWhen),
    diskMaxUsedRatio: Math.min(95, Math.max(10, c.diskMaxUsedSpaceRatio)) / 100,
    cleanFileForciblyEnable: c.cleanFileForciblyEnable,
    cleanResourceIntervalMs: c.cleanResourceInterval,
    deleteCommitLogFilesIntervalMs: c.deleteCommitLogFilesInterval,
    deleteConsumeQueueFilesIntervalMs: c.deleteConsumeQueueFilesInterval,
  };
}

/** One segment deleted by retention. */
export interface DeletedSegment {
  file: string;
  /** Commit log offsets [startOffset, endOffset) it held. */
  startOffset: number;
  endOffset: number;
  lastModifiedMs: number;
  /** now − lastModifiedMs when it was deleted. */
  ageMs: number;
  retentionMs: number;
  /** expired: older than the retention; forced: deleted younger, the disk being over 85 %. */
  reason: 'expired' | 'forced';
  /** What started the pass: the deleteWhen hour, the disk over diskMaxUsedSpaceRatio, or a manual request. */
  trigger: 'deleteWhen' | 'disk' | 'manual';
  /** Disk use (0..1, −1 unknown) measured at the start of the pass. */
  diskUsedRatio: number;
}

export interface CleanPassReport {
  at: number;
  diskUsedRatio: number;
  timeup: boolean;
  spacefull: boolean;
  manual: boolean;
  cleanAtOnce: boolean;
  /** The store refuses puts (disk over 90 %) after this pass. */
  diskFull: boolean;
  segmentsDeleted: DeletedSegment[];
  consumeQueueFilesDeleted: number;
  indexFilesDeleted: number;
  commitLogMinOffset: number;
}

interface CleanServiceParts {
  io: FileIO;
  storePathRootDir: string;
  commitLog: CommitLogService;
  consumeQueues: ConsumeQueueStore;
  index: IndexService | undefined;
}

export interface CleanServiceOptions {
  /** Wall clock in ms (default Date.now); deleteWhen is read as its local hour. */
  now?: () => number;
  /** Pauses between deletions (default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
}

/** UtilAll.getDiskPartitionSpaceUsedPercent: used / (used + usable), rounded up to 1 %; −1 if unknown. */
function diskUsedRatio(totalBytes: number, freeBytes: number, availableBytes: number): number {
  if (!(totalBytes > 0)) return -1;
  const used = totalBytes - freeBytes;
  const entire = used + availableBytes;
  if (!(entire > 0)) return -1;
  return Math.ceil((used * 100) / entire) / 100;
}

export class CleanService {
  private current: RetentionSettings;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly listeners: Array<(s: DeletedSegment) => void> = [];
  private readonly passListeners: Array<(r: CleanPassReport) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CleanPassReport> | undefined;
  private manualDeleteTimes = 0;
  private lastPhysicalMinOffset = 0;
  private diskFull = false;
  private lastDiskUsedRatio = -1;
  private closed = false;
  /** Errors of passes run by the timer (a pass never throws into the timer). */
  lastError: string | null = null;

  constructor(
    private readonly parts: CleanServiceParts,
    config: RetentionConfig,
    opts: CleanServiceOptions = {},
  ) {
    this.current = retentionSettingsOf(config);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get settings(): RetentionSettings {
    return this.current;
  }

  /**
   * New settings from the next pass on (UPDATE_BROKER_CONFIG: Apache's service reads
   * MessageStoreConfig at every pass). The pass period stays what it was at start, as Apache's.
   */
  updateSettings(config: RetentionConfig): void {
    this.current = { ...retentionSettingsOf(config), cleanResourceIntervalMs: this.current.cleanResourceIntervalMs };
  }

  /** A pass every cleanResourceInterval; the first one interval after start (Apache: after 60 s). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      if (this.running) return; // passes never overlap (scheduleAtFixedRate on one thread)
      this.runOnce().catch((err: unknown) => (this.lastError = err instanceof Error ? err.message : String(err)));
    }, this.settings.cleanResourceIntervalMs);
    this.timer.unref();
  }

  /** Stop the timer and wait for a pass in flight. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Called (synchronously, before the consume queues are cleaned) for each segment deleted. */
  onSegmentDeleted(listener: (s: DeletedSegment) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Called after every pass (the broker logs disk-full transitions from it). */
  onPass(listener: (r: CleanPassReport) => void): void {
    this.passListeners.push(listener);
  }

  /** DELETE_EXPIRED_COMMITLOG: the next 20 passes delete expired segments whatever the hour. */
  executeDeleteFilesManually(): void {
    this.manualDeleteTimes = MAX_MANUAL_DELETE_FILE_TIMES;
  }

  /** True while the disk is over diskSpaceWarningLevelRatio (puts are refused). */
  isDiskFull(): boolean {
    return this.diskFull;
  }

  /** Disk use measured by the last pass (0..1, −1 before the first or when unreadable). */
  diskUsedRatio(): number {
    return this.lastDiskUsedRatio;
  }

  /** Run one pass now (or join the one in flight). */
  runOnce(): Promise<CleanPassReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<CleanPassReport> {
    const at = this.now();
    const ratio = await this.measureDisk();
    // isSpaceToDelete: over 90 % mark the disk full, over 85 % clean at once, else the disk is ok.
    this.lastDiskUsedRatio = ratio;
    this.diskFull = ratio > DISK_SPACE_WARNING_LEVEL_RATIO;
    const cleanImmediately = ratio > DISK_SPACE_CLEAN_FORCIBLY_RATIO;
    const spacefull = ratio < 0 || ratio > this.settings.diskMaxUsedRatio;
    const timeup = this.settings.deleteWhenHours.includes(new Date(at).getHours());
    const manual = this.manualDeleteTimes > 0;
    const cleanAtOnce = this.settings.cleanFileForciblyEnable && cleanImmediately;
    const report: CleanPassReport = {
      at,
      diskUsedRatio: ratio,
      timeup,
      spacefull,
      manual,
      cleanAtOnce,
      diskFull: this.diskFull,
      segmentsDeleted: [],
      consumeQueueFilesDeleted: 0,
      indexFilesDeleted: 0,
      commitLogMinOffset: this.parts.commitLog.minOffset(),
    };
    if (timeup || spacefull || manual) {
      if (manual) this.manualDeleteTimes--;
      const trigger = timeup ? 'deleteWhen' : spacefull ? 'disk' : 'manual';
      report.segmentsDeleted = await this.deleteSegments(cleanAtOnce, trigger, ratio);
    }
    // CleanConsumeQueueService: only when the commit log's min offset moved.
    const min = this.parts.commitLog.minOffset();
    report.commitLogMinOffset = min;
    if (min > this.lastPhysicalMinOffset) {
      this.lastPhysicalMinOffset = min;
      const pause = this.settings.deleteConsumeQueueFilesIntervalMs;
      report.consumeQueueFilesDeleted = await this.parts.consumeQueues.deleteExpiredFiles(min, pause > 0 ? () => this.sleep(pause) : undefined);
      if (this.parts.index) report.indexFilesDeleted = await this.parts.index.deleteExpiredFiles(min);
    }
    notify(this.passListeners, report);
    return report;
  }

  private async measureDisk(): Promise<number> {
    try {
      const s = await this.parts.io.diskSpace(path.join(this.parts.storePathRootDir, 'commitlog'));
      return diskUsedRatio(s.totalBytes, s.freeBytes, s.availableBytes);
    } catch {
      return -1;
    }
  }

  /** MappedFileQueue.deleteExpiredFileByTime over the commit log. */
  private async deleteSegments(cleanAtOnce: boolean, trigger: DeletedSegment['trigger'], ratio: number): Promise<DeletedSegment[]> {
    const retentionMs = this.settings.fileReservedMs;
    const candidates = this.parts.commitLog.cleanableSegments();
    const deleted: DeletedSegment[] = [];
    for (let i = 0; i < candidates.length && deleted.length < DELETE_FILES_BATCH_MAX && !this.closed; i++) {
      const seg = candidates[i]!;
      const lastModifiedMs = await this.parts.io.lastModifiedMs(seg.path);
      const nowMs = this.now();
      const expired = nowMs >= lastModifiedMs + retentionMs;
      if (!expired && !cleanAtOnce) break; // never delete past a segment that must stay: no holes
      if (!(await this.parts.commitLog.deleteOldestSegment(seg.start))) break;
      const d: DeletedSegment = {
        file: path.basename(seg.path),
        startOffset: seg.start,
        endOffset: seg.start + this.parts.commitLog.segmentBytes,
        lastModifiedMs,
        ageMs: nowMs - lastModifiedMs,
        retentionMs,
        reason: expired ? 'expired' : 'forced',
        trigger,
        diskUsedRatio: ratio,
      };
      deleted.push(d);
      notify(this.listeners, d);
      const interval = this.settings.deleteCommitLogFilesIntervalMs;
      if (interval > 0 && i + 1 < candidates.length && deleted.length < DELETE_FILES_BATCH_MAX) await this.sleep(interval);
    }
    return deleted;
  }
}

function notify<T>(listeners: Array<(v: T) => void>, v: T): void {
  for (const l of listeners) {
    try {
      l(v);
    } catch {
      // a listener (logging) must not stop retention
    }
  }
}
