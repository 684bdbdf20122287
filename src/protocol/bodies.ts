/**
 * Typed request/response bodies (apache/rocketmq remoting.protocol.body classes, RemotingSerializable) and their fastjson encodings. Parsing goes
 * through parseFastjson, so both bare and quoted numeric keys and MessageQueue object keys work.
 */
import {
  BodyFormatError,
  FjMap,
  messageQueueEntries,
  messageQueueMap,
  parseFastjson,
  toFastjson,
  type MessageQueue,
} from './fastjson.js';

export type { MessageQueue } from './fastjson.js';

export interface DataVersion {
  counter: number;
  timestamp: number;
}

export type TopicFilterType = 'SINGLE_TAG' | 'MULTI_TAG';

export interface TopicConfig {
  topicName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicFilterType: TopicFilterType;
  topicSysFlag: number;
  order: boolean;
}

export interface BrokerData {
  cluster: string;
  brokerName: string;
  /** brokerId ("0" = master) → "host:port". */
  brokerAddrs: Record<string, string>;
}

export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicSysFlag: number;
}

export interface TopicRouteData {
  brokerDatas: BrokerData[];
  queueDatas: QueueData[];
  filterServerTable: Record<string, string[]>;
  orderTopicConf?: string;
}

export interface ClusterInfo {
  brokerAddrTable: Record<string, BrokerData>;
  clusterAddrTable: Record<string, string[]>;
}

export type MessageModel = 'CLUSTERING' | 'BROADCASTING';
export type ConsumeType = 'CONSUME_ACTIVELY' | 'CONSUME_PASSIVELY';
export type ConsumeFromWhere =
  | 'CONSUME_FROM_LAST_OFFSET'
  | 'CONSUME_FROM_FIRST_OFFSET'
  | 'CONSUME_FROM_TIMESTAMP'
  | 'CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST'
  | 'CONSUME_FROM_MIN_OFFSET'
  | 'CONSUME_FROM_MAX_OFFSET';

export interface SubscriptionData {
  topic: string;
  subString: string;
  tagsSet: string[];
  codeSet: number[];
  subVersion: number;
  expressionType?: string;
  classFilterMode?: boolean;
}

export interface ConsumerData {
  groupName: string;
  consumeType: ConsumeType;
  messageModel: MessageModel;
  consumeFromWhere: ConsumeFromWhere;
  subscriptionDataSet: SubscriptionData[];
  unitMode?: boolean;
}

export interface HeartbeatData {
  clientID: string;
  consumerDataSet: ConsumerData[];
  producerDataSet: Array<{ groupName: string }>;
}

export interface Connection {
  clientId: string;
  clientAddr: string;
  language: string;
  version: number;
}

export interface ConsumerConnection {
  connectionSet: Connection[];
  consumeType?: ConsumeType;
  messageModel?: MessageModel;
  consumeFromWhere?: ConsumeFromWhere;
  subscriptionTable: Record<string, SubscriptionData>;
}

export interface OffsetWrapper {
  brokerOffset: number;
  consumerOffset: number;
  lastTimestamp: number;
}

export interface ConsumeStats {
  consumeTps: number;
  offsetTable: Array<[MessageQueue, OffsetWrapper]>;
}

interface TopicOffset {
  minOffset: number;
  maxOffset: number;
  lastUpdateTimestamp: number;
}

export interface TopicStatsTable {
  offsetTable: Array<[MessageQueue, TopicOffset]>;
}

export interface SubscriptionGroupConfig {
  groupName: string;
  consumeEnable: boolean;
  consumeFromMinEnable: boolean;
  consumeBroadcastEnable: boolean;
  retryQueueNums: number;
  retryMaxTimes: number;
  brokerId: number;
  whichBrokerWhenConsumeSlowly: number;
  notifyConsumerIdsChangedEnable: boolean;
}

export function defaultSubscriptionGroupConfig(groupName: string): SubscriptionGroupConfig {
  return {
    groupName,
    consumeEnable: true,
    consumeFromMinEnable: true,
    consumeBroadcastEnable: true,
    retryQueueNums: 1,
    retryMaxTimes: 16,
    brokerId: 0,
    whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  };
}

