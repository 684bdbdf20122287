/**
 * The DLedger entry store (src/broker/dledger/file-store.ts) on real files in a temp dir: DLedger's
 * layout (DLedgerMmapFileStore / MmapFileList at openmessaging/dledger 0.3.1.2), append / get /
 * truncate / reopen, recovery cutting a torn or CRC-bad tail and reporting it, the index rebuilt
 * from the data, files an Apache node wrote (CRCs 0), and seeded power cuts through FaultyFileIO.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { decodeIndexUnit, encodeEntry, encodeIndexUnit, indexUnitOf, type DLedgerEntry } from '../../src/protocol/dledger/entry.js';
import { DLedgerFileStore, type DLedgerFileStoreOptions } from '../../src/broker/dledger/file-store.js';
import { DLedgerResponseCode } from '../../src/protocol/dledger/protocol.js';
import { DLedgerError } from '../../src/broker/dledger/errors.js';
import { FaultyFileIO, faultSeedFromEnv } from '../../src/broker/store/faulty-file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { InvariantError } from '../../src/util/invariant.js';

/** Small files so a few entries cross file ends (a BLANK fills each tail). */
const DATA_FILE_BYTES = 256;
const INDEX_FILE_BYTES = 32 * 4;

async function tempBase(): Promise<DLedgerFileStoreOptions> {
  const storeBaseDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'rocketctl-dledger-'));
  onTestFinished(() => fsp.rm(storeBaseDir, { recursive: true, force: true }));
  return { storeBaseDir, selfId: 'n0', dataFileBytes: DATA_FILE_BYTES, indexFileBytes: INDEX_FILE_BYTES };
}

async function open(opts: DLedgerFileStoreOptions, io = new NodeFileIO()) {
  const r = await DLedgerFileStore.open(io, opts);
  onTestFinished(() => r.store.close().catch(() => undefined));
  return r;
}

const body = (i: number): Buffer => Buffer.from(`message-${i}-`.padEnd(20 + ((i * 37) % 60), String.fromCharCode(97 + (i % 26))));
const dataDir = (o: DLedgerFileStoreOptions): string => path.join(o.storeBaseDir, 'dledger-n0', 'data');
const indexDir = (o: DLedgerFileStoreOptions): string => path.join(o.storeBaseDir, 'dledger-n0', 'index');

/** Overwrite bytes of the data files at an absolute position (a disk doing something bad). */
function poke(o: DLedgerFileStoreOptions, pos: number, bytes: Buffer): void {
  const start = pos - (pos % DATA_FILE_BYTES);
  const fd = fs.openSync(path.join(dataDir(o), String(start).padStart(20, '0')), 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, pos - start);
  } finally {
    fs.closeSync(fd);
  }
}

