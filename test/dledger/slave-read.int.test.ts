/**
 * Consumers reading from DLedger slaves, and delayed-message progress on them, with three brokers
 * in one process (test/helpers/dledger-group.ts) and our own clients:
 *
 * - slaveReadEnable=true with accessMessageInMemoryMaxRatio=0 (every pull that finds messages
 *   "reads far behind"): after the master's first answer per queue, pulls move to the slave the
 *   group's whichBrokerWhenConsumeSlowly names (the default 1 is n0's slave id; when n0 leads, the
 *   client takes id 2, as MQClientInstance#findBrokerAddressInSubscribe does), every message is
 *   consumed once, and the offsets are committed on the master;
 * - slaveReadEnable=false: every pull stays on the master;
 * - a slave takes its master's delayOffset.json, and after a failover the new master delivers the
 *   delayed messages after the ones already delivered, none twice.
 *
 * Counts come from each broker's own statistics (messages served per group, PULL_MESSAGE answers).
 * Every wait is a bounded poll; nothing is asserted about durations.
 */
import { describe, expect, it } from 'vitest';
import { Producer } from '../../src/client/producer.js';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { RequestCode, ResponseCode } from '../../src/protocol/codes.js';
import { defaultSubscriptionGroupConfig, encodeJson } from '../../src/protocol/bodies.js';
import { createTopic, eventually } from '../helpers/broker.js';
import { cleanups, masterOf, QUEUES, readAllFrom, startGroup, storedCount, type Member } from '../helpers/dledger-group.js';
import { uniq } from '../client/support.js';

const BACKLOG = 120;

type Group = Awaited<ReturnType<typeof startGroup>>;

/** A group whose master and both slaves are registered, and a topic with BACKLOG messages on every member. */
async function groupWithBacklog(overrides: Record<string, string>) {
  const g = await startGroup(3, overrides);
  const leader = await masterOf(g.members, g.ns);
  const slaves = g.members.filter((m) => m !== leader);
  for (const s of slaves) await eventually(() => (s.broker!.dledger!.brokerId() > 0 ? true : undefined), `${s.id} a slave`, 20_000, 50);
  const topic = uniq('SlaveRead');
  expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
  for (const s of slaves) await eventually(() => (s.broker!.topicConfig(topic) ? true : undefined), `${s.id} took the topic`, 20_000, 50);
  const producer = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('SlaveReadPG') });
  await producer.start();
  cleanups.push(() => producer.close());
  const bodies: string[] = [];
  for (let i = 0; i < BACKLOG; i++) {
    const body = `m${i}`;
    expect((await producer.send({ topic, body: Buffer.from(body) })).status).toBe('SEND_OK');
    bodies.push(body);
  }
  for (const m of g.members) await eventually(() => (storedCount(m, topic) === BACKLOG ? true : undefined), `${m.id} holds ${BACKLOG}`, 20_000, 50);
  return { g, leader, slaves, topic, producer, bodies };
}

/** Create or replace a subscription group on the master, and wait until both slaves hold it as written. */
async function putGroup(g: Group, leader: Member, slaves: Member[], group: string, whichBrokerWhenConsumeSlowly: number): Promise<void> {
  const cfg = { ...defaultSubscriptionGroupConfig(group), whichBrokerWhenConsumeSlowly };
  const res = await g.client.invoke(leader.broker!.addresses.broker, makeRequest(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, Buffer.from(encodeJson(cfg))));
  expect(res.code, res.remark).toBe(ResponseCode.SUCCESS);
  for (const s of slaves) {
    await eventually(() => (s.broker!.subscriptionGroup(group)?.whichBrokerWhenConsumeSlowly === whichBrokerWhenConsumeSlowly ? true : undefined), `${s.id} took group ${group}`, 20_000, 50);
  }
}

/** Consume the whole backlog with a push consumer of `group`; the bodies in the order handled. */
async function consumeAll(g: Group, topic: string, group: string): Promise<string[]> {
  const consumer = new PushConsumer({
    namesrvAddr: g.namesrv,
    consumerGroup: group,
    instanceName: uniq('slave-read'),
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    // Small batches: many pulls per queue, so where they go shows.
    pullBatchSize: 4,
    persistConsumerOffsetIntervalMs: 200,
  });
  consumer.subscribe(topic, '*');
  const got: string[] = [];
  await consumer.start((m) => void got.push(m.body.toString()));
  try {
    await eventually(() => (got.length >= BACKLOG ? true : undefined), `${group} consumed ${BACKLOG}`, 30_000, 50);
  } finally {
    // Close persists the offsets (to the master).
    await consumer.close();
  }
  return got;
}

/** Messages each member served to `group` (BrokerStatsManager's GROUP_GET_NUMS). */
function servedTo(members: Member[], group: string, topic: string): Map<string, number> {
  return new Map(members.map((m) => [m.id, m.broker!.stats.groupGetTotal(group, topic)]));
}

/** PULL_MESSAGE requests a member answered, whatever the code. */
function pullRequests(m: Member): number {
  let n = 0;
  for (const count of m.broker!.stats.requests.get(RequestCode.PULL_MESSAGE)?.values() ?? []) n += count;
  return n;
}

async function expectOffsetsOnMaster(leader: Member, group: string, topic: string): Promise<void> {
  for (let q = 0; q < QUEUES; q++) {
    const max = leader.broker!.messageStore.getMaxOffsetInQueue(topic, q);
    await eventually(() => (leader.broker!.queryOffset(group, topic, q) === max ? true : undefined), `${group} committed queue ${q} up to ${max} on the master`, 20_000, 50);
  }
}

