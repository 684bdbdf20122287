/**
 * The broker side of the admin progress/reset codes, answered like Apache's: GET_CONSUME_STATS, QUERY_TOPIC_CONSUME_BY_WHO, INVOKE_BROKER_TO_RESET_OFFSET (4.x form,
 * 5.x per-queue form, rocketctl's exact table, C++ body, CONSUMER_NOT_ONLINE),
 * INVOKE_BROKER_TO_GET_CONSUMER_STATUS and GET_CONSUMER_RUNNING_INFO relayed to a client. A raw
 * remoting client plays the consumer (heartbeat, then answers what the broker asks it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RemotingClient } from '../../src/remoting/client.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest, makeResponse, type RemotingCommand } from '../../src/protocol/frame.js';
import { decodeConsumeStats, decodeResetOffsetBody, decodeStringList, encodeJson, encodeResetOffsetBody } from '../../src/protocol/bodies.js';
import { messageQueueMap, parseFastjson } from '../../src/protocol/fastjson.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(): Promise<TestBroker> {
  const b = await startTestBroker({ namesrv: false });
  cleanups.push(() => b.cleanup());
  return b;
}

/** A consumer as the broker sees one: heartbeats, records what the broker sends, answers 221/307. */
async function fakeConsumer(b: TestBroker, clientID: string, group: string, topics: string[], language = 'JAVA') {
  const received: RemotingCommand[] = [];
  const client = new RemotingClient({
    requestTimeoutMs: 10_000,
    language,
    onServerRequest: (cmd) => {
      received.push(cmd);
      if (cmd.code === RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT) {
        return makeResponse(cmd, ResponseCode.SUCCESS, undefined, {}, encodeJson({ consumerTable: {}, messageQueueTable: messageQueueMap([[{ topic: topics[0]!, brokerName: b.broker.config.brokerName, queueId: 0 }, 42]]) }));
      }
      if (cmd.code === RequestCode.GET_CONSUMER_RUNNING_INFO) return makeResponse(cmd, ResponseCode.SUCCESS, 'from the client', { echo: cmd.extFields?.clientId ?? '' }, Buffer.from('{"properties":{"x":"1"}}'));
      return undefined;
    },
  });
  cleanups.push(() => client.close());
  const body = {
    clientID,
    consumerDataSet: [
      {
        groupName: group,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        subscriptionDataSet: topics.map((topic) => ({ topic, subString: '*', classFilterMode: false, tagsSet: [], codeSet: [], subVersion: 1 })),
        unitMode: false,
      },
    ],
    producerDataSet: [],
  };
  const res = await client.invoke(b.addr, makeRequest(RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(body))));
  expect(res.code).toBe(0);
  return { client, received };
}

async function send(b: TestBroker, topic: string, queueId: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false }, Buffer.from(`m${i}`)));
    expect(res.code).toBe(0);
  }
}

const req = (b: TestBroker, code: number, fields: Record<string, string | number | boolean | undefined>, body?: Buffer) => b.client.invoke(b.addr, makeRequest(code, fields, body));
const commit = (b: TestBroker, group: string, topic: string, queueId: number, offset: number) => req(b, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId, commitOffset: offset });
const offsetOf = async (b: TestBroker, group: string, topic: string, queueId: number) => {
  const r = await req(b, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId });
  return r.code === 0 ? Number(r.extFields?.offset) : null;
};