describe('DLedgerFileStore: append, get, reopen', () => {
  it('assigns index and pos, fills file tails with a BLANK, and reads every entry back after a reopen', async () => {
    const o = await tempBase();
    const { store, report } = await open(o);
    expect(report).toMatchObject({ ledgerEndIndex: -1, ledgerBeginIndex: -1, problem: null, bytesDropped: 0 });
    const written: DLedgerEntry[] = [];
    for (let i = 0; i < 12; i++) written.push(await store.append({ term: i < 6 ? 1 : 2, body: body(i) }));
    expect(written.map((e) => e.index)).toEqual([...Array(12).keys()]);
    for (let i = 1; i < written.length; i++) {
      const prev = written[i - 1]!;
      const e = written[i]!;
      // Next to the previous one, or at the next file's start when it would not leave 8 bytes.
      const next = prev.pos + prev.size;
      const fits = e.size + 8 <= DATA_FILE_BYTES - (next % DATA_FILE_BYTES);
      expect(e.pos).toBe(fits ? next : next - (next % DATA_FILE_BYTES) + DATA_FILE_BYTES);
    }
    for (const e of written) expect(await store.get(e.index)).toEqual(e);
    store.updateCommittedIndex(9);
    await store.close();

    // DLedger's files: 20-digit names, every file exactly the configured size; the checkpoint.
    for (const name of fs.readdirSync(dataDir(o))) {
      expect(name).toMatch(/^\d{20}$/);
      expect(fs.statSync(path.join(dataDir(o), name)).size).toBe(DATA_FILE_BYTES);
    }
    expect(fs.readdirSync(indexDir(o))).toEqual(['00000000000000000000', '00000000000000000128', '00000000000000000256']);
    expect(fs.readFileSync(path.join(o.storeBaseDir, 'dledger-n0', 'checkpoint'), 'utf8')).toBe('endIndex=11\ncommittedIndex=9\n');

    const again = await open(o);
    expect(again.report).toMatchObject({ ledgerBeginIndex: 0, ledgerEndIndex: 11, ledgerEndTerm: 2, committedIndex: 9, problem: null, bytesDropped: 0, indexRebuiltFrom: null });
    for (const e of written) expect(await again.store.get(e.index)).toEqual(e);
    const last = written[11]!;
    expect(again.store.getWritePos()).toBe(last.pos + last.size);
    expect((await again.store.append({ term: 2, body: Buffer.from('after reopen') })).index).toBe(12);
  });

  it('refuses reads outside the log with DLedger codes, and a term going back as a bug', async () => {
    const { store } = await open(await tempBase());
    await store.append({ term: 3, body: body(0) });
    await expect(store.get(1)).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.INDEX_OUT_OF_RANGE });
    await expect(store.get(-1)).rejects.toBeInstanceOf(DLedgerError);
    await expect(store.append({ term: 2, body: body(1) })).rejects.toBeInstanceOf(InvariantError);
    await expect(store.append({ term: 3, body: Buffer.alloc(DATA_FILE_BYTES) })).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.DISK_ERROR });
  });

  it('the append hook sees index and pos before the write, and the body CRC covers what it changed', async () => {
    const o = await tempBase();
    const { store } = await open(o);
    await store.append({ term: 1, body: body(0) });
    // As DLedgerCommitLog's hook writes the record's PHYSICALOFFSET (pos + 48) into the body.
    const e = await store.append({ term: 1, body: Buffer.alloc(16) }, (h, bytes, bodyOffset) => {
      bytes.writeBigInt64BE(BigInt(h.pos + bodyOffset), bodyOffset);
    });
    expect(e.body.readBigInt64BE(0)).toBe(BigInt(e.pos + 48));
    await store.close();
    const again = await open(o);
    expect(again.report.problem).toBeNull();
    expect((await again.store.get(1)).body).toEqual(e.body);
  });

  it('appendAsFollower takes the leader entry only at end + 1 and at the same pos', async () => {
    const leader = await open(await tempBase());
    const follower = await open({ ...(await tempBase()), selfId: 'n1' });
    const entries: DLedgerEntry[] = [];
    for (let i = 0; i < 5; i++) entries.push(await leader.store.append({ term: 1, body: body(i) }));
    await expect(follower.store.appendAsFollower(entries[1]!)).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.INCONSISTENT_INDEX });
    for (const e of entries) await follower.store.appendAsFollower(e);
    for (const e of entries) expect(await follower.store.get(e.index)).toEqual(e);
    const wrongPos = await leader.store.append({ term: 1, body: body(5) });
    await expect(follower.store.appendAsFollower({ ...wrongPos, pos: wrongPos.pos + 1 })).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.DISK_ERROR });
  });
});

describe('DLedgerFileStore: truncate', () => {
  it('cuts after an index (data and index, zeroed), appends from there, and the cut stays cut after a reopen', async () => {
    const o = await tempBase();
    const { store } = await open(o);
    const written: DLedgerEntry[] = [];
    for (let i = 0; i < 10; i++) written.push(await store.append({ term: 1, body: body(i) }));
    store.updateCommittedIndex(3);
    await expect(store.truncate(2)).rejects.toBeInstanceOf(InvariantError);
    await store.truncate(5);
    expect([store.getLedgerEndIndex(), store.getLedgerEndTerm(), store.getWritePos()]).toEqual([5, 1, written[6]!.pos]);
    await expect(store.get(6)).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.INDEX_OUT_OF_RANGE });
    const replaced = await store.append({ term: 2, body: Buffer.from('from the new leader') });
    expect([replaced.index, replaced.pos]).toEqual([6, written[6]!.pos]);
    await store.close();
    const again = await open(o);
    expect(again.report).toMatchObject({ ledgerEndIndex: 6, ledgerEndTerm: 2, problem: null, bytesDropped: 0 });
    expect(await again.store.get(6)).toEqual(replaced);
    expect(await again.store.get(5)).toEqual(written[5]);
  });

  it('truncating everything leaves an empty log that starts again at index 0', async () => {
    const o = await tempBase();
    const { store } = await open(o);
    for (let i = 0; i < 4; i++) await store.append({ term: 1, body: body(i) });
    await store.truncate(-1);
    expect([store.getLedgerBeginIndex(), store.getLedgerEndIndex(), store.getLedgerEndTerm(), store.getWritePos()]).toEqual([-1, -1, -1, 0]);
    expect((await store.append({ term: 4, body: body(9) })).index).toBe(0);
  });
});

