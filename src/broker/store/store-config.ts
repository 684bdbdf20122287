import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../errors/index.js';
import { parseSocketAddr } from '../../protocol/message.js';
import { DEFAULT_MESSAGE_DELAY_LEVEL, type RetentionConfig, type StoreConfig } from './types.js';

/**
 * StoreConfig defaults: MessageStoreConfig 4.9.8, except the root dir, which is
 * `~/.rocketctl/store` (RocketMQ uses `~/store`; the broker and `store verify` share ours).
 */
export const DEFAULT_STORE_DIR = path.join(os.homedir(), '.rocketctl', 'store');

/** 1 GiB commit log segments, as MessageStoreConfig.mappedFileSizeCommitLog. */
const DEFAULT_COMMITLOG_FILE_SIZE_BYTES = 1024 * 1024 * 1024;
/** 300000 units of 20 bytes, as MessageStoreConfig.mappedFileSizeConsumeQueue. */
const DEFAULT_CONSUMEQUEUE_FILE_SIZE_BYTES = 300_000 * 20;

/** MessageStoreConfig 4.9.8's retention defaults (the broker config starts from these too). */
export const DEFAULT_RETENTION: RetentionConfig = {
  fileReservedTime: 72,
  testOnlyFileReservedTimeMs: 0,
  deleteWhen: '04',
  diskMaxUsedSpaceRatio: 75,
  cleanFileForciblyEnable: true,
  cleanResourceInterval: 10_000,
  deleteCommitLogFilesInterval: 100,
  deleteConsumeQueueFilesInterval: 100,
};

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
    accessMessageInMemoryMaxRatio: 40,
    ...DEFAULT_RETENTION,
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
  for (const [name, v] of [
    ['fileReservedTime', c.fileReservedTime],
    ['testOnlyFileReservedTimeMs', c.testOnlyFileReservedTimeMs],
    ['deleteCommitLogFilesInterval', c.deleteCommitLogFilesInterval],
    ['deleteConsumeQueueFilesInterval', c.deleteConsumeQueueFilesInterval],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) problems.push(`${name} must be an integer >= 0 (got ${v})`);
  }
  if (!Number.isSafeInteger(c.cleanResourceInterval) || c.cleanResourceInterval <= 0) problems.push(`cleanResourceInterval must be a positive integer (got ${c.cleanResourceInterval})`);
  if (!Number.isSafeInteger(c.accessMessageInMemoryMaxRatio) || c.accessMessageInMemoryMaxRatio < 0 || c.accessMessageInMemoryMaxRatio > 100) {
    problems.push(`accessMessageInMemoryMaxRatio must be an integer in 0..100 (got ${c.accessMessageInMemoryMaxRatio})`);
  }
  if (!Number.isFinite(c.diskMaxUsedSpaceRatio)) problems.push(`diskMaxUsedSpaceRatio must be a number (got ${c.diskMaxUsedSpaceRatio})`);
  const when = deleteWhenProblem(c.deleteWhen);
  if (when) problems.push(when);
  if (c.flushDiskType !== 'ASYNC_FLUSH' && c.flushDiskType !== 'SYNC_FLUSH') {
    problems.push(`flushDiskType must be ASYNC_FLUSH or SYNC_FLUSH (got ${String(c.flushDiskType)})`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid store config: ${problems.join('; ')}`);
}

/**
 * deleteWhen: hours of the day, ';'-separated ("04", "04;16"), as UtilAll.isItTimeToDo reads them
 * (each an Integer compared with the local HOUR_OF_DAY). Apache fails at every pass on a bad value;
 * we refuse it when the config is read.
 */
export function parseDeleteWhen(spec: string): number[] {
  const why = deleteWhenProblem(spec);
  if (why) throw new ConfigError(why);
  return spec.split(';').map((h) => Number(h.trim()));
}

function deleteWhenProblem(spec: string): string | undefined {
  const parts = String(spec).split(';').map((h) => h.trim());
  if (parts.some((h) => !/^\d{1,2}$/.test(h) || Number(h) > 23)) {
    return `deleteWhen must be hours of the day 0..23 separated by ';' (e.g. 04 or 04;16), got ${JSON.stringify(spec)}`;
  }
  return undefined;
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

/**
 * The geometry an existing store was written with, read from its files, so tools such as
 * `store verify` need no flags: commit log segment size (the segment files' size), consume queue
 * file size (the largest consume queue file; they are created full size) and the index geometry
 * (slot count from an index header, entry count from the file size). Absent parts are omitted.
 */
export async function inferStoreGeometry(storePathRootDir: string): Promise<Partial<StoreConfig>> {
  const out: Partial<StoreConfig> = {};
  const sizeOf = async (p: string): Promise<number> => (await fsp.stat(p)).size;
  const list = async (p: string): Promise<string[]> => fsp.readdir(p).catch(() => [] as string[]);

  const segments = (await list(path.join(storePathRootDir, 'commitlog'))).filter((n) => /^\d{20}$/.test(n));
  if (segments.length > 0) {
    // Names are start offsets: the gap between two names is the size; one file: its length.
    const starts = segments.map(Number).sort((a, b) => a - b);
    out.mappedFileSizeCommitLog = starts.length > 1 ? starts[1]! - starts[0]! : await sizeOf(path.join(storePathRootDir, 'commitlog', segments[0]!));
  }

  let cqMax = 0;
  const cqRoot = path.join(storePathRootDir, 'consumequeue');
  // Bounded by the directory tree: topics × queues × files.
  for (const topic of await list(cqRoot)) {
    for (const q of await list(path.join(cqRoot, topic))) {
      const files = (await list(path.join(cqRoot, topic, q))).filter((n) => /^\d{20}$/.test(n)).sort();
      if (files.length > 1) cqMax = Math.max(cqMax, Number(files[1]) - Number(files[0]));
      for (const f of files) cqMax = Math.max(cqMax, await sizeOf(path.join(cqRoot, topic, q, f)).catch(() => 0));
    }
  }
  if (cqMax > 0 && cqMax % 20 === 0) out.mappedFileSizeConsumeQueue = cqMax;

  // The header's hashSlotCount counts used slots, so the geometry comes from the file size alone:
  // the default, or RocketMQ's 1:4 slots-to-entries ratio (size = 40 + 84 × slots).
  const indexDir = path.join(storePathRootDir, 'index');
  const indexFiles = (await list(indexDir)).filter((n) => /^\d{17}$/.test(n));
  let indexSize = 0;
  for (const name of indexFiles) indexSize = Math.max(indexSize, await sizeOf(path.join(indexDir, name)).catch(() => 0));
  if (indexSize > 0) {
    const slots = (indexSize - 40) / 84;
    if (indexSize === 40 + 5_000_000 * 4 + 20_000_000 * 20) {
      out.maxHashSlotNum = 5_000_000;
      out.maxIndexNum = 20_000_000;
    } else if (Number.isInteger(slots) && slots > 0) {
      out.maxHashSlotNum = slots;
      out.maxIndexNum = slots * 4;
    } else {
      out.messageIndexEnable = false;
    }
  }
  return out;
}
