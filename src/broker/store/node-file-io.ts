import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileDataBytes, type DiskSpace, type FileData, type FileHandle, type FileIO, type OpenMode } from './file-io.js';

/**
 * Files readRangeSync keeps open. A consumer far behind reads consume-queue units from disk on
 * every pull; opening the file each time cost more than the read (a path lookup per pull).
 */
const READ_CACHE_MAX_FILES = 64;

/** The real FileIO over node:fs. */
export class NodeFileIO implements FileIO {
  /** readRangeSync's open files by path, least recently used first (Map order). */
  private readonly readFds = new Map<string, number>();

  async open(p: string, mode: OpenMode): Promise<FileHandle> {
    // Creating may make a new file where a cached descriptor still reads a removed one.
    if (mode === 'w+') this.forget(p);
    const flags = mode === 'w+' ? fs.constants.O_RDWR | fs.constants.O_CREAT : mode === 'r+' ? 'r+' : 'r';
    return new NodeFileHandle(p, await fsp.open(p, flags, 0o644));
  }

  async exists(p: string): Promise<boolean> {
    try {
      await fsp.access(p);
      return true;
    } catch {
      return false;
    }
  }

  async mkdirp(p: string): Promise<void> {
    await fsp.mkdir(p, { recursive: true });
  }

  async readdir(p: string): Promise<string[]> {
    try {
      return await fsp.readdir(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  readFile(p: string): Promise<Buffer> {
    return fsp.readFile(p);
  }

  unlink(p: string): Promise<void> {
    this.forget(p);
    return fsp.unlink(p);
  }

  rename(from: string, to: string): Promise<void> {
    this.forget(from);
    this.forget(to);
    return fsp.rename(from, to);
  }

  async fsyncDir(p: string): Promise<void> {
    const fh = await fsp.open(p, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  readRangeSync(p: string, buf: Buffer, bufOffset: number, length: number, position: number): number {
    let fd = this.readFds.get(p);
    if (fd === undefined) {
      fd = fs.openSync(p, 'r');
      if (this.readFds.size >= READ_CACHE_MAX_FILES) this.forget(this.readFds.keys().next().value!);
    } else {
      this.readFds.delete(p); // re-inserted below: most recently used
    }
    this.readFds.set(p, fd);
    try {
      return readFullySync(fd, buf, bufOffset, length, position);
    } catch (err) {
      this.forget(p);
      throw err;
    }
  }

  dropReadCache(): void {
    for (const p of [...this.readFds.keys()]) this.forget(p);
  }

  private forget(p: string): void {
    const fd = this.readFds.get(p);
    if (fd === undefined) return;
    this.readFds.delete(p);
    try {
      fs.closeSync(fd);
    } catch {
      // Already unusable: nothing more to release.
    }
  }

  async lastModifiedMs(p: string): Promise<number> {
    return (await fsp.stat(p)).mtimeMs;
  }

  async diskSpace(p: string): Promise<DiskSpace> {
    return diskSpaceOf(p);
  }

  rmrf(p: string): Promise<void> {
    const under = p.endsWith(path.sep) ? p : p + path.sep;
    for (const f of [...this.readFds.keys()]) if (f === p || f.startsWith(under)) this.forget(f);
    return fsp.rm(p, { recursive: true, force: true });
  }

  async writeFileAtomic(p: string, data: FileData): Promise<void> {
    const tmp = p + '.tmp';
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      try {
        if (typeof data === 'string' || Buffer.isBuffer(data)) await fh.writeFile(data);
        else await writeAllv(fh, data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      // A short write on a full disk must not keep holding the space it took.
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    // Keep the previous version as .bak (RocketMQ's ConfigManager falls back to it on load).
    try {
      await fsp.copyFile(p, p + '.bak');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.forget(p);
    await fsp.rename(tmp, p);
    await this.fsyncDir(path.dirname(p));
  }
}

/** statfs of the file system holding `p` (fs.statfs: Node 18.15+). */
export async function diskSpaceOf(p: string): Promise<DiskSpace> {
  const s = await fsp.statfs(p);
  return { totalBytes: s.blocks * s.bsize, freeBytes: s.bfree * s.bsize, availableBytes: s.bavail * s.bsize };
}

/** The pieces written in order from the file's start, without copying them into one buffer first. */
async function writeAllv(fh: fsp.FileHandle, pieces: readonly Buffer[]): Promise<void> {
  const total = pieces.reduce((n, b) => n + b.length, 0);
  const { bytesWritten } = await fh.writev(pieces as Buffer[], 0);
  if (bytesWritten === total) return;
  // A short write (libuv normally finishes the whole vector itself): the rest in one piece.
  const rest = fileDataBytes(pieces).subarray(bytesWritten);
  for (let done = 0; done < rest.length; ) done += (await fh.write(rest, done, rest.length - done, bytesWritten + done)).bytesWritten;
}

class NodeFileHandle implements FileHandle {
  constructor(
    readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    let done = 0;
    // Loop on short reads; stop at end of file.
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, bufOffset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  readSync(buf: Buffer, bufOffset: number, length: number, position: number): number {
    return readFullySync(this.fh.fd, buf, bufOffset, length, position);
  }

  writevSync(bufs: Buffer[], position: number): void {
    let pos = position;
    let rest = bufs.filter((b) => b.length > 0);
    while (rest.length > 0) {
      const n = fs.writevSync(this.fh.fd, rest, pos);
      pos += n;
      rest = unwritten(rest, n);
    }
  }

  async write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.fh.write(buf, bufOffset + done, length - done, position + done);
      done += bytesWritten;
    }
  }

  async writev(bufs: Buffer[], position: number): Promise<void> {
    let pos = position;
    let rest = bufs.filter((b) => b.length > 0);
    // writev may write less than asked; continue from where it stopped.
    while (rest.length > 0) {
      const { bytesWritten } = await this.fh.writev(rest, pos);
      pos += bytesWritten;
      rest = unwritten(rest, bytesWritten);
    }
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Positional read looping on short reads; stops at end of file. Returns bytes read. */
function readFullySync(fd: number, buf: Buffer, bufOffset: number, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, bufOffset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** What is left of `bufs` after a gather write of `n` bytes: whole buffers dropped, then a head. */
function unwritten(bufs: Buffer[], n: number): Buffer[] {
  let k = 0;
  while (k < bufs.length && n >= bufs[k]!.length) n -= bufs[k++]!.length;
  const rest = bufs.slice(k);
  if (n > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}
