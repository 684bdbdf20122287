/**
 * GET_BROKER_RUNTIME_INFO (28), as AdminBrokerProcessor#prepareRuntimeInfo and
 * DefaultMessageStore#getRuntimeInfo (4.9.8): a KVTable {"table":{key: value}} of strings.
 * Pull ("get") counts come from BrokerStats (tools-group pulls excluded).
 *
 * The keys mqadmin clusterList reads are always sent (without them it prints "(null,nullms)"),
 * each with what it means here (docs/conformance/mqadmin.md lists every key):
 * - `*ThreadPoolQueueSize` / `EndTransactionQueueSize`: 0. There are no executor queues: the one
 *   event loop starts a request's handler as soon as it is read.
 * - `*ThreadPoolQueueHeadWaitTimeMills`: measured. Where Apache reports how long the oldest queued
 *   request has waited for a thread, this is how long a callback queued now waits behind the work
 *   already on the event loop (the same for sends, pulls and queries: one loop serves them all).
 * - `pageCacheLockTimeMills`: 0. The commit log's put lock is never held across an await
 *   (offsets are assigned synchronously), so no request can observe a put holding it.
 * - `remainTransientStoreBufferNumbs`: Integer.MAX_VALUE, Apache's value without a transient
 *   store pool (there is none here); `startAcceptSendRequestTimeStamp`: 0 (sends are accepted as
 *   soon as the broker is up, Apache's default).
 * Keys with nothing behind them here are not sent: pool capacities, put/get latency maxima and
 * distributions, found/miss TPS (a made-up value would read as a measurement).
 *
 * Extra rocketctl keys: `brokerAddr` / `brokerAddrFast` (advertised TCP addresses; the admin
 * session aliases them to the local socket), `flushDiskType`, `brokerRole`, with ACL on
 * `aclRefusedTotal` / `aclSignatureFailuresTotal` (requests refused; of those, bad signatures),
 * and on a DLedger member `dLeger*` (group, self id, peers, role, term, leader, writable,
 * committed and end index).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeJson } from '../../protocol/bodies.js';
import { MQ_VERSION_V4_9_8 } from '../../protocol/codes.js';
import type { RequestHandler } from '../../remoting/server.js';
import type { BrokerContext, RuntimeFacts } from './context.js';
import { ok } from './util.js';
import { SCHEDULE_TOPIC } from '../../protocol/names.js';
import { dledgerRuntimeKeys } from '../../protocol/dledger-state.js';

/** DefaultMessageStore#remainTransientStoreBufferNumbs without a transient store pool (Integer.MAX_VALUE). */
const NO_TRANSIENT_STORE_POOL = '2147483647';
/** No executor queues here (see above): nothing ever waits in one. */
const NO_EXECUTOR_QUEUE = '0';

/** MQVersion.getVersionDesc(CURRENT_VERSION): this broker answers as 4.9.8. */
const BROKER_VERSION_DESC = 'V4_9_8';
/** StoreStatsService keeps TPS over these windows (putTps = "10s 60s 600s"). */
const TPS_WINDOWS_MS = [10_000, 60_000, 600_000] as const;
/** Samples older than the largest window are dropped, but never more often than needed. */
const MAX_SAMPLES = 4096;
const DAY_MS = 86_400_000;

/** What this handler reads of a BrokerController beyond BrokerContext (duck-typed, all optional). */
interface Sample {
  atMs: number;
  count: number;
}

/**
 * A message count (puts or gets) sampled at each request (StoreStatsService samples every
 * second; a broker nobody asks does no work here). A window's TPS is measured from the newest
 * sample at least that old, or from boot: so it is an average over at least the window, never a
 * guess.
 */
class CountSampler {
  private samples: Sample[];
  private day: number;
  /** msgPutTotalTodayMorning / YesterdayMorning: the count last seen before each midnight (0 before boot). */
  todayMorning = 0;
  yesterdayMorning = 0;

  constructor(readonly bootMs: number) {
    this.samples = [{ atMs: bootMs, count: 0 }];
    this.day = localDay(bootMs);
  }

  observe(nowMs: number, count: number): void {
    const today = localDay(nowMs);
    if (today !== this.day) {
      const before = this.samples[this.samples.length - 1]!.count;
      // Two midnights or more since the last look: yesterday's morning count is that same count.
      this.yesterdayMorning = today - this.day > 1 ? before : this.todayMorning;
      this.todayMorning = before;
      this.day = today;
    }
    this.samples.push({ atMs: nowMs, count });
    // Keep one sample older than the largest window (the start of that window's measurement).
    const horizon = nowMs - TPS_WINDOWS_MS[TPS_WINDOWS_MS.length - 1];
    let drop = 0;
    while (drop + 1 < this.samples.length && this.samples[drop + 1]!.atMs <= horizon) drop++;
    if (this.samples.length - drop > MAX_SAMPLES) drop = this.samples.length - MAX_SAMPLES;
    if (drop > 0) this.samples.splice(0, drop);
  }