describe('consumers on DLedger slaves (slaveReadEnable, suggestWhichBrokerId)', () => {
  it('with slaveReadEnable=true and ratio 0, pulls move to the slave the group names, each message is consumed once, and the offsets are committed on the master', async () => {
    const { g, leader, slaves, topic, bodies } = await groupWithBacklog({ slaveReadEnable: 'true', accessMessageInMemoryMaxRatio: '0' });
    // The default whichBrokerWhenConsumeSlowly (1) is n0's slave id; when n0 leads, id 2 stands in.
    const bySlaveId = (id: number) => slaves.find((s) => s.broker!.dledger!.slaveBrokerId === id);
    const defaultTarget = bySlaveId(1) ?? bySlaveId(2)!;
    const other = slaves.find((s) => s !== defaultTarget)!;

    /** `group` consumes the backlog once: the master serves the first pulls, then `via` the rest, `notVia` none. */
    const consumeVia = async (group: string, via: Member, notVia: Member) => {
      const got = await consumeAll(g, topic, group);
      expect([...got].sort()).toEqual([...bodies].sort());
      const served = servedTo(g.members, group, topic);
      // Every message was served once, over the three brokers: none pulled twice.
      expect([...served.values()].reduce((a, b) => a + b, 0)).toBe(BACKLOG);
      expect(served.get(via.id)).toBeGreaterThan(0);
      expect(served.get(leader.id)).toBeGreaterThan(0);
      expect(served.get(leader.id)).toBeLessThan(BACKLOG);
      expect(served.get(notVia.id)).toBe(0);
      await expectOffsetsOnMaster(leader, group, topic);
    };
    await consumeVia(uniq('SlaveReadA'), defaultTarget, other);

    // A group naming the other slave is sent there.
    const groupB = uniq('SlaveReadB');
    await putGroup(g, leader, slaves, groupB, other.broker!.dledger!.slaveBrokerId);
    await consumeVia(groupB, other, defaultTarget);
    // A slave stores no commit of its own: it holds the master's offsets, taken by SlaveSynchronize.
    for (const s of slaves) {
      for (let q = 0; q < QUEUES; q++) {
        const want = leader.broker!.queryOffset(groupB, topic, q);
        await eventually(() => (s.broker!.queryOffset(groupB, topic, q) === want ? true : undefined), `${s.id} has ${groupB}'s offset of queue ${q}`, 20_000, 50);
      }
    }
  });

  it('with slaveReadEnable=false every pull stays on the master, however far behind the consumer reads', async () => {
    const { g, leader, slaves, topic, bodies } = await groupWithBacklog({ accessMessageInMemoryMaxRatio: '0' });
    const group = uniq('MasterOnly');
    const got = await consumeAll(g, topic, group);
    expect([...got].sort()).toEqual([...bodies].sort());
    expect(servedTo(g.members, group, topic).get(leader.id)).toBe(BACKLOG);
    for (const s of slaves) expect(pullRequests(s)).toBe(0);
    await expectOffsetsOnMaster(leader, group, topic);
  });
});

describe('delayed-message offsets on DLedger slaves (SlaveSynchronize#syncDelayOffset)', () => {
  it('a slave takes its master\'s delay offsets, and a new master delivers after what the old one delivered, nothing twice', async () => {
    const g = await startGroup(3);
    const leader = await masterOf(g.members, g.ns);
    const slaves = g.members.filter((m) => m !== leader);
    for (const s of slaves) await eventually(() => (s.broker!.dledger!.brokerId() > 0 ? true : undefined), `${s.id} a slave`, 20_000, 50);
    const topic = uniq('SlaveDelay');
    expect((await createTopic(g.client, leader.broker!.addresses.broker, topic, QUEUES)).code).toBe(0);
    const producer = new Producer({ namesrvAddr: g.namesrv, producerGroup: uniq('SlaveDelayPG') });
    await producer.start();
    cleanups.push(() => producer.close());

    // Level 1 (1 s): stored in SCHEDULE_TOPIC_XXXX queue 0, delivered by the master.
    expect((await producer.send({ topic, body: Buffer.from('d1'), delayLevel: 1 })).status).toBe('SEND_OK');
    await eventually(() => (storedCount(leader, topic) === 1 ? true : undefined), 'd1 delivered', 20_000, 50);
    await eventually(() => (leader.broker!.delayOffsets.get(1) === 1 ? true : undefined), 'the master\'s level 1 offset past d1', 20_000, 50);
    for (const s of slaves) {
      await eventually(() => (s.broker!.delayOffsets.get(1) === 1 ? true : undefined), `${s.id} took the delay offsets`, 20_000, 50);
      expect(s.broker!.delayOffsetsBody()).toBe(leader.broker!.delayOffsetsBody());
    }

    // The master goes; the new one resumes level 1 after d1 (from 0 it would deliver d1 again first).
    await leader.broker!.close();
    leader.broker = undefined;
    const next = await masterOf(g.members, g.ns);
    for (let attempt = 0; ; attempt++) {
      // Bounded: the producer may still route to the old master for a moment.
      try {
        expect((await producer.send({ topic, body: Buffer.from('d2'), delayLevel: 1 })).status).toBe('SEND_OK');
        break;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const delivered = await eventually(async () => {
      const bodies = (await readAllFrom(g.namesrv, next.broker!.addresses.broker, topic)).map((m) => m.body.toString());
      return bodies.includes('d2') ? bodies : undefined;
    }, 'd2 delivered by the new master', 20_000, 100);
    // d1 once (a d2 whose send failed before it succeeded may be there twice: not acknowledged).
    expect(delivered.filter((b) => b === 'd1')).toEqual(['d1']);
    expect(next.broker!.delayOffsets.get(1)).toBeGreaterThanOrEqual(2);
  });
});
