import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileDataBytes, type DiskSpace, type FileData, type FileHandle, type FileIO, type OpenMode } from './file-io.js';
import { NodeFileIO } from './node-file-io.js';

/**
 * A FileIO that simulates what a power loss does to data the program did not make durable
 * (tigerbeetle's src/testing/storage.zig idea, driven by a seeded PRNG so a failure replays):
 *
 *  - file contents: writes and truncates since the file's last `datasync` are held in memory (reads
 *    see them); `datasync` applies them to the real file. `crash()` decides per file, by the PRNG,
 *    to drop them all, keep them all, keep a prefix whose last write is torn, or keep a random
 *    subset of 4 KiB pages (the page cache writes back out of order);
 *  - directory entries: create, unlink and rename happen on disk at once but stay undoable until
 *    `fsyncDir(dir)`; `crash()` keeps a random prefix of each directory's pending entry changes and
 *    undoes the rest (a new segment whose directory was not fsynced may vanish);
 *  - ENOSPC: with `enospcAfterBytes`, a write that would pass the budget is written partially (as a
 *    short write) and fails with ENOSPC; clear the budget to "free space".
 *  - a small disk: with `diskBytes`, the files written through this FileIO live on a simulated
 *    disk of that size, allocated in 4 KiB pages as tmpfs does (sparse: only pages written take
 *    space). A write needing pages the disk no longer has is written partially and fails with
 *    ENOSPC; unlink, truncate and rmrf free pages at once, so deleting files makes room again
 *    without anything else changing. `diskSpace()` reports that disk (statfs); `otherUsedBytes`
 *    is space taken by "other programs". A file this FileIO did not create counts with its real
 *    allocated size from when it is first opened.
 *
 * Simplifications: mkdirp and rmrf are durable at once; metadata other than size (mtime, mode) is
 * not modelled. After `crash()` every handle and call fails with ECRASHED: open the store again with
 * a fresh FileIO (the real files now hold the post-crash state).
 */

/** mulberry32: small, fast, good enough to drive fault choices; same seed, same run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for fault tests: ROCKETCTL_FAULT_SEED if set (to replay a failure), else random. */
export function faultSeedFromEnv(): number {
  const s = process.env.ROCKETCTL_FAULT_SEED;
  if (s !== undefined && s !== '') {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new Error(`ROCKETCTL_FAULT_SEED must be an integer (got ${s})`);
    return n >>> 0;
  }
  return (Math.random() * 2 ** 32) >>> 0;
}

type DataOp = { kind: 'write'; pos: number; data: Buffer } | { kind: 'truncate'; length: number };

type DirOp =
  | { kind: 'create'; path: string }
  | { kind: 'unlink'; path: string; trash: string }
  | { kind: 'rename'; from: string; to: string; displacedTrash?: string };

interface CrashOutcome {
  path: string;
  /** What happened to the file's unsynced data: dropped, kept, torn (prefix + cut write), pages. */
  fate: 'dropped' | 'kept' | 'torn' | 'pages';
  opsPending: number;
  opsKept: number;
}

interface CrashReport {
  seed: number;
  files: CrashOutcome[];
  /** Directory entry changes undone because their directory was not fsynced. */
  dirOpsUndone: string[];
}

interface FaultyFileIOOptions {
  seed: number;
  /** Fail writes with ENOSPC once this many bytes have been accepted in total. */
  enospcAfterBytes?: number;
  /** Simulate a disk of this many bytes (see the class comment). */
  diskBytes?: number;
}

const TRASH_PREFIX = '.faulty-trash-';
const PAGE_BYTES = 4096;

