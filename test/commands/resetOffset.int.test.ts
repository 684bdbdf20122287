/**
 * resetOffset / skipAccumulatedMessage through the real CLI against a real in-process broker with
 * real traffic: plan (nothing changes), execute on a LIVE push consumer group (it re-consumes
 * exactly the messages stored at or after the time), undo plans applied with --plan FILE --execute
 * (online and offline), compare-and-set refusing a queue that moved, and the error paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PushConsumer } from '../../src/client/push-consumer.js';
import { Producer, type SendResult } from '../../src/client/producer.js';
import type { MessageExt } from '../../src/client/message.js';
import { bodyBuffer, makeRequest } from '../../src/protocol/frame.js';
import { RequestCode } from '../../src/protocol/codes.js';
import { decodeOffsetMsgId, decodeRecord } from '../../src/protocol/message.js';
import type { TestBroker } from '../helpers/broker.js';
import { eventually } from '../helpers/broker.js';
import { expectErrorEnvelope, expectOneLineError, expectSuccessEnvelope, runCli } from '../helpers/cli.js';
import { brokerWithTopic, defer, maxOffset, sleep, storedOffset, tempDir, uniq } from '../client/support.js';

const FAST = { rebalanceIntervalMs: 1000, persistConsumerOffsetIntervalMs: 300, pullTimeDelayMsWhenException: 300 };
const QUEUES = 2;

interface Sent extends SendResult {
  storeTimestamp: number;
}

async function send(b: TestBroker, p: Producer, t: string, body: string): Promise<Sent> {
  const r = await p.send({ topic: t, body });
  const id = decodeOffsetMsgId(r.offsetMsgId!)!;
  const res = await b.client.invoke(b.addr, makeRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: id.commitLogOffset }));
  return { ...r, storeTimestamp: decodeRecord(bodyBuffer(res)).storeTimestamp };
}

async function committedAtEnd(b: TestBroker, group: string, t: string): Promise<true | undefined> {
  for (let q = 0; q < QUEUES; q++) if ((await storedOffset(b, group, t, q)) !== (await maxOffset(b, t, q))) return undefined;
  return true;
}

function cli(b: TestBroker, args: string[]) {
  return runCli([...args, '--socket', b.broker.addresses.socket]);
}

const setup = () => brokerWithTopic(QUEUES);

function startConsumer(ns: string, group: string, t: string, into: MessageExt[]): Promise<PushConsumer> {
  const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...FAST });
  c.subscribe(t, '*');
  defer(() => c.close());
  return c.start((m) => void into.push(m)).then(() => c);
}

describe('resetOffset (real CLI, real broker)', () => {
  it('plan, execute on a live group (it re-consumes exactly the messages stored since the time), undo', async () => {
    const { b, ns, t, group, p } = await setup();
    const sent: Sent[] = [];
    for (let i = 0; i < 12; i++) {
      sent.push(await send(b, p, t, `m${i}`));
      if (i % 3 === 2) await sleep(5); // distinct store times between some messages
    }
    const got: MessageExt[] = [];
    await startConsumer(ns, group, t, got);
    await eventually(() => (got.length >= 12 ? committedAtEnd(b, group, t) : undefined), 'all consumed and committed');

    const ts = sent[6]!.storeTimestamp;
    const replay = sent.filter((s) => s.storeTimestamp >= ts);
    // First offset per queue stored at or after ts: what the plan must target.
    const target = (q: number) => Math.min(...sent.filter((s) => s.messageQueue!.queueId === q && s.storeTimestamp >= ts).map((s) => s.queueOffset!), Infinity);

    const plan = await cli(b, ['resetOffset', '-g', group, '-t', t, '-s', String(ts), '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expectSuccessEnvelope('resetOffset', plan.json);
    const pr = plan.json.result;
    expect(pr.executed).toBe(false);
    expect(pr.plan.online).toBe(true);
    for (const q of pr.plan.queues) {
      const max = await maxOffset(b, t, q.queueId);
      expect(q.currentOffset).toBe(max);
      expect(q.targetOffset).toBe(Number.isFinite(target(q.queueId)) ? target(q.queueId) : max);
      if (q.targetOffset < max) expect(q.targetStoreTimestamp).toBe(sent.find((s) => s.messageQueue!.queueId === q.queueId && s.queueOffset === q.targetOffset)!.storeTimestamp);
    }
    expect(pr.plan.totals.replay).toBe(replay.length);
    expect(await committedAtEnd(b, group, t)).toBe(true); // the plan changed nothing

    const before = got.length;
    const undoFile = path.join(tempDir(), 'undo.json');
    const exec = await cli(b, ['resetOffset', '-g', group, '-t', t, '-s', String(ts), '--execute', '--undo-file', undoFile, '--json']);
    expect(exec.code, exec.stderr).toBe(0);
    expectSuccessEnvelope('resetOffset', exec.json);
    expect(exec.json.result.undoFile).toBe(undoFile);
    for (const q of exec.json.result.apply.queues) {
      expect(['applied', 'unchanged']).toContain(q.status);
      if (q.status === 'applied') expect(q.via).toBe('reset-table');
    }
    await eventually(() => (got.length - before >= replay.length ? committedAtEnd(b, group, t) : undefined), 'the replayed messages consumed again');
    const again = got.slice(before).map((m) => m.msgId).sort();
    expect(again).toEqual(replay.map((s) => s.msgId).sort());

    // The undo plan takes each queue back to where it was: the consumer is already there again.
    const secondUndo = path.join(tempDir(), 'u2.json');
    const undo = await cli(b, ['resetOffset', '--plan', undoFile, '--execute', '--undo-file', secondUndo, '--json']);
    expect(undo.code, undo.stderr).toBe(0);
    expectSuccessEnvelope('resetOffset', undo.json);
    for (const q of undo.json.result.apply.queues) expect(q.status).toBe('unchanged');
    // Nothing changed, so there is nothing to undo: no file that would do nothing is left behind.
    expect(undo.json.result.undoFile).toBeNull();
    expect(fs.existsSync(secondUndo)).toBe(false);
    expect(got.length - before).toBe(replay.length);
  });

  it('offline group: skipAccumulatedMessage skips exactly the backlog, its undo plan brings it back', async () => {
    const { b, ns, t, group, p } = await setup();
    for (let i = 0; i < 4; i++) await send(b, p, t, `a${i}`);
    const first: MessageExt[] = [];
    const c = await startConsumer(ns, group, t, first);
    await eventually(() => (first.length >= 4 ? committedAtEnd(b, group, t) : undefined), 'first batch consumed');
    await c.close();
    const backlog: Sent[] = [];
    for (let i = 0; i < 6; i++) backlog.push(await send(b, p, t, `b${i}`));

    const undoFile = path.join(tempDir(), 'skip-undo.json');
    const skip = await cli(b, ['skipAccumulatedMessage', '-g', group, '-t', t, '--undo-file', undoFile, '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expectSuccessEnvelope('skipAccumulatedMessage', skip.json);
    expect(skip.json.result.executed).toBe(true);
    expect(skip.json.result.plan.online).toBe(false);
    expect(skip.json.result.plan.totals.skip).toBe(6);
    for (const q of skip.json.result.apply.queues) if (q.status === 'applied') expect(q.via).toBe('update-offset');
    expect(await committedAtEnd(b, group, t)).toBe(true);
    expect(JSON.parse(fs.readFileSync(undoFile, 'utf8')).kind).toBe('rocketctl.resetOffset.plan');

    const undo = await cli(b, ['resetOffset', '--plan', undoFile, '--execute', '--undo-file', path.join(tempDir(), 'u.json')]);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toMatch(/applied/);
    const progress = await cli(b, ['consumerProgress', '-g', group, '-t', t, '--json']);
    expect(progress.json.result.progress.totals.diff).toBe(6);

    const second: MessageExt[] = [];
    await startConsumer(ns, group, t, second);
    await eventually(() => (second.length >= 6 ? committedAtEnd(b, group, t) : undefined), 'the skipped messages consumed after the undo');
    expect(second.map((m) => m.msgId).sort()).toEqual(backlog.map((s) => s.msgId).sort());
  });

  it('compare-and-set: a queue whose offset moved since the plan is reported, not overwritten (exit 3)', async () => {
    const { b, ns, t, group, p } = await setup();
    for (let i = 0; i < 8; i++) await send(b, p, t, `m${i}`);
    const got: MessageExt[] = [];
    const c = await startConsumer(ns, group, t, got);
    await eventually(() => (got.length >= 8 ? committedAtEnd(b, group, t) : undefined), 'consumed');
    await c.close();

    const planFile = path.join(tempDir(), 'plan.json');
    const plan = await cli(b, ['resetOffset', '-g', group, '-t', t, '--to-offset', '0', '--out', planFile]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/Nothing changed/);
    // Someone else moves queue 0 after the plan was made.
    const res = await b.client.invoke(b.addr, makeRequest(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic: t, queueId: 0, commitOffset: 1 }));
    expect(res.code).toBe(0);

    // Shown with the plan before anything is applied: the queue that moved, and what will happen to it.
    const shown = await cli(b, ['resetOffset', '--plan', planFile]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/ 0: committed offset moved since the plan was made \(planned from [1-9]\d*, now 1\): --execute will leave this queue alone/);
    expect(shown.stdout).not.toMatch(/ 1: committed offset moved/);

    const exec = await cli(b, ['resetOffset', '--plan', planFile, '--execute', '--undo-file', path.join(tempDir(), 'u.json'), '--json']);
    expect(exec.code).toBe(3);
    expectSuccessEnvelope('resetOffset', exec.json);
    const q0 = exec.json.result.apply.queues.find((q: { queueId: number }) => q.queueId === 0);
    const q1 = exec.json.result.apply.queues.find((q: { queueId: number }) => q.queueId === 1);
    expect(q0).toMatchObject({ status: 'moved', foundOffset: 1 });
    expect(q1).toMatchObject({ status: 'applied', resultOffset: 0 });
    expect(await storedOffset(b, group, t, 0)).toBe(1);
    expect(await storedOffset(b, group, t, 1)).toBe(0);
  });

  it('a new group (created, never consumed): the plan sets where it starts; a time puts it at the first message stored then', async () => {
    const { b, ns, t, group, p } = await setup();
    const early: Sent[] = [];
    for (let i = 0; i < 4; i++) early.push(await send(b, p, t, `old${i}`));
    await sleep(20);
    const since = Date.now();
    await sleep(20);
    const late: Sent[] = [];
    for (let i = 0; i < 6; i++) late.push(await send(b, p, t, `new${i}`));
    expect((await cli(b, ['updateSubGroup', '-g', group])).code).toBe(0);

    const plan = await cli(b, ['resetOffset', '-g', group, '-t', t, '-s', String(since), '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.json.result.plan.queues.every((q: { currentOffset: number | null }) => q.currentOffset === null)).toBe(true);
    expect(plan.json.result.plan.queues[0].notes.join(' ')).toMatch(/never consumed here: --execute sets where it starts/);
    // The plan changed nothing (QUERY_CONSUMER_OFFSET says 0 for a new group, as Apache: ask the plan again).
    const again = await cli(b, ['resetOffset', '-g', group, '-t', t, '--earliest', '--json']);
    expect(again.json.result.plan.queues.map((q: { currentOffset: number | null }) => q.currentOffset)).toEqual([null, null]);

    const done = await cli(b, ['resetOffset', '-g', group, '-t', t, '-s', String(since), '--execute', '--json']);
    expect(done.code, done.stderr).toBe(0);
    // A consumer of the new group gets exactly the messages stored since then, whatever its consumeFromWhere.
    const got: MessageExt[] = [];
    const c = new PushConsumer({ namesrvAddr: ns, consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET', ...FAST });
    c.subscribe(t, '*');
    defer(() => c.close());
    await c.start((m) => void got.push(m));
    await eventually(() => (got.length >= late.length ? true : undefined), 'the messages since the time');
    await sleep(300);
    expect(got.map((m) => m.body.toString()).sort()).toEqual(late.map((_, i) => `new${i}`).sort());
  });

  it('unknown topic or group, bad flags, unreachable: one line and the documented exit code', async () => {
    const { b, t } = await setup();
    const noTopic = await cli(b, ['resetOffset', '-g', 'G', '-t', uniq('NOPE'), '--latest', '--json']);
    expectErrorEnvelope(noTopic.json, 1);
    expect(noTopic.json.code).toBe('E_TOPIC_NOT_FOUND');
    const noGroup = await cli(b, ['resetOffset', '-g', uniq('NOPE'), '-t', t, '--latest']);
    expect(noGroup.code).toBe(1);
    expectOneLineError(noGroup.stderr);
    expect(noGroup.stderr).toMatch(/no offsets for topic .*no subscription group/);
    const skipNoGroup = await cli(b, ['skipAccumulatedMessage', '-g', uniq('NOPE'), '-t', t, '--json']);
    expectErrorEnvelope(skipNoGroup.json, 1);

    for (const args of [
      ['resetOffset', '-g', 'G', '-t', t],
      ['resetOffset', '-g', 'G', '-t', t, '--latest', '--earliest'],
      ['resetOffset', '-g', 'G', '-t', t, '-s', 'yesterday'],
      ['resetOffset', '--plan', '/nonexistent/plan.json'],
      ['skipAccumulatedMessage', '-g', 'G'],
    ]) {
      const r = await cli(b, args);
      expect(r.code, args.join(' ')).toBe(2);
      expectOneLineError(r.stderr);
    }
    const gone = await runCli(['skipAccumulatedMessage', '-g', 'G', '-t', 'T', '--socket', '/nonexistent/broker.sock']);
    expect(gone.code).toBe(1);
    expectOneLineError(gone.stderr);
    expect(gone.stderr).toMatch(/rocketctl broker start/);
  });
});