// ---- helpers --------------------------------------------------------------------------------

function parseObject(body: Buffer | string | undefined, what: string): Record<string, unknown> {
  if (!body || body.length === 0) throw new BodyFormatError(`${what}: empty body`);
  let v: unknown;
  try {
    v = parseFastjson(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw err instanceof BodyFormatError ? new BodyFormatError(`${what}: ${err.message}`) : err;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BodyFormatError(`${what}: body is not an object`);
  return v as Record<string, unknown>;
}

const num = (v: unknown, d = 0): number => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : d);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : v === undefined || v === null ? d : String(v));
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** brokerAddrs written the fastjson way: bare Long keys, or quoted for standard-JSON requesters. */
function brokerAddrsMap(addrs: Record<string, string>): FjMap {
  return new FjMap(
    Object.keys(addrs)
      .sort((a, b) => Number(a) - Number(b))
      .map((id) => [Number(id), addrs[id]]),
  );
}

function decodeBrokerData(v: unknown): BrokerData {
  const o = obj(v);
  const addrs: Record<string, string> = {};
  for (const [k, a] of Object.entries(obj(o.brokerAddrs))) addrs[String(Number(k))] = str(a);
  return { cluster: str(o.cluster), brokerName: str(o.brokerName), brokerAddrs: addrs };
}

function encodeBrokerData(b: BrokerData): Record<string, unknown> {
  return { cluster: b.cluster, brokerName: b.brokerName, brokerAddrs: brokerAddrsMap(b.brokerAddrs) };
}

// ---- TopicRouteData -----------------------------------------------------------------

/**
 * `standardJson`: quoted numeric keys (requester version >= V4_9_4 or acceptStandardJsonOnly).
 * QueueData carries both `topicSysFlag` (4.9.0+) and `topicSynFlag` (<= 4.8.0) for compatibility.
 */
export function encodeTopicRouteData(r: TopicRouteData, standardJson = false): Buffer {
  const v: Record<string, unknown> = {
    brokerDatas: r.brokerDatas.map(encodeBrokerData),
    filterServerTable: r.filterServerTable ?? {},
    queueDatas: r.queueDatas.map((q) => ({ ...q, topicSynFlag: q.topicSysFlag })),
  };
  if (r.orderTopicConf) v.orderTopicConf = r.orderTopicConf;
  return Buffer.from(toFastjson(v, { quoteNumericKeys: standardJson }), 'utf8');
}

export function decodeTopicRouteData(body: Buffer | string): TopicRouteData {
  const o = parseObject(body, 'TopicRouteData');
  const route: TopicRouteData = {
    brokerDatas: arr(o.brokerDatas).map(decodeBrokerData),
    queueDatas: arr(o.queueDatas).map((q) => {
      const x = obj(q);
      return {
        brokerName: str(x.brokerName),
        readQueueNums: num(x.readQueueNums),
        writeQueueNums: num(x.writeQueueNums),
        perm: num(x.perm),
        topicSysFlag: num(x.topicSysFlag ?? x.topicSynFlag),
      };
    }),
    filterServerTable: obj(o.filterServerTable) as Record<string, string[]>,
  };
  if (typeof o.orderTopicConf === 'string') route.orderTopicConf = o.orderTopicConf;
  return route;
}

// ---- ClusterInfo (always bare numeric keys, as the name server writes them) ------------------------------------------

export function encodeClusterInfo(c: ClusterInfo): Buffer {
  const brokerAddrTable: Record<string, unknown> = {};
  for (const [name, b] of Object.entries(c.brokerAddrTable)) brokerAddrTable[name] = encodeBrokerData(b);
  return Buffer.from(toFastjson({ brokerAddrTable, clusterAddrTable: c.clusterAddrTable }), 'utf8');
}

