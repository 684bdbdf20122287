/**
 * Synchronous commit-log I/O where the FileIO offers it (issue 14), asynchronous otherwise.
 *
 * Appends are written synchronously once their segment is open (writevSync): the bytes are in the
 * page cache when the append completes, as after Apache's copy into the mapped file
 * (DefaultAppendMessageCallback#doAppend at 4.9.8); a segment being created, or a FileIO without
 * writevSync, is written asynchronously as before.
 *
 * Pulls inside the in-memory window read the commit log synchronously when the FileIO offers
 * `readSync` (issue 14; Apache reads such data from its mapped commit log:
 * DefaultMessageStore#getMessage -> CommitLog#getMessage at 4.9.8), and asynchronously otherwise:
 * behind the window (DefaultMessageStore#checkInDiskByCommitOffset), without readSync (the
 * fault-injecting and dry-run layers), or past the per-pull byte bound. Real stores in temp dirs.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileHandle, FileIO, OpenMode } from '../../src/broker/store/file-io.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import type { StoreConfig } from '../../src/broker/store/types.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { bodyFor, message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

/** Commit-log reads and writes seen by a CountingIO. */
interface Counts {
  asyncReads: number;
  syncReads: number;
  /** Largest single synchronous read, bytes. */
  maxSyncBytes: number;
  asyncWrites: number;
  syncWrites: number;
}

const ZERO_COUNTS: Counts = { asyncReads: 0, syncReads: 0, maxSyncBytes: 0, asyncWrites: 0, syncWrites: 0 };

function enospc(): NodeJS.ErrnoException {
  const err = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
  err.code = 'ENOSPC';
  return err;
}

/**
 * NodeFileIO whose handles count commit-log reads and writes; with `sync` false they have neither
 * readSync nor writevSync (as FaultyFileIO's).
 */
class CountingIO extends NodeFileIO {
  readonly counts: Counts = { ...ZERO_COUNTS };
  /** Commit-log reads (both kinds) throw, as on an I/O error. */
  failReads = false;
  /** The next commit-log write (either kind) fails with ENOSPC, writing nothing. */
  failNextWrite = false;
  constructor(private readonly sync: boolean) {
    super();
  }
  override async open(p: string, mode: OpenMode): Promise<FileHandle> {
    const real = await super.open(p, mode);
    const counts = p.includes('commitlog') ? this.counts : undefined;
    const h: FileHandle = {
      path: real.path,
      read: async (buf, off, len, pos) => {
        if (counts) counts.asyncReads++;
        if (counts && this.failReads) throw new Error('injected read error');
        return real.read(buf, off, len, pos);
      },
      write: (buf, off, len, pos) => real.write(buf, off, len, pos),
      writev: async (bufs, pos) => {
        if (counts) {
          counts.asyncWrites++;
          this.injectWriteFailure();
        }
        return real.writev(bufs, pos);
      },
      datasync: () => real.datasync(),
      truncate: (len) => real.truncate(len),
      size: () => real.size(),
      close: () => real.close(),
    };
    if (this.sync) {
      h.readSync = (buf, off, len, pos) => {
        if (counts) {
          counts.syncReads++;
          counts.maxSyncBytes = Math.max(counts.maxSyncBytes, len);
          if (this.failReads) throw new Error('injected read error');
        }
        return real.readSync!(buf, off, len, pos);
      };
      h.writevSync = (bufs, pos) => {
        if (counts) {
          counts.syncWrites++;
          this.injectWriteFailure();
        }
        real.writevSync!(bufs, pos);
      };
    }
    return h;
  }
  private injectWriteFailure(): void {
    if (!this.failNextWrite) return;
    this.failNextWrite = false;
    throw enospc();
  }
  reset(): void {
    Object.assign(this.counts, ZERO_COUNTS);
  }
}

const QUEUES = 8;
const PER_QUEUE = 40;
const BIG = 1536 * 1024;

let dir: string;
let store: MessageStore | undefined;

beforeEach(async () => {
  dir = await tempDir('rocketctl-sync-reads-');
});

afterEach(async () => {
  vi.restoreAllMocks();
  await store?.close().catch(() => undefined);
  store = undefined;
  await removeDir(dir);
});

function config(overrides: Partial<StoreConfig> = {}): StoreConfig {
  return smallConfig(dir, { mappedFileSizeCommitLog: 4 * 1024 * 1024, ...overrides });
}

/**
 * A sparse topic (8 queues, round robin: spans read into scratch and copied), a dense one (one
 * queue: a span handed out as views), one record alone, and one record larger than a pull's
 * synchronous budget.
 */
