/**
 * DLedger entry and index unit layout (src/broker/dledger/entry.ts). The golden bytes are laid
 * out by hand from DLedgerEntryCoder#encode / #encodeIndex at openmessaging/dledger 0.3.1.2
 * (ByteBuffer, big-endian): putInt magic, putInt size, putLong index, putLong term, putLong pos,
 * putInt channel, putInt chainCrc, putInt bodyCrc, putInt body.length, put body.
 */
import { describe, expect, it } from 'vitest';
import {
  BODY_OFFSET,
  bodyCrcMatches,
  decodeEntry,
  decodeIndexUnit,
  encodeEntry,
  encodeIndexUnit,
  entryBodyCrc,
  EntryFormatError,
  HEADER_SIZE,
  INDEX_UNIT_SIZE,
  POS_OFFSET,
  sameEntry,
  type DLedgerEntry,
} from '../../src/protocol/dledger/entry.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('DLedgerEntry layout', () => {
  it('constants are DLedgerEntry.POS_OFFSET / HEADER_SIZE / BODY_OFFSET and INDEX_UNIT_SIZE', () => {
    expect([POS_OFFSET, HEADER_SIZE, BODY_OFFSET, INDEX_UNIT_SIZE]).toEqual([24, 44, 48, 32]);
  });

  it('encodes field by field as DLedgerEntryCoder#encode, size = 48 + body', () => {
    const e: DLedgerEntry = { magic: 1, size: 0, index: 5, term: 2, pos: 0x1_0000_0000, channel: 0, chainCrc: 0, bodyCrc: -2, body: Buffer.from('hi') };
    const golden = hex(`
      00000001 00000032
      0000000000000005 0000000000000002 0000000100000000
      00000000 00000000 fffffffe 00000002
      6869`);
    expect(encodeEntry(e)).toEqual(golden);
    expect(decodeEntry(golden)).toEqual({ ...e, size: 50 });
    // Decoding at an offset (an entry inside a data file window).
    expect(decodeEntry(Buffer.concat([Buffer.alloc(7), golden]), 7).index).toBe(5);
  });

  it('the 32-byte index unit as DLedgerEntryCoder#encodeIndex: magic, pos, size, index, term', () => {
    const u = { magic: 1, pos: 4096, size: 50, index: 5, term: 2 };
    const golden = hex('00000001 0000000000001000 00000032 0000000000000005 0000000000000002');
    expect(encodeIndexUnit(u)).toEqual(golden);
    expect(decodeIndexUnit(golden)).toEqual(u);
  });

  it('refuses a short buffer or a size that disagrees with the body length', () => {
    const good = encodeEntry({ magic: 1, size: 0, index: 0, term: 0, pos: 0, channel: 0, chainCrc: 0, bodyCrc: 0, body: Buffer.from('abc') });
    expect(() => decodeEntry(good.subarray(0, 40))).toThrow(EntryFormatError);
    expect(() => decodeEntry(good.subarray(0, good.length - 1))).toThrow(EntryFormatError);
    const wrongSize = Buffer.from(good);
    wrongSize.writeInt32BE(60, 4);
    expect(() => decodeEntry(wrongSize)).toThrow(/size 60/);
    expect(() => decodeIndexUnit(Buffer.alloc(31))).toThrow(EntryFormatError);
  });

  it('bodyCrc: 0 is "not computed" (what DLedger 0.3.1.2 writes), anything else must match the body', () => {
    const body = Buffer.from('message record bytes');
    const base = { magic: 1, size: 0, index: 0, term: 0, pos: 0, channel: 0, chainCrc: 0, body };
    expect(bodyCrcMatches({ ...base, bodyCrc: 0 })).toBe(true);
    expect(bodyCrcMatches({ ...base, bodyCrc: entryBodyCrc(body) })).toBe(true);
    expect(bodyCrcMatches({ ...base, bodyCrc: entryBodyCrc(body) ^ 1 })).toBe(false);
    // DLedgerEntry#equals ignores the CRCs.
    expect(sameEntry({ ...base, bodyCrc: 0 }, { ...base, bodyCrc: 5, chainCrc: 9 })).toBe(true);
    expect(sameEntry({ ...base, bodyCrc: 0 }, { ...base, bodyCrc: 0, body: Buffer.from('other') })).toBe(false);
  });
});
