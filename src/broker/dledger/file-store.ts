/**
 * DLedger's entry store in DLedger's own files (openmessaging/dledger 0.3.1.2,
 * DLedgerMmapFileStore), so a node can be an Apache node's peer and either can read the other's
 * directory:
 *
 *   <storeBaseDir>/dledger-<selfId>/            DLedgerConfig#getDefaultPath
 *     data/<20-digit offset>    entries (entry.ts), files of dataFileBytes, a BLANK filling each tail
 *     index/<20-digit offset>   one 32-byte unit per entry index, at index * 32
 *     checkpoint                Java properties endIndex / committedIndex (#persistCheckPoint)
 *     currterm                  currTerm / voteLeader (member-state.ts, MemberState#persistTerm)
 *
 * What differs from Java, and why: writes go through FileIO (fault-injection tests); appends that
 * queue behind a write are written together (#enqueue), data and index at once; they are
 * made durable by flush() (Java's FlushDataService flushes every 10 ms); recovery
 * scans every entry from where it starts (as #recover) and also checks our body CRC, then zeroes
 * what it cut instead of only moving the write position, and returns a report of what it dropped.
 * The data is the truth: the index is checked against it and rewritten where it disagrees.
 *
 * Operations run one at a time (a queue): positions are assigned in order and a truncate never
 * interleaves with an append or a read.
 */
import path from 'node:path';
import { parseProperties } from '../../protocol/java-properties.js';
import { dataExtent } from '../store/commitlog-files.js';
import type { FileIO } from '../store/file-io.js';
import { invariant } from '../../util/invariant.js';
import {
  BLANK_MAGIC_CODE,
  BODY_OFFSET,
  bodyCrcMatches,
  decodeEntry,
  decodeIndexUnit,
  DLEDGER_MAGIC,
  encodeEntry,
  encodeIndexUnit,
  entryBodyCrc,
  HEADER_SIZE,
  INDEX_UNIT_SIZE,
  indexUnitOf,
  MIN_BLANK_LEN,
  readEntryHeader,
  type DLedgerEntry,
  type IndexUnit,
} from '../../protocol/dledger/entry.js';
import { DLedgerResponseCode } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';
import { SegmentList } from './segments.js';

/** DLedgerConfig.mappedFileSizeForEntryData (RocketMQ passes its mappedFileSizeCommitLog, also 1 GiB). */
export const DEFAULT_DATA_FILE_BYTES = 1024 * 1024 * 1024;
/** DLedgerConfig.mappedFileSizeForEntryIndex: 5 Mi units of 32 bytes. */
export const DEFAULT_INDEX_FILE_BYTES = INDEX_UNIT_SIZE * 5 * 1024 * 1024;
/** DLedgerMmapFileStore.CHECK_POINT_FILE and its keys. */
export const CHECKPOINT_FILE = 'checkpoint';
const END_INDEX_KEY = 'endIndex';
const COMMITTED_INDEX_KEY = 'committedIndex';
/** DLedgerMmapFileStore#recover starts this many data files from the end (then checks each entry). */
const RECOVER_FROM_LAST_FILES = 3;

/** DLedgerConfig#getDefaultPath. */
export function dledgerDir(storeBaseDir: string, selfId: string): string {
  return path.join(storeBaseDir, `dledger-${selfId}`);
}

export interface DLedgerFileStoreOptions {
  /** RocketMQ's storePathRootDir (DLedgerCommitLog sets storeBaseDir to it). */
  storeBaseDir: string;
  selfId: string;
  dataFileBytes?: number;
  indexFileBytes?: number;
}

/** Why recovery ended the log where it did ('hole': zeros where an entry should be, data after them). */
export type DLedgerTruncateReason = 'torn' | 'bad-crc' | 'bad-magic' | 'bad-size' | 'bad-pos' | 'bad-index' | 'bad-term' | 'bad-blank' | 'hole';

export interface ScanProblem {
  pos: number;
  reason: DLedgerTruncateReason;
  detail: string;
}

