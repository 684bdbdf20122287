/**
 * Consume queues: per topic/queueId, an array of 20-byte units pointing into the commit log, in
 * RocketMQ's on-disk format (apache/rocketmq ConsumeQueue.java):
 *
 *   <root>/consumequeue/<topic>/<queueId>/<20-digit byte offset of the file's first unit>
 *   unit = int64 commitLogOffset, int32 size, int64 tagsCode   (big-endian; tagsCode sign-extended)
 *
 * Files are created at their full size (sparse), as RocketMQ's mapped files are, so a Java broker
 * can open our store. Recent units also live in memory (the same bytes as on disk): `get` is
 * synchronous and must see unflushed units, and put must not touch the disk. `flush()` writes what
 * changed since the last flush in one write per file (the facade calls it every
 * flushIntervalConsumeQueue and on close).
 *
 * Older units are read back from the file when the FileIO can read synchronously (the real one):
 * after a flush, a file keeps in memory only the last `residentUnits` flushed units and what is not
 * flushed yet, and a full file that is not the queue's last keeps nothing. So memory stays flat as
 * a backlog grows (20 bytes per message otherwise: 44 MB for 2.2 million), as RocketMQ's consume
 * queues live in mapped files rather than the heap (ConsumeQueue.getIndexBuffer reads a
 * MappedFile). A read below the resident part is one small positional read of the file, which the
 * page cache usually holds.
 */
import path from 'node:path';
import { CorruptStoreError, StoreClosedError } from '../../errors/index.js';
import { readInt64, writeInt64 } from '../../protocol/long.js';
import { invariant } from '../../util/invariant.js';
import type { FileIO } from './file-io.js';
import type { ConsumeQueueLike, CqUnit } from './types.js';

const CQ_UNIT_SIZE_BYTES = 20;

/**
 * The unit RocketMQ writes in front of the first real unit when a queue's first file starts mid-way
 * (ConsumeQueue.fillPreBlank): commitLogOffset 0, size Integer.MAX_VALUE, tagsCode 0.
 */
export const CQ_FILLER_SIZE = 2147483647;

/** Queues flushed at once by ConsumeQueueStore.flush (bounds open file descriptors). */
const FLUSH_CONCURRENCY = 4;

/** Smallest in-memory capacity of a file's buffer; it doubles up to the file size. */
const MIN_BUFFER_BYTES = 64 * CQ_UNIT_SIZE_BYTES;

/** Flushed units a file keeps in memory behind its tail (80 KiB): consumers near the tail read memory. */
export const DEFAULT_RESIDENT_UNITS = 4096;

const EMPTY = Buffer.alloc(0);

const FILE_NAME_PATTERN = /^\d{20}$/;

export function cqFileName(startOffsetBytes: number): string {
  return String(startOffsetBytes).padStart(20, '0');
}

/** Encode one unit into `buf` at `pos` (the on-disk layout). */
export function writeCqUnit(buf: Buffer, pos: number, unit: CqUnit): void {
  writeInt64(buf, unit.commitLogOffset, pos);
  buf.writeInt32BE(unit.size, pos + 8);
  // tagsCode is a Java long: a negative String.hashCode is stored sign-extended.
  writeInt64(buf, unit.tagsCode, pos + 12);
}

export function readCqUnit(buf: Buffer, pos: number): CqUnit {
  return { commitLogOffset: readInt64(buf, pos), size: buf.readInt32BE(pos + 8), tagsCode: readInt64(buf, pos + 12) };
}

function isFillerAt(buf: Buffer, pos: number): boolean {
  return buf.readInt32BE(pos + 8) === CQ_FILLER_SIZE && readInt64(buf, pos) === 0;
}

/** What loading one queue found (torn tails are reported, not silently dropped). */
interface CqLoadResult {
  queue: string;
  units: number;
  /** Units (or partial units) cut from the tail: zeroed, torn or out of order. */
  unitsDropped: number;
  /** Files deleted because they came after the cut or did not continue the sequence. */
  filesDropped: string[];
}

interface CqStoreLoadReport {
  queues: number;
  units: number;
  /** Only the queues where something was dropped. */
  torn: CqLoadResult[];
}

