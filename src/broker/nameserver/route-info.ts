/**
 * The name server's tables, as RouteInfoManager keeps them (fact sheet §2.13): clusters → broker
 * names, broker names → addresses by brokerId, topics → per-broker QueueData, and the live table
 * of broker addresses with their last registration time and connection.
 */
import type { BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicRouteData } from '../../protocol/bodies.js';
import { Perm } from '../../protocol/codes.js';

export interface LiveBroker {
  lastUpdateMs: number;
  dataVersion: DataVersion;
  /** Connection the broker registered on (id), so a closed connection forgets it at once. */
  channelId: number;
  haServerAddr: string;
  cluster: string;
  brokerName: string;
  brokerId: number;
}

export interface RegisterInput {
  cluster: string;
  brokerAddr: string;
  brokerName: string;
  brokerId: number;
  haServerAddr: string;
  /** Topic configs, when the body carried them. */
  topics?: { dataVersion: DataVersion; table: Record<string, TopicConfig> };
  channelId: number;
  nowMs: number;
}

export class RouteInfoManager {
  readonly clusterAddrTable = new Map<string, Set<string>>();
  readonly brokerAddrTable = new Map<string, { cluster: string; brokerName: string; addrs: Map<number, string> }>();
  readonly topicQueueTable = new Map<string, Map<string, QueueData>>();
  readonly brokerLiveTable = new Map<string, LiveBroker>();

  /** Returns the master's address and HA address for a slave's response header. */
  registerBroker(r: RegisterInput): { masterAddr?: string; haServerAddr?: string } {
    let names = this.clusterAddrTable.get(r.cluster);
    if (!names) this.clusterAddrTable.set(r.cluster, (names = new Set()));
    names.add(r.brokerName);

    let bd = this.brokerAddrTable.get(r.brokerName);
    const first = !bd;
    if (!bd) this.brokerAddrTable.set(r.brokerName, (bd = { cluster: r.cluster, brokerName: r.brokerName, addrs: new Map() }));
    // As RouteInfoManager: an address registered before under another id is removed first.
    for (const [id, addr] of bd.addrs) if (addr === r.brokerAddr && id !== r.brokerId) bd.addrs.delete(id);
    const isNewAddr = bd.addrs.get(r.brokerId) !== r.brokerAddr;
    bd.addrs.set(r.brokerId, r.brokerAddr);

    const prev = this.brokerLiveTable.get(r.brokerAddr);
    if (r.brokerId === 0 && r.topics) {
      const changed = !prev || prev.dataVersion.counter !== r.topics.dataVersion.counter || prev.dataVersion.timestamp !== r.topics.dataVersion.timestamp;
      if (changed || first || isNewAddr) this.replaceQueueData(r.brokerName, r.topics.table);
    }
    this.brokerLiveTable.set(r.brokerAddr, {
      lastUpdateMs: r.nowMs,
      dataVersion: r.topics?.dataVersion ?? prev?.dataVersion ?? { counter: 0, timestamp: 0 },
      channelId: r.channelId,
      haServerAddr: r.haServerAddr,
      cluster: r.cluster,
      brokerName: r.brokerName,
      brokerId: r.brokerId,
    });
    if (r.brokerId !== 0) {
      const masterAddr = bd.addrs.get(0);
      if (masterAddr) return { masterAddr, haServerAddr: this.brokerLiveTable.get(masterAddr)?.haServerAddr };
    }
    return {};
  }

  /** The master's topic set replaces this broker's QueueData everywhere (topics it dropped go away). */
  private replaceQueueData(brokerName: string, table: Record<string, TopicConfig>): void {
    for (const [topic, byBroker] of this.topicQueueTable) {
      if (!(topic in table) && byBroker.delete(brokerName) && byBroker.size === 0) this.topicQueueTable.delete(topic);
    }
    for (const tc of Object.values(table)) {
      let byBroker = this.topicQueueTable.get(tc.topicName);
      if (!byBroker) this.topicQueueTable.set(tc.topicName, (byBroker = new Map()));
      byBroker.set(brokerName, {
        brokerName,
        readQueueNums: tc.readQueueNums,
        writeQueueNums: tc.writeQueueNums,
        perm: tc.perm,
        topicSysFlag: tc.topicSysFlag,
      });
    }
  }

