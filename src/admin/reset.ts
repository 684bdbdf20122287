/**
 * Offset resets, as mqadmin's resetOffsetByTime / skipAccumulatedMessage (apache/rocketmq tools
 * ResetOffsetByTimeCommand, SkipAccumulationSubCommand): planned first (per queue: current, target,
 * replayed/skipped, store time at the target), applied compare-and-set per queue, and leaving an
 * undo plan. Targets are exact: "now"/--latest is the max offset, a time is the first message
 * stored at or after it (SEARCH_OFFSET_BY_TIMESTAMP only gives the closest: it is a hint refined
 * by reading store times), an offset is that offset.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { topicBrokers, BrokerRef, TopicBroker } from './targets.js';
import { AdminSession, sessionInvoke } from './session.js';
import { committedOffsets, getConsumerConnection, subscriptionGroupExists, getMinOffset, getMaxOffset, readStoreTime, searchOffsetByTimestamp, ConsumeStatsAnswer, updateConsumerOffset, queryConsumerOffset, lastConsumeTimes, remote } from './requests.js';
import { DEFAULT_CONCURRENCY, mapLimit, errorText } from './fanout.js';
import { ensureDir } from '../util/ensure-dir.js';
import { makeRequest, bodyBuffer } from '../protocol/frame.js';
import { MessageQueue } from '../protocol/fastjson.js';
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { encodeResetOffsetBody, decodeResetOffsetBody } from '../protocol/bodies.js';
import { UsageError, RocketError } from '../errors/index.js';
import { compareMessageQueues, compareStrings } from '../client/allocate.js';

/** Upper bound on store-time reads while refining one SEARCH_OFFSET_BY_TIMESTAMP hint. */
const MAX_TIME_PROBES = 160;

/** MQVersion.V5_0_0: brokers from here take ResetOffsetRequestHeader.queueId/offset. */
const MQ_VERSION_V5_0_0 = 413;

/** `now`, epoch millis, or yyyy-MM-dd#HH:mm:ss:SSS (local time), as mqadmin's -s takes them. */
export function parseTimestamp(text: string, flag = '--timestamp'): number | 'now' {
  const s = text.trim();
  if (s === 'now') return 'now';
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(\d{4})-(\d{2})-(\d{2})#(\d{2}):(\d{2}):(\d{2}):(\d{3})$/.exec(s);
  if (m) {
    const [y, mo, d, h, mi, se, ms] = m.slice(1).map(Number) as [number, number, number, number, number, number, number];
    const t = new Date(y, mo - 1, d, h, mi, se, ms);
    if (t.getFullYear() === y && t.getMonth() === mo - 1 && t.getDate() === d) return t.getTime();
  }
  throw new UsageError(`${flag} ${JSON.stringify(text)}: expected now, epoch milliseconds, or yyyy-MM-dd#HH:mm:ss:SSS`);
}

export type ResetMode =
  | { kind: 'timestamp'; timestampMs: number }
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'offset'; offset: number };

export interface PlannedQueue {
  topic: string;
  brokerName: string;
  brokerAddr: string;
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** Committed offset when planned (null: none). Apply only proceeds while it is unchanged. */
  currentOffset: number | null;
  targetOffset: number;
  /** Messages consumed again (target before current) / skipped (target after current). */
  replay: number;
  skip: number;
  /** Store time of the message at the target (null: the target is the end of the queue). */
  targetStoreTimestamp: number | null;
  notes: string[];
}

export interface ResetPlan {
  kind: 'rocketctl.resetOffset.plan';
  formatVersion: 1;
  group: string;
  topic: string;
  /** What the plan was made for: "latest", "earliest", "offset 0", "timestamp 1700000000000", or "undo of FILE". */
  mode: string;
  timestampMs: number | null;
  force: boolean;
  createdAt: number;
  online: boolean;
  queues: PlannedQueue[];
  totals: { replay: number; skip: number; queues: number };
}

export interface PlanOptions {
  group: string;
  topic: string;
  mode: ResetMode;
  queueId?: number;
  /** mqadmin -f: false = only move offsets back (default true). */
  force?: boolean;
  concurrency?: number;
}