/** One file of a queue. Invariant: every file but the last holds `fileSizeBytes` of units. */
interface CqFile {
  readonly startOffsetBytes: number;
  /**
   * The file's bytes [base, base + buf.length) as on disk (plus units not flushed yet); bytes
   * [0, lenBytes) are valid. Below `base` they are only on disk (base <= flushedBytes, always).
   */
  buf: Buffer;
  base: number;
  lenBytes: number;
  /** Bytes [0, flushedBytes) are on disk and equal to what the queue holds. */
  flushedBytes: number;
  /** On disk, bytes at or beyond this are zero (we zero a cut tail before reusing the space). */
  diskHighBytes: number;
  /** The file exists with its full size. */
  onDisk: boolean;
}

export class ConsumeQueue implements ConsumeQueueLike {
  readonly dir: string;
  private files: CqFile[] = [];
  private minOffsetUnits = 0;
  /** Files cut off by truncation, unlinked on the next flush (unless re-created first). */
  private pendingDeletes = new Set<number>();
  private flushChain: Promise<void> = Promise.resolve();
  /** Bumped by truncation so a flush in flight knows its view of the tail went stale. */
  private truncateEpoch = 0;
  private closed = false;
  /** Set when the topic is deleted: no more disk writes for this queue. */
  private abandoned = false;

  constructor(
    readonly topic: string,
    readonly queueId: number,
    storePathRootDir: string,
    readonly fileSizeBytes: number,
    private readonly io: FileIO,
    /** Flushed units each file keeps in memory behind its tail (when the FileIO can read synchronously). */
    private readonly residentUnits = DEFAULT_RESIDENT_UNITS,
  ) {
    if (!Number.isSafeInteger(fileSizeBytes) || fileSizeBytes <= 0 || fileSizeBytes % CQ_UNIT_SIZE_BYTES !== 0) {
      throw new Error(`consume queue file size must be a positive multiple of 20 (got ${fileSizeBytes})`);
    }
    invariant(Number.isSafeInteger(residentUnits) && residentUnits >= 0, () => `residentUnits must be >= 0 (got ${residentUnits})`);
    this.dir = path.join(storePathRootDir, 'consumequeue', topic, String(queueId));
  }

  /** "topic/queueId", how reports name a queue. */
  get name(): string {
    return `${this.topic}/${this.queueId}`;
  }

  // ---- reads -------------------------------------------------------------------------------

  minOffset(): number {
    return this.minOffsetUnits;
  }

  maxOffset(): number {
    const last = this.files[this.files.length - 1];
    return last === undefined ? this.minOffsetUnits : (last.startOffsetBytes + last.lenBytes) / CQ_UNIT_SIZE_BYTES;
  }

  get(offset: number, max: number): CqUnit[] {
    const out: CqUnit[] = [];
    // A topic being deleted: its files are going away.
    if (this.abandoned) return out;
    const from = Math.max(offset, this.minOffsetUnits);
    const to = Math.min(offset + Math.max(0, max), this.maxOffset());
    // One read per file touched (from memory, or one positional read below the resident part).
    for (let o = from; o < to; ) {
      const [f, pos] = this.locate(o);
      const n = Math.min(to - o, (f.lenBytes - pos) / CQ_UNIT_SIZE_BYTES);
      const [b, at] = this.bytesAt(f, pos, n * CQ_UNIT_SIZE_BYTES);
      for (let i = 0; i < n; i++) out.push(readCqUnit(b, at + i * CQ_UNIT_SIZE_BYTES));
      o += n;
    }
    return out;
  }

  /** The unit at `offset`, or undefined outside [minOffset, maxOffset). */
  unitAt(offset: number): CqUnit | undefined {
    if (this.abandoned || offset < this.minOffsetUnits || offset >= this.maxOffset()) return undefined;
    const [f, pos] = this.locate(offset);
    const [b, at] = this.bytesAt(f, pos, CQ_UNIT_SIZE_BYTES);
    return readCqUnit(b, at);
  }

  maxCommitLogEnd(): number {
    for (let i = this.files.length - 1; i >= 0; i--) {
      const f = this.files[i]!;
      if (f.lenBytes === 0) continue;
      const pos = f.lenBytes - CQ_UNIT_SIZE_BYTES;
      if (f.startOffsetBytes + pos < this.minOffsetUnits * CQ_UNIT_SIZE_BYTES) return -1;
      const [b, at] = this.bytesAt(f, pos, CQ_UNIT_SIZE_BYTES);
      if (isFillerAt(b, at)) return -1;
      return readInt64(b, at) + b.readInt32BE(at + 8);
    }
    return -1;
  }

