/**
 * rocketctl's client library (src/client) against Apache RocketMQ brokers (4.9.7 and 5.x): the
 * producer (and its outbox across an Apache broker restart on the same ports and store), the
 * transactional producer (UNKNOW, then the broker's check-back), push and pull consumers, and
 * message traces, each checked with Apache mqadmin 4.9.8 and the Java client. Two brokers share one
 * Apache name server: apache-a, and apache-b, which the outbox test stops and starts again.
 * See docs/conformance/rocketctl-vs-apache.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { Producer, PullConsumer, PushConsumer, TransactionProducer, type MessageExt, type SendResult } from '../../src/client/index.js';
import { runCli } from '../helpers/cli.js';
import { describeApache, mqadmin, startApache, type ApacheServer } from './support.js';
import { consume, mq, mqLabels, mqTable, produce, until } from './vs-apache.js';

/** Retries in seconds, not minutes: %RETRY% messages come back after delay level 3+. */
const DELAY_LEVELS = Array.from({ length: 18 }, () => '1s').join(' ');
const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };

// Each comparison runs several JVMs (mqadmin, drivers: 3-4 s each, more on a loaded machine).
vi.setConfig({ testTimeout: 240_000 });

for (const major of [4, 5] as const) {
  describeApache(`client library on Apache ${major}.x brokers`, () => {
    let a: ApacheServer;
    let b: ApacheServer;
    let ns: string;
    const closers: Array<() => Promise<unknown>> = [];
    const dirs: string[] = [];
    const later = <T extends { close(): Promise<unknown> }>(c: T): T => {
      closers.push(() => c.close());
      return c;
    };
    const tmp = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rocketctl-vs-client-'));
      dirs.push(d);
      return d;
    };

    /**
     * mqadmin updateTopic on one broker, then wait until the name server routes the topic: a 5.x
     * broker registers a new topic with the name server a moment after answering, and a send
     * before that finds no route (nor TBW102's, when that broker has not registered it either).
     */
    const createTopic = async (broker: string, topic: string, queues: number): Promise<void> => {
      await mq(ns, ['updateTopic', '-b', broker, '-t', topic, '-r', String(queues), '-w', String(queues)]);
      await until(`the name server routes ${topic}`, async () => ((await runCli(['topicRoute', '-t', topic, '-n', ns, '--json'])).code === 0 ? true : undefined), 60_000);
    };

    beforeAll(async () => {
      const conf = { traceTopicEnable: 'true', transactionTimeOut: '1000', transactionCheckInterval: '1000', messageDelayLevel: DELAY_LEVELS };
      a = await startApache(major, { ...conf, brokerName: 'apache-a' });
      ns = a.namesrv;
      // B creates no topic by itself: what the outbox test sends to exists on B only.
      b = await startApache(major, { ...conf, brokerName: 'apache-b', namesrvAddr: ns, autoCreateTopicEnable: 'false' });
    }, 240_000);
    afterEach(async () => {
      for (const c of closers.splice(0).reverse()) await c();
    });
    afterAll(async () => {
      await Promise.all([a?.cleanup(), b?.cleanup()]);
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    it('Producer: sync and batch sends are stored as mqadmin shows them and reach a Java consumer intact', async () => {
      const topic = 'VsClientSend';
      await createTopic(a.broker, topic, 4);
      const p = later(new Producer({ namesrvAddr: ns, producerGroup: 'PG_vs_send' }));
      await p.start();
      const one = await p.send({ topic, body: 'hello apache', tags: 'TagA', keys: ['k1', 'k2'], properties: { color: 'red' } });
      const batch = await p.sendBatch([1, 2, 3].map((i) => ({ topic, body: `batch ${i}`, tags: 'TagB' })));
      expect(one.status).toBe('SEND_OK');
      expect(batch.status).toBe('SEND_OK');
      const shown = mqLabels(await mq(ns, ['queryMsgById', '-i', one.offsetMsgId!]));
      expect(shown).toMatchObject({ Topic: topic, Tags: '[TagA]', Keys: '[k1 k2]', 'Queue ID': String(one.messageQueue!.queueId), 'Queue Offset': String(one.queueOffset) });
      expect(shown.Properties).toContain(`UNIQ_KEY=${one.msgId}`);
      expect(shown.Properties).toContain('color=red');
      const got = await consume({ namesrv: ns, group: 'CG_vs_send', topic, expect: 4 });
      const msgs = got.lines.filter((l) => l.event === 'msg');
      expect(msgs.map((m) => m.msgId).sort()).toEqual([one.msgId, ...batch.msgId.split(',')].sort());
      expect(msgs.find((m) => m.msgId === one.msgId)).toMatchObject({ body: 'hello apache', tags: 'TagA', keys: 'k1 k2' });
    });

    it('Producer outbox: with the Apache broker stopped, sends are OUTBOXED; started again on the same ports and store, they are resent once, in order', async () => {
      const topic = 'VsClientOutbox';
      await createTopic(b.broker, topic, 1);
      const p = later(new Producer({ namesrvAddr: ns, producerGroup: 'PG_vs_outbox', outboxDir: tmp(), sendMsgTimeoutMs: 1000, outboxMaxBackoffMs: 300 }));
      await p.start();
      expect((await p.send({ topic, body: 'before' })).status).toBe('SEND_OK');
      await b.stop();
      const down: SendResult[] = [];
      for (let i = 0; i < 5; i++) down.push(await p.send({ topic, body: `down ${i}` }));
      expect(down.map((r) => r.status)).toEqual(Array(5).fill('OUTBOXED'));
      expect(p.outboxSize).toBe(5);
      const port = b.broker.slice(b.broker.lastIndexOf(':') + 1);
      const again = await startApache(major, { brokerName: 'apache-b', namesrvAddr: ns, autoCreateTopicEnable: 'false', listenPort: port, storePathRootDir: b.storeDir });
      closers.push(() => again.cleanup());
      expect(again.broker).toBe(b.broker);
      expect(await p.flushOutbox(60_000)).toBe(true);
      const r = await consume({ namesrv: ns, group: 'CG_vs_outbox', topic, expect: 6 });
      // One message per stored queue offset (a consumer may be handed one twice). Each message is
      // stored in send order; a resend whose answer was lost on the just-restarted Apache broker
      // can store a second copy with the same UNIQ_KEY (seen on 4.9.7 under load: the outbox's
      // UNIQ_KEY lookup did not find the first copy; docs/conformance/rocketctl-vs-apache.md).
      const byOffset = new Map(r.lines.filter((l) => l.event === 'msg').map((l) => [l.queueOffset, l]));
      const stored = [...byOffset.values()].sort((x, y) => x.queueOffset - y.queueOffset);
      const firsts = stored.filter((m, i) => stored.findIndex((x) => x.msgId === m.msgId) === i);
      expect(firsts.map((m) => m.body)).toEqual(['before', ...down.map((_, i) => `down ${i}`)]);
      expect(firsts.slice(1).map((m) => m.msgId)).toEqual(down.map((d) => d.msgId));
      const copies = stored.length - firsts.length;
      if (copies > 0) console.warn(`Apache ${major}.x outbox: ${copies} duplicate store(s) with the same UNIQ_KEY`);
    });

    it('TransactionProducer: commit is delivered, rollback never; an UNKNOW outcome is settled by the Apache broker\'s check-back', async () => {
      const topic = 'VsClientTx';
      await createTopic(a.broker, topic, 1);
      const checked: string[] = [];
      const p = later(new TransactionProducer({
        namesrvAddr: ns,
        producerGroup: 'PG_vs_tx',
        checkLocalTransaction: (m: MessageExt) => {
          checked.push(m.msgId);
          return m.body.toString() === 'unknown' ? 'COMMIT_MESSAGE' : 'ROLLBACK_MESSAGE';
        },
      }));
      await p.start();
      const commit = await p.sendMessageInTransaction({ topic, body: 'commit' }, () => 'COMMIT_MESSAGE', undefined);
      const rollback = await p.sendMessageInTransaction({ topic, body: 'rollback' }, () => 'ROLLBACK_MESSAGE', undefined);
      const unknown = await p.sendMessageInTransaction({ topic, body: 'unknown' }, () => 'UNKNOW', undefined);
      expect([commit, rollback, unknown].map((r) => r.localTransactionState)).toEqual(['COMMIT_MESSAGE', 'ROLLBACK_MESSAGE', 'UNKNOW']);
      await until('the broker asked about the unknown transaction', async () => (checked.includes(unknown.msgId) ? true : undefined), 60_000);
      const r = await consume({ namesrv: ns, group: 'CG_vs_tx', topic, expect: 2, timeoutMs: 30_000 });
      // Distinct ids: an Apache broker whose check-back is answered after its next check fired
      // commits (stores) the message again; that is Apache's behaviour, not the producer's.
      const ids = [...new Set(r.lines.filter((l) => l.event === 'msg').map((l) => l.msgId))];
      expect(ids.sort()).toEqual([commit.msgId, unknown.msgId].sort());
      expect(ids).not.toContain(rollback.msgId);
    });

    it('PushConsumer: consumes what the Java client sent, a failed message comes back through %RETRY%, and mqadmin sees the group caught up', async () => {
      const topic = 'VsClientPush';
      await createTopic(a.broker, topic, 4);
      const sent = await produce({ namesrv: ns, topic, count: 10, tags: 'TagA', keys: 'p-' });
      const group = 'CG_vs_push';
      const c = later(new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST }));
      c.subscribe(topic, 'TagA');
      const seen = new Map<string, number>();
      await c.start((m) => {
        seen.set(m.msgId, (seen.get(m.msgId) ?? 0) + 1);
        if (m.keys.includes('p-3') && seen.get(m.msgId) === 1) throw new Error('fails once');
      });
      await until('every message consumed, p-3 twice', async () => (seen.size === 10 && seen.get(sent[3].msgId) === 2 ? true : undefined), 90_000);
      const conn = await mq(ns, ['consumerConnection', '-g', group]);
      expect(conn).toContain(`${topic}`);
      await until('mqadmin shows every queue of the topic consumed', async () => {
        const rows = mqTable(await mq(ns, ['consumerProgress', '-g', group]), '#Topic').filter((x) => x.Topic === topic);
        return rows.length === 4 && rows.every((x) => x.Diff === '0') ? true : undefined;
      }, 60_000, 1000);
      expect([...seen.keys()].sort()).toEqual(sent.map((s) => s.msgId).sort());
    });

    it('PullConsumer: queue ranges are mqadmin\'s topicStatus, reads return every stored message, a committed offset is mqadmin\'s and a never-committed one is null', async () => {
      const topic = 'VsClientPull';
      await createTopic(a.broker, topic, 2);
      const sent = await produce({ namesrv: ns, topic, count: 6, keys: 'q-' });
      await consume({ namesrv: ns, group: 'CG_vs_pull', topic, expect: 6 });
      const pc = later(new PullConsumer({ namesrvAddr: ns }));
      await pc.start();
      const queues = await pc.fetchSubscribeMessageQueues(topic);
      const status = mqTable(await mq(ns, ['topicStatus', '-t', topic]), '#Broker Name');
      const progress = mqTable(await mq(ns, ['consumerProgress', '-g', 'CG_vs_pull']), '#Topic').filter((x) => x.Topic === topic);
      const ids: string[] = [];
      for (const q of queues) {
        const row = status.find((x) => Number(x.QID) === q.queueId)!;
        expect([await pc.minOffset(q), await pc.maxOffset(q)]).toEqual([Number(row['Min Offset']), Number(row['Max Offset'])]);
        for await (const m of pc.readRange(q, 0)) ids.push(m.msgId);
        expect(await pc.committedOffset(q, 'CG_vs_pull')).toBe(Number(progress.find((x) => Number(x.QID) === q.queueId)!['Consumer Offset']));
        expect(await pc.committedOffset(q, 'CG_vs_pull_never')).toBeNull();
      }
      expect(ids.sort()).toEqual(sent.map((s) => s.msgId).sort());
    });

    it('traces: our producer\'s Pub and our push consumer\'s Sub records are what mqadmin queryMsgTraceById shows', async () => {
      const topic = 'VsClientTrace';
      await createTopic(a.broker, topic, 1);
      const p = later(new Producer({ namesrvAddr: ns, producerGroup: 'PG_vs_trace', enableMsgTrace: true }));
      await p.start();
      const sent = await p.send({ topic, body: 'traced', tags: 'TagT', keys: 'trace-1' });
      const c = later(new PushConsumer({ namesrvAddr: ns, consumerGroup: 'CG_vs_trace', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', enableMsgTrace: true, ...FAST }));
      c.subscribe(topic, '*');
      let consumed = 0;
      await c.start(() => {
        consumed++;
      });
      await until('consumed', async () => (consumed > 0 ? true : undefined), 60_000);
      const rows = await until('mqadmin shows the Pub and the Sub', async () => {
        // mqadmin's trace query has a short timeout: an empty answer (timed out) is asked again.
        const text = (await mqadmin(['queryMsgTraceById', '-n', ns, '-i', sent.msgId], { timeoutMs: 90_000 })).stdout;
        if (!text.includes('#ConsumerGroup') || !text.includes('#ProducerGroup')) return undefined;
        const pub = mqTable(text, '#Type      #ProducerGroup');
        const sub = mqTable(text, '#Type      #ConsumerGroup');
        return pub.length === 1 && sub.length === 1 ? { pub: pub[0]!, sub: sub[0]! } : undefined;
      }, 150_000, 1000);
      expect(rows.pub).toMatchObject({ Type: 'Pub', ProducerGroup: 'PG_vs_trace', Status: 'success' });
      expect(rows.sub).toMatchObject({ Type: 'Sub', ConsumerGroup: 'CG_vs_trace', Status: 'success' });
      expect(p.traceStats).toMatchObject({ dropped: 0, failed: 0 });
    });
  });
}
