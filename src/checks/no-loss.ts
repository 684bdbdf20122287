/**
 * checkNoLoss: a running cluster (and optionally a consumer group, -g, and a producer group, -p)
 * against RocketMQ's zero-loss checklist. Each item says pass / warn / fail / unknown / skip, what
 * was found, what is recommended, why it matters, how to fix it, and what the safer choice costs.
 *
 * Two layers: `gatherNoLossFacts` asks the brokers (GET_BROKER_RUNTIME_INFO, GET_BROKER_CONFIG,
 * cluster info, subscription groups, %DLQ% stats, connections, consumer running info) and never
 * judges; `judgeNoLoss` turns facts into items and is pure (unit-tested on hand-made facts).
 * Nothing prints. A fact a broker does not expose is `unknown` with the reason, never a guess.
 *
 * Verdict rules:
 *   - an item's own verdict is pass / warn / fail / unknown (skip: needs -g or -p);
 *   - an item named in `require` that would be `warn` becomes `fail`;
 *   - the command exits 4 when a required item is `fail`, or `unknown` (it could not be verified);
 *   - without --require nothing but a hard `fail` (disk over its limit, a group that drops failed
 *     messages) fails, and then the command exits 4 as well.
 */
import { GroupNotFoundError, RocketError, TopicNotFoundError } from '../errors/index.js';
import { BROKER_PARALLELISM, failureOf, mapBounded, type BrokerFailure } from '../admin/fanout.js';
import { clusterInfo, routeOfTopic, brokerTargetsOfRoute } from '../admin/targets.js';
import { getAllSubscriptionGroups, getBrokerRuntimeInfo, getProducerConnectionList, getTopicStatsInfo, ProducerNotOnlineError, getConsumerConnection } from '../admin/requests.js';
import { consumerProgress } from '../admin/progress.js';
import { getBrokerConfig, type RetentionWarning } from '../admin/retention.js';
import type { AdminSession } from '../admin/session.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { parseFastjson } from '../protocol/fastjson.js';
import { bodyBuffer, makeRequest } from '../protocol/frame.js';
import type { ClusterInfo } from '../protocol/bodies.js';
import { DLQ_GROUP_TOPIC_PREFIX } from '../protocol/names.js';

type NoLossStatus = 'pass' | 'warn' | 'fail' | 'unknown' | 'skip';

/** Item ids, in report order; also the values --require takes. */
export const NO_LOSS_ITEMS = ['sync-flush', 'replication', 'disk-headroom', 'retry-dlq', 'dlq-empty', 'retention', 'consumer-commit', 'transactions', 'outbox'] as const;
type NoLossItemId = (typeof NO_LOSS_ITEMS)[number];
/** Items that need -g GROUP / -p PRODUCER_GROUP. */
export const GROUP_ITEMS: readonly NoLossItemId[] = ['retry-dlq', 'dlq-empty', 'retention', 'consumer-commit'];
export const PRODUCER_ITEMS: readonly NoLossItemId[] = ['transactions', 'outbox'];

interface NoLossItem {
  id: NoLossItemId;
  status: NoLossStatus;
  /** Named in --require: a warn became fail, an unknown fails the run. */
  required: boolean;
  current: string;
  recommended: string;
  /** Why this verdict and why the item matters. */
  why: string;
  /** What to do (commands or settings); empty when nothing to do. */
  fix: string[];
  /** What the safer choice costs (RocketMQ guidance; our own measurements where we have them). */
  price: string;
}

// ---- facts ------------------------------------------------------------------------------------

export interface BrokerFacts {
  clusterName: string;
  brokerName: string;
  /** The address asked (the master's, else the lowest id's). */
  addr: string;
  brokerId: number;
  /** Ids other than 0 registered under this broker name (slaves, or DLedger followers). */
  slaveIds: number[];
  runtime?: Record<string, string>;
  runtimeError?: string;
  /** GET_BROKER_CONFIG properties. */
  config?: Record<string, string>;
  configError?: string;
}

interface SubscriptionFacts {
  brokerName: string;
  retryMaxTimes: number;
  retryQueueNums: number;
}

interface DlqFacts {
  /** false: no route for %DLQ%<group> (nothing was ever dead-lettered, or it was deleted). */
  exists: boolean;
  /** Messages still stored: Σ (maxOffset - minOffset). */
  stored: number;
  /** Messages ever written: Σ maxOffset. */
  total: number;
  perBroker: Array<{ brokerName: string; stored: number; total: number }>;
}

interface ConsumerClientFacts {
  clientId: string;
  /** Language on the connection (rocketctl's client says JAVA there, as the wire protocol expects). */
  language: string;
  /** From GET_CONSUMER_RUNNING_INFO properties: "TYPESCRIPT" for rocketctl's push consumer. */
  runningLanguage?: string;
  runningInfoError?: string;
}

