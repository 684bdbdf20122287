/**
 * White-list address patterns of plain_acl.yml (`whiteRemoteAddress`, `globalWhiteRemoteAddresses`),
 * read as Apache 4.9.8's RemoteAddressStrategyFactory reads them:
 *   ''                                  matches nothing (BlankRemoteAddressStrategy)
 *   '*', '*.*.*.*', '*:*:*:*:*:*:*:*'   matches everything (NullRemoteAddressStrategy)
 *   '192.168.1.{1,2,3}' or 'a,b,c'      one of these addresses (MultipleRemoteAddressStrategy)
 *   '192.168.*' / '192.168.1.1-100'     the first part that is `*` or `a-b` is a range; the parts
 *                                       before it must be equal and the parts after it are not
 *                                       looked at (RangeRemoteAddressStrategy, IPv4 and IPv6)
 *   '192.168.0.1'                       exactly this address (OneRemoteAddressStrategy)
 * A pattern that is none of these throws, as Apache's factory does, so a typo stops the load.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

export type AddressMatcher = (ip: string) => boolean;

/** A host only this machine reaches (127.0.0.0/8, ::1, localhost); 0.0.0.0 and :: are every interface, not loopback. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

const NEVER: AddressMatcher = () => false;
const ALWAYS: AddressMatcher = () => true;

export function addressMatcher(pattern: string | undefined | null): AddressMatcher {
  const p = (pattern ?? '').trim();
  if (p === '') return NEVER;
  if (p === '*' || p === '*.*.*.*' || p === '*:*:*:*:*:*:*:*') return ALWAYS;
  if (p.endsWith('}')) return bracesMatcher(p);
  if (p.includes(',')) return oneOf(p.split(',').map((s) => s.trim()).filter(Boolean));
  if (p.includes('*') || p.includes('-')) return p.includes(':') ? ipv6Range(p) : ipv4Range(p);
  if (isIP(p) === 0) throw new Error(`${JSON.stringify(p)} is not an IP address or address pattern`);
  const want = canonical(p);
  return (ip) => canonical(ip) === want;
}

/** '10.0.0.{1,2}' or '2001:db8::{1,2}': the prefix with each listed last part. */
function bracesMatcher(p: string): AddressMatcher {
  const open = p.lastIndexOf('{');
  const sep = p.includes(':') ? ':' : '.';
  if (open < 1 || p[open - 1] !== sep) throw new Error(`${JSON.stringify(p)}: {...} must stand for the whole last part of the address`);
  const head = p.slice(0, open);
  return oneOf(p.slice(open + 1, -1).split(',').map((s) => head + s.trim()));
}

function oneOf(addrs: string[]): AddressMatcher {
  const set = new Set<string>();
  for (const a of addrs) {
    if (isIP(a) === 0) throw new Error(`${JSON.stringify(a)} is not an IP address`);
    set.add(canonical(a));
  }
  return (ip) => set.has(canonical(ip));
}

/** One range part: `*` is all values, `a-b` (a <= b) those between; anything else is no range. */
function rangePart(part: string, max: number, radix: number): [number, number] | undefined {
  if (part === '*') return [0, max];
  const m = /^([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(part);
  if (!m) return undefined;
  const lo = parseInt(m[1]!, radix);
  const hi = parseInt(m[2]!, radix);
  if (!(lo >= 0 && hi <= max && lo <= hi)) throw new Error(`range ${part} must be a-b with 0 <= a <= b <= ${radix === 10 ? max : max.toString(16)}`);
  return [lo, hi];
}

function ipv4Range(p: string): AddressMatcher {
  const parts = p.split('.').map((s) => s.trim());
  for (let i = 1; i < Math.min(parts.length, 4); i++) {
    const r = rangePart(parts[i]!, 255, 10);
    if (!r) continue;
    const head = parts.slice(0, i);
    if (!head.every((h) => /^\d+$/.test(h) && Number(h) <= 255)) throw new Error(`${JSON.stringify(p)}: the parts before a range must be numbers 0-255`);
    return (ip) => {
      if (!isIPv4(ip)) return false;
      const got = ip.split('.');
      if (head.some((h, k) => Number(h) !== Number(got[k]))) return false;
      const v = Number(got[i]);
      return v >= r[0] && v <= r[1];
    };
  }
  throw new Error(`${JSON.stringify(p)} is not an IPv4 range (e.g. 192.168.*.* or 192.168.1.10-20)`);
}

function ipv6Range(p: string): AddressMatcher {
  // Expand with zeros for the groups the range stands for, so '::' can be read.
  const parts = p.split(':');
  const idx = parts.findIndex((s) => s === '*' || /-/.test(s));
  if (idx < 0) throw new Error(`${JSON.stringify(p)} is not an IPv6 range`);
  const head = expandV6([...parts.slice(0, idx), ...parts.slice(idx).map(() => '0')].join(':')).slice(0, idx);
  const r = rangePart(parts[idx]!, 0xffff, 16);
  if (!r || head.length !== idx) throw new Error(`${JSON.stringify(p)} is not an IPv6 range`);
  return (ip) => {
    if (!isIPv6(ip)) return false;
    const got = expandV6(ip);
    if (head.some((h, k) => h !== got[k])) return false;
    const v = got[idx]!;
    return v >= r[0] && v <= r[1];
  };
}

/** The 8 groups of an IPv6 address as numbers (an IPv4 tail counts as two groups). */
function expandV6(addr: string): number[] {
  let a = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [l, r] = a.includes('::') ? a.split('::') : [a, undefined];
  const left = l ? l.split(':') : [];
  const right = r === undefined ? [] : r ? r.split(':') : [];
  const fill = r === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => parseInt(g || '0', 16));
}

/** One spelling per address: IPv4 as is, IPv6 as its 8 groups ('::ffff:1.2.3.4' is 1.2.3.4). */
function canonical(ip: string): string {
  if (isIPv4(ip)) return ip.split('.').map(Number).join('.');
  if (!isIPv6(ip)) return ip;
  const g = expandV6(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  return g.map((x) => x.toString(16)).join(':');
}
