/**
 * rocketctl's offset-changing admin commands against Apache RocketMQ brokers (4.9.7 and 5.x, with
 * SYNC_FLUSH) and groups consumed by the Java client, each result read back with Apache mqadmin
 * 4.9.8: resetOffset (plan, --execute, the undo plan; offline and online groups, and mqadmin's own
 * resetOffsetByTime for the same time), skipAccumulatedMessage, migrateBacklog to a wider topic,
 * and checkNoLoss's sync-flush item. See docs/conformance/rocketctl-vs-apache.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeApache, javaDriver, startApache, type ApacheServer } from './support.js';
import { consume, mq, mqLabels, mqTable, mqTime, ours, produce, sleep, until } from './vs-apache.js';

const T = 'VsOffsets';
const G1 = 'VsOffsetsA';
const G2 = 'VsOffsetsB';
const BATCH = 12;

/** mqadmin consumerProgress -g: queue id -> committed offset of topic `topic`. */
async function mqOffsets(ns: string, group: string, topic = T): Promise<Map<number, { consumer: number; broker: number }>> {
  const rows = mqTable(await mq(ns, ['consumerProgress', '-g', group]), '#Topic').filter((x) => x.Topic === topic);
  return new Map(rows.map((x) => [Number(x.QID), { consumer: Number(x['Consumer Offset']), broker: Number(x['Broker Offset']) }]));
}

const consumerOffsets = (m: Map<number, { consumer: number }>) => Object.fromEntries([...m].map(([q, o]) => [q, o.consumer]));

// Each comparison runs several JVMs (mqadmin, drivers: 3-4 s each, more on a loaded machine).
vi.setConfig({ testTimeout: 240_000 });

