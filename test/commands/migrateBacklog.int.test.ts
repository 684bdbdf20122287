/**
 * migrateBacklog through the real CLI against a real in-process broker with real traffic: the plan
 * shows exactly the backlog and changes nothing; --execute creates the target with more queues,
 * copies every backlog message exactly once (body, tags, keys, user properties and UNIQ_KEY kept,
 * MIGRATED_FROM_* added) and moves the group's offsets to the end; an existing target is used as
 * it is; compare-and-set leaves a queue whose offset moved while copying alone; error paths.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import type { SendResult } from '../../src/client/producer.js';
import type { MessageExt } from '../../src/client/message.js';
import { openAdminSession } from '../../src/admin/session.js';
import { executeMigration, MIGRATED_FROM, planMigration } from '../../src/admin/migrate.js';
import { LEASE_TOPIC } from '../../src/admin/migrate-lease.js';
import { makeRequest } from '../../src/protocol/frame.js';
import { SysFlag } from '../../src/protocol/message.js';
import { encodeProperties } from '../../src/protocol/properties.js';
import { RequestCode } from '../../src/protocol/codes.js';
import type { TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { brokerWithTopic, defer, maxOffset, readAll, storedOffset, tempDir, topic, uniq } from '../client/support.js';

/** The LZ4 compression type in a sysFlag (bits 8-10, RocketMQ 5.x). */
const LZ4 = 0x100;

const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };
const QUEUES = 2;

async function offsets(b: TestBroker, group: string, t: string): Promise<number[]> {
  return Promise.all(Array.from({ length: QUEUES }, (_, q) => storedOffset(b, group, t, q)));
}

function cli(b: TestBroker, args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

/** A 2-queue topic; `consumed` messages consumed by a push group that then stops; `backlog` more sent. */
async function setup(consumed: number, backlog: number) {
  const { b, ns, t, group, p } = await brokerWithTopic(QUEUES);
  for (let i = 0; i < consumed; i++) await p.send({ topic: t, body: `old-${i}` });
  const got: MessageExt[] = [];
  const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST });
  c.subscribe(t, '*');
  defer(() => c.close());
  await c.start((m) => void got.push(m));
  await eventually(async () => {
    if (got.length < consumed) return undefined;
    for (let q = 0; q < QUEUES; q++) if ((await storedOffset(b, group, t, q)) !== (await maxOffset(b, t, q))) return undefined;
    return true;
  }, 'the first messages consumed and committed');
  await c.close();
  const sent: SendResult[] = [];
  const props = (i: number) => ({ orderId: `o-${i}`, 'x-trace': `tr${i}` });
  for (let i = 0; i < backlog; i++) sent.push(await p.send({ topic: t, body: `backlog-${i}`, tags: i % 2 ? 'paid' : 'created', keys: [`k${i}`, `order-${i}`], properties: props(i), flag: i }));
  return { b, ns, t, group, sent, props };
}