/** Per queue: where the group is, where it would go, and what that means. Changes nothing. */
export async function planReset(session: AdminSession, opts: PlanOptions): Promise<ResetPlan> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const force = opts.force ?? true;
  const brokers = await topicBrokers(session, opts.topic);
  const perBroker = await mapLimit(brokers, limit, async (b) => {
    const [known, conn] = await Promise.all([committedOffsets(session, b, opts.group, opts.topic, limit), getConsumerConnection(session, b.addr, opts.group)]);
    const queueIds = [...known.offsets.keys()].filter((q) => opts.queueId === undefined || q === opts.queueId);
    const planned = await mapLimit(queueIds, limit, async (queueId) => {
      const mq: MessageQueue = { topic: opts.topic, brokerName: b.brokerName, queueId };
      return planQueue(session, b, mq, known.offsets.get(queueId) ?? null, opts.mode, force);
    });
    return { planned, online: conn !== undefined };
  });
  const queues = perBroker.flatMap((p) => p.planned).sort(compareMessageQueues);
  if (opts.queueId !== undefined && queues.length === 0) {
    throw new UsageError(`--queue ${opts.queueId}: topic ${opts.topic} has no such queue (its brokers have ${brokers.map((b) => `${b.brokerName}: 0-${b.readQueueNums - 1}`).join(', ')})`);
  }
  const online = perBroker.some((p) => p.online);
  if (!online && queues.every((q) => q.currentOffset === null)) {
    // Never consumed with and nobody online: a group that exists (updateSubGroup, or created by a
    // consumer's first heartbeat) gets its starting offsets set; an unknown name is an error.
    if (!(await subscriptionGroupExists(session, brokers.map((b) => b.addr), opts.group))) {
      throw new RocketError(`consumer group ${opts.group} has no offsets for topic ${opts.topic}, no consumer online and no subscription group on its brokers`, {
        code: 'E_GROUP_NOT_FOUND',
        actions: ['check the group and topic names: rocketctl consumerProgress -g GROUP', `to set the starting offsets of a new group, create it first: rocketctl updateSubGroup -g ${opts.group}`],
      });
    }
    for (const q of queues) q.notes.push('the group has never consumed here: --execute sets where it starts (instead of its consumeFromWhere)');
  }
  return {
    kind: 'rocketctl.resetOffset.plan',
    formatVersion: 1,
    group: opts.group,
    topic: opts.topic,
    mode: modeText(opts.mode),
    timestampMs: opts.mode.kind === 'timestamp' ? opts.mode.timestampMs : null,
    force,
    createdAt: Date.now(),
    online,
    queues,
    totals: totals(queues),
  };
}

function totals(queues: PlannedQueue[]): ResetPlan['totals'] {
  return { replay: queues.reduce((s, q) => s + q.replay, 0), skip: queues.reduce((s, q) => s + q.skip, 0), queues: queues.length };
}

export function modeText(m: ResetMode): string {
  switch (m.kind) {
    case 'latest':
      return 'latest';
    case 'earliest':
      return 'earliest';
    case 'offset':
      return `offset ${m.offset}`;
    case 'timestamp':
      return `timestamp ${m.timestampMs} (${new Date(m.timestampMs).toISOString()})`;
  }
}

async function planQueue(session: AdminSession, b: BrokerRef, mq: MessageQueue, current: number | null, mode: ResetMode, force: boolean): Promise<PlannedQueue> {
  const [minOffset, maxOffset] = await Promise.all([getMinOffset(session, b.addr, mq), getMaxOffset(session, b.addr, mq)]);
  const notes: string[] = [];
  let target: number;
  let targetStoreTimestamp: number | null | undefined;
  switch (mode.kind) {
    case 'latest':
      target = maxOffset;
      break;
    case 'earliest':
      target = minOffset;
      break;
    case 'offset':
      target = Math.min(Math.max(mode.offset, minOffset), maxOffset);
      if (target !== mode.offset) notes.push(`offset ${mode.offset} is outside the stored range [${minOffset}, ${maxOffset}]: clamped to ${target}`);
      break;
    case 'timestamp': {
      const found = await firstOffsetAtOrAfter(session, b.addr, mq, minOffset, maxOffset, mode.timestampMs);
      target = found.offset;
      targetStoreTimestamp = found.storeTimestamp;
      if (found.approximate) notes.push(found.approximate);
      break;
    }
  }
  if (!force && current !== null && target > current) {
    notes.push(`--force false: the target ${target} is ahead of the current offset, kept at ${current}`);
    target = current;
    targetStoreTimestamp = undefined;
  }
  if (targetStoreTimestamp === undefined) targetStoreTimestamp = target < maxOffset ? ((await readStoreTime(session, b.addr, mq, target)) ?? null) : null;
  // Messages exist only in [min, max): a current offset outside (ahead of a recreated queue, or
  // behind deleted files) counts from the nearest stored one, so replay/skip count real messages.
  const from = Math.min(Math.max(current ?? minOffset, minOffset), maxOffset);
  if (current === null) notes.push(`no committed offset: replay/skip counted from the earliest stored message (${minOffset})`);
  else if (current > maxOffset) notes.push(`current offset ${current} is ahead of the queue's max offset ${maxOffset}: replay counted from ${maxOffset}`);
  return {
    topic: mq.topic,
    brokerName: mq.brokerName,
    brokerAddr: b.addr,
    queueId: mq.queueId,
    minOffset,
    maxOffset,
    currentOffset: current,
    targetOffset: target,
    replay: Math.max(0, from - target),
    skip: Math.max(0, target - from),
    targetStoreTimestamp,
    notes,
  };
}

