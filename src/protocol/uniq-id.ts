/**
 * Client message ids (`UNIQ_KEY`), as MessageClientIDSetter.createUniqID builds them:
 *
 *   HEX( clientIP (4 or 16 bytes) | int16 pid | int32 "class loader hash" )   fixed per process
 *   + HEX( int32 ms since the start of the current month (local time) | int16 counter )
 *
 * With an IPv4 client address this is 32 upper-case hex characters, the same length as an
 * offsetMsgId (which is why tools must not decode one as the other).
 */
import { randomInt } from 'node:crypto';
import os from 'node:os';
import { ipToBytes } from './message.js';

/** The first non-internal IPv4 address of this host, else 127.0.0.1 (Java RemotingUtil.getLocalAddress). */
export function localIpv4(): string {
  const ifaces = os.networkInterfaces();
  for (const name of Object.keys(ifaces).sort()) {
    for (const a of ifaces[name] ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return '127.0.0.1';
}

interface UniqIdParts {
  ip: string;
  pid: number;
  /** Milliseconds since the start of the month the id was made in. */
  sinceMonthStartMs: number;
  counter: number;
}

export class UniqIdGenerator {
  private readonly prefix: Buffer;
  /** The prefix as upper-case hex, computed once. */
  private readonly prefixHex: string;
  private counter = 0;
  private monthStartMs = 0;
  private nextMonthStartMs = 0;

  /**
   * @param ip client address written into every id
   * @param pid process id (Java writes it as a short)
   * @param salt stands for Java's class-loader hash: distinguishes generators in one process
   */
  constructor(ip = localIpv4(), pid = process.pid, salt = randomInt(0, 0x7fffffff)) {
    const ipBytes = ipToBytes(ip);
    this.prefix = Buffer.alloc(ipBytes.length + 2 + 4);
    ipBytes.copy(this.prefix, 0);
    this.prefix.writeInt16BE((pid << 16) >> 16, ipBytes.length);
    this.prefix.writeInt32BE(salt | 0, ipBytes.length + 2);
    this.prefixHex = this.prefix.toString('hex').toUpperCase();
  }

  create(nowMs = Date.now()): string {
    if (nowMs >= this.nextMonthStartMs || nowMs < this.monthStartMs) this.setMonth(nowMs);
    // int32 ms since the month started, int16 counter: 12 upper-case hex digits.
    const ms = ((nowMs - this.monthStartMs) | 0) >>> 0;
    const counter = this.counter;
    this.counter = (counter + 1) & 0xffff;
    return this.prefixHex + hex8(ms) + hex4(counter);
  }

  private setMonth(nowMs: number): void {
    const d = new Date(nowMs);
    this.monthStartMs = new Date(d.getFullYear(), d.getMonth(), 1).getTime();
    this.nextMonthStartMs = new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime();
  }
}

const HEX = '0123456789ABCDEF';

function hex4(v: number): string {
  return HEX[(v >>> 12) & 15]! + HEX[(v >>> 8) & 15]! + HEX[(v >>> 4) & 15]! + HEX[v & 15]!;
}

function hex8(v: number): string {
  return hex4(v >>> 16) + hex4(v & 0xffff);
}

const defaultGenerator = new UniqIdGenerator();

/** A new UNIQ_KEY from the process-wide generator. */
export function createUniqId(nowMs = Date.now()): string {
  return defaultGenerator.create(nowMs);
}

/** Split a UNIQ_KEY into its parts; undefined when the string cannot be one. */
export function parseUniqId(id: string): UniqIdParts | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(id) || (id.length !== 32 && id.length !== 56)) return undefined;
  const b = Buffer.from(id, 'hex');
  const ipLen = b.length - 12;
  const ip = b.subarray(0, ipLen);
  const ipText =
    ipLen === 4
      ? [...ip].join('.')
      : Array.from({ length: 8 }, (_, i) => ip.readUInt16BE(i * 2).toString(16)).join(':');
  return {
    ip: ipText,
    pid: b.readUInt16BE(ipLen),
    sinceMonthStartMs: b.readInt32BE(ipLen + 6),
    counter: b.readUInt16BE(ipLen + 10),
  };
}

/**
 * Approximate creation time of a UNIQ_KEY (MessageClientIDSetter.getNearlyTimeFromID): the time
 * part is relative to a month start, assumed to be the current month, or the previous one when
 * that would put the id in the future.
 */
export function uniqIdNearlyTimeMs(id: string, nowMs = Date.now()): number | undefined {
  const parts = parseUniqId(id);
  if (!parts) return undefined;
  const d = new Date(nowMs);
  const thisMonth = new Date(d.getFullYear(), d.getMonth(), 1).getTime();
  const t = thisMonth + parts.sinceMonthStartMs;
  if (t <= nowMs) return t;
  return new Date(d.getFullYear(), d.getMonth() - 1, 1).getTime() + parts.sinceMonthStartMs;
}
