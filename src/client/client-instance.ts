/**
 * The per-process client instance (Java MQClientInstance): one remoting connection pool, one
 * clientId, one route cache and one heartbeat for every producer and consumer of the process that
 * share a name server list and instance name. It
 *   - fetches topic routes from the name servers (trying each in turn) and refreshes them every 30 s,
 *   - heartbeats every 30 s to the brokers of known routes (and at once to a newly seen broker),
 *   - answers the requests brokers send to clients (NOTIFY_CONSUMER_IDS_CHANGED,
 *     RESET_CONSUMER_CLIENT_OFFSET, CHECK_TRANSACTION_STATE, GET_CONSUMER_RUNNING_INFO,
 *     GET_CONSUMER_STATUS_FROM_CLIENT, CONSUME_MESSAGE_DIRECTLY) by handing them to the member
 *     they concern,
 *   - unregisters its members from every broker when they close, and closes itself (timers
 *     cleared, sockets closed) when the last member leaves.
 */
import { randomInt } from 'node:crypto';
import { RemotingClient, isSocketPath } from '../remoting/client.js';
import { getBrokerClusterInfo, getRouteInfoByTopic, parseNamesrvAddrs } from '../remoting/namesrv-api.js';
import { bodyBuffer, makeRequest, makeResponse, type RemotingCommand, type SerializeType } from '../protocol/frame.js';
import { Perm, RequestCode, ResponseCode } from '../protocol/codes.js';
import {
  decodeKVTable,
  decodeResetOffsetBody,
  encodeJson,
  type ConsumerData,
  type HeartbeatData,
  type MessageQueue,
  type TopicRouteData,
} from '../protocol/bodies.js';
import { decodeRecord } from '../protocol/message.js';
import { messageQueueMap as mqMap } from '../protocol/fastjson.js';
import { BrokerUnreachableError, RemoteError, RocketError, TimeoutError, TopicNotFoundError, UsageError } from '../errors/index.js';
import { localIpv4 } from '../protocol/uniq-id.js';
import type { Credentials } from '../protocol/acl-sign.js';
import { toMessageExt, type MessageExt } from './message.js';
import { AUTO_CREATE_TOPIC_KEY_TOPIC, CLIENT_INNER_PRODUCER_GROUP } from '../protocol/names.js';

/** ClientConfig defaults. */
const DEFAULT_POLL_NAMESERVER_INTERVAL_MS = 30_000;
const DEFAULT_HEARTBEAT_BROKER_INTERVAL_MS = 30_000;
const DEFAULT_CLIENT_API_TIMEOUT_MS = 3_000;
/** Client version we announce: MQVersion V4_9_8. */
export const CLIENT_VERSION = 409;
/** Time allowed to UNREGISTER_CLIENT from each broker on close. */
const UNREGISTER_TIMEOUT_MS = 1_000;

export interface ClientLogger {
  debug(msg: string): void;
  warn(msg: string, err?: unknown): void;
}

/** Silent unless ROCKETCTL_CLIENT_DEBUG is set: a library must not write to the user's stderr. */
const defaultLogger: ClientLogger = {
  debug: (msg) => {
    if (process.env.ROCKETCTL_CLIENT_DEBUG) process.stderr.write(`[rocketctl client] ${msg}\n`);
  },
  warn: (msg, err) => {
    if (process.env.ROCKETCTL_CLIENT_DEBUG) process.stderr.write(`[rocketctl client] WARN ${msg}${err ? `: ${errText(err)}` : ''}\n`);
  },
};

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ClientClosedError extends RocketError {
  constructor(what = 'client') {
    super(`the ${what} is closed`, { code: 'E_CLIENT_CLOSED' });
  }
}

export class ClientStateError extends RocketError {
  constructor(message: string) {
    super(message, { code: 'E_CLIENT_STATE', exitCode: 2 });
  }
}

/**
 * The name server is up but knows no broker: nothing can take the message now. Unlike
 * TopicNotFoundError (the cluster is up, the topic is not in it), this is an outage.
 */
export class NoRouteError extends RocketError {
  constructor(topic: string, cause?: unknown) {
    super(`no broker is registered with the name server, so topic ${topic} has no route`, {
      code: 'E_NO_ROUTE',
      cause,
      actions: ['start a broker (rocketctl broker start) or check that brokers reach the name server'],
    });
  }
}