export function decodeClusterInfo(body: Buffer | string): ClusterInfo {
  const o = parseObject(body, 'ClusterInfo');
  const brokerAddrTable: Record<string, BrokerData> = {};
  for (const [name, b] of Object.entries(obj(o.brokerAddrTable))) brokerAddrTable[name] = decodeBrokerData(b);
  const clusterAddrTable: Record<string, string[]> = {};
  for (const [c, names] of Object.entries(obj(o.clusterAddrTable))) clusterAddrTable[c] = arr(names).map((n) => str(n));
  return { brokerAddrTable, clusterAddrTable };
}

// ---- TopicConfig wrapper (GET_ALL_TOPIC_CONFIG, REGISTER_BROKER) ----------------------------

function decodeTopicConfig(v: unknown): TopicConfig {
  const o = obj(v);
  return {
    topicName: str(o.topicName),
    readQueueNums: num(o.readQueueNums, 16),
    writeQueueNums: num(o.writeQueueNums, 16),
    perm: num(o.perm, 6),
    topicFilterType: o.topicFilterType === 'MULTI_TAG' ? 'MULTI_TAG' : 'SINGLE_TAG',
    topicSysFlag: num(o.topicSysFlag),
    order: o.order === true || o.order === 'true',
  };
}

export interface TopicConfigSerializeWrapper {
  dataVersion: DataVersion;
  topicConfigTable: Record<string, TopicConfig>;
}

export function decodeTopicConfigWrapper(v: unknown): TopicConfigSerializeWrapper {
  const o = obj(v);
  const dv = obj(o.dataVersion);
  const table: Record<string, TopicConfig> = {};
  for (const [name, tc] of Object.entries(obj(o.topicConfigTable))) table[name] = decodeTopicConfig(tc);
  return { dataVersion: { counter: num(dv.counter), timestamp: num(dv.timestamp) }, topicConfigTable: table };
}

// ---- Heartbeat -----------------------------------------------------------------------

export function decodeHeartbeatData(body: Buffer | string): HeartbeatData {
  const o = parseObject(body, 'HeartbeatData');
  return {
    clientID: str(o.clientID),
    consumerDataSet: arr(o.consumerDataSet).map((c) => {
      const x = obj(c);
      return {
        groupName: str(x.groupName),
        consumeType: (str(x.consumeType) || 'CONSUME_PASSIVELY') as ConsumeType,
        messageModel: (str(x.messageModel) || 'CLUSTERING') as MessageModel,
        consumeFromWhere: (str(x.consumeFromWhere) || 'CONSUME_FROM_LAST_OFFSET') as ConsumeFromWhere,
        subscriptionDataSet: arr(x.subscriptionDataSet).map(decodeSubscriptionData),
        unitMode: x.unitMode === true,
      };
    }),
    producerDataSet: arr(o.producerDataSet).map((p) => ({ groupName: str(obj(p).groupName) })),
  };
}

function decodeSubscriptionData(v: unknown): SubscriptionData {
  const s = obj(v);
  const out: SubscriptionData = {
    topic: str(s.topic),
    subString: str(s.subString, '*'),
    tagsSet: arr(s.tagsSet).map((t) => str(t)),
    codeSet: arr(s.codeSet).map((c) => num(c)),
    subVersion: num(s.subVersion),
  };
  if (typeof s.expressionType === 'string') out.expressionType = s.expressionType;
  if (typeof s.classFilterMode === 'boolean') out.classFilterMode = s.classFilterMode;
  return out;
}

export function encodeJson(v: unknown): Buffer {
  return Buffer.from(toFastjson(v), 'utf8');
}

// ---- ConsumeStats / TopicStatsTable (MessageQueue object keys) ------------------------

export function encodeConsumeStats(s: ConsumeStats): Buffer {
  return encodeJson({ consumeTps: s.consumeTps, offsetTable: messageQueueMap(s.offsetTable) });
}

export function decodeConsumeStats(body: Buffer | string): ConsumeStats {
  const o = parseObject(body, 'ConsumeStats');
  return {
    consumeTps: num(o.consumeTps),
    offsetTable: messageQueueEntries<unknown>(o.offsetTable).map(([mq, w]) => {
      const x = obj(w);
      return [mq, { brokerOffset: num(x.brokerOffset), consumerOffset: num(x.consumerOffset), lastTimestamp: num(x.lastTimestamp) }];
    }),
  };
}