function nodeError(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${message}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

export class FaultyFileIO implements FileIO {
  readonly seed: number;
  /** Bytes still accepted before writes fail with ENOSPC; undefined = unlimited. */
  enospcAfterBytes: number | undefined;
  bytesAccepted = 0;
  /**
   * Called synchronously after each write is recorded (not yet durable): lets a test cut the power
   * at the worst moment, e.g. `io.afterWrite = (p) => { if (p.includes('commitlog')) void io.crash(); }`.
   */
  afterWrite: ((path: string) => void) | undefined;
  /** With `diskBytes`: the simulated disk's size, and bytes on it taken by something else. */
  readonly diskBytes: number | undefined;
  otherUsedBytes = 0;
  /** Allocated 4 KiB pages per path (only with `diskBytes`). */
  private readonly allocated = new Map<string, Set<number>>();
  private allocatedPages = 0;
  private readonly rng: () => number;
  private readonly real = new NodeFileIO();
  /** Real handles open through this FileIO: crash() closes them, as the OS does when a process dies. */
  private readonly openHandles = new Set<FileHandle>();
  private readonly pending = new Map<string, DataOp[]>();
  /** The datasync running per path (applyPending), so two of one path never apply the same ops. */
  private readonly applying = new Map<string, Promise<void>>();
  private readonly dirOps = new Map<string, DirOp[]>();
  private readonly inflight = new Set<Promise<unknown>>();
  private crashed = false;
  private trashSeq = 0;

  constructor(opts: FaultyFileIOOptions) {
    this.seed = opts.seed >>> 0;
    this.rng = mulberry32(this.seed);
    this.enospcAfterBytes = opts.enospcAfterBytes;
    this.diskBytes = opts.diskBytes;
  }

  /** Bytes of the simulated disk in use (files written here plus otherUsedBytes). */
  diskUsedBytes(): number {
    return this.allocatedPages * PAGE_BYTES + this.otherUsedBytes;
  }

  /**
   * Allocate the pages a write of `length` bytes at `pos` needs; returns how many bytes of it fit
   * (a prefix: pages are taken in order until the disk is full).
   */
  allocate(p: string, pos: number, length: number): number {
    if (this.diskBytes === undefined || length === 0) return length;
    const pages = this.pagesOf(p);
    const room = Math.floor((this.diskBytes - this.diskUsedBytes()) / PAGE_BYTES);
    let taken = 0;
    const first = Math.floor(pos / PAGE_BYTES);
    const last = Math.floor((pos + length - 1) / PAGE_BYTES);
    for (let page = first; page <= last; page++) {
      if (pages.has(page)) continue;
      if (taken === room) {
        this.allocatedPages += taken;
        return Math.max(0, page * PAGE_BYTES - pos);
      }
      pages.add(page);
      taken++;
    }
    this.allocatedPages += taken;
    return length;
  }

  /** Free the pages of `p` at or past `length` (truncate), or all of them (length 0 / unlink). */
  release(p: string, length = 0): void {
    const pages = this.allocated.get(p);
    if (!pages) return;
    const keepBelow = Math.ceil(length / PAGE_BYTES);
    for (const page of [...pages]) {
      if (page < keepBelow) continue;
      pages.delete(page);
      this.allocatedPages--;
    }
    if (pages.size === 0) this.allocated.delete(p);
  }

  private pagesOf(p: string): Set<number> {
    let pages = this.allocated.get(p);
    if (!pages) {
      pages = new Set();
      this.allocated.set(p, pages);
    }
    return pages;
  }

  /** A file met for the first time counts with its real allocation (stat blocks), as a prefix. */
  private async trackExisting(p: string): Promise<void> {
    if (this.diskBytes === undefined || this.allocated.has(p)) return;
    const st = await fsp.stat(p).catch(() => undefined);
    if (!st || !st.isFile()) return;
    const n = Math.ceil((st.blocks * 512) / PAGE_BYTES);
    const pages = this.pagesOf(p);
    for (let i = 0; i < n; i++) pages.add(i);
    this.allocatedPages += n;
  }

  /** Track a real operation so crash() can wait for it instead of racing it. */
  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  /** Bytes written since the last datasync, over all files. */
  unsyncedBytes(): number {
    let n = 0;
    for (const ops of this.pending.values()) for (const op of ops) if (op.kind === 'write') n += op.data.length;
    return n;
  }

  isCrashed(): boolean {
    return this.crashed;
  }

  checkAlive(): void {
    if (this.crashed) throw nodeError('ECRASHED', 'simulated power loss: this FileIO is dead');
  }

  opsFor(p: string): DataOp[] {
    let ops = this.pending.get(p);
    if (!ops) {
      ops = [];
      this.pending.set(p, ops);
    }
    return ops;
  }

  private recordDirOp(dir: string, op: DirOp): void {
    let ops = this.dirOps.get(dir);
    if (!ops) {
      ops = [];
      this.dirOps.set(dir, ops);
    }
    ops.push(op);
  }

  private trashPath(dir: string): string {
    return path.join(dir, `${TRASH_PREFIX}${process.pid}-${this.trashSeq++}`);
  }

  /** Accept up to `length` bytes against the ENOSPC budget; returns how many fit. */
  reserve(length: number): number {
    if (this.enospcAfterBytes === undefined) {
      this.bytesAccepted += length;
      return length;
    }
    const room = Math.max(0, this.enospcAfterBytes - this.bytesAccepted);
    const n = Math.min(room, length);
    this.bytesAccepted += n;
    return n;
  }

  async open(p: string, mode: OpenMode): Promise<FileHandle> {
    this.checkAlive();
    const existed = await this.real.exists(p);
    if (existed) await this.trackExisting(p);
    const h = await this.track(this.real.open(p, mode));
    if (this.crashed) {
      // The power went while it opened: the process would not have it either.
      await h.close().catch(() => undefined);
      this.checkAlive();
    }
    if (!existed) this.recordDirOp(path.dirname(p), { kind: 'create', path: p });
    this.openHandles.add(h);
    return new FaultyHandle(this, p, h);
  }

  /** A FaultyHandle closed its real handle. */
  closed(real: FileHandle): void {
    this.openHandles.delete(real);
  }

  async exists(p: string): Promise<boolean> {
    this.checkAlive();
    return this.real.exists(p);
  }

  async mkdirp(p: string): Promise<void> {
    this.checkAlive();
    await this.real.mkdirp(p);
  }

  async readdir(p: string): Promise<string[]> {
    this.checkAlive();
    return (await this.real.readdir(p)).filter((n) => !n.startsWith(TRASH_PREFIX));
  }

  async readFile(p: string): Promise<Buffer> {
    this.checkAlive();
    const h = await this.open(p, 'r');
    try {
      const size = await h.size();
      const buf = Buffer.alloc(size);
      const n = await h.read(buf, 0, size, 0);
      return buf.subarray(0, n);
    } finally {
      await h.close();
    }
  }

  async unlink(p: string): Promise<void> {
    this.checkAlive();
    const dir = path.dirname(p);
    const trash = this.trashPath(dir);
    // Keep the bytes (renamed aside) until the directory is fsynced, so a crash can bring it back.
    await this.track(fsp.rename(p, trash));
    this.pending.delete(p);
    this.release(p);
    this.recordDirOp(dir, { kind: 'unlink', path: p, trash });
  }

  async rename(from: string, to: string): Promise<void> {
    this.checkAlive();
    const dir = path.dirname(to);
    let displacedTrash: string | undefined;
    if (await this.real.exists(to)) {
      displacedTrash = this.trashPath(dir);
      await this.track(fsp.rename(to, displacedTrash));
    }
    await this.track(fsp.rename(from, to));
    this.release(to);
    const moved = this.allocated.get(from);
    this.allocated.delete(from);
    if (moved) this.allocated.set(to, moved);
    const ops = this.pending.get(from);
    this.pending.delete(from);
    if (ops) this.pending.set(to, ops);
    else this.pending.delete(to);
    this.recordDirOp(dir, { kind: 'rename', from, to, displacedTrash });
  }

  async fsyncDir(p: string): Promise<void> {
    this.checkAlive();
    const ops = this.dirOps.get(p) ?? [];
    this.dirOps.delete(p);
    for (const op of ops) {
      if (op.kind === 'unlink') await this.track(fsp.rm(op.trash, { force: true }));
      if (op.kind === 'rename' && op.displacedTrash) await this.track(fsp.rm(op.displacedTrash, { force: true }));
    }
  }

  async rmrf(p: string): Promise<void> {
    this.checkAlive();
    for (const key of [...this.pending.keys()]) {
      if (key === p || key.startsWith(p + path.sep)) this.pending.delete(key);
    }
    for (const key of [...this.allocated.keys()]) {
      if (key === p || key.startsWith(p + path.sep)) this.release(key);
    }
    await this.track(this.real.rmrf(p));
  }

  async lastModifiedMs(p: string): Promise<number> {
    this.checkAlive();
    return this.real.lastModifiedMs(p);
  }

  /** The simulated disk with `diskBytes`, else the real one. */
  async diskSpace(p: string): Promise<DiskSpace> {
    this.checkAlive();
    if (this.diskBytes === undefined) return this.real.diskSpace(p);
    const free = Math.max(0, this.diskBytes - this.diskUsedBytes());
    return { totalBytes: this.diskBytes, freeBytes: free, availableBytes: free };
  }

  async writeFileAtomic(p: string, data: FileData): Promise<void> {
    const bytes = fileDataBytes(data);
    const tmp = p + '.tmp';
    try {
      await this.writeWhole(tmp, bytes, true);
    } catch (err) {
      // As NodeFileIO: the partial tmp file is removed (its pages freed) unless the process crashed.
      if (!this.crashed) await this.unlink(tmp).catch(() => undefined);
      throw err;
    }
    if (await this.exists(p)) await this.writeWhole(p + '.bak', await this.readFile(p), false);
    await this.rename(tmp, p);
    await this.fsyncDir(path.dirname(p));
  }

  private async writeWhole(p: string, bytes: Buffer, sync: boolean): Promise<void> {
    const h = await this.open(p, 'w+');
    try {
      await h.truncate(0);
      await h.write(bytes, 0, bytes.length, 0);
      if (sync) await h.datasync();
    } finally {
      await h.close();
    }
  }

  /**
   * Apply a file's pending ops to the real file (datasync), one datasync of a path at a time. An op
   * leaves the pending list only once the real file holds it: a read while a datasync runs (it
   * overlays the pending ops on the real file) must see the data, as the page cache shows it; when
   * the list was dropped first, such a read saw zeros where the ops were not yet applied.
   */
  async applyPending(p: string, real: FileHandle): Promise<void> {
    const prev = this.applying.get(p) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.applyNow(p, real));
    this.applying.set(p, run);
    try {
      await run;
    } finally {
      if (this.applying.get(p) === run) this.applying.delete(p);
    }
  }

  private async applyNow(p: string, real: FileHandle): Promise<void> {
    const ops = this.pending.get(p);
    if (!ops || ops.length === 0) return;
    const n = ops.length; // ops written meanwhile wait for the next datasync
    for (let i = 0; i < n; i++) {
      const op = ops[i]!;
      this.checkAlive(); // a crash during fsync: the rest never reached the disk
      if (op.kind === 'write') await this.track(real.write(op.data, 0, op.data.length, op.pos));
      else await this.track(real.truncate(op.length));
    }
    ops.splice(0, n);
    if (ops.length === 0 && this.pending.get(p) === ops) this.pending.delete(p);
  }

  /** Size as the program sees it: the real size with pending ops folded in. */
  async visibleSize(p: string, real: FileHandle): Promise<number> {
    let size = await this.track(real.size());
    for (const op of this.pending.get(p) ?? []) {
      size = op.kind === 'truncate' ? op.length : Math.max(size, op.pos + op.data.length);
    }
    return size;
  }

  /**
   * Simulate a power loss now. Unsynced data and unsynced directory changes are kept, dropped or
   * torn as the PRNG decides; afterwards this FileIO refuses everything.
   */
  async crash(): Promise<CrashReport> {
    this.crashed = true;
    // Let real operations already handed to the OS finish (they happened before the "power cut").
    for (let i = 0; i < 100 && this.inflight.size > 0; i++) await Promise.allSettled([...this.inflight]);
    for (const h of [...this.openHandles]) await h.close().catch(() => undefined);
    this.openHandles.clear();
    const report: CrashReport = { seed: this.seed, files: [], dirOpsUndone: [] };
    for (const [p, ops] of [...this.pending.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (ops.length === 0) continue;
      const kept = this.chooseSurvivors(ops);
      report.files.push({ path: p, fate: kept.fate, opsPending: ops.length, opsKept: kept.ops.length });
      if (kept.ops.length > 0 && (await this.real.exists(p))) await applyToDisk(p, kept.ops);
    }
    this.pending.clear();
    // Directories in name order, so the same seed makes the same choices.
    for (const [, ops] of [...this.dirOps.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const keep = Math.floor(this.rng() * (ops.length + 1));
      for (let i = ops.length - 1; i >= keep; i--) report.dirOpsUndone.push(await undoDirOp(ops[i]!));
      for (let i = 0; i < keep; i++) {
        const op = ops[i]!;
        if (op.kind === 'unlink') await fsp.rm(op.trash, { force: true });
        if (op.kind === 'rename' && op.displacedTrash) await fsp.rm(op.displacedTrash, { force: true });
      }
    }
    this.dirOps.clear();
    return report;
  }

  private chooseSurvivors(ops: DataOp[]): { fate: CrashOutcome['fate']; ops: DataOp[] } {
    const r = this.rng();
    if (r < 0.25) return { fate: 'dropped', ops: [] };
    if (r < 0.5) return { fate: 'kept', ops };
    if (r < 0.8) {
      // A prefix of the writes reached the disk; the last of them only partly (a torn write).
      const n = 1 + Math.floor(this.rng() * ops.length);
      const kept = ops.slice(0, n - 1);
      const last = ops[n - 1]!;
      if (last.kind === 'write') {
        kept.push({ kind: 'write', pos: last.pos, data: last.data.subarray(0, Math.floor(this.rng() * last.data.length)) });
      } else if (this.rng() < 0.5) {
        kept.push(last);
      }
      return { fate: 'torn', ops: kept };
    }
    // Write-back is per page and unordered: any subset of the dirty pages may have made it.
    const kept: DataOp[] = [];
    for (const op of ops) {
      if (op.kind === 'truncate') {
        if (this.rng() < 0.5) kept.push(op);
        continue;
      }
      let start = 0;
      while (start < op.data.length) {
        const pagePos = op.pos + start;
        const end = Math.min(op.data.length, start + (PAGE_BYTES - (pagePos % PAGE_BYTES)));
        if (this.rng() < 0.5) kept.push({ kind: 'write', pos: pagePos, data: op.data.subarray(start, end) });
        start = end;
      }
    }
    return { fate: 'pages', ops: kept };
  }
}

async function applyToDisk(p: string, ops: DataOp[]): Promise<void> {
  const fh = await fsp.open(p, 'r+');
  try {
    for (const op of ops) {
      if (op.kind === 'write') await fh.write(op.data, 0, op.data.length, op.pos);
      else await fh.truncate(op.length);
    }
  } finally {
    await fh.close();
  }
}

async function undoDirOp(op: DirOp): Promise<string> {
  switch (op.kind) {
    case 'create':
      await fsp.rm(op.path, { force: true });
      return `create ${op.path}`;
    case 'unlink':
      await fsp.rename(op.trash, op.path);
      return `unlink ${op.path}`;
    case 'rename':
      if (await pathExists(op.to)) await fsp.rename(op.to, op.from);
      if (op.displacedTrash) await fsp.rename(op.displacedTrash, op.to);
      return `rename ${op.from} -> ${op.to}`;
  }
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch {
    return false;
  }
}

class FaultyHandle implements FileHandle {
  constructor(
    private readonly io: FaultyFileIO,
    readonly path: string,
    private readonly real: FileHandle,
  ) {}

  async read(buf: Buffer, bufOffset: number, length: number, position: number): Promise<number> {
    this.io.checkAlive();
    // The unsynced ops as of now: a datasync that applies some of them while the real file is read
    // below still leaves them here, so replaying them gives what the program wrote either way.
    const ops = [...this.io.opsFor(this.path)];
    const size = await this.io.visibleSize(this.path, this.real);
    const want = Math.max(0, Math.min(length, size - position));
    if (want === 0) return 0;
    const view = buf.subarray(bufOffset, bufOffset + want);
    const got = await this.real.read(view, 0, want, position);
    view.fill(0, got); // past the real end (sparse extension by a pending truncate) reads zeros
    // Replay the unsynced ops over what the disk holds, in order.
    for (const op of ops) {
      if (op.kind === 'truncate') {
        if (op.length < position + want) view.fill(0, Math.max(0, op.length - position));
        continue;
      }
      const from = Math.max(op.pos, position);
      const to = Math.min(op.pos + op.data.length, position + want);
      if (from < to) op.data.copy(view, from - position, from - op.pos, to - op.pos);
    }
    return want;
  }

  async write(buf: Buffer, bufOffset: number, length: number, position: number): Promise<void> {
    this.io.checkAlive();
    const accepted = this.io.reserve(this.io.allocate(this.path, position, length));
    if (accepted > 0) {
      // Copy: the caller may reuse its buffer, and these bytes must stay as written.
      this.io.opsFor(this.path).push({ kind: 'write', pos: position, data: Buffer.from(buf.subarray(bufOffset, bufOffset + accepted)) });
    }
    this.io.afterWrite?.(this.path);
    if (accepted < length) throw nodeError('ENOSPC', `no space left on device, write '${this.path}'`);
  }

  async writev(bufs: Buffer[], position: number): Promise<void> {
    let pos = position;
    for (const b of bufs) {
      await this.write(b, 0, b.length, pos);
      pos += b.length;
    }
  }

  async datasync(): Promise<void> {
    this.io.checkAlive();
    await this.io.applyPending(this.path, this.real);
  }

  async truncate(length: number): Promise<void> {
    this.io.checkAlive();
    this.io.release(this.path, length);
    this.io.opsFor(this.path).push({ kind: 'truncate', length });
  }

  async size(): Promise<number> {
    this.io.checkAlive();
    return this.io.visibleSize(this.path, this.real);
  }

  async close(): Promise<void> {
    // Closing does not make anything durable; pending ops stay with the path.
    this.io.closed(this.real);
    await this.real.close();
  }
}
