import { describe, expect, it } from 'vitest';
import {
  FjMap,
  messageQueueEntries,
  messageQueueKey,
  messageQueueMap,
  parseFastjson,
  toFastjson,
} from '../../src/protocol/fastjson.js';

describe('fastjson reader (bare keys)', () => {
  it('reads bare numeric keys (route brokerAddrs)', () => {
    const v = parseFastjson('{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a"}') as any;
    expect(v.brokerAddrs).toEqual({ 0: '10.0.0.1:10911', 1: '10.0.0.2:10911' });
  });

  it('reads MessageQueue object keys (ConsumeStats)', () => {
    const text =
      '{"consumeTps":12.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"brokerOffset":1024,"consumerOffset":1000,"lastTimestamp":1700000000123},' +
      '{"brokerName":"broker-a","queueId":1,"topic":"TopicTest"}:{"brokerOffset":980,"consumerOffset":980,"lastTimestamp":1700000000456}}}';
    const v = parseFastjson(text) as any;
    expect(v.consumeTps).toBe(12.5);
    const entries = messageQueueEntries<any>(v.offsetTable);
    expect(entries.map(([mq, s]) => [mq.queueId, s.brokerOffset])).toEqual([[0, 1024], [1, 980]]);
    expect(v.offsetTable[messageQueueKey({ topic: 'TopicTest', brokerName: 'broker-a', queueId: 1 })].consumerOffset).toBe(980);
  });

  it('reads the pretty-printed consumerOffset.json shape with tabs', () => {
    const text = '{\n\t"offsetTable":{\n\t\t"TopicTest@CG":{0:250,1:249,2:251,3:250\n\t\t},\n\t\t"%RETRY%CG@CG":{0:3\n\t\t}\n\t}\n}';
    const v = parseFastjson(text) as any;
    expect(v.offsetTable['TopicTest@CG']).toEqual({ 0: 250, 1: 249, 2: 251, 3: 250 });
  });

  it('accepts MessageQueue keys given as JSON strings, and doubles like 1.0E-4', () => {
    const v = parseFastjson('{"t":{"{\\"brokerName\\":\\"b\\",\\"queueId\\":3,\\"topic\\":\\"T\\"}":7},"d":1.0E-4}') as any;
    expect(messageQueueEntries<number>(v.t)).toEqual([[{ topic: 'T', brokerName: 'b', queueId: 3 }, 7]]);
    expect(v.d).toBe(0.0001);
  });

  it('rejects garbage and deep nesting without crashing', () => {
    expect(() => parseFastjson('{"a":}')).toThrow();
    expect(() => parseFastjson('['.repeat(10000))).toThrow(/deep/);
    expect(() => parseFastjson('{"a":1} x')).toThrow(/trailing/);
  });

  it('does not let "__proto__" keys change prototypes', () => {
    const v = parseFastjson('{"__proto__":{"polluted":1}}') as any;
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.keys(v)).toEqual(['__proto__']);
  });
});

describe('fastjson writer', () => {
  it('sorts bean fields and omits nulls', () => {
    expect(toFastjson({ b: 1, a: 'x', c: null, d: undefined })).toBe('{"a":"x","b":1}');
  });

  it('writes Integer-keyed maps with bare keys, and quoted on request', () => {
    const m = new FjMap([[0, 'h:1'], [1, 'h:2']]);
    expect(toFastjson({ brokerAddrs: m })).toBe('{"brokerAddrs":{0:"h:1",1:"h:2"}}');
    expect(toFastjson({ brokerAddrs: m }, { quoteNumericKeys: true })).toBe('{"brokerAddrs":{"0":"h:1","1":"h:2"}}');
  });

  it('writes MessageQueue keys as objects (ResetOffsetBody) and reads them back', () => {
    const text = toFastjson({ offsetTable: messageQueueMap([[{ topic: 'T', brokerName: 'b', queueId: 0 }, 1000]]) });
    expect(text).toBe('{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:1000}}');
    expect(messageQueueEntries((parseFastjson(text) as any).offsetTable)).toEqual([[{ topic: 'T', brokerName: 'b', queueId: 0 }, 1000]]);
  });

  it('pretty-prints with tabs like the files on disk', () => {
    const text = toFastjson({ dataVersion: { counter: 5, timestamp: 1700000000000 } }, { pretty: true });
    expect(text).toBe('{\n\t"dataVersion":{\n\t\t"counter":5,\n\t\t"timestamp":1700000000000\n\t}\n}');
  });

  it('escapes control characters', () => {
    expect(toFastjson({ i: 'A\u0001B\u0002' })).toBe('{"i":"A\\u0001B\\u0002"}');
  });
});
