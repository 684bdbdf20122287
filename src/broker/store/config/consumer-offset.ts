/**
 * `config/consumerOffset.json`: committed consume offsets, key `topic@group`, inner map
 * queueId → next offset to consume (apache/rocketmq ConsumerOffsetManager.java).
 * The file has only `offsetTable`; its inner maps have bare Integer keys.
 */
import { FjMap, toFastjson } from '../../../protocol/fastjson.js';
import type { FileIO } from '../file-io.js';
import { ConfigFileManager, decodeIntKeyedLongs, isObject, objectField, parseConfigObject, prettyIntKeyedMap } from './config-file.js';

/** ConsumerOffsetManager.TOPIC_GROUP_SEPARATOR. */
export const TOPIC_GROUP_SEPARATOR = '@';

export function topicAtGroup(topic: string, group: string): string {
  return topic + TOPIC_GROUP_SEPARATOR + group;
}

/** Split `topic@group`; undefined unless exactly one separator (as Java's split + length check). */
export function splitTopicAtGroup(key: string): { topic: string; group: string } | undefined {
  const parts = key.split(TOPIC_GROUP_SEPARATOR);
  return parts.length === 2 ? { topic: parts[0]!, group: parts[1]! } : undefined;
}

export class ConsumerOffsetManager extends ConfigFileManager {
  private table = new Map<string, Map<number, number>>();

  constructor(storePathRootDir: string, io: FileIO) {
    super(io, storePathRootDir, 'consumerOffset.json');
  }

  protected decode(text: string): void {
    const o = parseConfigObject(text);
    const table = new Map<string, Map<number, number>>();
    for (const [key, v] of Object.entries(objectField(o, 'offsetTable', ''))) {
      if (!isObject(v)) throw new Error(`offsetTable.${key} is not an object`);
      table.set(key, decodeIntKeyedLongs(v, `offsetTable.${key}`));
    }
    this.table = table;
  }

  /** Pretty fastjson as the broker writes it: `"T@G":{0:250,1:249\n\t\t}`. */
  encode(): string {
    const keys = [...this.table.keys()].sort();
    if (keys.length === 0) return '{\n\t"offsetTable":{}\n}';
    const items = keys.map((k) => `\t\t${JSON.stringify(k)}:${prettyIntKeyedMap(this.table.get(k)!, 2)}`);
    return `{\n\t"offsetTable":{\n${items.join(',\n')}\n\t}\n}`;
  }

  /** GET_ALL_CONSUMER_OFFSET body: compact, bare Integer keys. */
  encodeBody(): string {
    const offsetTable: Record<string, FjMap> = {};
    for (const k of [...this.table.keys()].sort()) {
      offsetTable[k] = new FjMap([...this.table.get(k)!.entries()].sort((a, b) => a[0] - b[0]));
    }
    return toFastjson({ offsetTable });
  }

  /** UPDATE_CONSUMER_OFFSET (commitOffset). Moving backwards is allowed (resetOffset does it). */
  commit(group: string, topic: string, queueId: number, offset: number): void {
    if (!Number.isSafeInteger(queueId) || queueId < 0) throw new Error(`queueId must be an integer >= 0 (got ${queueId})`);
    if (!Number.isSafeInteger(offset)) throw new Error(`offset must be an integer (got ${offset})`);
    const key = topicAtGroup(topic, group);
    let m = this.table.get(key);
    if (m === undefined) {
      m = new Map();
      this.table.set(key, m);
    }
    if (m.get(queueId) === offset) return;
    m.set(queueId, offset);
    this.markChanged();
  }

  /** queryOffset; undefined where Java answers -1 (nothing committed). */
  query(group: string, topic: string, queueId: number): number | undefined {
    return this.table.get(topicAtGroup(topic, group))?.get(queueId);
  }

  /** queueId → offset for one topic and group (a copy), undefined if none committed. */
  offsetsOf(topic: string, group: string): Map<number, number> | undefined {
    const m = this.table.get(topicAtGroup(topic, group));
    return m && new Map(m);
  }

