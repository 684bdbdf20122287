/**
 * The copy of `migrateBacklog --execute`: batched, pipelined, ordered by sharding key, and exactly
 * once across failures (kill -9 included) without any state on the machine that runs it.
 *
 * Invariants (README "migrateBacklog", "Exactly once"):
 *  1. Checkpoint. The group's committed offset C(S) of a source queue S is the checkpoint: every
 *     planned message of S below it is on the target. It moves (compare-and-set, by the caller's
 *     `checkpoint`) only over messages whose sends were acknowledged or that were found there.
 *  2. Windows. Copying goes in windows of at most COPY_LIMITS.windowMessages messages read. A
 *     window's checkpoint is written after all its sends were acknowledged, and the next window
 *     starts only after that checkpoint, so only the last window of a run can be uncovered.
 *  3. Labels. Every copy carries MIGRATED_WINDOW: the sum of the committed offsets of all the plan's
 *     queues (not only those copied by this run) when its window began. Offsets only grow, so labels never decrease along a target queue, and a
 *     copy whose label is below the newest label of its target queue was covered by a checkpoint.
 *  4. Resume. So what a dead run left uncovered is, in the target queues whose newest copy carries
 *     the highest label, the tail of copies with that label and an origin offset ≥ C(S)
 *     (findEarlierCopies reads those tails backwards, nothing more). A rerun skips exactly those
 *     source offsets and continues their window under the same label until its first checkpoint.
 *  5. Sends. One SEND_BATCH_MESSAGE per target queue in flight, to exactly that queue, never retried
 *     elsewhere (Producer.sendRawBatch); a failed or ambiguous send stops copying without a
 *     checkpoint, and the rerun finds on the target what that send stored.
 *  6. Order. A message with a sharding key (__SHARDINGKEY as Apache 5.x names it, SHARDING_KEY, or
 *     else its KEYS) goes to target queue |hash(key)| mod n (Java's SelectMessageQueueByHash),
 *     others round robin; per target queue, messages are sent in the order read, so one key's
 *     messages of one source queue land in one target queue in source order, across reruns too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RemoteError, RocketError } from '../errors/index.js';
import { ResponseCode } from '../protocol/codes.js';
import type { MessageQueue } from '../protocol/bodies.js';
import { crc32, javaHashCode } from '../protocol/hash.js';
import type { MessageExt } from '../client/message.js';
import type { PreparedMessage, Producer } from '../client/producer.js';
import { MAX_PULL_NUMS, type PullConsumer, type PullResult } from '../client/pull-consumer.js';
import { errorText } from './fanout.js';

/** Every loop and buffer of the copy is bounded by one of these. */
export const COPY_LIMITS = {
  /** Messages read per window; a checkpoint after each. Bounds what a rerun reads back from the target. */
  windowMessages: 20_000,
  /** Messages per SEND_BATCH_MESSAGE, and bytes (bodies + properties), well under the 4 MiB message limit. */
  batchMessages: 256,
  batchBytes: 1024 * 1024,
  /** Pulls in flight on the source queue being read (MAX_PULL_NUMS messages each). */
  readDepth: 8,
  /** Messages a resume reads back per target queue at most (unrelated messages included) before giving up. */
  scanMaxMessages: 2_000_000,
  /** Resends of a batch the target refused with its flow control (SYSTEM_BUSY), with pauses doubling from busyPauseMs. */
  busyRetries: 6,
  busyPauseMs: 100,
};

/** The label property (invariant 3); the other origin properties are MIGRATED_FROM in migrate.ts. */
export const MIGRATED_WINDOW = 'MIGRATED_WINDOW';
/** The properties the copy engine reads back from a copy to place it. */
export interface CopyOrigin {
  group: string;
  topic: string;
  brokerName: string;
  queueId: number;
  queueOffset: number;
  window: number;
}

/** One source queue to copy: [from, to); `committed` is the group's offset there (below `from` when older messages were deleted). */
export interface CopySource {
  mq: MessageQueue;
  committed: number;
  from: number;
  to: number;
}

export interface CopyResult {
  /** Sent and acknowledged in this run. */
  copied: number;
  /** Found on the target (an earlier run's uncovered window) and skipped. */
  found: number;
  /** Every planned offset below this is on the target. */
  next: number;
  /** The group's offset after the last checkpoint (null: not known). */
  committed: number | null;
  /** Why copying this queue stopped before `to` (null: it did not). */
  error: string | null;
  started: boolean;
}

