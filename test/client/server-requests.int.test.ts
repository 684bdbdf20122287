/**
 * Requests a broker sends to clients, sent over the real broker's own connection to our client
 * (the channel its ClientManager registered from our heartbeat): GET_CONSUMER_RUNNING_INFO,
 * GET_CONSUMER_STATUS_FROM_CLIENT, CONSUME_MESSAGE_DIRECTLY, RESET_CONSUMER_CLIENT_OFFSET,
 * CHECK_TRANSACTION_STATE, and an unknown code.
 */
import { describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer } from '../../src/client/producer.js';
import { TransactionProducer } from '../../src/client/transaction-producer.js';
import type { MessageExt } from '../../src/client/message.js';
import { FLAG_ONEWAY, bodyBuffer, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { encodeResetOffsetBody } from '../../src/protocol/bodies.js';
import { messageQueueEntries, parseFastjson } from '../../src/protocol/fastjson.js';
import { encodeRecord, parseSocketAddr } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import type { ClientChannel } from '../../src/remoting/server.js';
import type { TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/broker.js';
import { broker, defer, namesrvOf, topic, uniq } from './support.js';

function consumerChannel(b: TestBroker, group: string): ClientChannel {
  const g = b.broker.clients.consumerGroup(group);
  const info = g && [...g.channels.values()][0];
  if (!info) throw new Error(`no channel for consumer group ${group}`);
  return info.channel;
}

function oneway(cmd: RemotingCommand): RemotingCommand {
  cmd.flag = FLAG_ONEWAY;
  cmd.opaque = 1_000_000 + Math.floor(Math.random() * 1000);
  return cmd;
}

describe('broker → client requests (real broker channel)', () => {
  it('running info, status, consume-directly, reset offset, unknown code', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const group = uniq('CG');
    const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    for (let i = 0; i < 4; i++) await p.send({ topic: t, body: `m${i}` }, { queue: { topic: t, brokerName: 'broker-a', queueId: 0 } });
    const got: MessageExt[] = [];
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', persistConsumerOffsetIntervalMs: 200 });
    c.subscribe(t, '*');
    await c.start((m) => void got.push(m));
    defer(() => c.close());
    await eventually(() => (got.length === 4 ? true : undefined), 'four consumed');
    const ch = await eventually(() => consumerChannel(b, group), 'consumer channel registered');

    const info = await ch.invoke(makeRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: group, clientId: c.clientId!, jstackEnable: true }), 5000);
    expect(info.code, info.remark).toBe(ResponseCode.SUCCESS);
    const body = parseFastjson(bodyBuffer(info).toString()) as { properties: Record<string, string>; subscriptionSet: Array<{ topic: string }>; mqTable: unknown; jstack: string };
    expect(body.properties.PROP_CONSUME_TYPE).toBe('CONSUME_PASSIVELY');
    expect(body.subscriptionSet.map((s) => s.topic)).toContain(t);
    expect(messageQueueEntries(body.mqTable).map(([mq]) => mq.topic)).toContain(t);
    expect(body.jstack).toBeTruthy();

    const status = await eventually(async () => {
      const res = await ch.invoke(makeRequest(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, { topic: t, group }), 5000);
      const table = messageQueueEntries<number>((parseFastjson(bodyBuffer(res).toString()) as { messageQueueTable: unknown }).messageQueueTable);
      const q0 = table.find(([mq]) => mq.queueId === 0);
      return q0 && Number(q0[1]) === 4 ? q0 : undefined;
    }, 'offset 4 reported for queue 0');
    expect(status[1]).toBe(4);

    const rec = encodeRecord({
      topic: t, queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: Date.now(),
      bornHost: parseSocketAddr('127.0.0.1:1234'), storeHost: parseSocketAddr(b.addr),
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.from('direct'),
      properties: encodeProperties({ UNIQ_KEY: 'DIRECT1' }), queueOffset: 99, commitLogOffset: 0, storeTimestamp: Date.now(),
    });
    const direct = await ch.invoke(makeRequest(RequestCode.CONSUME_MESSAGE_DIRECTLY, { consumerGroup: group, clientId: c.clientId!, msgId: 'DIRECT1', brokerName: 'broker-a' }, rec), 5000);
    expect(direct.code).toBe(ResponseCode.SUCCESS);
    expect((parseFastjson(bodyBuffer(direct).toString()) as { consumeResult: string }).consumeResult).toBe('CR_SUCCESS');
    expect(got.some((m) => m.msgId === 'DIRECT1')).toBe(true);

    const before = got.length;
    ch.send(oneway(makeRequest(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, { topic: t, group, timestamp: 0, isForce: true }, encodeResetOffsetBody([[{ topic: t, brokerName: 'broker-a', queueId: 0 }, 2]]))));
    await eventually(() => (got.length >= before + 2 ? true : undefined), 'queue 0 consumed again from offset 2');
    expect(got.slice(before).map((m) => m.body.toString())).toEqual(['m2', 'm3']);

    const unknown = await ch.invoke(makeRequest(9999), 5000);
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  });

  it('CHECK_TRANSACTION_STATE reaches the producer group named in PGROUP and calls its checker', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('TPG');
    const checked: MessageExt[] = [];
    const p = new TransactionProducer({ namesrvAddr: ns, producerGroup: group, checkLocalTransaction: (m) => (checked.push(m), 'COMMIT_MESSAGE') });
    await p.start();
    defer(() => p.close());
    // A send makes the route known, so the producer heartbeats this broker.
    await p.sendRaw(p.prepare({ topic: t, body: 'route warm-up' }));
    const info = await eventually(() => b.broker.clients.producerGroup(group)[0], 'producer group registered by heartbeat');
    const rec = encodeRecord({
      topic: t, queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: Date.now(),
      bornHost: parseSocketAddr('127.0.0.1:1234'), storeHost: parseSocketAddr(b.addr),
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: Buffer.from('half'),
      properties: encodeProperties({ UNIQ_KEY: 'TX1', PGROUP: group, TRAN_MSG: 'true' }), queueOffset: 5, commitLogOffset: 1234, storeTimestamp: Date.now(),
    });
    info.channel.send(oneway(makeRequest(RequestCode.CHECK_TRANSACTION_STATE, { tranStateTableOffset: 5, commitLogOffset: 1234, msgId: 'TX1', transactionId: 'TX1', offsetMsgId: '' }, rec)));
    await eventually(() => (checked.length === 1 ? true : undefined), 'checker called');
    expect(checked[0]!.msgId).toBe('TX1');
    expect(checked[0]!.body.toString()).toBe('half');
  });
});

