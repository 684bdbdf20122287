/**
 * Who is connected: consumer groups (channels + the subscriptions their heartbeats carry) and
 * producer groups, as the broker's ConsumerManager / ProducerManager keep them, plus the orderly
 * consumers' queue locks (RebalanceLockManager).
 *
 * Invariants: a channel appears at most once per group; a group with no channel left is removed;
 * every change of a group's channel set or subscription set is followed by one
 * NOTIFY_CONSUMER_IDS_CHANGED (oneway) to each channel of the group, when the group allows it.
 */
import { FLAG_ONEWAY, makeRequest } from '../protocol/frame.js';
import { RequestCode } from '../protocol/codes.js';
import type { ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, MessageQueue, SubscriptionData } from '../protocol/bodies.js';
import type { ClientChannel, Logger } from '../remoting/server.js';
import { silentLogger } from '../remoting/server.js';

/** ClientHousekeepingService: channels without a heartbeat for this long are dropped (120 s). */
const CHANNEL_EXPIRED_TIMEOUT_MS = 120_000;
/** ... scanned every 10 s. */
const CHANNEL_SCAN_INTERVAL_MS = 10_000;
/** RebalanceLockManager: a queue lock not renewed for 60 s is free (rocketmq.broker.rebalance.lockMaxLiveTime). */
const REBALANCE_LOCK_MAX_LIVE_MS = 60_000;

export interface ClientChannelInfo {
  channel: ClientChannel;
  clientId: string;
  language: string;
  version: number;
  lastUpdateMs: number;
}

interface ConsumerGroupInfo {
  groupName: string;
  consumeType: ConsumeType;
  messageModel: MessageModel;
  consumeFromWhere: ConsumeFromWhere;
  /** Keyed by channel id: one entry per connection. */
  channels: Map<number, ClientChannelInfo>;
  /** One subscription per topic for the whole group (clients of a group must agree). */
  subscriptions: Map<string, SubscriptionData>;
}

interface ClientManagerOptions {
  logger?: Logger;
  channelExpiredTimeoutMs?: number;
  scanIntervalMs?: number;
  /** Per-group switch (SubscriptionGroupConfig.notifyConsumerIdsChangedEnable). */
  notifyEnabled?: (group: string) => boolean;
  /** Queue-lock lifetime without renewal (default REBALANCE_LOCK_MAX_LIVE_MS). */
  lockMaxLiveMs?: number;
}

export class ClientManager {
  private readonly consumers = new Map<string, ConsumerGroupInfo>();
  private readonly producers = new Map<string, Map<number, ClientChannelInfo>>();
  private readonly hooked = new WeakSet<ClientChannel>();
  private readonly locks: RebalanceLockManager;
  private readonly logger: Logger;
  private readonly expiryMs: number;
  private readonly scanIntervalMs: number;
  private readonly notifyEnabled: (group: string) => boolean;
  private timer: NodeJS.Timeout | undefined;
  private notifyOpaque = 1;

