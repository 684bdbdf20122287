/**
 * Which brokers an admin operation talks to: name server lookups (routes, cluster info, with
 * fail-over between the session's name servers) and the resolution of -b / -c / the local
 * broker into BrokerTargets, as mqadmin's CommandUtil does.
 */
import { AdminSession } from './session.js';
import { onAnyNamesrv, getRouteInfoByTopic, getBrokerClusterInfo } from '../remoting/namesrv-api.js';
import { TopicRouteData, ClusterInfo, BrokerData } from '../protocol/bodies.js';
import { RocketError, BrokerUnreachableError, UsageError, TopicNotFoundError } from '../errors/index.js';
import { compareStrings } from '../client/allocate.js';

export class ClusterNotFoundError extends RocketError {
  constructor(cluster: string, known: string[]) {
    super(`cluster ${cluster} is not known to the name server${known.length > 0 ? ` (known: ${known.join(', ')})` : ' (no broker registered)'}`, {
      code: 'E_CLUSTER_NOT_FOUND',
      actions: ['list clusters with: rocketctl clusterList'],
    });
  }
}

/** One broker address to send to, as the name server knows it. */
export interface BrokerTarget {
  clusterName: string | null;
  brokerName: string | null;
  brokerId: number | null;
  addr: string;
}

/** Ask the session's name servers in turn; an unreachable list names the addresses tried. */
export async function onNamesrv<T>(s: AdminSession, fn: (addr: string) => Promise<T>): Promise<T> {
  try {
    return await onAnyNamesrv(s.namesrvAddrs, fn);
  } catch (err) {
    if (err instanceof BrokerUnreachableError && s.namesrvAddrs.length > 0 && !s.target.startsWith('local')) {
      throw new BrokerUnreachableError(`name server ${s.namesrvAddrs.join(';')}`, err.cause);
    }
    throw err;
  }
}

/** The route of a topic (GET_ROUTEINFO_BY_TOPIC); TopicNotFoundError when the name server has none. */
export function routeOfTopic(s: AdminSession, topic: string): Promise<TopicRouteData> {
  return onNamesrv(s, (a) => getRouteInfoByTopic(s.client, a, topic, s.timeoutMs));
}

/** GET_BROKER_CLUSTER_INFO. */
export function clusterInfo(s: AdminSession): Promise<ClusterInfo> {
  return onNamesrv(s, (a) => getBrokerClusterInfo(s.client, a, s.timeoutMs));
}

/** BrokerData.selectBrokerAddr, made deterministic: the master (id 0), else the lowest id. */
export function brokerAddrOf(bd: BrokerData): string | undefined {
  if (bd.brokerAddrs['0']) return bd.brokerAddrs['0'];
  const ids = Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b));
  return ids.length > 0 ? bd.brokerAddrs[ids[0]!] : undefined;
}

/** One target per BrokerData of a route (its master, else any address), sorted by broker name. */
export function brokerTargetsOfRoute(route: TopicRouteData): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of [...route.brokerDatas].sort((a, b) => compareStrings(a.brokerName, b.brokerName))) {
    const addr = brokerAddrOf(bd);
    if (!addr) continue;
    const id = Object.entries(bd.brokerAddrs).find(([, a]) => a === addr)?.[0];
    out.push({ clusterName: bd.cluster || null, brokerName: bd.brokerName, brokerId: id === undefined ? null : Number(id), addr });
  }
  return out;
}

function brokerDatasOfCluster(info: ClusterInfo, cluster: string): BrokerData[] {
  const names = info.clusterAddrTable[cluster];
  if (!names) throw new ClusterNotFoundError(cluster, Object.keys(info.clusterAddrTable).sort());
  return [...names]
    .sort(compareStrings)
    .map((n) => info.brokerAddrTable[n])
    .filter((b): b is BrokerData => b !== undefined);
}

/** CommandUtil.fetchMasterAddrByClusterName: the master address of each broker of a cluster. */
export function mastersOfCluster(info: ClusterInfo, cluster: string): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of brokerDatasOfCluster(info, cluster)) {
    const addr = bd.brokerAddrs['0'];
    if (addr) out.push({ clusterName: cluster, brokerName: bd.brokerName, brokerId: 0, addr });
  }
  return out;
}

