/**
 * A whole DLedger group on one machine, for development (`rocketctl broker start --dledger-group N`):
 * a name server and N brokers in this process, each a member of one DLedger group under one broker
 * name, as Apache's quick start runs three broker processes with enableDLegerCommitLog=true
 * (broker-n0.conf .. broker-n2.conf). Members store under `<storePathRootDir>/dledger-group/nI`.
 *
 * Ports: member I listens on listenPort + 10·I (fast port 2 below) and on DLedger port
 * listenPort + 10·I + 30000 (10911 → 40911, Apache's quick-start ports); with listenPort 0 every
 * port is a free one.
 */
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../../errors/index.js';
import type { Logger } from '../../remoting/server.js';
import type { ClusterMetricsCollector } from '../../metrics/collector.js';
import type { BrokerConfig } from '../broker-config.js';
import { BrokerController, type BrokerAddresses, type BrokerCloseReport } from '../broker.js';
import { NameServer } from '../namesrv/namesrv.js';
import type { StoreRecoveryReport } from '../store/recovery.js';

/** Group sizes a DLedger group is run with: odd, so that a majority is more than half. */
export const GROUP_SIZES = [3, 5, 7] as const;
/** member I's broker port is listenPort + PORT_STEP·I. */
const PORT_STEP = 10;
/** DLedger port = broker port + this (Apache quick start: 30911 → 40911 is its own convention; ours keeps 10911 → 40911). */
const DLEDGER_PORT_OFFSET = 30_000;

export interface LocalGroupMember {
  selfId: string;
  broker: BrokerController;
  addresses: BrokerAddresses;
  recovery: StoreRecoveryReport;
}

export interface LocalGroup {
  namesrv: string;
  peers: string;
  members: LocalGroupMember[];
  /** Close every member, then the name server; clean only when every member closed cleanly. */
  close(): Promise<BrokerCloseReport>;
}

export interface LocalGroupOptions {
  size: number;
  /** The config every member starts from (broker name, flush type, ports, store root, ...). */
  base: BrokerConfig;
  logger: Logger;
  clusterMetrics?: ClusterMetricsCollector;
}

export async function startLocalGroup(o: LocalGroupOptions): Promise<LocalGroup> {
  if (!(GROUP_SIZES as readonly number[]).includes(o.size)) throw new ConfigError(`a DLedger group of ${o.size}: use ${GROUP_SIZES.join(', ')} (odd, so that a majority is more than half)`);
  const b = o.base;
  const host = b.bindAddress;
  const brokerPort = (i: number) => (b.listenPort === 0 ? 0 : b.listenPort + PORT_STEP * i);
  const dledgerPorts: number[] = [];
  for (let i = 0; i < o.size; i++) {
    const p = brokerPort(i);
    dledgerPorts.push(p === 0 ? await freePort(host) : p + DLEDGER_PORT_OFFSET);
  }
  if (dledgerPorts.some((p) => p > 65535)) throw new ConfigError(`listenPort ${b.listenPort}: the DLedger ports (listenPort + ${DLEDGER_PORT_OFFSET} + ${PORT_STEP}·member) pass 65535; choose a lower --listen-port, or 0`);
  const advertised = b.brokerIP1.includes(':') ? `[${b.brokerIP1}]` : b.brokerIP1;
  const peers = dledgerPorts.map((p, i) => `n${i}-${advertised}:${p}`).join(';');

  const ns = new NameServer({ logger: o.logger, kvConfigPath: path.join(b.storePathRootDir, 'dledger-group', 'namesrv', 'kvConfig.json') });
  const namesrv = await ns.start({ host, port: b.namesrvListenPort });
  const members: LocalGroupMember[] = [];
  const closeAll = async (): Promise<BrokerCloseReport> => {
    const reports = await Promise.all(members.map((m) => m.broker.close()));
    await ns.close();
    return { clean: reports.every((r) => r.clean), problems: reports.flatMap((r, i) => r.problems.map((p) => `${members[i]!.selfId}: ${p}`)) };
  };
  try {
    const started = await Promise.all(
      dledgerPorts.map(async (_, i) => {
        const selfId = `n${i}`;
        const config: BrokerConfig = {
          ...b,
          namesrvAddr: [namesrv],
          embeddedNamesrv: false,
          listenPort: brokerPort(i),
          storePathRootDir: path.join(b.storePathRootDir, 'dledger-group', selfId),
          enableDLegerCommitLog: true,
          dLegerGroup: b.brokerName,
          dLegerPeers: peers,
          dLegerSelfId: selfId,
          // Each member its own metrics endpoint only when one was asked for with port 0.
          metricsPort: b.metricsPort === 0 ? 0 : -1,
        };
        const broker = await BrokerController.start(config, { logger: prefixed(o.logger, `${selfId}: `), clusterMetrics: o.clusterMetrics });
        return { selfId, broker, addresses: broker.addresses, recovery: broker.recovery };
      }),
    );
    members.push(...started);
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
  return { namesrv, peers, members, close: closeAll };
}

function prefixed(l: Logger, p: string): Logger {
  return {
    info: (m) => l.info(p + m),
    warn: (m) => l.warn(p + m),
    error: (m) => l.error(p + m),
  };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
