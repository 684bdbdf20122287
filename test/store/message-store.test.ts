import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidTopicError, MessageTooLargeError, StoreLockedError, FlushTimeoutError } from '../../src/errors/index.js';
import { javaHashCode } from '../../src/protocol/hash.js';
import { BLANK_MAGIC_CODE, createOffsetMsgId, decodeRecord, parseSocketAddr, SysFlag } from '../../src/protocol/message.js';
import { decodeProperties } from '../../src/protocol/properties.js';
import type { FileHandle, OpenMode } from '../../src/broker/store/file-io.js';
import { MessageStore, PutFlushTimeoutError } from '../../src/broker/store/message-store.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { parseDelayLevels } from '../../src/broker/store/store-config.js';
import { SCHEDULE_TOPIC } from '../../src/protocol/names.js';
import { bodyFor, message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

let dir: string;
let store: MessageStore | undefined;

beforeEach(async () => {
  dir = await tempDir();
});

afterEach(async () => {
  await store?.close().catch(() => undefined);
  store = undefined;
  await removeDir(dir);
});

describe('MessageStore append and read', () => {
  it('pulls of queues interleaved with others (sparse spans, read through reused scratch buffers) return their own records, concurrently and after', async () => {
    store = await MessageStore.open(smallConfig(dir, { mappedFileSizeCommitLog: 1024 * 1024 }));
    const queues = 8;
    const perQueue = 32; // a pull returns up to 32 (MAX_TRANSFER_COUNT_IN_MEMORY)
    // Round robin over 8 queues: each queue's records lie 7 records apart in the log.
    for (let n = 0; n < queues * perQueue; n++) await store.putMessage(message('Sparse', n % queues, bodyFor(n, 900)));
    const pullAll = (q: number) => store!.getMessage('Sparse', q, 0, perQueue);
    // Every queue at once (more concurrent sparse reads than scratch buffers kept), then again.
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(Array.from({ length: queues }, (_, q) => pullAll(q)));
      results.forEach((got, q) => {
        expect(got.records).toHaveLength(perQueue);
        got.records.forEach((r, i) => {
          const rec = decodeRecord(r, 0, { checkCrc: true });
          expect(rec.queueId).toBe(q);
          expect(rec.queueOffset).toBe(i);
          expect(rec.body.equals(bodyFor(i * queues + q, 900))).toBe(true);
        });
      });
      // Records handed out earlier are copies: later pulls of other queues (reusing the scratch
      // buffers) leave them intact.
      const before = results.map((got) => got.records.map((r) => r.toString('hex')));
      for (let q = queues - 1; q >= 0; q--) await pullAll(q);
      expect(results.map((got) => got.records.map((r) => r.toString('hex')))).toEqual(before);
    }
  });

  it('appends, assigns offsets per queue, reads back byte-identical records', async () => {
    store = await MessageStore.open(smallConfig(dir));
    expect(store.report.mode).toBe('clean');
    const a0 = await store.putMessage(message('TopicA', 0, 'hello', { TAGS: 'TagA', KEYS: 'k1 k2' }));
    const a1 = await store.putMessage(message('TopicA', 0, 'world'));
    const b0 = await store.putMessage(message('TopicA', 1, 'other queue'));
    expect([a0.queueOffset, a1.queueOffset, b0.queueOffset]).toEqual([0, 1, 0]);
    expect(a0.commitLogOffset).toBe(0);
    expect(a1.commitLogOffset).toBe(a0.wroteBytes);
    expect(a0.offsetMsgId).toBe('7F00000100002A9F0000000000000000');

    const got = await store.getMessage('TopicA', 0, 0, 32);
    expect(got.status).toBe('FOUND');
    expect(got.records).toHaveLength(2);
    expect(got.nextBeginOffset).toBe(2);
    expect([got.minOffset, got.maxOffset]).toEqual([0, 2]);
    const rec = decodeRecord(got.records[0]!, 0, { checkCrc: true });
    expect(rec.body.toString()).toBe('hello');
    expect(rec.queueOffset).toBe(0);
    expect(rec.commitLogOffset).toBe(0);
    expect(rec.storeTimestamp).toBe(a0.storeTimestamp);
    expect(decodeProperties(rec.properties).TAGS).toBe('TagA');

    const raw = await store.readRecord(a1.commitLogOffset);
    expect(raw?.equals(got.records[1]!)).toBe(true);
    expect((await store.lookMessageByOffset(b0.commitLogOffset))?.body.toString()).toBe('other queue');
    expect(await store.readRecord(a1.commitLogOffset + 1)).toBeUndefined();
    expect(await store.readRecord(store.commitLogMaxOffset())).toBeUndefined();
    expect(store.getMaxOffsetInQueue('TopicA', 0)).toBe(2);
    expect(store.getMinOffsetInQueue('TopicA', 0)).toBe(0);
    expect(store.getMinOffsetInQueue('Nope', 0)).toBe(-1);
  });

  it('rolls over to a new segment with a BLANK filler when a record does not fit', async () => {
    store = await MessageStore.open(smallConfig(dir, { mappedFileSizeCommitLog: 8192 }));
    const results = [];
    for (let i = 0; i < 40; i++) results.push(await store.putMessage(message('Roll', 0, bodyFor(i, 700))));
    const files = (await fs.readdir(path.join(dir, 'commitlog'))).sort();
    expect(files.length).toBeGreaterThan(3);
    expect(files[1]).toBe('00000000000000008192');
    for (const f of files) expect((await fs.stat(path.join(dir, 'commitlog', f))).size).toBe(8192);
    // The record that did not fit starts the next file; a BLANK marks the rest of the previous one.
    const firstInSecond = results.find((r) => r.commitLogOffset >= 8192)!;
    expect(firstInSecond.commitLogOffset).toBe(8192);
    const prev = results[results.indexOf(firstInSecond) - 1]!;
    await store.flush();
    const seg0 = await fs.readFile(path.join(dir, 'commitlog', files[0]!));
    const blankAt = prev.commitLogOffset + prev.wroteBytes;
    expect(seg0.readInt32BE(blankAt)).toBe(8192 - blankAt);
    expect(seg0.readInt32BE(blankAt + 4)).toBe(BLANK_MAGIC_CODE);
    // Every message still reads back in order across the segment boundaries.
    let offset = 0;
    let n = 0;
    for (let round = 0; round < 100 && offset < 40; round++) {
      const got = await store.getMessage('Roll', 0, offset, 8);
      expect(got.status).toBe('FOUND');
      for (const r of got.records) expect(decodeRecord(r, 0, { checkCrc: true }).body.equals(bodyFor(n++, 700))).toBe(true);
      offset = got.nextBeginOffset;
    }
    expect(n).toBe(40);
  });

  it('puts a batch into one queue with consecutive offsets, contiguous in the log', async () => {
    store = await MessageStore.open(smallConfig(dir));
    await store.putMessage(message('Batch', 2, 'first'));
    const rs = await store.putMessages([message('Batch', 2, 'a'), message('Batch', 2, 'b'), message('Batch', 2, 'c')]);
    expect(rs.map((r) => r.queueOffset)).toEqual([1, 2, 3]);
    for (let i = 1; i < rs.length; i++) expect(rs[i]!.commitLogOffset).toBe(rs[i - 1]!.commitLogOffset + rs[i - 1]!.wroteBytes);
    await expect(store.putMessages([message('Batch', 2, 'a'), message('Batch', 3, 'b')])).rejects.toMatchObject({ code: 'E_INVALID_MESSAGE' });
  });

  it('gives prepared and rollback transaction records queue offset 0 and keeps them out of the queue', async () => {
    store = await MessageStore.open(smallConfig(dir));
    const seen: number[] = [];
    store.onDispatch((req) => seen.push(req.queueOffset));
    await store.putMessage(message('Tx', 0, 'normal'));
    const half = await store.putMessage(message('Tx', 0, 'half', {}, { sysFlag: SysFlag.TRANSACTION_PREPARED_TYPE }));
    const rollback = await store.putMessage(message('Tx', 0, 'rb', {}, { sysFlag: SysFlag.TRANSACTION_ROLLBACK_TYPE }));
    const commit = await store.putMessage(message('Tx', 0, 'commit', {}, { sysFlag: SysFlag.TRANSACTION_COMMIT_TYPE, preparedTransactionOffset: half.commitLogOffset }));
    expect([half.queueOffset, rollback.queueOffset, commit.queueOffset]).toEqual([0, 0, 1]);
    expect(store.getMaxOffsetInQueue('Tx', 0)).toBe(2);
    expect(seen).toEqual([0, 1]);
    expect((await store.lookMessageByOffset(half.commitLogOffset))?.body.toString()).toBe('half');
  });

  it('computes tagsCode from TAGS, and the delivery time for SCHEDULE_TOPIC_XXXX', async () => {
    store = await MessageStore.open(smallConfig(dir));
    const codes: number[] = [];
    store.onDispatch((req) => codes.push(req.tagsCode));
    await store.putMessage(message('Tags', 0, 'x', { TAGS: 'TagA' }));
    await store.putMessage(message('Tags', 0, 'y'));
    const delayed = await store.putMessage(message(SCHEDULE_TOPIC, 2, 'later', { DELAY: '3', REAL_TOPIC: 'Tags', REAL_QID: '0' }));
    expect(codes[0]).toBe(javaHashCode('TagA'));
    expect(codes[1]).toBe(0);
    expect(codes[2]).toBe(delayed.storeTimestamp + 10_000);
    // Broker-side tag filter sees tagsCode.
    const got = await store.getMessage('Tags', 0, 0, 32, (code) => code === javaHashCode('TagA'));
    expect(got.records).toHaveLength(1);
    expect(got.nextBeginOffset).toBe(2);
    const none = await store.getMessage('Tags', 0, 0, 32, () => false);
    expect(none.status).toBe('NO_MATCHED_MESSAGE');
    expect(none.nextBeginOffset).toBe(2);
    expect(none.scanned).toBe(2);
  });

  it('answers the pull statuses of DefaultMessageStore.getMessage', async () => {
    store = await MessageStore.open(smallConfig(dir));
    expect((await store.getMessage('Nope', 0, 5, 32)).status).toBe('NO_MATCHED_LOGIC_QUEUE');
    for (let i = 0; i < 3; i++) await store.putMessage(message('S', 0, `m${i}`));
    const one = await store.getMessage('S', 0, 3, 32);
    expect([one.status, one.nextBeginOffset]).toEqual(['OFFSET_OVERFLOW_ONE', 3]);
    const badly = await store.getMessage('S', 0, 10, 32);
    expect([badly.status, badly.nextBeginOffset, badly.maxOffset]).toEqual(['OFFSET_OVERFLOW_BADLY', 0, 3]);
    const limited = await store.getMessage('S', 0, 1, 1);
    expect([limited.status, limited.records.length, limited.nextBeginOffset]).toEqual(['FOUND', 1, 2]);
    const byBytes = await store.getMessage('S', 0, 0, 32, undefined, 1);
    expect(byBytes.records).toHaveLength(1); // the first message always goes
  });

  it('finds the offset with the closest store time, and store times by offset', async () => {
    let clock = 1_700_000_000_000;
    store = await MessageStore.open(smallConfig(dir), { now: () => clock });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      times.push((await store.putMessage(message('Time', 0, `m${i}`))).storeTimestamp);
      clock += 15;
    }
    expect(times).toEqual([0, 15, 30, 45, 60].map((d) => 1_700_000_000_000 + d));
    expect(await store.getOffsetInQueueByTime('Time', 0, times[2]!)).toBe(2);
    expect(await store.getOffsetInQueueByTime('Time', 0, times[2]! + 2)).toBe(2);
    expect(await store.getOffsetInQueueByTime('Time', 0, 0)).toBe(0);
    expect(await store.getOffsetInQueueByTime('Time', 0, times[4]! + 60_000)).toBe(4);
    expect(await store.getEarliestMessageTime('Time', 0)).toBe(times[0]);
    expect(await store.getMessageStoreTimestamp('Time', 0, 3)).toBe(times[3]);
    expect(await store.getMessageStoreTimestamp('Time', 0, 9)).toBe(-1);
    expect(await store.getEarliestMessageTime('Nope', 0)).toBe(-1);
  });

  it('rejects bad topic names, oversized bodies and properties with typed errors', async () => {
    store = await MessageStore.open(smallConfig(dir, { maxMessageSize: 1024 }));
    await expect(store.putMessage(message('bad topic!', 0, 'x'))).rejects.toBeInstanceOf(InvalidTopicError);
    await expect(store.putMessage(message('', 0, 'x'))).rejects.toBeInstanceOf(InvalidTopicError);
    await expect(store.putMessage(message('T', 0, Buffer.alloc(1025)))).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(store.putMessage(message('T', 0, 'x', { BIG: 'v'.repeat(40_000) }))).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(store.putMessage(message('T', -1, 'x'))).rejects.toMatchObject({ code: 'E_INVALID_MESSAGE' });
    expect(store.stats().putFailures).toBe(5);
    // Nothing was appended by the failures.
    expect(store.commitLogMaxOffset()).toBe(0);
    const ok = await store.putMessage(message('T', 0, Buffer.alloc(1024)));
    expect(ok.queueOffset).toBe(0);
  });

  it('refuses a record that cannot fit one segment', async () => {
    store = await MessageStore.open(smallConfig(dir, { mappedFileSizeCommitLog: 4096 }));
    await expect(store.putMessage(message('T', 0, Buffer.alloc(4000)))).rejects.toBeInstanceOf(MessageTooLargeError);
  });

  it('survives a clean close and reopen: offsets continue, nothing rebuilt', async () => {
    store = await MessageStore.open(smallConfig(dir));
    for (let i = 0; i < 50; i++) await store.putMessage(message('Re', i % 3, bodyFor(i, 900)));
    const end = store.commitLogMaxOffset();
    await store.close();
    expect(await fs.stat(path.join(dir, 'abort')).catch(() => undefined)).toBeUndefined();
    store = await MessageStore.open(smallConfig(dir));
    const r = store.report;
    expect(r.mode).toBe('clean');
    expect(r.commitLogMaxOffset).toBe(end);
    expect(r.truncatedFromOffset).toBeNull();
    expect(r.recordsRedispatched).toBe(0);
    const next = await store.putMessage(message('Re', 0, 'after'));
    expect(next.queueOffset).toBe(17);
    expect(next.commitLogOffset).toBeGreaterThanOrEqual(end);
  });

  it('a second open of the same dir fails at once with StoreLockedError', async () => {
    store = await MessageStore.open(smallConfig(dir));
    await expect(MessageStore.open(smallConfig(dir))).rejects.toBeInstanceOf(StoreLockedError);
  });

  it('a store an Apache broker runs on (a kernel lock on `lock`, which holds "lock") is refused, not taken over as stale', async () => {
    await fs.mkdir(dir, { recursive: true });
    const lockPath = path.join(dir, 'lock');
    // What DefaultMessageStore.start leaves: "lock" written into the file, an fcntl lock held. Here
    // flock(1) holds the lock (a FLOCK entry in /proc/locks), older than any grace period.
    await fs.writeFile(lockPath, 'lock');
    await fs.utimes(lockPath, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const holder = spawn('flock', [lockPath, 'sleep', '30'], { stdio: 'ignore' });
    try {
      // Bounded: flock takes the lock at once; wait until /proc/locks shows it.
      for (let i = 0; i < 100 && !(await fs.readFile('/proc/locks', 'utf8')).includes(` ${holder.pid} `); i++) await new Promise((r) => setTimeout(r, 20));
      const err = await MessageStore.open(smallConfig(dir)).then(
        (s) => s.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreLockedError);
      expect(String((err as Error).message)).toContain(`pid ${holder.pid}`);
      expect(await fs.readFile(lockPath, 'utf8')).toBe('lock');
    } finally {
      holder.kill('SIGKILL');
    }
    // Once the holder is gone the store is stale and opens.
    await new Promise((r) => holder.once('exit', r));
    store = await MessageStore.open(smallConfig(dir));
  });

  it('deleteTopic drops the queues and restarts offsets', async () => {
    store = await MessageStore.open(smallConfig(dir));
    await store.putMessage(message('Gone', 0, 'x'));
    await store.putMessage(message('Gone-1', 0, 'y'));
    await store.deleteTopic('Gone');
    expect((await store.getMessage('Gone', 0, 0, 32)).status).toBe('NO_MATCHED_LOGIC_QUEUE');
    expect(store.getMaxOffsetInQueue('Gone-1', 0)).toBe(1);
    expect((await store.putMessage(message('Gone', 0, 'again'))).queueOffset).toBe(0);
  });

  it('finds messages by key and UNIQ_KEY through the index, also after an abnormal restart', async () => {
    const cfg = smallConfig(dir, { messageIndexEnable: true, flushDiskType: 'SYNC_FLUSH', flushIntervalConsumeQueue: 60_000 });
    store = await MessageStore.open(cfg);
    const a = await store.putMessage(message('Idx', 0, 'a', { KEYS: 'order-1 order-2', UNIQ_KEY: 'U1' }));
    const b = await store.putMessage(message('Idx', 1, 'b', { KEYS: 'order-2' }));
    await store.putMessage(message('Other', 0, 'c', { KEYS: 'order-2' }));
    const q = await store.queryMessage('Idx', 'order-2', 32, 0, Date.now() + 1000);
    expect(q.records.map((r) => decodeRecord(r).commitLogOffset)).toEqual([a.commitLogOffset, b.commitLogOffset]);
    expect((await store.queryMessage('Idx', 'U1', 32, 0, Date.now() + 1000)).records).toHaveLength(1);
    expect((await store.queryMessage('Idx', 'nope', 32, 0, Date.now() + 1000)).records).toHaveLength(0);
    store.halt(); // index never flushed: recovery must rebuild it
    store = await MessageStore.open(cfg);
    expect(store.report.indexRebuilt).toBe(true);
    const again = await store.queryMessage('Idx', 'order-2', 32, 0, Date.now() + 1000);
    expect(again.records.map((r) => decodeRecord(r).commitLogOffset)).toEqual([a.commitLogOffset, b.commitLogOffset]);
  });

  it('applies backpressure when appends outrun the disk, and every append still completes', async () => {
    store = await MessageStore.open(smallConfig(dir, { flushDiskType: 'SYNC_FLUSH' }), { maxPendingBytes: 8 * 1024 });
    const puts = Array.from({ length: 300 }, (_, i) => store!.putMessage(message('Bp', i % 4, bodyFor(i, 600))));
    const results = await Promise.all(puts);
    expect(results.every((r) => r.status === 'PUT_OK')).toBe(true);
    for (let q = 0; q < 4; q++) expect(store.getMaxOffsetInQueue('Bp', q)).toBe(75);
  });

  it('serves a record still in the write buffer from memory', async () => {
    store = await MessageStore.open(smallConfig(dir, { flushDiskType: 'SYNC_FLUSH' }));
    const pending = store.putMessage(message('Mem', 0, 'not on disk yet'));
    // append() ran synchronously: offset 0 is taken, its write has not completed.
    expect(store.flushedOffset()).toBe(0);
    const raw = await store.readRecord(0);
    expect(decodeRecord(raw!, 0, { checkCrc: true }).body.toString()).toBe('not on disk yet');
    expect((await pending).commitLogOffset).toBe(0);
  });

  it('SYNC_FLUSH: a flush slower than syncFlushTimeout fails the put with FLUSH_DISK_TIMEOUT, and the message stays', async () => {
    // A disk whose fdatasync of commit log files takes 300 ms (not a mock of the store: a slow disk).
    class SlowSyncIO extends NodeFileIO {
      override async open(p: string, mode: OpenMode): Promise<FileHandle> {
        const h = await super.open(p, mode);
        if (!p.includes(`${path.sep}commitlog${path.sep}`)) return h;
        const datasync = h.datasync.bind(h);
        return Object.assign(h, { datasync: async () => {
          await new Promise((r) => setTimeout(r, 300));
          await datasync();
        } });
      }
    }
    store = await MessageStore.open(smallConfig(dir, { flushDiskType: 'SYNC_FLUSH', syncFlushTimeout: 50 }), { io: new SlowSyncIO() });
    const err = await store.putMessage(message('Slow', 0, 'late')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PutFlushTimeoutError);
    expect(err).toBeInstanceOf(FlushTimeoutError);
    expect((err as PutFlushTimeoutError).code).toBe('E_FLUSH_DISK_TIMEOUT');
    const where = (err as PutFlushTimeoutError).results[0]!;
    expect(where.queueOffset).toBe(0);
    // The record is in the log and reaches its queue once the flush completes.
    for (let i = 0; i < 200 && store.getMaxOffsetInQueue('Slow', 0) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.getMaxOffsetInQueue('Slow', 0)).toBe(1);
    expect((await store.lookMessageByOffset(where.commitLogOffset))?.body.toString()).toBe('late');
  });

  it('offsetMsgId equals createOffsetMsgId for the store host', async () => {
    store = await MessageStore.open(smallConfig(dir, { storeHost: parseSocketAddr('[2001:db8::5]:10911') }));
    for (let i = 0; i < 3; i++) {
      const r = await store.putMessage(message('Ids', 0, bodyFor(i, 100)));
      expect(r.offsetMsgId).toBe(createOffsetMsgId(parseSocketAddr('[2001:db8::5]:10911'), r.commitLogOffset));
    }
  });

  it('parses delay levels with s/m/h/d units', () => {
    expect(parseDelayLevels('1s 5s 1m 2h 1d')).toEqual([1000, 5000, 60_000, 7_200_000, 86_400_000]);
    expect(() => parseDelayLevels('1x')).toThrow(/messageDelayLevel/);
  });
});
