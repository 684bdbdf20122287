/**
 * A leader cut off from the others steps down and cannot commit (issue 12). Three `rocketctl broker
 * start` processes under SYNC_FLUSH and a `rocketctl namesrv start` on 127.0.0.1; every DLedger
 * connection goes through a TCP proxy of this test: member i's dLegerPeers names its own real
 * DLedger address and, for each other member j, a proxy i→j (the broker ports are not proxied).
 * Cutting the four proxies to and from the leader (blackholed: connections accepted, nothing
 * passed on) leaves it alone: sends to it are never answered SEND_OK, it stops being leader, and
 * its entries appended after the cut stay uncommitted; the other two elect a new leader, which
 * takes the producer's sends. Healed, the old leader follows the new one, its divergent tail is
 * truncated and replaced (checked in every member's DLedger log after a clean stop), every
 * acknowledged message is read back from every member, and there is exactly one leader. Election
 * timing is shortened; every wait is bounded; nothing is asserted about durations.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DLedgerFileStore } from '../../src/broker/dledger/file-store.js';
import { NodeFileIO } from '../../src/broker/store/node-file-io.js';
import { Producer } from '../../src/client/producer.js';
import { RequestCode } from '../../src/protocol/codes.js';
import type { DLedgerState } from '../../src/protocol/dledger-state.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { AckBook, createTopicAt, ProcessGroup, SHORT_ELECTION, SMALL_FILES, type GroupMember } from '../../bench/dledger-group.js';
import { eventually, spawnNamesrv, tempDir, type NamesrvProcess } from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';
import { closeProxies, TcpProxy } from '../helpers/tcp-proxy.js';
import { uniq } from '../client/support.js';

const BROKER_NAME = 'dl-part';
const QUEUES = 4;
const DATA_FILE_BYTES = Number(SMALL_FILES.mappedFileSizeCommitLog);
/** Sends straight to the cut-off leader: a few at once at the cut, then one at a time until after it stepped down. */
const CUT_SENDS_AT_ONCE = 4;
const CUT_SENDS_AFTER_STEP_DOWN = 2;
/** A send to the cut-off leader waits at most this long for its answer (the leader's own wait for acks is 2.5 s). */
const CUT_SEND_TIMEOUT_MS = 8000;

const dirs: string[] = [];
const proxies: TcpProxy[] = [];
let ns: NamesrvProcess | undefined;
let group: ProcessGroup | undefined;
const client = new RemotingClient({ requestTimeoutMs: 5000 });
afterAll(async () => {
  await group?.stopAll();
  await ns?.stop('SIGKILL').catch(() => undefined);
  await closeProxies(proxies);
  await client.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
});

/** SEND_MESSAGE straight to the broker at `addr`: its response code (0 is SEND_OK), or 'no answer'. */
async function sendDirect(addr: string, topic: string, body: string): Promise<number | 'no answer'> {
  const header = { producerGroup: 'PartitionPG', topic, defaultTopic: 'TBW102', defaultTopicQueueNums: QUEUES, queueId: 0, sysFlag: 0, bornTimestamp: Date.now(), flag: 0, reconsumeTimes: 0, unitMode: false, properties: '' };
  return client.invoke(addr, makeRequest(RequestCode.SEND_MESSAGE, header, Buffer.from(body)), CUT_SEND_TIMEOUT_MS).then(
    (r) => r.code,
    () => 'no answer' as const,
  );
}