/** Nothing can take a message right now (unreachable, or no broker registered): an outage. */
export function isUnavailableError(err: unknown): boolean {
  return isConnectivityError(err) || err instanceof NoRouteError;
}

/** Options shared by producers, consumers and the pull consumer. */
export interface ClientOptions {
  /** Name servers, "host:9876;host2:9876" (or a local broker's Unix socket path). */
  namesrvAddr: string;
  /**
   * Instance name: clients with the same name (and name servers) in one process share one
   * instance and one clientId. Two consumers of one group in one process need different names.
   */
  instanceName?: string;
  /** Address written into the clientId and message ids (default: first non-loopback IPv4). */
  clientIp?: string;
  unitName?: string;
  /** Default timeout for client-broker calls (mqClientApiTimeout). */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  pollNameServerIntervalMs?: number;
  heartbeatBrokerIntervalMs?: number;
  logger?: ClientLogger;
  /**
   * Header encoding of requests: ROCKETMQ binary (default) or JSON (Java's default). Every
   * RocketMQ 4.x/5.x broker and name server reads both and answers in kind; binary headers cost
   * both sides less CPU per request (README "Performance"). Default: the ROCKETMQ_SERIALIZE_TYPE
   * environment variable (as Java reads it), else ROCKETMQ. Per client instance: clients sharing
   * one (same instanceName) use the first one's setting.
   */
  serializeType?: SerializeType;
  /**
   * Access key and secret key for brokers with ACL on (RocketMQ plain ACL): every request is
   * signed as Java's AclClientRPCHook signs it. Clients with other keys get their own instance.
   */
  credentials?: Credentials;
}

/**
 * ROCKETMQ_SERIALIZE_TYPE (JSON or ROCKETMQ), as Java's RemotingCommand reads it. Unset: ROCKETMQ,
 * where Java's is JSON (a deliberate difference, README "Performance"): binary headers are cheaper
 * to encode and decode, and RemotingCommand.decode in every 4.x/5.x broker reads them.
 */
export function serializeTypeFromEnv(env: NodeJS.ProcessEnv = process.env): SerializeType {
  const v = env.ROCKETMQ_SERIALIZE_TYPE?.trim();
  if (v === undefined || v === '' || v === 'ROCKETMQ') return 'ROCKETMQ';
  if (v === 'JSON') return 'JSON';
  throw new UsageError(`ROCKETMQ_SERIALIZE_TYPE=${v}: expected JSON or ROCKETMQ`);
}

/** What a member (producer, consumer) exposes to the instance. */
interface InstanceMember {
  readonly group: string;
  /** Topics whose routes the instance keeps fresh for this member. */
  topicsInUse(): string[];
}

export interface ProducerMember extends InstanceMember {
  /** CHECK_TRANSACTION_STATE from `brokerAddr` (transactional producers only). */
  checkTransactionState?(brokerAddr: string, msg: MessageExt, header: Record<string, string>): void;
}

export interface ConsumerStatusEntry {
  mq: MessageQueue;
  offset: number;
}

export interface ConsumerMember extends InstanceMember {
  consumerData(): ConsumerData;
  /** The broker said the group's members changed: rebalance now. */
  onConsumerIdsChanged(): void;
  /** A topic's route changed after a refresh. */
  onRouteChanged(topic: string): void;
  /** RESET_CONSUMER_CLIENT_OFFSET. */
  resetOffset(topic: string, offsets: Array<[MessageQueue, number]>): void;
  /** ConsumerRunningInfo body (GET_CONSUMER_RUNNING_INFO). */
  runningInfo(jstack: boolean): Buffer;
  /** Offsets of the queues of `topic` this client holds (GET_CONSUMER_STATUS_FROM_CLIENT). */
  consumerStatus(topic: string): ConsumerStatusEntry[];
  /** CONSUME_MESSAGE_DIRECTLY: run the handler on one message, report the outcome. */
  consumeDirectly?(msg: MessageExt, brokerName: string | undefined): Promise<Buffer>;
}

interface InstanceEntry {
  instance: ClientInstance;
  refs: number;
}