/**
 * The first offset in [min, max) whose message was stored at or after `ts` (max when none): what
 * "reset to a time" means. SEARCH_OFFSET_BY_TIMESTAMP answers the *closest* store time (apache/rocketmq ConsumerManageProcessor), which may sit one or many messages (same millisecond) off; it is used as a hint, then
 * refined by galloping and bisecting on store times read with 1-message pulls. Store times are
 * assumed non-decreasing along the queue (they are taken under the broker's put lock).
 */
export async function firstOffsetAtOrAfter(
  session: AdminSession,
  addr: string,
  mq: MessageQueue,
  min: number,
  max: number,
  ts: number,
): Promise<{ offset: number; storeTimestamp: number | null; approximate?: string }> {
  if (min >= max) return { offset: max, storeTimestamp: null };
  let probes = 0;
  const cache = new Map<number, number>();
  const timeAt = async (o: number): Promise<number> => {
    const hit = cache.get(o);
    if (hit !== undefined) return hit;
    if (++probes > MAX_TIME_PROBES) throw new ProbeLimit();
    // A missing message (deleted under us) sorts as "before ts": the answer moves forward.
    const t = (await readStoreTime(session, addr, mq, o)) ?? Number.NEGATIVE_INFINITY;
    cache.set(o, t);
    return t;
  };
  const hint = Math.min(Math.max(await searchOffsetByTimestamp(session, addr, mq, ts), min), max - 1);
  try {
    if ((await timeAt(max - 1)) < ts) return { offset: max, storeTimestamp: null };
    if ((await timeAt(min)) >= ts) return { offset: min, storeTimestamp: await timeAt(min) };
    // Invariant once bracketed: timeAt(lo) < ts <= timeAt(hi), min <= lo < hi <= max - 1.
    let lo: number;
    let hi: number;
    if ((await timeAt(hint)) >= ts) {
      hi = hint;
      let step = 1;
      lo = Math.max(min, hint - step);
      while ((await timeAt(lo)) >= ts) {
        hi = lo;
        step *= 2;
        lo = Math.max(min, hint - step);
      }
    } else {
      lo = hint;
      let step = 1;
      hi = Math.min(max - 1, hint + step);
      while ((await timeAt(hi)) < ts) {
        lo = hi;
        step *= 2;
        hi = Math.min(max - 1, hint + step);
      }
    }
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if ((await timeAt(mid)) >= ts) hi = mid;
      else lo = mid;
    }
    return { offset: hi, storeTimestamp: await timeAt(hi) };
  } catch (err) {
    if (!(err instanceof ProbeLimit)) throw err;
    return { offset: hint, storeTimestamp: cache.get(hint) ?? null, approximate: `store times could not be narrowed within ${MAX_TIME_PROBES} reads: using the broker's closest match ${hint}` };
  }
}

class ProbeLimit extends Error {}

/** `reverted`: reset, but a consumer wrote its old offset back afterwards (its client does not follow resets). */
export type ApplyStatus = 'applied' | 'unchanged' | 'moved' | 'failed' | 'inexact' | 'reverted';

export interface AppliedQueue {
  topic: string;
  brokerName: string;
  queueId: number;
  expectedOffset: number | null;
  targetOffset: number;
  /** The committed offset found just before writing (compare-and-set). */
  foundOffset: number | null;
  /** What the broker reports now (after the write), when known. */
  resultOffset: number | null;
  status: ApplyStatus;
  /** How it was written: INVOKE_BROKER_TO_RESET_OFFSET (online groups; every group on 5.x brokers) or UPDATE_CONSUMER_OFFSET (other offline groups). */
  via: 'reset-table' | 'reset-queue' | 'reset-timestamp' | 'update-offset' | null;
  message?: string;
}

export interface ApplyResult {
  queues: AppliedQueue[];
  applied: number;
  problems: number;
}

export interface ApplyOptions {
  /** Language of the INVOKE_BROKER_TO_RESET_OFFSET request (mqadmin -c: CPP clients get the list body). */
  cplus?: boolean;
  concurrency?: number;
  /** After resetting an online group, watch its offsets at most this long (default DEFAULT_RESET_WATCH_MS; 0: not at all). */
  watchMs?: number;
}

