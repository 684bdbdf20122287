/**
 * The pure parts of migrateBacklog: what a queue's backlog is (skipped without a committed offset,
 * clamped to what is still stored) and what a copy carries (user properties, tags, keys, UNIQ_KEY,
 * origin; none of the source's system properties that would delay it or make it a half message).
 */
import { describe, expect, it } from 'vitest';
import { copyOf, MIGRATED_FROM, migrateQueuePlan } from '../../src/admin/migrate.js';
import { COPY_LIMITS, READ_RETRIES, readPipelined, TargetLane, type CopyJob } from '../../src/admin/migrate-copy.js';
import { RemoteError } from '../../src/errors/index.js';
import { ResponseCode } from '../../src/protocol/codes.js';
import type { PreparedMessage } from '../../src/client/producer.js';
import type { PullConsumer } from '../../src/client/pull-consumer.js';
import type { PlannedQueue } from '../../src/admin/reset.js';
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
  const plan = { group: 'G', target: { topic: 'WIDE', namesrvAddr: null, exists: true, queueNums: 8, brokers: [] } };

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

describe('readPipelined (the copy\'s reader)', () => {
  const mq = { topic: 'T', brokerName: 'broker-a', queueId: 1 };
  const at = (offset: number) => ({ ...stored({}), queueOffset: offset });
  /** A source whose pulls answer from `script` first (one answer per pull), then FOUND from the asked offset. */
  function source(script: Array<'NO_MATCHED_MSG' | 'NO_NEW_MSG' | 'OFFSET_ILLEGAL'>) {
    const asked: number[] = [];
    const consumer = {
      pull: async (_: unknown, offset: number, n: number) => {
        asked.push(offset);
        const status = script.shift();
        if (status) return { status, nextBeginOffset: offset, minOffset: 0, maxOffset: 10, msgs: [] };
        return { status: 'FOUND', nextBeginOffset: offset + n, minOffset: 0, maxOffset: 10, msgs: Array.from({ length: n }, (_, i) => at(offset + i)) };
      },
    } as unknown as PullConsumer;
    return { consumer, asked };
  }
  const read = async (consumer: PullConsumer) => {
    let why = '';
    const got: number[] = [];
    for await (const chunk of readPipelined(consumer, mq, 0, 10, 1, (w) => (why = w))) got.push(...chunk.map((m) => m.queueOffset));
    return { got, why };
  };

  it('asks again where a pull brought nothing (PULL_RETRY_IMMEDIATELY, PULL_NOT_FOUND) and reads on', async () => {
    const { consumer, asked } = source(['NO_MATCHED_MSG', 'NO_NEW_MSG']);
    expect(await read(consumer)).toEqual({ got: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], why: '' });
    expect(asked.slice(0, 3)).toEqual([0, 0, 0]);
  });

  it(`gives up after ${READ_RETRIES} empty answers in a row, and says what the broker answered`, async () => {
    const { consumer, asked } = source(Array.from({ length: READ_RETRIES + 1 }, () => 'NO_NEW_MSG' as const));
    const r = await read(consumer);
    expect(r.got).toEqual([]);
    expect(r.why).toMatch(/^NO_NEW_MSG at offset 0 \(broker min 0, max 10\)$/);
    expect(asked).toHaveLength(READ_RETRIES + 1);
  });

  it('stops at once on an illegal offset (the messages are gone)', async () => {
    const { consumer, asked } = source(['OFFSET_ILLEGAL']);
    expect((await read(consumer)).why).toMatch(/^OFFSET_ILLEGAL at offset 0/);
    expect(asked).toEqual([0]);
  });
});

describe('TargetLane (the copy\'s sender to one target queue)', () => {
  const mq = { topic: 'Target', brokerName: 'broker-b', queueId: 0 };
  const limits = { ...COPY_LIMITS, batchMessages: 2, busyPauseMs: 1 };
  const part = (i: number) => ({ topic: 'Target', body: Buffer.from(`m${i}`), flag: 0, properties: {}, uniqKey: `U${i}`, bornTimestamp: 0 }) as unknown as PreparedMessage;
  /** A lane whose target answers each send with the next of `answers` ('busy', 'error'), then stores it. */
  function lane(answers: Array<'busy' | 'error'>) {
    const sends: string[][] = [];
    const stored: string[] = [];
    const producer = {
      sendRawBatch: async (batch: PreparedMessage[]) => {
        sends.push(batch.map((p) => p.uniqKey));
        const a = answers.shift();
        if (a === 'busy') throw new RemoteError(ResponseCode.SYSTEM_BUSY, '[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while');
        if (a === 'error') throw new RemoteError(ResponseCode.SYSTEM_ERROR, 'disk full');
        stored.push(...batch.map((p) => p.uniqKey));
      },
    };
    let failure: unknown;
    const l = new TargetLane({ producer, sendTimeoutMs: 1000 } as unknown as CopyJob, mq, limits, (err) => (failure ??= err), () => failure !== undefined);
    return { l, sends, stored, failure: () => failure };
  }

  it('resends a batch the target refused with its flow control (broker busy), in order, and copies nothing twice', async () => {
    const t = lane(['busy', 'busy']);
    for (let i = 0; i < 4; i++) t.l.add(part(i));
    await t.l.drain();
    expect(t.failure()).toBeUndefined();
    expect(t.sends).toEqual([['U0', 'U1'], ['U0', 'U1'], ['U0', 'U1'], ['U2', 'U3']]);
    expect(t.stored).toEqual(['U0', 'U1', 'U2', 'U3']);
    expect(t.l.sent).toBe(4);
  });

  it(`gives up after ${COPY_LIMITS.busyRetries} resends, and at once on any other refusal; nothing is sent after a failure`, async () => {
    const busy = lane(Array.from({ length: COPY_LIMITS.busyRetries + 1 }, () => 'busy' as const));
    for (let i = 0; i < 4; i++) busy.l.add(part(i));
    await busy.l.drain();
    expect(busy.failure()).toMatchObject({ responseCode: ResponseCode.SYSTEM_BUSY });
    expect(busy.sends).toHaveLength(COPY_LIMITS.busyRetries + 1);
    expect(busy.stored).toEqual([]);
    const other = lane(['error']);
    for (let i = 0; i < 4; i++) other.l.add(part(i));
    await other.l.drain();
    expect(other.failure()).toMatchObject({ responseCode: ResponseCode.SYSTEM_ERROR });
    expect(other.sends).toEqual([['U0', 'U1']]);
  });
});