async function fill(s: MessageStore): Promise<void> {
  for (let n = 0; n < QUEUES * PER_QUEUE; n++) await s.putMessage(message('Sparse', n % QUEUES, bodyFor(n, 900)));
  for (let n = 0; n < PER_QUEUE; n++) await s.putMessage(message('Dense', 0, bodyFor(1000 + n, 700)));
  await s.putMessage(message('Single', 0, bodyFor(5000, 300)));
  await s.putMessage(message('Big', 0, bodyFor(6000, BIG)));
}

/** Every queue read to its end (pulls of 32 concurrently across queues). */
async function pullAll(s: MessageStore): Promise<Record<string, Buffer[]>> {
  const queues: Array<[string, number]> = [...Array.from({ length: QUEUES }, (_, q): [string, number] => ['Sparse', q]), ['Dense', 0], ['Single', 0]];
  const out: Record<string, Buffer[]> = {};
  await Promise.all(
    queues.map(async ([topic, q]) => {
      const got: Buffer[] = [];
      for (let offset = 0; offset < s.getMaxOffsetInQueue(topic, q); ) {
        const r = await s.getMessage(topic, q, offset, 32);
        expect(r.status).toBe('FOUND');
        got.push(...r.records);
        offset = r.nextBeginOffset;
      }
      out[`${topic}-${q}`] = got;
    }),
  );
  return out;
}

/** Every record as hex, per queue (to compare pulls). */
function hex(all: Record<string, Buffer[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.map((b) => b.toString('hex'))]));
}

function checkRecords(all: Record<string, Buffer[]>): void {
  for (let q = 0; q < QUEUES; q++) {
    const recs = all[`Sparse-${q}`]!.map((b) => decodeRecord(b, 0, { checkCrc: true }));
    expect(recs.map((r) => r.queueOffset)).toEqual(Array.from({ length: PER_QUEUE }, (_, i) => i));
    recs.forEach((r, i) => expect(r.body.equals(bodyFor(i * QUEUES + q, 900))).toBe(true));
  }
  const dense = all['Dense-0']!.map((b) => decodeRecord(b, 0, { checkCrc: true }));
  expect(dense.map((r) => r.body.readUInt32BE(0))).toEqual(Array.from({ length: PER_QUEUE }, (_, i) => 1000 + i));
  expect(all['Single-0']).toHaveLength(1);
}

/** Close the store and open it again over a fresh CountingIO (its counts start after opening). */
async function reopen(sync: boolean): Promise<CountingIO> {
  await store?.close();
  store = undefined;
  const io = new CountingIO(sync);
  store = await MessageStore.open(config(), { io });
  io.reset();
  return io;
}

/** A store over `io` holding fill()'s records, with the counts reset after the appends. */
async function openFilled(io: CountingIO, overrides: Partial<StoreConfig> = {}): Promise<MessageStore> {
  const s = await MessageStore.open(config(overrides), { io });
  store = s;
  await fill(s);
  io.reset();
  return s;
}

