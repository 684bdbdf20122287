import zlib from 'node:zlib';

/** Java `String.hashCode()`: over UTF-16 code units, 32-bit signed (tag codes, index keys). */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** IndexFile key hash: abs(hashCode), with Integer.MIN_VALUE mapped to 0. */
export function indexKeyHash(key: string): number {
  const h = javaHashCode(key);
  return h === -2147483648 ? 0 : Math.abs(h);
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32Js(buf: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// zlib.crc32 is native from Node 20.15; older Node 20 releases fall back to the table version.
const nativeCrc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;

/** java.util.zip.CRC32 as an unsigned 32-bit value. */
export const crc32: (buf: Uint8Array) => number = nativeCrc ? (b) => nativeCrc(b) : crc32Js;

/** The body CRC stored in a commit log record: CRC32 & 0x7FFFFFFF (apache/rocketmq UtilAll.crc32). */
export function bodyCrc(body: Uint8Array): number {
  return crc32(body) & 0x7fffffff;
}
