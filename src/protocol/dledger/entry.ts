/**
 * DLedger's on-disk entry and index unit (openmessaging/dledger 0.3.1.2, the version apache/rocketmq
 * 4.9.8 runs): DLedgerEntry (field order, HEADER_SIZE, BODY_OFFSET), DLedgerEntryCoder#encode /
 * #encodeIndex / #decode (byte layout), DLedgerMmapFileStore (MAGIC_1, INDEX_UNIT_SIZE) and
 * MmapFileList (BLANK_MAGIC_CODE, MIN_BLANK_LEN). All integers big-endian (java.nio.ByteBuffer).
 *
 *   entry:  magic i32 | size i32 | index i64 | term i64 | pos i64 | channel i32 | chainCrc i32 |
 *           bodyCrc i32 | bodyLen i32 | body                        (size = 48 + bodyLen)
 *   index:  magic i32 | pos i64 | size i32 | index i64 | term i64   (32 bytes, at index * 32)
 *
 * CRCs: at 0.3.1.2 nothing computes `chainCrc` or `bodyCrc` (no caller of setChainCrc/setBodyCrc
 * outside the coder) and recovery checks neither, so Apache nodes write 0 in both. We keep
 * `chainCrc` 0 (DLedger never defined how to chain it) and fill `bodyCrc` with the commit log's
 * body CRC (CRC32 & 0x7FFFFFFF, apache/rocketmq UtilAll#crc32) so our recovery can find a torn
 * body, which DLedger's header checks alone cannot (files are preallocated zeros). 0 means "not
 * computed" and is not checked: entries replicated from Apache nodes carry 0. DLedgerEntry#equals
 * ignores both CRCs, so the value never makes two nodes disagree about an entry.
 */
import { bodyCrc } from '../hash.js';
import { readInt64, writeInt64 } from '../long.js';

/** DLedgerMmapFileStore.MAGIC_1 = CURRENT_MAGIC. */
export const DLEDGER_MAGIC = 1;
/** MmapFileList.BLANK_MAGIC_CODE: the rest of a data file is filler, the next entry starts the next file. */
export const BLANK_MAGIC_CODE = -1;
/** MmapFileList.MIN_BLANK_LEN: an entry must leave room for a blank's magic and size. */
export const MIN_BLANK_LEN = 8;
/** DLedgerEntry.POS_OFFSET: where `pos` sits in the header. */
export const POS_OFFSET = 24;
/** DLedgerEntry.HEADER_SIZE (without the body length). */
export const HEADER_SIZE = 44;
/** DLedgerEntry.BODY_OFFSET: header plus body length; RocketMQ's PHYSICALOFFSET is pos + this. */
export const BODY_OFFSET = 48;
/** DLedgerMmapFileStore.INDEX_UNIT_SIZE. */
export const INDEX_UNIT_SIZE = 32;

export interface DLedgerEntry {
  magic: number;
  /** Whole entry in bytes: BODY_OFFSET + body.length (DLedgerEntry#computeSizeInBytes). */
  size: number;
  index: number;
  term: number;
  /** Byte position of the entry in the data file list. */
  pos: number;
  /** Reserved; 0. */
  channel: number;
  chainCrc: number;
  bodyCrc: number;
  body: Buffer;
}

export interface IndexUnit {
  magic: number;
  pos: number;
  size: number;
  index: number;
  term: number;
}

export class EntryFormatError extends Error {}

/** The body CRC we store (see the file comment). A body whose CRC is 0 simply goes unchecked. */
export function entryBodyCrc(body: Uint8Array): number {
  return bodyCrc(body);
}

/** A body CRC of 0 was not computed (DLedger 0.3.1.2 writes 0); anything else must match. */
export function bodyCrcMatches(e: Pick<DLedgerEntry, 'bodyCrc' | 'body'>): boolean {
  return e.bodyCrc === 0 || e.bodyCrc === entryBodyCrc(e.body);
}

/** DLedgerEntryCoder#encode: the entry's bytes; `size` is recomputed from the body as Java does. */
export function encodeEntry(e: DLedgerEntry): Buffer {
  const buf = Buffer.allocUnsafe(BODY_OFFSET + e.body.length);
  writeEntryHeader(buf, 0, { ...e, size: buf.length }, e.body.length);
  e.body.copy(buf, BODY_OFFSET);
  return buf;
}

