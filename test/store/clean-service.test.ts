/**
 * Retention (src/broker/store/clean-service.ts) on a real store over tiny files: commit log
 * segments of 4 KiB, consume-queue files of 4 units, index files of 15 entries. Time is injected
 * (a clock at 04:10 or 10:00 local time) and segment ages are set with utimes, as segments written
 * days ago would have them, so nothing sleeps. The disk is FaultyFileIO's simulated disk, whose use
 * the test sets through otherUsedBytes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultyFileIO } from '../../src/broker/store/faulty-file-io.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { DELETE_FILES_BATCH_MAX, DiskSpaceFullError } from '../../src/broker/store/clean-service.js';
import type { StoreConfig } from '../../src/broker/store/types.js';
import { message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

const HOUR_MS = 3_600_000;
const TOPIC = 'Orders';
const QUEUES = 4;
const DISK_BYTES = 256 * 1024 * 1024;

let dir: string;
let store: MessageStore | undefined;
let io: FaultyFileIO;
let nowMs: number;
let sleeps: number[];

/** Today at hh:mm local time (deleteWhen is read in local time, as Apache's Calendar). */
function localTime(h: number, m: number, daysLater = 0): number {
  const d = new Date();
  d.setDate(d.getDate() + daysLater);
  d.setHours(h, m, 0, 0);
  return d.getTime();
}

function config(overrides: Partial<StoreConfig> = {}): StoreConfig {
  return smallConfig(dir, {
    mappedFileSizeCommitLog: 4096,
    mappedFileSizeConsumeQueue: 20 * 4,
    messageIndexEnable: true,
    maxHashSlotNum: 4,
    maxIndexNum: 16,
    // The timer must not run a pass of its own during a test: passes are run by hand.
    cleanResourceInterval: 3_600_000,
    ...overrides,
  });
}

async function open(overrides: Partial<StoreConfig> = {}): Promise<MessageStore> {
  io = new FaultyFileIO({ seed: 1, diskBytes: DISK_BYTES });
  store = await MessageStore.open(config(overrides), {
    io,
    retention: { now: () => nowMs, sleep: async (ms) => void sleeps.push(ms) },
  });
  return store;
}

/** n messages round-robin over the queues, ~530 bytes each: 7 per 4 KiB segment. */
async function fill(s: MessageStore, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) await s.putMessage(message(TOPIC, i % QUEUES, 'x'.repeat(400), { KEYS: `k${i}` }));
  await s.flush();
}

async function segments(): Promise<string[]> {
  return (await fs.readdir(path.join(dir, 'commitlog'))).filter((n) => /^\d{20}$/.test(n)).sort();
}

async function cqFiles(queueId: number): Promise<string[]> {
  return (await fs.readdir(path.join(dir, 'consumequeue', TOPIC, String(queueId)))).filter((n) => /^\d{20}$/.test(n)).sort();
}

/** Make segment files look last written at `mtimeMs` (what a segment written days ago looks like). */
async function age(names: string[], mtimeMs: number): Promise<void> {
  for (const n of names) await fs.utimes(path.join(dir, 'commitlog', n), new Date(mtimeMs), new Date(mtimeMs));
}

beforeEach(async () => {
  dir = await tempDir('rocketctl-retention-');
  sleeps = [];
  nowMs = localTime(4, 10);
});

afterEach(async () => {
  await store?.close().catch(() => undefined);
  store = undefined;
  await removeDir(dir);
});

