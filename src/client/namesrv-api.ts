/**
 * Typed requests to a name server (ours or Apache's; fact sheet §2.13). Each function takes the
 * RemotingClient and one name server address; `onAnyNamesrv` tries a list in turn.
 */
import { RemoteError, RocketError, TopicNotFoundError } from '../errors/index.js';
import {
  decodeClusterInfo,
  decodeKVTable,
  decodeStringList,
  decodeTopicRouteData,
  type ClusterInfo,
  type TopicRouteData,
} from '../protocol/bodies.js';
import { RequestCode, ResponseCode, responseCodeName } from '../protocol/codes.js';
import { bodyBuffer, makeRequest, type RemotingCommand } from '../protocol/frame.js';
import type { RemotingClient } from './remoting.js';

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

export async function deleteTopicInNamesrv(client: RemotingClient, namesrvAddr: string, topic: string, clusterName?: string, timeoutMs?: number): Promise<void> {
  const res = await client.invoke(namesrvAddr, makeRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic, clusterName }), timeoutMs);
  if (res.code !== ResponseCode.SUCCESS) fail(res, `delete topic ${topic}`);
}

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

/**
 * Run `fn` against each name server in turn until one answers (as MQClientAPIImpl picks another
 * name server when one is down). Definite answers (a RemoteError such as TOPIC_NOT_EXIST, or a
 * TopicNotFoundError) are returned at once; only transport failures move on. Bounded by the list.
 */
export async function onAnyNamesrv<T>(addrs: string[], fn: (addr: string) => Promise<T>): Promise<T> {
  if (addrs.length === 0) throw new RocketError('no name server address given', { code: 'E_USAGE', exitCode: 2 });
  let last: unknown;
  for (const a of addrs) {
    try {
      return await fn(a);
    } catch (err) {
      if (err instanceof RemoteError || err instanceof TopicNotFoundError) throw err;
      last = err;
    }
  }
  throw last;
}
