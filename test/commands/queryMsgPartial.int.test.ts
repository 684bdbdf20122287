/**
 * queryMsgById, queryMsgByUniqueKey and queryMsgByKey when one broker of the topic does not
 * answer: a real in-process broker-a holds the messages; broker-b is a TCP listener registered
 * with the same name server (REGISTER_BROKER, same cluster, same topic) that accepts connections
 * and never answers. The message found on broker-a is printed (table and --json), the failed
 * broker is listed (warnings and `failed`), the consumer tracking it could not do is reported as
 * unknown, and the command exits 3 (partial result). The listener records what it is asked: a
 * broker that did not answer is asked once per command, so its timeouts cannot add up (no
 * wall-clock assertions here; timing is for benchmarks).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer, type SendResult } from '../../src/client/producer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { registerBroker } from '../../src/remoting/namesrv-api.js';
import { requestCodeName } from '../../src/protocol/codes.js';
import { decodeFrame } from '../../src/protocol/frame.js';
import type { TopicConfig } from '../../src/protocol/bodies.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

let a: TestBroker;
let ns: string;
let t: string;
let group: string;
let sent: SendResult;
let blackhole: net.Server;
let deadAddr: string;
const sockets = new Set<net.Socket>();
/** Request codes broker-b received (never answered), in order. */
const asked: string[] = [];
const nsClient = new RemotingClient({ requestTimeoutMs: 10_000 });
/** Short, so the test stays fast; broker-a answers on loopback well within it. */
const TIMEOUT = ['--timeout', '1500'];
const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };

/** Run the CLI; returns its result and what broker-b was asked during the run. */
async function cli(args: string[]) {
  asked.length = 0;
  const r = await runCli([...args, '-n', ns, ...TIMEOUT], { timeoutMs: 30_000 });
  // The CLI has exited: once its connections are closed here, every request it sent was read.
  await eventually(() => (sockets.size === 0 ? true : undefined), 'connections to broker-b closed', 10_000, 10);
  return { ...r, asked: [...asked] };
}

beforeAll(async () => {
  a = await startTestBroker();
  ns = a.namesrv!;
  t = `QMP_${process.pid}_${Date.now().toString(36)}`;
  group = `CG_${t}`;
  expect((await createTopic(a.client, a.addr, t, 2)).code).toBe(0);
  const p = new Producer({ namesrvAddr: ns, producerGroup: `PG_${t}` });
  await p.start();
  try {
    sent = await p.send({ topic: t, body: 'hello', tags: 'TagA', keys: ['the-key'] });
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST });
    c.subscribe(t, '*');
    let n = 0;
    await c.start(() => void n++);
    await eventually(() => (n >= 1 ? true : undefined), 'message consumed');
    await c.close();
  } finally {
    await p.close();
  }
  // broker-b: accepts, reads, never answers (as a SIGSTOP'ed broker).
  blackhole = net.createServer((sock) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        asked.push(requestCodeName(decodeFrame(buf.subarray(4, 4 + len)).code));
        buf = buf.subarray(4 + len);
      }
    });
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  deadAddr = `127.0.0.1:${(blackhole.address() as net.AddressInfo).port}`;
  const tc: TopicConfig = { topicName: t, readQueueNums: 2, writeQueueNums: 2, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
  await registerBroker(nsClient, ns, {
    clusterName: 'DefaultCluster',
    brokerName: 'broker-b',
    brokerAddr: deadAddr,
    brokerId: 0,
    haServerAddr: deadAddr,
    body: { topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: Date.now() }, topicConfigTable: { [t]: tc } }, filterServerList: [] },
  });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => blackhole?.close(r));
  await nsClient.close();
  await a?.cleanup();
});

function expectBrokerBFailed(json: any, failed: any[]) {
  expect(json.status).toBe(3);
  expect(json.warnings.join('\n')).toContain(deadAddr);
  expect(failed.map((f: { addr: string }) => f.addr)).toContain(deadAddr);
  for (const f of failed) expect(f).toMatchObject({ kind: 'broker', addr: deadAddr, brokerName: 'broker-b', code: expect.any(String), message: expect.any(String) });
}

