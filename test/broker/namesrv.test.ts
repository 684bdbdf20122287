/**
 * The embedded name server over real sockets (127.0.0.1, port 0), driven by the namesrv-api client
 * functions and by hand-made frames where the bytes matter (apache/rocketmq namesrv DefaultRequestProcessor, RouteInfoManager).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NameServer, type NameServerOptions } from '../../src/broker/namesrv/namesrv.js';
import { RouteInfoManager } from '../../src/broker/namesrv/route-info-manager.js';
import { RemotingServer } from '../../src/remoting/server.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import {
  addWritePermOfBroker,
  deleteKVConfig,
  deleteTopicInNamesrv,
  getAllTopicList,
  getBrokerClusterInfo,
  getKVConfig,
  getKVListByNamespace,
  getRouteInfoByTopic,
  getSystemTopicList,
  getTopicsByCluster,
  onAnyNamesrv,
  parseNamesrvAddrs,
  putKVConfig,
  queryDataVersion,
  registerBroker,
  unregisterBroker,
  wipeWritePermOfBroker,
  type RegisterBrokerRequest,
} from '../../src/remoting/namesrv-api.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { ConfigError, RemoteError, TopicNotFoundError } from '../../src/errors/index.js';
import { decodeClusterInfo, decodeTopicRouteData, type TopicConfig } from '../../src/protocol/bodies.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../../src/protocol/frame.js';
import { encodeRegisterBrokerBody, registerBodyCrc32, type RegisterBrokerBody } from '../../src/protocol/register-broker.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'namesrv-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function newClient(): RemotingClient {
  const c = new RemotingClient();
  cleanups.push(() => c.close());
  return c;
}

async function startNs(opts: NameServerOptions = {}) {
  const ns = new NameServer(opts);
  cleanups.push(() => ns.close());
  const addr = await ns.start({ host: '127.0.0.1', port: 0 });
  return { ns, addr, client: newClient() };
}

function topic(name: string, queues = 4, o: Partial<TopicConfig> = {}): TopicConfig {
  return { topicName: name, readQueueNums: queues, writeQueueNums: queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false, ...o };
}

function broker(
  clusterName: string,
  brokerName: string,
  brokerAddr: string,
  topics: TopicConfig[],
  o: { brokerId?: number; counter?: number; compressed?: boolean } = {},
): RegisterBrokerRequest {
  return {
    clusterName,
    brokerName,
    brokerAddr,
    brokerId: o.brokerId ?? 0,
    haServerAddr: brokerAddr.replace(/:\d+$/, ':10912'),
    compressed: o.compressed,
    body: registerBody(topics, o.counter),
  };
}

function registerBody(topics: TopicConfig[], counter = 1): RegisterBrokerBody {
  return {
    topicConfigSerializeWrapper: {
      dataVersion: { counter, timestamp: 1700000000000 },
      topicConfigTable: Object.fromEntries(topics.map((t) => [t.topicName, t])),
    },
    filterServerList: [],
  };
}

/** Polls `cond` every 10 ms, at most `tries` times (bounded wait, no timing assertion). */
async function until(cond: () => boolean, tries = 500): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

function routeRequest(topicName: string, version: number, acceptStandardJsonOnly?: boolean): RemotingCommand {
  return makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: topicName, acceptStandardJsonOnly }, undefined, version);
}

