/**
 * A mixed DLedger group (issue 12): two of our brokers (in this process) and one Apache 4.9.7
 * broker in DLedger mode, one brokerName, one name server (ours, in this process), on 127.0.0.1.
 * They elect one leader, which registers as master; every SYNC_FLUSH send acknowledged by the
 * master is in every member's consume queues, the Apache member's included (read from it by
 * address); when the leader goes, ours or Apache's, the two left elect another, and nothing
 * acknowledged is lost. The Apache node keeps DLedger's default timing (2 s heartbeats, 3 missed);
 * ours send heartbeats every second but wait 8 missed, so that after our leader goes the Apache
 * node usually times out first and becomes leader. Every wait is a bounded poll; nothing is
 * asserted about durations.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { BrokerController } from '../../src/broker/broker.js';
import { buildBrokerConfig, type BrokerConfig } from '../../src/broker/broker-config.js';
import { NameServer } from '../../src/broker/namesrv/namesrv.js';
import { Producer } from '../../src/client/producer.js';
import { PullConsumer } from '../../src/client/pull-consumer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { createTopic, eventually, tempDir } from '../helpers/broker.js';
import { freePort, uniq } from '../client/support.js';
import { describeApache, startApache, type ApacheServer } from './support.js';

const NAME = 'dl-mix';
const QUEUES = 4;
/** Every member's DLedger data files are this long: an entry's pos (and so every PHYSICALOFFSET) depends on it. */
const DATA_FILE_BYTES = String(4 * 1024 * 1024);

interface Member {
  id: string;
  apache: boolean;
  /** The broker address while it runs, else undefined. */
  addr(): string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<unknown>> = [];

describeApache('a mixed DLedger group: two of our brokers and an Apache 4.9.7 broker', () => {
  it('elects one leader, replicates every acknowledged send to the Apache member, and fails over (from ours and from Apache) with nothing acknowledged lost', async () => {
    try {
      await run();
    } finally {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    }
  }, 600_000);
});

async function run(): Promise<void> {
  const ns = new NameServer();
  const namesrv = await ns.start({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => ns.close());
  const ports = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p, i) => `n${i}-127.0.0.1:${p}`).join(';');
  const client = new RemotingClient({ requestTimeoutMs: 5000 });
  cleanups.push(() => client.close());
  const logLines: string[] = [];
  const logger = (id: string) => {
    const at = (lvl: string) => (m: string) => { logLines.push(`${new Date().toISOString()} [${id}] ${lvl} ${m}`); };
    return { info: at('I'), warn: at('W'), error: at('E') };
  };

  const ourMember = (id: string): Member => {
    const dir = tempDir('rocketctl-dlmix-');
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const { config } = buildBrokerConfig({ overrides: {
      storePathRootDir: dir, listenPort: '0', embeddedNamesrv: 'false', namesrvAddr: namesrv, brokerName: NAME,
      flushDiskType: 'SYNC_FLUSH', enableDLegerCommitLog: 'true', dLegerGroup: NAME, dLegerPeers: peers, dLegerSelfId: id,
      mappedFileSizeCommitLog: DATA_FILE_BYTES, mappedFileSizeConsumeQueue: String(1000 * 20),
      dLegerHeartBeatTimeIntervalMs: '1000', dLegerMaxHeartBeatLeak: '8',
    } });
    let broker: BrokerController | undefined;
    cleanups.push(() => broker?.close() ?? Promise.resolve());
    return {
      id, apache: false,
      addr: () => broker?.addresses.broker,
      async start() { broker = await BrokerController.start(config as BrokerConfig, { logger: logger(id), slaveSyncIntervalMs: 1000 }); },
      async stop() { const b = broker; broker = undefined; await b?.close(); },
    };
  };
  const apacheMember = (id: string): Member => {
    let server: ApacheServer | undefined;
    let running = false;
    // ROCKETCTL_KEEP_APACHE_DIR=1 keeps its dir (logs/broker.log, store/dledger-<id>) to read after the run.
    cleanups.push(() => (process.env.ROCKETCTL_KEEP_APACHE_DIR ? server?.stop() : server?.cleanup()) ?? Promise.resolve());
    return {
      id, apache: true,
      addr: () => (running ? server?.broker : undefined),
      async start() {
        server = await startApache(4, {
          namesrvAddr: namesrv, brokerName: NAME, enableDLegerCommitLog: 'true', dLegerGroup: NAME, dLegerPeers: peers,
          dLegerSelfId: id, mappedFileSizeCommitLog: DATA_FILE_BYTES, flushDiskType: 'SYNC_FLUSH',
        });
        running = true;
        logLines.push(`apache ${id}: ${server.dir}`);
      },
      // kit stop: TERM, then KILL after 10 s. The dir stays until cleanup.
      async stop() { running = false; await server?.stop(); },
    };
  };
  const members = [ourMember('n0'), ourMember('n1'), apacheMember('n2')];
  const [, , apache] = members as [Member, Member, Member];