/** CommandUtil.fetchMasterAndSlaveAddrByClusterName: every address of every broker of a cluster. */
export function allAddrsOfCluster(info: ClusterInfo, cluster: string): BrokerTarget[] {
  const out: BrokerTarget[] = [];
  for (const bd of brokerDatasOfCluster(info, cluster)) {
    for (const id of Object.keys(bd.brokerAddrs).sort((a, b) => Number(a) - Number(b))) {
      out.push({ clusterName: cluster, brokerName: bd.brokerName, brokerId: Number(id), addr: bd.brokerAddrs[id]! });
    }
  }
  return out;
}

/** The broker (name, id, cluster) an address belongs to, if the name server knows it. */
export function brokerOfAddr(info: ClusterInfo, addr: string): BrokerTarget | undefined {
  for (const bd of Object.values(info.brokerAddrTable)) {
    for (const [id, a] of Object.entries(bd.brokerAddrs)) {
      if (a === addr) return { clusterName: bd.cluster || clusterOfBroker(info, bd.brokerName), brokerName: bd.brokerName, brokerId: Number(id), addr };
    }
  }
  return undefined;
}

function clusterOfBroker(info: ClusterInfo, brokerName: string): string | null {
  for (const [c, names] of Object.entries(info.clusterAddrTable)) if (names.includes(brokerName)) return c;
  return null;
}

export interface TargetOptions {
  brokerAddr?: string;
  clusterName?: string;
  /** Include slaves for -c (brokerStatus reads them; writes go to masters only). */
  withSlaves?: boolean;
  /** Neither -b nor -c: allowed only for the local broker, whose one cluster is then meant. */
  local?: boolean;
}

/**
 * -b ADDR (one broker; named from cluster info when the name server knows it), -c CLUSTER (its
 * masters, or every address withSlaves), or — for the local broker only — its single cluster.
 */
export async function resolveTargets(s: AdminSession, o: TargetOptions): Promise<BrokerTarget[]> {
  if (o.brokerAddr) {
    const info = await clusterInfo(s).catch(() => undefined);
    return [(info && brokerOfAddr(info, o.brokerAddr)) ?? { clusterName: null, brokerName: null, brokerId: null, addr: o.brokerAddr }];
  }
  const info = await clusterInfo(s);
  const cluster = o.clusterName ?? localCluster(info, o.local === true);
  const targets = o.withSlaves ? allAddrsOfCluster(info, cluster) : mastersOfCluster(info, cluster);
  if (targets.length === 0) throw new RocketError(`cluster ${cluster} has no ${o.withSlaves ? '' : 'master '}broker registered`, { code: 'E_NO_BROKER' });
  return targets;
}

export function localCluster(info: ClusterInfo, local: boolean): string {
  const clusters = Object.keys(info.clusterAddrTable).sort();
  if (local && clusters.length === 1) return clusters[0]!;
  const known = clusters.length > 0 ? ` (clusters: ${clusters.join(', ')})` : '';
  throw new UsageError(`give the target: -b/--brokerAddr host:port or -c/--clusterName NAME${known}`);
}

export interface BrokerRef {
  brokerName: string;
  /** Master address (brokerId 0), else the lowest id (admin.ts brokerAddrOf): where offsets live. */
  addr: string;
}

/** Every broker (by name) of the cluster(s) the name server knows, with its master address. */
export async function clusterBrokers(session: AdminSession): Promise<BrokerRef[]> {
  const info = await clusterInfo(session);
  const out: BrokerRef[] = [];
  for (const b of Object.values(info.brokerAddrTable)) {
    const addr = brokerAddrOf(b);
    if (addr) out.push({ brokerName: b.brokerName, addr });
  }
  if (out.length === 0) {
    throw new RocketError(`${session.target} knows no broker`, {
      code: 'E_NO_BROKER',
      actions: ['start a broker registered with this name server (rocketctl broker start)'],
    });
  }
  return out.sort((a, b) => compareStrings(a.brokerName, b.brokerName));
}

export interface TopicBroker extends BrokerRef {
  readQueueNums: number;
  writeQueueNums: number;
}

/** The brokers serving `topic` (readable queue data with a reachable master), sorted by name. */
export async function topicBrokers(session: AdminSession, topic: string): Promise<TopicBroker[]> {
  const route = await routeOfTopic(session, topic);
  const out: TopicBroker[] = [];
  for (const q of route.queueDatas) {
    const b = route.brokerDatas.find((d) => d.brokerName === q.brokerName);
    const addr = b && brokerAddrOf(b);
    if (addr) out.push({ brokerName: q.brokerName, addr, readQueueNums: q.readQueueNums, writeQueueNums: q.writeQueueNums });
  }
  if (out.length === 0) throw new TopicNotFoundError(topic);
  return out.sort((a, b) => compareStrings(a.brokerName, b.brokerName));
}
