/**
 * The name server's routing tables, kept as apache/rocketmq 4.9.x RouteInfoManager keeps them:
 *   clusterAddrTable   cluster → broker names
 *   brokerAddrTable    broker name → { cluster, brokerId → "host:port" }
 *   topicQueueTable    topic → broker name → QueueData
 *   brokerLiveTable    broker address → last registration time, DataVersion, channel, HA address
 *   filterServerTable  broker address → filter servers
 *
 * Everything here is synchronous and single-threaded (the Java read/write lock has no equivalent
 * to guard). Sizes are bounded by what brokers send: every REGISTER_BROKER fits in one frame
 * (16 MiB), and a broker that stops registering is dropped by scanNotActiveBrokers.
 */
import type { BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfigSerializeWrapper, TopicRouteData } from '../../protocol/bodies.js';
import { Perm } from '../../protocol/codes.js';

/** MixAll.MASTER_ID. */
const MASTER_ID = 0;

/** Anything with identity: the RemotingServer's ClientChannel in practice. */
type ChannelRef = object;

interface BrokerLiveInfo {
  lastUpdateMs: number;
  dataVersion: DataVersion;
  /** The connection the broker last registered on; its close forgets the broker (onChannelDestroy). */
  channel: ChannelRef | undefined;
  haServerAddr: string;
}

interface BrokerAddrs {
  cluster: string;
  brokerName: string;
  addrs: Map<number, string>;
}

interface RegisterBrokerInput {
  clusterName: string;
  brokerAddr: string;
  brokerName: string;
  brokerId: number;
  haServerAddr: string;
  /** From the body; a REGISTER_BROKER without body counts as DataVersion 0/0 and no topics (as Java). */
  topicConfigWrapper: TopicConfigSerializeWrapper | undefined;
  filterServerList: string[] | undefined;
  channel: ChannelRef | undefined;
  nowMs: number;
}

interface RegisterBrokerResult {
  /** For a slave: its master's address and HA address, when the master is live. */
  masterAddr?: string;
  haServerAddr?: string;
  /** The address was not live before this registration (for the log). */
  newlyLive: boolean;
}

export class RouteInfoManager {
  private readonly clusterAddrTable = new Map<string, Set<string>>();
  private readonly brokerAddrTable = new Map<string, BrokerAddrs>();
  private readonly topicQueueTable = new Map<string, Map<string, QueueData>>();
  private readonly brokerLiveTable = new Map<string, BrokerLiveInfo>();
  private readonly filterServerTable = new Map<string, string[]>();

  registerBroker(r: RegisterBrokerInput): RegisterBrokerResult {
    const wrapper = r.topicConfigWrapper ?? { dataVersion: { counter: 0, timestamp: 0 }, topicConfigTable: {} };
    let names = this.clusterAddrTable.get(r.clusterName);
    if (!names) this.clusterAddrTable.set(r.clusterName, (names = new Set()));
    names.add(r.brokerName);

    let bd = this.brokerAddrTable.get(r.brokerName);
    let registerFirst = false;
    if (!bd) {
      registerFirst = true;
      this.brokerAddrTable.set(r.brokerName, (bd = { cluster: r.clusterName, brokerName: r.brokerName, addrs: new Map() }));
    }
    // "The same IP:PORT must only have one record": a slave promoted to master re-registers its
    // address under id 0, so the entry under its old id goes first.
    for (const [id, addr] of bd.addrs) if (addr === r.brokerAddr && id !== r.brokerId) bd.addrs.delete(id);
    const oldAddr = bd.addrs.get(r.brokerId);
    bd.addrs.set(r.brokerId, r.brokerAddr);
    registerFirst ||= oldAddr === undefined;

    // Only the master's topics make routes, and only when they changed (or on first sight).
    // As 4.x: topics are created or updated, never dropped here (a 4.9 broker's incremental
    // registration carries just the topic it created); DELETE_TOPIC_IN_NAMESRV removes them.
    if (r.brokerId === MASTER_ID && (registerFirst || this.isBrokerTopicConfigChanged(r.brokerAddr, wrapper.dataVersion))) {
      for (const tc of Object.values(wrapper.topicConfigTable)) {
        let byBroker = this.topicQueueTable.get(tc.topicName);
        if (!byBroker) this.topicQueueTable.set(tc.topicName, (byBroker = new Map()));
        byBroker.set(r.brokerName, {
          brokerName: r.brokerName,
          readQueueNums: tc.readQueueNums,
          writeQueueNums: tc.writeQueueNums,
          perm: tc.perm,
          topicSysFlag: tc.topicSysFlag,
        });
      }
    }

    const newlyLive = !this.brokerLiveTable.has(r.brokerAddr);
    this.brokerLiveTable.set(r.brokerAddr, {
      lastUpdateMs: r.nowMs,
      dataVersion: { ...wrapper.dataVersion },
      channel: r.channel,
      haServerAddr: r.haServerAddr,
    });
    if (r.filterServerList) {
      if (r.filterServerList.length === 0) this.filterServerTable.delete(r.brokerAddr);
      else this.filterServerTable.set(r.brokerAddr, [...r.filterServerList]);
    }

    if (r.brokerId !== MASTER_ID) {
      const masterAddr = bd.addrs.get(MASTER_ID);
      const master = masterAddr === undefined ? undefined : this.brokerLiveTable.get(masterAddr);
      if (masterAddr !== undefined && master) return { masterAddr, haServerAddr: master.haServerAddr, newlyLive };
    }
    return { newlyLive };
  }