export function encodeTopicStatsTable(t: TopicStatsTable): Buffer {
  return encodeJson({ offsetTable: messageQueueMap(t.offsetTable) });
}

export function decodeTopicStatsTable(body: Buffer | string): TopicStatsTable {
  const o = parseObject(body, 'TopicStatsTable');
  return {
    offsetTable: messageQueueEntries<unknown>(o.offsetTable).map(([mq, w]) => {
      const x = obj(w);
      return [mq, { minOffset: num(x.minOffset), maxOffset: num(x.maxOffset), lastUpdateTimestamp: num(x.lastUpdateTimestamp) }];
    }),
  };
}

/** ResetOffsetBody / RESET_CONSUMER_CLIENT_OFFSET body: {"offsetTable":{<MessageQueue>:<long>}}. */
export function encodeResetOffsetBody(entries: Array<[MessageQueue, number]>): Buffer {
  return encodeJson({ offsetTable: messageQueueMap(entries) });
}

export function decodeResetOffsetBody(body: Buffer | string): Array<[MessageQueue, number]> {
  const o = parseObject(body, 'ResetOffsetBody');
  // C++ variant: a list of {brokerName, offset, queueId, topic}
  if (Array.isArray(o.offsetTable)) {
    return o.offsetTable.map((e) => {
      const x = obj(e);
      return [{ topic: str(x.topic), brokerName: str(x.brokerName), queueId: num(x.queueId) }, num(x.offset)];
    });
  }
  return messageQueueEntries<unknown>(o.offsetTable).map(([mq, v]) => [mq, num(v)]);
}

export function decodeConsumerConnection(body: Buffer | string): ConsumerConnection {
  const o = parseObject(body, 'ConsumerConnection');
  const subscriptionTable: Record<string, SubscriptionData> = {};
  for (const [t, s] of Object.entries(obj(o.subscriptionTable))) subscriptionTable[t] = decodeSubscriptionData(s);
  const out: ConsumerConnection = {
    connectionSet: arr(o.connectionSet).map(decodeConnection),
    subscriptionTable,
  };
  if (typeof o.consumeType === 'string') out.consumeType = o.consumeType as ConsumeType;
  if (typeof o.messageModel === 'string') out.messageModel = o.messageModel as MessageModel;
  if (typeof o.consumeFromWhere === 'string') out.consumeFromWhere = o.consumeFromWhere as ConsumeFromWhere;
  return out;
}

export function decodeConnection(v: unknown): Connection {
  const c = obj(v);
  return { clientId: str(c.clientId), clientAddr: str(c.clientAddr), language: str(c.language, 'JAVA'), version: num(c.version) };
}

/** LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body. */
export interface LockBatchRequestBody {
  consumerGroup: string;
  clientId: string;
  mqSet: MessageQueue[];
}

function decodeMessageQueue(v: unknown): MessageQueue {
  const x = obj(v);
  return { topic: str(x.topic), brokerName: str(x.brokerName), queueId: num(x.queueId) };
}

export function decodeLockBatchRequestBody(body: Buffer | string): LockBatchRequestBody {
  const o = parseObject(body, 'LockBatchRequestBody');
  return { consumerGroup: str(o.consumerGroup), clientId: str(o.clientId), mqSet: arr(o.mqSet).map(decodeMessageQueue) };
}

/** KVTable {"table":{k:v}} (GET_BROKER_RUNTIME_INFO, GET_KVLIST_BY_NAMESPACE). */
export function decodeKVTable(body: Buffer | string): Record<string, string> {
  const o = parseObject(body, 'KVTable');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(o.table))) out[k] = str(v);
  return out;
}

/** TopicList {"topicList":[...],"brokerAddr":...} and GroupList {"groupList":[...]}. */
export function decodeStringList(body: Buffer | string, field: 'topicList' | 'groupList' | 'consumerIdList'): string[] {
  const o = parseObject(body, field);
  return arr(o[field]).map((s) => str(s));
}