  /** Bytes in memory for this queue's units (what the resident window keeps; for tests and stats). */
  residentBytes(): number {
    let n = 0;
    for (const f of this.files) n += f.buf.length;
    return n;
  }

  /**
   * The offset whose store time is closest to `timestampMs`, as
   * ConsumeQueue.getOffsetInQueueByTime but over the whole queue rather than one file:
   *  - an exact match wins;
   *  - otherwise the nearer of the last unit before and the first unit after the timestamp; on a
   *    tie the earlier one (Java prefers the left unit unless it is strictly farther);
   *  - several units with the chosen store time → the first of them (so a reset by time never
   *    skips a message stored in the same millisecond);
   *  - before every unit → minOffset; after every unit → the last unit (maxOffset - 1);
   *  - empty queue → maxOffset (= minOffset; Java answers 0, which is the same for a new queue).
   * `storeTimeAt` reads the unit's message from the commit log; a negative answer means the
   * message is gone (deleted commit log file) and counts as older than any timestamp, like
   * Java skipping units below the commit log's min offset. If no unit is readable → maxOffset.
   * Assumes store times never decrease along the queue (they are taken under the put lock).
   */
  async searchOffsetByTimestamp(timestampMs: number, storeTimeAt: (unit: CqUnit) => Promise<number>): Promise<number> {
    const min = this.minOffsetUnits;
    const max = this.maxOffset();
    if (max <= min) return max;
    const timeOf = async (o: number): Promise<number> => {
      const unit = this.unitAt(o);
      // A truncation while we await can shorten the queue: treat vanished units as unreadable.
      return unit === undefined ? -1 : storeTimeAt(unit);
    };
    const { offset: right, timeMs: rightTime } = await this.lowerBound(timestampMs, min, max, timeOf);
    if (right < max && rightTime === timestampMs) return right;
    const left = right - 1;
    const leftTime = left >= min ? await timeOf(left) : -1;
    if (leftTime < 0) return right; // nothing readable before: the first unit after (or max)
    if (right < max && Math.abs(timestampMs - leftTime) > Math.abs(rightTime - timestampMs)) return right;
    return (await this.lowerBound(leftTime, min, left, timeOf)).offset;
  }

  /** First offset in [lo, hi) whose (readable) store time is >= targetMs, or hi; binary search. */
  private async lowerBound(
    targetMs: number,
    lo: number,
    hi: number,
    timeOf: (offset: number) => Promise<number>,
  ): Promise<{ offset: number; timeMs: number }> {
    let timeMs = -1;
    // Each pass halves [lo, hi): at most 53 passes for any safe-integer range.
    for (let guard = 0; lo < hi && guard < 64; guard++) {
      const mid = lo + Math.floor((hi - lo) / 2);
      const t = await timeOf(mid);
      if (t >= 0 && t >= targetMs) {
        hi = mid;
        timeMs = t;
      } else {
        lo = mid + 1;
      }
    }
    return { offset: hi, timeMs };
  }

  private locate(offset: number): [CqFile, number] {
    const first = this.files[0]!;
    const bytes = offset * CQ_UNIT_SIZE_BYTES - first.startOffsetBytes;
    const f = this.files[Math.floor(bytes / this.fileSizeBytes)]!;
    return [f, bytes % this.fileSizeBytes];
  }

  /**
   * Bytes [pos, pos + length) of file `f` (within [0, lenBytes)), as [buffer, index of pos in it]:
   * the resident buffer itself, or a new buffer read from the file for a range below `base`.
   */
  private bytesAt(f: CqFile, pos: number, length: number): [Buffer, number] {
    if (pos >= f.base) return [f.buf, pos - f.base];
    const out = Buffer.allocUnsafe(length);
    const coldEnd = Math.min(pos + length, f.base);
    const filePath = path.join(this.dir, cqFileName(f.startOffsetBytes));
    // Only a FileIO with readRangeSync ever moves `base` above 0.
    const got = this.io.readRangeSync!(filePath, out, 0, coldEnd - pos, pos);
    if (got !== coldEnd - pos) {
      throw new CorruptStoreError(`consume queue file ${filePath} ends at byte ${pos + got}, before the ${coldEnd} it was flushed to (changed outside the broker?)`);
    }
    if (coldEnd < pos + length) f.buf.copy(out, coldEnd - pos, 0, pos + length - f.base);
    return [out, 0];
  }

