/**
 * The push consumer against a real broker (ours, loopback, embedded name server): tag filtering,
 * committed offsets, redelivery from the retry topic, clean shutdown with a handler still running,
 * two members splitting queues exactly as AllocateMessageQueueAveragely and taking over without
 * loss, orderly consumption under failures, broadcasting, and client-side offset reset.
 */
import { describe, expect, it } from 'vitest';
import { PushConsumer, type MessageHandler, type PushConsumerOptions } from '../../src/client/push-consumer.js';
import { Producer } from '../../src/client/producer.js';
import { allocateAveragely, mqKey } from '../../src/client/allocate.js';
import type { MessageExt } from '../../src/client/message.js';
import { parseFastjson } from '../../src/protocol/fastjson.js';
import { eventually } from '../helpers/broker.js';
import { broker, defer, freeBrokerPort, freePort, maxOffset, namesrvOf, readAll, storedOffset, tempDir, topic, uniq } from './support.js';

/** Short periods so tests converge quickly; the defaults are Java's (20 s / 5 s). */
const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, lockIntervalMs: 1000, pullTimeDelayMsWhenException: 300 };

async function producer(ns: string): Promise<Producer> {
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  return p;
}

async function consumer(opts: PushConsumerOptions, subs: Record<string, string>, handler: MessageHandler): Promise<PushConsumer> {
  const c = new PushConsumer({ consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST, ...opts });
  for (const [t, e] of Object.entries(subs)) c.subscribe(t, e);
  await c.start(handler);
  defer(() => c.close());
  return c;
}

