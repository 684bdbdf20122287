/**
 * Three DLedger servers in one process over real remoting on 127.0.0.1: appends commit on a
 * majority and reach every node's onCommitted in order; a follower restarted far behind catches
 * up; a leader alone cannot commit; a divergent uncommitted tail is replaced after a leader change.
 * Intervals are shortened; every wait is a bounded poll; nothing is asserted about durations.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ElectorConfig } from '../../src/broker/dledger/elector.js';
import type { PusherConfig } from '../../src/broker/dledger/entry-pusher.js';
import { APPEND_ENTRY_REQUEST_SCHEMA, APPEND_ENTRY_RESPONSE_SCHEMA, baseDefaults, decodeBody, DLedgerRequestCode, dledgerRequestCommand, DLedgerResponseCode, encodeBody, GET_ENTRIES_REQUEST_SCHEMA, GET_ENTRIES_RESPONSE_SCHEMA } from '../../src/protocol/dledger/protocol.js';
import { DLedgerError } from '../../src/broker/dledger/errors.js';
import { DLedgerServer } from '../../src/broker/dledger/server.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RemotingServer } from '../../src/remoting/server.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { INT_ELECTOR, INT_PUSHER, tempStoreDir, waitFor } from './helpers.js';

const ELECTOR = INT_ELECTOR;
const PUSHER = INT_PUSHER;
const IDS = ['n0', 'n1', 'n2'];

interface Node {
  id: string;
  addr: string;
  dledger?: DLedgerServer;
  remoting?: RemotingServer;
  client?: RemotingClient;
  /** Bodies as this node's onCommitted saw them, by index. */
  seen: Map<number, string>;
  order: number[];
}

class Group {
  nodes: Node[] = [];
  private peers = '';
  constructor(
    private readonly dir: string,
    private readonly elector: ElectorConfig,
    /** Used by the nodes opened from now on. */
    public pusher: PusherConfig,
  ) {}

  static async create(elector = ELECTOR, pusher = PUSHER): Promise<Group> {
    const g = new Group(await tempStoreDir(), elector, pusher);
    onTestFinished(() => g.closeAll());
    const servers = IDS.map(() => new RemotingServer({ name: 'dledger' }));
    const addrs = await Promise.all(servers.map((s) => s.listen({ host: '127.0.0.1', port: 0 })));
    g.peers = IDS.map((id, i) => `${id}-${addrs[i]}`).join(';');
    g.nodes = IDS.map((id, i) => ({ id, addr: addrs[i]!, remoting: servers[i], seen: new Map(), order: [] }));
    for (const n of g.nodes) await g.open(n);
    return g;
  }

  private async open(n: Node): Promise<void> {
    if (!n.remoting) {
      const [host, port] = n.addr.split(':');
      n.remoting = new RemotingServer({ name: 'dledger' });
      await n.remoting.listen({ host: host!, port: Number(port) });
    }
    n.client = new RemotingClient({ connectTimeoutMs: 500, requestTimeoutMs: 1000 });
    n.dledger = await DLedgerServer.open({
      io: new NodeFileIO(),
      storeBaseDir: this.dir,
      group: 'g',
      selfId: n.id,
      peers: this.peers,
      remotingServer: n.remoting,
      remotingClient: n.client,
      rpcTimeoutMs: 1000,
      electorConfig: this.elector,
      pusherConfig: this.pusher,
      checkpointIntervalMs: 100,
      dataFileBytes: 64 * 1024,
      indexFileBytes: 32 * 1024,
    });
    n.dledger.onCommitted((e) => {
      n.seen.set(e.index, e.body.toString());
      n.order.push(e.index);
    });
    n.dledger.start();
  }

  async stop(n: Node): Promise<void> {
    await n.dledger?.close();
    await n.client?.close();
    await n.remoting?.close();
    n.dledger = undefined;
    n.client = undefined;
    n.remoting = undefined;
  }

  restart(n: Node): Promise<void> {
    return this.open(n);
  }

  async closeAll(): Promise<void> {
    for (const n of this.nodes) await this.stop(n);
  }

  live(): Node[] {
    return this.nodes.filter((n) => n.dledger);
  }

