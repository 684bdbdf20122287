/**
 * The broker over raw remoting requests from our RemotingClient: sends (V1, V2, batch), pulls
 * (offsets, tag filtering by hash code, the four offset headers, NOT_FOUND / OFFSET_MOVED),
 * long polling, auto-creation, and a restart keeping topics, groups and offsets.
 * Real broker on 127.0.0.1 port 0 with a temp store; no mocks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRequest, bodyBuffer, type RemotingCommand } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { createOffsetMsgId, decodeRecords, parseSocketAddr } from '../../src/protocol/message.js';
import { decodeProperties, encodeProperties } from '../../src/protocol/properties.js';
import { decodeTopicConfigWrapper, encodeJson } from '../../src/protocol/bodies.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import type { RemotingClient } from '../../src/remoting/client.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

const brokers: TestBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.cleanup();
});

async function start(opts: Parameters<typeof startTestBroker>[0] = {}): Promise<TestBroker> {
  const b = await startTestBroker({ namesrv: false, ...opts });
  brokers.push(b);
  return b;
}

interface SendOpts {
  tags?: string;
  keys?: string;
  props?: Record<string, string>;
  queueId?: number;
  defaultTopicQueueNums?: number;
  reconsumeTimes?: number;
}

function sendV2(client: RemotingClient, addr: string, topic: string, body: string | Buffer, o: SendOpts = {}): Promise<RemotingCommand> {
  const props: Record<string, string> = { ...o.props };
  if (o.tags) props.TAGS = o.tags;
  if (o.keys) props.KEYS = o.keys;
  props.WAIT = 'true';
  return client.invoke(
    addr,
    makeRequest(
      RequestCode.SEND_MESSAGE_V2,
      { a: 'PG', b: topic, c: 'TBW102', d: o.defaultTopicQueueNums ?? 4, e: o.queueId ?? 0, f: 0, g: Date.now(), h: 0, i: encodeProperties(props), j: o.reconsumeTimes ?? 0, k: false },
      Buffer.isBuffer(body) ? body : Buffer.from(body),
    ),
  );
}

interface PullOpts {
  group?: string;
  queueId?: number;
  offset: number;
  subscription?: string;
  suspendMs?: number;
  suspend?: boolean;
  maxMsgNums?: number;
  commitOffset?: number;
  useHeartbeatSubscription?: boolean;
}

function pull(client: RemotingClient, addr: string, topic: string, o: PullOpts, timeoutMs = 30_000): Promise<RemotingCommand> {
  const sysFlag = (o.suspend ? 2 : 0) | (o.useHeartbeatSubscription ? 0 : 4) | (o.commitOffset !== undefined ? 1 : 0);
  return client.invoke(
    addr,
    makeRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: o.group ?? 'CG',
      topic,
      queueId: o.queueId ?? 0,
      queueOffset: o.offset,
      maxMsgNums: o.maxMsgNums ?? 32,
      sysFlag,
      commitOffset: o.commitOffset ?? 0,
      suspendTimeoutMillis: o.suspendMs ?? 0,
      subscription: o.useHeartbeatSubscription ? undefined : (o.subscription ?? '*'),
      subVersion: 0,
    }),
    timeoutMs,
  );
}

function expectPullHeaders(res: RemotingCommand): { next: number; min: number; max: number } {
  const ext = res.extFields ?? {};
  for (const k of ['suggestWhichBrokerId', 'nextBeginOffset', 'minOffset', 'maxOffset']) expect(ext[k], `${k} in pull response ${res.code}`).toMatch(/^-?\d+$/);
  return { next: Number(ext.nextBeginOffset), min: Number(ext.minOffset), max: Number(ext.maxOffset) };
}

function records(res: RemotingCommand) {
  return decodeRecords(bodyBuffer(res), { checkCrc: true }).map((r) => ({ ...r, props: decodeProperties(r.properties), text: r.body.toString() }));
}

async function topicTable(b: TestBroker): Promise<Record<string, { readQueueNums: number; writeQueueNums: number; perm: number }>> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_ALL_TOPIC_CONFIG));
  expect(res.code).toBe(0);
  return decodeTopicConfigWrapper(parseFastjson(bodyBuffer(res).toString())).topicConfigTable;
}

describe('broker: send and pull over raw requests', () => {
  it('SEND_MESSAGE_V2 stores messages; the answer carries the offsetMsgId, queue and offset; PULL returns exactly the records', async () => {
    const b = await start();
    expect((await createTopic(b.client, b.addr, 'T1')).code).toBe(0);
    const sent: RemotingCommand[] = [];
    for (let i = 0; i < 3; i++) sent.push(await sendV2(b.client, b.addr, 'T1', `body-${i}`, { tags: 'TagA', keys: `k${i} common` }));
    const storeHost = parseSocketAddr(b.addr);
    for (const [i, r] of sent.entries()) {
      expect(r.code).toBe(ResponseCode.SUCCESS);
      expect(r.extFields).toMatchObject({ queueId: '0', queueOffset: String(i), MSG_REGION: 'DefaultRegion', TRACE_ON: 'true' });
      expect(r.extFields!.msgId).toMatch(/^[0-9A-F]{32}$/);
    }
    const res = await pull(b.client, b.addr, 'T1', { offset: 0 });
    expect(res.code).toBe(ResponseCode.SUCCESS);
    expect(expectPullHeaders(res)).toEqual({ next: 3, min: 0, max: 3 });
    const recs = records(res);
    expect(recs.map((r) => r.text)).toEqual(['body-0', 'body-1', 'body-2']);
    expect(recs.map((r) => r.queueOffset)).toEqual([0, 1, 2]);
    // The msgId a client computes from STOREHOST + PHYSICALOFFSET is the one the send answered.
    expect(recs.map((r) => createOffsetMsgId(r.storeHost, r.commitLogOffset))).toEqual(sent.map((r) => r.extFields!.msgId));
    expect(recs.map((r) => createOffsetMsgId(storeHost, r.commitLogOffset))).toEqual(sent.map((r) => r.extFields!.msgId));
    expect(recs[1]!.props).toMatchObject({ TAGS: 'TagA', KEYS: 'k1 common', CLUSTER: 'DefaultCluster' });
    expect(recs[1]!.props.WAIT).toBeUndefined();
    // The body is exactly the records: nothing before, between or after.
    expect(bodyBuffer(res).length).toBe(recs.reduce((n, r) => n + r.storeSize, 0));
  });

  it('SYNC_FLUSH: a send is answered only once its message is on disk', async () => {
    const b = await start({ config: { flushDiskType: 'SYNC_FLUSH' } });
    await createTopic(b.client, b.addr, 'SyncT', 1);
    for (let i = 0; i < 3; i++) {
      const r = await sendV2(b.client, b.addr, 'SyncT', `durable-${i}`);
      // Read as soon as the answer is here (ASYNC_FLUSH would flush up to 500 ms later).
      const flushedAtAnswer = b.broker.messageStore.flushedOffset();
      expect(r.code).toBe(0);
      const rec = records(await pull(b.client, b.addr, 'SyncT', { offset: i }))[0]!;
      expect(flushedAtAnswer).toBeGreaterThanOrEqual(rec.commitLogOffset + rec.storeSize);
    }
  });

  it('SEND_MESSAGE (V1 header) and SEND_BATCH_MESSAGE', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'T2', 2);
    const v1 = await b.client.invoke(
      b.addr,
      makeRequest(
        RequestCode.SEND_MESSAGE,
        { producerGroup: 'PG', topic: 'T2', defaultTopic: 'TBW102', defaultTopicQueueNums: 4, queueId: 1, sysFlag: 0, bornTimestamp: Date.now(), flag: 7, properties: 'TAGS\u0001V1', reconsumeTimes: 0, unitMode: false },
        Buffer.from('v1 body'),
      ),
    );
    expect(v1.code).toBe(0);
    expect(v1.extFields).toMatchObject({ queueId: '1', queueOffset: '0' });

    const items = ['b0', 'b1', 'b2'].map((s, i) => {
      const body = Buffer.from(s);
      const props = Buffer.from(`KEYS\u0001bk${i}`);
      const m = Buffer.alloc(20 + body.length + 2 + props.length);
      m.writeInt32BE(m.length, 0);
      m.writeInt32BE(i, 12); // flag
      m.writeInt32BE(body.length, 16);
      body.copy(m, 20);
      m.writeInt16BE(props.length, 20 + body.length);
      props.copy(m, 22 + body.length);
      return m;
    });
    const batch = await b.client.invoke(
      b.addr,
      makeRequest(RequestCode.SEND_BATCH_MESSAGE, { a: 'PG', b: 'T2', c: 'TBW102', d: 4, e: 1, f: 0, g: Date.now(), h: 0, i: 'TAGS\u0001BT', j: 0, k: false, m: true }, Buffer.concat(items)),
    );
    expect(batch.code).toBe(0);
    expect(batch.extFields!.queueOffset).toBe('1');
    expect(batch.extFields!.msgId.split(',')).toHaveLength(3);
    const recs = records(await pull(b.client, b.addr, 'T2', { queueId: 1, offset: 0 }));
    expect(recs.map((r) => [r.text, r.flag, r.props.TAGS, r.props.KEYS ?? null])).toEqual([
      ['v1 body', 7, 'V1', null],
      ['b0', 0, 'BT', 'bk0'],
      ['b1', 1, 'BT', 'bk1'],
      ['b2', 2, 'BT', 'bk2'],
    ]);
    expect(recs.slice(1).map((r) => createOffsetMsgId(r.storeHost, r.commitLogOffset))).toEqual(batch.extFields!.msgId.split(','));
  });

  it('filters by tag hash code on the broker and always sends the four offset headers', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'T3', 1);
    for (const tag of ['TagA', 'TagB', 'TagA', 'TagC', 'TagB']) await sendV2(b.client, b.addr, 'T3', tag, { tags: tag });
    const a = await pull(b.client, b.addr, 'T3', { offset: 0, subscription: 'TagA' });
    expect(a.code).toBe(0);
    expect(records(a).map((r) => r.queueOffset)).toEqual([0, 2]);
    expect(expectPullHeaders(a)).toEqual({ next: 5, min: 0, max: 5 });
    const bc = await pull(b.client, b.addr, 'T3', { offset: 0, subscription: 'TagB || TagC' });
    expect(records(bc).map((r) => r.props.TAGS)).toEqual(['TagB', 'TagC', 'TagB']);
    // Entries scanned but none matching: PULL_RETRY_IMMEDIATELY with the offset moved past them.
    const none = await pull(b.client, b.addr, 'T3', { offset: 0, subscription: 'TagZ' });
    expect(none.code).toBe(ResponseCode.PULL_RETRY_IMMEDIATELY);
    expect(expectPullHeaders(none).next).toBe(5);
    expect(none.body).toBeUndefined();
  });

  it('PULL_NOT_FOUND at the end of a queue, PULL_OFFSET_MOVED outside it', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'T4', 2);
    await sendV2(b.client, b.addr, 'T4', 'x');
    await sendV2(b.client, b.addr, 'T4', 'y');
    const atEnd = await pull(b.client, b.addr, 'T4', { offset: 2 });
    expect(atEnd.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(expectPullHeaders(atEnd)).toEqual({ next: 2, min: 0, max: 2 });
    const beyond = await pull(b.client, b.addr, 'T4', { offset: 10 });
    expect(beyond.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(expectPullHeaders(beyond).next).toBe(0); // min offset is 0: back to the start (4.9.8)
    // A queue nothing was written to: NOT_FOUND at offset 0, OFFSET_MOVED anywhere else.
    const empty0 = await pull(b.client, b.addr, 'T4', { queueId: 1, offset: 0 });
    expect(empty0.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expectPullHeaders(empty0);
    const empty5 = await pull(b.client, b.addr, 'T4', { queueId: 1, offset: 5 });
    expect(empty5.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(expectPullHeaders(empty5).next).toBe(0);
    // Bad queue id and unknown topic.
    expect((await pull(b.client, b.addr, 'T4', { queueId: 9, offset: 0 })).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect((await pull(b.client, b.addr, 'NoSuchTopic', { offset: 0 })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('a suspended pull is answered when a message arrives, and by its hold time otherwise', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'T5', 1);
    let answered = false;
    const parked = pull(b.client, b.addr, 'T5', { offset: 0, suspend: true, suspendMs: 15_000, subscription: 'TagA' }).then((r) => {
      answered = true;
      return r;
    });
    await eventually(() => (b.broker.pullHold.size === 1 ? true : undefined), 'pull parked');
    // A message with another tag does not wake it ...
    await sendV2(b.client, b.addr, 'T5', 'other', { tags: 'TagB' });
    expect(b.broker.pullHold.size).toBe(1);
    expect(answered).toBe(false);
    // ... a matching one does.
    await sendV2(b.client, b.addr, 'T5', 'wanted', { tags: 'TagA' });
    const res = await parked;
    expect(res.code).toBe(ResponseCode.SUCCESS);
    expect(records(res).map((r) => r.text)).toEqual(['wanted']);
    expect(expectPullHeaders(res)).toEqual({ next: 2, min: 0, max: 2 });

    const timedOut = await pull(b.client, b.addr, 'T5', { offset: 2, suspend: true, suspendMs: 300 });
    expect(timedOut.code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(expectPullHeaders(timedOut)).toEqual({ next: 2, min: 0, max: 2 });
    expect(b.broker.pullHold.size).toBe(0);
  });

  it('close() answers parked pulls before the connection goes', async () => {
    const b = await startTestBroker({ namesrv: false });
    try {
      await createTopic(b.client, b.addr, 'T6', 1);
      const parked = pull(b.client, b.addr, 'T6', { offset: 0, suspend: true, suspendMs: 15_000 });
      await eventually(() => (b.broker.pullHold.size === 1 ? true : undefined), 'pull parked');
      await b.broker.close();
      const res = await parked;
      expect(res.code).toBe(ResponseCode.PULL_NOT_FOUND);
      expect(fs.existsSync(path.join(b.storeDir, 'abort'))).toBe(false);
    } finally {
      await b.cleanup();
    }
  });

  it('auto-creates topics from TBW102 when autoCreateTopicEnable, answers TOPIC_NOT_EXIST otherwise', async () => {
    const on = await start();
    const r = await sendV2(on.client, on.addr, 'AutoT', 'hello', { defaultTopicQueueNums: 4, queueId: 3 });
    expect(r.code).toBe(0);
    const t = (await topicTable(on)).AutoT!;
    expect(t).toMatchObject({ readQueueNums: 4, writeQueueNums: 4, perm: 6 });
    expect((await topicTable(on)).TBW102).toMatchObject({ perm: 7, writeQueueNums: 8 });

    const off = await start({ config: { autoCreateTopicEnable: 'false' } });
    const r2 = await sendV2(off.client, off.addr, 'AutoT', 'hello');
    expect(r2.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(r2.remark).toContain('AutoT');
    expect((await topicTable(off)).TBW102).toBeUndefined();
  });

  it('refuses sends to system topics and invalid names', async () => {
    const b = await start();
    expect((await sendV2(b.client, b.addr, 'SCHEDULE_TOPIC_XXXX', 'x')).code).toBe(ResponseCode.NO_PERMISSION);
    expect((await sendV2(b.client, b.addr, 'bad.topic', 'x')).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect((await createTopic(b.client, b.addr, 'TBW102')).code).toBe(ResponseCode.SYSTEM_ERROR);
    expect((await b.client.invoke(b.addr, makeRequest(9999))).code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  });

  it('creates the system topics at start', async () => {
    const b = await start();
    const t = await topicTable(b);
    for (const name of ['SELF_TEST_TOPIC', 'TBW102', 'BenchmarkTest', 'DefaultCluster', 'broker-a', 'OFFSET_MOVED_EVENT', 'SCHEDULE_TOPIC_XXXX', 'DefaultCluster_REPLY_TOPIC']) {
      expect(t[name], name).toBeDefined();
    }
    expect(t.RMQ_SYS_TRACE_TOPIC).toBeUndefined();
  });

  it('offsets: query/update, max/min, search by time, earliest store time', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'T7', 1);
    const q = (code: number, ext: Record<string, string | number>) => b.client.invoke(b.addr, makeRequest(code, ext));
    // A new group on a young queue starts at 0 (ConsumerManageProcessor: min offset 0, in memory).
    const fresh = await q(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0 });
    expect(fresh.code).toBe(0);
    expect(fresh.extFields!.offset).toBe('0');
    const before = Date.now();
    for (let i = 0; i < 3; i++) await sendV2(b.client, b.addr, 'T7', `m${i}`);
    expect((await q(RequestCode.GET_MAX_OFFSET, { topic: 'T7', queueId: 0 })).extFields!.offset).toBe('3');
    expect((await q(RequestCode.GET_MIN_OFFSET, { topic: 'T7', queueId: 0 })).extFields!.offset).toBe('0');
    const earliest = Number((await q(RequestCode.GET_EARLIEST_MSG_STORETIME, { topic: 'T7', queueId: 0 })).extFields!.timestamp);
    expect(earliest).toBeGreaterThanOrEqual(before - 1000);
    expect((await q(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: 'T7', queueId: 0, timestamp: 0 })).extFields!.offset).toBe('0');
    await b.client.invokeOneway(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0, commitOffset: 2 }));
    await eventually(async () => {
      const r = await q(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0 });
      return r.extFields!.offset === '2' ? true : undefined;
    }, 'offset committed');
    // -1 (ali-ons: "nothing consumed") does not erase it.
    const r = await q(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0, commitOffset: -1 });
    expect(r.code).toBe(0);
    expect((await q(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0 })).extFields!.offset).toBe('2');
    // The commit piggy-backed on a pull is stored too.
    await pull(b.client, b.addr, 'T7', { group: 'G7', offset: 3, commitOffset: 3 });
    expect((await q(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'G7', topic: 'T7', queueId: 0 })).extFields!.offset).toBe('3');
  });

  it('restart keeps topics, subscription groups, consumer offsets and messages; close leaves no abort marker', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'Kept', 2);
    const group = { groupName: 'KeptGroup', consumeEnable: true, retryMaxTimes: 5, retryQueueNums: 1 };
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, encodeJson(group)))).code).toBe(0);
    await sendV2(b.client, b.addr, 'Kept', 'survives', { queueId: 1 });
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'KeptGroup', topic: 'Kept', queueId: 1, commitOffset: 1 }))).code).toBe(0);

    await b.broker.close();
    expect(fs.existsSync(path.join(b.storeDir, 'abort'))).toBe(false);
    await b.restart();
    expect(b.broker.recovery.mode).toBe('clean');
    expect((await topicTable(b)).Kept).toMatchObject({ readQueueNums: 2 });
    expect(b.broker.subscriptionGroup('KeptGroup')).toMatchObject({ retryMaxTimes: 5 });
    const off = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'KeptGroup', topic: 'Kept', queueId: 1 }));
    expect(off.extFields!.offset).toBe('1');
    expect(records(await pull(b.client, b.addr, 'Kept', { queueId: 1, offset: 0 })).map((r) => r.text)).toEqual(['survives']);
  });

  it('DELETE_TOPIC_IN_BROKER removes the topic, its queues and offsets', async () => {
    const b = await start();
    await createTopic(b.client, b.addr, 'Gone', 1);
    await sendV2(b.client, b.addr, 'Gone', 'x');
    const del = await b.client.invoke(b.addr, makeRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'Gone' }));
    expect(del.code).toBe(0);
    expect((await topicTable(b)).Gone).toBeUndefined();
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic: 'Gone', queueId: 0 }))).extFields!.offset).toBe('0');
    expect((await b.client.invoke(b.addr, makeRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'TBW102' }))).code).toBe(ResponseCode.SYSTEM_ERROR);
  });
});