describe('PushConsumer (real broker)', () => {
  it('delivers only subscribed tags and commits every queue to its end', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 9; i++) await p.send({ topic: t, body: `m${i}`, tags: ['TagA', 'TagB', 'TagC'][i % 3] });
    const got: MessageExt[] = [];
    const c = await consumer({ namesrvAddr: ns, consumerGroup: group }, { [t]: 'TagA || TagB' }, (m) => {
      got.push(m);
    });
    await eventually(() => (got.length >= 6 ? true : undefined), 'six messages consumed');
    expect(got.map((m) => m.tags).sort()).toEqual(['TagA', 'TagA', 'TagA', 'TagB', 'TagB', 'TagB']);
    expect(got.every((m) => m.topic === t)).toBe(true);
    await eventually(async () => {
      for (const q of [0, 1]) if ((await storedOffset(b, group, t, q)) !== (await maxOffset(b, t, q))) return undefined;
      return true;
    }, 'offsets committed to the end of each queue');
    await c.close();
    expect(got).toHaveLength(6);
  });

  it('a message whose handler throws comes back from the retry topic', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = await producer(ns);
    const sent = await p.send({ topic: t, body: 'fail once', tags: 'X', keys: 'order-1' });
    const deliveries: MessageExt[] = [];
    await consumer({ namesrvAddr: ns, consumerGroup: group }, { [t]: '*' }, (m, ctx) => {
      deliveries.push(m);
      if (deliveries.length === 1) {
        ctx.delayLevelWhenNextConsume = 1; // 1 s instead of the default 10 s
        throw new Error('handler failed');
      }
    });
    await eventually(() => (deliveries.length >= 2 ? true : undefined), 'redelivery', 40_000, 100);
    const [first, second] = deliveries;
    expect(first!.msgId).toBe(sent.msgId);
    expect(second!.msgId).toBe(sent.msgId);
    expect(second!.topic).toBe(t); // restored from RETRY_TOPIC
    expect(second!.queue.topic).toBe(`%RETRY%${group}`);
    expect(second!.reconsumeTimes).toBe(1);
    expect(second!.tags).toBe('X');
    expect(second!.body.toString()).toBe('fail once');
  });

  it('a handler still running at close does not get its message committed; the next member gets it', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 5; i++) await p.send({ topic: t, body: `m${i}` });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done: string[] = [];
    const c1 = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST, instanceName: uniq('i1') });
    c1.subscribe(t, '*');
    await c1.start(async (m) => {
      if (m.body.toString() === 'm2') await gate;
      done.push(m.body.toString());
    });
    defer(() => c1.close());
    await eventually(() => (['m0', 'm1', 'm3', 'm4'].every((x) => done.includes(x)) ? true : undefined), 'the other four consumed');
    await c1.close();
    release();
    await eventually(() => (done.includes('m2') ? true : undefined), 'the blocked handler finished after close');
    expect(await storedOffset(b, group, t, 0)).toBe(2);
    const again: string[] = [];
    await consumer({ namesrvAddr: ns, consumerGroup: group, instanceName: uniq('i2') }, { [t]: '*' }, (m) => {
      again.push(m.body.toString());
    });
    await eventually(() => (again.includes('m2') ? true : undefined), 'm2 redelivered to the next member');
    expect(again[0]).toBe('m2');
  });

  it('two members split the queues as AllocateMessageQueueAveragely says and take over without loss', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 8);
    const group = uniq('CG');
    const p = await producer(ns);
    const received = new Map<string, number>();
    const handler: MessageHandler = (m) => {
      received.set(m.msgId, (received.get(m.msgId) ?? 0) + 1);
    };
    const sentIds: string[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) sentIds.push((await p.send({ topic: t, body: `m${sentIds.length}` })).msgId);
    };
    // No periodic rebalance within the test: members react to NOTIFY_CONSUMER_IDS_CHANGED only.
    const noTick = { rebalanceIntervalMs: 600_000 };
    const c1 = await consumer({ namesrvAddr: ns, consumerGroup: group, instanceName: uniq('i1'), ...noTick }, { [t]: '*' }, handler);
    const mine = (c: PushConsumer) => c.assignedQueues().filter((q) => q.topic === t).map(mqKey).sort();
    await eventually(() => (mine(c1).length === 8 ? true : undefined), 'c1 holds all 8 queues');
    await send(100);
    const c2 = await consumer({ namesrvAddr: ns, consumerGroup: group, instanceName: uniq('i2'), ...noTick }, { [t]: '*' }, handler);
    await send(100);
    const all = Array.from({ length: 8 }, (_, queueId) => ({ topic: t, brokerName: 'broker-a', queueId }));
    const cids = [c1.clientId!, c2.clientId!];
    const want1 = allocateAveragely(group, c1.clientId!, all, cids).map(mqKey).sort();
    const want2 = allocateAveragely(group, c2.clientId!, all, cids).map(mqKey).sort();
    expect(want1).toHaveLength(4);
    await eventually(() => (JSON.stringify(mine(c1)) === JSON.stringify(want1) && JSON.stringify(mine(c2)) === JSON.stringify(want2) ? true : undefined), 'split 4/4 as the allocation says');
    await send(100);
    await c1.close();
    await eventually(() => (mine(c2).length === 8 ? true : undefined), 'c2 takes over all 8 queues');
    await send(100);
    await eventually(() => (sentIds.every((id) => received.has(id)) ? true : undefined), 'every message received', 30_000);
    expect(received.size).toBe(400);
  });

  it('orderly: per-queue order holds while handlers fail and retry', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 4);
    const group = uniq('CG');
    const p = await producer(ns);
    const orders = 8;
    const steps = 5;
    for (let s = 0; s < steps; s++) for (let o = 0; o < orders; o++) await p.send({ topic: t, body: `${o}:${s}` }, { shardingKey: `order-${o}` });
    const attempts = new Map<string, number>();
    const okSeq = new Map<number, number[]>(); // queueId → offsets consumed successfully, in order
    const orderSeq = new Map<number, number[]>(); // order → steps, in order
    let concurrentInQueue = 0;
    let maxConcurrentInQueue = 0;
    await consumer({ namesrvAddr: ns, consumerGroup: group, orderly: true, suspendCurrentQueueTimeMs: 50 }, { [t]: '*' }, async (m) => {
      concurrentInQueue++;
      maxConcurrentInQueue = Math.max(maxConcurrentInQueue, concurrentInQueue);
      try {
        const key = m.body.toString();
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        const [o, s] = key.split(':').map(Number) as [number, number];
        if ((s === 1 && n <= 2) || (s === 3 && o % 2 === 0 && n === 1)) return 'SUSPEND_CURRENT_QUEUE_A_MOMENT';
        if (s === 2 && o % 3 === 0 && n === 1) throw new Error('boom');
        okSeq.set(m.queueId, [...(okSeq.get(m.queueId) ?? []), m.queueOffset]);
        orderSeq.set(o, [...(orderSeq.get(o) ?? []), s]);
        return 'SUCCESS';
      } finally {
        concurrentInQueue--;
      }
    });
    await eventually(() => ([...orderSeq.values()].reduce((n, v) => n + v.length, 0) === orders * steps ? true : undefined), 'all consumed', 40_000);
    for (let o = 0; o < orders; o++) expect(orderSeq.get(o)).toEqual([0, 1, 2, 3, 4]);
    for (const offsets of okSeq.values()) expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => offsets[0]! + i));
    expect(attempts.get('0:1')).toBe(3);
    // One queue per order; several queues may run at once, but the handler saw at most 4 at once (one per queue).
    expect(maxConcurrentInQueue).toBeLessThanOrEqual(4);
  });

  it('broadcasting: every member gets every message; offsets are kept in local files', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 10; i++) await p.send({ topic: t, body: `m${i}` });
    const dir = tempDir();
    const a: string[] = [];
    const bb: string[] = [];
    const opts = { namesrvAddr: ns, consumerGroup: group, messageModel: 'BROADCASTING' as const, offsetStoreDir: dir };
    const ca = await consumer({ ...opts, instanceName: 'A' }, { [t]: '*' }, (m) => void a.push(m.body.toString()));
    const cb = await consumer({ ...opts, instanceName: 'B' }, { [t]: '*' }, (m) => void bb.push(m.body.toString()));
    await eventually(() => (a.length === 10 && bb.length === 10 ? true : undefined), 'both got all ten');
    await ca.close();
    await cb.close();
    const fs = await import('node:fs');
    const path = await import('node:path');
    const file = path.join(dir, 'A', group, 'offsets.json');
    const parsed = parseFastjson(fs.readFileSync(file, 'utf8')) as { offsetTable: Record<string, number> };
    expect(Object.values(parsed.offsetTable).reduce((s, v) => s + v, 0)).toBe(10);
    // A restarted broadcasting member resumes from its file: nothing is delivered again.
    const again: string[] = [];
    await consumer({ ...opts, instanceName: 'A' }, { [t]: '*' }, (m) => void again.push(m.body.toString()));
    await p.send({ topic: t, body: 'new' });
    await eventually(() => (again.includes('new') ? true : undefined), 'the new message');
    expect(again).toEqual(['new']);
  });

  it('resetOffset (RESET_CONSUMER_CLIENT_OFFSET) rewinds the queues it holds', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 4; i++) await p.send({ topic: t, body: `m${i}` });
    const got: string[] = [];
    const c = await consumer({ namesrvAddr: ns, consumerGroup: group }, { [t]: '*' }, (m) => void got.push(m.body.toString()));
    await eventually(() => (got.length === 4 ? true : undefined), 'first pass');
    c.resetOffset(t, [[{ topic: t, brokerName: 'broker-a', queueId: 0 }, 1]]);
    await eventually(() => (got.length === 7 ? true : undefined), 'consumed again from offset 1', 40_000);
    expect(got.slice(4)).toEqual(['m1', 'm2', 'm3']);
    const info = parseFastjson(c.runningInfo(false).toString()) as { properties: Record<string, string>; mqTable: Record<string, unknown> };
    expect(info.properties.PROP_CONSUME_TYPE).toBe('CONSUME_PASSIVELY');
    expect(Object.keys(info.mqTable).length).toBeGreaterThan(0);
  });

  it('flow control: no more than pullThresholdForQueue (+ one batch) held per queue while handlers are slow', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const p = await producer(ns);
    await p.sendBatch(Array.from({ length: 60 }, (_, i) => ({ topic: t, body: `m${i}` })));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let done = 0;
    const c = await consumer({ namesrvAddr: ns, consumerGroup: uniq('CG'), pullThresholdForQueue: 10, pullBatchSize: 4 }, { [t]: '*' }, async () => {
      await gate;
      done++;
    });
    const held = () => {
      const info = parseFastjson(c.runningInfo(false).toString()) as { mqTable: Record<string, { cachedMsgCount: number }> };
      return Object.entries(info.mqTable).find(([k]) => k.includes(t))?.[1].cachedMsgCount ?? 0;
    };
    await eventually(() => (held() >= 10 ? true : undefined), 'the queue fills up to the threshold');
    await new Promise((r) => setTimeout(r, 500)); // give it the chance to over-pull (it must not)
    expect(held()).toBeLessThanOrEqual(10 + 4);
    release();
    await eventually(() => (done === 60 ? true : undefined), 'all sixty consumed once released');
  });

  it('a message failing more than maxReconsumeTimes ends in the DLQ', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = await producer(ns);
    const sent = await p.send({ topic: t, body: 'poison' });
    const seen: number[] = [];
    await consumer({ namesrvAddr: ns, consumerGroup: group, maxReconsumeTimes: 1 }, { [t]: '*' }, (m, ctx) => {
      seen.push(m.reconsumeTimes);
      ctx.delayLevelWhenNextConsume = 1;
      throw new Error('always fails');
    });
    const dead = await eventually(async () => (await readAll(ns, `%DLQ%${group}`).catch(() => [])).find((m) => m.msgId === sent.msgId), 'message in the DLQ', 40_000, 200);
    expect(dead.body.toString()).toBe('poison');
    expect(seen).toEqual([0, 1]);
  });

  it('orderly: a message failing past maxReconsumeTimes goes to the DLQ and the queue moves on in order', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 5; i++) await p.send({ topic: t, body: `m${i}` });
    const attempts: string[] = [];
    const ok: string[] = [];
    await consumer({ namesrvAddr: ns, consumerGroup: group, orderly: true, maxReconsumeTimes: 2, suspendCurrentQueueTimeMs: 20 }, { [t]: '*' }, (m) => {
      const body = m.body.toString();
      attempts.push(body);
      if (body === 'm2') return 'SUSPEND_CURRENT_QUEUE_A_MOMENT';
      ok.push(body);
      return 'SUCCESS';
    });
    await eventually(() => (ok.length === 4 ? true : undefined), 'the others consumed');
    expect(ok).toEqual(['m0', 'm1', 'm3', 'm4']);
    expect(attempts.filter((a) => a === 'm2')).toHaveLength(3); // first try + 2 local retries
    const dead = await eventually(async () => (await readAll(ns, `%DLQ%${group}`).catch(() => [])).find((m) => m.body.toString() === 'm2'), 'm2 in the DLQ', 30_000, 200);
    expect(dead.topic).toBe(`%DLQ%${group}`);
  });

  it('fails over between name servers given as "a;b"', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 1);
    const dead = `127.0.0.1:${await freePort()}`;
    const p = new Producer({ namesrvAddr: `${dead};${ns}`, producerGroup: uniq('PG') });
    await p.start();
    defer(() => p.close());
    for (let i = 0; i < 3; i++) expect((await p.send({ topic: t, body: `m${i}` })).status).toBe('SEND_OK');
    const got: string[] = [];
    await consumer({ namesrvAddr: `${ns};${dead}`, consumerGroup: uniq('CG') }, { [t]: '*' }, (m) => void got.push(m.body.toString()));
    await eventually(() => (got.length === 3 ? true : undefined), 'consumed through the live name server');
  });

  it('keeps consuming across a broker restart (same address and store), losing nothing', async () => {
    const ports = { listenPort: String(await freeBrokerPort()), namesrvListenPort: String(await freePort()) };
    const b = await broker({ config: ports });
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 2);
    const p = await producer(ns);
    const got = new Set<string>();
    const sent: string[] = [];
    await consumer({ namesrvAddr: ns, consumerGroup: uniq('CG') }, { [t]: '*' }, (m) => void got.add(m.msgId));
    for (let i = 0; i < 20; i++) sent.push((await p.send({ topic: t, body: `before ${i}` })).msgId);
    await eventually(() => (sent.every((id) => got.has(id)) ? true : undefined), 'first twenty');
    await b.restart(ports);
    await eventually(async () => {
      const r = await p.send({ topic: t, body: 'after restart' }).catch(() => undefined);
      if (r) sent.push(r.msgId);
      return r;
    }, 'sending again after the restart');
    for (let i = 0; i < 20; i++) sent.push((await p.send({ topic: t, body: `after ${i}` })).msgId);
    await eventually(() => (sent.every((id) => got.has(id)) ? true : undefined), 'everything sent after the restart consumed', 60_000);
  });
});

