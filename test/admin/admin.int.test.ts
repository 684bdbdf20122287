/**
 * The admin API (src/admin/) against a real broker in this process, with its embedded
 * name server: through the name server over TCP (as against an Apache cluster) and through the
 * local Unix socket. Traffic is real (the client library's Producer / PushConsumer). A second,
 * unreachable broker registered with the name server shows partial results.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../client/support.js';
import { ClusterNotFoundError, brokerAddrOf } from '../../src/admin/targets.js';
import { ConsumerNotOnlineError, ProducerNotOnlineError, getBrokerRuntimeInfo, versionDesc } from '../../src/admin/requests.js';
import { brokerStatus, clusterList } from '../../src/admin/cluster.js';
import { consumerConnection, producerConnection } from '../../src/admin/connections.js';
import { deleteSubGroup, updateSubGroup } from '../../src/admin/groups.js';
import { deleteTopic, topicList, topicRoute, topicStatus, updateTopic } from '../../src/admin/topics.js';
import { mapBounded } from '../../src/admin/fanout.js';
import { openAdminSession, withAdminSession, type AdminSession } from '../../src/admin/session.js';
import { getKVConfig } from '../../src/remoting/namesrv-api.js';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { BrokerUnreachableError, GroupNotFoundError, TopicNotFoundError } from '../../src/errors/index.js';
import { encodeJson } from '../../src/protocol/bodies.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { crc32 } from '../../src/protocol/hash.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';

let tb: TestBroker;
let ns: string;
let session: AdminSession;
let local: AdminSession;
let seq = 0;
const uniq = (p: string) => `${p}_${process.pid}_${++seq}`;

beforeAll(async () => {
  tb = await startTestBroker();
  ns = tb.namesrv!;
  session = await openAdminSession({ namesrvAddr: ns, timeoutMs: 5000 });
  local = await openAdminSession({ socket: path.join(tb.storeDir, 'broker.sock'), timeoutMs: 5000 });
});

afterAll(async () => {
  await session?.close();
  await local?.close();
  await tb?.cleanup();
});

async function produce(topic: string, perQueue: number[]): Promise<void> {
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG'), instanceName: uniq('p') });
  await p.start();
  try {
    for (const [queueId, n] of perQueue.entries()) {
      for (let i = 0; i < n; i++) await p.send({ topic, body: `m${queueId}-${i}` }, { queue: { topic, brokerName: 'broker-a', queueId } });
    }
  } finally {
    await p.close();
  }
}


/** Register a broker that does not exist with the name server (kept while `client` stays open). */
async function registerGhost(client: RemotingClient, brokerName: string, addr: string, topics: string[]): Promise<void> {
  const topicConfigTable: Record<string, unknown> = {};
  for (const t of topics) topicConfigTable[t] = { topicName: t, readQueueNums: 2, writeQueueNums: 2, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
  const body = encodeJson({ filterServerList: [], topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: Date.now() }, topicConfigTable } });
  const res = await client.invoke(
    ns,
    makeRequest(RequestCode.REGISTER_BROKER, { brokerName, brokerAddr: addr, clusterName: 'DefaultCluster', haServerAddr: addr, brokerId: 0, compressed: false, bodyCrc32: crc32(body) & 0x7fffffff }, body),
  );
  expect(res.code).toBe(0);
}

describe('admin helpers', () => {
  it('versionDesc maps MQVersion ordinals', () => {
    expect(versionDesc(409)).toBe('V4_9_8');
    expect(versionDesc(408)).toBe('V4_9_8_SNAPSHOT');
    expect(versionDesc(213)).toBe('V4_0_0');
    expect(versionDesc(373)).toBe('V4_8_0');
    expect(versionDesc(401)).toBe('V4_9_4');
    expect(versionDesc(413)).toBe('V5_0_0');
    expect(versionDesc(433)).toBe('V5_1_0');
    expect(versionDesc(611)).toBe('V5_9_9');
    expect(versionDesc(612)).toBe('HIGHER_VERSION');
    expect(versionDesc(5000)).toBe('HIGHER_VERSION');
  });

  it('brokerAddrOf prefers the master, else the lowest id', () => {
    expect(brokerAddrOf({ cluster: 'c', brokerName: 'b', brokerAddrs: { '1': 's1', '0': 'm' } })).toBe('m');
    expect(brokerAddrOf({ cluster: 'c', brokerName: 'b', brokerAddrs: { '2': 's2', '1': 's1' } })).toBe('s1');
    expect(brokerAddrOf({ cluster: 'c', brokerName: 'b', brokerAddrs: {} })).toBeUndefined();
  });

  it('mapBounded keeps at most `limit` calls in flight and returns every outcome in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const r = await mapBounded([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((res) => setTimeout(res, 5));
      inFlight--;
      if (n === 4) throw new Error('four');
      return n * 2;
    });
    expect(peak).toBe(3);
    expect(r.map((x) => (x.ok ? x.value : 'err'))).toEqual([2, 4, 6, 'err', 10, 12, 14]);
  });
});

