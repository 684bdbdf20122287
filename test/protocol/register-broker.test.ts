import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { TopicConfig } from '../../src/protocol/bodies.js';
import { crc32 } from '../../src/protocol/hash.js';
import {
  decodeRegisterBrokerBody,
  decodeTopicConfigLine,
  encodeRegisterBrokerBody,
  encodeTopicConfigLine,
  registerBodyCrc32,
  registerBodyCrcMatches,
  type RegisterBrokerBody,
} from '../../src/protocol/register-broker.js';

/** One length-prefixed piece, as RegisterBrokerBody.encode writes it (int32 big-endian length, UTF-8). */
function piece(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeInt32BE(b.length, 0);
  return Buffer.concat([len, b]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

function topic(name: string, o: Partial<TopicConfig> = {}): TopicConfig {
  return { topicName: name, readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false, ...o };
}

describe('compressed REGISTER_BROKER body (RegisterBrokerBody.encode(true))', () => {
  it('decodes a golden body built by hand from the layout of RegisterBrokerBody', () => {
    const inflated = Buffer.concat([
      piece('{"counter":3,"timestamp":1700000000000}'),
      int32(3),
      piece('TopicA 8 8 6 SINGLE_TAG'),
      piece('TopicB 4 2 4 MULTI_TAG'),
      piece('%RETRY%CG 1 1 6 SINGLE_TAG'),
      piece('["10.0.0.9:45001"]'),
    ]);
    const body = decodeRegisterBrokerBody(zlib.deflateSync(inflated, { level: 9 }), true);
    expect(body.topicConfigSerializeWrapper.dataVersion).toEqual({ counter: 3, timestamp: 1700000000000 });
    expect(body.topicConfigSerializeWrapper.topicConfigTable).toEqual({
      TopicA: topic('TopicA', { readQueueNums: 8, writeQueueNums: 8 }),
      TopicB: topic('TopicB', { readQueueNums: 4, writeQueueNums: 2, perm: 4, topicFilterType: 'MULTI_TAG' }),
      '%RETRY%CG': topic('%RETRY%CG', { readQueueNums: 1, writeQueueNums: 1 }),
    });
    expect(body.filterServerList).toEqual(['10.0.0.9:45001']);
  });

  it('our encoder writes exactly that layout (inflate and compare piece by piece)', () => {
    const body: RegisterBrokerBody = {
      topicConfigSerializeWrapper: { dataVersion: { counter: 7, timestamp: 1700000000123 }, topicConfigTable: { T: topic('T', { perm: 2 }) } },
      filterServerList: [],
    };
    const inflated = zlib.inflateSync(encodeRegisterBrokerBody(body, true));
    expect(inflated).toEqual(Buffer.concat([piece('{"counter":7,"timestamp":1700000000123}'), int32(1), piece('T 4 4 2 SINGLE_TAG'), piece('[]')]));
  });

  it('drops topicSysFlag and order, as TopicConfig.encode does; the plain form keeps them', () => {
    const table = { S: topic('S', { topicSysFlag: 1, order: true }) };
    const body: RegisterBrokerBody = { topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: 2 }, topicConfigTable: table }, filterServerList: [] };
    expect(decodeRegisterBrokerBody(encodeRegisterBrokerBody(body, true), true).topicConfigSerializeWrapper.topicConfigTable.S).toEqual(topic('S'));
    expect(decodeRegisterBrokerBody(encodeRegisterBrokerBody(body, false), false)).toEqual(body);
  });

  it('tolerates RocketMQ 5 additions: a 6th attributes field and pieces after the filter list', () => {
    const inflated = Buffer.concat([
      piece('{"counter":1,"stateVersion":0,"timestamp":5}'),
      int32(1),
      piece('T5 2 2 6 SINGLE_TAG {"+message.type":"NORMAL"}'),
      piece('[]'),
      piece('{"T5":{}}'),
    ]);
    const body = decodeRegisterBrokerBody(zlib.deflateSync(inflated), true);
    expect(body.topicConfigSerializeWrapper.topicConfigTable.T5).toEqual(topic('T5', { readQueueNums: 2, writeQueueNums: 2 }));
  });

  it('refuses what Java could not decode either, with a reason', () => {
    const bad = (...pieces: Buffer[]) => () => decodeRegisterBrokerBody(zlib.deflateSync(Buffer.concat(pieces)), true);
    const dv = piece('{"counter":1,"timestamp":1}');
    expect(() => decodeRegisterBrokerBody(Buffer.from('not zlib at all'), true)).toThrow();
    expect(bad(dv, int32(1), piece('T 4 4 6'))).toThrow(/4 fields/);
    expect(bad(dv, int32(1), piece('T 4 4 6 NO_SUCH_TAG'))).toThrow(/topicFilterType/);
    expect(bad(dv, int32(1), piece('T four 4 6 SINGLE_TAG'))).toThrow(/readQueueNums/);
    expect(bad(dv, int32(2), piece('T 4 4 6 SINGLE_TAG'))).toThrow(/topic count|truncated/);
    expect(bad(dv, int32(1_000_000))).toThrow(/topic count/);
    expect(bad(dv, int32(1), int32(9999), Buffer.from('T'))).toThrow(/overruns/);
    expect(bad(piece('[1,2]'))).toThrow(/DataVersion/);
    expect(bad(dv)).toThrow(/truncated/);
  });

  it('refuses to encode a topic name a space would split', () => {
    expect(() => encodeTopicConfigLine(topic('a b'))).toThrow(/cannot be sent/);
    expect(decodeTopicConfigLine(encodeTopicConfigLine(topic('x-y_z%1', { perm: 7 })))).toEqual(topic('x-y_z%1', { perm: 7 }));
  });
});