describe('one broker of the topic does not answer', () => {
  it('queryMsgById -i UNIQ_KEY: the message from broker-a, tracking there, broker-b listed as failed, exit 3', async () => {
    const r = await cli(['queryMsgById', '-i', sent.msgId, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.asked).toEqual(['QUERY_MESSAGE']); // not asked again for the consumer tracks
    expectSuccessEnvelope('queryMsgById', r.json);
    const l = r.json.result.lookups[0];
    expect(l.idKind).toBe('uniqKey');
    expect(l.messages.map((m: { offsetMsgId: string }) => m.offsetMsgId)).toEqual([sent.offsetMsgId]);
    expect(l.messages[0].brokerName).toBe('broker-a');
    expect(l.messages[0].tracks).toEqual([{ consumerGroup: group, trackType: 'CONSUMED', online: false, consumerOffset: expect.any(Number) }]);
    expect(l.messages[0].tracksFailed.map((f: { addr: string }) => f.addr)).toEqual([deadAddr]);
    expectBrokerBFailed(r.json, l.failed);

    const text = await cli(['queryMsgById', '-i', sent.msgId]);
    expect(text.code, text.stderr).toBe(3);
    expect(text.stdout).toContain(sent.offsetMsgId);
    expect(text.stdout).toMatch(new RegExp(`${group}\\s+CONSUMED`));
    expect(text.stdout).toMatch(/broker-b .*unknown/);
    expect(text.stderr).toContain(`broker-b (${deadAddr})`);
  });

  it('queryMsgById -i offsetMsgId (found on broker-a directly): tracking of broker-b unknown, exit 3', async () => {
    const r = await cli(['queryMsgById', '-i', sent.offsetMsgId!, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.asked).toEqual(['QUERY_TOPIC_CONSUME_BY_WHO']); // then no GET_CONSUMER_CONNECTION_LIST per group
    expectSuccessEnvelope('queryMsgById', r.json);
    const l = r.json.result.lookups[0];
    expect(l.idKind).toBe('offsetMsgId');
    expect(l.messages[0].offsetMsgId).toBe(sent.offsetMsgId);
    expect(l.messages[0].tracks).toEqual([{ consumerGroup: group, trackType: 'CONSUMED', online: false, consumerOffset: expect.any(Number) }]);
    expect(l.messages[0].tracksFailed.map((f: { addr: string }) => f.addr)).toEqual([deadAddr]);
    expectBrokerBFailed(r.json, l.failed);
  });

  it('queryMsgById with several ids: broker-b asked once in all; each lookup lists it', async () => {
    const r = await cli(['queryMsgById', '-i', `${sent.msgId},${sent.offsetMsgId}`, '-t', t, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expectSuccessEnvelope('queryMsgById', r.json);
    expect(r.asked).toEqual(['QUERY_MESSAGE']);
    const [byKey, byOffset] = r.json.result.lookups;
    expect([byKey.idKind, byOffset.idKind]).toEqual(['uniqKey', 'offsetMsgId']);
    for (const l of [byKey, byOffset]) {
      expect(l.messages.map((m: { offsetMsgId: string }) => m.offsetMsgId)).toEqual([sent.offsetMsgId]);
      expectBrokerBFailed(r.json, l.failed);
    }
    expect(byOffset.failed[0].message).toMatch(/not asked again/);
    expect(r.json.warnings.filter((w: string) => w.includes(deadAddr))).toHaveLength(1);
  });

  it('queryMsgByUniqueKey: the message from broker-a, broker-b listed as failed, exit 3', async () => {
    const r = await cli(['queryMsgByUniqueKey', '-i', sent.msgId, '-t', t, '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.asked).toEqual(['QUERY_MESSAGE']);
    expectSuccessEnvelope('queryMsgByUniqueKey', r.json);
    expect(r.json.result.messages.map((m: { offsetMsgId: string }) => m.offsetMsgId)).toEqual([sent.offsetMsgId]);
    expect(r.json.result.messages[0].tracks).toEqual([{ consumerGroup: group, trackType: 'CONSUMED', online: false, consumerOffset: expect.any(Number) }]);
    expectBrokerBFailed(r.json, r.json.result.failed);

    const text = await cli(['queryMsgByUniqueKey', '-i', sent.msgId, '-t', t]);
    expect(text.code, text.stderr).toBe(3);
    expect(text.stdout).toContain(sent.offsetMsgId);
    expect(text.stderr).toContain(`broker-b (${deadAddr})`);
  });

  it('queryMsgByKey: the message from broker-a, broker-b listed as failed, exit 3', async () => {
    const r = await cli(['queryMsgByKey', '-t', t, '-k', 'the-key', '--json']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.asked).toEqual(['QUERY_MESSAGE']);
    expectSuccessEnvelope('queryMsgByKey', r.json);
    expect(r.json.result.messages.map((m: { msgId: string }) => m.msgId)).toEqual([sent.msgId]);
    expectBrokerBFailed(r.json, r.json.result.failed);

    const text = await cli(['queryMsgByKey', '-t', t, '-k', 'the-key']);
    expect(text.code, text.stderr).toBe(3);
    expect(text.stdout).toContain(sent.msgId);
  });

  it('not found anywhere that answered: still exit 1, naming the broker that could not be searched', async () => {
    const r = await cli(['queryMsgByUniqueKey', '-i', '0123456789ABCDEF0123456789ABCDEF', '-t', t, '--json']);
    expectErrorEnvelope(r.json, 1);
    expect(r.json.code).toBe('E_MESSAGE_NOT_FOUND');
    expect(r.json.message).toContain(deadAddr);
    const text = await cli(['queryMsgByUniqueKey', '-i', '0123456789ABCDEF0123456789ABCDEF', '-t', t]);
    expect(text.code).toBe(1);
    expectOneLineError(text.stderr);
  });
});
