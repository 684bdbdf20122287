/**
 * `config/subscriptionGroup.json`: {dataVersion, subscriptionGroupTable}
 * (apache/rocketmq broker/subscription/SubscriptionGroupManager.java, SubscriptionGroupConfig.java).
 */
import { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig } from '../../../protocol/bodies.js';
import { DEFAULT_SUBSCRIPTION_GROUPS } from '../../../protocol/names.js';
import type { FileIO } from '../file-io.js';
import { type ConfigLoadReport, type DataVersion, boolField, intField, isObject } from './config-file.js';
import { VersionedTableManager } from './versioned-table.js';

export { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig } from '../../../protocol/bodies.js';

function decodeGroupStrict(name: string, v: unknown): SubscriptionGroupConfig {
  const where = `subscriptionGroupTable.${name}`;
  if (!isObject(v)) throw new Error(`${where} is not an object`);
  const d = defaultSubscriptionGroupConfig(name);
  return {
    groupName: name,
    consumeEnable: boolField(v, 'consumeEnable', d.consumeEnable, where),
    consumeFromMinEnable: boolField(v, 'consumeFromMinEnable', d.consumeFromMinEnable, where),
    consumeBroadcastEnable: boolField(v, 'consumeBroadcastEnable', d.consumeBroadcastEnable, where),
    retryQueueNums: intField(v, 'retryQueueNums', d.retryQueueNums, where),
    retryMaxTimes: intField(v, 'retryMaxTimes', d.retryMaxTimes, where),
    brokerId: intField(v, 'brokerId', d.brokerId, where),
    whichBrokerWhenConsumeSlowly: intField(v, 'whichBrokerWhenConsumeSlowly', d.whichBrokerWhenConsumeSlowly, where),
    notifyConsumerIdsChangedEnable: boolField(v, 'notifyConsumerIdsChangedEnable', d.notifyConsumerIdsChangedEnable, where),
  };
}

export interface SubscriptionGroupWrapper {
  dataVersion: DataVersion;
  subscriptionGroupTable: Record<string, SubscriptionGroupConfig>;
}

export class SubscriptionGroupManager extends VersionedTableManager<SubscriptionGroupConfig> {
  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'subscriptionGroup.json', 'subscriptionGroupTable', decodeGroupStrict);
    for (const g of DEFAULT_SUBSCRIPTION_GROUPS) this.setEntry(defaultSubscriptionGroupConfig(g));
  }

  override async load(): Promise<ConfigLoadReport> {
    const report = await super.load();
    this.addDefaults();
    return report;
  }

  /** After loading a file: add the default groups it lacks (marks the manager dirty if any). */
  private addDefaults(): void {
    for (const g of DEFAULT_SUBSCRIPTION_GROUPS) {
      if (!this.has(g)) {
        this.setEntry(defaultSubscriptionGroupConfig(g));
        this.markChanged();
      }
    }
  }

  protected keyOf(cfg: SubscriptionGroupConfig): string {
    return cfg.groupName;
  }

  /** The GET_ALL_SUBSCRIPTIONGROUP_CONFIG body. */
  wrapper(): SubscriptionGroupWrapper {
    return { dataVersion: this.dataVersion, subscriptionGroupTable: this.sortedTable() };
  }

  /** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP; bumps dataVersion. */
  upsert(cfg: SubscriptionGroupConfig): SubscriptionGroupConfig {
    if (typeof cfg.groupName !== 'string' || cfg.groupName === '') throw new Error('groupName is empty');
    for (const k of ['retryQueueNums', 'retryMaxTimes', 'brokerId', 'whichBrokerWhenConsumeSlowly'] as const) {
      if (!Number.isSafeInteger(cfg[k])) throw new Error(`${k} must be an integer (got ${cfg[k]})`);
    }
    return this.store(cfg);
  }
}