for (const major of [4, 5] as const) {
  describeApache(`offset commands vs mqadmin on an Apache ${major}.x broker`, () => {
    let apache: ApacheServer;
    let ns: string;
    let undoDir: string;
    /** A time between the two batches: every message of the second is stored at or after it, none of the first. */
    let between: number;
    let second: any[];
    /** Per queue: where a reset to `between` lands (first offset of the second batch there). */
    let atBetween: Record<number, number>;

    beforeAll(async () => {
      undoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-vs-undo-'));
      apache = await startApache(major, { flushDiskType: 'SYNC_FLUSH' });
      ns = apache.namesrv;
      await produce({ namesrv: ns, topic: T, count: BATCH, keys: 'a-' });
      await sleep(1000);
      second = await produce({ namesrv: ns, topic: T, count: BATCH, keys: 'b-' });
      // 1 ms before the second batch's first message (sync sends: the earliest stored). The first
      // batch lies seconds earlier (a JVM start in between), so Apache's closest-match search by
      // time (mqadmin resetOffsetByTime, a 4.x broker's reset) and our first-at-or-after agree.
      const [, stored] = await Promise.all([
        Promise.all([G1, G2].map((group) => consume({ namesrv: ns, group, topic: T, expect: 2 * BATCH }))),
        mq(ns, ['queryMsgById', '-i', second[0].offsetMsgId]),
      ]);
      between = mqTime(mqLabels(stored)['Store Timestamp']!)! - 1;
      atBetween = {};
      for (const s of second) atBetween[s.queueId] = Math.min(atBetween[s.queueId] ?? Infinity, s.queueOffset);
    }, 240_000);
    afterAll(async () => {
      await apache?.cleanup();
      fs.rmSync(undoDir, { recursive: true, force: true });
    });

    it('checkNoLoss: sync-flush passes on a SYNC_FLUSH broker, as mqadmin getBrokerConfig reads its flushDiskType', async () => {
      const [r, text] = await Promise.all([ours(ns, ['checkNoLoss']), mq(ns, ['getBrokerConfig', '-b', apache.broker])]);
      expect(/^flushDiskType\s+=\s+(\S+)/m.exec(text)?.[1]).toBe('SYNC_FLUSH');
      expect(r.brokers[0].flushDiskType).toBe('SYNC_FLUSH');
      expect(r.items.find((i: any) => i.id === 'sync-flush')).toMatchObject({ status: 'pass' });
    });

    it('resetOffset of an offline group: the plan starts from mqadmin\'s offsets, --execute lands where mqadmin resetOffsetByTime lands, the undo plan restores them', async () => {
      const before = await mqOffsets(ns, G1);
      const plan = await ours(ns, ['resetOffset', '-g', G1, '-t', T, '-s', String(between)]);
      expect(plan.executed).toBe(false);
      expect(Object.fromEntries(plan.plan.queues.map((q: any) => [q.queueId, q.currentOffset]))).toEqual(consumerOffsets(before));
      const targets = Object.fromEntries(plan.plan.queues.map((q: any) => [q.queueId, q.targetOffset]));
      expect(targets).toEqual(Object.fromEntries([...before].map(([q, o]) => [q, atBetween[q] ?? o.broker])));
      expect(plan.plan.totals.replay).toBe(BATCH);

      const undoFile = path.join(undoDir, `undo-${major}.json`);
      const done = await ours(ns, ['resetOffset', '-g', G1, '-t', T, '-s', String(between), '--execute', '--undo-file', undoFile]);
      expect(done.apply.queues.map((q: any) => q.status)).toEqual(plan.plan.queues.map(() => 'applied'));
      // The same reset by Apache's own tool, on the other group that consumed the same messages.
      const theirs = await mq(ns, ['resetOffsetByTime', '-g', G2, '-t', T, '-s', String(between)]);
      const [afterOurs, afterTheirs] = await Promise.all([mqOffsets(ns, G1), mqOffsets(ns, G2)]);
      expect(consumerOffsets(afterOurs)).toEqual(targets);
      expect(consumerOffsets(afterTheirs), theirs).toEqual(targets);

      const undo = await ours(ns, ['resetOffset', '--plan', undoFile, '--execute', '--undo-file', path.join(undoDir, `undo-undo-${major}.json`)]);
      expect(undo.apply.queues.every((q: any) => q.status === 'applied' || q.status === 'unchanged')).toBe(true);
      expect(consumerOffsets(await mqOffsets(ns, G1))).toEqual(consumerOffsets(before));
    });

    it('skipAccumulatedMessage: every queue\'s committed offset becomes mqadmin\'s broker offset', async () => {
      const before = await mqOffsets(ns, G2);
      expect([...before.values()].some((o) => o.consumer < o.broker)).toBe(true); // reset back by mqadmin above
      const r = await ours(ns, ['skipAccumulatedMessage', '-g', G2, '-t', T, '--undo-file', path.join(undoDir, `skip-${major}.json`)]);
      expect(r.executed).toBe(true);
      const after = await mqOffsets(ns, G2);
      for (const [q, o] of after) expect(o.consumer, `queue ${q}`).toBe(o.broker);
    });

    it('resetOffset of an online Java consumer: the broker tells it, and it consumes again exactly the messages stored after the time', async () => {
      // A 5.x broker keeps the reset for the next pull (useServerSideResetOffset) instead of telling the
      // client; a 4.9.8 client answered "offset moved" drops the queue for 10 s and takes it back at
      // the next rebalance (20 s): up to ~45 s with a long poll in flight. It stops once it has the batch.
      const run = javaDriver('Consume', { namesrv: ns, group: G2, topic: T, expect: BATCH, graceMs: 2000, timeoutMs: 100_000 }, { timeoutMs: 150_000 });
      await until('the Java consumer is online and holds the queues', async () => {
        const p = await ours(ns, ['consumerProgress', '-g', G2, '-t', T, '-s']);
        return p.progress.online && p.progress.queues.every((q: any) => q.clientId) ? true : undefined;
      }, 60_000, 1000);
      const r = await ours(ns, ['resetOffset', '-g', G2, '-t', T, '-s', String(between), '--execute', '--undo-file', path.join(undoDir, `online-${major}.json`)]);
      expect(r.plan.online).toBe(true);
      expect(r.plan.totals.replay).toBe(BATCH);
      const out = await run;
      expect(out.code, out.stderr.slice(-2000)).toBe(0);
      const again = out.lines.filter((l) => l.event === 'msg').map((l) => l.msgId).sort();
      expect(again).toEqual(second.map((s) => s.msgId).sort());
      const after = await mqOffsets(ns, G2);
      for (const [q, o] of after) expect(o.consumer, `queue ${q}`).toBe(o.broker);
    });

    it('migrateBacklog to a wider topic: mqadmin finds the copies (same UNIQ_KEY, origin properties), the source backlog gone, and a Java consumer gets them there', async () => {
      const third = await produce({ namesrv: ns, topic: T, count: 6, keys: 'm-' });
      const wide = `${T}Wide`;
      const r = await ours(ns, ['migrateBacklog', '-g', G1, '-t', T, '--to', wide, '--execute']);
      expect(r.execution.targetCreated).toBe(true);
      expect(r.execution.totals).toEqual({ copied: 6, found: 0, queuesMoved: 4, problems: 0 });
      const [status, source, byKey] = await Promise.all([mq(ns, ['topicStatus', '-t', wide]), mqOffsets(ns, G1), mq(ns, ['queryMsgByKey', '-t', wide, '-k', 'm-2'])]);
      const queues = mqTable(status, '#Broker Name');
      expect(queues).toHaveLength(8);
      expect(queues.reduce((s, x) => s + Number(x['Max Offset']), 0)).toBe(6);
      for (const [q, o] of source) expect(o.consumer, `source queue ${q}`).toBe(o.broker);
      const found = mqTable(byKey, '#Message ID', { split: true });
      expect(found.map((x) => x['Message ID'])).toEqual([third[2].msgId]);
      const copy = mqLabels(await mq(ns, ['queryMsgByUniqueKey', '-t', wide, '-i', third[2].msgId]));
      expect(copy.Properties).toContain(`MIGRATED_FROM_TOPIC=${T}`);
      expect(copy.Properties).toContain(`MIGRATED_FROM_MSG_ID=${third[2].offsetMsgId}`);
      const got = await consume({ namesrv: ns, group: G1, topic: wide, expect: 6 });
      expect(got.lines.filter((l) => l.event === 'msg').map((l) => l.msgId).sort()).toEqual(third.map((s) => s.msgId).sort());
    });
  });
}