describe('commit log retention (CleanCommitLogService)', () => {
  it('deletes segments older than fileReservedTime at the deleteWhen hour, oldest first, with their queue and index files; min offsets move', async () => {
    const s = await open({ fileReservedTime: 72, deleteWhen: '04' });
    await fill(s, 60);
    const segs = await segments();
    expect(segs.length).toBeGreaterThanOrEqual(8);
    const indexBefore = s.index!.fileNames().length;
    const cqBefore = await cqFiles(0);
    expect(cqBefore.length).toBeGreaterThanOrEqual(3);
    // Three segments written 73 h before 04:10, the next two 71 h before, the rest recently.
    await age(segs.slice(0, 3), nowMs - 73 * HOUR_MS);
    await age(segs.slice(3, -1), nowMs - 71 * HOUR_MS);

    nowMs = localTime(3, 30);
    let r = await s.retention.runOnce();
    expect([r.timeup, r.spacefull, r.segmentsDeleted.length]).toEqual([false, false, 0]);
    expect(await segments()).toEqual(segs);

    nowMs = localTime(4, 10);
    r = await s.retention.runOnce();
    expect(r.timeup).toBe(true);
    expect(r.segmentsDeleted.map((d) => d.file)).toEqual(segs.slice(0, 3));
    expect(r.segmentsDeleted.every((d) => d.reason === 'expired' && d.trigger === 'deleteWhen' && d.ageMs >= 72 * HOUR_MS)).toBe(true);
    expect(await segments()).toEqual(segs.slice(3));
    const newMin = Number(segs[3]);
    expect(s.commitLogMinOffset()).toBe(newMin);
    expect(r.commitLogMinOffset).toBe(newMin);
    // deleteCommitLogFilesInterval (100 ms) between two deletions of the pass.
    expect(sleeps.filter((ms) => ms === 100).length).toBeGreaterThanOrEqual(2);

    // Consume queues: whole files below the new min gone, min offset = first unit still in the log.
    expect(r.consumeQueueFilesDeleted).toBeGreaterThan(0);
    expect((await cqFiles(0)).length).toBeLessThan(cqBefore.length);
    expect(r.indexFilesDeleted).toBeGreaterThan(0);
    expect(s.index!.fileNames().length).toBeLessThan(indexBefore);
    for (let q = 0; q < QUEUES; q++) {
      const min = s.getMinOffsetInQueue(TOPIC, q);
      expect(min).toBeGreaterThan(0);
      const first = await s.getMessage(TOPIC, q, min, 1);
      expect(first.status).toBe('FOUND');
      const unitBefore = s.consumeQueues.get(TOPIC, q)!.get(min - 1, 1)[0];
      expect(unitBefore).toBeUndefined(); // below min: not readable any more
      // A consumer behind the new min: OFFSET_TOO_SMALL, told to continue at min (PULL_OFFSET_MOVED).
      const behind = await s.getMessage(TOPIC, q, 0, 8);
      expect([behind.status, behind.nextBeginOffset, behind.minOffset]).toEqual(['OFFSET_TOO_SMALL', min, min]);
    }
    // A deleted message is gone from queries by key; a kept one is found.
    expect((await s.queryMessage(TOPIC, 'k0', 8, 0, Number.MAX_SAFE_INTEGER)).records).toHaveLength(0);
    expect((await s.queryMessage(TOPIC, 'k59', 8, 0, Number.MAX_SAFE_INTEGER)).records).toHaveLength(1);

    // Two hours later (not a deleteWhen hour, disk far from full): nothing, though two more expired.
    nowMs = localTime(6, 10);
    expect((await s.retention.runOnce()).segmentsDeleted).toHaveLength(0);

    // The next day at 04:10 everything has expired, but the segment being written stays.
    nowMs = localTime(4, 10, 1);
    const rest = await segments();
    await age(rest, nowMs - 100 * HOUR_MS);
    r = await s.retention.runOnce();
    expect(r.segmentsDeleted.map((d) => d.file)).toEqual(rest.slice(0, -1));
    expect(await segments()).toEqual(rest.slice(-1));
    await s.putMessage(message(TOPIC, 0, 'after retention'));

    // After a restart the min offsets stay where retention moved them (correctMinOffset on open).
    const mins = Array.from({ length: QUEUES }, (_, q) => s.getMinOffsetInQueue(TOPIC, q));
    const maxes = Array.from({ length: QUEUES }, (_, q) => s.getMaxOffsetInQueue(TOPIC, q));
    await s.close();
    const again = await open({ fileReservedTime: 72, deleteWhen: '04' });
    expect(again.report.truncatedFromOffset).toBeNull();
    expect(Array.from({ length: QUEUES }, (_, q) => again.getMinOffsetInQueue(TOPIC, q))).toEqual(mins);
    expect(Array.from({ length: QUEUES }, (_, q) => again.getMaxOffsetInQueue(TOPIC, q))).toEqual(maxes);
    const last = await again.getMessage(TOPIC, 0, maxes[0]! - 1, 1);
    expect(last.status).toBe('FOUND');
  });

  it(`deletes at most ${DELETE_FILES_BATCH_MAX} segments per pass and never past one it must keep`, async () => {
    const s = await open({ deleteWhen: '4;16' });
    await fill(s, 110);
    const segs = await segments();
    expect(segs.length).toBeGreaterThan(DELETE_FILES_BATCH_MAX + 2);
    await age(segs, nowMs - 80 * HOUR_MS);
    // A young segment in the middle: retention must stop before it (the log cannot have holes).
    await age([segs[DELETE_FILES_BATCH_MAX + 1]!], nowMs - HOUR_MS);
    let r = await s.retention.runOnce();
    expect(r.segmentsDeleted).toHaveLength(DELETE_FILES_BATCH_MAX);
    r = await s.retention.runOnce();
    expect(r.segmentsDeleted.map((d) => d.file)).toEqual([segs[DELETE_FILES_BATCH_MAX]]);
    expect((await segments())[0]).toBe(segs[DELETE_FILES_BATCH_MAX + 1]);
    // 16:xx is a deleteWhen hour too ("4;16").
    nowMs = localTime(16, 5);
    await age([segs[DELETE_FILES_BATCH_MAX + 1]!], nowMs - 73 * HOUR_MS);
    expect((await s.retention.runOnce()).segmentsDeleted.map((d) => d.file)).toContain(segs[DELETE_FILES_BATCH_MAX + 1]);
  });

  it('never deletes a segment whose data is not flushed yet', async () => {
    const s = await open({ flushIntervalCommitLog: 3_600_000 });
    // Written (ASYNC_FLUSH acknowledges once written) but not fdatasync'd: the flush timer is 1 h.
    await Promise.all(Array.from({ length: 30 }, (_, i) => s.putMessage(message(TOPIC, i % QUEUES, 'x'.repeat(400)))));
    const segs = await segments();
    expect(segs.length).toBeGreaterThan(2);
    expect(s.flushedOffset()).toBe(0);
    await age(segs, nowMs - 80 * HOUR_MS);
    expect((await s.retention.runOnce()).segmentsDeleted).toHaveLength(0);
    await s.flush();
    await age(segs, nowMs - 80 * HOUR_MS);
    expect((await s.retention.runOnce()).segmentsDeleted.length).toBe(segs.length - 1);
  });

  it('a manual request (DELETE_EXPIRED_COMMITLOG) deletes expired segments at any hour, for 20 passes', async () => {
    const s = await open();
    await fill(s, 30);
    const segs = await segments();
    await age(segs.slice(0, 2), localTime(10, 0) - 73 * HOUR_MS);
    nowMs = localTime(10, 0);
    expect((await s.retention.runOnce()).segmentsDeleted).toHaveLength(0);
    s.retention.executeDeleteFilesManually();
    const r = await s.retention.runOnce();
    expect([r.manual, r.segmentsDeleted.map((d) => d.trigger)]).toEqual([true, ['manual', 'manual']]);
    // Young segments stay: a manual request does not force anything.
    expect(await segments()).toEqual(segs.slice(2));
    for (let i = 0; i < 19; i++) expect((await s.retention.runOnce()).manual).toBe(true);
    expect((await s.retention.runOnce()).manual).toBe(false);
  });
});

