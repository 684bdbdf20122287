/**
 * Broker configuration: a RocketMQ-style `broker.conf` (java.util.Properties syntax, RocketMQ's key
 * names from BrokerConfig / MessageStoreConfig / NettyServerConfig), command-line
 * overrides, defaults, and validation. Every value goes through one table of key specs, so a flag and
 * a file entry are checked the same way. Unknown keys are warnings (RocketMQ ignores them silently,
 * which hides typos); invalid values are one ConfigError naming the key and what is expected.
 */
import { AUDIT_FILE_MAX_BYTES_DEFAULT } from '../util/audit-log.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_PENDING_FRAME_BYTES } from '../remoting/server.js';
import os from 'node:os';
import path from 'node:path';
import { isIP } from 'node:net';
import { ConfigError } from '../errors/index.js';
import { DEFAULT_RETENTION, DEFAULT_STORE_DIR, defaultStoreConfig, parseDelayLevels, parseDeleteWhen } from './store/store-config.js';
import { DEFAULT_MESSAGE_DELAY_LEVEL, type FlushDiskType, type RetentionConfig, type StoreConfig } from './store/types.js';
import { parseSocketAddr } from '../protocol/message.js';
import { topicNameProblem } from '../protocol/validate.js';
import { RMQ_SYS_TRACE_TOPIC } from '../protocol/names.js';