describe('migrateBacklog (real CLI, real broker)', () => {
  it('plans exactly the backlog, then --execute moves every message once and the offsets to the end', async () => {
    const { b, ns, t, group, sent, props } = await setup(4, 7);
    const target = uniq('WIDE');
    const before = await offsets(b, group, t);

    const plan = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expectSuccessEnvelope('migrateBacklog', plan.json);
    const pr = plan.json.result;
    expect(pr.executed).toBe(false);
    expect(pr.execution).toBeNull();
    expect(pr.plan.online).toBe(false);
    expect(pr.plan.target).toMatchObject({ topic: target, exists: false, queueNums: 2 * QUEUES });
    for (const q of pr.plan.queues) {
      const max = await maxOffset(b, t, q.queueId);
      expect(q).toMatchObject({ consumerOffset: before[q.queueId], fromOffset: before[q.queueId], maxOffset: max, messages: max - before[q.queueId]! });
    }
    expect(pr.plan.totals.messages).toBe(sent.length);
    // The plan changed nothing: offsets where they were, no target topic.
    expect(await offsets(b, group, t)).toEqual(before);
    const route = await cli(b, ['topicRoute', '-t', target, '--json']);
    expect(route.json.code).toBe('E_TOPIC_NOT_FOUND');

    const exec = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(exec.code, exec.stderr).toBe(0);
    expectSuccessEnvelope('migrateBacklog', exec.json);
    const ex = exec.json.result.execution;
    expect(ex.targetCreated).toBe(true);
    expect(ex.totals).toEqual({ copied: sent.length, found: 0, queuesMoved: QUEUES, problems: 0 });
    for (const q of ex.queues) {
      const max = await maxOffset(b, t, q.queueId);
      expect(q).toMatchObject({ copyStatus: 'copied', offsetStatus: 'applied', via: 'update-offset', newOffset: max, copiedUpTo: max, toOffset: max });
    }

    // The target has more queues, and holds each backlog message exactly once, as it was sent.
    const status = await cli(b, ['topicStatus', '-t', target, '--json']);
    expect(status.json.result.queues).toHaveLength(2 * QUEUES);
    const copies = await readAll(ns, target);
    expect(copies.map((m) => m.msgId).sort()).toEqual(sent.map((s) => s.msgId).sort());
    for (const m of copies) {
      const i = sent.findIndex((s) => s.msgId === m.msgId);
      expect(m.body.toString()).toBe(`backlog-${i}`);
      expect(m.tags).toBe(i % 2 ? 'paid' : 'created');
      expect(m.keys).toEqual([`k${i}`, `order-${i}`]);
      expect(m.flag).toBe(i);
      expect(m.properties).toMatchObject({
        ...props(i),
        UNIQ_KEY: sent[i]!.msgId,
        [MIGRATED_FROM.TOPIC]: t,
        [MIGRATED_FROM.QUEUE_ID]: String(sent[i]!.messageQueue!.queueId),
        [MIGRATED_FROM.QUEUE_OFFSET]: String(sent[i]!.queueOffset),
        [MIGRATED_FROM.MSG_ID]: sent[i]!.offsetMsgId,
        [MIGRATED_FROM.GROUP]: group,
      });
    }
    // The group has nothing left on the source.
    const progress = await cli(b, ['consumerProgress', '-g', group, '-t', t, '--json']);
    expect(progress.json.result.progress.totals.diff).toBe(0);

    // A rerun finds no backlog and copies nothing more.
    const again = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.result.plan.target.exists).toBe(true);
    expect(again.json.result.execution.totals.copied).toBe(0);
    expect((await readAll(ns, target)).length).toBe(sent.length);
  });

  it('uses an existing target as it is and says so; the table output', async () => {
    const { b, ns, t, group, sent } = await setup(2, 3);
    const target = await topic(b, uniq('EXISTING'), 3);
    const plan = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '-r', '16']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/Migration plan: backlog of group/);
    expect(plan.stdout).toMatch(new RegExp(`${target} exists with 3 queue\\(s\\): used as it is, -r ignored`));
    expect(plan.stdout).toMatch(/Total: 3 message\(s\) to move/);
    expect(plan.stdout).toMatch(/Nothing changed/);

    const exec = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toMatch(/Used the existing/);
    expect(exec.stdout).toMatch(/3 message\(s\) copied/);
    expect((await readAll(ns, target)).map((m) => m.msgId).sort()).toEqual(sent.map((s) => s.msgId).sort());
    const status = await cli(b, ['topicStatus', '-t', target, '--json']);
    expect(status.json.result.queues).toHaveLength(3);
  });

  it('compare-and-set: a queue whose offset moved while copying is reported and not overwritten', async () => {
    const { b, ns, t, group, sent } = await setup(2, 6);
    const target = uniq('WIDE');
    const socket = b.broker.addresses.socket;
    const session = await openAdminSession({ socket, timeoutMs: 5000 });
    defer(() => session.close());
    const plan = await planMigration(session, { group, source: t, target });
    // A consumer of the group commits on queue 0 after the plan was made.
    const moved = plan.queues[0]!.consumerOffset! + 1;
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: 0, commitOffset: moved }));
    expect(res.code).toBe(0);

    const ex = await executeMigration(session, { socket, timeoutMs: 5000 }, plan);
    expect(ex.totals).toMatchObject({ copied: sent.length, queuesMoved: 1, problems: 1 });
    const [q0, q1] = ex.queues;
    expect(q0).toMatchObject({ copyStatus: 'copied', offsetStatus: 'moved', newOffset: moved });
    expect(q0!.message).toMatch(/deduplicate by UNIQ_KEY/);
    expect(q1).toMatchObject({ copyStatus: 'copied', offsetStatus: 'applied', newOffset: await maxOffset(b, t, 1) });
    expect(await storedOffset(b, group, t, 0)).toBe(moved);
    expect((await readAll(ns, target)).length).toBe(sent.length);
  });

  it('a copy that fails part-way: the offset moves past what was copied, so a rerun copies only the rest (exit 3, then 0)', async () => {
    const { b, ns, t, group } = await setup(2, 0);
    const start = await offsets(b, group, t);
    // Queue 0: three messages, one whose body is LZ4-compressed (rocketctl cannot copy it), two more;
    // queue 1: two messages. Raw SEND_MESSAGE_V2 so the queue and the sysFlag are ours to choose.
    const raw = async (queueId: number, body: string, sysFlag = 0) => {
      const header = { a: 'PG', b: t, c: 'TBW102', d: QUEUES, e: queueId, f: sysFlag, g: Date.now(), h: 0, i: encodeProperties({ WAIT: 'true', KEYS: body }), j: 0, k: false };
      const res = await b.client.invoke(b.addr, makeRequest(RequestCode.SEND_MESSAGE_V2, header, Buffer.from(body)));
      expect(res.code, res.remark).toBe(0);
    };
    for (const body of ['q0-a', 'q0-b', 'q0-c']) await raw(0, body);
    await raw(0, 'q0-lz4', SysFlag.COMPRESSED | LZ4);
    for (const body of ['q0-d', 'q0-e']) await raw(0, body);
    for (const body of ['q1-a', 'q1-b']) await raw(1, body);
    const target = uniq('WIDE');
    const bodies = async () => (await readAll(ns, target)).map((m) => m.body.toString()).sort();

    const first = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(first.code, first.stderr).toBe(3);
    expectSuccessEnvelope('migrateBacklog', first.json);
    const [q0, q1] = first.json.result.execution.queues;
    expect(q0).toMatchObject({ copied: 3, copyStatus: 'failed', offsetStatus: 'applied', newOffset: start[0]! + 3 });
    expect(q0.message).toMatch(/LZ4-compressed body.*offset moved to \d+, after the copied messages: rerun migrateBacklog/);
    expect(q1).toMatchObject({ copied: 0, copyStatus: 'not-started', offsetStatus: 'not-moved' });
    expect(await offsets(b, group, t)).toEqual([start[0]! + 3, start[1]]);
    expect(await bodies()).toEqual(['q0-a', 'q0-b', 'q0-c']);

    // The rerun starts at the message it cannot copy: nothing copied twice, the offset stays.
    const second = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(second.code, second.stderr).toBe(3);
    expect(second.json.result.execution.queues[0]).toMatchObject({ copied: 0, copyStatus: 'failed', offsetStatus: 'not-moved' });
    expect(second.json.result.execution.queues[0].message).toMatch(/offset not moved$/);
    expect(await offsets(b, group, t)).toEqual([start[0]! + 3, start[1]]);
    expect(await bodies()).toEqual(['q0-a', 'q0-b', 'q0-c']);

    // Skip that one message, then the rest moves: every other message once.
    const skip = await cli(b, ['resetOffset', '-g', group, '-t', t, '-q', '0', '--to-offset', String(start[0]! + 4), '--execute', '--undo-file', path.join(tempDir(), 'u.json')]);
    expect(skip.code, skip.stderr).toBe(0);
    const third = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(third.code, third.stderr).toBe(0);
    expect(await bodies()).toEqual(['q0-a', 'q0-b', 'q0-c', 'q0-d', 'q0-e', 'q1-a', 'q1-b']);
    expect(await offsets(b, group, t)).toEqual([await maxOffset(b, t, 0), await maxOffset(b, t, 1)]);
  });

  it('unknown topic or group, same topic, bad flags, unreachable: one line and the documented exit code', async () => {
    const { b, t, group } = await setup(1, 1);
    const noTopic = await cli(b, ['migrateBacklog', '-g', group, '-t', uniq('NOPE'), '--to', uniq('W'), '--json']);
    expectErrorEnvelope(noTopic.json, 1);
    expect(noTopic.json.code).toBe('E_TOPIC_NOT_FOUND');
    const noGroup = await cli(b, ['migrateBacklog', '-g', uniq('NOPE'), '-t', t, '--to', uniq('W')]);
    expect(noGroup.code).toBe(1);
    expectOneLineError(noGroup.stderr);
    expect(noGroup.stderr).toMatch(/no offsets for topic/);
    const noGroupJson = await cli(b, ['migrateBacklog', '-g', uniq('NOPE'), '-t', t, '--to', uniq('W'), '--execute', '--json']);
    expectErrorEnvelope(noGroupJson.json, 1);

    for (const args of [
      ['migrateBacklog', '-g', group, '-t', t, '--to', t],
      ['migrateBacklog', '-g', group, '-t', t],
      ['migrateBacklog', '-g', group, '-t', t, '--to', `%RETRY%${group}`],
      ['migrateBacklog', '-g', group, '-t', `%DLQ%${group}`, '--to', uniq('W')],
      ['migrateBacklog', '-g', group, '-t', t, '--to', 'bad name'],
      ['migrateBacklog', '-g', group, '-t', t, '--to', uniq('W'), '-r', '0'],
    ]) {
      const r = await cli(b, args);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr);
    }
    const same = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', t, '--json']);
    expectErrorEnvelope(same.json, 2);
    const gone = await runCli(['migrateBacklog', '-g', 'G', '-t', 'T', '--to', 'W', '--socket', '/nonexistent/broker.sock']);
    expect(gone.code).toBe(1);
    expectOneLineError(gone.stderr);
    expect(gone.stderr).toMatch(/rocketctl broker start/);
  });
});

