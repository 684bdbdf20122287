/**
 * Trace bodies (apache/rocketmq TraceDataEncoder): golden strings written by hand from its field order
 * (char 1 between fields, char 2 after each record, Java's "null" for absent values).
 */
import { describe, expect, it } from 'vitest';
import { decodeTraces, encodeTrace, encodeTraces, traceKeys, type TraceRecord } from '../../src/protocol/trace.js';

const A = '\u0001';
const B = '\u0002';
const j = (...f: string[]) => f.join(A);

const PUB_TEXT = j('Pub', '1700000000000', 'DefaultRegion', 'PG', 'TopicTest', 'AC11000100002A9F0000000000000123', 'TagA', 'KEY1', '172.17.0.2:10911', '11', '5', '0', 'AC11000200002A9F00000000000A1B2C', 'true') + B;
const PUB: TraceRecord = {
  type: 'Pub', timeStamp: 1700000000000, regionId: 'DefaultRegion', groupName: 'PG', topic: 'TopicTest', msgId: 'AC11000100002A9F0000000000000123',
  tags: 'TagA', keys: 'KEY1', storeHost: '172.17.0.2:10911', bodyLength: 11, costTime: 5, msgType: 0, offsetMsgId: 'AC11000200002A9F00000000000A1B2C', success: true, clientHost: null,
};
const SUB_BEFORE_TEXT = j('SubBefore', '1700000001000', 'DefaultRegion', 'CG', 'REQ1', 'AC11000100002A9F0000000000000123', '2', 'null') + B;
const SUB_BEFORE: TraceRecord = { type: 'SubBefore', timeStamp: 1700000001000, regionId: 'DefaultRegion', groupName: 'CG', requestId: 'REQ1', msgId: 'AC11000100002A9F0000000000000123', retryTimes: 2, keys: null };
const SUB_AFTER_TEXT = j('SubAfter', 'REQ1', 'AC11000100002A9F0000000000000123', '7', 'false', 'null', '4', '1700000001007', 'CG') + B;
const SUB_AFTER: TraceRecord = { type: 'SubAfter', requestId: 'REQ1', msgId: 'AC11000100002A9F0000000000000123', costTime: 7, success: false, keys: null, contextCode: 4, timeStamp: 1700000001007, groupName: 'CG' };
const END_TX_TEXT = j('EndTransaction', '1700000002000', 'DefaultRegion', 'TPG', 'TxTopic', 'AC11000100002A9F0000000000000456', 'null', 'K K2', '172.17.0.2:10911', '2', 'tx-1', 'COMMIT_MESSAGE', 'true') + B;
const END_TX: TraceRecord = {
  type: 'EndTransaction', timeStamp: 1700000002000, regionId: 'DefaultRegion', groupName: 'TPG', topic: 'TxTopic', msgId: 'AC11000100002A9F0000000000000456',
  tags: null, keys: 'K K2', storeHost: '172.17.0.2:10911', msgType: 2, transactionId: 'tx-1', transactionState: 'COMMIT_MESSAGE', fromTransactionCheck: true,
};

describe('trace bodies', () => {
  it('encodes each record type exactly as TraceDataEncoder lays it out', () => {
    expect(encodeTrace(PUB)).toBe(PUB_TEXT);
    expect(encodeTrace(SUB_BEFORE)).toBe(SUB_BEFORE_TEXT);
    expect(encodeTrace(SUB_AFTER)).toBe(SUB_AFTER_TEXT);
    expect(encodeTrace(END_TX)).toBe(END_TX_TEXT);
  });

  it('decodes a body of several records, "null" as null', () => {
    const body = PUB_TEXT + SUB_BEFORE_TEXT + SUB_AFTER_TEXT + END_TX_TEXT;
    expect(encodeTraces([PUB, SUB_BEFORE, SUB_AFTER, END_TX])).toBe(body);
    const d = decodeTraces(Buffer.from(body, 'utf8'));
    expect(d.skipped).toEqual([]);
    expect(d.records).toEqual([PUB, SUB_BEFORE, SUB_AFTER, END_TX]);
  });

  it('Pub of older (13 fields: no offsetMsgId) and newer writers (15th field: clientHost)', () => {
    const old = j('Pub', '1', 'R', 'PG', 'T', 'ID', 'null', 'null', 'h:1', '3', '4', '3', 'false') + B;
    expect(decodeTraces(old).records[0]).toMatchObject({ offsetMsgId: null, success: false, msgType: 3, tags: null, keys: null });
    const newer = PUB_TEXT.slice(0, -1) + A + '10.0.0.9:5555' + B;
    expect(decodeTraces(newer).records[0]).toEqual({ ...PUB, clientHost: '10.0.0.9:5555' });
    expect(encodeTrace({ ...PUB, clientHost: '10.0.0.9:5555' })).toBe(newer);
  });

  it('SubAfter of older writers (6 or 7 fields) and AccessChannel CLOUD (7 fields ended by char 1)', () => {
    const six = j('SubAfter', 'R', 'ID', '3', 'true', 'k') + B;
    expect(decodeTraces(six).records[0]).toEqual({ type: 'SubAfter', requestId: 'R', msgId: 'ID', costTime: 3, success: true, keys: 'k', contextCode: null, timeStamp: null, groupName: null });
    const cloud = j('SubAfter', 'R', 'ID', '3', 'true', 'k', '0') + A + SUB_BEFORE_TEXT;
    const d = decodeTraces(cloud);
    expect(d.records.map((r) => r.type)).toEqual(['SubAfter', 'SubBefore']);
    expect(d.records[0]).toMatchObject({ contextCode: 0, timeStamp: null, groupName: null });
    expect(d.records[1]).toEqual(SUB_BEFORE);
    const cloudLast = j('SubAfter', 'R', 'ID', '3', 'true', 'k', '1') + A;
    expect(decodeTraces(cloudLast).records[0]).toMatchObject({ contextCode: 1, timeStamp: null });
  });

  it('skips what is not a record, keeps the rest', () => {
    const d = decodeTraces('garbage' + B + j('Pub', '1', 'R') + B + SUB_BEFORE_TEXT);
    expect(d.records).toEqual([SUB_BEFORE]);
    expect(d.skipped).toHaveLength(2);
  });

  it('KEYS of a trace message: every msgId and each user key, once, space separated', () => {
    expect(traceKeys([PUB, SUB_BEFORE, SUB_AFTER, END_TX])).toBe('AC11000100002A9F0000000000000123 KEY1 AC11000100002A9F0000000000000456 K K2');
  });
});
