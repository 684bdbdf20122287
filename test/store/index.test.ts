import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileHandle, FileIO, OpenMode } from '../../src/broker/store/file-io.js';
import {
  INDEX_FILE_NAME_PATTERN,
  decodeIndexEntry,
  decodeIndexHeader,
  indexFileName,
  indexFileSizeBytes,
  parseIndexFileName,
} from '../../src/broker/store/index-file.js';
import { IndexService } from '../../src/broker/store/index-service.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import type { DispatchRequest } from '../../src/broker/store/types.js';
import { indexKeyHash, javaHashCode } from '../../src/protocol/hash.js';

const io = new NodeFileIO();
const SMALL = { maxHashSlotNum: 8, maxIndexNum: 4 };
const T0_MS = 1700000000123;

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-index-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function readHexFixture(name: string): Buffer {
  const text = readFileSync(path.join('fixtures', 'golden', name), 'utf8');
  return Buffer.from(text.split('\n').map((l) => l.replace(/#.*/, '')).join('').replace(/\s+/g, ''), 'hex');
}

function req(over: Partial<DispatchRequest> & { commitLogOffset: number }): DispatchRequest {
  return { topic: 'T', queueId: 0, queueOffset: 0, size: 100, tagsCode: 0, storeTimestamp: T0_MS, sysFlag: 0, keys: [], ...over };
}

async function openService(geometry = SMALL, fio: FileIO = io): Promise<IndexService> {
  const s = new IndexService(root, geometry, fio);
  await s.load();
  return s;
}

const ALL_TIME: [number, number] = [0, Number.MAX_SAFE_INTEGER];

describe('index file format (IndexFile)', () => {
  it('writes the hand-computed golden file byte for byte', async () => {
    const golden = readHexFixture('index-file-small.hex');
    expect(golden.length).toBe(indexFileSizeBytes(SMALL));
    expect(golden.length).toBe(152);
    expect(javaHashCode('T#K')).toBe(81884);
    expect(indexKeyHash('T#K') % 8).toBe(4);

    const s = await openService();
    s.put(req({ commitLogOffset: 4096, storeTimestamp: T0_MS, keys: ['K'] }));
    s.put(req({ commitLogOffset: 8192, storeTimestamp: T0_MS + 5000, keys: ['K'] }));
    await s.close();
    const names = await io.readdir(path.join(root, 'index'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(INDEX_FILE_NAME_PATTERN);
    const file = await fs.readFile(path.join(root, 'index', names[0]!));
    expect(file.toString('hex')).toBe(golden.toString('hex'));
  });

  it('reads a golden file placed by hand', async () => {
    await fs.mkdir(path.join(root, 'index'));
    await fs.writeFile(path.join(root, 'index', '20231114222000123'), readHexFixture('index-file-small.hex'));
    const s = await openService();
    expect(s.endPhyOffset()).toBe(8192);
    const all = await s.query('T', 'K', 32, ...ALL_TIME);
    expect(all).toEqual({ commitLogOffsets: [8192, 4096], lastUpdateTimestamp: T0_MS + 5000, lastUpdatePhyOffset: 8192 });
    // Entry times are begin + diff seconds: only message 2 is at or after +5 s.
    expect((await s.query('T', 'K', 32, T0_MS + 5000, T0_MS + 9000)).commitLogOffsets).toEqual([8192]);
    expect((await s.query('T', 'other', 32, ...ALL_TIME)).commitLogOffsets).toEqual([]);
    // One more entry fills the file (3 usable entries); the next rolls to a new one.
    s.put(req({ commitLogOffset: 12288, storeTimestamp: T0_MS + 6000, keys: ['K'] }));
    s.put(req({ commitLogOffset: 16384, storeTimestamp: T0_MS + 7000, keys: ['K'] }));
    expect(s.fileNames()).toHaveLength(2);
    expect((await s.query('T', 'K', 32, ...ALL_TIME)).commitLogOffsets).toEqual([16384, 12288, 8192, 4096]);
    await s.close();
  });

  it('file names are the creation time yyyyMMddHHmmssSSS in local time', () => {
    const ms = new Date(2023, 10, 14, 22, 20, 0, 123).getTime();
    expect(indexFileName(ms)).toBe('20231114222000123');
    expect(parseIndexFileName('20231114222000123')).toBe(ms);
    expect(parseIndexFileName('2023')).toBeUndefined();
  });

  it('default geometry: a sparse 420,000,040-byte file, not allocated on disk', async () => {
    const s = await openService({ maxHashSlotNum: 5_000_000, maxIndexNum: 20_000_000 });
    s.put(req({ commitLogOffset: 0, keys: ['a', 'b'], uniqKey: 'U1' }));
    await s.close();
    const [name] = await io.readdir(path.join(root, 'index'));
    const st = await fs.stat(path.join(root, 'index', name!));
    expect(st.size).toBe(420_000_040);
    expect(st.blocks * 512).toBeLessThan(16 * 1024 * 1024);
    const again = await openService({ maxHashSlotNum: 5_000_000, maxIndexNum: 20_000_000 });
    expect((await again.query('T', 'U1', 32, ...ALL_TIME)).commitLogOffsets).toEqual([0]);
    await again.close();
  });
});

describe('IndexService', () => {
  it('indexes UNIQ_KEY and every key; queries see unflushed entries; reload equals before', async () => {
    const s = await openService({ maxHashSlotNum: 16, maxIndexNum: 4 });
    for (let i = 0; i < 10; i++) {
      s.put(req({ commitLogOffset: i * 100, storeTimestamp: T0_MS + i * 10_000, uniqKey: `U${i}`, keys: i % 2 === 0 ? ['even', ''] : ['odd'] }));
    }
    // 20 entries, 3 per file → 7 files, none on disk yet.
    expect(s.fileNames()).toHaveLength(7);
    expect(await io.readdir(path.join(root, 'index'))).toEqual([]);
    const evens = [800, 600, 400, 200, 0];
    expect((await s.query('T', 'even', 32, ...ALL_TIME)).commitLogOffsets).toEqual(evens);
    expect((await s.query('T', 'U7', 32, ...ALL_TIME)).commitLogOffsets).toEqual([700]);
    expect((await s.query('T', 'even', 2, ...ALL_TIME)).commitLogOffsets).toEqual([800, 600]);
    expect((await s.query('Other', 'even', 32, ...ALL_TIME)).commitLogOffsets).toEqual([]);
    await s.flush();
    expect((await io.readdir(path.join(root, 'index'))).sort()).toEqual(s.fileNames());
    expect((await s.query('T', 'even', 32, ...ALL_TIME)).commitLogOffsets).toEqual(evens);
    const end = s.endPhyOffset();
    expect(end).toBe(900);
    await s.close();

    const again = await openService({ maxHashSlotNum: 16, maxIndexNum: 4 });
    expect(again.endPhyOffset()).toBe(end);
    expect((await again.query('T', 'even', 32, ...ALL_TIME)).commitLogOffsets).toEqual(evens);
    expect((await again.query('T', 'odd', 32, ...ALL_TIME)).commitLogOffsets).toEqual([900, 700, 500, 300, 100]);
    again.put(req({ commitLogOffset: 1000, storeTimestamp: T0_MS + 100_000, keys: ['even'] }));
    expect((await again.query('T', 'even', 3, ...ALL_TIME)).commitLogOffsets).toEqual([1000, 800, 600]);
    await again.close();
  });

  it('filters by time range across files', async () => {
    const s = await openService({ maxHashSlotNum: 4, maxIndexNum: 3 });
    for (let i = 0; i < 8; i++) s.put(req({ commitLogOffset: i * 100, storeTimestamp: T0_MS + i * 10_000, keys: ['k'] }));
    const inRange = await s.query('T', 'k', 32, T0_MS + 20_000, T0_MS + 50_000);
    expect(inRange.commitLogOffsets).toEqual([500, 400, 300, 200]);
    expect((await s.query('T', 'k', 32, T0_MS + 71_000, T0_MS + 99_000)).commitLogOffsets).toEqual([]);
    expect((await s.query('T', 'k', 32, 0, T0_MS - 1)).commitLogOffsets).toEqual([]);
    expect(inRange.lastUpdatePhyOffset).toBe(700);
    expect(inRange.lastUpdateTimestamp).toBe(T0_MS + 70_000);
    await s.close();
  });

  it('keys sharing one slot: other hashes are skipped, equal hashes all come back', async () => {
    // One slot: every key chains through it.
    const s = await openService({ maxHashSlotNum: 1, maxIndexNum: 100 });
    expect(javaHashCode('T#Aa')).toBe(javaHashCode('T#BB')); // "Aa" and "BB" collide in Java
    s.put(req({ commitLogOffset: 100, keys: ['A'] }));
    s.put(req({ commitLogOffset: 200, keys: ['Aa'] }));
    s.put(req({ commitLogOffset: 300, keys: ['B'] }));
    s.put(req({ commitLogOffset: 400, keys: ['BB'] }));
    s.put(req({ commitLogOffset: 500, keys: ['A'] }));
    expect((await s.query('T', 'A', 32, ...ALL_TIME)).commitLogOffsets).toEqual([500, 100]);
    expect((await s.query('T', 'B', 32, ...ALL_TIME)).commitLogOffsets).toEqual([300]);
    // Same hash: both candidates, the caller re-checks the message keys.
    expect((await s.query('T', 'Aa', 32, ...ALL_TIME)).commitLogOffsets).toEqual([400, 200]);
    await s.close();
  });

  it('skips ROLLBACK records; indexes normal, prepared and commit records', async () => {
    const s = await openService();
    s.put(req({ commitLogOffset: 100, sysFlag: 0x0, keys: ['k'] }));
    s.put(req({ commitLogOffset: 200, sysFlag: 0x4, keys: ['k'] }));
    s.put(req({ commitLogOffset: 300, sysFlag: 0x8 | 0x2, keys: ['k'] }));
    s.put(req({ commitLogOffset: 400, sysFlag: 0xc, keys: ['k'] }));
    expect((await s.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([300, 200, 100]);
    await s.close();
  });

  it('re-dispatch after a restart is harmless: old records skipped, the last one deduped', async () => {
    const s = await openService({ maxHashSlotNum: 8, maxIndexNum: 100 });
    const reqs = [0, 1, 2, 3].map((i) => req({ commitLogOffset: i * 100, uniqKey: 'same', keys: ['k'] }));
    for (const r of reqs) s.put(r);
    await s.close();
    const again = await openService({ maxHashSlotNum: 8, maxIndexNum: 100 });
    // The facade re-dispatches everything from endPhyOffset() (= offset 300, re-indexed).
    for (const r of reqs) again.put(r);
    again.put(reqs[3]!);
    expect((await again.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([300, 200, 100, 0]);
    expect((await again.query('T', 'same', 4, ...ALL_TIME)).commitLogOffsets).toEqual([300, 200, 100, 0]);
    await again.close();
  });

  it('a crash after entries and slots but before the header: slots walked back, re-dispatch completes it', async () => {
    const geometry = { maxHashSlotNum: 8, maxIndexNum: 100 };
    const s = await openService(geometry);
    for (let i = 0; i < 3; i++) s.put(req({ commitLogOffset: i * 100, keys: ['k'] }));
    await s.flush();
    // Now the header write fails: entries 4..6 and their slots reach the disk, the header does not.
    const faulty = new FaultyIO((_p, position) => position === 0);
    const s2 = new IndexService(root, geometry, faulty);
    await s2.load();
    for (let i = 3; i < 6; i++) s2.put(req({ commitLogOffset: i * 100, keys: ['k'] }));
    await expect(s2.flush()).rejects.toThrow(/injected/);
    // "Restart" while s2 is dead.
    const s3 = new IndexService(root, geometry, io);
    const report = await s3.load();
    expect(report.slotsRepaired).toBe(1);
    expect(s3.endPhyOffset()).toBe(200);
    expect((await s3.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([200, 100, 0]);
    for (let i = 2; i < 6; i++) s3.put(req({ commitLogOffset: i * 100, keys: ['k'] }));
    expect((await s3.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([500, 400, 300, 200, 100, 0]);
    await s3.close();
    await s2.close().catch(() => undefined);
    await s.close();
  });

  it('a file after one that is not full (torn rollover) is dropped on load', async () => {
    const golden = readHexFixture('index-file-small.hex');
    await fs.mkdir(path.join(root, 'index'));
    await fs.writeFile(path.join(root, 'index', '20231114222000123'), golden);
    await fs.writeFile(path.join(root, 'index', '20231114222000124'), golden);
    const s = new IndexService(root, SMALL, io);
    const report = await s.load();
    expect(report.filesDropped).toEqual(['20231114222000124']);
    expect(s.fileNames()).toEqual(['20231114222000123']);
    expect(await io.readdir(path.join(root, 'index'))).toEqual(['20231114222000123']);
    await s.close();
  });

  it('a rolled file whose header never reached the disk starts at the previous file end', async () => {
    const s = await openService(SMALL);
    for (let i = 0; i < 3; i++) s.put(req({ commitLogOffset: i * 100, keys: ['k'] }));
    await s.flush();
    const s2 = new IndexService(root, SMALL, new FaultyIO((_p, position) => position === 0));
    await s2.load();
    s2.put(req({ commitLogOffset: 300, keys: ['k'] })); // rolls to a second file
    await expect(s2.flush()).rejects.toThrow(/injected/);
    const s3 = await openService(SMALL);
    expect(s3.fileNames()).toHaveLength(2);
    expect(s3.endPhyOffset()).toBe(200);
    s3.put(req({ commitLogOffset: 300, keys: ['k'] }));
    expect((await s3.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([300, 200, 100, 0]);
    await s3.close();
    const header = decodeIndexHeader(await fs.readFile(path.join(root, 'index', s3.fileNames()[1]!)));
    expect(header).toMatchObject({ indexCount: 2, beginPhyOffset: 300, endPhyOffset: 300 });
    await s2.close().catch(() => undefined);
    await s.close();
  });

  it('deleteExpiredFiles removes old files but never the active one', async () => {
    const s = await openService({ maxHashSlotNum: 4, maxIndexNum: 3 });
    for (let i = 0; i < 6; i++) s.put(req({ commitLogOffset: i * 100, keys: ['k'] }));
    s.put(req({ commitLogOffset: 600, keys: ['k'] }));
    await s.flush();
    expect(s.fileNames()).toHaveLength(4);
    expect(await s.deleteExpiredFiles(250)).toBe(1);
    expect((await s.query('T', 'k', 32, ...ALL_TIME)).commitLogOffsets).toEqual([600, 500, 400, 300, 200]);
    expect(await s.deleteExpiredFiles(10_000)).toBe(2);
    expect(s.fileNames()).toHaveLength(1);
    await s.close();
  });

  it('entry layout on disk: hash, offset, time diff in seconds, previous entry', async () => {
    const s = await openService({ maxHashSlotNum: 8, maxIndexNum: 10 });
    s.put(req({ commitLogOffset: 2 ** 40, storeTimestamp: T0_MS, keys: ['k'] }));
    s.put(req({ commitLogOffset: 2 ** 40 + 50, storeTimestamp: T0_MS + 2999, keys: ['k'] }));
    await s.close();
    const file = await fs.readFile(path.join(root, 'index', s.fileNames()[0]!));
    const entryPos = (i: number): number => 40 + 8 * 4 + i * 20;
    expect(decodeIndexEntry(file, entryPos(2))).toEqual({ keyHash: indexKeyHash('T#k'), commitLogOffset: 2 ** 40 + 50, timeDiffSeconds: 2, prevIndex: 1 });
  });
});

/** NodeFileIO whose handle writes fail where `failWrite` says so (a crash at that point). */
class FaultyIO implements FileIO {
  private readonly real = new NodeFileIO();
  constructor(private readonly failWrite: (path: string, position: number) => boolean) {}
  async open(p: string, mode: OpenMode): Promise<FileHandle> {
    const h = await this.real.open(p, mode);
    const fail = this.failWrite;
    return {
      path: h.path,
      read: (b, o, l, pos) => h.read(b, o, l, pos),
      write: async (b, o, l, pos) => {
        if (fail(p, pos)) throw Object.assign(new Error('injected write failure'), { code: 'EIO' });
        return h.write(b, o, l, pos);
      },
      writev: async (bufs, pos) => {
        if (fail(p, pos)) throw Object.assign(new Error('injected write failure'), { code: 'EIO' });
        return h.writev(bufs, pos);
      },
      datasync: () => h.datasync(),
      truncate: (n) => h.truncate(n),
      size: () => h.size(),
      close: () => h.close(),
    };
  }
  exists = (p: string) => this.real.exists(p);
  mkdirp = (p: string) => this.real.mkdirp(p);
  readdir = (p: string) => this.real.readdir(p);
  readFile = (p: string) => this.real.readFile(p);
  unlink = (p: string) => this.real.unlink(p);
  rename = (a: string, b: string) => this.real.rename(a, b);
  fsyncDir = (p: string) => this.real.fsyncDir(p);
  rmrf = (p: string) => this.real.rmrf(p);
  writeFileAtomic = (p: string, d: Buffer | string) => this.real.writeFileAtomic(p, d);
  lastModifiedMs = (p: string) => this.real.lastModifiedMs(p);
  diskSpace = (p: string) => this.real.diskSpace(p);
}
