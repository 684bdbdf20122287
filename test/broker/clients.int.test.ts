/**
 * Consumers and producers as the broker tracks them: heartbeats (subscriptions kept, retry topic
 * created), GET_CONSUMER_LIST_BY_GROUP, NOTIFY_CONSUMER_IDS_CHANGED on group changes, pulls that
 * rely on the heartbeat's subscription, UNREGISTER_CLIENT, send-back to %RETRY% / %DLQ%, delay
 * levels, QUERY_MESSAGE / VIEW_MESSAGE_BY_ID and queue locks. Real broker, no mocks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { decodeRecords, createOffsetMsgId } from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties } from '../../src/protocol/properties.js';
import { decodeStringList, encodeJson } from '../../src/protocol/bodies.js';
import { javaHashCode } from '../../src/protocol/hash.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(config: Record<string, string> = {}): Promise<TestBroker> {
  const b = await startTestBroker({ namesrv: false, config });
  cleanups.push(() => b.cleanup());
  return b;
}

function newClient(onRequest?: (cmd: RemotingCommand) => void): RemotingClient {
  const c = new RemotingClient({ requestTimeoutMs: 10_000, onServerRequest: (cmd) => void onRequest?.(cmd) });
  cleanups.push(() => c.close());
  return c;
}

function heartbeat(client: RemotingClient, addr: string, clientID: string, group: string, subs: Array<{ topic: string; subString: string }>) {
  const body = {
    clientID,
    consumerDataSet: [
      {
        groupName: group,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        subscriptionDataSet: subs.map((s) => {
          const tags = s.subString === '*' ? [] : s.subString.split('||').map((t) => t.trim());
          return { topic: s.topic, subString: s.subString, classFilterMode: false, tagsSet: tags, codeSet: tags.map(javaHashCode), subVersion: 1 };
        }),
        unitMode: false,
      },
    ],
    producerDataSet: [{ groupName: 'CLIENT_INNER_PRODUCER' }],
  };
  return client.invoke(addr, makeRequest(RequestCode.HEART_BEAT, undefined, Buffer.from(JSON.stringify(body))));
}

async function consumerList(client: RemotingClient, addr: string, group: string): Promise<RemotingCommand> {
  return client.invoke(addr, makeRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: group }));
}

function send(client: RemotingClient, addr: string, topic: string, body: string, props: Record<string, string> = {}, queueId = 0) {
  return client.invoke(
    addr,
    makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG', b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: encodeProperties(props), j: 0, k: false }, Buffer.from(body)),
  );
}

function pull(client: RemotingClient, addr: string, group: string, topic: string, offset: number, withSubscription: boolean, queueId = 0) {
  return client.invoke(
    addr,
    makeRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: group,
      topic,
      queueId,
      queueOffset: offset,
      maxMsgNums: 32,
      sysFlag: withSubscription ? 4 : 0,
      commitOffset: 0,
      suspendTimeoutMillis: 0,
      subscription: withSubscription ? '*' : undefined,
      subVersion: 0,
    }),
  );
}

function recordsOf(res: RemotingCommand) {
  return decodeRecords(bodyBuffer(res)).map((r) => ({ ...r, props: decodeProperties(r.properties), text: r.body.toString() }));
}

async function topics(b: TestBroker): Promise<Record<string, unknown>> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_ALL_TOPIC_CONFIG));
  return (parseFastjson(bodyBuffer(res).toString()) as { topicConfigTable: Record<string, unknown> }).topicConfigTable;
}

describe('broker: clients', () => {
  it('heartbeat registers the consumer, its subscriptions and its retry topic; the group list holds its own id', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'CT', 1);
    const c1 = newClient();
    const hb = await heartbeat(c1, b.addr, '127.0.0.1@1', 'CG1', [
      { topic: 'CT', subString: 'TagA' },
      { topic: '%RETRY%CG1', subString: '*' },
    ]);
    expect(hb.code).toBe(0);
    expect(hb.version).toBe(409);
    expect(decodeStringList(bodyBuffer(await consumerList(c1, b.addr, 'CG1')), 'consumerIdList')).toEqual(['127.0.0.1@1']);
    expect((await topics(b))['%RETRY%CG1']).toMatchObject({ readQueueNums: 1, writeQueueNums: 1, perm: 6 });
    expect(b.broker.subscriptionGroup('CG1')).toBeDefined();

    // A push consumer's pull has no subscription: the heartbeat's (TagA) filters.
    await send(b.client, b.addr, 'CT', 'a', { TAGS: 'TagA' });
    await send(b.client, b.addr, 'CT', 'b', { TAGS: 'TagB' });
    await send(b.client, b.addr, 'CT', 'c', { TAGS: 'TagA' });
    const res = await pull(c1, b.addr, 'CG1', 'CT', 0, false);
    expect(res.code).toBe(0);
    expect(recordsOf(res).map((r) => r.text)).toEqual(['a', 'c']);
    // A group never heartbeated and no subscription in the pull: SUBSCRIPTION_NOT_EXIST.
    expect((await pull(c1, b.addr, 'Nobody', 'CT', 0, false)).code).toBe(ResponseCode.SUBSCRIPTION_NOT_EXIST);
    // Nobody online in a group: SYSTEM_ERROR, as Java.
    expect((await consumerList(c1, b.addr, 'Nobody')).code).toBe(ResponseCode.SYSTEM_ERROR);
  });

  it('tells the group to rebalance (oneway NOTIFY_CONSUMER_IDS_CHANGED) when a consumer joins or leaves', async () => {
    const b = await start();
    const notified: string[] = [];
    const c1 = newClient((cmd) => {
      if (cmd.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) {
        expect(cmd.flag & 2).toBe(2); // oneway: clients such as ali-ons never answer
        notified.push(cmd.extFields!.consumerGroup!);
      }
    });
    const c2 = newClient();
    const subs = [{ topic: 'X', subString: '*' }];
    await heartbeat(c1, b.addr, '127.0.0.1@1', 'CG2', subs);
    const first = notified.length;
    await heartbeat(c2, b.addr, '127.0.0.1@2', 'CG2', subs);
    await eventually(() => (notified.length > first ? true : undefined), 'notified of the second consumer');
    expect(notified.at(-1)).toBe('CG2');
    expect(decodeStringList(bodyBuffer(await consumerList(c1, b.addr, 'CG2')), 'consumerIdList').sort()).toEqual(['127.0.0.1@1', '127.0.0.1@2']);
    // The same heartbeat again changes nothing: no notification.
    const before = notified.length;
    await heartbeat(c2, b.addr, '127.0.0.1@2', 'CG2', subs);
    // UNREGISTER_CLIENT: the other consumer is told.
    const un = await c2.invoke(b.addr, makeRequest(RequestCode.UNREGISTER_CLIENT, { clientID: '127.0.0.1@2', consumerGroup: 'CG2' }));
    expect(un.code).toBe(0);
    await eventually(() => (notified.length > before ? true : undefined), 'notified of the unregister');
    expect(notified.length).toBe(before + 1);
    expect(decodeStringList(bodyBuffer(await consumerList(c1, b.addr, 'CG2')), 'consumerIdList')).toEqual(['127.0.0.1@1']);
    // A closed connection leaves the group too.
    await c1.close();
    await eventually(async () => ((await consumerList(b.client, b.addr, 'CG2')).code === ResponseCode.SYSTEM_ERROR ? true : undefined), 'group empty after close');
  });

  it('CONSUMER_SEND_MSG_BACK: retried via %RETRY% after the delay level, then to %DLQ% past maxReconsumeTimes', async () => {
    // Level 3 (the first retry's) is 1 s here instead of 10 s.
    const b = await start({ messageDelayLevel: '1s 1s 1s 1s 1s' });
    await createTopic(b.client, b.addr, 'RT', 1);
    await heartbeat(b.client, b.addr, '127.0.0.1@9', 'RG', [{ topic: 'RT', subString: '*' }]);
    const sent = await send(b.client, b.addr, 'RT', 'retry me', { TAGS: 'TagR', KEYS: 'rk' });
    const orig = recordsOf(await pull(b.client, b.addr, 'RG', 'RT', 0, true))[0]!;
    const back = await b.client.invoke(
      b.addr,
      makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: orig.commitLogOffset, group: 'RG', delayLevel: 0, originMsgId: sent.extFields!.msgId, originTopic: 'RT', unitMode: false, maxReconsumeTimes: 16 }),
    );
    expect(back.code).toBe(0);
    const retried = await eventually(async () => {
      const r = await pull(b.client, b.addr, 'RG', '%RETRY%RG', 0, true);
      return r.code === 0 ? recordsOf(r)[0] : undefined;
    }, 'message in %RETRY%RG');
    expect(retried.text).toBe('retry me');
    expect(retried.reconsumeTimes).toBe(1);
    expect(retried.topic).toBe('%RETRY%RG');
    expect(retried.props).toMatchObject({ TAGS: 'TagR', KEYS: 'rk', RETRY_TOPIC: 'RT', ORIGIN_MESSAGE_ID: sent.extFields!.msgId, REAL_TOPIC: '%RETRY%RG' });
    // As Apache 4.9.x (shown with the Java client in test/apache/javaclient*.apache.test.ts): the
    // re-put copy keeps the level it waited at, and the send-back's WAIT=false.
    expect(retried.props).toMatchObject({ DELAY: '3', WAIT: 'false' });

    // Failing again with maxReconsumeTimes 1: the dead-letter queue, at once.
    const back2 = await b.client.invoke(
      b.addr,
      makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: retried.commitLogOffset, group: 'RG', delayLevel: 0, originTopic: 'RT', maxReconsumeTimes: 1 }),
    );
    expect(back2.code).toBe(0);
    const dlq = recordsOf(await pull(b.client, b.addr, 'RG', '%DLQ%RG', 0, true));
    expect(dlq.map((r) => [r.text, r.reconsumeTimes, r.props.ORIGIN_MESSAGE_ID, r.props.DELAY, r.props.WAIT])).toEqual([['retry me', 2, sent.extFields!.msgId, '0', 'false']]);
    // An offset where no message starts.
    const bad = await b.client.invoke(b.addr, makeRequest(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: 3, group: 'RG', delayLevel: 0 }));
    expect(bad.code).toBe(ResponseCode.SYSTEM_ERROR);
  });

  it('delivers a message with a delay level after the delay, via SCHEDULE_TOPIC_XXXX', async () => {
    const b = await start({ messageDelayLevel: '1s 2s' });
    await createTopic(b.client, b.addr, 'DT', 1);
    const r = await send(b.client, b.addr, 'DT', 'later', { TAGS: 'TagD', DELAY: '1' });
    expect(r.code).toBe(0);
    // Stored in the schedule topic first, queue level-1.
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic: 'SCHEDULE_TOPIC_XXXX', queueId: 0 }))).extFields!.offset).toBe('1');
    const got = await eventually(async () => {
      const res = await pull(b.client, b.addr, 'G', 'DT', 0, true);
      return res.code === 0 ? recordsOf(res)[0] : undefined;
    }, 'delayed message delivered');
    expect(got.text).toBe('later');
    expect(got.props).toMatchObject({ TAGS: 'TagD', REAL_TOPIC: 'DT', REAL_QID: '0' });
    expect(got.props.DELAY).toBe('1');
    // delayOffset.json advances (persisted on close).
    await b.broker.close();
    expect(b.broker.delayOffsets.get(1)).toBe(1);
  });

  it('QUERY_MESSAGE by key and VIEW_MESSAGE_BY_ID by commit log offset', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'QT', 1);
    const r = await send(b.client, b.addr, 'QT', 'find me', { KEYS: 'order-1 order-2' });
    const rec = recordsOf(await pull(b.client, b.addr, 'G', 'QT', 0, true))[0]!;
    expect(createOffsetMsgId(rec.storeHost, rec.commitLogOffset)).toBe(r.extFields!.msgId);
    const q = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_MESSAGE, { topic: 'QT', key: 'order-2', maxNum: 32, beginTimestamp: 0, endTimestamp: Date.now() + 60_000 }));
    expect(q.code).toBe(0);
    expect(recordsOf(q).map((m) => m.text)).toEqual(['find me']);
    expect(q.extFields!.indexLastUpdateTimestamp).toMatch(/^\d+$/);
    const none = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_MESSAGE, { topic: 'QT', key: 'nope', maxNum: 32, beginTimestamp: 0, endTimestamp: Date.now() + 60_000 }));
    expect(none.code).toBe(ResponseCode.QUERY_NOT_FOUND);
    const v = await b.client.invoke(b.addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: rec.commitLogOffset }));
    expect(v.code).toBe(0);
    expect(recordsOf(v).map((m) => m.text)).toEqual(['find me']);
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: rec.commitLogOffset + 1 }))).code).toBe(ResponseCode.SYSTEM_ERROR);
  });

  it('LOCK_BATCH_MQ gives a queue to one client at a time; UNLOCK_BATCH_MQ frees it', async () => {
    const b = await start();
    const mq = { topic: 'LT', brokerName: 'broker-a', queueId: 0 };
    const lock = (clientId: string) =>
      b.client.invoke(b.addr, makeRequest(RequestCode.LOCK_BATCH_MQ, undefined, encodeJson({ consumerGroup: 'LG', clientId, mqSet: [mq] })));
    const locked = (res: RemotingCommand) => (parseFastjson(bodyBuffer(res).toString()) as { lockOKMQSet: unknown[] }).lockOKMQSet;
    expect(locked(await lock('c1'))).toEqual([mq]);
    expect(locked(await lock('c2'))).toEqual([]);
    expect(locked(await lock('c1'))).toEqual([mq]);
    const un = await b.client.invoke(b.addr, makeRequest(RequestCode.UNLOCK_BATCH_MQ, undefined, encodeJson({ consumerGroup: 'LG', clientId: 'c1', mqSet: [mq] })));
    expect(un.code).toBe(0);
    expect(locked(await lock('c2'))).toEqual([mq]);
  });

  it('refuses unknown groups when autoCreateSubscriptionGroup=false, until the group is created', async () => {
    const b = await start({ autoCreateSubscriptionGroup: 'false' });
    await createTopic(b.client, b.addr, 'GT', 1);
    expect((await pull(b.client, b.addr, 'NewGroup', 'GT', 0, true)).code).toBe(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST);
    const cfg = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, encodeJson({ groupName: 'NewGroup' })));
    expect(cfg.code).toBe(0);
    expect((await pull(b.client, b.addr, 'NewGroup', 'GT', 0, true)).code).toBe(ResponseCode.PULL_NOT_FOUND);
  });
});