/** Retention keys (store/clean-service.ts) are MessageStoreConfig's, passed to the store as they are. */
export interface BrokerConfig extends Omit<RetentionConfig, 'testOnlyFileReservedTimeMs'> {
  brokerClusterName: string;
  brokerName: string;
  brokerId: number;
  /** Advertised address (STOREHOST, name server registration). */
  brokerIP1: string;
  /** Address the TCP servers bind to (rocketctl: defaults to brokerIP1, i.e. loopback). */
  bindAddress: string;
  listenPort: number;
  /** External name servers ("host:port;host:port"), registered with in addition to the embedded one. */
  namesrvAddr: string[];
  embeddedNamesrv: boolean;
  namesrvListenPort: number;
  /** Prometheus endpoint port (rocketctl's key; -1, the default, = no endpoint; 0 = any free port). */
  metricsPort: number;
  /** Address the metrics endpoint binds to (rocketctl's key; default loopback). */
  metricsHost: string;
  storePathRootDir: string;
  flushDiskType: FlushDiskType;
  flushIntervalCommitLog: number;
  flushIntervalConsumeQueue: number;
  syncFlushTimeout: number;
  mappedFileSizeCommitLog: number;
  mappedFileSizeConsumeQueue: number;
  maxMessageSize: number;
  messageIndexEnable: boolean;
  maxHashSlotNum: number;
  maxIndexNum: number;
  checkCRCOnRecover: boolean;
  messageDelayLevel: string;
  autoCreateTopicEnable: boolean;
  autoCreateSubscriptionGroup: boolean;
  defaultTopicQueueNums: number;
  clusterTopicEnable: boolean;
  brokerTopicEnable: boolean;
  traceTopicEnable: boolean;
  msgTraceTopicName: string;
  /** rocketctl's: the broker writes trace records of every message itself (trace/broker-tracer.ts); off by default. */
  brokerTraceEnable: boolean;
  brokerPermission: number;
  /** MessageStoreConfig#enableDLegerCommitLog: the commit log is a DLedger group's replicated log (docs/dledger.md). */
  enableDLegerCommitLog: boolean;
  /** MessageStoreConfig#dLegerGroup (default: the broker name, which every member of a group shares). */
  dLegerGroup: string;
  /** MessageStoreConfig#dLegerPeers: `n0-host:port;n1-host:port;...`, the group's DLedger addresses. */
  dLegerPeers: string;
  /** MessageStoreConfig#dLegerSelfId: this node's id among dLegerPeers. */
  dLegerSelfId: string;
  /**
   * MessageStoreConfig#preferredLeaderId (DLedgerConfig#preferredLeaderIds): when set, the leader
   * hands leadership to this member whenever it is live and caught up; '' (default) = none. Must
   * be one of the ids in dLegerPeers.
   */
  preferredLeaderId: string;
  /**
   * DLedgerConfig's election timing (rocketctl's keys; RocketMQ does not expose them in broker.conf):
   * the leader's heartbeat period, how many missed heartbeats end a leadership, and the random
   * pause range between vote rounds. Defaults: 1000, 3, 300, 1000 (DLedgerConfig's heartbeat is
   * 2000 ms; half that detects a dead leader in 3 s instead of 6, so failover takes under 5 s).
   */
  dLegerHeartBeatTimeIntervalMs: number;
  dLegerMaxHeartBeatLeak: number;
  dLegerMinVoteIntervalMs: number;
  dLegerMaxVoteIntervalMs: number;
  longPollingEnable: boolean;
  shortPollingTimeMills: number;
  /**
   * BrokerConfig#slaveReadEnable (default false): pulls may be sent to a slave. With it, a pull
   * that ends far behind the log's end (accessMessageInMemoryMaxRatio) answers with the group's
   * whichBrokerWhenConsumeSlowly as suggestWhichBrokerId, else with the group's brokerId; without
   * it every answer suggests the master (PullMessageProcessor#processRequest).
   */
  slaveReadEnable: boolean;
  /** MessageStoreConfig#accessMessageInMemoryMaxRatio: percent of RAM (default 40; StoreConfig says what it decides). */
  accessMessageInMemoryMaxRatio: number;
  notifyConsumerIdsChangedEnable: boolean;
  registerNameServerPeriod: number;
  /** REGISTER_BROKER bodies zlib-compressed (Apache's compressedRegister; the body drops topicSysFlag/order). */
  compressedRegister: boolean;
  /** The periodic registration always sends its body; false asks QUERY_DATA_VERSION first (Apache's forceRegister). */
  forceRegister: boolean;
  flushConsumerOffsetInterval: number;
  flushDelayOffsetInterval: number;
  maxTransferBytesOnMessageInMemory: number;
  maxTransferCountOnMessageInMemory: number;
  /** A queue lock (LOCK_BATCH_MQ) not renewed for this long is free (Apache: system property rocketmq.broker.rebalance.lockMaxLiveTime, 60 s). */
  rebalanceLockMaxLiveTime: number;
  defaultQueryMaxNum: number;
  maxMsgsNumBatch: number;
  regionId: string;
  traceOn: boolean;
  rejectTransactionMessage: boolean;
  /** A half message younger than this (ms, by its born time) is not checked yet (BrokerConfig.transactionTimeOut). */
  transactionTimeOut: number;
  /** Checks per half message before it is parked in TRANS_CHECK_MAX_TIME_TOPIC (transactionCheckMax). */
  transactionCheckMax: number;
  /** Period of the half-message check pass, ms (transactionCheckInterval). */
  transactionCheckInterval: number;
  /** Plain ACL on the TCP ports (Apache's aclEnable; acl/acl-service.ts). */
  aclEnable: boolean;
  /** rocketctl's: the plain_acl.yml to use instead of $ROCKETMQ_HOME/conf/plain_acl.yml; unset by default. */
  plainAclFile?: string;
  /** rocketctl's: size of one audit log file (src/util/audit-log.ts); the log keeps two. */
  auditFileMaxBytes: number;
  /** rocketctl's: connections one port (broker, fast, name server, local socket) holds at most (server.ts). */
  serverMaxConnections: number;
  /** rocketctl's: connections from one IP address one TCP port holds at most (server.ts). */
  serverMaxConnectionsPerAddress: number;
  /** rocketctl's: bytes of unfinished frames one port buffers over all its connections (server.ts). */
  serverMaxPendingFrameBytes: number;
  /** rocketctl's test knob: retention in ms instead of fileReservedTime hours; unset (not sent) by default. */
  testOnlyFileReservedTimeMs?: number;
}