describe('DLedgerFileStore: recovery', () => {
  async function threeEntries(o: DLedgerFileStoreOptions): Promise<DLedgerEntry[]> {
    const { store } = await open(o);
    const out: DLedgerEntry[] = [];
    // Three small entries, all in the first data file.
    for (let i = 0; i < 3; i++) out.push(await store.append({ term: 1, body: Buffer.from(`entry-${i}`) }));
    await store.close();
    return out;
  }

  it('a body whose CRC does not match ends the log there; the report says where, why and how much', async () => {
    const o = await tempBase();
    const [, e1, e2] = await threeEntries(o);
    poke(o, e1!.pos + 48 + 3, Buffer.from('X'));
    const { store, report } = await open(o);
    expect(report.problem).toMatchObject({ pos: e1!.pos, reason: 'bad-crc' });
    expect(report).toMatchObject({ ledgerEndIndex: 0, truncatedFromPos: e1!.pos, bytesDropped: e2!.pos + e2!.size - e1!.pos });
    // The cut bytes are zeros now, and the next append takes the cut entry's place.
    expect((await store.append({ term: 1, body: body(7) })).pos).toBe(e1!.pos);
    await store.close();
    expect((await open(o)).report.problem).toBeNull();
  });

  it('a torn tail (the last entry half written, the rest zeros) is cut as torn', async () => {
    const o = await tempBase();
    const [, , e2] = await threeEntries(o);
    poke(o, e2!.pos + 48 + 2, Buffer.alloc(e2!.size - 50));
    const { report } = await open(o);
    expect(report.problem).toMatchObject({ pos: e2!.pos, reason: 'torn' });
    expect(report.ledgerEndIndex).toBe(1);
    expect(report.bytesDropped).toBe(50);
  });

  it('a header that lies about its pos, index or size ends the log at that entry', async () => {
    for (const [field, at, value, reason] of [
      ['pos', 24 + 4, 1, 'bad-pos'],
      ['index', 8 + 4, 9, 'bad-index'],
      ['size', 4, 4000, 'bad-size'],
      ['magic', 0, 7, 'bad-magic'],
    ] as const) {
      const o = await tempBase();
      const [, e1] = await threeEntries(o);
      const v = Buffer.alloc(4);
      v.writeInt32BE(value);
      poke(o, e1!.pos + at, v);
      const { report, store } = await open(o);
      expect(report.problem, field).toMatchObject({ pos: e1!.pos, reason });
      expect(report.ledgerEndIndex, field).toBe(0);
      await store.close();
    }
  });

  it('bytes after the zeros that end the log are reported as a hole and dropped', async () => {
    const o = await tempBase();
    const [, , e2] = await threeEntries(o);
    poke(o, e2!.pos + e2!.size + 60, Buffer.from('stray'));
    const { report } = await open(o);
    expect(report.problem).toMatchObject({ pos: e2!.pos + e2!.size, reason: 'hole' });
    expect(report.ledgerEndIndex).toBe(2);
    expect(report.bytesDropped).toBe(65);
  });

  it('the index is rebuilt from the data when it is lost or wrong', async () => {
    const o = await tempBase();
    const written = await threeEntries(o);
    fs.rmSync(indexDir(o), { recursive: true });
    const first = await open(o);
    expect(first.report).toMatchObject({ indexRebuiltFrom: 0, ledgerEndIndex: 2, problem: null });
    for (const e of written) expect(await first.store.get(e.index)).toEqual(e);
    await first.store.close();
    const unitFile = path.join(indexDir(o), '00000000000000000000');
    const bad = fs.readFileSync(unitFile);
    bad.writeInt32BE(999, 32 + 12); // entry 1's size
    fs.writeFileSync(unitFile, bad);
    const second = await open(o);
    expect(second.report.indexRebuiltFrom).toBe(1);
    expect(decodeIndexUnit(fs.readFileSync(unitFile), 32)).toEqual(indexUnitOf(written[1]!));
  });

  it('opens files an Apache node wrote: CRCs 0 (never computed at 0.3.1.2), same layout', async () => {
    const o = await tempBase();
    fs.mkdirSync(dataDir(o), { recursive: true });
    fs.mkdirSync(indexDir(o), { recursive: true });
    const data = Buffer.alloc(DATA_FILE_BYTES);
    const units = Buffer.alloc(INDEX_FILE_BYTES);
    const javaEntries: DLedgerEntry[] = [];
    let pos = 0;
    for (let i = 0; i < 3; i++) {
      const b = Buffer.from(`java-${i}`);
      const e: DLedgerEntry = { magic: 1, size: 48 + b.length, index: i, term: 5, pos, channel: 0, chainCrc: 0, bodyCrc: 0, body: b };
      encodeEntry(e).copy(data, pos);
      encodeIndexUnit(indexUnitOf(e), units, i * 32);
      javaEntries.push(e);
      pos += e.size;
    }
    fs.writeFileSync(path.join(dataDir(o), '00000000000000000000'), data);
    fs.writeFileSync(path.join(indexDir(o), '00000000000000000000'), units);
    fs.writeFileSync(path.join(o.storeBaseDir, 'dledger-n0', 'checkpoint'), 'committedIndex=1\nendIndex=2\n');
    const { store, report } = await open(o);
    expect(report).toMatchObject({ ledgerEndIndex: 2, ledgerEndTerm: 5, committedIndex: 1, problem: null, indexRebuiltFrom: null });
    for (const e of javaEntries) expect(await store.get(e.index)).toEqual(e);
  });

  it('refuses a data file of another size than configured (MmapFileList#doLoad), naming it', async () => {
    const o = await tempBase();
    await threeEntries(o);
    await expect(DLedgerFileStore.open(new NodeFileIO(), { ...o, dataFileBytes: 512 })).rejects.toThrow(/is 256 bytes, not the configured 512/);
  });
});