  tps(nowMs: number, count: number, windowMs: number): number {
    let from = this.samples[0]!;
    for (const s of this.samples) if (s.atMs <= nowMs - windowMs) from = s;
    const dtMs = nowMs - from.atMs;
    return dtMs > 0 ? ((count - from.count) * 1000) / dtMs : 0;
  }
}

function localDay(ms: number): number {
  const d = new Date(ms);
  return Math.floor((ms - d.getTimezoneOffset() * 60_000) / DAY_MS);
}

interface Samplers {
  bootMs: number;
  puts: CountSampler;
  gets: CountSampler;
}

/** One pair of samplers per broker (the handler table is built once per listener). */
const samplers = new WeakMap<BrokerContext, Samplers>();

export function getBrokerRuntimeInfo(ctx: BrokerContext): RequestHandler {
  let pair = samplers.get(ctx);
  if (!pair) {
    // The table is built while the broker starts: this is its boot time to within milliseconds.
    const bootMs = Date.now();
    pair = { bootMs, puts: new CountSampler(bootMs), gets: new CountSampler(bootMs) };
    samplers.set(ctx, pair);
  }
  const s = pair;
  return async (req) => ok(req, undefined, encodeJson({ table: await runtimeTable(ctx, s, Date.now()) }));
}

async function runtimeTable(ctx: BrokerContext, samplers: Samplers, nowMs: number): Promise<Record<string, string>> {
  const sampler = samplers.puts;
  const facts = ctx.runtimeFacts();
  const t: Record<string, string> = {
    brokerVersionDesc: BROKER_VERSION_DESC,
    brokerVersion: String(MQ_VERSION_V4_9_8),
    bootTimestamp: String(sampler.bootMs),
    runtime: formatRuntime(nowMs - sampler.bootMs),
    flushDiskType: ctx.config.flushDiskType,
    // Without DLedger a master without replication; a DLedger member is SYNC_MASTER as leader and
    // SLAVE otherwise (DLedgerRoleChangeHandler: changeToMaster(SYNC_MASTER) / changeToSlave).
    brokerRole: facts.dledger ? (facts.dledger.writable ? 'SYNC_MASTER' : 'SLAVE') : 'ASYNC_MASTER',
    brokerAddr: facts.addresses.broker,
  };
  if (facts.dledger) Object.assign(t, dledgerRuntimeKeys(facts.dledger));
  if (facts.addresses.fast) t.brokerAddrFast = facts.addresses.fast;
  if (ctx.acl) {
    t.aclRefusedTotal = String(ctx.acl.stats.refused);
    t.aclSignatureFailuresTotal = String(ctx.acl.stats.signatureFailures);
  }
  Object.assign(t, await requestQueueKeys());

  const stats = facts.store;
  {
    sampler.observe(nowMs, stats.putCount);
    t.msgPutTotalTodayNow = String(stats.putCount);
    t.msgPutTotalTodayMorning = String(sampler.todayMorning);
    t.msgPutTotalYesterdayMorning = String(sampler.yesterdayMorning);
    t.putMessageTimesTotal = String(stats.putCount);
    t.putMessageSizeTotal = String(stats.putBytes);
    t.putMessageFailedTimes = String(stats.putFailures);
    t.putMessageAverageSize = javaDouble(stats.putCount > 0 ? stats.putBytes / stats.putCount : 0);
    t.putTps = TPS_WINDOWS_MS.map((w) => javaDouble(sampler.tps(nowMs, stats.putCount, w))).join(' ');
    t.commitLogMinOffset = String(stats.commitLogMinOffset);
    t.commitLogMaxOffset = String(stats.commitLogMaxOffset);
    t.remainHowManyDataToFlush = humanReadableByteCount(Math.max(0, stats.commitLogMaxOffset - stats.flushedOffset));
    t.dispatchBehindBytes = String(stats.dispatchBehindBytes);
    if (stats.commitLogMaxOffset > stats.commitLogMinOffset) {
      const earliest = await facts.storeTimeAt(stats.commitLogMinOffset).catch(() => -1);
      if (earliest > 0) t.earliestMessageTimeStamp = String(earliest);
    }
  }
  const gets = ctx.stats.getTotal;
  samplers.gets.observe(nowMs, gets);
  t.msgGetTotalTodayNow = String(gets);
  t.msgGetTotalTodayMorning = String(samplers.gets.todayMorning);
  t.msgGetTotalYesterdayMorning = String(samplers.gets.yesterdayMorning);
  t.getTransferedTps = TPS_WINDOWS_MS.map((w) => javaDouble(samplers.gets.tps(nowMs, gets, w))).join(' ');
  Object.assign(t, diskKeys(ctx.config.storePathRootDir));
  Object.assign(t, scheduleKeys(facts, ctx.delayLevelCount));
  return t;
}

