import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { NameServer } from '../../src/broker/nameserver/name-server.js';
import { RemotingClient } from '../../src/client/remoting.js';
import {
  deleteTopicInNamesrv,
  getAllTopicList,
  getBrokerClusterInfo,
  getKVConfig,
  getRouteInfoByTopic,
  putKVConfig,
} from '../../src/client/namesrv-api.js';
import { TopicNotFoundError } from '../../src/errors/index.js';
import { decodeTopicRouteData, type TopicConfig } from '../../src/protocol/bodies.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { crc32 } from '../../src/protocol/hash.js';
import { decodeRegisterBrokerBody, encodeRegisterBrokerBody } from '../../src/protocol/register-broker.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function topic(name: string, queues = 4): TopicConfig {
  return { topicName: name, readQueueNums: queues, writeQueueNums: queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
}

async function startNs(opts: ConstructorParameters<typeof NameServer>[0] = {}) {
  const ns = new NameServer(opts);
  const addr = await ns.start({ host: '127.0.0.1', port: 0 });
  const client = new RemotingClient();
  cleanups.push(() => ns.close(), () => client.close());
  return { ns, addr, client };
}

function registerReq(o: { cluster: string; name: string; addr: string; id?: number; topics: TopicConfig[]; counter?: number; compressed?: boolean; badCrc?: boolean }) {
  const table = Object.fromEntries(o.topics.map((t) => [t.topicName, t]));
  const body = encodeRegisterBrokerBody(
    { topicConfigSerializeWrapper: { dataVersion: { counter: o.counter ?? 1, timestamp: 1700000000000 }, topicConfigTable: table }, filterServerList: [] },
    o.compressed,
  );
  const crc = crc32(body) & 0x7fffffff;
  return makeRequest(
    RequestCode.REGISTER_BROKER,
    { brokerName: o.name, brokerAddr: o.addr, clusterName: o.cluster, haServerAddr: o.addr, brokerId: o.id ?? 0, compressed: !!o.compressed, bodyCrc32: o.badCrc ? crc ^ 1 : crc },
    body,
  );
}

