import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../errors/index.js';
import { parseSocketAddr } from '../../protocol/message.js';
import { DEFAULT_MESSAGE_DELAY_LEVEL, type StoreConfig } from './types.js';

/**
 * StoreConfig defaults: MessageStoreConfig 4.9.8 (fact sheet §6.1), except the root dir, which is
 * `~/.rocketctl/store` (RocketMQ uses `~/store`; the broker and `store verify` share ours).
 */
export const DEFAULT_STORE_DIR = path.join(os.homedir(), '.rocketctl', 'store');

/** 1 GiB commit log segments, as MessageStoreConfig.mappedFileSizeCommitLog. */
export const DEFAULT_COMMITLOG_FILE_SIZE_BYTES = 1024 * 1024 * 1024;
/** 300000 units of 20 bytes, as MessageStoreConfig.mappedFileSizeConsumeQueue. */
export const DEFAULT_CONSUMEQUEUE_FILE_SIZE_BYTES = 300_000 * 20;

export function defaultStoreConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  const config: StoreConfig = {
    storePathRootDir: DEFAULT_STORE_DIR,
    mappedFileSizeCommitLog: DEFAULT_COMMITLOG_FILE_SIZE_BYTES,
    mappedFileSizeConsumeQueue: DEFAULT_CONSUMEQUEUE_FILE_SIZE_BYTES,
    flushDiskType: 'ASYNC_FLUSH',
    flushIntervalCommitLog: 500,
    flushIntervalConsumeQueue: 1000,
    syncFlushTimeout: 5000,
    maxMessageSize: 4 * 1024 * 1024,
    messageIndexEnable: true,
    maxHashSlotNum: 5_000_000,
    maxIndexNum: 20_000_000,
    checkCRCOnRecover: true,
    storeHost: parseSocketAddr('127.0.0.1:10911'),
    delayLevelMillis: parseDelayLevels(DEFAULT_MESSAGE_DELAY_LEVEL),
    ...overrides,
  };
  validateStoreConfig(config);
  return config;
}

/** Reject geometry the on-disk format cannot represent, before any file is touched. */
export function validateStoreConfig(c: StoreConfig): void {
  const problems: string[] = [];
  if (!c.storePathRootDir) problems.push('storePathRootDir is empty');
  // A segment must hold at least one minimal record plus the 8-byte BLANK trailer.
  if (!Number.isSafeInteger(c.mappedFileSizeCommitLog) || c.mappedFileSizeCommitLog < 4096) {
    problems.push(`mappedFileSizeCommitLog must be an integer >= 4096 (got ${c.mappedFileSizeCommitLog})`);
  }
  if (!Number.isSafeInteger(c.mappedFileSizeConsumeQueue) || c.mappedFileSizeConsumeQueue <= 0 || c.mappedFileSizeConsumeQueue % 20 !== 0) {
    problems.push(`mappedFileSizeConsumeQueue must be a positive multiple of 20 (got ${c.mappedFileSizeConsumeQueue})`);
  }
  for (const [name, v] of [
    ['flushIntervalCommitLog', c.flushIntervalCommitLog],
    ['flushIntervalConsumeQueue', c.flushIntervalConsumeQueue],
    ['syncFlushTimeout', c.syncFlushTimeout],
    ['maxMessageSize', c.maxMessageSize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) problems.push(`${name} must be a positive integer (got ${v})`);
  }
  if (c.flushDiskType !== 'ASYNC_FLUSH' && c.flushDiskType !== 'SYNC_FLUSH') {
    problems.push(`flushDiskType must be ASYNC_FLUSH or SYNC_FLUSH (got ${String(c.flushDiskType)})`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid store config: ${problems.join('; ')}`);
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parse messageDelayLevel ("1s 5s 10s 30s 1m ... 2h") into milliseconds per level, index 0 = level 1,
 * as ScheduleMessageService.parseDelayLevel (units s, m, h, d).
 */
export function parseDelayLevels(spec: string): number[] {
  const out: number[] = [];
  for (const item of spec.trim().split(/\s+/)) {
    if (item === '') continue;
    const m = /^(\d+)([smhd])$/.exec(item);
    if (!m) throw new ConfigError(`bad messageDelayLevel item ${JSON.stringify(item)}: expected <number><s|m|h|d>`);
    out.push(Number(m[1]) * UNIT_MS[m[2]!]!);
  }
  if (out.length === 0) throw new ConfigError('messageDelayLevel is empty');
  return out;
}