describe('pull reads inside the in-memory window', () => {
  it('are synchronous with readSync and return what the asynchronous path returns', async () => {
    const withSync = new CountingIO(true);
    await openFilled(withSync);
    const first = await pullAll(store!);
    checkRecords(first);
    expect(withSync.counts.syncReads).toBeGreaterThan(0);
    expect(withSync.counts.asyncReads).toBe(0);
    // Records handed out are copies or fresh buffers: pulling again (through the same scratch
    // buffers) leaves them as they were.
    const sync = hex(first);
    expect(hex(await pullAll(store!))).toEqual(sync);
    expect(hex(first)).toEqual(sync);

    // Larger than one pull's synchronous budget (1 MiB): read asynchronously.
    withSync.reset();
    const big = await store!.getMessage('Big', 0, 0, 32);
    expect(decodeRecord(big.records[0]!, 0, { checkCrc: true }).body.equals(bodyFor(6000, BIG))).toBe(true);
    expect(withSync.counts).toMatchObject({ asyncReads: 1, syncReads: 0, maxSyncBytes: 0 });

    // The same store through handles without readSync: every read asynchronous, the same records.
    const noSync = await reopen(false);
    expect(hex(await pullAll(store!))).toEqual(sync);
    expect(noSync.counts.syncReads).toBe(0);
    expect(noSync.counts.asyncReads).toBeGreaterThan(0);

    // Reopened with readSync again: a segment not yet open for reading is opened (await) by its
    // first pull; after that its pulls are synchronous, and no single read exceeds the budget.
    const again = await reopen(true);
    expect(hex(await pullAll(store!))).toEqual(sync);
    again.reset();
    expect(hex(await pullAll(store!))).toEqual(sync);
    expect(again.counts.asyncReads).toBe(0);
    expect(again.counts.syncReads).toBeGreaterThan(0);
    expect(again.counts.maxSyncBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('are asynchronous behind the window (accessMessageInMemoryMaxRatio 0: everything is "in disk")', async () => {
    const io = new CountingIO(true);
    const got = await pullAll(await openFilled(io, { accessMessageInMemoryMaxRatio: 0 }));
    checkRecords(got);
    expect(io.counts.syncReads).toBe(0);
    expect(io.counts.asyncReads).toBeGreaterThan(0);
  });

  it('the default NodeFileIO store reads through fs.readSync', async () => {
    store = await MessageStore.open(config());
    await fill(store);
    const readSync = vi.spyOn(fs, 'readSync');
    checkRecords(await pullAll(store));
    expect(readSync).toHaveBeenCalled();
  });

  it('a synchronous read that throws fails the pull; an asynchronous read of the same pull failing too is handled', async () => {
    const io = new CountingIO(true);
    store = await MessageStore.open(config(), { io });
    await store.putMessage(message('Big', 0, bodyFor(6000, BIG))); // over the budget: asynchronous
    await store.putMessage(message('Big', 0, bodyFor(6001, 300))); // its own span: synchronous
    io.reset();
    io.failReads = true;
    await expect(store.getMessage('Big', 0, 0, 32, undefined, 4 * 1024 * 1024)).rejects.toThrow('injected read error');
    expect(io.counts).toMatchObject({ asyncReads: 1, syncReads: 1 });
    // The asynchronous read's rejection lands after the pull failed (the injected error rejects at
    // once, so it has landed once the microtasks have run): an unhandled one fails the run.
    await new Promise((resolve) => setImmediate(resolve));
    io.failReads = false;
    const got = await store.getMessage('Big', 0, 0, 32, undefined, 4 * 1024 * 1024);
    expect(got.records.map((r) => decodeRecord(r, 0, { checkCrc: true }).body.readUInt32BE(0))).toEqual([6000, 6001]);
  });
});

describe('commit log writes', () => {
  for (const flushDiskType of ['ASYNC_FLUSH', 'SYNC_FLUSH'] as const) {
    it(`${flushDiskType}: synchronous once the segment is open, the same records as asynchronous writes`, async () => {
      const withSync = new CountingIO(true);
      store = await MessageStore.open(config({ flushDiskType }), { io: withSync });
      await fill(store);
      // Only the write that reaches the new segment waits for it to be created.
      expect(withSync.counts.syncWrites).toBeGreaterThan(0);
      expect(withSync.counts.asyncWrites).toBeLessThanOrEqual(1);
      const sync = hex(await pullAll(store));
      checkRecords(await pullAll(store));

      // Written without writevSync (a fresh store): every write asynchronous; after a reopen
      // both stores hold the same records.
      await store.close();
      store = undefined;
      const other = await tempDir('rocketctl-sync-writes-');
      try {
        const noSync = new CountingIO(false);
        const s2 = await MessageStore.open(smallConfig(other, { mappedFileSizeCommitLog: 4 * 1024 * 1024, flushDiskType }), { io: noSync });
        await fill(s2);
        expect(noSync.counts.syncWrites).toBe(0);
        expect(noSync.counts.asyncWrites).toBeGreaterThan(1);
        checkRecords(await pullAll(s2));
        await s2.close();
      } finally {
        await removeDir(other);
      }
      await reopen(true);
      const again = hex(await pullAll(store!));
      expect(again).toEqual(sync);
    });
  }

  it('ENOSPC on a synchronous write fails those appends, hands their queue offsets out again, and appends work after', async () => {
    const io = new CountingIO(true);
    store = await MessageStore.open(config(), { io });
    for (let n = 0; n < 5; n++) await store.putMessage(message('Full', 0, bodyFor(n, 500)));
    io.reset();
    io.failNextWrite = true;
    await expect(store.putMessage(message('Full', 0, bodyFor(100, 500)))).rejects.toMatchObject({ name: 'DiskFullError' });
    expect(io.counts.syncWrites).toBe(1);
    for (let n = 5; n < 8; n++) await store.putMessage(message('Full', 0, bodyFor(n, 500)));
    await reopen(true);
    const got = await store!.getMessage('Full', 0, 0, 32);
    const recs = got.records.map((b) => decodeRecord(b, 0, { checkCrc: true }));
    expect(recs.map((r) => r.queueOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(recs.map((r) => r.body.readUInt32BE(0))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
