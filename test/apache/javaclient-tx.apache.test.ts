/**
 * The Apache RocketMQ Java client 4.9.8 against our broker (issue 10, item 1), part 2: a
 * transaction resolved by check-back, message traces (default and customized trace topic) found by
 * our queryMsgTrace, the VIP channel (listenPort - 2) and ROCKETMQ-serialized headers.
 * Part 1 (sends, consumers, retry, delay): javaclient.apache.test.ts; results: docs/conformance/java-client.md.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { SysFlag } from '../../src/protocol/message.js';
import { describeApache, javaDriver } from './support.js';
import { byMsgId, deliveriesOf, expectExactlyOnce, expectSame, sentOf } from './javaclient-support.js';

const JVM_TEST_MS = 240_000;

describeApache('Java client 4.9.8 against our broker: transactions, traces, VIP channel, ROCKETMQ headers', () => {
  let ours: TestBroker;
  let namesrv: string;
  beforeAll(async () => {
    ours = await startTestBroker({
      // Check-back 1 s after the half message, passes every 500 ms; RMQ_SYS_TRACE_TOPIC created at start.
      config: { transactionTimeOut: '1000', transactionCheckInterval: '500', traceTopicEnable: 'true' },
    });
    namesrv = ours.namesrv!;
  });
  afterAll(async () => ours?.cleanup());

  it('a transaction answered UNKNOW is resolved by the check-back: COMMIT becomes visible only then, ROLLBACK never', async () => {
    const tx = await javaDriver('Transaction', { namesrv, topic: 'JcTx', count: 4, rollback: '1,3', tags: 'TagT', keys: 'tx-', props: 'order:42', timeoutMs: 60_000 });
    expect(tx.lines.at(-1), tx.stderr).toEqual({ done: true, count: 4, answered: 4 });
    const sent = tx.lines.filter((l) => l.event === 'sent');
    expect(sent.map((s) => [s.i, s.status, s.localState])).toEqual([0, 1, 2, 3].map((i) => [i, 'SEND_OK', 'UNKNOW']));
    const checks = tx.lines.filter((l) => l.event === 'check');
    for (const s of sent) {
      const c = checks.filter((x) => x.i === s.i);
      expect(c.length, `check-backs of message ${s.i}`).toBeGreaterThanOrEqual(1);
      // The check names the transaction by the message's id, and carries the message as sent.
      expect(c[0].transactionId).toBe(s.msgId);
      expectSame({ ...c[0], msgId: c[0].uniqKey }, { ...s, offsetMsgId: null }, { TRANSACTION_CHECK_TIMES: c[0].checkTimes });
      expect(c.at(-1).answer).toBe(s.i % 2 === 1 ? 'ROLLBACK_MESSAGE' : 'COMMIT_MESSAGE');
    }

    // Only the two commits are in the topic (a rollback never reaches a consume queue).
    await eventually(() => ([0, 1, 2, 3].reduce((n, q) => n + ours.broker.store.maxOffset('JcTx', q), 0) === 2 ? true : undefined), 'two committed messages in JcTx', 20_000);
    const c = await javaDriver('Consume', { namesrv, topic: 'JcTx', group: 'JcTxG', expect: 2, timeoutMs: 90_000 });
    const got = byMsgId(deliveriesOf(c));
    expect([...got.keys()].sort()).toEqual(sent.filter((s) => s.i % 2 === 0).map((s) => s.msgId).sort());
    for (const s of sent.filter((x) => x.i % 2 === 0)) {
      const [d, ...more] = got.get(s.msgId)!;
      expect(more).toEqual([]);
      const check = checks.filter((x) => x.i === s.i).at(-1);
      expectSame(d, { ...s, offsetMsgId: null }, { TRANSACTION_CHECK_TIMES: check.checkTimes });
      expect(d.sysFlag & SysFlag.TRANSACTION_ROLLBACK_TYPE).toBe(SysFlag.TRANSACTION_COMMIT_TYPE);
      // Stored in JcTx only once the check had answered COMMIT (same host, so one clock).
      expect(d.storeTimestamp).toBeGreaterThanOrEqual(check.checkedAt);
      // As Apache: the committed copy still carries the half message's REAL_TOPIC.
      expect(d.realTopic).toBe('JcTx');
    }
  }, JVM_TEST_MS);

  it('enableMsgTrace: queryMsgTrace finds the Pub, SubBefore and SubAfter records in RMQ_SYS_TRACE_TOPIC and in a customized trace topic', async () => {
    const cases: Array<{ topic: string; group: string; traceTopic: string; custom: Record<string, string> }> = [
      { topic: 'JcTraceDefault', group: 'JcTraceG1', traceTopic: 'RMQ_SYS_TRACE_TOPIC', custom: {} },
      { topic: 'JcTraceCustom', group: 'JcTraceG2', traceTopic: 'JcTraceTopic', custom: { traceTopic: 'JcTraceTopic' } },
    ];
    const produced = await Promise.all(cases.map((k) => javaDriver('Produce', { namesrv, topic: k.topic, count: 2, tags: 'TagTr', keys: 'tr-', trace: true, timeoutMs: 20_000, ...k.custom })));
    const sent = produced.map(sentOf);
    const consumed = await Promise.all(cases.map((k) => javaDriver('Consume', { namesrv, topic: k.topic, group: k.group, expect: 2, trace: true, timeoutMs: 90_000, ...k.custom })));
    consumed.forEach((c, n) => expectExactlyOnce(deliveriesOf(c), sent[n]!));

    for (const [n, k] of cases.entries()) {
      for (const s of sent[n]!) {
        const trace = await eventually(async () => {
          const r = await runCli(['queryMsgTrace', '-i', s.msgId, '-t', k.traceTopic, '-n', namesrv, '--json']);
          const rows = r.code === 0 ? r.json.result.rows : [];
          const types = rows.flatMap((row: any) => row.records.map((x: any) => x.type));
          return ['Pub', 'SubBefore', 'SubAfter'].every((t) => types.includes(t)) ? r.json.result : undefined;
        }, `Pub, SubBefore and SubAfter of ${s.msgId} in ${k.traceTopic}`, 60_000, 1000);
        const pub = trace.rows.find((r: any) => r.type === 'Pub');
        expect(pub).toMatchObject({ group: 'PG_kit', success: true });
        expect(pub.records[0]).toMatchObject({ topic: k.topic, msgId: s.msgId, tags: 'TagTr', keys: s.keys });
        expect(trace.rows.filter((r: any) => r.type === 'Sub').map((r: any) => [r.group, r.status])).toEqual([[k.group, 'success']]);
      }
    }
    // The customized topic really was used: the default trace topic knows nothing of those messages.
    const none = await runCli(['queryMsgTrace', '-i', sent[1]![0]!.msgId, '-n', namesrv, '--json']);
    expect(none.code).toBe(1);
  }, JVM_TEST_MS);

  it('the VIP channel: with listen port 0 the broker serves the fast port on P - 2 of the P it registers, and vipChannelEnabled clients send through it', async () => {
    const port = Number(ours.addr.split(':').at(-1));
    expect(ours.broker.addresses.fast).toBe(`127.0.0.1:${port - 2}`);
    const send = await javaDriver('Produce', { namesrv, topic: 'JcVip', count: 3, mode: 'sync,async', tags: 'TagV', keys: 'v-', vip: true, timeoutMs: 20_000 });
    const sent = sentOf(send);
    // What the client derives the VIP address from: the broker address registered with the name server.
    const route = await runCli(['topicRoute', '-t', 'JcVip', '-n', namesrv, '--json']);
    expect(route.json.result.brokerDatas[0].brokerAddrs['0']).toBe(ours.addr);
    const c = await javaDriver('Consume', { namesrv, topic: 'JcVip', group: 'JcVipG', expect: 6, vip: true, timeoutMs: 90_000 });
    expectExactlyOnce(deliveriesOf(c), sent);
  }, JVM_TEST_MS);

  it('-Drocketmq.serialize.type=ROCKETMQ: binary request headers work end to end', async () => {
    const env = { '-Drocketmq.serialize.type': 'ROCKETMQ' };
    const send = await javaDriver('Produce', { namesrv, topic: 'JcBinary', count: 3, mode: 'sync,batch', tags: 'TagB', keys: 'b-', props: 'x:y', timeoutMs: 20_000 }, { env });
    expect(send.lines.at(-1)).toMatchObject({ serializeType: 'ROCKETMQ' });
    const sent = sentOf(send);
    const c = await javaDriver('Consume', { namesrv, topic: 'JcBinary', group: 'JcBinaryG', expect: 6, timeoutMs: 90_000 }, { env });
    expect(c.lines.find((l) => l.event === 'started')).toMatchObject({ serializeType: 'ROCKETMQ' });
    expectExactlyOnce(deliveriesOf(c), sent);
  }, JVM_TEST_MS);
});
