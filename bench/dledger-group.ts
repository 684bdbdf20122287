/**
 * A DLedger group (docs/dledger.md) of `rocketctl broker start -c broker.conf` processes on
 * 127.0.0.1, for the kill -9 soak (bench/dledger-soak.ts) and the process tests under
 * test/dledger/: each member's broker.conf in its own dir, start, SIGKILL and start again on the
 * same store, the master as the name server lists it (brokerId 0, DLedgerRoleChangeHandler#handle),
 * each member's DLedger state from GET_BROKER_RUNTIME_INFO, every message of a topic read back
 * from one member by address; and the book of acknowledged sends that the no-loss check reads.
 * Every wait has a bound.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PullConsumer } from '../src/client/pull-consumer.js';
import type { Producer, SendResult } from '../src/client/producer.js';
import { decodeKVTable } from '../src/protocol/bodies.js';
import { RequestCode } from '../src/protocol/codes.js';
import { dledgerStateOf, type DLedgerState } from '../src/protocol/dledger-state.js';
import { bodyBuffer, makeRequest } from '../src/protocol/frame.js';
import type { RemotingClient } from '../src/remoting/client.js';
import { getBrokerClusterInfo } from '../src/remoting/namesrv-api.js';
import { freePort } from './compare-servers.js';
import { eventually, spawnReady, type ServerChild } from './spawn.js';

/** Election timing shortened (heartbeats every 200 ms, a leader presumed gone after 3 missed). */
export const SHORT_ELECTION: Readonly<Record<string, string>> = { dLegerHeartBeatTimeIntervalMs: '200', dLegerMinVoteIntervalMs: '50', dLegerMaxVoteIntervalMs: '150' };
/** Small store files: these groups write little, and a 1 GiB sparse data file per member is pointless. */
export const SMALL_FILES: Readonly<Record<string, string>> = { mappedFileSizeCommitLog: String(4 * 1024 * 1024), mappedFileSizeConsumeQueue: '20000', maxHashSlotNum: '1000', maxIndexNum: '4000' };
/** Bounds: a broker process to print its ready line, a master to be registered. */
const START_TIMEOUT_MS = 60_000;
const MASTER_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
/** Messages per pull when reading a queue back. */
const PULL_BATCH = 32;

export interface GroupMember {
  /** Its dLegerSelfId, `n0`, `n1`, ... */
  id: string;
  dir: string;
  conf: string;
  /** Where its DLedger port listens (its own entry in its dLegerPeers). */
  dledgerAddr: string;
  /** The running process; `ready` is its broker address. */
  proc: ServerChild<string> | undefined;
}

export interface ProcessGroupOptions {
  /** The repository root (bin/run.js). */
  root: string;
  brokerName: string;
  namesrvAddr: string;
  /** A new empty dir for member `id` (the caller removes it). */
  tempDir: (id: string) => string;
  /** Members (default 3). */
  size?: number;
  /** More broker.conf keys for every member (flushDiskType, election timing, file sizes). */
  conf?: Record<string, string>;
  /**
   * Member `self`'s dLegerPeers, given every member's DLedger address (default: those addresses,
   * the same string everywhere). A partition test names proxies here for the other members.
   */
  peersFor?: (self: number, dledgerAddrs: string[]) => string | Promise<string>;
  client: RemotingClient;
}

export class ProcessGroup {
  private constructor(
    private readonly o: ProcessGroupOptions,
    readonly members: GroupMember[],
  ) {}

