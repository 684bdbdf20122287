/**
 * What handlers see of the broker. BrokerController implements it over the store and the config
 * managers; handlers hold no state of their own beyond what is passed here.
 */
import type { DLedgerState } from '../../protocol/dledger-state.js';
import type { BrokerConfig } from '../broker-config.js';
import type { BrokerConfiguration } from '../configuration.js';
import type { ClientManager } from '../client-manager.js';
import type { PullRequestHoldService } from '../long-polling.js';
import type { Logger } from '../../remoting/server.js';
import type { DataVersion, SubscriptionGroupConfig, TopicConfig, TopicConfigSerializeWrapper } from '../../protocol/bodies.js';
import type { MessageFields, MessageRecord, SocketAddr } from '../../protocol/message.js';
import type { TransactionalMessageService } from '../transaction/transactional-service.js';
import type { BrokerStats } from '../stats/broker-stats.js';
import type { AclService } from '../acl/acl-service.js';
import type { AuditLog } from '../../util/audit-log.js';
import type { BrokerTracer } from '../trace/broker-tracer.js';
import type { GetMessageStatus } from '../store/message-store.js';

/** Store read statuses: the store's own type (DefaultMessageStore.getMessage). */
export type { GetMessageStatus };

/** A message as handlers hand it to the store. */
export type PutInput = MessageFields;

export interface PutOutput {
  commitLogOffset: number;
  queueOffset: number;
  offsetMsgId: string;
  storeTimestamp: number;
}

interface GetOutput {
  status: GetMessageStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  records: Buffer[];
  /** The pull ended far behind the log's end (accessMessageInMemoryMaxRatio): a slave may serve the next. */
  suggestPullingFromSlave: boolean;
}

interface QueryOutput {
  records: Buffer[];
  indexLastUpdateTimestamp: number;
  indexLastUpdatePhyoffset: number;
}

/** The store operations handlers use (a thin adapter over MessageStore). */
export interface StorePort {
  put(input: PutInput): Promise<PutOutput>;
  putBatch(inputs: PutInput[]): Promise<PutOutput[]>;
  get(topic: string, queueId: number, offset: number, maxMsgNums: number, filter: ((tagsCode: number) => boolean) | undefined, maxBytes: number): Promise<GetOutput>;
  maxOffset(topic: string, queueId: number): number;
  minOffset(topic: string, queueId: number): number;
  offsetByTime(topic: string, queueId: number, timestampMs: number): Promise<number>;
  earliestTime(topic: string, queueId: number): Promise<number>;
  /** Raw stored record at a commit log offset (VIEW_MESSAGE_BY_ID), or undefined. */
  readRecord(commitLogOffset: number): Promise<Buffer | undefined>;
  lookMessage(commitLogOffset: number): Promise<MessageRecord | undefined>;
  query(topic: string, key: string, maxNum: number, beginMs: number, endMs: number): Promise<QueryOutput>;
  /** Is the message at `offset` of a queue far behind the newest data (CONSUMER "in disk")? */
  isFarBehind(topic: string, queueId: number, offset: number): Promise<boolean>;
}

/** What the group admin handlers need of SubscriptionGroupManager / ConsumerOffsetManager. */
export interface GroupTable {
  wrapper(): { dataVersion: DataVersion; subscriptionGroupTable: Record<string, SubscriptionGroupConfig> };
  /**
   * Remove the group's config (and its committed offsets when asked), on disk when it resolves;
   * rejects when the config could not be written (nothing changed), or only the offsets.
   */
  delete(group: string, removeOffset: boolean): Promise<void>;
}

/** ConsumerOffsetManager.whichTopicByConsumer / whichGroupByTopic. */
export interface OffsetIndex {
  topicsOfGroup(group: string): string[];
  groupsOfTopic(topic: string): string[];
}

/** What GET_BROKER_RUNTIME_INFO reports beyond `stats` (DefaultMessageStore / StoreStatsService). */
export interface RuntimeFacts {
  store: { putCount: number; putBytes: number; putFailures: number; commitLogMinOffset: number; commitLogMaxOffset: number; flushedOffset: number; dispatchBehindBytes: number };
  /** Store time of the record at a commit-log offset. */
  storeTimeAt(commitLogOffset: number): Promise<number>;
  maxOffsetInQueue(topic: string, queueId: number): number;
  addresses: { broker: string; fast?: string };
  /** ScheduleMessageService's delivered offset per delay level. */
  delayOffsets: Array<[level: number, offset: number]>;
  /** The DLedger member state (enableDLegerCommitLog=true), else undefined. */
  dledger?: DLedgerState & { peers: string };
}

