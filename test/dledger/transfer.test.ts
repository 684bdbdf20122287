/**
 * Leadership transfer and preferredLeaderIds on a fake clock (src/broker/dledger/server.ts,
 * elector.ts), following DLedgerServer#handleLeadershipTransfer / #checkPreferredLeader and
 * DLedgerLeaderElector#handleLeadershipTransfer / #handleTakeLeadership / TakeLeadershipTask at
 * openmessaging/dledger 0.3.1.2. Three whole DLedgerServers (real stores in temp dirs) talk through
 * an in-memory network that carries the real request commands and JSON bodies; time moves only
 * when the test says so. The answers' JSON is compared with what fastjson writes for the Java
 * object (LeadershipTransferResponse: code and term, plus the request's base on a refusal).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { DLedgerLeaderElector, type DLedgerPeerTransport } from '../../src/broker/dledger/elector.js';
import { baseDefaults, DLedgerResponseCode, encodeBody, LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, type LeadershipTransferRequest, type LeadershipTransferResponse, type VoteRequest } from '../../src/protocol/dledger/protocol.js';
import { DLedgerError } from '../../src/broker/dledger/errors.js';
import { DEFAULT_TRANSFER_CONFIG, DLedgerServer, type TransferConfig } from '../../src/broker/dledger/server.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import type { RemotingClient } from '../../src/remoting/client.js';
import type { ClientChannel, RemotingServer, RequestHandler } from '../../src/remoting/server.js';
import type { RemotingCommand } from '../../src/protocol/frame.js';
import { bodiesOf, FakeClock, memberState, tempStoreDir, track } from './helpers.js';

const IDS = ['n0', 'n1', 'n2'];
const PEERS = IDS.map((id, i) => `${id}-fake:${i + 1}`).join(';');
const addrOf = (id: string): string => `fake:${IDS.indexOf(id) + 1}`;
const json = (r: LeadershipTransferResponse): string => encodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, r).toString('utf8');

/** Remoting in memory: each node's handler table by address; nodes can be cut off or held. */
class FakeNet {
  readonly tables = new Map<string, Record<number, RequestHandler>>();
  readonly down = new Set<string>();
  /** Requests to these ids wait until released (or their timeout). */
  readonly held = new Map<string, Array<() => void>>();
  constructor(private readonly clock: FakeClock) {}

  server(id: string): RemotingServer {
    return { registerAll: (t: Record<number, RequestHandler>) => this.tables.set(addrOf(id), t) } as unknown as RemotingServer;
  }

