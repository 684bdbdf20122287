/**
 * Shared helpers for the client integration tests: real brokers (test/helpers/broker.ts), clients
 * that are always closed, and a reader that collects everything stored in a topic.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import type { MessageExt } from '../../src/client/message.js';
import type { ClientOptions } from '../../src/client/client-instance.js';
import { createTopic, startTestBroker, type TestBroker, type TestBrokerOptions } from '../helpers/broker.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];

/** Run `fn` after the current test (last registered, first run). */
export function defer(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn);
}

afterEach(async () => {
  const errors: unknown[] = [];
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
});

export function tempDir(prefix = 'rocketctl-client-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/**
 * ROCKETCTL_TEST_NAMESRV=host:port runs the client tests against an external name server (any
 * RocketMQ 4.x one): brokers register there instead of running their embedded one.
 */
const EXTERNAL_NAMESRV = process.env.ROCKETCTL_TEST_NAMESRV;

export async function broker(opts: TestBrokerOptions = {}): Promise<TestBroker> {
  const o: TestBrokerOptions = EXTERNAL_NAMESRV
    ? { ...opts, namesrv: false, config: { namesrvAddr: EXTERNAL_NAMESRV, ...opts.config } }
    : opts;
  const b = await startTestBroker(o);
  defer(() => b.cleanup());
  return b;
}

/** The name server the test's clients use: the broker's embedded one (or the external one). */
export function namesrvOf(b: TestBroker): string {
  if (EXTERNAL_NAMESRV) return EXTERNAL_NAMESRV;
  if (!b.namesrv) throw new Error('this test broker runs no name server');
  return b.namesrv;
}

export async function topic(b: TestBroker, name: string, queueNums = 4): Promise<string> {
  const res = await createTopic(b.client, b.addr, name, queueNums);
  if (res.code !== 0) throw new Error(`creating topic ${name} failed: ${res.code} ${res.remark}`);
  return name;
}

/** A broker, a topic of `queueNums` queues on it, a fresh group name and a started producer (all closed after the test). */
export async function brokerWithTopic(queueNums: number): Promise<{ b: TestBroker; ns: string; t: string; group: string; p: Producer }> {
  const b = await broker();
  const ns = namesrvOf(b);
  const t = await topic(b, uniq('T'), queueNums);
  const group = uniq('CG');
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  return { b, ns, t, group, p };
}

let seq = 0;
/** A name unique to this test run (topics, groups). */
export function uniq(prefix: string): string {
  seq++;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq}`;
}

/** The group's committed offset of one queue (QUERY_CONSUMER_OFFSET), -1 when the broker has none. */
export async function storedOffset(b: TestBroker, group: string, t: string, queueId: number): Promise<number> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId }));
  return res.code === 0 ? Number(res.extFields?.offset) : -1;
}

/** The queue's max offset (GET_MAX_OFFSET): the next offset to be written. */
export async function maxOffset(b: TestBroker, t: string, queueId: number): Promise<number> {
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic: t, queueId }));
  return Number(res.extFields?.offset);
}

/** Every message currently stored in `topicName` (all queues, min..max offset), via a pull consumer. */
export async function readAll(namesrvAddr: string, topicName: string, opts: Partial<ClientOptions> = {}): Promise<MessageExt[]> {
  const pc = new PullConsumer({ namesrvAddr, instanceName: `reader-${uniq('r')}`, ...opts });
  await pc.start();
  try {
    const out: MessageExt[] = [];
    for (const mq of await pc.fetchSubscribeMessageQueues(topicName)) {
      const min = await pc.minOffset(mq);
      for await (const m of pc.readRange(mq, min)) out.push(m);
    }
    return out;
  } finally {
    await pc.close();
  }
}

/** A TCP port that is free now, with port-2 free too (the broker's fast port). */
export async function freeBrokerPort(): Promise<number> {
  // Bounded: 50 candidates.
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p > 1024 && (await canListen(p - 2))) return p;
  }
  throw new Error('no free port pair found');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