export interface DLedgerRecoveryReport {
  ledgerBeginIndex: number;
  ledgerEndIndex: number;
  ledgerEndTerm: number;
  committedIndex: number;
  entriesScanned: number;
  /** Where the log was cut because of `problem`; null when it ended cleanly (zeros after the last entry). */
  truncatedFromPos: number | null;
  problem: ScanProblem | null;
  /** Non-zero bytes past the end that were cut (a torn or bad tail, or data after a hole). */
  bytesDropped: number;
  /** First entry index whose index unit was rewritten from the data; null when the index agreed. */
  indexRebuiltFrom: number | null;
}

/** A new entry before the store places it (DLedgerMmapFileStore#appendAsLeader assigns the rest). */
export interface NewEntry {
  term: number;
  body: Buffer;
}

/**
 * Called with the entry's bytes once its index and pos are known, before they are written
 * (DLedgerMmapFileStore.AppendHook: DLedgerCommitLog rewrites the message's PHYSICALOFFSET to
 * pos + BODY_OFFSET). The body CRC is computed after it.
 */
export type AppendHook = (entry: Omit<DLedgerEntry, 'body'>, bytes: Buffer, bodyOffset: number) => void;

/** Entries DLedgerFileStore keeps in memory after writing them (see #remember). */
const RECENT_ENTRIES = 4096;

export class DLedgerFileStore {
  private ledgerBeginIndex = -1;
  private ledgerEndIndex = -1;
  private ledgerEndTerm = -1;
  private committedIndex = -1;
  /** Next data position (MmapFileList#getMaxWrotePosition). */
  private writePos = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly dir: string;
  private readonly data: SegmentList;
  private readonly index: SegmentList;

  private constructor(
    private readonly io: FileIO,
    opts: DLedgerFileStoreOptions,
  ) {
    this.dir = dledgerDir(opts.storeBaseDir, opts.selfId);
    this.data = new SegmentList(io, path.join(this.dir, 'data'), opts.dataFileBytes ?? DEFAULT_DATA_FILE_BYTES);
    this.index = new SegmentList(io, path.join(this.dir, 'index'), opts.indexFileBytes ?? DEFAULT_INDEX_FILE_BYTES);
    invariant(this.index.fileBytes % INDEX_UNIT_SIZE === 0, () => `index file size ${this.index.fileBytes} is not a multiple of ${INDEX_UNIT_SIZE}`);
  }

  /** Load the files and recover (DLedgerMmapFileStore#startup: #load then #recover). */
  static async open(io: FileIO, opts: DLedgerFileStoreOptions): Promise<{ store: DLedgerFileStore; report: DLedgerRecoveryReport }> {
    const store = new DLedgerFileStore(io, opts);
    try {
      await io.mkdirp(store.dir);
      await store.data.load();
      await store.index.load();
      const report = await store.recover();
      return { store, report };
    } catch (err) {
      await store.data.close().catch(() => undefined);
      await store.index.close().catch(() => undefined);
      throw err;
    }
  }

  getLedgerBeginIndex(): number {
    return this.ledgerBeginIndex;
  }
  getLedgerEndIndex(): number {
    return this.ledgerEndIndex;
  }
  getLedgerEndTerm(): number {
    return this.ledgerEndTerm;
  }
  getCommittedIndex(): number {
    return this.committedIndex;
  }
  /** Next entry position in the data files. */
  getWritePos(): number {
    return this.writePos;
  }

  // ---- append ---------------------------------------------------------------------------------

  /**
   * DLedgerMmapFileStore#appendAsLeader: index = end + 1, pos = the next position; the entry as
   * written. Appends made while a write is under way are written together after it (see #enqueue).
   */
  append(e: NewEntry, hook?: AppendHook): Promise<DLedgerEntry> {
    return this.enqueue({ leader: e, hook });
  }

  /**
   * The newest entries, by index, for reads that come right after the write (the leader's pushes,
   * the commit's hand-over): served from memory instead of queueing behind appends and going to
   * the file. Bounded by RECENT_ENTRIES; dropped from the cut point on a truncate.
   */
  private readonly recent = new Map<number, DLedgerEntry>();

