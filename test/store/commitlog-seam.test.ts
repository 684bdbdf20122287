/**
 * The commit-log seam under MessageStore (src/broker/store/commitlog-service.ts): the store opens,
 * recovers, appends, reads and closes through whatever `OpenOptions.commitLog` builds, so a
 * replicated commit log can stand in for the local one. Here the stand-in is the real CommitLog
 * behind a recording wrapper (no mock: the bytes go to disk and come back).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { CommitLog } from '../../src/broker/store/commitlog.js';
import type { CommitLogFactory, CommitLogService } from '../../src/broker/store/commitlog-service.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { StoreError } from '../../src/errors/index.js';
import { decodeRecord } from '../../src/protocol/message.js';
import { bodyFor, message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

/** A temp store dir for one test; the store left open in `current` is closed, the dir removed, when it ends. */
async function storeDir(): Promise<{ dir: string; current: { store?: MessageStore } }> {
  const dir = await tempDir();
  const current: { store?: MessageStore } = {};
  onTestFinished(async () => {
    await current.store?.close().catch(() => undefined);
    await removeDir(dir);
  });
  return { dir, current };
}

/** A factory building the local CommitLog behind a wrapper that records each method called. */
function recording(calls: string[], override: Partial<CommitLogService> = {}): CommitLogFactory {
  return (io, opts) => {
    const real = new CommitLog(io, opts);
    return new Proxy(real, {
      get(target, key, receiver) {
        if (typeof key === 'string' && key in override) return override[key as keyof CommitLogService];
        const v = Reflect.get(target, key, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (typeof key === 'string') calls.push(key);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as CommitLogService;
  };
}

describe('MessageStore over a CommitLogService of the caller\'s choice', () => {
  it('opens, recovers, appends, reads and closes through it; a reopen recovers what it wrote', async () => {
    const { dir, current } = await storeDir();
    const cfg = smallConfig(dir, { mappedFileSizeCommitLog: 16 * 1024 });
    let store: MessageStore;
    const calls: string[] = [];
    current.store = store = await MessageStore.open(cfg, { commitLog: recording(calls) });
    expect(calls.slice(0, 2)).toEqual(['load', 'segmentStarts']);
    expect(calls).toContain('truncateAndStartAt');
    expect(calls).toContain('start');

    calls.length = 0;
    const puts = [];
    for (let i = 0; i < 60; i++) puts.push(await store.putMessage(message('Seam', i % 2, bodyFor(i, 400))));
    const batch = await store.putMessages([0, 1, 2].map((i) => message('Seam', 0, bodyFor(100 + i, 400))));
    expect(calls.filter((c) => c === 'appendOne')).toHaveLength(60);
    expect(calls.filter((c) => c === 'append')).toHaveLength(1);
    expect(batch.map((r) => r.queueOffset)).toEqual([30, 31, 32]);

    calls.length = 0;
    const got = await store.getMessage('Seam', 1, 0, 32);
    expect(got.status).toBe('FOUND');
    expect(got.records.map((r) => decodeRecord(r).body.toString())).toEqual(puts.filter((_, i) => i % 2 === 1).map((_, j) => bodyFor(2 * j + 1, 400).toString()));
    expect(calls).toContain('readMany');
    await store.close();
    expect(calls).toContain('close');
    current.store = undefined;

    // Abnormal end (the abort marker stays): recovery scans through the service and keeps everything.
    const again: string[] = [];
    current.store = store = await MessageStore.open(cfg, { commitLog: recording(again) });
    expect(again).toContain('scan');
    expect(store.getMaxOffsetInQueue('Seam', 0)).toBe(33);
    expect(store.getMaxOffsetInQueue('Seam', 1)).toBe(30);
    store.halt();
    current.store = undefined;
    const third: string[] = [];
    current.store = store = await MessageStore.open(cfg, { commitLog: recording(third) });
    expect(store.report.mode).toBe('abnormal');
    expect(third).toContain('firstStoreTimestamp');
    expect(store.report.truncatedFromOffset).toBeNull();
    expect(store.getMaxOffsetInQueue('Seam', 0)).toBe(33);
  });

  it('answers a put with the error the service refuses it with, and appends nothing', async () => {
    const { dir, current } = await storeDir();
    let store: MessageStore;
    const refusal = new StoreError('not the leader of the replication group', { code: 'E_STORE_NOT_LEADER' });
    current.store = store = await MessageStore.open(smallConfig(dir), {
      commitLog: recording([], {
        checkWritable: () => {
          throw refusal;
        },
      }),
    });
    await expect(store.putMessage(message('Seam', 0, 'x'))).rejects.toBe(refusal);
    expect(store.commitLogMaxOffset()).toBe(0);
    expect(store.stats().putFailures).toBe(1);
  });
});