const instances = new Map<string, InstanceEntry>();
let processInstanceName: string | undefined;

/** `<pid>#<hrtime ns>`: what Java's changeInstanceNameToPID produces, fixed per process. */
function defaultInstanceName(): string {
  processInstanceName ??= `${process.pid}#${process.hrtime.bigint().toString()}`;
  return processInstanceName;
}

export function buildClientId(ip: string, instanceName: string, unitName?: string): string {
  return `${ip}@${instanceName}${unitName ? `@${unitName}` : ''}`;
}

/** Publish side of a topic's route (Java TopicPublishInfo). */
export interface TopicPublishInfo {
  topic: string;
  queues: MessageQueue[];
  orderTopic: boolean;
  /** Built from the TBW102 template because the topic has no route yet. */
  fromDefaultTopic: boolean;
  route: TopicRouteData;
}

/** Is this error a failure to reach anything (as opposed to an answer)? */
export function isConnectivityError(err: unknown): boolean {
  if (err instanceof BrokerUnreachableError || err instanceof TimeoutError) return true;
  return err instanceof RocketError && (err.code === 'E_CONNECTION_CLOSED' || err.code === 'E_BROKER_UNREACHABLE' || err.code === 'E_TIMEOUT');
}

/** Connectivity errors that happened after the request may have reached the broker. */
export function isAmbiguousError(err: unknown): boolean {
  return err instanceof TimeoutError || (err instanceof RocketError && (err.code === 'E_CONNECTION_CLOSED' || err.code === 'E_TIMEOUT'));
}

function sameRoute(a: TopicRouteData | undefined, b: TopicRouteData): boolean {
  if (!a) return false;
  return JSON.stringify(normalizeRoute(a)) === JSON.stringify(normalizeRoute(b));
}

function normalizeRoute(r: TopicRouteData): unknown {
  return {
    b: [...r.brokerDatas].sort((x, y) => (x.brokerName < y.brokerName ? -1 : 1)).map((d) => [d.brokerName, Object.entries(d.brokerAddrs).sort()]),
    q: [...r.queueDatas].sort((x, y) => (x.brokerName < y.brokerName ? -1 : 1)),
    o: r.orderTopicConf ?? '',
  };
}

export class ClientInstance {
  readonly clientId: string;
  readonly clientIp: string;
  readonly remoting: RemotingClient;
  readonly namesrvAddrs: string[];
  readonly logger: ClientLogger;
  readonly requestTimeoutMs: number;
  private readonly key: string;
  private readonly pollNameServerIntervalMs: number;
  private readonly heartbeatBrokerIntervalMs: number;
  private namesrvIndex: number;
  private readonly producers = new Map<string, ProducerMember>();
  private readonly consumers = new Map<string, ConsumerMember>();
  private readonly routes = new Map<string, TopicRouteData>();
  /** publishInfo() of a cached route, built once per route object (a new route gets a new one). */
  private readonly publishInfos = new WeakMap<TopicRouteData, TopicPublishInfo>();
  private readonly routeFetches = new Map<string, Promise<TopicRouteData>>();
  /** brokerName → brokerId → address, from every route seen. */
  private readonly brokerAddrTable = new Map<string, Map<number, string>>();
  /** Addresses heartbeated at least once (a new one triggers an immediate heartbeat). */
  private readonly heartbeated = new Set<string>();
  /** Broker versions from HEART_BEAT responses. */
  readonly brokerVersions = new Map<string, number>();
  private readonly aliasedSockets = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private heartbeatRunning: Promise<void> | undefined;
  private heartbeatAgain = false;
  private closed = false;