  private remember(e: DLedgerEntry): void {
    this.recent.set(e.index, e);
    if (this.recent.size > RECENT_ENTRIES) this.recent.delete(this.recent.keys().next().value!);
  }

  /**
   * DLedgerMmapFileStore#appendAsFollower: the leader's entry, as it came. Its index must be
   * end + 1 (INCONSISTENT_INDEX) and its pos the next position here (DISK_ERROR), as Java checks.
   */
  appendAsFollower(entry: DLedgerEntry): Promise<void> {
    return this.enqueue({ follower: entry }).then(() => undefined);
  }

  /**
   * Group write: an append joins the batch that is waiting its turn in the operation queue, as
   * long as nothing else (a read, a truncate, a flush's barrier) was queued after that batch, so
   * the order of operations is the order of the calls. A batch is one data write per data file
   * it touches and one index write per index file, instead of two writes per entry; each entry is
   * still checked on its own and fails on its own.
   */
  private enqueue(a: Omit<QueuedAppend, 'resolve' | 'reject'>): Promise<DLedgerEntry> {
    if (this.closed) return Promise.reject(new DLedgerError(DLedgerResponseCode.DISK_ERROR, `DLedger store ${this.dir} is closed`));
    return new Promise<DLedgerEntry>((resolve, reject) => {
      let batch = this.openBatch;
      if (!batch) {
        const fresh: QueuedAppend[] = [];
        batch = fresh;
        // serial() closes the open batch; it is opened again right after for this one.
        this.serial(() => {
          if (this.openBatch === fresh) this.openBatch = undefined;
          return this.writeBatch(fresh);
        }).catch(() => undefined);
        this.openBatch = fresh;
      }
      batch.push({ ...a, resolve, reject });
    });
  }

  /** The batch appends may still join (queued last, not started). */
  private openBatch: QueuedAppend[] | undefined;

