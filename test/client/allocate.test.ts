import { describe, expect, it } from 'vitest';
import { allocateAveragely, sortMessageQueues } from '../../src/client/allocate.js';
import type { MessageQueue } from '../../src/protocol/bodies.js';

const queues = (n: number, topic = 'T', brokerName = 'broker-a'): MessageQueue[] =>
  Array.from({ length: n }, (_, queueId) => ({ topic, brokerName, queueId }));
const ids = (mqs: MessageQueue[]) => mqs.map((q) => `${q.brokerName}:${q.queueId}`);

describe('AllocateMessageQueueAveragely', () => {
  it('8 queues, 3 clients → 3, 3, 2 contiguous blocks', () => {
    const cids = ['c0', 'c1', 'c2'];
    const got = cids.map((c) => ids(allocateAveragely('G', c, queues(8), cids)));
    expect(got).toEqual([
      ['broker-a:0', 'broker-a:1', 'broker-a:2'],
      ['broker-a:3', 'broker-a:4', 'broker-a:5'],
      ['broker-a:6', 'broker-a:7'],
    ]);
  });

  it('2 queues, 3 clients → 1, 1, 0', () => {
    const cids = ['c0', 'c1', 'c2'];
    expect(cids.map((c) => allocateAveragely('G', c, queues(2), cids).length)).toEqual([1, 1, 0]);
    expect(ids(allocateAveragely('G', 'c1', queues(2), cids))).toEqual(['broker-a:1']);
  });

  it('a client not in the list gets nothing', () => {
    expect(allocateAveragely('G', 'stranger', queues(8), ['c0', 'c1'])).toEqual([]);
    expect(allocateAveragely('G', 'c0', [], ['c0'])).toEqual([]);
    expect(allocateAveragely('G', 'c0', queues(4), [])).toEqual([]);
  });

  it('sorts its inputs as the Java rebalance does (queues by topic, broker, id; client ids as strings)', () => {
    const shuffled: MessageQueue[] = [
      { topic: 'T', brokerName: 'broker-b', queueId: 1 },
      { topic: 'T', brokerName: 'broker-a', queueId: 10 },
      { topic: 'T', brokerName: 'broker-a', queueId: 2 },
      { topic: 'T', brokerName: 'broker-b', queueId: 0 },
    ];
    expect(ids(sortMessageQueues(shuffled))).toEqual(['broker-a:2', 'broker-a:10', 'broker-b:0', 'broker-b:1']);
    // "10.0.0.2@1" sorts before "9.0.0.1@1" as a string: the first client is the 10.x one.
    const cids = ['9.0.0.1@1', '10.0.0.2@1'];
    expect(ids(allocateAveragely('G', '10.0.0.2@1', shuffled, cids))).toEqual(['broker-a:2', 'broker-a:10']);
    expect(ids(allocateAveragely('G', '9.0.0.1@1', shuffled, [...cids].reverse()))).toEqual(['broker-b:0', 'broker-b:1']);
  });

  it('every queue goes to exactly one client, for many shapes', () => {
    for (let n = 0; n <= 17; n++) {
      for (let c = 1; c <= 6; c++) {
        const cids = Array.from({ length: c }, (_, i) => `c${i}`);
        const all = cids.flatMap((cid) => ids(allocateAveragely('G', cid, queues(n), cids)));
        expect(all.sort()).toEqual(ids(queues(n)).sort());
        const sizes = cids.map((cid) => allocateAveragely('G', cid, queues(n), cids).length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    }
  });
});
