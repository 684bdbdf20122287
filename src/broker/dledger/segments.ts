/**
 * One directory of fixed-size, preallocated files named by their start offset in 20 digits: DLedger's
 * MmapFileList (openmessaging/dledger 0.3.1.2) for `data/` and `index/`. Every file is exactly
 * `fileBytes` long (MmapFileList#doLoad refuses any other length) and the files are contiguous
 * (MmapFileList#checkSelf), so an Apache node can open what we write and we can open what it wrote.
 * Offsets are absolute (a file holds [start, start + fileBytes)).
 */
import path from 'node:path';
import { segmentFileName } from '../store/commitlog-files.js';
import type { FileHandle, FileIO } from '../store/file-io.js';
import { invariant } from '../../util/invariant.js';
import { DLedgerResponseCode } from '../../protocol/dledger/protocol.js';
import { DLedgerError } from './errors.js';

interface Segment {
  start: number;
  h: FileHandle;
}

export class SegmentList {
  private files: Segment[] = [];
  private readonly dirty = new Set<Segment>();
  private dirChanged = false;

  constructor(
    readonly io: FileIO,
    readonly dir: string,
    readonly fileBytes: number,
  ) {
    invariant(Number.isSafeInteger(fileBytes) && fileBytes > 0, () => `segment size ${fileBytes}`);
  }

  /**
   * MmapFileList#load + #checkSelf: every file the configured size, no gap between them. One
   * exception: the last file may be empty, when the power went between its creation and its
   * preallocation being made durable (ensure); it is preallocated again. Any other size is a
   * configuration mistake or damage, and opening stops, as Java does.
   */
  async load(): Promise<void> {
    await this.io.mkdirp(this.dir);
    const names = (await this.io.readdir(this.dir)).filter((n) => /^\d{20}$/.test(n)).sort();
    for (const [i, name] of names.entries()) {
      const h = await this.io.open(path.join(this.dir, name), 'r+');
      this.files.push({ start: Number(name), h });
      const size = await h.size();
      if (size === 0 && i === names.length - 1) {
        await h.truncate(this.fileBytes);
        await h.datasync();
      } else if (size !== this.fileBytes) {
        throw diskError(`${path.join(this.dir, name)} is ${size} bytes, not the configured ${this.fileBytes} (files of another size need that size configured)`);
      }
    }
    for (let i = 1; i < this.files.length; i++) {
      if (this.files[i]!.start - this.files[i - 1]!.start !== this.fileBytes) throw diskError(`${this.dir}: files ${segmentFileName(this.files[i - 1]!.start)} and ${segmentFileName(this.files[i]!.start)} are not adjacent`);
    }
  }

  starts(): number[] {
    return this.files.map((f) => f.start);
  }

  isEmpty(): boolean {
    return this.files.length === 0;
  }

  /** Start of the first file (0 when there is none). */
  firstStart(): number {
    return this.files[0]?.start ?? 0;
  }

  fileStartOf(offset: number): number {
    return offset - (offset % this.fileBytes);
  }

  private find(offset: number): Segment | undefined {
    const start = this.fileStartOf(offset);
    const first = this.files[0];
    return first ? this.files[(start - first.start) / this.fileBytes] : undefined;
  }

  /**
   * The file holding `offset`, created when it is the next one: preallocated (sparse) and made
   * durable, size and directory entry, before anything is written into it.
   */
  async ensure(offset: number): Promise<void> {
    if (this.find(offset)) return;
    const start = this.fileStartOf(offset);
    const last = this.files[this.files.length - 1];
    invariant(!last || start === last.start + this.fileBytes, () => `${this.dir}: new file at ${start} does not follow ${last!.start}`);
    const h = await this.io.open(path.join(this.dir, segmentFileName(start)), 'w+');
    await h.truncate(this.fileBytes);
    await h.datasync();
    await this.io.fsyncDir(this.dir);
    this.files.push({ start, h });
  }

  /** Write `buf` at `offset`; it must lie inside one existing file. */
  async write(offset: number, buf: Buffer): Promise<void> {
    const seg = this.find(offset);
    invariant(seg && offset + buf.length <= seg.start + this.fileBytes, () => `${this.dir}: write of ${buf.length} at ${offset} crosses a file end or has no file`);
    await seg.h.write(buf, 0, buf.length, offset - seg.start);
    this.dirty.add(seg);
  }

  /** Up to `length` bytes at `offset` within one file (fewer at the file's end); undefined when no file holds it. */
  async read(offset: number, length: number): Promise<Buffer | undefined> {
    const seg = this.find(offset);
    if (!seg) return undefined;
    const n = Math.min(length, seg.start + this.fileBytes - offset);
    const buf = Buffer.alloc(n);
    const got = await seg.h.read(buf, 0, n, offset - seg.start);
    return got === n ? buf : buf.subarray(0, got);
  }

  /**
   * Make `offset` the end: zero the rest of its file (cut and extended again: sparse zeros, one
   * call) and delete the files after it. MmapFileList#truncateOffset only moves the write position
   * and leaves the old bytes, which a later recovery may read back as entries; zeroing cannot.
   */
  async cutAt(offset: number): Promise<void> {
    const keepUpTo = this.fileStartOf(offset);
    const doomed = this.files.filter((f) => f.start > keepUpTo);
    for (const seg of doomed.reverse()) {
      await seg.h.close();
      await this.io.unlink(path.join(this.dir, segmentFileName(seg.start)));
      this.dirty.delete(seg);
      this.dirChanged = true;
    }
    this.files = this.files.filter((f) => f.start <= keepUpTo);
    const seg = this.find(offset);
    if (!seg) return;
    await seg.h.truncate(offset - seg.start);
    await seg.h.truncate(this.fileBytes);
    this.dirty.add(seg);
  }

  /** Make everything written durable (data of each file written, then the directory). */
  async sync(): Promise<void> {
    for (const seg of [...this.dirty]) {
      this.dirty.delete(seg);
      await seg.h.datasync();
    }
    if (this.dirChanged) {
      this.dirChanged = false;
      await this.io.fsyncDir(this.dir);
    }
  }

  async close(): Promise<void> {
    const files = this.files;
    this.files = [];
    for (const seg of files) await seg.h.close();
  }
}

function diskError(message: string): DLedgerError {
  return new DLedgerError(DLedgerResponseCode.DISK_ERROR, message);
}
