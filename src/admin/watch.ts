/**
 * The measuring core of `--watch` (consumerProgress, topicStatus, brokerStatus): samples taken
 * every interval become rates and a drain estimate. No I/O here but the loop's clock and timer,
 * which are injectable; the samplers that ask the brokers are in watch-samplers.ts.
 *
 * Rates are measured, never read from the brokers' own TPS statistics: between two samples, the
 * messages produced are the growth of the broker (max) offsets and the messages consumed the
 * growth of the consumer (committed) offsets, summed per part (a queue) over the parts seen in
 * both samples, so a queue that appears, disappears or whose broker failed in one sample does not
 * distort the sum. A counter that went backwards (an offset reset, a broker's daily counter at
 * midnight) makes that interval's delta unknown rather than negative.
 *
 * Memory is bounded over any duration (TigerBeetle's "a bound on every queue"): per row a
 * fixed-size ring of backlog values (the trend line) and one of intervals (the rate window), the
 * previous sample's counters only, and rows that no longer appear in a sample are forgotten.
 */
import type { BrokerFailure } from './fanout.js';

/** Default --watch interval. */
export const DEFAULT_WATCH_INTERVAL_S = 2;
/** --watch bounds: below 0.2 s a sample of a big cluster would not finish; above an hour is not watching. */
export const WATCH_INTERVAL_S_MIN = 0.2;
export const WATCH_INTERVAL_S_MAX = 3600;
/** Backlog values kept per row for the trend line. */
export const TREND_SAMPLES = 30;
/** Rates (and so the drain estimate) cover at most this many of the latest intervals. */
export const RATE_WINDOW_INTERVALS = 5;

/** A fixed-capacity ring: pushing onto a full ring drops the oldest item. */
export class Ring<T> {
  private readonly items: T[] = [];
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }
}

/** Monotonic counters of one part of a row (a queue): what was produced to it and consumed from it. */
export interface Part {
  id: string;
  /** Broker offset (messages ever written), or a broker's put total. */
  produced: number;
  /** Committed consumer offset, a broker's get total; null when there is none (no offset committed, no consumer side). */
  consumed: number | null;
}

/** What one sample saw of one row: a group, a group's topic, a queue, a broker. */
export interface RowInput<E> {
  key: string;
  /** Messages not consumed yet; null where there is no consumer side (topicStatus, brokerStatus). */
  backlog: number | null;
  parts: Part[];
  /** Why this row could not be read in this sample (it is shown as failed; its state is kept). */
  error: string | null;
  /** What the view shows besides the measurements (names, lag, ...). */
  info: E;
}

/** A broker that failed in one sample: the admin layer's one failure shape. */
export type WatchFailure = BrokerFailure;

export interface SampleInput<E> {
  rows: Array<RowInput<E>>;
  /** Brokers that failed in this sample: their parts are missing from the rows. */
  failed: WatchFailure[];
}

export type DrainState = 'drained' | 'draining' | 'growing' | 'stalled' | 'unknown';

export interface Drain {
  /**
   * drained: no backlog. draining: consumed faster than produced, etaMs is when it reaches 0 at
   * the current rates. growing: produced faster than consumed. stalled: backlog, and neither
   * side moves it (equal rates, often both 0). unknown: no rates yet (first sample) or no backlog known.
   */
  state: DrainState;
  etaMs: number | null;
}

/** backlog ÷ (consume rate − produce rate), rates in messages per second. */
export function drainEstimate(backlog: number | null, consumeRate: number | null, produceRate: number | null): Drain {
  if (backlog === null) return { state: 'unknown', etaMs: null };
  if (backlog <= 0) return { state: 'drained', etaMs: 0 };
  if (consumeRate === null || produceRate === null) return { state: 'unknown', etaMs: null };
  const netPerS = consumeRate - produceRate;
  if (netPerS > 0) return { state: 'draining', etaMs: Math.round((backlog / netPerS) * 1000) };
  return { state: netPerS < 0 ? 'growing' : 'stalled', etaMs: null };
}

