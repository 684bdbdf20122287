import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptStoreError } from '../../src/errors/index.js';
import { javaHashCode } from '../../src/protocol/hash.js';
import {
  CQ_FILLER_SIZE,
  ConsumeQueue,
  ConsumeQueueStore,
  cqFileName,
  readCqUnit,
  writeCqUnit,
} from '../../src/broker/store/consume-queue.js';
import type { FileHandle, FileIO, OpenMode } from '../../src/broker/store/file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import type { CqUnit } from '../../src/broker/store/types.js';

const io = new NodeFileIO();
/** Tiny files (10 units) so a few puts cross file boundaries. */
const FILE_SIZE_BYTES = 200;

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-cq-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function readHexFixture(name: string): Buffer {
  const text = readFileSyncText(path.join('fixtures', 'golden', name));
  const hex = text
    .split('\n')
    .map((l) => l.replace(/#.*/, ''))
    .join('')
    .replace(/\s+/g, '');
  return Buffer.from(hex, 'hex');
}

function readFileSyncText(p: string): string {
  return readFileSync(p, 'utf8');
}

/** Unit n points at commit log offset n*100 with size 100 and a tag hash of n. */
function unitFor(n: number): CqUnit {
  return { commitLogOffset: n * 100, size: 100, tagsCode: n };
}

function queueDir(topic: string, queueId: number): string {
  return path.join(root, 'consumequeue', topic, String(queueId));
}

async function newStore(): Promise<ConsumeQueueStore> {
  const store = new ConsumeQueueStore(root, FILE_SIZE_BYTES, io);
  await store.load();
  return store;
}

describe('consume queue unit format (ConsumeQueue.CQ_STORE_UNIT_SIZE)', () => {
  it('matches the hand-written golden bytes, negative tagsCode sign-extended', async () => {
    const golden = readHexFixture('consume-queue-units.hex');
    expect(golden.length).toBe(40);
    expect(javaHashCode('TagA')).toBe(2598919);
    const units: CqUnit[] = [
      { commitLogOffset: 1073741824, size: 250, tagsCode: javaHashCode('TagA') },
      { commitLogOffset: 4294967546, size: 1024, tagsCode: -559038737 },
    ];
    const buf = Buffer.alloc(40);
    writeCqUnit(buf, 0, units[0]!);
    writeCqUnit(buf, 20, units[1]!);
    expect(buf.toString('hex')).toBe(golden.toString('hex'));
    expect(readCqUnit(golden, 20)).toEqual(units[1]);

    // The same bytes land on disk, in a full-size file named by its first byte offset.
    const store = await newStore();
    const cq = store.findOrCreate('TopicTest', 0);
    cq.put(0, units[0]!);
    cq.put(1, units[1]!);
    await store.close();
    const file = await fs.readFile(path.join(queueDir('TopicTest', 0), '00000000000000000000'));
    expect(file.length).toBe(FILE_SIZE_BYTES);
    expect(file.subarray(0, 40).toString('hex')).toBe(golden.toString('hex'));
    expect(file.subarray(40).every((b) => b === 0)).toBe(true);
  });

  it('reads a golden file placed by hand', async () => {
    const golden = readHexFixture('consume-queue-units.hex');
    await fs.mkdir(queueDir('T', 3), { recursive: true });
    const file = Buffer.alloc(FILE_SIZE_BYTES);
    golden.copy(file);
    await fs.writeFile(path.join(queueDir('T', 3), '00000000000000000000'), file);
    const store = await newStore();
    const cq = store.get('T', 3)!;
    expect(cq.minOffset()).toBe(0);
    expect(cq.maxOffset()).toBe(2);
    expect(cq.get(0, 10).map((u) => u.tagsCode)).toEqual([2598919, -559038737]);
    expect(cq.maxCommitLogEnd()).toBe(4294967546 + 1024);
  });
});

describe('ConsumeQueue', () => {
  it('puts and gets across file boundaries; get sees unflushed units', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 25; i++) cq.put(i, unitFor(i));
    expect(cq.maxOffset()).toBe(25);
    // Nothing written yet: put never touches the disk.
    expect(await io.readdir(queueDir('T', 0))).toEqual([]);
    expect(cq.get(8, 5)).toEqual([8, 9, 10, 11, 12].map(unitFor));
    expect(cq.get(23, 32)).toEqual([unitFor(23), unitFor(24)]);
    expect(cq.get(25, 32)).toEqual([]);
    await store.flush();
    expect((await io.readdir(queueDir('T', 0))).sort()).toEqual([cqFileName(0), cqFileName(200), cqFileName(400)]);
    expect(cqFileName(400)).toBe('00000000000000000400');
    for (const name of await io.readdir(queueDir('T', 0))) {
      expect((await fs.stat(path.join(queueDir('T', 0), name))).size).toBe(FILE_SIZE_BYTES);
    }
    // Unit 12 sits in the second file at byte 40.
    const second = await fs.readFile(path.join(queueDir('T', 0), cqFileName(200)));
    expect(readCqUnit(second, 40)).toEqual(unitFor(12));
    await store.close();
  });

  it('reloads from disk equal to before, and keeps appending', async () => {
    const store = await newStore();
    for (const q of [0, 1]) {
      const cq = store.findOrCreate('T', q);
      for (let i = 0; i < 17 + q; i++) cq.put(i, unitFor(i + q * 1000));
    }
    const before = [0, 1].map((q) => store.get('T', q)!.get(0, 100));
    await store.close();

    const again = await newStore();
    expect(again.topics()).toEqual(['T']);
    expect([0, 1].map((q) => again.get('T', q)!.get(0, 100))).toEqual(before);
    expect(again.get('T', 1)!.maxOffset()).toBe(18);
    const cq = again.get('T', 0)!;
    cq.put(17, unitFor(17));
    cq.put(18, unitFor(18));
    await again.close();
    const third = await newStore();
    expect(third.get('T', 0)!.get(15, 10)).toEqual([15, 16, 17, 18].map(unitFor));
    await third.close();
  });

  it('ignores repeated dispatches and refuses gaps', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 3; i++) cq.put(i, unitFor(i));
    cq.put(1, unitFor(99));
    expect(cq.get(1, 1)).toEqual([unitFor(1)]);
    expect(() => cq.put(5, unitFor(5))).toThrow(CorruptStoreError);
    expect(cq.maxOffset()).toBe(3);
    await store.close();
  });

  it('drops a torn tail on load: a zero-size unit, garbage after it, and later files', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 15; i++) cq.put(i, unitFor(i + 1));
    await store.close();
    const dir = queueDir('T', 0);
    // Tear unit 12 (second file, byte 40): its commit log offset was written, size/tags were not.
    const second = path.join(dir, cqFileName(200));
    const buf = await fs.readFile(second);
    buf.fill(0, 48, 60);
    await fs.writeFile(second, buf);
    // A stray third file (as if written ahead of the torn one).
    const third = Buffer.alloc(FILE_SIZE_BYTES);
    writeCqUnit(third, 0, unitFor(50));
    await fs.writeFile(path.join(dir, cqFileName(400)), third);

    const again = new ConsumeQueueStore(root, FILE_SIZE_BYTES, io);
    const report = await again.load();
    expect(report.torn).toHaveLength(1);
    expect(report.torn[0]).toMatchObject({ queue: 'T/0', unitsDropped: 3, filesDropped: [cqFileName(400)] });
    const re = again.get('T', 0)!;
    expect(re.maxOffset()).toBe(12);
    expect(re.get(0, 100)).toEqual(Array.from({ length: 12 }, (_, i) => unitFor(i + 1)));
    // The next flush zeroes the cut bytes and deletes the stray file.
    await again.flush();
    const after = await fs.readFile(second);
    expect(after.subarray(40).every((b) => b === 0)).toBe(true);
    expect((await io.readdir(dir)).sort()).toEqual([cqFileName(0), cqFileName(200)]);
    re.put(12, unitFor(13));
    await again.close();
    const third2 = await newStore();
    expect(third2.get('T', 0)!.maxOffset()).toBe(13);
    await third2.close();
  });

  it('drops a partial unit and out-of-order units on load', async () => {
    const dir = queueDir('T', 0);
    await fs.mkdir(dir, { recursive: true });
    const file = Buffer.alloc(FILE_SIZE_BYTES);
    writeCqUnit(file, 0, unitFor(1));
    writeCqUnit(file, 20, unitFor(2));
    writeCqUnit(file, 40, unitFor(1)); // goes backwards: garbage
    writeCqUnit(file, 60, unitFor(4));
    await fs.writeFile(path.join(dir, cqFileName(0)), file);
    // A file cut short mid-unit (e.g. a copy interrupted) in another queue.
    await fs.mkdir(queueDir('T', 1), { recursive: true });
    await fs.writeFile(path.join(queueDir('T', 1), cqFileName(0)), file.subarray(0, 30));

    const store = new ConsumeQueueStore(root, FILE_SIZE_BYTES, io);
    const report = await store.load();
    expect(store.get('T', 0)!.maxOffset()).toBe(2);
    expect(store.get('T', 1)!.maxOffset()).toBe(1);
    expect(report.torn.map((t) => t.queue).sort()).toEqual(['T/0', 'T/1']);
    store.get('T', 1)!.put(1, unitFor(2));
    await store.close();
    // The short file was extended to its full size.
    expect((await fs.stat(path.join(queueDir('T', 1), cqFileName(0)))).size).toBe(FILE_SIZE_BYTES);
    const again = await newStore();
    expect(again.get('T', 1)!.get(0, 10)).toEqual([unitFor(1), unitFor(2)]);
    expect(again.get('T', 0)!.get(0, 10)).toEqual([unitFor(1), unitFor(2)]);
    await again.close();
  });

  it('a failed flush loses nothing: the next flush writes it; puts during a flush are kept', async () => {
    let failures = 1;
    const flaky: FileIO = Object.assign(Object.create(io) as FileIO, {
      open: async (p: string, mode: OpenMode): Promise<FileHandle> => {
        const h = await io.open(p, mode);
        return Object.assign(Object.create(h) as FileHandle, {
          writev: async (bufs: Buffer[], pos: number) => {
            if (failures > 0) {
              failures--;
              throw Object.assign(new Error('injected EIO'), { code: 'EIO' });
            }
            return h.writev(bufs, pos);
          },
        });
      },
    });
    const store = new ConsumeQueueStore(root, FILE_SIZE_BYTES, flaky);
    await store.load();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 5; i++) cq.put(i, unitFor(i));
    await expect(store.flush()).rejects.toThrow(/injected/);
    const flushing = store.flush();
    for (let i = 5; i < 12; i++) cq.put(i, unitFor(i));
    await flushing;
    await store.close();
    const again = await newStore();
    expect(again.get('T', 0)!.get(0, 100)).toEqual(Array.from({ length: 12 }, (_, i) => unitFor(i)));
    await again.close();
  });

  it('refuses files of another size (mappedFileSizeConsumeQueue changed)', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 15; i++) cq.put(i, unitFor(i));
    await store.close();
    const bigger = new ConsumeQueueStore(root, FILE_SIZE_BYTES * 2, io);
    await expect(bigger.load()).rejects.toThrow(CorruptStoreError);
    const smaller = new ConsumeQueueStore(root, FILE_SIZE_BYTES / 2, io);
    await expect(smaller.load()).rejects.toThrow(/mappedFileSizeConsumeQueue/);
  });

  it('truncateByCommitLogOffset cuts the tail in memory and on disk', async () => {
    const store = await newStore();
    const a = store.findOrCreate('A', 0);
    const b = store.findOrCreate('B', 0);
    for (let i = 0; i < 25; i++) a.put(i, unitFor(i));
    for (let i = 0; i < 5; i++) b.put(i, unitFor(i));
    await store.flush();
    expect(store.maxCommitLogEnd()).toBe(2500);

    // Units at 1050 and beyond point past the recovered commit log end.
    const r = store.truncateByCommitLogOffset(1050);
    expect(r).toEqual({ queuesTouched: ['A/0'], unitsDropped: 14 });
    expect(a.maxOffset()).toBe(11);
    expect(a.get(9, 10)).toEqual([unitFor(9), unitFor(10)]);
    expect(store.maxCommitLogEnd()).toBe(1100);
    await store.close();

    expect((await io.readdir(queueDir('A', 0))).sort()).toEqual([cqFileName(0), cqFileName(200)]);
    const again = await newStore();
    expect(again.get('A', 0)!.maxOffset()).toBe(11);
    expect(again.get('B', 0)!.maxOffset()).toBe(5);
    // Cutting at a file boundary leaves an empty current file; truncating everything empties the queue.
    expect(again.get('A', 0)!.truncateByCommitLogOffset(1000)).toBe(1);
    expect(again.get('A', 0)!.maxOffset()).toBe(10);
    again.get('A', 0)!.put(10, unitFor(10));
    expect(again.get('B', 0)!.truncateByCommitLogOffset(0)).toBe(5);
    expect(again.get('B', 0)!.maxCommitLogEnd()).toBe(-1);
    await again.close();
    const third = await newStore();
    expect(third.get('A', 0)!.get(0, 100)).toEqual(Array.from({ length: 11 }, (_, i) => unitFor(i)));
    expect(third.get('B', 0)!.maxOffset()).toBe(0);
    await third.close();
  });

  it('a queue starting mid-way is filled with (0, MAX_INT, 0) units and keeps its min offset', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    expect(cq.minOffset()).toBe(0);
    expect(cq.maxOffset()).toBe(0);
    cq.put(25, unitFor(25));
    cq.put(26, unitFor(26));
    expect(cq.minOffset()).toBe(25);
    expect(cq.maxOffset()).toBe(27);
    expect(cq.get(0, 100)).toEqual([unitFor(25), unitFor(26)]);
    await store.close();
    const file = await fs.readFile(path.join(queueDir('T', 0), cqFileName(400)));
    expect(readCqUnit(file, 0)).toEqual({ commitLogOffset: 0, size: CQ_FILLER_SIZE, tagsCode: 0 });
    expect(file.subarray(0, 20).toString('hex')).toBe('0000000000000000' + '7fffffff' + '0000000000000000');
    expect(readCqUnit(file, 100)).toEqual(unitFor(25));

    const again = await newStore();
    const re = again.get('T', 0)!;
    expect(re.minOffset()).toBe(25);
    expect(re.maxOffset()).toBe(27);
    // Filler units are not messages: a cut to 0 stops at them.
    expect(re.truncateByCommitLogOffset(0)).toBe(2);
    expect(re.minOffset()).toBe(25);
    expect(re.maxOffset()).toBe(25);
    await again.close();

    // A queue whose units were all cut (recovery from a log whose old segments are gone) may
    // start again further on.
    const third = await newStore();
    const b = third.findOrCreate('B', 0);
    for (let i = 0; i < 12; i++) b.put(i, unitFor(i));
    await third.flush();
    b.truncateByCommitLogOffset(0);
    b.put(33, unitFor(33));
    expect([b.minOffset(), b.maxOffset()]).toEqual([33, 34]);
    await third.close();
    expect(await io.readdir(queueDir('B', 0))).toEqual([cqFileName(600)]);
    const fourth = await newStore();
    expect(fourth.get('B', 0)!.get(0, 100)).toEqual([unitFor(33)]);
    await fourth.close();
  });

  it('deleteExpiredFiles removes whole files below the commit log min and moves minOffset', async () => {
    const store = await newStore();
    const cq = store.findOrCreate('T', 0);
    for (let i = 0; i < 25; i++) cq.put(i, unitFor(i));
    await store.flush();
    // Commit log now starts at 1250: file 0 (units 0..9, offsets ..900) goes; file 1 stays.
    expect(await store.deleteExpiredFiles(1250)).toBe(1);
    expect(cq.minOffset()).toBe(13);
    expect(cq.get(13, 3)).toEqual([13, 14, 15].map(unitFor));
    expect(cq.get(0, 14)).toEqual([unitFor(13)]); // below min: only what exists in the window
    expect(await io.readdir(queueDir('T', 0))).not.toContain(cqFileName(0));
    await store.close();
    const again = await newStore();
    // After a restart min is the first file's start (the commit log min is the facade's to apply).
    expect(again.get('T', 0)!.minOffset()).toBe(10);
    expect(again.get('T', 0)!.maxOffset()).toBe(25);
    await again.close();
  });

  it('deleteTopic forgets the queues and removes the directory', async () => {
    const store = await newStore();
    store.findOrCreate('Gone', 0).put(0, unitFor(0));
    store.findOrCreate('Kept', 0).put(0, unitFor(0));
    await store.flush();
    await store.deleteTopic('Gone');
    expect(store.topics()).toEqual(['Kept']);
    expect(await io.exists(path.join(root, 'consumequeue', 'Gone'))).toBe(false);
    await store.close();
  });
});