  client(from: string): RemotingClient {
    return {
      invoke: async (addr: string, cmd: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> => {
        const to = IDS[Number(addr.split(':')[1]) - 1]!;
        if (this.down.has(to) || this.down.has(from)) throw new Error(`${addr} unreachable`);
        const timeout = new AbortController();
        let timedOut = false;
        const timer = this.clock.sleep(timeoutMs, timeout.signal).then(() => {
          timedOut = true;
        });
        const call = (async () => {
          const hold = this.held.get(to);
          if (hold) await new Promise<void>((r) => hold.push(r));
          const h = this.tables.get(addr)?.[cmd.code];
          if (!h) throw new Error(`no handler for ${cmd.code} at ${addr}`);
          return (await h(cmd, {} as ClientChannel))!;
        })();
        const res = await Promise.race([call, timer.then(() => undefined)]);
        timeout.abort();
        if (res === undefined || timedOut) throw new Error(`${addr}: timeout`);
        return res;
      },
    } as unknown as RemotingClient;
  }

  hold(id: string): void {
    this.held.set(id, []);
  }

  release(id: string): void {
    const waiting = this.held.get(id) ?? [];
    this.held.delete(id);
    for (const r of waiting) r();
  }
}

interface Group {
  clock: FakeClock;
  net: FakeNet;
  nodes: Map<string, DLedgerServer>;
  /** Advance fake time 10 ms at a time (letting real I/O run between steps) until `cond` holds. */
  until(what: string, cond: () => boolean, maxMs?: number): Promise<void>;
  /** The one leader every node follows in its term, if there is one now. */
  agreedLeader(): DLedgerServer | undefined;
}

async function group(opts: { preferredLeaderIds?: string; transfer?: Partial<TransferConfig>; seed?: number; down?: string[] } = {}): Promise<Group> {
  const dir = await tempStoreDir();
  const clock = new FakeClock(opts.seed ?? 5);
  const net = new FakeNet(clock);
  for (const id of opts.down ?? []) net.down.add(id);
  const nodes = new Map<string, DLedgerServer>();
  for (const id of IDS) {
    const server = await DLedgerServer.open({
      io: new NodeFileIO(),
      storeBaseDir: dir,
      group: 'g',
      selfId: id,
      peers: PEERS,
      remotingServer: net.server(id),
      remotingClient: net.client(id),
      clock,
      preferredLeaderIds: opts.preferredLeaderIds,
      transferConfig: { ...DEFAULT_TRANSFER_CONFIG, ...opts.transfer },
      dataFileBytes: 64 * 1024,
      indexFileBytes: 32 * 1024,
    });
    nodes.set(id, server);
    server.start();
  }
  onTestFinished(async () => {
    for (const s of nodes.values()) await s.close();
  });
  const live = (): DLedgerServer[] => [...nodes].filter(([id]) => !net.down.has(id)).map(([, s]) => s);
  const agreedLeader = (): DLedgerServer | undefined => {
    const leaders = live().filter((s) => s.state.isLeader());
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!.state;
    return live().every((s) => s.state.isLeader() || (s.state.isFollower() && s.state.getLeaderId() === l.selfId && s.state.currTerm() === l.currTerm())) ? leaders[0] : undefined;
  };
  const until = async (what: string, cond: () => boolean, maxMs = 60_000): Promise<void> => {
    for (let t = 0; t <= maxMs; t += 10) {
      if (cond()) return;
      clock.advance(10);
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error(`not within ${maxMs} fake ms: ${what}`);
  };
  return { clock, net, nodes, until, agreedLeader };
}


/** Append on the leader while the fake clock runs (the commit needs the pushers' rounds). */
async function append(g: Group, leader: DLedgerServer, bodies: string[]): Promise<void> {
  const t = track(leader.appendAsLeader(bodies.map((b) => Buffer.from(b))));
  await g.until('the append to commit', () => t.done);
  if (t.error) throw t.error;
}

describe('leadership transfer: refusals (DLedgerServer#handleLeadershipTransfer)', () => {
  it('not the leader, an unknown or self transferee, one too far behind; the leader stays and takes appends', async () => {
    const g = await group({ transfer: { maxLeadershipTransferWaitIndex: 3 } });
    await g.until('a leader', () => g.agreedLeader() !== undefined);
    const leader = g.agreedLeader()!;
    const [f1, f2] = [...g.nodes.values()].filter((s) => s !== leader);
    const term = leader.state.currTerm();

    const notLeader = await f1!.transferLeadership(f2!.state.selfId);
    expect(notLeader.code).toBe(DLedgerResponseCode.NOT_LEADER);
    // The refusal copies the request's base (DLedgerClient#leadershipTransfer's) and names the leader.
    expect(json(notLeader)).toBe(`{"code":404,"group":"g","leaderId":"${leader.state.selfId}","remoteId":"${f1!.state.selfId}","term":${term}}`);
    expect((await leader.transferLeadership('n9')).code).toBe(DLedgerResponseCode.UNKNOWN_MEMBER);
    expect((await leader.transferLeadership(leader.state.selfId)).code).toBe(DLedgerResponseCode.UNEXPECTED_ARGUMENT);
    // A request of another term.
    const stale = await leader.handleLeadershipTransfer({ ...baseDefaults(), group: 'g', remoteId: leader.state.selfId, transferId: leader.state.selfId, transfereeId: f1!.state.selfId, term: term - 1, takeLeadershipLedgerIndex: 0 });
    expect(stale.code).toBe(DLedgerResponseCode.INCONSISTENT_TERM);

    // f2 cut off while 5 entries commit with f1: f2 is 5 behind, the limit is 3.
    g.net.down.add(f2!.state.selfId);
    await append(g, leader, ['a', 'b', 'c', 'd', 'e']);
    const behind = await leader.transferLeadership(f2!.state.selfId);
    expect(behind.code).toBe(DLedgerResponseCode.FALL_BEHIND_TOO_MUCH);
    expect(json(behind)).toBe(`{"code":417,"group":"g","leaderId":"${leader.state.selfId}","remoteId":"${leader.state.selfId}","term":${term}}`);
    expect([leader.state.isLeader(), leader.state.currTerm(), leader.state.getTransferee()]).toEqual([true, term, undefined]);
    await append(g, leader, ['f']);
    expect(leader.getCommittedIndex()).toBe(5);
  });

  it('the transferee: only from its leader, and only once its log reaches the leader end within the wait', async () => {
    const g = await group({ transfer: { leadershipTransferWaitTimeoutMs: 1000 } });
    await g.until('a leader', () => g.agreedLeader() !== undefined);
    const leader = g.agreedLeader()!;
    const [f1, f2] = [...g.nodes.values()].filter((s) => s !== leader);
    const term = leader.state.currTerm();
    const take = (over: Partial<LeadershipTransferRequest>): LeadershipTransferRequest => ({
      ...baseDefaults(),
      group: 'g',
      leaderId: leader.state.selfId,
      localId: leader.state.selfId,
      remoteId: f1!.state.selfId,
      term,
      transferId: leader.state.selfId,
      transfereeId: f1!.state.selfId,
      takeLeadershipLedgerIndex: f1!.state.getLedgerEndIndex(),
      ...over,
    });
    expect((await f1!.handleLeadershipTransfer(take({ transferId: f2!.state.selfId }))).code).toBe(DLedgerResponseCode.INCONSISTENT_LEADER);
    // Neither the transferer nor the transferee.
    expect((await f1!.handleLeadershipTransfer(take({ transferId: f2!.state.selfId, transfereeId: leader.state.selfId }))).code).toBe(DLedgerResponseCode.UNEXPECTED_ARGUMENT);
    // A log end it never reaches: TAKE_LEADERSHIP_FAILED after the wait, and it stays a follower.
    const waited = track(f1!.handleLeadershipTransfer(take({ takeLeadershipLedgerIndex: 99 })));
    await g.until('the wait to end', () => waited.done, 5_000);
    expect(waited.value!.code).toBe(DLedgerResponseCode.TAKE_LEADERSHIP_FAILED);
    expect([f1!.state.getRole(), f1!.state.currTerm()]).toEqual(['FOLLOWER', term]);
  });

  it('while a transfer is under way the leader refuses appends and a second transfer (LEADER_TRANSFERRING)', async () => {
    const g = await group();
    await g.until('a leader', () => g.agreedLeader() !== undefined);
    const leader = g.agreedLeader()!;
    const [f1, f2] = [...g.nodes.values()].filter((s) => s !== leader);
    g.net.hold(f1!.state.selfId);
    const transfer = track(leader.transferLeadership(f1!.state.selfId));
    await g.until('the transferee to be marked', () => leader.state.getTransferee() === f1!.state.selfId);
    await expect(leader.appendAsLeader([Buffer.from('x')])).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.LEADER_TRANSFERRING });
    await expect(leader.appendLocal([Buffer.from('x')])).rejects.toBeInstanceOf(DLedgerError);
    expect((await leader.transferLeadership(f2!.state.selfId)).code).toBe(DLedgerResponseCode.LEADER_TRANSFERRING);
    g.net.release(f1!.state.selfId);
    await g.until('the transfer to finish', () => transfer.done);
    // Released, the held transfer goes through; on a loaded machine a heartbeat of the old term,
    // held with it, can reach the transferee after it became candidate and make it a follower
    // again (TakeLeadershipTask answers TAKE_LEADERSHIP_FAILED then, as Java does). Either way the
    // transfer ended, and the leader takes appends again.
    expect([DLedgerResponseCode.SUCCESS, DLedgerResponseCode.TAKE_LEADERSHIP_FAILED]).toContain(transfer.value!.code);
    expect(leader.state.getTransferee()).toBeUndefined();
  });
});