export interface CopyVerification {
  /** Messages of the backlog now on the target, per target queue: sent by this run plus found. */
  targetQueues: Array<{ brokerName: string; queueId: number; messages: number }>;
  /** Sum mod 2^32 of CRC32(body) over the source messages processed (order-free, so reruns compose). */
  sourceBodyCrc: number;
  /** The same over what is on the target for them: bodies sent, plus bodies of copies found. */
  targetBodyCrc: number;
}

export interface CopyProgress {
  done: number;
  total: number;
}

export interface CopyJob {
  producer: Producer;
  /** Reads the source. */
  consumer: PullConsumer;
  /** Reads the target back on resume (the same consumer when both are on one cluster). */
  targetConsumer: PullConsumer;
  /** The target's write queues in a stable order (the hash of a key indexes them). */
  targetQueues: MessageQueue[];
  sources: CopySource[];
  /**
   * The committed offsets of the plan's other queues (nothing to copy this run), summed: part of every
   * label, so labels never decrease when a finished queue drops out of a rerun's sources (invariant 3).
   */
  labelBase: number;
  /** The copy of `m` for the target, labelled `window`. */
  copyOf(m: MessageExt, window: number): PreparedMessage;
  /** Where a target message came from, when it is a copy of this migration (same group and source). */
  originOf(m: MessageExt): CopyOrigin | undefined;
  /** Move the group's offsets (compare-and-set) to `ends` (source index → offset); answers the offsets now committed (null: unknown or not ours). `final`: the run's last. */
  checkpoint(ends: Map<number, number>, committed: readonly number[], final: boolean): Promise<Map<number, number | null>>;
  /** Why copying must stop now (the lease was lost), if it must. */
  stopReason(): string | undefined;
  /** The first unplanned error of a message (a body that cannot be copied), if any. */
  refuse(m: MessageExt): string | undefined;
  onProgress?(p: CopyProgress): void;
  sendTimeoutMs: number;
  limits?: Partial<typeof COPY_LIMITS>;
}

export interface CopyOutcome {
  results: CopyResult[];
  verification: CopyVerification;
}

// ---- routing ----------------------------------------------------------------------------------------

/** The key that keeps order: __SHARDINGKEY (Apache 5.x), SHARDING_KEY, else the KEYS; undefined for none. */
export function shardingKeyOf(m: Pick<MessageExt, 'properties' | 'keys'>): string | undefined {
  const key = m.properties['__SHARDINGKEY'] || m.properties['SHARDING_KEY'] || m.keys.join(' ');
  return key === '' ? undefined : key;
}

/** Target queue index of each message: by key hash (as SelectMessageQueueByHash), else round robin. */
export class Router {
  private rr = 0;
  constructor(private readonly n: number) {
    if (n <= 0) throw new RocketError('the target has no write queues', { code: 'E_NO_ROUTE' });
  }

  route(m: Pick<MessageExt, 'properties' | 'keys'>): number {
    const key = shardingKeyOf(m);
    if (key !== undefined) return Math.abs(javaHashCode(key) % this.n);
    this.rr = (this.rr + 1) % this.n;
    return this.rr;
  }
}

// ---- reading ------------------------------------------------------------------------------------------

/** Pulls in a row that bring nothing at the read position before a read gives up there. */
export const READ_RETRIES = 5;

/**
 * [from, to) of `mq` in offset order, up to `depth` pulls in flight. A pull that brings nothing at
 * the read position (PULL_RETRY_IMMEDIATELY, or PULL_NOT_FOUND from a broker whose commit log is a
 * step behind its consume queue) is asked again, READ_RETRIES times with a growing pause, as the
 * Java client's DefaultMQPushConsumerImpl#pullMessage pulls again on those answers. Stops (without
 * throwing) at a gap that stays: messages deleted meanwhile, or the end of what the broker has;
 * the caller sees where, and `onStop` (if given) hears the last answer.
 */
