import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskFullError } from '../../src/errors/index.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { FaultyFileIO, faultSeedFromEnv, mulberry32 } from '../../src/broker/store/faulty-file-io.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { bodyFor, message, removeDir, sha1, smallConfig, tempDir } from './message-store.helpers.js';

/**
 * Fault injection through FaultyFileIO. Every assertion carries the seed; rerun a failure with
 * ROCKETCTL_FAULT_SEED=<seed>.
 */

const baseSeed = faultSeedFromEnv();
let dir: string;

beforeEach(async () => {
  dir = await tempDir();
});

afterEach(async () => {
  await removeDir(dir);
});

describe('FaultyFileIO', () => {
  it('shows unsynced writes, makes synced ones durable, and tears the rest on crash', async () => {
    const seed = baseSeed;
    const io = new FaultyFileIO({ seed });
    const p = path.join(dir, 'f');
    const h = await io.open(p, 'w+');
    await h.write(Buffer.from('durable!'), 0, 8, 0);
    await h.datasync();
    await h.write(Buffer.from('volatile'), 0, 8, 8);
    const buf = Buffer.alloc(16);
    expect(await h.read(buf, 0, 16, 0), `seed=${seed}`).toBe(16);
    expect(buf.toString(), `seed=${seed}`).toBe('durable!volatile');
    expect((await fs.readFile(p)).toString(), `seed=${seed}`).toBe('durable!');
    await io.fsyncDir(dir);
    const report = await io.crash();
    const after = (await fs.readFile(p)).toString();
    expect(after.startsWith('durable!'), `seed=${seed} ${JSON.stringify(report)}`).toBe(true);
    expect('durable!volatile'.startsWith(after) || after.length === 16, `seed=${seed}`).toBe(true);
    await expect(h.read(buf, 0, 1, 0)).rejects.toMatchObject({ code: 'ECRASHED' });
  });

  it('replays the same crash for the same seed', async () => {
    const outcomes: string[] = [];
    for (const sub of ['a', 'b']) {
      const d = path.join(dir, sub);
      await fs.mkdir(d);
      const io = new FaultyFileIO({ seed: baseSeed });
      for (let f = 0; f < 5; f++) {
        const h = await io.open(path.join(d, `f${f}`), 'w+');
        for (let i = 0; i < 10; i++) await h.write(Buffer.alloc(1000, i + 1), 0, 1000, i * 1000);
        await h.close();
      }
      const report = await io.crash();
      outcomes.push(JSON.stringify(report.files.map((x) => [path.basename(x.path), x.fate, x.opsKept])) + report.dirOpsUndone.length);
    }
    expect(outcomes[0], `seed=${baseSeed}`).toBe(outcomes[1]);
  });

  it('loses a created file whose directory was never fsynced, when the PRNG says so', async () => {
    let lost = 0;
    let kept = 0;
    for (let i = 0; i < 16; i++) {
      const seed = (baseSeed + i) >>> 0;
      const d = path.join(dir, `run${i}`);
      await fs.mkdir(d);
      const io = new FaultyFileIO({ seed });
      const synced = await io.open(path.join(d, 'synced'), 'w+');
      await synced.datasync();
      await io.fsyncDir(d);
      const h = await io.open(path.join(d, 'unsynced-entry'), 'w+');
      await h.write(Buffer.from('x'), 0, 1, 0);
      await h.datasync();
      await io.crash();
      expect(await fs.stat(path.join(d, 'synced')).then(() => true), `seed=${seed}`).toBe(true);
      if (await fs.stat(path.join(d, 'unsynced-entry')).then(() => true, () => false)) kept++;
      else lost++;
    }
    expect(lost + kept).toBe(16);
    expect(lost, `seed=${baseSeed}: some runs must lose the entry`).toBeGreaterThan(0);
  });

  it('mulberry32 is deterministic', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    for (let i = 0; i < 10; i++) expect(a()).toBe(b());
  });
});

