import { isIPv4, isIPv6 } from 'node:net';
import { bodyCrc } from './hash.js';
import { readInt64, writeInt64 } from './long.js';

/**
 * The stored message record: a commit log entry, and an element of PULL/QUERY/VIEW bodies
 * (apache/rocketmq MessageDecoder, CommitLog.calMsgLength). Big-endian; topic length is one signed byte, properties length a signed short.
 */

const MESSAGE_MAGIC_CODE = -626843481; // 0xDAA320A7
const MESSAGE_MAGIC_CODE_V2 = -626843477; // 0xDAA320AB (5.x, int16 topic length): read only
export const BLANK_MAGIC_CODE = -875286124; // 0xCBD43194, end-of-file filler

export const SysFlag = {
  COMPRESSED: 0x1,
  MULTI_TAGS: 0x2,
  TRANSACTION_NOT_TYPE: 0x0,
  TRANSACTION_PREPARED_TYPE: 0x4,
  TRANSACTION_COMMIT_TYPE: 0x8,
  TRANSACTION_ROLLBACK_TYPE: 0xc,
  BORNHOST_V6: 0x10,
  STOREHOST_V6: 0x20,
} as const;

export function transactionType(sysFlag: number): number {
  return sysFlag & 0xc;
}

/** Limits from the record format itself (not configurable). */
const MAX_TOPIC_BYTES = 127;
export const MAX_PROPERTIES_BYTES = 32767;

/** A socket address as stored: 4 (IPv4) or 16 (IPv6) address bytes plus a port. */
export interface SocketAddr {
  ip: Buffer;
  port: number;
}

