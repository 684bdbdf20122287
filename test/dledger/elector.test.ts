/**
 * DLedgerLeaderElector's rules (src/broker/dledger/elector.ts) with a fake clock: no wall time,
 * every step driven by the test. The rules are DLedgerLeaderElector#handleVote / #handleHeartBeat /
 * #maintainAsCandidate / #sendHeartbeats at openmessaging/dledger 0.3.1.2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DLedgerLeaderElector, type DLedgerPeerTransport, type ElectorConfig } from '../../src/broker/dledger/elector.js';
import { MemberState } from '../../src/broker/dledger/member-state.js';
import { baseDefaults, decodeBody, DLedgerResponseCode, encodeBody, HEART_BEAT_RESPONSE_SCHEMA, VOTE_REQUEST_SCHEMA, VOTE_RESPONSE_SCHEMA, type HeartBeatRequest, type VoteRequest } from '../../src/protocol/dledger/protocol.js';
import type { FileData } from '../../src/broker/store/file-io.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { FakeClock, memberState, PEERS3, tempStoreDir } from './helpers.js';

const CONFIG: ElectorConfig = { heartBeatTimeIntervalMs: 2000, maxHeartBeatLeak: 3, minVoteIntervalMs: 300, maxVoteIntervalMs: 1000 };
const nobody: DLedgerPeerTransport = {
  vote: async () => ({ ...baseDefaults(), voteResult: 'UNKNOWN' }),
  heartBeat: async () => ({ ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR }),
  leadershipTransfer: async () => ({ ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR }),
};

function voteReq(over: Partial<VoteRequest>): VoteRequest {
  return { ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n0', leaderId: 'n0', term: 0, ledgerEndIndex: -1, ledgerEndTerm: -1, ...over };
}
function beat(over: Partial<HeartBeatRequest>): HeartBeatRequest {
  return { ...baseDefaults(), group: 'g', remoteId: 'n1', localId: 'n0', leaderId: 'n0', term: 0, ...over };
}
const currterm = (dir: string, id = 'n1'): string => fs.readFileSync(path.join(dir, `dledger-${id}`, 'currterm'), 'utf8');

/** A FileIO whose atomic writes wait for the test to let them finish. */
class GatedIO extends NodeFileIO {
  gate: Promise<void> | undefined;
  fail = false;
  override async writeFileAtomic(p: string, data: FileData): Promise<void> {
    await this.gate;
    if (this.fail) throw new Error('EIO: simulated');
    return super.writeFileAtomic(p, data);
  }
}

