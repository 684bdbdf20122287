/**
 * One index file in RocketMQ's layout (apache/rocketmq index/IndexFile.java,
 * IndexHeader.java):
 *
 *   header  40 bytes: int64 beginTimestamp, int64 endTimestamp, int64 beginPhyOffset,
 *                     int64 endPhyOffset, int32 hashSlotCount, int32 indexCount
 *   slots   maxHashSlotNum x int32: number of the newest entry of that slot (0 = empty)
 *   entries maxIndexNum x 20 bytes: int32 keyHash, int64 commitLogOffset,
 *                     int32 timeDiff (seconds after beginTimestamp), int32 prevIndex
 *
 * Entry 0 is never used (indexCount starts at 1), so a full file holds maxIndexNum - 1 entries.
 *
 * The file is created sparse at its full size (420,000,040 bytes by default) and never held in
 * memory whole. While a file is being written we keep its slot table (20 MB by default) and the
 * entries not yet on disk in memory: putKey is a few buffer writes, and flush() writes the new
 * entries, then the changed slot pages, then the header, each followed by a datasync. That order
 * means a slot on disk never points at an entry that is not, and the header never counts entries
 * that are not; open() repairs slots that point past the header's indexCount.
 */
import path from 'node:path';
import { CorruptStoreError } from '../../errors/index.js';
import { readInt64, writeInt64 } from '../../protocol/long.js';
import type { FileHandle, FileIO } from './file-io.js';

const INDEX_HEADER_SIZE_BYTES = 40;
const INDEX_SLOT_SIZE_BYTES = 4;
const INDEX_ENTRY_SIZE_BYTES = 20;
const INT_MAX = 2147483647;

/** Slot pages tracked dirty at 4 KiB granularity (1024 slots), the size of a page the OS writes. */
const SLOT_PAGE_BYTES = 4096;
/** Initial room for unflushed entries; doubles as needed. */
const MIN_PENDING_ENTRIES = 1024;

export interface IndexGeometry {
  maxHashSlotNum: number;
  maxIndexNum: number;
}

export interface IndexHeader {
  beginTimestamp: number;
  endTimestamp: number;
  beginPhyOffset: number;
  endPhyOffset: number;
  hashSlotCount: number;
  indexCount: number;
}

interface IndexEntry {
  keyHash: number;
  commitLogOffset: number;
  timeDiffSeconds: number;
  prevIndex: number;
}

export function indexFileSizeBytes(g: IndexGeometry): number {
  return INDEX_HEADER_SIZE_BYTES + g.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES + g.maxIndexNum * INDEX_ENTRY_SIZE_BYTES;
}

export function validateIndexGeometry(g: IndexGeometry): void {
  if (!Number.isSafeInteger(g.maxHashSlotNum) || g.maxHashSlotNum < 1 || g.maxHashSlotNum > INT_MAX) {
    throw new Error(`maxHashSlotNum must be an integer in [1, ${INT_MAX}] (got ${g.maxHashSlotNum})`);
  }
  // Entry numbers are int32 and entry 0 is unused, so at least 2.
  if (!Number.isSafeInteger(g.maxIndexNum) || g.maxIndexNum < 2 || g.maxIndexNum > INT_MAX) {
    throw new Error(`maxIndexNum must be an integer in [2, ${INT_MAX}] (got ${g.maxIndexNum})`);
  }
}

function encodeIndexHeader(h: IndexHeader): Buffer {
  const b = Buffer.alloc(INDEX_HEADER_SIZE_BYTES);
  writeInt64(b, h.beginTimestamp, 0);
  writeInt64(b, h.endTimestamp, 8);
  writeInt64(b, h.beginPhyOffset, 16);
  writeInt64(b, h.endPhyOffset, 24);
  b.writeInt32BE(h.hashSlotCount, 32);
  b.writeInt32BE(h.indexCount, 36);
  return b;
}

/** As IndexHeader.load: an indexCount below 1 (never written) reads as 1. */
export function decodeIndexHeader(b: Buffer): IndexHeader {
  return {
    beginTimestamp: readInt64(b, 0),
    endTimestamp: readInt64(b, 8),
    beginPhyOffset: readInt64(b, 16),
    endPhyOffset: readInt64(b, 24),
    hashSlotCount: b.readInt32BE(32),
    indexCount: Math.max(1, b.readInt32BE(36)),
  };
}

