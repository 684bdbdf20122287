/**
 * Topic commands through the real CLI against a real broker in this process: updateTopic creates
 * a topic that topicList and topicRoute then show, real sends make topicStatus report the right
 * min/max offset per queue, deleteTopic removes it again. Both targets: the local socket and the
 * broker's name server (-n). updateTopic on an existing topic changes only the flags given (each
 * broker's own config is read first and kept, per broker), a new topic gets mqadmin's defaults,
 * -r/-w 0 are usage errors, and legal-but-hazardous changes (more write than read queues, dropping
 * read queues that hold messages) are warnings; outcomes are read back from the broker.
 */
import { describe, expect, it } from 'vitest';
import { getBrokerClusterInfo, getKVConfig } from '../../src/remoting/namesrv-api.js';
import { Producer } from '../../src/client/producer.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { eventually, startTestBroker, useCliBroker, type TestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';

const cb = useCliBroker();
const { local, remote } = cb;

async function produce(topic: string, perQueue: number[]): Promise<void> {
  const p = new Producer({ namesrvAddr: cb.tb.namesrv!, producerGroup: `PG_${topic}`, instanceName: `p-${topic}` });
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
      brokers: [{ clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: cb.tb.addr }],
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
      brokerDatas: [{ cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: { '0': cb.tb.addr } }],
      queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }],
      orderTopicConf: null,
    });
    const routeTable = await local(['topicRoute', '-t', t, '-l']);
    expect(routeTable.stdout).toMatch(/^#ClusterName\s+#BrokerName\s+#BrokerAddrs\s+#ReadQueue\s+#WriteQueue\s+#Perm/m);
    expect(routeTable.stdout).toMatch(new RegExp(`^DefaultCluster\\s+broker-a\\s+0=${cb.tb.addr.replace(/\./g, '\\.')}\\s+4\\s+4\\s+6 \\(RW-\\)`, 'm'));

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
    expect(changed.stdout).toContain(`create topic to broker-a (${cb.tb.addr}) success.`);
    expect(changed.stdout).toMatch(/^perm:\s+4 \(R--\)$/m);
    const route2 = await local(['topicRoute', '-t', t, '--json']);
    expect(route2.json.result.queueDatas[0]).toMatchObject({ readQueueNums: 2, writeQueueNums: 2, perm: 4 });

    const deleted = await remote(['deleteTopic', '-t', t, '-c', 'DefaultCluster', '--json']);
    expect(deleted.code).toBe(0);
    expectSuccessEnvelope('deleteTopic', deleted.json);
    expect(deleted.json.result).toMatchObject({ topic: t, clusterName: 'DefaultCluster', namesrvs: [cb.tb.namesrv], failed: [] });
    expect(deleted.json.result.brokers.map((b: { addr: string }) => b.addr)).toEqual([cb.tb.addr]);

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
    expect(await getKVConfig(cb.tb.client, cb.tb.namesrv!, 'ORDER_TOPIC_CONFIG', t)).toBe('broker-a:2');
    cb.tb.broker.commitOffset('test', 'CG_ordered', t, 0, 1);
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

/** A topic set up directly (UPDATE_AND_CREATE_TOPIC), with non-default values in every field. */
async function rawTopic(b: TestBroker, topic: string, c: { queues: number; perm?: number; filter?: string; sysFlag?: number; order?: boolean }): Promise<void> {
  const res = await b.client.invoke(
    b.addr,
    makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic,
      defaultTopic: 'TBW102',
      readQueueNums: c.queues,
      writeQueueNums: c.queues,
      perm: c.perm ?? 6,
      topicFilterType: c.filter ?? 'SINGLE_TAG',
      topicSysFlag: c.sysFlag ?? 0,
      order: c.order ?? false,
    }),
  );
  expect(res.code).toBe(0);
}

const cfg = (topic: string, c: Partial<{ readQueueNums: number; writeQueueNums: number; perm: number; topicFilterType: string; topicSysFlag: number; order: boolean }>) => ({
  topicName: topic,
  readQueueNums: 8,
  writeQueueNums: 8,
  perm: 6,
  topicFilterType: 'SINGLE_TAG',
  topicSysFlag: 0,
  order: false,
  ...c,
});

