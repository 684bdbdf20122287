/**
 * BrokerController: one broker (and optionally its name server) in this process, over the store.
 *
 * Start: listen on listenPort and the fast port listenPort-2 (so port 0 can be resolved before
 * the store needs its STOREHOST), open the store (lock + recovery), load the config managers,
 * create the system topics, listen on `<storePathRootDir>/broker.sock`, start the embedded
 * name server, register with the name servers, then accept requests. Until then (and while
 * closing) requests are answered SYSTEM_BUSY, never left hanging.
 *
 * Close: stop accepting, answer every parked pull, unregister from the name servers, close the
 * servers, persist offsets/topics/groups/delay offsets, close the store (which removes `abort`).
 *
 * Periodic work (each timer cleared on close): register the whole topic table with name servers
 * every registerNameServerPeriod (30 s; a topic change registers just that topic, see
 * registration.ts), persist consumer offsets every flushConsumerOffsetInterval
 * (5 s), drop silent clients (120 s), long-poll re-checks (5 s), delayed-message delivery (100 ms),
 * and the store's retention pass (cleanResourceInterval, 10 s), whose deletions are logged with the
 * groups that had not consumed them (retention-log.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isIPv6 } from 'node:net';
import type { BrokerConfig } from './broker-config.js';
import { RETENTION_RUNTIME_KEYS, retentionOf, toStoreConfig } from './broker-config.js';
import { ClientManager } from './client-manager.js';
import { BrokerConfiguration } from './configuration.js';
import { PullRequestHoldService, LONG_POLL_CHECK_INTERVAL_MS } from './long-polling.js';
import { RemotingServer, silentLogger, type Logger, type RemotingServerOptions, type RequestGuard } from '../remoting/server.js';
import { AclService, plainAclPath } from './acl/acl-service.js';
import { isLoopback } from './acl/remote-address.js';
import { AuditLog, auditDir } from '../util/audit-log.js';
import { ScheduleMessageService } from './schedule-service.js';
import { BrokerStats } from './stats/broker-stats.js';
import { startBrokerMetrics } from './stats/metrics-endpoint.js';
import type { MetricsServer } from '../metrics/http.js';
import type { ClusterMetricsCollector } from '../metrics/collector.js';
import { TransactionalMessageService } from './transaction/transactional-service.js';
import { TransactionCheckService } from './transaction/check-service.js';
import { BrokerTracer } from './trace/broker-tracer.js';
import { buildHandlerTable } from './handlers/index.js';
import { NameServer } from './namesrv/namesrv.js';
import { unregisterBroker, type BrokerIdentity } from '../remoting/namesrv-api.js';
import { BrokerRegistration, NAMESRV_REQUEST_TIMEOUT_MS, type RegistrationStats } from './registration.js';
import type { BrokerContext, GetMessageStatus, GroupTable, OffsetIndex, PutInput, RuntimeFacts, StorePort } from './handlers/context.js';
import { wakeupPull } from './handlers/pull-message.js';
import { MessageStore } from './store/message-store.js';
import { NodeFileIO } from './store/node-file-io.js';
import type { FileIO } from './store/file-io.js';
import { logRetention } from './retention-log.js';
import type { StoreRecoveryReport } from './store/recovery.js';
import {
  ConsumerOffsetManager,
  DelayOffsetManager,
  SubscriptionGroupManager,
  TopicConfigManager,
  systemTopicConfigs,
  type ConfigFileManager,
  type ConfigLoadReport,
} from './store/config/index.js';
import { AUTO_CREATE_TOPIC_KEY_TOPIC, NOT_ALLOWED_SEND_TOPICS, isSystemGroup, isSystemTopic, SCHEDULE_TOPIC, TRANS_OP_HALF_TOPIC } from '../protocol/names.js';
import { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig, type TopicConfig, type TopicConfigSerializeWrapper } from '../protocol/bodies.js';
import { Perm } from '../protocol/codes.js';
import type { SocketAddr } from '../protocol/message.js';
import { RemotingClient } from '../remoting/client.js';
import { ConfigError, DiskFullError, RocketError } from '../errors/index.js';
import { listenTcp, withoutListenErrors } from './listen.js';
import { DLedgerMember } from './dledger/broker-member.js';
import { SLAVE_SYNC_INTERVAL_MS, SlaveSynchronize } from './slave-sync.js';
export { PortInUseError } from './listen.js';

/** Bound on the shutdown of each part, so a stuck peer cannot keep the process alive. */
const CLOSE_STEP_TIMEOUT_MS = 5_000;

export interface BrokerAddresses {
  /** host:port of the broker (listenPort). */
  broker: string;
  /** host:port of the fast port: always listenPort - 2 (also when listenPort 0 picked the port). */
  fast: string;
  /** The local admin socket. */
  socket: string;
  /** host:port of the embedded name server, when it runs. */
  namesrv: string | undefined;
  /** Every name server this broker registers with (embedded first). */
  namesrvAddrs: string[];
  storeDir: string;
  /** host:port of the Prometheus endpoint (GET /metrics), when metricsPort is set. */
  metrics?: string;
}

