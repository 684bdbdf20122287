/**
 * Cluster metrics for Prometheus, collected through the admin API, with the metric names and labels
 * of Apache's rocketmq-exporter where it has one (so its Grafana dashboards work) and documented
 * `rocketctl_*` names otherwise (README "Metrics"). Used by `rocketctl exporter` (any cluster,
 * Apache brokers included) and by the embedded broker's /metrics (its own broker only).
 *
 * Each broker is collected on its own, brokers `concurrency` at a time, each under a deadline
 * (`brokerTimeoutMs`): a broker that fails or is too slow is reported by rocketctl_broker_up 0 and
 * its metrics are left out; the others are unaffected. Per broker:
 * - GET_BROKER_RUNTIME_INFO: rocketmq_brokeruntime_* and rocketmq_broker_tps/qps;
 * - GET_ALL_TOPIC_CONFIG, then per topic GET_TOPIC_STATS_INFO (rocketmq_producer_offset) and
 *   VIEW_BROKER_STATS_DATA TOPIC_PUT_NUMS / TOPIC_PUT_SIZE (rocketmq_producer_tps / _message_size);
 * - the groups as `consumerProgress --lag` measures them (allGroupsProgress on this broker): diff,
 *   consumer offsets and time lag, and VIEW_BROKER_STATS_DATA GROUP_GET_NUMS (rocketmq_consumer_tps).
 * So a scrape shows the same backlog and lag as consumerProgress at that moment.
 */
import { RemoteError } from '../errors/index.js';
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import { gauge, renderExposition, type MetricFamily } from '../metrics/exposition.js';
import { serveMetrics, type MetricsServer } from '../metrics/http.js';
import { CachedCollector, type OwnBroker } from '../metrics/collector.js';
import { sessionInvoke, type AdminSession, type AdminTargetOptions, withAdminSession, openAdminSession } from './session.js';
import { brokerAddrOf, clusterInfo } from './targets.js';
import { getAllTopicConfigs, getBrokerRuntimeInfo, getTopicStatsInfo } from './requests.js';
import { mapBounded, errorText } from './fanout.js';
import { allGroupsProgress, type GroupRow } from './progress.js';
import { isSystemTopic, isRetryOrDlqTopic } from '../protocol/names.js';

/** Per-broker deadline by default: a scrape stays well inside Prometheus' 10 s scrape timeout. */
export const DEFAULT_BROKER_TIMEOUT_MS = 8_000;
/** Brokers collected at once, and requests in flight per broker. */
export const DEFAULT_METRICS_CONCURRENCY = 8;

export interface CollectOptions {
  brokerTimeoutMs?: number;
  concurrency?: number;
  /** Only the broker of this name (the embedded broker's own endpoint). */
  brokerName?: string;
  /**
   * Brokers seen by earlier collections (kept by the caller across them): one the name servers no
   * longer list (a killed broker's connection closed, so they dropped it) is still reported, with
   * rocketctl_broker_up 0, for FORGET_BROKER_MS, so an alert on up == 0 fires instead of the
   * series just ending.
   */
  seen?: Map<string, SeenBroker>;
  now?: () => number;
}

export interface SeenBroker {
  cluster: string;
  brokerName: string;
  addr: string;
  lastSeenMs: number;
}

/** How long a broker gone from the name servers is still reported as down. */
export const FORGET_BROKER_MS = 3_600_000;

export interface TopicSample {
  topic: string;
  /** Sum of the queues' max offsets on this broker (rocketmq-exporter's rocketmq_producer_offset). */
  maxOffset: number;
  /** Messages / bytes put per second over the last minute; null when the broker could not say. */
  putTps: number | null;
  putBytesTps: number | null;
}

export interface GroupSample {
  group: string;
  topic: string;
  /** Messages not consumed yet on this broker (as consumerProgress: no committed offset = all stored). */
  diff: number;
  /** Sum of the committed offsets of the queues that have one. */
  consumerOffset: number;
  /** Age of the oldest unconsumed message on this broker; null when it could not be read. */
  lagMs: number | null;
  consumeTps: number | null;
  onlineConsumers: number;
  /** CLUSTERING / BROADCASTING, '' when offline or a pull consumer. */
  messageModel: string;
}

