/**
 * SlaveSynchronize (apache/rocketmq 4.9.8): a slave takes its master's topic configs, consumer
 * offsets, delayed-message offsets and subscription groups (syncTopicConfig, syncConsumerOffset,
 * syncDelayOffset, syncSubscriptionGroupConfig), so that when it becomes master (a DLedger
 * failover) it serves the same topics, consumers go on from where they had committed, and delayed
 * messages are delivered from where the old master had got to, each less at most one sync
 * interval (what the old master did in that interval is done again: at least once).
 *
 * Tables with a dataVersion are replaced only when the master's differs, as Java does; the offsets
 * are taken every time. A round that finds this broker no longer a slave changes nothing more (a
 * new master's own commits are not overwritten by its old master's tables). Failures are logged
 * once per streak and retried on the next round.
 */
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { makeRequest } from '../protocol/frame.js';
import type { RemotingClient } from '../remoting/client.js';
import type { Logger } from '../remoting/server.js';
import type { ConfigFileManager, DataVersion } from './store/config/index.js';

/** BrokerController#handleSlaveSynchronize: every 10 s. */
export const SLAVE_SYNC_INTERVAL_MS = 10_000;

interface Versioned extends ConfigFileManager {
  readonly dataVersion: DataVersion;
}

export interface SlaveSyncOptions {
  client: RemotingClient;
  /** The master's address (the name server's answer to this slave's registration); undefined: none known. */
  masterAddr: () => string | undefined;
  /** Still a slave: checked before each table is replaced. */
  isSlave: () => boolean;
  topics: Versioned;
  groups: Versioned;
  offsets: ConfigFileManager;
  /** delayOffset.json (ScheduleMessageService's offsets). */
  delayOffsets: ConfigFileManager;
  logger: Logger;
  /** A round failed (the master may have changed: forget it, learn it again). */
  onFailure?: () => void;
  timeoutMs?: number;
}

export class SlaveSynchronize {
  private failing = false;
  private running: Promise<void> | undefined;

  constructor(private readonly o: SlaveSyncOptions) {}

  /** One round (syncAll); rounds never overlap. */
  syncAll(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Resolves when no round is running (a broker becoming master waits for this before it uses the tables). */
  async idle(): Promise<void> {
    await this.running;
  }

  private async round(): Promise<void> {
    const master = this.o.masterAddr();
    if (!master) return;
    try {
      await this.syncVersioned(master, RequestCode.GET_ALL_TOPIC_CONFIG, this.o.topics, 'topic configs');
      await this.take(master, RequestCode.GET_ALL_CONSUMER_OFFSET, this.o.offsets, 'consumer offsets');
      await this.take(master, RequestCode.GET_ALL_DELAY_OFFSET, this.o.delayOffsets, 'delay offsets');
      await this.syncVersioned(master, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, this.o.groups, 'subscription groups');
      if (this.failing) this.o.logger.info(`slave sync from master ${master} works again`);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.o.logger.warn(`slave sync from master ${master}: ${err instanceof Error ? err.message : String(err)} (retrying)`);
      this.failing = true;
      this.o.onFailure?.();
    }
  }

  private async fetch(master: string, code: number, what: string): Promise<string> {
    const res = await this.o.client.invoke(master, makeRequest(code, {}), this.o.timeoutMs ?? 3000);
    if (res.code !== ResponseCode.SUCCESS || !res.body) throw new Error(`${what}: the master answered ${res.code}${res.remark ? ` (${res.remark})` : ''}`);
    return res.body.toString('utf8');
  }

  private async syncVersioned(master: string, code: number, table: Versioned, what: string): Promise<void> {
    const text = await this.fetch(master, code, what);
    const dv = (JSON.parse(text) as { dataVersion?: DataVersion }).dataVersion;
    if (dv && dv.counter === table.dataVersion.counter && dv.timestamp === table.dataVersion.timestamp) return;
    if (this.o.isSlave()) await table.replaceWith(text);
  }

  private async take(master: string, code: number, table: ConfigFileManager, what: string): Promise<void> {
    const text = await this.fetch(master, code, what);
    if (this.o.isSlave()) await table.replaceWith(text);
  }
}