interface BrokerStartOptions {
  logger?: Logger;
  /** The store's file layer (tests: a FaultyFileIO simulating a small disk); default the real one. */
  storeIO?: FileIO;
  /** The `-c` file the config was read from: UPDATE_BROKER_CONFIG saves changed keys there. */
  configFile?: string;
  /** How often plain_acl.yml is checked for changes (default ACL_FILE_CHECK_INTERVAL_MS; tests: shorter). */
  aclCheckIntervalMs?: number;
  /**
   * The cluster families of GET /metrics (with metricsPort): admin's collectOwnBrokerMetrics,
   * passed in because the broker does not import the admin API. Unset: /metrics serves the
   * process families only (connections, requests, puts per topic, flush latency).
   */
  clusterMetrics?: ClusterMetricsCollector;
  /** How often a slave takes its master's tables (SlaveSynchronize; default SLAVE_SYNC_INTERVAL_MS). */
  slaveSyncIntervalMs?: number;
}

/** How close() went: clean only when every step succeeded and the store removed its `abort`. */
export interface BrokerCloseReport {
  clean: boolean;
  /** One line per failed step that leaves the disk behind memory (e.g. "persisting config: no space left on device ..."). */
  problems: string[];
}

export class BrokerController implements BrokerContext {
  readonly clients: ClientManager;
  readonly pullHold: PullRequestHoldService;
  readonly stats = new BrokerStats();
  readonly logger: Logger;
  readonly delayLevelCount: number;
  readonly configuration: BrokerConfiguration;
  store!: StorePort;
  storeHost!: SocketAddr;
  messageStore!: MessageStore;
  topics!: TopicConfigManager;
  offsets!: ConsumerOffsetManager;
  groups!: SubscriptionGroupManager;
  delayOffsets!: DelayOffsetManager;
  recovery!: StoreRecoveryReport;
  addresses!: BrokerAddresses;
  /** Half messages and END_TRANSACTION, once the store is open. */
  transactions: TransactionalMessageService | undefined;
  /** The check-back of unresolved half messages (every transactionCheckInterval). */
  transactionCheck: TransactionCheckService | undefined;
  /** The plain ACL guarding the TCP ports, with aclEnable=true. */
  acl: AclService | undefined;
  /** The audit log of admin changes, in <storePathRootDir>/audit. */
  audit: AuditLog | undefined;
  /** Broker-side tracing (brokerTraceEnable), once the store is open; undefined when off. */
  tracer: BrokerTracer | undefined;

  private readonly servers: RemotingServer[] = [];
  private metrics: MetricsServer | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private schedule: ScheduleMessageService | undefined;
  /** A DLedger member's SlaveSynchronize (runs while it is a slave). */
  private slaveSync: SlaveSynchronize | undefined;
  /** The role-dependent steps (followRole), in order. */
  private roleSteps: Promise<void> = Promise.resolve();
  private namesrv: BrokerNamesrvLink | undefined;
  private accepting = false;
  private closing: Promise<BrokerCloseReport> | undefined;
  private readonly remoting = new RemotingClient({ requestTimeoutMs: 3000 });
  /** This broker as a member of a DLedger group (enableDLegerCommitLog=true). */
  dledger: DLedgerMember | undefined;
  /** Topics created on the fly whose topics.json write is still running (see addTopic). */
  private readonly creating = new Map<string, Promise<void>>();

  private constructor(
    readonly config: BrokerConfig,
    private readonly opts: BrokerStartOptions,
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.delayLevelCount = toStoreConfig(config, 1).delayLevelMillis.length;
    this.configuration = new BrokerConfiguration({
      config,
      configFile: opts.configFile,
      io: new NodeFileIO(),
      // As AdminBrokerProcessor#updateBrokerConfig: a new brokerPermission goes to the name servers before
      // the answer (the name servers take a broker's topics only with a new data version: bump it first).
      onApplied: async (keys) => {
        // CleanCommitLogService reads MessageStoreConfig at every pass: the next one uses the new values.
        if (keys.some((k) => RETENTION_RUNTIME_KEYS.has(k))) this.messageStore?.retention.updateSettings(retentionOf(this.config));
        if (!keys.includes('brokerPermission')) return;
        this.topics?.nextVersion();
        await this.namesrv?.registration.registerAll({ force: true });
      },
    });
    this.clients = new ClientManager({
      logger: this.logger,
      notifyEnabled: (g) => this.groups?.get(g)?.notifyConsumerIdsChangedEnable ?? true,
      lockMaxLiveMs: config.rebalanceLockMaxLiveTime,
    });
    this.pullHold = new PullRequestHoldService({
      logger: this.logger,
      // Short polling re-checks every shortPollingTimeMills (1 s), long polling every 5 s.
      checkIntervalMs: config.longPollingEnable ? LONG_POLL_CHECK_INTERVAL_MS : config.shortPollingTimeMills,
      maxOffset: (topic, queueId) => this.messageStore.getMaxOffsetInQueue(topic, queueId),
      wakeup: (p) => wakeupPull(this, p.channel, p.request),
    });
  }

  /** Start everything; on failure, whatever was started is closed again before the error propagates. */
  static async start(config: BrokerConfig, opts: BrokerStartOptions = {}): Promise<BrokerController> {
    const b = new BrokerController(config, opts);
    try {
      await b.startAll();
      return b;
    } catch (err) {
      await b.close().catch(() => undefined);
      throw err;
    }
  }