interface GroupFacts {
  group: string;
  /** One per broker holding the group's config; empty: no broker knows the group. */
  subscriptions: SubscriptionFacts[];
  subscriptionError?: string;
  dlq?: DlqFacts;
  dlqError?: string;
  consumeType?: string;
  clients: ConsumerClientFacts[];
  clientsError?: string;
  /** consumerProgress -g: the retention warning (null: none within a day) and the backlog it saw. */
  retention?: { warning: RetentionWarning | null; diff: number; lagMsMax: number | null; incomplete: string[] };
  retentionError?: string;
}

interface ProducerFacts {
  group: string;
  connections: Array<{ brokerName: string; clientId: string; clientAddr: string; language: string; version: number }>;
  error?: string;
}

export interface NoLossFacts {
  brokers: BrokerFacts[];
  group?: GroupFacts;
  producer?: ProducerFacts;
  failed: BrokerFailure[];
}

interface NoLossOptions {
  /** Only this cluster's brokers (default: every cluster the name server knows). */
  clusterName?: string;
  group?: string;
  producerGroup?: string;
}

// ---- gathering ----------------------------------------------------------------------------------

/** Ask the brokers; every per-broker failure is kept in the facts (and in `failed`). */
async function gatherNoLossFacts(s: AdminSession, o: NoLossOptions): Promise<NoLossFacts> {
  const info = await clusterInfo(s);
  const brokers = brokersOf(info, o.clusterName);
  if (brokers.length === 0) {
    const known = Object.keys(info.clusterAddrTable).sort();
    throw new RocketError(o.clusterName ? `cluster ${o.clusterName} has no broker registered (known: ${known.join(', ') || 'none'})` : 'no broker is registered with the name server', {
      code: 'E_NO_BROKER',
      actions: ['list clusters with: rocketctl clusterList'],
    });
  }
  const failed: BrokerFailure[] = [];
  await mapBounded(brokers, BROKER_PARALLELISM, async (b) => {
    const [rt, cfg] = await Promise.allSettled([getBrokerRuntimeInfo(s, b.addr), getBrokerConfig(s, b.addr)]);
    if (rt.status === 'fulfilled') b.runtime = rt.value;
    else {
      b.runtimeError = errText(rt.reason);
      failed.push(failureOf(b, rt.reason));
    }
    if (cfg.status === 'fulfilled') b.config = cfg.value;
    else b.configError = errText(cfg.reason);
  });
  // Every broker unreachable: nothing to report, one error line (exit 1) as other admin commands.
  if (brokers.every((b) => b.runtime === undefined && b.config === undefined)) {
    throw failed.length > 0 ? new RocketError(failed[0]!.message, { code: failed[0]!.code }) : new RocketError('no broker answered', { code: 'E_NO_BROKER' });
  }
  const facts: NoLossFacts = { brokers, failed };
  if (o.group) facts.group = await gatherGroup(s, brokers, o.group);
  if (o.producerGroup) facts.producer = await gatherProducer(s, brokers, o.producerGroup);
  return facts;
}

function brokersOf(info: ClusterInfo, cluster?: string): BrokerFacts[] {
  const out: BrokerFacts[] = [];
  const clusters = Object.keys(info.clusterAddrTable).sort();
  for (const c of clusters) {
    if (cluster && c !== cluster) continue;
    for (const name of [...(info.clusterAddrTable[c] ?? [])].sort()) {
      const bd = info.brokerAddrTable[name];
      if (!bd) continue;
      const ids = Object.keys(bd.brokerAddrs).map(Number).sort((a, b) => a - b);
      if (ids.length === 0) continue;
      const id = ids.includes(0) ? 0 : ids[0]!;
      out.push({ clusterName: c, brokerName: name, addr: bd.brokerAddrs[String(id)]!, brokerId: id, slaveIds: ids.filter((i) => i !== 0) });
    }
  }
  return out;
}

export { getBrokerConfig };

function reachable(brokers: BrokerFacts[]): BrokerFacts[] {
  return brokers.filter((b) => b.runtime !== undefined || b.config !== undefined);
}

async function gatherGroup(s: AdminSession, brokers: BrokerFacts[], group: string): Promise<GroupFacts> {
  const g: GroupFacts = { group, subscriptions: [], clients: [] };
  const live = reachable(brokers);

  const subs = await mapBounded(live, BROKER_PARALLELISM, (b) => getAllSubscriptionGroups(s, b.addr));
  const subErrors: string[] = [];
  for (const r of subs) {
    if (!r.ok) {
      subErrors.push(`${r.item.brokerName}: ${errText(r.error)}`);
      continue;
    }
    const c = r.value[group];
    if (c) g.subscriptions.push({ brokerName: r.item.brokerName, retryMaxTimes: c.retryMaxTimes, retryQueueNums: c.retryQueueNums });
  }
  if (subErrors.length > 0) g.subscriptionError = subErrors.join('; ');

  try {
    g.dlq = await dlqDepth(s, DLQ_GROUP_TOPIC_PREFIX + group);
  } catch (err) {
    g.dlqError = errText(err);
  }

  const conns = await mapBounded(live, BROKER_PARALLELISM, (b) => getConsumerConnection(s, b.addr, group));
  const seen = new Map<string, { client: ConsumerClientFacts; addr: string }>();
  const connErrors: string[] = [];
  for (const r of conns) {
    if (!r.ok) {
      connErrors.push(`${r.item.brokerName}: ${errText(r.error)}`);
      continue;
    }
    if (!r.value) continue;
    g.consumeType ??= r.value.consumeType;
    for (const c of r.value.connectionSet) if (!seen.has(c.clientId)) seen.set(c.clientId, { client: { clientId: c.clientId, language: c.language }, addr: r.item.addr });
  }
  if (connErrors.length > 0) g.clientsError = connErrors.join('; ');
  await mapBounded([...seen.values()], BROKER_PARALLELISM, async ({ client, addr }) => {
    try {
      client.runningLanguage = await runningLanguage(s, addr, group, client.clientId);
    } catch (err) {
      client.runningInfoError = errText(err);
    }
  });
  g.clients = [...seen.values()].map((v) => v.client).sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
  try {
    const p = await consumerProgress(s, { group });
    g.retention = { warning: p.retentionWarning, diff: p.totals.diff, lagMsMax: p.totals.lagMsMax, incomplete: p.failed.map((f) => `${f.brokerName ?? f.addr}: ${f.message}`) };
  } catch (err) {
    g.retentionError = errText(err);
  }
  return g;
}

