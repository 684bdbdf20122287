import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  buildSendProperties,
  compressBody,
  decodeBatchBody,
  decodeMessages,
  encodeBatchBody,
  inflateBody,
  MessageIllegalError,
  validateMessage,
} from '../../src/client/message.js';
import { encodeRecord, parseSocketAddr, SysFlag } from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties } from '../../src/protocol/properties.js';

function record(topic: string, body: Buffer, props: Record<string, string>, sysFlag = 0) {
  return encodeRecord({
    topic,
    queueId: 1,
    flag: 3,
    sysFlag,
    bornTimestamp: 1_700_000_000_000,
    bornHost: parseSocketAddr('10.0.0.9:50000'),
    storeHost: parseSocketAddr('127.0.0.1:10911'),
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    body,
    properties: encodeProperties(props),
    queueOffset: 42,
    commitLogOffset: 4096,
    storeTimestamp: 1_700_000_000_100,
  });
}

describe('compression (sysFlag bit 0, zlib container, level 5)', () => {
  it('compresses bodies of at least 4 KiB and round-trips them', () => {
    const small = Buffer.alloc(4095, 'a');
    expect(compressBody(small).compressed).toBe(false);
    const big = Buffer.from('hello rocketmq '.repeat(400));
    const c = compressBody(big);
    expect(c.compressed).toBe(true);
    expect(c.body.length).toBeLessThan(big.length);
    // zlib container: CMF 0x78, and java.util.zip.Inflater (= zlib.inflateSync) reads it.
    expect(c.body[0]).toBe(0x78);
    expect(zlib.inflateSync(c.body).equals(big)).toBe(true);
    expect(inflateBody(c.body, SysFlag.COMPRESSED).body.equals(big)).toBe(true);
    expect(inflateBody(c.body, SysFlag.COMPRESSED | 0x300).body.equals(big)).toBe(true);
    expect(inflateBody(big, 0).body).toBe(big);
  });

  it('reports, not throws, codecs it cannot inflate', () => {
    expect(inflateBody(Buffer.from('x'), SysFlag.COMPRESSED | 0x100).unsupported).toBe('LZ4');
    expect(inflateBody(Buffer.from('x'), SysFlag.COMPRESSED | 0x200).unsupported).toBe('ZSTD');
  });

  it('a compressed stored record decodes to the original body', () => {
    const big = Buffer.from('x'.repeat(10_000));
    const rec = record('T', compressBody(big).body, { UNIQ_KEY: 'ABC', TAGS: 'TagA', KEYS: 'k1 k2' }, SysFlag.COMPRESSED);
    const [m] = decodeMessages(rec, { brokerName: 'broker-a' });
    expect(m!.body.equals(big)).toBe(true);
    expect(m).toMatchObject({ topic: 'T', tags: 'TagA', keys: ['k1', 'k2'], msgId: 'ABC', queueOffset: 42, commitLogOffset: 4096, reconsumeTimes: 2, flag: 3 });
    expect(m!.offsetMsgId).toBe('7F00000100002A9F0000000000001000');
    expect(m!.queue).toEqual({ topic: 'T', brokerName: 'broker-a', queueId: 1 });
  });
});

describe('decoding consumed messages', () => {
  it('restores the topic of a retry message from RETRY_TOPIC, keeping the queue it came from', () => {
    const rec = record('%RETRY%G', Buffer.from('b'), { RETRY_TOPIC: 'Orders', UNIQ_KEY: 'U1' });
    const [m] = decodeMessages(rec, { brokerName: 'b', restoreRetryTopicForGroup: 'G' });
    expect(m!.topic).toBe('Orders');
    expect(m!.queue.topic).toBe('%RETRY%G');
    const [raw] = decodeMessages(rec, { brokerName: 'b' });
    expect(raw!.topic).toBe('%RETRY%G');
    const [other] = decodeMessages(rec, { restoreRetryTopicForGroup: 'H' });
    expect(other!.topic).toBe('%RETRY%G');
  });

  it('hosts, keys and bodies of several records; bodies never view a bigger buffer they are a small part of', () => {
    const a = record('T', Buffer.from('first'), { KEYS: 'only' });
    const b = record('T', Buffer.from('second'), { KEYS: ' k1  k2 ' });
    const ms = decodeMessages(Buffer.concat([a, b]));
    expect(ms.map((m) => [m.body.toString(), m.keys, m.bornHost, m.storeHost])).toEqual([
      ['first', ['only'], '10.0.0.9:50000', '127.0.0.1:10911'],
      ['second', ['k1', 'k2'], '10.0.0.9:50000', '127.0.0.1:10911'],
    ]);
    // A pull body that is a small view of a big socket read: the bodies are copied out of it.
    const big = Buffer.alloc(64 * 1024);
    const at = 1000;
    a.copy(big, at);
    const [small] = decodeMessages(big.subarray(at, at + a.length));
    expect(small!.body.toString()).toBe('first');
    expect(small!.body.buffer).not.toBe(big.buffer);
    big.fill(0);
    expect(small!.body.toString()).toBe('first');
    // A body that is (most of) its own buffer is used in place.
    const own = Buffer.concat([a, b]);
    expect(decodeMessages(own)[1]!.body.buffer).toBe(own.buffer);
  });

  it('msgId falls back to the offsetMsgId without UNIQ_KEY', () => {
    const [m] = decodeMessages(record('T', Buffer.from('b'), {}));
    expect(m!.msgId).toBe(m!.offsetMsgId);
  });
});

describe('send properties and validation', () => {
  it('sets UNIQ_KEY, WAIT, TAGS, KEYS (space separated) and DELAY besides user properties', () => {
    const p = buildSendProperties({ topic: 'T', body: 'x', tags: 'TagA', keys: ['k1', 'k2'], delayLevel: 3, properties: { a: '1' } }, 'U');
    expect(p).toEqual({ a: '1', UNIQ_KEY: 'U', WAIT: 'true', TAGS: 'TagA', KEYS: 'k1 k2', DELAY: '3' });
    expect(decodeProperties(encodeProperties(p))).toEqual(p);
  });

  it('refuses empty bodies, bad topics, reserved property names and oversize bodies', () => {
    expect(() => validateMessage({ topic: 'T', body: '' })).toThrow(MessageIllegalError);
    expect(() => validateMessage({ topic: 'bad topic', body: 'x' })).toThrow(/invalid topic/);
    expect(() => validateMessage({ topic: 'T', body: 'x', properties: { UNIQ_KEY: 'x' } })).toThrow(/reserved/);
    expect(() => validateMessage({ topic: 'T', body: Buffer.alloc(11) }, 10)).toThrow(/over the limit/);
    expect(validateMessage({ topic: 'T', body: 'ok' }).toString()).toBe('ok');
  });

  it('batch bodies follow MessageDecoder.encodeMessages and round-trip', () => {
    const items = [
      { body: Buffer.from('one'), flag: 1, properties: encodeProperties({ UNIQ_KEY: 'A' }) },
      { body: Buffer.from('two!'), flag: 0, properties: encodeProperties({ UNIQ_KEY: 'B', TAGS: 't' }) },
    ];
    const buf = encodeBatchBody(items);
    expect(buf.readInt32BE(0)).toBe(20 + 3 + 2 + items[0]!.properties.length);
    expect(buf.readInt32BE(4)).toBe(0); // magic
    expect(buf.readInt32BE(8)).toBe(0); // body CRC
    const back = decodeBatchBody(buf);
    expect(back.map((b) => [b.body.toString(), b.flag, b.properties])).toEqual(items.map((i) => [i.body.toString(), i.flag, i.properties]));
  });
});
