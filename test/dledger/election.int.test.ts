/**
 * Three elector nodes in one process over real remoting on 127.0.0.1 (each its own RemotingServer
 * on a free port and its own RemotingClient): they elect exactly one leader, and when the leader
 * is closed the other two elect a new one. Intervals are shortened (the rules are the defaults'
 * rules); every wait is a bounded poll and nothing is asserted about how long anything took.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { DLedgerLeaderElector, systemClock, type ElectorConfig } from '../../src/broker/dledger/elector.js';
import { RemotingPeerTransport, registerDLedgerHandlers } from '../../src/broker/dledger/transport.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { RemotingServer } from '../../src/remoting/server.js';
import { memberState, tempStoreDir } from './helpers.js';

const CONFIG: ElectorConfig = { heartBeatTimeIntervalMs: 200, maxHeartBeatLeak: 3, minVoteIntervalMs: 50, maxVoteIntervalMs: 150 };
const WAIT_MS = 20_000;

interface Node {
  id: string;
  elector: DLedgerLeaderElector;
  server: RemotingServer;
  client: RemotingClient;
  closed: boolean;
}

async function close(n: Node): Promise<void> {
  if (n.closed) return;
  n.closed = true;
  await n.elector.stop();
  await n.client.close();
  await n.server.close();
}

/** Poll `check` every 25 ms until it returns a value, at most WAIT_MS. */
async function waitFor<T>(what: string, check: () => T | undefined): Promise<T> {
  for (let waited = 0; waited < WAIT_MS; waited += 25) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The one leader all live nodes agree on (same term, the others its followers), if there is one now. */
function agreedLeader(nodes: Node[]): Node | undefined {
  const live = nodes.filter((n) => !n.closed);
  const leaders = live.filter((n) => n.elector.state.isLeader());
  if (leaders.length !== 1) return undefined;
  const l = leaders[0]!;
  const ok = live.every((n) => n === l || (n.elector.state.isFollower() && n.elector.state.getLeaderId() === l.id && n.elector.state.currTerm() === l.elector.state.currTerm()));
  return ok ? l : undefined;
}

describe('DLedger election over remoting on 127.0.0.1', () => {
  it('three nodes elect one leader; with the leader closed the other two elect another', async () => {
    const dir = await tempStoreDir();
    const servers = ['n0', 'n1', 'n2'].map((id) => ({ id, server: new RemotingServer({ name: `dledger-${id}` }) }));
    const addrs = await Promise.all(servers.map((s) => s.server.listen({ host: '127.0.0.1', port: 0 })));
    const peers = servers.map((s, i) => `${s.id}-${addrs[i]}`).join(';');
    const nodes: Node[] = [];
    onTestFinished(async () => {
      for (const n of nodes) await close(n);
      for (const s of servers) await s.server.close();
    });
    for (const { id, server } of servers) {
      const state = await memberState(dir, id, peers);
      const client = new RemotingClient({ connectTimeoutMs: 1000, requestTimeoutMs: 1000 });
      const elector = new DLedgerLeaderElector(state, new RemotingPeerTransport(client, state.peerMap, 1000), systemClock, CONFIG);
      registerDLedgerHandlers(server, elector);
      nodes.push({ id, elector, server, client, closed: false });
    }
    for (const n of nodes) n.elector.start();

    const first = await waitFor('a leader', () => agreedLeader(nodes));
    const firstTerm = first.elector.state.currTerm();
    await close(first);

    const second = await waitFor('a new leader', () => agreedLeader(nodes));
    expect(second.id).not.toBe(first.id);
    expect(second.elector.state.currTerm()).toBeGreaterThan(firstTerm);
  });
});
