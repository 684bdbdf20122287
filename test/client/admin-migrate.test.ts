/**
 * The pure parts of migrateBacklog: what a queue's backlog is (skipped without a committed offset,
 * clamped to what is still stored) and what a copy carries (user properties, tags, keys, UNIQ_KEY,
 * origin; none of the source's system properties that would delay it or make it a half message).
 */
import { describe, expect, it } from 'vitest';
import { copyOf, MIGRATED_FROM, migrateQueuePlan } from '../../src/client/admin-migrate.js';
import type { PlannedQueue } from '../../src/client/admin-offsets.js';
import { decodeMessages } from '../../src/client/message.js';
import { encodeRecord, parseSocketAddr } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';

function planned(currentOffset: number | null, minOffset = 0, maxOffset = 10): PlannedQueue {
  return { topic: 'T', brokerName: 'b', brokerAddr: '127.0.0.1:10911', queueId: 1, minOffset, maxOffset, currentOffset, targetOffset: maxOffset, replay: 0, skip: 0, targetStoreTimestamp: null, notes: [] };
}

function stored(props: Record<string, string>) {
  const rec = encodeRecord({
    topic: 'T',
    queueId: 1,
    flag: 7,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: parseSocketAddr('10.0.0.9:50000'),
    storeHost: parseSocketAddr('127.0.0.1:10911'),
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body: Buffer.from('payload'),
    properties: encodeProperties(props),
    queueOffset: 42,
    commitLogOffset: 4096,
  });
  return decodeMessages(rec, { brokerName: 'broker-a' })[0]!;
}

describe('migrateQueuePlan', () => {
  it('is the distance from the committed offset to the max offset', () => {
    expect(migrateQueuePlan(planned(4))).toMatchObject({ consumerOffset: 4, fromOffset: 4, messages: 6, notes: [] });
    expect(migrateQueuePlan(planned(10))).toMatchObject({ fromOffset: 10, messages: 0 });
  });

  it('skips a queue without a committed offset, and says so', () => {
    const q = migrateQueuePlan(planned(null));
    expect(q).toMatchObject({ consumerOffset: null, fromOffset: null, messages: 0 });
    expect(q.notes.join()).toMatch(/no committed offset: skipped/);
  });

  it('copies from the oldest stored message when older ones were deleted; nothing when ahead', () => {
    const behind = migrateQueuePlan(planned(2, 5, 10));
    expect(behind).toMatchObject({ fromOffset: 5, messages: 5 });
    expect(behind.notes.join()).toMatch(/3 message\(s\) before offset 5 were deleted/);
    const ahead = migrateQueuePlan(planned(12, 0, 10));
    expect(ahead).toMatchObject({ fromOffset: 10, messages: 0 });
    expect(ahead.notes.join()).toMatch(/ahead of the max offset/);
  });
});

describe('copyOf', () => {
  const plan = { group: 'G', target: { topic: 'WIDE', exists: true, queueNums: 8, brokers: [] } };

  it('keeps body, flag, born time, tags, keys, user properties and UNIQ_KEY, and records the origin and window', () => {
    const m = stored({ UNIQ_KEY: 'AC1100010000000000000000000000AB', TAGS: 'paid', KEYS: 'k1 k2', orderId: 'o-1', CLUSTER: 'DefaultCluster' });
    const c = copyOf(m, plan, 1234);
    expect(c).toMatchObject({ topic: 'WIDE', flag: 7, uniqKey: 'AC1100010000000000000000000000AB', bornTimestamp: 1_700_000_000_000 });
    expect(c.body.toString()).toBe('payload');
    expect(c.properties).toEqual({
      orderId: 'o-1',
      TAGS: 'paid',
      KEYS: 'k1 k2',
      UNIQ_KEY: 'AC1100010000000000000000000000AB',
      WAIT: 'true',
      [MIGRATED_FROM.TOPIC]: 'T',
      [MIGRATED_FROM.BROKER]: 'broker-a',
      [MIGRATED_FROM.QUEUE_ID]: '1',
      [MIGRATED_FROM.QUEUE_OFFSET]: '42',
      [MIGRATED_FROM.MSG_ID]: m.offsetMsgId,
      [MIGRATED_FROM.GROUP]: 'G',
      [MIGRATED_FROM.BORN_TIMESTAMP]: '1700000000000',
      [MIGRATED_FROM.WINDOW]: '1234',
    });
  });

  it('drops system properties that would delay the copy or make it a half message', () => {
    const c = copyOf(stored({ UNIQ_KEY: 'X1', DELAY: '3', REAL_TOPIC: 'T', REAL_QID: '0', TRAN_MSG: 'true', PGROUP: 'P', MIN_OFFSET: '0', MAX_OFFSET: '9' }), plan);
    for (const k of ['DELAY', 'REAL_TOPIC', 'REAL_QID', 'TRAN_MSG', 'PGROUP', 'MIN_OFFSET', 'MAX_OFFSET']) expect(c.properties).not.toHaveProperty(k);
  });

  it('without a UNIQ_KEY, the id its consumers saw (the offsetMsgId) becomes the copy\'s UNIQ_KEY', () => {
    const m = stored({ TAGS: 't' });
    const c = copyOf(m, plan);
    expect(c.uniqKey).toBe(m.offsetMsgId);
    expect(c.properties.UNIQ_KEY).toBe(m.offsetMsgId);
  });
});
