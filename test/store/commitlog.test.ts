import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, formatSocketAddr, hostFlags, parseSocketAddr, patchRecord, SysFlag, writeRecord, type MessageFields, type SocketAddr } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { CommitLog } from '../../src/broker/store/commitlog.js';
import { WaiterQueue } from '../../src/broker/store/group-commit.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';

function commitLogFor(storeHost: SocketAddr): CommitLog {
  return new CommitLog(new NodeFileIO(), {
    storePathRootDir: '/nonexistent',
    segmentBytes: 1 << 20,
    flushDiskType: 'ASYNC_FLUSH',
    flushIntervalMs: 1000,
    syncFlushTimeoutMs: 1000,
    storeHost,
    dispatch: () => undefined,
  });
}

describe('writeRecord (the one record encoder, writing in place on the append path)', () => {
  const cases: Array<[string, MessageFields, SocketAddr]> = [
    [
      'IPv4 hosts, tags and keys',
      {
        topic: 'TopicTest', queueId: 3, flag: 7, sysFlag: 0, bornTimestamp: 1_700_000_000_123,
        bornHost: parseSocketAddr('10.1.2.3:54321'), body: Buffer.from('hello world'),
        properties: encodeProperties({ TAGS: 'TagA', KEYS: 'k1 k2', UNIQ_KEY: 'ABC' }), reconsumeTimes: 2, preparedTransactionOffset: 0,
      },
      parseSocketAddr('127.0.0.1:10911'),
    ],
    [
      'IPv6 born and store hosts, non-ASCII properties, empty body, prepared tx',
      {
        topic: '%RETRY%group_1', queueId: 0, flag: 0, sysFlag: SysFlag.TRANSACTION_PREPARED_TYPE | SysFlag.BORNHOST_V6, bornTimestamp: 5,
        bornHost: parseSocketAddr('[2001:db8::1]:80'), body: Buffer.alloc(0),
        properties: encodeProperties({ KEYS: 'ключ ☃' }), reconsumeTimes: 0, preparedTransactionOffset: 123_456_789_012,
      },
      parseSocketAddr('[fe80::2]:10911'),
    ],
    [
      'IPv4 born host flagged as IPv6 by the caller (host bits come from the addresses)',
      {
        topic: 'T', queueId: 2147483647, flag: -1, sysFlag: SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6 | SysFlag.COMPRESSED, bornTimestamp: 0,
        bornHost: parseSocketAddr('192.168.0.1:1'), body: Buffer.alloc(3000, 0xab), properties: '', reconsumeTimes: 16, preparedTransactionOffset: 0,
      },
      parseSocketAddr('127.0.0.1:10911'),
    ],
  ];
  for (const [name, fields, storeHost] of cases) {
    it(`writes what the decoder reads back, in place and nothing around it: ${name}`, () => {
      const cl = commitLogFor(storeHost);
      const prepared = cl.prepare(fields);
      const buf = Buffer.alloc(prepared.size + 10, 0xee);
      writeRecord(buf, new DataView(buf.buffer, buf.byteOffset, buf.length), 5, prepared, storeHost, 42, 9_876_543_210, 1_700_000_000_999);
      expect(buf[4]).toBe(0xee);
      expect(buf[5 + prepared.size]).toBe(0xee);
      const r = decodeRecord(buf.subarray(0, 5 + prepared.size), 5, { checkCrc: true });
      const hostBits = SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6;
      expect({ ...r, bornHost: formatSocketAddr(r.bornHost), storeHost: formatSocketAddr(r.storeHost), body: r.body.toString('hex') }).toEqual({
        storeSize: prepared.size,
        bodyCrc: r.bodyCrc,
        queueId: fields.queueId,
        flag: fields.flag,
        queueOffset: 42,
        commitLogOffset: 9_876_543_210,
        sysFlag: (fields.sysFlag & ~hostBits) | hostFlags(fields.bornHost, storeHost),
        bornTimestamp: fields.bornTimestamp,
        bornHost: formatSocketAddr(fields.bornHost),
        storeTimestamp: 1_700_000_000_999,
        storeHost: formatSocketAddr(storeHost),
        reconsumeTimes: fields.reconsumeTimes,
        preparedTransactionOffset: fields.preparedTransactionOffset,
        body: fields.body.toString('hex'),
        topic: fields.topic,
        properties: fields.properties,
      });
      // patchRecord fills the same fields of a record encoded before they were known.
      const late = encodeRecord({ ...fields, storeHost });
      patchRecord(late, 42, 9_876_543_210, 1_700_000_000_999);
      expect(late.equals(buf.subarray(5, 5 + prepared.size))).toBe(true);
    });
  }
});

describe('WaiterQueue (group commit completion)', () => {
  it('completes waiters in offset order and times out the ones left', async () => {
    const q = new WaiterQueue(50, () => new Error('timeout'));
    const a = q.wait(10);
    const b = q.wait(20);
    const c = q.wait(30);
    q.resolveUpTo(20);
    await expect(a).resolves.toBeUndefined();
    await expect(b).resolves.toBeUndefined();
    await expect(c).rejects.toThrow('timeout');
    expect(q.size).toBe(1); // settled by the timeout, popped by the next advance
    q.resolveUpTo(30);
    expect(q.size).toBe(0);
  });

  it('rejects only the waiters above a rollback point', async () => {
    const q = new WaiterQueue(Infinity, () => new Error('never'));
    const a = q.wait(10);
    const b = q.wait(20);
    q.rejectAbove(10, new Error('ENOSPC'));
    await expect(b).rejects.toThrow('ENOSPC');
    q.resolveUpTo(10);
    await expect(a).resolves.toBeUndefined();
  });
});