describe('migrateBacklog --execute: one run per group at a time (the lease)', () => {
  /** LOCK_BATCH_MQ / UNLOCK_BATCH_MQ of the group's lease queue, as another run's client would send it. */
  const leaseRequest = (b: TestBroker, code: number, group: string, clientId: string) =>
    b.client.invoke(
      b.addr,
      makeRequest(code, undefined, Buffer.from(JSON.stringify({ consumerGroup: group, clientId, mqSet: [{ topic: LEASE_TOPIC, brokerName: b.broker.config.brokerName, queueId: 0 }] }))),
    );

  it('while another run holds the lease, --execute refuses (exit 1) and changes nothing; once it is released, it migrates and releases its own', async () => {
    const { b, t, group, sent } = await setup(2, 5);
    const target = uniq('LEASED');
    const before = await offsets(b, group, t);
    const held = await leaseRequest(b, RequestCode.LOCK_BATCH_MQ, group, 'another-run');
    expect(JSON.parse(held.body!.toString()).lockOKMQSet).toHaveLength(1);

    const refused = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expectErrorEnvelope(refused.json, 1);
    expect(refused.json.code).toBe('E_MIGRATION_RUNNING');
    expect(refused.json.message).toMatch(new RegExp(`another migrateBacklog --execute of group ${group} is running: broker \\S+ holds its lease; nothing was copied`));
    const human = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute']);
    expect(human.code).toBe(1);
    expectOneLineError(human.stderr);
    // Nothing changed: no target, offsets where they were; planning alone needs no lease.
    expect((await cli(b, ['topicRoute', '-t', target, '--json'])).json.code).toBe('E_TOPIC_NOT_FOUND');
    expect(await offsets(b, group, t)).toEqual(before);
    expect((await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target])).code).toBe(0);

    await leaseRequest(b, RequestCode.UNLOCK_BATCH_MQ, group, 'another-run');
    const exec = await cli(b, ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.json.result.execution.totals).toMatchObject({ copied: sent.length, problems: 0 });
    // Released at the end: the next run (or an orderly consumer's lock) finds it free.
    expect([...b.broker.clients.lockManager.owners(group).keys()]).toEqual([]);
  });

  it('two runs started together copy the backlog once: one migrates, the other refuses or finds nothing left', async () => {
    const { b, ns, t, group, sent } = await setup(2, 300);
    const target = uniq('RACE');
    const args = ['migrateBacklog', '-g', group, '-t', t, '--to', target, '--execute', '--json'];
    const runs = await Promise.all([cli(b, args), cli(b, args)]);
    for (const r of runs) {
      if (r.code === 1) expect(r.json.code, r.stdout).toBe('E_MIGRATION_RUNNING');
      else expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    expect(runs.some((r) => r.code === 0)).toBe(true);
    const copied = runs.filter((r) => r.code === 0).reduce((s, r) => s + (r.json.result.execution.totals.copied as number), 0);
    expect(copied).toBe(sent.length);
    const copies = await readAll(ns, target);
    expect(copies.map((m) => m.msgId).sort()).toEqual(sent.map((s) => s.msgId).sort());
  });
});
