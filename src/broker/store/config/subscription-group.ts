/**
 * `config/subscriptionGroup.json`: {dataVersion, subscriptionGroupTable} (fact sheet §5, §2.10;
 * apache/rocketmq broker/subscription/SubscriptionGroupManager.java, SubscriptionGroupConfig.java).
 */
import { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig } from '../../../protocol/bodies.js';
import { toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import {
  ConfigFileManager,
  type ConfigLoadReport,
  type DataVersion,
  boolField,
  decodeDataVersion,
  intField,
  isObject,
  newDataVersion,
  nextVersion,
  objectField,
  parseConfigObject,
} from './config-file.js';

export { defaultSubscriptionGroupConfig, type SubscriptionGroupConfig } from '../../../protocol/bodies.js';

/**
 * Groups SubscriptionGroupManager always has (its init()): present even when the file lacks
 * them. The last four set consumeBroadcastEnable explicitly, which is the default anyway.
 */
export const DEFAULT_SUBSCRIPTION_GROUPS: readonly string[] = [
  'TOOLS_CONSUMER',
  'FILTERSRV_CONSUMER',
  'SELF_TEST_C_GROUP',
  'CID_ONS-HTTP-PROXY',
  'CID_ONSAPI_PULL',
  'CID_ONSAPI_PERMISSION',
  'CID_ONSAPI_OWNER',
];

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

export class SubscriptionGroupManager extends ConfigFileManager {
  private table = new Map<string, SubscriptionGroupConfig>();
  private version: DataVersion = newDataVersion();

  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'subscriptionGroup.json');
    for (const g of DEFAULT_SUBSCRIPTION_GROUPS) this.table.set(g, defaultSubscriptionGroupConfig(g));
  }

  override async load(): Promise<ConfigLoadReport> {
    const report = await super.load();
    this.addDefaults();
    return report;
  }

  /** After loading a file: add the default groups it lacks (marks the manager dirty if any). */
  private addDefaults(): void {
    for (const g of DEFAULT_SUBSCRIPTION_GROUPS) {
      if (!this.table.has(g)) {
        this.table.set(g, defaultSubscriptionGroupConfig(g));
        this.markChanged();
      }
    }
  }

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    const table = new Map<string, SubscriptionGroupConfig>();
    for (const [name, v] of Object.entries(objectField(o, 'subscriptionGroupTable', ''))) table.set(name, decodeGroupStrict(name, v));
    const version = decodeDataVersion(o);
    this.table = table;
    this.version = version;
  }

  encode(): string {
    return toFastjson(this.wrapper(), { pretty: true });
  }

  /** The GET_ALL_SUBSCRIPTIONGROUP_CONFIG body. */
  wrapper(): SubscriptionGroupWrapper {
    const subscriptionGroupTable: Record<string, SubscriptionGroupConfig> = {};
    for (const name of [...this.table.keys()].sort()) subscriptionGroupTable[name] = { ...this.table.get(name)! };
    return { dataVersion: this.dataVersion, subscriptionGroupTable };
  }

  get dataVersion(): DataVersion {
    return { ...this.version };
  }

  get(group: string): SubscriptionGroupConfig | undefined {
    const c = this.table.get(group);
    return c && { ...c };
  }

  has(group: string): boolean {
    return this.table.has(group);
  }

  all(): SubscriptionGroupConfig[] {
    return [...this.table.keys()].sort().map((n) => ({ ...this.table.get(n)! }));
  }

  /** UPDATE_AND_CREATE_SUBSCRIPTIONGROUP; bumps dataVersion. */
  upsert(cfg: SubscriptionGroupConfig): SubscriptionGroupConfig {
    if (typeof cfg.groupName !== 'string' || cfg.groupName === '') throw new Error('groupName is empty');
    for (const k of ['retryQueueNums', 'retryMaxTimes', 'brokerId', 'whichBrokerWhenConsumeSlowly'] as const) {
      if (!Number.isSafeInteger(cfg[k])) throw new Error(`${k} must be an integer (got ${cfg[k]})`);
    }
    const stored = { ...cfg };
    this.table.set(cfg.groupName, stored);
    this.bump();
    return { ...stored };
  }

  /** Auto-create on first use (heartbeat, pull, send-back); true when added. */
  putIfAbsent(cfg: SubscriptionGroupConfig): boolean {
    if (this.table.has(cfg.groupName)) return false;
    this.upsert(cfg);
    return true;
  }

  /** DELETE_SUBSCRIPTIONGROUP; true when it existed. Default groups come back on restart, as in Java. */
  delete(group: string): boolean {
    if (!this.table.delete(group)) return false;
    this.bump();
    return true;
  }

  private bump(): void {
    this.version = nextVersion(this.version);
    this.markChanged();
  }
}