  /** whichGroupByTopic, sorted. */
  groupsOfTopic(topic: string): string[] {
    return this.select((k) => (k.topic === topic ? k.group : undefined));
  }

  /** whichTopicByConsumer, sorted. */
  topicsOfGroup(group: string): string[] {
    return this.select((k) => (k.group === group ? k.topic : undefined));
  }

  /** Every `topic@group` key, sorted. */
  keys(): string[] {
    return [...this.table.keys()].sort();
  }

  private select(pick: (k: { topic: string; group: string }) => string | undefined): string[] {
    const out = new Set<string>();
    for (const key of this.table.keys()) {
      const k = splitTopicAtGroup(key);
      const v = k && pick(k);
      if (v !== undefined) out.add(v);
    }
    return [...out].sort();
  }

  /** Drop all offsets of a group (DELETE_SUBSCRIPTIONGROUP with removeOffset); returns keys removed. */
  removeGroup(group: string): number {
    return this.removeWhere((k) => k.group === group);
  }

  /** Drop all offsets of a topic (DELETE_TOPIC_IN_BROKER, cleanOffsetByTopic); returns keys removed. */
  removeTopic(topic: string): number {
    return this.removeWhere((k) => k.topic === topic);
  }

  private removeWhere(match: (k: { topic: string; group: string }) => boolean): number {
    let n = 0;
    for (const key of [...this.table.keys()]) {
      const k = splitTopicAtGroup(key);
      if (k && match(k)) {
        this.table.delete(key);
        n++;
      }
    }
    if (n > 0) this.markChanged();
    return n;
  }

  /** commit of several queues, on disk when it resolves; undone when it cannot be written. */
  commitDurably(group: string, topic: string, offsets: ReadonlyArray<readonly [queueId: number, offset: number]>): Promise<void> {
    const key = topicAtGroup(topic, group);
    return this.keysDurably([key], () => {
      for (const [queueId, offset] of offsets) this.commit(group, topic, queueId, offset);
    });
  }

  /** removeGroup, on disk when it resolves; undone when it cannot be written. */
  removeGroupDurably(group: string): Promise<number> {
    return this.keysDurably(this.keys().filter((k) => splitTopicAtGroup(k)?.group === group), () => this.removeGroup(group));
  }

  /** removeTopic, on disk when it resolves; undone when it cannot be written. */
  removeTopicDurably(topic: string): Promise<number> {
    return this.keysDurably(this.keys().filter((k) => splitTopicAtGroup(k)?.topic === topic), () => this.removeTopic(topic));
  }

  /**
   * `mutate` (touching only `keys`), durably. Undo puts back, queue by queue, what `mutate` changed,
   * except a queue committed again since (a consumer's commit in between stands).
   */
  private keysDurably<T>(keys: string[], mutate: () => T): Promise<T> {
    return this.durably(() => {
      const snapshot = () => new Map(keys.map((k) => [k, new Map(this.table.get(k) ?? [])]));
      const before = snapshot();
      const result = mutate();
      const after = snapshot();
      const undo = () => {
        for (const k of keys) {
          const now = new Map(this.table.get(k) ?? []);
          const b = before.get(k)!;
          const a = after.get(k)!;
          for (const q of new Set([...b.keys(), ...a.keys()])) {
            if (now.get(q) !== a.get(q)) continue;
            if (b.has(q)) now.set(q, b.get(q)!);
            else now.delete(q);
          }
          if (now.size > 0 || this.table.has(k)) this.table.set(k, now);
        }
        this.markChanged();
      };
      return { result, undo };
    });
  }

  /** cloneOffset (CLONE_GROUP_OFFSET): copy `topic@src` to `topic@dest`; false if src has none. */
  cloneOffsets(srcGroup: string, destGroup: string, topic: string): boolean {
    const src = this.table.get(topicAtGroup(topic, srcGroup));
    if (src === undefined) return false;
    this.table.set(topicAtGroup(topic, destGroup), new Map(src));
    this.markChanged();
    return true;
  }
}