/** Σ over the brokers of %DLQ%<group>'s queues; no route → it does not exist (0). */
async function dlqDepth(s: AdminSession, topic: string): Promise<DlqFacts> {
  let route;
  try {
    route = await routeOfTopic(s, topic);
  } catch (err) {
    if (err instanceof TopicNotFoundError) return { exists: false, stored: 0, total: 0, perBroker: [] };
    throw err;
  }
  const out: DlqFacts = { exists: true, stored: 0, total: 0, perBroker: [] };
  for (const t of brokerTargetsOfRoute(route)) {
    let queues;
    try {
      queues = await getTopicStatsInfo(s, t.addr, topic);
    } catch (err) {
      if (err instanceof TopicNotFoundError) continue;
      throw err;
    }
    const stored = queues.reduce((n, q) => n + Math.max(0, q.maxOffset - q.minOffset), 0);
    const total = queues.reduce((n, q) => n + q.maxOffset, 0);
    out.perBroker.push({ brokerName: t.brokerName ?? t.addr, stored, total });
    out.stored += stored;
    out.total += total;
  }
  return out;
}

/** GET_CONSUMER_RUNNING_INFO relayed by the broker: the client's own `language` property, if any. */
async function runningLanguage(s: AdminSession, addr: string, group: string, clientId: string): Promise<string | undefined> {
  const res = await s.client.invoke(addr, makeRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: group, clientId, jstackEnable: false }), s.timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) throw new RocketError(`running info of ${clientId}: ${res.remark || responseCodeName(res.code)}`, { code: 'E_REMOTE' });
  const o = parseFastjson(bodyBuffer(res).toString('utf8')) as { properties?: Record<string, unknown> } | null;
  const lang = o?.properties?.language;
  return typeof lang === 'string' ? lang : undefined;
}