describe('retention by disk use (isSpaceToDelete)', () => {
  it('over diskMaxUsedSpaceRatio deletes expired segments at any hour; over 85 % also young ones', async () => {
    const s = await open({ diskMaxUsedSpaceRatio: 60 });
    await fill(s, 50);
    const segs = await segments();
    nowMs = localTime(10, 0);
    await age(segs.slice(0, 2), nowMs - 73 * HOUR_MS);
    await age(segs.slice(2, -1), nowMs - HOUR_MS);

    io.otherUsedBytes = Math.round(DISK_BYTES * 0.5);
    expect((await s.retention.runOnce()).segmentsDeleted).toHaveLength(0);

    io.otherUsedBytes = Math.round(DISK_BYTES * 0.7); // over 60 %: expired ones go now
    let r = await s.retention.runOnce();
    expect(r.spacefull).toBe(true);
    expect(r.cleanAtOnce).toBe(false);
    expect(r.segmentsDeleted.map((d) => [d.file, d.reason, d.trigger])).toEqual(segs.slice(0, 2).map((f) => [f, 'expired', 'disk']));

    io.otherUsedBytes = Math.round(DISK_BYTES * 0.87); // over 85 %: the oldest go though young
    r = await s.retention.runOnce();
    expect(r.cleanAtOnce).toBe(true);
    expect(r.diskFull).toBe(false);
    expect(r.segmentsDeleted.length).toBe(Math.min(DELETE_FILES_BATCH_MAX, segs.length - 3));
    expect(r.segmentsDeleted.every((d) => d.reason === 'forced' && d.ageMs < 72 * HOUR_MS)).toBe(true);
    expect((await segments()).slice(-1)).toEqual(segs.slice(-1));
  });

  it('cleanFileForciblyEnable=false: near a full disk only expired segments go', async () => {
    const s = await open({ cleanFileForciblyEnable: false });
    await fill(s, 30);
    const segs = await segments();
    nowMs = localTime(10, 0);
    await age(segs.slice(0, 1), nowMs - 73 * HOUR_MS);
    await age(segs.slice(1, -1), nowMs - HOUR_MS);
    io.otherUsedBytes = Math.round(DISK_BYTES * 0.88);
    const r = await s.retention.runOnce();
    expect([r.spacefull, r.cleanAtOnce]).toEqual([true, false]);
    expect(r.segmentsDeleted.map((d) => d.file)).toEqual(segs.slice(0, 1));
  });

  it('over 90 % puts are refused (E_DISK_FULL) until a pass finds the disk at or below 90 % again', async () => {
    const s = await open({ cleanFileForciblyEnable: false });
    await fill(s, 4);
    nowMs = localTime(10, 0);
    io.otherUsedBytes = Math.round(DISK_BYTES * 0.95);
    expect((await s.retention.runOnce()).diskFull).toBe(true);
    await expect(s.putMessage(message(TOPIC, 0, 'refused'))).rejects.toBeInstanceOf(DiskSpaceFullError);
    await expect(s.putMessages([message(TOPIC, 1, 'refused too')])).rejects.toMatchObject({ code: 'E_DISK_FULL' });
    expect(s.getMaxOffsetInQueue(TOPIC, 0)).toBe(1);
    io.otherUsedBytes = Math.round(DISK_BYTES * 0.5);
    expect((await s.retention.runOnce()).diskFull).toBe(false);
    const ok = await s.putMessage(message(TOPIC, 0, 'accepted again'));
    expect(ok.queueOffset).toBe(1);
  });
});