type Raw = Record<string, string>;

interface KeySpec {
  /** Parse and validate a raw string; throw Error(message) when invalid. */
  parse: (v: string) => unknown;
  /** Field of BrokerConfig it sets (default: the key itself). */
  field?: keyof BrokerConfig;
}

// ---- value parsers ------------------------------------------------------------------------------

function int(min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v)) throw new Error(`expected an integer, got ${JSON.stringify(v)}`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`expected an integer in ${min}..${max}, got ${v}`);
    return n;
  };
}

/** Java Boolean.parseBoolean accepts anything ("yes" → false); we refuse what is not true/false. */
function bool(v: string): boolean {
  const l = v.toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  throw new Error(`expected true or false, got ${JSON.stringify(v)}`);
}

function nonEmpty(v: string): string {
  if (v === '') throw new Error('must not be empty');
  return v;
}

function topicLike(v: string): string {
  const why = topicNameProblem(v);
  if (why) throw new Error(`${JSON.stringify(v)} cannot be used (it names a topic; ${why})`);
  return v;
}

function ipAddress(v: string): string {
  if (v !== 'localhost' && isIP(v) === 0) throw new Error(`expected an IP address, got ${JSON.stringify(v)}`);
  return v === 'localhost' ? '127.0.0.1' : v;
}

function hostPortList(v: string): string[] {
  const list = v
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const a of list) {
    const i = a.lastIndexOf(':');
    const port = Number(a.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`expected host:port[;host:port...], got ${JSON.stringify(a)}`);
    }
  }
  return list;
}

function flushType(v: string): FlushDiskType {
  if (v === 'ASYNC_FLUSH' || v === 'SYNC_FLUSH') return v;
  throw new Error(`expected ASYNC_FLUSH or SYNC_FLUSH, got ${JSON.stringify(v)}`);
}

function delayLevels(v: string): string {
  try {
    parseDelayLevels(v);
  } catch (err) {
    throw new Error(err instanceof Error ? err.message : String(err));
  }
  return v.trim();
}

function dir(v: string): string {
  if (v === '') throw new Error('must not be empty');
  return expandHome(v);
}

function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return path.resolve(p);
}

const MAX_INT = 2147483647;
const GIB = 1024 * 1024 * 1024;