/**
 * The shortest watch of an online reset: one consumer offset persist (persistConsumerOffsetInterval,
 * 5 s by default) and a margin. A client that does not follow RESET_CONSUMER_CLIENT_OFFSET (ali-ons)
 * writes its old offset back within it.
 */
export const RESET_WATCH_MIN_MS = 6_000;

/**
 * The default longest watch: Java's MQClientInstance.resetOffset pauses 10 s before taking the new
 * offsets (its periodic persist writes the old ones meanwhile), then persists within 5 s.
 */
export const DEFAULT_RESET_WATCH_MS = 20_000;

const RESET_WATCH_POLL_MS = 500;

/**
 * Apply a plan, broker by broker. Per queue, compare-and-set: the committed offset is read again
 * and a queue whose offset is no longer the plan's `currentOffset` is reported `moved`, not
 * written. Online groups (a consumer connected to that broker) go through
 * INVOKE_BROKER_TO_RESET_OFFSET so the consumers drop their in-memory offsets:
 *   - rocketctl brokers: one request carrying the exact table;
 *   - 5.x brokers: one request per queue (queueId + offset header), for offline groups too: with
 *     useServerSideResetOffset (5.1+, on by default) the broker keeps a pending reset that it hands
 *     to the next pull and, until then, silently ignores UPDATE_CONSUMER_OFFSET for that queue
 *     (ConsumerManageProcessor#updateConsumerOffset, ConsumerOffsetManager#hasOffsetReset at
 *     5.3.0), so a write after an earlier mqadmin reset would not land;
 *   - 4.x brokers only reset by time: used when the plan is "latest" (-1), "earliest" (0) or a time,
 *     then the offsets the broker chose are compared with the plan (`inexact` when they differ);
 *     an offset plan for an online group on 4.x is refused (stop the consumers, then rerun).
 * Other offline groups (and 5.x brokers that answer CONSUMER_NOT_ONLINE, i.e. without the server-side
 * reset) are written with UPDATE_CONSUMER_OFFSET (sync) and read back.
 */
export async function applyReset(session: AdminSession, plan: ResetPlan, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const limit = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const byBroker = new Map<string, PlannedQueue[]>();
  for (const q of plan.queues) byBroker.set(q.brokerAddr, [...(byBroker.get(q.brokerAddr) ?? []), q]);
  const results: AppliedQueue[] = [];
  for (const [addr, queues] of byBroker) results.push(...(await applyOnBroker(session, plan, addr, queues, opts, limit)));
  results.sort((a, b) => compareStrings(a.brokerName, b.brokerName) || a.queueId - b.queueId);
  return { queues: results, applied: results.filter((r) => r.status === 'applied').length, problems: results.filter((r) => r.status !== 'applied' && r.status !== 'unchanged').length };
}

