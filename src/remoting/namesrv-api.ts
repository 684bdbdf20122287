/**
 * Typed requests to a name server (ours or Apache's). Each function takes the
 * RemotingClient and one name server address (and an optional timeout); `onAnyNamesrv` tries a
 * list in turn. Failures: transport errors as RemotingClient throws them (BrokerUnreachableError,
 * TimeoutError), other answers than SUCCESS as RemoteError carrying the response code, an unknown
 * topic as TopicNotFoundError.
 */
import { notRocketmqReply, RemoteError, TopicNotFoundError, UsageError } from '../errors/index.js';
import {
  decodeClusterInfo,
  decodeKVTable,
  decodeStringList,
  decodeTopicRouteData,
  encodeJson,
  type ClusterInfo,
  type DataVersion,
  type TopicRouteData,
} from '../protocol/bodies.js';
import { BodyFormatError, parseFastjson } from '../protocol/fastjson.js';
import { encodeRegisterBrokerBody, registerBodyCrc32, type RegisterBrokerBody } from '../protocol/register-broker.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import type { RemotingClient } from './client.js';

/** "a:9876;b:9876" (also ',' separated) → ["a:9876", "b:9876"]. */
export function parseNamesrvAddrs(s: string | undefined): string[] {
  if (!s) return [];
  return s
    .split(/[;,]/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

function fail(res: RemotingCommand, what: string): never {
  throw new RemoteError(res.code, `${what}: ${res.remark || responseCodeName(res.code)}`);
}

// ---- broker side --------------------------------------------------------------------------------

/** Who a broker is: the RegisterBroker/UnRegisterBroker/QueryDataVersion header fields. */
export interface BrokerIdentity {
  clusterName: string;
  brokerName: string;
  /** brokerIP1:listenPort. */
  brokerAddr: string;
  /** 0 = master. */
  brokerId: number;
}

export interface RegisterBrokerRequest extends BrokerIdentity {
  /** brokerIP2:haListenPort. */
  haServerAddr: string;
  /** The body, or its bytes already encoded in the form `compressed` says. */
  body: RegisterBrokerBody | Buffer;
  /** Send the zlib form (broker config compressedRegister). */
  compressed?: boolean;
}

interface RegisterBrokerResult {
  /** For a slave: its master, when the name server knows it to be live. */
  masterAddr?: string;
  haServerAddr?: string;
  /** KV namespace ORDER_TOPIC_CONFIG (topic → "broker:queues;..."), {} when none. */
  orderTopicConfig: Record<string, string>;
}

/** REGISTER_BROKER (BrokerOuterAPI.registerBroker): body with its bodyCrc32. */
export async function registerBroker(client: RemotingClient, namesrvAddr: string, r: RegisterBrokerRequest, timeoutMs?: number): Promise<RegisterBrokerResult> {
  const compressed = r.compressed ?? false;
  const body = Buffer.isBuffer(r.body) ? r.body : encodeRegisterBrokerBody(r.body, compressed);
  const header = {
    brokerName: r.brokerName,
    brokerAddr: r.brokerAddr,
    clusterName: r.clusterName,
    haServerAddr: r.haServerAddr,
    brokerId: r.brokerId,
    compressed,
    bodyCrc32: registerBodyCrc32(body),
  };
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.REGISTER_BROKER, header, body), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `register broker ${r.brokerName} with ${namesrvAddr}`);
  const kv = bodyBuffer(res);
  const out: RegisterBrokerResult = { orderTopicConfig: kv.length > 0 ? decodeKVTable(kv) : {} };
  if (res.extFields?.masterAddr) out.masterAddr = res.extFields.masterAddr;
  if (res.extFields?.haServerAddr) out.haServerAddr = res.extFields.haServerAddr;
  return out;
}

/** UNREGISTER_BROKER. */
export async function unregisterBroker(client: RemotingClient, namesrvAddr: string, b: BrokerIdentity, timeoutMs?: number): Promise<void> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.UNREGISTER_BROKER, identityHeader(b)), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `unregister broker ${b.brokerName} from ${namesrvAddr}`);
}

/**
 * QUERY_DATA_VERSION: has the name server a different topic DataVersion for this broker than
 * `dataVersion`? `changed: false` also refreshes the broker's liveness there.
 */
export async function queryDataVersion(
  client: RemotingClient,
  namesrvAddr: string,
  b: BrokerIdentity,
  dataVersion: DataVersion,
  timeoutMs?: number,
): Promise<{ changed: boolean; nameServerDataVersion?: DataVersion }> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.QUERY_DATA_VERSION, identityHeader(b), encodeJson(dataVersion)), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `query data version of ${b.brokerName}`);
  const out: { changed: boolean; nameServerDataVersion?: DataVersion } = { changed: (res.extFields?.changed ?? '').toLowerCase() === 'true' };
  const held = bodyBuffer(res);
  if (held.length > 0) {
    const o = parseFastjson(held.toString('utf8')) as Record<string, unknown>;
    out.nameServerDataVersion = { counter: Number(o?.counter ?? 0), timestamp: Number(o?.timestamp ?? 0) };
  }
  return out;
}

function identityHeader(b: BrokerIdentity) {
  return { brokerName: b.brokerName, brokerAddr: b.brokerAddr, clusterName: b.clusterName, brokerId: b.brokerId };
}

