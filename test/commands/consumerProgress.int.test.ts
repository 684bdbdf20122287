/**
 * consumerProgress through the real CLI (`bin/run.js ... --json`) against a real in-process broker
 * (its local socket, as an operator's default target) with real traffic: a push consumer consumes
 * a first batch and stops, a second batch stays; the command must show exactly the remaining diff
 * per queue, the age of the oldest unconsumed message as stored, the group as offline, exit 4 on
 * --max-lag / --max-lag-ms, and change nothing while it measures.
 */
import { describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer, type SendResult } from '../../src/client/producer.js';
import { makeRequest, bodyBuffer } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { decodeOffsetMsgId, decodeRecord } from '../../src/protocol/message.js';
import { encodeJson } from '../../src/protocol/bodies.js';
import { RemotingClient } from '../../src/remoting/client.js';
import { freePort, storedOffset, broker, defer, namesrvOf, topic, uniq } from '../client/support.js';
import type { TestBroker } from '../helpers/broker.js';
import { createTopic, eventually, startTestBroker } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { FAST_CONSUMER, makeBacklog } from '../helpers/backlog.js';

const FAST = FAST_CONSUMER;

async function producer(ns: string): Promise<Producer> {
  const p = new Producer({ namesrvAddr: ns, producerGroup: uniq('PG') });
  await p.start();
  defer(() => p.close());
  return p;
}

/** Store time of a sent message, read back from the broker by its offsetMsgId. */
async function storeTimeOf(b: TestBroker, r: SendResult): Promise<number> {
  const id = decodeOffsetMsgId(r.offsetMsgId!)!;
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: id.commitLogOffset }));
  return decodeRecord(bodyBuffer(res)).storeTimestamp;
}

/** Produce `first`, consume all of it with a push consumer that then stops, produce `second`. */
async function backlog(b: TestBroker, queues: number, first: number, second: number) {
  const t = await topic(b, uniq('T'), queues);
  return { t, ...(await makeBacklog(namesrvOf(b), t, first, second)) };
}

