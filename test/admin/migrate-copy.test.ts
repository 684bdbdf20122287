/**
 * The pure parts of migrateBacklog's copy engine: which key keeps a message's order
 * (__SHARDINGKEY, SHARDING_KEY, else KEYS), where keyed messages go (Java's
 * SelectMessageQueueByHash over the target's queues) and that the others are spread evenly; the
 * window label of a copy read back; a resume's read of the target's tails when the broker cuts
 * pulls short; and the progress line.
 */
import { describe, expect, it } from 'vitest';
import { originOf, writeQueuesOf } from '../../src/admin/migrate.js';
import { findEarlierCopies, Router, shardingKeyOf } from '../../src/admin/migrate-copy.js';
import type { PullConsumer } from '../../src/client/pull-consumer.js';
import { selectMessageQueueByHash } from '../../src/client/producer.js';
import type { MessageExt } from '../../src/client/message.js';
import { renderCopyProgress, throttledProgress } from '../../src/output/progress-render.js';

const msg = (properties: Record<string, string>, keys: string[] = []) => ({ properties, keys });

describe('shardingKeyOf', () => {
  it('takes __SHARDINGKEY, then SHARDING_KEY, then all the keys; none without', () => {
    expect(shardingKeyOf(msg({ __SHARDINGKEY: 'a', SHARDING_KEY: 'b' }, ['c']))).toBe('a');
    expect(shardingKeyOf(msg({ SHARDING_KEY: 'b' }, ['c']))).toBe('b');
    expect(shardingKeyOf(msg({}, ['c', 'd']))).toBe('c d');
    expect(shardingKeyOf(msg({}))).toBeUndefined();
  });
});

describe('Router', () => {
  it('sends a key where SelectMessageQueueByHash would, always the same queue', () => {
    const queues = Array.from({ length: 12 }, (_, queueId) => ({ topic: 'W', brokerName: 'b', queueId }));
    const r = new Router(queues.length);
    for (const key of ['order-1', 'order-2', 'x', 'Ωmega', '-2147483648']) {
      const want = selectMessageQueueByHash(queues, { topic: 'W', body: '' }, key).queueId;
      for (let i = 0; i < 3; i++) expect(r.route(msg({ SHARDING_KEY: key }))).toBe(want);
    }
  });

  it('spreads messages without a key evenly, keyed ones not counted', () => {
    const r = new Router(5);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 1003; i++) {
      if (i % 7 === 0) r.route(msg({}, ['k']));
      counts[r.route(msg({}))]!++;
    }
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });
});

describe('writeQueuesOf and originOf', () => {
  it('lists writable queues by broker name, then queue id', () => {
    const route = { queueDatas: [{ brokerName: 'b2', writeQueueNums: 1, readQueueNums: 1, perm: 6, topicSysFlag: 0 }, { brokerName: 'b1', writeQueueNums: 2, readQueueNums: 2, perm: 6, topicSysFlag: 0 }, { brokerName: 'b0', writeQueueNums: 4, readQueueNums: 4, perm: 4, topicSysFlag: 0 }] };
    expect(writeQueuesOf(route as never, 'W').map((q) => `${q.brokerName}:${q.queueId}`)).toEqual(['b1:0', 'b1:1', 'b2:0']);
  });

  it('reads a copy of this migration back, and nothing else', () => {
    const props = { MIGRATED_FOR_GROUP: 'G', MIGRATED_FROM_TOPIC: 'T', MIGRATED_FROM_BROKER: 'b', MIGRATED_FROM_QUEUE_ID: '3', MIGRATED_FROM_QUEUE_OFFSET: '41', MIGRATED_WINDOW: '1000' };
    const m = (p: Record<string, string>) => ({ properties: p }) as unknown as MessageExt;
    expect(originOf(m(props), { group: 'G', source: 'T' })).toEqual({ group: 'G', topic: 'T', brokerName: 'b', queueId: 3, queueOffset: 41, window: 1000 });
    expect(originOf(m(props), { group: 'H', source: 'T' })).toBeUndefined();
    expect(originOf(m({ ...props, MIGRATED_WINDOW: 'x' }), { group: 'G', source: 'T' })).toBeUndefined();
    const { MIGRATED_WINDOW: _w, ...unlabelled } = props;
    expect(originOf(m(unlabelled), { group: 'G', source: 'T' })).toBeUndefined();
  });
});

describe('findEarlierCopies', () => {
  it('finds every copy of the newest window at a target queue\'s end when the broker answers each pull with fewer messages than asked', async () => {
    // A target queue: 10 copies of an older window (covered), then 70 of window 500 (uncovered).
    const copy = (queueOffset: number, sourceOffset: number, window: number) =>
      ({ queueOffset, body: Buffer.from(`m${sourceOffset}`), properties: { MIGRATED_FOR_GROUP: 'G', MIGRATED_FROM_TOPIC: 'T', MIGRATED_FROM_BROKER: 'b', MIGRATED_FROM_QUEUE_ID: '0', MIGRATED_FROM_QUEUE_OFFSET: String(sourceOffset), MIGRATED_WINDOW: String(window) } }) as unknown as MessageExt;
    const stored = Array.from({ length: 80 }, (_, i) => copy(i, i, i < 10 ? 100 : 500));
    // As a broker whose transfer limit is 5 messages (Apache: 8 from disk, or bytes).
    const consumer = {
      minOffset: async () => 0,
      maxOffset: async () => stored.length,
      pull: async (_mq: unknown, offset: number, n: number) => ({ status: 'FOUND', msgs: stored.slice(offset, offset + Math.min(n, 5)) }),
    } as unknown as PullConsumer;
    const found = await findEarlierCopies(
      { targetConsumer: consumer, targetQueues: [{ topic: 'W', brokerName: 'b', queueId: 0 }], sources: [{ mq: { topic: 'T', brokerName: 'b', queueId: 0 }, committed: 10, from: 10, to: 100 }], originOf: (m) => originOf(m, { group: 'G', source: 'T' }) },
      [10],
    );
    expect(found.label).toBe(500);
    expect([...found.bySource[0]!.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 70 }, (_, i) => 10 + i));
    expect(found.perTarget).toEqual([70]);
  });
});

describe('progress line', () => {
  it('shows done/total, the rate and an ETA; redraws at most every 250 ms and always at the end', () => {
    expect(renderCopyProgress('W', 5_000, 20_000, 1_000)).toBe('Copying to W: 5,000/20,000 (25%), 5,000 msg/s, ETA 3.0s');
    let now = 0;
    const shown: string[] = [];
    const p = throttledProgress((t) => shown.push(t), 'W', () => now);
    for (now = 10; now < 1000; now += 10) p({ done: now, total: 1000 });
    expect(shown.length).toBeLessThanOrEqual(4);
    p({ done: 1000, total: 1000 });
    expect(shown.at(-1)).toMatch(/1,000\/1,000 \(100%\)/);
  });
});