describe('name server: registration, routes, clusters, topics', () => {
  it('serves two brokers of one cluster (plain and compressed bodies) and one of another', async () => {
    const { addr, client } = await startNs();
    const a = await registerBroker(client, addr, broker('C1', 'broker-a', '127.0.0.1:10911', [topic('T'), topic('OnlyA'), topic('%RETRY%CG', 1)]));
    expect(a).toEqual({ orderTopicConfig: {} });
    await registerBroker(client, addr, broker('C1', 'broker-b', '127.0.0.1:10921', [topic('T', 8), topic('%DLQ%CG', 1, { perm: 2 })], { compressed: true }));
    await registerBroker(client, addr, broker('C2', 'broker-c', '127.0.0.1:10931', [topic('T', 2), topic('Z')]));

    const route = await getRouteInfoByTopic(client, addr, 'T');
    expect(route.queueDatas).toEqual([
      { brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 },
      { brokerName: 'broker-b', readQueueNums: 8, writeQueueNums: 8, perm: 6, topicSysFlag: 0 },
      { brokerName: 'broker-c', readQueueNums: 2, writeQueueNums: 2, perm: 6, topicSysFlag: 0 },
    ]);
    expect(route.brokerDatas).toEqual([
      { cluster: 'C1', brokerName: 'broker-a', brokerAddrs: { 0: '127.0.0.1:10911' } },
      { cluster: 'C1', brokerName: 'broker-b', brokerAddrs: { 0: '127.0.0.1:10921' } },
      { cluster: 'C2', brokerName: 'broker-c', brokerAddrs: { 0: '127.0.0.1:10931' } },
    ]);
    expect(route.orderTopicConf).toBeUndefined();

    const info = await getBrokerClusterInfo(client, addr);
    expect(info.clusterAddrTable).toEqual({ C1: ['broker-a', 'broker-b'], C2: ['broker-c'] });
    expect(info.brokerAddrTable['broker-b']).toEqual({ cluster: 'C1', brokerName: 'broker-b', brokerAddrs: { 0: '127.0.0.1:10921' } });

    expect(await getAllTopicList(client, addr)).toEqual(['%DLQ%CG', '%RETRY%CG', 'OnlyA', 'T', 'Z']);
    expect(await getTopicsByCluster(client, addr, 'C2')).toEqual(['T', 'Z']);
    expect(await getTopicsByCluster(client, addr, 'nope')).toEqual([]);
    const sys = await getSystemTopicList(client, addr);
    expect(sys.topicList.sort()).toEqual(['C1', 'C2', 'broker-a', 'broker-b', 'broker-c']);
    expect(['127.0.0.1:10911', '127.0.0.1:10921', '127.0.0.1:10931']).toContain(sys.brokerAddr);

    await unregisterBroker(client, addr, { clusterName: 'C2', brokerName: 'broker-c', brokerAddr: '127.0.0.1:10931', brokerId: 0 });
    expect((await getRouteInfoByTopic(client, addr, 'T')).queueDatas.map((q) => q.brokerName)).toEqual(['broker-a', 'broker-b']);
    await expect(getRouteInfoByTopic(client, addr, 'Z')).rejects.toBeInstanceOf(TopicNotFoundError);
    expect((await getBrokerClusterInfo(client, addr)).clusterAddrTable).toEqual({ C1: ['broker-a', 'broker-b'] });
  });

  it('answers an unknown topic TOPIC_NOT_EXIST with the Java remark', async () => {
    const { addr, client } = await startNs();
    const res = await client.invoke(addr, routeRequest('Nope', 409));
    expect(res).toMatchObject({ code: ResponseCode.TOPIC_NOT_EXIST, remark: 'No topic route info in name server for the topic: Nope' });
    await expect(getRouteInfoByTopic(client, addr, 'Nope')).rejects.toBeInstanceOf(TopicNotFoundError);
  });

  it('writes bare numeric keys for old requesters, quoted ones for >= 401 or acceptStandardJsonOnly', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('集群', 'broker-a', '127.0.0.1:10911', [topic('T')]));
    await registerBroker(client, addr, broker('集群', 'broker-a', '127.0.0.1:10912', [topic('T')], { brokerId: 1 }));

    // RemotingClient stamps its own version on requests that carry 0: this one's is 0 too.
    const v0client = new RemotingClient({ version: 0 });
    cleanups.push(() => v0client.close());
    const old = bodyBuffer(await v0client.invoke(addr, routeRequest('T', 0))).toString('utf8');
    const v400 = bodyBuffer(await client.invoke(addr, routeRequest('T', 400))).toString('utf8');
    const v409 = bodyBuffer(await client.invoke(addr, routeRequest('T', 409))).toString('utf8');
    const asked = bodyBuffer(await v0client.invoke(addr, routeRequest('T', 0, true))).toString('utf8');

    expect(old).toContain('{0:"127.0.0.1:10911",1:"127.0.0.1:10912"}');
    expect(v400).toContain('{0:"');
    expect(old).toContain('"cluster":"集群"');
    for (const standard of [v409, asked]) {
      expect(standard).toContain('{"0":"127.0.0.1:10911","1":"127.0.0.1:10912"}');
      // BrowserCompatible: non-ASCII as \uXXXX; the text is then plain JSON.
      expect(standard).toContain('"cluster":"\\u96c6\\u7fa4"');
      expect(() => JSON.parse(standard)).not.toThrow();
    }
    // Both QueueData flag names, for clients before and after 4.9.0.
    expect(old).toContain('"topicSysFlag":0');
    expect(old).toContain('"topicSynFlag":0');
    const decoded = decodeTopicRouteData(old);
    expect(decodeTopicRouteData(v409)).toEqual(decoded);
    expect(decodeTopicRouteData(asked)).toEqual(decoded);
    expect(decoded.brokerDatas[0]).toEqual({ cluster: '集群', brokerName: 'broker-a', brokerAddrs: { 0: '127.0.0.1:10911', 1: '127.0.0.1:10912' } });
  });

  it('cluster info is always bare-keyed fastjson', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T')]));
    const raw = bodyBuffer(await client.invoke(addr, makeRequest(RequestCode.GET_BROKER_CLUSTER_INFO, undefined, undefined, 409))).toString('utf8');
    expect(raw).toBe('{"brokerAddrTable":{"b":{"brokerAddrs":{0:"127.0.0.1:1"},"brokerName":"b","cluster":"C"}},"clusterAddrTable":{"C":["b"]}}');
    expect(decodeClusterInfo(raw).clusterAddrTable).toEqual({ C: ['b'] });
  });

  it('keeps topics a master leaves out of a later registration (4.x incremental registration)', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T1'), topic('T2')], { counter: 1 }));
    // A 4.9 broker that auto-creates a topic registers just that topic with the next DataVersion.
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T3', 2)], { counter: 2 }));
    expect(await getAllTopicList(client, addr)).toEqual(['T1', 'T2', 'T3']);
    // Same DataVersion: the table is not read again (as isBrokerTopicConfigChanged).
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T3', 16)], { counter: 2 }));
    expect((await getRouteInfoByTopic(client, addr, 'T3')).queueDatas[0]!.writeQueueNums).toBe(2);
  });

  it('answers a slave with its live master; a promoted slave moves its address to id 0', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T')]));
    const slave = await registerBroker(client, addr, broker('C', 'b', '127.0.0.2:1', [topic('Ignored')], { brokerId: 1 }));
    expect(slave).toEqual({ masterAddr: '127.0.0.1:1', haServerAddr: '127.0.0.1:10912', orderTopicConfig: {} });
    // A slave's topics never make routes.
    await expect(getRouteInfoByTopic(client, addr, 'Ignored')).rejects.toBeInstanceOf(TopicNotFoundError);

    await unregisterBroker(client, addr, { clusterName: 'C', brokerName: 'b', brokerAddr: '127.0.0.1:1', brokerId: 0 });
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.2:1', [topic('T')], { brokerId: 0 }));
    expect((await getRouteInfoByTopic(client, addr, 'T')).brokerDatas[0]!.brokerAddrs).toEqual({ 0: '127.0.0.2:1' });
  });

  it('DELETE_TOPIC_IN_NAMESRV: everywhere, or only in the named cluster', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('C1', 'a', '127.0.0.1:1', [topic('T'), topic('D')]));
    await registerBroker(client, addr, broker('C2', 'b', '127.0.0.1:2', [topic('T'), topic('D')]));
    await deleteTopicInNamesrv(client, addr, 'T', 'C1');
    expect((await getRouteInfoByTopic(client, addr, 'T')).queueDatas.map((q) => q.brokerName)).toEqual(['b']);
    await deleteTopicInNamesrv(client, addr, 'D');
    await expect(getRouteInfoByTopic(client, addr, 'D')).rejects.toBeInstanceOf(TopicNotFoundError);
    await deleteTopicInNamesrv(client, addr, 'never-existed');
  });

  it('WIPE/ADD_WRITE_PERM_OF_BROKER: count the topics; add sets READ|WRITE', async () => {
    const { addr, client } = await startNs();
    await registerBroker(client, addr, broker('C', 'a', '127.0.0.1:1', [topic('T'), topic('R', 4, { perm: 4 })]));
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:2', [topic('T')]));
    expect(await wipeWritePermOfBroker(client, addr, 'a')).toBe(2);
    const perms = async (t: string) => (await getRouteInfoByTopic(client, addr, t)).queueDatas.map((q) => [q.brokerName, q.perm]);
    expect(await perms('T')).toEqual([['a', 4], ['b', 6]]);
    expect(await addWritePermOfBroker(client, addr, 'a')).toBe(2);
    expect(await perms('R')).toEqual([['a', 6]]);
    expect(await wipeWritePermOfBroker(client, addr, 'unknown')).toBe(0);
  });

  it('QUERY_DATA_VERSION: changed when it differs from the registered one, with the held version as body', async () => {
    const { addr, client } = await startNs();
    const id = { clusterName: 'C', brokerName: 'b', brokerAddr: '127.0.0.1:1', brokerId: 0 };
    expect(await queryDataVersion(client, addr, id, { counter: 1, timestamp: 1700000000000 })).toEqual({ changed: true });
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T')], { counter: 5 }));
    expect(await queryDataVersion(client, addr, id, { counter: 5, timestamp: 1700000000000 })).toEqual({
      changed: false,
      nameServerDataVersion: { counter: 5, timestamp: 1700000000000 },
    });
    expect((await queryDataVersion(client, addr, id, { counter: 6, timestamp: 1700000000000 })).changed).toBe(true);
  });
});