export function parseSocketAddr(hostPort: string): SocketAddr {
  const i = hostPort.lastIndexOf(':');
  if (i <= 0) throw new Error(`not host:port: ${hostPort}`);
  let host = hostPort.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const port = Number(hostPort.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${hostPort}`);
  return { ip: ipToBytes(host), port };
}

export function ipToBytes(host: string): Buffer {
  if (host === 'localhost') host = '127.0.0.1';
  if (host.startsWith('::ffff:') && isIPv4(host.slice(7))) host = host.slice(7);
  if (isIPv4(host)) return Buffer.from(host.split('.').map(Number));
  if (isIPv6(host)) return ipv6ToBytes(host);
  throw new Error(`not an IP address: ${host}`);
}

function ipv6ToBytes(host: string): Buffer {
  const out = Buffer.alloc(16);
  const [headStr, tailStr] = host.includes('::') ? host.split('::') : [host, undefined];
  const head = headStr ? headStr.split(':') : [];
  const tail = tailStr ? tailStr.split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

function formatIp(ip: Buffer): string {
  if (ip.length === 4) return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(ip.readUInt16BE(i).toString(16));
  return parts.join(':');
}

export function formatSocketAddr(a: SocketAddr): string {
  if (a.ip.length === 4) {
    // Records of one pull name the same few hosts: remember the last two IPv4 answers.
    const ip = a.ip.readUInt32BE(0);
    if (ip === addrCache0.ip && a.port === addrCache0.port) return addrCache0.text;
    if (ip === addrCache1.ip && a.port === addrCache1.port) return addrCache1.text;
    const text = `${formatIp(a.ip)}:${a.port}`;
    addrCache1.ip = addrCache0.ip;
    addrCache1.port = addrCache0.port;
    addrCache1.text = addrCache0.text;
    addrCache0.ip = ip;
    addrCache0.port = a.port;
    addrCache0.text = text;
    return text;
  }
  return `[${formatIp(a.ip)}]:${a.port}`;
}

const addrCache0 = { ip: -1, port: -1, text: '' };
const addrCache1 = { ip: -1, port: -1, text: '' };

/** A message as decoded from a record. Offsets and times are JS numbers (< 2^53). */
export interface MessageRecord {
  storeSize: number;
  bodyCrc: number;
  queueId: number;
  flag: number;
  queueOffset: number;
  commitLogOffset: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: SocketAddr;
  storeTimestamp: number;
  storeHost: SocketAddr;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Buffer;
  topic: string;
  /** The raw properties string (decode with decodeProperties). */
  properties: string;
}

/** A message's own fields: what a producer's send determines (the store adds offsets, time, host). */
export interface MessageFields {
  topic: string;
  queueId: number;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: SocketAddr;
  body: Buffer;
  /** The encoded properties string (name \u0001 value \u0002 ...). */
  properties: string;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
}

/** What the store needs to write a record; offsets/store time are patched in at append time. */
interface RecordInput extends MessageFields {
  storeHost: SocketAddr;
  queueOffset?: number;
  commitLogOffset?: number;
  storeTimestamp?: number;
}

/**
 * Byte positions of a record's fixed head, in the order of apache/rocketmq CommitLog#calMsgLength
 * (4.9.8). Fields after BORN_HOST move with the born host's width (IPv4 8 bytes, IPv6 20).
 */
const RecordPos = {
  TOTAL_SIZE: 0,
  MAGIC: 4,
  BODY_CRC: 8,
  QUEUE_ID: 12,
  FLAG: 16,
  QUEUE_OFFSET: 20,
  PHYSICAL_OFFSET: 28,
  SYSFLAG: 36,
  BORN_TIMESTAMP: 40,
  BORN_HOST: 48,
} as const;

export function storeTimestampPos(sysFlag: number): number {
  return RecordPos.BORN_HOST + (sysFlag & SysFlag.BORNHOST_V6 ? 20 : 8);
}

/** Bytes from a record's start that always cover its store time, whatever its host widths. */
export const STORE_TIMESTAMP_HEAD_BYTES = RecordPos.BORN_HOST + 20 + 8;

/** Whether `magic` starts a message record (4.x, or 5.x's read-only variant). */
export function isMessageMagic(magic: number): boolean {
  return magic === MESSAGE_MAGIC_CODE || magic === MESSAGE_MAGIC_CODE_V2;
}

/**
 * STORETIMESTAMP of the record starting at `buf[at]`, or undefined when no message record starts
 * there or `buf` ends before the field.
 */
export function recordStoreTimestamp(buf: Buffer, at = 0): number | undefined {
  if (buf.length - at < RecordPos.BORN_HOST || !isMessageMagic(buf.readInt32BE(at + RecordPos.MAGIC))) return undefined;
  const pos = at + storeTimestampPos(buf.readInt32BE(at + RecordPos.SYSFLAG));
  return pos + 8 <= buf.length ? readInt64(buf, pos) : undefined;
}

/** Host-dependent sysFlag bits for the given addresses. */
export function hostFlags(bornHost: SocketAddr, storeHost: SocketAddr): number {
  return (bornHost.ip.length === 16 ? SysFlag.BORNHOST_V6 : 0) | (storeHost.ip.length === 16 ? SysFlag.STOREHOST_V6 : 0);
}

function recordSize(bodyLen: number, topicLen: number, propsLen: number, sysFlag: number): number {
  const bornHostLen = sysFlag & SysFlag.BORNHOST_V6 ? 20 : 8;
  const storeHostLen = sysFlag & SysFlag.STOREHOST_V6 ? 20 : 8;
  return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bornHostLen + 8 + storeHostLen + 4 + 8 + 4 + bodyLen + 1 + topicLen + 2 + propsLen;
}

/** Smallest possible record: the fixed fields with IPv4 hosts and an empty body, topic and properties. */
export const MIN_RECORD_BYTES = recordSize(0, 0, 0, 0);

export class RecordFormatError extends Error {}

/** A message sized and partly encoded for writing: what `writeRecord` needs besides the offsets. */
export interface PreparedRecord {
  fields: MessageFields;
  topicBytes: Buffer;
  /** UTF-8 length of `fields.properties`. */
  propsBytes: number;
  /** sysFlag with the host IPv6 bits set from the addresses. */
  sysFlag: number;
  size: number;
}

/**
 * Size a record and encode its topic (`topicBytes`, when the caller caches encoded topics). The
 * sysFlag's host bits are derived from the addresses. Throws RecordFormatError when the topic or
 * the properties do not fit their length fields.
 */
export function prepareRecord(m: MessageFields, storeHost: SocketAddr, topicBytes: Buffer = Buffer.from(m.topic, 'utf8')): PreparedRecord {
  if (topicBytes.length > MAX_TOPIC_BYTES) throw new RecordFormatError(`topic is ${topicBytes.length} bytes (max ${MAX_TOPIC_BYTES})`);
  const propsBytes = Buffer.byteLength(m.properties, 'utf8');
  if (propsBytes > MAX_PROPERTIES_BYTES) throw new RecordFormatError(`properties are ${propsBytes} bytes (max ${MAX_PROPERTIES_BYTES})`);
  const sysFlag = (m.sysFlag & ~(SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6)) | hostFlags(m.bornHost, storeHost);
  return { fields: m, topicBytes, propsBytes, sysFlag, size: recordSize(m.body.length, topicBytes.length, propsBytes, sysFlag) };
}

const TWO_32 = 4294967296;

function setInt64(dv: DataView<ArrayBufferLike>, pos: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  dv.setInt32(pos, hi);
  dv.setUint32(pos + 4, value - hi * TWO_32);
}

function writeHost(buf: Buffer, dv: DataView<ArrayBufferLike>, pos: number, host: SocketAddr): number {
  host.ip.copy(buf, pos);
  dv.setInt32(pos + host.ip.length, host.port);
  return pos + host.ip.length + 4;
}

/**
 * Write a prepared record at `buf[at]` (`dv` views the same bytes) with the fields the store
 * assigns: the one encoder of the record layout (CommitLog#calMsgLength and
 * CommitLog.DefaultAppendMessageCallback#doAppend, 4.9.8). The commit log's append path writes
 * through it straight into its write buffer, without allocating a record.
 */
export function writeRecord(
  buf: Buffer,
  dv: DataView<ArrayBufferLike>,
  at: number,
  rec: PreparedRecord,
  storeHost: SocketAddr,
  queueOffset: number,
  commitLogOffset: number,
  storeTimestamp: number,
): void {
  const m = rec.fields;
  dv.setInt32(at + RecordPos.TOTAL_SIZE, rec.size);
  dv.setInt32(at + RecordPos.MAGIC, MESSAGE_MAGIC_CODE);
  dv.setInt32(at + RecordPos.BODY_CRC, bodyCrc(m.body));
  dv.setInt32(at + RecordPos.QUEUE_ID, m.queueId);
  dv.setInt32(at + RecordPos.FLAG, m.flag);
  setInt64(dv, at + RecordPos.QUEUE_OFFSET, queueOffset);
  setInt64(dv, at + RecordPos.PHYSICAL_OFFSET, commitLogOffset);
  dv.setInt32(at + RecordPos.SYSFLAG, rec.sysFlag);
  setInt64(dv, at + RecordPos.BORN_TIMESTAMP, m.bornTimestamp);
  let p = writeHost(buf, dv, at + RecordPos.BORN_HOST, m.bornHost);
  setInt64(dv, p, storeTimestamp);
  p = writeHost(buf, dv, p + 8, storeHost);
  dv.setInt32(p, m.reconsumeTimes);
  setInt64(dv, p + 4, m.preparedTransactionOffset);
  dv.setInt32(p + 12, m.body.length);
  p += 16;
  p += m.body.copy(buf, p);
  dv.setInt8(p, rec.topicBytes.length);
  p += 1 + rec.topicBytes.copy(buf, p + 1);
  dv.setInt16(p, rec.propsBytes);
  if (rec.propsBytes > 0) buf.write(m.properties, p + 2, rec.propsBytes, 'utf8');
}

/**
 * Encode a record into a buffer of its own (tests, tools). Throws RecordFormatError when the topic
 * or properties do not fit.
 */
export function encodeRecord(m: RecordInput): Buffer {
  const rec = prepareRecord(m, m.storeHost);
  const b = Buffer.allocUnsafe(rec.size);
  writeRecord(b, new DataView(b.buffer, b.byteOffset, b.length), 0, rec, m.storeHost, m.queueOffset ?? 0, m.commitLogOffset ?? 0, m.storeTimestamp ?? 0);
  return b;
}

/** Fill in the fields known only at append time, in place. */
export function patchRecord(b: Buffer, queueOffset: number, commitLogOffset: number, storeTimestamp: number): void {
  writeInt64(b, queueOffset, RecordPos.QUEUE_OFFSET);
  writeInt64(b, commitLogOffset, RecordPos.PHYSICAL_OFFSET);
  writeInt64(b, storeTimestamp, storeTimestampPos(b.readInt32BE(RecordPos.SYSFLAG)));
}

interface DecodeOptions {
  /** Verify the body CRC (recovery does; client decoding of trusted bodies need not). */
  checkCrc?: boolean;
  /**
   * Copy body (and IPv6 host address) bytes out of the source buffer (so the source can be reused).
   * Default false: the body and IPv6 hosts' `ip` are views of the source. IPv4 hosts' `ip` are
   * never views: they are buffers shared by every record naming that address (do not write to them).
   */
  copyBody?: boolean;
}

/**
 * Decode one record at `offset`. Throws RecordFormatError when the bytes are not a whole, valid
 * record (bad magic, size out of range, fields overrunning the size, CRC mismatch when checked).
 */
export function decodeRecord(buf: Buffer, offset = 0, opts: DecodeOptions = {}): MessageRecord {
  const avail = buf.length - offset;
  if (avail < 4) throw new RecordFormatError('truncated: no size field');
  const size = buf.readInt32BE(offset);
  if (size < MIN_RECORD_BYTES || size > avail) throw new RecordFormatError(`bad record size ${size} (available ${avail})`);
  const end = offset + size;
  let p = offset + 4;
  const magic = buf.readInt32BE(p); p += 4;
  if (!isMessageMagic(magic)) {
    throw new RecordFormatError(`bad magic code 0x${(magic >>> 0).toString(16)}`);
  }
  const crc = buf.readInt32BE(p); p += 4;
  const queueId = buf.readInt32BE(p); p += 4;
  const flag = buf.readInt32BE(p); p += 4;
  const queueOffset = readInt64(buf, p); p += 8;
  const commitLogOffset = readInt64(buf, p); p += 8;
  const sysFlag = buf.readInt32BE(p); p += 4;
  const bornTimestamp = readInt64(buf, p); p += 8;
  const bornIpLen = sysFlag & SysFlag.BORNHOST_V6 ? 16 : 4;
  const storeIpLen = sysFlag & SysFlag.STOREHOST_V6 ? 16 : 4;
  fits(p, bornIpLen + 4 + 8 + storeIpLen + 4 + 4 + 8 + 4, end);
  const copy = opts.copyBody === true;
  const bornHost = { ip: readIp(buf, p, bornIpLen, copy), port: buf.readInt32BE(p + bornIpLen) };
  p += bornIpLen + 4;
  const storeTimestamp = readInt64(buf, p); p += 8;
  const storeHost = { ip: readIp(buf, p, storeIpLen, copy), port: buf.readInt32BE(p + storeIpLen) };
  p += storeIpLen + 4;
  const reconsumeTimes = buf.readInt32BE(p); p += 4;
  const preparedTransactionOffset = readInt64(buf, p); p += 8;
  const bodyLen = buf.readInt32BE(p); p += 4;
  if (bodyLen < 0) throw new RecordFormatError('negative body length');
  fits(p, bodyLen + 1, end);
  const bodyView = buf.subarray(p, p + bodyLen);
  p += bodyLen;
  let topicLen: number;
  if (magic === MESSAGE_MAGIC_CODE_V2) {
    fits(p, 2, end);
    topicLen = buf.readInt16BE(p); p += 2;
  } else {
    topicLen = buf.readInt8(p); p += 1;
  }
  if (topicLen < 0) throw new RecordFormatError('negative topic length');
  fits(p, topicLen + 2, end);
  const topic = buf.toString('utf8', p, p + topicLen);
  p += topicLen;
  const propsLen = buf.readInt16BE(p); p += 2;
  if (propsLen < 0) throw new RecordFormatError('negative properties length');
  fits(p, propsLen, end);
  const properties = buf.toString('utf8', p, p + propsLen);
  p += propsLen;
  if (p !== end) throw new RecordFormatError(`record size ${size} does not match its fields (${p - offset})`);
  if (opts.checkCrc && bodyCrc(bodyView) !== crc) throw new RecordFormatError('body CRC mismatch');
  return {
    storeSize: size,
    bodyCrc: crc,
    queueId,
    flag,
    queueOffset,
    commitLogOffset,
    sysFlag,
    bornTimestamp,
    bornHost,
    storeTimestamp,
    storeHost,
    reconsumeTimes,
    preparedTransactionOffset,
    body: copy ? Buffer.from(bodyView) : bodyView,
    topic,
    properties,
  };
}

function fits(p: number, n: number, end: number): void {
  if (p + n > end) throw new RecordFormatError('record fields overrun its size');
}

/**
 * IPv4 addresses already met, as buffers of their own: the records of a pull or of a commit log
 * name the same few hosts, so decoding one allocates no address buffer. Bounded; cleared when full.
 */
const ipv4Buffers = new Map<number, Buffer>();
const IPV4_BUFFERS_MAX = 256;

/** A host address of a record: a shared buffer for IPv4, else a view (or a copy) of the record's bytes. */
function readIp(buf: Buffer, p: number, len: number, copy: boolean): Buffer {
  if (len === 4) {
    const key = buf.readUInt32BE(p);
    let ip = ipv4Buffers.get(key);
    if (ip === undefined) {
      if (ipv4Buffers.size >= IPV4_BUFFERS_MAX) ipv4Buffers.clear();
      ip = Buffer.from(buf.subarray(p, p + 4));
      ipv4Buffers.set(key, ip);
    }
    return ip;
  }
  const view = buf.subarray(p, p + len);
  return copy ? Buffer.from(view) : view;
}

/** Decode a concatenation of records (a PULL/QUERY body); throws on any trailing garbage. */
export function decodeRecords(buf: Buffer, opts: DecodeOptions = {}): MessageRecord[] {
  const out: MessageRecord[] = [];
  let p = 0;
  while (p < buf.length) {
    const r = decodeRecord(buf, p, opts);
    out.push(r);
    p += r.storeSize;
  }
  return out;
}

// ---- message ids ---------------------------------------------------------------------

/** offsetMsgId = HEX(storeHost ip + int32 port + int64 commit log offset), upper case. */
export function createOffsetMsgId(storeHost: SocketAddr, commitLogOffset: number): string {
  if (storeHost.ip.length === 4 && (storeHost.port | 0) === storeHost.port && Number.isSafeInteger(commitLogOffset) && commitLogOffset >= 0) {
    // Same digits without a buffer: the host part (ip + port) is cached per host.
    const ip = storeHost.ip.readUInt32BE(0);
    if (ip !== msgIdHost.ip || storeHost.port !== msgIdHost.port) {
      msgIdHost.ip = ip;
      msgIdHost.port = storeHost.port;
      msgIdHost.hex = hex32(ip) + hex32(storeHost.port >>> 0);
    }
    return msgIdHost.hex + commitLogOffset.toString(16).toUpperCase().padStart(16, '0');
  }
  const b = Buffer.allocUnsafe(storeHost.ip.length + 12);
  storeHost.ip.copy(b, 0);
  b.writeInt32BE(storeHost.port, storeHost.ip.length);
  writeInt64(b, commitLogOffset, storeHost.ip.length + 4);
  return b.toString('hex').toUpperCase();
}

const msgIdHost = { ip: -1, port: -1, hex: '' };

function hex32(v: number): string {
  return v.toString(16).toUpperCase().padStart(8, '0');
}

interface DecodedOffsetMsgId {
  address: string;
  commitLogOffset: number;
}

/** Decode an offsetMsgId (32 hex chars = IPv4, 56 = IPv6); undefined when it cannot be one. */
export function decodeOffsetMsgId(id: string): DecodedOffsetMsgId | undefined {
  if (!/^[0-9a-fA-F]+$/.test(id) || (id.length !== 32 && id.length !== 56)) return undefined;
  const b = Buffer.from(id, 'hex');
  const ipLen = id.length === 32 ? 4 : 16;
  const ip = b.subarray(0, ipLen);
  const port = b.readInt32BE(ipLen);
  const commitLogOffset = readInt64(b, ipLen + 4);
  if (port <= 0 || port > 65535 || commitLogOffset < 0) return undefined;
  return { address: formatSocketAddr({ ip: Buffer.from(ip), port }), commitLogOffset };
}
