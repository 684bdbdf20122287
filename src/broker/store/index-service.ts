/**
 * The message index (apache/rocketmq index/IndexService.java): every message's
 * UNIQ_KEY and KEYS, as `topic#key`, into a chain of IndexFiles under `<root>/index/`, so
 * QUERY_MESSAGE and queryMsgByKey/queryMsgByUniqueKey can find commit log offsets by key.
 *
 * put() is synchronous and does no I/O (the store dispatches ~150k messages/s); flush() writes
 * the batch. Queries see unflushed entries. Derived data: after a crash the facade re-dispatches
 * every record from endPhyOffset() on, so put() skips records below it (as buildIndex does) and
 * query() drops duplicate offsets (the record at endPhyOffset itself is indexed twice).
 */
import path from 'node:path';
import { StoreClosedError } from '../../errors/index.js';
import { indexKeyHash } from '../../protocol/hash.js';
import type { FileIO } from './file-io.js';
import { INDEX_FILE_NAME_PATTERN, IndexFile, type IndexGeometry, indexFileName, parseIndexFileName, validateIndexGeometry } from './index-file.js';
import type { DispatchRequest } from './types.js';

/** MessageSysFlag.TRANSACTION_ROLLBACK_TYPE: rollback markers are not indexed. */
const TRANSACTION_ROLLBACK_TYPE = 0xc;

interface IndexQueryResult {
  /** Newest first; may include messages whose key only shares the hash: re-check the keys. */
  commitLogOffsets: number[];
  /** End timestamp / phy offset of the newest index file (QueryMessageResponseHeader fields). */
  lastUpdateTimestamp: number;
  lastUpdatePhyOffset: number;
}

interface IndexLoadReport {
  files: number;
  /** Files deleted: they followed a file that was not full (a rollover the crash cut short). */
  filesDropped: string[];
  /** Slots of the active file that pointed past its header and were walked back. */
  slotsRepaired: number;
}

