/**
 * Our clients write message traces (enableMsgTrace) that `rocketctl queryMsgTrace` reads back,
 * against real brokers with traceTopicEnable: a producer's Pub, a push consumer's SubBefore and
 * SubAfter (one handled, one thrown then retried), a transactional producer's EndTransaction, a
 * custom trace topic; and tracing never gets in the way: a trace topic that cannot be written
 * costs the business sends nothing, and a full queue drops and counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { TransactionProducer } from '../../src/client/transaction-producer.js';
import { TraceDispatcher } from '../../src/client/trace-dispatcher.js';
import type { MessageExt } from '../../src/client/message.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { defer, uniq } from './support.js';

const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };
let b: TestBroker;
let custom: TestBroker;

beforeAll(async () => {
  [b, custom] = await Promise.all([
    startTestBroker({ config: { traceTopicEnable: 'true' } }),
    startTestBroker({ config: { traceTopicEnable: 'true', msgTraceTopicName: 'MyTraceTopic' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([b?.cleanup(), custom?.cleanup()]);
});

interface Row {
  type: string;
  group: string;
  status: string;
  records: Array<Record<string, unknown>>;
}

/** queryMsgTrace --json until `want` says the rows are complete (trace sends are asynchronous). */
async function traceOf(broker: TestBroker, msgId: string, want: (rows: Row[]) => boolean, extra: string[] = []): Promise<Row[]> {
  return eventually(async () => {
    const r = await runCli(['queryMsgTrace', '-i', msgId, '--socket', broker.broker.addresses.socket, '--json', ...extra]);
    if (r.code !== 0) return undefined;
    expectSuccessEnvelope('queryMsgTrace', r.json);
    const rows = r.json.result.rows as Row[];
    return want(rows) ? rows : undefined;
  }, `the trace of ${msgId}`);
}

describe('client-side message traces (enableMsgTrace)', () => {
  it('a producer writes Pub, a push consumer SubBefore + SubAfter; a failed attempt is traced as failed', async () => {
    const t = uniq('TT');
    await createTopic(b.client, b.addr, t, 2);
    const p = new Producer({ namesrvAddr: b.namesrv!, producerGroup: uniq('PG'), enableMsgTrace: true });
    await p.start();
    defer(() => p.close());
    const sent = await p.send({ topic: t, body: 'traced', tags: 'TagA', keys: ['order-1'] });
    const group = uniq('CG');
    const c = new PushConsumer({ namesrvAddr: b.namesrv!, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', enableMsgTrace: true, ...FAST });
    c.subscribe(t, '*');
    defer(() => c.close());
    const attempts: MessageExt[] = [];
    await c.start((m) => {
      attempts.push(m);
      if (attempts.length === 1) throw new Error('first attempt fails');
    });
    await eventually(() => (attempts.length >= 2 ? true : undefined), 'consumed again after the failure', 40_000);

    const rows = await traceOf(b, sent.msgId, (rs) => rs.some((r) => r.type === 'Pub') && rs.filter((r) => r.type === 'Sub').length >= 2);
    const pub = rows.find((r) => r.type === 'Pub')!;
    expect(pub.group).toBe(p.group);
    expect(pub.status).toBe('success');
    expect(pub.records[0]).toMatchObject({ type: 'Pub', topic: t, msgId: sent.msgId, offsetMsgId: sent.offsetMsgId, tags: 'TagA', keys: 'order-1', bodyLength: 6, msgType: 0, success: true });
    const subs = rows.filter((r) => r.type === 'Sub');
    expect(subs.map((s) => s.group)).toEqual([group, group]);
    expect(subs.map((s) => s.status).sort()).toEqual(['failed', 'success']);
    // Each Sub row pairs a SubBefore with its SubAfter (same request id).
    for (const s of subs) expect(new Set(s.records.map((r) => r.requestId)).size).toBe(1);
    expect(p.traceStats).toMatchObject({ dropped: 0, failed: 0 });
    // The same records are found by the message's key (trace messages are keyed by ids and keys).
    const byKey = await runCli(['queryMsgByKey', '-t', 'RMQ_SYS_TRACE_TOPIC', '-k', 'order-1', '--socket', b.broker.addresses.socket, '--json']);
    expect(byKey.code, byKey.stderr).toBe(0);
  });

  it('a transactional producer writes Pub (half message) and EndTransaction with the state', async () => {
    const t = uniq('TX');
    await createTopic(b.client, b.addr, t, 1);
    const p = new TransactionProducer({ namesrvAddr: b.namesrv!, producerGroup: uniq('TPG'), enableMsgTrace: true, checkLocalTransaction: () => 'COMMIT_MESSAGE' });
    await p.start();
    defer(() => p.close());
    const sent = await p.sendMessageInTransaction({ topic: t, body: 'tx' }, () => 'COMMIT_MESSAGE', undefined);
    const rows = await traceOf(b, sent.msgId, (rs) => rs.some((r) => r.type === 'Pub') && rs.some((r) => r.type === 'EndTransaction'));
    expect(rows.find((r) => r.type === 'Pub')!.records[0]).toMatchObject({ msgType: 1, topic: t });
    expect(rows.find((r) => r.type === 'EndTransaction')!.records[0]).toMatchObject({ transactionState: 'COMMIT_MESSAGE', fromTransactionCheck: false, msgType: 2, topic: t });
  });

  it('a custom trace topic (customizedTraceTopic): found there with queryMsgTrace -t', async () => {
    const t = uniq('TC');
    await createTopic(custom.client, custom.addr, t, 1);
    const p = new Producer({ namesrvAddr: custom.namesrv!, producerGroup: uniq('PG'), enableMsgTrace: true, customizedTraceTopic: 'MyTraceTopic' });
    await p.start();
    defer(() => p.close());
    const sent = await p.send({ topic: t, body: 'x' });
    const rows = await traceOf(custom, sent.msgId, (rs) => rs.some((r) => r.type === 'Pub'), ['-t', 'MyTraceTopic']);
    expect(rows[0]!.records[0]).toMatchObject({ topic: t, msgId: sent.msgId });
  });

  it('a trace topic that cannot be written: business sends succeed, the trace failures are counted, close is bounded', async () => {
    const t = uniq('TN');
    await createTopic(b.client, b.addr, t, 1);
    // Not a valid topic name: every trace send is refused (before it reaches a broker).
    const p = new Producer({ namesrvAddr: b.namesrv!, producerGroup: uniq('PG'), enableMsgTrace: true, customizedTraceTopic: 'no such topic' });
    await p.start();
    for (let i = 0; i < 5; i++) expect((await p.send({ topic: t, body: `m${i}` })).status).toBe('SEND_OK');
    await p.close();
    expect(p.traceStats).toMatchObject({ appended: 5, sent: 0, failed: 5, dropped: 0 });
  });

  it('the dispatcher: a full queue drops and counts; flush sends what was queued', async () => {
    const d = new TraceDispatcher({ client: { namesrvAddr: b.namesrv! }, group: uniq('G'), kind: 'PRODUCE', capacity: 3, flushIntervalMs: 60_000 });
    const rec = (i: number) => [{ type: 'SubBefore' as const, timeStamp: i, regionId: null, groupName: 'G', requestId: `r${i}`, msgId: `m${i}`, retryTimes: 0, keys: null }];
    for (let i = 0; i < 5; i++) d.append(rec(i));
    expect(d.stats).toMatchObject({ appended: 5, dropped: 2 });
    await d.flush();
    expect(d.stats).toMatchObject({ sent: 3, failed: 0 });
    await d.close();
  });
});
