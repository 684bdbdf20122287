import { describe, expect, it } from 'vitest';
import { LocalFileOffsetStore, OFFSET_NOT_FOUND } from '../../src/client/offset-store.js';
import { tempDirPerTest } from '../helpers/broker.js';

const tempDir = tempDirPerTest('rocketctl-offsets-');

function store(): LocalFileOffsetStore {
  return new LocalFileOffsetStore(tempDir(), 'inst', 'G');
}

describe('offset store memory table', () => {
  it('one queue object updated many times keeps one entry; increaseOnly never moves it back', async () => {
    const s = store();
    const mq = { topic: 'T', brokerName: 'b', queueId: 1 };
    for (let i = 1; i <= 5; i++) s.updateOffset(mq, i, true);
    s.updateOffset(mq, 3, true);
    expect(await s.readOffset(mq, 'MEMORY')).toBe(5);
    // An equal queue given as another object finds the same entry.
    expect(await s.readOffset({ ...mq }, 'MEMORY')).toBe(5);
    s.updateOffset({ ...mq }, 2, false);
    expect(await s.readOffset(mq, 'MEMORY')).toBe(2);
    expect(s.offsets()).toEqual([[mq, 2]]);
  });

  it('after removeOffset the same queue object starts a new entry instead of reviving the old one', async () => {
    const s = store();
    const mq = { topic: 'T', brokerName: 'b', queueId: 1 };
    s.updateOffset(mq, 7, true);
    s.removeOffset({ ...mq });
    expect(await s.readOffset(mq, 'MEMORY')).toBe(OFFSET_NOT_FOUND);
    expect(s.offsets()).toEqual([]);
    s.updateOffset(mq, 3, true);
    expect(s.offsets()).toEqual([[mq, 3]]);
  });

  it('a queue object changed to name another queue is looked up by what it names now', async () => {
    const s = store();
    const mq = { topic: 'T', brokerName: 'b', queueId: 1 };
    s.updateOffset(mq, 7, true);
    mq.queueId = 2;
    expect(await s.readOffset(mq, 'MEMORY')).toBe(OFFSET_NOT_FOUND);
    s.updateOffset(mq, 9, true);
    expect(s.offsets().sort((a, b) => a[0].queueId - b[0].queueId)).toEqual([
      [{ topic: 'T', brokerName: 'b', queueId: 1 }, 7],
      [{ topic: 'T', brokerName: 'b', queueId: 2 }, 9],
    ]);
  });
});
