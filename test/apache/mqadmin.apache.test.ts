/**
 * Apache mqadmin 4.9.8 against our broker, part 1: cluster, broker, topics and the broker config
 * (issue 10 item 2). Each mqadmin command must exit 0, print no exception, and print the values
 * rocketctl's own command prints (--json) for the same state. Part 2 (groups, offsets, messages,
 * traces): mqadmin-messages.apache.test.ts. Results: docs/conformance/mqadmin.md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withAdminSession } from '../../src/admin/session.js';
import { getBrokerConfig } from '../../src/checks/no-loss.js';
import { startTestBroker, tempDir, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { describeApache, javaDriver } from './support.js';
import { fastjson, javaTime, keyValues, mqadminOk, mqadminRun, ours, rows } from './mqadmin-support.js';

const TOPIC = 'MqaTopic';
/** Runtime-info keys whose values move between two reads (times, rates, disk use, loop delay). */
const VOLATILE_KEYS = /^(runtime|putTps|getTransferedTps|.*HeadWaitTimeMills|commitLogDirCapacity|commitLogDiskRatio.*|consumeQueueDiskRatio|remainHowManyDataToFlush)$/;
/** What ClusterListSubCommand reads of each broker's runtime info (4.9.8). */
const CLUSTER_LIST_KEYS = ['putTps', 'getTransferedTps', 'sendThreadPoolQueueSize', 'pullThreadPoolQueueSize', 'sendThreadPoolQueueHeadWaitTimeMills',
  'pullThreadPoolQueueHeadWaitTimeMills', 'pageCacheLockTimeMills', 'earliestMessageTimeStamp', 'commitLogDiskRatio', 'brokerVersionDesc',
  'msgPutTotalYesterdayMorning', 'msgPutTotalTodayMorning', 'msgPutTotalTodayNow', 'msgGetTotalYesterdayMorning', 'msgGetTotalTodayMorning', 'msgGetTotalTodayNow'];

