/**
 * The entry pusher's rules, without a network: the quorum index, the leader's QuorumAckChecker
 * (commit on a majority, only forward, only once an entry of the current term is there; pending
 * appends completed, timed out, or failed on a term change), and the follower's answers to
 * APPEND, COMPARE, TRUNCATE and COMMIT. Time is a FakeClock; stores are real, in temp dirs.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { DLedgerEntry } from '../../src/protocol/dledger/entry.js';
import { DEFAULT_PUSHER_CONFIG, DLedgerEntryPusher, quorumIndexOf, type PushTransport } from '../../src/broker/dledger/entry-pusher.js';
import { DLedgerFileStore } from '../../src/broker/dledger/file-store.js';
import type { MemberState } from '../../src/broker/dledger/member-state.js';
import { baseDefaults, DLedgerResponseCode, type PushEntryRequest, type PushEntryType } from '../../src/protocol/dledger/protocol.js';
import { DLedgerError } from '../../src/broker/dledger/errors.js';
import { DLedgerServer } from '../../src/broker/dledger/server.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RemotingServer } from '../../src/remoting/server.js';
import { FakeClock, memberState, PEERS3, tempStoreDir, track } from './helpers.js';

const io = new NodeFileIO();
const noNetwork: PushTransport = { push: () => Promise.reject(new Error('no pushes in this test')) };
const CONFIG = { ...DEFAULT_PUSHER_CONFIG, maxOutOfOrderWaitMs: 1000, maxOutOfOrderPushes: 2 };

async function openStore(dir: string, selfId: string): Promise<DLedgerFileStore> {
  const { store } = await DLedgerFileStore.open(io, { storeBaseDir: dir, selfId, dataFileBytes: 64 * 1024, indexFileBytes: 32 * 1024 });
  onTestFinished(() => store.close().catch(() => undefined));
  return store;
}

async function leaderOf(state: MemberState, term: number): Promise<void> {
  while (state.currTerm() < term) await state.nextTerm();
  state.changeToLeader(term);
}

async function followerOf(state: MemberState, term: number, leaderId: string): Promise<void> {
  while (state.currTerm() < term) await state.nextTerm();
  state.changeToFollower(term, leaderId);
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('quorum index (QuorumAckChecker#doWork)', () => {
  it('is the largest index a majority holds: sorted descending, at [size / 2]', () => {
    expect(quorumIndexOf([5, 3, 4])).toBe(4);
    expect(quorumIndexOf([5, -1, -1])).toBe(-1);
    expect(quorumIndexOf([5, 5, -1])).toBe(5);
    expect(quorumIndexOf([9, 8, 7, 1, 0])).toBe(7);
    expect(quorumIndexOf([0, 1, 9, 8, 7])).toBe(7);
    expect(quorumIndexOf([3])).toBe(3);
  });
});

describe('leader: QuorumAckChecker and pending appends', () => {
  async function leader(term = 1): Promise<{ state: MemberState; store: DLedgerFileStore; pusher: DLedgerEntryPusher; clock: FakeClock; append: (body: string) => Promise<DLedgerEntry> }> {
    const dir = await tempStoreDir();
    const state = await memberState(dir, 'n0');
    const store = await openStore(dir, 'n0');
    const clock = new FakeClock();
    const pusher = new DLedgerEntryPusher(state, store, noNetwork, clock, CONFIG);
    await leaderOf(state, term);
    const append = (body: string): Promise<DLedgerEntry> => store.append({ term: state.currTerm(), body: Buffer.from(body) });
    return { state, store, pusher, clock, append };
  }

  it('commits what a majority holds, completes those appends, and never moves back', async () => {
    const { state, store, pusher, append } = await leader();
    const acks = [];
    for (const b of ['a', 'b', 'c']) acks.push(track(pusher.waitAck(await append(b))));
    pusher.checkQuorum();
    await flush();
    expect(store.getCommittedIndex()).toBe(-1);
    expect(acks.some((a) => a.done)).toBe(false);

    pusher.updatePeerWaterMark(state.currTerm(), 'n1', 1);
    pusher.checkQuorum();
    await flush();
    expect(store.getCommittedIndex()).toBe(1);
    expect(acks.map((a) => a.done)).toEqual([true, true, false]);
    expect(acks[1]!.value).toEqual({ index: 1, pos: (await store.get(1)).pos });

    // A lower mark from another peer, or the same peer going back, moves nothing.
    pusher.updatePeerWaterMark(state.currTerm(), 'n2', 0);
    pusher.updatePeerWaterMark(state.currTerm(), 'n1', 0);
    pusher.checkQuorum();
    expect(store.getCommittedIndex()).toBe(1);
    expect(pusher.getPeerWaterMark('n1')).toBe(1);

    pusher.updatePeerWaterMark(state.currTerm(), 'n2', 2);
    pusher.checkQuorum();
    await flush();
    expect(store.getCommittedIndex()).toBe(2);
    expect(acks[2]!.done).toBe(true);
  });

  it('marks from another term do not count', async () => {
    const { state, store, pusher, append } = await leader(3);
    const ack = track(pusher.waitAck(await append('a')));
    pusher.updatePeerWaterMark(state.currTerm() - 1, 'n1', 0);
    pusher.checkQuorum();
    await flush();
    expect(store.getCommittedIndex()).toBe(-1);
    expect(ack.done).toBe(false);
  });

  it("entries of an earlier term commit only with one of the leader's own term", async () => {
    const { state, store, pusher, append } = await leader(1);
    await append('old-0');
    await append('old-1');
    // A new leadership in term 2 over a log whose entries are all of term 1.
    state.changeToCandidate(1);
    await state.nextTerm();
    state.changeToLeader(2);
    pusher.updatePeerWaterMark(2, 'n1', 1);
    pusher.checkQuorum();
    expect(store.getCommittedIndex()).toBe(-1);

    const ack = track(pusher.waitAck(await append('new-2')));
    pusher.checkQuorum();
    expect(store.getCommittedIndex()).toBe(-1);
    pusher.updatePeerWaterMark(2, 'n1', 2);
    pusher.checkQuorum();
    await flush();
    expect(store.getCommittedIndex()).toBe(2);
    expect(ack.value?.index).toBe(2);
  });

  it('an append not on a quorum within maxWaitAckTimeMs completes WAIT_QUORUM_ACK_TIMEOUT', async () => {
    const { pusher, clock, append } = await leader();
    const ack = track(pusher.waitAck(await append('a')));
    clock.advance(CONFIG.maxWaitAckTimeMs - 1);
    pusher.checkQuorum();
    await flush();
    expect(ack.done).toBe(false);
    clock.advance(1);
    pusher.checkQuorum();
    await flush();
    expect((ack.error as DLedgerError).dledgerCode).toBe(DLedgerResponseCode.WAIT_QUORUM_ACK_TIMEOUT);
  });

  it('a term change fails the pending appends, even if their entries later reach a quorum', async () => {
    const { state, store, pusher, append } = await leader();
    const ack = track(pusher.waitAck(await append('a')));
    state.changeToCandidate(state.currTerm());
    pusher.checkQuorum();
    await flush();
    expect((ack.error as DLedgerError).dledgerCode).toBe(DLedgerResponseCode.NOT_LEADER);

    const ack2 = track(pusher.waitAck(await store.append({ term: 1, body: Buffer.from('b') })));
    await state.nextTerm();
    state.changeToLeader(2);
    pusher.updatePeerWaterMark(2, 'n1', 1);
    pusher.checkQuorum();
    await flush();
    expect((ack2.error as DLedgerError).dledgerCode).toBe(DLedgerResponseCode.TERM_CHANGED);
  });

  it('DLedgerServer: a follower answers NOT_LEADER; past maxPendingRequestsNum, LEADER_PENDING_FULL', async () => {
    const dir = await tempStoreDir();
    const server = await DLedgerServer.open({
      io,
      storeBaseDir: dir,
      group: 'g',
      selfId: 'n0',
      peers: PEERS3,
      remotingServer: new RemotingServer({ name: 'unused' }),
      remotingClient: new RemotingClient({}),
      clock: new FakeClock(),
      pusherConfig: { ...CONFIG, maxPendingRequestsNum: 2 },
    });
    await expect(server.appendAsLeader([Buffer.from('x')])).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.NOT_LEADER });
    await leaderOf(server.state, 1);
    const waiting = track(server.appendAsLeader([Buffer.from('a'), Buffer.from('b')]));
    for (let i = 0; i < 200 && server.pusher.pendingCount() < 2; i++) await new Promise((r) => setTimeout(r, 5));
    await expect(server.appendAsLeader([Buffer.from('c')])).rejects.toMatchObject({ dledgerCode: DLedgerResponseCode.LEADER_PENDING_FULL });
    await server.close();
    await flush();
    expect(waiting.error).toBeInstanceOf(DLedgerError);
    expect(server.state.getLedgerEndIndex()).toBe(1);
  });
});

describe('follower: EntryHandler', () => {
  /** A leader's store (entries as the leader wrote them) and a follower of n0 in `term`. */
  async function setup(term = 1): Promise<{ leaderStore: DLedgerFileStore; store: DLedgerFileStore; state: MemberState; pusher: DLedgerEntryPusher; clock: FakeClock }> {
    const dir = await tempStoreDir();
    const leaderStore = await openStore(dir, 'n0');
    const state = await memberState(dir, 'n1');
    const store = await openStore(dir, 'n1');
    const clock = new FakeClock();
    const pusher = new DLedgerEntryPusher(state, store, noNetwork, clock, CONFIG);
    await followerOf(state, term, 'n0');
    return { leaderStore, store, state, pusher, clock };
  }

  function push(type: PushEntryType, entry: DLedgerEntry | undefined, term = 1, commitIndex = -1, leaderId = 'n0'): PushEntryRequest {
    return { ...baseDefaults(), group: 'g', remoteId: 'n1', localId: leaderId, leaderId, term, type, entry, commitIndex, batchEntry: [] };
  }

  async function entries(store: DLedgerFileStore, term: number, bodies: string[]): Promise<DLedgerEntry[]> {
    const out = [];
    for (const b of bodies) out.push(await store.append({ term, body: Buffer.from(b) }));
    return out;
  }

  it('takes APPEND at its end + 1, holds one that comes early until its turn, and answers a repeat', async () => {
    const { leaderStore, store, state, pusher } = await setup();
    const [e0, e1, e2] = await entries(leaderStore, 1, ['a', 'b', 'c']);
    const early = pusher.handlePush(push('APPEND', e2));
    expect((await pusher.handlePush(push('APPEND', e0))).code).toBe(DLedgerResponseCode.SUCCESS);
    expect((await pusher.handlePush(push('APPEND', e1))).code).toBe(DLedgerResponseCode.SUCCESS);
    expect(await early).toMatchObject({ code: DLedgerResponseCode.SUCCESS, index: 2, endIndex: 2 });
    expect(store.getLedgerEndIndex()).toBe(2);
    expect(state.getLedgerEndIndex()).toBe(2);
    expect((await pusher.handlePush(push('APPEND', e1))).code).toBe(DLedgerResponseCode.SUCCESS);
    const forged = { ...e1!, body: Buffer.from('z') };
    expect((await pusher.handlePush(push('APPEND', forged))).code).toBe(DLedgerResponseCode.INCONSISTENT_STATE);
  });

  it('an early APPEND whose turn does not come is answered INCONSISTENT_STATE; the hold is bounded', async () => {
    const { leaderStore, pusher, clock } = await setup();
    const es = await entries(leaderStore, 1, ['a', 'b', 'c', 'd']);
    const held = [pusher.handlePush(push('APPEND', es[1])), pusher.handlePush(push('APPEND', es[2]))];
    await flush();
    expect((await pusher.handlePush(push('APPEND', es[3]))).code).toBe(DLedgerResponseCode.PUSH_REQUEST_IS_FULL);
    clock.advance(CONFIG.maxOutOfOrderWaitMs);
    for (const h of held) expect((await h).code).toBe(DLedgerResponseCode.INCONSISTENT_STATE);
  });

  it('refuses pushes when not a follower, from another term, or from another leader', async () => {
    const { leaderStore, state, pusher } = await setup(2);
    const [e0] = await entries(leaderStore, 2, ['a']);
    expect((await pusher.handlePush(push('APPEND', e0, 1))).code).toBe(DLedgerResponseCode.INCONSISTENT_TERM);
    expect((await pusher.handlePush(push('APPEND', e0, 2, -1, 'n2'))).code).toBe(DLedgerResponseCode.INCONSISTENT_LEADER);
    state.changeToCandidate(2);
    expect((await pusher.handlePush(push('APPEND', e0, 2))).code).toBe(DLedgerResponseCode.NOT_FOLLOWER);
  });

  it('COMPARE: SUCCESS only for the very entry held; INCONSISTENT_STATE with begin and end otherwise', async () => {
    const { leaderStore, store, pusher } = await setup();
    const es = await entries(leaderStore, 1, ['a', 'b']);
    await store.appendAsFollower(es[0]!);
    expect(await pusher.handlePush(push('COMPARE', es[0]))).toMatchObject({ code: DLedgerResponseCode.SUCCESS, beginIndex: 0, endIndex: 0 });
    expect(await pusher.handlePush(push('COMPARE', es[1]))).toMatchObject({ code: DLedgerResponseCode.INCONSISTENT_STATE, beginIndex: 0, endIndex: 0 });
    expect((await pusher.handlePush(push('COMPARE', { ...es[0]!, term: 0 }))).code).toBe(DLedgerResponseCode.INCONSISTENT_STATE);
  });

  it("TRUNCATE cuts a divergent tail and takes the leader's entry; commits stop at what was verified", async () => {
    const { leaderStore, store, pusher } = await setup(2);
    const dir = await tempStoreDir();
    // The old leader of term 1 wrote a..d; the follower holds them all.
    const oldLeader = await openStore(dir, 'n2');
    const old = await entries(oldLeader, 1, ['a', 'b', 'c', 'd']);
    for (const e of old) await store.appendAsFollower(e);
    // The new leader (term 2) has only a, b of them, then its own entries.
    for (const e of old.slice(0, 2)) await leaderStore.appendAsFollower(e);
    const mine = await entries(leaderStore, 2, ['X', 'Y']);

    // Nothing verified in term 2 yet: a COMMIT covering the divergent tail commits nothing.
    expect((await pusher.handlePush(push('COMMIT', undefined, 2, 3))).code).toBe(DLedgerResponseCode.SUCCESS);
    expect(store.getCommittedIndex()).toBe(-1);

    expect((await pusher.handlePush(push('COMPARE', mine[0], 2))).code).toBe(DLedgerResponseCode.INCONSISTENT_STATE);
    expect(await pusher.handlePush(push('COMPARE', old[1], 2))).toMatchObject({ code: DLedgerResponseCode.SUCCESS, endIndex: 3 });
    expect((await pusher.handlePush(push('COMMIT', undefined, 2, 3))).code).toBe(DLedgerResponseCode.SUCCESS);
    expect(store.getCommittedIndex()).toBe(1);

    expect(await pusher.handlePush(push('TRUNCATE', mine[0], 2, 1))).toMatchObject({ code: DLedgerResponseCode.SUCCESS, endIndex: 2 });
    expect((await store.get(2)).body.toString()).toBe('X');
    expect((await pusher.handlePush(push('APPEND', mine[1], 2, 3))).code).toBe(DLedgerResponseCode.SUCCESS);
    expect(store.getLedgerEndIndex()).toBe(3);
    expect((await store.get(3)).body.toString()).toBe('Y');
    // An APPEND's commit index is taken right after the answer (EntryHandler#appendNext).
    await new Promise((r) => setImmediate(r));
    expect(store.getCommittedIndex()).toBe(3);

    // Committed entries are never cut, whoever asks.
    expect(await pusher.handlePush(push('TRUNCATE', old[1], 2, 3))).toMatchObject({ code: DLedgerResponseCode.INCONSISTENT_STATE, endIndex: 3 });
    expect(store.getCommittedIndex()).toBe(3);
  });
});
