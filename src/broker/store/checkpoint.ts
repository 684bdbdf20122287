import path from 'node:path';
import { readInt64, writeInt64 } from '../../protocol/long.js';
import type { FileIO } from './file-io.js';

/**
 * The `checkpoint` file (StoreCheckpoint): 4096 bytes, int64 physicMsgTimestamp @0
 * (store time of the last flushed commit log record), logicsMsgTimestamp @8 (last flushed consume
 * queue unit), indexMsgTimestamp @16 (last flushed index entry). Abnormal recovery starts from the
 * commit log file whose first record is older than min(...) - 3 s.
 *
 * RocketMQ mmaps it and rewrites in place; we replace it atomically through FileIO (tmp, fsync,
 * rename, fsync dir), falling back to `checkpoint.bak` when the main file is unreadable, so a torn
 * checkpoint can never push recovery's start point past unflushed data.
 */
const CHECKPOINT_FILE_BYTES = 4096;

interface CheckpointTimes {
  physicMsgTimestamp: number;
  logicsMsgTimestamp: number;
  indexMsgTimestamp: number;
}

export class Checkpoint implements CheckpointTimes {
  physicMsgTimestamp = 0;
  logicsMsgTimestamp = 0;
  indexMsgTimestamp = 0;
  /** Whether a readable checkpoint existed at load time (a brand-new store has none). */
  loadedFromDisk = false;

  constructor(
    private readonly io: FileIO,
    readonly filePath: string,
  ) {}

  static pathIn(storePathRootDir: string): string {
    return path.join(storePathRootDir, 'checkpoint');
  }

  async load(): Promise<void> {
    for (const p of [this.filePath, this.filePath + '.bak']) {
      const times = await readCheckpoint(this.io, p);
      if (times) {
        Object.assign(this, times);
        this.loadedFromDisk = true;
        return;
      }
    }
  }

  /**
   * The time recovery may trust: every record stored before it reached the commit log and the
   * consume queues durably (the index too when `includeIndex`), as StoreCheckpoint.getMinTimestamp.
   */
  minTimestamp(includeIndex: boolean): number {
    let min = Math.min(this.physicMsgTimestamp, this.logicsMsgTimestamp);
    if (includeIndex) min = Math.min(min, this.indexMsgTimestamp);
    // RocketMQ backs off 3 s to cover records whose store times are not monotonic across threads.
    return Math.max(0, min - 3000);
  }

  async flush(): Promise<void> {
    const buf = Buffer.alloc(CHECKPOINT_FILE_BYTES);
    writeInt64(buf, this.physicMsgTimestamp, 0);
    writeInt64(buf, this.logicsMsgTimestamp, 8);
    writeInt64(buf, this.indexMsgTimestamp, 16);
    await this.io.writeFileAtomic(this.filePath, buf);
  }
}

async function readCheckpoint(io: FileIO, p: string): Promise<CheckpointTimes | undefined> {
  if (!(await io.exists(p))) return undefined;
  const buf = await io.readFile(p);
  if (buf.length < 24) return undefined;
  const times = {
    physicMsgTimestamp: readInt64(buf, 0),
    logicsMsgTimestamp: readInt64(buf, 8),
    indexMsgTimestamp: readInt64(buf, 16),
  };
  if (Object.values(times).some((t) => t < 0)) return undefined;
  return times;
}
