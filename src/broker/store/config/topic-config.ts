/**
 * `config/topics.json`: TopicConfigSerializeWrapper {dataVersion, topicConfigTable} (fact sheet
 * §5, §2.10; apache/rocketmq broker/topic/TopicConfigManager.java, common/TopicConfig.java).
 */
import type { TopicConfig, TopicConfigSerializeWrapper, TopicFilterType } from '../../../protocol/bodies.js';
import { toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import {
  ConfigFileManager,
  type DataVersion,
  boolField,
  decodeDataVersion,
  intField,
  isObject,
  newDataVersion,
  nextVersion,
  objectField,
  parseConfigObject,
  stringField,
} from './config-file.js';

export type { TopicConfig, TopicFilterType } from '../../../protocol/bodies.js';

/** PermName bits. */
export const PERM_PRIORITY = 8;
export const PERM_READ = 4;
export const PERM_WRITE = 2;
export const PERM_INHERIT = 1;

/** TopicConfig's Java field defaults: 16/16 queues, perm RW, SINGLE_TAG (§6.8). */
export const DEFAULT_TOPIC_QUEUE_NUMS = 16;

export function defaultTopicConfig(topicName: string, queueNums: number = DEFAULT_TOPIC_QUEUE_NUMS): TopicConfig {
  return {
    topicName,
    readQueueNums: queueNums,
    writeQueueNums: queueNums,
    perm: PERM_READ | PERM_WRITE,
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  };
}

/** Why `tc` cannot be stored, or undefined. Names are the caller's to validate (system topics
 * such as a broker's host name do not follow TopicValidator's pattern). */
export function topicConfigProblem(tc: TopicConfig): string | undefined {
  if (typeof tc.topicName !== 'string' || tc.topicName === '') return 'topicName is empty';
  for (const k of ['readQueueNums', 'writeQueueNums', 'topicSysFlag'] as const) {
    if (!Number.isSafeInteger(tc[k]) || tc[k] < 0 || tc[k] > 2147483647) return `${k} must be an int >= 0 (got ${tc[k]})`;
  }
  if (!Number.isInteger(tc.perm) || tc.perm < 0 || tc.perm > 15) return `perm must be in 0..15 (got ${tc.perm})`;
  if (tc.topicFilterType !== 'SINGLE_TAG' && tc.topicFilterType !== 'MULTI_TAG') return `topicFilterType must be SINGLE_TAG or MULTI_TAG`;
  if (typeof tc.order !== 'boolean') return 'order must be a boolean';
  return undefined;
}

function decodeTopicConfigStrict(name: string, v: unknown): TopicConfig {
  const where = `topicConfigTable.${name}`;
  if (!isObject(v)) throw new Error(`${where} is not an object`);
  const filter = stringField(v, 'topicFilterType', 'SINGLE_TAG', where);
  if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') throw new Error(`${where}.topicFilterType is ${JSON.stringify(filter)}`);
  const d = defaultTopicConfig(name);
  return {
    // The table key is what the broker looks topics up by.
    topicName: name,
    readQueueNums: intField(v, 'readQueueNums', d.readQueueNums, where),
    writeQueueNums: intField(v, 'writeQueueNums', d.writeQueueNums, where),
    perm: intField(v, 'perm', d.perm, where),
    topicFilterType: filter as TopicFilterType,
    topicSysFlag: intField(v, 'topicSysFlag', 0, where),
    order: boolField(v, 'order', false, where),
  };
}

export class TopicConfigManager extends ConfigFileManager {
  private table = new Map<string, TopicConfig>();
  private version: DataVersion = newDataVersion();

  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'topics.json');
  }

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    const table = new Map<string, TopicConfig>();
    for (const [name, v] of Object.entries(objectField(o, 'topicConfigTable', ''))) table.set(name, decodeTopicConfigStrict(name, v));
    const version = decodeDataVersion(o);
    this.table = table;
    this.version = version;
  }

  /** Pretty fastjson, byte for byte the §5 layout; topics sorted by name. */
  encode(): string {
    return toFastjson(this.wrapper(), { pretty: true });
  }

  /** The GET_ALL_TOPIC_CONFIG body / REGISTER_BROKER payload. */
  wrapper(): TopicConfigSerializeWrapper {
    const topicConfigTable: Record<string, TopicConfig> = {};
    for (const name of [...this.table.keys()].sort()) topicConfigTable[name] = { ...this.table.get(name)! };
    return { dataVersion: this.dataVersion, topicConfigTable };
  }

  get dataVersion(): DataVersion {
    return { ...this.version };
  }

  get(topic: string): TopicConfig | undefined {
    const tc = this.table.get(topic);
    return tc && { ...tc };
  }

  has(topic: string): boolean {
    return this.table.has(topic);
  }

  /** Sorted by topic name. */
  all(): TopicConfig[] {
    return [...this.table.keys()].sort().map((n) => ({ ...this.table.get(n)! }));
  }

  get size(): number {
    return this.table.size;
  }

  /** Create or replace (UPDATE_AND_CREATE_TOPIC); bumps dataVersion. Throws on invalid values. */
  upsert(tc: TopicConfig): TopicConfig {
    const problem = topicConfigProblem(tc);
    if (problem !== undefined) throw new Error(`invalid topic config for ${tc.topicName}: ${problem}`);
    const stored = { ...tc };
    this.table.set(tc.topicName, stored);
    this.bump();
    return { ...stored };
  }

  /** Add unless present (system topics at start, auto-create races); true when added. */
  putIfAbsent(tc: TopicConfig): boolean {
    if (this.table.has(tc.topicName)) return false;
    this.upsert(tc);
    return true;
  }

  /** Remove (DELETE_TOPIC_IN_BROKER); bumps dataVersion; true when it existed. */
  delete(topic: string): boolean {
    if (!this.table.delete(topic)) return false;
    this.bump();
    return true;
  }

  private bump(): void {
    this.version = nextVersion(this.version);
    this.markChanged();
  }
}