/** RocketMQ key → how to read it. Java names kept verbatim, typos included (shortPollingTimeMills). */
const SPECS: Record<string, KeySpec> = {
  brokerClusterName: { parse: (v) => topicLike(nonEmpty(v)) },
  brokerName: { parse: (v) => topicLike(nonEmpty(v)) },
  // Only masters: the embedded broker has no HA/slave mode (brokerRole SLAVE is refused too).
  brokerId: {
    parse: (v) => {
      const n = int(0, MAX_INT)(v);
      if (n !== 0) throw new Error(`only a master (brokerId=0) is supported by the embedded broker, got ${n}`);
      return n;
    },
  },
  enableDLegerCommitLog: { parse: bool },
  dLegerGroup: { parse: (v) => topicLike(nonEmpty(v)) },
  dLegerPeers: { parse: dledgerPeers },
  dLegerSelfId: { parse: nonEmpty },
  preferredLeaderId: { parse: (v) => v.trim() },
  dLegerHeartBeatTimeIntervalMs: { parse: int(10, 60_000) },
  dLegerMaxHeartBeatLeak: { parse: int(1, 100) },
  dLegerMinVoteIntervalMs: { parse: int(1, 60_000) },
  dLegerMaxVoteIntervalMs: { parse: int(1, 60_000) },
  brokerIP1: { parse: ipAddress },
  bindAddress: { parse: ipAddress },
  // Fast port = listenPort - 2 (apache/rocketmq BrokerController.initialize), so ports 1 and 2 cannot work; 0 = pick free ports.
  listenPort: {
    parse: (v) => {
      const n = int(0, 65535)(v);
      if (n === 1 || n === 2) throw new Error(`the fast port is listenPort-2, so listenPort must be 0 or >= 3 (got ${n})`);
      return n;
    },
  },
  namesrvAddr: { parse: hostPortList },
  embeddedNamesrv: { parse: bool },
  namesrvListenPort: { parse: int(0, 65535) },
  metricsPort: { parse: int(0, 65535) },
  metricsHost: { parse: ipAddress },
  storePathRootDir: { parse: dir },
  flushDiskType: { parse: flushType },
  flushIntervalCommitLog: { parse: int(1, 3_600_000) },
  flushIntervalConsumeQueue: { parse: int(1, 3_600_000) },
  syncFlushTimeout: { parse: int(1, 3_600_000) },
  mappedFileSizeCommitLog: { parse: int(4096, 64 * GIB) },
  mappedFileSizeConsumeQueue: {
    parse: (v) => {
      const n = int(20, GIB)(v);
      if (n % 20 !== 0) throw new Error(`must be a multiple of 20 (one consume queue unit), got ${n}`);
      return n;
    },
  },
  maxMessageSize: { parse: int(1, 64 * 1024 * 1024) },
  messageIndexEnable: { parse: bool },
  maxHashSlotNum: { parse: int(1, 50_000_000) },
  maxIndexNum: { parse: int(1, 200_000_000) },
  checkCRCOnRecover: { parse: bool },
  messageDelayLevel: { parse: delayLevels },
  autoCreateTopicEnable: { parse: bool },
  autoCreateSubscriptionGroup: { parse: bool },
  defaultTopicQueueNums: { parse: int(1, 1024) },
  clusterTopicEnable: { parse: bool },
  brokerTopicEnable: { parse: bool },
  traceTopicEnable: { parse: bool },
  msgTraceTopicName: { parse: (v) => topicLike(nonEmpty(v)) },
  brokerTraceEnable: { parse: bool },
  brokerPermission: { parse: int(0, 7) },
  longPollingEnable: { parse: bool },
  shortPollingTimeMills: { parse: int(1, 60_000) },
  slaveReadEnable: { parse: bool },
  accessMessageInMemoryMaxRatio: { parse: int(0, 100) },
  notifyConsumerIdsChangedEnable: { parse: bool },
  // BrokerController clamps the period to [10 s, 60 s]; we refuse values outside instead of clamping.
  registerNameServerPeriod: { parse: int(10_000, 60_000) },
  compressedRegister: { parse: bool },
  forceRegister: { parse: bool },
  flushConsumerOffsetInterval: { parse: int(100, 3_600_000) },
  flushDelayOffsetInterval: { parse: int(100, 3_600_000) },
  maxTransferBytesOnMessageInMemory: { parse: int(1024, 64 * 1024 * 1024) },
  maxTransferCountOnMessageInMemory: { parse: int(1, 65_536) },
  rebalanceLockMaxLiveTime: { parse: int(100, 3_600_000) },
  defaultQueryMaxNum: { parse: int(1, 65_536) },
  maxMsgsNumBatch: { parse: int(1, 65_536) },
  regionId: { parse: nonEmpty },
  traceOn: { parse: bool },
  rejectTransactionMessage: { parse: bool },
  // Java takes any long; we refuse what cannot work (a negative timeout, a zero check budget).
  transactionTimeOut: { parse: int(0, 86_400_000) },
  transactionCheckMax: { parse: int(1, 10_000) },
  transactionCheckInterval: { parse: int(100, 86_400_000) },
  // Retention. Hours, as Apache (an int; 0 = every segment but the one being written expires).
  fileReservedTime: { parse: int(0, 1_000_000) },
  deleteWhen: {
    parse: (v) => {
      try {
        parseDeleteWhen(v);
      } catch (err) {
        throw new Error(err instanceof Error ? err.message : String(err));
      }
      return v.trim();
    },
  },
  // Apache takes any int and clamps to 10..95 where it is used; a value outside 0..100 is no percentage.
  diskMaxUsedSpaceRatio: { parse: int(0, 100) },
  cleanFileForciblyEnable: { parse: bool },
  cleanResourceInterval: { parse: int(10, 86_400_000) },
  deleteCommitLogFilesInterval: { parse: int(0, 60_000) },
  deleteConsumeQueueFilesInterval: { parse: int(0, 60_000) },
  aclEnable: { parse: bool },
  plainAclFile: { parse: nonEmpty },
  auditFileMaxBytes: { parse: int(1024, 1024 * 1024 * 1024) },
  serverMaxConnections: { parse: int(1, 1_000_000) },
  serverMaxConnectionsPerAddress: { parse: int(1, 1_000_000) },
  serverMaxPendingFrameBytes: { parse: int(16 * 1024 * 1024, 64 * GIB) },
  // Ours, for tests: sub-hour retention (fileReservedTime is whole hours). 0 = off.
  testOnlyFileReservedTimeMs: { parse: int(0, 1_000_000_000) },
};