  private constructor(key: string, opts: ClientOptions) {
    this.key = key;
    this.clientIp = opts.clientIp ?? localIpv4();
    this.clientId = buildClientId(this.clientIp, opts.instanceName ?? defaultInstanceName(), opts.unitName);
    this.namesrvAddrs = parseNamesrvAddrs(opts.namesrvAddr);
    if (this.namesrvAddrs.length === 0) {
      throw new UsageError('no name server address given', ['pass -n host:9876 (or set NAMESRV_ADDR)']);
    }
    this.namesrvIndex = randomInt(0, this.namesrvAddrs.length);
    this.logger = opts.logger ?? defaultLogger;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_CLIENT_API_TIMEOUT_MS;
    this.pollNameServerIntervalMs = opts.pollNameServerIntervalMs ?? DEFAULT_POLL_NAMESERVER_INTERVAL_MS;
    this.heartbeatBrokerIntervalMs = opts.heartbeatBrokerIntervalMs ?? DEFAULT_HEARTBEAT_BROKER_INTERVAL_MS;
    this.remoting = new RemotingClient({
      requestTimeoutMs: this.requestTimeoutMs,
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      version: CLIENT_VERSION,
      serializeType: opts.serializeType ?? serializeTypeFromEnv(),
      onServerRequest: (cmd, address) => this.serveRequest(cmd, address),
      credentials: opts.credentials,
    });
  }

  /** The shared instance for these options (created on first use). Pair with release(). */
  static acquire(opts: ClientOptions): ClientInstance {
    const ip = opts.clientIp ?? localIpv4();
    const key = `${buildClientId(ip, opts.instanceName ?? defaultInstanceName(), opts.unitName)}|${opts.namesrvAddr}|${opts.credentials?.accessKey ?? ''}`;
    let entry = instances.get(key);
    if (!entry || entry.instance.closed) {
      entry = { instance: new ClientInstance(key, opts), refs: 0 };
      instances.set(key, entry);
      entry.instance.startTimers();
    }
    entry.refs++;
    return entry.instance;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Drop one reference; the last one closes the instance. */
  async release(): Promise<void> {
    const entry = instances.get(this.key);
    if (!entry || entry.instance !== this) return;
    entry.refs--;
    if (entry.refs > 0) return;
    instances.delete(this.key);
    await this.close();
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.remoting.close();
  }

  private startTimers(): void {
    this.timers.push(
      setInterval(() => void this.refreshAllRoutes(), this.pollNameServerIntervalMs),
      setInterval(() => void this.sendHeartbeatToAllBrokers(), this.heartbeatBrokerIntervalMs),
    );
  }

  // ---- members ------------------------------------------------------------------------------

  registerProducer(p: ProducerMember): void {
    if (this.producers.has(p.group)) {
      throw new ClientStateError(`producer group ${p.group} is already started in this process (instance ${this.clientId}); give the second producer another instanceName`);
    }
    this.producers.set(p.group, p);
  }

  registerConsumer(c: ConsumerMember): void {
    if (this.consumers.has(c.group)) {
      throw new ClientStateError(`consumer group ${c.group} is already started in this process (instance ${this.clientId}); give the second consumer another instanceName`);
    }
    this.consumers.set(c.group, c);
  }

  async unregisterProducer(p: ProducerMember): Promise<void> {
    if (this.producers.get(p.group) !== p) return;
    this.producers.delete(p.group);
    await this.unregisterClient({ producerGroup: p.group });
  }

  async unregisterConsumer(c: ConsumerMember): Promise<void> {
    if (this.consumers.get(c.group) !== c) return;
    this.consumers.delete(c.group);
    await this.unregisterClient({ consumerGroup: c.group });
  }

  private async unregisterClient(header: { producerGroup?: string; consumerGroup?: string }): Promise<void> {
    if (this.closed) return;
    const addrs = this.allBrokerAddrs(true).filter((a) => this.remoting.isConnected(a));
    await Promise.all(
      addrs.map(async (addr) => {
        try {
          await this.remoting.invoke(addr, makeRequest(RequestCode.UNREGISTER_CLIENT, { clientID: this.clientId, ...header }), UNREGISTER_TIMEOUT_MS);
        } catch (err) {
          this.logger.debug(`unregister from ${addr} failed: ${errText(err)}`);
        }
      }),
    );
  }

  // ---- name server and routes ----------------------------------------------------------------

  /** Learn a local broker's advertised address so routes naming it are reached over its socket. */
  private async aliasSocket(socketPath: string): Promise<void> {
    if (this.aliasedSockets.has(socketPath)) return;
    const res = await this.remoting.invoke(socketPath, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO), this.requestTimeoutMs);
    if (res.code === ResponseCode.SUCCESS && res.body) {
      const kv = decodeKVTable(bodyBuffer(res));
      if (kv.brokerAddr) this.remoting.setAlias(kv.brokerAddr, socketPath);
      if (kv.brokerAddrFast) this.remoting.setAlias(kv.brokerAddrFast, socketPath);
    }
    this.aliasedSockets.add(socketPath);
  }