async function gatherProducer(s: AdminSession, brokers: BrokerFacts[], group: string): Promise<ProducerFacts> {
  const p: ProducerFacts = { group, connections: [] };
  const errors: string[] = [];
  const res = await mapBounded(reachable(brokers), BROKER_PARALLELISM, (b) => getProducerConnectionList(s, b.addr, group));
  for (const r of res) {
    if (r.ok) for (const c of r.value) p.connections.push({ brokerName: r.item.brokerName, clientId: c.clientId, clientAddr: c.clientAddr, language: c.language, version: c.version });
    else if (!(r.error instanceof ProducerNotOnlineError) && !(r.error instanceof GroupNotFoundError)) errors.push(`${r.item.brokerName}: ${errText(r.error)}`);
  }
  if (errors.length > 0) p.error = errors.join('; ');
  return p;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- judging ------------------------------------------------------------------------------------

/** Apache MessageStoreConfig.diskMaxUsedSpaceRatio default (percent). */
const DEFAULT_DISK_MAX_USED_SPACE_RATIO = 75;
/** Within this many points of the limit: warn. */
const DISK_WARN_MARGIN = 10;
/** Apache's diskSpaceWarningLevelRatio default: above it the broker refuses writes. */
const DISK_WARNING_LEVEL_RATIO = 90;

const RANK: Record<NoLossStatus, number> = { skip: 0, pass: 1, unknown: 2, warn: 3, fail: 4 };
function worst(list: NoLossStatus[]): NoLossStatus {
  return list.reduce<NoLossStatus>((a, b) => (RANK[b] > RANK[a] ? b : a), 'pass');
}

function label(b: BrokerFacts): string {
  return `${b.brokerName} (${b.addr})`;
}

/** A broker is rocketctl's own when its config carries the keys only it has. */
function isRocketctlBroker(b: BrokerFacts): boolean {
  return b.config !== undefined && 'embeddedNamesrv' in b.config;
}

function setting(b: BrokerFacts, key: string): string | undefined {
  return b.config?.[key] ?? b.runtime?.[key];
}

const PRICES: Record<NoLossItemId, string> = {
  'sync-flush':
    'every send waits for its fsync (group commit batches concurrent sends). rocketctl\'s store on this machine: ~150k appends/s with ASYNC_FLUSH vs ~60-90k/s with SYNC_FLUSH; the RocketMQ docs warn SYNC_FLUSH is much slower still on HDDs. Many deployments keep ASYNC_FLUSH and rely on SYNC_MASTER replication instead.',
  replication:
    'SYNC_MASTER: every send waits for one round trip to the slave (and a second machine). DLedger: at least 3 nodes per broker group, a send waits for a majority to ack, and a leader election pauses writes for seconds.',
  'disk-headroom': 'disk space: enough for fileReservedTime (72 h by default) of peak traffic, plus retry and DLQ copies.',
  'retry-dlq': 'each retry is another stored copy and another delivery: consumers must be idempotent (a retried message is delivered at least twice).',
  'dlq-empty': 'none in throughput: someone has to look at dead letters and re-drive them.',
  retention: 'disk: a longer fileReservedTime keeps more segments (disk-headroom); or consumers fast enough to stay well inside it.',
  'consumer-commit': 'none: committing after success means a crash redelivers the in-flight messages (at-least-once), so consumers must be idempotent.',
  transactions:
    'one extra round trip per message (half message, then END_TRANSACTION), broker check-backs for every transaction left unknown, and the half topic\'s storage.',
  outbox: 'a local append (fdatasync by default) for each message the brokers could not take, and the disk it needs while they are away; nothing while they are up.',
};

export function judgeNoLoss(facts: NoLossFacts, o: { require?: readonly NoLossItemId[]; group?: string; producerGroup?: string } = {}): NoLossItem[] {
  const items: Array<Omit<NoLossItem, 'required' | 'price'>> = [
    judgeFlush(facts.brokers),
    judgeReplication(facts.brokers),
    judgeDisk(facts.brokers),
    facts.group ? judgeRetry(facts.group) : skipItem('retry-dlq', '-g CONSUMER_GROUP'),
    facts.group ? judgeDlq(facts.group) : skipItem('dlq-empty', '-g CONSUMER_GROUP'),
    facts.group ? judgeRetention(facts.group) : skipItem('retention', '-g CONSUMER_GROUP'),
    facts.group ? judgeCommit(facts.group) : skipItem('consumer-commit', '-g CONSUMER_GROUP'),
    facts.producer ? judgeTransactions(facts.producer) : skipItem('transactions', '-p PRODUCER_GROUP'),
    facts.producer ? judgeOutbox(facts.producer) : skipItem('outbox', '-p PRODUCER_GROUP'),
  ];
  const required = new Set(o.require ?? []);
  return items.map((i) => {
    const req = required.has(i.id);
    const status: NoLossStatus = req && i.status === 'warn' ? 'fail' : i.status;
    return { ...i, status, required: req, price: PRICES[i.id] };
  });
}

function skipItem(id: NoLossItemId, flag: string): Omit<NoLossItem, 'required' | 'price'> {
  return { id, status: 'skip', current: `not checked (give ${flag})`, recommended: RECOMMENDED[id], why: WHY[id], fix: [] };
}

const RECOMMENDED: Record<NoLossItemId, string> = {
  'sync-flush': 'SYNC_FLUSH on every master',
  replication: 'SYNC_MASTER with a slave, or DLedger (majority of 3)',
  'disk-headroom': `commit log disk used below diskMaxUsedSpaceRatio - ${DISK_WARN_MARGIN} points`,
  'retry-dlq': 'retryQueueNums >= 1 (failed messages are retried, then parked in %DLQ%)',
  'dlq-empty': '0 messages in %DLQ%<group>',
  retention: 'the oldest unconsumed message more than a day away from the broker\'s retention (fileReservedTime)',
  'consumer-commit': 'offsets committed only after the handler succeeded',
  transactions: 'TransactionProducer when a send must be atomic with a local write',
  outbox: 'outboxDir set on rocketctl producers',
};

const WHY: Record<NoLossItemId, string> = {
  'sync-flush': 'with ASYNC_FLUSH a send is acknowledged once it is in the page cache: a power loss or kernel crash loses what was not flushed yet (a broker process crash alone loses nothing)',
  replication: 'without a synchronous copy on another machine, a lost disk or host loses every message on it',
  'disk-headroom': `above diskMaxUsedSpaceRatio brokers (Apache's and rocketctl's) delete expired commit log files at once, above 85% the oldest ones even if unconsumed (lag becomes loss), and above ${DISK_WARNING_LEVEL_RATIO}% they refuse writes`,
  'retry-dlq': 'a message whose consumer fails is retried via %RETRY%<group> and, after maxReconsumeTimes, parked in %DLQ%<group>; a group with retryQueueNums=0 drops it instead',
  'dlq-empty': 'dead letters are not redelivered: they wait for a human and are deleted with their commit log files after fileReservedTime',
  retention: 'brokers delete commit log files older than fileReservedTime (72 h by default) whether their messages were consumed or not, silently: a group that falls that far behind loses messages',
  'consumer-commit': 'a consumer that commits before its work is done loses the message when it crashes in between',
  transactions: 'a local database write and a send cannot both happen or both not happen without a transaction (half message + check-back) or an outbox: a crash between them loses one side',
  outbox: 'without an outbox a send that fails while every broker or name server is unreachable is an error the application must handle itself, or the message is gone',
};

function judgeFlush(brokers: BrokerFacts[]): Omit<NoLossItem, 'required' | 'price'> {
  const per = brokers.map((b) => ({ b, v: setting(b, 'flushDiskType') }));
  const asyncs = per.filter((p) => p.v !== undefined && p.v !== 'SYNC_FLUSH');
  const unknown = per.filter((p) => p.v === undefined);
  const current = per.map((p) => `${label(p.b)}: ${p.v ?? `unknown (${p.b.configError ?? p.b.runtimeError ?? 'not reported'})`}`).join('; ');
  if (asyncs.length > 0) {
    const interval = setting(asyncs[0]!.b, 'flushIntervalCommitLog');
    return {
      id: 'sync-flush',
      status: 'warn',
      current,
      recommended: RECOMMENDED['sync-flush'],
      why: `${asyncs.map((p) => p.b.brokerName).join(', ')} ${asyncs.length === 1 ? 'uses' : 'use'} ${asyncs[0]!.v}: ${WHY['sync-flush']}${interval ? ` (flushed every ${interval} ms)` : ''}`,
      fix: asyncs.map((p) => `${p.b.brokerName}: set flushDiskType=SYNC_FLUSH in its broker.conf and restart it${isRocketctlBroker(p.b) ? ' (rocketctl: broker start --flush-disk-type SYNC_FLUSH)' : ''}`),
    };
  }
  if (unknown.length > 0) {
    return { id: 'sync-flush', status: 'unknown', current, recommended: RECOMMENDED['sync-flush'], why: 'not every broker reported its flushDiskType (GET_BROKER_CONFIG / GET_BROKER_RUNTIME_INFO)', fix: ['check flushDiskType in the broker.conf of: ' + unknown.map((p) => p.b.brokerName).join(', ')] };
  }
  return { id: 'sync-flush', status: 'pass', current, recommended: RECOMMENDED['sync-flush'], why: 'every master answers a send only once it is on disk', fix: [] };
}

type Replication = { mode: 'none' | 'master-slave-sync' | 'master-slave-async' | 'majority'; status: NoLossStatus; text: string } | { mode: 'unknown'; status: 'unknown'; text: string };

export function replicationOf(b: BrokerFacts): Replication {
  if (b.config?.enableDLegerCommitLog === 'true') return dledgerReplication(b);
  const role = setting(b, 'brokerRole');
  if (isRocketctlBroker(b)) return { mode: 'none', status: 'warn', text: 'none (rocketctl\'s embedded broker has no slave or DLedger mode)' };
  if (b.slaveIds.length === 0) {
    if (role === undefined && b.config === undefined) return { mode: 'unknown', status: 'unknown', text: `no slave registered; brokerRole unknown (${b.configError ?? 'no config'})` };
    return { mode: 'none', status: 'warn', text: `none (${role ?? 'master'} without a slave registered)` };
  }
  if (role === 'SYNC_MASTER') return { mode: 'master-slave-sync', status: 'pass', text: `master-slave, SYNC_MASTER, slave id(s) ${b.slaveIds.join(',')}` };
  if (role === 'ASYNC_MASTER') return { mode: 'master-slave-async', status: 'warn', text: `master-slave, ASYNC_MASTER (acked before the slave has it), slave id(s) ${b.slaveIds.join(',')}` };
  return { mode: 'unknown', status: 'unknown', text: `slave id(s) ${b.slaveIds.join(',')}, brokerRole ${role ?? 'not reported'}` };
}

/**
 * A DLedger group acknowledges a send once a majority of dLegerPeers holds it. Healthy: the members
 * registered (master + slaves) can lose one more and still form a majority. Registered members are
 * the live ones (the name server drops a broker whose connection closes or that stops registering).
 */
function dledgerReplication(b: BrokerFacts): Replication {
  const peers = (b.config?.dLegerPeers ?? '').split(';').filter((p) => p.trim() !== '').length;
  const live = b.slaveIds.length + 1;
  if (peers === 0) return { mode: 'unknown', status: 'unknown', text: `DLedger, ${live} member(s) registered; dLegerPeers not reported` };
  const majority = Math.floor(peers / 2) + 1;
  const text = `DLedger (majority of ${peers}: ${majority}), ${live} of ${peers} member(s) registered`;
  if (live - 1 >= majority) return { mode: 'majority', status: 'pass', text };
  return { mode: 'majority', status: 'warn', text: `${text}: one more failure leaves no majority, and sends stop (nothing acknowledged is lost, but nothing more is acknowledged)` };
}

function judgeReplication(brokers: BrokerFacts[]): Omit<NoLossItem, 'required' | 'price'> {
  const per = brokers.map((b) => ({ b, r: replicationOf(b) }));
  const status = worst(per.map((p) => p.r.status));
  const current = per.map((p) => `${label(p.b)}: ${p.r.text}`).join('; ');
  const weak = per.filter((p) => p.r.status !== 'pass');
  const fix = weak.map((p) =>
    isRocketctlBroker(p.b)
      ? `${p.b.brokerName}: rocketctl's broker cannot replicate; for a copy on another machine run Apache RocketMQ with brokerRole=SYNC_MASTER and a slave, or DLedger`
      : p.r.mode === 'majority'
        ? `${p.b.brokerName}: start the DLedger members that are down (${p.r.text})`
        : p.r.mode === 'master-slave-async'
        ? `${p.b.brokerName}: set brokerRole=SYNC_MASTER on the master and restart it`
        : `${p.b.brokerName}: add a slave (brokerId=1, brokerRole=SLAVE) and set brokerRole=SYNC_MASTER on the master, or run a DLedger group of 3 (enableDLegerCommitLog=true)`,
  );
  const why = status === 'pass' ? 'every broker has a synchronous copy on another node' : status === 'unknown' ? 'the replication mode of some broker could not be read (see current)' : WHY.replication;
  return { id: 'replication', status, current, recommended: RECOMMENDED.replication, why, fix };
}

function judgeDisk(brokers: BrokerFacts[]): Omit<NoLossItem, 'required' | 'price'> {
  const per = brokers.map((b) => {
    const ratioText = b.runtime?.commitLogDiskRatio;
    const ratio = ratioText === undefined ? NaN : Number(ratioText);
    const limitText = b.config?.diskMaxUsedSpaceRatio;
    const limit = limitText !== undefined && Number.isFinite(Number(limitText)) ? Number(limitText) : DEFAULT_DISK_MAX_USED_SPACE_RATIO;
    const limitNote = limitText !== undefined ? `diskMaxUsedSpaceRatio ${limit}%` : b.config ? `${limit}% (default)` : `${limit}% (assumed default: config unreadable)`;
    if (!Number.isFinite(ratio)) return { b, status: 'unknown' as NoLossStatus, text: `used unknown (${b.runtimeError ?? 'commitLogDiskRatio not reported'}), limit ${limitNote}` };
    const usedPct = ratio * 100;
    const status: NoLossStatus = usedPct >= limit ? 'fail' : usedPct >= limit - DISK_WARN_MARGIN ? 'warn' : 'pass';
    return { b, status, text: `used ${usedPct.toFixed(1)}%, limit ${limitNote}` };
  });
  const status = worst(per.map((p) => p.status));
  const bad = per.filter((p) => p.status === 'fail' || p.status === 'warn');
  return {
    id: 'disk-headroom',
    status,
    current: per.map((p) => `${label(p.b)}: ${p.text}`).join('; '),
    recommended: RECOMMENDED['disk-headroom'],
    why: status === 'pass' ? 'every broker\'s commit log disk has room below its cleaning limit' : status === 'unknown' ? 'the disk use of some broker could not be read' : WHY['disk-headroom'],
    fix: bad.map((p) => `${p.b.brokerName}: free or add disk space under its store, or shorten fileReservedTime once consumers are caught up (never raise diskMaxUsedSpaceRatio past ${DISK_WARNING_LEVEL_RATIO - 5})`),
  };
}

function judgeRetry(g: GroupFacts): Omit<NoLossItem, 'required' | 'price'> {
  const base = { id: 'retry-dlq' as const, recommended: RECOMMENDED['retry-dlq'] };
  if (g.subscriptions.length === 0) {
    return {
      ...base,
      status: 'unknown',
      current: g.subscriptionError ? `unreadable (${g.subscriptionError})` : `group ${g.group} is not known to any broker`,
      why: `no broker holds a subscription group config for ${g.group} (no consumer has connected, or it was never created), so its retry settings cannot be read; created automatically it gets retryQueueNums=1, retryMaxTimes=16`,
      fix: [`create it explicitly: rocketctl updateSubGroup -g ${g.group}`],
    };
  }
  const current = g.subscriptions.map((s) => `${s.brokerName}: retryQueueNums=${s.retryQueueNums}, retryMaxTimes=${s.retryMaxTimes}`).join('; ');
  const dropping = g.subscriptions.filter((s) => s.retryQueueNums <= 0);
  if (dropping.length > 0) {
    return {
      ...base,
      status: 'fail',
      current,
      why: `retryQueueNums=0 on ${dropping.map((s) => s.brokerName).join(', ')}: the broker answers a failed message's send-back with success and stores nothing, so every message the consumer fails on is lost`,
      fix: [`rocketctl updateSubGroup -g ${g.group} --retryQueueNums 1`],
    };
  }
  const noRetry = g.subscriptions.filter((s) => s.retryMaxTimes <= 0);
  return {
    ...base,
    status: 'pass',
    current,
    why: `failed messages are retried, then parked in %DLQ%${g.group}${noRetry.length > 0 ? '; retryMaxTimes=0 applies only to consumers that send no maxReconsumeTimes of their own (Java and rocketctl push consumers send theirs, 16 by default)' : ''}`,
    fix: [],
  };
}

function judgeDlq(g: GroupFacts): Omit<NoLossItem, 'required' | 'price'> {
  const base = { id: 'dlq-empty' as const, recommended: RECOMMENDED['dlq-empty'] };
  const topic = DLQ_GROUP_TOPIC_PREFIX + g.group;
  if (!g.dlq) return { ...base, status: 'unknown', current: `unreadable (${g.dlqError ?? 'no answer'})`, why: `the depth of ${topic} could not be read`, fix: [] };
  if (!g.dlq.exists) return { ...base, status: 'pass', current: `0 (no ${topic} yet)`, why: 'nothing of this group was ever dead-lettered', fix: [] };
  const expired = g.dlq.total - g.dlq.stored;
  const current = `${g.dlq.stored} message(s) in ${topic}${expired > 0 ? `, ${expired} more already deleted by retention` : ''}${g.dlq.perBroker.length > 1 ? ` (${g.dlq.perBroker.map((p) => `${p.brokerName}: ${p.stored}`).join(', ')})` : ''}`;
  if (g.dlq.total === 0) return { ...base, status: 'pass', current, why: `${topic} exists but holds nothing`, fix: [] };
  return {
    ...base,
    status: 'warn',
    current,
    why: `${g.dlq.stored > 0 ? 'these messages failed every retry: ' : ''}${WHY['dlq-empty']}${expired > 0 ? `; ${expired} are already gone` : ''}`,
    fix: [
      `read them: rocketctl consumeMessage -t ${topic}`,
      `%DLQ% topics are created write-only (perm 2); to consume them again: rocketctl updateTopic -t ${topic} -p 6, fix the consumer, and re-send or subscribe to ${topic}`,
    ],
  };
}

function judgeRetention(g: GroupFacts): Omit<NoLossItem, 'required' | 'price'> {
  const base = { id: 'retention' as const, recommended: RECOMMENDED.retention };
  const r = g.retention;
  if (!r) return { ...base, status: 'unknown', current: `unreadable (${g.retentionError ?? 'no answer'})`, why: `the backlog of ${g.group} and its age could not be read`, fix: [] };
  const partial = r.incomplete.length > 0 ? `; not read: ${r.incomplete.join('; ')}` : '';
  const w = r.warning;
  if (w) {
    return {
      ...base,
      status: 'warn',
      current: `${w.message} (${w.topic} queue ${w.queueId} on ${w.brokerName})${partial}`,
      why: `${WHY.retention}; ${w.deletedInMs <= 0 ? 'its oldest unconsumed message is already past the retention' : `its oldest unconsumed message goes in about ${Math.max(1, Math.round(w.deletedInMs / 3_600_000))} h unless consumed first`}`,
      fix: [
        `consume faster: rocketctl consumerProgress -g ${g.group} says what limits the group`,
        `or skip what cannot be consumed in time, knowingly: rocketctl resetOffset -g ${g.group} -t ${w.topic} ...`,
        'or raise fileReservedTime on the brokers (broker.conf, restart) if the disk has room (disk-headroom)',
      ],
    };
  }
  if (r.incomplete.length > 0) return { ...base, status: 'unknown', current: `no queue within a day of the retention among those read${partial}`, why: 'some brokers could not be read', fix: [] };
  const current = r.diff === 0 ? 'no backlog' : `backlog ${r.diff}, oldest unconsumed ${r.lagMsMax === null ? 'of unknown age' : `${Math.round(r.lagMsMax / 60_000)} min old`}: more than a day inside the retention`;
  return { ...base, status: 'pass', current, why: 'no unconsumed message of the group is within a day of being deleted by retention', fix: [] };
}

function judgeCommit(g: GroupFacts): Omit<NoLossItem, 'required' | 'price'> {
  const base = { id: 'consumer-commit' as const, recommended: RECOMMENDED['consumer-commit'] };
  if (g.clients.length === 0) {
    return {
      ...base,
      status: 'unknown',
      current: g.clientsError ? `unreadable (${g.clientsError})` : `no consumer of ${g.group} is online`,
      why: 'which client consumes the group, and so when it commits, can only be seen while it is connected',
      fix: [`run the check while the consumers of ${g.group} are up`],
    };
  }
  const ours = g.clients.filter((c) => c.runningLanguage === 'TYPESCRIPT');
  const others = g.clients.filter((c) => c.runningLanguage !== 'TYPESCRIPT');
  const describe = (c: ConsumerClientFacts) => `${c.clientId}: ${c.runningLanguage === 'TYPESCRIPT' ? 'rocketctl push consumer' : `${c.runningLanguage ?? c.language}${c.runningInfoError ? ` (running info: ${c.runningInfoError})` : ''}`}`;
  const current = `${g.consumeType ?? 'consume type unknown'}; ${g.clients.map(describe).join('; ')}`;
  if (others.length === 0) {
    return {
      ...base,
      status: 'pass',
      current,
      why: 'rocketctl\'s push consumer commits an offset only after the handler returned; a handler that throws sends the message back for retry',
      fix: [],
    };
  }
  const pull = g.consumeType === 'CONSUME_ACTIVELY';
  return {
    ...base,
    status: 'unknown',
    current,
    why: pull
      ? 'pull consumers commit whatever offsets their code commits: when, relative to the work, cannot be seen from the broker'
      : `Java push consumers commit only after the listener returns CONSUME_SUCCESS (RECONSUME_LATER or a throw means retry), but whether the listener returns success only after its work is done (not after handing it to another thread) is user code the broker cannot see${ours.length > 0 ? `; ${ours.length} client(s) are rocketctl's, which always commit after success` : ''}`,
    fix: ['review the listeners: return CONSUME_SUCCESS only after the work is durable; never ack and process asynchronously'],
  };
}

function judgeTransactions(p: ProducerFacts): Omit<NoLossItem, 'required' | 'price'> {
  return {
    id: 'transactions',
    status: 'unknown',
    current: `${producerSeen(p)}; unknown from the broker`,
    recommended: RECOMMENDED.transactions,
    why: `whether a producer sends transactional messages is not visible in its connection or any broker setting. ${capital(WHY.transactions)}`,
    fix: [
      'rocketctl client: new TransactionProducer({ producerGroup, ... }) with executeLocalTransaction and checkLocalTransaction; Java: TransactionMQProducer with a TransactionListener',
      'or make the consumer side idempotent and the send retry-safe (outbox)',
    ],
  };
}

function judgeOutbox(p: ProducerFacts): Omit<NoLossItem, 'required' | 'price'> {
  return {
    id: 'outbox',
    status: 'unknown',
    current: `${producerSeen(p)}; unknown from the broker`,
    recommended: RECOMMENDED.outbox,
    why: `outboxDir is a setting inside the producer process; the broker never sees it. ${capital(WHY.outbox)}`,
    fix: ['rocketctl client: new Producer({ producerGroup, outboxDir: \'/var/lib/<app>/outbox\' }) (one directory per producer, on a persistent disk)'],
  };
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function producerSeen(p: ProducerFacts): string {
  if (p.connections.length === 0) return `no producer of ${p.group} connected${p.error ? ` (${p.error})` : ''}`;
  const ids = [...new Set(p.connections.map((c) => c.clientId))];
  return `${ids.length} producer client(s) of ${p.group} connected (${ids.join(', ')})`;
}

// ---- the report -------------------------------------------------------------------------------

export interface NoLossReport {
  target: string;
  brokers: Array<{ clusterName: string; brokerName: string; addr: string; flushDiskType: string | null; brokerRole: string | null; replication: string; rocketctl: boolean }>;
  group: string | null;
  producerGroup: string | null;
  required: NoLossItemId[];
  items: NoLossItem[];
  summary: Record<NoLossStatus, number>;
  /** Required items that are fail or unknown: the reasons the command exits 4. */
  unmet: Array<{ id: NoLossItemId; status: NoLossStatus }>;
  failed: BrokerFailure[];
}

export function buildNoLossReport(target: string, facts: NoLossFacts, o: NoLossOptions & { require?: readonly NoLossItemId[] }): NoLossReport {
  const items = judgeNoLoss(facts, o);
  const summary: Record<NoLossStatus, number> = { pass: 0, warn: 0, fail: 0, unknown: 0, skip: 0 };
  for (const i of items) summary[i.status]++;
  return {
    target,
    brokers: facts.brokers.map((b) => ({
      clusterName: b.clusterName,
      brokerName: b.brokerName,
      addr: b.addr,
      flushDiskType: setting(b, 'flushDiskType') ?? null,
      brokerRole: setting(b, 'brokerRole') ?? null,
      replication: replicationOf(b).mode,
      rocketctl: isRocketctlBroker(b),
    })),
    group: o.group ?? null,
    producerGroup: o.producerGroup ?? null,
    required: [...(o.require ?? [])],
    items,
    summary,
    unmet: items.filter((i) => i.required && (i.status === 'fail' || i.status === 'unknown')).map((i) => ({ id: i.id, status: i.status })),
    failed: facts.failed,
  };
}

export async function checkNoLoss(s: AdminSession, o: NoLossOptions & { require?: readonly NoLossItemId[] }): Promise<NoLossReport> {
  const facts = await gatherNoLossFacts(s, o);
  return buildNoLossReport(s.target, facts, o);
}

/** Parse --require "a,b": UsageError text for an unknown id (the caller throws it). */
export function parseRequire(text: string | undefined): { ids: NoLossItemId[] } | { error: string } {
  if (text === undefined) return { ids: [] };
  const ids: NoLossItemId[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(NO_LOSS_ITEMS as readonly string[]).includes(raw)) return { error: `--require ${raw}: not a checklist item (one of ${NO_LOSS_ITEMS.join(', ')})` };
    if (!ids.includes(raw as NoLossItemId)) ids.push(raw as NoLossItemId);
  }
  if (ids.length === 0) return { error: '--require: give at least one item' };
  return { ids };
}