/**
 * Keys UPDATE_BROKER_CONFIG can change while the broker runs: each is read from the config at every
 * request (or check pass) that uses it, so a new value takes effect at once. brokerPermission also
 * re-registers with the name servers (as AdminBrokerProcessor#updateBrokerConfig). Every other key
 * is read once at start (ports, paths, store geometry, flush type, timers, system topics).
 */
/**
 * Retention keys that change at run time (MessageStoreConfig getters read at every clean pass);
 * cleanResourceInterval is Apache's schedule period, fixed at start.
 */
const RETENTION_RUNTIME_KEYS_LIST = [
  'fileReservedTime',
  'deleteWhen',
  'diskMaxUsedSpaceRatio',
  'cleanFileForciblyEnable',
  'deleteCommitLogFilesInterval',
  'deleteConsumeQueueFilesInterval',
  'testOnlyFileReservedTimeMs',
];
export const RETENTION_RUNTIME_KEYS: ReadonlySet<string> = new Set(RETENTION_RUNTIME_KEYS_LIST);

export const RUNTIME_KEYS: ReadonlySet<string> = new Set([
  'autoCreateTopicEnable',
  'autoCreateSubscriptionGroup',
  'brokerPermission',
  'traceOn',
  'rejectTransactionMessage',
  'regionId',
  'defaultQueryMaxNum',
  'maxMsgsNumBatch',
  'maxTransferCountOnMessageInMemory',
  'maxTransferBytesOnMessageInMemory',
  'transactionTimeOut',
  'transactionCheckMax',
  'slaveReadEnable',
  ...RETENTION_RUNTIME_KEYS_LIST,
]);

/** Parse a value of a RocketMQ key as broker.conf would (throws Error saying what is expected). */
export function parseConfigValue(key: string, raw: string): { field: keyof BrokerConfig; value: unknown } {
  const spec = SPECS[key];
  if (!spec) throw new Error(`unknown key ${key}`);
  return { field: spec.field ?? (key as keyof BrokerConfig), value: spec.parse(raw) };
}

/**
 * RocketMQ keys we recognise but that change nothing here (threads, HA, disk cleaning, ACL, ...):
 * warned as "no effect" rather than "unknown", so a copied broker.conf reads as expected.
 */
const NO_EFFECT_KEYS = new Set([
  'brokerIP2',
  'haListenPort',
  'brokerRole',
  // Apache waits for readers of a segment before unmapping it; we unlink at once (clean-service.ts).
  'destroyMapedFileIntervalForcibly',
  'redeleteHangedFileInterval',
  'storePathCommitLog',
  'storePathConsumeQueue',
  'storePathIndex',
  'storeCheckpoint',
  'abortFile',
  'sendMessageThreadPoolNums',
  'pullMessageThreadPoolNums',
  'useReentrantLockWhenPutMessage',
  'transientStorePoolEnable',
  'waitTimeMillsInSendQueue',
  'enablePropertyFilter',
  'transferMsgByHeap',
  'serverWorkerThreads',
  'serverSelectorThreads',
  'flushCommitLogLeastPages',
  'flushCommitLogThoroughInterval',
  'flushConsumeQueueLeastPages',
  'osPageCacheBusyTimeOutMills',
]);