export async function* readPipelined(consumer: PullConsumer, mq: MessageQueue, from: number, to: number, depth: number, onStop?: (why: string) => void): AsyncGenerator<MessageExt[]> {
  let next = from;
  let issued = from;
  let empty = 0;
  let inflight: Array<{ start: number; count: number; result: Promise<PullResult> }> = [];
  const issue = () => {
    while (inflight.length < depth && issued < to) {
      const count = Math.min(MAX_PULL_NUMS, to - issued);
      const result = consumer.pull(mq, issued, count);
      result.catch(() => undefined); // awaited in order below, or dropped after a short pull
      inflight.push({ start: issued, count, result });
      issued += count;
    }
  };
  while (next < to) {
    issue();
    const chunk = inflight.shift()!;
    const r = await chunk.result;
    const msgs: MessageExt[] = [];
    let gap = false;
    for (const m of r.status === 'FOUND' ? r.msgs : []) {
      if (m.queueOffset < next) continue;
      if (m.queueOffset !== next || m.queueOffset >= to) {
        gap = true; // deleted meanwhile
        break;
      }
      msgs.push(m);
      next++;
    }
    if (msgs.length === 0) {
      const why = gap ? `offset ${next} missing (next found ${r.msgs.find((m) => m.queueOffset >= next)?.queueOffset})` : `${r.status} at offset ${next} (broker min ${r.minOffset}, max ${r.maxOffset})`;
      if (gap || r.status === 'OFFSET_ILLEGAL' || ++empty > READ_RETRIES) {
        onStop?.(why);
        return;
      }
      await sleep(20 * 2 ** empty);
      inflight = [];
      issued = next;
      continue;
    }
    empty = 0;
    yield msgs;
    if (next < chunk.start + chunk.count) {
      // A short pull (byte limit, filter): what was issued after it starts too far on; ask again.
      inflight = [];
      issued = next;
    }
  }
}

// ---- resume ------------------------------------------------------------------------------------------

export interface EarlierCopies {
  /** The label of the newest window (undefined: no copy of this migration on the target). */
  label: number | undefined;
  /** Per source index: origin offset → CRC32 of the copy's body, for copies of that window at or past the source's committed offset. */
  bySource: Array<Map<number, number>>;
  /** Per target queue index: how many of those copies it holds. */
  perTarget: number[];
}

/**
 * Invariant 4: read each target queue backwards from its end while its copies carry its newest
 * label; keep the copies of the highest label that lie at or past their source's committed offset.
 */
export async function findEarlierCopies(job: Pick<CopyJob, 'targetConsumer' | 'targetQueues' | 'sources' | 'originOf'>, committed: readonly number[], scanMax = COPY_LIMITS.scanMaxMessages): Promise<EarlierCopies> {
  const sourceIndex = new Map(job.sources.map((s, i) => [`${s.mq.brokerName}\u0000${s.mq.queueId}`, i]));
  const tails = await Promise.all(job.targetQueues.map((tq) => tailOf(job, tq, scanMax)));
  const labels = tails.flatMap((t) => (t.label === undefined ? [] : [t.label]));
  const label = labels.length > 0 ? Math.max(...labels) : undefined;
  const bySource = job.sources.map(() => new Map<number, number>());
  const perTarget = job.targetQueues.map(() => 0);
  tails.forEach((t, ti) => {
    if (t.label !== label) return;
    for (const { origin, bodyCrc } of t.copies) {
      const si = sourceIndex.get(`${origin.brokerName}\u0000${origin.queueId}`);
      const src = job.sources[si ?? 0]!;
      if (si === undefined || origin.queueOffset < Math.max(committed[si]!, src.from) || origin.queueOffset >= src.to) continue;
      if (bySource[si]!.has(origin.queueOffset)) throw new RocketError(`offset ${origin.queueOffset} of ${origin.brokerName}:${origin.queueId} is on the target twice (another tool wrote copies?): not resuming`, { code: 'E_MIGRATE_DUPLICATE' });
      bySource[si]!.set(origin.queueOffset, bodyCrc);
      perTarget[ti]!++;
    }
  });
  return { label, bySource, perTarget };
}

/** The copies with the newest label at the end of one target queue. */
async function tailOf(job: Pick<CopyJob, 'targetConsumer' | 'originOf'>, tq: MessageQueue, scanMax: number): Promise<{ label: number | undefined; copies: Array<{ origin: CopyOrigin; bodyCrc: number }> }> {
  const [min, max] = await Promise.all([job.targetConsumer.minOffset(tq), job.targetConsumer.maxOffset(tq)]);
  const copies: Array<{ origin: CopyOrigin; bodyCrc: number }> = [];
  let label: number | undefined;
  let hi = max;
  for (let read = 0; hi > min; ) {
    if (read >= scanMax) {
      throw new RocketError(`read ${read} messages of ${tq.topic} queue ${tq.brokerName}:${tq.queueId} backwards without reaching the last checkpointed copy: not resuming`, {
        code: 'E_MIGRATE_SCAN',
        actions: ['other producers write to the target: migrate to a topic only migrateBacklog writes'],
      });
    }
    const lo = Math.max(min, hi - MAX_PULL_NUMS);
    const msgs = await pullRange(job.targetConsumer, tq, lo, hi);
    if (msgs.length === 0) break; // deleted meanwhile: nothing older to read
    for (let i = msgs.length - 1; i >= 0; i--) {
      const origin = job.originOf(msgs[i]!);
      if (!origin) continue;
      label ??= origin.window;
      if (origin.window < label) return { label, copies };
      copies.push({ origin, bodyCrc: crc32(msgs[i]!.body) });
    }
    read += msgs.length;
    hi = msgs[0]!.queueOffset;
  }
  return { label, copies };
}