describe('handleVote: the grant and reject rules', () => {
  it('rejects unknown or unexpected candidates and candidates whose log is behind', async () => {
    const s = await memberState(await tempStoreDir(), 'n1');
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), CONFIG);
    s.updateLedgerIndexAndTerm(5, 2);
    expect((await e.handleVote(voteReq({ leaderId: 'n9' }), false)).voteResult).toBe('REJECT_UNKNOWN_LEADER');
    expect((await e.handleVote(voteReq({ leaderId: 'n1' }), false)).voteResult).toBe('REJECT_UNEXPECTED_LEADER');
    expect((await e.handleVote(voteReq({ ledgerEndTerm: 1, ledgerEndIndex: 9 }), false)).voteResult).toBe('REJECT_EXPIRED_LEDGER_TERM');
    expect((await e.handleVote(voteReq({ ledgerEndTerm: 2, ledgerEndIndex: 4 }), false)).voteResult).toBe('REJECT_SMALL_LEDGER_END_INDEX');
    // A term below the ledger's last term cannot be voted in (the answer carries the ledger term).
    const r = await e.handleVote(voteReq({ ledgerEndTerm: 2, ledgerEndIndex: 5, term: 0 }), false);
    expect([r.voteResult, r.term]).toEqual(['REJECT_TERM_SMALL_THAN_LEDGER', 2]);
    expect(s.currVoteFor()).toBeUndefined();
  });

  it('one vote per term, on disk before ACCEPT is answered; a repeat is granted, another candidate is not', async () => {
    const dir = await tempStoreDir();
    const io = new GatedIO();
    const s = await MemberState.open(io, { storeBaseDir: dir, group: 'g', selfId: 'n1', peers: PEERS3 });
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), CONFIG);
    let open!: () => void;
    io.gate = new Promise((r) => (open = r));
    let answered = false;
    const first = e.handleVote(voteReq({ leaderId: 'n0' }), false).then((x) => ((answered = true), x));
    // While the vote is being written: not answered yet, and another candidate is already refused.
    expect((await e.handleVote(voteReq({ leaderId: 'n2', localId: 'n2' }), false)).voteResult).toBe('REJECT_ALREADY_VOTED');
    await new Promise((r) => setImmediate(r));
    expect(answered).toBe(false);
    open();
    expect((await first).voteResult).toBe('ACCEPT');
    expect(currterm(dir)).toBe('currTerm=0\nvoteLeader=n0\n');
    expect((await e.handleVote(voteReq({ leaderId: 'n0' }), false)).voteResult).toBe('ACCEPT');
    // The vote survives a restart.
    const again = new DLedgerLeaderElector(await memberState(dir, 'n1'), nobody, new FakeClock(), CONFIG);
    expect((await again.handleVote(voteReq({ leaderId: 'n2', localId: 'n2' }), false)).voteResult).toBe('REJECT_ALREADY_VOTED');
    // Knowing a leader in the term changes the reason.
    again.handleHeartBeat(beat({ leaderId: 'n0', term: 0 }));
    expect((await again.handleVote(voteReq({ leaderId: 'n2', localId: 'n2' }), false)).voteResult).toBe('REJECT_ALREADY_HAS_LEADER');
  });

  it('a vote that cannot be written is not granted, and is given back', async () => {
    const io = new GatedIO();
    io.fail = true;
    const s = await MemberState.open(io, { storeBaseDir: await tempStoreDir(), group: 'g', selfId: 'n1', peers: PEERS3 });
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), CONFIG);
    const r = await e.handleVote(voteReq({}), false);
    expect([r.voteResult, r.code]).toEqual(['UNKNOWN', DLedgerResponseCode.DISK_ERROR]);
    expect(s.currVoteFor()).toBeUndefined();
  });

  it('a larger term: REJECT_TERM_NOT_READY, candidate at once; the next round moves to that term on disk; a smaller one is expired', async () => {
    const dir = await tempStoreDir();
    const s = await memberState(dir, 'n1');
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), CONFIG);
    e.handleHeartBeat(beat({ term: 0 }));
    expect(s.getRole()).toBe('FOLLOWER');
    expect((await e.handleVote(voteReq({ leaderId: 'n2', localId: 'n2', term: 4 }), false)).voteResult).toBe('REJECT_TERM_NOT_READY');
    expect([s.getRole(), s.currTerm()]).toEqual(['CANDIDATE', 0]);
    await e.maintainState();
    expect(s.currTerm()).toBe(4);
    expect(currterm(dir)).toBe('currTerm=4\nvoteLeader=\n');
    expect((await e.handleVote(voteReq({ leaderId: 'n2', localId: 'n2', term: 4 }), false)).voteResult).toBe('ACCEPT');
    const old = await e.handleVote(voteReq({ term: 3 }), false);
    expect([old.voteResult, old.term]).toEqual(['REJECT_EXPIRED_VOTE_TERM', 4]);
  });

  it('requests for another member or group get DLedgerServer\'s refusal codes', async () => {
    const e = new DLedgerLeaderElector(await memberState(await tempStoreDir(), 'n1'), nobody, new FakeClock(), CONFIG);
    expect((await e.handleVoteRequest(voteReq({ remoteId: 'n2' }))).code).toBe(DLedgerResponseCode.UNKNOWN_MEMBER);
    expect(e.handleHeartBeatRequest(beat({ group: 'other' })).code).toBe(DLedgerResponseCode.UNKNOWN_GROUP);
  });
});

describe('handleHeartBeat', () => {
  it('follows the rules of DLedgerLeaderElector#handleHeartBeat', async () => {
    const s = await memberState(await tempStoreDir(), 'n1');
    const e = new DLedgerLeaderElector(s, nobody, new FakeClock(), CONFIG);
    expect(e.handleHeartBeat(beat({ leaderId: 'n7' })).code).toBe(DLedgerResponseCode.UNKNOWN_MEMBER);
    expect(e.handleHeartBeat(beat({ leaderId: 'n1' })).code).toBe(DLedgerResponseCode.UNEXPECTED_MEMBER);
    expect(e.handleHeartBeat(beat({ term: 0 })).code).toBe(DLedgerResponseCode.SUCCESS);
    expect([s.getRole(), s.getLeaderId()]).toEqual(['FOLLOWER', 'n0']);
    expect(e.handleHeartBeat(beat({ term: 0 })).code).toBe(DLedgerResponseCode.SUCCESS);
    expect(e.handleHeartBeat(beat({ term: 0, leaderId: 'n2', localId: 'n2' })).code).toBe(DLedgerResponseCode.INCONSISTENT_LEADER);
    expect(e.handleHeartBeat(beat({ term: 3 })).code).toBe(DLedgerResponseCode.TERM_NOT_READY);
    expect(s.getRole()).toBe('CANDIDATE');
    await e.maintainState();
    expect(s.currTerm()).toBe(3);
    const stale = e.handleHeartBeat(beat({ term: 2 }));
    expect([stale.code, stale.term]).toEqual([DLedgerResponseCode.EXPIRED_TERM, 3]);
    // The normal answer is a bare new HeartBeatResponse().
    expect(encodeBody(HEART_BEAT_RESPONSE_SCHEMA, e.handleHeartBeat(beat({ term: 3 }))).toString()).toBe('{"code":200,"term":-1}');
  });
});

