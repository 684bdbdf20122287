import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CorruptStoreError,
  DiskFullError,
  FlushTimeoutError,
  fromNodeError,
  RocketError,
  StoreClosedError,
  StoreError,
} from '../../errors/index.js';
import { BLANK_MAGIC_CODE, prepareRecord, SysFlag, transactionType, writeRecord, type MessageFields, type MessageRecord, type PreparedRecord } from '../../protocol/message.js';
import { FLUSH_LATENCY_BUCKETS_S, Histogram } from '../../metrics/histogram.js';
import { COMMITLOG_DIR, dataExtent, END_FILE_MIN_BLANK_BYTES, firstStoreTimestamp, scanSegments, segmentFileName, type SegmentFiles } from './commitlog-files.js';
import type { CommitLogOptions, CommitLogService, CommitLogStats, ReadManyOptions, ScanOutcome } from './commitlog-service.js';
import type { FileHandle, FileIO } from './file-io.js';
import { WaiterQueue } from './group-commit.js';
import type { DispatchRequest, FlushDiskType } from './types.js';

/**
 * The commit log: every message of every topic, appended to fixed-size segment files under
 * `<root>/commitlog/`, each named by its start offset in 20 digits (apache/rocketmq MappedFileQueue, UtilAll.offset2FileName).
 *
 * Append path (CommitLog.asyncPutMessage + DefaultAppendMessageCallback, minus the mmap):
 *  - `append()` is synchronous, so the JS event loop is the put lock: it assigns physical offsets,
 *    queue offsets (topicQueueTable) and the store time and encodes each record once, straight
 *    into an in-memory write buffer (arena chunks);
 *  - a writer drains the buffer with ONE writev per segment per batch (no syscall per message).
 *    ASYNC_FLUSH keeps up to 3 such writes in flight and fdatasyncs every flushIntervalCommitLog;
 *    SYNC_FLUSH is a pipelined group commit: the next batch is written while the previous one's
 *    fdatasync runs, and one fdatasync completes every append it covers;
 *  - once a record is written (ASYNC_FLUSH) or durable (SYNC_FLUSH) it is dispatched (consume queue,
 *    index, listeners) and its append resolves. Bytes not yet written are read from memory.
 *  - ENOSPC on a write rolls the log back to the last written byte: the appends not written fail
 *    with DiskFullError, their queue offsets are handed out again, and appends work again once
 *    space returns. A failed fdatasync (or any other write error) fences the log: appends fail
 *    with StoreIOError until the store is reopened and recovered (after a failed fsync the page
 *    cache can no longer be trusted to hold what was written).
 *
 * Invariants: minOffset <= flushedPos <= writtenPos <= writePos; [writtenPos, writePos) lives in
 * `chunks`; a record never spans two segments or two chunks; segments are contiguous.
 */

/** Write buffer arenas: records are copied here until written (big enough for one writer round). */
const ARENA_BYTES = 4 * 1024 * 1024;
/** Appends wait (backpressure) while this many bytes are appended but not yet written/flushed. */
const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** ... for at most this long, then fail with StoreBusyError (RocketMQ: OS_PAGECACHE_BUSY). */
const PENDING_ROOM_WAIT_MS = 10_000;
/** drain()/close() wait at most this long for the writer to catch up. */
const DRAIN_WAIT_MS = 60_000;
/** Open segment handles kept for reads; older ones are closed (tiny test segments add up). */
const MAX_OPEN_SEGMENTS = 64;
/** Largest single pread when coalescing nearby records for a pull. */
const MAX_COALESCED_READ_BYTES = 1024 * 1024;
/** Scratch buffers (of MAX_COALESCED_READ_BYTES) kept between pulls for sparse spans. */
const MAX_SCRATCH_BUFFERS = 4;
/** Records further apart than this are read separately (reading the gap would cost more). */
const MAX_COALESCE_GAP_BYTES = 64 * 1024;
/**
 * readMany: bytes one call may read synchronously (in-memory window only). Bounds the event-loop
 * block per pull: a 1 MiB pread of cached pages took ~42 us of CPU here, 256 KiB ~7 us (2-core VM,
 * 2026-12-07), about what one thread-pool read costs in hand-off alone.
 */
const MAX_SYNC_BYTES_PER_PULL = 1024 * 1024;
/** readNow's answer when the read needs an await. */
const NOT_NOW = Symbol('not now');
/** ASYNC_FLUSH: writes of consecutive ranges outstanding at once (hides thread-pool latency). */
const MAX_WRITES_IN_FLIGHT = 3;
/** Distinct topic names whose UTF-8 bytes are cached for encoding. */
const TOPIC_BYTES_CACHE_MAX = 10_000;

/** Appends refused because too much data waits for the disk (RocketMQ's OS_PAGECACHE_BUSY). */
class StoreBusyError extends StoreError {
  constructor(pendingBytes: number) {
    super(`the store is busy: ${pendingBytes} bytes wait for the disk`, {
      code: 'E_STORE_BUSY',
      actions: ['retry later; the disk is slower than the incoming message rate'],
    });
  }
}

/** The commit log hit an I/O error it cannot safely continue after (e.g. a failed fdatasync). */
class StoreIOError extends StoreError {
  constructor(what: string, cause: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    super(`commit log ${what} failed${typeof code === 'string' ? ` (${code})` : ''}; the store refuses appends until it is reopened`, {
      code: 'E_STORE_IO',
      cause,
      actions: ['restart the broker; recovery keeps every acknowledged message'],
    });
  }
}

class Segment {
  handle: FileHandle | undefined;
  opening: Promise<FileHandle> | undefined;
  users = 0;
  lastUse = 0;
  /** Deleted by retention: its handle closes when the last reader releases it. */
  deleted = false;
  constructor(
    readonly start: number,
    readonly path: string,
  ) {}
}

interface Chunk {
  /** Commit log offset of buf[start]. */
  pos: number;
  buf: Buffer;
  start: number;
  end: number;
}

interface PendingRecord {
  end: number;
  req: DispatchRequest;
  /** topicQueueTable key and whether this record took a queue offset (for rollback). */
  queueKey: string | undefined;
}