export class IndexService {
  readonly dir: string;
  private readonly geometry: IndexGeometry;
  /** Oldest first; the last one, if any, is the active file. */
  private files: IndexFile[] = [];
  private flushChain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    storePathRootDir: string,
    opts: { maxHashSlotNum: number; maxIndexNum: number },
    private readonly io: FileIO,
    /** Wall clock in ms: an index file is named by the time it starts. */
    private readonly now: () => number = Date.now,
  ) {
    this.geometry = { maxHashSlotNum: opts.maxHashSlotNum, maxIndexNum: opts.maxIndexNum };
    validateIndexGeometry(this.geometry);
    this.dir = path.join(storePathRootDir, 'index');
  }

  /**
   * Open the index files in name (= creation time) order. The first file that is not full
   * becomes the active one; files after it can only come from a crash during a rollover and are
   * deleted (the facade re-dispatches from endPhyOffset(), which rebuilds them).
   */
  async load(): Promise<IndexLoadReport> {
    const report: IndexLoadReport = { files: 0, filesDropped: [], slotsRepaired: 0 };
    const names = (await this.io.readdir(this.dir)).filter((n) => INDEX_FILE_NAME_PATTERN.test(n)).sort();
    for (const name of names) {
      if (this.files.length > 0 && !this.files[this.files.length - 1]!.isFull()) {
        await this.io.unlink(path.join(this.dir, name));
        report.filesDropped.push(name);
        continue;
      }
      this.files.push(await IndexFile.open(this.io, this.dir, name, this.geometry));
    }
    const last = this.files[this.files.length - 1];
    if (last !== undefined && !last.isFull()) {
      const prev = this.files[this.files.length - 2];
      report.slotsRepaired = await last.loadForWriting(prev && { phyOffset: prev.header.endPhyOffset, timestampMs: prev.header.endTimestamp });
    }
    if (report.filesDropped.length > 0) await this.io.fsyncDir(this.dir);
    report.files = this.files.length;
    return report;
  }

  /**
   * Index one dispatched record (IndexService.buildIndex): skip ROLLBACK records and records
   * below the active file's endPhyOffset (already indexed before a restart), then add the
   * UNIQ_KEY and every non-empty key.
   */
  put(req: DispatchRequest): void {
    if (this.closed) throw new StoreClosedError();
    if ((req.sysFlag & TRANSACTION_ROLLBACK_TYPE) === TRANSACTION_ROLLBACK_TYPE) return;
    if (req.commitLogOffset < this.endPhyOffset()) return;
    if (req.uniqKey) this.putKey(req.topic, req.uniqKey, req);
    for (const key of req.keys) if (key.length > 0) this.putKey(req.topic, key, req);
  }

  private putKey(topic: string, key: string, req: DispatchRequest): void {
    const hash = indexKeyHash(topic + '#' + key);
    let file = this.activeFile();
    if (!file.putKey(hash, req.commitLogOffset, req.storeTimestamp)) {
      file = this.roll(file);
      // A fresh file always has room (maxIndexNum >= 2).
      file.putKey(hash, req.commitLogOffset, req.storeTimestamp);
    }
  }

  private activeFile(): IndexFile {
    const last = this.files[this.files.length - 1];
    if (last !== undefined && !last.isFull()) return last;
    return this.roll(last);
  }

  /** Start a new file after `prev` (in memory; the next flush creates it). */
  private roll(prev: IndexFile | undefined): IndexFile {
    prev?.deactivate();
    let ms = this.now();
    // Names must sort after the previous one, even when files fill within one millisecond.
    if (prev !== undefined && indexFileName(ms) <= prev.name) ms = (parseIndexFileName(prev.name) ?? ms) + 1;
    for (let guard = 0; prev !== undefined && indexFileName(ms) <= prev.name && guard < 4; guard++) ms += 3_600_000; // DST fold
    const prevEnd = prev && { phyOffset: prev.header.endPhyOffset, timestampMs: prev.header.endTimestamp };
    const file = IndexFile.create(this.io, this.dir, indexFileName(ms), this.geometry, prevEnd);
    this.files.push(file);
    return file;
  }

  /**
   * Commit log offsets of messages with `key` in `topic` stored within [beginMs, endMs], newest
   * first, at most maxNum, without duplicates (IndexService.queryOffset: files newest to oldest,
   * stopping at a file that begins before beginMs). The caller clamps maxNum (maxMsgsNumBatch).
   */
  async query(topic: string, key: string, maxNum: number, beginMs: number, endMs: number): Promise<IndexQueryResult> {
    const out: number[] = [];
    const seen = new Set<number>();
    const files = [...this.files];
    const last = files[files.length - 1];
    const result = { commitLogOffsets: out, lastUpdateTimestamp: last?.header.endTimestamp ?? 0, lastUpdatePhyOffset: last?.header.endPhyOffset ?? 0 };
    if (this.closed) throw new StoreClosedError();
    if (maxNum <= 0) return result;
    const hash = indexKeyHash(topic + '#' + key);
    for (let i = files.length - 1; i >= 0; i--) {
      const f = files[i]!;
      if (f.isTimeMatched(beginMs, endMs)) {
        try {
          await f.select(out, seen, hash, maxNum, beginMs, endMs);
        } catch (err) {
          // deleteExpiredFiles may delete a file under a running query: it just has no answers.
          if (!f.isDestroyed()) throw err;
        }
      }
      if (f.header.beginTimestamp < beginMs || out.length >= maxNum) break;
    }
    return result;
  }

  /** Commit log offset of the newest indexed record (0 when nothing is indexed). */
  endPhyOffset(): number {
    return this.files[this.files.length - 1]?.header.endPhyOffset ?? 0;
  }

  /** Store time of the newest indexed record (checkpoint indexMsgTimestamp once flushed). */
  endTimestamp(): number {
    return this.files[this.files.length - 1]?.header.endTimestamp ?? 0;
  }

  /** Write every file's changes, oldest first, so a file is complete before its successor. */
  flush(): Promise<void> {
    const run = this.flushChain.then(async () => {
      for (const f of [...this.files]) await f.flush();
    });
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Delete files (never the active one) whose newest entry is below `minCommitLogOffset`, as
   * IndexService.deleteExpiredFile after commit log files are deleted. Returns how many.
   */
  deleteExpiredFiles(minCommitLogOffset: number): Promise<number> {
    return this.afterFlushes(async () => {
      let n = 0;
      while (this.files.length > 1 && this.files[0]!.header.endPhyOffset < minCommitLogOffset) {
        await this.files.shift()!.destroy();
        n++;
      }
      return n;
    });
  }

  /** Run `fn` after every flush queued so far; later flushes wait for it (files change under it). */
  private afterFlushes<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.flushChain.then(fn);
    this.flushChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Recovery cut the commit log at `end`: drop every file holding an entry at or past it (its
   * entries would point into bytes the log will reuse, and put() would skip new records below its
   * stale endPhyOffset). As IndexService.load drops files newer than the checkpoint after an
   * abnormal exit; the caller re-indexes records from endPhyOffset() up to `end`. Returns how many.
   */
  truncateByCommitLogOffset(end: number): Promise<number> {
    return this.afterFlushes(async () => {
      let n = 0;
      while (this.files.length > 0 && this.files[this.files.length - 1]!.header.endPhyOffset >= end && this.hasEntries(this.files[this.files.length - 1]!)) {
        await this.files.pop()!.destroy();
        n++;
      }
      return n;
    });
  }

  private hasEntries(f: IndexFile): boolean {
    // indexCount starts at 1 (entry 0 is never used).
    return f.header.indexCount > 1;
  }

  /** Flush and close; the files are closed even when the flush fails (the error is rethrown). */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      for (const f of this.files) await f.close();
    }
  }

  /** Names of the index files, oldest first (for `store verify` and tests). */
  fileNames(): string[] {
    return this.files.map((f) => f.name);
  }
}