export interface BrokerContext {
  readonly config: BrokerConfig;
  /** Run-time updates of `config` (UPDATE_BROKER_CONFIG) and its data version. */
  readonly configuration: BrokerConfiguration;
  readonly store: StorePort;
  readonly clients: ClientManager;
  readonly pullHold: PullRequestHoldService;
  /** Advertised address written as STOREHOST (brokerIP1 + actual listen port). */
  readonly storeHost: SocketAddr;
  readonly logger: Logger;
  /** Number of delay levels (messageDelayLevel): DELAY values above it clamp to the last level. */
  readonly delayLevelCount: number;
  /** Pull statistics (BrokerStatsManager's GROUP_GET_NUMS / BROKER_GET_NUMS). */
  readonly stats: BrokerStats;
  /** The plain ACL (aclEnable=true): its file, changed by the ACL admin requests. */
  readonly acl?: AclService;
  /** The audit log of admin changes (audit/audited.ts says which requests). */
  readonly audit?: AuditLog;
  /** Broker-side tracing (brokerTraceEnable=true); undefined when off, so hot paths test one field. */
  readonly tracer?: BrokerTracer;
  /** Half messages, END_TRANSACTION and check-back; absent until the store is open. */
  readonly transactions?: TransactionalMessageService;
  /** The subscription-group table and its groups' offsets (GET_ALL_SUBSCRIPTIONGROUP_CONFIG, DELETE_SUBSCRIPTIONGROUP). */
  readonly groupTable: GroupTable;
  /** Which topics a group has offsets in, and which groups a topic (GET_CONSUME_STATS, QUERY_TOPIC_CONSUME_BY_WHO). */
  readonly offsetIndex: OffsetIndex;
  runtimeFacts(): RuntimeFacts;

  // topics (TopicConfigManager)
  topicConfig(topic: string): TopicConfig | undefined;
  topicConfigWrapper(): TopicConfigSerializeWrapper;
  /**
   * Create or replace, persist, and register with the name servers. Rejects (with the change
   * undone) when topics.json cannot be written: acknowledged changes are the ones on disk.
   */
  updateTopicConfig(tc: TopicConfig): Promise<void>;
  /** Delete the config (on disk first), consume queues and offsets; rejects as updateTopicConfig. */
  deleteTopic(topic: string): Promise<void>;
  /** DefaultMessageStore.executeDeleteFilesManually (DELETE_EXPIRED_COMMITLOG). */
  deleteExpiredCommitLog(): void;
  /** TopicValidator.isSystemTopic (+ this broker's cluster/broker-name topics). */
  isSystemTopic(topic: string): boolean;
  /** TopicValidator.isNotAllowedSendTopic. */
  isNotAllowedSendTopic(topic: string): boolean;
  /** Auto-create on send from the default topic; undefined when not allowed. */
  createTopicInSendMessageMethod(topic: string, defaultTopic: string, defaultTopicQueueNums: number, topicSysFlag: number): Promise<TopicConfig | undefined>;
  /** Retry/DLQ topics are always created on demand. */
  createTopicInSendMessageBackMethod(topic: string, queueNums: number, perm: number, topicSysFlag: number): Promise<TopicConfig>;

  // subscription groups (SubscriptionGroupManager)
  /** Find, auto-creating when autoCreateSubscriptionGroup or a system group; undefined otherwise. */
  findSubscriptionGroup(group: string): SubscriptionGroupConfig | undefined;
  /** Look up without creating. */
  subscriptionGroup(group: string): SubscriptionGroupConfig | undefined;
  /** Create or replace, persisted; rejects (with the change undone) when it cannot be written. */
  updateSubscriptionGroup(cfg: SubscriptionGroupConfig): Promise<void>;

  // consumer offsets (ConsumerOffsetManager)
  /** GET_ALL_CONSUMER_OFFSET's body: ConsumerOffsetSerializeWrapper as fastjson. */
  consumerOffsetsBody(): string;
  /** GET_ALL_DELAY_OFFSET's body: DelayOffsetSerializeWrapper as fastjson. */
  delayOffsetsBody(): string;
  queryOffset(group: string, topic: string, queueId: number): number;
  commitOffset(clientHost: string, group: string, topic: string, queueId: number, offset: number): void;
  /**
   * Commit and persist before answering (resets, acknowledged UPDATE_CONSUMER_OFFSET); rejects
   * (with the offsets as they were) when consumerOffset.json cannot be written.
   */
  commitOffsetsDurably(group: string, topic: string, offsets: ReadonlyArray<readonly [queueId: number, offset: number]>): Promise<void>;
}