/** Messages produced and consumed between two samples of the same row's parts (null: not derivable). */
export function partsDelta(prev: ReadonlyMap<string, Part>, cur: readonly Part[]): { produced: number | null; consumed: number | null } {
  let produced = 0;
  let consumed = 0;
  let producedSeen = false;
  let consumedSeen = false;
  let producedBack = false;
  let consumedBack = false;
  for (const p of cur) {
    const o = prev.get(p.id);
    if (!o) continue;
    const dp = p.produced - o.produced;
    if (dp < 0) producedBack = true;
    produced += dp;
    producedSeen = true;
    if (p.consumed === null || o.consumed === null) continue;
    const dc = p.consumed - o.consumed;
    if (dc < 0) consumedBack = true;
    consumed += dc;
    consumedSeen = true;
  }
  return { produced: producedSeen && !producedBack ? produced : null, consumed: consumedSeen && !consumedBack ? consumed : null };
}

export interface Interval {
  ms: number;
  produced: number | null;
  consumed: number | null;
}

/** Messages per second over the intervals whose count is known; null when none is. */
export function windowRate(intervals: readonly Interval[], pick: (i: Interval) => number | null): number | null {
  let n = 0;
  let ms = 0;
  for (const i of intervals) {
    const v = pick(i);
    if (v === null) continue;
    n += v;
    ms += i.ms;
  }
  return ms > 0 ? (n * 1000) / ms : null;
}

/** One row of a sample, measured (the NDJSON row is this without `trend`). */
export interface WatchRow<E> {
  key: string;
  info: E;
  error: string | null;
  backlog: number | null;
  /** Backlog now minus at the row's previous sample; null on its first sample. */
  backlogChange: number | null;
  /** Messages produced / consumed since the row's previous sample (null: first sample, or not derivable). */
  produced: number | null;
  consumed: number | null;
  /** Messages per second over the rate window (the last RATE_WINDOW_INTERVALS intervals). */
  produceRate: number | null;
  consumeRate: number | null;
  drain: Drain;
  /** The last TREND_SAMPLES backlog values, oldest first (null where the row failed). */
  trend: Array<number | null>;
}

export interface WatchSample<E> {
  /** 1, 2, ... */
  seq: number;
  /** When the sample was started (epoch ms). */
  measuredAt: number;
  /** Since the previous sample's start; null for the first. */
  intervalMs: number | null;
  rows: Array<WatchRow<E>>;
  failed: WatchFailure[];
  /** The whole sample failed (e.g. the name server did not answer): no rows this time. */
  error: string | null;
}

interface RowState {
  atMs: number;
  parts: Map<string, Part>;
  backlog: number | null;
  intervals: Ring<Interval>;
  trend: Ring<number | null>;
}

/** Turns successive samples into measured rows; holds only what the next sample needs. */
export class RateTracker<E> {
  private rows = new Map<string, RowState>();
  private seq = 0;
  private lastAtMs: number | null = null;

  next(input: SampleInput<E>, atMs: number): WatchSample<E> {
    const kept = new Map<string, RowState>();
    const rows = input.rows.map((r) => {
      const prev = this.rows.get(r.key);
      if (r.error !== null) {
        if (prev) kept.set(r.key, prev);
        return failedRow(r, prev);
      }
      const { row, state } = measure(r, prev, atMs);
      kept.set(r.key, state);
      return row;
    });
    // Rows absent from this sample are forgotten: state never outgrows the current view.
    this.rows = kept;
    return this.sample(atMs, rows, input.failed, null);
  }

  /** A sample that could not be taken at all: every row keeps its state for the next one. */
  failedSample(error: string, atMs: number): WatchSample<E> {
    return this.sample(atMs, [], [], error);
  }

  private sample(atMs: number, rows: Array<WatchRow<E>>, failed: WatchFailure[], error: string | null): WatchSample<E> {
    const intervalMs = this.lastAtMs === null ? null : atMs - this.lastAtMs;
    this.lastAtMs = atMs;
    return { seq: ++this.seq, measuredAt: atMs, intervalMs, rows, failed, error };
  }
}