  private async startAll(): Promise<void> {
    const c = this.config;
    // Before any port opens: a broker with ACL on and no valid plain_acl.yml does not start.
    this.acl = c.aclEnable ? new AclService(plainAclPath(c.plainAclFile), this.logger, this.opts.aclCheckIntervalMs) : undefined;
    if (!c.aclEnable && !isLoopback(c.bindAddress)) {
      this.logger.warn(`broker listens on ${c.bindAddress}, beyond loopback, without ACL: anyone who reaches the port can send, read and administer everything (set aclEnable=true, see README "ACL")`);
    }
    // Requests are counted on the TCP ports only (metrics-endpoint.ts says why).
    // The local Unix socket is not guarded: the modes of it (0600) and its dir (0700) are its access control (closeToOthers).
    const main = this.newServer('broker', true, this.acl?.guard);
    const fast = this.newServer('broker-fast', true, this.acl?.guard);
    const { brokerAddr, fastAddr } = await listenBrokerPorts(main, fast, c.bindAddress, c.listenPort);
    const storeDirExisted = fs.existsSync(c.storePathRootDir);
    const actualPort = portOf(brokerAddr);

    const storeConfig = toStoreConfig(c, actualPort);
    this.storeHost = storeConfig.storeHost;
    checkCommitLogKind(c);
    if (c.enableDLegerCommitLog) {
      // BrokerStartup: a DLedger member registers only once its role is known (brokerId -1 until then).
      c.brokerId = -1;
      this.dledger = new DLedgerMember({
        config: c,
        client: this.remoting,
        newServer: () => this.newServer('dledger'),
        electorConfig: { heartBeatTimeIntervalMs: c.dLegerHeartBeatTimeIntervalMs, maxHeartBeatLeak: c.dLegerMaxHeartBeatLeak, minVoteIntervalMs: c.dLegerMinVoteIntervalMs, maxVoteIntervalMs: c.dLegerMaxVoteIntervalMs },
        logger: this.logger,
        onBrokerId: (id) => {
          c.brokerId = id;
          void this.registerBrokerAll({ force: true });
          this.followRole();
        },
      });
    }
    this.messageStore = await MessageStore.open(storeConfig, { io: this.opts.storeIO, commitLog: this.dledger?.commitLogFactory() });
    this.recovery = this.messageStore.report;
    const conversion = this.dledger?.commitLog?.conversion;
    if (conversion) {
      // A warning: printed without ROCKETCTL_DEBUG, as the change to the store cannot be undone.
      this.logger.warn(`store converted to DLedger: the commit log written without it ends at ${conversion.oldLogEnd} and stays readable; DLedger entries begin at ${conversion.dividedCommitlogOffset} (dividedCommitlogOffset)`);
    }
    this.store = storeAdapter(this.messageStore, this.stats);

    const io = this.opts.storeIO ?? new NodeFileIO();
    const root = c.storePathRootDir;
    this.audit = new AuditLog(auditDir(root), c.auditFileMaxBytes, (err) => this.logger.error(`audit: cannot append to ${auditDir(root)}: ${err instanceof Error ? err.message : String(err)}`));
    this.topics = new TopicConfigManager(root, io);
    this.offsets = new ConsumerOffsetManager(root, io);
    this.groups = new SubscriptionGroupManager(root, io);
    this.delayOffsets = new DelayOffsetManager(root, io);
    const topicsLoad = await this.topics.load();
    for (const m of [this.offsets, this.groups, this.delayOffsets] as ConfigFileManager[]) await m.load();
    this.createSystemTopics();
    logRetention(this.messageStore.retention, { logger: this.logger, cqs: this.messageStore.consumeQueues, offsets: this.offsets, delayOffsets: this.delayOffsets });
    await this.persistAll();
    await this.cleanUnusedTopics(topicsLoad);
    await this.startTransactions();
    if (c.brokerTraceEnable) this.tracer = this.newTracer();

    this.messageStore.onDispatch((req) => this.pullHold.notifyMessageArriving(req.topic, req.queueId, req.queueOffset + 1, req.tagsCode));
    main.registerAll(buildHandlerTable(this, { accepting: () => this.accepting }));
    fast.registerAll(buildHandlerTable(this, { fast: true, accepting: () => this.accepting }));
    const local = this.newServer('broker-local');
    local.registerAll(buildHandlerTable(this, { accepting: () => this.accepting }));
    closeToOthers(root, storeDirExisted ? this.logger : silentLogger);
    const socket = await local.listen({ path: path.join(root, 'broker.sock') });

    // Advertised = brokerIP1 with the port actually bound (STOREHOST and name server registration).
    const advertised = `${isIPv6(c.brokerIP1) ? `[${c.brokerIP1}]` : c.brokerIP1}:${actualPort}`;
    this.namesrv = new BrokerNamesrvLink({ config: c, brokerAddr: advertised, client: this.remoting, topics: this.topics, logger: this.logger });
    const namesrvAddr = c.embeddedNamesrv ? await this.namesrv.startEmbedded(c.bindAddress, c.namesrvListenPort) : undefined;
    // The local socket answers name server requests too, so admin commands need nothing else.
    this.namesrv.nameServer?.attach(local);
    this.addresses = {
      broker: advertised,
      fast: fastAddr,
      socket,
      namesrv: namesrvAddr,
      namesrvAddrs: this.namesrv.addresses,
      storeDir: root,
    };

    this.clients.start();
    this.pullHold.start();
    this.schedule = new ScheduleMessageService({
      store: this.messageStore,
      offsets: {
        offset: (level) => this.delayOffsets.get(level) ?? 0,
        update: (level, offset) => this.delayOffsets.set(level, offset),
        persist: async () => void (await this.delayOffsets.persist()),
      },
      delayLevelMillis: storeConfig.delayLevelMillis,
      persistIntervalMs: c.flushDelayOffsetInterval,
      logger: this.logger,
    });
    // A DLedger member starts delivering delayed messages when it becomes master (followRole).
    if (!this.dledger) this.schedule.start();
    this.every(c.flushConsumerOffsetInterval, () => this.persist(this.offsets));
    // TransactionalMessageCheckService: a pass every transactionCheckInterval (passes never overlap).
    this.every(c.transactionCheckInterval, () => this.transactionCheck?.run());
    this.every(c.registerNameServerPeriod, () => this.registerBrokerAll({ force: c.forceRegister }));
    this.accepting = true;
    // As BrokerController.start: register once now, body and all (failures are logged; the period retries).
    // A DLedger member registers when its role is known (DLedgerRoleChangeHandler).
    if (this.dledger) {
      const sync = new SlaveSynchronize({
        client: this.remoting,
        isSlave: () => c.brokerId > 0,
        masterAddr: () => {
          if (c.brokerId <= 0 || !this.namesrv) return undefined;
          const m = this.namesrv.registration.masterAddr;
          // Registered before the master had (or the master changed): the next answer names it.
          if (!m) void this.registerBrokerAll({ force: true });
          return m;
        },
        onFailure: () => {
          if (this.namesrv) this.namesrv.registration.masterAddr = undefined;
        },
        topics: this.topics,
        groups: this.groups,
        offsets: this.offsets,
        delayOffsets: this.delayOffsets,
        logger: this.logger,
      });
      this.slaveSync = sync;
      this.every(this.opts.slaveSyncIntervalMs ?? SLAVE_SYNC_INTERVAL_MS, () => sync.syncAll());
      // The DLedger port opens only now, with its handlers registered (as DLedgerServer#startup starts
      // its RPC service after the store has recovered): a Java peer reading an answer without a body
      // (REQUEST_CODE_NOT_SUPPORTED) fails in its callback and waits out the RPC timeout.
      this.dledger.start();
      await this.dledger.listen();
    } else {
      await this.registerBrokerAll({ force: true });
    }
    if (c.metricsPort >= 0) await this.startMetrics(c.metricsHost, c.metricsPort);
  }

