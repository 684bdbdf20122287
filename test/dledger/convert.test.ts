/**
 * A store written with the local commit log, opened on the DLedger commit log (a group of one):
 * DLedgerCommitLog#recover's conversion at the store level. The first open recovers the old log as
 * before (queues rebuilt from it), seals it and starts the DLedger log at the end of its last file;
 * reads below the divide go to the old log; recovery never cuts queue units that point into it;
 * retention deletes the old files first, the last one too. Also the follower's refusal of a leader
 * whose log begins elsewhere.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { singleNodeCommitLog } from '../../src/broker/dledger/dledger-commitlog.js';
import { DLedgerFileStore } from '../../src/broker/dledger/file-store.js';
import { CommitLog } from '../../src/broker/store/commitlog.js';
import { segmentFileName } from '../../src/broker/store/commitlog-files.js';
import { MessageStore, type PutResult } from '../../src/broker/store/message-store.js';
import type { StoreConfig } from '../../src/broker/store/types.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { DLEDGER_MAGIC } from '../../src/protocol/dledger/entry.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { bodyFor, message, removeDir, smallConfig, storeDirForTest, tempDir } from '../store/message-store.helpers.js';

/** Small files: the old log spans several, and so may the DLedger log. */
const FILE_BYTES = 16 * 1024;
const SELF = 'n0';
const HOUR_MS = 3_600_000;

const storeDir = () => storeDirForTest('rocketctl-convert-');

function config(dir: string, overrides: Partial<StoreConfig> = {}): StoreConfig {
  return smallConfig(dir, { mappedFileSizeCommitLog: FILE_BYTES, flushDiskType: 'SYNC_FLUSH', messageIndexEnable: true, cleanResourceInterval: 3_600_000, ...overrides });
}

const dledger = () => singleNodeCommitLog({ selfId: SELF, indexFileBytes: 32 * 1024 });

async function putMany(store: MessageStore, n: number, from = 0): Promise<PutResult[]> {
  const out: PutResult[] = [];
  for (let i = from; i < from + n; i++) out.push(await store.putMessage(message('Cv', i % 2, bodyFor(i, 300), { KEYS: `k${i}` })));
  return out;
}

async function bodiesIn(store: MessageStore, queueId: number, from = 0): Promise<string[]> {
  const out: string[] = [];
  let offset = from;
  for (let pulls = 0; pulls < 64 && offset < store.getMaxOffsetInQueue('Cv', queueId); pulls++) {
    const got = await store.getMessage('Cv', queueId, offset, 32);
    if (got.status !== 'FOUND') break;
    out.push(...got.records.map((r) => decodeRecord(r).body.toString('hex')));
    offset = got.nextBeginOffset;
  }
  return out;
}

const hex = (i: number) => bodyFor(i, 300).toString('hex');

/** A plain store with `n` messages, closed cleanly (or halted, as a crash). */
async function plainStore(dir: string, n: number, crash = false): Promise<PutResult[]> {
  const store = await MessageStore.open(config(dir));
  const puts = await putMany(store, n);
  if (crash) store.halt();
  else await store.close();
  return puts;
}