describe('leadership transfer: success', () => {
  it('the transferee leads a higher term, the old leader follows it, nothing committed is lost', async () => {
    const g = await group();
    await g.until('a leader', () => g.agreedLeader() !== undefined);
    const old = g.agreedLeader()!;
    const oldTerm = old.state.currTerm();
    const target = [...g.nodes.values()].find((s) => s !== old)!;
    await append(g, old, ['m0', 'm1', 'm2', 'm3']);
    await g.until('the target to hold every entry', () => target.state.getLedgerEndIndex() === 3);

    const t = track(old.transferLeadership(target.state.selfId));
    await g.until('the transfer to answer', () => t.done);
    const res = t.value!;
    // TakeLeadershipTask: new LeadershipTransferResponse().term(term).code(SUCCESS).
    expect(json(res)).toBe(`{"code":200,"term":${oldTerm + 1}}`);
    expect(target.state.isLeader()).toBe(true);
    expect(target.state.currTerm()).toBe(oldTerm + 1);
    await g.until('everyone to follow the new leader', () => g.agreedLeader() === target);
    expect([old.state.getRole(), old.state.getLeaderId(), old.state.getTransferee()]).toEqual(['FOLLOWER', target.state.selfId, undefined]);

    await append(g, target, ['n0', 'n1']);
    for (const s of g.nodes.values()) {
      await g.until(`${s.state.selfId} to commit index 5`, () => s.getCommittedIndex() === 5);
      expect(await bodiesOf(s, 5)).toEqual(['m0', 'm1', 'm2', 'm3', 'n0', 'n1']);
    }
  });
});