  /**
   * UNREGISTER_BROKER (a broker shutting down). Unlike Java, the id's entry is only removed when it
   * still holds this address, so a late unregister from an old process cannot remove its successor.
   */
  unregisterBroker(clusterName: string, brokerAddr: string, brokerName: string, brokerId: number): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    const bd = this.brokerAddrTable.get(brokerName);
    if (!bd) return;
    if (bd.addrs.get(brokerId) === brokerAddr) bd.addrs.delete(brokerId);
    if (bd.addrs.size > 0) return;
    this.brokerAddrTable.delete(brokerName);
    const names = this.clusterAddrTable.get(clusterName);
    if (names?.delete(brokerName) && names.size === 0) this.clusterAddrTable.delete(clusterName);
    this.removeQueueDatasOf(brokerName);
  }

  /** scanNotActiveBroker: forget brokers whose last registration is older than expiryMs. Returns their addresses. */
  scanNotActiveBrokers(nowMs: number, expiryMs: number): string[] {
    const expired = [...this.brokerLiveTable].filter(([, live]) => live.lastUpdateMs + expiryMs < nowMs).map(([addr]) => addr);
    for (const addr of expired) this.forgetBrokerAddr(addr);
    return expired;
  }

  /** onChannelDestroy: forget every broker whose last registration came over this connection. */
  onChannelDestroy(channel: ChannelRef): string[] {
    const gone = [...this.brokerLiveTable].filter(([, live]) => live.channel === channel).map(([addr]) => addr);
    for (const addr of gone) this.forgetBrokerAddr(addr);
    return gone;
  }

  /** The address's broker entry goes; an emptied broker name takes its cluster membership and queue datas with it. */
  private forgetBrokerAddr(brokerAddr: string): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    for (const [name, bd] of this.brokerAddrTable) {
      const id = [...bd.addrs].find(([, a]) => a === brokerAddr)?.[0];
      if (id === undefined) continue;
      bd.addrs.delete(id);
      if (bd.addrs.size === 0) {
        this.brokerAddrTable.delete(name);
        for (const [cluster, names] of this.clusterAddrTable) {
          if (names.delete(name) && names.size === 0) this.clusterAddrTable.delete(cluster);
        }
        this.removeQueueDatasOf(name);
      }
      return;
    }
  }

  private removeQueueDatasOf(brokerName: string): void {
    for (const [topic, byBroker] of this.topicQueueTable) {
      if (byBroker.delete(brokerName) && byBroker.size === 0) this.topicQueueTable.delete(topic);
    }
  }

  /** pickupTopicRouteData: undefined unless the topic has queue datas and at least one of their brokers is known. */
  pickupTopicRouteData(topic: string): TopicRouteData | undefined {
    const byBroker = this.topicQueueTable.get(topic);
    if (!byBroker || byBroker.size === 0) return undefined;
    // Java's order is HashMap order; sorted by broker name here so answers are reproducible.
    const queueDatas = [...byBroker.values()].map((q) => ({ ...q })).sort((a, b) => cmp(a.brokerName, b.brokerName));
    const brokerDatas: BrokerData[] = [];
    const filterServerTable: Record<string, string[]> = {};
    for (const q of queueDatas) {
      const bd = this.brokerAddrTable.get(q.brokerName);
      if (!bd) continue;
      const data = toBrokerData(bd);
      brokerDatas.push(data);
      for (const addr of Object.values(data.brokerAddrs)) {
        const servers = this.filterServerTable.get(addr);
        if (servers) filterServerTable[addr] = [...servers];
      }
    }
    if (brokerDatas.length === 0) return undefined;
    return { brokerDatas, queueDatas, filterServerTable };
  }

  getAllClusterInfo(): ClusterInfo {
    const brokerAddrTable: Record<string, BrokerData> = {};
    for (const [name, bd] of [...this.brokerAddrTable].sort(([a], [b]) => cmp(a, b))) brokerAddrTable[name] = toBrokerData(bd);
    const clusterAddrTable: Record<string, string[]> = {};
    for (const [c, names] of [...this.clusterAddrTable].sort(([a], [b]) => cmp(a, b))) clusterAddrTable[c] = [...names].sort(cmp);
    return { brokerAddrTable, clusterAddrTable };
  }

  /** Every topic with a route, system/retry/DLQ topics included. */
  getAllTopicList(): string[] {
    return [...this.topicQueueTable.keys()].sort(cmp);
  }

  /** Topics with a queue data on any broker of the cluster ([] for an unknown cluster, as Java ends up). */
  getTopicsByCluster(cluster: string): string[] {
    const names = this.clusterAddrTable.get(cluster);
    if (!names) return [];
    const out: string[] = [];
    for (const [topic, byBroker] of this.topicQueueTable) {
      if ([...names].some((n) => byBroker.has(n))) out.push(topic);
    }
    return out.sort(cmp);
  }

  /** getSystemTopicList: cluster names and broker names, plus one broker address to ask. */
  getSystemTopicList(): { topicList: string[]; brokerAddr?: string } {
    const topics = new Set<string>();
    for (const [cluster, names] of this.clusterAddrTable) {
      topics.add(cluster);
      for (const n of names) topics.add(n);
    }
    let brokerAddr: string | undefined;
    for (const bd of this.brokerAddrTable.values()) {
      const lowest = [...bd.addrs].sort((a, b) => a[0] - b[0])[0];
      if (lowest) {
        brokerAddr = lowest[1];
        break;
      }
    }
    return { topicList: [...topics], brokerAddr };
  }

  /** DELETE_TOPIC_IN_NAMESRV: every broker's queue datas, or (4.9.x, clusterName given) only that cluster's. */
  deleteTopic(topic: string, clusterName?: string): void {
    if (clusterName === undefined) {
      this.topicQueueTable.delete(topic);
      return;
    }
    const byBroker = this.topicQueueTable.get(topic);
    const names = this.clusterAddrTable.get(clusterName);
    if (!byBroker || !names) return;
    for (const n of names) byBroker.delete(n);
    if (byBroker.size === 0) this.topicQueueTable.delete(topic);
  }

  /**
   * WIPE_WRITE_PERM_OF_BROKER clears the WRITE bit of every topic on the broker; ADD_WRITE_PERM
   * sets the perm to READ|WRITE (as operateWritePermOfBroker: not "perm | WRITE"). Returns the
   * number of topics touched.
   */
  operateWritePermOfBroker(brokerName: string, op: 'wipe' | 'add'): number {
    let n = 0;
    for (const byBroker of this.topicQueueTable.values()) {
      const q = byBroker.get(brokerName);
      if (!q) continue;
      q.perm = op === 'wipe' ? q.perm & ~Perm.WRITE : Perm.READ | Perm.WRITE;
      n++;
    }
    return n;
  }

  /** The DataVersion last registered from this address (queryBrokerTopicConfig). */
  queryBrokerTopicConfig(brokerAddr: string): DataVersion | undefined {
    const dv = this.brokerLiveTable.get(brokerAddr)?.dataVersion;
    return dv && { ...dv };
  }

  isBrokerTopicConfigChanged(brokerAddr: string, dv: DataVersion): boolean {
    const prev = this.brokerLiveTable.get(brokerAddr)?.dataVersion;
    return !prev || prev.counter !== dv.counter || prev.timestamp !== dv.timestamp;
  }

  updateBrokerInfoUpdateTimestamp(brokerAddr: string, nowMs: number): void {
    const live = this.brokerLiveTable.get(brokerAddr);
    if (live) live.lastUpdateMs = nowMs;
  }

  /** Live broker addresses (for tests and status output). */
  liveBrokerAddrs(): string[] {
    return [...this.brokerLiveTable.keys()].sort(cmp);
  }
}

function toBrokerData(bd: BrokerAddrs): BrokerData {
  const brokerAddrs: Record<string, string> = {};
  for (const [id, addr] of [...bd.addrs].sort((a, b) => a[0] - b[0])) brokerAddrs[String(id)] = addr;
  return { cluster: bd.cluster, brokerName: bd.brokerName, brokerAddrs };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