  unregisterBroker(cluster: string, brokerAddr: string, brokerName: string, brokerId: number): void {
    this.brokerLiveTable.delete(brokerAddr);
    const bd = this.brokerAddrTable.get(brokerName);
    if (bd && bd.addrs.get(brokerId) === brokerAddr) bd.addrs.delete(brokerId);
    if (bd && bd.addrs.size === 0) {
      this.brokerAddrTable.delete(brokerName);
      const names = this.clusterAddrTable.get(cluster);
      names?.delete(brokerName);
      if (names && names.size === 0) this.clusterAddrTable.delete(cluster);
      for (const [topic, byBroker] of this.topicQueueTable) {
        if (byBroker.delete(brokerName) && byBroker.size === 0) this.topicQueueTable.delete(topic);
      }
    }
  }

  /** Forget brokers not re-registered within expiryMs; returns the addresses dropped. */
  scanNotActive(nowMs: number, expiryMs: number): string[] {
    const dropped: string[] = [];
    for (const [addr, live] of [...this.brokerLiveTable]) {
      if (nowMs - live.lastUpdateMs > expiryMs) {
        this.unregisterBroker(live.cluster, addr, live.brokerName, live.brokerId);
        dropped.push(addr);
      }
    }
    return dropped;
  }

  /** A closed connection forgets every broker that registered on it (onChannelDestroy). */
  onChannelClosed(channelId: number): string[] {
    const dropped: string[] = [];
    for (const [addr, live] of [...this.brokerLiveTable]) {
      if (live.channelId === channelId) {
        this.unregisterBroker(live.cluster, addr, live.brokerName, live.brokerId);
        dropped.push(addr);
      }
    }
    return dropped;
  }

  routeOf(topic: string): TopicRouteData | undefined {
    const byBroker = this.topicQueueTable.get(topic);
    if (!byBroker || byBroker.size === 0) return undefined;
    const queueDatas = [...byBroker.values()].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
    const brokerDatas: BrokerData[] = [];
    for (const q of queueDatas) {
      const bd = this.brokerAddrTable.get(q.brokerName);
      if (bd) brokerDatas.push(toBrokerData(bd));
    }
    if (brokerDatas.length === 0) return undefined;
    return { brokerDatas, queueDatas, filterServerTable: {} };
  }

  clusterInfo(): ClusterInfo {
    const brokerAddrTable: Record<string, BrokerData> = {};
    for (const [name, bd] of this.brokerAddrTable) brokerAddrTable[name] = toBrokerData(bd);
    const clusterAddrTable: Record<string, string[]> = {};
    for (const [c, names] of this.clusterAddrTable) clusterAddrTable[c] = [...names].sort();
    return { brokerAddrTable, clusterAddrTable };
  }

  allTopics(): string[] {
    return [...this.topicQueueTable.keys()];
  }

  topicsOfCluster(cluster: string): string[] {
    const names = this.clusterAddrTable.get(cluster);
    if (!names) return [];
    return [...this.topicQueueTable].filter(([, byBroker]) => [...byBroker.keys()].some((b) => names.has(b))).map(([t]) => t);
  }

  /** DELETE_TOPIC_IN_NAMESRV: all brokers' QueueData, or only those of one cluster (4.9.x). */
  deleteTopic(topic: string, cluster?: string): void {
    if (!cluster) {
      this.topicQueueTable.delete(topic);
      return;
    }
    const byBroker = this.topicQueueTable.get(topic);
    const names = this.clusterAddrTable.get(cluster);
    if (!byBroker || !names) return;
    for (const b of names) byBroker.delete(b);
    if (byBroker.size === 0) this.topicQueueTable.delete(topic);
  }

  /** WIPE/ADD_WRITE_PERM_OF_BROKER: returns how many topics changed. */
  setWritePerm(brokerName: string, writable: boolean): number {
    let n = 0;
    for (const byBroker of this.topicQueueTable.values()) {
      const q = byBroker.get(brokerName);
      if (!q) continue;
      q.perm = writable ? q.perm | Perm.WRITE : q.perm & ~Perm.WRITE;
      n++;
    }
    return n;
  }

  dataVersionOf(brokerAddr: string): DataVersion | undefined {
    return this.brokerLiveTable.get(brokerAddr)?.dataVersion;
  }

  touch(brokerAddr: string, nowMs: number): void {
    const live = this.brokerLiveTable.get(brokerAddr);
    if (live) live.lastUpdateMs = nowMs;
  }
}

function toBrokerData(bd: { cluster: string; brokerName: string; addrs: Map<number, string> }): BrokerData {
  const brokerAddrs: Record<string, string> = {};
  for (const [id, addr] of [...bd.addrs].sort((a, b) => a[0] - b[0])) brokerAddrs[String(id)] = addr;
  return { cluster: bd.cluster, brokerName: bd.brokerName, brokerAddrs };
}