/** Three electors in one process, their RPC through the bodies' JSON (as on the wire), some nodes down. */
async function group(clock: FakeClock) {
  const dir = await tempStoreDir();
  const down = new Set<string>();
  const nodes = new Map<string, DLedgerLeaderElector>();
  const transport = (from: string): DLedgerPeerTransport => ({
    async vote(id, req) {
      const peer = nodes.get(id)!;
      if (down.has(id) || down.has(from)) return { ...baseDefaults(), voteResult: 'UNKNOWN' };
      return decodeBody(VOTE_RESPONSE_SCHEMA, encodeBody(VOTE_RESPONSE_SCHEMA, await peer.handleVoteRequest(decodeBody(VOTE_REQUEST_SCHEMA, encodeBody(VOTE_REQUEST_SCHEMA, req)))));
    },
    async heartBeat(id, req) {
      if (down.has(id) || down.has(from)) return { ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR };
      return nodes.get(id)!.handleHeartBeatRequest(req);
    },
    async leadershipTransfer(id, req) {
      if (down.has(id) || down.has(from)) return { ...baseDefaults(), code: DLedgerResponseCode.NETWORK_ERROR };
      return nodes.get(id)!.handleTakeLeadership(req);
    },
  });
  for (const id of ['n0', 'n1', 'n2']) nodes.set(id, new DLedgerLeaderElector(await memberState(dir, id), transport(id), clock, CONFIG));
  /** `ms` of fake time in 10 ms rounds (StateMaintainer's), each live node one maintainState per round. */
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      for (const [id, e] of nodes) if (!down.has(id)) await e.maintainState();
    }
  };
  const leaders = (): string[] => [...nodes].filter(([id, e]) => !down.has(id) && e.state.isLeader()).map(([id]) => id);
  return { nodes, down, run, leaders };
}

describe('elections on a fake clock', () => {
  it('three nodes elect exactly one leader; the others follow it in its term', async () => {
    const g = await group(new FakeClock(7));
    await g.run(3_000);
    expect(g.leaders()).toHaveLength(1);
    const leader = g.nodes.get(g.leaders()[0]!)!;
    for (const e of g.nodes.values()) {
      expect(e.state.currTerm()).toBe(leader.state.currTerm());
      if (e !== leader) expect([e.state.getRole(), e.state.getLeaderId()]).toEqual(['FOLLOWER', leader.state.selfId]);
    }
    // Heartbeats keep it so.
    await g.run(20_000);
    expect(g.leaders()).toEqual([leader.state.selfId]);
  });

  it('the leader gone: after maxHeartBeatLeak intervals the others elect a new one in a larger term; the old one steps down', async () => {
    const clock = new FakeClock(11);
    const g = await group(clock);
    await g.run(3_000);
    const [old] = g.leaders();
    const oldTerm = g.nodes.get(old!)!.state.currTerm();
    g.down.add(old!);
    // The last heartbeat came at most one interval before; until maxHeartBeatLeak intervals after it, nobody moves.
    await g.run(CONFIG.heartBeatTimeIntervalMs * (CONFIG.maxHeartBeatLeak - 1) - 100);
    expect(g.leaders()).toEqual([]);
    expect([...g.nodes.values()].filter((e) => e.state.isFollower())).toHaveLength(2);
    await g.run(5_000);
    expect(g.leaders()).toHaveLength(1);
    const fresh = g.nodes.get(g.leaders()[0]!)!;
    expect(fresh.state.selfId).not.toBe(old);
    expect(fresh.state.currTerm()).toBeGreaterThan(oldTerm);
    // The old leader, cut off, cannot keep a quorum of heartbeats and becomes a candidate...
    // (it still runs, but every RPC it makes fails).
    const oldNode = g.nodes.get(old!)!;
    expect(oldNode.state.isLeader()).toBe(true);
    for (let t = 0; t < 10_000 && oldNode.state.isLeader(); t += 10) {
      clock.advance(10);
      await oldNode.maintainState();
    }
    expect(oldNode.state.getRole()).toBe('CANDIDATE');
    // ... and once back, it follows the new leader.
    g.down.delete(old!);
    await g.run(5_000);
    expect(g.leaders()).toEqual([fresh.state.selfId]);
    expect(oldNode.state.getLeaderId()).toBe(fresh.state.selfId);
  });

  it('a candidate that cannot reach a quorum does not raise its term round after round', async () => {
    const g = await group(new FakeClock(3));
    g.down.add('n1');
    g.down.add('n2');
    await g.run(30_000);
    expect(g.leaders()).toEqual([]);
    expect(g.nodes.get('n0')!.state.currTerm()).toBeLessThanOrEqual(1);
  });
});
