/**
 * `config/topics.json`: TopicConfigSerializeWrapper {dataVersion, topicConfigTable} (apache/rocketmq broker/topic/TopicConfigManager.java, common/TopicConfig.java).
 */
import type { TopicConfig, TopicConfigSerializeWrapper, TopicFilterType } from '../../../protocol/bodies.js';
import { toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import { boolField, intField, isObject, stringField } from './config-file.js';
import { VersionedTableManager } from './versioned-table.js';

export type { TopicConfig, TopicFilterType } from '../../../protocol/bodies.js';

/** PermName bits. */
export const PERM_PRIORITY = 8;
export const PERM_READ = 4;
export const PERM_WRITE = 2;
export const PERM_INHERIT = 1;

/** TopicConfig's Java field defaults: 16/16 queues, perm RW, SINGLE_TAG. */
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

export class TopicConfigManager extends VersionedTableManager<TopicConfig> {
  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'topics.json', 'topicConfigTable', decodeTopicConfigStrict);
  }

  protected keyOf(tc: TopicConfig): string {
    return tc.topicName;
  }

  /** TopicConfig's fields in fastjson's (alphabetical) order, written directly: 50,000 topics at start. */
  protected override members(tc: TopicConfig): string[] {
    return [
      `"order":${tc.order}`,
      `"perm":${tc.perm}`,
      `"readQueueNums":${tc.readQueueNums}`,
      `"topicFilterType":${toFastjson(tc.topicFilterType)}`,
      `"topicName":${toFastjson(tc.topicName)}`,
      `"topicSysFlag":${tc.topicSysFlag}`,
      `"writeQueueNums":${tc.writeQueueNums}`,
    ];
  }

  /** The GET_ALL_TOPIC_CONFIG body / REGISTER_BROKER payload. */
  wrapper(): TopicConfigSerializeWrapper {
    return { dataVersion: this.dataVersion, topicConfigTable: this.sortedTable() };
  }

  /** Create or replace (UPDATE_AND_CREATE_TOPIC); bumps dataVersion. Throws on invalid values. */
  upsert(tc: TopicConfig): TopicConfig {
    const problem = topicConfigProblem(tc);
    if (problem !== undefined) throw new Error(`invalid topic config for ${tc.topicName}: ${problem}`);
    return this.store(tc);
  }
}