export function defaultBrokerConfig(): BrokerConfig {
  return {
    brokerClusterName: 'DefaultCluster',
    // Java defaults to the host name; host names may contain dots, which cannot name the broker topic.
    brokerName: 'broker-a',
    brokerId: 0,
    enableDLegerCommitLog: false,
    dLegerGroup: '',
    dLegerPeers: '',
    dLegerSelfId: '',
    preferredLeaderId: '',
    dLegerHeartBeatTimeIntervalMs: 1000,
    dLegerMaxHeartBeatLeak: 3,
    dLegerMinVoteIntervalMs: 300,
    dLegerMaxVoteIntervalMs: 1000,
    brokerIP1: '127.0.0.1',
    bindAddress: '127.0.0.1',
    listenPort: 10911,
    namesrvAddr: [],
    embeddedNamesrv: true,
    namesrvListenPort: 9876,
    metricsPort: -1,
    metricsHost: '127.0.0.1',
    storePathRootDir: DEFAULT_STORE_DIR,
    flushDiskType: 'ASYNC_FLUSH',
    flushIntervalCommitLog: 500,
    flushIntervalConsumeQueue: 1000,
    syncFlushTimeout: 5000,
    mappedFileSizeCommitLog: GIB,
    mappedFileSizeConsumeQueue: 300_000 * 20,
    maxMessageSize: 4 * 1024 * 1024,
    messageIndexEnable: true,
    maxHashSlotNum: 5_000_000,
    maxIndexNum: 20_000_000,
    checkCRCOnRecover: true,
    messageDelayLevel: DEFAULT_MESSAGE_DELAY_LEVEL,
    autoCreateTopicEnable: true,
    autoCreateSubscriptionGroup: true,
    defaultTopicQueueNums: 8,
    clusterTopicEnable: true,
    brokerTopicEnable: true,
    traceTopicEnable: false,
    msgTraceTopicName: RMQ_SYS_TRACE_TOPIC,
    brokerTraceEnable: false,
    brokerPermission: 6,
    longPollingEnable: true,
    shortPollingTimeMills: 1000,
    slaveReadEnable: false,
    accessMessageInMemoryMaxRatio: 40,
    notifyConsumerIdsChangedEnable: true,
    registerNameServerPeriod: 30_000,
    compressedRegister: false,
    forceRegister: true,
    flushConsumerOffsetInterval: 5000,
    flushDelayOffsetInterval: 10_000,
    maxTransferBytesOnMessageInMemory: 256 * 1024,
    maxTransferCountOnMessageInMemory: 32,
    rebalanceLockMaxLiveTime: 60_000,
    defaultQueryMaxNum: 32,
    maxMsgsNumBatch: 64,
    regionId: 'DefaultRegion',
    traceOn: true,
    rejectTransactionMessage: false,
    transactionTimeOut: 6000,
    transactionCheckMax: 15,
    transactionCheckInterval: 60_000,
    aclEnable: false,
    auditFileMaxBytes: AUDIT_FILE_MAX_BYTES_DEFAULT,
    serverMaxConnections: DEFAULT_MAX_CONNECTIONS,
    serverMaxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    serverMaxPendingFrameBytes: DEFAULT_MAX_PENDING_FRAME_BYTES,
    ...retentionDefaults(),
  };
}

/** The store's retention defaults, without the test knob (left unset, so GET_BROKER_CONFIG omits it). */
function retentionDefaults(): Omit<RetentionConfig, 'testOnlyFileReservedTimeMs'> {
  const { testOnlyFileReservedTimeMs: _unset, ...rest } = DEFAULT_RETENTION;
  return rest;
}

// ---- assembling a config ------------------------------------------------------------------------