describe('a store written without DLedger, opened on the DLedger commit log', () => {
  it('seals the old log and continues after it: old records keep their offsets, new ones follow the divide, queues continue; again after a restart', async () => {
    const { dir, current } = await storeDir();
    const old = await plainStore(dir, 100);
    const oldFiles = (await fsp.readdir(path.join(dir, 'commitlog'))).sort();
    expect(oldFiles.length).toBeGreaterThan(1);
    const divide = Number(oldFiles[oldFiles.length - 1]) + FILE_BYTES;

    let store = (current.store = await MessageStore.open(config(dir), { commitLog: dledger() }));
    expect(await fsp.readdir(path.join(dir, `dledger-${SELF}`, 'data'))).toEqual([segmentFileName(divide)]);
    expect(store.commitLogMinOffset()).toBe(0);
    expect(store.commitLogMaxOffset()).toBe(divide);
    const fresh = await putMany(store, 40, 100);
    expect(fresh[0]!.commitLogOffset).toBe(divide + 48);
    expect(fresh.slice(0, 2).map((p) => p.queueOffset)).toEqual([50, 50]);
    const expected = (q: number) => [...Array.from({ length: 140 }, (_, i) => i).filter((i) => i % 2 === q).map(hex)];
    const check = async (s: MessageStore) => {
      for (const q of [0, 1]) expect(await bodiesIn(s, q)).toEqual(expected(q));
      expect((await s.lookMessageByOffset(old[3]!.commitLogOffset))?.body).toEqual(bodyFor(3, 300));
      expect((await s.lookMessageByOffset(fresh[3]!.commitLogOffset))?.body).toEqual(bodyFor(103, 300));
      // The index keeps the old keys and takes the new ones.
      for (const k of [7, 123]) expect((await s.queryMessage('Cv', `k${k}`, 32, 0, Number.MAX_SAFE_INTEGER)).records.map((r) => decodeRecord(r).body)).toEqual([bodyFor(k, 300)]);
    };
    await check(store);
    await store.close();

    // Reopened after a crash (abort marker left): recovery cuts no unit that points into the old log.
    current.store = store = await MessageStore.open(config(dir), { commitLog: dledger() });
    store.halt();
    current.store = store = await MessageStore.open(config(dir), { commitLog: dledger() });
    expect(store.report.mode).toBe('abnormal');
    expect(store.report.queueUnitsDropped).toBe(0);
    expect(store.report.truncatedFromOffset).toBeNull();
    await check(store);
  });

  it('the first open recovers the old log as the local commit log would (after a crash, queues rebuilt from it) before sealing it', async () => {
    const { dir, current } = await storeDir();
    await plainStore(dir, 60, true);
    // The queues lost everything (as if never flushed): the old log rebuilds them.
    await fsp.rm(path.join(dir, 'consumequeue'), { recursive: true, force: true });
    const store = (current.store = await MessageStore.open(config(dir), { commitLog: dledger() }));
    expect(store.report.mode).toBe('abnormal');
    for (const q of [0, 1]) expect(await bodiesIn(store, q)).toEqual(Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 2 === q).map(hex));
    expect((await putMany(store, 2, 60)).map((p) => p.queueOffset)).toEqual([30, 30]);
  });

  it('a conversion stopped by a crash after the seal, before the DLedger log began, is done again on the next start, nothing reported lost', async () => {
    const { dir, current } = await storeDir();
    await plainStore(dir, 30);
    const cfg = config(dir);
    const old = new CommitLog(new NodeFileIO(), { storePathRootDir: dir, segmentBytes: FILE_BYTES, flushDiskType: 'SYNC_FLUSH', flushIntervalMs: 50, syncFlushTimeoutMs: 1000, storeHost: cfg.storeHost, dispatch: () => undefined });
    await old.load();
    // What the first DLedger start does up to the seal: the old log positioned at its records' end, then sealed.
    await old.truncateAndStartAt((await old.scan(0, true, () => undefined)).end, 0, { zeroTail: false });
    const divide = (await old.seal(true))!;
    await old.close();
    const store = (current.store = await MessageStore.open(cfg, { commitLog: dledger() }));
    expect(store.report).toMatchObject({ problem: null, bytesDropped: 0, truncatedFromOffset: null });
    expect(await fsp.readdir(path.join(dir, `dledger-${SELF}`, 'data'))).toEqual([segmentFileName(divide)]);
    for (const q of [0, 1]) expect(await bodiesIn(store, q)).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 2 === q).map(hex));
  });

  it('retention deletes the old log files first, its last one too; then the DLedger log is the whole log', async () => {
    const { dir, current } = await storeDir();
    await plainStore(dir, 100);
    let nowMs = Date.now();
    const cfg = config(dir, { fileReservedTime: 72, deleteWhen: '00;01;02;03;04;05;06;07;08;09;10;11;12;13;14;15;16;17;18;19;20;21;22;23' });
    let store = (current.store = await MessageStore.open(cfg, { commitLog: dledger(), retention: { now: () => nowMs, sleep: async () => undefined } }));
    await putMany(store, 10, 100);
    const divide = store.commitLogMaxOffset() - (store.commitLogMaxOffset() % FILE_BYTES);
    expect((await store.retention.runOnce()).segmentsDeleted).toHaveLength(0);
    nowMs += 100 * HOUR_MS;
    const r = await store.retention.runOnce();
    expect(r.segmentsDeleted.map((d) => d.endOffset).pop()).toBe(divide);
    expect(await fsp.readdir(path.join(dir, 'commitlog'))).toEqual([]);
    expect(store.commitLogMinOffset()).toBe(divide);
    expect(await bodiesIn(store, 0, store.getMinOffsetInQueue('Cv', 0))).toEqual([100, 102, 104, 106, 108].map(hex));
    await store.close();
    current.store = store = await MessageStore.open(cfg, { commitLog: dledger() });
    expect(store.commitLogMinOffset()).toBe(divide);
    expect(await bodiesIn(store, 1, store.getMinOffsetInQueue('Cv', 1))).toEqual([101, 103, 105, 107, 109].map(hex));
  });
});

describe('a follower whose DLedger log begins elsewhere than the leader\'s', () => {
  it('refuses the leader\'s first entry with one clear error and writes nothing', async () => {
    const dir = await tempDir('rocketctl-convert-fs-');
    onTestFinished(() => removeDir(dir));
    const io = new NodeFileIO();
    const { store: leader } = await DLedgerFileStore.open(io, { storeBaseDir: path.join(dir, 'a'), selfId: 'n0', dataFileBytes: FILE_BYTES, indexFileBytes: 32 * 1024 });
    await leader.startAt(3 * FILE_BYTES);
    const entry = await leader.append({ term: 1, body: Buffer.from('first') });
    expect(entry.pos).toBe(3 * FILE_BYTES);
    const { store: follower } = await DLedgerFileStore.open(io, { storeBaseDir: path.join(dir, 'b'), selfId: 'n1', dataFileBytes: FILE_BYTES, indexFileBytes: 32 * 1024 });
    await expect(follower.appendAsFollower({ ...entry, magic: DLEDGER_MAGIC })).rejects.toThrow(
      `refusing the leader's entry 0 at pos ${3 * FILE_BYTES}: this member's DLedger log begins at 0 (its dividedCommitlogOffset differs from the leader's`,
    );
    expect(follower.getLedgerEndIndex()).toBe(-1);
    expect(follower.getWritePos()).toBe(0);
    expect(await fsp.readdir(path.join(dir, 'b', 'dledger-n1', 'data'))).toEqual([]);
    await leader.close();
    await follower.close();
  });
});
