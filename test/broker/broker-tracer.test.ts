/**
 * BrokerTracer on its own (its host is a plain object collecting the trace messages it writes):
 * records in Apache's trace format with the %BROKER% mark, trace messages keyed by ids and keys,
 * deliveries paired with commits by requestId, system and trace topics never traced, at most 100
 * records per trace message, and a full queue dropping and counting instead of waiting.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_TRACE_QUEUE_MAX, BrokerTracer, type BrokerTraceHost } from '../../src/broker/trace/broker-tracer.js';
import type { PutInput } from '../../src/broker/handlers/context.js';
import { createOffsetMsgId, encodeRecord, parseSocketAddr } from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties } from '../../src/protocol/properties.js';
import { decodeTraces, type TraceRecord } from '../../src/protocol/trace.js';

const STORE = parseSocketAddr('127.0.0.1:10911');
const CLIENT = '127.0.0.1:50001';
const tracers: BrokerTracer[] = [];
afterEach(async () => {
  for (const t of tracers.splice(0)) await t.close();
});

function setup(queueNums = 1): { tracer: BrokerTracer; written: PutInput[] } {
  const written: PutInput[] = [];
  const host: BrokerTraceHost = {
    traceTopic: 'RMQ_SYS_TRACE_TOPIC',
    regionId: 'DefaultRegion',
    storeHost: STORE,
    isSystemTopic: (t) => t === 'TBW102' || t === 'SCHEDULE_TOPIC_XXXX',
    putBatch: async (inputs) => void written.push(...inputs),
    traceQueueNums: () => queueNums,
    logger: { info() {}, warn() {}, error() {}, debug() {} } as unknown as BrokerTraceHost['logger'],
  };
  const tracer = new BrokerTracer(host);
  tracers.push(tracer);
  return { tracer, written };
}

function input(topic: string, props: Record<string, string>): PutInput {
  return { topic, queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: 1, bornHost: parseSocketAddr(CLIENT), body: Buffer.from('hello'), properties: encodeProperties(props), reconsumeTimes: 0, preparedTransactionOffset: 0 };
}

function stored(topic: string, queueOffset: number, commitLogOffset: number, props: Record<string, string>): Buffer {
  return encodeRecord({ ...input(topic, props), storeHost: STORE, queueOffset, commitLogOffset });
}

function records(written: PutInput[]): TraceRecord[] {
  return written.flatMap((m) => decodeTraces(m.body).records);
}

describe('BrokerTracer', () => {
  it('a store becomes a marked Pub with the client address and cost, in a trace message keyed by id and keys', async () => {
    const { tracer, written } = setup();
    tracer.onStored(input('Orders', { UNIQ_KEY: 'U1', KEYS: 'k1 k2', TAGS: 'TagA' }), { offsetMsgId: 'OFF1', queueOffset: 0, commitLogOffset: 0, storeTimestamp: 1 }, 'PG', CLIENT, 7);
    await tracer.flush();
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ topic: 'RMQ_SYS_TRACE_TOPIC', bornHost: STORE });
    expect(decodeProperties(written[0]!.properties).KEYS).toBe('U1 k1 k2');
    expect(records(written)).toEqual([
      expect.objectContaining({ type: 'Pub', groupName: '%BROKER%PG', topic: 'Orders', msgId: 'U1', offsetMsgId: 'OFF1', keys: 'k1 k2', tags: 'TagA', bodyLength: 5, costTime: 7, msgType: 0, success: true, clientHost: CLIENT, storeHost: '127.0.0.1:10911' }),
    ]);
    expect(tracer.stats).toMatchObject({ written: 1, dropped: 0, failed: 0 });
  });

  it('a message without UNIQ_KEY (ali-ons) is traced by its offset msgId; a delayed one under its real topic; system and trace topics never', async () => {
    const { tracer, written } = setup();
    const out = (id: string) => ({ offsetMsgId: id, queueOffset: 0, commitLogOffset: 0, storeTimestamp: 1 });
    tracer.onStored(input('Orders', { KEYS: 'a' }), out('OFFSET-ID'), 'PG', CLIENT, 1);
    tracer.onStored(input('SCHEDULE_TOPIC_XXXX', { UNIQ_KEY: 'U2', REAL_TOPIC: '%RETRY%CG', DELAY: '3' }), out('X'), 'CG', CLIENT, 1);
    tracer.onStored(input('TBW102', { UNIQ_KEY: 'U3' }), out('Y'), 'PG', CLIENT, 1);
    tracer.onStored(input('RMQ_SYS_TRACE_TOPIC', { UNIQ_KEY: 'U4' }), out('Z'), 'PG', CLIENT, 1);
    tracer.onDelivered('CG', 'RMQ_SYS_TRACE_TOPIC', 0, CLIENT, [stored('RMQ_SYS_TRACE_TOPIC', 0, 0, { UNIQ_KEY: 'U5' })]);
    await tracer.flush();
    expect(records(written).map((r) => [r.msgId, r.type === 'Pub' ? r.topic : '', r.type === 'Pub' ? r.msgType : -1])).toEqual([
      ['OFFSET-ID', 'Orders', 0],
      ['U2', '%RETRY%CG', 3],
    ]);
  });

  it('a delivery is a SubBefore; the commit passing it a SubAfter with the same requestId; later offsets wait for their commit', async () => {
    const { tracer, written } = setup();
    tracer.onDelivered('CG', 'Orders', 1, CLIENT, [stored('Orders', 5, 100, { UNIQ_KEY: 'U5', KEYS: 'k5' }), stored('Orders', 6, 200, {})]);
    tracer.onCommitted('CG', 'Orders', 1, 6);
    await tracer.flush();
    const [b5, b6, a5] = records(written) as [TraceRecord, TraceRecord, TraceRecord];
    expect(b5).toMatchObject({ type: 'SubBefore', groupName: '%BROKER%CG', msgId: 'U5', keys: 'k5', retryTimes: 0 });
    expect(b6).toMatchObject({ type: 'SubBefore', msgId: createOffsetMsgId(STORE, 200) });
    expect(a5).toMatchObject({ type: 'SubAfter', groupName: '%BROKER%CG', msgId: 'U5', success: true, contextCode: 0 });
    expect(b5.type === 'SubBefore' && a5.type === 'SubAfter' && a5.requestId === b5.requestId).toBe(true);
    expect(b5.type === 'SubBefore' && b5.requestId.endsWith(`@${CLIENT}`)).toBe(true);
    // Another group's or queue's commit passes nothing; this queue's next commit passes offset 6.
    tracer.onCommitted('OTHER', 'Orders', 1, 100);
    tracer.onCommitted('CG', 'Orders', 0, 100);
    tracer.onCommitted('CG', 'Orders', 1, 7);
    await tracer.flush();
    expect(records(written).slice(3).map((r) => [r.type, r.msgId])).toEqual([['SubAfter', createOffsetMsgId(STORE, 200)]]);
  });

  it('at most 100 records per trace message', async () => {
    const { tracer, written } = setup();
    for (let i = 0; i < 250; i++) tracer.onStored(input('Orders', { UNIQ_KEY: `U${i}` }), { offsetMsgId: `O${i}`, queueOffset: i, commitLogOffset: i, storeTimestamp: 1 }, 'PG', CLIENT, 1);
    await tracer.flush();
    expect(written.map((m) => decodeTraces(m.body).records.length)).toEqual([100, 100, 50]);
  });

  it('a full queue drops and counts; nothing waits', async () => {
    const { tracer, written } = setup();
    const inp = input('Orders', { UNIQ_KEY: 'U' });
    const out = { offsetMsgId: 'O', queueOffset: 0, commitLogOffset: 0, storeTimestamp: 1 };
    for (let i = 0; i < BROKER_TRACE_QUEUE_MAX + 10; i++) tracer.onStored(inp, out, 'PG', CLIENT, 1);
    expect(tracer.stats.dropped).toBe(10);
    await tracer.flush();
    expect(tracer.stats.written).toBe(BROKER_TRACE_QUEUE_MAX);
    expect(written.length).toBe(Math.ceil(BROKER_TRACE_QUEUE_MAX / 100));
  });

  it('no trace topic: records are counted as failed, not written', async () => {
    const { tracer, written } = setup(0);
    tracer.onStored(input('Orders', { UNIQ_KEY: 'U' }), { offsetMsgId: 'O', queueOffset: 0, commitLogOffset: 0, storeTimestamp: 1 }, 'PG', CLIENT, 1);
    await tracer.flush();
    expect(written).toHaveLength(0);
    expect(tracer.stats.failed).toBe(1);
  });
});