function cli(b: TestBroker, args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

describe('consumerProgress (real CLI, real broker)', () => {
  it('-g: exact remaining diff per queue, the age of the oldest unconsumed message, offline, and nothing changed', async () => {
    const b = await broker();
    const { t, group, sent } = await backlog(b, 4, 12, 10);
    const expected = new Map<number, SendResult[]>();
    for (const r of sent) expected.set(r.messageQueue!.queueId, [...(expected.get(r.messageQueue!.queueId) ?? []), r]);
    const before = await Promise.all([0, 1, 2, 3].map((q) => storedOffset(b, group, t, q)));

    const r = await cli(b, ['consumerProgress', '-g', group, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', r.json);
    const p = r.json.result.progress;
    expect(r.json.result.mode).toBe('group');
    expect(p.online).toBe(false);
    expect(p.diagnosis).toMatch(/offline/);
    const rows = p.queues.filter((q: { topic: string }) => q.topic === t);
    expect(rows).toHaveLength(4);
    for (const q of rows) {
      const mine = expected.get(q.queueId) ?? [];
      expect(q.diff).toBe(mine.length);
      expect(q.brokerOffset - q.consumerOffset).toBe(mine.length);
      if (mine.length === 0) {
        expect(q.lagMs).toBe(0);
        expect(q.oldestUnconsumedTimestamp).toBeNull();
      } else {
        const oldest = mine.reduce((a, x) => (x.queueOffset! < a.queueOffset! ? x : a));
        expect(q.consumerOffset).toBe(oldest.queueOffset);
        const ts = await storeTimeOf(b, oldest);
        expect(q.oldestUnconsumedTimestamp).toBe(ts);
        expect(q.lagMs).toBe(p.measuredAt - ts);
      }
    }
    expect(p.totals.diff).toBe(10);

    // Reading disturbed nothing.
    expect(await Promise.all([0, 1, 2, 3].map((q) => storedOffset(b, group, t, q)))).toEqual(before);

    const table = await cli(b, ['consumerProgress', '-g', group]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/#Topic\s+#Broker Name\s+#QID\s+#Broker Offset\s+#Consumer Offset\s+#Diff\s+#LastTime\s+#Lag/);
    expect(table.stdout).toMatch(/Diff Total: 10/);
    expect(table.stdout).toMatch(/Diagnosis: offline/);

    // A topic the group never committed an offset for: shown as such, not as offset 0.
    const other = await topic(b, uniq('U'), 2);
    await (await producer(namesrvOf(b))).send({ topic: other, body: 'u' });
    const none = await cli(b, ['consumerProgress', '-g', group, '-t', other, '--json']);
    expect(none.code, none.stderr).toBe(0);
    const nq = none.json.result.progress.queues;
    expect(nq.map((q: { consumerOffset: number | null }) => q.consumerOffset)).toEqual([null, null]);
    expect(nq.reduce((s: number, q: { diff: number }) => s + q.diff, 0)).toBe(1);
    expect(nq[0].notes.join(' ') + nq[1].notes.join(' ')).toMatch(/no committed offset/);
    expect(none.json.result.progress.totals.queuesWithoutOffset).toBe(2);
    const noneText = await cli(b, ['consumerProgress', '-g', group, '-t', other]);
    expect(noneText.stdout).toMatch(new RegExp(`${other}\\s+broker-a\\s+\\d+\\s+\\d+\\s+none`));
  });

  it('consume TPS: what the group pulled in the last minute; reading the topic with consumeMessage changes no statistic', async () => {
    const b = await broker();
    const { t, group } = await backlog(b, 2, 12, 5);
    const runtime = async () => {
      const res = await b.client.invoke(b.addr, makeRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
      return JSON.parse(bodyBuffer(res).toString()).table as Record<string, string>;
    };
    const r = await cli(b, ['consumerProgress', '-g', group, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const tps = r.json.result.progress.totals.consumeTps as number;
    // 12 messages pulled seconds ago, averaged over at least one second and at most a minute.
    expect(tps).toBeGreaterThanOrEqual(12 / 60);
    expect(tps).toBeLessThanOrEqual(12);
    const gets = Number((await runtime()).msgGetTotalTodayNow);
    expect(gets).toBeGreaterThanOrEqual(12);

    const read = await cli(b, ['consumeMessage', '-t', t, '--json']);
    expect(read.code, read.stderr).toBe(0);
    // One line per message, then the envelope.
    expect(JSON.parse(read.stdout.trim().split('\n').at(-1)!).result.count).toBe(17);
    expect(Number((await runtime()).msgGetTotalTodayNow)).toBe(gets);
    // -g reads the group's backlog (the 5 not consumed), still as the tools group: no statistic moves.
    const backlogRead = await cli(b, ['consumeMessage', '-t', t, '-g', group, '--json']);
    expect(backlogRead.code, backlogRead.stderr).toBe(0);
    const backlogLines = backlogRead.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(backlogLines.slice(0, -1).map((l) => l.message.body).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(backlogLines.at(-1).result).toMatchObject({ group, count: 5 });
    expect(Number((await runtime()).msgGetTotalTodayNow)).toBe(gets);
    const after = await cli(b, ['consumerProgress', '-g', group, '--json']);
    expect(after.json.result.progress.totals.consumeTps).toBeLessThanOrEqual(tps);

    const table = await cli(b, ['consumerProgress', '-g', group]);
    expect(table.stdout).toMatch(/Consume TPS: (?!0\.00)\d+\.\d\d/);
  });

  it('--max-lag and --max-lag-ms exit 4 and name the queues over the limit; within limits exit 0', async () => {
    const b = await broker();
    const { t, group, sent } = await backlog(b, 2, 4, 6);
    const perQueue = new Map<number, number>();
    for (const r of sent) perQueue.set(r.messageQueue!.queueId, (perQueue.get(r.messageQueue!.queueId) ?? 0) + 1);
    const worst = Math.max(...perQueue.values());

    const over = await cli(b, ['consumerProgress', '-g', group, '--max-lag', String(worst - 1), '--json']);
    expect(over.code).toBe(4);
    expectSuccessEnvelope('consumerProgress', over.json);
    expect(over.json.status).toBe(4);
    const v = over.json.result.check.violations;
    expect(v.length).toBeGreaterThan(0);
    for (const x of v) {
      expect(x.topic).toBe(t);
      expect(x.diff).toBeGreaterThan(worst - 1);
    }
    expect(over.json.warnings.join(' ')).toMatch(/over the lag limit/);

    const ok = await cli(b, ['consumerProgress', '-g', group, '--max-lag', String(worst), '--json']);
    expect(ok.code).toBe(0);
    expect(ok.json.result.check.passed).toBe(true);

    const age = await cli(b, ['consumerProgress', '-g', group, '--max-lag-ms', '0']);
    expect(age.code).toBe(4);
    expect(age.stdout).toMatch(/queue\(s\) over the limit/);
    expect(age.stdout).toContain(t);
  });

  it('an online consumer stuck on its messages: online, counts, and "adding consumers will help"', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 4);
    const group = uniq('CG');
    const p = await producer(ns);
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    defer(() => release());
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', consumeConcurrency: 1, ...FAST });
    c.subscribe(t, '*');
    let seen = 0;
    await c.start(async () => {
      seen++;
      await stuck;
    });
    defer(() => c.close());
    for (let i = 0; i < 8; i++) await p.send({ topic: t, body: `x${i}` });
    await eventually(() => (seen >= 1 ? true : undefined), 'the consumer took a message');

    const r = await eventually(async () => {
      const x = await cli(b, ['consumerProgress', '-g', group, '-s', '--json']);
      return x.json?.result?.progress?.online && x.json.result.progress.queues.some((q: { clientId: string | null }) => q.clientId) ? x : undefined;
    }, 'consumerProgress sees the consumer online with its queues');
    expectSuccessEnvelope('consumerProgress', r.json);
    const pr = r.json.result.progress;
    expect(pr.clients).toHaveLength(1);
    expect(pr.totals.diff).toBe(8);
    expect(pr.diagnosis).toMatch(/1 consumer for 4 queues of .*: adding up to 3 more consumers will help/);
    for (const q of pr.queues.filter((x: { topic: string }) => x.topic === t)) expect(q.clientId).toBe(pr.clients[0].clientId);
    // mqadmin's "-s true" form is accepted too.
    const legacy = await cli(b, ['consumerProgress', '-g', group, '-s', 'true']);
    expect(legacy.code).toBe(0);
    expect(legacy.stdout).toMatch(/#Client IP/);
  });

  it('a consumer offset ahead of the broker offset: no backlog, explained', async () => {
    const b = await broker();
    const { t, group } = await backlog(b, 2, 2, 0);
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: 0, commitOffset: 1000 }));
    expect(res.code).toBe(0);
    const r = await cli(b, ['consumerProgress', '-g', group, '-t', t, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const q0 = r.json.result.progress.queues.find((q: { queueId: number }) => q.queueId === 0);
    expect(q0).toMatchObject({ consumerOffset: 1000, diff: 0, lagMs: 0 });
    expect(q0.notes.join(' ')).toMatch(/ahead of the broker's max offset/);
    // resetOffset's plan counts the messages that exist, not 1000 - 0.
    const plan = await cli(b, ['resetOffset', '-g', group, '-t', t, '--to-offset', '0', '-q', '0', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const pq = plan.json.result.plan.queues[0];
    expect(pq).toMatchObject({ currentOffset: 1000, targetOffset: 0, replay: pq.maxOffset });
    expect(pq.notes.join(' ')).toMatch(/ahead of the queue's max offset/);
  });

  it('queues of a committed topic the group never committed on: "none", counted, and left alone by resetOffset', async () => {
    const b = await broker();
    const ns = namesrvOf(b);
    const t = await topic(b, uniq('T'), 4);
    const group = uniq('CG');
    const p = await producer(ns);
    for (let i = 0; i < 8; i++) await p.send({ topic: t, body: `m${i}` });
    // Offsets on queues 0 and 2 only (a consumer that owned only those, or a topic widened since).
    for (const [queueId, commitOffset] of [[0, 1], [2, 0]] as const) {
      const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId, commitOffset }));
      expect(res.code).toBe(0);
    }
    const r = await cli(b, ['consumerProgress', '-g', group, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const offsets = r.json.result.progress.queues.map((q: { consumerOffset: number | null }) => q.consumerOffset);
    expect(offsets).toEqual([1, null, 0, null]);
    expect(r.json.result.progress.totals.queuesWithoutOffset).toBe(2);
    const table = await cli(b, ['consumerProgress', '-g', group]);
    expect(table.stdout).toMatch(/2 queue\(s\) have no committed offset/);

    // resetOffset plans them as "none" and, with --latest, gives them the offset they lacked.
    const plan = await cli(b, ['resetOffset', '-g', group, '-t', t, '--latest', '--json']);
    expect(plan.json.result.plan.queues.map((q: { queueId: number }) => q.queueId)).toEqual([0, 1, 2, 3]);
    expect(plan.json.result.plan.queues.map((q: { currentOffset: number | null }) => q.currentOffset)).toEqual([1, null, 0, null]);
  });

  it('without -g: one row per group, offline ones included', async () => {
    const b = await broker();
    const { group } = await backlog(b, 2, 2, 3);
    const r = await cli(b, ['consumerProgress', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', r.json);
    const row = r.json.result.groups.find((g: { group: string }) => g.group === group);
    expect(row).toMatchObject({ status: 'offline', version: 'OFFLINE', diffTotal: 3 });
    const table = await cli(b, ['consumerProgress']);
    expect(table.stdout).toMatch(/#Group\s+#Count\s+#Version\s+#Type\s+#Model\s+#TPS\s+#Diff Total/);
    expect(table.stdout).toContain(group);
  });

  it('without -g: subscription groups without a retry topic are listed, built-in ones are not; --lag gives each group its largest time lag', async () => {
    const b = await broker();
    const { group, sent } = await backlog(b, 2, 2, 3);
    const fresh = uniq('FRESH');
    expect((await cli(b, ['updateSubGroup', '-g', fresh])).code).toBe(0);
    // The oldest unconsumed message of each queue; the group's lag is that of the oldest of them.
    const oldest = new Map<number, SendResult>();
    for (const r of sent) {
      const q = r.messageQueue!.queueId;
      if (!oldest.has(q) || r.queueOffset! < oldest.get(q)!.queueOffset!) oldest.set(q, r);
    }
    const oldestTs = Math.min(...(await Promise.all([...oldest.values()].map((r) => storeTimeOf(b, r)))));

    const plain = await cli(b, ['consumerProgress', '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', plain.json);
    const groups = plain.json.result.groups as Array<{ group: string; lagMs: number | null }>;
    expect(groups.find((g) => g.group === fresh)).toMatchObject({ status: 'offline', version: 'OFFLINE', count: 0, diffTotal: 0, lagMs: null });
    expect(groups.find((g) => g.group === group)).toMatchObject({ diffTotal: 3, lagMs: null });
    expect(groups.map((g) => g.group)).not.toContain('TOOLS_CONSUMER');
    expect(groups.map((g) => g.group)).not.toContain('SELF_TEST_C_GROUP');
    expect(plain.json.result.failed).toEqual([]);

    const lag = await cli(b, ['consumerProgress', '--lag', '--json']);
    expect(lag.code, lag.stderr).toBe(0);
    expectSuccessEnvelope('consumerProgress', lag.json);
    const rows = lag.json.result.groups as Array<{ group: string; lagMs: number | null }>;
    expect(rows.find((g) => g.group === group)!.lagMs).toBe(lag.json.result.measuredAt - oldestTs);
    expect(rows.find((g) => g.group === fresh)!.lagMs).toBe(0);

    const table = await cli(b, ['consumerProgress', '--lag']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/#Group\s+#Count\s+#Version\s+#Type\s+#Model\s+#TPS\s+#Diff Total\s+#Lag/);
    expect(table.stdout).toMatch(new RegExp(`${fresh}\\s+0\\s+OFFLINE\\s+0\\s+0\\s+0ms`));
    expect((await cli(b, ['consumerProgress'])).stdout).not.toMatch(/#Lag/);
    expect((await cli(b, ['consumerProgress', '-g', group, '--lag'])).code).toBe(2);
  });

  it('a broker where the group never committed: its backlog is shown (no committed offset), counted and checked', async () => {
    const a = await broker();
    const { t, group } = await backlog(a, 2, 4, 2);
    // broker-b joins the cluster and gets the topic and 3 messages after the group stopped.
    const b = await startTestBroker({ namesrv: false, config: { namesrvAddr: namesrvOf(a), brokerName: 'broker-b' } });
    defer(() => b.cleanup());
    expect((await createTopic(b.client, b.addr, t, 2)).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      const r = await b.client.invoke(b.addr, makeRequest(RequestCode.SEND_MESSAGE_V2, { a: 'PG_b', b: t, c: 'TBW102', d: 2, e: 0, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false }, Buffer.from(`b${i}`)));
      expect(r.code).toBe(0);
    }
    await eventually(async () => ((await cli(a, ['clusterList', '--json'])).json?.result.brokers.length === 2 ? true : undefined), 'broker-b registered');

    const r = await cli(a, ['consumerProgress', '-g', group, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const onB = r.json.result.progress.queues.filter((q: { brokerName: string }) => q.brokerName === 'broker-b');
    expect(onB.map((q: { topic: string; consumerOffset: number | null; diff: number }) => [q.topic, q.consumerOffset, q.diff])).toEqual([
      [t, null, 3],
      [t, null, 0],
    ]);
    expect(r.json.result.progress.totals.diff).toBe(2 + 3);

    const all = await cli(a, ['consumerProgress', '--json', '--max-lag', '2']);
    expect(all.code, all.stderr).toBe(4);
    const row = all.json.result.groups.find((g: { group: string }) => g.group === group);
    expect(row.diffTotal).toBe(2 + 3);
    expect(all.json.result.check.violations).toEqual([expect.objectContaining({ group, topic: t, brokerName: 'broker-b', queueId: 0, diff: 3 })]);
  });

  it('a broker that cannot be reached: listed as failed (with -g) or its groups listed as failed (without), exit 3', async () => {
    const b = await broker();
    const { group } = await backlog(b, 2, 2, 3);
    const ghost = `127.0.0.1:${await freePort()}`;
    const reg = new RemotingClient({ requestTimeoutMs: 5000 });
    defer(() => reg.close());
    // Registered over a connection kept open: the name server forgets it when that closes.
    const body = encodeJson({ filterServerList: [], topicConfigSerializeWrapper: { dataVersion: { counter: 1, timestamp: Date.now() }, topicConfigTable: {} } });
    const res = await reg.invoke(namesrvOf(b), makeRequest(RequestCode.REGISTER_BROKER, { brokerName: 'broker-ghost', brokerAddr: ghost, clusterName: 'DefaultCluster', haServerAddr: ghost, brokerId: 0 }, body));
    expect(res.code).toBe(0);

    const one = await cli(b, ['consumerProgress', '-g', group, '--json']);
    expect(one.code).toBe(3);
    expectSuccessEnvelope('consumerProgress', one.json);
    expect(one.json.result.progress.failed).toEqual([expect.objectContaining({ brokerName: 'broker-ghost', addr: ghost })]);
    expect(one.json.result.progress.totals.diff).toBe(3);
    expect(one.json.warnings.join(' ')).toContain(`broker broker-ghost (${ghost}) failed`);
    // A lag check cannot pass when a broker could not be read.
    const checked = await cli(b, ['consumerProgress', '-g', group, '--max-lag', '100', '--json']);
    expect(checked.code).toBe(3);
    expect(checked.json.result.check).toMatchObject({ passed: false, complete: false, violations: [] });
    const checkedText = await cli(b, ['consumerProgress', '-g', group, '--max-lag', '100']);
    expect(checkedText.stdout).toMatch(/Lag check incomplete: broker broker-ghost could not be read/);
    expect(checkedText.stdout).not.toMatch(/: pass/);

    const all = await cli(b, ['consumerProgress', '--json']);
    expect(all.code).toBe(3);
    expectSuccessEnvelope('consumerProgress', all.json);
    const row = all.json.result.groups.find((g: { group: string }) => g.group === group);
    expect(row.status).toBe('failed');
    expect(row.error).toContain(ghost);
    // Listing the groups already found it silent: no group waits for it again in this run.
    expect(row.error).toMatch(/earlier; not asked again/);
    const human = await cli(b, ['consumerProgress']);
    expect(human.code).toBe(3);
    expect(human.stdout).toMatch(new RegExp(`${group}\\s+0\\s+FAILED`));
  });

  it('unknown group, bad flags, unreachable target: one line and the documented exit code', async () => {
    const b = await broker();
    const unknown = await cli(b, ['consumerProgress', '-g', uniq('NOPE')]);
    expect(unknown.code).toBe(1);
    expectOneLineError(unknown.stderr);
    expect(unknown.stderr).toMatch(/consumer group .* does not exist/);
    const uj = await cli(b, ['consumerProgress', '-g', uniq('NOPE'), '--json']);
    expectErrorEnvelope(uj.json, 1);
    expect(uj.json.code).toBe('E_GROUP_NOT_FOUND');

    // Created (updateSubGroup) but never consumed with: not "does not exist".
    const fresh = uniq('FRESH');
    expect((await cli(b, ['updateSubGroup', '-g', fresh])).code).toBe(0);
    const created = await cli(b, ['consumerProgress', '-g', fresh]);
    expect(created.code).toBe(1);
    expectOneLineError(created.stderr);
    expect(created.stderr).toMatch(/exists but has no committed offset and no consumer online/);
    const cj = await cli(b, ['consumerProgress', '-g', fresh, '--json']);
    expectErrorEnvelope(cj.json, 1);
    expect(cj.json.code).toBe('E_GROUP_NO_OFFSETS');

    const unknownWithTopic = await cli(b, ['consumerProgress', '-g', uniq('NOPE'), '-t', await topic(b, uniq('T'), 1), '--json']);
    expectErrorEnvelope(unknownWithTopic.json, 1);
    expect(unknownWithTopic.json.code).toBe('E_GROUP_NOT_FOUND');
    const unknownTopic = await cli(b, ['consumerProgress', '-g', 'G', '-t', uniq('NOPE'), '--json']);
    expectErrorEnvelope(unknownTopic.json, 1);
    expect(unknownTopic.json.code).toBe('E_TOPIC_NOT_FOUND');

    const bad = await runCli(['consumerProgress', '--max-lag', 'lots']);
    expect(bad.code).toBe(2);
    expectOneLineError(bad.stderr);

    const gone = await runCli(['consumerProgress', '-g', 'G', '--socket', '/nonexistent/broker.sock']);
    expect(gone.code).toBe(1);
    expectOneLineError(gone.stderr);
    expect(gone.stderr).toMatch(/\/nonexistent\/broker\.sock/);
    expect(gone.stderr).toMatch(/rocketctl broker start/);

    const refused = await runCli(['consumerProgress', '-n', '127.0.0.1:1', '--timeout', '1000', '--json']);
    expect(refused.code).toBe(1);
    expectErrorEnvelope(refused.json, 1);
    expect(refused.json.message).toContain('127.0.0.1:1');
  });
});