interface ConfigSource {
  /** Properties from broker.conf (in file order), with where they came from for messages. */
  file?: { path: string; entries: Array<{ key: string; value: string; line: number }> };
  /** Overrides from flags, as RocketMQ key → raw string (they win over the file). */
  overrides?: Raw;
}

interface LoadedConfig {
  config: BrokerConfig;
  /** One line each: unknown keys, keys with no effect here. */
  warnings: string[];
}

/**
 * Build the effective config: defaults < file < flags. Throws ConfigError on the first invalid
 * value (one line: where, which key, what is expected).
 */
export function buildBrokerConfig(src: ConfigSource): LoadedConfig {
  const config = defaultBrokerConfig();
  const warnings: string[] = [];
  const set = new Set<string>();
  const apply = (key: string, value: string, where: string) => {
    const spec = SPECS[key];
    if (!spec) {
      if (NO_EFFECT_KEYS.has(key)) {
        if (key === 'brokerRole' && value.toUpperCase() === 'SLAVE') {
          throw new ConfigError(`${where}: brokerRole=SLAVE is not supported: the embedded broker is a master only`);
        }
        warnings.push(`${where}: ${key} has no effect in rocketctl's embedded broker (ignored)`);
      } else {
        warnings.push(`${where}: unknown key ${key} (ignored)`);
      }
      return;
    }
    let parsed: unknown;
    try {
      parsed = spec.parse(value);
    } catch (err) {
      throw new ConfigError(`${where}: invalid ${key}: ${err instanceof Error ? err.message : String(err)}`, [
        'fix the value, or remove the line to use the default',
      ]);
    }
    (config as unknown as Record<string, unknown>)[spec.field ?? key] = parsed;
    set.add(key);
  };
  if (src.file) {
    for (const e of src.file.entries) apply(e.key, e.value, `${src.file.path}:${e.line}`);
  }
  for (const [key, value] of Object.entries(src.overrides ?? {})) apply(key, value, `--${flagNameFor(key)}`);

  // An external name server means "don't start our own", unless embeddedNamesrv was set explicitly.
  if (config.namesrvAddr.length > 0 && !set.has('embeddedNamesrv')) config.embeddedNamesrv = false;
  // Listen where we advertise unless told otherwise (loopback by default: never expose by accident).
  if (!set.has('bindAddress')) config.bindAddress = config.brokerIP1;
  else if (!set.has('brokerIP1')) config.brokerIP1 = advertisedFor(config.bindAddress);
  if ((config.testOnlyFileReservedTimeMs ?? 0) > 0) {
    warnings.push(`testOnlyFileReservedTimeMs=${config.testOnlyFileReservedTimeMs}: commit log segments are kept ${config.testOnlyFileReservedTimeMs} ms, not fileReservedTime=${config.fileReservedTime} h (a rocketctl test setting)`);
  }
  if (!config.embeddedNamesrv && config.namesrvAddr.length === 0) {
    warnings.push('embeddedNamesrv=false and no namesrvAddr: clients will find this broker only by its address');
  }
  if (config.enableDLegerCommitLog) {
    // DLedgerCommitLog's constructor: a group needs its peers and this node's place among them.
    if (!config.dLegerPeers) throw new ConfigError('enableDLegerCommitLog=true needs dLegerPeers (n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913)');
    const ids = config.dLegerPeers.split(';').map((p) => p.slice(0, p.indexOf('-')));
    if (!ids.includes(config.dLegerSelfId)) throw new ConfigError(`dLegerSelfId=${config.dLegerSelfId || '(unset)'} is not one of the ids in dLegerPeers (${ids.join(', ')})`);
    if (config.preferredLeaderId && !ids.includes(config.preferredLeaderId)) throw new ConfigError(`preferredLeaderId=${config.preferredLeaderId} is not one of the ids in dLegerPeers (${ids.join(', ')})`);
    if (!set.has('dLegerGroup')) config.dLegerGroup = config.brokerName;
    if (config.dLegerMinVoteIntervalMs > config.dLegerMaxVoteIntervalMs) throw new ConfigError(`dLegerMinVoteIntervalMs=${config.dLegerMinVoteIntervalMs} is above dLegerMaxVoteIntervalMs=${config.dLegerMaxVoteIntervalMs}`);
  }
  if (config.brokerClusterName === config.brokerName) {
    throw new ConfigError(`brokerClusterName and brokerName are both ${config.brokerName}: they name two different system topics`);
  }
  // Validate the store side once more as the store itself will (geometry, intervals).
  toStoreConfig(config, config.listenPort || 10911);
  return { config, warnings };
}

