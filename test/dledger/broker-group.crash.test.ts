/**
 * A DLedger group of three `rocketctl broker start` processes and a `rocketctl namesrv start`, on
 * 127.0.0.1, under a producer sending SYNC_FLUSH messages one after another: the master is killed
 * with SIGKILL again and again (ROCKETCTL_DLEDGER_KILLS, default 10), each time a new master is
 * elected and registered, the producer goes on, and the killed member is started again on its
 * store and catches up. At the end every acknowledged message is on the master, and on every
 * member; a second copy only of a message whose send had failed once (a send that fails is not
 * acknowledged: it may or may not be stored). Then with two members killed, the one left answers
 * no send SEND_OK. Election timing is shortened (heartbeats every 200 ms); every wait is bounded;
 * nothing is asserted about durations. `npm run bench:soak` runs the same kills a hundred times.
 */
import fs from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { AckBook, createTopicAt, ProcessGroup, SHORT_ELECTION, SMALL_FILES } from '../../bench/dledger-group.js';
import { eventually, spawnNamesrv, tempDir, type NamesrvProcess } from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';
import { uniq } from '../client/support.js';

const KILLS = Number(process.env.ROCKETCTL_DLEDGER_KILLS ?? 10);
const BROKER_NAME = 'dl-crash';
const QUEUES = 4;
/** Acknowledged sends between two kills. */
const PER_ROUND = 30;

const dirs: string[] = [];
let ns: NamesrvProcess | undefined;
let group: ProcessGroup | undefined;
const client = new RemotingClient({ requestTimeoutMs: 3000 });
vi.setConfig({ testTimeout: 300_000 });
afterAll(async () => {
  await group?.stopAll();
  await ns?.stop('SIGKILL').catch(() => undefined);
  await client.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('a DLedger group of three broker processes', () => {
  it(`loses no acknowledged message across ${KILLS} kill -9s of its master, and a minority answers no send SEND_OK`, async () => {
    ns = await spawnNamesrv();
    const g = (group = await ProcessGroup.create({
      root: ROOT,
      brokerName: BROKER_NAME,
      namesrvAddr: ns.addr,
      client,
      tempDir: () => {
        const d = tempDir('rocketctl-dledger-crash-');
        dirs.push(d);
        return d;
      },
      conf: { flushDiskType: 'SYNC_FLUSH', ...SHORT_ELECTION, ...SMALL_FILES },
    }));
    await g.startAll();
    let master = await g.waitMaster();
    const topic = uniq('DlCrash');
    await createTopicAt(client, master.proc!.ready, topic, QUEUES);

    const producer = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlCrashPG'), sendMsgTimeoutMs: 5000 });
    await producer.start();
    const book = new AckBook();
    let next = 0;
    const sendOne = () => book.sendUntilAcked(producer, topic, `k${next++}`);

    for (let kill = 0; kill < KILLS; kill++) {
      for (let i = 0; i < PER_ROUND; i++) await sendOne();
      const victim = master;
      // Sends go on while the master dies.
      const during = (async () => {
        for (let i = 0; i < 5; i++) await sendOne();
      })();
      await g.kill(victim);
      master = await g.waitMaster(victim);
      await during;
      await g.start(victim);
    }
    for (let i = 0; i < PER_ROUND; i++) await sendOne();
    await producer.close();

    const check = (bodies: string[], where: string) => {
      const r = book.check(bodies);
      expect(r.twiceUnretried, `copies twice on ${where} of messages acknowledged at the first try`).toEqual([]);
      expect(r.missing, `acknowledged messages missing on ${where}`).toEqual([]);
    };
    check(await g.readAll(master.proc!.ready, topic, QUEUES), `the master ${master.id}`);
    // Every member catches up to the same messages.
    for (const m of g.members) {
      await eventually(async () => {
        check(await g.readAll(m.proc!.ready, topic, QUEUES), `${m.id} (${m.proc!.ready})`);
        return true;
      }, `${m.id} caught up`, 30_000, 200);
    }

    // A minority: the two members that are not master die; the one left answers no send SEND_OK.
    for (const m of g.members) if (m !== master) await g.kill(m);
    const minority = new Producer({ namesrvAddr: ns.addr, producerGroup: uniq('DlMinorityPG'), sendMsgTimeoutMs: 4000, retryTimesWhenSendFailed: 0 });
    await minority.start();
    try {
      for (let i = 0; i < 3; i++) {
        const outcome = await minority.send({ topic, body: Buffer.from(`minority${i}`) }).then(
          (r) => r.status,
          () => 'failed',
        );
        expect(outcome, `send ${i} to a master without a majority`).not.toBe('SEND_OK');
      }
    } finally {
      await minority.close();
    }
  });
});