describe('updateTopic changes only the flags given', () => {
  it('-p 4 on an existing 16/16 topic keeps its queue counts and every other field (the --help example)', async () => {
    const t = 'Tmp3';
    await rawTopic(cb.tb, t, { queues: 16, filter: 'MULTI_TAG', sysFlag: 3 });
    const r = await local(['updateTopic', '-t', t, '-p', '4', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateTopic', r.json);
    const before = cfg(t, { readQueueNums: 16, writeQueueNums: 16, topicFilterType: 'MULTI_TAG', topicSysFlag: 3 });
    const after = { ...before, perm: 4 };
    expect(cb.tb.broker.topicConfig(t)).toEqual(after);
    expect(r.json.warnings).toEqual([]);
    expect(r.json.result).toMatchObject({ topic: t, config: after, orderConf: null, failed: [] });
    expect(r.json.result.brokers).toEqual([
      { clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: cb.tb.addr, existed: true, before, after, droppedReadQueues: [] },
    ]);
    // The route the clients see agrees: 16 read queues, read-only.
    const route = await remote(['topicRoute', '-t', t, '--json']);
    expect(route.json.result.queueDatas[0]).toMatchObject({ readQueueNums: 16, writeQueueNums: 16, perm: 4 });

    // Each flag alone changes only itself; the human output names the change.
    const w = await remote(['updateTopic', '-t', t, '-c', 'DefaultCluster', '-w', '12', '-u', 'false']);
    expect(w.code).toBe(0);
    expect(w.stdout).toContain(`create topic to broker-a (${cb.tb.addr}) success.`);
    expect(w.stdout).toContain(`broker-a (${cb.tb.addr}): writeQueueNums 16 -> 12, topicSysFlag 3 -> 2`);
    expect(cb.tb.broker.topicConfig(t)).toEqual({ ...after, writeQueueNums: 12, topicSysFlag: 2 });
    const o = await local(['updateTopic', '-t', t, '-o', 'true', '-b', cb.tb.addr, '-n', cb.tb.namesrv!]);
    expect(o.code).toBe(0);
    expect(cb.tb.broker.topicConfig(t)).toEqual({ ...after, writeQueueNums: 12, topicSysFlag: 2, order: true });
    expect(await getKVConfig(cb.tb.client, cb.tb.namesrv!, 'ORDER_TOPIC_CONFIG', t)).toBe('broker-a:12');
    // An ordered topic whose write queue count changes gets its order config rewritten without -o.
    const w6 = await remote(['updateTopic', '-t', t, '-c', 'DefaultCluster', '-w', '6', '--json']);
    expect(w6.json.result.orderConf).toBe('broker-a:6');
    expect(await getKVConfig(cb.tb.client, cb.tb.namesrv!, 'ORDER_TOPIC_CONFIG', t)).toBe('broker-a:6');
    expect(cb.tb.broker.topicConfig(t)).toEqual({ ...after, writeQueueNums: 6, topicSysFlag: 2, order: true });
  });

  it('a new topic gets the defaults (8/8, perm 6), before null', async () => {
    const t = 'TopicNewDefaults';
    const r = await local(['updateTopic', '-t', t, '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateTopic', r.json);
    expect(cb.tb.broker.topicConfig(t)).toEqual(cfg(t, {}));
    expect(r.json.result.brokers[0]).toMatchObject({ existed: false, before: null, after: cfg(t, {}), droppedReadQueues: [] });
    const human = await local(['updateTopic', '-t', 'TopicNewHuman', '-r', '3', '-w', '3']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`broker-a (${cb.tb.addr}): created`);
    expect(cb.tb.broker.topicConfig('TopicNewHuman')).toEqual(cfg('TopicNewHuman', { readQueueNums: 3, writeQueueNums: 3 }));
  });

  it('each broker of a cluster keeps its own values', async () => {
    const bb = await startTestBroker({ namesrv: false, config: { brokerName: 'broker-b', namesrvAddr: cb.tb.namesrv! } });
    try {
      await eventually(async () => ((await getBrokerClusterInfo(cb.tb.client, cb.tb.namesrv!, 5000)).clusterAddrTable.DefaultCluster?.includes('broker-b') ? true : undefined), 'broker-b registered');
      const t = 'TopicTwoBrokers';
      await rawTopic(cb.tb, t, { queues: 16 });
      await rawTopic(bb, t, { queues: 4, filter: 'MULTI_TAG' });
      const r = await remote(['updateTopic', '-t', t, '-c', 'DefaultCluster', '-p', '4', '--json']);
      expect(r.code).toBe(0);
      expectSuccessEnvelope('updateTopic', r.json);
      expect(cb.tb.broker.topicConfig(t)).toEqual(cfg(t, { readQueueNums: 16, writeQueueNums: 16, perm: 4 }));
      expect(bb.broker.topicConfig(t)).toEqual(cfg(t, { readQueueNums: 4, writeQueueNums: 4, perm: 4, topicFilterType: 'MULTI_TAG' }));
      expect(r.json.result.brokers.map((b: { brokerName: string; before: { readQueueNums: number }; after: { readQueueNums: number } }) => [b.brokerName, b.before.readQueueNums, b.after.readQueueNums])).toEqual([
        ['broker-a', 16, 16],
        ['broker-b', 4, 4],
      ]);
    } finally {
      await bb.cleanup();
    }
  });
});

describe('updateTopic refusals and warnings', () => {
  it('-r 0 and -w 0 are usage errors (exit 2, one line); nothing is created', async () => {
    for (const args of [['-r', '0'], ['-w', '0'], ['-r', '-1']]) {
      const r = await local(['updateTopic', '-t', 'TopicZero', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr);
      expect(r.stderr).toMatch(/must be at least 1/);
    }
    const j = await local(['updateTopic', '-t', 'TopicZero', '-w', '0', '--json']);
    expect(j.code).toBe(2);
    expectErrorEnvelope(j.json, 2);
    expect(cb.tb.broker.topicConfig('TopicZero')).toBeUndefined();
  });

  it('more write than read queues is written, with a warning naming the unread queues', async () => {
    const t = 'TopicMoreWrites';
    const r = await local(['updateTopic', '-t', t, '-r', '2', '-w', '4', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateTopic', r.json);
    expect(cb.tb.broker.topicConfig(t)).toEqual(cfg(t, { readQueueNums: 2, writeQueueNums: 4 }));
    expect(r.json.warnings).toHaveLength(1);
    expect(r.json.warnings[0]).toContain('messages written to queues 2–3 are never read');
    const human = await local(['updateTopic', '-t', t, '-w', '3']);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^warning: .*messages written to queue 2 are never read/m);
  });

  it('cutting read queues that hold messages warns with each queue and its message count; the data stays', async () => {
    const t = 'TopicShrink';
    expect((await local(['updateTopic', '-t', t, '-r', '4', '-w', '4'])).code).toBe(0);
    await produce(t, [1, 0, 3, 2]);
    const r = await local(['updateTopic', '-t', t, '-r', '1', '-w', '1', '--json']);
    expect(r.code).toBe(0);
    expectSuccessEnvelope('updateTopic', r.json);
    expect(cb.tb.broker.topicConfig(t)).toEqual(cfg(t, { readQueueNums: 1, writeQueueNums: 1 }));
    expect(r.json.result.brokers[0].droppedReadQueues).toEqual([
      { queueId: 2, minOffset: 0, maxOffset: 3, messages: 3 },
      { queueId: 3, minOffset: 0, maxOffset: 2, messages: 2 },
    ]);
    expect(r.json.warnings).toHaveLength(1);
    expect(r.json.warnings[0]).toContain('queue 2 (3 messages), queue 3 (2 messages) become unreadable');
    expect(r.json.warnings[0]).not.toContain('queue 1 ');
    // Not deleted: with the read queues raised again, cutting them again finds the same messages.
    const back = await local(['updateTopic', '-t', t, '-r', '4', '--json']);
    expect(back.json.warnings).toEqual([]);
    expect(cb.tb.broker.topicConfig(t)).toEqual(cfg(t, { readQueueNums: 4, writeQueueNums: 1 }));
    const again = await local(['updateTopic', '-t', t, '-r', '3', '-w', '3', '--json']);
    expect(again.json.result.brokers[0].droppedReadQueues).toEqual([{ queueId: 3, minOffset: 0, maxOffset: 2, messages: 2 }]);
  });
});