describe('searchOffsetByTimestamp (closest store time)', () => {
  /** Queue of units whose store times are `times` (offset i → commit log offset i*100). */
  async function queueWithTimes(times: number[], startAt = 0): Promise<[ConsumeQueue, (u: CqUnit) => Promise<number>]> {
    const cq = new ConsumeQueue('T', 0, root, FILE_SIZE_BYTES, io);
    times.forEach((_, i) => cq.put(startAt + i, unitFor(startAt + i)));
    const byOffset = new Map(times.map((t, i) => [(startAt + i) * 100, t]));
    return [cq, async (u) => byOffset.get(u.commitLogOffset) ?? -1];
  }

  it('exact match wins (the first of equal times), else the nearer neighbour, ties to the earlier', async () => {
    const [cq, at] = await queueWithTimes([1000, 2000, 2000, 3000, 5000]);
    expect(await cq.searchOffsetByTimestamp(2000, at)).toBe(1);
    expect(await cq.searchOffsetByTimestamp(1000, at)).toBe(0);
    expect(await cq.searchOffsetByTimestamp(5000, at)).toBe(4);
    expect(await cq.searchOffsetByTimestamp(2500, at)).toBe(1); // tie 2000/3000 → earlier, first of the 2000s
    expect(await cq.searchOffsetByTimestamp(2400, at)).toBe(1);
    expect(await cq.searchOffsetByTimestamp(2600, at)).toBe(3);
    expect(await cq.searchOffsetByTimestamp(4000, at)).toBe(3); // tie 3000/5000 → earlier
    expect(await cq.searchOffsetByTimestamp(4001, at)).toBe(4);
    expect(await cq.searchOffsetByTimestamp(1400, at)).toBe(0);
  });

  it('out-of-range timestamps clamp to the first and last unit', async () => {
    const [cq, at] = await queueWithTimes([1000, 2000, 3000], 25);
    expect(await cq.searchOffsetByTimestamp(0, at)).toBe(25);
    expect(await cq.searchOffsetByTimestamp(99_999, at)).toBe(27);
  });

  it('empty queue answers maxOffset; unreadable messages count as older than anything', async () => {
    const empty = new ConsumeQueue('T', 1, root, FILE_SIZE_BYTES, io);
    expect(await empty.searchOffsetByTimestamp(1000, async () => 1)).toBe(0);
    const [cq, at] = await queueWithTimes([-1, -1, 2000, 3000]);
    expect(await cq.searchOffsetByTimestamp(500, at)).toBe(2);
    expect(await cq.searchOffsetByTimestamp(2900, at)).toBe(3);
    const [gone, none] = await queueWithTimes([-1, -1]);
    expect(await gone.searchOffsetByTimestamp(500, none)).toBe(2);
  });

  it('agrees with a linear scan on random monotonic times', async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 20; round++) {
      const times: number[] = [];
      let t = 1000;
      for (let i = 0, n = 1 + rand(40); i < n; i++) times.push((t += rand(3) * 10));
      const [cq, at] = await queueWithTimes(times);
      for (let probe = 0; probe < 10; probe++) {
        const ts = 990 + rand(t - 970);
        const exact = times.indexOf(ts);
        let best = 0;
        for (let i = 1; i < times.length; i++) if (Math.abs(times[i]! - ts) < Math.abs(times[best]! - ts)) best = i;
        const want = exact >= 0 ? exact : best;
        expect(await cq.searchOffsetByTimestamp(ts, at), `seed round ${round} ts ${ts} times ${times.join(',')}`).toBe(want);
      }
    }
  });
});