describe('plain REGISTER_BROKER body', () => {
  it('decodes the JSON RegisterBrokerBody a Java broker sends', () => {
    const json =
      '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},' +
      '"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}}';
    const body = decodeRegisterBrokerBody(Buffer.from(json), false);
    expect(body.topicConfigSerializeWrapper).toEqual({ dataVersion: { counter: 3, timestamp: 1700000000000 }, topicConfigTable: { T: topic('T') } });
  });

  it('accepts the pre-3.0.11 form (the TopicConfigSerializeWrapper itself) and fills a missing topicName from the key', () => {
    const json = '{"dataVersion":{"counter":1,"timestamp":9},"topicConfigTable":{"Old":{"perm":6,"readQueueNums":2,"writeQueueNums":2}}}';
    const body = decodeRegisterBrokerBody(Buffer.from(json), false);
    expect(body.topicConfigSerializeWrapper.topicConfigTable.Old).toMatchObject({ topicName: 'Old', readQueueNums: 2, writeQueueNums: 2 });
  });

  it('refuses a body that is not a JSON object', () => {
    expect(() => decodeRegisterBrokerBody(Buffer.from('{not json'), false)).toThrow();
    expect(() => decodeRegisterBrokerBody(Buffer.from('[1]'), false)).toThrow(/not a JSON object/);
  });
});

describe('bodyCrc32', () => {
  it('is CRC32 & 0x7FFFFFFF of the body as sent; 0 means unchecked; a missing body counts as empty', () => {
    const body = encodeRegisterBrokerBody({ topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: 1 }, topicConfigTable: {} }, filterServerList: [] }, true);
    expect(registerBodyCrc32(body)).toBe(crc32(body) & 0x7fffffff);
    expect(registerBodyCrc32(Buffer.from('123456789'))).toBe(0xcbf43926 & 0x7fffffff);
    expect(registerBodyCrcMatches(body, registerBodyCrc32(body))).toBe(true);
    expect(registerBodyCrcMatches(body, registerBodyCrc32(body) ^ 1)).toBe(false);
    expect(registerBodyCrcMatches(body, 0)).toBe(true);
    expect(registerBodyCrcMatches(undefined, 12345)).toBe(false);
  });
});