/**
 * The request-queue keys of prepareRuntimeInfo (see the top of this file). The head wait is the
 * time until a setImmediate callback queued now runs: the rest of the loop's current I/O batch.
 */
async function requestQueueKeys(): Promise<Record<string, string>> {
  const t0 = performance.now();
  await new Promise<void>((resolve) => setImmediate(resolve));
  const waitMs = String(Math.floor(performance.now() - t0));
  return {
    sendThreadPoolQueueSize: NO_EXECUTOR_QUEUE,
    pullThreadPoolQueueSize: NO_EXECUTOR_QUEUE,
    queryThreadPoolQueueSize: NO_EXECUTOR_QUEUE,
    EndTransactionQueueSize: NO_EXECUTOR_QUEUE,
    sendThreadPoolQueueHeadWaitTimeMills: waitMs,
    pullThreadPoolQueueHeadWaitTimeMills: waitMs,
    queryThreadPoolQueueHeadWaitTimeMills: waitMs,
    pageCacheLockTimeMills: '0',
    startAcceptSendRequestTimeStamp: '0',
    remainTransientStoreBufferNumbs: NO_TRANSIENT_STORE_POOL,
  };
}

/**
 * commitLogDirCapacity of the store root ("Total : 100.0 GiB, Free : 50.0 GiB.", free = usable, as
 * File#getUsableSpace), and the used share (UtilAll.getDiskPartitionSpaceUsedPercent) of the commit
 * log's disk (commitLogDiskRatio and commitLogDiskRatio_<path>) and the consume queues' disk.
 */
function diskKeys(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const rootSpace = diskSpace(root);
  if (rootSpace) out.commitLogDirCapacity = `Total : ${humanReadableByteCount(rootSpace.total)}, Free : ${humanReadableByteCount(rootSpace.usable)}.`;
  const commitLogDir = path.join(root, 'commitlog');
  // A dir not created yet (no message so far) lies on the root's disk.
  const cl = diskSpace(commitLogDir) ?? rootSpace;
  if (cl) {
    out.commitLogDiskRatio = javaDouble(cl.usedRatio);
    out[`commitLogDiskRatio_${commitLogDir}`] = javaDouble(cl.usedRatio);
  }
  const cq = diskSpace(path.join(root, 'consumequeue')) ?? rootSpace;
  if (cq) out.consumeQueueDiskRatio = javaDouble(cq.usedRatio);
  return out;
}

function diskSpace(dir: string): { total: number; usable: number; usedRatio: number } | undefined {
  try {
    const s = fs.statfsSync(dir);
    const total = s.blocks * s.bsize;
    if (total <= 0) return undefined;
    return { total, usable: s.bavail * s.bsize, usedRatio: (total - s.bfree * s.bsize) / total };
  } catch {
    return undefined;
  }
}

/** scheduleMessageOffset_<level> = "<delivered offset>,<max offset>" of SCHEDULE_TOPIC_XXXX queue level-1. */
function scheduleKeys(facts: RuntimeFacts, levels: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [level, offset] of facts.delayOffsets) {
    if (level < 1 || level > levels) continue;
    out[`scheduleMessageOffset_${level}`] = `${offset},${facts.maxOffsetInQueue(SCHEDULE_TOPIC, level - 1)}`;
  }
  return out;
}

/** StoreStatsService.getFormatRuntime. */
function formatRuntime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `[ ${Math.floor(s / 86400)} days, ${Math.floor((s % 86400) / 3600)} hours, ${Math.floor((s % 3600) / 60)} minutes, ${s % 60} seconds ]`;
}

/** MixAll.humanReadableByteCount(bytes, si=false): "512 B", "1.5 KiB", "10.0 GiB". */
function humanReadableByteCount(bytes: number): string {
  const unit = 1024;
  if (bytes < unit) return `${bytes} B`;
  const exp = Math.min(6, Math.floor(Math.log(bytes) / Math.log(unit)));
  return `${(bytes / unit ** exp).toFixed(1)} ${'KMGTPE'[exp - 1]}iB`;
}

/** Java's Double.toString for the values here: always a decimal point ("0.0", "12.5"). */
function javaDouble(v: number): string {
  if (!Number.isFinite(v)) return '0.0';
  const r = Math.round(v * 10_000) / 10_000;
  return Number.isInteger(r) ? `${r}.0` : String(r);
}
