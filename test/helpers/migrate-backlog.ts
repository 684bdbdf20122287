/**
 * The backlog of the migrateBacklog tests (test/commands/migrateBacklog.crash.test.ts,
 * test/apache/migrate-across.apache.test.ts): numbered messages, a third unkeyed, a third with
 * SHARDING_KEY, a third with KEYS, each keyed one on its key's source queue as an orderly producer
 * sends it; the target read back queue by queue; and the checks every migration must pass: each
 * backlog message once on the target, as it was, and one key's messages in one target queue in
 * source order (README "migrateBacklog").
 */
import type { ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import type { MessageExt } from '../../src/client/message.js';
import { MIGRATED_FROM } from '../../src/admin/migrate.js';
import { readPipelined } from '../../src/admin/migrate-copy.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { Producer } from '../../src/client/producer.js';
import { javaHashCode } from '../../src/protocol/hash.js';
import { defer, uniq } from '../client/support.js';

/** Body size of a backlog message: "<i>:" padded with x. */
export const BODY_BYTES = 100;
/** Messages per SEND_BATCH_MESSAGE when the backlog is sent. */
const SEND_BATCH = 1000;

export interface BacklogMessage {
  key: string | undefined;
  queueId: number;
  properties?: Record<string, string>;
  keys?: string[];
}

/** Message i of a topic with `queues` queues: a third unkeyed, a third with SHARDING_KEY, a third with KEYS. */
export function backlogMessage(i: number, queues: number): BacklogMessage {
  if (i % 3 === 0) return { key: undefined, queueId: i % queues };
  const key = i % 3 === 1 ? `s${i % 40}` : `k${i % 30}`;
  const queueId = Math.abs(javaHashCode(key) % queues);
  return i % 3 === 1 ? { key, queueId, properties: { SHARDING_KEY: key } } : { key, queueId, keys: [key] };
}

export function backlogBody(i: number, bytes = BODY_BYTES): Buffer {
  return Buffer.from(`${i}:`.padEnd(bytes, 'x'));
}

/** Messages first .. first+n-1 of topic `t` (of `queues` queues on `brokerName`), in batches; returns their UNIQ_KEYs by index. */
export async function sendBacklog(ns: string, brokerName: string, t: string, n: number, queues: number, opts: { first?: number; bodyBytes?: number } = {}): Promise<string[]> {
  const first = opts.first ?? 0;
  // Batches under the 4 MiB message limit.
  const perBatch = Math.min(SEND_BATCH, Math.floor((2 * 1024 * 1024) / (opts.bodyBytes ?? BODY_BYTES)));
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  const ids: string[] = [];
  const pending: number[][] = Array.from({ length: queues }, () => []);
  const flush = async (q: number) => {
    const batch = pending[q]!;
    if (batch.length === 0) return;
    pending[q] = [];
    const msgs = batch.map((i) => ({ topic: t, body: backlogBody(i, opts.bodyBytes), properties: backlogMessage(i, queues).properties, keys: backlogMessage(i, queues).keys }));
    const r = await p.sendBatch(msgs, { queue: { topic: t, brokerName, queueId: q } });
    expect(r.status).toBe('SEND_OK');
    r.msgId.split(',').forEach((id, j) => (ids[batch[j]!] = id));
  };
  for (let i = first; i < first + n; i++) {
    const q = backlogMessage(i, queues).queueId;
    pending[q]!.push(i);
    if (pending[q]!.length >= perBatch) await flush(q);
  }
  for (let q = 0; q < queues; q++) await flush(q);
  return ids;
}

/**
 * Every message of `t` on `brokerName`, per queue id, in offset order. `expect`: how many the topic
 * should hold; the read starts once its queues' max offsets add up to that (bounded wait). An
 * Apache broker answers a send once the message is in its commit log and writes the consume-queue
 * unit later (DefaultMessageStore.ReputMessageService#doReput), so right after a migration its
 * queues can lag what it acknowledged, by thousands of messages on a loaded machine.
 */
export async function readTopic(ns: string, brokerName: string, t: string, queues: number, expect_?: number): Promise<MessageExt[][]> {
  const pc = new PullConsumer({ namesrvAddr: ns, instanceName: uniq('reader') });
  await pc.start();
  try {
    const maxes = () => Promise.all(Array.from({ length: queues }, (_, queueId) => pc.maxOffset({ topic: t, brokerName, queueId })));
    if (expect_ !== undefined) {
      const deadline = Date.now() + 60_000;
      let total = 0;
      for (;;) {
        total = (await maxes()).reduce((s, n) => s + n, 0);
        if (total >= expect_ || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(total, `${t} on ${brokerName}: the queues' max offsets add up to ${total} after 60 s, not ${expect_}`).toBeGreaterThanOrEqual(expect_);
    }
    return await Promise.all(
      Array.from({ length: queues }, async (_, queueId) => {
        const mq = { topic: t, brokerName, queueId };
        const out: MessageExt[] = [];
        const max = await pc.maxOffset(mq);
        let stopped = '';
        for await (const chunk of readPipelined(pc, mq, await pc.minOffset(mq), max, 8, (why) => (stopped = why))) out.push(...chunk);
        expect(stopped, `reading ${t} queue ${queueId} of ${brokerName} back (max offset ${max}, ${out.length} read)`).toBe('');
        return out;
      }),
    );
  } finally {
    await pc.close();
  }
}

/**
 * The target's queues (`copies[queueId]`, in offset order) hold exactly `expected` (backlog indexes)
 * once each, as sent (body of `bodyBytes`; UNIQ_KEY when `ids` gives the sent ones), and one key's messages lie in
 * one target queue in source order. `sourceQueues` is the source topic's queue count; `where` ends
 * every failure message (a seed, a run list).
 */
export function expectMigratedInKeyOrder(copies: MessageExt[][], expected: readonly number[], sourceQueues: number, opts: { ids?: readonly string[]; where?: string; bodyBytes?: number } = {}): void {
  const where = opts.where ?? '';
  const all = copies.flatMap((q, queueId) => q.map((m) => ({ m, queueId })));
  const seen = new Map<string, number>();
  for (const { m } of all) {
    const k = `${m.properties[MIGRATED_FROM.QUEUE_ID]}:${m.properties[MIGRATED_FROM.QUEUE_OFFSET]}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  const twice = [...seen].filter(([, n]) => n > 1);
  expect(twice.slice(0, 5), `${twice.length} copied twice ${where}`).toEqual([]);
  expect(all.length, where).toBe(expected.length);
  const indexes = all.map(({ m }) => Number(m.body.toString().split(':')[0]));
  expect([...indexes].sort((a, b) => a - b), where).toEqual([...expected].sort((a, b) => a - b));
  expect(new Set(all.map(({ m }) => m.msgId)).size, `distinct UNIQ_KEYs ${where}`).toBe(expected.length);
  if (opts.ids) {
    const byIndex = new Map(all.map(({ m }, j) => [indexes[j]!, m.msgId]));
    for (const i of expected) if (byIndex.get(i) !== opts.ids[i]) expect.fail(`message ${i}: UNIQ_KEY ${byIndex.get(i)} on the target, ${opts.ids[i]} sent ${where}`);
  }

  // Per-key order: one target queue per key, and source order (body number) along it.
  const keyQueue = new Map<string, number>();
  const lastOf = new Map<string, number>();
  all.forEach(({ m, queueId }, j) => {
    const i = indexes[j]!;
    expect(m.body.equals(backlogBody(i, opts.bodyBytes)), `body of message ${i} ${where}`).toBe(true);
    const key = backlogMessage(i, sourceQueues).key;
    if (key === undefined) return;
    expect(keyQueue.get(key) ?? queueId, `key ${key} ${where}`).toBe(queueId);
    keyQueue.set(key, queueId);
    expect(i, `key ${key}: message ${i} after ${lastOf.get(key)} ${where}`).toBeGreaterThan(lastOf.get(key) ?? -1);
    lastOf.set(key, i);
  });
  const keys = new Set(expected.map((i) => backlogMessage(i, sourceQueues).key).filter((k) => k !== undefined));
  expect(keyQueue.size).toBe(keys.size);
  // Messages without a key spread over every target queue.
  for (const q of copies) expect(q.filter((m) => m.keys.length === 0 && !m.properties.SHARDING_KEY).length).toBeGreaterThan(0);
}

/** An onSpawn for runCli: SIGKILL the CLI as soon as `now()` says so (polled); `killed()` says whether it did. */
export function killWhen(now: () => Promise<boolean>, pollMs = 5): { onSpawn: (child: ChildProcess) => void; killed: () => boolean } {
  let killed = false;
  return {
    killed: () => killed,
    onSpawn: (child) => {
      const poll = setInterval(() => {
        void now().then((yes) => {
          if (yes && !killed) killed = child.kill('SIGKILL');
        });
      }, pollMs);
      child.on('exit', () => clearInterval(poll));
    },
  };
}