  /** The commit log offset of the unit at queue offset `offset`. */
  private commitLogOffsetAt(offset: number): number {
    const [f, pos] = this.locate(offset);
    const [b, at] = this.bytesAt(f, pos, 8);
    return readInt64(b, at);
  }

  /**
   * After a flush: keep in memory only what readers near the tail need. A full file that is not the
   * last keeps nothing; the last keeps its unflushed units and `residentUnits` flushed ones behind
   * them, trimmed once twice that many have piled up (so the copy is amortized). Only for a FileIO
   * that can read synchronously (the fault-injecting and dry-run layers keep everything).
   */
  private trimResident(f: CqFile): void {
    if (this.io.readRangeSync === undefined || !f.onDisk) return;
    const last = f === this.files[this.files.length - 1];
    if (!last && f.lenBytes === this.fileSizeBytes && f.flushedBytes === f.lenBytes) {
      f.base = f.lenBytes;
      f.buf = EMPTY;
      return;
    }
    const windowBytes = this.residentUnits * CQ_UNIT_SIZE_BYTES;
    const newBase = f.flushedBytes - windowBytes;
    if (newBase - f.base < windowBytes || newBase <= 0) return;
    const next = Buffer.alloc(Math.min(nextPow2Units(f.lenBytes - newBase, this.fileSizeBytes), this.fileSizeBytes - newBase));
    f.buf.copy(next, 0, newBase - f.base, f.lenBytes - f.base);
    f.buf = next;
    f.base = newBase;
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Append the unit for `queueOffset`. As ConsumeQueue.putMessagePositionInfo: an offset below
   * maxOffset is a repeated dispatch (recovery re-dispatch) and is ignored; the first unit of a
   * queue that holds no units may start mid-way, the file's head then filled with filler units.
   * A gap in a non-empty queue means the dispatcher lost units: refuse rather than misnumber.
   */
  put(queueOffset: number, unit: CqUnit): void {
    if (this.closed) throw new StoreClosedError();
    const max = this.maxOffset();
    if (queueOffset < max) return;
    if (queueOffset > max) {
      if (this.files.some((f) => f.lenBytes > 0)) {
        throw new CorruptStoreError(`consume queue ${this.name}: put at offset ${queueOffset} but the next offset is ${max} (gap)`);
      }
      // No units at all (new, or every unit truncated away): start over at this offset.
      for (const f of this.files) this.pendingDeletes.add(f.startOffsetBytes);
      this.files = [];
      this.startMidway(queueOffset);
    }
    let f = this.files[this.files.length - 1];
    if (f === undefined || f.lenBytes === this.fileSizeBytes) {
      f = this.newFile(f === undefined ? queueOffset * CQ_UNIT_SIZE_BYTES : f.startOffsetBytes + this.fileSizeBytes);
    }
    this.ensureCapacity(f, f.lenBytes + CQ_UNIT_SIZE_BYTES);
    writeCqUnit(f.buf, f.lenBytes - f.base, unit);
    f.lenBytes += CQ_UNIT_SIZE_BYTES;
  }

  private startMidway(queueOffset: number): void {
    const bytes = queueOffset * CQ_UNIT_SIZE_BYTES;
    const fileStart = bytes - (bytes % this.fileSizeBytes);
    const f = this.newFile(fileStart);
    this.ensureCapacity(f, bytes - fileStart);
    for (let pos = 0; pos < bytes - fileStart; pos += CQ_UNIT_SIZE_BYTES) {
      writeCqUnit(f.buf, pos, { commitLogOffset: 0, size: CQ_FILLER_SIZE, tagsCode: 0 });
    }
    f.lenBytes = bytes - fileStart;
    this.minOffsetUnits = queueOffset;
  }

  private newFile(startOffsetBytes: number): CqFile {
    // Re-creating a file that truncation cut off: its old bytes are still on disk until flushed over.
    const reused = this.pendingDeletes.delete(startOffsetBytes);
    const prev = this.files[this.files.length - 1];
    invariant(
      prev === undefined || (prev.lenBytes === this.fileSizeBytes && prev.startOffsetBytes + this.fileSizeBytes === startOffsetBytes),
      () => `${this.name}: a file starts at byte ${startOffsetBytes} after one at ${prev!.startOffsetBytes} holding ${prev!.lenBytes} of ${this.fileSizeBytes} bytes`,
    );
    const f: CqFile = {
      startOffsetBytes,
      buf: Buffer.alloc(Math.min(MIN_BUFFER_BYTES, this.fileSizeBytes)),
      base: 0,
      lenBytes: 0,
      flushedBytes: 0,
      diskHighBytes: reused ? this.fileSizeBytes : 0,
      onDisk: false,
    };
    this.files.push(f);
    return f;
  }

  /** Room in `f.buf` for the file's bytes up to `bytes`. */
  private ensureCapacity(f: CqFile, bytes: number): void {
    const need = bytes - f.base;
    if (f.buf.length >= need) return;
    let cap = Math.max(f.buf.length, MIN_BUFFER_BYTES);
    while (cap < need) cap *= 2;
    const next = Buffer.alloc(Math.min(cap, this.fileSizeBytes - f.base));
    f.buf.copy(next, 0, 0, f.lenBytes - f.base);
    f.buf = next;
  }

  /**
   * Drop tail units whose commit log offset is >= `commitLogOffset` (ConsumeQueue.truncateDirtyLogicFiles).
   * Memory changes now; the disk follows on the next flush (the cut bytes are zeroed, files past
   * the cut deleted). Filler units are never cut. Returns the number of units dropped.
   */
  truncateByCommitLogOffset(commitLogOffset: number): number {
    const max = this.maxOffset();
    // Units are in commit log order: the cut is the first unit at or past the offset.
    const cut = this.offsetOfCommitLogOffset(commitLogOffset);
    if (cut >= max) return 0;
    this.cutAt(cut);
    return max - cut;
  }

  /** Make `offset` the new maxOffset (offset within [minOffset, maxOffset]). */
  private cutAt(offset: number): void {
    this.truncateEpoch++;
    const first = this.files[0]!;
    const bytes = offset * CQ_UNIT_SIZE_BYTES - first.startOffsetBytes;
    // The file containing the cut stays (possibly empty); later files go.
    const keep = Math.min(Math.floor(bytes / this.fileSizeBytes), this.files.length - 1);
    // Always schedule the unlink: a file may be mid-creation in a flush in flight.
    for (const gone of this.files.splice(keep + 1)) this.pendingDeletes.add(gone.startOffsetBytes);
    const f = this.files[keep]!;
    f.lenBytes = bytes - keep * this.fileSizeBytes;
    if (f.lenBytes < f.base) {
      // Cut below what is in memory: everything before the cut is on disk, so memory starts there.
      f.base = f.lenBytes;
      f.buf = Buffer.alloc(Math.min(MIN_BUFFER_BYTES, this.fileSizeBytes - f.base));
    }
    f.buf.fill(0, f.lenBytes - f.base);
    f.flushedBytes = Math.min(f.flushedBytes, f.lenBytes);
  }

  /**
   * Delete whole files whose units all point below `minCommitLogOffset` (the commit log's new
   * start after its old files were deleted), keeping the last file, then move minOffset to the
   * first unit still in the commit log (ConsumeQueue.deleteExpiredFile + correctMinOffset).
   * Returns the number of files deleted.
   */
  deleteExpiredFiles(minCommitLogOffset: number): Promise<number> {
    // In the flush chain: a flush in flight must not reopen a file we are deleting.
    const run = this.flushChain.then(() => this.deleteExpiredNow(minCommitLogOffset));
    this.flushChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async deleteExpiredNow(minCommitLogOffset: number): Promise<number> {
    const doomed: CqFile[] = [];
    while (this.files.length > 1) {
      const f = this.files[0]!;
      const [b, at] = this.bytesAt(f, f.lenBytes - CQ_UNIT_SIZE_BYTES, 8);
      if (readInt64(b, at) >= minCommitLogOffset) break;
      doomed.push(this.files.shift()!);
    }
    this.correctMinOffset(minCommitLogOffset);
    for (const f of doomed) await this.unlinkQuiet(path.join(this.dir, cqFileName(f.startOffsetBytes)));
    return doomed.length;
  }

  /**
   * Move minOffset to the first unit whose message is still in the commit log (ConsumeQueue.
   * correctMinOffset, also run on open as DefaultMessageStore.recoverTopicQueueTable does). When
   * every unit points below the log, minOffset = maxOffset: the queue holds nothing readable (Apache
   * searches the first file only and then leaves minOffset where it was).
   */
  correctMinOffset(minCommitLogOffset: number): void {
    if (this.files.length === 0) return;
    // Whole files may just have been dropped from the head: min starts at the first one kept.
    this.minOffsetUnits = Math.max(this.minOffsetUnits, this.files[0]!.startOffsetBytes / CQ_UNIT_SIZE_BYTES);
    this.minOffsetUnits = this.offsetOfCommitLogOffset(minCommitLogOffset);
  }

  /**
   * The first offset in [minOffset, maxOffset] whose unit points at or past `commitLogOffset`
   * (maxOffset if none). Units are in commit log order, so a binary search; filler units (offset 0)
   * sort first.
   */
  offsetOfCommitLogOffset(commitLogOffset: number): number {
    let lo = this.minOffsetUnits;
    let hi = this.maxOffset();
    // Each pass halves [lo, hi): at most 53 passes for any safe-integer range.
    for (let guard = 0; lo < hi && guard < 64; guard++) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.commitLogOffsetAt(mid) >= commitLogOffset) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  // ---- disk --------------------------------------------------------------------------------

  /** Write what changed since the last flush; flushes of one queue never overlap. */
  flush(): Promise<void> {
    const run = this.flushChain.then(() => this.flushOnce());
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  private async flushOnce(): Promise<void> {
    if (this.abandoned) return;
    if (this.pendingDeletes.size > 0) {
      for (const start of [...this.pendingDeletes]) {
        await this.unlinkQuiet(path.join(this.dir, cqFileName(start)));
        this.pendingDeletes.delete(start);
      }
      await this.io.fsyncDir(this.dir).catch(() => undefined);
    }
    for (const f of [...this.files]) {
      if (f.onDisk && f.flushedBytes === f.lenBytes && f.diskHighBytes <= f.lenBytes) {
        // Nothing to write; a file that stopped being the last can now drop its resident part.
        this.trimResident(f);
        continue;
      }
      await this.flushFile(f);
    }
  }

  private async flushFile(f: CqFile): Promise<void> {
    const epoch = this.truncateEpoch;
    const start = f.flushedBytes;
    const end = f.lenBytes;
    const zeroTo = f.diskHighBytes;
    // Copy now: a truncation plus new puts while we await may rewrite these bytes in place.
    const data = Buffer.from(f.buf.subarray(start - f.base, end - f.base));
    const filePath = path.join(this.dir, cqFileName(f.startOffsetBytes));
    let created = false;
    if (!f.onDisk) {
      await this.io.mkdirp(this.dir);
      created = true;
    }
    const fh = await this.io.open(filePath, f.onDisk ? 'r+' : 'w+');
    try {
      if (!f.onDisk && (await fh.size()) < this.fileSizeBytes) await fh.truncate(this.fileSizeBytes);
      const bufs: Buffer[] = [data];
      if (zeroTo > end) bufs.push(Buffer.alloc(zeroTo - end));
      await fh.writev(bufs, start);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    if (created) await this.io.fsyncDir(this.dir);
    f.onDisk = true;
    if (epoch === this.truncateEpoch) {
      f.flushedBytes = end;
      f.diskHighBytes = end;
      this.trimResident(f);
    } else {
      // The tail was cut while we wrote: what we wrote beyond the cut must be zeroed next time.
      f.diskHighBytes = Math.max(f.diskHighBytes, end);
    }
  }

  private async unlinkQuiet(p: string): Promise<void> {
    try {
      await this.io.unlink(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /**
   * Read the queue's files and keep the valid prefix, as ConsumeQueue.recover: a unit is valid
   * while commitLogOffset >= 0 and size > 0; we also require commit log offsets to increase
   * (filler units only at the head of the first file), since a unit out of order is garbage.
   * Everything from the first invalid unit on is dropped: zeroed in place on the next flush,
   * later files deleted. Files must be named by contiguous multiples of the file size.
   */
  async load(): Promise<CqLoadResult> {
    const result: CqLoadResult = { queue: this.name, units: 0, unitsDropped: 0, filesDropped: [] };
    const names = (await this.io.readdir(this.dir)).filter((n) => FILE_NAME_PATTERN.test(n)).sort();
    this.files = [];
    let prevCommitLogOffset = -1;
    let cut = false;
    for (const name of names) {
      const start = Number(name);
      const expected = this.files.length === 0 ? start : this.files[this.files.length - 1]!.startOffsetBytes + this.fileSizeBytes;
      if (cut || start !== expected) {
        cut = true;
        result.filesDropped.push(name);
        this.pendingDeletes.add(start);
        continue;
      }
      if (start % this.fileSizeBytes !== 0) {
        throw new CorruptStoreError(
          `consume queue file ${path.join(this.dir, name)} does not start at a multiple of the file size ${this.fileSizeBytes} (was mappedFileSizeConsumeQueue changed?)`,
        );
      }
      const raw = await this.readWhole(path.join(this.dir, name));
      if (raw.length !== this.fileSizeBytes && name !== names[names.length - 1]) {
        // Only the newest file can be short (a crash between create and extend); a short file in
        // the middle means the file size setting changed.
        throw new CorruptStoreError(
          `consume queue file ${path.join(this.dir, name)} has ${raw.length} bytes, expected ${this.fileSizeBytes} (was mappedFileSizeConsumeQueue changed?)`,
        );
      }
      const isFirst = this.files.length === 0;
      let len = 0;
      let fillerPrefix = isFirst;
      for (; len + CQ_UNIT_SIZE_BYTES <= raw.length; len += CQ_UNIT_SIZE_BYTES) {
        if (fillerPrefix && isFillerAt(raw, len)) continue;
        fillerPrefix = false;
        const offset = readInt64(raw, len);
        const size = raw.readInt32BE(len + 8);
        if (offset < 0 || size <= 0 || offset <= prevCommitLogOffset) break;
        prevCommitLogOffset = offset;
      }
      const tailDirty = !isAllZero(raw.subarray(len));
      if (tailDirty) result.unitsDropped += Math.ceil((lastNonZero(raw) + 1 - len) / CQ_UNIT_SIZE_BYTES);
      const buf = Buffer.alloc(Math.max(Math.min(MIN_BUFFER_BYTES, this.fileSizeBytes), nextPow2Units(len, this.fileSizeBytes)));
      raw.copy(buf, 0, 0, len);
      this.files.push({
        startOffsetBytes: start,
        buf,
        base: 0,
        lenBytes: len,
        flushedBytes: len,
        diskHighBytes: tailDirty ? raw.length : len,
        onDisk: raw.length === this.fileSizeBytes,
      });
      if (isFirst) this.minOffsetUnits = start / CQ_UNIT_SIZE_BYTES + countFiller(buf, len);
      if (len < this.fileSizeBytes) cut = true;
    }
    if (this.files.length === 0) this.minOffsetUnits = 0;
    // Files with nothing to rewrite keep only their resident part, as after a flush.
    for (const f of this.files) if (f.diskHighBytes <= f.lenBytes) this.trimResident(f);
    result.units = this.maxOffset() - this.minOffsetUnits;
    return result;
  }

  private async readWhole(p: string): Promise<Buffer> {
    const fh = await this.io.open(p, 'r');
    try {
      const size = await fh.size();
      if (size > this.fileSizeBytes) {
        throw new CorruptStoreError(
          `consume queue file ${p} has ${size} bytes, more than the file size ${this.fileSizeBytes} (was mappedFileSizeConsumeQueue changed?)`,
        );
      }
      const buf = Buffer.alloc(size);
      const n = await fh.read(buf, 0, size, 0);
      return buf.subarray(0, n);
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
  }

  /** Stop without flushing (the topic is being deleted); waits for a flush in flight. */
  async abandon(): Promise<void> {
    this.closed = true;
    this.abandoned = true;
    await this.flushChain;
  }
}

function countFiller(buf: Buffer, len: number): number {
  let n = 0;
  while (n * CQ_UNIT_SIZE_BYTES < len && isFillerAt(buf, n * CQ_UNIT_SIZE_BYTES)) n++;
  return n;
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024);

/** Native compares against a zero chunk: a 6 MB mostly-empty file is checked in microseconds. */
function isAllZero(buf: Buffer): boolean {
  for (let pos = 0; pos < buf.length; pos += ZERO_CHUNK.length) {
    const part = buf.subarray(pos, Math.min(buf.length, pos + ZERO_CHUNK.length));
    if (!part.equals(ZERO_CHUNK.subarray(0, part.length))) return false;
  }
  return true;
}

function lastNonZero(buf: Buffer): number {
  for (let i = buf.length - 1; i >= 0; i--) if (buf[i] !== 0) return i;
  return -1;
}

function nextPow2Units(bytes: number, capBytes: number): number {
  let cap = MIN_BUFFER_BYTES;
  while (cap < bytes) cap *= 2;
  return Math.min(cap, capBytes);
}

/** All consume queues of a store (DefaultMessageStore.consumeQueueTable). */
export class ConsumeQueueStore {
  private readonly table = new Map<string, Map<number, ConsumeQueue>>();
  private closed = false;

  constructor(
    readonly storePathRootDir: string,
    readonly fileSizeBytes: number,
    private readonly io: FileIO,
  ) {}

  get rootDir(): string {
    return path.join(this.storePathRootDir, 'consumequeue');
  }

  /** Load every `<topic>/<queueId>/` directory; returns what was found and what was cut. */
  async load(): Promise<CqStoreLoadReport> {
    const report: CqStoreLoadReport = { queues: 0, units: 0, torn: [] };
    for (const topic of (await this.io.readdir(this.rootDir)).sort()) {
      for (const qdir of (await this.readdirOrEmpty(path.join(this.rootDir, topic))).sort()) {
        if (!/^\d{1,9}$/.test(qdir)) continue;
        const cq = this.findOrCreate(topic, Number(qdir));
        const r = await cq.load();
        report.queues++;
        report.units += r.units;
        if (r.unitsDropped > 0 || r.filesDropped.length > 0) report.torn.push(r);
      }
    }
    return report;
  }

  /** A stray file where a directory is expected lists as empty. */
  private async readdirOrEmpty(p: string): Promise<string[]> {
    try {
      return await this.io.readdir(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw err;
    }
  }

  findOrCreate(topic: string, queueId: number): ConsumeQueue {
    if (this.closed) throw new StoreClosedError();
    let byId = this.table.get(topic);
    if (byId === undefined) {
      byId = new Map();
      this.table.set(topic, byId);
    }
    let cq = byId.get(queueId);
    if (cq === undefined) {
      cq = new ConsumeQueue(topic, queueId, this.storePathRootDir, this.fileSizeBytes, this.io);
      byId.set(queueId, cq);
    }
    return cq;
  }

  get(topic: string, queueId: number): ConsumeQueue | undefined {
    return this.table.get(topic)?.get(queueId);
  }

  *queues(): Iterable<ConsumeQueue> {
    for (const byId of this.table.values()) yield* byId.values();
  }

  topics(): string[] {
    return [...this.table.keys()].sort();
  }

  /** Forget the topic's queues and remove `consumequeue/<topic>/` (DELETE_TOPIC_IN_BROKER). */
  async deleteTopic(topic: string): Promise<void> {
    const byId = this.table.get(topic);
    this.table.delete(topic);
    if (byId !== undefined) for (const cq of byId.values()) await cq.abandon();
    await this.io.rmrf(path.join(this.rootDir, topic));
  }

  maxCommitLogEnd(): number {
    let max = -1;
    for (const cq of this.queues()) max = Math.max(max, cq.maxCommitLogEnd());
    return max;
  }

  /** Recovery: cut every queue's units at or beyond the recovered commit log end. */
  truncateByCommitLogOffset(offset: number): { queuesTouched: string[]; unitsDropped: number } {
    const queuesTouched: string[] = [];
    let unitsDropped = 0;
    for (const cq of this.queues()) {
      const n = cq.truncateByCommitLogOffset(offset);
      if (n > 0) {
        queuesTouched.push(cq.name);
        unitsDropped += n;
      }
    }
    return { queuesTouched, unitsDropped };
  }

  /**
   * Drop files below the commit log's new min offset in every queue; returns files deleted.
   * `afterDeletes` runs after each queue that deleted files (CleanConsumeQueueService's pause).
   */
  async deleteExpiredFiles(minCommitLogOffset: number, afterDeletes?: () => Promise<void>): Promise<number> {
    let n = 0;
    for (const cq of [...this.queues()]) {
      const deleted = await cq.deleteExpiredFiles(minCommitLogOffset);
      n += deleted;
      if (deleted > 0 && afterDeletes) await afterDeletes();
    }
    return n;
  }

  /** Every queue's min offset moved to the first unit still in the commit log (on open). */
  correctMinOffsets(minCommitLogOffset: number): void {
    for (const cq of this.queues()) cq.correctMinOffset(minCommitLogOffset);
  }

  async flush(): Promise<void> {
    const all = [...this.queues()];
    let next = 0;
    const errors: unknown[] = [];
    const worker = async (): Promise<void> => {
      while (next < all.length) {
        const cq = all[next++]!;
        try {
          await cq.flush();
        } catch (err) {
          errors.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, all.length) }, worker));
    if (errors.length > 0) throw errors[0];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    for (const cq of this.queues()) await cq.close();
    this.closed = true;
  }
}