  /**
   * GET_ROUTEINFO_BY_TOPIC from the name servers, one after the other starting with the last one
   * that answered. TOPIC_NOT_EXIST is an answer (TopicNotFoundError); only connectivity
   * failures move on to the next name server.
   */
  async fetchRouteFromNamesrv(topic: string, timeoutMs = this.requestTimeoutMs): Promise<TopicRouteData> {
    return this.onNamesrv((addr, leftMs) => getRouteInfoByTopic(this.remoting, addr, topic, leftMs), `route lookup for ${topic}`, timeoutMs);
  }

  /**
   * Run `call` against the name servers, one after the other starting with the last one that
   * answered; only connectivity failures move on to the next.
   */
  private async onNamesrv<T>(call: (addr: string, leftMs: number) => Promise<T>, what: string, timeoutMs: number): Promise<T> {
    if (this.closed) throw new ClientClosedError();
    let lastErr: unknown;
    const n = this.namesrvAddrs.length;
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < n; i++) {
      const idx = (this.namesrvIndex + i) % n;
      const addr = this.namesrvAddrs[idx]!;
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) break;
      try {
        if (isSocketPath(addr)) await this.aliasSocket(addr);
        const v = await call(addr, leftMs);
        this.namesrvIndex = idx;
        return v;
      } catch (err) {
        if (!isConnectivityError(err)) throw err;
        lastErr = err;
      }
    }
    throw lastErr ?? new TimeoutError(what, timeoutMs);
  }

  /** Does the name server know no broker at all (GET_BROKER_CLUSTER_INFO)? */
  async namesrvKnowsNoBroker(timeoutMs = this.requestTimeoutMs): Promise<boolean> {
    const info = await this.onNamesrv((addr, leftMs) => getBrokerClusterInfo(this.remoting, addr, leftMs), 'cluster info', timeoutMs);
    return Object.values(info.brokerAddrTable).every((b) => Object.keys(b.brokerAddrs).length === 0);
  }

  /** The cached route of `topic`, fetched on first use. */
  async getRoute(topic: string, opts: { refresh?: boolean; timeoutMs?: number } = {}): Promise<TopicRouteData> {
    const cached = this.routes.get(topic);
    if (cached && !opts.refresh) return cached;
    return this.updateRoute(topic, opts.timeoutMs);
  }

  cachedRoute(topic: string): TopicRouteData | undefined {
    return this.routes.get(topic);
  }

  /** Fetch and cache the route (concurrent callers share one request). */
  updateRoute(topic: string, timeoutMs?: number): Promise<TopicRouteData> {
    const inflight = this.routeFetches.get(topic);
    if (inflight) return inflight;
    const p = (async () => {
      try {
        const route = await this.fetchRouteFromNamesrv(topic, timeoutMs);
        this.storeRoute(topic, route);
        return route;
      } finally {
        this.routeFetches.delete(topic);
      }
    })();
    this.routeFetches.set(topic, p);
    return p;
  }

  private storeRoute(topic: string, route: TopicRouteData): boolean {
    const changed = !sameRoute(this.routes.get(topic), route);
    this.routes.set(topic, route);
    let newBroker = false;
    for (const bd of route.brokerDatas) {
      let ids = this.brokerAddrTable.get(bd.brokerName);
      if (!ids) {
        ids = new Map();
        this.brokerAddrTable.set(bd.brokerName, ids);
      }
      // The route is authoritative for this broker's current addresses.
      ids.clear();
      for (const [id, addr] of Object.entries(bd.brokerAddrs)) {
        ids.set(Number(id), addr);
        if (!this.heartbeated.has(addr)) newBroker = true;
      }
    }
    if (newBroker) void this.sendHeartbeatToAllBrokers();
    return changed;
  }

  /** Every 30 s: refresh the routes of all topics in use; tell consumers what changed. */
  async refreshAllRoutes(): Promise<void> {
    if (this.closed) return;
    const topics = new Set<string>();
    for (const p of this.producers.values()) for (const t of p.topicsInUse()) topics.add(t);
    for (const c of this.consumers.values()) for (const t of c.topicsInUse()) topics.add(t);
    for (const topic of topics) {
      if (this.closed) return;
      try {
        const route = await this.fetchRouteFromNamesrv(topic);
        if (this.storeRoute(topic, route)) for (const c of this.consumers.values()) if (c.topicsInUse().includes(topic)) c.onRouteChanged(topic);
      } catch (err) {
        this.logger.debug(`route refresh for ${topic} failed: ${errText(err)}`);
      }
    }
  }

  /**
   * Publish queues of `topic` (Java topicRouteData2TopicPublishInfo): brokers sorted by name, each
   * writable queue data with a master, queue ids 0..writeQueueNums-1; or orderTopicConf.
   * Without a route, falls back to the TBW102 template clamped to `defaultTopicQueueNums`.
   */
  async publishInfo(topic: string, opts: { defaultTopicQueueNums: number; createTopicKey?: string; timeoutMs?: number }): Promise<TopicPublishInfo> {
    let route = this.routes.get(topic);
    let fromDefault = false;
    if (!route) {
      try {
        route = await this.updateRoute(topic, opts.timeoutMs);
      } catch (err) {
        if (!(err instanceof TopicNotFoundError) && !(err instanceof RemoteError && err.responseCode === ResponseCode.TOPIC_NOT_EXIST)) throw err;
        const tmplKey = opts.createTopicKey ?? AUTO_CREATE_TOPIC_KEY_TOPIC;
        let tmpl: TopicRouteData;
        try {
          tmpl = await this.getRoute(tmplKey, { timeoutMs: opts.timeoutMs });
        } catch (e2) {
          if (isConnectivityError(e2)) throw e2;
          // Neither the topic nor the template: is that because no broker is registered at all?
          if (await this.namesrvKnowsNoBroker(opts.timeoutMs).catch(() => false)) throw new NoRouteError(topic, err);
          throw err;
        }
        route = {
          ...tmpl,
          queueDatas: tmpl.queueDatas.map((q) => {
            const nums = Math.min(opts.defaultTopicQueueNums, q.readQueueNums);
            return { ...q, readQueueNums: nums, writeQueueNums: nums };
          }),
        };
        fromDefault = true;
      }
    }
    if (fromDefault) return buildPublishInfo(topic, route, true);
    return this.publishInfoOf(topic, route);
  }

  /** publishInfo() without a promise when the topic's route is cached; undefined otherwise. */
  cachedPublishInfo(topic: string): TopicPublishInfo | undefined {
    const route = this.routes.get(topic);
    return route ? this.publishInfoOf(topic, route) : undefined;
  }

  private publishInfoOf(topic: string, route: TopicRouteData): TopicPublishInfo {
    let info = this.publishInfos.get(route);
    if (!info || info.topic !== topic) {
      info = buildPublishInfo(topic, route, false);
      this.publishInfos.set(route, info);
    }
    return info;
  }

  /** Subscribe queues of `topic`: readable queue data, ids 0..readQueueNums-1. */
  async subscribeQueues(topic: string, opts: { refresh?: boolean } = {}): Promise<MessageQueue[]> {
    const route = await this.getRoute(topic, opts);
    return subscribeQueuesOf(topic, route);
  }

  // ---- broker addresses -----------------------------------------------------------------------

  /** Master address of a broker, from any route seen. */
  findBrokerAddrInPublish(brokerName: string): string | undefined {
    return this.brokerAddrTable.get(brokerName)?.get(0);
  }

  /**
   * Address of `brokerId` of a broker, else for a slave id the next id up, else the master, else
   * any (MQClientInstance#findBrokerAddressInSubscribe; its "any" is the master when there is one).
   * In a DLedger group the slave ids are the members' (self id digits + 1), so a suggested id that
   * is the leader's own is served by the member after it.
   */
  findBrokerAddrInSubscribe(brokerName: string, brokerId = 0): { addr: string; slave: boolean } | undefined {
    const ids = this.brokerAddrTable.get(brokerName);
    if (!ids || ids.size === 0) return undefined;
    const exact = ids.get(brokerId);
    if (exact) return { addr: exact, slave: brokerId !== 0 };
    const next = brokerId !== 0 ? ids.get(brokerId + 1) : undefined;
    if (next) return { addr: next, slave: true };
    const master = ids.get(0);
    if (master) return { addr: master, slave: false };
    const [id, addr] = [...ids.entries()][0]!;
    return { addr, slave: id !== 0 };
  }

  /** The master address, refreshing `topic`'s route once if the broker is unknown. */
  async brokerAddrForQueue(mq: MessageQueue): Promise<string> {
    let addr = this.findBrokerAddrInPublish(mq.brokerName);
    if (!addr) {
      await this.updateRoute(mq.topic).catch(() => undefined);
      addr = this.findBrokerAddrInPublish(mq.brokerName) ?? this.findBrokerAddrInSubscribe(mq.brokerName)?.addr;
    }
    if (!addr) throw new BrokerUnreachableError(`broker ${mq.brokerName} (not in the route of ${mq.topic})`);
    return addr;
  }

  /** A random broker of `topic` (its master if it has one): where group-wide questions go. */
  async anyBrokerAddrForTopic(topic: string): Promise<string | undefined> {
    const route = await this.getRoute(topic);
    if (route.brokerDatas.length === 0) return undefined;
    const bd = route.brokerDatas[randomInt(0, route.brokerDatas.length)]!;
    const addrs = bd.brokerAddrs;
    return addrs['0'] ?? Object.values(addrs)[0];
  }

  allBrokerAddrs(mastersOnly: boolean): string[] {
    const out: string[] = [];
    for (const ids of this.brokerAddrTable.values()) {
      for (const [id, addr] of ids) if (!mastersOnly || id === 0) out.push(addr);
    }
    return [...new Set(out)];
  }

  // ---- heartbeat --------------------------------------------------------------------------------

  heartbeatData(): HeartbeatData {
    return {
      clientID: this.clientId,
      consumerDataSet: [...this.consumers.values()].map((c) => c.consumerData()),
      producerDataSet: [{ groupName: CLIENT_INNER_PRODUCER_GROUP }, ...[...this.producers.keys()].filter((g) => g !== CLIENT_INNER_PRODUCER_GROUP).map((groupName) => ({ groupName }))],
    };
  }

  /**
   * HEART_BEAT to every broker of every known route (masters only when there is no consumer).
   * Calls made while one is running coalesce into one more round.
   */
  sendHeartbeatToAllBrokers(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.heartbeatRunning) {
      this.heartbeatAgain = true;
      return this.heartbeatRunning;
    }
    this.heartbeatRunning = (async () => {
      try {
        for (let round = 0; round < 3; round++) {
          this.heartbeatAgain = false;
          await this.heartbeatOnce();
          if (!this.heartbeatAgain || this.closed) break;
        }
      } finally {
        this.heartbeatRunning = undefined;
      }
    })();
    return this.heartbeatRunning;
  }

  private async heartbeatOnce(): Promise<void> {
    const data = this.heartbeatData();
    const addrs = this.allBrokerAddrs(data.consumerDataSet.length === 0);
    const body = encodeJson(data);
    await Promise.all(
      addrs.map(async (addr) => {
        try {
          const res = await this.remoting.invoke(addr, makeRequest(RequestCode.HEART_BEAT, undefined, body), this.requestTimeoutMs);
          this.heartbeated.add(addr);
          if (res.code === ResponseCode.SUCCESS) this.brokerVersions.set(addr, res.version);
          else this.logger.warn(`heartbeat to ${addr} answered ${res.code} ${res.remark ?? ''}`);
        } catch (err) {
          this.logger.debug(`heartbeat to ${addr} failed: ${errText(err)}`);
        }
      }),
    );
  }

  // ---- requests from brokers -----------------------------------------------------------------

  private async serveRequest(cmd: RemotingCommand, address: string): Promise<RemotingCommand | undefined> {
    const h = cmd.extFields ?? {};
    try {
      switch (cmd.code) {
        case RequestCode.NOTIFY_CONSUMER_IDS_CHANGED: {
          this.consumers.get(h.consumerGroup ?? '')?.onConsumerIdsChanged();
          return undefined;
        }
        case RequestCode.RESET_CONSUMER_CLIENT_OFFSET: {
          const c = this.consumers.get(h.group ?? '');
          if (c && cmd.body) c.resetOffset(h.topic ?? '', decodeResetOffsetBody(bodyBuffer(cmd)));
          return undefined;
        }
        case RequestCode.CHECK_TRANSACTION_STATE: {
          if (!cmd.body) return undefined;
          const rec = decodeRecord(bodyBuffer(cmd), 0, { copyBody: true });
          const msg = toMessageExt(rec);
          const group = msg.properties.PGROUP ?? '';
          const p = this.producers.get(group);
          if (p?.checkTransactionState) p.checkTransactionState(address, msg, h);
          else this.logger.warn(`CHECK_TRANSACTION_STATE for producer group ${group}, which is not running here`);
          return undefined;
        }
        case RequestCode.GET_CONSUMER_RUNNING_INFO: {
          const c = this.consumers.get(h.consumerGroup ?? '');
          if (!c) return makeResponse(cmd, ResponseCode.SYSTEM_ERROR, `The Consumer Group <${h.consumerGroup}> not exist in this consumer`);
          const jstack = (h.jstackEnable ?? '').toLowerCase() === 'true';
          return makeResponse(cmd, ResponseCode.SUCCESS, undefined, undefined, c.runningInfo(jstack));
        }
        case RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT: {
          const c = this.consumers.get(h.group ?? '');
          const entries = c ? c.consumerStatus(h.topic ?? '') : [];
          const body = encodeJson({ consumerTable: {}, messageQueueTable: mqMap(entries.map((e) => [e.mq, e.offset])) });
          return makeResponse(cmd, ResponseCode.SUCCESS, undefined, undefined, body);
        }
        case RequestCode.CONSUME_MESSAGE_DIRECTLY: {
          const c = this.consumers.get(h.consumerGroup ?? '');
          if (!c?.consumeDirectly || !cmd.body) return makeResponse(cmd, ResponseCode.SYSTEM_ERROR, `The Consumer Group <${h.consumerGroup}> not exist in this consumer`);
          const rec = decodeRecord(bodyBuffer(cmd), 0, { copyBody: true });
          const body = await c.consumeDirectly(toMessageExt(rec, { brokerName: h.brokerName }), h.brokerName);
          return makeResponse(cmd, ResponseCode.SUCCESS, undefined, undefined, body);
        }
        default:
          return undefined; // remoting answers REQUEST_CODE_NOT_SUPPORTED
      }
    } catch (err) {
      this.logger.warn(`serving request ${cmd.code} from ${address} failed`, err);
      return makeResponse(cmd, ResponseCode.SYSTEM_ERROR, errText(err));
    }
  }
}


