/**
 * Broker-side tracing (brokerTraceEnable) against real brokers, read back through the real CLI
 * (queryMsgTrace --json): our producer and push consumer with client tracing on write their own
 * records, the broker writes its own (groups prefixed %BROKER%), and one timeline merges both:
 * sent (client) → stored (broker) → delivered (broker) → consumed (client) → committed (broker).
 * With brokerTraceEnable off (the default) the broker writes nothing into the trace topic.
 * (ali-ons, which never traces, is in test/interop/ali-ons.int.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import type { MessageExt } from '../../src/client/message.js';
import { createTopic, eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { defer, uniq } from '../client/support.js';

const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };
let on: TestBroker;
let off: TestBroker;

beforeAll(async () => {
  [on, off] = await Promise.all([
    startTestBroker({ config: { brokerTraceEnable: 'true' } }),
    // The trace topic exists (traceTopicEnable), so "nothing written" is observable in it.
    startTestBroker({ config: { traceTopicEnable: 'true' } }),
  ]);
});
afterAll(async () => {
  await Promise.all([on?.cleanup(), off?.cleanup()]);
});

interface Step {
  step: string;
  source: string;
  group: string | null;
  gapMs: number | null;
  clientHost: string | null;
}

function cli(b: TestBroker, args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

/** queryMsgTrace --json until the timeline has every step of `want` (trace writes are asynchronous). */
async function timelineOf(b: TestBroker, args: string[], want: string[]): Promise<{ result: any; steps: Step[] }> {
  return eventually(async () => {
    const r = await cli(b, ['queryMsgTrace', ...args, '--json']);
    if (r.code !== 0) return undefined;
    expectSuccessEnvelope('queryMsgTrace', r.json);
    const steps = r.json.result.timelines[0].steps as Step[];
    const have = steps.map((s) => `${s.step}/${s.source}`);
    return want.every((w) => have.includes(w)) ? { result: r.json.result, steps } : undefined;
  }, `steps ${want.join(', ')} of ${args.join(' ')}`, 30_000, 200);
}

/** Produce one message and consume it with our clients (client tracing as given). */
async function produceAndConsume(b: TestBroker, clientTrace: boolean): Promise<{ topic: string; msgId: string; key: string; producerGroup: string; consumerGroup: string }> {
  const t = uniq('BT');
  expect((await createTopic(b.client, b.addr, t, 2)).code).toBe(0);
  const producerGroup = uniq('PG');
  const p = new Producer({ namesrvAddr: b.namesrv!, producerGroup, enableMsgTrace: clientTrace });
  await p.start();
  defer(() => p.close());
  const key = uniq('order');
  const sent = await p.send({ topic: t, body: 'traced by the broker', tags: 'TagA', keys: [key] });
  const consumerGroup = uniq('CG');
  const c = new PushConsumer({ namesrvAddr: b.namesrv!, consumerGroup, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', enableMsgTrace: clientTrace, ...FAST });
  c.subscribe(t, '*');
  defer(() => c.close());
  const got: MessageExt[] = [];
  await c.start((m) => void got.push(m));
  await eventually(() => (got.length >= 1 ? true : undefined), 'consumed');
  return { topic: t, msgId: sent.msgId, key, producerGroup, consumerGroup };
}

describe('brokerTraceEnable=true with our clients tracing too', () => {
  it('merges client and broker records of a message into one timeline, by id and by key', async () => {
    const m = await produceAndConsume(on, true);
    const want = ['sent/client', 'stored/broker', 'delivered/broker', 'consumed/client', 'committed/broker'];
    const { result, steps } = await timelineOf(on, ['-i', m.msgId], want);
    // In time order: what the client did and what the broker saw, interleaved.
    const order = steps.map((s) => `${s.step}/${s.source}`).filter((s) => want.includes(s));
    expect(order.indexOf('sent/client')).toBeLessThan(order.indexOf('stored/broker'));
    expect(order.indexOf('stored/broker')).toBeLessThan(order.indexOf('delivered/broker'));
    expect(order.indexOf('delivered/broker')).toBeLessThan(order.indexOf('committed/broker'));
    // Broker records are marked (group prefix) and show the client they served.
    for (const s of steps) {
      if (s.source === 'broker') expect(s.group).toMatch(/^%BROKER%/);
      else expect(s.group).not.toMatch(/^%BROKER%/);
    }
    expect(steps.find((s) => s.step === 'stored')!.group).toBe(`%BROKER%${m.producerGroup}`);
    expect(steps.find((s) => s.step === 'delivered')!.group).toBe(`%BROKER%${m.consumerGroup}`);
    expect(steps.find((s) => s.step === 'delivered')!.clientHost).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(steps[0]!.gapMs).toBeNull();
    for (const s of steps.slice(1)) expect(typeof s.gapMs).toBe('number');
    // --json keeps every record: client Pub and broker Pub, each in its row.
    const pubs = result.rows.filter((r: any) => r.type === 'Pub');
    expect(pubs.map((r: any) => r.source).sort()).toEqual(['broker', 'client']);
    expect(pubs.find((r: any) => r.source === 'broker').records[0]).toMatchObject({ msgId: m.msgId, keys: m.key, tags: 'TagA', bodyLength: 20, success: true, storeHost: on.addr });

    const byKey = await timelineOf(on, ['-k', m.key], want);
    expect(byKey.result).toMatchObject({ key: m.key, msgId: null });
    expect(byKey.result.timelines.map((t: any) => t.msgId)).toEqual([m.msgId]);

    const text = await cli(on, ['queryMsgTrace', '-k', m.key]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`Message ${m.msgId}`);
    expect(text.stdout).toMatch(/^#Step\s+#By\s+#Time\s+#Gap/m);
    expect(text.stdout).toMatch(/^delivered\s+broker\s+/m);
    expect(text.stdout).toMatch(/^committed\s+broker\s+.*\+\d+ms/m);
  });

  it('-i and -k together, or neither: a usage error in one line, exit 2', async () => {
    const both = await cli(on, ['queryMsgTrace', '-i', '7F0000010000000000000000000000AA', '-k', 'x']);
    expect(both.code).toBe(2);
    expectOneLineError(both.stderr);
    const none = await cli(on, ['queryMsgTrace']);
    expect(none.code).toBe(2);
    expectOneLineError(none.stderr);
  });
});

describe('brokerTraceEnable off (the default)', () => {
  it('the broker writes nothing into the trace topic: stores, pulls and commits leave it empty', async () => {
    expect(off.broker.tracer).toBeUndefined();
    const m = await produceAndConsume(off, false);
    // The consumer's commit reached the broker: every record of the message was handled.
    await eventually(() => ([0, 1].some((q) => (off.broker.offsets.query(m.consumerGroup, m.topic, q) ?? 0) > 0) ? true : undefined), 'the consumer committed');
    const r = await cli(off, ['queryMsgTrace', '-i', m.msgId]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr);
    expect(off.broker.store.maxOffset('RMQ_SYS_TRACE_TOPIC', 0)).toBe(0);
  });
});
