import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileDataBytes, type DiskSpace, type FileData, type FileHandle, type FileIO, type OpenMode } from './file-io.js';
import { diskSpaceOf } from './node-file-io.js';

/**
 * A copy-on-write FileIO for dry runs (`rocketctl store verify`): reads come from the real files,
 * every change (writes, truncates, creates, deletes, renames) stays in memory. Running the real
 * recovery over it yields the exact report the next open would produce, while the store on disk is
 * left byte-for-byte as it was. Modified files are kept as sparse 4 KiB pages, so rebuilding a
 * consume queue or cutting a 1 GiB segment costs memory only for the pages touched.
 */

const PAGE_BYTES = 4096;

function enoent(p: string): NodeJS.ErrnoException {
  const err = new Error(`ENOENT: no such file or directory, open '${p}'`) as NodeJS.ErrnoException;
  err.code = 'ENOENT';
  return err;
}

/** One file as the overlay sees it: a real file underneath (maybe none) plus changed pages. */
class OverlayFile {
  readonly pages = new Map<number, Buffer>();
  /** Base bytes at or past this position read as zero (an earlier truncate cut them). */
  zeroFrom: number;

  constructor(
    readonly basePath: string | undefined,
    public size: number,
  ) {
    this.zeroFrom = basePath ? size : 0;
  }

  /** Bytes of page `index` as currently visible (base masked by truncation, or a changed page). */
  async page(index: number): Promise<Buffer> {
    const own = this.pages.get(index);
    if (own) return own;
    const buf = Buffer.alloc(PAGE_BYTES);
    const pos = index * PAGE_BYTES;
    const baseEnd = Math.min(this.zeroFrom, this.size);
    if (this.basePath && pos < baseEnd) {
      const fh = await fsp.open(this.basePath, 'r');
      try {
        await fh.read(buf, 0, Math.min(PAGE_BYTES, baseEnd - pos), pos);
      } finally {
        await fh.close();
      }
    }
    return buf;
  }

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    const want = Math.max(0, Math.min(length, this.size - position));
    if (want === 0) return 0;
    // Whole unchanged stretches straight from the base file, changed pages from memory.
    const baseEnd = Math.min(this.zeroFrom, this.size);
    buf.fill(0, bufOffset, bufOffset + want);
    if (this.basePath && position < baseEnd) {
      const fh = await fsp.open(this.basePath, 'r');
      try {
        await fh.read(buf, bufOffset, Math.min(want, baseEnd - position), position);
      } finally {
        await fh.close();
      }
    }
    const first = Math.floor(position / PAGE_BYTES);
    const last = Math.floor((position + want - 1) / PAGE_BYTES);
    if (this.pages.size > 0) {
      for (let i = first; i <= last; i++) {
        const pg = this.pages.get(i);
        if (!pg) continue;
        const from = Math.max(position, i * PAGE_BYTES);
        const to = Math.min(position + want, (i + 1) * PAGE_BYTES);
        pg.copy(buf, bufOffset + (from - position), from - i * PAGE_BYTES, to - i * PAGE_BYTES);
      }
    }
    return want;
  }

  async write(data: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const pos = position + done;
      const index = Math.floor(pos / PAGE_BYTES);
      const pg = await this.page(index);
      this.pages.set(index, pg);
      const inPage = pos - index * PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - inPage, data.length - done);
      data.copy(pg, inPage, done, done + n);
      done += n;
    }
    this.size = Math.max(this.size, position + data.length);
  }

  truncate(length: number): void {
    if (length < this.size) {
      for (const index of [...this.pages.keys()]) if (index * PAGE_BYTES >= length) this.pages.delete(index);
      const cut = this.pages.get(Math.floor(length / PAGE_BYTES));
      if (cut) cut.fill(0, length % PAGE_BYTES);
      this.zeroFrom = Math.min(this.zeroFrom, length);
    }
    this.size = length;
  }
}

export class OverlayFileIO implements FileIO {
  private readonly files = new Map<string, OverlayFile | null>(); // null = deleted
  private readonly dirs = new Set<string>();
  private readonly deletedTrees = new Set<string>();

  private underDeletedTree(p: string): boolean {
    for (const d of this.deletedTrees) if (p === d || p.startsWith(d + path.sep)) return true;
    return false;
  }