/** The 48 header bytes at `at` (body length last). */
export function writeEntryHeader(buf: Buffer, at: number, e: Omit<DLedgerEntry, 'body'>, bodyLen: number): void {
  buf.writeInt32BE(e.magic, at);
  buf.writeInt32BE(e.size, at + 4);
  writeInt64(buf, e.index, at + 8);
  writeInt64(buf, e.term, at + 16);
  writeInt64(buf, e.pos, at + POS_OFFSET);
  buf.writeInt32BE(e.channel, at + 32);
  buf.writeInt32BE(e.chainCrc, at + 36);
  buf.writeInt32BE(e.bodyCrc, at + 40);
  buf.writeInt32BE(bodyLen, at + HEADER_SIZE);
}

export interface EntryHeader extends Omit<DLedgerEntry, 'body'> {
  bodyLen: number;
}

/** The header at `at`; throws EntryFormatError when fewer than 48 bytes are there. */
export function readEntryHeader(buf: Buffer, at = 0): EntryHeader {
  if (buf.length - at < BODY_OFFSET) throw new EntryFormatError(`entry header needs ${BODY_OFFSET} bytes, ${buf.length - at} there`);
  return {
    magic: buf.readInt32BE(at),
    size: buf.readInt32BE(at + 4),
    index: readInt64(buf, at + 8),
    term: readInt64(buf, at + 16),
    pos: readInt64(buf, at + POS_OFFSET),
    channel: buf.readInt32BE(at + 32),
    chainCrc: buf.readInt32BE(at + 36),
    bodyCrc: buf.readInt32BE(at + 40),
    bodyLen: buf.readInt32BE(at + HEADER_SIZE),
  };
}

/**
 * DLedgerEntryCoder#decode, stricter: the header's size must be BODY_OFFSET + bodyLen (the check
 * DLedgerMmapFileStore#recover makes) and the whole body must be there. The body is copied.
 */
export function decodeEntry(buf: Buffer, at = 0): DLedgerEntry {
  const h = readEntryHeader(buf, at);
  if (h.bodyLen < 0 || h.size !== BODY_OFFSET + h.bodyLen) throw new EntryFormatError(`entry size ${h.size} != ${BODY_OFFSET} + body ${h.bodyLen}`);
  if (buf.length - at < h.size) throw new EntryFormatError(`entry of ${h.size} bytes, ${buf.length - at} there`);
  const { bodyLen: _bodyLen, ...fields } = h;
  return { ...fields, body: Buffer.from(buf.subarray(at + BODY_OFFSET, at + h.size)) };
}

/** DLedgerEntryCoder#encodeIndex. */
export function encodeIndexUnit(u: IndexUnit, buf: Buffer = Buffer.alloc(INDEX_UNIT_SIZE), at = 0): Buffer {
  buf.writeInt32BE(u.magic, at);
  writeInt64(buf, u.pos, at + 4);
  buf.writeInt32BE(u.size, at + 12);
  writeInt64(buf, u.index, at + 16);
  writeInt64(buf, u.term, at + 24);
  return buf;
}

/** The index unit at `at` (as DLedgerMmapFileStore#get and #recover read it). */
export function decodeIndexUnit(buf: Buffer, at = 0): IndexUnit {
  if (buf.length - at < INDEX_UNIT_SIZE) throw new EntryFormatError(`index unit needs ${INDEX_UNIT_SIZE} bytes, ${buf.length - at} there`);
  return {
    magic: buf.readInt32BE(at),
    pos: readInt64(buf, at + 4),
    size: buf.readInt32BE(at + 12),
    index: readInt64(buf, at + 16),
    term: readInt64(buf, at + 24),
  };
}

/** The index unit describing `e` (DLedgerMmapFileStore#appendAsLeader writes it after the data). */
export function indexUnitOf(e: Pick<DLedgerEntry, 'magic' | 'pos' | 'size' | 'index' | 'term'>): IndexUnit {
  return { magic: e.magic, pos: e.pos, size: e.size, index: e.index, term: e.term };
}

/** DLedgerEntry#equals: everything but the CRCs. */
export function sameEntry(a: DLedgerEntry, b: DLedgerEntry): boolean {
  return a.size === b.size && a.magic === b.magic && a.index === b.index && a.term === b.term && a.channel === b.channel && a.pos === b.pos && a.body.equals(b.body);
}
