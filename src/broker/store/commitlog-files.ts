/**
 * The local commit log's files as recovery reads them: segment names, a windowed reader, and the
 * validating scan (apache/rocketmq CommitLog#recoverNormally / #recoverAbnormally check each
 * record with CommitLog#checkMessageAndReturnSize, 4.9.8). `CommitLog` exposes these through
 * `CommitLogService`; nothing else opens segment files.
 */
import path from 'node:path';
import { BLANK_MAGIC_CODE, decodeRecord, isMessageMagic, MIN_RECORD_BYTES, RecordFormatError, recordStoreTimestamp, type MessageRecord } from '../../protocol/message.js';
import type { ScanOutcome, TruncateReason } from './commitlog-service.js';
import type { FileHandle, FileIO } from './file-io.js';

export const COMMITLOG_DIR = 'commitlog';
/** A record must leave room for the 8-byte end-of-file BLANK (CommitLog.END_FILE_MIN_BLANK_LENGTH). */
export const END_FILE_MIN_BLANK_BYTES = 8;
/** Reads while scanning. */
const SCAN_WINDOW_BYTES = 4 * 1024 * 1024;
/** When looking for what lies past the end, this many zero bytes in a row end the search. */
const ZERO_RUN_BYTES = 64 * 1024;

/** A segment's file name: its start offset in 20 digits (UtilAll#offset2FileName). */
export function segmentFileName(startOffset: number): string {
  return String(startOffset).padStart(20, '0');
}

function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Sequential, windowed reader over one segment file. */
class SegmentReader {
  private win = Buffer.alloc(0);
  private winPos = 0;
  private winLen = 0;

  constructor(
    private readonly h: FileHandle,
    private readonly segmentBytes: number,
  ) {}

  /** Make [pos, pos+n) readable; returns the window and the index of pos, or undefined past EOF. */
  async view(pos: number, n: number): Promise<{ buf: Buffer; at: number } | undefined> {
    if (pos + n > this.segmentBytes) return undefined;
    if (pos < this.winPos || pos + n > this.winPos + this.winLen) {
      const len = Math.min(Math.max(SCAN_WINDOW_BYTES, n), this.segmentBytes - pos);
      if (this.win.length < len) this.win = Buffer.alloc(len);
      this.winLen = await this.h.read(this.win, 0, len, pos);
      this.winPos = pos;
      if (pos + n > this.winPos + this.winLen) return undefined;
    }
    return { buf: this.win, at: pos - this.winPos };
  }
}

/** The segment files of one commit log directory. */
export interface SegmentFiles {
  io: FileIO;
  dir: string;
  segmentBytes: number;
}

