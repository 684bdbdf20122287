/**
 * A DLedger group of brokers in this process for tests (enableDLegerCommitLog=true, one broker
 * name, a name server of their own, SYNC_FLUSH, election timing shortened to 200 ms heartbeats,
 * slaves taking their master's tables every 300 ms). Everything a test starts is closed and removed
 * after it (afterEach).
 */
import fs from 'node:fs';
import { afterEach } from 'vitest';
import { BrokerController } from '../../src/broker/broker.js';
import { buildBrokerConfig } from '../../src/broker/broker-config.js';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { eventually, tempDir } from './broker.js';
import { freePort, uniq } from '../client/support.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import type { MessageExt } from '../../src/client/message.js';

/** Election timing shortened (heartbeats every 200 ms). */
const ELECTOR = { dLegerHeartBeatTimeIntervalMs: '200', dLegerMaxHeartBeatLeak: '3', dLegerMinVoteIntervalMs: '50', dLegerMaxVoteIntervalMs: '150' };
export const BROKER_NAME = 'dl-a';
export const QUEUES = 4;

export interface Member {
  id: string;
  dir: string;
  broker: BrokerController | undefined;
}

export const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** `overrides`: more broker keys for every member (e.g. slaveReadEnable). */
export async function startGroup(size = 3, overrides: Record<string, string> = {}) {
  const ns = new NameServer();
  const namesrv = await ns.start({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => ns.close());
  const ports: number[] = [];
  for (let i = 0; i < size; i++) ports.push(await freePort());
  const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(';');
  const members: Member[] = ports.map((_, i) => ({ id: `n${i}`, dir: tempDir('rocketctl-dledger-broker-'), broker: undefined }));
  for (const m of members) cleanups.push(async () => fs.rmSync(m.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }));
  const start = async (m: Member) => {
    const { config } = buildBrokerConfig({
      overrides: {
        storePathRootDir: m.dir,
        listenPort: '0',
        embeddedNamesrv: 'false',
        namesrvAddr: namesrv,
        brokerName: BROKER_NAME,
        flushDiskType: 'SYNC_FLUSH',
        enableDLegerCommitLog: 'true',
        dLegerPeers: peers,
        dLegerSelfId: m.id,
        mappedFileSizeCommitLog: String(4 * 1024 * 1024),
        mappedFileSizeConsumeQueue: String(1000 * 20),
        maxHashSlotNum: '1000',
        maxIndexNum: '4000',
        ...ELECTOR,
        ...overrides,
      },
    });
    m.broker = await BrokerController.start(config, { slaveSyncIntervalMs: 300 });
    cleanups.push(() => m.broker?.close() ?? Promise.resolve());
  };
  await Promise.all(members.map(start));
  const client = new RemotingClient({ requestTimeoutMs: 5000 });
  cleanups.push(() => client.close());
  return { ns, namesrv, members, client, start };
}

/** The one member that is master now (writable, brokerId 0), once the name server routes `dl-a`'s master to it. */
export async function masterOf(members: Member[], ns: NameServer): Promise<Member> {
  return eventually(() => {
    const masters = members.filter((m) => m.broker && m.broker.dledger?.brokerId() === 0);
    if (masters.length !== 1) return undefined;
    const m = masters[0]!;
    return ns.routeInfo.getAllClusterInfo().brokerAddrTable[BROKER_NAME]?.brokerAddrs['0'] === m.broker!.addresses.broker ? m : undefined;
  }, 'one master registered', 20_000, 50);
}

/** Messages of `topic` in every queue of member `m`'s store, in order. */
export function storedCount(m: Member, topic: string): number {
  let n = 0;
  for (let q = 0; q < QUEUES; q++) n += m.broker!.messageStore.getMaxOffsetInQueue(topic, q);
  return n;
}

/** Every message of `topic`'s queues on the member at `addr` (a master or a slave), from offset 0, queue by queue. */
export async function readAllFrom(namesrv: string, addr: string, topic: string): Promise<MessageExt[]> {
  const pc = new PullConsumer({ namesrvAddr: namesrv, instanceName: uniq('reader') });
  await pc.start();
  const out: MessageExt[] = [];
  try {
    for (let q = 0; q < QUEUES; q++) {
      let offset = 0;
      // Bounded: 1000 pulls per queue.
      for (let round = 0; round < 1000; round++) {
        const r = await pc.pull({ topic, brokerName: BROKER_NAME, queueId: q }, offset, 32, { brokerAddr: addr });
        if (r.status !== 'FOUND') break;
        out.push(...r.msgs);
        offset = r.nextBeginOffset;
      }
    }
  } finally {
    await pc.close();
  }
  return out;
}