function buildPublishInfo(topic: string, route: TopicRouteData, fromDefaultTopic = false): TopicPublishInfo {
  const queues: MessageQueue[] = [];
  let orderTopic = false;
  if (route.orderTopicConf) {
    orderTopic = true;
    for (const item of route.orderTopicConf.split(';')) {
      const [brokerName, nums] = item.split(':');
      if (!brokerName || !nums) continue;
      for (let i = 0; i < Number(nums); i++) queues.push({ topic, brokerName, queueId: i });
    }
  } else {
    const qds = [...route.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
    for (const qd of qds) {
      if ((qd.perm & Perm.WRITE) === 0) continue;
      const bd = route.brokerDatas.find((b) => b.brokerName === qd.brokerName);
      if (!bd || !bd.brokerAddrs['0']) continue;
      for (let i = 0; i < qd.writeQueueNums; i++) queues.push({ topic, brokerName: qd.brokerName, queueId: i });
    }
  }
  return { topic, queues, orderTopic, fromDefaultTopic, route };
}

function subscribeQueuesOf(topic: string, route: TopicRouteData): MessageQueue[] {
  const out: MessageQueue[] = [];
  for (const qd of route.queueDatas) {
    if ((qd.perm & Perm.READ) === 0) continue;
    for (let i = 0; i < qd.readQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i });
  }
  return out;
}