describe('embedded name server', () => {
  it('routes a topic served by two brokers, with cluster info and topic list (plain and compressed bodies)', async () => {
    const { addr, client } = await startNs();
    expect((await client.invoke(addr, registerReq({ cluster: 'C1', name: 'broker-a', addr: '127.0.0.1:10911', topics: [topic('T'), topic('A')] }))).code).toBe(0);
    expect((await client.invoke(addr, registerReq({ cluster: 'C1', name: 'broker-b', addr: '127.0.0.1:10921', topics: [topic('T', 8)], compressed: true }))).code).toBe(0);
    expect((await client.invoke(addr, registerReq({ cluster: 'C2', name: 'broker-c', addr: '127.0.0.1:10931', topics: [topic('Z')] }))).code).toBe(0);

    const route = await getRouteInfoByTopic(client, addr, 'T');
    expect(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums])).toEqual([['broker-a', 4], ['broker-b', 8]]);
    expect(route.brokerDatas.map((b) => b.brokerAddrs['0'])).toEqual(['127.0.0.1:10911', '127.0.0.1:10921']);

    const info = await getBrokerClusterInfo(client, addr);
    expect(info.clusterAddrTable).toEqual({ C1: ['broker-a', 'broker-b'], C2: ['broker-c'] });
    expect((await getAllTopicList(client, addr)).sort()).toEqual(['A', 'T', 'Z']);
    await expect(getRouteInfoByTopic(client, addr, 'nope')).rejects.toBeInstanceOf(TopicNotFoundError);
  });

  it('writes bare numeric brokerAddrs keys for old clients and quoted keys for new ones (§2.13)', async () => {
    const { addr, client } = await startNs();
    await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:10911', topics: [topic('T')] }));
    const old = await client.invoke(addr, { ...makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' }), version: 121 });
    const raw = bodyBuffer(old).toString();
    expect(raw).toContain('{0:"127.0.0.1:10911"}');
    const modern = await client.invoke(addr, makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' }, undefined, 409));
    expect(bodyBuffer(modern).toString()).toContain('{"0":"127.0.0.1:10911"}');
    expect(decodeTopicRouteData(raw)).toEqual(decodeTopicRouteData(bodyBuffer(modern)));
    expect(raw).toContain('"topicSynFlag":0'); // for clients before 4.9.0
  });

  it('forgets a broker when its connection closes, and after the expiry time', async () => {
    const { ns, addr, client } = await startNs({ brokerExpiryMs: 200, scanIntervalMs: 50 });
    const brokerConn = new RemotingClient();
    await brokerConn.invoke(addr, registerReq({ cluster: 'C', name: 'gone', addr: '127.0.0.1:1', topics: [topic('G')] }));
    await client.invoke(addr, registerReq({ cluster: 'C', name: 'stale', addr: '127.0.0.1:2', topics: [topic('S')] }));
    expect(ns.routeInfo.routeOf('G')).toBeDefined();
    await brokerConn.close();
    for (let i = 0; i < 100 && ns.routeInfo.routeOf('G'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(ns.routeInfo.routeOf('G')).toBeUndefined();
    for (let i = 0; i < 100 && ns.routeInfo.routeOf('S'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(ns.routeInfo.routeOf('S')).toBeUndefined();
    expect(ns.routeInfo.clusterInfo().clusterAddrTable).toEqual({});
  });

  it('refuses a bad CRC and a bad body with SYSTEM_ERROR, and keeps serving', async () => {
    const { addr, client } = await startNs();
    const bad = await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:1', topics: [topic('T')], badCrc: true }));
    expect(bad).toMatchObject({ code: 1, remark: 'crc32 not match' });
    const junk = await client.invoke(addr, makeRequest(RequestCode.REGISTER_BROKER, { brokerName: 'b', brokerAddr: 'x:1', clusterName: 'C', brokerId: 0, compressed: true }, Buffer.from('not zlib')));
    expect(junk.code).toBe(1);
    const missing = await client.invoke(addr, makeRequest(RequestCode.REGISTER_BROKER, { brokerName: 'b' }));
    expect(missing.remark).toContain('missing header field');
    expect((await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:1', topics: [topic('T')] }))).code).toBe(0);
  });

  it('deletes a topic, keeps KV config across restarts, and adds orderTopicConf to routes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ns-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const kvConfigPath = path.join(dir, 'kvConfig.json');
    const { ns, addr, client } = await startNs({ kvConfigPath });
    await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:1', topics: [topic('T'), topic('D')] }));
    await putKVConfig(client, addr, 'ORDER_TOPIC_CONFIG', 'T', 'b:4');
    expect((await getRouteInfoByTopic(client, addr, 'T')).orderTopicConf).toBe('b:4');
    await deleteTopicInNamesrv(client, addr, 'D');
    await expect(getRouteInfoByTopic(client, addr, 'D')).rejects.toBeInstanceOf(TopicNotFoundError);
    await ns.close();
    expect(fs.readFileSync(kvConfigPath, 'utf8')).toContain('"ORDER_TOPIC_CONFIG"');
    const again = await startNs({ kvConfigPath });
    expect(await getKVConfig(again.client, again.addr, 'ORDER_TOPIC_CONFIG', 'T')).toBe('b:4');
    expect(await getKVConfig(again.client, again.addr, 'ORDER_TOPIC_CONFIG', 'none')).toBeUndefined();
  });

  it('answers a slave with its master address', async () => {
    const { addr, client } = await startNs();
    await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:1', topics: [topic('T')] }));
    const res = await client.invoke(addr, registerReq({ cluster: 'C', name: 'b', addr: '127.0.0.1:2', id: 1, topics: [topic('T')] }));
    expect(res.extFields?.masterAddr).toBe('127.0.0.1:1');
    expect((await getRouteInfoByTopic(client, addr, 'T')).brokerDatas[0]!.brokerAddrs).toEqual({ 0: '127.0.0.1:1', 1: '127.0.0.1:2' });
  });
});

describe('compressed REGISTER_BROKER body (§2.13)', () => {
  it('decodes a body built by hand from the fact sheet layout', () => {
    const piece = (s: string) => {
      const b = Buffer.from(s);
      const len = Buffer.alloc(4);
      len.writeInt32BE(b.length, 0);
      return Buffer.concat([len, b]);
    };
    const count = Buffer.alloc(4);
    count.writeInt32BE(2, 0);
    const raw = Buffer.concat([
      piece('{"counter":3,"timestamp":1700000000000}'),
      count,
      piece('TopicA 8 8 6 SINGLE_TAG'),
      piece('TopicB 4 2 4 MULTI_TAG'),
      piece('[]'),
    ]);
    const body = decodeRegisterBrokerBody(zlib.deflateSync(raw, { level: 9 }), true);
    expect(body.topicConfigSerializeWrapper.dataVersion).toEqual({ counter: 3, timestamp: 1700000000000 });
    expect(body.topicConfigSerializeWrapper.topicConfigTable.TopicB).toEqual({
      topicName: 'TopicB', readQueueNums: 4, writeQueueNums: 2, perm: 4, topicFilterType: 'MULTI_TAG', topicSysFlag: 0, order: false,
    });
    expect(Object.keys(body.topicConfigSerializeWrapper.topicConfigTable)).toEqual(['TopicA', 'TopicB']);
  });
});
