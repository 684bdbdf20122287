/**
 * MessageStore over the DLedger commit log (src/broker/dledger/dledger-commitlog.ts) in a group
 * of one (SingleNodeLog over DLedgerFileStore): records are DLedger entry bodies, message ids
 * point into `dledger-<selfId>/data`, dispatch follows commit, recovery walks committed entries.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotLeaderError, singleNodeCommitLog, type SingleNodeLog } from '../../src/broker/dledger/dledger-commitlog.js';
import { BODY_OFFSET, readEntryHeader } from '../../src/protocol/dledger/entry.js';
import { segmentFileName } from '../../src/broker/store/commitlog-files.js';
import { MessageStore, type PutResult } from '../../src/broker/store/message-store.js';
import type { StoreConfig } from '../../src/broker/store/types.js';
import { decodeOffsetMsgId, decodeRecord } from '../../src/protocol/message.js';
import { bodyFor, message, smallConfig, storeDirForTest } from '../store/message-store.helpers.js';

/** Small data files, so entries cross file ends and files end in a BLANK. */
const DATA_FILE_BYTES = 16 * 1024;
/** 1 Ki index units per index file (the default is 5 Mi). */
const INDEX_FILE_BYTES = 32 * 1024;
const SELF = 'n0';

const storeDir = () => storeDirForTest('rocketctl-dlc-');

function config(dir: string, overrides: Partial<StoreConfig> = {}): StoreConfig {
  return smallConfig(dir, { mappedFileSizeCommitLog: DATA_FILE_BYTES, flushDiskType: 'SYNC_FLUSH', messageIndexEnable: true, ...overrides });
}

function factory(extra: Partial<Parameters<typeof singleNodeCommitLog>[0]> = {}) {
  return singleNodeCommitLog({ selfId: SELF, indexFileBytes: INDEX_FILE_BYTES, ...extra });
}

/** The DLedger data file holding `pos`. */
function dataFile(dir: string, pos: number): string {
  return path.join(dir, `dledger-${SELF}`, 'data', segmentFileName(pos - (pos % DATA_FILE_BYTES)));
}

/** The bytes of the DLedger data files at `pos` (read straight from the file). */
async function dataBytes(dir: string, pos: number, length: number): Promise<Buffer> {
  const start = pos - (pos % DATA_FILE_BYTES);
  const h = await fsp.open(dataFile(dir, pos), 'r');
  try {
    const buf = Buffer.alloc(length);
    await h.read(buf, 0, length, pos - start);
    return buf;
  } finally {
    await h.close();
  }
}

/** Every record of a queue (a pull returns at most 32: MAX_TRANSFER_COUNT_IN_MEMORY). */
async function recordsIn(store: MessageStore, topic: string, queueId: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let offset = 0;
  for (let pulls = 0; pulls < 16 && offset < store.getMaxOffsetInQueue(topic, queueId); pulls++) {
    const got = await store.getMessage(topic, queueId, offset, 32);
    out.push(...got.records);
    offset = got.nextBeginOffset;
  }
  return out;
}

async function bodiesIn(store: MessageStore, topic: string, queueId: number): Promise<string[]> {
  return (await recordsIn(store, topic, queueId)).map((r) => decodeRecord(r).body.toString('hex'));
}

async function putMany(store: MessageStore, n: number, from = 0): Promise<PutResult[]> {
  const out: PutResult[] = [];
  for (let i = from; i < from + n; i++) out.push(await store.putMessage(message('Dl', i % 2, bodyFor(i, 300), { KEYS: `k${i}` })));
  return out;
}

/** A store with `n` messages put (SYNC_FLUSH), then closed cleanly. */
async function storeWithMessages(n: number): Promise<{ dir: string; cfg: StoreConfig; current: { store?: MessageStore }; puts: PutResult[] }> {
  const { dir, current } = await storeDir();
  const cfg = config(dir);
  const store = (current.store = await MessageStore.open(cfg, { commitLog: factory() }));
  const puts = await putMany(store, n);
  await store.close();
  current.store = undefined;
  return { dir, cfg, current, puts };
}