export interface BrokerSample {
  cluster: string;
  brokerName: string;
  addr: string;
  up: boolean;
  /** Why the broker is down (up false), or what part failed while up. */
  errors: string[];
  collectMs: number;
  runtime: Record<string, string>;
  topics: TopicSample[];
  groups: GroupSample[];
}

export interface ClusterSample {
  collectedAt: number;
  collectMs: number;
  brokers: BrokerSample[];
}

export async function collectClusterMetrics(session: AdminSession, opts: CollectOptions = {}): Promise<ClusterSample> {
  const now = opts.now ?? Date.now;
  const started = now();
  const info = await clusterInfo(session);
  const targets = Object.values(info.brokerAddrTable)
    .filter((bd) => opts.brokerName === undefined || bd.brokerName === opts.brokerName)
    .map((bd) => ({ cluster: bd.cluster, brokerName: bd.brokerName, addr: brokerAddrOf(bd) }))
    .filter((t): t is { cluster: string; brokerName: string; addr: string } => t.addr !== undefined)
    .sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
  const timeoutMs = opts.brokerTimeoutMs ?? DEFAULT_BROKER_TIMEOUT_MS;
  const limit = opts.concurrency ?? DEFAULT_METRICS_CONCURRENCY;
  // The broker-name and cluster-name topics (and the cluster's reply topic) are the brokers' own.
  const clusters = Object.keys(info.clusterAddrTable);
  const ownTopics = new Set([...clusters, ...clusters.map((c) => `${c}_REPLY_TOPIC`), ...Object.keys(info.brokerAddrTable)]);
  const isApplicationTopic = (topic: string) => !ownTopics.has(topic) && !isNotApplicationTopic(topic);
  const o = { limit, now, isApplicationTopic };
  const gone = opts.seen ? rememberBrokers(opts.seen, targets, started) : [];
  const brokers = (await mapBounded(targets, limit, async (t): Promise<BrokerSample> => {
    const t0 = now();
    try {
      return await withDeadline(collectBroker(session, t, o), timeoutMs, `broker ${t.brokerName} (${t.addr})`);
    } catch (err) {
      return { ...t, up: false, errors: [errorText(err)], collectMs: now() - t0, runtime: {}, topics: [], groups: [] };
    }
  })).map((s) => (s.ok ? s.value : unreachable(s.error)));
  for (const g of gone) brokers.push({ ...g, up: false, errors: ['no longer registered with the name servers'], collectMs: 0, runtime: {}, topics: [], groups: [] });
  return { collectedAt: started, collectMs: now() - started, brokers };
}

/** Record the brokers listed now; return those seen before, not listed now, and not yet forgotten. */
function rememberBrokers(seen: Map<string, SeenBroker>, listed: Array<{ cluster: string; brokerName: string; addr: string }>, nowMs: number): Array<{ cluster: string; brokerName: string; addr: string }> {
  for (const t of listed) seen.set(t.brokerName, { ...t, lastSeenMs: nowMs });
  const gone: Array<{ cluster: string; brokerName: string; addr: string }> = [];
  for (const [name, b] of seen) {
    if (b.lastSeenMs === nowMs) continue;
    if (nowMs - b.lastSeenMs > FORGET_BROKER_MS) seen.delete(name);
    else gone.push({ cluster: b.cluster, brokerName: b.brokerName, addr: b.addr });
  }
  return gone;
}

/** mapBounded settles every item; the function above never throws. */
function unreachable(err: unknown): never {
  throw err;
}

interface BrokerCollect {
  limit: number;
  now: () => number;
  isApplicationTopic: (topic: string) => boolean;
}

async function collectBroker(session: AdminSession, t: { cluster: string; brokerName: string; addr: string }, o: BrokerCollect): Promise<BrokerSample> {
  const { limit, now } = o;
  const started = now();
  const errors: string[] = [];
  // The runtime info is the liveness probe: without it the broker is down.
  const runtime = await getBrokerRuntimeInfo(session, t.addr);
  const [topics, groups] = await Promise.all([collectTopics(session, t, o, errors), collectGroups(session, t, limit, errors)]);
  return { ...t, up: true, errors, collectMs: now() - started, runtime, topics, groups };
}