export class CommitLog implements CommitLogService {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly flushDiskType: FlushDiskType;
  /** Next queue offset per `topic-queueId` (CommitLog.topicQueueTable). */
  readonly topicQueueTable = new Map<string, number>();
  readonly stats: CommitLogStats = { putCount: 0, putBytes: 0, putFailures: 0, writeBatches: 0, fsyncs: 0 };
  /** Time of each flush pass (the fdatasyncs of every dirty segment), for the metrics endpoint. */
  readonly flushLatency = new Histogram(FLUSH_LATENCY_BUCKETS_S);

  private segments: Segment[] = [];
  /** Where the log starts while no segment file exists yet (a new store: 0). */
  private emptyLogStart = 0;
  private writePos = 0;
  private writtenPos = 0;
  private flushedPos = 0;
  /** Store time of the last record appended / written / flushed (checkpoint physicMsgTimestamp). */
  private lastAppendStoreTs = 0;
  private writtenStoreTs = 0;
  private flushedStoreTs = 0;

  private chunks: Chunk[] = [];
  private current: Chunk | undefined;
  private arena: Buffer = Buffer.alloc(0);
  private arenaView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private arenaUsed = 0;
  /** Encoded topic names (few distinct ones; bounded). */
  private readonly topicBytes = new Map<string, Buffer>();
  private pending: PendingRecord[] = [];
  private pendingHead = 0;
  private readonly waiters: WaiterQueue;
  private readonly creatingSegments = new Map<number, Promise<Segment>>();
  /** Segments written since their last fdatasync. */
  private dirty = new Set<Segment>();
  private writerRunning = false;
  private writerIdle: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** writtenPos when the flush under way started: what it will have synced when it resolves. */
  private flushingTarget = -1;
  private roomWaiters: Array<() => void> = [];
  private fenced: RocketError | undefined;
  private closed = false;
  private closing = false;
  private useSeq = 0;
  private readonly maxPendingBytes: number;
  /** Ended for good below a DLedger log (seal): read-only, and its last file may be deleted too. */
  private sealed = false;

  constructor(
    private readonly io: FileIO,
    private readonly opts: CommitLogOptions,
  ) {
    this.dir = path.join(opts.storePathRootDir, COMMITLOG_DIR);
    this.segmentBytes = opts.segmentBytes;
    this.flushDiskType = opts.flushDiskType;
    this.maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.waiters = new WaiterQueue(
      opts.flushDiskType === 'SYNC_FLUSH' ? opts.syncFlushTimeoutMs : Infinity,
      () => new FlushTimeoutError(opts.syncFlushTimeoutMs),
    );
  }

  // ---- opening and recovery hooks --------------------------------------------------------------