async function applyOnBroker(session: AdminSession, plan: ResetPlan, addr: string, queues: PlannedQueue[], opts: ApplyOptions, limit: number): Promise<AppliedQueue[]> {
  const out: AppliedQueue[] = queues.map((q) => ({
    topic: q.topic,
    brokerName: q.brokerName,
    queueId: q.queueId,
    expectedOffset: q.currentOffset,
    targetOffset: q.targetOffset,
    foundOffset: null,
    resultOffset: null,
    status: 'failed',
    via: null,
  }));
  const mqOf = (q: PlannedQueue): MessageQueue => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId });
  let stats: ConsumeStatsAnswer;
  let online: boolean;
  const b: TopicBroker = { brokerName: queues[0]!.brokerName, addr, readQueueNums: Math.max(...queues.map((q) => q.queueId)) + 1, writeQueueNums: 0 };
  try {
    // Compare-and-set, step 1: read every queue's committed offset again, the way the plan did.
    const [known, conn] = await Promise.all([committedOffsets(session, b, plan.group, plan.topic, limit), getConsumerConnection(session, addr, plan.group)]);
    stats = known.answer;
    online = conn !== undefined;
    out.forEach((o) => (o.foundOffset = known.offsets.get(o.queueId) ?? null));
  } catch (err) {
    for (const o of out) o.message = errorText(err);
    return out;
  }
  const todo: number[] = [];
  out.forEach((o, i) => {
    if (o.foundOffset === o.targetOffset) {
      o.status = 'unchanged';
      o.resultOffset = o.foundOffset;
    } else if (o.foundOffset !== o.expectedOffset) {
      o.status = 'moved';
      o.resultOffset = o.foundOffset;
      o.message = `offset moved since the plan (planned from ${o.expectedOffset ?? 'none'}, now ${o.foundOffset ?? 'none'}): not overwritten; plan again`;
    } else {
      todo.push(i);
    }
  });
  if (todo.length === 0) return out;
  const pick = todo.map((i) => queues[i]!);
  const mark = (i: number, status: ApplyStatus, via: AppliedQueue['via'], resultOffset: number | null, message?: string) => {
    Object.assign(out[i]!, { status, via, resultOffset });
    if (message) out[i]!.message = message;
  };

  const resetAtMs = Date.now();
  // 5.x brokers take a per-queue reset whether or not a consumer is online (see above).
  const perQueue = !stats.resetTable && stats.version >= MQ_VERSION_V5_0_0;
  if (online || perQueue) {
    const language = opts.cplus ? 'CPP' : 'JAVA';
    try {
      if (stats.resetTable) {
        // rocketctl brokers (online here: perQueue is false for them).
        const table: Array<[MessageQueue, number]> = pick.map((q) => [mqOf(q), q.targetOffset]);
        const res = await invokeReset(session, addr, plan, -1, language, undefined, encodeResetOffsetBody(table));
        if (res === 'offline') online = false;
        else for (const i of todo) checkResult(out[i]!, res, 'reset-table', mark, i);
      } else if (perQueue) {
        for (const i of todo) {
          const q = queues[i]!;
          const res = await invokeReset(session, addr, plan, plan.timestampMs ?? -1, language, { queueId: q.queueId, offset: q.targetOffset });
          if (res === 'offline') {
            online = false;
            break;
          }
          if (res.size > 1) {
            // The broker ignored queueId (useServerSideResetOffset=false): it reset every queue by time.
            for (const j of todo) checkResult(out[j]!, res, 'reset-timestamp', mark, j);
            break;
          }
          checkResult(out[i]!, res, 'reset-queue', mark, i);
        }
      } else {
        const ts = timestampFor4x(plan);
        if (ts === undefined) {
          for (const i of todo) mark(i, 'failed', null, out[i]!.foundOffset, 'this RocketMQ 4.x broker resets an online group only by time: stop the consumers and run again (offsets of an offline group are written exactly), or reset by --timestamp/--latest/--earliest');
          return out;
        }
        const res = await invokeReset(session, addr, plan, ts, language);
        if (res === 'offline') online = false;
        else for (const i of todo) checkResult(out[i]!, res, 'reset-timestamp', mark, i);
      }
    } catch (err) {
      for (const i of todo) if (out[i]!.status === 'failed') out[i]!.message = errorText(err);
      return out;
    }
    if (online) {
      const reset = todo.filter((i) => out[i]!.status === 'applied' || out[i]!.status === 'inexact');
      await watchOnlineReset(session, plan, b, out, reset, opts.watchMs ?? DEFAULT_RESET_WATCH_MS, limit, resetAtMs);
    }
  }
  if (!online) {
    await mapLimit(todo, limit, async (i) => {
      const q = queues[i]!;
      try {
        await updateConsumerOffset(session, addr, plan.group, mqOf(q), q.targetOffset);
        const now = await queryConsumerOffset(session, addr, plan.group, mqOf(q));
        if (now === q.targetOffset) mark(i, 'applied', 'update-offset', now);
        else mark(i, 'failed', 'update-offset', now, `written, but the broker now reports ${now ?? 'none'} (a consumer came online and committed?)`);
      } catch (err) {
        mark(i, 'failed', 'update-offset', null, errorText(err));
      }
    });
  }
  return out;
}

/**
 * After an online group was reset through the broker (which stored the new offsets and told its
 * consumers), read the offsets back until the consumers had time to follow: at least
 * RESET_WATCH_MIN_MS, at most `watchMs`, earlier done when every queue followed. A queue whose
 * consumer wrote its old offset back (ali-ons ignores RESET_CONSUMER_CLIENT_OFFSET and keeps
 * committing where it is) is `reverted`: it was not reset. Offsets alone cannot tell a consumer
 * that re-consumed a reset backwards to the end from one that wrote the old offset back; then an
 * offset seen in between, or a client reporting (running info, lastConsumeTimestamp) that it
 * consumed the queue since the reset, is what shows it followed.
 */