/**
 * What `mq` holds in [lo, hi), in offset order. A broker answers a pull with fewer messages than
 * asked when its transfer limits cut it (count, or bytes: 256 KiB from memory, 64 KiB and 8
 * messages from disk, as Apache's DefaultMessageStore#getMessage and isTheBatchFull), so this pulls
 * again from where the answer stopped; at most hi - lo pulls, each one advancing.
 */
export async function pullRange(consumer: PullConsumer, mq: MessageQueue, lo: number, hi: number): Promise<MessageExt[]> {
  const out: MessageExt[] = [];
  for (let next = lo; next < hi; ) {
    const r = await consumer.pull(mq, next, hi - next);
    const msgs = r.status === 'FOUND' ? r.msgs.filter((m) => m.queueOffset >= next && m.queueOffset < hi) : [];
    if (msgs.length === 0) break;
    out.push(...msgs);
    next = msgs.at(-1)!.queueOffset + 1;
  }
  return out;
}

// ---- copying -----------------------------------------------------------------------------------------

function isBrokerBusy(err: unknown): boolean {
  return err instanceof RemoteError && err.responseCode === ResponseCode.SYSTEM_BUSY;
}

/** Sends to one target queue: one batch in flight, in the order added (invariants 5 and 6). */
export class TargetLane {
  private parts: PreparedMessage[] = [];
  private bytes = 0;
  private chain: Promise<void> = Promise.resolve();
  sent = 0;

  constructor(
    private readonly job: CopyJob,
    private readonly mq: MessageQueue,
    private readonly limits: typeof COPY_LIMITS,
    private readonly fail: (err: unknown) => void,
    private readonly failed: () => boolean,
  ) {}

  add(p: PreparedMessage): void {
    this.parts.push(p);
    this.bytes += p.body.length + 256;
    if (this.parts.length >= this.limits.batchMessages || this.bytes >= this.limits.batchBytes) this.flush();
  }

  flush(): void {
    if (this.parts.length === 0) return;
    const batch = this.parts;
    this.parts = [];
    this.bytes = 0;
    this.chain = this.chain.then(async () => {
      // Bounded: busyRetries + 1 sends at most.
      for (let attempt = 0; ; attempt++) {
        if (this.failed()) return; // after a failure nothing more is sent to any queue
        try {
          await this.job.producer.sendRawBatch(batch, this.mq, this.job.sendTimeoutMs);
          this.sent += batch.length;
          return;
        } catch (err) {
          // A broker under flow control refuses before storing anything (BrokerFastFailure,
          // SendMessageProcessor "[PC_SYNCHRONIZED]broker busy", 4.9.8): resending the same batch
          // to the same queue keeps the order and copies nothing twice.
          if (attempt >= this.limits.busyRetries || !isBrokerBusy(err)) {
            this.fail(err);
            return;
          }
          await sleep(this.limits.busyPauseMs * 2 ** attempt);
        }
      }
    });
  }

  /** Flush and wait for everything sent to this queue so far. */
  async drain(): Promise<void> {
    this.flush();
    await this.chain;
  }
}

/**
 * Copy every source's [from, to) to the target, queue by queue in offset order, checkpointing after
 * each window; first find what an earlier run left uncovered (invariant 4). Stops at the first
 * error: the queue it happened on is reported with it, later queues are not started.
 */