describe('MessageStore on the DLedger commit log (a group of one)', () => {
  it('stores each record as an entry body: ids and queue units point at pos + 48 in the DLedger data files', async () => {
    const { dir, current } = await storeDir();
    const store = (current.store = await MessageStore.open(config(dir), { commitLog: factory() }));
    const puts = await putMany(store, 60);
    const batch = await store.putMessages([0, 1, 2].map((i) => message('Dl', 0, bodyFor(100 + i, 300))));
    expect(batch.map((r) => r.queueOffset)).toEqual([30, 31, 32]);

    const files = await fsp.readdir(path.join(dir, `dledger-${SELF}`, 'data'));
    expect(files.length).toBeGreaterThan(1); // 63 entries of ~450 bytes cross 16 KiB files
    expect(await fsp.readdir(dir)).not.toContain('commitlog');

    const records = await recordsIn(store, 'Dl', 0);
    expect(records).toHaveLength(33);
    const expected = [...puts.filter((_, i) => i % 2 === 0), ...batch];
    for (const [k, rec] of records.entries()) {
      const put = expected[k]!;
      const decoded = decodeRecord(rec);
      expect(decoded.commitLogOffset).toBe(put.commitLogOffset);
      expect(decodeOffsetMsgId(put.offsetMsgId)?.commitLogOffset).toBe(put.commitLogOffset);
      // The record is the entry's body, byte for byte, and the entry says it lies at pos.
      const pos = put.commitLogOffset - BODY_OFFSET;
      expect(await dataBytes(dir, put.commitLogOffset, rec.length)).toEqual(rec);
      const header = readEntryHeader(await dataBytes(dir, pos, BODY_OFFSET));
      expect(header).toMatchObject({ magic: 1, pos, size: BODY_OFFSET + rec.length, bodyLen: rec.length });
    }
    expect((await store.lookMessageByOffset(puts[7]!.commitLogOffset))?.body).toEqual(bodyFor(7, 300));
    // SYNC_FLUSH: a put resolves once its entry is committed and flushed here.
    const stats = store.stats();
    expect(stats.fsyncs).toBeGreaterThan(0);
    expect(stats.flushedOffset).toBe(stats.commitLogMaxOffset);
    expect(stats.commitLogMaxOffset).toBe(batch[2]!.commitLogOffset + batch[2]!.wroteBytes);

    const q = await store.queryMessage('Dl', 'k13', 32, 0, Number.MAX_SAFE_INTEGER);
    expect(q.records.map((r) => decodeRecord(r).body)).toEqual([bodyFor(13, 300)]);
  });

  it('recovers everything on reopen, also rebuilding lost consume queues and index from the committed entries', async () => {
    const { dir, current } = await storeDir();
    const cfg = config(dir, { flushDiskType: 'ASYNC_FLUSH' });
    let store = (current.store = await MessageStore.open(cfg, { commitLog: factory() }));
    await putMany(store, 50);
    const before = [await bodiesIn(store, 'Dl', 0), await bodiesIn(store, 'Dl', 1)];
    const maxOffset = store.commitLogMaxOffset();
    await store.close();

    current.store = store = await MessageStore.open(cfg, { commitLog: factory() });
    expect(store.report.truncatedFromOffset).toBeNull();
    expect(store.report.bytesDropped).toBe(0);
    expect(store.commitLogMaxOffset()).toBe(maxOffset);
    expect([await bodiesIn(store, 'Dl', 0), await bodiesIn(store, 'Dl', 1)]).toEqual(before);
    await store.close();

    // Abnormal end with the derived data gone: rebuilt from the DLedger entries.
    await fsp.rm(path.join(dir, 'consumequeue'), { recursive: true });
    await fsp.rm(path.join(dir, 'index'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'abort'), '');
    current.store = store = await MessageStore.open(cfg, { commitLog: factory() });
    expect(store.report.mode).toBe('abnormal');
    expect(store.report.recordsScanned).toBe(50);
    expect([await bodiesIn(store, 'Dl', 0), await bodiesIn(store, 'Dl', 1)]).toEqual(before);
    expect((await store.queryMessage('Dl', 'k42', 32, 0, Number.MAX_SAFE_INTEGER)).records).toHaveLength(1);
    const next = await store.putMessage(message('Dl', 0, 'after'));
    expect(next.queueOffset).toBe(25);
    expect(next.commitLogOffset).toBeGreaterThanOrEqual(maxOffset + BODY_OFFSET);
  });

  it('cuts a torn DLedger tail on reopen: the last entry is gone, the rest comes back, its pos is reused', async () => {
    const { dir, cfg, current, puts } = await storeWithMessages(20);
    const last = puts[19]!;
    const pos = last.commitLogOffset - BODY_OFFSET;
    // A write cut short: the entry's last 16 bytes never reached the disk.
    const h = await fsp.open(dataFile(dir, pos), 'r+');
    await h.write(Buffer.alloc(16), 0, 16, (last.commitLogOffset + last.wroteBytes - 16) % DATA_FILE_BYTES);
    await h.close();

    const store = (current.store = await MessageStore.open(cfg, { commitLog: factory() }));
    expect(store.report.truncatedFromOffset).toBe(pos);
    expect(store.report.truncateReason).toBe('torn');
    expect(store.report.bytesDropped).toBeGreaterThan(0);
    expect(store.commitLogMaxOffset()).toBe(pos);
    expect(store.getMaxOffsetInQueue('Dl', 1)).toBe(9); // message 19 went to queue 1
    expect(await bodiesIn(store, 'Dl', 0)).toEqual(puts.filter((_, i) => i % 2 === 0).map((_, k) => bodyFor(2 * k, 300).toString('hex')));
    expect(await store.lookMessageByOffset(last.commitLogOffset)).toBeUndefined();

    const again = await store.putMessage(message('Dl', 1, 'again'));
    expect(again.commitLogOffset).toBe(last.commitLogOffset);
    expect(again.queueOffset).toBe(9);
    expect((await store.lookMessageByOffset(again.commitLogOffset))?.body.toString()).toBe('again');
  });

  it('refuses to open when a committed entry does not hold a valid record: committed entries are never cut', async () => {
    const { dir, cfg, puts } = await storeWithMessages(10);
    // Entry 4's message body changes and its DLedger body CRC says "not computed" (as Apache
    // nodes write it), so DLedger's recovery keeps it and only the record's own CRC can tell.
    const put = puts[4]!;
    const pos = put.commitLogOffset - BODY_OFFSET;
    const file = dataFile(dir, pos);
    const bytes = await fsp.readFile(file);
    const at = pos % DATA_FILE_BYTES;
    bytes.writeInt32BE(0, at + 40);
    const bodyAt = bytes.indexOf(bodyFor(4, 300), at + BODY_OFFSET);
    expect(bodyAt).toBeGreaterThan(at);
    bytes[bodyAt + 10] ^= 0xff;
    await fsp.writeFile(file, bytes);

    for (let attempt = 0; attempt < 2; attempt++) {
      // Each attempt fails the same way: the first one released the lock and the DLedger files.
      await expect(MessageStore.open(cfg, { commitLog: factory() })).rejects.toMatchObject({ code: 'E_STORE_CORRUPT', message: expect.stringMatching(/cannot be cut/) as unknown });
    }
  });

  it('dispatches and answers only once an entry commits; uncommitted entries do not come back on reopen', async () => {
    const { dir, current } = await storeDir();
    const cfg = config(dir);
    let log: SingleNodeLog | undefined;
    const held = factory({ holdCommits: true, commitWaitMs: 200, onOpen: (l) => (log = l) });
    let store = (current.store = await MessageStore.open(cfg, { commitLog: held }));
    let settled = false;
    const first = store.putMessage(message('Dl', 0, 'one')).finally(() => (settled = true));
    // Appended and durable in the DLedger files (the append was queued before putMessage
    // returned, the flush after it), but not committed: not answered, not readable.
    await log!.flush();
    expect(log!.store.getLedgerEndIndex()).toBe(0);
    expect(settled).toBe(false);
    expect(store.getMaxOffsetInQueue('Dl', 0)).toBe(0);
    expect(store.commitLogMaxOffset()).toBe(0);

    await log!.commitThrough(0);
    const one = await first;
    expect(store.getMaxOffsetInQueue('Dl', 0)).toBe(1);
    expect(store.commitLogMaxOffset()).toBe(one.commitLogOffset + one.wroteBytes);

    // The second is never committed: its put fails when the store closes, and a reopen keeps it out.
    const second = store.putMessage(message('Dl', 0, 'two'));
    const outcome = second.then(
      () => 'answered',
      (err: unknown) => (err as { code?: string }).code,
    );
    await store.close();
    expect(await outcome).toMatch(/^E_STORE_(BUSY|CLOSED)$/);

    current.store = store = await MessageStore.open(cfg, { commitLog: held });
    expect(log!.store.getLedgerEndIndex()).toBe(1); // the entry is still in the DLedger log ...
    expect(log!.store.getCommittedIndex()).toBe(0);
    expect(store.getMaxOffsetInQueue('Dl', 0)).toBe(1); // ... but not in the store
    expect(store.commitLogMaxOffset()).toBe(one.commitLogOffset + one.wroteBytes);
    expect(await bodiesIn(store, 'Dl', 0)).toEqual([Buffer.from('one').toString('hex')]);

    // Committed later (as a new leader commits an old tail), it is dispatched from the entry itself.
    await log!.commitThrough(1);
    await store.flush();
    expect(await bodiesIn(store, 'Dl', 0)).toEqual(['one', 'two'].map((b) => Buffer.from(b).toString('hex')));
    const third = store.putMessage(message('Dl', 0, 'three'));
    await log!.flush();
    await log!.commitThrough(2);
    expect((await third).queueOffset).toBe(2);
  });

  it('refuses appends on a node that is not the leader, with a typed error, and appends nothing', async () => {
    const { dir, current } = await storeDir();
    let log: SingleNodeLog | undefined;
    const store = (current.store = await MessageStore.open(config(dir), { commitLog: factory({ leader: false, onOpen: (l) => (log = l) }) }));
    await expect(store.putMessage(message('Dl', 0, 'x'))).rejects.toBeInstanceOf(NotLeaderError);
    await expect(store.putMessages([message('Dl', 0, 'y')])).rejects.toMatchObject({ code: 'E_STORE_NOT_LEADER' });
    expect(log!.store.getLedgerEndIndex()).toBe(-1);
    expect(log!.store.dataFileStarts()).toEqual([]);
    expect(store.commitLogMaxOffset()).toBe(0);
    expect(store.getMaxOffsetInQueue('Dl', 0)).toBe(0);
    expect(store.stats().putFailures).toBe(2);
  });
});