/** WIPE_WRITE_PERM_OF_BROKER: returns how many topics lost the write perm. */
export async function wipeWritePermOfBroker(client: RemotingClient, namesrvAddr: string, brokerName: string, timeoutMs?: number): Promise<number> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.WIPE_WRITE_PERM_OF_BROKER, { brokerName }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `wipe write perm of ${brokerName}`);
  return Number(res.extFields?.wipeTopicCount ?? 0);
}

/** ADD_WRITE_PERM_OF_BROKER: returns how many topics were made READ|WRITE. */
export async function addWritePermOfBroker(client: RemotingClient, namesrvAddr: string, brokerName: string, timeoutMs?: number): Promise<number> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.ADD_WRITE_PERM_OF_BROKER, { brokerName }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `add write perm to ${brokerName}`);
  return Number(res.extFields?.addTopicCount ?? 0);
}

// ---- routes, clusters, topics -----------------------------------------------------------------

/** Route of a topic. Sends acceptStandardJsonOnly=true; both key flavours are accepted anyway. */
export async function getRouteInfoByTopic(client: RemotingClient, namesrvAddr: string, topic: string, timeoutMs?: number): Promise<TopicRouteData> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic, acceptStandardJsonOnly: true }), timeoutMs);
  if (res.code === ResponseCode.TOPIC_NOT_EXIST) throw new TopicNotFoundError(topic);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `route of ${topic}`);
  if (!res.body || bodyBuffer(res).length === 0) throw new TopicNotFoundError(topic);
  return decodeTopicRouteData(bodyBuffer(res));
}

export async function getBrokerClusterInfo(client: RemotingClient, namesrvAddr: string, timeoutMs?: number): Promise<ClusterInfo> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_BROKER_CLUSTER_INFO), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, 'cluster info');
  return decodeClusterInfo(bodyBuffer(res));
}

export async function getAllTopicList(client: RemotingClient, namesrvAddr: string, timeoutMs?: number): Promise<string[]> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, 'topic list');
  return decodeStringList(bodyBuffer(res), 'topicList');
}

export async function getTopicsByCluster(client: RemotingClient, namesrvAddr: string, cluster: string, timeoutMs?: number): Promise<string[]> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_TOPICS_BY_CLUSTER, { cluster }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `topics of cluster ${cluster}`);
  return decodeStringList(bodyBuffer(res), 'topicList');
}

/** GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and broker names, and one broker address. */
export async function getSystemTopicList(client: RemotingClient, namesrvAddr: string, timeoutMs?: number): Promise<{ topicList: string[]; brokerAddr?: string }> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, 'system topic list');
  const body = bodyBuffer(res);
  const out: { topicList: string[]; brokerAddr?: string } = { topicList: decodeStringList(body, 'topicList') };
  const o = parseFastjson(body.toString('utf8')) as Record<string, unknown>;
  if (typeof o?.brokerAddr === 'string') out.brokerAddr = o.brokerAddr;
  return out;
}

/** DELETE_TOPIC_IN_NAMESRV; with clusterName only that cluster's brokers lose the topic (4.9.x). */
export async function deleteTopicInNamesrv(client: RemotingClient, namesrvAddr: string, topic: string, clusterName?: string, timeoutMs?: number): Promise<void> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic, clusterName }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `delete topic ${topic}`);
}

// ---- KV config -------------------------------------------------------------------------------

export async function putKVConfig(client: RemotingClient, namesrvAddr: string, namespace: string, key: string, value: string, timeoutMs?: number): Promise<void> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.PUT_KV_CONFIG, { namespace, key, value }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `put kv ${namespace}/${key}`);
}

/** undefined when the key is not set (QUERY_NOT_FOUND). */
export async function getKVConfig(client: RemotingClient, namesrvAddr: string, namespace: string, key: string, timeoutMs?: number): Promise<string | undefined> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_KV_CONFIG, { namespace, key }), timeoutMs);
  if (res.code === ResponseCode.QUERY_NOT_FOUND) return undefined;
  if (res.code !== ResponseCode.SUCCESS) fail(res, `get kv ${namespace}/${key}`);
  return res.extFields?.value;
}

export async function deleteKVConfig(client: RemotingClient, namesrvAddr: string, namespace: string, key: string, timeoutMs?: number): Promise<void> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.DELETE_KV_CONFIG, { namespace, key }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `delete kv ${namespace}/${key}`);
}

export async function getKVListByNamespace(client: RemotingClient, namesrvAddr: string, namespace: string, timeoutMs?: number): Promise<Record<string, string>> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.GET_KVLIST_BY_NAMESPACE, { namespace }), timeoutMs);
  if (res.code === ResponseCode.QUERY_NOT_FOUND) return {};
  if (res.code !== ResponseCode.SUCCESS) fail(res, `kv list ${namespace}`);
  return decodeKVTable(bodyBuffer(res));
}

// ---- several name servers ---------------------------------------------------------------------

/**
 * Run `fn` against each name server in turn until one answers (as MQClientAPIImpl picks another
 * name server when one is down). Definite answers (a RemoteError such as TOPIC_NOT_EXIST, or a
 * TopicNotFoundError) are returned at once; only transport failures move on. Bounded by the list.
 */
export async function onAnyNamesrv<T>(addrs: string[], fn: (addr: string) => Promise<T>): Promise<T> {
  if (addrs.length === 0) throw new UsageError('no name server address given');
  let last: unknown;
  for (const a of addrs) {
    try {
      return await fn(a);
    } catch (err) {
      if (err instanceof RemoteError || err instanceof TopicNotFoundError) throw err;
      last = err instanceof BodyFormatError ? notRocketmqReply(err.message, a, err) : err;
    }
  }
  throw last;
}
