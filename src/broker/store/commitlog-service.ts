/**
 * The commit log as `MessageStore`, recovery and retention use it: the seam under the store where
 * a replicated commit log (DLedger: apache/rocketmq DLedgerCommitLog, 4.9.8, stands in for
 * CommitLog the same way) can replace the local one. `CommitLog` (commitlog.ts) is the local,
 * single-copy implementation; `OpenOptions.commitLog` chooses another.
 *
 * Offsets are commit log byte offsets. Positions obey
 * minOffset() <= flushedOffset() <= writtenOffset() <= maxOffset().
 */
import type { Histogram } from '../../metrics/histogram.js';
import type { MessageFields, MessageRecord, PreparedRecord, SocketAddr } from '../../protocol/message.js';
import type { FileIO } from './file-io.js';
import type { DispatchRequest, FlushDiskType } from './types.js';

export interface CommitLogOptions {
  storePathRootDir: string;
  segmentBytes: number;
  flushDiskType: FlushDiskType;
  flushIntervalMs: number;
  syncFlushTimeoutMs: number;
  maxPendingBytes?: number;
  /** This broker's address, written as STOREHOST into every record. */
  storeHost: SocketAddr;
  /** Called for each record, in log order, once it is written (ASYNC) or durable (SYNC). */
  dispatch: (req: DispatchRequest) => void;
  /**
   * The dispatch request for a record this log did not append itself (a replicated log's entries
   * from another leader: DLedgerCommitLog's follower side), as recovery builds it.
   */
  toDispatchRequest?: (rec: MessageRecord) => DispatchRequest;
  /**
   * Each consume queue's next offset (`topic-queueId` → max offset): what a replicated log's new
   * leader rebuilds topicQueueTable from (DefaultMessageStore#recoverTopicQueueTable).
   */
  queueEnds?: () => Iterable<[string, number]>;
}

export interface CommitLogStats {
  putCount: number;
  putBytes: number;
  putFailures: number;
  writeBatches: number;
  fsyncs: number;
}

/** Why recovery ended the log where it did. */
export type TruncateReason = 'torn' | 'bad-crc' | 'bad-magic' | 'bad-size' | 'bad-blank' | 'bad-format' | 'bad-offset' | 'hole';

interface ScanProblem {
  offset: number;
  reason: TruncateReason;
  detail: string;
}

export interface ScanOutcome {
  /** Offset just past the last valid record (or the segment end when it ends in a BLANK). */
  end: number;
  lastStoreTimestamp: number;
  recordsScanned: number;
  problem: ScanProblem | null;
}

export interface CommitLogService {
  readonly segmentBytes: number;
  readonly flushDiskType: FlushDiskType;
  /** Next queue offset per `topic-queueId` (CommitLog.topicQueueTable). */
  readonly topicQueueTable: Map<string, number>;
  readonly stats: CommitLogStats;
  /** Time of each flush pass, for the metrics endpoint. */
  readonly flushLatency: Histogram;

  // ---- opening and recovery -----------------------------------------------------------------
  /** Find the existing data (segment files) and check it is contiguous. */
  load(): Promise<void>;
  /** Start offsets of the segments, oldest first. */
  segmentStarts(): number[];
  /** Validate records from segment `segmentStarts()[fromIndex]` on, stopping at the first bad one. */
  scan(fromIndex: number, checkCrc: boolean, onRecord: (rec: MessageRecord) => void): Promise<ScanOutcome>;
  /** Store time of the first record of the segment starting at `start`, if it starts with one. */
  firstStoreTimestamp(start: number): Promise<number | undefined>;
  /** Offset just past the last non-zero byte of segment `start`, searching from `fromOffset`. */
  dataExtent(start: number, fromOffset: number): Promise<number>;
  /** Cut the log at `end` (later segments deleted, the rest zeroed when asked) and append from there. */
  truncateAndStartAt(end: number, storeTimestampAtEnd: number, opts: { zeroTail: boolean }): Promise<void>;
  /** Begin timed flushing. Call once recovery has positioned the log. */
  start(): void;

  // ---- positions ----------------------------------------------------------------------------
  minOffset(): number;
  /** Next append position (includes bytes still in memory). */
  maxOffset(): number;
  writtenOffset(): number;
  flushedOffset(): number;
  /** Store time of the last flushed record (checkpoint physicMsgTimestamp). */
  flushedStoreTimestamp(): number;
  /** Bytes appended but not yet written (ASYNC_FLUSH) or flushed (SYNC_FLUSH). */
  pendingBytes(): number;

  // ---- append -------------------------------------------------------------------------------
  /** Throw the error an append would fail with now (closed, fenced). */
  checkWritable(): void;
  hasRoom(): boolean;
  /** Wait (bounded) while too many bytes wait for the disk; StoreBusyError past the bound. */
  waitForRoom(): Promise<void>;
  /** Size and encode a record's pieces before the put lock. */
  prepare(m: MessageFields): PreparedRecord;
  /**
   * Append one queue's records as one contiguous run, synchronously assigning offsets and store
   * time into `reqs`; resolves once they are written (ASYNC_FLUSH) or durable (SYNC_FLUSH).
   */
  append(records: PreparedRecord[], reqs: DispatchRequest[], storeTimestamp: number): Promise<void>;
  appendOne(record: PreparedRecord, req: DispatchRequest, storeTimestamp: number): Promise<void>;

  // ---- reads --------------------------------------------------------------------------------
  read(offset: number, size: number): Promise<Buffer | undefined>;
  /** The whole record starting at `offset`, or undefined when none does. */
  readRecord(offset: number): Promise<Buffer | undefined>;
  readMany(ranges: Array<{ offset: number; size: number }>, opts?: ReadManyOptions): Promise<Array<Buffer | undefined>>;

  // ---- retention ----------------------------------------------------------------------------
  /** Segments retention may delete (all but the one being written), oldest first. */
  cleanableSegments(): Array<{ start: number; path: string }>;
  deleteOldestSegment(start: number): Promise<boolean>;

  // ---- ending -------------------------------------------------------------------------------
  flush(): Promise<void>;
  /** Wait until everything appended is written and flushed. */
  drain(): Promise<void>;
  close(): Promise<void>;
  /** Stop at once, as a crash would (tests): nothing more reaches the disk. */
  halt(): void;
  /** The error that fenced the log after an I/O failure, if any. */
  isFenced(): Error | undefined;
}

/** How a pull's ranges may be read (the store decides; a log may ignore it). */
export interface ReadManyOptions {
  /**
   * Every range lies within the in-memory window (DefaultMessageStore#checkInDiskByCommitOffset
   * at 4.9.8 says not in disk), so its pages are likely cached: a log may read them synchronously.
   */
  inMemory?: boolean;
}

/** Builds the commit log a store runs on (the local CommitLog by default). */
export type CommitLogFactory = (io: FileIO, opts: CommitLogOptions) => CommitLogService;
