/**
 * What Apache mqadmin needed of our broker (docs/conformance/mqadmin.md), checked without Java:
 * UPDATE_BROKER_CONFIG (run-time keys applied and saved like Configuration#update/persist, the
 * rest as Apache answers), the runtime-info keys clusterList reads, and Java's Long.MAX_VALUE
 * as a time bound (mqadmin queryMsgByKey / queryMsgByUniqueKey). Real broker, no mocks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withValues } from '../../src/broker/configuration.js';
import { Producer } from '../../src/client/index.js';
import { getBrokerRuntimeInfo } from '../../src/admin/requests.js';
import { routeOfTopic } from '../../src/admin/targets.js';
import { withAdminSession } from '../../src/admin/session.js';
import { getBrokerConfig } from '../../src/checks/no-loss.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { decodeRecords } from '../../src/protocol/message.js';
import { startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';

const LONG_MAX = '9223372036854775807';
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(opts: { conf?: string } = {}): Promise<TestBroker> {
  const t = await startTestBroker({ configFile: opts.conf });
  cleanups.push(() => t.cleanup());
  return t;
}

function update(t: TestBroker, props: string) {
  return t.client.invoke(t.addr, makeRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from(props, 'utf8')));
}

const admin = <T>(t: TestBroker, fn: (s: Parameters<Parameters<typeof withAdminSession>[1]>[0]) => Promise<T>) => withAdminSession({ namesrvAddr: t.namesrv!, timeoutMs: 10_000 }, fn);

describe('properties text with updated values (what UPDATE_BROKER_CONFIG saves)', () => {
  it('replaces each definition of a key, continuation lines included, keeps the rest, appends new keys', () => {
    const text = '# comment\nbrokerName = b1\ntraceOn=true\nmessageDelayLevel=1s \\\n  5s\ntraceOn: true\n';
    expect(withValues(text, new Map([['traceOn', 'false'], ['messageDelayLevel', '2s'], ['regionId', 'r\\1']]))).toBe(
      '# comment\nbrokerName = b1\ntraceOn=false\nmessageDelayLevel=2s\ntraceOn=false\nregionId=r\\\\1\n',
    );
    expect(withValues('', new Map([['traceOn', 'false']]))).toBe('traceOn=false\n');
    expect(withValues('a=1\r\nb=2\r\n', new Map([['b', '3']]))).toBe('a=1\r\nb=3\r\n');
  });
});

describe('UPDATE_BROKER_CONFIG', () => {
  it('applies run-time keys, saves them in the -c file (old one as .bak), ignores others, refuses blacklisted keys and bad values', async () => {
    const dir = tempDir('rocketctl-conf-');
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const conf = path.join(dir, 'broker.conf');
    fs.writeFileSync(conf, '# mine\nautoCreateTopicEnable=true\n');
    const t = await broker({ conf });
    const version = async () => JSON.parse((await t.client.invoke(t.addr, makeRequest(RequestCode.GET_BROKER_CONFIG))).extFields!.version!).counter as number;
    const v0 = await version();

    const ok = await update(t, 'autoCreateTopicEnable=false\ntraceOn=false\nnoSuchKey=1\nlistenPort=1234\n');
    expect(ok.code).toBe(ResponseCode.SUCCESS);
    expect(ok.remark).toBe('ignored (unknown, or read only at start): noSuchKey, listenPort');
    expect(t.broker.config).toMatchObject({ autoCreateTopicEnable: false, traceOn: false });
    expect(t.broker.config.listenPort).toBe(0);
    expect(await version()).toBe(v0 + 1);
    expect(fs.readFileSync(conf, 'utf8')).toBe('# mine\nautoCreateTopicEnable=false\ntraceOn=false\n');
    expect(fs.readFileSync(`${conf}.bak`, 'utf8')).toBe('# mine\nautoCreateTopicEnable=true\n');
    expect(await admin(t, (s) => getBrokerConfig(s, t.addr))).toMatchObject({ autoCreateTopicEnable: 'false', traceOn: 'false' });

    const black = await update(t, 'rocketmqHome=/x\ntraceOn=true\n');
    expect([black.code, black.remark]).toEqual([ResponseCode.NO_PERMISSION, 'Can not update config in black list.']);
    // One bad value: nothing of the request is applied or saved.
    const bad = await update(t, 'traceOn=true\nbrokerPermission=9\n');
    expect([bad.code, bad.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'invalid brokerPermission: expected an integer in 0..7, got 9']);
    expect(t.broker.config.traceOn).toBe(false);
    expect(fs.readFileSync(conf, 'utf8')).toBe('# mine\nautoCreateTopicEnable=false\ntraceOn=false\n');
    expect(await version()).toBe(v0 + 1);

    // Saved means kept: a restart reads the file again.
    await t.restart();
    expect(t.broker.config).toMatchObject({ autoCreateTopicEnable: false, traceOn: false });
  });

  it('without -c saves to <store>/config/broker.properties; brokerPermission re-registers the topics with that perm', async () => {
    const t = await broker();
    const p = new Producer({ namesrvAddr: t.namesrv!, producerGroup: 'PG_perm' });
    cleanups.push(() => p.close());
    await p.start();
    await p.send({ topic: 'PermTopic', body: 'x' });
    expect((await update(t, 'brokerPermission=4')).code).toBe(ResponseCode.SUCCESS);
    expect(fs.readFileSync(path.join(t.storeDir, 'config', 'broker.properties'), 'utf8')).toBe('brokerPermission=4\n');
    // As BrokerController#registerBrokerAll: not writable, so every topic is registered with perm 4.
    const route = await admin(t, (s) => routeOfTopic(s, 'PermTopic'));
    expect(route.queueDatas.map((q) => q.perm)).toEqual([4]);
    expect((await update(t, 'brokerPermission=6')).code).toBe(ResponseCode.SUCCESS);
    expect((await admin(t, (s) => routeOfTopic(s, 'PermTopic'))).queueDatas.map((q) => q.perm)).toEqual([6]);
  });
});

describe('what mqadmin reads of our broker', () => {
  it('GET_BROKER_RUNTIME_INFO has every key clusterList reads, each a number', async () => {
    const t = await broker();
    const kv = await admin(t, (s) => getBrokerRuntimeInfo(s, t.addr));
    for (const k of ['sendThreadPoolQueueSize', 'pullThreadPoolQueueSize', 'sendThreadPoolQueueHeadWaitTimeMills', 'pullThreadPoolQueueHeadWaitTimeMills', 'pageCacheLockTimeMills', 'commitLogDiskRatio']) {
      expect(kv[k], k).toMatch(/^\d+(\.\d+)?$/);
    }
    expect(kv).toMatchObject({ sendThreadPoolQueueSize: '0', pullThreadPoolQueueSize: '0', pageCacheLockTimeMills: '0', dispatchBehindBytes: '0', remainTransientStoreBufferNumbs: '2147483647' });
    expect(kv[`commitLogDiskRatio_${path.join(t.storeDir, 'commitlog')}`]).toBe(kv.commitLogDiskRatio);
    expect(kv.consumeQueueDiskRatio).toMatch(/^0\.\d+$|^1\.0$/);
  });

  it('QUERY_MESSAGE and SEARCH_OFFSET_BY_TIMESTAMP take Long.MAX_VALUE as "no end"', async () => {
    const t = await broker();
    const p = new Producer({ namesrvAddr: t.namesrv!, producerGroup: 'PG_q' });
    cleanups.push(() => p.close());
    await p.start();
    const r = await p.send({ topic: 'QTopic', body: 'find me', keys: 'k-1' });
    const q = await t.client.invoke(t.addr, makeRequest(RequestCode.QUERY_MESSAGE, { topic: 'QTopic', key: 'k-1', maxNum: 64, beginTimestamp: 0, endTimestamp: LONG_MAX }));
    expect(q.code, q.remark).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(bodyBuffer(q)).map((m) => m.body.toString())).toEqual(['find me']);
    const s = await t.client.invoke(t.addr, makeRequest(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: 'QTopic', queueId: r.messageQueue!.queueId, timestamp: LONG_MAX }));
    expect(s.code, s.remark).toBe(ResponseCode.SUCCESS);
    // The last message's offset: ConsumeQueue#getOffsetInQueueByTime picks the closest message.
    expect(s.extFields!.offset).toBe('0');
  });
});