describe('GET_CONSUME_STATS and QUERY_TOPIC_CONSUME_BY_WHO', () => {
  it('offsets per read queue, none as 0, lastTimestamp of the last consumed message; only topics with offsets unless one is named', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'ST', 2);
    await send(b, 'ST', 0, 4);
    await commit(b, 'G1', 'ST', 0, 2);

    const res = await req(b, RequestCode.GET_CONSUME_STATS, { consumerGroup: 'G1' });
    expect(res.code).toBe(0);
    expect(res.extFields?.resetOffsetTable).toBe('true');
    const stats = decodeConsumeStats(bodyBuffer(res));
    expect(stats.offsetTable.map(([mq, w]) => [mq.topic, mq.queueId, w.brokerOffset, w.consumerOffset])).toEqual([
      ['ST', 0, 4, 2],
      ['ST', 1, 0, 0],
    ]);
    const pulled = await req(b, RequestCode.PULL_MESSAGE, { consumerGroup: 'TOOLS_CONSUMER', topic: 'ST', queueId: 0, queueOffset: 1, maxMsgNums: 1, sysFlag: 4, commitOffset: 0, suspendTimeoutMillis: 0, subscription: '*', subVersion: 0 });
    expect(stats.offsetTable[0]![1].lastTimestamp).toBe(decodeRecord(bodyBuffer(pulled)).storeTimestamp);
    expect(bodyBuffer(res).toString()).toContain('{"brokerName":"'); // MessageQueue object keys, as fastjson

    const fresh = decodeConsumeStats(bodyBuffer(await req(b, RequestCode.GET_CONSUME_STATS, { consumerGroup: 'G2' })));
    expect(fresh.offsetTable).toEqual([]);
    const named = decodeConsumeStats(bodyBuffer(await req(b, RequestCode.GET_CONSUME_STATS, { consumerGroup: 'G2', topic: 'ST' })));
    expect(named.offsetTable.map(([, w]) => w.consumerOffset)).toEqual([0, 0]);
    // Reading stats changed nothing.
    expect(await offsetOf(b, 'G1', 'ST', 0)).toBe(2);
  });

  it('an online group reports only the topics it subscribes to; QUERY_TOPIC_CONSUME_BY_WHO lists online and offline groups', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'A', 1);
    await createTopic(b.client, b.addr, 'B', 1);
    await commit(b, 'GON', 'A', 0, 0);
    await commit(b, 'GON', 'B', 0, 0);
    await commit(b, 'GOFF', 'A', 0, 0);
    await fakeConsumer(b, 'c1', 'GON', ['B']);
    await fakeConsumer(b, 'c2', 'GNEW', ['A']);
    const stats = decodeConsumeStats(bodyBuffer(await req(b, RequestCode.GET_CONSUME_STATS, { consumerGroup: 'GON' })));
    expect(stats.offsetTable.map(([mq]) => mq.topic)).toEqual(['B']);
    const who = await req(b, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic: 'A' });
    expect(decodeStringList(bodyBuffer(who), 'groupList')).toEqual(['GNEW', 'GOFF', 'GON']);
  });
});