function encodeIndexEntry(e: IndexEntry, b: Buffer = Buffer.alloc(INDEX_ENTRY_SIZE_BYTES), pos = 0): Buffer {
  b.writeInt32BE(e.keyHash, pos);
  writeInt64(b, e.commitLogOffset, pos + 4);
  b.writeInt32BE(e.timeDiffSeconds, pos + 12);
  b.writeInt32BE(e.prevIndex, pos + 16);
  return b;
}

export function decodeIndexEntry(b: Buffer, pos = 0): IndexEntry {
  return {
    keyHash: b.readInt32BE(pos),
    commitLogOffset: readInt64(b, pos + 4),
    timeDiffSeconds: b.readInt32BE(pos + 12),
    prevIndex: b.readInt32BE(pos + 16),
  };
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** `yyyyMMddHHmmssSSS` in local time, as UtilAll.timeMillisToHumanString (the file's creation time). */
export function indexFileName(ms: number): string {
  const d = new Date(ms);
  return (
    pad(d.getFullYear(), 4) +
    pad(d.getMonth() + 1, 2) +
    pad(d.getDate(), 2) +
    pad(d.getHours(), 2) +
    pad(d.getMinutes(), 2) +
    pad(d.getSeconds(), 2) +
    pad(d.getMilliseconds(), 3)
  );
}

export const INDEX_FILE_NAME_PATTERN = /^\d{17}$/;

/** Inverse of indexFileName (local time); undefined if the name is not one. */
export function parseIndexFileName(name: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})$/.exec(name);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
}

export class IndexFile {
  readonly path: string;
  private readonly hdr: IndexHeader;
  /** Slot table as on disk (big-endian int32s); present while the file is written or dirty. */
  private slots: Buffer | null = null;
  private readonly dirtyPage: Uint8Array;
  private dirtyPages: number[] = [];
  /** Entries [pendingBase, indexCount) live in `pending`; entries below are on disk. */
  private pending: Buffer = Buffer.alloc(0);
  private pendingBase: number;
  private fh: FileHandle | null = null;
  /** The file exists on disk at its full size. */
  private onDisk: boolean;
  /** The header bytes last written (skip rewriting an unchanged header). */
  private headerOnDisk: Buffer | null;
  private active = false;
  private destroyed = false;

  private constructor(
    private readonly io: FileIO,
    readonly dir: string,
    readonly name: string,
    readonly geometry: IndexGeometry,
    header: IndexHeader,
    onDisk: boolean,
    headerOnDisk: Buffer | null,
  ) {
    this.path = path.join(dir, name);
    this.hdr = header;
    this.pendingBase = header.indexCount;
    this.onDisk = onDisk;
    this.headerOnDisk = headerOnDisk;
    this.dirtyPage = new Uint8Array(Math.ceil((geometry.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES) / SLOT_PAGE_BYTES));
  }

  /**
   * A new, empty file in memory (created on disk by the first flush). As IndexFile's constructor,
   * it starts at the previous file's end so endPhyOffset never goes backwards.
   */
  static create(io: FileIO, dir: string, name: string, g: IndexGeometry, prevEnd?: { phyOffset: number; timestampMs: number }): IndexFile {
    validateIndexGeometry(g);
    const h: IndexHeader = {
      beginTimestamp: Math.max(0, prevEnd?.timestampMs ?? 0),
      endTimestamp: Math.max(0, prevEnd?.timestampMs ?? 0),
      beginPhyOffset: Math.max(0, prevEnd?.phyOffset ?? 0),
      endPhyOffset: Math.max(0, prevEnd?.phyOffset ?? 0),
      hashSlotCount: 0,
      indexCount: 1,
    };
    const f = new IndexFile(io, dir, name, g, h, false, null);
    f.activate();
    return f;
  }