describe('name server: forgetting brokers', () => {
  it('forgets a broker 120 s after its last registration (deterministic scan times)', async () => {
    const { ns, addr, client } = await startNs();
    const before = Date.now();
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T')]));
    const after = Date.now();
    expect(ns.scanNotActiveBrokers(before + 120_000)).toEqual([]);
    expect(ns.routeInfo.pickupTopicRouteData('T')).toBeDefined();
    expect(ns.scanNotActiveBrokers(after + 120_001)).toEqual(['127.0.0.1:1']);
    expect(ns.routeInfo.pickupTopicRouteData('T')).toBeUndefined();
    expect(ns.routeInfo.getAllClusterInfo()).toEqual({ brokerAddrTable: {}, clusterAddrTable: {} });
  });

  it('the expiry timer forgets a silent broker (short brokerExpiryMs)', async () => {
    const { ns, addr, client } = await startNs({ brokerExpiryMs: 100, scanIntervalMs: 20 });
    await registerBroker(client, addr, broker('C', 'silent', '127.0.0.1:1', [topic('S')]));
    expect(await until(() => ns.routeInfo.liveBrokerAddrs().length === 0)).toBe(true);
    await expect(getRouteInfoByTopic(client, addr, 'S')).rejects.toBeInstanceOf(TopicNotFoundError);
    expect((await getBrokerClusterInfo(client, addr)).clusterAddrTable).toEqual({});
  });

  it('forgets a broker when the connection it last registered on closes, not an older one', async () => {
    const { ns, addr, client } = await startNs();
    const first = new RemotingClient();
    const second = newClient();
    await registerBroker(first, addr, broker('C', 'moving', '127.0.0.1:1', [topic('M')]));
    await registerBroker(second, addr, broker('C', 'moving', '127.0.0.1:1', [topic('M')]));
    await registerBroker(client, addr, broker('C', 'stays', '127.0.0.1:2', [topic('M')]));
    await first.close();
    // Nothing to wait for that would change: give the close a bounded chance to be processed.
    await until(() => false, 10);
    expect(ns.routeInfo.liveBrokerAddrs()).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    await second.close();
    expect(await until(() => ns.routeInfo.liveBrokerAddrs().length === 1)).toBe(true);
    expect((await getRouteInfoByTopic(client, addr, 'M')).queueDatas.map((q) => q.brokerName)).toEqual(['stays']);
    expect((await getBrokerClusterInfo(client, addr)).clusterAddrTable).toEqual({ C: ['stays'] });
  });

  it('tells connections of two servers apart (attached to a second server whose connection ids restart at 1)', async () => {
    const { ns, addr } = await startNs();
    const other = new RemotingServer({ name: 'other' });
    cleanups.push(() => other.close());
    ns.attach(other);
    const otherAddr = await other.listen({ host: '127.0.0.1', port: 0 });
    const viaMain = newClient();
    const viaOther = new RemotingClient();
    await registerBroker(viaMain, addr, broker('C', 'main', '127.0.0.1:1', [topic('T')]));
    await registerBroker(viaOther, otherAddr, broker('C', 'other', '127.0.0.1:2', [topic('T')]));
    await viaOther.close();
    expect(await until(() => ns.routeInfo.liveBrokerAddrs().length === 1)).toBe(true);
    expect(ns.routeInfo.liveBrokerAddrs()).toEqual(['127.0.0.1:1']);
  });
});