  constructor(opts: ClientManagerOptions = {}) {
    this.logger = opts.logger ?? silentLogger;
    this.expiryMs = opts.channelExpiredTimeoutMs ?? CHANNEL_EXPIRED_TIMEOUT_MS;
    this.scanIntervalMs = opts.scanIntervalMs ?? CHANNEL_SCAN_INTERVAL_MS;
    this.locks = new RebalanceLockManager(opts.lockMaxLiveMs);
    this.notifyEnabled = opts.notifyEnabled ?? (() => true);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.scanNotActiveChannels(), this.scanIntervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get lockManager(): RebalanceLockManager {
    return this.locks;
  }

  // ---- consumers ----------------------------------------------------------------------------

  /**
   * As ConsumerManager.registerConsumer: refresh the channel and the group's subscriptions; when
   * either changed, tell every consumer of the group to rebalance. Returns whether it changed.
   */
  registerConsumer(channel: ClientChannel, clientId: string, data: ConsumerData, now = Date.now()): boolean {
    this.hook(channel);
    let g = this.consumers.get(data.groupName);
    if (!g) {
      g = {
        groupName: data.groupName,
        consumeType: data.consumeType,
        messageModel: data.messageModel,
        consumeFromWhere: data.consumeFromWhere,
        channels: new Map(),
        subscriptions: new Map(),
      };
      this.consumers.set(data.groupName, g);
    }
    g.consumeType = data.consumeType;
    g.messageModel = data.messageModel;
    g.consumeFromWhere = data.consumeFromWhere;
    const channelsChanged = upsertChannel(g.channels, channel, clientId, now);
    const subsChanged = updateSubscriptions(g.subscriptions, data.subscriptionDataSet);
    if (channelsChanged || subsChanged) this.notifyConsumerIdsChanged(g.groupName);
    return channelsChanged || subsChanged;
  }

  /** UNREGISTER_CLIENT for a consumer group: drop that client's channel(s) from the group. */
  unregisterConsumer(group: string, clientId: string, channel: ClientChannel): void {
    const g = this.consumers.get(group);
    if (!g) return;
    let removed = false;
    for (const [id, info] of g.channels) {
      if (info.channel === channel || info.clientId === clientId) {
        g.channels.delete(id);
        removed = true;
      }
    }
    if (!removed) return;
    if (g.channels.size === 0) this.consumers.delete(group);
    else this.notifyConsumerIdsChanged(group);
  }

  consumerGroup(group: string): ConsumerGroupInfo | undefined {
    return this.consumers.get(group);
  }

  consumerGroups(): IterableIterator<ConsumerGroupInfo> {
    return this.consumers.values();
  }

  findSubscription(group: string, topic: string): SubscriptionData | undefined {
    return this.consumers.get(group)?.subscriptions.get(topic);
  }

  /** Client ids of a group's live channels (GET_CONSUMER_LIST_BY_GROUP), de-duplicated. */
  consumerIds(group: string): string[] {
    const g = this.consumers.get(group);
    if (!g) return [];
    return [...new Set([...g.channels.values()].filter((c) => c.channel.isOpen()).map((c) => c.clientId))];
  }

  /** NOTIFY_CONSUMER_IDS_CHANGED, oneway (ali-ons never answers broker requests, Java clients needn't). */
  notifyConsumerIdsChanged(group: string): void {
    const g = this.consumers.get(group);
    if (!g || !this.notifyEnabled(group)) return;
    for (const info of g.channels.values()) {
      if (!info.channel.isOpen()) continue;
      const req = makeRequest(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: group });
      req.flag = FLAG_ONEWAY;
      req.opaque = this.notifyOpaque++;
      if (this.notifyOpaque > 0x7fffffff) this.notifyOpaque = 1;
      try {
        info.channel.send(req);
      } catch (err) {
        this.logger.warn(`notify ${group} → ${info.clientId} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  // ---- producers ----------------------------------------------------------------------------

  registerProducer(channel: ClientChannel, clientId: string, group: string, now = Date.now()): void {
    this.hook(channel);
    let m = this.producers.get(group);
    if (!m) {
      m = new Map();
      this.producers.set(group, m);
    }
    upsertChannel(m, channel, clientId, now);
  }

  unregisterProducer(group: string, clientId: string, channel: ClientChannel): void {
    const m = this.producers.get(group);
    if (!m) return;
    for (const [id, info] of m) if (info.channel === channel || info.clientId === clientId) m.delete(id);
    if (m.size === 0) this.producers.delete(group);
  }

  producerGroup(group: string): ClientChannelInfo[] {
    return [...(this.producers.get(group)?.values() ?? [])];
  }

  producerGroups(): string[] {
    return [...this.producers.keys()];
  }

  // ---- housekeeping -------------------------------------------------------------------------

  /** A connection closed (ClientHousekeepingService.onChannelClose): drop it everywhere. */
  channelClosed(channel: ClientChannel): void {
    for (const [group, g] of this.consumers) {
      if (!g.channels.delete(channel.id)) continue;
      if (g.channels.size === 0) this.consumers.delete(group);
      else this.notifyConsumerIdsChanged(group);
    }
    for (const [group, m] of this.producers) {
      m.delete(channel.id);
      if (m.size === 0) this.producers.delete(group);
    }
  }

  /** As ConsumerManager.scanNotActiveChannel: heartbeats stopped for 120 s → the client is gone. */
  scanNotActiveChannels(now = Date.now()): void {
    for (const [group, g] of this.consumers) {
      let removed = false;
      for (const [id, info] of g.channels) {
        if (now - info.lastUpdateMs > this.expiryMs || !info.channel.isOpen()) {
          g.channels.delete(id);
          removed = true;
          this.logger.info(`consumer ${info.clientId} of ${group} expired (no heartbeat for ${this.expiryMs} ms)`);
        }
      }
      if (g.channels.size === 0) this.consumers.delete(group);
      else if (removed) this.notifyConsumerIdsChanged(group);
    }
    for (const [group, m] of this.producers) {
      for (const [id, info] of m) if (now - info.lastUpdateMs > this.expiryMs || !info.channel.isOpen()) m.delete(id);
      if (m.size === 0) this.producers.delete(group);
    }
  }

  private hook(channel: ClientChannel): void {
    if (this.hooked.has(channel)) return;
    this.hooked.add(channel);
    channel.onClose(() => this.channelClosed(channel));
  }
}

function upsertChannel(m: Map<number, ClientChannelInfo>, channel: ClientChannel, clientId: string, now: number): boolean {
  const prev = m.get(channel.id);
  if (prev) {
    prev.lastUpdateMs = now;
    prev.language = channel.language;
    prev.version = channel.version;
    if (prev.clientId === clientId) return false;
    prev.clientId = clientId;
    return true;
  }
  m.set(channel.id, { channel, clientId, language: channel.language, version: channel.version, lastUpdateMs: now });
  return true;
}

/**
 * As ConsumerGroupInfo.updateSubscription: add new topics, replace a topic's subscription when the
 * heartbeat's subVersion is newer, drop topics the heartbeat no longer carries.
 */
function updateSubscriptions(table: Map<string, SubscriptionData>, incoming: SubscriptionData[]): boolean {
  let changed = false;
  const seen = new Set<string>();
  for (const sub of incoming) {
    seen.add(sub.topic);
    const old = table.get(sub.topic);
    if (!old) {
      table.set(sub.topic, sub);
      changed = true;
    } else if (sub.subVersion > old.subVersion) {
      // Replaced without a notification, as Java: allocation depends on topics, not on expressions.
      table.set(sub.topic, sub);
    }
  }
  for (const topic of [...table.keys()]) {
    if (!seen.has(topic)) {
      table.delete(topic);
      changed = true;
    }
  }
  return changed;
}

// ---- orderly consumers: queue locks -----------------------------------------------------------

interface LockEntry {
  clientId: string;
  lastUpdateMs: number;
}

/** RebalanceLockManager: one owner per (group, queue); expires after 60 s without renewal. */
class RebalanceLockManager {
  private readonly table = new Map<string, Map<string, LockEntry>>();

  constructor(private readonly maxLiveMs = REBALANCE_LOCK_MAX_LIVE_MS) {}

  /** Lock what is free or already ours; returns the queues this client now holds. */
  tryLockBatch(group: string, mqs: MessageQueue[], clientId: string, now = Date.now()): MessageQueue[] {
    let g = this.table.get(group);
    if (!g) {
      g = new Map();
      this.table.set(group, g);
    }
    const out: MessageQueue[] = [];
    for (const mq of mqs) {
      const key = lockKey(mq);
      const cur = g.get(key);
      if (!cur || cur.clientId === clientId || now - cur.lastUpdateMs > this.maxLiveMs) {
        g.set(key, { clientId, lastUpdateMs: now });
        out.push(mq);
      }
    }
    return out;
  }

  /** Who holds the group's queue locks now (`topic\0brokerName\0queueId` -> clientId); for admin views and tests. */
  owners(group: string): Map<string, string> {
    return new Map([...(this.table.get(group) ?? new Map<string, LockEntry>())].map(([k, e]) => [k, e.clientId]));
  }

  unlockBatch(group: string, mqs: MessageQueue[], clientId: string): void {
    const g = this.table.get(group);
    if (!g) return;
    for (const mq of mqs) {
      const key = lockKey(mq);
      if (g.get(key)?.clientId === clientId) g.delete(key);
    }
    if (g.size === 0) this.table.delete(group);
  }
}

function lockKey(mq: MessageQueue): string {
  return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`;
}
