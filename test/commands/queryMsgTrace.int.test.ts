/**
 * queryMsgTrace through the real CLI against real in-process brokers started with
 * traceTopicEnable=true: the trace topic exists at start (1/1 queues); trace messages written the
 * way a Java client's AsyncTraceDispatcher writes them (TraceDataEncoder body, KEYS = the traced
 * msgIds and user keys, space separated; sent with the library Producer) are found by the traced
 * message's msgId, decoded and printed; a custom trace topic with -t; not found and unknown trace
 * topic: one line, exit 1.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerBroker } from '../../src/remoting/namesrv-api.js';
import type { TopicConfig } from '../../src/protocol/bodies.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { Producer, type SendResult } from '../../src/client/producer.js';
import { encodeTraces, traceKeys, type TraceRecord } from '../../src/protocol/trace.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

let b: TestBroker;
let custom: TestBroker;
let t: string;
let sent: SendResult;
let other: SendResult;
let customSent: SendResult;
const CUSTOM_TRACE_TOPIC = 'MyTraceTopic';
const T0 = Date.now();

function cli(broker: TestBroker, args: string[]) {
  return runCli([...args, '--socket', broker.broker.addresses.socket]);
}

function pub(m: SendResult, topic: string, storeHost: string, ts: number): TraceRecord {
  return {
    type: 'Pub', timeStamp: ts, regionId: 'DefaultRegion', groupName: `PG_${topic}`, topic, msgId: m.msgId, tags: 'TagA', keys: 'order-1 common',
    storeHost, bodyLength: 5, costTime: 3, msgType: 0, offsetMsgId: m.offsetMsgId!, success: true, clientHost: null,
  };
}

function subs(m: SendResult, group: string, requestId: string, ts: number, ok: boolean): TraceRecord[] {
  return [
    { type: 'SubBefore', timeStamp: ts, regionId: 'DefaultRegion', groupName: group, requestId, msgId: m.msgId, retryTimes: ok ? 1 : 0, keys: 'order-1 common' },
    { type: 'SubAfter', requestId, msgId: m.msgId, costTime: 12, success: ok, keys: 'order-1 common', contextCode: ok ? 0 : 4, timeStamp: ts + 12, groupName: group },
  ];
}

/** What AsyncTraceDispatcher does: one message to the trace topic, body = records, KEYS = ids + keys. */
async function sendTraces(p: Producer, traceTopic: string, records: TraceRecord[]): Promise<void> {
  const r = await p.send({ topic: traceTopic, body: encodeTraces(records), keys: traceKeys(records) });
  expect(r.status).toBe('SEND_OK');
}

beforeAll(async () => {
  [b, custom] = await Promise.all([
    startTestBroker({ config: { traceTopicEnable: 'true' } }),
    startTestBroker({ config: { traceTopicEnable: 'true', msgTraceTopicName: CUSTOM_TRACE_TOPIC } }),
  ]);
  t = `TR_${process.pid}_${Date.now().toString(36)}`;
  expect((await createTopic(b.client, b.addr, t, 2)).code).toBe(0);
  expect((await createTopic(custom.client, custom.addr, t, 2)).code).toBe(0);
  const p = new Producer({ namesrvAddr: b.namesrv!, producerGroup: `PG_${t}` });
  const tp = new Producer({ namesrvAddr: b.namesrv!, producerGroup: `_INNER_TRACE_PRODUCER-PG_${t}-PRODUCE-1` });
  const cp = new Producer({ namesrvAddr: custom.namesrv!, producerGroup: `PG_${t}` });
  await Promise.all([p.start(), tp.start(), cp.start()]);
  try {
    sent = await p.send({ topic: t, body: 'hello', tags: 'TagA', keys: ['order-1', 'common'] });
    other = await p.send({ topic: t, body: 'other', keys: 'common' });
    // The producer's batch: Pub records of both messages (the other must be filtered out).
    await sendTraces(tp, 'RMQ_SYS_TRACE_TOPIC', [pub(sent, t, b.addr, T0), pub(other, t, b.addr, T0 + 1)]);
    // A consumer's: a failed attempt, then a successful retry, in two trace messages.
    await sendTraces(tp, 'RMQ_SYS_TRACE_TOPIC', subs(sent, `CG_${t}`, 'REQ-A', T0 + 100, false));
    await sendTraces(tp, 'RMQ_SYS_TRACE_TOPIC', subs(sent, `CG_${t}`, 'REQ-B', T0 + 200, true));
    await sendTraces(tp, 'RMQ_SYS_TRACE_TOPIC', [{
      type: 'EndTransaction', timeStamp: T0 + 50, regionId: 'DefaultRegion', groupName: `PG_${t}`, topic: t, msgId: sent.msgId, tags: 'TagA', keys: 'order-1 common',
      storeHost: b.addr, msgType: 2, transactionId: 'tx-1', transactionState: 'COMMIT_MESSAGE', fromTransactionCheck: false,
    }]);
    customSent = await cp.send({ topic: t, body: 'hello', keys: 'order-1' });
    await sendTraces(cp, CUSTOM_TRACE_TOPIC, [pub(customSent, t, custom.addr, T0)]);
  } finally {
    await Promise.all([p.close(), tp.close(), cp.close()]);
  }
});

