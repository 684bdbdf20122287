/**
 * Queue allocation among the consumers of a group (apache/rocketmq AllocateMessageQueueAveragely). AllocateMessageQueueAveragely
 * is reproduced exactly, including its inputs' ordering, so that a TypeScript consumer and a Java
 * consumer in the same group compute the same, disjoint split.
 */
import type { MessageQueue } from '../protocol/bodies.js';

export type AllocateStrategy = (consumerGroup: string, currentCid: string, mqAll: MessageQueue[], cidAll: string[]) => MessageQueue[];

/**
 * Java String.compareTo: by UTF-16 code units, which is what JS `<` on strings compares. mqadmin
 * sorts names this way; String#localeCompare would also cost every CLI run an ICU collator (~10 ms).
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** MessageQueue.compareTo: topic, then brokerName, then queueId. */
export function compareMessageQueues(a: MessageQueue, b: MessageQueue): number {
  return compareStrings(a.topic, b.topic) || compareStrings(a.brokerName, b.brokerName) || a.queueId - b.queueId;
}

export function sortMessageQueues(mqs: readonly MessageQueue[]): MessageQueue[] {
  return [...mqs].sort(compareMessageQueues);
}

function sortClientIds(cids: readonly string[]): string[] {
  return [...cids].sort(compareStrings);
}

/**
 * AllocateMessageQueueAveragely.allocate. The caller's lists are sorted here (the Java rebalance
 * sorts both before calling); a client not in `cidAll` gets nothing.
 */
export const allocateAveragely: AllocateStrategy = (_group, currentCid, mqAllIn, cidAllIn) => {
  if (!currentCid || mqAllIn.length === 0 || cidAllIn.length === 0) return [];
  const mqAll = sortMessageQueues(mqAllIn);
  const cidAll = sortClientIds(cidAllIn);
  const index = cidAll.indexOf(currentCid);
  if (index < 0) return [];
  const n = mqAll.length;
  const c = cidAll.length;
  const mod = n % c;
  const averageSize = n <= c ? 1 : mod > 0 && index < mod ? Math.floor(n / c) + 1 : Math.floor(n / c);
  const startIndex = mod > 0 && index < mod ? index * averageSize : index * averageSize + mod;
  const range = Math.min(averageSize, n - startIndex);
  const result: MessageQueue[] = [];
  for (let i = 0; i < range; i++) result.push(mqAll[(startIndex + i) % n]!);
  return result;
};

/** Stable string key of a queue, for maps. */
export function mqKey(mq: MessageQueue): string {
  return `${mq.topic}\u0001${mq.brokerName}\u0001${mq.queueId}`;
}