describe('RouteInfoManager (tables directly)', () => {
  const reg = (m: RouteInfoManager, name: string, addr: string, id: number, channel: object, topics: TopicConfig[], nowMs = 1000) =>
    m.registerBroker({
      clusterName: 'C',
      brokerAddr: addr,
      brokerName: name,
      brokerId: id,
      haServerAddr: addr + '-ha',
      topicConfigWrapper: { dataVersion: { counter: 1, timestamp: 1 }, topicConfigTable: Object.fromEntries(topics.map((t) => [t.topicName, t])) },
      filterServerList: [],
      channel,
      nowMs,
    });

  it("a slave's closed connection removes only the slave; the master keeps the route", () => {
    const m = new RouteInfoManager();
    const masterCh = {};
    const slaveCh = {};
    // The slave may register before its master: no master address to answer yet.
    expect(reg(m, 'b', 'h:2', 1, slaveCh, [])).toEqual({ newlyLive: true });
    expect(reg(m, 'b', 'h:1', 0, masterCh, [topic('T')])).toEqual({ newlyLive: true });
    expect(reg(m, 'b', 'h:2', 1, slaveCh, [])).toEqual({ masterAddr: 'h:1', haServerAddr: 'h:1-ha', newlyLive: false });
    expect(m.onChannelDestroy(slaveCh)).toEqual(['h:2']);
    expect(m.pickupTopicRouteData('T')?.brokerDatas).toEqual([{ cluster: 'C', brokerName: 'b', brokerAddrs: { 0: 'h:1' } }]);
    expect(m.onChannelDestroy({})).toEqual([]);
    expect(m.scanNotActiveBrokers(1000 + 120_000, 120_000)).toEqual([]);
    expect(m.scanNotActiveBrokers(1000 + 120_001, 120_000)).toEqual(['h:1']);
    expect(m.pickupTopicRouteData('T')).toBeUndefined();
    expect(m.getAllTopicList()).toEqual([]);
  });

  it('a route needs a known broker; filter servers appear under their broker address', () => {
    const m = new RouteInfoManager();
    m.registerBroker({
      clusterName: 'C',
      brokerAddr: 'h:1',
      brokerName: 'b',
      brokerId: 0,
      haServerAddr: '',
      topicConfigWrapper: { dataVersion: { counter: 1, timestamp: 1 }, topicConfigTable: { T: topic('T') } },
      filterServerList: ['f:1'],
      channel: undefined,
      nowMs: 1,
    });
    expect(m.pickupTopicRouteData('T')?.filterServerTable).toEqual({ 'h:1': ['f:1'] });
    m.unregisterBroker('C', 'h:1', 'b', 0);
    expect(m.pickupTopicRouteData('T')).toBeUndefined();
    // A late unregister naming an address the id no longer has changes nothing.
    reg(m, 'b', 'h:9', 0, {}, [topic('T')]);
    m.unregisterBroker('C', 'h:1', 'b', 0);
    expect(m.pickupTopicRouteData('T')?.brokerDatas[0]!.brokerAddrs).toEqual({ 0: 'h:9' });
  });
});