async function collectTopics(session: AdminSession, t: { brokerName: string; addr: string }, o: BrokerCollect, errors: string[]): Promise<TopicSample[]> {
  const names = Object.keys(await getAllTopicConfigs(session, t.addr)).filter(o.isApplicationTopic).sort();
  const settled = await mapBounded(names, o.limit, async (topic): Promise<TopicSample> => {
    const [stats, puts, bytes] = await Promise.all([
      getTopicStatsInfo(session, t.addr, topic),
      viewStatsMinuteTps(session, t.addr, 'TOPIC_PUT_NUMS', topic),
      viewStatsMinuteTps(session, t.addr, 'TOPIC_PUT_SIZE', topic),
    ]);
    const own = stats.filter((q) => q.brokerName === t.brokerName);
    return { topic, maxOffset: own.reduce((n, q) => n + q.maxOffset, 0), putTps: puts, putBytesTps: bytes };
  });
  const out: TopicSample[] = [];
  for (const s of settled) {
    if (s.ok) out.push(s.value);
    else errors.push(`topic ${s.item}: ${errorText(s.error)}`);
  }
  return out;
}

async function collectGroups(session: AdminSession, t: { brokerName: string; addr: string }, limit: number, errors: string[]): Promise<GroupSample[]> {
  const all = await allGroupsProgress(session, { brokers: [{ brokerName: t.brokerName, addr: t.addr }], withLag: true, concurrency: limit });
  if (all.failed.length > 0) throw new Error(`its subscription groups could not be listed: ${all.failed[0]!.message}`);
  const rows: Array<Omit<GroupSample, 'consumeTps'>> = [];
  for (const g of all.groups) {
    if (g.status === 'failed') errors.push(`group ${g.group}: ${g.error ?? 'failed'}`);
    else rows.push(...groupSamples(g));
  }
  const tps = await mapBounded(rows, limit, (r) => viewStatsMinuteTps(session, t.addr, 'GROUP_GET_NUMS', `${r.topic}@${r.group}`));
  return rows.map((r, i) => {
    const s = tps[i]!;
    return { ...r, consumeTps: s.ok ? s.value : null };
  });
}

/** One sample per topic of a consumerProgress row (its queues on one broker). */
function groupSamples(g: GroupRow): Array<Omit<GroupSample, 'consumeTps'>> {
  const byTopic = new Map<string, Omit<GroupSample, 'consumeTps'>>();
  for (const q of g.queues) {
    let s = byTopic.get(q.topic);
    if (!s) {
      s = { group: g.group, topic: q.topic, diff: 0, consumerOffset: 0, lagMs: 0, onlineConsumers: g.count, messageModel: g.model };
      byTopic.set(q.topic, s);
    }
    s.diff += q.diff;
    s.consumerOffset += q.consumerOffset ?? 0;
    s.lagMs = q.lagMs === null || q.lagMs === undefined || s.lagMs === null ? null : Math.max(s.lagMs, q.lagMs);
  }
  return [...byTopic.values()];
}

/**
 * Retry / dead-letter topics (their backlog is the group's) and the broker's own topics
 * (TopicValidator's system topics, RMQ_SYS_*): not application topics. The cluster- and
 * broker-name topics are told apart by the caller, which knows those names.
 */
function isNotApplicationTopic(topic: string): boolean {
  return isRetryOrDlqTopic(topic) || isSystemTopic(topic) || topic.startsWith('RMQ_SYS_');
}

/**
 * VIEW_BROKER_STATS_DATA (315): statsMinute.tps of one statistic. A statistic the broker never
 * counted ("The stats <..> <..> not exist") is 0: nothing was put or pulled lately.
 */