describe('INVOKE_BROKER_TO_RESET_OFFSET', () => {
  it('no consumer online: CONSUMER_NOT_ONLINE and nothing changed', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'R', 2);
    await send(b, 'R', 0, 3);
    await commit(b, 'G', 'R', 0, 1);
    const res = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true });
    expect(res.code).toBe(ResponseCode.CONSUMER_NOT_ONLINE);
    expect(res.remark).toBe('Consumer not online, so can not reset offset, Group: G Topic: R Timestamp: -1');
    expect(await offsetOf(b, 'G', 'R', 0)).toBe(1);
  });

  it('4.x form: every queue to the max offset, stored, consumers told (oneway) with the same table', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'R', 2);
    await send(b, 'R', 0, 3);
    await send(b, 'R', 1, 2);
    await commit(b, 'G', 'R', 0, 1);
    await commit(b, 'G', 'R', 1, 0);
    const c = await fakeConsumer(b, 'c1', 'G', ['R']);
    const res = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true });
    expect(res.code).toBe(0);
    expect(decodeResetOffsetBody(bodyBuffer(res)).map(([mq, o]) => [mq.queueId, o])).toEqual([[0, 3], [1, 2]]);
    expect(await offsetOf(b, 'G', 'R', 0)).toBe(3);
    const told = await eventually(() => c.received.find((x) => x.code === RequestCode.RESET_CONSUMER_CLIENT_OFFSET), 'the consumer is told');
    expect(told.flag & 2).toBe(2); // oneway
    expect(told.extFields).toMatchObject({ topic: 'R', group: 'G', timestamp: '-1' });
    expect(decodeResetOffsetBody(bodyBuffer(told)).map(([mq, o]) => [mq.queueId, o])).toEqual([[0, 3], [1, 2]]);

    // Java's answer for a group without offsets on the topic.
    await fakeConsumer(b, 'c2', 'G2', ['R']);
    const none = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G2', timestamp: -1, isForce: true });
    expect(none.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(none.remark).toBe('THe consumer group <G2> not exist');
  });

  it('5.x per-queue form, the exact table, range checks, and the C++ body', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'R', 2);
    await send(b, 'R', 0, 5);
    await send(b, 'R', 1, 5);
    await commit(b, 'G', 'R', 0, 5);
    await commit(b, 'G', 'R', 1, 5);
    const c = await fakeConsumer(b, 'c1', 'G', ['R'], 'CPP');

    const one = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true, queueId: 1, offset: 2 });
    expect(one.code).toBe(0);
    expect(decodeResetOffsetBody(bodyBuffer(one)).map(([mq, o]) => [mq.queueId, o])).toEqual([[1, 2]]);
    expect([await offsetOf(b, 'G', 'R', 0), await offsetOf(b, 'G', 'R', 1)]).toEqual([5, 2]);

    const table = encodeResetOffsetBody([[{ topic: 'R', brokerName: b.broker.config.brokerName, queueId: 0 }, 1], [{ topic: 'R', brokerName: b.broker.config.brokerName, queueId: 1 }, 4]]);
    const exact = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true }, table);
    expect(exact.code).toBe(0);
    expect([await offsetOf(b, 'G', 'R', 0), await offsetOf(b, 'G', 'R', 1)]).toEqual([1, 4]);

    const out = await req(b, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true, queueId: 0, offset: 99 });
    expect(out.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(out.remark).toBe('Target offset 99 not in consume queue range [0-5]');
    expect(await offsetOf(b, 'G', 'R', 0)).toBe(1);

    // A C++ requester: the consumers get ResetOffsetBodyForC (a list).
    const cpp = makeRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'R', group: 'G', timestamp: -1, isForce: true, queueId: 0, offset: 3 });
    cpp.language = 'CPP';
    expect((await b.client.invoke(b.addr, cpp)).code).toBe(0);
    const told = await eventually(() => [...c.received].reverse().find((x) => x.code === RequestCode.RESET_CONSUMER_CLIENT_OFFSET && bodyBuffer(x).toString().startsWith('{"offsetTable":[')), 'list body');
    expect(parseFastjson(bodyBuffer(told).toString())).toEqual({ offsetTable: [{ brokerName: b.broker.config.brokerName, offset: 3, queueId: 0, topic: 'R' }] });
  });
});

describe('requests relayed to consumers', () => {
  it('INVOKE_BROKER_TO_GET_CONSUMER_STATUS collects each client\'s offsets; none online is SYSTEM_ERROR', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'S', 1);
    await fakeConsumer(b, 'client-1', 'G', ['S']);
    const res = await req(b, RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, { topic: 'S', group: 'G' });
    expect(res.code).toBe(0);
    const o = parseFastjson(bodyBuffer(res).toString()) as { consumerTable: Record<string, Record<string, number>> };
    expect(Object.keys(o.consumerTable)).toEqual(['client-1']);
    expect(Object.values(o.consumerTable['client-1']!)).toEqual([42]);
    const none = await req(b, RequestCode.INVOKE_BROKER_TO_GET_CONSUMER_STATUS, { topic: 'S', group: 'NOBODY' });
    expect(none).toMatchObject({ code: ResponseCode.SYSTEM_ERROR, remark: 'No Any Consumer online in the consumer group: [NOBODY]' });
  });

  it('GET_CONSUMER_RUNNING_INFO is relayed to the client and its answer returned as it is', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'S', 1);
    const c = await fakeConsumer(b, 'client-1', 'G', ['S']);
    const res = await req(b, RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: 'G', clientId: 'client-1', jstackEnable: false });
    expect(res).toMatchObject({ code: 0, remark: 'from the client' });
    expect(res.extFields?.echo).toBe('client-1');
    expect(bodyBuffer(res).toString()).toBe('{"properties":{"x":"1"}}');
    const relayed = c.received.find((x) => x.code === RequestCode.GET_CONSUMER_RUNNING_INFO)!;
    expect(relayed.extFields).toMatchObject({ consumerGroup: 'G', clientId: 'client-1', jstackEnable: 'false' });
    const gone = await req(b, RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: 'G', clientId: 'client-9' });
    expect(gone).toMatchObject({ code: ResponseCode.SYSTEM_ERROR, remark: 'The Consumer <G> <client-9> not online' });
  });
});
