/**
 * A DLedger group of three `rocketctl broker start` processes and a `rocketctl namesrv start`, on
 * 127.0.0.1, under a producer sending SYNC_FLUSH messages one after another: the master is killed
 * with SIGKILL again and again (ROCKETCTL_DLEDGER_KILLS, default 10), each time a new master is
 * elected and registered, the producer goes on, and the killed member is started again on its
 * store and catches up. At the end every acknowledged message is on the master, and on every
 * member; a second copy only of a message whose send had failed once (a send that fails is not
 * acknowledged: it may or may not be stored). Then with two members killed, the one left answers
 * no send SEND_OK. Election timing is shortened (heartbeats every 200 ms); every wait is bounded;
 * nothing is asserted about durations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { getBrokerClusterInfo } from '../../src/remoting/namesrv-api.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { createTopic, eventually, spawnBroker, spawnNamesrv, tempDir, type BrokerProcess, type NamesrvProcess } from '../helpers/broker.js';
import { freePort, uniq } from '../client/support.js';

const KILLS = Number(process.env.ROCKETCTL_DLEDGER_KILLS ?? 10);
const BROKER_NAME = 'dl-crash';
const QUEUES = 4;
/** Acknowledged sends between two kills. */
const PER_ROUND = 30;

interface Member {
  id: string;
  conf: string;
  dir: string;
  proc: BrokerProcess | undefined;
}

const dirs: string[] = [];
let ns: NamesrvProcess | undefined;
const members: Member[] = [];
const client = new RemotingClient({ requestTimeoutMs: 3000 });
vi.setConfig({ testTimeout: 300_000 });
afterAll(async () => {
  for (const m of members) await m.proc?.stop('SIGKILL').catch(() => undefined);
  await ns?.stop('SIGKILL').catch(() => undefined);
  await client.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function startMember(m: Member): Promise<void> {
  m.proc = await spawnBroker(['-c', m.conf], { timeoutMs: 60_000 });
}

/** The master's address as the name server lists it, once one is registered and is not `not`. */
async function master(not?: string): Promise<string> {
  return eventually(async () => {
    const info = await getBrokerClusterInfo(client, ns!.addr);
    const addr = info.brokerAddrTable[BROKER_NAME]?.brokerAddrs['0'];
    return addr !== undefined && addr !== not && members.some((m) => m.proc?.ready.broker === addr) ? addr : undefined;
  }, `a master of ${BROKER_NAME} registered${not ? ` other than ${not}` : ''}`, 30_000, 50);
}

/** Messages of `topic` on the broker at `addr`, per queue from offset 0. */
async function readAll(pc: PullConsumer, addr: string, topic: string): Promise<string[]> {
  const bodies: string[] = [];
  for (let q = 0; q < QUEUES; q++) {
    const max = Number((await client.invoke(addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }))).extFields?.offset ?? 0);
    let offset = 0;
    // Bounded: each round moves offset on, or ends.
    while (offset < max) {
      const r = await pc.pull({ topic, brokerName: BROKER_NAME, queueId: q }, offset, 32, { brokerAddr: addr });
      if (r.status !== 'FOUND' || r.msgs.length === 0) throw new Error(`queue ${q} of ${addr}: ${r.status} at ${offset} of ${max}`);
      bodies.push(...r.msgs.map((m) => m.body.toString()));
      offset = r.nextBeginOffset;
    }
  }
  return bodies;
}