describe('DLedgerFileStore: power cuts (FaultyFileIO, seeded)', () => {
  it('after a crash at any point, every flushed entry is there and the log is a valid prefix of what was appended', async () => {
    // Fixed seeds unless ROCKETCTL_FAULT_SEED replays one; ROCKETCTL_CRASH_CYCLES runs more rounds.
    const baseSeed = process.env.ROCKETCTL_FAULT_SEED ? faultSeedFromEnv() : 20261;
    const rounds = Number(process.env.ROCKETCTL_CRASH_CYCLES ?? 8);
    for (let round = 0; round < rounds; round++) {
      const seed = (baseSeed + round) >>> 0;
      const o = await tempBase();
      const io = new FaultyFileIO({ seed });
      const { store } = await DLedgerFileStore.open(io, o);
      const appended: DLedgerEntry[] = [];
      let flushedThrough = -1;
      for (let i = 0; i < 20; i++) {
        appended.push(await store.append({ term: 1 + Math.floor(i / 7), body: body(i + round) }));
        if (i % 6 === 5) {
          await store.flush();
          flushedThrough = i;
        }
      }
      const crash = await io.crash();
      const { store: after, report } = await DLedgerFileStore.open(new NodeFileIO(), o);
      const why = `seed ${seed} (ROCKETCTL_FAULT_SEED=${seed} replays it); crash ${JSON.stringify(crash.files.map((f) => [path.basename(f.path), f.fate]))}; report ${JSON.stringify(report)}`;
      expect(report.ledgerEndIndex, why).toBeGreaterThanOrEqual(flushedThrough);
      for (let i = 0; i <= report.ledgerEndIndex; i++) expect(await after.get(i), why).toEqual(appended[i]);
      await after.close();
    }
  });
});
