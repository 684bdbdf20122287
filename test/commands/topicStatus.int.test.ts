/**
 * Topic commands through the real CLI against a real broker in this process: updateTopic creates
 * a topic that topicList and topicRoute then show, real sends make topicStatus report the right
 * min/max offset per queue, deleteTopic removes it again. Both targets: the local socket and the
 * broker's name server (-n).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getKVConfig } from '../../src/client/namesrv-api.js';
import { Producer } from '../../src/client/producer.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

let tb: TestBroker;
let socket: string;
const ENV = { NAMESRV_ADDR: '' };

beforeAll(async () => {
  tb = await startTestBroker();
  socket = path.join(tb.storeDir, 'broker.sock');
});

afterAll(async () => {
  await tb?.cleanup();
});

const local = (args: string[]) => runCli([...args, '--socket', socket], { env: ENV });
const remote = (args: string[]) => runCli([...args, '-n', tb.namesrv!]);

async function produce(topic: string, perQueue: number[]): Promise<void> {
  const p = new Producer({ namesrvAddr: tb.namesrv!, producerGroup: `PG_${topic}`, instanceName: `p-${topic}` });
  await p.start();
  try {
    for (const [queueId, n] of perQueue.entries()) {
      for (let i = 0; i < n; i++) await p.send({ topic, body: `q${queueId}-${i}` }, { queue: { topic, brokerName: 'broker-a', queueId } });
    }
  } finally {
    await p.close();
  }
}

describe('updateTopic → topicList / topicRoute → topicStatus → deleteTopic', () => {
  it('the whole life of a topic', async () => {
    const t = 'TopicLife';
    // Create on the local broker without -b/-c (its one cluster).
    const created = await local(['updateTopic', '-t', t, '-r', '4', '-w', '4', '--json']);
    expect(created.code).toBe(0);
    expectSuccessEnvelope('updateTopic', created.json);
    expect(created.json.result).toMatchObject({
      topic: t,
      config: { topicName: t, readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false },
      brokers: [{ clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: tb.addr }],
      orderConf: null,
      failed: [],
    });

    const list = await remote(['topicList', '--json']);
    expect(list.code).toBe(0);
    expectSuccessEnvelope('topicList', list.json);
    expect(list.json.result.topics).toContainEqual({ topic: t });
    const plainList = await local(['topicList']);
    expect(plainList.stdout.split('\n')).toContain(t);

    const route = await remote(['topicRoute', '-t', t, '--json']);
    expect(route.code).toBe(0);
    expectSuccessEnvelope('topicRoute', route.json);
    expect(route.json.result).toEqual({
      topic: t,
      brokerDatas: [{ cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: { '0': tb.addr } }],
      queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }],
      orderTopicConf: null,
    });
    const routeTable = await local(['topicRoute', '-t', t, '-l']);
    expect(routeTable.stdout).toMatch(/^#ClusterName\s+#BrokerName\s+#BrokerAddrs\s+#ReadQueue\s+#WriteQueue\s+#Perm/m);
    expect(routeTable.stdout).toMatch(new RegExp(`^DefaultCluster\\s+broker-a\\s+0=${tb.addr.replace(/\./g, '\\.')}\\s+4\\s+4\\s+6 \\(RW-\\)`, 'm'));

    // Real traffic: 3, 0, 7, 1 messages into queues 0..3.
    const before = Date.now();
    await produce(t, [3, 0, 7, 1]);
    const status = await local(['topicStatus', '-t', t, '--json']);
    expect(status.code).toBe(0);
    expectSuccessEnvelope('topicStatus', status.json);
    const queues = status.json.result.queues as Array<{ brokerName: string; queueId: number; minOffset: number; maxOffset: number; lastUpdateTimestamp: number | null }>;
    expect(queues.map((q) => [q.brokerName, q.queueId, q.minOffset, q.maxOffset])).toEqual([
      ['broker-a', 0, 0, 3],
      ['broker-a', 1, 0, 0],
      ['broker-a', 2, 0, 7],
      ['broker-a', 3, 0, 1],
    ]);
    expect(queues[1]!.lastUpdateTimestamp).toBeNull();
    for (const q of [queues[0]!, queues[2]!, queues[3]!]) {
      expect(q.lastUpdateTimestamp).toBeGreaterThanOrEqual(before - 1000);
      expect(q.lastUpdateTimestamp).toBeLessThanOrEqual(Date.now() + 1000);
    }
    const table = await remote(['topicStatus', '-t', t]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^#Broker Name\s+#QID\s+#Min Offset\s+#Max Offset\s+#Last Updated/m);
    expect(table.stdout).toMatch(/^broker-a\s+2\s+0\s+7\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}$/m);
    expect(table.stdout).toMatch(/^broker-a\s+1\s+0\s+0\s*$/m);

    // Change it: read-only, 2 queues, through the name server and -c.
    const changed = await remote(['updateTopic', '-t', t, '-c', 'DefaultCluster', '-r', '2', '-w', '2', '-p', '4']);
    expect(changed.code).toBe(0);
    expect(changed.stdout).toContain(`create topic to broker-a (${tb.addr}) success.`);
    expect(changed.stdout).toMatch(/^perm:\s+4 \(R--\)$/m);
    const route2 = await local(['topicRoute', '-t', t, '--json']);
    expect(route2.json.result.queueDatas[0]).toMatchObject({ readQueueNums: 2, writeQueueNums: 2, perm: 4 });

    const deleted = await remote(['deleteTopic', '-t', t, '-c', 'DefaultCluster', '--json']);
    expect(deleted.code).toBe(0);
    expectSuccessEnvelope('deleteTopic', deleted.json);
    expect(deleted.json.result).toMatchObject({ topic: t, clusterName: 'DefaultCluster', namesrvs: [tb.namesrv], failed: [] });
    expect(deleted.json.result.brokers.map((b: { addr: string }) => b.addr)).toEqual([tb.addr]);

    const gone = await local(['topicRoute', '-t', t]);
    expect(gone.code).toBe(1);
    expectOneLineError(gone.stderr);
    expect(gone.stderr).toContain(`topic ${t} does not exist`);
    expect((await local(['topicList'])).stdout.split('\n')).not.toContain(t);
    const goneStatus = await local(['topicStatus', '-t', t, '--json']);
    expect(goneStatus.code).toBe(1);
    expectErrorEnvelope(goneStatus.json, 1);
    expect(goneStatus.json.code).toBe('E_TOPIC_NOT_FOUND');
  });

  it('updateTopic -o true writes the order config to the name server; topicList -c shows cluster and groups', async () => {
    const t = 'TopicOrdered';
    const r = await remote(['updateTopic', '-t', t, '-c', 'DefaultCluster', '-w', '2', '-r', '2', '-o', 'true', '--json']);
    expect(r.code).toBe(0);
    expect(r.json.result.orderConf).toBe('broker-a:2');
    expect(await getKVConfig(tb.client, tb.namesrv!, 'ORDER_TOPIC_CONFIG', t)).toBe('broker-a:2');
    tb.broker.commitOffset('test', 'CG_ordered', t, 0, 1);
    const list = await local(['topicList', '-c', '--json']);
    expect(list.code).toBe(0);
    expectSuccessEnvelope('topicList', list.json);
    expect(list.json.result.topics).toContainEqual({ topic: t, clusters: ['DefaultCluster'], consumerGroups: ['CG_ordered'] });
    const table = await local(['topicList', '-c']);
    expect(table.stdout).toMatch(/^#Cluster Name\s+#Topic\s+#Consumer Group/m);
    expect(table.stdout).toMatch(/^DefaultCluster\s+TopicOrdered\s+CG_ordered/m);
  });

  it('refusals: a system topic cannot be deleted, an invalid name is a usage error', async () => {
    const sys = await local(['deleteTopic', '-t', 'TBW102']);
    expect(sys.code).toBe(1);
    expectOneLineError(sys.stderr);
    expect(sys.stderr).toContain('conflict with system topic');
    const bad = await local(['updateTopic', '-t', 'no spaces please']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.stderr);
  });
});
