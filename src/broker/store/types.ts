/**
 * The message store's contracts. Two halves are built against these:
 *  - the commit log side (commitlog.ts, flush, recovery, checkpoint/abort/lock, message-store.ts facade);
 *  - the derived side (consume-queue.ts, index-file.ts / index-service.ts, config/ managers).
 * The facade (MessageStore) appends to the commit log, then dispatches each record to the consume
 * queue and the index (RocketMQ's ReputMessageService order: consume queue, index, then listeners).
 */
import type { SocketAddr } from '../../protocol/message.js';

export type FlushDiskType = 'ASYNC_FLUSH' | 'SYNC_FLUSH';

export interface StoreConfig extends RetentionConfig {
  /** Root dir: commitlog/, consumequeue/, index/, config/, checkpoint, abort, lock. */
  storePathRootDir: string;
  /** Commit log segment size in bytes (default 1 GiB; tests use tiny ones to force rollover). */
  mappedFileSizeCommitLog: number;
  /** Consume queue file size in bytes; a multiple of 20 (default 300000 * 20). */
  mappedFileSizeConsumeQueue: number;
  flushDiskType: FlushDiskType;
  /** ASYNC_FLUSH: flush the commit log every this many ms (default 500). */
  flushIntervalCommitLog: number;
  /** Consume queues and index are flushed every this many ms (default 1000). */
  flushIntervalConsumeQueue: number;
  /** SYNC_FLUSH: fail an append with FLUSH_DISK_TIMEOUT after this many ms (default 5000). */
  syncFlushTimeout: number;
  /** Largest body accepted, bytes (default 4 MiB). */
  maxMessageSize: number;
  messageIndexEnable: boolean;
  /** Index file geometry (default 5,000,000 slots / 20,000,000 entries; tests use small ones). */
  maxHashSlotNum: number;
  maxIndexNum: number;
  /** Verify body CRCs while recovering (default true). */
  checkCRCOnRecover: boolean;
  /** This broker's advertised address, written as STOREHOST in every record. */
  storeHost: SocketAddr;
  /** Delay per level in ms, index 0 = level 1 (from messageDelayLevel). */
  delayLevelMillis: number[];
  /**
   * Percent of RAM (MessageStoreConfig#accessMessageInMemoryMaxRatio, default 40): data further
   * behind the commit log's end than this is "in disk" (smaller pull batches), and a pull that
   * ends further behind suggests reading from a slave.
   */
  accessMessageInMemoryMaxRatio: number;
}

/** Retention settings (clean-service.ts), MessageStoreConfig 4.9.8's names; defaults in store-config.ts. */
export interface RetentionConfig {
  /** Hours a commit log segment is kept after its last write (default 72). */
  fileReservedTime: number;
  /** rocketctl's test knob: retention in ms, used instead of fileReservedTime when > 0 (default 0). */
  testOnlyFileReservedTimeMs: number;
  /** Hours of the day (local time, ';'-separated) when expired segments are deleted (default "04"). */
  deleteWhen: string;
  /** Disk use (percent, clamped to 10..95) over which expired segments are deleted at once (default 75). */
  diskMaxUsedSpaceRatio: number;
  /** Near a full disk (over 85 %), delete the oldest segments even before they expire (default true). */
  cleanFileForciblyEnable: boolean;
  /** A retention pass every this many ms (default 10000). */
  cleanResourceInterval: number;
  /** Pause between two segment deletions of one pass, ms (default 100). */
  deleteCommitLogFilesInterval: number;
  /** Pause after each consume queue that deleted files, ms (default 100). */
  deleteConsumeQueueFilesInterval: number;
}

export const DEFAULT_MESSAGE_DELAY_LEVEL = '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h';

/** One entry of a consume queue: where a message lives in the commit log. */
export interface CqUnit {
  commitLogOffset: number;
  size: number;
  /** Java String.hashCode of TAGS (0 if none); for SCHEDULE_TOPIC_XXXX the delivery time. */
  tagsCode: number;
}

/** What the facade hands to the consume queue and the index after each append (and on recovery). */
export interface DispatchRequest {
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  size: number;
  tagsCode: number;
  storeTimestamp: number;
  sysFlag: number;
  /** UNIQ_KEY property, if any. */
  uniqKey?: string;
  /** KEYS property split on spaces. */
  keys: string[];
}

/** The derived side's per-topic/queue structure (20-byte units, files named by byte offset). */
export interface ConsumeQueueLike {
  readonly topic: string;
  readonly queueId: number;
  /** Append the unit for logical offset `queueOffset` (must equal maxOffset, else a gap/duplicate). */
  put(queueOffset: number, unit: CqUnit): void;
  /** Units [offset, offset+max) that exist; fewer when the queue ends. */
  get(offset: number, max: number): CqUnit[];
  minOffset(): number;
  /** Next logical offset to be written. */
  maxOffset(): number;
  /** Drop units whose commit log offset is >= `commitLogOffset` (recovery truncation). */
  truncateByCommitLogOffset(commitLogOffset: number): number;
  /** Highest commit log end (offset + size) referenced, or -1 when empty. */
  maxCommitLogEnd(): number;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Outcome of opening a store: what recovery found and did (printed by `store verify`). */
export interface RecoveryReport {
  /** 'clean' when no abort marker was found, else 'abnormal'. */
  mode: 'clean' | 'abnormal';
  commitLogFiles: number;
  /** Offset where valid data ends (the next append goes here). */
  commitLogMaxOffset: number;
  commitLogMinOffset: number;
  recordsScanned: number;
  /** First offset that was cut off, or null when nothing was truncated. */
  truncatedFromOffset: number | null;
  bytesDropped: number;
  /** Why the tail was cut: 'bad-crc', 'bad-magic', 'bad-size', 'torn' ... or null. */
  truncateReason: string | null;
  /** Consume queues whose entries were truncated or rebuilt ("topic/queueId"). */
  queuesRebuilt: string[];
  /** Consume-queue units dropped because they pointed past the recovered commit log end. */
  queueUnitsDropped: number;
  /** Records re-dispatched into consume queues / index from the commit log. */
  recordsRedispatched: number;
  indexRebuilt: boolean;
  durationMs: number;
}
