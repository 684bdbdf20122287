/**
 * Store benchmark: 1 KiB messages from 256 concurrent appenders against the MessageStore facade
 * (validation, encoding, commit log, consume queue and index dispatch included), under
 * ASYNC_FLUSH and SYNC_FLUSH, then a sequential read of the queues through getMessage.
 * Each phase is bounded in time; the temp dir is removed afterwards.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MessageStore, type PutMessageInput } from '../src/broker/store/message-store.js';
import { defaultStoreConfig } from '../src/broker/store/store-config.js';
import type { FlushDiskType } from '../src/broker/store/types.js';
import { parseSocketAddr } from '../src/protocol/message.js';
import { encodeProperties } from '../src/protocol/properties.js';

export interface StoreBenchOptions {
  /** Wall time per phase. */
  phaseMs: number;
  appenders: number;
  bodyBytes: number;
  queues: number;
}

export interface AppendPhase {
  flushDiskType: FlushDiskType;
  appends: number;
  seconds: number;
  appendsPerSec: number;
  mbPerSec: number;
  /** Average records per write batch (writev) and per fdatasync: how well group commit batches. */
  recordsPerWrite: number;
  recordsPerFsync: number | null;
  failures: number;
  /** Process CPU time (all threads) per append: less sensitive than rates to a busy machine. */
  cpuMicrosPerAppend: number;
}

export interface StoreBenchResult {
  options: StoreBenchOptions;
  async: AppendPhase;
  sync: AppendPhase;
  read: { messages: number; seconds: number; msgsPerSec: number; mbPerSec: number; cpuMicrosPerMsg: number };
}

const DEFAULTS: StoreBenchOptions = { phaseMs: 4000, appenders: 256, bodyBytes: 1024, queues: 8 };
/** Bound on appends per appender, far above what a phase can do. */
const MAX_APPENDS_PER_APPENDER = 10_000_000;

/**
 * What a Java producer sends: a UNIQ_KEY (indexed), WAIT, TAGS. Built ahead (a broker receives
 * properties as a string off the wire), so the bench measures the store, not the encoder.
 */
const PROPS_POOL = Array.from({ length: 4096 }, (_, i) =>
  encodeProperties({ UNIQ_KEY: `7F00000100017A3C${i.toString(16).toUpperCase().padStart(16, '0')}`, WAIT: 'true', TAGS: 'TagA' }),
);

async function appendPhase(root: string, flushDiskType: FlushDiskType, o: StoreBenchOptions): Promise<AppendPhase> {
  const config = defaultStoreConfig({ storePathRootDir: root, flushDiskType, mappedFileSizeCommitLog: 256 * 1024 * 1024 });
  const store = await MessageStore.open(config);
  const body = Buffer.alloc(o.bodyBytes, 0x61);
  const bornHost = parseSocketAddr('127.0.0.1:50000');
  let seq = 0;
  let failures = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + o.phaseMs;
  const appender = async (w: number): Promise<void> => {
    for (let i = 0; i < MAX_APPENDS_PER_APPENDER && performance.now() < deadline; i++) {
      const m: PutMessageInput = {
        topic: 'BenchTopic',
        queueId: w % o.queues,
        flag: 0,
        sysFlag: 0,
        bornTimestamp: Date.now(),
        bornHost,
        body,
        properties: PROPS_POOL[seq++ & 4095]!,
        reconsumeTimes: 0,
        preparedTransactionOffset: 0,
      };
      try {
        await store.putMessage(m);
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: o.appenders }, (_, w) => appender(w)));
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stats = store.stats();
  await store.close();
  return {
    flushDiskType,
    appends: stats.putCount,
    seconds: round(seconds),
    appendsPerSec: Math.round(stats.putCount / seconds),
    mbPerSec: round(stats.putBytes / seconds / 1e6),
    recordsPerWrite: round(stats.putCount / Math.max(1, stats.writeBatches)),
    recordsPerFsync: flushDiskType === 'SYNC_FLUSH' ? round(stats.putCount / Math.max(1, stats.fsyncs)) : null,
    failures,
    cpuMicrosPerAppend: round((cpu.user + cpu.system) / Math.max(1, stats.putCount)),
  };
}

async function readPhase(root: string, o: StoreBenchOptions): Promise<StoreBenchResult['read']> {
  const store = await MessageStore.open(defaultStoreConfig({ storePathRootDir: root, mappedFileSizeCommitLog: 256 * 1024 * 1024 }));
  let messages = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + o.phaseMs;
  try {
    for (let q = 0; q < o.queues && performance.now() < deadline; q++) {
      let offset = store.getMinOffsetInQueue('BenchTopic', q);
      const max = store.getMaxOffsetInQueue('BenchTopic', q);
      for (let round = 0; round < MAX_APPENDS_PER_APPENDER && offset < max && performance.now() < deadline; round++) {
        const got = await store.getMessage('BenchTopic', q, offset, 32);
        if (got.status !== 'FOUND') break;
        messages += got.records.length;
        for (const r of got.records) bytes += r.length;
        offset = got.nextBeginOffset;
      }
    }
  } finally {
    await store.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    messages,
    seconds: round(seconds),
    msgsPerSec: Math.round(messages / seconds),
    mbPerSec: round(bytes / seconds / 1e6),
    cpuMicrosPerMsg: round((cpu.user + cpu.system) / Math.max(1, messages)),
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export async function benchStore(opts: Partial<StoreBenchOptions> = {}): Promise<StoreBenchResult> {
  const o = { ...DEFAULTS, ...opts };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rocketctl-bench-store-'));
  try {
    const asyncRoot = path.join(dir, 'async');
    const asyncPhase = await appendPhase(asyncRoot, 'ASYNC_FLUSH', o);
    const syncPhase = await appendPhase(path.join(dir, 'sync'), 'SYNC_FLUSH', o);
    const read = await readPhase(asyncRoot, o);
    return { options: o, async: asyncPhase, sync: syncPhase, read };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