  /** The one leader all live nodes follow in its term, if there is one now. */
  agreedLeader(): Node | undefined {
    const live = this.live();
    const leaders = live.filter((n) => n.dledger!.state.isLeader());
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!.dledger!.state;
    const ok = live.every((n) => n.dledger!.state.isLeader() || (n.dledger!.state.isFollower() && n.dledger!.state.getLeaderId() === l.selfId && n.dledger!.state.currTerm() === l.currTerm()));
    return ok ? leaders[0] : undefined;
  }
}

function decodeAppend(body: Buffer): { code: number; index: number; pos: number; leaderId?: string } {
  return decodeBody(APPEND_ENTRY_RESPONSE_SCHEMA, body);
}

function bodies(prefix: string, n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.from(`${prefix}-${i}`));
}

describe('DLedger replication over remoting on 127.0.0.1', () => {
  it('appends on the leader commit on a majority and every node sees them committed, in order', async () => {
    const g = await Group.create();
    const leader = await waitFor('a leader', () => g.agreedLeader());
    const expected = new Map<number, string>();
    for (let round = 0; round < 5; round++) {
      const bs = bodies(`r${round}`, 4);
      const res = await leader.dledger!.appendAsLeader(bs);
      res.forEach((r, i) => expected.set(r.index, bs[i]!.toString()));
      expect(res.map((r) => r.index)).toEqual(res.map((_, i) => res[0]!.index + i));
      // Resolved means committed on the leader, and a quorum holds it.
      expect(leader.dledger!.getCommittedIndex()).toBeGreaterThanOrEqual(res[res.length - 1]!.index);
      const holders = g.nodes.filter((n) => n.dledger!.store.getLedgerEndIndex() >= res[res.length - 1]!.index);
      expect(holders.length).toBeGreaterThanOrEqual(2);
    }
    // Over the wire (DLedgerServer#handleAppend, #handleGet): a follower points at the leader.
    const client = new RemotingClient({ connectTimeoutMs: 1000, requestTimeoutMs: 3000 });
    onTestFinished(() => client.close());
    const follower = g.nodes.find((n) => n !== leader)!;
    const append = async (to: Node): Promise<ReturnType<typeof decodeAppend>> => {
      const req = { ...baseDefaults(), group: 'g', remoteId: to.id, body: Buffer.from('wire') };
      const res = await client.invoke(to.addr, dledgerRequestCommand(DLedgerRequestCode.APPEND, encodeBody(APPEND_ENTRY_REQUEST_SCHEMA, req)));
      return decodeAppend(res.body as Buffer);
    };
    expect(await append(follower)).toMatchObject({ code: DLedgerResponseCode.NOT_LEADER, leaderId: leader.id });
    const wire = await append(leader);
    expect(wire).toMatchObject({ code: DLedgerResponseCode.SUCCESS, index: Math.max(...expected.keys()) + 1 });
    expected.set(wire.index, 'wire');
    const got = await client.invoke(leader.addr, dledgerRequestCommand(DLedgerRequestCode.GET, encodeBody(GET_ENTRIES_REQUEST_SCHEMA, { ...baseDefaults(), group: 'g', remoteId: leader.id, beginIndex: wire.index, maxSize: 0 })));
    const entries = decodeBody(GET_ENTRIES_RESPONSE_SCHEMA, got.body as Buffer).entries;
    expect(entries.map((e) => [e.index, e.pos, e.body.toString()])).toEqual([[wire.index, wire.pos, 'wire']]);

    const last = Math.max(...expected.keys());
    for (const n of g.nodes) {
      await waitFor(`${n.id} to see ${last} committed`, () => n.order.length === expected.size);
      expect(n.order).toEqual([...expected.keys()]);
      expect(Object.fromEntries(n.seen)).toEqual(Object.fromEntries(expected));
    }
  });

  it('a follower stopped and restarted far behind catches up', async () => {
    const g = await Group.create();
    const leader = await waitFor('a leader', () => g.agreedLeader());
    await leader.dledger!.appendAsLeader(bodies('before', 3));
    const lagger = g.nodes.find((n) => n !== leader)!;
    await waitFor('the lagger to hold the first entries', () => lagger.dledger!.store.getLedgerEndIndex() >= 2);
    await g.stop(lagger);
    const expected: string[] = [];
    for (let round = 0; round < 20; round++) {
      const bs = bodies(`while-down-${round}`, 10);
      await leader.dledger!.appendAsLeader(bs);
      expected.push(...bs.map(String));
    }
    const end = leader.dledger!.store.getLedgerEndIndex();
    lagger.seen.clear();
    lagger.order = [];
    await g.restart(lagger);
    // Its listener starts after what it had committed when it stopped (the commit of its last
    // entries may not have reached it before it stopped).
    const from = lagger.dledger!.getCommittedIndex() + 1;
    await waitFor('the lagger to catch up', () => lagger.dledger!.store.getLedgerEndIndex() === end && lagger.dledger!.getCommittedIndex() === end && lagger.order.length === end - from + 1);
    expect(lagger.order).toEqual(Array.from({ length: end - from + 1 }, (_, i) => from + i));
    expect(lagger.order.slice(-200).map((i) => lagger.seen.get(i))).toEqual(expected);
    for (const i of [0, 100, end]) expect((await lagger.dledger!.getEntry(i)).body).toEqual((await leader.dledger!.getEntry(i)).body);
  });

  it('a leader whose followers are gone cannot commit: the append times out, never succeeds', async () => {
    // Slow heartbeats, so the leader stays leader through the whole wait for acks.
    const g = await Group.create({ ...ELECTOR, heartBeatTimeIntervalMs: 2000 }, { ...PUSHER, maxWaitAckTimeMs: 300 });
    const leader = await waitFor('a leader', () => g.agreedLeader());
    await leader.dledger!.appendAsLeader(bodies('ok', 2));
    const committed = leader.dledger!.getCommittedIndex();
    for (const n of g.nodes) if (n !== leader) await g.stop(n);
    const err = await leader.dledger!.appendAsLeader(bodies('alone', 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DLedgerError);
    expect((err as DLedgerError).dledgerCode).toBe(DLedgerResponseCode.WAIT_QUORUM_ACK_TIMEOUT);
    expect(leader.dledger!.getCommittedIndex()).toBe(committed);
    expect(leader.dledger!.store.getLedgerEndIndex()).toBe(committed + 1);
  });

  it("after a leader change, the old leader's uncommitted tail is truncated and replaced", async () => {
    const g = await Group.create({ ...ELECTOR }, { ...PUSHER, maxWaitAckTimeMs: 300 });
    const old = await waitFor('a leader', () => g.agreedLeader());
    await old.dledger!.appendAsLeader(bodies('common', 3));
    const others = g.nodes.filter((n) => n !== old);
    await waitFor('everyone to hold the common entries', () => others.every((n) => n.dledger!.store.getLedgerEndIndex() === 2));
    for (const n of others) await g.stop(n);
    await expect(old.dledger!.appendAsLeader(bodies('divergent', 2))).rejects.toBeInstanceOf(DLedgerError);
    expect(old.dledger!.store.getLedgerEndIndex()).toBe(4);
    const oldTail = (await old.dledger!.getEntry(3)).body.toString();
    await g.stop(old);

    // From here on appends must commit: the usual wait for acks.
    g.pusher = PUSHER;
    for (const n of others) await g.restart(n);
    const next = await waitFor('a new leader among the other two', () => g.agreedLeader());
    const replaced = await next.dledger!.appendAsLeader(bodies('new', 3));
    expect(replaced.map((r) => r.index)).toEqual([3, 4, 5]);

    old.seen.clear();
    old.order = [];
    await g.restart(old);
    await waitFor('the old leader to follow and catch up', () => g.agreedLeader() === next && old.dledger!.getCommittedIndex() === 5 && old.order.length === 3);
    for (let i = 3; i <= 5; i++) expect((await old.dledger!.getEntry(i)).body.toString()).toBe(`new-${i - 3}`);
    expect(oldTail).toBe('divergent-0');
    expect(old.order).toEqual([3, 4, 5]);
    expect([...old.seen.values()]).toEqual(['new-0', 'new-1', 'new-2']);
  });
});