  private async startMetrics(host: string, port: number): Promise<void> {
    const tcp = this.servers.filter((s) => s.opts.name !== 'broker-local');
    const source = {
      brokerName: this.config.brokerName,
      socket: this.addresses.socket,
      brokerAddrs: [this.addresses.broker, this.addresses.fast],
      embeddedNamesrv: this.addresses.namesrv !== undefined,
      namesrvAddrs: this.addresses.namesrvAddrs,
      stats: this.stats,
      flushLatency: () => this.messageStore.flushLatency,
      connections: () => tcp.map((s) => ({ listener: s.opts.name, count: [...s.channels()].length })),
    };
    this.metrics = await startBrokerMetrics(source, this.opts.clusterMetrics, host, port, (err) => this.logger.warn(`metrics: ${errText(err)}`));
    this.addresses.metrics = this.metrics.address;
  }

  /**
   * BrokerController#changeToMaster / #changeToSlave for what depends on the role: delayed messages
   * are delivered by the master only, from the offsets it took from its old master; the last sync
   * round finishes first, so its offsets are the ones delivery starts from. Steps run one after
   * another, each for the role current when it runs.
   */
  private followRole(): void {
    this.roleSteps = this.roleSteps
      .then(async () => {
        if (this.config.brokerId !== 0) return this.schedule?.stop();
        await this.slaveSync?.idle();
        if (this.config.brokerId === 0 && !this.closing) this.schedule?.start();
      })
      .catch((err) => this.logger.warn(`following the DLedger role: ${errText(err)}`));
  }

  /** A full registration with every name server (BrokerController#registerBrokerAll); never throws. */
  registerBrokerAll(opts: { force: boolean }): Promise<void> {
    return this.namesrv?.registration.registerAll(opts) ?? Promise.resolve();
  }

  /** REGISTER_BROKER requests sent so far, by kind. */
  get registrationStats(): RegistrationStats | undefined {
    return this.namesrv && { ...this.namesrv.registration.stats };
  }

  /** The transaction service, with what it remembers of resolved transactions rebuilt from the op markers. */
  private async startTransactions(): Promise<void> {
    this.transactions = new TransactionalMessageService(this);
    this.transactionCheck = new TransactionCheckService(this, this.transactions);
    try {
      await this.transactions.recover();
    } catch (err) {
      // Only duplicate protection is lost; half messages and their checks don't depend on it.
      this.logger.warn(`transactions: rebuilding resolved transactions failed: ${errText(err)}`);
    }
  }

  private newTracer(): BrokerTracer {
    const c = this.config;
    return new BrokerTracer({
      traceTopic: c.msgTraceTopicName,
      regionId: c.regionId,
      storeHost: this.storeHost,
      isSystemTopic: (t) => this.isSystemTopic(t),
      putBatch: (inputs) => this.store.putBatch(inputs),
      traceQueueNums: () => this.topics.get(c.msgTraceTopicName)?.writeQueueNums ?? 0,
      logger: this.logger,
    });
  }