  /** Write every member's broker.conf (nothing starts). */
  static async create(o: ProcessGroupOptions): Promise<ProcessGroup> {
    const size = o.size ?? 3;
    const dledgerAddrs: string[] = [];
    for (let i = 0; i < size; i++) dledgerAddrs.push(`127.0.0.1:${await freePort()}`);
    const peersFor = o.peersFor ?? ((_: number, addrs: string[]) => addrs.map((a, j) => `n${j}-${a}`).join(';'));
    const members: GroupMember[] = [];
    for (const [i, dledgerAddr] of dledgerAddrs.entries()) {
      const dir = o.tempDir(`n${i}`);
      const conf = path.join(dir, 'broker.conf');
      const entries = {
        brokerName: o.brokerName,
        namesrvAddr: o.namesrvAddr,
        listenPort: '0',
        storePathRootDir: path.join(dir, 'store'),
        enableDLegerCommitLog: 'true',
        dLegerPeers: await peersFor(i, dledgerAddrs),
        dLegerSelfId: `n${i}`,
        ...o.conf,
      };
      fs.writeFileSync(conf, Object.entries(entries).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
      members.push({ id: `n${i}`, dir, conf, dledgerAddr, proc: undefined });
    }
    return new ProcessGroup(o, members);
  }

  /** Start member `m` on its store (again, after a kill) and wait for its ready line. */
  async start(m: GroupMember): Promise<void> {
    m.proc = await spawnReady(this.o.root, ['broker', 'start', '-c', m.conf], (out) => /broker ready: broker=(\S+)/.exec(out)?.[1], START_TIMEOUT_MS);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.start(m)));
  }

  /** SIGKILL member `m` and wait for its exit. */
  async kill(m: GroupMember): Promise<void> {
    await m.proc?.stop('SIGKILL');
    m.proc = undefined;
  }

  /** Stop every member still running (SIGKILL unless told otherwise). */
  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      await m.proc?.stop(signal).catch(() => undefined);
      m.proc = undefined;
    }));
  }

  /** The running member at broker address `addr`. */
  byAddr(addr: string | undefined): GroupMember | undefined {
    return addr === undefined ? undefined : this.members.find((m) => m.proc?.ready === addr);
  }

  private async addrs(): Promise<Record<string, string>> {
    return (await getBrokerClusterInfo(this.o.client, this.o.namesrvAddr)).brokerAddrTable[this.o.brokerName]?.brokerAddrs ?? {};
  }

  /** The member the name server lists as master now, if it is one of ours and running. */
  async master(): Promise<GroupMember | undefined> {
    return this.byAddr((await this.addrs())['0']);
  }

  /** Wait until a running member other than `not` is the registered master. */
  waitMaster(not?: GroupMember, timeoutMs = MASTER_TIMEOUT_MS): Promise<GroupMember> {
    return eventually(async () => {
      const m = await this.master();
      return m !== undefined && m !== not ? m : undefined;
    }, `a master of ${this.o.brokerName} registered${not ? ` other than ${not.id}` : ''}`, timeoutMs, POLL_MS);
  }

  /** Whether `m` is registered under a slave's brokerId (DLedgerCommitLog#getId + 1). */
  async isSlave(m: GroupMember): Promise<boolean> {
    return Object.entries(await this.addrs()).some(([id, a]) => id !== '0' && a === m.proc?.ready);
  }

  /** Member `m`'s DLedger state as its GET_BROKER_RUNTIME_INFO reports it (role, term, indexes). */
  async state(m: GroupMember): Promise<DLedgerState> {
    if (!m.proc) throw new Error(`${m.id} is not running`);
    const res = await this.o.client.invoke(m.proc.ready, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
    const state = res.code === 0 ? dledgerStateOf(decodeKVTable(bodyBuffer(res))) : null;
    if (!state) throw new Error(`${m.id}: no DLedger state in its runtime info (code ${res.code})`);
    return state;
  }

  /**
   * Every message body of `topic` on the member at `addr`, queue by queue from offset 0 up to the
   * queue's max offset there (GET_MAX_OFFSET); a pull that does not find what the queue holds fails.
   */
  async readAll(addr: string, topic: string, queues: number): Promise<string[]> {
    const pc = new PullConsumer({ namesrvAddr: this.o.namesrvAddr, instanceName: `reader-${process.pid}-${Date.now().toString(36)}` });
    await pc.start();
    const bodies: string[] = [];
    try {
      for (let q = 0; q < queues; q++) {
        const max = Number((await this.o.client.invoke(addr, makeRequest(RequestCode.GET_MAX_OFFSET, { topic, queueId: q }))).extFields?.offset ?? 0);
        // Bounded: each round moves offset on, or fails.
        for (let offset = 0; offset < max; ) {
          const r = await pc.pull({ topic, brokerName: this.o.brokerName, queueId: q }, offset, PULL_BATCH, { brokerAddr: addr });
          if (r.status !== 'FOUND' || r.msgs.length === 0) throw new Error(`queue ${q} of ${addr}: ${r.status} at ${offset} of ${max}`);
          bodies.push(...r.msgs.map((m) => m.body.toString()));
          offset = r.nextBeginOffset;
        }
      }
    } finally {
      await pc.close();
    }
    return bodies;
  }
}

/** Create (or update) `topic` through UPDATE_AND_CREATE_TOPIC, as mqadmin updateTopic does. */
export async function createTopicAt(client: RemotingClient, addr: string, topic: string, queues: number): Promise<void> {
  const header = { topic, defaultTopic: 'TBW102', readQueueNums: queues, writeQueueNums: queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
  const res = await client.invoke(addr, makeRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, header));
  if (res.code !== 0) throw new Error(`creating ${topic} on ${addr}: ${res.code} ${res.remark ?? ''}`);
}

/** What a read-back holds against the acknowledged sends. */
export interface LossReport {
  /** Acknowledged, and not read back. */
  missing: string[];
  /** Read back twice although acknowledged at the first try (a failed send may be stored twice). */
  twiceUnretried: string[];
  /** Second copies of messages whose send had failed once. */
  duplicates: number;
}

/**
 * The sends of unique bodies and their outcome. A send that fails is not acknowledged: it may or
 * may not be stored, so it is sent again (the same body) until one is acknowledged, and a second
 * copy of that body is no loss and no error.
 */
export class AckBook {
  readonly acked: string[] = [];
  readonly retried = new Set<string>();
  /** Sends that failed (thrown or not SEND_OK). */
  failures = 0;

  /** Send `body` until SEND_OK; at most `attempts` tries, `pauseMs` apart. Resolves with the acknowledged result. */
  async sendUntilAcked(producer: Producer, topic: string, body: string, attempts = 300, pauseMs = 100): Promise<SendResult> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        const r = await producer.send({ topic, body: Buffer.from(body) });
        if (r.status === 'SEND_OK') {
          this.acked.push(body);
          return r;
        }
      } catch {
        // not acknowledged: maybe stored, maybe not
      }
      this.failures++;
      this.retried.add(body);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    throw new Error(`${body}: no send acknowledged in ${attempts} tries`);
  }

  check(bodies: string[]): LossReport {
    const seen = new Set<string>();
    const twiceUnretried: string[] = [];
    let duplicates = 0;
    for (const b of bodies) {
      if (!seen.has(b)) seen.add(b);
      else if (this.retried.has(b)) duplicates++;
      else twiceUnretried.push(b);
    }
    return { missing: this.acked.filter((b) => !seen.has(b)), twiceUnretried, duplicates };
  }
}
