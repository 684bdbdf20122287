import { isIPv4, isIPv6 } from 'node:net';
import { bodyCrc } from './hash.js';
import { readInt64, writeInt64 } from './long.js';

/**
 * The stored message record: a commit log entry, and an element of PULL/QUERY/VIEW bodies
 * (fact sheet §4.1). Big-endian; topic length is one signed byte, properties length a signed short.
 */

export const MESSAGE_MAGIC_CODE = -626843481; // 0xDAA320A7
export const MESSAGE_MAGIC_CODE_V2 = -626843477; // 0xDAA320AB (5.x, int16 topic length): read only
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
export const MAX_TOPIC_BYTES = 127;
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

export function formatIp(ip: Buffer): string {
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
export interface RecordInput extends MessageFields {
  storeHost: SocketAddr;
  queueOffset?: number;
  commitLogOffset?: number;
  storeTimestamp?: number;
}

/** Byte positions of the fields patched at append time. */
export const POS_QUEUE_OFFSET = 20;
export const POS_PHYSICAL_OFFSET = 28;
export const POS_SYSFLAG = 36;
export const POS_BORN_TIMESTAMP = 40;

export function storeTimestampPos(sysFlag: number): number {
  return 48 + (sysFlag & SysFlag.BORNHOST_V6 ? 20 : 8);
}

/** Host-dependent sysFlag bits for the given addresses. */
export function hostFlags(bornHost: SocketAddr, storeHost: SocketAddr): number {
  return (bornHost.ip.length === 16 ? SysFlag.BORNHOST_V6 : 0) | (storeHost.ip.length === 16 ? SysFlag.STOREHOST_V6 : 0);
}

export function recordSize(bodyLen: number, topicLen: number, propsLen: number, sysFlag: number): number {
  const bornHostLen = sysFlag & SysFlag.BORNHOST_V6 ? 20 : 8;
  const storeHostLen = sysFlag & SysFlag.STOREHOST_V6 ? 20 : 8;
  return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bornHostLen + 8 + storeHostLen + 4 + 8 + 4 + bodyLen + 1 + topicLen + 2 + propsLen;
}

export class RecordFormatError extends Error {}

/**
 * Encode a record. The sysFlag's host bits are derived from the addresses; callers validate
 * topic and properties lengths first (this throws RecordFormatError if they do not fit).
 */
export function encodeRecord(m: RecordInput): Buffer {
  const topic = Buffer.from(m.topic, 'utf8');
  const props = Buffer.from(m.properties, 'utf8');
  if (topic.length > MAX_TOPIC_BYTES) throw new RecordFormatError(`topic is ${topic.length} bytes (max ${MAX_TOPIC_BYTES})`);
  if (props.length > MAX_PROPERTIES_BYTES) {
    throw new RecordFormatError(`properties are ${props.length} bytes (max ${MAX_PROPERTIES_BYTES})`);
  }
  const sysFlag = (m.sysFlag & ~(SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6)) | hostFlags(m.bornHost, m.storeHost);
  const size = recordSize(m.body.length, topic.length, props.length, sysFlag);
  const b = Buffer.allocUnsafe(size);
  let p = 0;
  b.writeInt32BE(size, p); p += 4;
  b.writeInt32BE(MESSAGE_MAGIC_CODE, p); p += 4;
  b.writeInt32BE(bodyCrc(m.body), p); p += 4;
  b.writeInt32BE(m.queueId, p); p += 4;
  b.writeInt32BE(m.flag, p); p += 4;
  writeInt64(b, m.queueOffset ?? 0, p); p += 8;
  writeInt64(b, m.commitLogOffset ?? 0, p); p += 8;
  b.writeInt32BE(sysFlag, p); p += 4;
  writeInt64(b, m.bornTimestamp, p); p += 8;
  p += m.bornHost.ip.copy(b, p);
  b.writeInt32BE(m.bornHost.port, p); p += 4;
  writeInt64(b, m.storeTimestamp ?? 0, p); p += 8;
  p += m.storeHost.ip.copy(b, p);
  b.writeInt32BE(m.storeHost.port, p); p += 4;
  b.writeInt32BE(m.reconsumeTimes, p); p += 4;
  writeInt64(b, m.preparedTransactionOffset, p); p += 8;
  b.writeInt32BE(m.body.length, p); p += 4;
  p += m.body.copy(b, p);
  b.writeInt8(topic.length, p); p += 1;
  p += topic.copy(b, p);
  b.writeInt16BE(props.length, p); p += 2;
  props.copy(b, p);
  return b;
}

/** Fill in the fields known only at append time, in place. */
export function patchRecord(b: Buffer, queueOffset: number, commitLogOffset: number, storeTimestamp: number): void {
  writeInt64(b, queueOffset, POS_QUEUE_OFFSET);
  writeInt64(b, commitLogOffset, POS_PHYSICAL_OFFSET);
  writeInt64(b, storeTimestamp, storeTimestampPos(b.readInt32BE(POS_SYSFLAG)));
}

export interface DecodeOptions {
  /** Verify the body CRC (recovery does; client decoding of trusted bodies need not). */
  checkCrc?: boolean;
  /**
   * Copy body (and host address) bytes out of the source buffer (so the source can be reused).
   * Default false: the body and the hosts' `ip` are views of the source.
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
  if (size < 91 || size > avail) throw new RecordFormatError(`bad record size ${size} (available ${avail})`);
  const end = offset + size;
  let p = offset + 4;
  const magic = buf.readInt32BE(p); p += 4;
  if (magic !== MESSAGE_MAGIC_CODE && magic !== MESSAGE_MAGIC_CODE_V2) {
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
  const need = (n: number) => {
    if (p + n > end) throw new RecordFormatError('record fields overrun its size');
  };
  need(bornIpLen + 4 + 8 + storeIpLen + 4 + 4 + 8 + 4);
  const copy = opts.copyBody === true;
  const bornIp = buf.subarray(p, p + bornIpLen);
  const bornHost = { ip: copy ? Buffer.from(bornIp) : bornIp, port: buf.readInt32BE(p + bornIpLen) };
  p += bornIpLen + 4;
  const storeTimestamp = readInt64(buf, p); p += 8;
  const storeIp = buf.subarray(p, p + storeIpLen);
  const storeHost = { ip: copy ? Buffer.from(storeIp) : storeIp, port: buf.readInt32BE(p + storeIpLen) };
  p += storeIpLen + 4;
  const reconsumeTimes = buf.readInt32BE(p); p += 4;
  const preparedTransactionOffset = readInt64(buf, p); p += 8;
  const bodyLen = buf.readInt32BE(p); p += 4;
  if (bodyLen < 0) throw new RecordFormatError('negative body length');
  need(bodyLen + 1);
  const bodyView = buf.subarray(p, p + bodyLen);
  p += bodyLen;
  let topicLen: number;
  if (magic === MESSAGE_MAGIC_CODE_V2) {
    need(2);
    topicLen = buf.readInt16BE(p); p += 2;
  } else {
    topicLen = buf.readInt8(p); p += 1;
  }
  if (topicLen < 0) throw new RecordFormatError('negative topic length');
  need(topicLen + 2);
  const topic = buf.toString('utf8', p, p + topicLen);
  p += topicLen;
  const propsLen = buf.readInt16BE(p); p += 2;
  if (propsLen < 0) throw new RecordFormatError('negative properties length');
  need(propsLen);
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

// ---- message ids (§4.4) ---------------------------------------------------------------------

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

export interface DecodedOffsetMsgId {
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