/**
 * What to advertise when only a bind address was chosen: that address, or for a wildcard the first
 * non-internal IPv4 address (as RemotingUtil.getLocalAddress picks brokerIP1), else loopback.
 */
function advertisedFor(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** dLegerPeers: `id-host:port` entries separated by ';', ids unique (DLedgerConfig#getPeers, MemberState's parsing). */
function dledgerPeers(v: string): string {
  const peers = v.split(';').map((p) => p.trim()).filter((p) => p !== '');
  if (peers.length === 0) throw new Error('expected id-host:port;id-host:port;...');
  const ids = new Set<string>();
  for (const p of peers) {
    const dash = p.indexOf('-');
    if (dash <= 0) throw new Error(`${p}: expected id-host:port`);
    hostPortList(p.slice(dash + 1));
    const id = p.slice(0, dash);
    if (ids.has(id)) throw new Error(`id ${id} appears twice`);
    ids.add(id);
  }
  return peers.join(';');
}

/** Map the rocketctl-side flag name used in messages for a RocketMQ key. */
function flagNameFor(key: string): string {
  return FLAG_KEYS[key] ?? key;
}

/** Flags of `broker start` and the RocketMQ key each one sets. */
const FLAG_KEYS: Record<string, string> = {
  storePathRootDir: 'store-dir',
  listenPort: 'listen-port',
  namesrvListenPort: 'namesrv-port',
  metricsPort: 'metrics-port',
  metricsHost: 'metrics-host',
  flushDiskType: 'flush-disk-type',
  namesrvAddr: 'namesrvAddr',
  brokerIP1: 'broker-ip',
  bindAddress: 'bind',
  brokerName: 'broker-name',
  brokerClusterName: 'cluster',
  embeddedNamesrv: 'embedded-namesrv',
  messageDelayLevel: 'delay-levels',
};

/** The store's config from the broker's (the store host is our advertised address and actual port). */
export function toStoreConfig(c: BrokerConfig, actualListenPort: number): StoreConfig {
  return defaultStoreConfig({
    storePathRootDir: c.storePathRootDir,
    mappedFileSizeCommitLog: c.mappedFileSizeCommitLog,
    mappedFileSizeConsumeQueue: c.mappedFileSizeConsumeQueue,
    flushDiskType: c.flushDiskType,
    flushIntervalCommitLog: c.flushIntervalCommitLog,
    flushIntervalConsumeQueue: c.flushIntervalConsumeQueue,
    syncFlushTimeout: c.syncFlushTimeout,
    maxMessageSize: c.maxMessageSize,
    messageIndexEnable: c.messageIndexEnable,
    maxHashSlotNum: c.maxHashSlotNum,
    maxIndexNum: c.maxIndexNum,
    checkCRCOnRecover: c.checkCRCOnRecover,
    storeHost: parseSocketAddr(`${c.brokerIP1.includes(':') ? `[${c.brokerIP1}]` : c.brokerIP1}:${actualListenPort}`),
    delayLevelMillis: parseDelayLevels(c.messageDelayLevel),
    accessMessageInMemoryMaxRatio: c.accessMessageInMemoryMaxRatio,
    ...retentionOf(c),
  });
}

/** The retention keys of a broker config, as the store takes them (the test knob unset = 0). */
export function retentionOf(c: BrokerConfig): RetentionConfig {
  const out = { ...DEFAULT_RETENTION };
  for (const k of Object.keys(out) as Array<keyof RetentionConfig>) {
    const v = c[k];
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