async function watchOnlineReset(session: AdminSession, plan: ResetPlan, b: TopicBroker, out: AppliedQueue[], reset: number[], watchMs: number, limit: number, resetAtMs: number): Promise<void> {
  if (reset.length === 0 || watchMs <= 0) return;
  const minMs = Math.min(RESET_WATCH_MIN_MS, watchMs);
  const start = Date.now();
  const progressed = new Set<number>();
  let now: Map<number, number | null> | undefined;
  let lastError: unknown;
  let askedClients = false;
  const pending = () => reset.filter((i) => !followed(out[i]!, now?.get(out[i]!.queueId) ?? null, progressed.has(i)));
  // Back at the old offset after a reset backwards: re-consumed already, or written back? Ask the
  // clients whether they consumed the queue since the reset (Java's and ours say, in running info).
  const askClients = async () => {
    askedClients = true;
    const times = await lastConsumeTimes(session, b.addr, plan.group, plan.topic, limit);
    for (const i of pending()) if ((times.get(out[i]!.queueId) ?? 0) >= resetAtMs) progressed.add(i);
  };
  // Bounded by watchMs: each round sleeps RESET_WATCH_POLL_MS.
  for (;;) {
    await new Promise((r) => setTimeout(r, RESET_WATCH_POLL_MS));
    try {
      now = (await committedOffsets(session, b, plan.group, plan.topic, limit)).offsets;
      for (const i of reset) if (consumingFromTarget(out[i]!, now.get(out[i]!.queueId) ?? null)) progressed.add(i);
    } catch (err) {
      lastError = err;
    }
    const elapsed = Date.now() - start;
    if (now && elapsed >= minMs) {
      if (pending().length > 0 && !askedClients) await askClients();
      if (pending().length === 0) break;
    }
    if (elapsed >= watchMs) break;
  }
  if (now && pending().length > 0) await askClients();
  const seconds = `${Math.round((Date.now() - start) / 1000)} s`;
  for (const i of reset) {
    const o = out[i]!;
    if (!now) {
      o.message = `reset, but its offset could not be read back to see whether the consumers followed: ${errorText(lastError)}`;
      continue;
    }
    const found = now.get(o.queueId) ?? null;
    if (followed(o, found, progressed.has(i))) {
      o.resultOffset = found;
      continue;
    }
    const target = o.resultOffset ?? o.targetOffset;
    Object.assign(o, { status: 'reverted', resultOffset: found });
    o.message =
      `reset to ${target}, but ${seconds} later the committed offset is ${found ?? 'none'}` +
      (found !== null && found === o.foundOffset ? ', its old offset' : '') +
      `: a consumer wrote its own offset back (its client does not follow resets; ali-ons does not). Stop the group's consumers, then run resetOffset again`;
  }
}

/** The committed offset shows a consumer consuming from the reset target: past it, below the old offset. */
function consumingFromTarget(o: AppliedQueue, found: number | null): boolean {
  const target = o.resultOffset ?? o.targetOffset;
  return found !== null && o.foundOffset !== null && target < o.foundOffset && found > target && found < o.foundOffset;
}

/**
 * Did the consumers take the reset? A consumer that follows commits from the target on: never
 * below it. One that does not commits from its old position on: below the target when the reset
 * skipped forward, at or past the old offset when it went back (unless it was seen in between).
 */
function followed(o: AppliedQueue, found: number | null, progressed: boolean): boolean {
  const target = o.resultOffset ?? o.targetOffset;
  if (found === null || found < target) return false;
  if (o.foundOffset === null || target > o.foundOffset) return true;
  return found < o.foundOffset || progressed;
}

/** 4.x brokers reset by time only: latest = -1, earliest = 0 (the closest to time 0 is the first). */
function timestampFor4x(plan: ResetPlan): number | undefined {
  if (plan.mode === 'latest') return -1;
  if (plan.mode === 'earliest') return 0;
  if (plan.timestampMs !== null && plan.force) return plan.timestampMs;
  return undefined;
}

function checkResult(o: AppliedQueue, res: Map<number, number>, via: AppliedQueue['via'], mark: (i: number, s: ApplyStatus, v: AppliedQueue['via'], r: number | null, m?: string) => void, i: number): void {
  const got = res.get(o.queueId);
  if (got === undefined) mark(i, 'failed', via, null, 'the broker did not report this queue as reset');
  else if (got === o.targetOffset) mark(i, 'applied', via, got);
  else mark(i, 'inexact', via, got, `the broker reset it to ${got}, not ${o.targetOffset} (RocketMQ 4.x searches the closest store time)`);
}

