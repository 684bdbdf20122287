import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import os from 'node:os';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreLockedError } from '../../src/errors/index.js';
import { segmentFileName } from '../../src/broker/store/commitlog-files.js';
import { MessageStore, StoreNotFoundError, verifyStore } from '../../src/broker/store/message-store.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { bodyFor, message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

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

const cfg = () => smallConfig(dir, { flushDiskType: 'SYNC_FLUSH', messageIndexEnable: true, flushIntervalConsumeQueue: 60_000 });

/** A store left by a crash whose last record is torn; returns the torn record's offset. */
async function crashedStoreWithTornTail(): Promise<number> {
  const s = await MessageStore.open(cfg());
  let last = { commitLogOffset: 0, wroteBytes: 0 };
  for (let i = 0; i < 25; i++) last = await s.putMessage(message('V', i % 2, bodyFor(i, 700), { KEYS: `k${i}` }));
  // Queues and index reach the disk (so their geometry can be read back), then the process "dies".
  await s.flush();
  s.halt();
  // The lock now names this (live) process; a crashed broker's lock names a dead pid.
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  await fs.writeFile(path.join(dir, 'lock'), JSON.stringify({ pid: dead, startTicks: null, host: os.hostname() }) + '\n');
  const file = path.join(dir, 'commitlog', segmentFileName(0));
  const seg = await fs.readFile(file);
  seg.fill(0, last.commitLogOffset + 300, last.commitLogOffset + last.wroteBytes);
  await fs.writeFile(file, seg);
  return last.commitLogOffset;
}

/** sha1 of every file under the store (names and contents). */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(path.relative(root, p), createHash('sha1').update(await fs.readFile(p)).digest('hex'));
    }
  };
  await walk(root);
  return out;
}

describe('verifyStore', () => {
  it('reports what recovery would cut and rebuild without changing a byte', async () => {
    const torn = await crashedStoreWithTornTail();
    const before = await snapshot(dir);
    const r = await verifyStore(dir);
    expect(r.dryRun).toBe(true);
    expect(r.repaired).toBe(false);
    expect(r.mode).toBe('abnormal');
    expect(r.truncatedFromOffset).toBe(torn);
    expect(r.truncateReason).toBe('torn');
    expect(r.queuesRebuilt).toEqual(['V/0']);
    expect(r.queueUnitsDropped).toBe(1);
    expect(r.indexChecked).toBe(true);
    expect(r.mappedFileSizeCommitLog).toBe(64 * 1024);
    // The halted store's stale lock was taken over and released; everything else is untouched.
    const after = await snapshot(dir);
    before.delete('lock');
    expect(after).toEqual(before);
    // Twice gives the same answer.
    expect((await verifyStore(dir)).truncatedFromOffset).toBe(torn);
  });

  it('--repair applies the recovery; the next open is clean and finds nothing to cut', async () => {
    const torn = await crashedStoreWithTornTail();
    const r = await verifyStore(dir, { repair: true });
    expect([r.repaired, r.truncatedFromOffset]).toEqual([true, torn]);
    store = await MessageStore.open(cfg());
    expect(store.report.mode).toBe('clean');
    expect(store.report.truncatedFromOffset).toBeNull();
    expect(store.commitLogMaxOffset()).toBe(torn);
    expect(store.getMaxOffsetInQueue('V', 0) + store.getMaxOffsetInQueue('V', 1)).toBe(24);
  });

  it('says a directory that holds no store is no store (not "clean"), and creates nothing there', async () => {
    const empty = path.join(dir, 'empty');
    await fs.mkdir(path.join(empty, 'config'), { recursive: true });
    await fs.writeFile(path.join(empty, 'notes.txt'), 'not a store');
    await expect(verifyStore(empty)).rejects.toBeInstanceOf(StoreNotFoundError);
    await expect(verifyStore(empty, { repair: true })).rejects.toBeInstanceOf(StoreNotFoundError);
    expect((await fs.readdir(empty)).sort()).toEqual(['config', 'notes.txt']);
    const res = await runCli(['store', 'verify', '--store-dir', empty]);
    expect(res.code, res.stdout).toBe(1);
    expectOneLineError(res.stderr);
    expect(res.stderr).toContain(`no store at ${empty}`);
    expect(res.stdout).toBe('');
  });

  it('refuses a store in use and a dir that is not there', async () => {
    store = await MessageStore.open(cfg());
    await expect(verifyStore(dir)).rejects.toBeInstanceOf(StoreLockedError);
    await expect(verifyStore(path.join(dir, 'nope'))).rejects.toBeInstanceOf(StoreNotFoundError);
  });
});

describe('rocketctl store verify', () => {
  it('prints the report in the JSON envelope and exits 4 when recovery would cut data', async () => {
    const torn = await crashedStoreWithTornTail();
    const res = await runCli(['store', 'verify', '--store-dir', dir, '--json']);
    expect(res.code, res.stderr + res.stdout).toBe(4);
    expectSuccessEnvelope('store:verify', res.json);
    expect(res.json.status).toBe(4);
    expect(res.json.result.truncatedFromOffset).toBe(torn);
    expect(res.json.warnings.join('\n')).toMatch(/would cut/);
  });

  it('prints key/values for humans and exits 0 on a healthy store', async () => {
    const s = await MessageStore.open(cfg());
    await s.putMessage(message('V', 0, 'ok'));
    await s.close();
    const res = await runCli(['store', 'verify', '--store-dir', dir]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/last shutdown:\s+clean/);
    expect(res.stdout).toMatch(/problem:\s+none/);
    expect(res.stdout).toMatch(/dry run/);
  });

  it('fails at once with one line while a broker holds the store', async () => {
    store = await MessageStore.open(cfg());
    const res = await runCli(['store', 'verify', '--store-dir', dir]);
    expect(res.code).toBe(1);
    expectOneLineError(res.stderr);
    expect(res.stderr).toMatch(/in use by another process/);
    const json = await runCli(['store', 'verify', '--store-dir', dir, '--json']);
    expectErrorEnvelope(json.json, 1);
    expect(json.json.code).toBe('E_STORE_LOCKED');
  });
});