  /** List the segment files and check their names, sizes and contiguity (MappedFileQueue.load). */
  async load(): Promise<void> {
    await this.io.mkdirp(this.dir);
    const names = (await this.io.readdir(this.dir)).filter((n) => /^\d{20}$/.test(n)).sort();
    const segs = names.map((n) => new Segment(Number(n), path.join(this.dir, n)));
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      if (s.start % this.segmentBytes !== 0) {
        throw new CorruptStoreError(`commit log file ${s.path} does not start at a multiple of mappedFileSizeCommitLog (${this.segmentBytes}); was the store written with another segment size?`);
      }
      if (i > 0 && s.start !== segs[i - 1]!.start + this.segmentBytes) {
        throw new CorruptStoreError(`commit log files are not contiguous: ${path.basename(segs[i - 1]!.path)} is followed by ${path.basename(s.path)}`);
      }
      const h = await this.io.open(s.path, 'r+');
      try {
        const size = await h.size();
        // The newest file may be short if a crash hit between create and resize: make it whole.
        // Anything else means a different configured segment size, which RocketMQ refuses too.
        if (size < this.segmentBytes && i === segs.length - 1) await h.truncate(this.segmentBytes);
        else if (size !== this.segmentBytes) {
          throw new CorruptStoreError(`commit log file ${s.path} is ${size} bytes, expected ${this.segmentBytes} (mappedFileSizeCommitLog)`);
        }
      } finally {
        await h.close(); // reopened on demand (acquire), at most MAX_OPEN_SEGMENTS at a time
      }
    }
    this.segments = segs;
  }

  segmentStarts(): number[] {
    return this.segments.map((s) => s.start);
  }

  /**
   * The segments retention may delete, oldest first: every one but the last, which is the one being
   * written (MappedFileQueue.deleteExpiredFileByTime stops at mfs.length - 1).
   */
  cleanableSegments(): Array<{ start: number; path: string }> {
    return (this.sealed ? this.segments : this.segments.slice(0, -1)).map((s) => ({ start: s.start, path: s.path }));
  }

  /**
   * Delete the oldest segment (MappedFile.destroy + MappedFileQueue.deleteExpiredFile), which must
   * start at `start`; the log's min offset moves to the next one. Refused (false) for the last
   * segment and for one holding bytes not yet flushed. Reads in flight keep their descriptor (an
   * unlinked file stays readable until closed); new reads of its range find nothing, as
   * CommitLog.getMessage does for a destroyed file.
   */
  async deleteOldestSegment(start: number): Promise<boolean> {
    const seg = this.segments[0];
    // A sealed log has no file being written: its last one goes too (DLedgerCommitLog#deleteExpiredFile).
    if (!seg || seg.start !== start || (this.segments.length < 2 && !this.sealed) || this.closed || this.closing) return false;
    if (seg.start + this.segmentBytes > this.flushedPos || this.dirty.has(seg)) return false;
    this.segments.shift();
    seg.deleted = true;
    if (seg.users === 0) await this.closeSegment(seg);
    await this.io.unlink(seg.path);
    await this.io.fsyncDir(this.dir);
    return true;
  }

  /**
   * Make `end` the end of the log: zero the rest of its segment, delete later segments, and start
   * appending there. Zeroing matters: stale bytes past the end (torn writes that reached the disk
   * out of order) must never look like records to a later recovery.
   */
  async truncateAndStartAt(end: number, storeTimestampAtEnd: number, opts: { zeroTail: boolean }): Promise<void> {
    // A segment starting exactly at `end` is kept (emptied): the next append goes there anyway.
    const keep = this.segments.filter((s) => s.start <= end);
    const drop = this.segments.filter((s) => s.start > end);
    for (const s of drop.reverse()) {
      await this.closeSegment(s);
      await this.io.unlink(s.path);
    }
    if (drop.length > 0) await this.io.fsyncDir(this.dir);
    this.segments = keep;
    const last = keep[keep.length - 1];
    if (last && opts.zeroTail && end < last.start + this.segmentBytes) {
      const h = await this.acquire(last);
      try {
        // ftruncate down then up again: the kernel zero-fills (and frees) the cut range.
        await h.truncate(end - last.start);
        await h.truncate(this.segmentBytes);
        await h.datasync();
      } finally {
        this.release(last);
      }
    }
    this.writePos = this.writtenPos = this.flushedPos = this.emptyLogStart = end;
    this.lastAppendStoreTs = this.writtenStoreTs = this.flushedStoreTs = storeTimestampAtEnd;
  }

  /**
   * End the log for good at the end of its last file: the old commit log of a store that is now
   * a DLedger member's (DLedgerCommitLog#recover). With `writeMarker` (the first such start,
   * after this log's own recovery positioned it) an end-of-file BLANK goes at the write position,
   * as Java's needWriteMagicCode; on later starts the log is only positioned there, unscanned.
   * Returns that end (dividedCommitlogOffset), or undefined when the log has no file. No appends
   * afterwards; reads and retention go on.
   */
  async seal(writeMarker: boolean): Promise<number | undefined> {
    const last = this.segments[this.segments.length - 1];
    if (!last) return undefined;
    const end = last.start + this.segmentBytes;
    const pos = this.writePos;
    if (writeMarker && pos >= last.start && end - pos >= END_FILE_MIN_BLANK_BYTES) {
      const blank = Buffer.alloc(END_FILE_MIN_BLANK_BYTES);
      blank.writeInt32BE(end - pos, 0);
      blank.writeInt32BE(BLANK_MAGIC_CODE, 4);
      const h = await this.acquire(last);
      try {
        await h.write(blank, 0, blank.length, pos - last.start);
        await h.datasync();
      } finally {
        this.release(last);
      }
    }
    this.writePos = this.writtenPos = this.flushedPos = this.emptyLogStart = end;
    this.sealed = true;
    return end;
  }

  private get files(): SegmentFiles {
    return { io: this.io, dir: this.dir, segmentBytes: this.segmentBytes };
  }

  scan(fromIndex: number, checkCrc: boolean, onRecord: (rec: MessageRecord) => void): Promise<ScanOutcome> {
    return scanSegments(this.files, this.segmentStarts(), fromIndex, checkCrc, onRecord);
  }

  firstStoreTimestamp(start: number): Promise<number | undefined> {
    return firstStoreTimestamp(this.files, start);
  }

  dataExtent(start: number, fromOffset: number): Promise<number> {
    return dataExtent(this.files, start, fromOffset);
  }

  /** Begin the periodic flush (ASYNC_FLUSH). Call once recovery has positioned the log. */
  start(): void {
    if (this.flushDiskType === 'ASYNC_FLUSH' && !this.flushTimer) {
      // FlushRealTimeService: flush every flushIntervalCommitLog (we flush whenever anything is dirty).
      this.flushTimer = setInterval(() => void this.flush().catch(() => undefined), this.opts.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  // ---- positions -----------------------------------------------------------------------------

  minOffset(): number {
    return this.segments.length > 0 ? this.segments[0]!.start : this.emptyLogStart;
  }

  /** Next append position (includes bytes still in memory). */
  maxOffset(): number {
    return this.writePos;
  }

  writtenOffset(): number {
    return this.writtenPos;
  }

  flushedOffset(): number {
    return this.flushedPos;
  }

  /** Store time of the last flushed record (checkpoint physicMsgTimestamp). */
  flushedStoreTimestamp(): number {
    return this.flushedStoreTs;
  }

  pendingBytes(): number {
    return this.writePos - (this.flushDiskType === 'SYNC_FLUSH' ? this.flushedPos : this.writtenPos);
  }

  // ---- append ----------------------------------------------------------------------------------

  /** Throw if appends are impossible now (closed, fenced after an I/O error). */
  checkWritable(): void {
    if (this.closed || this.closing) throw new StoreClosedError();
    if (this.fenced) throw this.fenced;
    if (this.sealed) throw new StoreError('internal: append to the commit log that was sealed below the DLedger log', { code: 'E_STORE_IO' });
  }

  hasRoom(): boolean {
    return this.pendingBytes() < this.maxPendingBytes;
  }

  /** Wait (bounded) while too many bytes are waiting for the disk. */
  async waitForRoom(): Promise<void> {
    const deadline = performance.now() + PENDING_ROOM_WAIT_MS;
    while (this.pendingBytes() >= this.maxPendingBytes) {
      this.checkWritable();
      const left = deadline - performance.now();
      if (left <= 0) throw new StoreBusyError(this.pendingBytes());
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.roomWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Size and encoded pieces of a record, computed before the put lock (see `append`). */
  prepare(m: MessageFields): PreparedRecord {
    let topicBytes = this.topicBytes.get(m.topic);
    if (!topicBytes) {
      topicBytes = Buffer.from(m.topic, 'utf8');
      if (this.topicBytes.size < TOPIC_BYTES_CACHE_MAX) this.topicBytes.set(m.topic, topicBytes);
    }
    return prepareRecord(m, this.opts.storeHost, topicBytes);
  }

  /**
   * Append the records of one queue as one contiguous run (a batch never straddles segments, as
   * CommitLog.DefaultAppendMessageCallback.doAppend for MessageExtBatch). Each record is encoded
   * once, straight into the write buffer, with its queue offset, physical offset and store time.
   * `reqs[i]` describes `records[i]`; its offsets, size and store time are filled in here.
   * Synchronous (this is the put lock); the promise resolves when the records are written
   * (ASYNC_FLUSH) or flushed (SYNC_FLUSH), and rejects on timeout or disk errors.
   */
  append(records: PreparedRecord[], reqs: DispatchRequest[], storeTimestamp: number): Promise<void> {
    this.checkWritable();
    let total = 0;
    for (const r of records) total += r.size;
    this.makeRoomInSegment(total);
    for (let i = 0; i < records.length; i++) this.writeOne(records[i]!, reqs[i]!, storeTimestamp);
    return this.finishAppend(records.length, total, storeTimestamp);
  }

  /** `append` for one record (the common case), without the arrays. */
  appendOne(record: PreparedRecord, req: DispatchRequest, storeTimestamp: number): Promise<void> {
    this.checkWritable();
    this.makeRoomInSegment(record.size);
    this.writeOne(record, req, storeTimestamp);
    return this.finishAppend(1, record.size, storeTimestamp);
  }

  /** A run that does not fit the rest of the segment (plus the BLANK) starts the next one. */
  private makeRoomInSegment(total: number): void {
    if (total + END_FILE_MIN_BLANK_BYTES > this.segmentBytes) {
      throw new CorruptStoreError(`internal: a ${total}-byte append cannot fit a ${this.segmentBytes}-byte segment`);
    }
    const inSegment = this.writePos % this.segmentBytes;
    if (inSegment + total + END_FILE_MIN_BLANK_BYTES > this.segmentBytes) this.appendBlank(this.segmentBytes - inSegment);
  }

  private writeOne(rec: PreparedRecord, req: DispatchRequest, storeTimestamp: number): void {
    const type = transactionType(rec.sysFlag);
    // Prepared and rollback records take no queue offset and are not dispatched to a queue.
    const takesQueueOffset = type === SysFlag.TRANSACTION_NOT_TYPE || type === SysFlag.TRANSACTION_COMMIT_TYPE;
    const queueKey = takesQueueOffset ? `${req.topic}-${req.queueId}` : undefined;
    let queueOffset = 0;
    if (queueKey !== undefined) {
      queueOffset = this.topicQueueTable.get(queueKey) ?? 0;
      this.topicQueueTable.set(queueKey, queueOffset + 1);
    }
    const offset = this.writePos;
    const at = this.reserve(rec.size);
    writeRecord(this.arena, this.arenaView, at, rec, this.opts.storeHost, queueOffset, offset, storeTimestamp);
    req.queueOffset = queueOffset;
    req.commitLogOffset = offset;
    req.size = rec.size;
    req.storeTimestamp = storeTimestamp;
    this.pending.push({ end: this.writePos, req, queueKey });
  }

  private finishAppend(count: number, bytes: number, storeTimestamp: number): Promise<void> {
    this.lastAppendStoreTs = storeTimestamp;
    this.stats.putCount += count;
    this.stats.putBytes += bytes;
    const done = this.waiters.wait(this.writePos);
    this.kickWriter();
    return done;
  }

  /** END_FILE filler: int32 remaining + int32 BLANK_MAGIC_CODE; the rest of the file stays zero. */
  private appendBlank(remaining: number): void {
    const at = this.reserve(END_FILE_MIN_BLANK_BYTES);
    this.arenaView.setInt32(at, remaining);
    this.arenaView.setInt32(at + 4, BLANK_MAGIC_CODE);
    this.current = undefined; // the next chunk starts in the next segment
    this.writePos += remaining - END_FILE_MIN_BLANK_BYTES;
  }

  /** Room for `n` bytes at writePos in the current chunk (a new chunk/arena when needed). */
  private reserve(n: number): number {
    let c = this.current;
    if (!c || c.buf !== this.arena || this.arenaUsed + n > this.arena.length) {
      if (this.arenaUsed + n > this.arena.length) {
        this.arena = Buffer.allocUnsafe(Math.max(ARENA_BYTES, n));
        this.arenaView = new DataView(this.arena.buffer, this.arena.byteOffset, this.arena.length);
        this.arenaUsed = 0;
      }
      c = { pos: this.writePos, buf: this.arena, start: this.arenaUsed, end: this.arenaUsed };
      this.chunks.push(c);
      this.current = c;
    }
    const at = this.arenaUsed;
    this.arenaUsed += n;
    c.end += n;
    this.writePos += n;
    return at;
  }

  // ---- writer ----------------------------------------------------------------------------------

  private kickWriter(): void {
    if (this.writerRunning || this.fenced) return;
    this.writerRunning = true;
    this.writerIdle = this.runWriter().finally(() => {
      this.writerRunning = false;
      // Appends that arrived after the loop's last check start a new round.
      if (!this.fenced && !this.closed && this.hasWriterWork()) this.kickWriter();
    });
  }

  private hasWriterWork(): boolean {
    return this.writePos > this.writtenPos || (this.flushDiskType === 'SYNC_FLUSH' && this.flushedPos < this.writtenPos);
  }

  private runWriter(): Promise<void> {
    return this.flushDiskType === 'SYNC_FLUSH' ? this.runSyncWriter() : this.runAsyncWriter();
  }

  /**
   * ASYNC_FLUSH: write what is appended as it arrives, with up to MAX_WRITES_IN_FLIGHT writes of
   * consecutive ranges outstanding, and complete appends in log order as their writes finish.
   * Several outstanding writes hide the thread-pool round trip of each one, so appending (CPU)
   * and writing overlap. Ends when nothing is left; every iteration submits or retires a write.
   */
  private async runAsyncWriter(): Promise<void> {
    const inflight: Array<{ end: number; storeTs: number; done: Promise<unknown> }> = [];
    let submitted = this.writtenPos;
    while (!this.fenced) {
      if (this.writePos > submitted && inflight.length < MAX_WRITES_IN_FLIGHT) {
        const from = submitted;
        submitted = this.writePos;
        if (inflight.length === 0) {
          let wrote: boolean;
          try {
            wrote = this.writeOutSync(from, submitted);
          } catch (err) {
            await this.onWriteError(err);
            submitted = this.writtenPos;
            continue;
          }
          if (wrote) {
            this.writtenPos = submitted;
            this.writtenStoreTs = this.lastAppendStoreTs;
            this.dropWrittenChunks();
            this.advance(submitted);
            await new Promise<void>((resolve) => setImmediate(resolve));
            continue;
          }
        }
        const done = this.writeOut(from, submitted).then(
          () => undefined,
          (err: unknown) => err ?? new Error('write failed'),
        );
        inflight.push({ end: submitted, storeTs: this.lastAppendStoreTs, done });
        // Let appends that are already due run before deciding on another write.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const first = inflight.shift();
      if (!first) break;
      const err = await first.done;
      if (this.fenced) break;
      if (err !== undefined) {
        // Later writes may have landed; they are rolled back with this one.
        for (const w of inflight.splice(0)) await w.done;
        await this.onWriteError(err);
        submitted = this.writtenPos;
        continue;
      }
      this.writtenPos = first.end;
      this.writtenStoreTs = first.storeTs;
      this.dropWrittenChunks();
      this.advance(first.end);
    }
    for (const w of inflight.splice(0)) await w.done;
  }

  /**
   * SYNC_FLUSH group commit (GroupCommitService), pipelined: the write of the next batch overlaps
   * the fdatasync of the previous one, with at most one fdatasync in flight. An append completes
   * only through an fdatasync that started after its bytes were written. Each iteration: write
   * what is new; wait for the fdatasync in flight (it completes its batch); start one for what
   * is written; yield so the appenders just completed can append again (the next batch).
   */
  private async runSyncWriter(): Promise<void> {
    let syncing: Promise<void> | undefined;
    // Bounded by the work: each iteration writes or syncs something, or the loop ends.
    while (!this.fenced) {
      if (this.writePos > this.writtenPos) await this.writeAppended();
      if (syncing) {
        await syncing;
        syncing = undefined;
      }
      if (this.fenced) break;
      if (this.writtenPos > this.flushedPos || this.dirty.size > 0) syncing = this.startSync();
      else if (this.writePos === this.writtenPos) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (syncing) await syncing;
  }

  /** fdatasync what is written now; on success advance (dispatch + complete), on failure fence. */
  private startSync(): Promise<void> {
    const target = this.writtenPos;
    const ts = this.writtenStoreTs;
    return this.syncDirty().then(
      () => {
        if (target > this.flushedPos) {
          this.flushedPos = target;
          this.flushedStoreTs = ts;
        }
        this.advance(target);
      },
      (err: unknown) => this.fence(new StoreIOError('fdatasync', err)),
    );
  }

  /** Write everything appended so far; false when the write failed (rolled back or fenced). */
  private async writeAppended(): Promise<boolean> {
    const target = this.writePos;
    const targetTs = this.lastAppendStoreTs;
    try {
      if (!this.writeOutSync(this.writtenPos, target)) await this.writeOut(this.writtenPos, target);
    } catch (err) {
      await this.onWriteError(err);
      return false;
    }
    if (this.fenced) return false; // fenced meanwhile (a failed flush): positions are final
    this.writtenPos = target;
    this.writtenStoreTs = targetTs;
    this.dropWrittenChunks();
    return true;
  }

  /** Write [from, target): one writev per segment touched. */
  private async writeOut(from: number, target: number): Promise<void> {
    this.current = undefined; // seal: later appends start a new chunk (same arena)
    // Snapshot now: other writes complete (and drop their chunks) while this one awaits.
    const mine = this.chunks.filter((c) => c.pos >= from && c.pos < target);
    let i = 0;
    while (i < mine.length) {
      const first = mine[i]!;
      const seg = await this.segmentForWrite(first.pos);
      const { bufs, next } = this.chunkRun(mine, i, seg);
      i = next;
      const h = await this.acquire(seg);
      try {
        await h.writev(bufs, first.pos - seg.start);
      } finally {
        this.release(seg);
      }
      this.dirty.add(seg); // after the write completed: a concurrent flush must not claim it early
      this.stats.writeBatches++;
    }
  }

  /** The contiguous chunks of `mine` from index `i` that lie in `seg`, and the index after them. */
  private chunkRun(mine: Chunk[], i: number, seg: Segment): { bufs: Buffer[]; next: number } {
    const bufs: Buffer[] = [];
    let expect = mine[i]!.pos;
    while (i < mine.length) {
      const c = mine[i]!;
      if (c.pos !== expect || c.pos >= seg.start + this.segmentBytes) break;
      bufs.push(c.buf.subarray(c.start, c.end));
      expect = c.pos + (c.end - c.start);
      i++;
    }
    return { bufs, next: i };
  }

  /**
   * Write [from, target) synchronously when every segment it touches is open with a
   * handle that can (the real FileIO; both flush types, SYNC_FLUSH then fdatasyncs as before): the bytes are in the page cache when this returns, as after
   * RocketMQ's copy into the mapped file (DefaultAppendMessageCallback#doAppend), with no
   * thread-pool round trip before the append completes. False (nothing written) when a segment
   * still has to be created or opened, or the FileIO has no synchronous write; the caller then
   * writes asynchronously. Throws what the write throws (ENOSPC is rolled back by the caller).
   */
  private writeOutSync(from: number, target: number): boolean {
    const mine = this.chunks.filter((c) => c.pos >= from && c.pos < target);
    const groups: Array<{ seg: Segment; h: FileHandle; pos: number; bufs: Buffer[] }> = [];
    let i = 0;
    while (i < mine.length) {
      const first = mine[i]!;
      const seg = this.segmentAt(first.pos);
      const h = seg?.handle;
      if (seg === undefined || h === undefined || h.writevSync === undefined) return false;
      const { bufs, next } = this.chunkRun(mine, i, seg);
      i = next;
      groups.push({ seg, h, pos: first.pos - seg.start, bufs });
    }
    this.current = undefined; // seal: later appends start a new chunk (same arena)
    for (const g of groups) {
      g.seg.lastUse = ++this.useSeq;
      g.h.writevSync!(g.bufs, g.pos); // checked above
      this.dirty.add(g.seg);
      this.stats.writeBatches++;
    }
    return true;
  }

  private dropWrittenChunks(): void {
    let n = 0;
    while (n < this.chunks.length && this.chunks[n]!.pos + (this.chunks[n]!.end - this.chunks[n]!.start) <= this.writtenPos) n++;
    if (n > 0) this.chunks.splice(0, n);
  }

  private async syncDirty(): Promise<void> {
    const segs = [...this.dirty].sort((a, b) => a.start - b.start);
    this.dirty.clear();
    if (segs.length === 0) return;
    const t0 = performance.now();
    try {
      await this.syncSegments(segs);
    } finally {
      this.flushLatency.observe((performance.now() - t0) / 1000);
    }
  }

  private async syncSegments(segs: Segment[]): Promise<void> {
    for (const s of segs) {
      const h = await this.acquire(s);
      try {
        await h.datasync();
        this.stats.fsyncs++;
      } catch (err) {
        this.dirty.add(s);
        throw err;
      } finally {
        this.release(s);
      }
    }
  }

  /** Records up to `position` are written/durable: dispatch them in order, then resolve appends. */
  private advance(position: number): void {
    const broken = this.positionsOutOfOrder();
    if (broken) {
      // A bug, not an I/O failure: stop taking appends (reopening recovers from the files).
      this.fence(new CorruptStoreError(`internal: commit log positions out of order (${broken})`));
      return;
    }
    while (this.pendingHead < this.pending.length && this.pending[this.pendingHead]!.end <= position) {
      const p = this.pending[this.pendingHead++]!;
      this.opts.dispatch(p.req);
    }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    this.waiters.resolveUpTo(position);
    if (this.roomWaiters.length > 0 && this.pendingBytes() < this.maxPendingBytes) {
      for (const w of this.roomWaiters.splice(0)) w();
    }
  }

  /** The positions' invariant (see the class comment), or what breaks it. */
  private positionsOutOfOrder(): string | undefined {
    const min = this.minOffset();
    if (min <= this.flushedPos && this.flushedPos <= this.writtenPos && this.writtenPos <= this.writePos) return undefined;
    return `min ${min}, flushed ${this.flushedPos}, written ${this.writtenPos}, appended ${this.writePos}`;
  }

  /**
   * A failed write. ENOSPC: roll the log back to `writtenPos` (everything after it fails with
   * DiskFullError, queue offsets are handed out again, the partial bytes are zeroed) and keep
   * going, so appends work again once space returns. Anything else fences the log.
   */
  private async onWriteError(err: unknown): Promise<void> {
    const seg = this.segmentAt(this.writtenPos);
    const typed = fromNodeError(err, seg?.path ?? this.dir);
    if (!(typed instanceof DiskFullError)) {
      this.fence(new StoreIOError('write', err));
      return;
    }
    const rollbackTo = this.writtenPos;
    this.rollback(rollbackTo, typed);
    // Zero what the short write left, by ftruncate (needs no free space), so a crash before the
    // next append cannot resurrect records whose appends failed.
    for (const s of this.segments) {
      if (s.start + this.segmentBytes <= rollbackTo) continue;
      try {
        const h = await this.acquire(s);
        try {
          await h.truncate(Math.max(0, rollbackTo - s.start));
          await h.truncate(this.segmentBytes);
          await h.datasync();
        } finally {
          this.release(s);
        }
      } catch {
        // Best effort: recovery would cut a torn tail anyway.
      }
    }
  }

  private rollback(to: number, err: RocketError): void {
    // Give back queue offsets, newest first, so each queue ends at its first rolled-back offset.
    let keep = this.pending.length;
    while (keep > this.pendingHead && this.pending[keep - 1]!.end > to) keep--;
    let failed = 0;
    for (let i = this.pending.length - 1; i >= keep; i--) {
      const p = this.pending[i]!;
      if (p.queueKey !== undefined) this.topicQueueTable.set(p.queueKey, p.req.queueOffset);
      failed++;
    }
    this.pending.length = keep;
    this.stats.putFailures += failed;
    this.chunks = this.chunks.filter((c) => c.pos < to);
    this.current = undefined;
    this.writePos = to;
    this.lastAppendStoreTs = this.writtenStoreTs;
    this.waiters.rejectAbove(to, err);
  }

  private fence(err: RocketError): void {
    if (this.fenced) return;
    this.fenced = err;
    this.rollback(this.writtenPos, err);
    this.waiters.rejectAll(err);
    for (const w of this.roomWaiters.splice(0)) w();
  }

  // ---- flush -----------------------------------------------------------------------------------

  /** fdatasync everything written so far (ASYNC_FLUSH timer, close, and callers that need it). */
  flush(): Promise<void> {
    return this.flushUpTo(this.writtenPos);
  }

  /**
   * Resolves once everything written up to `want` is synced. A flush already under way is joined
   * only if it covers `want`: one that started before the caller's records were written would
   * resolve without syncing them (a store.flush() that returned "durable" for data only in the
   * page cache). Otherwise a second flush runs after it: at most two rounds, also under load.
   */
  private flushUpTo(want: number): Promise<void> {
    if (this.flushing) {
      if (this.flushingTarget >= want) return this.flushing;
      const after = () => (this.fenced ? Promise.reject(this.fenced) : this.flushUpTo(want));
      return this.flushing.then(after, after);
    }
    this.flushingTarget = this.writtenPos;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    if (this.fenced) return;
    const target = this.writtenPos;
    const ts = this.writtenStoreTs;
    if (target <= this.flushedPos && this.dirty.size === 0) return;
    try {
      await this.syncDirty();
    } catch (err) {
      this.fence(new StoreIOError('fdatasync', err));
      throw this.fenced;
    }
    if (target > this.flushedPos) {
      this.flushedPos = target;
      this.flushedStoreTs = ts;
    }
  }

  /**
   * Wait until everything appended before this call is written and flushed (or the log is
   * fenced). Appends arriving meanwhile are not waited for, so this ends under load too.
   */
  async drain(): Promise<void> {
    const target = this.writePos;
    const reached = () => (this.flushDiskType === 'SYNC_FLUSH' ? this.flushedPos : this.writtenPos);
    // Bounded: DRAIN_WAIT_MS in steps of 1 ms (the writer needs no help, only time).
    for (let waited = 0; waited < DRAIN_WAIT_MS && !this.fenced && reached() < target; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (!this.fenced) await this.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.closing = true; // no more appends: what is queued now is all there is
    try {
      await this.drain();
      for (let round = 0; round < 100 && this.writerRunning; round++) await this.writerIdle;
      if (!this.fenced) await this.flush();
    } finally {
      this.closed = true;
      this.waiters.rejectAll(new StoreClosedError());
      for (const s of this.segments) await this.closeSegment(s).catch(() => undefined);
    }
  }

  /** Stop without flushing or closing files (simulated process death in tests). */
  halt(): void {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = undefined;
    this.closed = true;
    this.fenced ??= new StoreClosedError();
    this.waiters.rejectAll(new StoreClosedError());
    // A dead process's descriptors close too; Node waits for operations still in flight.
    for (const s of this.segments) void this.closeSegment(s).catch(() => undefined);
  }

  isFenced(): RocketError | undefined {
    return this.fenced;
  }

  // ---- reads -----------------------------------------------------------------------------------

  /**
   * `size` bytes at `offset` (a copy), or undefined when the range is not all inside the log.
   * With `into` (at least `size` bytes), a range on disk is read into it and a view of it returned.
   */
  async read(offset: number, size: number, into?: Buffer): Promise<Buffer | undefined> {
    const seg = this.readTarget(offset, size);
    if (!(seg instanceof Segment)) return seg;
    const buf = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    let h: FileHandle;
    try {
      h = await this.acquire(seg);
    } catch (err) {
      if (seg.deleted) return undefined; // retention deleted it before it could be opened
      throw err;
    }
    try {
      const n = await h.read(buf, 0, size, offset - seg.start);
      return n === size ? buf : undefined;
    } finally {
      this.release(seg);
    }
  }

  /** The whole record starting at `offset` (its first int32 is its size). */
  async readRecord(offset: number): Promise<Buffer | undefined> {
    const head = await this.read(offset, 4);
    if (!head) return undefined;
    const size = head.readInt32BE(0);
    if (size < 8 || offset + size > this.writePos) return undefined;
    return this.read(offset, size);
  }

  /**
   * Several ranges at once (a pull). Ranges of one segment that lie close together (a queue's
   * records interleaved with other queues' records) are fetched with one pread of the span, as
   * long as the span stays under MAX_COALESCED_READ_BYTES and gaps under MAX_COALESCE_GAP_BYTES;
   * the spans are read concurrently. Returns fresh buffers (safe to keep), undefined for ranges
   * outside the log.
   *
   * With `opts.inMemory` (the caller found the ranges inside the in-memory window), spans of an
   * open segment whose handle has `readSync` are read synchronously, up to MAX_SYNC_BYTES_PER_PULL
   * per call: Apache serves such pulls from its mapped commit log without any hand-off
   * (CommitLog#getMessage -> MappedFile#selectMappedBuffer at 4.9.8), and a thread-pool read costs
   * ~30 us of CPU where a pread of cached pages costs a few. Everything below writtenPos has been
   * handed to write(2), so the page cache holds it whether or not it is flushed yet; bytes above
   * it come from memory either way. The rest (no open handle yet, a deleted segment, a FileIO
   * without readSync, the budget spent) is read asynchronously as before.
   */
  async readMany(ranges: Array<{ offset: number; size: number }>, opts?: ReadManyOptions): Promise<Array<Buffer | undefined>> {
    const out: Array<Buffer | undefined> = new Array(ranges.length);
    const reads: Array<Promise<void>> = [];
    let syncBytesLeft = opts?.inMemory ? MAX_SYNC_BYTES_PER_PULL : 0;
    let i = 0;
    while (i < ranges.length) {
      const r = ranges[i]!;
      const seg = r.offset < this.writtenPos ? this.segmentAt(r.offset) : undefined;
      let j = i + 1;
      let end = r.offset + r.size;
      let useful = r.size;
      if (seg) {
        const segEnd = seg.start + this.segmentBytes;
        while (j < ranges.length) {
          const n = ranges[j]!;
          const nEnd = n.offset + n.size;
          const gap = n.offset - end;
          if (gap < 0 || gap > MAX_COALESCE_GAP_BYTES || nEnd > segEnd || nEnd > this.writtenPos || nEnd - r.offset > MAX_COALESCED_READ_BYTES) break;
          end = nEnd;
          useful += n.size;
          j++;
        }
      }
      const from = i;
      const to = j;
      const spanBytes = end - r.offset;
      i = j;
      // Mostly gaps: read into a reused scratch buffer and copy the records out, rather than
      // allocate the whole span (for a pull of 32 records among 8 busy queues: ~300 KiB for
      // ~40 KiB kept, each one garbage the moment the pull is answered).
      const copy = to - from > 1 && spanBytes > 2 * useful;
      if (spanBytes <= syncBytesLeft) {
        const scratch = copy ? this.takeScratch(spanBytes) : undefined;
        try {
          const whole = this.readNow(r.offset, spanBytes, scratch);
          if (whole !== NOT_NOW) {
            syncBytesLeft -= spanBytes;
            this.spread(ranges, from, to, whole, copy, out);
            continue;
          }
        } catch (err) {
          // Fail the pull through Promise.all, which also takes the rejections of reads already started.
          reads.push(Promise.reject(err));
          break;
        } finally {
          this.putScratch(scratch);
        }
      }
      reads.push(
        (async () => {
          const scratch = copy ? this.takeScratch(spanBytes) : undefined;
          try {
            this.spread(ranges, from, to, await this.read(r.offset, spanBytes, scratch), copy, out);
          } finally {
            this.putScratch(scratch);
          }
        })(),
      );
    }
    if (reads.length > 0) await Promise.all(reads);
    return out;
  }

  /**
   * The records of ranges[from, to) out of `whole` (the span starting at ranges[from]): views of
   * it, or, when `whole` is scratch, views of one new buffer the records are copied into back to
   * back (one allocation per span, not one per record).
   */
  private spread(ranges: Array<{ offset: number; size: number }>, from: number, to: number, whole: Buffer | undefined, copy: boolean, out: Array<Buffer | undefined>): void {
    if (to - from === 1) {
      out[from] = whole;
      return;
    }
    const start = ranges[from]!.offset;
    if (whole === undefined) {
      for (let k = from; k < to; k++) out[k] = undefined;
      return;
    }
    if (!copy) {
      for (let k = from; k < to; k++) {
        const q = ranges[k]!;
        out[k] = whole.subarray(q.offset - start, q.offset - start + q.size);
      }
      return;
    }
    let total = 0;
    for (let k = from; k < to; k++) total += ranges[k]!.size;
    const own = Buffer.allocUnsafe(total);
    let at = 0;
    for (let k = from; k < to; k++) {
      const q = ranges[k]!;
      const n = whole.copy(own, at, q.offset - start, q.offset - start + q.size);
      out[k] = own.subarray(at, at + n);
      at += n;
    }
  }

  /**
   * `read()` without waiting: the same answer, read synchronously from the segment's open handle,
   * or NOT_NOW when that needs an await (the handle is not open, the FileIO has no readSync, or
   * retention deleted the segment).
   */
  private readNow(offset: number, size: number, into?: Buffer): Buffer | undefined | typeof NOT_NOW {
    const seg = this.readTarget(offset, size);
    if (!(seg instanceof Segment)) return seg;
    const h = seg.handle;
    if (!h?.readSync || seg.deleted) return NOT_NOW;
    seg.lastUse = ++this.useSeq;
    const buf = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    return h.readSync(buf, 0, size, offset - seg.start) === size ? buf : undefined;
  }

  /**
   * Where [offset, offset + size) is read from: undefined when it is not all inside one segment of
   * the log, the bytes themselves when not yet written (from memory), else the segment holding it.
   */
  private readTarget(offset: number, size: number): Segment | Buffer | undefined {
    if (size <= 0 || offset < this.minOffset() || offset + size > this.writePos) return undefined;
    if (offset >= this.writtenPos) return this.readFromMemory(offset, size);
    const seg = this.segmentAt(offset);
    return !seg || offset - seg.start + size > this.segmentBytes ? undefined : seg;
  }

  private putScratch(scratch: Buffer | undefined): void {
    if (scratch && this.scratch.length < MAX_SCRATCH_BUFFERS) this.scratch.push(scratch);
  }

  /** Scratch buffers of MAX_COALESCED_READ_BYTES for sparse spans: one per concurrent read; up to MAX_SCRATCH_BUFFERS are kept. */
  private readonly scratch: Buffer[] = [];

  private takeScratch(bytes: number): Buffer | undefined {
    if (bytes > MAX_COALESCED_READ_BYTES) return undefined;
    return this.scratch.pop() ?? Buffer.allocUnsafe(MAX_COALESCED_READ_BYTES);
  }

  private readFromMemory(offset: number, size: number): Buffer | undefined {
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    for (const c of this.chunks) {
      const cEnd = c.pos + (c.end - c.start);
      const from = Math.max(c.pos, offset + done);
      if (cEnd <= from || c.pos > offset + done) continue;
      const n = Math.min(cEnd, offset + size) - from;
      c.buf.copy(out, done, c.start + (from - c.pos), c.start + (from - c.pos) + n);
      done += n;
      if (done === size) return out;
    }
    return undefined;
  }

  // ---- segments --------------------------------------------------------------------------------

  private segmentAt(offset: number): Segment | undefined {
    if (this.segments.length === 0) return undefined;
    const i = Math.floor((offset - this.segments[0]!.start) / this.segmentBytes);
    return i >= 0 && i < this.segments.length ? this.segments[i] : undefined;
  }

  /** The segment holding `offset`, created when the writer reaches a new one. */
  private segmentForWrite(offset: number): Promise<Segment> {
    const existing = this.segmentAt(offset);
    if (existing) return Promise.resolve(existing);
    const start = offset - (offset % this.segmentBytes);
    // Concurrent writes may reach a new segment together: create it once.
    let creating = this.creatingSegments.get(start);
    if (!creating) {
      creating = this.createSegment(start).finally(() => this.creatingSegments.delete(start));
      this.creatingSegments.set(start, creating);
    }
    return creating;
  }

  private async createSegment(start: number): Promise<Segment> {
    const last = this.segments[this.segments.length - 1];
    if (last && start !== last.start + this.segmentBytes) {
      throw new CorruptStoreError(`internal: creating the segment at ${start} but the last one starts at ${last.start}`);
    }
    const seg = new Segment(start, path.join(this.dir, segmentFileName(start)));
    const h = await this.io.open(seg.path, 'w+');
    // Full size up front (sparse), as RocketMQ's fixed-size mapped files; the size and the
    // directory entry are made durable before any record in it can be acknowledged.
    await h.truncate(this.segmentBytes);
    await h.datasync();
    await this.io.fsyncDir(this.dir);
    seg.handle = h;
    this.segments.push(seg);
    this.trimOpenHandles();
    return seg;
  }

  private async acquire(seg: Segment): Promise<FileHandle> {
    seg.users++;
    seg.lastUse = ++this.useSeq;
    try {
      if (seg.handle) return seg.handle;
      seg.opening ??= this.io.open(seg.path, 'r+');
      const h = await seg.opening;
      seg.handle = h;
      seg.opening = undefined;
      this.trimOpenHandles();
      return h;
    } catch (err) {
      seg.users--;
      seg.opening = undefined;
      throw err;
    }
  }

  private release(seg: Segment): void {
    seg.users--;
    if (seg.deleted && seg.users === 0) void this.closeSegment(seg).catch(() => undefined);
  }

  private trimOpenHandles(): void {
    const open = this.segments.filter((s) => s.handle);
    if (open.length <= MAX_OPEN_SEGMENTS) return;
    const last = this.segments[this.segments.length - 1];
    const idle = open.filter((s) => s.users === 0 && s !== last && !this.dirty.has(s)).sort((a, b) => a.lastUse - b.lastUse);
    for (const s of idle.slice(0, open.length - MAX_OPEN_SEGMENTS)) void this.closeSegment(s).catch(() => undefined);
  }

  private async closeSegment(s: Segment): Promise<void> {
    const h = s.handle;
    s.handle = undefined;
    if (h) await h.close();
  }
}