let blackhole: net.Server | undefined;
const sockets = new Set<net.Socket>();
const nsClient = new RemotingClient({ requestTimeoutMs: 10_000 });

afterAll(async () => {
  for (const s of sockets) s.destroy();
  if (blackhole) await new Promise((r) => blackhole!.close(r));
  await nsClient.close();
  await Promise.all([b?.cleanup(), custom?.cleanup()]);
});

describe('traceTopicEnable (real broker)', () => {
  it('creates the trace topic (msgTraceTopicName) at start with 1 read / 1 write queue', async () => {
    for (const [broker, topic] of [[b, 'RMQ_SYS_TRACE_TOPIC'], [custom, CUSTOM_TRACE_TOPIC]] as const) {
      const r = await cli(broker, ['topicRoute', '-t', topic, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const q = r.json.result.queueDatas ?? r.json.result.route?.queueDatas;
      expect(q).toEqual([expect.objectContaining({ readQueueNums: 1, writeQueueNums: 1 })]);
    }
    const none = await cli(custom, ['topicRoute', '-t', 'RMQ_SYS_TRACE_TOPIC', '--json']);
    expect(none.code).toBe(1);
  });
});

describe('queryMsgTrace (real CLI, real broker)', () => {
  it('finds the Pub and Sub records of a message by its msgId, with their fields', async () => {
    const r = await eventually(async () => {
      const x = await cli(b, ['queryMsgTrace', '-i', sent.msgId, '--json']);
      return x.code === 0 ? x : undefined;
    }, 'trace found', 15_000, 200);
    expectSuccessEnvelope('queryMsgTrace', r.json);
    const res = r.json.result;
    expect(res).toMatchObject({ msgId: sent.msgId, traceTopic: 'RMQ_SYS_TRACE_TOPIC', traceMessages: 4, undecodable: 0, failed: [] });
    expect(res.rows.map((x: any) => [x.type, x.status])).toEqual([['Pub', 'success'], ['EndTransaction', 'COMMIT_MESSAGE'], ['Sub', 'failed'], ['Sub', 'success']]);
    const [p, e, s1, s2] = res.rows;
    expect(e).toMatchObject({ group: `PG_${t}`, timeStamp: T0 + 50, costTimeMs: null, success: null });
    expect(e.records[0]).toMatchObject({ type: 'EndTransaction', msgType: 2, transactionId: 'tx-1', fromTransactionCheck: false });
    expect(p).toMatchObject({ group: `PG_${t}`, timeStamp: T0, costTimeMs: 3, success: true, clientHost: '127.0.0.1' });
    expect(p.records).toEqual([{ type: 'Pub', timeStamp: T0, regionId: 'DefaultRegion', groupName: `PG_${t}`, topic: t, msgId: sent.msgId, tags: 'TagA', keys: 'order-1 common', storeHost: b.addr, bodyLength: 5, costTime: 3, msgType: 0, offsetMsgId: sent.offsetMsgId, success: true, clientHost: null }]);
    expect(s1).toMatchObject({ group: `CG_${t}`, timeStamp: T0 + 112, costTimeMs: 12, success: false });
    expect(s1.records.map((x: any) => x.type)).toEqual(['SubBefore', 'SubAfter']);
    expect(s1.records[1]).toMatchObject({ requestId: 'REQ-A', contextCode: 4 });
    expect(s2.records[0]).toMatchObject({ type: 'SubBefore', requestId: 'REQ-B', retryTimes: 1 });

    const text = await cli(b, ['queryMsgTrace', '-i', sent.msgId]);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^#Type\s+#Group\s+#ClientHost\s+#Time\s+#CostTimes\s+#Status$/);
    expect(lines[1]).toMatch(new RegExp(`^Pub\\s+PG_${t}\\s+127\\.0\\.0\\.1\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+3ms\\s+success$`));
    expect(lines.slice(2, 5).map((l) => l.split(/\s+/)[0])).toEqual(['EndTransaction', 'Sub', 'Sub']);
    // Then the timeline: client records only here (no broker tracing), one step per record or attempt.
    expect(lines[5]).toBe('');
    expect(lines[6]).toMatch(/^Timeline/);
    expect(lines.slice(8).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['sent client', 'transaction client', 'consume failed', 'consumed client']);
  });

  it('the other message of the same trace batch has only its own Pub', async () => {
    const r = await cli(b, ['queryMsgTrace', '-i', other.msgId, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.result.rows.map((x: any) => x.type)).toEqual(['Pub']);
    expect(r.json.result.rows[0].records[0].msgId).toBe(other.msgId);
  });

  it('a custom trace topic with -t', async () => {
    const r = await cli(custom, ['queryMsgTrace', '-i', customSent.msgId, '-t', CUSTOM_TRACE_TOPIC, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('queryMsgTrace', r.json);
    expect(r.json.result.traceTopic).toBe(CUSTOM_TRACE_TOPIC);
    expect(r.json.result.rows[0].records[0]).toMatchObject({ type: 'Pub', msgId: customSent.msgId, storeHost: custom.addr });
  });

  it('no trace: one line saying why it may be, exit 1', async () => {
    const r = await cli(b, ['queryMsgTrace', '-i', '7F00000100002A9F0000000000ABCDEF']);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/no trace of message .*enableMsgTrace.*time range/);
    const j = await cli(b, ['queryMsgTrace', '-i', '7F00000100002A9F0000000000ABCDEF', '--json']);
    expect(j.code).toBe(1);
    expectErrorEnvelope(j.json, 1);
    expect(j.json.code).toBe('E_MESSAGE_NOT_FOUND');
    // A time range that misses it.
    const old = await cli(b, ['queryMsgTrace', '-i', sent.msgId, '--end', String(T0 - 3_600_000)]);
    expect(old.code).toBe(1);
    expectOneLineError(old.stderr);
  });

  it('unknown trace topic: one line (tracing probably never enabled), exit 1', async () => {
    const r = await cli(custom, ['queryMsgTrace', '-i', customSent.msgId]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(r.stderr).toMatch(/trace topic RMQ_SYS_TRACE_TOPIC does not exist: message tracing was probably never enabled/);
    expect(r.stderr).toMatch(/traceTopicEnable=true/);
    // An id that cannot be a message id is a usage error before anything is asked.
    const bad = await cli(custom, ['queryMsgTrace', '-i', 'zz']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.stderr);
    expect(bad.stderr).toMatch(/^Error: "zz" is not a message id/);
  });
});

describe('queryMsgTrace when a broker of the trace topic does not answer', () => {
  it('prints what the others hold, lists the failed broker, exit 3', async () => {
    // broker-b: registered for the trace topic, accepts connections, never answers.
    blackhole = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('data', () => {});
      sock.on('close', () => sockets.delete(sock));
    });
    await new Promise<void>((r) => blackhole!.listen(0, '127.0.0.1', r));
    const dead = `127.0.0.1:${(blackhole.address() as net.AddressInfo).port}`;
    const tc: TopicConfig = { topicName: 'RMQ_SYS_TRACE_TOPIC', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
    await registerBroker(nsClient, b.namesrv!, {
      clusterName: 'DefaultCluster', brokerName: 'broker-b', brokerAddr: dead, brokerId: 0, haServerAddr: dead,
      body: { topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: Date.now() }, topicConfigTable: { RMQ_SYS_TRACE_TOPIC: tc } }, filterServerList: [] },
    });
    const r = await runCli(['queryMsgTrace', '-i', sent.msgId, '-n', b.namesrv!, '--timeout', '1500', '--json'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(3);
    expectSuccessEnvelope('queryMsgTrace', r.json);
    expect(r.json.status).toBe(3);
    expect(r.json.result.rows.map((x: any) => x.type)).toEqual(['Pub', 'EndTransaction', 'Sub', 'Sub']);
    expect(r.json.result.failed).toEqual([expect.objectContaining({ kind: 'broker', addr: dead, brokerName: 'broker-b' })]);
    expect(r.json.warnings.join('\n')).toContain(dead);
  });
});