describe('a DLedger group of three broker processes, its DLedger connections through proxies', () => {
  it('a leader cut off from the others steps down and cannot commit; healed, it follows, its divergent tail is replaced and nothing acknowledged is lost', async () => {
    ns = await spawnNamesrv();
    /** via[i][j]: member i's connections to member j's DLedger port. */
    const via: TcpProxy[][] = [];
    const g = (group = await ProcessGroup.create({
      root: ROOT,
      brokerName: BROKER_NAME,
      namesrvAddr: ns.addr,
      client,
      tempDir: () => {
        const d = tempDir('rocketctl-dledger-partition-');
        dirs.push(d);
        return d;
      },
      conf: { flushDiskType: 'SYNC_FLUSH', ...SHORT_ELECTION, ...SMALL_FILES },
      peersFor: async (self, addrs) => {
        via[self] = [];
        for (const [j, addr] of addrs.entries()) {
          if (j === self) continue;
          const p = await TcpProxy.start(addr);
          proxies.push(p);
          via[self]![j] = p;
        }
        return addrs.map((a, j) => `n${j}-${j === self ? a : via[self]![j]!.addr}`).join(';');
      },
    }));
    const index = (m: GroupMember) => g.members.indexOf(m);
    const states = () => Promise.all(g.members.map((m) => g.state(m)));
    await g.startAll();
    const old = await g.waitMaster();
    const others = g.members.filter((m) => m !== old);
    for (const m of others) await eventually(async () => ((await g.isSlave(m)) ? true : undefined), `${m.id} registered as a slave`, 30_000, 50);
    const topic = uniq('DlPart');
    // On every member: a slave takes topics from its master only every 10 s (SlaveSynchronize).
    for (const m of g.members) await createTopicAt(client, m.proc!.ready, topic, QUEUES);

    const producer = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlPartPG'), sendMsgTimeoutMs: 5000 });
    await producer.start();
    const book = new AckBook();
    let next = 0;
    const sendSome = async (n: number) => {
      for (let i = 0; i < n; i++) await book.sendUntilAcked(producer, topic, `k${next++}`);
    };
    // Read again after the clean stop below.
    const cutBodies: string[] = [];
    let before: DLedgerState | undefined;
    let divergent = { from: 0, to: -1, term: -1 };
    try {
      await sendSome(40);
      // All three hold and have committed everything before the cut.
      before = await eventually(async () => {
        const s = await states();
        const end = s[index(old)]!.ledgerEndIndex;
        return s.every((x) => x.committedIndex === end && x.ledgerEndIndex === end) ? s[index(old)] : undefined;
      }, 'every member committed up to the leader\'s end', 20_000, 50);
      expect(before.role).toBe('LEADER');

      // Cut the leader off: its connections to both followers, and theirs to it.
      const cut = [...others.map((m) => via[index(old)]![index(m)]!), ...others.map((m) => via[index(m)]![index(old)]!)];
      for (const p of cut) p.cut('drop');
      const cutCodes: Array<number | 'no answer'> = [];
      const sendToOld = async () => {
        const body = `cut-${cutBodies.length}`;
        cutBodies.push(body);
        cutCodes.push(await sendDirect(old.proc!.ready, topic, body));
      };
      // Appended by the leader before it notices it is alone; a majority never gets them.
      await Promise.all(Array.from({ length: CUT_SENDS_AT_ONCE }, sendToOld));
      const alone = await eventually(async () => {
        await sendToOld();
        const s = await g.state(old);
        return s.role !== 'LEADER' ? s : undefined;
      }, `${old.id} no longer leader when cut off`, 30_000, 100);
      for (let i = 0; i < CUT_SENDS_AFTER_STEP_DOWN; i++) await sendToOld();
      expect(cutCodes.filter((c) => c === 0), `SEND_OK from the cut-off leader (answers: ${cutCodes.join(', ')})`).toEqual([]);
      expect(alone.term).toBeGreaterThanOrEqual(before.term);
      // Its tail holds entries that never committed.
      expect(alone.committedIndex).toBe(before.committedIndex);
      expect(alone.ledgerEndIndex).toBeGreaterThan(alone.committedIndex);
      expect(cut.some((p) => p.blocked > 0), "a connection dropped by a cut proxy").toBe(true);

      // The other two elect a new leader, which registers as master and takes sends.
      const leader = await g.waitMaster(old);
      expect(others).toContain(leader);
      await sendSome(60);
      const during = await g.state(old);
      expect(during.role).not.toBe('LEADER');
      expect(during.committedIndex, `${old.id} committed nothing while cut off`).toBe(before.committedIndex);
      divergent = { from: before.committedIndex + 1, to: during.ledgerEndIndex, term: before.term };

      // Healed: the old leader follows, catches up, and there is one leader.
      for (const p of cut) p.heal();
      const healed = await eventually(async () => {
        const s = await states();
        const leaders = s.filter((x) => x.role === 'LEADER');
        if (leaders.length !== 1) return undefined;
        const l = leaders[0]!;
        const agreed = s.every((x) => x === l || (x.role === 'FOLLOWER' && x.leaderId === l.selfId && x.term === l.term && x.committedIndex === l.committedIndex && x.ledgerEndIndex === l.ledgerEndIndex));
        return agreed && l.committedIndex === l.ledgerEndIndex ? s : undefined;
      }, `${old.id} following the new leader with the same log`, 30_000, 100);
      expect(healed[index(old)]!.role).toBe('FOLLOWER');
      expect(healed[index(old)]!.ledgerEndIndex).toBeGreaterThanOrEqual(divergent.to);
      await sendSome(20);

      // Every acknowledged message on every member, and none of those sent to the cut-off leader.
      const master = await g.waitMaster();
      for (const m of [master, ...g.members.filter((x) => x !== master)]) {
        await eventually(async () => {
          const bodies = await g.readAll(m.proc!.ready, topic, QUEUES);
          const r = book.check(bodies);
          expect(r.missing, `acknowledged messages missing on ${m.id}`).toEqual([]);
          expect(r.twiceUnretried, `copies twice on ${m.id} of messages acknowledged at the first try`).toEqual([]);
          expect(bodies.filter((b) => cutBodies.includes(b)), `messages sent to the cut-off leader, on ${m.id}`).toEqual([]);
          return true;
        }, `${m.id} holds every acknowledged message`, 30_000, 200);
      }
      const end = await states();
      expect(end.filter((x: DLedgerState) => x.role === 'LEADER').map((x) => x.selfId)).toEqual([master.id]);
    } finally {
      await producer.close();
    }

    // Stopped cleanly, the three DLedger logs hold the same entries where the old leader's
    // uncommitted tail was, none of them of its term or holding a message sent to it while cut off.
    await g.stopAll('SIGTERM');
    const logs = await Promise.all(g.members.map((m) => DLedgerFileStore.open(new NodeFileIO(), { storeBaseDir: path.join(m.dir, 'store'), selfId: m.id, dataFileBytes: DATA_FILE_BYTES })));
    try {
      const ends = logs.map((l) => l.store.getLedgerEndIndex());
      expect(new Set(ends).size).toBe(1);
      for (let i = before!.committedIndex + 1; i <= ends[0]!; i++) {
        const entries = await Promise.all(logs.map((l) => l.store.get(i)));
        for (const e of entries.slice(1)) expect({ index: i, term: e.term, body: e.body.equals(entries[0]!.body) }).toEqual({ index: i, term: entries[0]!.term, body: true });
        const text = entries[0]!.body.toString('latin1');
        expect(cutBodies.filter((b) => text.includes(b)), `entry ${i}`).toEqual([]);
        if (i <= divergent.to) expect(entries[0]!.term, `entry ${i}, in the old leader's divergent tail`).toBeGreaterThan(divergent.term);
      }
    } finally {
      for (const l of logs) await l.store.close();
    }
  });
});
