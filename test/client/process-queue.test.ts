import { describe, expect, it } from 'vitest';
import { ProcessQueue } from '../../src/client/process-queue.js';
import type { MessageExt } from '../../src/client/message.js';

const mq = { topic: 'T', brokerName: 'b', queueId: 0 };
const msg = (queueOffset: number): MessageExt => ({ queueOffset, body: Buffer.alloc(10) }) as MessageExt;

describe('ProcessQueue: the commit-offset rule', () => {
  it('never commits past a message whose handler is still running, whatever order handlers finish in', () => {
    const pq = new ProcessQueue(mq);
    const ms = [10, 11, 12, 13, 14].map(msg);
    pq.putMessages(ms);
    // 12 and 14 finish first: 10 is still running, so the offset stays at 10.
    expect(pq.removeMessages([ms[2]!])).toBe(10);
    expect(pq.removeMessages([ms[4]!])).toBe(10);
    // 10 finishes: 11 is the oldest unfinished.
    expect(pq.removeMessages([ms[0]!])).toBe(11);
    expect(pq.removeMessages([ms[1]!])).toBe(13);
    // The last one: everything done, the offset moves past the largest pulled offset.
    expect(pq.removeMessages([ms[3]!])).toBe(15);
    expect(pq.msgCount).toBe(0);
    expect(pq.msgSize).toBe(0);
  });

  it('random completion orders always commit the smallest unfinished offset', () => {
    for (let round = 0; round < 50; round++) {
      const pq = new ProcessQueue(mq);
      const offsets = Array.from({ length: 40 }, (_, i) => 100 + i);
      pq.putMessages(offsets.slice(0, 20).map(msg));
      pq.putMessages(offsets.slice(20).map(msg)); // a second pull
      const order = [...offsets].sort(() => Math.random() - 0.5);
      const done = new Set<number>();
      for (const o of order) {
        const committed = pq.removeMessages([msg(o)]);
        done.add(o);
        const firstUnfinished = offsets.find((x) => !done.has(x));
        expect(committed).toBe(firstUnfinished ?? 140);
      }
    }
  });

  it('with nothing in flight, commits up to the last pull\'s nextBeginOffset (filtered tail skipped)', () => {
    const pq = new ProcessQueue(mq);
    // The pull returned 3 and 4, scanned up to 7 (5 and 6 were other tags).
    pq.putMessages([3, 4].map(msg), 7);
    expect(pq.removeMessages([msg(4)])).toBe(3);
    expect(pq.removeMessages([msg(3)])).toBe(7);
    // A later pull that returned nothing still moves the end when the queue is idle.
    pq.putMessages([8].map(msg), 9);
    pq.advancePulled(12);
    expect(pq.removeMessages([msg(8)])).toBe(12);
    pq.advancePulled(10); // never backwards
    expect(pq.commitableOffset()).toBe(12);
  });

  it('returns -1 when nothing is held (nothing to commit)', () => {
    const pq = new ProcessQueue(mq);
    expect(pq.removeMessages([msg(1)])).toBe(-1);
  });

  it('orderly: take in order, put back on failure, commit one past the last taken', () => {
    const pq = new ProcessQueue(mq);
    expect(pq.putMessages([5, 6, 7].map(msg))).toBe(true);
    expect(pq.putMessages([8].map(msg))).toBe(false); // a loop is already "running"
    const [a] = pq.takeMessages(1);
    expect(a!.queueOffset).toBe(5);
    expect(pq.commitableOffset()).toBe(5);
    pq.makeMessagesToConsumeAgain([a!]);
    expect(pq.takeMessages(1)[0]!.queueOffset).toBe(5);
    expect(pq.commit()).toBe(6);
    expect(pq.takeMessages(2).map((m) => m.queueOffset)).toEqual([6, 7]);
    expect(pq.commit()).toBe(8);
    expect(pq.takeMessages(5).map((m) => m.queueOffset)).toEqual([8]);
    expect(pq.commit()).toBe(9);
    expect(pq.takeMessages(1)).toEqual([]);
    expect(pq.consuming).toBe(false);
  });
});
