/**
 * The store's narrow file-I/O interface. Every store write goes through it so tests can swap in a
 * fault-injecting implementation (torn writes, lost unsynced data, ENOSPC) driven by a seeded PRNG.
 * `NodeFileIO` (real) lives in node-file-io.ts; `FaultyFileIO` in faulty-file-io.ts.
 */

export type OpenMode =
  | 'r' // read only, must exist
  | 'r+' // read/write, must exist
  | 'w+'; // read/write, created if missing (never truncated)

export interface FileHandle {
  readonly path: string;
  /** Positional read; returns bytes read (short at end of file). */
  read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number>;
  /**
   * Synchronous positional read, for data the page cache holds (the store's equivalent of reading
   * a mapped file, as RocketMQ's MappedFile does). Optional: a FileIO without it (the fault-injecting
   * and dry-run layers) makes the store keep such data in memory or read it asynchronously.
   */
  readSync?(buf: Buffer, bufOffset: number, length: number, position: number): number;
  /** Positional write of the whole range (loops on short writes). */
  write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void>;
  /** Positional gather write of all buffers back to back starting at `position`. */
  writev(bufs: Buffer[], position: number): Promise<void>;
  /**
   * Synchronous positional gather write (loops on short writes): the bytes reach the page cache
   * before it returns, as a copy into a mapped file does. Optional, as readSync.
   */
  writevSync?(bufs: Buffer[], position: number): void;
  /** fdatasync: data written before this call is durable when it resolves. */
  datasync(): Promise<void>;
  /** Set the file length (extends sparse, or cuts). */
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** Space of the file system holding a path (statfs), in bytes. */
export interface DiskSpace {
  totalBytes: number;
  /** Free blocks, including those reserved for root (statfs f_bfree). */
  freeBytes: number;
  /** Free to unprivileged writers (statfs f_bavail). */
  availableBytes: number;
}

export interface FileIO {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  exists(path: string): Promise<boolean>;
  mkdirp(path: string): Promise<void>;
  /** Entry names (not paths); [] when the dir does not exist. */
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** fsync a directory so a create/rename/unlink in it is durable. */
  fsyncDir(path: string): Promise<void>;
  /** Last modification time in ms (RocketMQ's MappedFile.getLastModifiedTimestamp: File.lastModified). */
  lastModifiedMs(path: string): Promise<number>;
  /** The file system's space where `path` lives (the store's disk use for retention). */
  diskSpace(path: string): Promise<DiskSpace>;
  /**
   * Synchronous positional read of `length` bytes of the file at `path`; returns bytes read (short
   * at end of file). For small reads of data already flushed, which the store would otherwise keep
   * in memory (RocketMQ reads such data from mapped files). Optional: without it the store keeps
   * that data in memory. It may keep the file open for the next read (see dropReadCache); unlink,
   * rename, rmrf and creating open() through this FileIO forget such a file first.
   */
  readRangeSync?(path: string, buf: Buffer, bufOffset: number, length: number, position: number): number;
  /** Close what readRangeSync keeps open (the store calls it when it closes); later reads reopen. */
  dropReadCache?(): void;
  /** Remove a directory tree (missing is fine). */
  rmrf(path: string): Promise<void>;
  /**
   * Atomic small-file replace (config/*.json, checkpoint): write `<path>.tmp`, fsync, keep the
   * previous content as `<path>.bak`, rename over `<path>`, fsync the dir (apache/rocketmq MixAll.string2File, which keeps `.bak` the same way).
   * `data` may come in pieces (written in order, as one file).
   */
  writeFileAtomic(path: string, data: FileData): Promise<void>;
}

/** A whole file's content: text (UTF-8), bytes, or bytes in pieces. */
export type FileData = Buffer | string | readonly Buffer[];

/** FileData as one Buffer. */
export function fileDataBytes(data: FileData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.concat(data);
}
