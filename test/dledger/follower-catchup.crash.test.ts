/**
 * A follower killed with SIGKILL and started again far behind catches up (issue 12). Three
 * `rocketctl broker start -c` processes (SYNC_FLUSH, 4 MiB DLedger data files) and a `rocketctl
 * namesrv start` on 127.0.0.1: with one follower dead, the two others go on committing (a
 * majority), and the producer stores several data files' worth of messages; the follower is
 * started on its store and, reading from the leader (COMPARE, then APPEND pushes), reaches the
 * leader's ledger end and committed index and holds every acknowledged message. Then the same
 * follower is killed while it catches up a second time, and started again: it still converges.
 * Every wait is bounded; nothing is asserted about durations.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { AckBook, createTopicAt, ProcessGroup, SHORT_ELECTION, SMALL_FILES, type GroupMember } from '../../bench/dledger-group.js';
import { eventually, spawnNamesrv, tempDir, type NamesrvProcess } from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

const QUEUES = 4;
/** Messages sent while the follower is down: 4 KiB each, 12 MiB in all, three 4 MiB data files. */
const BEHIND = 3072;
const BODY_PAD = 'x'.repeat(4096);
/** Sends in flight at once. */
const IN_FLIGHT = 16;

const dirs: string[] = [];
let ns: NamesrvProcess | undefined;
let group: ProcessGroup | undefined;
const client = new RemotingClient({ requestTimeoutMs: 3000 });
vi.setConfig({ testTimeout: 240_000 });
afterAll(async () => {
  await group?.stopAll();
  await ns?.stop('SIGKILL').catch(() => undefined);
  await client.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** `count` acknowledged sends of unique bodies `${prefix}${i}`, IN_FLIGHT at a time. */
async function sendMany(book: AckBook, producer: Producer, topic: string, prefix: string, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await book.sendUntilAcked(producer, topic, `${prefix}${i}:${BODY_PAD}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

describe('a DLedger follower of a group of three broker processes', () => {
  it('killed and started again far behind, it catches up with the leader, also when killed again while catching up', async () => {
    ns = await spawnNamesrv();
    const g = (group = await ProcessGroup.create({
      root: ROOT,
      brokerName: 'dl-catchup',
      namesrvAddr: ns.addr,
      client,
      tempDir: () => {
        const d = tempDir('rocketctl-dledger-catchup-');
        dirs.push(d);
        return d;
      },
      conf: { flushDiskType: 'SYNC_FLUSH', ...SHORT_ELECTION, ...SMALL_FILES },
    }));
    await g.startAll();
    const leader = await g.waitMaster();
    const topic = uniq('DlCatchUp');
    // On every member: a slave takes topics from its master only every 10 s (SlaveSynchronize).
    for (const m of g.members) await createTopicAt(client, m.proc!.ready, topic, QUEUES);
    const producer = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlCatchUpPG'), sendMsgTimeoutMs: 5000 });
    await producer.start();
    const book = new AckBook();
    try {
      await sendMany(book, producer, topic, 'before', 100);
      const follower = g.members.find((m) => m !== leader)!;
      const caughtUp = async (m: GroupMember) => {
        // The leader may change during the test only if something is wrong: it is asserted below.
        const [ls, fs_] = await Promise.all([g.state(leader), g.state(m)]);
        return ls.role === 'LEADER' && fs_.role === 'FOLLOWER' && fs_.ledgerEndIndex === ls.ledgerEndIndex && fs_.committedIndex === ls.committedIndex ? fs_ : undefined;
      };

      await g.kill(follower);
      await sendMany(book, producer, topic, 'behind', BEHIND);
      const leaderState = await g.state(leader);
      expect(leaderState.role).toBe('LEADER');
      expect(leaderState.ledgerEndIndex).toBeGreaterThanOrEqual(100 + BEHIND - 1);

      await g.start(follower);
      await eventually(() => caughtUp(follower), `${follower.id} caught up with the leader`, 120_000, 200);
      // A member fills its consume queues from committed entries after its committed index moves
      // (and the third member may trail: a commit needs only two), so reading waits, bounded.
      const holdsAll = (m: GroupMember, where: string) =>
        eventually(
          async () => {
            const r = book.check(await g.readAll(m.proc!.ready, topic, QUEUES));
            expect(r.missing.length, `acknowledged messages missing on ${where}`).toBe(0);
            expect(r.twiceUnretried, `copies twice on ${where}`).toEqual([]);
            return true;
          },
          `${where} holds every acknowledged message`,
          60_000,
          200,
        );
      await holdsAll(follower, `${follower.id} after catching up`);

      // Far behind again, and killed while it catches up.
      await g.kill(follower);
      await sendMany(book, producer, topic, 'again', BEHIND);
      await g.start(follower);
      await eventually(async () => ((await g.state(follower)).ledgerEndIndex > 100 + BEHIND ? true : undefined), `${follower.id} took some of the new entries`, 60_000, 20);
      await g.kill(follower);
      await sendMany(book, producer, topic, 'after', 100);
      await g.start(follower);
      await eventually(() => caughtUp(follower), `${follower.id} caught up after a kill while catching up`, 120_000, 200);
      expect(await g.master(), 'the leader stayed master throughout').toBe(leader);
      for (const m of g.members) await holdsAll(m, m.id);
    } finally {
      await producer.close();
    }
  });
});