export async function copyExactlyOnce(job: CopyJob): Promise<CopyOutcome> {
  const limits = { ...COPY_LIMITS, ...job.limits };
  const committed = job.sources.map((s) => s.committed);
  const earlier = await findEarlierCopies(job, committed, limits.scanMaxMessages);
  const results: CopyResult[] = job.sources.map((s) => ({ copied: 0, found: 0, next: s.from, committed: s.committed, error: null, started: false }));
  const sums = { source: 0, target: 0 };
  const total = job.sources.reduce((s, q) => s + (q.to - q.from), 0);
  let done = 0;
  let sendError: unknown;
  const lanes = job.targetQueues.map((mq) => new TargetLane(job, mq, limits, (err) => (sendError ??= err), () => sendError !== undefined));
  const router = new Router(job.targetQueues.length);
  // Invariant 4: continue the uncovered window under its label; else a new one.
  let foundLeft = earlier.bySource.reduce((n, m) => n + m.size, 0);
  const labelNow = () => job.labelBase + sum(committed);
  let label = foundLeft > 0 ? earlier.label! : labelNow();
  let inWindow = 0;
  /** results[].copied and .found as of the last checkpoint (what a failed send falls back to). */
  let counted = results.map((r) => ({ copied: r.copied, found: r.found }));

  const closeWindow = async (final = false): Promise<void> => {
    await Promise.all(lanes.map((l) => l.drain()));
    if (sendError !== undefined) return;
    const ends = new Map<number, number>();
    results.forEach((r, i) => r.started && r.next > committed[i]! && ends.set(i, r.next));
    if (ends.size > 0) {
      const now = await job.checkpoint(ends, committed, final);
      for (const [i, offset] of now) {
        results[i]!.committed = offset;
        if (offset !== null && offset > committed[i]!) committed[i] = offset;
      }
    }
    counted = results.map((r) => ({ copied: r.copied, found: r.found }));
    label = Math.max(label, labelNow());
    inWindow = 0;
  };

  /** Copy one message (or skip it when an earlier run's copy of it is on the target). */
  const take = (i: number, m: MessageExt): void => {
    const r = results[i]!;
    const bodyCrc = crc32(m.body);
    sums.source = (sums.source + bodyCrc) >>> 0;
    const foundCrc = earlier.bySource[i]!.get(m.queueOffset);
    if (foundCrc !== undefined) {
      sums.target = (sums.target + foundCrc) >>> 0;
      r.found++;
      foundLeft--;
    } else {
      sums.target = (sums.target + bodyCrc) >>> 0;
      lanes[router.route(m)]!.add(job.copyOf(m, label));
      r.copied++;
    }
    r.next = m.queueOffset + 1;
    done++;
    inWindow++;
  };

  let stop: { index: number; reason: string } | undefined;
  for (let i = 0; i < job.sources.length && !stop; i++) {
    const s = job.sources[i]!;
    if (s.to <= s.from) continue;
    results[i]!.started = true;
    let lastAnswer = '';
    try {
      reading: for await (const chunk of readPipelined(job.consumer, s.mq, s.from, s.to, limits.readDepth, (why) => (lastAnswer = why))) {
        for (const m of chunk) {
          const why = sendError === undefined ? (job.stopReason() ?? job.refuse(m)) : 'a send to the target failed';
          if (why !== undefined) {
            stop = { index: i, reason: why };
            break reading;
          }
          take(i, m);
          // Not while an earlier run's copies are still ahead: they must stay in this window (invariant 4).
          if (inWindow >= limits.windowMessages && foundLeft === 0) await closeWindow();
          else if (inWindow % limits.windowMessages === 0) await Promise.all(lanes.map((l) => l.drain())); // bounded buffers all the same
        }
        job.onProgress?.({ done, total });
      }
    } catch (err) {
      stop = { index: i, reason: errorText(err) };
    }
    if (!stop && results[i]!.next < s.to) stop = { index: i, reason: `reading stopped at offset ${results[i]!.next} before the planned end ${s.to}${lastAnswer ? `: ${lastAnswer}` : ''} (messages deleted meanwhile?)` };
  }
  await closeWindow(true);
  if (sendError !== undefined) markUncovered(results, committed, counted, `a send to the target failed: ${errorText(sendError)}`);
  else if (stop) results[stop.index]!.error = stop.reason;
  job.onProgress?.({ done, total });
  return {
    results,
    verification: {
      targetQueues: job.targetQueues.map((mq, ti) => ({ brokerName: mq.brokerName, queueId: mq.queueId, messages: lanes[ti]!.sent + earlier.perTarget[ti]! })),
      sourceBodyCrc: sums.source,
      targetBodyCrc: sums.target,
    },
  };
}

/**
 * After a failed send nothing of the last window is checkpointed: each queue with copies past its
 * checkpoint is failed there; the rerun finds on the target what was stored (invariant 4).
 */
function markUncovered(results: CopyResult[], committed: readonly number[], counted: ReadonlyArray<{ copied: number; found: number }>, why: string): void {
  results.forEach((r, i) => {
    if (!r.started || r.next <= committed[i]!) return;
    r.copied = counted[i]!.copied;
    r.found = counted[i]!.found;
    r.error = `${why}; what this run sent after offset ${committed[i]} is not counted as copied: the rerun finds it on the target and copies only the rest`;
    r.next = committed[i]!;
  });
}

function sum(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}