async function withSegment<T>(files: SegmentFiles, start: number, fn: (h: FileHandle) => Promise<T>): Promise<T> {
  const h = await files.io.open(path.join(files.dir, segmentFileName(start)), 'r');
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

/**
 * Offset just past the last non-zero byte of segment `start` from `fromOffset` on, searching until
 * ZERO_RUN_BYTES of zeros in a row (or the end of the file). Equals `fromOffset` when nothing follows.
 */
export async function dataExtent(files: SegmentFiles, start: number, fromOffset: number): Promise<number> {
  const { segmentBytes } = files;
  const fromPos = Math.max(0, fromOffset - start);
  const extent = await withSegment(files, start, async (h) => {
    const block = Buffer.alloc(ZERO_RUN_BYTES);
    let end = fromPos;
    for (let pos = fromPos; pos < segmentBytes; pos += ZERO_RUN_BYTES) {
      const n = await h.read(block, 0, Math.min(ZERO_RUN_BYTES, segmentBytes - pos), pos);
      if (n === 0) break;
      let last = -1;
      for (let i = n - 1; i >= 0; i--) {
        if (block[i] !== 0) {
          last = i;
          break;
        }
      }
      if (last < 0) break;
      end = pos + last + 1;
    }
    return end;
  });
  return start + extent;
}

/** Store time of segment `start`'s first record, or undefined when it does not start with one. */
export async function firstStoreTimestamp(files: SegmentFiles, start: number): Promise<number | undefined> {
  return withSegment(files, start, async (h) => {
    const reader = new SegmentReader(h, files.segmentBytes);
    const head = await reader.view(0, 8);
    if (!head) return undefined;
    const size = head.buf.readInt32BE(head.at);
    if (!isMessageMagic(head.buf.readInt32BE(head.at + 4)) || size < MIN_RECORD_BYTES || size > files.segmentBytes) return undefined;
    const whole = await reader.view(0, size);
    if (!whole) return undefined;
    try {
      decodeRecord(whole.buf, whole.at);
    } catch {
      return undefined;
    }
    return recordStoreTimestamp(whole.buf, whole.at);
  });
}

/**
 * Scan the segments `segmentStarts[fromIndex..]` in order, stopping at the first record that is not
 * whole and valid; `onRecord` sees each valid record (its body a view into a reused window).
 */
export async function scanSegments(files: SegmentFiles, segmentStarts: readonly number[], fromIndex: number, checkCrc: boolean, onRecord: (rec: MessageRecord) => void): Promise<ScanOutcome> {
  const { segmentBytes } = files;
  const out: ScanOutcome = { end: segmentStarts[fromIndex] ?? 0, lastStoreTimestamp: 0, recordsScanned: 0, problem: null };
  for (let idx = fromIndex; idx < segmentStarts.length; idx++) {
    const segStart = segmentStarts[idx]!;
    const stop = await withSegment(files, segStart, async (h) => {
      const reader = new SegmentReader(h, segmentBytes);
      // Bounded: every iteration advances pos by >= MIN_RECORD_BYTES or returns.
      for (let pos = 0; pos < segmentBytes; ) {
        const offset = segStart + pos;
        out.end = offset;
        const head = await reader.view(pos, END_FILE_MIN_BLANK_BYTES);
        if (!head) {
          out.problem = { offset, reason: 'bad-size', detail: `segment ends ${segmentBytes - pos} bytes after the last record, leaving no room for an end-of-file marker` };
          return true;
        }
        const size = head.buf.readInt32BE(head.at);
        const magic = head.buf.readInt32BE(head.at + 4);
        if (size === 0 && magic === 0) return true; // end of data (checked for holes by the caller)
        if (magic === BLANK_MAGIC_CODE) {
          if (size !== segmentBytes - pos) {
            out.problem = { offset, reason: 'bad-blank', detail: `end-of-file marker says ${size} bytes remain, but ${segmentBytes - pos} do` };
            return true;
          }
          // RocketMQ leaves the log end at a trailing BLANK when no later segment exists.
          return idx === segmentStarts.length - 1;
        }
        if (!isMessageMagic(magic)) {
          out.problem = { offset, reason: 'bad-magic', detail: `magic code 0x${(magic >>> 0).toString(16)} is neither a message nor an end-of-file marker` };
          return true;
        }
        if (size < MIN_RECORD_BYTES || pos + size + END_FILE_MIN_BLANK_BYTES > segmentBytes) {
          out.problem = { offset, reason: 'bad-size', detail: `record size ${size} is impossible here (${segmentBytes - pos} bytes left in the segment)` };
          return true;
        }
        const whole = await reader.view(pos, size);
        if (!whole) {
          out.problem = { offset, reason: 'torn', detail: `record of ${size} bytes runs past the end of the file` };
          return true;
        }
        let rec: MessageRecord;
        try {
          rec = decodeRecord(whole.buf, whole.at, { checkCrc, copyBody: false });
        } catch (err) {
          if (!(err instanceof RecordFormatError)) throw err;
          // A write cut short leaves the record's tail zero; otherwise the bytes themselves changed.
          const torn = isZero(whole.buf, whole.at + size - 8, whole.at + size);
          const reason: TruncateReason = torn ? 'torn' : /CRC/.test(err.message) ? 'bad-crc' : 'bad-format';
          out.problem = { offset, reason, detail: `${torn ? 'incomplete record: ' : ''}${err.message}` };
          return true;
        }
        if (rec.commitLogOffset !== offset) {
          out.problem = { offset, reason: 'bad-offset', detail: `record claims physical offset ${rec.commitLogOffset}` };
          return true;
        }
        onRecord(rec);
        out.recordsScanned++;
        out.lastStoreTimestamp = rec.storeTimestamp;
        pos += size;
        out.end = segStart + pos;
      }
      return false;
    });
    if (stop) return out;
    out.end = segStart + segmentBytes;
  }
  return out;
}