  private newServer(name: string, countRequests = false, guard?: RequestGuard): RemotingServer {
    const onAnswered = countRequests ? (req: number, res: number) => this.stats.onRequest(req, res) : undefined;
    const s = new RemotingServer({ name, logger: withoutListenErrors(this.logger), onAnswered, guard, ...serverLimits(this.config) });
    this.servers.push(s);
    return s;
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(() => {
      try {
        void Promise.resolve(fn()).catch((err) => this.logger.warn(errText(err)));
      } catch (err) {
        this.logger.warn(errText(err));
      }
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  /** TopicConfigManager's constructor: system topics exist from the first start; stored ones win. */
  private createSystemTopics(): void {
    const c = this.config;
    const list = systemTopicConfigs(c.brokerClusterName, c.brokerName, {
      autoCreateTopicEnable: c.autoCreateTopicEnable,
      defaultTopicQueueNums: c.defaultTopicQueueNums,
      clusterTopicEnable: c.clusterTopicEnable,
      brokerTopicEnable: c.brokerTopicEnable,
      // Broker-side tracing writes into the trace topic: it exists whenever that is on too.
      traceTopicEnable: c.traceTopicEnable || c.brokerTraceEnable,
      msgTraceTopicName: c.msgTraceTopicName,
    });
    for (const tc of list) this.topics.putIfAbsent(tc);
  }

  /**
   * DefaultMessageStore#cleanUnusedTopic at start: consume queues of topics not in topics.json go,
   * except SCHEDULE_TOPIC_XXXX and RMQ_SYS_TRANS_OP_HALF_TOPIC (as Apache). Apache runs it only on
   * deleteTopic; here it also drops what recovery re-dispatched for topics deleted before an
   * unclean shutdown, so they stay deleted. Only with topics.json itself loaded: from its .bak (one
   * change behind) or without one, a topic's queues would be lost.
   */
  private async cleanUnusedTopics(topicsLoad: ConfigLoadReport): Promise<void> {
    if (topicsLoad.source !== 'file') return;
    const removed = await this.messageStore.cleanUnusedTopics((t) => this.topics.has(t) || t === SCHEDULE_TOPIC || t === TRANS_OP_HALF_TOPIC);
    if (removed.length === 0) return;
    const shown = removed.slice(0, 10).join(', ') + (removed.length > 10 ? `, ... (${removed.length} in all)` : '');
    this.logger.info(`removed the consume queues of topics not in topics.json (deleted): ${shown}`);
  }

  /**
   * Stop, answer, persist, close; safe to call twice (the second call waits for the first). Every
   * step runs even when one fails; the report says which failed.
   */
  close(): Promise<BrokerCloseReport> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<BrokerCloseReport> {
    this.accepting = false;
    this.acl?.close();
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    // Only what is on disk decides "clean": a name server that cannot be told is logged, not a problem.
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown> | unknown, onDisk = false) => {
      try {
        await withTimeout(Promise.resolve(fn()), CLOSE_STEP_TIMEOUT_MS, what);
      } catch (err) {
        this.logger.warn(`shutdown: ${what}: ${errText(err)}`);
        if (onDisk) problems.push(`${what}: ${errText(err)}`);
      }
    };
    await step('closing the metrics endpoint', () => this.metrics?.close());
    // Parked pulls get their answer (normally PULL_NOT_FOUND) while connections are still open.
    await step('answering parked pulls', () => this.pullHold.close());
    await step('unregistering from name servers', () => this.namesrv?.unregisterAll());
    for (const s of this.servers) await step(`closing ${s.opts.name}`, () => s.close());
    this.clients.close();
    await step('delayed-message delivery', () => this.schedule?.close());
    await step('transaction check', () => this.transactionCheck?.close());
    await step('writing broker traces', () => this.tracer?.close());
    if (this.topics) await step('persisting config', () => this.persistAll(), true);
    if (this.messageStore) {
      await step('closing the store', () => this.messageStore.close(), true);
      if (!this.messageStore.closedCleanly && !problems.some((p) => p.startsWith('closing the store'))) {
        problems.push('closing the store: the commit log could not be flushed completely (abort kept; the next start recovers)');
      }
    }
    await step('name server', () => this.namesrv?.close());
    await step('remoting client', () => this.remoting.close());
    return { clean: problems.length === 0, problems };
  }

  private async persistAll(): Promise<void> {
    await Promise.all([this.topics.persist(), this.offsets.persist(), this.groups.persist(), this.delayOffsets.persist()]);
  }

  /** Persist in the background (on change); failures are logged, the next change or timer retries. */
  private persist(m: ConfigFileManager): void {
    void m.persist().catch((err) => this.logger.warn(`persisting ${m.path}: ${errText(err)}`));
  }

  // ---- BrokerContext: topics ----------------------------------------------------------------

  readonly groupTable: GroupTable = {
    wrapper: () => this.groups.wrapper(),
    delete: async (group, removeOffset) => {
      // The config first: offsets left behind by a failure after it are harmless, as in deleteTopic.
      await this.groups.deleteDurably(group);
      if (!removeOffset) return;
      try {
        await this.offsets.removeGroupDurably(group);
      } catch (err) {
        throw new Error(`group ${group} deleted, but its consumer offsets were not removed: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };

  readonly offsetIndex: OffsetIndex = {
    topicsOfGroup: (group) => this.offsets.topicsOfGroup(group),
    groupsOfTopic: (topic) => this.offsets.groupsOfTopic(topic),
  };

  runtimeFacts(): RuntimeFacts {
    return {
      store: this.messageStore.stats(),
      storeTimeAt: (offset) => this.messageStore.storeTimeAt(offset),
      maxOffsetInQueue: (topic, queueId) => this.messageStore.getMaxOffsetInQueue(topic, queueId),
      addresses: { broker: this.addresses.broker, fast: this.addresses.fast },
      delayOffsets: this.delayOffsets.all(),
      dledger: this.dledger?.status(),
    };
  }

  topicConfig(topic: string): TopicConfig | undefined {
    return this.creating.has(topic) ? undefined : this.topics.get(topic);
  }

  topicConfigWrapper(): TopicConfigSerializeWrapper {
    return this.topics.wrapper();
  }

  async updateTopicConfig(tc: TopicConfig): Promise<void> {
    // Answered once on disk (changes arriving together share one write); undone and rejected when
    // topics.json cannot be written, so what is acknowledged is what a restart finds.
    const version = await this.topics.upsertDurably(tc);
    // AdminBrokerProcessor: registerIncrementBrokerData, so the route exists when the call returns.
    await this.namesrv?.registration.registerTopic(tc.topicName, version);
  }

  /**
   * AdminBrokerProcessor.deleteTopic: config and offsets go (on disk) before the consume queues,
   * so a crash in between leaves queues of an unknown topic, which the next start removes. No
   * registration: routes are removed from name servers by DELETE_TOPIC_IN_NAMESRV.
   */
  async deleteTopic(topic: string): Promise<void> {
    try {
      await this.topics.deleteDurably(topic);
    } catch (err) {
      if (!(err instanceof DiskFullError)) throw err;
      // A full disk: deleting a topic is how an operator frees space, so its consume queues go
      // first and the table is written again. A second failure is the caller's error, said as it is.
      await this.messageStore.deleteTopic(topic);
      try {
        await this.topics.deleteDurably(topic);
      } catch (again) {
        throw new RocketError(`the consume queues of topic ${topic} were deleted to free space, but topics.json could still not be written (the topic is still listed): ${errText(again)}`, {
          code: 'E_PERSIST',
          cause: again,
        });
      }
      await this.removeTopicOffsets(topic);
      return;
    }
    await this.messageStore.deleteTopic(topic);
    await this.removeTopicOffsets(topic);
  }

  /** After the topic's config is gone: offsets left behind by a failure here name no topic (harmless), so say so. */
  private async removeTopicOffsets(topic: string): Promise<void> {
    try {
      await this.offsets.removeTopicDurably(topic);
    } catch (err) {
      throw new RocketError(`topic ${topic} deleted, but its consumer offsets were not removed: ${errText(err)}`, { code: 'E_PERSIST', cause: err });
    }
  }

  deleteExpiredCommitLog(): void {
    this.messageStore.retention.executeDeleteFilesManually();
  }

  isSystemTopic(topic: string): boolean {
    const c = this.config;
    return isSystemTopic(topic, { clusterName: c.brokerClusterName, brokerName: c.brokerName }) || ((c.traceTopicEnable || c.brokerTraceEnable) && topic === c.msgTraceTopicName);
  }

  isNotAllowedSendTopic(topic: string): boolean {
    return NOT_ALLOWED_SEND_TOPICS.has(topic);
  }

  /** TopicConfigManager.createTopicInSendMessageMethod. */
  async createTopicInSendMessageMethod(topic: string, defaultTopic: string, defaultTopicQueueNums: number, topicSysFlag: number): Promise<TopicConfig | undefined> {
    await this.creating.get(topic);
    const existing = this.topics.get(topic);
    if (existing) return existing;
    const template = this.topics.get(defaultTopic);
    if (!template) return undefined;
    // With autoCreateTopicEnable=false, TBW102 (if still stored from earlier runs) does not inherit.
    const perm = defaultTopic === AUTO_CREATE_TOPIC_KEY_TOPIC && !this.config.autoCreateTopicEnable ? Perm.READ | Perm.WRITE : template.perm;
    if ((perm & Perm.INHERIT) === 0) return undefined;
    const queueNums = Math.max(0, Math.min(defaultTopicQueueNums, template.writeQueueNums));
    const tc: TopicConfig = {
      topicName: topic,
      readQueueNums: queueNums,
      writeQueueNums: queueNums,
      perm: perm & ~Perm.INHERIT,
      topicFilterType: template.topicFilterType,
      topicSysFlag,
      order: false,
    };
    await this.addTopic(tc, `auto-created from ${defaultTopic}`);
    return this.topics.get(topic);
  }

  async createTopicInSendMessageBackMethod(topic: string, queueNums: number, perm: number, topicSysFlag: number): Promise<TopicConfig> {
    await this.creating.get(topic);
    const existing = this.topics.get(topic);
    if (existing) return existing;
    const tc: TopicConfig = {
      topicName: topic,
      readQueueNums: queueNums,
      writeQueueNums: queueNums,
      perm,
      topicFilterType: 'SINGLE_TAG',
      topicSysFlag,
      order: false,
    };
    await this.addTopic(tc, 'created for retries');
    return this.topics.get(topic)!;
  }

  /**
   * A topic created on the fly. As TopicConfigManager.createTopicInSend*Method, it is on disk
   * before the message that created it is written: otherwise a crash could leave acknowledged
   * messages under a topic the next start does not know (and removes). Until then the topic is
   * `creating`: topicConfig() does not show it, so concurrent sends come here and wait too. The
   * name servers are told without making the sender wait (4.9.8 registers oneway).
   */
  private async addTopic(tc: TopicConfig, why: string): Promise<void> {
    const name = tc.topicName;
    if (!this.topics.putIfAbsent(tc)) return;
    const version = this.topics.dataVersion;
    const durable = this.topics.persist().then(() => undefined);
    this.creating.set(name, durable);
    try {
      await durable;
    } catch (err) {
      // Not on disk: the topic was not created (the next write leaves it out).
      this.topics.delete(name);
      throw err;
    } finally {
      this.creating.delete(name);
    }
    this.logger.info(`topic ${name} ${why} (${tc.writeQueueNums} queues)`);
    void this.namesrv?.registration.registerTopic(name, version);
  }

  // ---- BrokerContext: groups and offsets ------------------------------------------------------

  findSubscriptionGroup(group: string): SubscriptionGroupConfig | undefined {
    const cfg = this.groups.get(group);
    if (cfg) return cfg;
    // SubscriptionGroupManager.findSubscriptionGroupConfig: auto-create when allowed or a system group.
    if (!this.config.autoCreateSubscriptionGroup && !isSystemGroup(group)) return undefined;
    this.groups.putIfAbsent(defaultSubscriptionGroupConfig(group));
    this.persist(this.groups);
    return this.groups.get(group);
  }

  subscriptionGroup(group: string): SubscriptionGroupConfig | undefined {
    return this.groups.get(group);
  }

  async updateSubscriptionGroup(cfg: SubscriptionGroupConfig): Promise<void> {
    await this.groups.upsertDurably(cfg);
  }

  consumerOffsetsBody(): string {
    return this.offsets.encodeBody();
  }

  delayOffsetsBody(): string {
    return this.delayOffsets.encodeBody();
  }

  queryOffset(group: string, topic: string, queueId: number): number {
    return this.offsets.query(group, topic, queueId) ?? -1;
  }

  commitOffset(_clientHost: string, group: string, topic: string, queueId: number, offset: number): void {
    // ali-ons commits -1 for "nothing consumed yet"; storing it would erase a real offset.
    if (offset < 0 || queueId < 0) return;
    this.offsets.commit(group, topic, queueId, offset);
    this.tracer?.onCommitted(group, topic, queueId, offset);
  }

  async commitOffsetsDurably(group: string, topic: string, offsets: ReadonlyArray<readonly [queueId: number, offset: number]>): Promise<void> {
    const valid = offsets.filter(([q, o]) => q >= 0 && o >= 0);
    await this.offsets.commitDurably(group, topic, valid);
    // An acknowledged commit (a client's on close, or an admin's reset) passes messages too.
    if (this.tracer) for (const [q, o] of valid) this.tracer.onCommitted(group, topic, q, o);
  }
}

// ---- helpers ---------------------------------------------------------------------------------

/** The connection and buffer limits of every port (server.ts), from the broker's keys. */
function serverLimits(c: BrokerConfig): Pick<RemotingServerOptions, 'maxConnections' | 'maxConnectionsPerAddress' | 'maxPendingFrameBytes'> {
  return { maxConnections: c.serverMaxConnections, maxConnectionsPerAddress: c.serverMaxConnectionsPerAddress, maxPendingFrameBytes: c.serverMaxPendingFrameBytes };
}

/**
 * The admin socket is not ACL-checked (whoever opens it administers the broker), so the store dir
 * holding it is made the owner's only (0700) before the socket is created: connect() from another
 * uid then fails with EACCES on the path lookup, whatever the socket's own mode (0600 as well) and
 * on systems that ignore socket modes. Node has no SO_PEERCRED, so this is the check; root passes
 * it (as it passes any permission check). A dir we may not chmod is left as it is, with a warning
 * (checkSecurity's admin-socket item fails then). `logger` says so only for a dir that existed
 * before this start (one the store just created is simply made 0700).
 */
function closeToOthers(dir: string, logger: Logger): void {
  const mode = fs.statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    fs.chmodSync(dir, mode & 0o700);
    logger.warn(`store dir ${dir} was mode ${mode.toString(8)}, now ${(mode & 0o700).toString(8)}: its admin socket and messages are the owner's only`);
  } catch (err) {
    logger.warn(`store dir ${dir} is mode ${mode.toString(8)} and cannot be made the owner's only (${errText(err)}): other users may reach its admin socket (run rocketctl checkSecurity)`);
  }
}

/** Tries at a free port P (listenPort 0) whose fast port P-2 is free too. */
const MAX_FREE_PORT_TRIES = 50;

/**
 * The broker port and its fast port, always listenPort - 2: clients derive the fast ("VIP")
 * address from the registered one (MixAll.brokerVIPChannel, as NettyServerConfig/BrokerController
 * set fastListenPort = listenPort - 2). With port 0 that means a free P whose P-2 is free as well.
 */
async function listenBrokerPorts(main: RemotingServer, fast: RemotingServer, host: string, port: number): Promise<{ brokerAddr: string; fastAddr: string }> {
  if (port !== 0) {
    const brokerAddr = await listenTcp(main, 'broker', host, port);
    return { brokerAddr, fastAddr: await listenTcp(fast, 'broker fast port', host, port - 2) };
  }
  for (let i = 0; i < MAX_FREE_PORT_TRIES; i++) {
    const brokerAddr = await listenTcp(main, 'broker', host, 0);
    const p = portOf(brokerAddr);
    if (p > 1024 + 2) {
      try {
        return { brokerAddr, fastAddr: await fast.listen({ host, port: p - 2 }) };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
      }
    }
    await main.close();
  }
  throw new RocketError(`no free broker port P with P-2 free for the fast port on ${host} after ${MAX_FREE_PORT_TRIES} tries`, {
    code: 'E_BIND',
    actions: ['choose a port with --listen-port (its port - 2 must be free too)'],
  });
}

function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The handlers' view of MessageStore. */
function storeAdapter(s: MessageStore, stats: BrokerStats): StorePort {
  return {
    // TOPIC_PUT_NUMS / TOPIC_PUT_SIZE count stored messages (SendMessageProcessor, after a PUT_OK).
    async put(input: PutInput) {
      const out = await s.putMessage(input);
      stats.onMessagesPut(input.topic, 1, input.body.length);
      return out;
    },
    async putBatch(inputs: PutInput[]) {
      const out = await s.putMessages(inputs);
      for (const i of inputs) stats.onMessagesPut(i.topic, 1, i.body.length);
      return out;
    },
    async get(topic, queueId, offset, maxMsgNums, filter, maxBytes) {
      const r = await s.getMessage(topic, queueId, offset, maxMsgNums, filter, maxBytes);
      return { status: r.status as GetMessageStatus, nextBeginOffset: r.nextBeginOffset, minOffset: r.minOffset, maxOffset: r.maxOffset, records: r.records, suggestPullingFromSlave: r.suggestPullingFromSlave };
    },
    maxOffset: (topic, queueId) => s.getMaxOffsetInQueue(topic, queueId),
    minOffset: (topic, queueId) => s.getMinOffsetInQueue(topic, queueId),
    offsetByTime: (topic, queueId, ts) => s.getOffsetInQueueByTime(topic, queueId, ts),
    earliestTime: (topic, queueId) => s.getEarliestMessageTime(topic, queueId),
    readRecord: (offset) => s.readRecord(offset),
    lookMessage: (offset) => s.lookMessageByOffset(offset),
    async query(topic, key, maxNum, beginMs, endMs) {
      const r = await s.queryMessage(topic, key, maxNum, beginMs, endMs);
      return { records: r.records, indexLastUpdateTimestamp: r.lastUpdateTimestamp, indexLastUpdatePhyoffset: r.lastUpdatePhyOffset };
    },
    // DefaultMessageStore.checkInDiskByConsumeOffset.
    async isFarBehind(topic, queueId, offset) {
      const unit = s.consumeQueues.get(topic, queueId)?.get(offset, 1)[0];
      if (!unit) return false;
      return s.inDisk(unit.commitLogOffset);
    },
  };
}


// ---- name servers ------------------------------------------------------------------------------


interface NamesrvLinkOptions {
  config: BrokerConfig;
  /** brokerIP1:actualListenPort. */
  brokerAddr: string;
  client: RemotingClient;
  topics: TopicConfigManager;
  logger: Logger;
}

/**
 * The broker's side of the name servers: runs the embedded one (if configured) and registers with
 * all of them (BrokerRegistration: full registrations on the period, changed topics in between).
 */
/**
 * A store written without DLedger may become a DLedger member's: the member's first start seals the
 * old commit log and continues after it (DLedgerCommitLog#recover; docs/dledger.md "Converting a
 * store"). The reverse is refused: a commit log without DLedger cannot read the DLedger data files,
 * so the consume queues would point into files it does not know, and recovery would cut them.
 */
function checkCommitLogKind(c: BrokerConfig): void {
  const root = c.storePathRootDir;
  const hasFiles = (dir: string) => {
    try {
      return fs.readdirSync(dir).some((f) => /^\d{20}$/.test(f));
    } catch {
      return false;
    }
  };
  // A commit log written without DLedger (commitlog/) is converted by the DLedger member's first
  // start (DLedgerCommitLog#recover): it stays below the DLedger log, read-only. Not the reverse.
  let others: string[] = [];
  try {
    others = fs.readdirSync(root).filter((d) => d.startsWith('dledger-') && hasFiles(path.join(root, d, 'data')));
  } catch {
    // no store yet
  }
  if (!c.enableDLegerCommitLog && others.length > 0) {
    throw new ConfigError(`${root} holds a DLedger commit log (${others.join(', ')}): start it with enableDLegerCommitLog=true and its dLegerPeers/dLegerSelfId`, ['or use another --store-dir']);
  }
}

class BrokerNamesrvLink {
  private embedded: { close(): Promise<void> } | undefined;
  private embeddedAddr: string | undefined;
  readonly registration: BrokerRegistration;

  constructor(private readonly o: NamesrvLinkOptions) {
    const c = o.config;
    this.registration = new BrokerRegistration({
      identity: () => this.identity(),
      namesrvAddrs: () => this.addresses,
      client: o.client,
      topics: o.topics,
      compressed: c.compressedRegister,
      brokerPermission: () => c.brokerPermission,
      periodMs: c.registerNameServerPeriod,
      logger: o.logger,
    });
  }

  get addresses(): string[] {
    return [...(this.embeddedAddr ? [this.embeddedAddr] : []), ...this.o.config.namesrvAddr];
  }

  /** The embedded name server (embeddedNamesrv=true), once started. */
  nameServer: NameServer | undefined;

  async startEmbedded(host: string, port: number): Promise<string> {
    const ns = new NameServer({
      logger: this.o.logger,
      // Apache keeps ~/namesrv/kvConfig.json; ours lives with the store it serves.
      kvConfigPath: path.join(this.o.config.storePathRootDir, 'namesrv', 'kvConfig.json'),
    });
    this.nameServer = ns;
    this.embedded = ns;
    const server = new RemotingServer({ name: 'namesrv', logger: withoutListenErrors(this.o.logger), ...serverLimits(this.o.config) });
    ns.attach(server);
    this.embeddedServer = server;
    this.embeddedAddr = await listenTcp(server, 'name server', host, port);
    return this.embeddedAddr;
  }

  private embeddedServer: RemotingServer | undefined;

  private identity(): BrokerIdentity {
    const c = this.o.config;
    return { clusterName: c.brokerClusterName, brokerName: c.brokerName, brokerAddr: this.o.brokerAddr, brokerId: c.brokerId };
  }

  async unregisterAll(): Promise<void> {
    await Promise.all(this.addresses.map((a) => unregisterBroker(this.o.client, a, this.identity(), NAMESRV_REQUEST_TIMEOUT_MS).catch(() => undefined)));
  }

  async close(): Promise<void> {
    await this.embeddedServer?.close();
    this.embeddedServer = undefined;
    await this.embedded?.close();
    this.embedded = undefined;
  }
}