describe('preferredLeaderIds (DLedgerServer#checkPreferredLeader)', () => {
  it('a leader that is not the preferred one hands over once the preferred node is live and caught up', async () => {
    const g = await group({ preferredLeaderIds: 'n2', down: ['n2'] });
    await g.until('a leader among n0 and n1', () => g.agreedLeader() !== undefined);
    const first = g.agreedLeader()!;
    expect(first.state.selfId).not.toBe('n2');
    await append(g, first, ['p0', 'p1']);
    // Nothing to do while n2 is away.
    expect(await first.checkPreferredLeader()).toBeUndefined();
    g.net.down.delete('n2');
    await g.until('n2 to lead with everyone following', () => g.agreedLeader()?.state.selfId === 'n2');
    const n2 = g.nodes.get('n2')!;
    expect(n2.state.currTerm()).toBeGreaterThan(first.state.currTerm() - 1);
    // The preferred leader does not hand over again.
    expect(await n2.checkPreferredLeader()).toBeUndefined();
    await append(g, n2, ['p2']);
    for (const s of g.nodes.values()) {
      await g.until(`${s.state.selfId} to commit index 2`, () => s.getCommittedIndex() === 2);
      expect(await bodiesOf(s, 2)).toEqual(['p0', 'p1', 'p2']);
    }
  });

  it('a preferred node taking over refuses its vote to a rival whose log is no longer (REJECT_TAKING_LEADERSHIP)', async () => {
    const nobody: DLedgerPeerTransport = {
      vote: async () => ({ ...baseDefaults(), voteResult: 'UNKNOWN' }),
      heartBeat: async () => ({ ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR }),
      leadershipTransfer: async () => ({ ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR }),
    };
    const s = await memberState(await tempStoreDir(), 'n1');
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), { heartBeatTimeIntervalMs: 2000, maxHeartBeatLeak: 3, minVoteIntervalMs: 300, maxVoteIntervalMs: 1000, preferredLeaderIds: 'n1' });
    e.handleHeartBeat({ ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n0', leaderId: 'n0', term: 0 });
    expect(s.isFollower()).toBe(true);
    const answer = track(e.handleTakeLeadership({ ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n0', leaderId: 'n0', term: 0, transferId: 'n0', transfereeId: 'n1', takeLeadershipLedgerIndex: -1 }));
    expect([s.getRole(), s.getTermToTakeLeadership()]).toEqual(['CANDIDATE', 1]);
    await e.maintainState();
    expect(s.currTerm()).toBe(1);
    const rival: VoteRequest = { ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n2', leaderId: 'n2', term: 1, ledgerEndIndex: -1, ledgerEndTerm: -1 };
    expect((await e.handleVote(rival, false)).voteResult).toBe('REJECT_TAKING_LEADERSHIP');
    // A follower of another leader in that term: the take-leadership is answered TAKE_LEADERSHIP_FAILED.
    e.handleHeartBeat({ ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n2', leaderId: 'n2', term: 1 });
    await new Promise((r) => setImmediate(r));
    expect(answer.value).toEqual({ ...baseDefaults(), term: 1, code: DLedgerResponseCode.TAKE_LEADERSHIP_FAILED });
    expect(s.getTermToTakeLeadership()).toBe(-1);
  });
});