describe('admin API against a real broker', () => {
  it('GET_BROKER_RUNTIME_INFO names the advertised addresses and counts puts', async () => {
    const t = uniq('TRT');
    await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 1, writeQueueNums: 1 });
    await produce(t, [3]);
    const kv = await getBrokerRuntimeInfo(session, tb.addr);
    expect(kv.brokerAddr).toBe(tb.addr);
    expect(kv.brokerAddrFast).toBe(tb.broker.addresses.fast);
    expect(kv.brokerVersionDesc).toBe('V4_9_8');
    expect(Number(kv.msgPutTotalTodayNow)).toBeGreaterThanOrEqual(3);
    expect(Number(kv.commitLogMaxOffset)).toBeGreaterThan(0);
    expect(kv.putTps!.split(' ')).toHaveLength(3);
    expect(kv.commitLogDirCapacity).toMatch(/^Total : .+, Free : .+\.$/);
    expect(Number(kv.earliestMessageTimeStamp)).toBeGreaterThan(0);
  });

  it('clusterList and brokerStatus show the broker, over TCP and over the socket', async () => {
    for (const s of [session, local]) {
      const cl = await clusterList(s);
      expect(cl.failed).toEqual([]);
      expect(cl.brokers).toContainEqual(expect.objectContaining({ clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: tb.addr, version: 'V4_9_8' }));
      const bs = await brokerStatus(s, { brokerAddr: tb.addr });
      expect(bs.brokers).toHaveLength(1);
      expect(bs.brokers[0]).toMatchObject({ addr: tb.addr, brokerName: 'broker-a', brokerId: 0, clusterName: 'DefaultCluster' });
      expect(bs.brokers[0]!.stats.brokerVersion).toBe('409');
    }
    // The local broker without -b/-c: its one cluster.
    expect((await brokerStatus(local, { local: true })).brokers.map((b) => b.addr)).toEqual([tb.addr]);
    await expect(brokerStatus(session, { clusterName: 'NoSuchCluster' })).rejects.toBeInstanceOf(ClusterNotFoundError);
    await expect(brokerStatus(session, {})).rejects.toMatchObject({ exitCode: 2 });
  });

  it('topicStatus: min/max offset and last update time per queue after real sends', async () => {
    const t = uniq('TST');
    await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 3, writeQueueNums: 3 });
    const before = Date.now();
    await produce(t, [2, 0, 5]);
    const r = await topicStatus(session, t);
    expect(r.failed).toEqual([]);
    expect(r.queues.map((q) => [q.brokerName, q.queueId, q.minOffset, q.maxOffset])).toEqual([
      ['broker-a', 0, 0, 2],
      ['broker-a', 1, 0, 0],
      ['broker-a', 2, 0, 5],
    ]);
    expect(r.queues[1]!.lastUpdateTimestamp).toBeNull();
    for (const q of [r.queues[0]!, r.queues[2]!]) {
      expect(q.lastUpdateTimestamp).toBeGreaterThanOrEqual(before - 1000);
      expect(q.lastUpdateTimestamp).toBeLessThanOrEqual(Date.now() + 1000);
    }
    await expect(topicStatus(session, uniq('NoSuchTopic'))).rejects.toBeInstanceOf(TopicNotFoundError);
  });

  it('updateTopic creates (route, list), updates, and with order=true writes ORDER_TOPIC_CONFIG; deleteTopic removes it', async () => {
    const t = uniq('TUP');
    const created = await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 2, writeQueueNums: 3, perm: 6 });
    expect(created.brokers.map((b) => b.addr)).toEqual([tb.addr]);
    expect(created.config).toMatchObject({ topicName: t, readQueueNums: 2, writeQueueNums: 3, perm: 6, order: false });
    expect(created.orderConf).toBeNull();
    const route = await topicRoute(session, t);
    expect(route.queueDatas).toEqual([expect.objectContaining({ brokerName: 'broker-a', readQueueNums: 2, writeQueueNums: 3, perm: 6 })]);
    expect(route.brokerDatas[0]!.brokerAddrs).toEqual({ '0': tb.addr });
    expect((await topicList(session, { clusterModel: false })).topics.map((x) => x.topic)).toContain(t);

    const ordered = await updateTopic(local, { topic: t, local: true, writeQueueNums: 4, readQueueNums: 4, perm: 4, order: true });
    expect(ordered.orderConf).toBe('broker-a:4');
    expect(await getKVConfig(session.client, ns, 'ORDER_TOPIC_CONFIG', t)).toBe('broker-a:4');
    expect((await topicRoute(session, t)).queueDatas[0]).toMatchObject({ readQueueNums: 4, writeQueueNums: 4, perm: 4 });
    // -b merges this broker's entry into the value already there.
    await session.client.invoke(ns, makeRequest(RequestCode.PUT_KV_CONFIG, { namespace: 'ORDER_TOPIC_CONFIG', key: t, value: 'broker-z:2;broker-a:4' }));
    const viaAddr = await updateTopic(session, { topic: t, brokerAddr: tb.addr, writeQueueNums: 6, readQueueNums: 6, order: true });
    expect(viaAddr.brokers[0]).toMatchObject({ brokerName: 'broker-a', addr: tb.addr });
    expect(viaAddr.orderConf).toBe('broker-z:2;broker-a:6');

    const del = await deleteTopic(session, { topic: t, clusterName: 'DefaultCluster' });
    expect(del.brokers.map((b) => b.addr)).toEqual([tb.addr]);
    expect(del.namesrvs).toEqual([ns]);
    expect(del.failed).toEqual([]);
    await expect(topicRoute(session, t)).rejects.toBeInstanceOf(TopicNotFoundError);
    expect(tb.broker.topicConfig(t)).toBeUndefined();
    await expect(deleteTopic(session, { topic: t, clusterName: 'DefaultCluster' })).rejects.toBeInstanceOf(TopicNotFoundError);
    await expect(updateTopic(session, { topic: 'bad topic!', clusterName: 'DefaultCluster' })).rejects.toMatchObject({ exitCode: 2 });
  });

  it('updateSubGroup keeps fields not given; deleteSubGroup removes the group (and offsets) and refuses an unknown one', async () => {
    const g = uniq('CG');
    const created = await updateSubGroup(session, { group: g, clusterName: 'DefaultCluster', fields: { retryMaxTimes: 3 } });
    expect(created.brokers).toHaveLength(1);
    expect(created.brokers[0]).toMatchObject({ addr: tb.addr, existed: false });
    expect(created.brokers[0]!.config).toMatchObject({ groupName: g, retryMaxTimes: 3, consumeEnable: true, consumeBroadcastEnable: false, consumeFromMinEnable: false });
    const updated = await updateSubGroup(local, { group: g, local: true, fields: { consumeEnable: false, whichBrokerWhenConsumeSlowly: 0 } });
    expect(updated.brokers[0]).toMatchObject({ existed: true });
    expect(updated.brokers[0]!.config).toMatchObject({ retryMaxTimes: 3, consumeEnable: false, whichBrokerWhenConsumeSlowly: 0 });
    expect(tb.broker.subscriptionGroup(g)).toMatchObject({ retryMaxTimes: 3, consumeEnable: false });

    tb.broker.commitOffset('test', g, 'SomeTopic', 0, 7);
    const del = await deleteSubGroup(session, { group: g, brokerAddr: tb.addr, removeOffset: true });
    expect(del.brokers).toEqual([expect.objectContaining({ addr: tb.addr, existed: true })]);
    expect(tb.broker.subscriptionGroup(g)).toBeUndefined();
    expect(tb.broker.queryOffset(g, 'SomeTopic', 0)).toBe(-1);
    await expect(deleteSubGroup(session, { group: g, clusterName: 'DefaultCluster', removeOffset: false })).rejects.toBeInstanceOf(GroupNotFoundError);
  });

  it('consumerConnection and producerConnection list live clients; offline and unknown groups are errors', async () => {
    const t = uniq('TCC');
    const g = uniq('CGC');
    const pg = uniq('PGC');
    await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 2, writeQueueNums: 2 });
    await expect(consumerConnection(session, { group: g })).rejects.toBeInstanceOf(GroupNotFoundError);
    await expect(consumerConnection(session, { group: g, brokerAddr: tb.addr })).rejects.toBeInstanceOf(ConsumerNotOnlineError);

    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: g, instanceName: uniq('c') });
    c.subscribe(t, 'TagA || TagB');
    await c.start(async () => undefined);
    const p = new Producer({ namesrvAddr: ns, producerGroup: pg, instanceName: uniq('p') });
    await p.start();
    try {
      await p.send({ topic: t, body: 'x' });
      const cc = await eventually(async () => {
        const r = await consumerConnection(session, { group: g });
        return r.connections.length > 0 && r.subscriptions.some((s) => s.topic === t) ? r : undefined;
      }, 'consumer connection');
      expect(cc.connections[0]).toMatchObject({ language: 'JAVA', version: 409, versionDesc: 'V4_9_8' });
      expect(cc.subscriptions).toContainEqual({ topic: t, subExpression: 'TagA || TagB' });
      expect(cc).toMatchObject({ consumeType: 'CONSUME_PASSIVELY', messageModel: 'CLUSTERING', failed: [] });
      const pc = await eventually(async () => {
        const r = await producerConnection(local, { group: pg, topic: t }).catch(() => undefined);
        return r && r.connections.length > 0 ? r : undefined;
      }, 'producer connection');
      expect(pc.connections[0]).toMatchObject({ language: 'JAVA', versionDesc: 'V4_9_8' });
    } finally {
      await p.close();
      await c.close();
    }
    await expect(consumerConnection(session, { group: g })).rejects.toBeInstanceOf(ConsumerNotOnlineError);
    await expect(producerConnection(session, { group: pg, topic: t })).rejects.toBeInstanceOf(ProducerNotOnlineError);
    await expect(producerConnection(session, { group: pg, topic: uniq('NoSuchTopic') })).rejects.toBeInstanceOf(TopicNotFoundError);
  });

  it('topicList -c names clusters and consumer groups', async () => {
    const t = uniq('TTL');
    const g = uniq('CGL');
    await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 1, writeQueueNums: 1 });
    tb.broker.commitOffset('test', g, t, 0, 1);
    const r = await topicList(session, { clusterModel: true });
    expect(r.topics.find((x) => x.topic === t)).toEqual({ topic: t, clusters: ['DefaultCluster'], consumerGroups: [g] });
    expect(r.topics.some((x) => x.topic.startsWith('%RETRY%'))).toBe(false);
  });

  it('an unreachable broker in the cluster is listed as failed, the rest is returned', async () => {
    const ghostAddr = `127.0.0.1:${await freePort()}`;
    const t = uniq('TGH');
    await updateTopic(session, { topic: t, clusterName: 'DefaultCluster', readQueueNums: 2, writeQueueNums: 2 });
    const reg = new RemotingClient({ requestTimeoutMs: 5000 });
    try {
      await registerGhost(reg, 'broker-ghost', ghostAddr, [t]);
      const cl = await clusterList(session);
      expect(cl.brokers.map((b) => b.brokerName)).toContain('broker-a');
      expect(cl.failed).toEqual([expect.objectContaining({ kind: 'broker', addr: ghostAddr, brokerName: 'broker-ghost', code: 'E_BROKER_UNREACHABLE' })]);
      const ts = await topicStatus(session, t);
      expect(ts.queues.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-a']);
      expect(ts.failed.map((f) => f.addr)).toEqual([ghostAddr]);
      const bs = await brokerStatus(session, { clusterName: 'DefaultCluster' });
      expect(bs.brokers.map((b) => b.addr)).toEqual([tb.addr]);
      expect(bs.failed.map((f) => f.brokerName)).toEqual(['broker-ghost']);
      // Only the ghost: nothing to print, so the failure is the answer.
      const ghostErr = await brokerStatus(session, { brokerAddr: ghostAddr }).catch((e: unknown) => e);
      expect(ghostErr).toBeInstanceOf(BrokerUnreachableError);
      // A broker of a -n cluster: the hint is to look at the cluster, not to start a local broker.
      expect((ghostErr as BrokerUnreachableError).actions.join(' ')).toContain(`broker ${ghostAddr} of the cluster did not answer: see its state with rocketctl clusterList -n ${ns}`);
      expect((ghostErr as BrokerUnreachableError).actions.join(' ')).not.toContain('rocketctl broker start');
    } finally {
      await reg.close();
    }
  });

  it('an unreachable name server is one BrokerUnreachableError naming it (the refusal, not a wait)', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const err = await withAdminSession({ namesrvAddr: addr, timeoutMs: 2000 }, (s) => clusterList(s)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerUnreachableError);
    // ECONNREFUSED (not ETIMEDOUT): the refused connection is reported at once, not after a wait.
    expect((err as Error).message).toBe(`cannot reach name server ${addr} (ECONNREFUSED)`);
  });
});
