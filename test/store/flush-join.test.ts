/**
 * store.flush() under ASYNC_FLUSH must sync what was written before the call, even when a flush
 * (the periodic one, or another caller's) is already under way: that flush started before the
 * caller's records were written and covers less. Joining it made store.flush() resolve with the
 * caller's records still only in the page cache (seen as a rare loss in the power-loss test).
 * The real file I/O, with the commit log's fdatasync held on a gate to make the overlap certain.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileHandle, FileIO, OpenMode } from '../../src/broker/store/file-io.js';
import { MessageStore } from '../../src/broker/store/message-store.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { message, removeDir, smallConfig, tempDir } from './message-store.helpers.js';

/** NodeFileIO whose commit log datasync waits while `held` is set; counts datasyncs by phase. */
class GatedIO extends NodeFileIO {
  held: Promise<void> | undefined;
  syncsStarted = 0;
  override async open(p: string, mode: OpenMode): Promise<FileHandle> {
    const h = await super.open(p, mode);
    if (!p.includes(`${path.sep}commitlog${path.sep}`)) return h;
    return new Proxy(h, {
      get: (target, prop, receiver) => {
        if (prop !== 'datasync') return Reflect.get(target, prop, receiver);
        return async () => {
          this.syncsStarted++;
          if (this.held) await this.held;
          return target.datasync();
        };
      },
    });
  }
}

let dir: string | undefined;
let store: MessageStore | undefined;
afterEach(async () => {
  await store?.close().catch(() => undefined);
  store = undefined;
  if (dir) await removeDir(dir);
});

describe('store.flush() joining a flush under way', () => {
  it('syncs records written after that flush started (a second round), not only what it covered', async () => {
    dir = await tempDir();
    const io = new GatedIO();
    // The periodic flush is an hour away: every flush here is an explicit call.
    store = await MessageStore.open(smallConfig(dir, { flushDiskType: 'ASYNC_FLUSH', flushIntervalCommitLog: 3_600_000 }), { io: io as unknown as FileIO });
    await store.putMessage(message('T', 0, 'a'));
    let release!: () => void;
    io.held = new Promise<void>((r) => (release = r));
    const first = store.flush(); // syncs up to a, held at its fdatasync
    await new Promise((r) => setTimeout(r, 20));
    const b = await store.putMessage(message('T', 0, 'b'));
    const bEnd = b.commitLogOffset + b.wroteBytes;
    const syncsBefore = io.syncsStarted;
    const second = store.flush(); // must not simply join `first`
    io.held = undefined;
    release();
    await Promise.all([first, second]);
    expect(io.syncsStarted).toBeGreaterThan(syncsBefore);
    expect(store.stats().flushedOffset).toBeGreaterThanOrEqual(bEnd);
  });
});