describe('admin requests relayed by the broker to the client', () => {
  it('GET_CONSUMER_RUNNING_INFO and INVOKE_BROKER_TO_RESET_OFFSET reach the consumer', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    for (let i = 0; i < 3; i++) await p.send({ topic: t, body: `m${i}` });
    const got: string[] = [];
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', persistConsumerOffsetIntervalMs: 200 });
    c.subscribe(t, '*');
    await c.start((m) => void got.push(m.body.toString()));
    defer(() => c.close());
    await eventually(() => (got.length === 3 ? true : undefined), 'three consumed');
    const info = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: group, clientId: c.clientId!, jstackEnable: false }));
    expect(info.code, info.remark).toBe(ResponseCode.SUCCESS);
    expect((parseFastjson(bodyBuffer(info).toString()) as { properties: Record<string, string> }).properties.PROP_CONSUME_TYPE).toBe('CONSUME_PASSIVELY');
    // The broker resets only groups with a committed offset (as Java's "consumer group not exist"):
    // wait until the consumer's periodic commit has reached it.
    await eventually(async () => {
      const q = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: 0 }));
      return q.code === ResponseCode.SUCCESS && Number(q.extFields?.offset) === 3 ? true : undefined;
    }, 'offset 3 committed');
    // Rewind the group to the start (timestamp 0 → offset 0) while the consumer is online.
    const reset = await b.client.invoke(b.addr, makeRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: t, group, timestamp: 0, isForce: true }));
    expect(reset.code, reset.remark).toBe(ResponseCode.SUCCESS);
    await eventually(() => (got.length === 6 ? true : undefined), 'consumed again from the start');
    expect(got.slice(3)).toEqual(['m0', 'm1', 'm2']);
  });
});