  private async writeBatch(batch: QueuedAppend[]): Promise<void> {
    const fileBytes = this.data.fileBytes;
    let pos = this.writePos;
    let end = this.ledgerEndIndex;
    let term = this.ledgerEndTerm;
    /** Contiguous data to write: BLANKs and entries, split where a data file ends. */
    const runs: Array<{ at: number; parts: Buffer[] }> = [];
    const placed: Array<{ q: QueuedAppend; entry: DLedgerEntry }> = [];
    const put = (at: number, buf: Buffer): void => {
      const run = runs[runs.length - 1];
      const runEnd = run ? run.at + run.parts.reduce((n, b) => n + b.length, 0) : -1;
      if (run && runEnd === at && Math.floor(run.at / fileBytes) === Math.floor(at / fileBytes)) run.parts.push(buf);
      else runs.push({ at, parts: [buf] });
    };
    for (const q of batch) {
      try {
        const { entry, bytes } = this.place(q, pos, end, term);
        if (entry.pos !== pos) {
          // The tail of the file becomes a BLANK (MmapFileList#preAppend); the entry starts the next file.
          const blank = Buffer.alloc(8);
          blank.writeInt32BE(BLANK_MAGIC_CODE, 0);
          blank.writeInt32BE(entry.pos - pos, 4);
          put(pos, blank);
        }
        put(entry.pos, bytes);
        pos = entry.pos + bytes.length;
        end = entry.index;
        term = entry.term;
        placed.push({ q, entry });
      } catch (err) {
        q.reject(err);
      }
    }
    if (placed.length === 0) return;
    try {
      // Data and index are written at once: recovery checks the index against the data and cuts
      // or rewrites what a crash left of either (#recover).
      const writeData = async (): Promise<void> => {
        for (const run of runs) {
          await this.data.ensure(run.at);
          await this.data.write(run.at, run.parts.length === 1 ? run.parts[0]! : Buffer.concat(run.parts));
        }
      };
      const results = await Promise.allSettled([writeData(), this.writeIndexUnits(placed.map((p) => indexUnitOf(p.entry)))]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    } catch (err) {
      for (const p of placed) p.q.reject(err);
      return;
    }
    this.writePos = pos;
    this.ledgerEndIndex = end;
    this.ledgerEndTerm = term;
    if (this.ledgerBeginIndex === -1) this.ledgerBeginIndex = placed[0]!.entry.index;
    for (const p of placed) {
      this.remember(p.entry);
      p.q.resolve(p.entry);
    }
  }

  /**
   * One queued append after `end` (of `term`) at `pos`: its entry (pos moved to the next file when
   * it does not fit this one with room for a BLANK) and its bytes, or why not.
   */
  private place(q: QueuedAppend, writePos: number, end: number, term: number): { entry: DLedgerEntry; bytes: Buffer } {
    const fileBytes = this.data.fileBytes;
    const fits = (size: number): number => {
      if (size + MIN_BLANK_LEN > fileBytes) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `entry of ${size} bytes does not fit a data file of ${fileBytes}`);
      const used = writePos % fileBytes;
      return used !== 0 && size + MIN_BLANK_LEN > fileBytes - used ? writePos + fileBytes - used : writePos;
    };
    if (q.follower) {
      const e = q.follower;
      if (e.index !== end + 1) throw new DLedgerError(DLedgerResponseCode.INCONSISTENT_INDEX, `entry ${e.index} does not follow ${end}`);
      invariant(e.term >= term, () => `entry term ${e.term} after term ${term}`);
      const bytes = encodeEntry(e);
      const pos = fits(bytes.length);
      if (pos !== e.pos && end === -1) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, firstPosMismatch(e.index, e.pos, pos));
      if (pos !== e.pos) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `entry ${e.index} is for pos ${e.pos}, the next pos here is ${pos}`);
      return { entry: { ...e, size: bytes.length }, bytes };
    }
    const n = q.leader!;
    invariant(n.term >= term, () => `append in term ${n.term} after term ${term}`);
    const size = BODY_OFFSET + n.body.length;
    const entry: DLedgerEntry = { magic: DLEDGER_MAGIC, size, index: end + 1, term: n.term, pos: fits(size), channel: 0, chainCrc: 0, bodyCrc: 0, body: n.body };
    const bytes = encodeEntry(entry);
    if (q.hook) {
      const { body: _body, ...header } = entry;
      q.hook(header, bytes, BODY_OFFSET);
    }
    const body = bytes.subarray(BODY_OFFSET);
    const bodyCrc = entryBodyCrc(body);
    bytes.writeInt32BE(bodyCrc, 40);
    return { entry: { ...entry, bodyCrc, body }, bytes };
  }

  /** Index units of consecutive entries: one write per index file they fall in. */
  private async writeIndexUnits(units: IndexUnit[]): Promise<void> {
    const perFile = this.index.fileBytes / INDEX_UNIT_SIZE;
    for (let i = 0; i < units.length; ) {
      const first = units[i]!.index;
      const n = Math.min(units.length - i, perFile - (first % perFile));
      const buf = Buffer.alloc(n * INDEX_UNIT_SIZE);
      for (let k = 0; k < n; k++) encodeIndexUnit(units[i + k]!, buf, k * INDEX_UNIT_SIZE);
      await this.index.ensure(first * INDEX_UNIT_SIZE);
      await this.index.write(first * INDEX_UNIT_SIZE, buf);
      i += n;
    }
  }

  private async writeIndexUnit(u: IndexUnit): Promise<void> {
    await this.writeIndexUnits([u]);
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** DLedgerMmapFileStore#get (with #indexCheck's refusals). */
  get(index: number): Promise<DLedgerEntry> {
    const hit = this.recent.get(index);
    if (hit && index >= this.ledgerBeginIndex && index <= this.ledgerEndIndex) return Promise.resolve(hit);
    return this.serial(async () => {
      const u = await this.indexUnit(index);
      const buf = await this.data.read(u.pos, u.size);
      if (!buf || buf.length < u.size) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `no data for entry ${index} at ${u.pos}`);
      const e = decodeEntry(buf);
      if (e.pos !== u.pos || e.index !== index) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `entry ${index}: data says index ${e.index} pos ${e.pos}, index file pos ${u.pos}`);
      return e;
    });
  }

  private async indexUnit(index: number): Promise<IndexUnit> {
    if (!Number.isSafeInteger(index) || index < 0 || index > this.ledgerEndIndex) throw new DLedgerError(DLedgerResponseCode.INDEX_OUT_OF_RANGE, `index ${index} is not in ${this.ledgerBeginIndex}..${this.ledgerEndIndex}`);
    if (index < this.ledgerBeginIndex) throw new DLedgerError(DLedgerResponseCode.INDEX_LESS_THAN_LOCAL_BEGIN, `index ${index} is before the first entry kept, ${this.ledgerBeginIndex}`);
    const buf = await this.index.read(index * INDEX_UNIT_SIZE, INDEX_UNIT_SIZE);
    if (!buf || buf.length < INDEX_UNIT_SIZE) throw new DLedgerError(DLedgerResponseCode.DISK_ERROR, `no index unit for entry ${index}`);
    return decodeIndexUnit(buf);
  }

  /** Start offsets of the data files, oldest first (MmapFileList#getMappedFiles). */
  dataFileStarts(): number[] {
    return this.data.starts();
  }

  get dataFileBytes(): number {
    return this.data.fileBytes;
  }

  /**
   * Up to `length` bytes of the data files at `pos`, within one file (fewer at a file's end);
   * undefined when no file holds `pos` or it is at or past the write position. Not queued behind
   * appends (a pread of bytes already written; DLedgerCommitLog#getData reads the mapped files
   * the same way); the caller keeps to entries it knows are whole.
   */
  readData(pos: number, length: number): Promise<Buffer | undefined> {
    if (this.closed || pos < 0 || pos >= this.writePos) return Promise.resolve(undefined);
    return this.data.read(pos, Math.min(length, this.writePos - pos));
  }

  /**
   * Begin an empty log at `pos` instead of 0: its first data file is created there, named by it
   * (DLedgerCommitLog#recover calls MmapFileList#getLastMappedFile(dividedCommitlogOffset) once the
   * old commit log is sealed). Entry positions, and so the records' physical offsets, continue
   * after the old log. Later opens find that file and start there (recovery scans from the first
   * data file).
   */
  startAt(pos: number): Promise<void> {
    return this.serial(async () => {
      invariant(this.data.isEmpty() && this.ledgerEndIndex === -1, () => `DLedger log ${this.dir} is not empty; it cannot start at ${pos}`);
      invariant(pos >= 0 && pos % this.data.fileBytes === 0, () => `DLedger log start ${pos} is not a multiple of the data file size ${this.data.fileBytes}`);
      await this.data.ensure(pos);
      this.writePos = pos;
    });
  }

  // ---- truncate and commit ----------------------------------------------------------------------

  /**
   * Keep entries up to `lastKept` and cut the rest, data and index (what DLedgerMmapFileStore#truncate
   * does before it appends the leader's entry). Committed entries are never cut: that would be a
   * bug in the caller, so it is an invariant, not a refusal.
   */
  truncate(lastKept: number): Promise<void> {
    return this.serial(async () => {
      if (lastKept >= this.ledgerEndIndex) return;
      for (const i of [...this.recent.keys()]) if (i > lastKept) this.recent.delete(i);
      invariant(lastKept >= this.committedIndex, () => `truncate after ${lastKept} would cut committed entries up to ${this.committedIndex}`);
      invariant(lastKept >= this.ledgerBeginIndex - 1, () => `truncate after ${lastKept}, before the first entry ${this.ledgerBeginIndex}`);
      const cutPos = (await this.indexUnit(lastKept + 1)).pos;
      const kept = lastKept >= this.ledgerBeginIndex ? await this.indexUnit(lastKept) : undefined;
      await this.data.cutAt(cutPos);
      await this.index.cutAt((lastKept + 1) * INDEX_UNIT_SIZE);
      this.writePos = cutPos;
      this.ledgerEndIndex = lastKept;
      this.ledgerEndTerm = kept ? kept.term : -1;
      if (!kept) this.ledgerBeginIndex = -1;
    });
  }

  /**
   * DLedgerMmapFileStore#updateCommittedIndex: only forward, never past the end, never before
   * the first entry. Persisted by persistCheckpoint().
   */
  updateCommittedIndex(newCommittedIndex: number): void {
    if (newCommittedIndex === -1 || this.ledgerEndIndex === -1) return;
    if (newCommittedIndex <= this.committedIndex || newCommittedIndex < this.ledgerBeginIndex) return;
    this.committedIndex = Math.min(newCommittedIndex, this.ledgerEndIndex);
  }

  /** DLedgerMmapFileStore#persistCheckPoint (written atomically, with fsync: ours). */
  persistCheckpoint(): Promise<void> {
    return this.serial(() => this.io.writeFileAtomic(path.join(this.dir, CHECKPOINT_FILE), `${END_INDEX_KEY}=${this.ledgerEndIndex}\n${COMMITTED_INDEX_KEY}=${this.committedIndex}\n`));
  }

  /** Everything appended so far durable: data files, then index files (FlushDataService). */
  flush(): Promise<void> {
    // Every write queued before this call is finished first (a barrier in the write queue); the
    // fsyncs then run outside it, so appends and reads go on meanwhile instead of waiting behind
    // them. Flushes run one after another: a segment a running flush took off the dirty list is
    // synced before the next flush can return (Segments#sync).
    const barrier = this.serial(() => Promise.resolve());
    const run = this.syncChain.then(() => barrier).then(async () => {
      await this.data.sync();
      await this.index.sync();
    });
    this.syncChain = run.catch(() => undefined);
    return run;
  }

  /** DLedgerMmapFileStore#shutdown: flush, checkpoint, close the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    await this.persistCheckpoint();
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.syncChain;
    await this.data.close();
    await this.index.close();
  }

  /** Flushes, one after another (see flush). */
  private syncChain: Promise<unknown> = Promise.resolve();

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new DLedgerError(DLedgerResponseCode.DISK_ERROR, `DLedger store ${this.dir} is closed`));
    // What is queued after the open batch must run after it: later appends start a new batch.
    this.openBatch = undefined;
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  // ---- recovery -------------------------------------------------------------------------------

  private async recover(): Promise<DLedgerRecoveryReport> {
    const scan = await this.scanData();
    const bytesDropped = await this.bytesPast(scan.end);
    if (bytesDropped > 0 && !scan.problem) scan.problem = { pos: scan.end, reason: 'hole', detail: `${bytesDropped} non-zero bytes after the zeros that end the log` };
    await this.data.cutAt(scan.end);
    await this.index.cutAt((scan.lastIndex + 1) * INDEX_UNIT_SIZE);
    if (bytesDropped > 0 || scan.indexRebuiltFrom !== null) {
      await this.data.sync();
      await this.index.sync();
    }
    this.writePos = scan.end;
    this.ledgerEndIndex = scan.lastIndex;
    this.ledgerEndTerm = scan.lastTerm;
    this.ledgerBeginIndex = scan.lastIndex === -1 ? -1 : await this.firstIndex();
    this.committedIndex = -1;
    this.updateCommittedIndex(await this.checkpointCommittedIndex());
    return {
      ledgerBeginIndex: this.ledgerBeginIndex,
      ledgerEndIndex: this.ledgerEndIndex,
      ledgerEndTerm: this.ledgerEndTerm,
      committedIndex: this.committedIndex,
      entriesScanned: scan.entries,
      truncatedFromPos: scan.problem ? scan.end : null,
      problem: scan.problem,
      bytesDropped,
      indexRebuiltFrom: scan.indexRebuiltFrom,
    };
  }

  /**
   * DLedgerMmapFileStore#recover's scan: start at the third data file from the end (going back
   * while that file's first entry disagrees with the index), then check every entry: magic,
   * size = 48 + body, pos = where it lies, index = previous + 1, term not going back, and (ours)
   * a complete body whose CRC matches. The first that fails ends the log.
   */
  private async scanData(): Promise<ScanState> {
    const st: ScanState = { end: this.data.firstStart(), lastIndex: -1, lastTerm: -1, entries: 0, problem: null, indexRebuiltFrom: null };
    const starts = this.data.starts();
    if (starts.length === 0) return st;
    let fileIdx = await this.scanStartFile(starts);
    let pos = starts[fileIdx]!;
    st.end = pos;
    // Bounded: each round moves pos forward by an entry or to the next file, or stops.
    for (;;) {
      const fileEnd = starts[fileIdx]! + this.data.fileBytes;
      const head = await this.data.read(pos, Math.min(BODY_OFFSET, fileEnd - pos));
      const magic = head && head.length >= 4 ? head.readInt32BE(0) : 0;
      if (magic === BLANK_MAGIC_CODE) {
        const size = head!.length >= 8 ? head!.readInt32BE(4) : -1;
        if (size !== fileEnd - pos) return stop(st, pos, 'bad-blank', `blank of ${size} bytes, ${fileEnd - pos} left in the file`);
        if (fileIdx + 1 >= starts.length) return { ...st, end: fileEnd };
        fileIdx++;
        pos = starts[fileIdx]!;
        st.end = pos;
        continue;
      }
      if (!head || head.length < BODY_OFFSET || (magic === 0 && head.readInt32BE(4) === 0)) {
        // Zeros where the next entry would be: the clean end, unless something follows (bytesPast).
        if (head && head.length >= BODY_OFFSET && !head.equals(Buffer.alloc(BODY_OFFSET))) return stop(st, pos, 'torn', 'an entry header with no magic or size');
        return st;
      }
      const checked = await this.checkEntryAt(pos, fileEnd, head, st);
      if ('reason' in checked) return stop(st, pos, checked.reason, checked.detail);
      if (st.indexRebuiltFrom === null && !(await this.indexAgrees(checked))) st.indexRebuiltFrom = checked.index;
      if (st.indexRebuiltFrom !== null) await this.writeIndexUnit(checked);
      st.lastIndex = checked.index;
      st.lastTerm = checked.term;
      st.entries++;
      pos += checked.size;
      st.end = pos;
    }
  }

  /** The entry at `pos` as an index unit when it passes every check; else why not. */
  private async checkEntryAt(pos: number, fileEnd: number, head: Buffer, st: ScanState): Promise<IndexUnit | ScanProblem> {
    const h = readEntryHeader(head);
    const fail = (reason: DLedgerTruncateReason, detail: string): ScanProblem => ({ pos, reason, detail });
    if (h.magic !== DLEDGER_MAGIC) return fail('bad-magic', `magic ${h.magic}`);
    if (h.size <= HEADER_SIZE || h.size !== BODY_OFFSET + h.bodyLen) return fail(h.size === 0 ? 'torn' : 'bad-size', `size ${h.size}, body ${h.bodyLen}`);
    if (h.size > fileEnd - pos) return fail('bad-size', `entry of ${h.size} bytes at ${pos} crosses the file end ${fileEnd}`);
    if (h.pos !== pos) return fail('bad-pos', `entry says pos ${h.pos}, lies at ${pos}`);
    if (st.lastIndex !== -1 && h.index !== st.lastIndex + 1) return fail('bad-index', `index ${h.index} after ${st.lastIndex}`);
    if (h.term < st.lastTerm) return fail('bad-term', `term ${h.term} after term ${st.lastTerm}`);
    const buf = await this.data.read(pos, h.size);
    if (!buf || buf.length < h.size) return fail('torn', `entry ${h.index} of ${h.size} bytes is cut short`);
    const e = decodeEntry(buf);
    if (!bodyCrcMatches(e)) return fail(bodyLooksTorn(e.body) ? 'torn' : 'bad-crc', `entry ${h.index}: body CRC ${e.bodyCrc} != ${entryBodyCrc(e.body)}`);
    return indexUnitOf(e);
  }

  /** Does the index file hold exactly this unit (DLedgerMmapFileStore#recover compares all five fields)? */
  private async indexAgrees(u: IndexUnit): Promise<boolean> {
    const buf = await this.index.read(u.index * INDEX_UNIT_SIZE, INDEX_UNIT_SIZE);
    if (!buf || buf.length < INDEX_UNIT_SIZE) return false;
    const got = decodeIndexUnit(buf);
    return got.magic === u.magic && got.pos === u.pos && got.size === u.size && got.index === u.index && got.term === u.term;
  }

  /** Index of the data file to scan from: the third from the end whose first entry the index confirms. */
  private async scanStartFile(starts: number[]): Promise<number> {
    for (let i = Math.max(0, starts.length - RECOVER_FROM_LAST_FILES); i > 0; i--) {
      const head = await this.data.read(starts[i]!, BODY_OFFSET);
      if (!head || head.length < BODY_OFFSET) continue;
      const h = readEntryHeader(head);
      if (h.magic === DLEDGER_MAGIC && h.pos === starts[i] && h.size === BODY_OFFSET + h.bodyLen && (await this.indexAgrees(indexUnitOf(h)))) return i;
    }
    return 0;
  }

  /** Index of the first entry kept (DLedgerMmapFileStore#reviseLedgerBeginIndex: the first data file's first entry). */
  private async firstIndex(): Promise<number> {
    const head = await this.data.read(this.data.firstStart(), BODY_OFFSET);
    invariant(head && head.length === BODY_OFFSET, () => 'first data file has no entry header');
    return readEntryHeader(head).index;
  }

  /** Non-zero bytes from `end` on (this file's tail until a long run of zeros, and every later file). */
  private async bytesPast(end: number): Promise<number> {
    const files = { io: this.io, dir: this.data.dir, segmentBytes: this.data.fileBytes };
    let dropped = 0;
    for (const start of this.data.starts()) {
      if (start + this.data.fileBytes <= end) continue;
      const from = Math.max(start, end);
      dropped += (await dataExtent(files, start, from)) - from;
    }
    return dropped;
  }

  private async checkpointCommittedIndex(): Promise<number> {
    const p = path.join(this.dir, CHECKPOINT_FILE);
    if (!(await this.io.exists(p))) return -1;
    const props = parseProperties((await this.io.readFile(p)).toString('utf8'));
    const v = props.filter((x) => x.key === COMMITTED_INDEX_KEY).pop()?.value;
    return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : -1;
  }
}