describeApache('Apache mqadmin 4.9.8 against our broker: cluster, broker, topics, config', () => {
  let t: TestBroker;
  let dir: string;
  let conf: string;
  let n: string;
  const brokerConfig = (addr: string, namesrv: string) => withAdminSession({ namesrvAddr: namesrv, timeoutMs: 10_000 }, (s) => getBrokerConfig(s, addr));

  beforeAll(async () => {
    dir = tempDir('rocketctl-mqadmin-');
    conf = path.join(dir, 'broker.conf');
    fs.writeFileSync(conf, '# kept: a comment of the operator\nautoCreateTopicEnable=true\n');
    t = await startTestBroker({ configFile: conf });
    n = t.namesrv!;
    const run = await javaDriver('Produce', { namesrv: n, topic: TOPIC, count: 5, tags: 'TagA', keys: 'k-' });
    expect(run.lines.at(-1), run.stderr).toMatchObject({ done: true, count: 5 });
  }, 180_000);
  afterAll(async () => {
    await t?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('clusterList and brokerStatus print our runtime info, no null, with the values rocketctl prints', async () => {
    const [cl, more, status, statusC] = await Promise.all([
      mqadminOk(['clusterList', '-n', n]),
      mqadminOk(['clusterList', '-m', '-n', n]),
      mqadminOk(['brokerStatus', '-n', n, '-b', t.addr]),
      mqadminOk(['brokerStatus', '-n', n, '-c', 'DefaultCluster']),
    ]);
    const [oursCl, oursStatus] = await Promise.all([ours(['clusterList', '-n', n]), ours(['brokerStatus', '-n', n, '-b', t.addr])]);
    expect(cl).not.toContain('null');

    const [row] = rows(cl, /^(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(-?[\d.]+)\((\d+),(\d+)ms\)\s+(-?[\d.]+)\((\d+),(\d+)ms\)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$/);
    expect(row, cl).toBeDefined();
    const b = oursCl.brokers[0];
    const [, cluster, name, bid, addr, version, inTps, sendQ, sendWait, outTps, pullQ, pullWait, pcWait, hour, space] = row!;
    expect({ cluster, name, bid: Number(bid), addr, version }).toEqual({ cluster: b.clusterName, name: b.brokerName, bid: b.brokerId, addr: b.addr, version: b.version });
    expect([Number(sendQ), Number(pullQ), Number(pcWait)]).toEqual([b.sendThreadPoolQueueSize, b.pullThreadPoolQueueSize, b.pageCacheLockTimeMills]);
    // Rates, the loop delay, ages and disk use are measured at each read: same kind, close values.
    for (const v of [inTps, outTps, sendWait, pullWait]) expect(Number(v)).toBeGreaterThanOrEqual(0);
    expect(typeof b.sendThreadPoolQueueHeadWaitTimeMills).toBe('number');
    expect(Number(hour)).toBeCloseTo(b.hoursSinceEarliestMessage, 1);
    expect(Number(space)).toBeCloseTo(b.commitLogDiskRatio, 2);

    const [moreRow] = rows(more, /^(\S+)\s+(\S+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)$/);
    expect(moreRow!.slice(3).map(Number), more).toEqual([b.inTotalYesterday, b.outTotalYesterday, b.inTotalToday, b.outTotalToday]);
    expect(b.inTotalToday).toBe(5);

    // brokerStatus: every key rocketctl prints, each with the same value (moving ones: well formed).
    const kv = keyValues(status, /^(.+?)\s*: (.*)$/);
    const oursKv: Record<string, string> = oursStatus.brokers[0].stats;
    expect(Object.keys(kv).sort()).toEqual(Object.keys(oursKv).sort());
    for (const k of CLUSTER_LIST_KEYS) expect(kv[k], k).toMatch(k === 'brokerVersionDesc' ? /^V\d+_\d+_\d+$/ : /^-?[\d.]+( [\d.]+ [\d.]+)?$/);
    for (const [k, v] of Object.entries(oursKv)) {
      expect(kv[k], k).not.toBe('null');
      if (!VOLATILE_KEYS.test(k)) expect(kv[k], k).toBe(v);
    }
    const kvC = keyValues(statusC, /^\S+\s+(.+?)\s*: (.*)$/);
    expect(Object.keys(kvC).sort()).toEqual(Object.keys(oursKv).sort());
    expect(statusC.split('\n').filter((l) => l.trim() !== '').every((l) => l.startsWith(t.addr))).toBe(true);
  }, 480_000);

  it('topicList, topicRoute and topicStatus print what rocketctl prints', async () => {
    const [list, listC, route, routeL, status] = await Promise.all([
      mqadminOk(['topicList', '-n', n]),
      mqadminOk(['topicList', '-c', '-n', n]),
      mqadminOk(['topicRoute', '-n', n, '-t', TOPIC]),
      mqadminOk(['topicRoute', '-n', n, '-t', TOPIC, '-l']),
      mqadminOk(['topicStatus', '-n', n, '-t', TOPIC]),
    ]);
    const [oList, oListC, oRoute, oStatus] = await Promise.all([
      ours(['topicList', '-n', n]),
      ours(['topicList', '-c', '-n', n]),
      ours(['topicRoute', '-n', n, '-t', TOPIC]),
      ours(['topicStatus', '-n', n, '-t', TOPIC]),
    ]);
    expect(list.split('\n').filter(Boolean).sort()).toEqual(oList.topics.map((x: any) => x.topic).sort());
    // -c: one row per (topic, group) of topics that are not %RETRY%/%DLQ%; "" when none consumes it.
    const clRows = rows(listC, /^(\S+)\s+(\S+)\s*(\S*)$/).filter((m) => m[1] !== '#Cluster');
    const expected = oListC.topics.flatMap((x: any) => (x.consumerGroups.length ? x.consumerGroups : ['']).map((g: string) => `${x.clusters[0]} ${x.topic} ${g}`));
    expect(clRows.map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort()).toEqual(expected.sort());

    const r = fastjson(route);
    expect(r.brokerDatas).toEqual(oRoute.brokerDatas.map((bd: any) => ({ ...bd, brokerAddrs: bd.brokerAddrs })));
    expect(r.queueDatas).toEqual(oRoute.queueDatas);
    const q = oRoute.queueDatas[0];
    const [lRow] = rows(routeL, /^(\S+)\s+(\S+)\s+\{0=(\S+)\}\s+(\d+)\s+(\d+)\s+(\d+)$/);
    expect(lRow!.slice(1).map(String)).toEqual([oRoute.brokerDatas[0].cluster, q.brokerName, t.addr, String(q.readQueueNums), String(q.writeQueueNums), String(q.perm)]);

    const sRows = rows(status, /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/);
    expect(sRows.map((m) => [m[1], Number(m[2]), Number(m[3]), Number(m[4]), m[5]])).toEqual(
      oStatus.queues.map((x: any) => [x.brokerName, x.queueId, x.minOffset, x.maxOffset, x.lastUpdateTimestamp ? javaTime(x.lastUpdateTimestamp) : '']),
    );
    expect(oStatus.queues.reduce((s: number, x: any) => s + x.maxOffset, 0)).toBe(5);
  }, 480_000);

  it('updateTopic, updateSubGroup and deleteTopic change what rocketctl then shows', async () => {
    const [updB, updC, sub] = await Promise.all([
      mqadminOk(['updateTopic', '-n', n, '-b', t.addr, '-t', 'MqaNarrow', '-r', '3', '-w', '3', '-p', '4']),
      mqadminOk(['updateTopic', '-n', n, '-c', 'DefaultCluster', '-t', 'MqaOrdered', '-o', 'true']),
      mqadminOk(['updateSubGroup', '-n', n, '-b', t.addr, '-g', 'MqaGroup', '-r', '5', '-q', '2', '-d', 'true']),
    ]);
    expect(updB).toContain(`create topic to ${t.addr} success.`);
    expect(updB).toContain('TopicConfig [topicName=MqaNarrow, readQueueNums=3, writeQueueNums=3, perm=R--');
    expect(updC).toContain('set cluster orderConf. isOrder=true, orderConf=[broker-a:8]');
    const [narrow, ordered] = await Promise.all([ours(['topicRoute', '-n', n, '-t', 'MqaNarrow']), ours(['topicRoute', '-n', n, '-t', 'MqaOrdered'])]);
    expect(narrow.queueDatas[0]).toMatchObject({ readQueueNums: 3, writeQueueNums: 3, perm: 4 });
    expect(ordered.queueDatas[0]).toMatchObject({ readQueueNums: 8, writeQueueNums: 8, perm: 6 });
    expect(ordered.orderTopicConf).toBe('broker-a:8');

    // The group as mqadmin printed it is what our broker stores (rocketctl updateSubGroup shows it;
    // -s true changes nothing: consumeEnable is already true).
    const printed = sub.match(/SubscriptionGroupConfig \[(.*)\]/)![1]!;
    const fields = Object.fromEntries(printed.split(', ').map((kv) => kv.split('=')));
    const oSub = await ours(['updateSubGroup', '-n', n, '-b', t.addr, '-g', 'MqaGroup', '-s', 'true']);
    expect(oSub.brokers[0].existed).toBe(true);
    expect(Object.fromEntries(Object.entries(oSub.brokers[0].config).map(([k, v]) => [k, String(v)]))).toEqual(fields);
    expect(fields).toMatchObject({ retryMaxTimes: '5', retryQueueNums: '2', consumeBroadcastEnable: 'true' });

    const del = await mqadminOk(['deleteTopic', '-n', n, '-c', 'DefaultCluster', '-t', 'MqaNarrow']);
    expect(del).toContain('delete topic [MqaNarrow] from cluster [DefaultCluster] success.');
    expect(del).toContain('delete topic [MqaNarrow] from NameServer success.');
    expect((await ours(['topicList', '-n', n])).topics.map((x: any) => x.topic)).not.toContain('MqaNarrow');
    expect((await runCli(['topicStatus', '-n', n, '-t', 'MqaNarrow', '--json'])).code).toBe(1);
  }, 480_000);

  it('getBrokerConfig prints our config; updateBrokerConfig changes run-time keys, saves them in the -c file and ignores others as Apache', async () => {
    const before = await brokerConfig(t.addr, n);
    const printed = keyValues(await mqadminOk(['getBrokerConfig', '-n', n, '-b', t.addr]), /^(\S+)\s*=  (.*)$/);
    expect(printed).toEqual(before);
    expect(before.autoCreateTopicEnable).toBe('true');

    const updates = await Promise.all([
      mqadminOk(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'autoCreateTopicEnable', '-v', 'false']),
      mqadminOk(['updateBrokerConfig', '-n', n, '-c', 'DefaultCluster', '-k', 'traceOn', '-v', 'false']),
      mqadminOk(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'brokerPermission', '-v', '4']),
      // Apache answers SUCCESS for a key it does not know and changes nothing; so do we, also for a
      // key read only at start.
      mqadminOk(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'noSuchKey', '-v', '1']),
    ]);
    for (const u of updates) expect(u).toContain(`update broker config success, ${t.addr}`);
    const [startOnly, black, invalid] = await Promise.all([
      mqadminOk(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'listenPort', '-v', '1234']),
      mqadminRun(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'rocketmqHome', '-v', '/elsewhere']),
      mqadminRun(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'brokerPermission', '-v', '9']),
    ]);
    expect(startOnly).toContain('update broker config success');
    expect(black.stdout + black.stderr).toContain('CODE: 16  DESC: Can not update config in black list.');
    expect(invalid.stdout + invalid.stderr).toContain('invalid brokerPermission: expected an integer in 0..7, got 9');

    const after = keyValues(await mqadminOk(['getBrokerConfig', '-n', n, '-b', t.addr]), /^(\S+)\s*=  (.*)$/);
    expect(after).toEqual(await brokerConfig(t.addr, n));
    expect(after).toEqual({ ...before, autoCreateTopicEnable: 'false', traceOn: 'false', brokerPermission: '4' });

    // brokerPermission went to the name server (topics registered with perm 4) and is enforced.
    expect((await ours(['topicRoute', '-n', n, '-t', TOPIC])).queueDatas[0].perm).toBe(4);
    const refused = await runCli(['sendMessage', '-n', n, '-t', TOPIC, '-p', 'x', '--json']);
    expect(refused.code, refused.stdout).not.toBe(0);
    await mqadminOk(['updateBrokerConfig', '-n', n, '-b', t.addr, '-k', 'brokerPermission', '-v', '6']);
    expect((await ours(['topicRoute', '-n', n, '-t', TOPIC])).queueDatas[0].perm).toBe(6);
    expect((await ours(['sendMessage', '-n', n, '-t', TOPIC, '-p', 'x'])).status).toBe('SEND_OK');
    // autoCreateTopicEnable=false: a new topic is no longer created by a send.
    expect((await runCli(['sendMessage', '-n', n, '-t', 'MqaNeverCreated', '-p', 'x', '--json'])).code).not.toBe(0);

    // Saved as Apache persists (the -c file; previous content as .bak), with the operator's lines kept.
    const text = fs.readFileSync(conf, 'utf8');
    expect(text.split('\n').filter(Boolean).sort()).toEqual(['# kept: a comment of the operator', 'autoCreateTopicEnable=false', 'brokerPermission=6', 'traceOn=false'].sort());
    expect(fs.existsSync(`${conf}.bak`)).toBe(true);
    await t.restart();
    expect(await brokerConfig(t.addr, t.namesrv!)).toMatchObject({ autoCreateTopicEnable: 'false', traceOn: 'false', brokerPermission: '6' });
  }, 480_000);
});