  const route = () => ns.routeInfo.getAllClusterInfo().brokerAddrTable[NAME]?.brokerAddrs ?? {};
  /** The member registered as master (brokerId 0), once exactly one running member is. */
  const master = (except?: Member) => eventually(() => {
    const addr = route()['0'];
    const m = members.find((x) => x.addr() !== undefined && x.addr() === addr);
    return m && m !== except ? m : undefined;
  }, 'one master registered', 90_000, 100);

  try {
    await Promise.all(members.filter((m) => !m.apache).map((m) => m.start()));
    await apache.start();
    let leader = await master();
    // The Apache node registers as a slave under DLedgerCommitLog#getId + 1 (n2 → 3).
    await eventually(() => (route()['3'] === apache.addr() ? true : undefined), 'the Apache member registered as slave 3', 90_000, 100);

    const topic = uniq('DlMix');
    // On the master; the slaves, Apache's included, take it from there (SlaveSynchronize, every 10 s
    // on Apache; an Apache slave refuses to create a topic itself).
    const made = await createTopic(client, leader.addr()!, topic, QUEUES);
    expect(made.code, made.remark).toBe(0);

    const producer = new Producer({ namesrvAddr: namesrv, producerGroup: uniq('DlMixPG') });
    await producer.start();
    cleanups.push(() => producer.close());
    const reader = new PullConsumer({ namesrvAddr: namesrv, instanceName: uniq('reader') });
    await reader.start();
    cleanups.push(() => reader.close());

    const acked: string[] = [];
    let sent = 0;
    const send = async (n: number) => {
      for (let k = 0; k < n; k++) {
        const body = `m${sent++}`;
        // Bounded: 200 attempts 100 ms apart. A failed send is not acknowledged: stored or not.
        for (let attempt = 0; ; attempt++) {
          try {
            const r = await producer.send({ topic, body: Buffer.from(body) });
            if (r.status === 'SEND_OK') { acked.push(body); break; }
          } catch { /* during a failover */ }
          if (attempt >= 200) expect.fail(`${body}: no send succeeded`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    /** Every body in `topic`'s queues of the member at addr. */
    const bodiesOn = async (addr: string): Promise<Set<string>> => {
      const got = new Set<string>();
      for (let q = 0; q < QUEUES; q++) {
        let offset = 0;
        for (let round = 0; round < 1000; round++) {
          const r = await reader.pull({ topic, brokerName: NAME, queueId: q }, offset, 32, { brokerAddr: addr });
          if (r.status !== 'FOUND') break;
          for (const msg of r.msgs) got.add(msg.body.toString());
          offset = r.nextBeginOffset;
        }
      }
      return got;
    };
    /** Every acknowledged message is (eventually) on every running member. */
    const allOnEveryMember = async (what: string) => {
      for (const m of members) {
        if (!m.addr()) continue;
        await eventually(async () => {
          // A member that has not taken the topic from its master yet answers TOPIC_NOT_EXIST.
          const got = await bodiesOn(m.addr()!).catch(() => new Set<string>());
          return acked.every((b) => got.has(b)) ? true : undefined;
        }, `${what}: every acknowledged message on ${m.id}${m.apache ? ' (Apache)' : ''}`, 60_000, 500);
      }
    };

    await send(50);
    await allOnEveryMember(`${leader.id} leading`);

    // Failovers: stop the leader, wait for the other two to elect one, send on, start the stopped
    // member again (it catches up as a follower). Bounded: until both an our-leader and the
    // Apache leader have been stopped, at most 6 rounds.
    const stopped = { ours: false, apache: false };
    for (let round = 0; round < 6 && !(stopped.ours && stopped.apache); round++) {
      const old = leader;
      logLines.push(`round ${round}: stopping leader ${old.id}`);
      await old.stop();
      stopped[old.apache ? 'apache' : 'ours'] = true;
      leader = await master(old);
      logLines.push(`round ${round}: new leader ${leader.id}`);
      await send(30);
      await allOnEveryMember(`after ${old.id} went, ${leader.id} leading`);
      if (stopped.ours && stopped.apache) break;
      await old.start();
      await allOnEveryMember(`${old.id} back`);
    }
    expect(stopped).toEqual({ ours: true, apache: true });
  } catch (err) {
    console.log(logLines.slice(-300).join('\n'));
    throw err;
  }
}