/** An append waiting for its batch: a leader's new entry (with its hook) or a follower's copy. */
interface QueuedAppend {
  leader?: NewEntry;
  hook?: AppendHook;
  follower?: DLedgerEntry;
  resolve(e: DLedgerEntry): void;
  reject(err: unknown): void;
}

interface ScanState {
  end: number;
  lastIndex: number;
  lastTerm: number;
  entries: number;
  problem: ScanProblem | null;
  indexRebuiltFrom: number | null;
}

function stop(st: ScanState, pos: number, reason: DLedgerTruncateReason, detail: string): ScanState {
  return { ...st, end: pos, problem: { pos, reason, detail } };
}

/**
 * The refusal of a member whose DLedger log begins elsewhere than the leader's: each member's log
 * starts where its old commit log ended (dividedCommitlogOffset, DLedgerCommitLog#recover), so
 * members converted from different commit logs cannot hold the same entries. Nothing is written.
 */
export function firstPosMismatch(index: number, leaderPos: number, ownPos: number): string {
  return `refusing the leader's entry ${index} at pos ${leaderPos}: this member's DLedger log begins at ${ownPos} (its dividedCommitlogOffset differs from the leader's; convert every member from the same old store, docs/dledger.md "Converting a store")`;
}

/** A body that ends in zeros where a CRC disagrees was most likely cut by a crash mid-write. */
function bodyLooksTorn(body: Buffer): boolean {
  return body.length > 0 && body[body.length - 1] === 0;
}
