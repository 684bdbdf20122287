import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSocketAddr } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { onTestFinished } from 'vitest';
import type { MessageStore, PutMessageInput } from '../../src/broker/store/message-store.js';
import { defaultStoreConfig } from '../../src/broker/store/store-config.js';
import type { StoreConfig } from '../../src/broker/store/types.js';

/** Shared by the store tests: temp dirs, small-geometry configs, messages. */

export async function tempDir(prefix = 'rocketctl-store-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

/** A temp store dir for one test, with a slot for the store open in it: closed, then removed, when the test ends. */
export async function storeDirForTest(prefix: string): Promise<{ dir: string; current: { store?: MessageStore } }> {
  const dir = await tempDir(prefix);
  const current: { store?: MessageStore } = {};
  onTestFinished(async () => {
    await current.store?.close().catch(() => undefined);
    await removeDir(dir);
  });
  return { dir, current };
}

/** Tiny segments (rollover every few dozen messages), tiny consume-queue files and index. */
export function smallConfig(dir: string, overrides: Partial<StoreConfig> = {}): StoreConfig {
  return defaultStoreConfig({
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 64 * 1024,
    mappedFileSizeConsumeQueue: 20 * 64,
    flushIntervalCommitLog: 50,
    flushIntervalConsumeQueue: 100,
    messageIndexEnable: false,
    maxHashSlotNum: 64,
    maxIndexNum: 256,
    ...overrides,
  });
}

const BORN = parseSocketAddr('10.0.0.7:54321');

export function message(
  topic: string,
  queueId: number,
  body: Buffer | string,
  props: Record<string, string> = {},
  extra: Partial<PutMessageInput> = {},
): PutMessageInput {
  return {
    topic,
    queueId,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: BORN,
    body: typeof body === 'string' ? Buffer.from(body) : body,
    properties: encodeProperties(props),
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    ...extra,
  };
}

export function sha1(buf: Buffer): string {
  return createHash('sha1').update(buf).digest('hex');
}

/** Deterministic body of `size` bytes for message `n`. */
export function bodyFor(n: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (n * 31 + i * 7) & 0xff;
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}