describe('resident window (older units read back from the files)', () => {
  /** 100 units per file; each file keeps 8 flushed units behind its tail. */
  const BIG_FILE_BYTES = 2000;
  const WINDOW_UNITS = 8;

  /** NodeFileIO without readRangeSync: the store must keep every unit in memory. */
  function asyncOnlyIO(): FileIO {
    const real = new NodeFileIO();
    const { readRangeSync: _omit, ...rest } = Object.fromEntries(
      Object.getOwnPropertyNames(NodeFileIO.prototype)
        .filter((k) => k !== 'constructor')
        .map((k) => [k, (real as unknown as Record<string, (...a: unknown[]) => unknown>)[k]!.bind(real)]),
    ) as unknown as FileIO & { readRangeSync?: unknown };
    return rest as FileIO;
  }

  async function fill(cq: ConsumeQueue, from: number, to: number, flushEvery: number): Promise<void> {
    for (let i = from; i < to; i++) {
      cq.put(i, unitFor(i));
      if ((i + 1) % flushEvery === 0) await cq.flush();
    }
    await cq.flush();
  }

  /** Every single unit, every run crossing the resident boundary, and runs across files read right. */
  function expectReadsRight(cq: ConsumeQueue, min: number, max: number): void {
    for (let o = min; o < max; o++) expect(cq.unitAt(o), `unit ${o}`).toEqual(unitFor(o));
    for (let o = min; o < max; o += 7) {
      const n = Math.min(33, max - o);
      expect(cq.get(o, 33), `get(${o}, 33)`).toEqual(Array.from({ length: n }, (_, i) => unitFor(o + i)));
    }
    expect(cq.get(min, max - min)).toEqual(Array.from({ length: max - min }, (_, i) => unitFor(min + i)));
    for (const target of [0, 1, 50 * 100, 50 * 100 + 1, (max - 1) * 100, max * 100]) {
      const want = Math.min(max, Math.max(min, Math.ceil(target / 100)));
      expect(cq.offsetOfCommitLogOffset(target), `offsetOfCommitLogOffset(${target})`).toBe(want);
    }
    expect(cq.maxCommitLogEnd()).toBe((max - 1) * 100 + 100);
  }

  it('keeps only the tail of the last file in memory and reads older units from disk', async () => {
    const cq = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, io, WINDOW_UNITS);
    await fill(cq, 0, 350, 5);
    // Files 0-2 are full and not last: nothing resident. File 3 (50 units) keeps at most its
    // unflushed units plus 2 windows before a trim, in a power-of-two buffer.
    expect(cq.residentBytes()).toBeLessThanOrEqual(64 * 20);
    expectReadsRight(cq, 0, 350);
    // New units go on being readable at once, before any flush.
    for (let i = 350; i < 357; i++) cq.put(i, unitFor(i));
    expectReadsRight(cq, 0, 357);
    await cq.close();

    // Reopened: the same, with the same small memory.
    const again = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, io, WINDOW_UNITS);
    expect((await again.load()).units).toBe(357);
    expect(again.residentBytes()).toBeLessThanOrEqual(64 * 20);
    expectReadsRight(again, 0, 357);
    await again.close();
  });

  it('a truncation below the resident part cuts the right units; later puts and a reopen agree', async () => {
    const cq = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, io, WINDOW_UNITS);
    await fill(cq, 0, 290, 5);
    // Cut at unit 130 (commit log offset 13000): inside file 1, far below file 2's resident tail.
    expect(cq.truncateByCommitLogOffset(13_000)).toBe(160);
    expect(cq.maxOffset()).toBe(130);
    expectReadsRight(cq, 0, 130);
    await fill(cq, 130, 260, 5);
    expectReadsRight(cq, 0, 260);
    await cq.close();
    const again = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, io, WINDOW_UNITS);
    const loaded = await again.load();
    expect(loaded.units).toBe(260);
    expect(loaded.unitsDropped).toBe(0);
    expectReadsRight(again, 0, 260);
    await again.close();
  });

  it('deleting expired files and moving min work on units that are only on disk', async () => {
    const cq = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, io, WINDOW_UNITS);
    await fill(cq, 0, 250, 5);
    expect(await cq.deleteExpiredFiles(150 * 100 + 50)).toBe(1);
    expect(cq.minOffset()).toBe(151);
    expectReadsRight(cq, 151, 250);
    await cq.close();
  });

  it('without synchronous reads (fault-injecting and dry-run layers) every unit stays in memory', async () => {
    const cq = new ConsumeQueue('T', 0, root, BIG_FILE_BYTES, asyncOnlyIO(), WINDOW_UNITS);
    await fill(cq, 0, 350, 5);
    expect(cq.residentBytes()).toBeGreaterThanOrEqual(350 * 20);
    expectReadsRight(cq, 0, 350);
    await cq.close();
  });
});