  private async realExists(p: string): Promise<boolean> {
    if (this.underDeletedTree(p)) return false;
    try {
      await fsp.access(p);
      return true;
    } catch {
      return false;
    }
  }

  private async resolve(p: string): Promise<OverlayFile | undefined> {
    const own = this.files.get(p);
    if (own !== undefined) return own ?? undefined;
    if (!(await this.realExists(p))) return undefined;
    const st = await fsp.stat(p);
    if (!st.isFile()) return undefined;
    const f = new OverlayFile(p, st.size);
    this.files.set(p, f);
    return f;
  }

  async open(p: string, mode: OpenMode): Promise<FileHandle> {
    let f = await this.resolve(p);
    if (!f) {
      if (mode !== 'w+') throw enoent(p);
      f = new OverlayFile(undefined, 0);
      this.files.set(p, f);
    }
    return new OverlayHandle(p, f);
  }

  async exists(p: string): Promise<boolean> {
    const own = this.files.get(p);
    if (own !== undefined) return own !== null;
    if (this.dirs.has(p)) return true;
    return this.realExists(p);
  }

  async mkdirp(p: string): Promise<void> {
    for (let d = p; d !== path.dirname(d); d = path.dirname(d)) this.dirs.add(d);
  }

  async readdir(p: string): Promise<string[]> {
    const names = new Set<string>();
    if (!this.underDeletedTree(p)) {
      try {
        for (const n of await fsp.readdir(p)) names.add(n);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    for (const [fp, f] of this.files) {
      if (path.dirname(fp) !== p) continue;
      if (f === null) names.delete(path.basename(fp));
      else names.add(path.basename(fp));
    }
    for (const d of this.dirs) if (path.dirname(d) === p) names.add(path.basename(d));
    return [...names].filter((n) => !this.underDeletedTree(path.join(p, n)) || this.files.get(path.join(p, n)) || this.dirs.has(path.join(p, n))).sort();
  }

  async readFile(p: string): Promise<Buffer> {
    const f = await this.resolve(p);
    if (!f) throw enoent(p);
    const buf = Buffer.alloc(f.size);
    await f.read(buf, 0, f.size, 0);
    return buf;
  }

  async unlink(p: string): Promise<void> {
    if (!(await this.resolve(p))) throw enoent(p);
    this.files.set(p, null);
  }

  async rename(from: string, to: string): Promise<void> {
    const f = await this.resolve(from);
    if (!f) throw enoent(from);
    this.files.set(from, null);
    this.files.set(to, f);
  }

  async fsyncDir(): Promise<void> {}

  async lastModifiedMs(p: string): Promise<number> {
    const own = this.files.get(p);
    if (own === null || (own === undefined && !(await this.realExists(p)))) throw enoent(p);
    // A file created or changed in the overlay was modified "now"; an untouched one keeps its real time.
    return own !== undefined && (own.basePath === undefined || own.pages.size > 0) ? Date.now() : (await fsp.stat(p)).mtimeMs;
  }

  diskSpace(p: string): Promise<DiskSpace> {
    return diskSpaceOf(p);
  }

  async rmrf(p: string): Promise<void> {
    this.deletedTrees.add(p);
    for (const key of [...this.files.keys()]) if (key === p || key.startsWith(p + path.sep)) this.files.set(key, null);
    for (const d of [...this.dirs]) if (d === p || d.startsWith(p + path.sep)) this.dirs.delete(d);
  }

  async writeFileAtomic(p: string, data: FileData): Promise<void> {
    const f = new OverlayFile(undefined, 0);
    await f.write(fileDataBytes(data), 0);
    this.files.set(p, f);
  }
}

class OverlayHandle implements FileHandle {
  constructor(
    readonly path: string,
    private readonly f: OverlayFile,
  ) {}

  read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    return this.f.read(buf, bufOffset, length, position);
  }

  write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void> {
    return this.f.write(buf.subarray(bufOffset, bufOffset + length), position);
  }

  async writev(bufs: Buffer[], position: number): Promise<void> {
    let pos = position;
    for (const b of bufs) {
      await this.f.write(b, pos);
      pos += b.length;
    }
  }

  async datasync(): Promise<void> {}

  async truncate(length: number): Promise<void> {
    this.f.truncate(length);
  }

  async size(): Promise<number> {
    return this.f.size;
  }

  async close(): Promise<void> {}
}