describe('store on a full disk', () => {
  for (const flushDiskType of ['ASYNC_FLUSH', 'SYNC_FLUSH'] as const) {
    it(`${flushDiskType}: ENOSPC fails the appends it hits, keeps the store consistent, and appends work once space returns`, async () => {
      const seed = baseSeed;
      const io = new FaultyFileIO({ seed, enospcAfterBytes: 40_000 });
      const cfg = smallConfig(dir, { flushDiskType, mappedFileSizeCommitLog: 16 * 1024, flushIntervalConsumeQueue: 60_000 });
      const store = await MessageStore.open(cfg, { io });
      const acked = new Map<number, string>();
      let diskFull = 0;
      const puts = Array.from({ length: 80 }, (_, i) =>
        store.putMessage(message('Full', 0, bodyFor(i, 900))).then(
          (r) => acked.set(r.queueOffset, sha1(bodyFor(i, 900))),
          (err) => {
            expect(err, `seed=${seed}`).toBeInstanceOf(DiskFullError);
            diskFull++;
          },
        ),
      );
      await Promise.all(puts);
      expect(diskFull, `seed=${seed}`).toBeGreaterThan(0);
      expect(acked.size, `seed=${seed}`).toBeGreaterThan(0);
      // Acknowledged = readable, with consecutive queue offsets and no partial record.
      expect(store.getMaxOffsetInQueue('Full', 0), `seed=${seed}`).toBe(acked.size);
      const got = await store.getMessage('Full', 0, 0, 1000, undefined, 10_000_000);
      expect(got.records.length, `seed=${seed}`).toBe(Math.min(acked.size, 32));
      for (const rec of got.records) {
        const m = decodeRecord(rec, 0, { checkCrc: true });
        expect(sha1(m.body), `seed=${seed}`).toBe(acked.get(m.queueOffset));
      }
      expect(await store.readRecord(store.commitLogMaxOffset())).toBeUndefined();
      // Space comes back: appends continue at the next queue offset.
      io.enospcAfterBytes = undefined;
      const after = await store.putMessage(message('Full', 0, bodyFor(1000, 900)));
      expect(after.queueOffset, `seed=${seed}`).toBe(acked.size);
      acked.set(after.queueOffset, sha1(bodyFor(1000, 900)));
      await store.close();

      const reopened = await MessageStore.open(cfg);
      try {
        expect(reopened.getMaxOffsetInQueue('Full', 0), `seed=${seed}`).toBe(acked.size);
        for (const [q, hash] of acked) {
          const rec = (await reopened.getMessage('Full', 0, q, 1)).records[0]!;
          expect(sha1(decodeRecord(rec, 0, { checkCrc: true }).body), `seed=${seed} q=${q}`).toBe(hash);
        }
      } finally {
        await reopened.close();
      }
    });
  }
});

describe('power loss under SYNC_FLUSH (FaultyFileIO.crash)', () => {
  it('keeps every acknowledged message byte-identical and no partial record, across seeds', async () => {
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const seed = (baseSeed + round * 7919) >>> 0;
      const rng = mulberry32(seed);
      const d = path.join(dir, `r${round}`);
      const cfg = smallConfig(d, {
        flushDiskType: 'SYNC_FLUSH',
        mappedFileSizeCommitLog: 8 * 1024,
        mappedFileSizeConsumeQueue: 20 * 16,
        flushIntervalConsumeQueue: 20,
        messageIndexEnable: true,
      });
      // A few lives per round: crash, recover, write more, crash again.
      const acked = new Map<number, { hash: string; queueId: number; queueOffset: number }>();
      for (let life = 0; life < 3; life++) {
        const io = new FaultyFileIO({ seed: (seed + life) >>> 0 });
        const store = await MessageStore.open(cfg, { io });
        const ctx = `seed=${seed} life=${life}`;
        checkReport(store, ctx);
        await verifyAcked(store, acked, ctx);
        const crashAfter = 20 + Math.floor(rng() * 150);
        // Even lives cut the power when a poll notices the threshold; odd lives right after a
        // commit log write, so unsynced bytes of records in flight are torn or lost.
        const atWrite = life % 2 === 1;
        let thresholdReached = false;
        let crashing: Promise<unknown> | undefined;
        let n = 0;
        const appender = async (w: number): Promise<void> => {
          for (let i = 0; i < 10_000 && !crashing; i++) {
            const id = life * 1_000_000 + w * 10_000 + i;
            const body = bodyFor(id, 50 + ((id * 37) % 400));
            try {
              const r = await store.putMessage(message('Crash', w % 3, body, { KEYS: `k${id}` }));
              acked.set(r.commitLogOffset, { hash: sha1(body), queueId: w % 3, queueOffset: r.queueOffset });
              if (++n >= crashAfter) thresholdReached = true;
            } catch {
              return; // the crash fenced the store
            }
          }
        };
        if (atWrite) {
          io.afterWrite = (p) => {
            if (thresholdReached && !crashing && p.includes(`${path.sep}commitlog${path.sep}`)) crashing = io.crash();
          };
        }
        const appenders = Array.from({ length: 16 }, (_, w) => appender(w));
        for (let i = 0; i < 3000 && !crashing && !(thresholdReached && !atWrite); i++) await new Promise((r) => setTimeout(r, 2));
        crashing ??= io.crash();
        await crashing;
        store.halt();
        await Promise.all(appenders);
      }
      const io = new FaultyFileIO({ seed: (seed + 99) >>> 0 });
      const store = await MessageStore.open(cfg, { io });
      checkReport(store, `seed=${seed} final`);
      await verifyAcked(store, acked, `seed=${seed} final`);
      await store.close();
    }
  });
});

function checkReport(store: MessageStore, ctx: string): void {
  const r = store.report;
  expect(r.queueGaps, ctx).toEqual([]);
  expect(r.commitLogMaxOffset, ctx).toBe(store.commitLogMaxOffset());
  if (r.truncatedFromOffset !== null) {
    expect(r.truncatedFromOffset, ctx).toBe(r.commitLogMaxOffset);
    expect(r.truncateReason, ctx).not.toBeNull();
  }
  expect(store.stats().dispatchErrors, ctx).toBe(0);
  if (process.env.DEBUG_FAULTS) console.log(ctx, JSON.stringify({ ...r, durationMs: undefined }));
}

