/**
 * The Apache RocketMQ Java client 4.9.8 against a DLedger group of our brokers (issue 12): a Java
 * producer sends one message after another while the group's leader goes away; it goes on against
 * the new master once its route names it (pollNameServerInterval shortened to 1 s), and every
 * message it was answered SEND_OK for is on the new master and reaches a Java push consumer of the
 * group. A send that failed during the failover is not acknowledged: it may or may not be stored.
 */
import { expect, it } from 'vitest';
import { createTopic, eventually } from '../helpers/broker.js';
import { masterOf, QUEUES, readAllFrom, startGroup } from '../helpers/dledger-group.js';
import { uniq } from '../client/support.js';
import { describeApache, javaDriver } from './support.js';
import { deliveriesOf } from './javaclient-support.js';

const SENDS = 120;

describeApache('Java client 4.9.8 against a DLedger group of our brokers', () => {
  it('a Java producer goes on after the leader goes; every SEND_OK message is on the new master and reaches a Java consumer', async () => {
    const g = await startGroup();
    const leader = await masterOf(g.members, g.ns);
    const topic = uniq('DlJava');
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    for (const m of g.members) await eventually(() => (m.broker!.topicConfig(topic) ? true : undefined), `${m.id} knows ${topic}`, 20_000, 50);

    // 120 sync sends 50 ms apart (6 s and more); the leader closes once a fifth of them are stored.
    const producing = javaDriver('Produce', { namesrv: g.namesrv, topic, mode: 'sync', count: SENDS, keepGoing: true, pauseMs: 50, pollMs: 1000, timeoutMs: 3000 }, { timeoutMs: 180_000 });
    await eventually(() => {
      let n = 0;
      for (let q = 0; q < QUEUES; q++) n += leader.broker!.messageStore.getMaxOffsetInQueue(topic, q);
      return n >= SENDS / 5 ? true : undefined;
    }, 'a fifth of the sends stored', 120_000, 50);
    await leader.broker!.close();
    leader.broker = undefined;
    const next = await masterOf(g.members, g.ns);
    const run = await producing;
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ done: true });
    const acked = run.lines.filter((l) => l.status === 'SEND_OK');
    // The producer went on against the new master: sends after the failover were acknowledged.
    expect(acked.filter((l) => l.i >= SENDS - 10).length).toBeGreaterThan(0);

    // Every acknowledged message is on the new master.
    const stored = new Set((await readAllFrom(g.namesrv, next.broker!.addresses.broker, topic)).map((m) => m.msgId));
    expect(acked.map((l) => l.msgId).filter((id: string) => !stored.has(id))).toEqual([]);

    // A Java push consumer of the group gets every one of them.
    const c = await javaDriver('Consume', { namesrv: g.namesrv, topic, group: uniq('DlJavaG'), expect: stored.size, timeoutMs: 90_000 }, { timeoutMs: 150_000 });
    const got = new Set(deliveriesOf(c).map((d) => d.msgId as string));
    expect(acked.map((l) => l.msgId).filter((id: string) => !got.has(id))).toEqual([]);
  }, 300_000);
});