function freshState(atMs: number): RowState {
  return { atMs, parts: new Map(), backlog: null, intervals: new Ring(RATE_WINDOW_INTERVALS), trend: new Ring(TREND_SAMPLES) };
}

/** The row's measurements against its previous state, and its state for the next sample. */
function measure<E>(r: RowInput<E>, prev: RowState | undefined, atMs: number): { row: WatchRow<E>; state: RowState } {
  const state = prev ?? freshState(atMs);
  let delta: { produced: number | null; consumed: number | null } = { produced: null, consumed: null };
  if (prev && prev.parts.size > 0 && atMs > prev.atMs) {
    delta = partsDelta(prev.parts, r.parts);
    state.intervals.push({ ms: atMs - prev.atMs, ...delta });
  }
  const windowed = state.intervals.toArray();
  const produceRate = windowRate(windowed, (i) => i.produced);
  const consumeRate = windowRate(windowed, (i) => i.consumed);
  const backlogChange = prev && prev.backlog !== null && r.backlog !== null ? r.backlog - prev.backlog : null;
  state.atMs = atMs;
  state.parts = new Map(r.parts.map((p) => [p.id, p]));
  state.backlog = r.backlog;
  state.trend.push(r.backlog);
  const row: WatchRow<E> = {
    key: r.key,
    info: r.info,
    error: null,
    backlog: r.backlog,
    backlogChange,
    ...delta,
    produceRate,
    consumeRate,
    drain: drainEstimate(r.backlog, consumeRate, produceRate),
    trend: state.trend.toArray(),
  };
  return { row, state };
}

/** A row that failed in this sample: no measurement; its state (if any) waits for the next one. */
function failedRow<E>(r: RowInput<E>, state: RowState | undefined): WatchRow<E> {
  state?.trend.push(null);
  return {
    key: r.key,
    info: r.info,
    error: r.error,
    backlog: null,
    backlogChange: null,
    produced: null,
    consumed: null,
    produceRate: null,
    consumeRate: null,
    drain: { state: 'unknown', etaMs: null },
    trend: state?.trend.toArray() ?? [null],
  };
}

export interface WatchLoopOptions<E> {
  intervalMs: number;
  /** Reads the brokers once. Its error on the first sample ends the watch (nothing to watch: unknown group, no name server); later, that sample is shown as failed. */
  sample: () => Promise<SampleInput<E>>;
  onSample: (s: WatchSample<E>) => void | Promise<void>;
  /** Ends the loop (Ctrl-C, SIGTERM); a sample in flight is abandoned. */
  signal: AbortSignal;
  now?: () => number;
  /** Stop after this many samples (tests); default: until the signal. */
  maxSamples?: number;
}

const ABORTED = Symbol('aborted');

/** Sample every intervalMs (start to start) until the signal; returns how many samples were taken. */
export async function runWatch<E>(o: WatchLoopOptions<E>): Promise<number> {
  const now = o.now ?? Date.now;
  const tracker = new RateTracker<E>();
  let taken = 0;
  while (!o.signal.aborted && taken < (o.maxSamples ?? Infinity)) {
    const startedMs = now();
    let sample: WatchSample<E>;
    try {
      const input = await untilAborted(o.sample(), o.signal);
      if (input === ABORTED) break;
      sample = tracker.next(input, startedMs);
    } catch (err) {
      if (taken === 0) throw err;
      sample = tracker.failedSample(err instanceof Error ? err.message : String(err), startedMs);
    }
    taken++;
    await o.onSample(sample);
    await sleepUnlessAborted(Math.max(0, startedMs + o.intervalMs - now()), o.signal);
  }
  return taken;
}

function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', onAbort);
        // Abandoned after the abort: the session closing makes it fail, and nobody waits for it.
        if (!signal.aborted) reject(err);
      },
    );
  });
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
