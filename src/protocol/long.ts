/**
 * int64 fields as JS numbers. Offsets and timestamps stay below 2^53, so a number is exact; the
 * split hi/lo form avoids BigInt on the hot path. Negative values (tag codes, -1 markers) work.
 */
const TWO_32 = 4294967296;

export function writeInt64(buf: Buffer, value: number, offset: number): void {
  const hi = Math.floor(value / TWO_32);
  buf.writeInt32BE(hi, offset);
  buf.writeUInt32BE(value - hi * TWO_32, offset + 4);
}

export function readInt64(buf: Buffer, offset: number): number {
  return buf.readInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}
