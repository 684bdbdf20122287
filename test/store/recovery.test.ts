import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecord } from '../../src/protocol/message.js';
import { MessageStore, type PutResult } from '../../src/broker/store/message-store.js';
import { segmentFileName } from '../../src/broker/store/commitlog-files.js';
import type { StoreConfig } from '../../src/broker/store/types.js';
import { bodyFor, message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

/**
 * DefaultMessageStoreTest#testRecover's recipe: write, restart, corrupt the tail, restart, with and
 * without the `abort` marker; recovery must cut at the first bad record and say so in its report.
 */

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

function config(overrides: Partial<StoreConfig> = {}): StoreConfig {
  // SYNC_FLUSH: every acknowledged record is on disk, so halt() leaves a deterministic log.
  return smallConfig(dir, { flushDiskType: 'SYNC_FLUSH', flushIntervalConsumeQueue: 60_000, ...overrides });
}

async function fill(s: MessageStore, n: number, queues = 2, size = 500): Promise<PutResult[]> {
  const out: PutResult[] = [];
  for (let i = 0; i < n; i++) out.push(await s.putMessage(message('Rec', i % queues, bodyFor(i, size), { KEYS: `key${i}` })));
  return out;
}

async function patchLog(at: number, segmentBytes: number, mutate: (seg: Buffer, pos: number) => void): Promise<void> {
  const start = at - (at % segmentBytes);
  const file = path.join(dir, 'commitlog', segmentFileName(start));
  const seg = await fs.readFile(file);
  mutate(seg, at - start);
  await fs.writeFile(file, seg);
}

async function countQueue(s: MessageStore, topic: string, queueId: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = s.getMinOffsetInQueue(topic, queueId);
  for (let round = 0; round < 1000; round++) {
    const got = await s.getMessage(topic, queueId, offset, 32);
    if (got.status !== 'FOUND') break;
    out.push(...got.records);
    offset = got.nextBeginOffset;
  }
  return out;
}

describe('recovery', () => {
  for (const withAbort of [false, true]) {
    const mode = withAbort ? 'abnormal' : 'clean';

    it(`cuts a torn last record (${mode})`, async () => {
      store = await MessageStore.open(config());
      const puts = await fill(store, 30);
      const last = puts[puts.length - 1]!;
      if (withAbort) store.halt();
      else await store.close();
      store = undefined;
      // The second half of the last record never reached the disk.
      await patchLog(last.commitLogOffset, 64 * 1024, (seg, pos) => seg.fill(0, pos + Math.floor(last.wroteBytes / 2), pos + last.wroteBytes));
      store = await MessageStore.open(config());
      const r = store.report;
      expect(r.mode).toBe(mode);
      expect(r.truncatedFromOffset).toBe(last.commitLogOffset);
      expect(r.truncateReason).toBe('torn');
      expect(r.bytesDropped).toBeGreaterThan(0);
      expect(r.bytesDropped).toBeLessThanOrEqual(last.wroteBytes);
      expect(r.commitLogMaxOffset).toBe(last.commitLogOffset);
      expect(store.getMaxOffsetInQueue('Rec', 1)).toBe(14);
      expect(store.getMaxOffsetInQueue('Rec', 0)).toBe(15);
      expect(await store.readRecord(last.commitLogOffset)).toBeUndefined();
      // The queue offset is handed out again, at the cut point.
      const again = await store.putMessage(message('Rec', 1, 'replacement'));
      expect([again.queueOffset, again.commitLogOffset]).toEqual([14, last.commitLogOffset]);
    });

    it(`detects a flipped byte in the last record's body (${mode})`, async () => {
      store = await MessageStore.open(config());
      const puts = await fill(store, 20);
      const last = puts[puts.length - 1]!;
      if (withAbort) store.halt();
      else await store.close();
      store = undefined;
      await patchLog(last.commitLogOffset, 64 * 1024, (seg, pos) => {
        seg[pos + 150] = seg[pos + 150]! ^ 0x40; // inside the 500-byte body
      });
      store = await MessageStore.open(config());
      const r = store.report;
      expect(r.mode).toBe(mode);
      expect(r.truncateReason).toBe('bad-crc');
      expect(r.truncatedFromOffset).toBe(last.commitLogOffset);
      expect(r.bytesDropped).toBe(last.wroteBytes);
      expect(r.problem).toMatch(/CRC/);
      expect(r.queueUnitsDropped + (withAbort ? 1 : 0)).toBeGreaterThanOrEqual(1);
      expect((await countQueue(store, 'Rec', 1)).length).toBe(9);
      for (const rec of await countQueue(store, 'Rec', 0)) expect(() => decodeRecord(rec, 0, { checkCrc: true })).not.toThrow();
    });
  }

  it('rebuilds consume queues that never reached the disk (abort marker, abnormal path)', async () => {
    store = await MessageStore.open(config());
    const puts = await fill(store, 60, 3);
    store.halt(); // consume queues were only in memory (flushIntervalConsumeQueue = 60 s)
    store = undefined;
    expect(await fs.stat(path.join(dir, 'abort'))).toBeTruthy();
    store = await MessageStore.open(config());
    const r = store.report;
    expect(r.mode).toBe('abnormal');
    expect(r.truncatedFromOffset).toBeNull();
    expect(r.recordsRedispatched).toBe(60);
    expect(r.queuesRebuilt).toEqual(['Rec/0', 'Rec/1', 'Rec/2']);
    for (let q = 0; q < 3; q++) {
      const recs = await countQueue(store, 'Rec', q);
      expect(recs.length).toBe(20);
      recs.forEach((rec, i) => expect(decodeRecord(rec, 0, { checkCrc: true }).queueOffset).toBe(i));
    }
    // Offsets continue where the log ended.
    const next = await store.putMessage(message('Rec', 0, 'next'));
    expect(next.queueOffset).toBe(20);
    expect(next.commitLogOffset).toBe(puts[59]!.commitLogOffset + puts[59]!.wroteBytes);
  });

  it('rebuilds a deleted consumequeue directory from the whole log (clean path)', async () => {
    store = await MessageStore.open(config({ mappedFileSizeCommitLog: 16 * 1024 }));
    await fill(store, 150, 2);
    await store.close();
    store = undefined;
    expect((await fs.readdir(path.join(dir, 'commitlog'))).length).toBeGreaterThan(3);
    await fs.rm(path.join(dir, 'consumequeue'), { recursive: true });
    store = await MessageStore.open(config({ mappedFileSizeCommitLog: 16 * 1024 }));
    expect(store.report.mode).toBe('clean');
    expect(store.report.recordsRedispatched).toBe(150);
    expect(store.report.scanStartOffset).toBe(0);
    expect((await countQueue(store, 'Rec', 0)).length).toBe(75);
    expect((await countQueue(store, 'Rec', 1)).length).toBe(75);
  });

  it('a bad record in an older segment drops everything after it, later segments included', async () => {
    const cfg = config({ mappedFileSizeCommitLog: 16 * 1024 });
    store = await MessageStore.open(cfg);
    const puts = await fill(store, 120, 1);
    store.halt();
    store = undefined;
    const victim = puts.find((p) => p.commitLogOffset >= 16 * 1024 && p.commitLogOffset < 32 * 1024)!;
    await patchLog(victim.commitLogOffset, 16 * 1024, (seg, pos) => seg.writeInt32BE(0x12345678, pos + 4));
    store = await MessageStore.open(cfg);
    const r = store.report;
    expect(r.mode).toBe('abnormal');
    expect(r.truncateReason).toBe('bad-magic');
    expect(r.truncatedFromOffset).toBe(victim.commitLogOffset);
    expect(r.segmentsDeleted.length).toBeGreaterThan(0);
    expect(r.commitLogFiles).toBe(2);
    expect(store.getMaxOffsetInQueue('Rec', 0)).toBe(victim.queueOffset);
    const files = await fs.readdir(path.join(dir, 'commitlog'));
    expect(files.sort()).toEqual([segmentFileName(0), segmentFileName(16 * 1024)]);
  });

  it('abnormal recovery starts from the checkpoint, not the first segment', async () => {
    const cfg = config({ mappedFileSizeCommitLog: 8 * 1024, flushIntervalConsumeQueue: 60_000 });
    let clock = 1_700_000_000_000;
    const now = () => clock;
    store = await MessageStore.open(cfg, { now });
    await fill(store, 40, 1);
    // The first batch's records are older than the checkpoint's time minus RocketMQ's 3 s margin
    // (StoreCheckpoint#getMinTimestamp); the checkpoint then holds the second batch's time.
    clock += 3300;
    await fill(store, 40, 1);
    await store.flush();
    store.halt();
    store = undefined;
    store = await MessageStore.open(cfg, { now });
    const r = store.report;
    expect(r.mode).toBe('abnormal');
    expect(r.scanStartOffset).toBeGreaterThan(0);
    // Only records of the second batch not yet dispatched when the store was halted (none on an
    // idle machine; a few when dispatch lags under load) — never the first batch again.
    expect(r.recordsRedispatched).toBeLessThan(40);
    expect(store.getMaxOffsetInQueue('Rec', 0)).toBe(80);
  });

  it('a consume-queue unit cut by recovery stays cut on disk before the log reuses its offset (power loss in the next life)', async () => {
    const cfg = config();
    store = await MessageStore.open(cfg);
    await fill(store, 6, 2);
    // The last record (queue 1) reaches its consume queue on disk, but the commit log loses it.
    const lost = await store.putMessage(message('Rec', 1, bodyFor(100, 800)));
    await store.flush();
    store.halt();
    store = undefined;
    await patchLog(lost.commitLogOffset, cfg.mappedFileSizeCommitLog, (seg, pos) => seg.fill(0, pos, pos + lost.wroteBytes));

    // Next life: recovery cuts queue 1's unit; a record of queue 0 is then written at that offset,
    // and the power goes before the consume queues were flushed on their timer.
    store = await MessageStore.open(cfg);
    expect(store.report.commitLogMaxOffset).toBe(lost.commitLogOffset);
    expect(store.getMaxOffsetInQueue('Rec', 1)).toBe(lost.queueOffset);
    const reused = await store.putMessage(message('Rec', 0, bodyFor(101, 100)));
    expect(reused.commitLogOffset).toBe(lost.commitLogOffset);
    store.halt();
    store = undefined;

    // The stale unit (queue 1 -> that offset, 800-byte body) must not come back.
    store = await MessageStore.open(cfg);
    expect(store.getMaxOffsetInQueue('Rec', 1)).toBe(lost.queueOffset);
    for (const q of [0, 1]) {
      const recs = await countQueue(store, 'Rec', q);
      expect(recs).toHaveLength(q === 0 ? 4 : 3);
      for (const raw of recs) expect(decodeRecord(raw, 0, { checkCrc: true }).queueId).toBe(q);
    }
  });

  it('a consume-queue unit with the right commit-log offset but another record\'s size is replaced by recovery', async () => {
    const cfg = config();
    store = await MessageStore.open(cfg);
    await fill(store, 6, 2);
    const r = await store.putMessage(message('Rec', 1, bodyFor(100, 300)));
    await store.flush();
    store.halt(); // abnormal: recovery scans and re-dispatches
    store = undefined;
    // What a lost record's unit looks like once a later record of the same queue reused its offset:
    // same commit-log offset, the lost record's size (ConsumeQueue unit: offset 8, size 4, tags 8).
    const cqFile = path.join(dir, 'consumequeue', 'Rec', '1', '00000000000000000000');
    const cq = await fs.readFile(cqFile);
    const at = r.queueOffset * 20;
    expect(Number(cq.readBigInt64BE(at))).toBe(r.commitLogOffset);
    cq.writeInt32BE(r.wroteBytes - 100, at + 8);
    await fs.writeFile(cqFile, cq);
    store = await MessageStore.open(cfg);
    const got = await store.getMessage('Rec', 1, r.queueOffset, 1);
    expect(got.status).toBe('FOUND');
    expect(got.records[0]!.length).toBe(r.wroteBytes);
    expect(decodeRecord(got.records[0]!, 0, { checkCrc: true }).queueOffset).toBe(r.queueOffset);
  });

  it('a store whose oldest commit log files were deleted (Apache retention) starts each queue at its first unit still in the log', async () => {
    store = await MessageStore.open(config());
    const sent = await fill(store, 200, 2, 700);
    await store.close();
    store = undefined;
    const segments = (await fs.readdir(path.join(dir, 'commitlog'))).sort();
    expect(segments.length).toBeGreaterThan(2);
    // What CleanCommitLogService leaves: the first segment gone, consume queue files kept while any
    // of their units still points into the log.
    await fs.rm(path.join(dir, 'commitlog', segments[0]!));
    const logStart = Number(segments[1]);
    store = await MessageStore.open(config());
    for (const q of [0, 1]) {
      const live = sent.filter((r, i) => i % 2 === q && r.commitLogOffset >= logStart);
      // ConsumeQueue.correctMinOffset: the first unit whose message is still in the log.
      expect(store.getMinOffsetInQueue('Rec', q)).toBe(live[0]!.queueOffset);
      expect(store.getMaxOffsetInQueue('Rec', q)).toBe(100);
      expect(await store.getEarliestMessageTime('Rec', q)).toBe(live[0]!.storeTimestamp);
      expect(await countQueue(store, 'Rec', q)).toHaveLength(live.length);
    }
  });
});