describe('a DLedger group of three broker processes', () => {
  it(`loses no acknowledged message across ${KILLS} kill -9s of its master, and a minority answers no send SEND_OK`, async () => {
    ns = await spawnNamesrv();
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push(await freePort());
    const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(';');
    for (let i = 0; i < 3; i++) {
      const dir = tempDir('rocketctl-dledger-crash-');
      dirs.push(dir);
      const conf = path.join(dir, 'broker.conf');
      fs.writeFileSync(
        conf,
        [
          `brokerName=${BROKER_NAME}`,
          `namesrvAddr=${ns.addr}`,
          'listenPort=0',
          `storePathRootDir=${path.join(dir, 'store')}`,
          'flushDiskType=SYNC_FLUSH',
          'enableDLegerCommitLog=true',
          `dLegerPeers=${peers}`,
          `dLegerSelfId=n${i}`,
          'dLegerHeartBeatTimeIntervalMs=200',
          'dLegerMinVoteIntervalMs=50',
          'dLegerMaxVoteIntervalMs=150',
          `mappedFileSizeCommitLog=${4 * 1024 * 1024}`,
          'mappedFileSizeConsumeQueue=20000',
          'maxHashSlotNum=1000',
          'maxIndexNum=4000',
        ].join('\n') + '\n',
      );
      members.push({ id: `n${i}`, conf, dir, proc: undefined });
    }
    await Promise.all(members.map(startMember));
    let masterAddr = await master();
    const topic = uniq('DlCrash');
    expect((await createTopic(client, masterAddr, topic, QUEUES)).code).toBe(0);

    const producer = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlCrashPG'), sendMsgTimeoutMs: 5000 });
    await producer.start();
    const acked: string[] = [];
    const retried = new Set<string>();
    let next = 0;
    const sendOne = async () => {
      const body = `k${next++}`;
      // Bounded: 300 attempts 100 ms apart.
      for (let attempt = 0; attempt < 300; attempt++) {
        try {
          if ((await producer.send({ topic, body: Buffer.from(body) })).status === 'SEND_OK') {
            acked.push(body);
            return;
          }
        } catch {
          // not acknowledged: maybe stored, maybe not
        }
        retried.add(body);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${body}: no send succeeded in 300 attempts`);
    };

    for (let kill = 0; kill < KILLS; kill++) {
      for (let i = 0; i < PER_ROUND; i++) await sendOne();
      const victim = members.find((m) => m.proc?.ready.broker === masterAddr)!;
      // Sends go on while the master dies.
      const during = (async () => {
        for (let i = 0; i < 5; i++) await sendOne();
      })();
      expect((await victim.proc!.stop('SIGKILL')).signal).toBe('SIGKILL');
      const old = masterAddr;
      masterAddr = await master(old);
      await during;
      await startMember(victim);
    }
    for (let i = 0; i < PER_ROUND; i++) await sendOne();
    await producer.close();

    const pc = new PullConsumer({ namesrvAddr: ns.addr, instanceName: uniq('reader') });
    await pc.start();
    try {
      const check = (bodies: string[], where: string) => {
        const twice = bodies.filter((b, i) => bodies.indexOf(b) !== i && !retried.has(b));
        expect(twice, `copies twice on ${where} of messages acknowledged at the first try`).toEqual([]);
        const held = new Set(bodies);
        const missing = acked.filter((b) => !held.has(b));
        expect(missing, `acknowledged messages missing on ${where}`).toEqual([]);
      };
      check(await readAll(pc, masterAddr, topic), `the master ${masterAddr}`);
      // Every member catches up to the same messages.
      for (const m of members) {
        await eventually(async () => {
          check(await readAll(pc, m.proc!.ready.broker, topic), `${m.id} (${m.proc!.ready.broker})`);
          return true;
        }, `${m.id} caught up`, 30_000, 200);
      }
    } finally {
      await pc.close();
    }

    // A minority: the two members that are not master die; the one left answers no send SEND_OK.
    const lone = members.find((m) => m.proc?.ready.broker === masterAddr)!;
    for (const m of members) if (m !== lone) await m.proc!.stop('SIGKILL');
    const minority = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlMinorityPG'), sendMsgTimeoutMs: 4000, retryTimesWhenSendFailed: 0 });
    await minority.start();
    try {
      for (let i = 0; i < 3; i++) {
        const outcome = await minority.send({ topic, body: Buffer.from(`minority${i}`) }).then(
          (r) => r.status,
          () => 'failed',
        );
        expect(outcome, `send ${i} to a master without a majority`).not.toBe('SEND_OK');
      }
    } finally {
      await minority.close();
    }
  });
});
