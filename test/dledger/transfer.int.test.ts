/**
 * Leadership transfer among three DLedger servers over real remoting on 127.0.0.1: a client sends
 * LEADERSHIP_TRANSFER to the leader's DLedger address (as DLedgerClient#leadershipTransfer fills
 * it) and the named follower ends up leading a higher term with every committed entry; with
 * preferredLeaderIds set, leadership ends up on that node. Intervals are shortened; every wait is
 * a bounded poll; nothing is asserted about durations.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  baseDefaults,
  decodeBody,
  DLedgerRequestCode,
  dledgerRequestCommand,
  DLedgerResponseCode,
  encodeBody,
  LEADERSHIP_TRANSFER_REQUEST_SCHEMA,
  LEADERSHIP_TRANSFER_RESPONSE_SCHEMA,
} from '../../src/protocol/dledger/protocol.js';
import { DEFAULT_TRANSFER_CONFIG, DLedgerServer } from '../../src/broker/dledger/server.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RemotingServer } from '../../src/remoting/server.js';
import { bodiesOf, INT_ELECTOR, INT_PUSHER, tempStoreDir, waitFor } from './helpers.js';

const IDS = ['n0', 'n1', 'n2'];

interface Node {
  id: string;
  addr: string;
  remoting: RemotingServer;
  client: RemotingClient;
  dledger?: DLedgerServer;
}

async function createGroup(preferredLeaderIds?: string): Promise<{ nodes: Node[]; open: (n: Node) => Promise<void>; agreedLeader: () => Node | undefined }> {
  const dir = await tempStoreDir();
  const servers = IDS.map(() => new RemotingServer({ name: 'dledger' }));
  const addrs = await Promise.all(servers.map((s) => s.listen({ host: '127.0.0.1', port: 0 })));
  const peers = IDS.map((id, i) => `${id}-${addrs[i]}`).join(';');
  const nodes: Node[] = IDS.map((id, i) => ({ id, addr: addrs[i]!, remoting: servers[i]!, client: new RemotingClient({ connectTimeoutMs: 500, requestTimeoutMs: 1000 }) }));
  onTestFinished(async () => {
    for (const n of nodes) {
      await n.dledger?.close();
      await n.client.close();
      await n.remoting.close();
    }
  });
  const open = async (n: Node): Promise<void> => {
    n.dledger = await DLedgerServer.open({
      io: new NodeFileIO(),
      storeBaseDir: dir,
      group: 'g',
      selfId: n.id,
      peers,
      remotingServer: n.remoting,
      remotingClient: n.client,
      rpcTimeoutMs: 1000,
      electorConfig: INT_ELECTOR,
      pusherConfig: INT_PUSHER,
      preferredLeaderIds,
      transferConfig: { ...DEFAULT_TRANSFER_CONFIG, checkPreferredLeaderIntervalMs: 200 },
      checkpointIntervalMs: 100,
      dataFileBytes: 64 * 1024,
      indexFileBytes: 32 * 1024,
    });
    n.dledger.start();
  };
  const agreedLeader = (): Node | undefined => {
    const live = nodes.filter((n) => n.dledger);
    const leaders = live.filter((n) => n.dledger!.state.isLeader());
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!.dledger!.state;
    const ok = live.every((n) => n.dledger!.state.isLeader() || (n.dledger!.state.isFollower() && n.dledger!.state.getLeaderId() === l.selfId && n.dledger!.state.currTerm() === l.currTerm()));
    return ok ? leaders[0] : undefined;
  };
  return { nodes, open, agreedLeader };
}

describe('DLedger leadership transfer over remoting on 127.0.0.1', () => {
  it('LEADERSHIP_TRANSFER sent to the leader hands leadership to the named follower', async () => {
    const g = await createGroup();
    for (const n of g.nodes) await g.open(n);
    const old = await waitFor('a leader', () => g.agreedLeader());
    const oldTerm = old.dledger!.state.currTerm();
    await old.dledger!.appendAsLeader(['t0', 't1', 't2'].map((b) => Buffer.from(b)));
    const target = g.nodes.find((n) => n !== old)!;

    const admin = new RemotingClient({ connectTimeoutMs: 1000, requestTimeoutMs: 10_000 });
    onTestFinished(() => admin.close());
    // DLedgerClient#leadershipTransfer: remoteId and transferId the current leader, its term.
    const req = { ...baseDefaults(), group: 'g', remoteId: old.id, transferId: old.id, transfereeId: target.id, term: oldTerm, takeLeadershipLedgerIndex: 0 };
    const cmd = await admin.invoke(old.addr, dledgerRequestCommand(DLedgerRequestCode.LEADERSHIP_TRANSFER, encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, req)), 10_000);
    const body = Array.isArray(cmd.body) ? Buffer.concat(cmd.body) : cmd.body;
    const res = decodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, body);
    expect(res.code).toBe(DLedgerResponseCode.SUCCESS);
    expect(res.term).toBeGreaterThan(oldTerm);

    const now = await waitFor('everyone to follow the target', () => g.agreedLeader());
    expect(now.id).toBe(target.id);
    expect(old.dledger!.state.getRole()).toBe('FOLLOWER');
    await target.dledger!.appendAsLeader([Buffer.from('t3')]);
    for (const n of g.nodes) {
      await waitFor(`${n.id} to commit index 3`, () => n.dledger!.getCommittedIndex() === 3);
      expect(await bodiesOf(n.dledger!, 3)).toEqual(['t0', 't1', 't2', 't3']);
    }

    // Sent to a node that is no longer the leader: NOT_LEADER, naming the leader.
    const again = await admin.invoke(old.addr, dledgerRequestCommand(DLedgerRequestCode.LEADERSHIP_TRANSFER, encodeBody(LEADERSHIP_TRANSFER_REQUEST_SCHEMA, { ...req, term: old.dledger!.state.currTerm() })), 10_000);
    const refused = decodeBody(LEADERSHIP_TRANSFER_RESPONSE_SCHEMA, Array.isArray(again.body) ? Buffer.concat(again.body) : again.body);
    expect([refused.code, refused.leaderId]).toEqual([DLedgerResponseCode.NOT_LEADER, target.id]);
  });

  it('with preferredLeaderIds, leadership ends up on the preferred node', async () => {
    const g = await createGroup('n2');
    const [n0, n1, n2] = g.nodes as [Node, Node, Node];
    await g.open(n0);
    await g.open(n1);
    const first = await waitFor('a leader among n0 and n1', () => g.agreedLeader());
    expect(first.id).not.toBe('n2');
    await first.dledger!.appendAsLeader(['p0', 'p1'].map((b) => Buffer.from(b)));
    await g.open(n2);
    const preferred = await waitFor('n2 to lead with everyone following', () => g.agreedLeader()?.id === 'n2' && g.agreedLeader());
    await preferred.dledger!.appendAsLeader([Buffer.from('p2')]);
    for (const n of g.nodes) {
      await waitFor(`${n.id} to commit index 2`, () => n.dledger!.getCommittedIndex() === 2);
      expect(await bodiesOf(n.dledger!, 2)).toEqual(['p0', 'p1', 'p2']);
    }
  });
});
