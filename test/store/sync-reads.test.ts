/**
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

/** Commit-log reads seen by a CountingIO. */
interface Counts {
  asyncReads: number;
  syncReads: number;
  /** Largest single synchronous read, bytes. */
  maxSyncBytes: number;
}

/** NodeFileIO whose handles count commit-log reads; with `sync` false they have no readSync (as FaultyFileIO's). */
class CountingIO extends NodeFileIO {
  readonly counts: Counts = { asyncReads: 0, syncReads: 0, maxSyncBytes: 0 };
  /** Commit-log reads (both kinds) throw, as on an I/O error. */
  failReads = false;
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
      writev: (bufs, pos) => real.writev(bufs, pos),
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
    }
    return h;
  }
  reset(): void {
    Object.assign(this.counts, { asyncReads: 0, syncReads: 0, maxSyncBytes: 0 });
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

describe('pull reads inside the in-memory window', () => {
  it('are synchronous with readSync and return what the asynchronous path returns', async () => {
    const withSync = new CountingIO(true);
    store = await MessageStore.open(config(), { io: withSync });
    await fill(store);

    withSync.reset();
    const first = await pullAll(store);
    checkRecords(first);
    expect(withSync.counts.syncReads).toBeGreaterThan(0);
    expect(withSync.counts.asyncReads).toBe(0);
    // Records handed out are copies or fresh buffers: pulling again (through the same scratch
    // buffers) leaves them as they were.
    const sync = hex(first);
    expect(hex(await pullAll(store))).toEqual(sync);
    expect(hex(first)).toEqual(sync);

    // Larger than one pull's synchronous budget (1 MiB): read asynchronously.
    withSync.reset();
    const big = await store.getMessage('Big', 0, 0, 32);
    expect(decodeRecord(big.records[0]!, 0, { checkCrc: true }).body.equals(bodyFor(6000, BIG))).toBe(true);
    expect(withSync.counts).toEqual({ asyncReads: 1, syncReads: 0, maxSyncBytes: 0 });

    // The same store through handles without readSync: every read asynchronous, the same records.
    const noSync = await reopen(false);
    expect(hex(await pullAll(store))).toEqual(sync);
    expect(noSync.counts.syncReads).toBe(0);
    expect(noSync.counts.asyncReads).toBeGreaterThan(0);

    // Reopened with readSync again: a segment not yet open for reading is opened (await) by its
    // first pull; after that its pulls are synchronous, and no single read exceeds the budget.
    const again = await reopen(true);
    expect(hex(await pullAll(store))).toEqual(sync);
    again.reset();
    expect(hex(await pullAll(store))).toEqual(sync);
    expect(again.counts.asyncReads).toBe(0);
    expect(again.counts.syncReads).toBeGreaterThan(0);
    expect(again.counts.maxSyncBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('are asynchronous behind the window (accessMessageInMemoryMaxRatio 0: everything is "in disk")', async () => {
    const io = new CountingIO(true);
    store = await MessageStore.open(config({ accessMessageInMemoryMaxRatio: 0 }), { io });
    await fill(store);
    io.reset();
    const got = await pullAll(store);
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
    // The asynchronous read's rejection lands after the pull failed: an unhandled one fails the run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    io.failReads = false;
    const got = await store.getMessage('Big', 0, 0, 32, undefined, 4 * 1024 * 1024);
    expect(got.records.map((r) => decodeRecord(r, 0, { checkCrc: true }).body.readUInt32BE(0))).toEqual([6000, 6001]);
  });
});
