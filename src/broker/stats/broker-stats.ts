/**
 * Put statistics, as BrokerStatsManager keeps TOPIC_PUT_NUMS / TOPIC_PUT_SIZE (per topic), and
 * request counts per request code and response code (rocketctl's own, for the metrics endpoint).
 *
 * Pull ("get") statistics, as BrokerStatsManager keeps GROUP_GET_NUMS (messages handed to a
 * consumer group, per topic@group) and BROKER_GET_NUMS (all of them). They feed
 * GET_CONSUME_STATS' consumeTps (Java: tpsGroupGetNums, the rate over the last minute) and the
 * runtime info's msgGetTotal* / getTransferedTps (clusterList's OutTPS and out totals).
 *
 * The pull path only adds to a counter: per key, six 10-second buckets (the last minute, as
 * Java's minute statistics sampled every 10 s), so the rate is the messages of the buckets still
 * inside the last minute over the time they cover (less for a key younger than a minute). No
 * timer runs; an idle key costs nothing.
 *
 * Deliberate difference: pulls by the tools group (TOOLS_CONSUMER, what `consumeMessage` uses by
 * default) are not counted, so reading a topic with the admin tools changes no statistic.
 */
import { TOOLS_CONSUMER_GROUP } from '../../protocol/names.js';

/** Java's minute statistics: samples every 10 s, rate over the last 60 s. */
const BUCKET_MS = 10_000;
const BUCKETS = 6;

class MinuteRate {
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  private readonly slots = new Array<number>(BUCKETS).fill(-1);
  total = 0;

  constructor(private readonly createdMs: number) {}

  add(n: number, nowMs: number): void {
    const slot = Math.floor(nowMs / BUCKET_MS);
    const i = slot % BUCKETS;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
    this.total += n;
  }

  /** Count in the buckets still inside the last minute. */
  lastMinute(nowMs: number): number {
    const slot = Math.floor(nowMs / BUCKET_MS);
    let sum = 0;
    for (let i = 0; i < BUCKETS; i++) {
      const s = this.slots[i]!;
      if (s > slot - BUCKETS && s <= slot) sum += this.counts[i]!;
    }
    return sum;
  }

  /** Messages per second over the last minute (or since the key was first counted, if later). */
  perSecond(nowMs: number): number {
    const slot = Math.floor(nowMs / BUCKET_MS);
    const sum = this.lastMinute(nowMs);
    const windowStart = Math.max((slot - BUCKETS + 1) * BUCKET_MS, this.createdMs);
    // At least a second, so a burst just counted reads as that many per second, not thousands.
    return sum > 0 ? (sum * 1000) / Math.max(nowMs - windowStart, 1000) : 0;
  }
}

/** What VIEW_BROKER_STATS_DATA answers for one key (BrokerStatsData: only the minute is kept here). */
interface StatsMinute {
  /** Count (or bytes) in the last minute. */
  sum: number;
  /** Per second over the last minute. */
  tps: number;
}

export class BrokerStats {
  private readonly groupGets = new Map<string, MinuteRate>();
  private readonly topicPuts = new Map<string, MinuteRate>();
  private readonly topicPutBytes = new Map<string, MinuteRate>();
  /** Requests handled: request code -> response code (or server.ts NOT_ANSWERED) -> count. Numeric keys: no allocation per request. */
  readonly requests = new Map<number, Map<number, number>>();
  /** BROKER_GET_NUMS: messages handed to consumers since start (tools group excluded). */
  getTotal = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** A pull answered FOUND with `count` messages (PullMessageProcessor: incGroupGetNums + incBrokerGetNums). */
  onMessagesPulled(group: string, topic: string, count: number): void {
    if (count <= 0 || group === TOOLS_CONSUMER_GROUP) return;
    const nowMs = this.now();
    const key = `${topic}@${group}`;
    rateOf(this.groupGets, key, nowMs).add(count, nowMs);
    this.getTotal += count;
  }

  /** A message stored for `topic` (SendMessageProcessor: incTopicPutNums + incTopicPutSize). */
  onMessagesPut(topic: string, count: number, bytes: number): void {
    const nowMs = this.now();
    rateOf(this.topicPuts, topic, nowMs).add(count, nowMs);
    rateOf(this.topicPutBytes, topic, nowMs).add(bytes, nowMs);
  }

  /** A request handled, with the response code sent (server.ts NOT_ANSWERED when none was). */
  onRequest(requestCode: number, responseCode: number): void {
    let byResult = this.requests.get(requestCode);
    if (!byResult) this.requests.set(requestCode, (byResult = new Map()));
    byResult.set(responseCode, (byResult.get(responseCode) ?? 0) + 1);
  }

  /** Topics with puts since start, with messages and bytes put (totals) and their rates over the last minute. */
  topicPutStats(): Array<{ topic: string; putTotal: number; putBytesTotal: number; putTps: number; putBytesTps: number }> {
    const nowMs = this.now();
    return [...this.topicPuts.entries()].map(([topic, r]) => {
      const bytes = this.topicPutBytes.get(topic)!;
      return { topic, putTotal: r.total, putBytesTotal: bytes.total, putTps: r.perSecond(nowMs), putBytesTps: bytes.perSecond(nowMs) };
    });
  }

  /**
   * BrokerStatsManager's minute statistics by name (VIEW_BROKER_STATS_DATA): TOPIC_PUT_NUMS and
   * TOPIC_PUT_SIZE keyed by topic, GROUP_GET_NUMS keyed by `topic@group`. Undefined when never counted.
   */
  minute(statsName: string, key: string): StatsMinute | undefined {
    const table = statsName === 'TOPIC_PUT_NUMS' ? this.topicPuts : statsName === 'TOPIC_PUT_SIZE' ? this.topicPutBytes : statsName === 'GROUP_GET_NUMS' ? this.groupGets : undefined;
    const r = table?.get(key);
    if (!r) return undefined;
    const nowMs = this.now();
    return { sum: r.lastMinute(nowMs), tps: r.perSecond(nowMs) };
  }

  /** tpsGroupGetNums(group, topic): messages per second pulled by the group from the topic, last minute. */
  groupGetTps(group: string, topic: string): number {
    return this.groupGets.get(`${topic}@${group}`)?.perSecond(this.now()) ?? 0;
  }

  /** Messages pulled by the group from the topic since the broker started. */
  groupGetTotal(group: string, topic: string): number {
    return this.groupGets.get(`${topic}@${group}`)?.total ?? 0;
  }
}

function rateOf(table: Map<string, MinuteRate>, key: string, nowMs: number): MinuteRate {
  let r = table.get(key);
  if (!r) {
    r = new MinuteRate(nowMs);
    table.set(key, r);
  }
  return r;
}