export async function viewStatsMinuteTps(session: AdminSession, addr: string, statsName: string, statsKey: string): Promise<number> {
  const res = await sessionInvoke(session, addr, makeRequest(RequestCode.VIEW_BROKER_STATS_DATA, { statsName, statsKey }));
  if (res.code === ResponseCode.SYSTEM_ERROR && /not exist/.test(res.remark ?? '')) return 0;
  if (res.code !== ResponseCode.SUCCESS) throw new RemoteError(res.code, `stats ${statsName} ${statsKey} of ${addr}: ${res.remark ?? res.code}`);
  const body = JSON.parse(bodyBuffer(res).toString('utf8')) as { statsMinute?: { tps?: number } };
  return Number(body.statsMinute?.tps ?? 0);
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  // The broker's requests left running end by their own request timeout; nobody waits for them.
  p.catch(() => undefined);
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

// ---- families ---------------------------------------------------------------------------------

/** rocketmq-exporter's broker runtime labels. */
function runtimeLabels(b: BrokerSample): Record<string, string> {
  return { cluster: b.cluster, brokerIP: b.addr, brokerHost: b.brokerName, des: '', boottime: b.runtime.bootTimestamp ?? '', broker_version: b.runtime.brokerVersion ?? '' };
}

/** The runtime keys exported as rocketmq_brokeruntime_<name> (rocketmq-exporter's names), read as numbers. */
const RUNTIME_GAUGES: Array<[string, (rt: Record<string, string>) => number | undefined]> = [
  ['msg_put_total_today_now', (rt) => num(rt.msgPutTotalTodayNow)],
  ['msg_gettotal_today_now', (rt) => num(rt.msgGetTotalTodayNow)],
  ['put_message_size_total', (rt) => num(rt.putMessageSizeTotal)],
  ['put_message_average_size', (rt) => num(rt.putMessageAverageSize)],
  ['putmessage_times_total', (rt) => num(rt.putMessageTimesTotal)],
  ['dispatch_behind_bytes', (rt) => num(rt.dispatchBehindBytes)],
  ['commitlog_maxoffset', (rt) => num(rt.commitLogMaxOffset)],
  ['commitlog_minoffset', (rt) => num(rt.commitLogMinOffset)],
  ['commitlog_disk_ratio', (rt) => num(rt.commitLogDiskRatio)],
  ['consumequeue_disk_ratio', (rt) => num(rt.consumeQueueDiskRatio)],
  ['commitlogdir_capacity_total', (rt) => capacity(rt.commitLogDirCapacity, 'Total')],
  ['commitlogdir_capacity_free', (rt) => capacity(rt.commitLogDirCapacity, 'Free')],
  ['earliest_message_timestamp', (rt) => num(rt.earliestMessageTimeStamp)],
  ['put_tps10', (rt) => tpsWindow(rt.putTps, 0)],
  ['put_tps60', (rt) => tpsWindow(rt.putTps, 1)],
  ['put_tps600', (rt) => tpsWindow(rt.putTps, 2)],
  ['gettransfered_tps10', (rt) => tpsWindow(rt.getTransferedTps, 0)],
  ['gettransfered_tps60', (rt) => tpsWindow(rt.getTransferedTps, 1)],
  ['gettransfered_tps600', (rt) => tpsWindow(rt.getTransferedTps, 2)],
  ['send_threadpool_queue_size', (rt) => num(rt.sendThreadPoolQueueSize)],
  ['pull_threadpoolqueue_size', (rt) => num(rt.pullThreadPoolQueueSize)],
];

const RUNTIME_COUNTERS: ReadonlySet<string> = new Set(['put_message_size_total', 'putmessage_times_total']);

export function clusterFamilies(c: ClusterSample): MetricFamily[] {
  const up = c.brokers;
  const live = c.brokers.filter((b) => b.up);
  const fams: MetricFamily[] = [
    gauge('rocketctl_broker_up', 'Whether the broker answered this collection (1) or failed or timed out (0).', up.map((b) => [{ cluster: b.cluster, broker: b.brokerName, addr: b.addr }, b.up ? 1 : 0])),
    gauge('rocketctl_broker_collect_seconds', 'Time collecting this broker took.', up.map((b) => [{ cluster: b.cluster, broker: b.brokerName }, b.collectMs / 1000])),
    gauge('rocketctl_broker_collect_errors', 'Topics or groups of a live broker that could not be read in this collection.', live.map((b) => [{ cluster: b.cluster, broker: b.brokerName }, b.errors.length])),
    gauge('rocketctl_collect_timestamp_seconds', 'When this collection started (cached collections keep their time).', [[{}, c.collectedAt / 1000]]),
  ];
  const brokerLabels = (b: BrokerSample) => ({ cluster: b.cluster, brokerIP: b.addr, broker: b.brokerName });
  fams.push(gauge('rocketmq_broker_tps', 'Messages put per second on the broker (last 10 s).', live.flatMap((b) => opt(brokerLabels(b), tpsWindow(b.runtime.putTps, 0)))));
  fams.push(gauge('rocketmq_broker_qps', 'Messages handed to consumers per second (last 10 s).', live.flatMap((b) => opt(brokerLabels(b), tpsWindow(b.runtime.getTransferedTps, 0)))));
  for (const [name, read] of RUNTIME_GAUGES) {
    const f = gauge(`rocketmq_brokeruntime_${name}`, `Broker runtime info (GET_BROKER_RUNTIME_INFO), as rocketmq-exporter's rocketmq_brokeruntime_${name}.`, live.flatMap((b) => opt(runtimeLabels(b), read(b.runtime))));
    // Totals since the broker started only grow: counters (promtool: "_total" is for counters).
    if (RUNTIME_COUNTERS.has(name)) f.type = 'counter';
    fams.push(f);
  }
  const topicLabels = (b: BrokerSample, t: TopicSample) => ({ cluster: b.cluster, broker: b.brokerName, topic: t.topic });
  const topics = live.flatMap((b) => b.topics.map((t) => ({ b, t })));
  fams.push(gauge('rocketmq_producer_tps', 'Messages put per second to the topic on the broker (last minute).', topics.flatMap(({ b, t }) => opt(topicLabels(b, t), t.putTps))));
  fams.push(gauge('rocketmq_producer_message_size', 'Bytes put per second to the topic on the broker (last minute).', topics.flatMap(({ b, t }) => opt(topicLabels(b, t), t.putBytesTps))));
  fams.push(gauge('rocketmq_producer_offset', 'Sum of the max offsets of the topic\'s queues on the broker.', topics.map(({ b, t }) => [topicLabels(b, t), t.maxOffset])));
  const groups = live.flatMap((b) => b.groups.map((g) => ({ b, g })));
  const groupLabels = (b: BrokerSample, g: GroupSample) => ({ cluster: b.cluster, broker: b.brokerName, topic: g.topic, group: g.group });
  fams.push(gauge('rocketmq_consumer_tps', 'Messages pulled per second by the group from the topic on the broker (last minute).', groups.flatMap(({ b, g }) => opt(groupLabels(b, g), g.consumeTps))));
  fams.push(gauge('rocketmq_consumer_offset', 'Sum of the group\'s committed offsets of the topic\'s queues on the broker.', groups.map(({ b, g }) => [groupLabels(b, g), g.consumerOffset])));
  fams.push(gauge('rocketmq_group_get_latency_by_storetime', 'Age in ms of the group\'s oldest unconsumed message of the topic on the broker (0 without backlog).', groups.flatMap(({ b, g }) => opt(groupLabels(b, g), g.lagMs))));
  fams.push(gauge('rocketctl_group_diff', 'Messages of the topic on the broker not consumed by the group yet (per broker; rocketmq_group_diff sums the brokers).', groups.map(({ b, g }) => [groupLabels(b, g), g.diff])));
  fams.push(gauge('rocketmq_group_diff', 'Messages of the topic not consumed by the group yet, over all brokers collected.', groupDiffs(groups.map(({ g }) => g))));
  return fams;
}

/** rocketmq-exporter's rocketmq_group_diff: per group and topic over the brokers; msgModel is MessageModel's ordinal. */
function groupDiffs(groups: GroupSample[]): Array<[Record<string, string>, number]> {
  const out = new Map<string, { labels: Record<string, string>; diff: number }>();
  for (const g of groups) {
    const key = `${g.group}\u0000${g.topic}`;
    const seen = out.get(key);
    // Online consumers: the most any broker knows (each online consumer heartbeats every broker).
    const model = g.messageModel === 'BROADCASTING' ? '0' : '1';
    if (!seen) out.set(key, { labels: { group: g.group, topic: g.topic, countOfOnlineConsumers: String(g.onlineConsumers), msgModel: model }, diff: g.diff });
    else {
      seen.diff += g.diff;
      if (g.onlineConsumers > Number(seen.labels.countOfOnlineConsumers)) seen.labels.countOfOnlineConsumers = String(g.onlineConsumers);
    }
  }
  return [...out.values()].map((v) => [v.labels, v.diff]);
}

function opt(labels: Record<string, string>, v: number | null | undefined): Array<[Record<string, string>, number]> {
  return v === null || v === undefined || !Number.isFinite(v) ? [] : [[labels, v]];
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** "10.5 20.1 30.0" (the 10 s, 60 s, 600 s windows of putTps / getTransferedTps). */
function tpsWindow(v: string | undefined, i: number): number | undefined {
  return num(v?.trim().split(/\s+/)[i]);
}

const BYTE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, PiB: 1024 ** 5, EiB: 1024 ** 6 };

/** "Total : 100.0 GiB, Free : 50.0 GiB." (MixAll.humanReadableByteCount): bytes, to the precision shown. */
function capacity(v: string | undefined, which: 'Total' | 'Free'): number | undefined {
  const m = v && new RegExp(`${which} : ([0-9.]+) (B|[KMGTPE]iB)`).exec(v);
  return m ? Number(m[1]) * BYTE_UNITS[m[2]!]! : undefined;
}

// ---- one broker, from inside its process ---------------------------------------------------

/**
 * The cluster families of one broker, as the broker's own GET /metrics shows them: collected over
 * its admin socket exactly as `rocketctl exporter` collects any broker, so both show the same
 * names, labels and values. The broker cannot call this itself (it does not import the admin API):
 * `rocketctl broker start` hands it in as BrokerStartOptions.clusterMetrics.
 */
export async function collectOwnBrokerMetrics(own: OwnBroker): Promise<MetricFamily[]> {
  return clusterFamilies(await withOwnSession(own, (s) => collectClusterMetrics(s, { brokerName: own.brokerName })));
}

/**
 * An admin session whose broker requests go over the admin socket. Its name server requests go
 * there too when the embedded name server answers on it; otherwise to the external name servers.
 */
async function withOwnSession<T>(own: OwnBroker, fn: (s: AdminSession) => Promise<T>): Promise<T> {
  if (own.embeddedNamesrv) return withAdminSession({ socket: own.socket, timeoutMs: DEFAULT_BROKER_TIMEOUT_MS }, fn);
  const s = await openAdminSession({ namesrvAddr: own.namesrvAddrs.join(';'), timeoutMs: DEFAULT_BROKER_TIMEOUT_MS });
  for (const addr of own.brokerAddrs) s.client.setAlias(addr, own.socket);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

// ---- the exporter -----------------------------------------------------------------------------

export interface ExporterOptions extends CollectOptions {
  target: AdminTargetOptions;
  host: string;
  port: number;
  /** Scrapes within this long of the last collection get it again (0: collect at every scrape). */
  cacheMs: number;
  onError?: (err: unknown) => void;
}

/** One collection of every broker the target's name servers know, rendered as exposition text. */
export async function scrapeCluster(target: AdminTargetOptions, opts: CollectOptions = {}): Promise<{ sample: ClusterSample; text: string }> {
  const sample = await withAdminSession(target, (s) => collectClusterMetrics(s, opts));
  return { sample, text: renderExposition(clusterFamilies(sample)) };
}

/** `rocketctl exporter`: serve GET /metrics for a whole cluster, one collection per cacheMs at most. */
export async function startExporter(opts: ExporterOptions): Promise<MetricsServer> {
  const seen = new Map<string, SeenBroker>();
  const cache = new CachedCollector(async () => (await scrapeCluster(opts.target, { ...opts, seen })).text, opts.cacheMs);
  return serveMetrics({ host: opts.host, port: opts.port, onError: opts.onError, render: () => cache.get() });
}
