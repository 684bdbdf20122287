/**
 * rocketctl's read-only admin commands against Apache RocketMQ brokers (4.9.7 and 5.x) with traffic
 * from the Java client, compared number by number with what Apache mqadmin 4.9.8 prints for the same
 * cluster at the same moment: topicStatus, consumerProgress (-g, every group, --lag, --max-lag),
 * clusterList (also -m), brokerStatus, queryMsgById/ByKey/ByUniqueKey, queryMsgTrace, checkNoLoss.
 * The offset-changing commands are in admin-offsets-vs-apache.apache.test.ts; results are written up
 * in docs/conformance/rocketctl-vs-apache.md.
 */
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeApache, startApache, type ApacheServer } from './support.js';
import { consume, mq, mqLabels, mqTable, mqTime, mqValue, ours, produce, sameMoment, toSecond } from './vs-apache.js';

const T = 'VsTopic';
const G = 'VsGroup';
const FIRST = 16;
const SECOND = 8;

// Each comparison runs several JVMs (mqadmin, drivers: 3-4 s each, more on a loaded machine).
vi.setConfig({ testTimeout: 240_000 });

for (const major of [4, 5] as const) {
  describeApache(`admin commands vs mqadmin on an Apache ${major}.x broker`, () => {
    let apache: ApacheServer;
    let ns: string;
    /** The Java client's send results: FIRST consumed by G, then SECOND not consumed yet. */
    let first: any[];
    let second: any[];

    beforeAll(async () => {
      apache = await startApache(major, { traceTopicEnable: 'true' });
      ns = apache.namesrv;
      first = await produce({ namesrv: ns, topic: T, count: FIRST, tags: 'TagA', keys: 'vk-', props: 'color:red', trace: true });
      await consume({ namesrv: ns, group: G, topic: T, expect: FIRST, trace: true });
      // The Java client commits offsets oneway (RemoteBrokerOffsetStore#persistAll at shutdown): on a
      // loaded machine one can be lost, leaving a queue uncommitted. Consume the rest (bounded) so
      // the first batch is committed everywhere before the second is sent.
      for (let i = 0; i < 3; i++) {
        const left = (await ours(ns, ['consumerProgress', '-g', G])).progress.totals.diff;
        if (left === 0) break;
        await consume({ namesrv: ns, group: G, topic: T, expect: left });
      }
      second = await produce({ namesrv: ns, topic: T, count: SECOND, tags: 'TagB', keys: 'vb-' });
    }, 240_000);
    afterAll(async () => {
      await apache?.cleanup();
    });

    it('topicStatus: every queue\'s min and max offset and last update are mqadmin\'s', async () => {
      const [r, text] = await Promise.all([ours(ns, ['topicStatus', '-t', T]), mq(ns, ['topicStatus', '-t', T])]);
      const theirs = mqTable(text, '#Broker Name').map((x) => ({
        brokerName: x['Broker Name'], queueId: Number(x.QID), minOffset: Number(x['Min Offset']), maxOffset: Number(x['Max Offset']), lastUpdateTimestamp: mqTime(x['Last Updated']!),
      }));
      expect(theirs).toHaveLength(4);
      expect(r.queues).toEqual(theirs);
      expect(theirs.reduce((s, q) => s + q.maxOffset, 0)).toBe(FIRST + SECOND);
    });

    it('consumerProgress -g: each queue\'s broker offset, consumer offset, diff and last time, the diff total and the consume TPS are mqadmin\'s', async () => {
      const [r, text] = await Promise.all([ours(ns, ['consumerProgress', '-g', G]), mq(ns, ['consumerProgress', '-g', G])]);
      const theirs = mqTable(text, '#Topic').map((x) => ({
        topic: x.Topic, brokerName: x['Broker Name'], queueId: Number(x.QID), brokerOffset: Number(x['Broker Offset']),
        consumerOffset: Number(x['Consumer Offset']), diff: Number(x.Diff), lastTimestamp: mqTime(x.LastTime!),
      }));
      const mine = r.progress.queues.map((q: any) => ({
        topic: q.topic, brokerName: q.brokerName, queueId: q.queueId, brokerOffset: q.brokerOffset,
        // A queue never committed on: rocketctl shows none (null), mqadmin 0 (README: differs on purpose).
        consumerOffset: q.consumerOffset ?? 0, diff: q.diff, lastTimestamp: toSecond(q.lastTimestamp),
      }));
      expect(mine).toEqual(theirs);
      expect(r.progress.totals.diff).toBe(Number(mqValue(text, 'Diff Total')));
      expect(r.progress.totals.diff).toBe(SECOND);
      await sameMoment(
        async () => ({ tps: (await ours(ns, ['consumerProgress', '-g', G])).progress.totals.consumeTps.toFixed(2) }),
        async () => ({ tps: mqValue(await mq(ns, ['consumerProgress', '-g', G]), 'Consume TPS') }),
      );
    });

    it('consumerProgress of every group (--lag): count, version, type, model, TPS and diff total are mqadmin\'s; the lag is the age of the oldest unconsumed message', async () => {
      const [all, one, text] = await Promise.all([
        ours(ns, ['consumerProgress', '--lag']),
        ours(ns, ['consumerProgress', '-g', G]),
        mq(ns, ['consumerProgress']),
      ]);
      const theirs = mqTable(text, '#Group').find((x) => x.Group === G)!;
      const row = all.groups.find((g: any) => g.group === G);
      expect({ count: row.count, version: row.version, type: row.type, model: row.model, diffTotal: row.diffTotal })
        .toEqual({ count: Number(theirs.Count), version: theirs.Version, type: theirs.Type, model: theirs.Model, diffTotal: Number(theirs['Diff Total']) });
      // mqadmin's #TPS is an int (GroupConsumeInfo.consumeTps); ours keeps the fraction in --json.
      await sameMoment(
        async () => ({ tps: Math.trunc((await ours(ns, ['consumerProgress'])).groups.find((g: any) => g.group === G).tps) }),
        async () => ({ tps: Number(mqTable(await mq(ns, ['consumerProgress']), '#Group').find((x) => x.Group === G)!.TPS) }),
      );
      // The first unconsumed message of each queue is one of the second batch: its store time, as
      // mqadmin queryMsgById prints it, is where our lag is measured from.
      const pending = one.progress.queues.filter((q: any) => q.topic === T && q.diff > 0);
      expect(pending.length).toBeGreaterThan(0);
      const ids = pending.map((q: any) => second.find((s) => s.queueId === q.queueId && s.queueOffset === q.consumerOffset).offsetMsgId);
      const shown = (await mq(ns, ['queryMsgById', '-i', ids.join(',')])).split(/(?=OffsetID:)/).filter((b) => b.startsWith('OffsetID:')).map(mqLabels);
      const stored = new Map(shown.map((m) => [m.OffsetID, mqTime(m['Store Timestamp']!)]));
      pending.forEach((q: any, i: number) => expect(q.oldestUnconsumedTimestamp, `queue ${q.queueId}`).toBe(stored.get(ids[i])));
      const oldest = Math.min(...pending.map((q: any) => q.oldestUnconsumedTimestamp));
      expect(row.lagMs).toBeGreaterThanOrEqual(all.measuredAt - oldest - 1);
      expect(row.lagMs).toBeLessThanOrEqual(all.measuredAt - oldest + 1);
    });

    it('consumerProgress --max-lag: exit 4 naming exactly the queues whose mqadmin diff is over the limit, exit 0 at the largest diff', async () => {
      const rows = mqTable(await mq(ns, ['consumerProgress', '-g', G]), '#Topic').filter((x) => x.Topic === T);
      const diffs = rows.map((x) => Number(x.Diff));
      const limit = Math.min(...diffs.filter((d) => d > 0));
      const over = rows.filter((x) => Number(x.Diff) > limit).map((x) => Number(x.QID)).sort();
      const failing = await ours(ns, ['consumerProgress', '-g', G, '--max-lag', String(limit - 1)], 4);
      expect(failing.check.passed).toBe(false);
      expect(failing.check.violations.map((v: any) => v.queueId).sort()).toEqual(rows.filter((x) => Number(x.Diff) > limit - 1).map((x) => Number(x.QID)).sort());
      if (over.length > 0) {
        const some = await ours(ns, ['consumerProgress', '--max-lag', String(limit)], 4);
        expect(some.check.violations.filter((v: any) => v.group === G).map((v: any) => v.queueId).sort()).toEqual(over);
      }
      const passing = await ours(ns, ['consumerProgress', '--max-lag', String(Math.max(...diffs))]);
      expect(passing.check.passed).toBe(true);
    });

    it('clusterList (and -m): version, address, id, disk ratio, TPS and message totals are mqadmin\'s', async () => {
      const [r, text] = await Promise.all([ours(ns, ['clusterList']), mq(ns, ['clusterList'])]);
      const theirs = mqTable(text, '#Cluster Name', { split: true });
      expect(r.brokers.map((b: any) => [b.clusterName, b.brokerName, b.brokerId, b.addr, b.version, b.commitLogDiskRatio.toFixed(4)]))
        .toEqual(theirs.map((x) => [x['Cluster Name'], x['Broker Name'], Number(x.BID), x.Addr, x.Version, x.SPACE]));
      expect(r.brokers[0].version).toBe(major === 4 ? 'V4_9_7' : 'V5_5_0');
      // 5.x renamed getTransferedTps to getTransferredTps: read either (mqadmin 4.9.8 finds no
      // value on 5.x and prints 0.00 whatever is pulled; mqadmin 5.x reads the new name).
      expect(r.brokers[0].outTps).not.toBeNull();
      const load = (tps: number | null, size: number, wait: number) => `${(tps ?? 0).toFixed(2)}(${size},${wait}ms)`;
      await sameMoment(
        async () => {
          const [b, m] = await Promise.all([ours(ns, ['clusterList']), ours(ns, ['clusterList', '-m'])]).then(([x, y]) => [x.brokers[0], y.brokers[0]]);
          return {
            in: load(b.inTps, b.sendThreadPoolQueueSize, b.sendThreadPoolQueueHeadWaitTimeMills), out: load(b.outTps, b.pullThreadPoolQueueSize, b.pullThreadPoolQueueHeadWaitTimeMills),
            pcWait: String(b.pageCacheLockTimeMills), inYest: m.inTotalYesterday, outYest: m.outTotalYesterday, inToday: m.inTotalToday, outToday: m.outTotalToday,
          };
        },
        async () => {
          const [x, y, kv] = await Promise.all([mq(ns, ['clusterList']), mq(ns, ['clusterList', '-m']), mq(ns, ['brokerStatus', '-b', apache.broker])])
            .then(([a, b, c]) => [mqTable(a!, '#Cluster Name', { split: true })[0]!, mqTable(b!, '#Cluster Name', { split: true })[0]!, mqLabels(c!)] as const);
          const out = major === 4 ? x['OutTPS(LOAD)'] : `${Number(kv.getTransferredTps!.split(' ')[0]).toFixed(2)}${x['OutTPS(LOAD)']!.slice(x['OutTPS(LOAD)']!.indexOf('('))}`;
          return {
            in: x['InTPS(LOAD)'], out, pcWait: x['PCWait(ms)'],
            inYest: Number(y.InTotalYest), outYest: Number(y.OutTotalYest), inToday: Number(y.InTotalToday), outToday: Number(y.OutTotalToday),
          };
        },
        7,
      );
    });

    it('brokerStatus -b: the same keys, and every value that did not move while mqadmin ran is mqadmin\'s', async () => {
      const read = async () => (await ours(ns, ['brokerStatus', '-b', apache.broker])).brokers[0].stats as Record<string, string>;
      const keys = Object.keys(mqLabels(await mq(ns, ['brokerStatus', '-b', apache.broker]))).sort();
      expect(Object.keys(await read()).sort()).toEqual(keys);
      const compared = await sameMoment(read, async () => {
        const kv = mqLabels(await mq(ns, ['brokerStatus', '-b', apache.broker]));
        return Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, v]));
      }, keys.length - 12);
      expect(compared).toEqual(expect.arrayContaining(['brokerVersionDesc', 'commitLogMaxOffset', 'msgPutTotalTodayNow', 'bootTimestamp']));
    });

    it('queryMsgById (offsetMsgId and UNIQ_KEY), queryMsgByUniqueKey, queryMsgByKey: every field mqadmin prints', async () => {
      const sent = first[3];
      const [byOffsetId, byUniq, byUniqueKey, byKey, theirsById, theirsByKey] = await Promise.all([
        ours(ns, ['queryMsgById', '-i', sent.offsetMsgId]),
        ours(ns, ['queryMsgById', '-i', sent.msgId]),
        ours(ns, ['queryMsgByUniqueKey', '-t', T, '-i', sent.msgId]),
        ours(ns, ['queryMsgByKey', '-t', T, '-k', 'vk-3']),
        mq(ns, ['queryMsgById', '-i', sent.offsetMsgId]),
        mq(ns, ['queryMsgByKey', '-t', T, '-k', 'vk-3']),
      ]);
      const m = mqLabels(theirsById);
      const expected = {
        offsetMsgId: m.OffsetID, topic: m.Topic, tags: m.Tags!.slice(1, -1), keys: [m.Keys!.slice(1, -1)], queueId: Number(m['Queue ID']),
        queueOffset: Number(m['Queue Offset']), commitLogOffset: Number(m['CommitLog Offset']), reconsumeTimes: Number(m['Reconsume Times']),
        bornTimestamp: mqTime(m['Born Timestamp']!), storeTimestamp: mqTime(m['Store Timestamp']!), bornHost: m['Born Host'], storeHost: m['Store Host'],
        sysFlag: Number(m['System Flag']),
        properties: Object.fromEntries(m.Properties!.slice(1, -1).split(', ').map((kv) => kv.split('=') as [string, string])),
      };
      expect(expected).toMatchObject({ offsetMsgId: sent.offsetMsgId, queueId: sent.queueId, queueOffset: sent.queueOffset, keys: ['vk-3'] });
      const fields = (x: any) => Object.fromEntries(Object.keys(expected).map((k) => [k, x[k]]));
      expect(fields(byOffsetId.lookups[0].messages[0])).toEqual(expected);
      expect(fields(byUniq.lookups[0].messages[0])).toEqual(expected);
      expect(fields(byUniqueKey.messages[0])).toEqual(expected);
      expect(byKey.messages.map((x: any) => [x.msgId, x.queueId, x.queueOffset]))
        .toEqual(mqTable(theirsByKey, '#Message ID', { split: true }).map((x) => [x['Message ID'], Number(x.QID), Number(x.Offset)]));
    });

    it('queryMsgTrace: the Pub and Sub rows of a trace written by the Java client are mqadmin\'s', async () => {
      const sent = first[5];
      const [r, text] = await Promise.all([ours(ns, ['queryMsgTrace', '-i', sent.msgId]), mq(ns, ['queryMsgTraceById', '-i', sent.msgId])]);
      // mqadmin prints a Pub table and a Sub table, each only when it has rows (a trace record the
      // Java client failed to send under load is missing for both tools alike).
      const table = (head: string, group: string, time: string) => (text.includes(head) ? mqTable(text, head) : [])
        .map((x) => ({ type: x.Type, group: x[group], clientHost: x.ClientHost, time: mqTime(x[time]!), cost: x.CostTimes, status: x.Status }));
      const pub = table('#Type      #ProducerGroup', 'ProducerGroup', 'SendTime');
      const sub = table('#Type      #ConsumerGroup', 'ConsumerGroup', 'ConsumerTime');
      expect(sub).toHaveLength(1);
      expect(pub.length).toBeLessThanOrEqual(1);
      const mine = r.rows.map((x: any) => ({ type: x.type, group: x.group, clientHost: x.clientHost, time: toSecond(x.timeStamp), cost: `${x.costTimeMs}ms`, status: x.status }));
      expect(mine).toEqual([...pub, ...sub].sort((a, b) => a.time! - b.time!));
      expect(mine.at(-1)).toMatchObject({ type: 'Sub', group: G, clientHost: '127.0.0.1' });
    });

    it('checkNoLoss: the sync-flush item is the broker\'s flushDiskType as mqadmin getBrokerConfig reads it (ASYNC_FLUSH: warn)', async () => {
      const [r, text] = await Promise.all([ours(ns, ['checkNoLoss', '-g', G]), mq(ns, ['getBrokerConfig', '-b', apache.broker])]);
      const conf = Object.fromEntries(text.split('\n').map((l) => /^(\S+)\s+=\s+(.*)$/.exec(l)).filter((m) => m).map((m) => [m![1], m![2]!.trim()]));
      expect(conf.flushDiskType).toBe('ASYNC_FLUSH');
      expect(r.brokers.map((b: any) => [b.addr, b.flushDiskType, b.brokerRole])).toEqual([[apache.broker, conf.flushDiskType, conf.brokerRole]]);
      const item = (id: string) => r.items.find((i: any) => i.id === id);
      expect(item('sync-flush')).toMatchObject({ status: 'warn', current: `${apache.brokerName} (${apache.broker}): ASYNC_FLUSH` });
      expect(item('retry-dlq').status).toBe('pass');
      expect(item('dlq-empty').status).toBe('pass');
    });
  });
}