  /** Open an existing file (header only; call loadForWriting() to make it the active file). */
  static async open(io: FileIO, dir: string, name: string, g: IndexGeometry): Promise<IndexFile> {
    validateIndexGeometry(g);
    const p = path.join(dir, name);
    const fh = await io.open(p, 'r+');
    try {
      const size = await fh.size();
      const raw = Buffer.alloc(INDEX_HEADER_SIZE_BYTES);
      const n = await fh.read(raw, 0, INDEX_HEADER_SIZE_BYTES, 0);
      const header = decodeIndexHeader(raw);
      const expected = indexFileSizeBytes(g);
      const empty = n < INDEX_HEADER_SIZE_BYTES || header.indexCount <= 1;
      if (size > expected || (size < expected && !empty)) {
        throw new CorruptStoreError(
          `index file ${p} has ${size} bytes but maxHashSlotNum=${g.maxHashSlotNum}, maxIndexNum=${g.maxIndexNum} make ${expected} (geometry changed?); remove ${dir} to rebuild the index from the commit log`,
        );
      }
      if (header.indexCount > g.maxIndexNum) throw new CorruptStoreError(`index file ${p}: header indexCount ${header.indexCount} exceeds maxIndexNum ${g.maxIndexNum}`);
      if (n < INDEX_HEADER_SIZE_BYTES) raw.fill(0);
      const f = new IndexFile(io, dir, name, g, header, size === expected, Buffer.from(raw));
      f.fh = fh;
      return f;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get header(): Readonly<IndexHeader> {
    return this.hdr;
  }

  isFull(): boolean {
    return this.hdr.indexCount >= this.geometry.maxIndexNum;
  }

  isActive(): boolean {
    return this.active;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }

  private activate(): void {
    this.active = true;
    if (this.slots === null) this.slots = Buffer.alloc(this.geometry.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES);
  }

  /** The service rolled to a new file: memory is released once everything is flushed. */
  deactivate(): void {
    this.active = false;
  }

  /**
   * Make a loaded file the one written to: read its slot table and repair slots that point past
   * the header's indexCount (slots flushed, header not): follow the on-disk chain back to the
   * newest entry the header covers. Returns the number of slots repaired.
   */
  async loadForWriting(prevEnd?: { phyOffset: number; timestampMs: number }): Promise<number> {
    const fh = this.handle();
    const slots = Buffer.alloc(this.geometry.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES);
    await fh.read(slots, 0, slots.length, INDEX_HEADER_SIZE_BYTES);
    this.slots = slots;
    this.active = true;
    // A header never written (crash right after the file was created): begin where the previous file ended.
    if (this.hdr.indexCount <= 1 && this.hdr.endPhyOffset === 0 && prevEnd !== undefined) {
      this.hdr.beginTimestamp = this.hdr.endTimestamp = Math.max(0, prevEnd.timestampMs);
      this.hdr.beginPhyOffset = this.hdr.endPhyOffset = Math.max(0, prevEnd.phyOffset);
    }
    const count = this.hdr.indexCount;
    let repaired = 0;
    for (let slot = 0; slot < this.geometry.maxHashSlotNum; slot++) {
      let v = slots.readInt32BE(slot * INDEX_SLOT_SIZE_BYTES);
      if (v >= 0 && v < count) continue;
      // Entries on disk are synced before the slots that point at them: walk back. prev < v
      // each step, so this ends within v steps.
      for (let guard = 0; v >= count && guard < this.geometry.maxIndexNum; guard++) {
        const prev = v < this.geometry.maxIndexNum ? (await this.readEntryFromDisk(v)).prevIndex : 0;
        v = prev >= 0 && prev < v ? prev : 0;
      }
      if (v < 0) v = 0;
      slots.writeInt32BE(v, slot * INDEX_SLOT_SIZE_BYTES);
      this.markDirty(slot);
      repaired++;
    }
    return repaired;
  }

  private handle(): FileHandle {
    if (this.fh === null) throw new Error(`index file ${this.path} is not open`);
    return this.fh;
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Add one key (IndexFile.putKey). Returns false when the file is full. `keyHash` is
   * indexKeyHash(topic#key). Unlike Java, the first entry's time difference is taken after
   * beginTimestamp is set to its own store time (Java computes it against the previous file's
   * end, so the first entry of a rolled file could read a few seconds late).
   */
  putKey(keyHash: number, commitLogOffset: number, storeTimestampMs: number): boolean {
    const h = this.hdr;
    if (h.indexCount >= this.geometry.maxIndexNum) return false;
    if (this.slots === null) throw new Error(`index file ${this.name} is not writable`);
    const slot = keyHash % this.geometry.maxHashSlotNum;
    let prev = this.slots.readInt32BE(slot * INDEX_SLOT_SIZE_BYTES);
    if (prev <= 0 || prev > h.indexCount) prev = 0;
    if (h.indexCount <= 1) {
      h.beginPhyOffset = commitLogOffset;
      h.beginTimestamp = storeTimestampMs;
    }
    let diffSeconds = h.beginTimestamp <= 0 ? 0 : Math.trunc((storeTimestampMs - h.beginTimestamp) / 1000);
    diffSeconds = Math.min(INT_MAX, Math.max(0, diffSeconds));
    const index = h.indexCount;
    const at = this.pendingSlotFor(index);
    encodeIndexEntry({ keyHash, commitLogOffset, timeDiffSeconds: diffSeconds, prevIndex: prev }, this.pending, at);
    this.slots.writeInt32BE(index, slot * INDEX_SLOT_SIZE_BYTES);
    this.markDirty(slot);
    if (prev === 0) h.hashSlotCount++;
    h.indexCount++;
    h.endPhyOffset = commitLogOffset;
    h.endTimestamp = storeTimestampMs;
    return true;
  }

  /** Byte position in `pending` for entry `index`, growing the buffer as needed. */
  private pendingSlotFor(index: number): number {
    const at = (index - this.pendingBase) * INDEX_ENTRY_SIZE_BYTES;
    if (at + INDEX_ENTRY_SIZE_BYTES > this.pending.length) {
      const cap = Math.max(MIN_PENDING_ENTRIES * INDEX_ENTRY_SIZE_BYTES, this.pending.length * 2);
      const next = Buffer.alloc(cap);
      this.pending.copy(next, 0, 0, at);
      this.pending = next;
    }
    return at;
  }

  private markDirty(slot: number): void {
    const page = Math.floor((slot * INDEX_SLOT_SIZE_BYTES) / SLOT_PAGE_BYTES);
    if (this.dirtyPage[page] === 0) {
      this.dirtyPage[page] = 1;
      this.dirtyPages.push(page);
    }
  }

  // ---- reads -------------------------------------------------------------------------------

  /** IndexFile.isTimeMatched: the file's time span overlaps [beginMs, endMs]. */
  isTimeMatched(beginMs: number, endMs: number): boolean {
    const b = this.hdr.beginTimestamp;
    const e = this.hdr.endTimestamp;
    return (beginMs < b && endMs > e) || (beginMs >= b && beginMs <= e) || (endMs >= b && endMs <= e);
  }

  /**
   * Walk the slot chain for `keyHash` newest first (IndexFile.selectPhyOffset), adding offsets
   * of entries with the same hash and a time in [beginMs, endMs] to `out` (skipping offsets in
   * `seen`), until `out` has maxNum. Keys are not stored, so different keys with the same hash
   * are all returned: the caller re-checks the message's keys.
   */
  async select(out: number[], seen: Set<number>, keyHash: number, maxNum: number, beginMs: number, endMs: number): Promise<void> {
    const count = this.hdr.indexCount;
    if (count <= 1 || this.destroyed) return;
    let next = await this.readSlot(keyHash % this.geometry.maxHashSlotNum);
    if (next <= 0 || next >= count) return;
    // prev < next on every step, so the walk ends within `count` steps.
    for (let guard = 0; guard < count && out.length < maxNum; guard++) {
      const e = await this.readEntry(next);
      if (e.timeDiffSeconds < 0) break;
      const timeMs = this.hdr.beginTimestamp + e.timeDiffSeconds * 1000;
      if (e.keyHash === keyHash && timeMs >= beginMs && timeMs <= endMs && !seen.has(e.commitLogOffset)) {
        seen.add(e.commitLogOffset);
        out.push(e.commitLogOffset);
      }
      if (e.prevIndex <= 0 || e.prevIndex >= next || timeMs < beginMs) break;
      next = e.prevIndex;
    }
  }

  private async readSlot(slot: number): Promise<number> {
    if (this.slots !== null) return this.slots.readInt32BE(slot * INDEX_SLOT_SIZE_BYTES);
    const b = Buffer.alloc(INDEX_SLOT_SIZE_BYTES);
    await this.handle().read(b, 0, b.length, INDEX_HEADER_SIZE_BYTES + slot * INDEX_SLOT_SIZE_BYTES);
    return b.readInt32BE(0);
  }

  private async readEntry(index: number): Promise<IndexEntry> {
    // Read `pending` and `pendingBase` together, before any await: a flush may swap them.
    if (index >= this.pendingBase) return decodeIndexEntry(this.pending, (index - this.pendingBase) * INDEX_ENTRY_SIZE_BYTES);
    return this.readEntryFromDisk(index);
  }

  private async readEntryFromDisk(index: number): Promise<IndexEntry> {
    const b = Buffer.alloc(INDEX_ENTRY_SIZE_BYTES);
    const pos = INDEX_HEADER_SIZE_BYTES + this.geometry.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES + index * INDEX_ENTRY_SIZE_BYTES;
    const n = await this.handle().read(b, 0, b.length, pos);
    if (n < b.length) b.fill(0, n);
    return decodeIndexEntry(b);
  }

  // ---- disk --------------------------------------------------------------------------------

  needsFlush(): boolean {
    return !this.onDisk || this.pendingBase < this.hdr.indexCount || this.dirtyPages.length > 0 || !this.headerMatchesDisk();
  }

  private headerMatchesDisk(): boolean {
    return this.headerOnDisk !== null && this.headerOnDisk.equals(encodeIndexHeader(this.hdr));
  }

  /**
   * Entries, then slot pages, then header, each made durable before the next is written (see the
   * file comment). Everything is snapshotted before the first await, so puts may continue.
   * The caller serializes flushes of one file.
   */
  async flush(): Promise<void> {
    if (this.destroyed || !this.needsFlush()) return;
    const entriesFrom = this.pendingBase;
    const entriesTo = this.hdr.indexCount;
    const entries = Buffer.from(this.pending.subarray(0, (entriesTo - entriesFrom) * INDEX_ENTRY_SIZE_BYTES));
    const pages = this.dirtyPages.sort((a, b) => a - b);
    this.dirtyPages = [];
    for (const p of pages) this.dirtyPage[p] = 0;
    const slotRuns = this.slotRuns(pages);
    const header = encodeIndexHeader(this.hdr);
    try {
      await this.ensureOnDisk();
      const fh = this.handle();
      const slotTableBytes = this.geometry.maxHashSlotNum * INDEX_SLOT_SIZE_BYTES;
      if (entries.length > 0) {
        await fh.write(entries, 0, entries.length, INDEX_HEADER_SIZE_BYTES + slotTableBytes + entriesFrom * INDEX_ENTRY_SIZE_BYTES);
        await fh.datasync();
      }
      if (slotRuns.length > 0) {
        for (const run of slotRuns) await fh.write(run.data, 0, run.data.length, INDEX_HEADER_SIZE_BYTES + run.offsetBytes);
        await fh.datasync();
      }
      if (this.headerOnDisk === null || !this.headerOnDisk.equals(header)) {
        await fh.write(header, 0, header.length, 0);
        await fh.datasync();
        this.headerOnDisk = header;
      }
    } catch (err) {
      for (const p of pages) this.markDirtyPage(p);
      throw err;
    }
    // Entries below entriesTo are on disk now: drop them from memory.
    const keep = this.pending.subarray((entriesTo - entriesFrom) * INDEX_ENTRY_SIZE_BYTES, (this.hdr.indexCount - entriesFrom) * INDEX_ENTRY_SIZE_BYTES);
    this.pending = Buffer.from(keep);
    this.pendingBase = entriesTo;
    if (!this.active && !this.needsFlush()) {
      // A rolled file that is fully on disk reads its slots from disk from now on.
      this.slots = null;
      this.pending = Buffer.alloc(0);
    }
  }

  private markDirtyPage(page: number): void {
    if (this.dirtyPage[page] === 0) {
      this.dirtyPage[page] = 1;
      this.dirtyPages.push(page);
    }
  }

  /** Copies of the dirty slot pages, consecutive pages merged into one write. */
  private slotRuns(pages: number[]): Array<{ offsetBytes: number; data: Buffer }> {
    const slots = this.slots;
    if (slots === null || pages.length === 0) return [];
    const runs: Array<{ offsetBytes: number; data: Buffer }> = [];
    let i = 0;
    while (i < pages.length) {
      let j = i;
      while (j + 1 < pages.length && pages[j + 1] === pages[j]! + 1) j++;
      const from = pages[i]! * SLOT_PAGE_BYTES;
      const to = Math.min(slots.length, (pages[j]! + 1) * SLOT_PAGE_BYTES);
      runs.push({ offsetBytes: from, data: Buffer.from(slots.subarray(from, to)) });
      i = j + 1;
    }
    return runs;
  }

  private async ensureOnDisk(): Promise<void> {
    if (this.onDisk && this.fh !== null) return;
    let created = false;
    if (this.fh === null) {
      await this.io.mkdirp(this.dir);
      created = !(await this.io.exists(this.path));
      this.fh = await this.io.open(this.path, 'w+');
    }
    const size = indexFileSizeBytes(this.geometry);
    // Sparse: only the pages we write take disk space.
    if ((await this.fh.size()) < size) await this.fh.truncate(size);
    if (created) await this.io.fsyncDir(this.dir);
    this.onDisk = true;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh !== null) await fh.close();
  }

  /** Close and delete the file (expired, or past a torn rollover). */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.close();
    try {
      await this.io.unlink(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