/** INVOKE_BROKER_TO_RESET_OFFSET; the offsets the broker set (queueId → offset), or 'offline'. */
async function invokeReset(
  session: AdminSession,
  addr: string,
  plan: ResetPlan,
  timestamp: number,
  language: string,
  queue?: { queueId: number; offset: number },
  body?: Buffer,
): Promise<Map<number, number> | 'offline'> {
  const req = makeRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: plan.topic, group: plan.group, timestamp, isForce: plan.force, queueId: queue?.queueId, offset: queue?.offset }, body);
  req.language = language;
  const res = await sessionInvoke(session, addr, req);
  if (res.code === ResponseCode.CONSUMER_NOT_ONLINE) return 'offline';
  if (res.code !== ResponseCode.SUCCESS) throw remote(res, `reset offset of ${plan.group} on ${addr}`);
  const out = new Map<number, number>();
  if (res.body && bodyBuffer(res).length > 0) for (const [mq, o] of decodeResetOffsetBody(bodyBuffer(res))) if (mq.topic === plan.topic) out.set(mq.queueId, o);
  return out;
}

/** The plan that undoes `applied`: each applied queue back to where it was. */
export function undoPlan(plan: ResetPlan, applied: AppliedQueue[]): { plan: ResetPlan; skipped: string[] } {
  const skipped: string[] = [];
  const queues: PlannedQueue[] = [];
  for (const a of applied) {
    if (a.status !== 'applied' && a.status !== 'inexact') continue;
    const p = plan.queues.find((q) => q.brokerName === a.brokerName && q.queueId === a.queueId)!;
    if (a.expectedOffset === null) {
      skipped.push(`${a.topic}/${a.brokerName}/${a.queueId}: had no committed offset, which cannot be restored`);
      continue;
    }
    const now = a.resultOffset ?? a.targetOffset;
    queues.push({
      ...p,
      currentOffset: now,
      targetOffset: a.expectedOffset,
      replay: Math.max(0, now - a.expectedOffset),
      skip: Math.max(0, a.expectedOffset - now),
      targetStoreTimestamp: null,
      notes: [],
    });
  }
  const undo: ResetPlan = {
    ...plan,
    mode: `undo of the reset to ${plan.mode} made at ${new Date(plan.createdAt).toISOString()}`,
    timestampMs: null,
    force: true,
    createdAt: Date.now(),
    queues,
    totals: totals(queues),
  };
  return { plan: undo, skipped };
}

/** Read a plan file (resetOffset --plan FILE), checking its shape. */
export function parsePlan(text: string, file: string): ResetPlan {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--plan ${file}: not JSON (${errorText(err)})`);
  }
  const p = v as Partial<ResetPlan>;
  const bad = (why: string) => new UsageError(`--plan ${file}: not a resetOffset plan (${why})`);
  if (!p || typeof p !== 'object' || p.kind !== 'rocketctl.resetOffset.plan') throw bad('kind is not rocketctl.resetOffset.plan');
  if (p.formatVersion !== 1) throw bad(`formatVersion ${String(p.formatVersion)}`);
  if (typeof p.group !== 'string' || typeof p.topic !== 'string' || !Array.isArray(p.queues)) throw bad('group, topic or queues missing');
  for (const q of p.queues) {
    if (!q || typeof q.brokerName !== 'string' || typeof q.brokerAddr !== 'string' || !Number.isInteger(q.queueId) || !Number.isInteger(q.targetOffset)) throw bad('a queue lacks brokerName, brokerAddr, queueId or targetOffset');
    if (q.currentOffset !== null && !Number.isInteger(q.currentOffset)) throw bad('a queue has a bad currentOffset');
  }
  return { ...(p as ResetPlan), force: p.force ?? true, timestampMs: p.timestampMs ?? null };
}

/** Where undo plans go unless --undo-file says otherwise. */
export function defaultUndoFile(group: string, topic: string, nowMs = Date.now()): string {
  const d = new Date(nowMs);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}-${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}-${String(d.getMilliseconds()).padStart(3, '0')}`;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.%-]/g, '_');
  return path.join(os.homedir(), '.rocketctl', 'undo', `resetOffset-${safe(group)}-${safe(topic)}-${stamp}.json`);
}

/** Write a plan file atomically (tmp, fsync, rename); a failure is E_PLAN_FILE naming the path. */
export function writePlanFile(file: string, plan: ResetPlan): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    ensureDir(path.dirname(path.resolve(file)));
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, JSON.stringify(plan, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing was created there (e.g. ENOTDIR: a parent is a file)
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw new RocketError(`cannot write the plan file ${file}${code ? ` (${code})` : ''}`, {
      code: 'E_PLAN_FILE',
      cause: err,
      actions: ['choose another path (--undo-file / --out); nothing was changed if this was the undo plan'],
    });
  }
}

export interface ExecuteOutcome {
  apply: ApplyResult;
  /** Null when nothing changed that an undo plan could restore (no file is left behind). */
  undoFile: string | null;
  undoSkipped: string[];
}

