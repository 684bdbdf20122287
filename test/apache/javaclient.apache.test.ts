/**
 * The Apache RocketMQ Java client 4.9.8 against our broker (issue 10, item 1): sends of every kind,
 * push consumers (clustering, broadcasting, orderly), retries through %RETRY% into %DLQ%, delay
 * levels. Every message must arrive as sent: msgId, offsetMsgId, body md5, tags, keys, user
 * properties. Transactions, traces, the VIP channel and ROCKETMQ headers: javaclient-tx.apache.test.ts.
 * What this showed and what was fixed: docs/conformance/java-client.md.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { runCli } from '../helpers/cli.js';
import { decodeOffsetMsgId } from '../../src/protocol/message.js';
import { decodeProperties } from '../../src/protocol/properties.js';
import { describeApache, javaDriver } from './support.js';
import { byMsgId, clientIdOf, deliveriesOf, expectExactlyOnce, expectSame, sentOf, type Sent } from './javaclient-support.js';

/** MessageSysFlag.COMPRESSED_FLAG. */
const COMPRESSED_FLAG = 0x1;
/** Generous: each JVM takes seconds to start on a loaded 2-core machine. */
const JVM_TEST_MS = 240_000;

describeApache('Java client 4.9.8 against our broker: sends and push consumers', () => {
  let ours: TestBroker;
  let namesrv: string;
  beforeAll(async () => {
    // Short delay levels: level 1 = 1 s, 2 = 2 s; retries (level 3 + n) clamp to the last, 2 s.
    ours = await startTestBroker({ config: { messageDelayLevel: '1s 2s' } });
    namesrv = ours.namesrv!;
  });
  afterAll(async () => ours?.cleanup());

  const storedRecord = async (offsetMsgId: string) => (await ours.broker.store.lookMessage(decodeOffsetMsgId(offsetMsgId)!.commitLogOffset))!;

  it('sync, async, oneway and batch sends (tags, keys, properties, 10 KB bodies: compressed except in the batch) reach a clustering consumer exactly once, as sent', async () => {
    expect((await createTopic(ours.client, ours.addr, 'JcSend', 4)).code).toBe(0);
    // One JVM sends 3 messages in each mode (JVMs starting side by side starve each other here).
    const runs = [await javaDriver('Produce', { namesrv, topic: 'JcSend', mode: 'sync,async,oneway,batch', count: 3, size: 10_000, tags: 'TagA', keys: 'key-', props: 'color:red,n:1', timeoutMs: 20_000 })];
    const sent = runs.flatMap(sentOf);
    expect(sent).toHaveLength(12);

    // The client compressed the single sends' bodies (over compressMsgBodyOverHowmuch = 4096): stored
    // smaller and flagged; a batch is never compressed (DefaultMQProducer.batch).
    for (const s of sent.filter((x) => x.offsetMsgId)) {
      const rec = await storedRecord(s.offsetMsgId!);
      const batch = s.i >= 9;
      expect(rec.sysFlag & COMPRESSED_FLAG).toBe(batch ? 0 : COMPRESSED_FLAG);
      expect(rec.body.length < 10_000).toBe(!batch);
      // As Apache 4.9.x: a single send's WAIT is left out of the stored properties, a batch's are kept.
      expect(decodeProperties(rec.properties).WAIT).toBe(batch ? 'true' : undefined);
    }

    const c = await javaDriver('Consume', { namesrv, topic: 'JcSend', group: 'JcSendG', expect: 12, timeoutMs: 90_000 });
    const got = deliveriesOf(c);
    expect(c.lines.at(-1)).toMatchObject({ count: 12, distinct: 12, timedOut: false });
    expectExactlyOnce(got, sent);
    for (const d of got) expect(d.sysFlag & COMPRESSED_FLAG).toBe(Number(d.props.kitIndex) >= 9 ? 0 : COMPRESSED_FLAG);
  }, JVM_TEST_MS);

  it('clustering splits the queues between two instances (each message once in all); broadcasting gives every instance every message', async () => {
    expect((await createTopic(ours.client, ours.addr, 'JcFan', 4)).code).toBe(0);
    const consumerRuns = Promise.all([
      ...['c1', 'c2'].map((instance) => javaDriver('Consume', { namesrv, topic: 'JcFan', group: 'JcFanC', instance, idleMs: 5000, timeoutMs: 120_000 })),
      ...['b1', 'b2'].map((instance) => javaDriver('Consume', { namesrv, topic: 'JcFan', group: 'JcFanB', instance, model: 'BROADCASTING', expect: 8, timeoutMs: 120_000 })),
    ]);
    // Produce once all four are in their groups (the clustering pair has rebalanced by then: the
    // broker tells both when the second arrives).
    await eventually(
      () => (['JcFanC', 'JcFanB'].every((g) => (ours.broker.clients.consumerGroup(g)?.channels.size ?? 0) === 2) ? true : undefined),
      'both consumer groups with two instances',
      120_000,
      200,
    );
    const sent = sentOf(await javaDriver('Produce', { namesrv, topic: 'JcFan', count: 8, tags: 'TagF', keys: 'f-', props: 'p:1', timeoutMs: 20_000 }));
    const [c1, c2, b1, b2] = await consumerRuns;

    const clustering = [deliveriesOf(c1!), deliveriesOf(c2!)];
    expect(clustering.map((d) => d.length > 0), 'both clustering instances got messages').toEqual([true, true]);
    expectExactlyOnce(clustering.flat(), sent);
    // The two instances consumed disjoint queues.
    const queues = clustering.map((d) => new Set(d.map((x) => x.queueId)));
    expect([...queues[0]!].filter((q) => queues[1]!.has(q))).toEqual([]);

    for (const b of [b1!, b2!]) {
      expect(b.lines.at(-1)).toMatchObject({ distinct: 8, timedOut: false });
      expectExactlyOnce(deliveriesOf(b), sent);
    }
    expect(clientIdOf(b1!)).not.toBe(clientIdOf(b2!));
  }, JVM_TEST_MS);

  it('an orderly consumer locks its queues (LOCK_BATCH_MQ) and gets each queue in send order', async () => {
    expect((await createTopic(ours.client, ours.addr, 'JcOrder', 4)).code).toBe(0);
    // order=true: message i goes to queue i % 4 through a MessageQueueSelector.
    const sent = sentOf(await javaDriver('Produce', { namesrv, topic: 'JcOrder', count: 16, order: true, tags: 'TagO', keys: 'o-', timeoutMs: 20_000 }));
    expect(sent.map((s) => s.queueId)).toEqual(sent.map((s) => s.i % 4));

    // Who holds the locks, sampled while the consumer runs.
    const holders = new Set<string>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const [key, clientId] of ours.broker.clients.lockManager.owners('JcOrderG')) holders.add(`${key.split('\u0000').join('/')}=${clientId}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const c = await javaDriver('Consume', { namesrv, topic: 'JcOrder', group: 'JcOrderG', orderly: true, expect: 16, timeoutMs: 90_000 }).finally(() => {
      sampling = false;
    });
    await sampler;
    const got = deliveriesOf(c);
    expectExactlyOnce(got, sent);
    const clientId = clientIdOf(c);
    const brokerName = ours.broker.config.brokerName;
    for (let q = 0; q < 4; q++) expect(holders, `queue ${q} locked by the consumer`).toContain(`JcOrder/${brokerName}/${q}=${clientId}`);

    for (let q = 0; q < 4; q++) {
      const inQueue = got.filter((d) => d.queueId === q);
      expect(inQueue.map((d) => d.msgId), `queue ${q} in send order`).toEqual(sent.filter((s) => s.queueId === q).map((s) => s.msgId));
      expect(inQueue.map((d) => d.queueOffset)).toEqual([0, 1, 2, 3]);
    }
  }, JVM_TEST_MS);

  it('a failed message comes back through %RETRY%<group> with reconsumeTimes 1, 2, ... and lands in %DLQ%<group> after maxReconsumeTimes', async () => {
    const sent = sentOf(await javaDriver('Produce', { namesrv, topic: 'JcRetry', count: 2, tags: 'TagR', keys: 'r-', props: 'k:v', timeoutMs: 20_000 }));
    const [okRun, deadRun] = await Promise.all([
      // Fails each message twice, then consumes it.
      javaDriver('Consume', { namesrv, topic: 'JcRetry', group: 'JcRetryOk', fail: 2, expect: 2, timeoutMs: 120_000 }),
      // Fails every delivery; maxReconsumeTimes 2: deliveries 0, 1, 2, then the DLQ.
      javaDriver('Consume', { namesrv, topic: 'JcRetry', group: 'JcRetryDlq', fail: 99, maxReconsume: 2, deliveries: 6, graceMs: 3000, timeoutMs: 120_000 }),
    ]);

    for (const [run, group, answers] of [
      [okRun, 'JcRetryOk', ['later', 'later', 'ok']],
      [deadRun, 'JcRetryDlq', ['later', 'later', 'later']],
    ] as const) {
      const got = byMsgId(deliveriesOf(run));
      expect([...got.keys()].sort()).toEqual(sent.map((s) => s.msgId).sort());
      for (const s of sent) {
        const ds = got.get(s.msgId)!;
        expect(ds.map((d) => [d.reconsumeTimes, d.answer]), `${group}: deliveries of ${s.msgId}`).toEqual(answers.map((a, n) => [n, a]));
        expectSame(ds[0], s);
        for (const d of ds.slice(1)) {
          // A retry: the same message (msgId, body, tags, keys, props), stored again in the retry topic.
          expectSame(d, { ...s, offsetMsgId: null });
          expect(d.offsetMsgId).not.toBe(s.offsetMsgId);
          expect({ topic: d.topic, realTopic: d.realTopic, retryTopic: d.retryTopic }).toEqual({ topic: 'JcRetry', realTopic: `%RETRY%${group}`, retryTopic: 'JcRetry' });
          // As Apache: the retry keeps the delay level it waited at (3 + n, clamped to the last level, 2).
          expect(d.delayLevel).toBe('2');
          expect((await storedRecord(d.offsetMsgId)).topic).toBe(`%RETRY%${group}`);
        }
      }
    }
    expect(ours.broker.store.maxOffset('%RETRY%JcRetryOk', 0)).toBe(4);

    // The dead letters, read with our CLI: the messages as sent, reconsumed 3 times.
    const dlq = await eventually(async () => {
      const r = await runCli(['consumeMessage', '-t', '%DLQ%JcRetryDlq', '-n', namesrv, '--json']);
      const msgs = r.stdout.split('\n').filter((l) => l.startsWith('{"message"')).map((l) => JSON.parse(l).message);
      return msgs.length === 2 ? msgs : undefined;
    }, 'two messages in %DLQ%JcRetryDlq', 30_000, 500);
    for (const s of sent) {
      const m = dlq.find((x: any) => x.msgId === s.msgId);
      expect(m, `${s.msgId} in the DLQ`).toBeDefined();
      expect({ body: m.body, tags: m.tags, keys: m.keys, reconsumeTimes: m.reconsumeTimes }).toEqual({ body: `body-${s.i}`, tags: 'TagR', keys: [s.keys], reconsumeTimes: 3 });
      expect(m.properties).toMatchObject({ ...s.props, RETRY_TOPIC: 'JcRetry', ORIGIN_MESSAGE_ID: s.offsetMsgId, DELAY: '0', WAIT: 'false' });
    }
  }, JVM_TEST_MS);

  it('delay levels: a delayed message waits in SCHEDULE_TOPIC_XXXX and is stored in its topic no earlier than its level\'s delay after its birth', async () => {
    // As Apache: SCHEDULE_TOPIC_XXXX has 18 queues whatever the number of levels (2 here).
    expect(ours.broker.topicConfig('SCHEDULE_TOPIC_XXXX')).toMatchObject({ readQueueNums: 18, writeQueueNums: 18 });
    const runs = await Promise.all([1, 2].map((level) => javaDriver('Produce', { namesrv, topic: 'JcDelay', count: 2, delay: level, tags: 'TagD', keys: `d${level}-`, timeoutMs: 20_000 })));
    const sent = runs.flatMap((r, n) => sentOf(r).map((s) => ({ ...s, level: n + 1 })));
    for (const s of sent) {
      const rec = await storedRecord(s.offsetMsgId!);
      expect({ topic: rec.topic, queueId: rec.queueId }).toEqual({ topic: 'SCHEDULE_TOPIC_XXXX', queueId: s.level - 1 });
      expect(decodeProperties(rec.properties)).toMatchObject({ DELAY: String(s.level), REAL_TOPIC: 'JcDelay', WAIT: 'true' });
    }
    const c = await javaDriver('Consume', { namesrv, topic: 'JcDelay', group: 'JcDelayG', expect: 4, timeoutMs: 90_000 });
    const got = byMsgId(deliveriesOf(c));
    for (const s of sent as (Sent & { level: number })[]) {
      const [d, ...more] = got.get(s.msgId) ?? [];
      expect(more, `${s.msgId} delivered once`).toEqual([]);
      expectSame(d, { ...s, offsetMsgId: null });
      // The store time of the delivered copy (broker clock) vs the born time (client clock, same host).
      expect(d.storeTimestamp - d.bornTimestamp).toBeGreaterThanOrEqual(s.level * 1000);
      // As Apache: the delivered message still says its level and where it was headed.
      expect({ delayLevel: d.delayLevel, realTopic: d.realTopic }).toEqual({ delayLevel: String(s.level), realTopic: 'JcDelay' });
    }
  }, JVM_TEST_MS);
});
