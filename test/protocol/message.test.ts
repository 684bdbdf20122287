import { describe, expect, it } from 'vitest';
import { bodyCrc, indexKeyHash, javaHashCode } from '../../src/protocol/hash.js';
import {
  createOffsetMsgId,
  decodeOffsetMsgId,
  decodeRecord,
  decodeRecords,
  encodeRecord,
  parseSocketAddr,
  patchRecord,
  RecordFormatError,
} from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties } from '../../src/protocol/properties.js';

describe('java hashes', () => {
  it('matches String.hashCode for tags (as ConsumeQueue stores tagsCode)', () => {
    expect(javaHashCode('TagA')).toBe(2598919);
    expect(javaHashCode('TagB')).toBe(2598920);
    expect(javaHashCode('')).toBe(0);
    // overflow wraps as a signed 32-bit int: "polygenelubricants".hashCode() == Integer.MIN_VALUE
    expect(javaHashCode('polygenelubricants')).toBe(-2147483648);
    expect(indexKeyHash('polygenelubricants')).toBe(0);
  });
  it('hashes UTF-16 code units, not UTF-8 bytes', () => {
    // 'é' is one UTF-16 unit (0xE9): hash = 0xE9
    expect(javaHashCode('é')).toBe(0xe9);
  });
  it('body CRC is CRC32 & 0x7FFFFFFF', () => {
    // CRC32("123456789") = 0xCBF43926
    expect(bodyCrc(Buffer.from('123456789'))).toBe(0xcbf43926 & 0x7fffffff);
  });
});

describe('properties', () => {
  it('encodes without a trailing separator and round-trips', () => {
    const s = encodeProperties({ TAGS: 'TagA', KEYS: 'k1 k2' });
    expect(s).toBe('TAGS\u0001TagA\u0002KEYS\u0001k1 k2');
    expect(decodeProperties(s)).toEqual({ TAGS: 'TagA', KEYS: 'k1 k2' });
  });
  it('ignores empty names/values and a trailing separator, as Java does', () => {
    expect(decodeProperties('A\u00011\u0002\u0001x\u0002B\u0001\u0002C\u00013\u0002')).toEqual({ A: '1', C: '3' });
  });
});

describe('offsetMsgId (MessageDecoder.createMessageId)', () => {
  it('matches an id built by hand', () => {
    const id = createOffsetMsgId(parseSocketAddr('127.0.0.1:10911'), 0);
    expect(id).toBe('7F00000100002A9F0000000000000000');
    expect(decodeOffsetMsgId(id)).toEqual({ address: '127.0.0.1:10911', commitLogOffset: 0 });
  });
  it('round-trips a large offset and rejects non-ids', () => {
    const id = createOffsetMsgId(parseSocketAddr('10.1.2.3:10911'), 2 ** 40 + 17);
    expect(decodeOffsetMsgId(id)).toEqual({ address: '10.1.2.3:10911', commitLogOffset: 2 ** 40 + 17 });
    expect(decodeOffsetMsgId('xyz')).toBeUndefined();
    expect(decodeOffsetMsgId('7F000001')).toBeUndefined();
  });
});

// A record assembled byte by byte from CommitLog.calMsgLength's field order (not by our encoder).
function handRecord(): Buffer {
  const body = Buffer.from('hello');
  const topic = Buffer.from('T1');
  const props = Buffer.from('TAGS\u0001A');
  const hex = [
    '00000000', // TOTALSIZE, patched below
    'daa320a7', // MAGICCODE
    (bodyCrc(body) >>> 0).toString(16).padStart(8, '0'), // BODYCRC
    '00000002', // QUEUEID
    '00000007', // FLAG
    '0000000000000003', // QUEUEOFFSET
    '0000000000000040', // PHYSICALOFFSET
    '00000000', // SYSFLAG
    '0000018bcfe56800', // BORNTIMESTAMP 1700000000000
    '7f000001', '00001f90', // BORNHOST 127.0.0.1:8080
    '0000018bcfe56bb8', // STORETIMESTAMP 1700000000952
    '7f000001', '00002a9f', // STOREHOST 127.0.0.1:10911
    '00000001', // RECONSUMETIMES
    '0000000000000000', // PREPAREDTRANSACTIONOFFSET
    '00000005', body.toString('hex'),
    '02', topic.toString('hex'),
    '0006', props.toString('hex'),
  ].join('');
  const b = Buffer.from(hex, 'hex');
  b.writeInt32BE(b.length, 0);
  return b;
}