/**
 * Apply `plan` and leave its undo plan in `undoFile`: written before anything changes (as if every
 * queue were reset, so a crash mid-way still leaves a way back), rewritten afterwards with only
 * the queues that were actually reset; removed (undoFile null) when no queue was changed that it
 * could restore.
 */
export async function executeReset(session: AdminSession, plan: ResetPlan, undoFile: string, opts: ApplyOptions = {}): Promise<ExecuteOutcome> {
  const assumed: AppliedQueue[] = plan.queues
    .filter((q) => q.currentOffset !== q.targetOffset)
    .map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId, expectedOffset: q.currentOffset, targetOffset: q.targetOffset, foundOffset: q.currentOffset, resultOffset: q.targetOffset, status: 'applied', via: null }));
  writePlanFile(undoFile, undoPlan(plan, assumed).plan);
  const apply = await applyReset(session, plan, opts);
  const undo = undoPlan(plan, apply.queues);
  try {
    writePlanFile(undoFile, undo.plan);
  } catch (err) {
    // The first version is still there: it assumes every queue was reset, and compare-and-set
    // keeps its undo away from the queues that were not.
    undo.skipped.push(`${errorText(err)}: ${undoFile} keeps the undo plan written before applying`);
  }
  if (undo.plan.queues.length === 0) {
    // Nothing was changed that could be changed back: leave no file that would do nothing.
    fs.rmSync(undoFile, { force: true });
    return { apply, undoFile: null, undoSkipped: undo.skipped };
  }
  return { apply, undoFile, undoSkipped: undo.skipped };
}

/**
 * Point a plan (from a file) at the brokers' current addresses, looked up by broker name, and say
 * which queues' committed offsets have moved since it was made: the plan keeps its own current
 * offsets (compare-and-set expects them), so such a queue would be reported "moved" and left alone.
 */
export async function refreshPlanAddresses(session: AdminSession, plan: ResetPlan): Promise<ResetPlan> {
  const brokers = await topicBrokers(session, plan.topic);
  const byBroker = new Map<string, PlannedQueue[]>();
  for (const q of plan.queues) {
    if (!brokers.some((x) => x.brokerName === q.brokerName)) throw new RocketError(`the plan names broker ${q.brokerName}, which no longer serves topic ${plan.topic}`, { code: 'E_PLAN_STALE', actions: ['make a new plan'] });
    byBroker.set(q.brokerName, [...(byBroker.get(q.brokerName) ?? []), q]);
  }
  // Committed offsets now, per broker; a broker that does not answer gets no note here (apply
  // reads them again and reports it).
  const live = new Map<string, Map<number, number | null>>();
  await mapLimit([...byBroker.keys()], DEFAULT_CONCURRENCY, async (name) => {
    const b = brokers.find((x) => x.brokerName === name)!;
    const readQueueNums = Math.max(b.readQueueNums, ...byBroker.get(name)!.map((q) => q.queueId + 1));
    const known = await committedOffsets(session, { ...b, readQueueNums }, plan.group, plan.topic).catch(() => undefined);
    if (known) live.set(name, known.offsets);
  });
  const queues = await mapLimit(plan.queues, DEFAULT_CONCURRENCY, async (q) => {
    const b = brokers.find((x) => x.brokerName === q.brokerName)!;
    const mq: MessageQueue = { topic: q.topic, brokerName: q.brokerName, queueId: q.queueId };
    // Only inside [min, max): an out-of-range pull makes a 4.x broker log an OFFSET_MOVED_EVENT.
    const inRange = q.targetOffset >= q.minOffset && q.targetOffset < q.maxOffset;
    const targetStoreTimestamp = q.targetStoreTimestamp ?? (inRange ? await readStoreTime(session, b.addr, mq, q.targetOffset).catch(() => undefined) : undefined) ?? null;
    const now = live.get(q.brokerName)?.get(q.queueId);
    const notes = q.notes.filter((n) => !n.startsWith(MOVED_SINCE_PLAN));
    if (now !== undefined && now !== q.currentOffset && now !== q.targetOffset) {
      notes.push(`${MOVED_SINCE_PLAN} (planned from ${q.currentOffset ?? 'none'}, now ${now ?? 'none'}): --execute will leave this queue alone; make a new plan to move it`);
    }
    return { ...q, brokerAddr: b.addr, targetStoreTimestamp, notes };
  });
  return { ...plan, queues };
}

const MOVED_SINCE_PLAN = 'committed offset moved since the plan was made';

/** Read a plan file written by writePlanFile (--plan / an undo file); a missing file is a usage error. */
export function readPlanFile(file: string): ResetPlan {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--plan ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err)}`);
  }
  return parsePlan(text, file);
}