/** Every acknowledged record is present, intact and in its queue; queues hold only whole records. */
async function verifyAcked(
  store: MessageStore,
  acked: Map<number, { hash: string; queueId: number; queueOffset: number }>,
  ctx: string,
): Promise<void> {
  for (const [offset, want] of acked) {
    const raw = await store.readRecord(offset);
    expect(raw, `${ctx} offset=${offset} missing`).toBeDefined();
    const m = decodeRecord(raw!, 0, { checkCrc: true });
    expect(sha1(m.body), `${ctx} offset=${offset}`).toBe(want.hash);
    expect([m.queueId, m.queueOffset], `${ctx} offset=${offset}`).toEqual([want.queueId, want.queueOffset]);
    const viaQueue = await store.getMessage('Crash', want.queueId, want.queueOffset, 1);
    expect(viaQueue.records[0]?.equals(raw!), `${ctx} queue ${want.queueId}@${want.queueOffset}`).toBe(true);
  }
  for (let q = 0; q < 3; q++) {
    const max = store.getMaxOffsetInQueue('Crash', q);
    for (let o = Math.max(0, store.getMinOffsetInQueue('Crash', q)); o < max; ) {
      const got = await store.getMessage('Crash', q, o, 32);
      expect(got.status, `${ctx} queue ${q}@${o}`).toBe('FOUND');
      for (const rec of got.records) {
        let m: ReturnType<typeof decodeRecord>;
        try {
          m = decodeRecord(rec, 0, { checkCrc: true });
        } catch (err) {
          // The consume queue unit's size does not fit the record at its offset: say where (and the seed).
          throw new Error(`${ctx} queue ${q}@${o}: ${(err as Error).message}`);
        }
        expect(m.queueOffset, `${ctx} queue ${q}`).toBe(o++);
      }
    }
  }
}

describe('power loss under ASYNC_FLUSH (FaultyFileIO.crash)', () => {
  it('leaves a consistent store: whole records only, queues agree, flushed messages kept', async () => {
    for (let round = 0; round < 4; round++) {
      const seed = (baseSeed + 104729 * (round + 1)) >>> 0;
      const rng = mulberry32(seed);
      const d = path.join(dir, `a${round}`);
      const cfg = smallConfig(d, {
        flushDiskType: 'ASYNC_FLUSH',
        mappedFileSizeCommitLog: 8 * 1024,
        mappedFileSizeConsumeQueue: 20 * 16,
        flushIntervalCommitLog: 5 + Math.floor(rng() * 30),
        flushIntervalConsumeQueue: 10 + Math.floor(rng() * 40),
        messageIndexEnable: true,
      });
      // Acks known durable: acknowledged before a store.flush() that completed.
      const durable = new Map<number, { hash: string; queueId: number; queueOffset: number }>();
      for (let life = 0; life < 3; life++) {
        const io = new FaultyFileIO({ seed: (seed + life) >>> 0 });
        const store = await MessageStore.open(cfg, { io });
        const ctx = `seed=${seed} life=${life}`;
        checkReport(store, ctx);
        await verifyAcked(store, durable, ctx);
        const acked = new Map<number, { hash: string; queueId: number; queueOffset: number }>();
        let crashing: Promise<unknown> | undefined;
        const appender = async (w: number): Promise<void> => {
          for (let i = 0; i < 10_000 && !crashing; i++) {
            const id = life * 1_000_000 + w * 10_000 + i;
            const body = bodyFor(id, 40 + ((id * 53) % 700));
            try {
              const r = await store.putMessage(message('Crash', w % 3, body, { KEYS: `k${id}` }));
              acked.set(r.commitLogOffset, { hash: sha1(body), queueId: w % 3, queueOffset: r.queueOffset });
            } catch {
              return;
            }
          }
        };
        const appenders = Array.from({ length: 24 }, (_, w) => appender(w));
        await new Promise((r) => setTimeout(r, 10 + rng() * 40));
        const snapshot = new Map(acked);
        const flushed = await store.flush().then(
          () => true,
          () => false,
        );
        if (flushed && !io.isCrashed()) for (const [k, v] of snapshot) durable.set(k, v);
        await new Promise((r) => setTimeout(r, rng() * 30));
        io.afterWrite = (p) => {
          if (!crashing && rng() < 0.2) crashing = io.crash();
          void p;
        };
        for (let i = 0; i < 500 && !crashing; i++) await new Promise((r) => setTimeout(r, 2));
        crashing ??= io.crash();
        await crashing;
        store.halt();
        await Promise.all(appenders);
      }
      const store = await MessageStore.open(cfg, { io: new FaultyFileIO({ seed: (seed + 99) >>> 0 }) });
      checkReport(store, `seed=${seed} final`);
      await verifyAcked(store, durable, `seed=${seed} final`);
      await store.close();
    }
  });
});