describe('name server: KV config', () => {
  it('puts, gets, lists and deletes; persists kvConfig.json; adds orderTopicConf to routes and REGISTER_BROKER answers', async () => {
    const dir = tempDir();
    const kvConfigPath = path.join(dir, 'namesrv', 'kvConfig.json');
    const { ns, addr, client } = await startNs({ kvConfigPath });
    await registerBroker(client, addr, broker('C', 'broker-a', '127.0.0.1:1', [topic('T')]));
    expect(await getKVConfig(client, addr, 'ORDER_TOPIC_CONFIG', 'T')).toBeUndefined();
    expect(await getKVListByNamespace(client, addr, 'ORDER_TOPIC_CONFIG')).toEqual({});

    await putKVConfig(client, addr, 'ORDER_TOPIC_CONFIG', 'T', 'broker-a:4');
    expect(fs.readFileSync(kvConfigPath, 'utf8')).toBe('{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"}}}');
    expect((await getRouteInfoByTopic(client, addr, 'T')).orderTopicConf).toBe('broker-a:4');
    const again = await registerBroker(client, addr, broker('C', 'broker-a', '127.0.0.1:1', [topic('T')]));
    expect(again.orderTopicConfig).toEqual({ T: 'broker-a:4' });

    await putKVConfig(client, addr, 'ns2', 'k', '');
    await putKVConfig(client, addr, 'ns2', 'gone', 'x');
    await deleteKVConfig(client, addr, 'ns2', 'gone');
    await deleteKVConfig(client, addr, 'ns2', 'never-there');
    expect(await getKVListByNamespace(client, addr, 'ns2')).toEqual({ k: '' });
    await ns.close();

    const reloaded = await startNs({ kvConfigPath });
    expect(reloaded.ns.kvLoadReport.source).toBe('file');
    expect(await getKVConfig(reloaded.client, reloaded.addr, 'ORDER_TOPIC_CONFIG', 'T')).toBe('broker-a:4');
    expect(await getKVConfig(reloaded.client, reloaded.addr, 'ns2', 'k')).toBe('');
    expect(await getKVConfig(reloaded.client, reloaded.addr, 'ns2', 'gone')).toBeUndefined();
  });

  it('orderMessageEnable=false leaves orderTopicConf out, as Apache by default', async () => {
    const { addr, client } = await startNs({ orderMessageEnable: false });
    await registerBroker(client, addr, broker('C', 'a', '127.0.0.1:1', [topic('T')]));
    await putKVConfig(client, addr, 'ORDER_TOPIC_CONFIG', 'T', 'a:4');
    expect((await getRouteInfoByTopic(client, addr, 'T')).orderTopicConf).toBeUndefined();
  });

  it('falls back to kvConfig.json.bak when the main file is torn, and refuses to start on two bad files', () => {
    const dir = tempDir();
    const p = path.join(dir, 'kvConfig.json');
    fs.writeFileSync(p, '{"configTable":{"ORDER_TOPIC_CO');
    fs.writeFileSync(p + '.bak', '{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"a:8"}}}');
    const ns = new NameServer({ kvConfigPath: p });
    cleanups.push(() => ns.close());
    expect(ns.kvLoadReport).toMatchObject({ source: 'bak', problem: expect.stringContaining('not JSON') });
    expect(ns.kvConfig.get('ORDER_TOPIC_CONFIG', 'T')).toBe('a:8');

    fs.writeFileSync(p + '.bak', 'garbage');
    expect(() => new NameServer({ kvConfigPath: p })).toThrow(ConfigError);
    // An empty main file (and no usable .bak) is a fresh start, like a missing one.
    fs.writeFileSync(p, '');
    expect(new NameServer({ kvConfigPath: p }).kvLoadReport).toMatchObject({ source: 'none', problem: 'empty' });
    expect(new NameServer({ kvConfigPath: path.join(dir, 'missing.json') }).kvLoadReport.source).toBe('none');
  });

  it('a KV write that fails is answered SYSTEM_ERROR (Java only logs it); the next one succeeds', async () => {
    const dir = tempDir();
    const kvConfigPath = path.join(dir, 'kvConfig.json');
    let failWrites = true;
    class DiskFullOnce extends NodeFileIO {
      override async writeFileAtomic(p: string, data: Buffer | string): Promise<void> {
        if (failWrites) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return super.writeFileAtomic(p, data);
      }
    }
    const { addr, client } = await startNs({ kvConfigPath, fileIO: new DiskFullOnce() });
    const res = await client.invoke(addr, makeRequest(RequestCode.PUT_KV_CONFIG, { namespace: 'n', key: 'k', value: 'v' }));
    expect(res.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(res.remark).toMatch(/applied in memory but not saved: ENOSPC/);
    expect(fs.existsSync(kvConfigPath)).toBe(false);
    failWrites = false;
    await putKVConfig(client, addr, 'n', 'k2', 'v2');
    expect(JSON.parse(fs.readFileSync(kvConfigPath, 'utf8'))).toEqual({ configTable: { n: { k: 'v', k2: 'v2' } } });
  });
});

describe('name server: bad requests get SYSTEM_ERROR and the server keeps serving', () => {
  it('bad crc, undecodable bodies, missing or malformed header fields', async () => {
    const { addr, client } = await startNs();
    const header = { brokerName: 'b', brokerAddr: '127.0.0.1:1', clusterName: 'C', haServerAddr: '127.0.0.1:2', brokerId: 0 };
    const good = encodeRegisterBrokerBody(registerBody([topic('T')]), true);
    const send = (fields: Record<string, string | number | boolean>, body?: Buffer) => client.invoke(addr, makeRequest(RequestCode.REGISTER_BROKER, fields, body));

    expect(await send({ ...header, compressed: true, bodyCrc32: registerBodyCrc32(good) ^ 1 }, good)).toMatchObject({ code: 1, remark: 'crc32 not match' });
    const junk = Buffer.from('not zlib');
    const r1 = await send({ ...header, compressed: true, bodyCrc32: registerBodyCrc32(junk) }, junk);
    expect(r1.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(r1.remark).toMatch(/failed to decode RegisterBrokerBody/);
    const r2 = await send({ ...header, compressed: false }, Buffer.from('{"topicConfigSerializeWrapper":'));
    expect(r2.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(await send({ brokerName: 'b', brokerAddr: '127.0.0.1:1', brokerId: 0 })).toMatchObject({ code: 1, remark: 'REGISTER_BROKER: missing header field clusterName' });
    expect((await send({ ...header, brokerId: 'zero' })).remark).toMatch(/brokerId is not a broker id/);
    expect((await send({ ...header, bodyCrc32: 'x' }, good)).remark).toMatch(/bodyCrc32 is not an int/);

    const others: Array<[number, string]> = [
      [RequestCode.GET_ROUTEINFO_BY_TOPIC, 'missing header field topic'],
      [RequestCode.UNREGISTER_BROKER, 'missing header field brokerName'],
      [RequestCode.PUT_KV_CONFIG, 'missing header field namespace'],
      [RequestCode.GET_KV_CONFIG, 'missing header field namespace'],
      [RequestCode.GET_TOPICS_BY_CLUSTER, 'missing header field cluster'],
      [RequestCode.DELETE_TOPIC_IN_NAMESRV, 'missing header field topic'],
      [RequestCode.WIPE_WRITE_PERM_OF_BROKER, 'missing header field brokerName'],
      [RequestCode.QUERY_DATA_VERSION, 'missing header field brokerName'],
    ];
    for (const [code, remark] of others) {
      const res = await client.invoke(addr, makeRequest(code));
      expect([code, res.code, res.remark]).toEqual([code, ResponseCode.SYSTEM_ERROR, expect.stringContaining(remark)]);
    }
    const qdv = await client.invoke(addr, makeRequest(RequestCode.QUERY_DATA_VERSION, { ...header }, Buffer.from('nope')));
    expect(qdv.remark).toMatch(/not JSON/);
    expect((await client.invoke(addr, makeRequest(RequestCode.PUT_KV_CONFIG, { namespace: 'n', key: 'k' }))).remark).toMatch(/missing header field value/);

    // Codes the name server does not serve fall to REQUEST_CODE_NOT_SUPPORTED.
    expect((await client.invoke(addr, makeRequest(RequestCode.GET_NAMESRV_CONFIG))).code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);

    // Still serving, over the same connection.
    await registerBroker(client, addr, broker('C', 'b', '127.0.0.1:1', [topic('T')]));
    expect((await getRouteInfoByTopic(client, addr, 'T')).queueDatas).toHaveLength(1);
  });

  it('client functions turn other answers into RemoteError with the response code', async () => {
    const { addr, client } = await startNs();
    const err = await unregisterBroker(client, addr, { clusterName: '', brokerName: 'b', brokerAddr: 'x:1', brokerId: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).responseCode).toBe(ResponseCode.SYSTEM_ERROR);
  });
});

describe('several name servers', () => {
  it('parseNamesrvAddrs splits on ; (and ,) and drops blanks', () => {
    expect(parseNamesrvAddrs('a:9876;b:9876')).toEqual(['a:9876', 'b:9876']);
    expect(parseNamesrvAddrs(' a:1 ; ;b:2,c:3; ')).toEqual(['a:1', 'b:2', 'c:3']);
    expect(parseNamesrvAddrs(undefined)).toEqual([]);
  });

  it('onAnyNamesrv moves past an unreachable name server and stops at the first answer', async () => {
    const dead = await startNs();
    const deadAddr = dead.addr;
    await dead.ns.close();
    const live = await startNs();
    await registerBroker(live.client, live.addr, broker('C', 'b', '127.0.0.1:1', [topic('T')]));
    const client = newClient();
    const tried: string[] = [];
    const route = await onAnyNamesrv([deadAddr, live.addr], (a) => {
      tried.push(a);
      return getRouteInfoByTopic(client, a, 'T', 2000);
    });
    expect(route.queueDatas).toHaveLength(1);
    expect(tried).toEqual([deadAddr, live.addr]);
    // A definite answer (unknown topic) is not retried elsewhere.
    tried.length = 0;
    await expect(
      onAnyNamesrv([live.addr, deadAddr], (a) => {
        tried.push(a);
        return getRouteInfoByTopic(client, a, 'Nope', 2000);
      }),
    ).rejects.toBeInstanceOf(TopicNotFoundError);
    expect(tried).toEqual([live.addr]);
  });
});
