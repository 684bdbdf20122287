/**
 * A group's committed offset of one queue, with "none" kept apart from 0 on every broker version.
 *
 * QUERY_CONSUMER_OFFSET is sent with setZeroIfNotFound=false: RocketMQ 5.x brokers (and ours) then
 * answer QUERY_NOT_FOUND for a queue the group never committed on. A 4.x broker ignores that field
 * and answers offset 0 for such a queue while its first message is still in memory or the queue is
 * empty (ConsumerManageProcessor#queryConsumerOffset, 4.9.8), the same answer as for a real commit
 * of 0. For a 0 from a broker older than 5.0 the broker's offset table (GET_ALL_CONSUMER_OFFSET, the
 * consumerOffset.json it persists) says which it is.
 */
import { RemoteError } from '../errors/index.js';
import { RequestCode, ResponseCode } from '../protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import { parseFastjson } from '../protocol/fastjson.js';
import type { MessageQueue } from '../protocol/bodies.js';

type Invoke = (addr: string, req: RemotingCommand) => Promise<RemotingCommand>;

/** MQVersion ordinal of V5_0_0: from it on, brokers honour setZeroIfNotFound=false. */
const V5_0_0 = 413;

/**
 * The committed offset, or null when the group has none for the queue. `offsetTables` caches the
 * GET_ALL_CONSUMER_OFFSET answer per broker address for the caller's lifetime (one command).
 */
export async function queryCommittedOffset(
  invoke: Invoke,
  addr: string,
  group: string,
  mq: MessageQueue,
  offsetTables?: Map<string, Promise<OffsetTable | null>>,
): Promise<number | null> {
  const res = await invoke(addr, makeRequest(RequestCode.QUERY_CONSUMER_OFFSET, {
    consumerGroup: group,
    topic: mq.topic,
    queueId: mq.queueId,
    setZeroIfNotFound: false,
    bname: mq.brokerName,
  }));
  if (res.code === ResponseCode.QUERY_NOT_FOUND) return null;
  if (res.code !== ResponseCode.SUCCESS) {
    throw new RemoteError(res.code, `offset of ${group} on ${mq.topic}/${mq.brokerName}/${mq.queueId}: ${res.remark?.trim() || `response code ${res.code}`}`, 'E_QUERY_OFFSET_FAILED');
  }
  const o = Number(res.extFields?.offset);
  if (!Number.isFinite(o) || o < 0) return null;
  if (o !== 0 || res.version >= V5_0_0) return o;
  let table = offsetTables?.get(addr);
  if (!table) {
    table = allConsumerOffsets(invoke, addr);
    offsetTables?.set(addr, table);
  }
  const t = await table;
  // A broker that cannot list its offsets (rocketctl's answers exactly already): keep its 0.
  if (t === null) return 0;
  return t.get(`${mq.topic}@${group}`)?.has(mq.queueId) ? 0 : null;
}

/** "topic@group" → the queue ids with a committed offset. */
export type OffsetTable = Map<string, Set<number>>;

/** GET_ALL_CONSUMER_OFFSET: the broker's whole offset table; null when the broker does not serve it. */
async function allConsumerOffsets(invoke: Invoke, addr: string): Promise<OffsetTable | null> {
  const res = await invoke(addr, makeRequest(RequestCode.GET_ALL_CONSUMER_OFFSET, {}));
  if (res.code !== ResponseCode.SUCCESS) return null;
  const body = parseFastjson(bodyBuffer(res).toString('utf8')) as { offsetTable?: Record<string, Record<string, number>> } | null;
  const table: OffsetTable = new Map();
  for (const [key, queues] of Object.entries(body?.offsetTable ?? {})) table.set(key, new Set(Object.keys(queues ?? {}).map(Number)));
  return table;
}