describe('stored record (CommitLog record layout)', () => {
  const input = {
    topic: 'T1',
    queueId: 2,
    flag: 7,
    sysFlag: 0,
    bornTimestamp: 1700000000000,
    bornHost: parseSocketAddr('127.0.0.1:8080'),
    storeHost: parseSocketAddr('127.0.0.1:10911'),
    reconsumeTimes: 1,
    preparedTransactionOffset: 0,
    body: Buffer.from('hello'),
    properties: 'TAGS\u0001A',
  };

  it('encodes exactly the hand-assembled bytes (84 fixed bytes + variable part)', () => {
    const golden = handRecord();
    expect(golden.length).toBe(84 + 4 + 5 + 1 + 2 + 2 + 6);
    const b = encodeRecord(input);
    patchRecord(b, 3, 64, 1700000000952);
    expect(b.toString('hex')).toBe(golden.toString('hex'));
  });

  it('decodes the golden record field by field', () => {
    const r = decodeRecord(handRecord(), 0, { checkCrc: true });
    expect(r.topic).toBe('T1');
    expect(r.queueId).toBe(2);
    expect(r.queueOffset).toBe(3);
    expect(r.commitLogOffset).toBe(64);
    expect(r.storeTimestamp).toBe(1700000000952);
    expect(r.body.toString()).toBe('hello');
    expect(r.properties).toBe('TAGS\u0001A');
    expect(r.reconsumeTimes).toBe(1);
  });

  it('detects a flipped body byte, a bad magic and a truncated record', () => {
    const g = handRecord();
    const flipped = Buffer.from(g);
    flipped[84 + 4] ^= 0xff; // first body byte
    expect(() => decodeRecord(flipped, 0, { checkCrc: true })).toThrow(RecordFormatError);
    const badMagic = Buffer.from(g);
    badMagic.writeInt32BE(0x12345678, 4);
    expect(() => decodeRecord(badMagic)).toThrow(/magic/);
    expect(() => decodeRecord(g.subarray(0, g.length - 3))).toThrow(/size/);
  });

  it('decodes a concatenation and rejects trailing bytes', () => {
    const two = Buffer.concat([handRecord(), handRecord()]);
    expect(decodeRecords(two)).toHaveLength(2);
    expect(() => decodeRecords(Buffer.concat([two, Buffer.alloc(3)]))).toThrow(RecordFormatError);
  });

  it('sets the IPv6 host bits and round-trips IPv6 hosts', () => {
    const b = encodeRecord({ ...input, bornHost: parseSocketAddr('[::1]:5000') });
    const r = decodeRecord(b);
    expect(r.sysFlag & 0x10).toBe(0x10);
    expect(r.bornHost.ip.length).toBe(16);
    expect(r.bornHost.port).toBe(5000);
  });

  it('IPv4 hosts decode to their own bytes, whatever happens to the source buffer later', () => {
    const a = encodeRecord({ ...input, bornHost: parseSocketAddr('10.1.2.3:4000') });
    const b = encodeRecord({ ...input, bornHost: parseSocketAddr('10.1.2.4:4001') });
    const ra = decodeRecord(a);
    const rb = decodeRecord(b);
    const again = decodeRecord(Buffer.from(a));
    a.fill(0);
    expect([...ra.bornHost.ip, ra.bornHost.port]).toEqual([10, 1, 2, 3, 4000]);
    expect([...rb.bornHost.ip, rb.bornHost.port]).toEqual([10, 1, 2, 4, 4001]);
    expect([...again.bornHost.ip]).toEqual([10, 1, 2, 3]);
    expect([...ra.storeHost.ip, ra.storeHost.port]).toEqual([127, 0, 0, 1, 10911]);
    expect(decodeRecord(b, 0, { copyBody: true }).bornHost.ip.equals(rb.bornHost.ip)).toBe(true);
  });

  it('refuses a topic over 127 bytes', () => {
    expect(() => encodeRecord({ ...input, topic: 'x'.repeat(128) })).toThrow(RecordFormatError);
  });
});
